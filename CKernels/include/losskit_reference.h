/* losskit_reference.h - metric-learning losses of queries against a reference set.
 * Part of the LossKit C ABI; include losskit.h, which includes this.
 *
 * Mining past one batch (pytorch-metric-learning's ref_emb / ref_labels,
 * cross-batch memory, data-parallel training): anchors are the q query rows;
 * positives and negatives come from the m reference rows. Every entry point
 * takes queries [q, d] and references [m, d] (row-major floats, d >= 1),
 * returns the gradients with respect to both (NULL skips one), never holds
 * the q x m distance matrix (scratch O(block x m)), and is bitwise the same at
 * any thread count.
 *
 * Self marking. A query may also be among the references - the same batch
 * passed as both, or a memory that holds the current batch. reference_query
 * [m] (NULL: no reference is a query) says which: reference_query[j] = i
 * (0 <= i < q) when reference j is query i itself, -1 when it is no query
 * (any other value returns the argument's status). Query i never takes a
 * reference marked i as its positive, nor counts the pair (i, j) in
 * contrastive's sums. An unmarked reference equal to a query is a different
 * sample with the same features, as in pml when ref_emb is not the batch.
 *
 * normalize = 1 L2-normalizes every query and reference row first
 * (x / max(|x|, 1e-12), torch.nn.functional.normalize) and chains the
 * gradients through the normalization (reid-strong-baseline's
 * normalize_feature); the returned gradients are with respect to the
 * un-normalized rows the caller passed. */
#ifndef LOSSKIT_REFERENCE_H
#define LOSSKIT_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TriHard of queries against references. Per query a: the hardest positive
 * p = argmax D(a, r_j) over references of a's label not marked a, and the
 * negative per `mining` over references of other labels (ties: the lowest
 * reference index; NaN wins, as in losskit_trihard). Loss per kept anchor,
 * z = D(a, p) - D(a, n):
 *   soft_margin = 0:  max(z + margin, 0)
 *   soft_margin = 1:  softplus(z + margin)  (pml's smooth_loss; margin 0 is
 *                     reid-strong-baseline's SoftMarginLoss)
 * margin finite and >= 0 in both. Anchors with no positive or no negative
 * among the references are skipped (NONE: 0, index -1). MEAN divides by
 * mean_count when it is > 0 - the anchors kept on every process of a
 * data-parallel step, so each rank's gradient is its share of the global
 * mean - else by the anchors kept here (none: 0).
 * hardest_positive / hardest_negative [q] (NULL skips): reference indices.
 * grad_queries [q, d], grad_references [m, d]. With references = the batch
 * and reference_query[j] = j, equals losskit_trihard on the batch (its
 * gradient is grad_queries + grad_references). */
int losskit_trihard_reference(losskit_metric metric, const float *queries, const int64_t *query_labels, size_t q,
                              const float *references, const int64_t *reference_labels,
                              const int64_t *reference_query, size_t m, size_t d, float margin, int soft_margin,
                              int normalize, losskit_mining mining, losskit_reduction reduction, size_t mean_count,
                              float *loss, float *grad_queries, float *grad_references, int64_t *hardest_positive,
                              int64_t *hardest_negative, int threads);

/* How contrastive loss over all query-reference pairs is reduced. */
typedef enum losskit_pair_reduction {
    LOSSKIT_PAIRS_SUM = 0,          /* the sum over every counted pair */
    LOSSKIT_PAIRS_MEAN = 1,         /* that sum / the number of counted pairs (none: 0) */
    LOSSKIT_PAIRS_MEAN_NONZERO = 2  /* pml's AvgNonZeroReducer: the positive pairs' losses averaged over
                                       those > 0, plus the negative pairs' likewise (none > 0: 0) */
} losskit_pair_reduction;

/* Contrastive loss over every pair (query i, reference j), j not marked i:
 *   same label:       max(D - pos_margin, 0)^power
 *   different label:  max(neg_margin - D, 0)^power
 * power 1 (pml's ContrastiveLoss: plain hinges) or 2 (Hadsell et al. 2006 with
 * pos_margin 0); margins finite and >= 0. A hinge at exactly 0 has gradient 0. */
int losskit_contrastive_reference(losskit_metric metric, const float *queries, const int64_t *query_labels, size_t q,
                                  const float *references, const int64_t *reference_labels,
                                  const int64_t *reference_query, size_t m, size_t d, float pos_margin,
                                  float neg_margin, int power, int normalize, losskit_pair_reduction reduction,
                                  float *loss, float *grad_queries, float *grad_references, int threads);

/* Triplets given by index: anchor[k] indexes the queries, positive[k] and
 * negative[k] the references (t triplets; an index out of range returns its
 * status). z = D(a, p) - D(a, n) + margin, with D(a, n) replaced by
 * min(D(a, n), D(p, n)) when swap = 1 (torch.nn.TripletMarginLoss(swap=True));
 * improved = 1 adds D(a, p) (Cheng et al. 2016). Loss max(z, 0), or
 * softplus(z) when soft_margin = 1. loss [t] for NONE. */
int losskit_triplet_reference(losskit_metric metric, const float *queries, size_t q, const float *references,
                              size_t m, size_t d, const int64_t *anchor, const int64_t *positive,
                              const int64_t *negative, size_t t, float margin, int soft_margin, int improved,
                              int swap, int normalize, losskit_reduction reduction, float *loss, float *grad_queries,
                              float *grad_references, int threads);

/* Quadruplets given by index (Chen et al. 2017): anchor[k] indexes the
 * queries; positive[k], negative1[k] and negative2[k] the references (an
 * index out of range returns its status). Loss
 *   max(D(a, p) - D(a, n1) + margin1, 0) + max(D(a, p) - D(n1, n2) + margin2, 0),
 * margins finite and >= 0; as losskit_quadruplet on the gathered rows.
 * normalize and the rest as losskit_triplet_reference. loss [t] for NONE. */
int losskit_quadruplet_reference(losskit_metric metric, const float *queries, size_t q, const float *references,
                                 size_t m, size_t d, const int64_t *anchor, const int64_t *positive,
                                 const int64_t *negative1, const int64_t *negative2, size_t t, float margin1,
                                 float margin2, int normalize, losskit_reduction reduction, float *loss,
                                 float *grad_queries, float *grad_references, int threads);

#ifdef __cplusplus
}
#endif

#endif
