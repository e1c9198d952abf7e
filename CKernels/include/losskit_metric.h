/* losskit_metric.h - distance matrices and metric-learning losses.
 * Part of the LossKit C ABI; include losskit.h, which includes this. */
#ifndef LOSSKIT_METRIC_H
#define LOSSKIT_METRIC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum losskit_metric {
    LOSSKIT_METRIC_EUCLIDEAN = 0,   /* sqrt(max(d^2, 1e-12)) (reid-strong-baseline's clamp) */
    LOSSKIT_METRIC_SQEUCLIDEAN = 1, /* max(d^2, 0) */
    LOSSKIT_METRIC_COSINE = 2       /* 1 - x.y / (max(|x|, 1e-8) max(|y|, 1e-8)) */
} losskit_metric;

/* Every entry point below takes feature rows of dimension d >= 1: d = 0 (no
 * feature, no distance) returns the dimension's status, as the Swift layer
 * throws for it (torch.cdist returns zeros there; LossKit refuses it).
 *
 * Feature scale: where a row's squared norm (double) is outside
 * [2^-100, 2^100] - |x|^2 would overflow float (|x| > ~2e19) or its products
 * underflow - the SGEMM form cannot be used as is. The distance matrix then
 * runs SGEMM on copies of the rows scaled by exact powers of two and a double
 * epilogue (scratch (n + m) d more floats). The Euclidean forms' backward
 * keeps its SGEMMs (its weights g / D and g stay normal floats at any scale);
 * the cosine backward (weights g / (|x| |y|)) and TriHard's mining take every
 * pair directly in double (O(n m d) scalar). Results stay within
 * 1e-4 of float64 at any scale; a value past FLT_MAX is +inf. The aligned
 * losses are in double throughout. */

/* out[i * m + j] = metric(x_i, y_j) for x [n, d] and y [m, d], row-major.
 * Through OpenBLAS SGEMM (||x||^2 + ||y||^2 - 2 x.y for the Euclidean forms,
 * clamped at 0), single-threaded OpenBLAS calls in fixed slices spread over
 * `threads` threads (bitwise the same at any thread count). Pairs whose d^2 is
 * small against ||x||^2 + ||y||^2 - where that sum cancels - are recomputed
 * directly in double, so every entry is within 1e-4 relative of a float64
 * reference, near-duplicates included (torch.cdist's matmul path is not).
 * Scratch: n + m floats. */
int losskit_pairwise_distance(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                              float *out, int threads);

/* The backward pass of losskit_pairwise_distance: the gradients of
 * sum_ij grad_out[i, j] * D[i, j] with respect to x (grad_x [n, d]) and y
 * (grad_y [m, d]); either may be NULL. `distances` is the forward output
 * D [n, m] of the same metric (the Euclidean and cosine gradients reuse it).
 * At the clamps, as autograd through the forward formula: no gradient where
 * the Euclidean clamp holds (D <= 1e-6, i.e. d^2 <= 1e-12) nor through a
 * cosine norm floored at 1e-8. NaN in grad_out or in the features gives
 * NaN. Two SGEMMs in row blocks of 512; per-row and per-column sums in
 * double, in a fixed order (bitwise identical at any thread count).
 * Scratch: 512 m + n + m floats and 2 (n + m) doubles. */
int losskit_pairwise_distance_backward(losskit_metric metric, const float *x, size_t n, const float *y, size_t m,
                                       size_t d, const float *distances, const float *grad_out, float *grad_x,
                                       float *grad_y, int threads);

/* Mahalanobis distances sqrt((x_i - y_j)^T M (x_i - y_j)) for x [n, d] and
 * y [m, d] (metric EUCLIDEAN, with the same 1e-12 clamp under the sqrt) or
 * their squares (SQEUCLIDEAN). factor_rows = 0: `matrix` is M [d, d],
 * symmetric positive semi-definite, factored once in double as M = A^T A
 * (LAPACKE Cholesky; eigendecomposition when M is singular) - not symmetric,
 * not finite or not PSD returns LOSSKIT_ERR_NOT_PSD. factor_rows = k > 0:
 * `matrix` is that factor A [k, d] already (M = A^T A, k may be < d).
 * The features are transformed once (A x) and go through the Euclidean
 * kernel; pairs that cancel there are recomputed in double from the
 * original features. Scratch: (n + m) k + k d floats and k d doubles. */
int losskit_mahalanobis_distance(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                                 const float *matrix, size_t factor_rows, float *out, int threads);

/* The factor A [d, d] of a symmetric PSD M [d, d] with M = A^T A, as
 * losskit_mahalanobis_distance computes it: its first *rank rows are
 * meaningful, the rest are 0. Transform features once with it (x' = A x)
 * to train any loss under the Mahalanobis metric. */
int losskit_mahalanobis_factor(const float *matrix, size_t d, float *factor, size_t *rank);

/* Aligned metric-learning losses on n rows of dimension d (row i of every
 * input is one tuple). D = the metric's distance. Gradients (NULL skips)
 * have the inputs' shapes; a hinge at exactly 0 has gradient 0 (as relu).
 * Margins are finite and >= 0 (a negative one returns its status: it would
 * zero every term, and training would silently stop); 0 is valid.
 *
 * contrastive (Hadsell et al. 2006), same[i] = 1 for the same identity, 0 not
 * (any other value, NaN included, returns -4: labels, not weights):
 *   squared_form = 0:  y D^2 + (1 - y) max(margin - D, 0)^2
 *   squared_form = 1:  y D^2 + (1 - y) max(margin - D^2, 0)^2          */
int losskit_contrastive(losskit_metric metric, const float *x1, const float *x2, const float *same, size_t n, size_t d,
                        float margin, int squared_form, losskit_reduction reduction, float *loss,
                        float *grad_x1, float *grad_x2, int threads);

/* triplet: max(D(a,p) - D(a,n) + margin, 0); improved = 1 adds D(a,p)
 * (Cheng et al. 2016). */
int losskit_triplet(losskit_metric metric, const float *anchor, const float *positive, const float *negative,
                    size_t n, size_t d, float margin, int improved, losskit_reduction reduction, float *loss,
                    float *grad_anchor, float *grad_positive, float *grad_negative, int threads);

/* quadruplet (Chen et al. 2017):
 *   max(D(a,p) - D(a,n1) + margin1, 0) + max(D(a,p) - D(n1,n2) + margin2, 0) */
int losskit_quadruplet(losskit_metric metric, const float *anchor, const float *positive, const float *negative1,
                       const float *negative2, size_t n, size_t d, float margin1, float margin2,
                       losskit_reduction reduction, float *loss, float *grad_anchor, float *grad_positive,
                       float *grad_negative1, float *grad_negative2, int threads);

typedef enum losskit_mining {
    LOSSKIT_MINING_HARDEST = 0,  /* batch hard: farthest positive, closest negative */
    LOSSKIT_MINING_SEMIHARD = 1  /* FaceNet: the closest negative farther than the hardest positive, else the closest */
} losskit_mining;

/* TriHard (batch-hard triplet, Hermans et al. 2017; reid-strong-baseline) on
 * features [n, d] with labels [n]; margin >= 0 unless soft_margin. Per anchor: hardest positive p = argmax D
 * over the same label (itself excluded), negative per `mining` (argmin D over
 * other labels); ties take the lowest index. Loss max(D(a,p) - D(a,n) +
 * margin, 0), or softplus(D(a,p) - D(a,n)) when soft_margin. Anchors with no
 * positive or no negative are skipped: MEAN divides by the anchors kept (all
 * skipped: 0), NONE gives them 0; so n = 0 or 1 (or one identity) is a valid
 * batch with loss 0 and a zero gradient, in Swift too. grad [n, d] wrt the
 * features.
 * hardest_positive / hardest_negative [n] (NULL skips) get the chosen indices
 * (-1 when skipped). HARDEST mining computes the upper triangle only (half
 * the flops): one SSYRK for n <= 2048 (scratch n x n <= 16 MiB), else SGEMM
 * over blocks of rows, each value updating both its row's and its column's
 * bests, so the n x n matrix is never held; SEMIHARD reduces whole rows of
 * the distance kernel. Scratch O(block x n), block <= 512 past 2048 rows. */
int losskit_trihard(losskit_metric metric, const float *features, const int64_t *labels, size_t n, size_t d,
                    float margin, int soft_margin, losskit_mining mining, losskit_reduction reduction,
                    float *loss, float *grad, int64_t *hardest_positive, int64_t *hardest_negative, int threads);

#ifdef __cplusplus
}
#endif

#endif
