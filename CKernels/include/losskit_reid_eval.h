/* losskit_reid_eval.h - re-identification CMC / mAP, k-reciprocal re-ranking,
 * landmark NME / CED. Part of the LossKit C ABI; include losskit.h, which
 * includes this. Conventions as losskit.h states them. */
#ifndef LOSSKIT_REID_EVAL_H
#define LOSSKIT_REID_EVAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Re-identification: CMC and mAP                                         */
/* ---------------------------------------------------------------------- */

/* The identities and cameras of a query set [q] and a gallery set [g].
 * A gallery identity of -1 is junk (Market-1501's loader drops it): those
 * entries are never ranked. */
typedef struct losskit_reid_labels {
    const int64_t *query_ids, *query_cams, *gallery_ids, *gallery_cams;
} losskit_reid_labels;

/* Per-query results and their aggregate (outputs may be NULL to skip).
 *  ap[q]:          the query's average precision, NaN where it was skipped
 *  first_match[q]: 0-based rank of its first valid match, -1 if none
 *  cmc[max_rank]:  cmc[r] = share of evaluated queries whose first match is
 *                  at rank <= r (0-based)
 *  map:            mean AP over evaluated queries (NaN if none)
 *  evaluated:      queries with at least one valid match */
typedef struct losskit_reid_scores {
    double *ap;
    int64_t *first_match;
    double *cmc;
    size_t max_rank;
    double map;
    size_t evaluated;
} losskit_reid_scores;

/* AP conventions. */
#define LOSSKIT_REID_AP_MEAN_PRECISION 0 /* reid-strong-baseline eval_func: mean precision at each hit */
#define LOSSKIT_REID_AP_MARKET 1         /* official Market-1501: precision averaged before and at each hit */

/* CMC / mAP of a distance matrix dist [q, g] (row-major), as
 * reid-strong-baseline's eval_func: for each query, gallery entries of its
 * identity AND camera are removed (and junk, identity -1); the remaining
 * entries of its identity are its matches; queries without one are skipped.
 * Ranking is by ascending distance, exact ties toward the lower gallery index,
 * NaN last (as numpy's argsort). Each query's matches are ranked by counting
 * the entries before them (no sort of the row). */
int losskit_reid_evaluate_distances(const float *dist, size_t q, size_t g, losskit_reid_labels labels,
                                    int ap_kind, losskit_reid_scores *scores, int threads);

/* The same from features qf [q, d] and gf [g, d]: distances under `metric`
 * (a losskit_metric; 0 Euclidean, 1 squared, 2 cosine) of the features,
 * L2-normalized first (x / max(|x|, 1e-12), torch's F.normalize) if
 * `normalize`, streamed in blocks of 256 queries: the q x g matrix is never
 * held unless `distances` [q, g] is given (then it receives it). */
int losskit_reid_evaluate_features(int metric, int normalize, const float *qf, size_t q, const float *gf, size_t g,
                                   size_t d, losskit_reid_labels labels, int ap_kind, losskit_reid_scores *scores,
                                   float *distances, int threads);

/* k-reciprocal re-ranking (Zhong et al., CVPR 2017) of the query set against
 * the gallery, as the reference code (reid-strong-baseline
 * utils/re_ranking.py): D = squared Euclidean distances over all q + g
 * items (features L2-normalized first if `normalize`), each row divided by
 * its maximum over all q + g items, every item its own nearest neighbour;
 * k1-reciprocal sets expanded by round-half-even(k1 / 2)-reciprocal sets that
 * share more than 2/3 of their items, V[i] = exp(-D) over the set,
 * normalized; query expansion: mean of V over the k2 nearest neighbours;
 * Jaccard distance through an inverted index; out[i, j] =
 * (1 - lambda) jaccard + lambda D. Float32 where the reference keeps V in
 * float16. Neighbour lists are streamed from the distance kernel over the
 * upper triangle only (the q + g matrix is never held); gallery entries whose
 * `gallery_ids` entry is -1 (NULL: none) are left out, as the loader drops
 * them, and get +infinity. NaN in the features gives NaN in every output.
 * Memory: out (q x g floats), a normalized copy of the features and a block
 * of 512 x (q + g) distances. */
int losskit_reid_rerank(int normalize, const float *qf, size_t q, const float *gf, size_t g, size_t d,
                        const int64_t *gallery_ids, int k1, int k2, double lambda, float *out, int threads);

/* ---------------------------------------------------------------------- */
/* Landmarks: NME, CED                                                     */
/* ---------------------------------------------------------------------- */

typedef enum losskit_landmark_norm {
    LOSSKIT_NORM_INTER_OCULAR = 0, /* distance between two landmarks (the outer eye corners in 300W / WFLW) */
    LOSSKIT_NORM_INTER_PUPIL = 1,  /* distance between the eye centres: the means of two index ranges */
    LOSSKIT_NORM_BBOX_DIAGONAL = 2, /* diagonal of the target landmarks' bounding box */
    LOSSKIT_NORM_BBOX_AREA = 3     /* sqrt(w h) of the target landmarks' bounding box */
} losskit_landmark_norm;

/* Per-sample NME of pred, target [n, k, 2]: the mean over the k landmarks of
 * |pred - target| (Euclidean, in double), divided by the sample's normalizer
 * from the target. Inter-ocular: |t[left] - t[right]| (left, right landmark
 * indices). Inter-pupil: the distance between the means of landmarks
 * [left, left + count) and [right, right + count) (count = eye_points, >= 1).
 * A zero normalizer gives +inf (0/0: NaN). nme [n]. */
int losskit_landmark_nme(const float *pred, const float *target, size_t n, size_t k, losskit_landmark_norm norm,
                         size_t left, size_t right, size_t eye_points, double *nme);

/* AUC and failure rate of per-sample NMEs at threshold t > 0:
 * auc = mean(max(0, t - nme)) / t (the area under the CED up to t, over t),
 * failure = share of nme > t, mean = mean nme. NaN NMEs count as failures
 * and add 0 to the AUC; they make the mean NaN. Any output may be NULL. */
int losskit_landmark_summary(const double *nme, size_t n, double threshold, double *mean, double *auc,
                             double *failure);

/* The CED curve at `points` thresholds t_i = threshold * i / (points - 1):
 * ced[i] = share of samples with nme <= t_i. */
int losskit_landmark_ced(const double *nme, size_t n, double threshold, size_t points, double *ced);

#ifdef __cplusplus
}
#endif

#endif
