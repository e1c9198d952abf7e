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

/* out[i * m + j] = metric(x_i, y_j) for x [n, d] and y [m, d], row-major.
 * Through OpenBLAS SGEMM (||x||^2 + ||y||^2 - 2 x.y for the Euclidean forms,
 * clamped at 0), with OpenBLAS set to `threads` threads. Pairs whose d^2 is
 * small against ||x||^2 + ||y||^2 - where that sum cancels - are recomputed
 * directly in double, so every entry is within 1e-4 relative of a float64
 * reference, near-duplicates included (torch.cdist's matmul path is not).
 * Scratch: n + m floats. */
int losskit_pairwise_distance(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                              float *out, int threads);

#ifdef __cplusplus
}
#endif

#endif
