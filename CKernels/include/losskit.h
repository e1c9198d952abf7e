/*
 * losskit.h - the whole C ABI of LossKit's kernels.
 *
 * Conventions that hold for every entry point:
 *
 *  - Float32, contiguous, row-major. Sizes are size_t; products of sizes are
 *    checked for overflow.
 *  - Return value: 0 (LOSSKIT_OK) on success; -k when the k-th argument
 *    (1-based, in declaration order) is bad (null where data is required,
 *    a size that overflows, a parameter out of its domain, a label out of
 *    range); LOSSKIT_ERR_NOMEM when scratch could not be allocated, and the
 *    other LOSSKIT_ERR_* codes below. Nothing is written when an argument is
 *    bad, and nothing is ever written outside the caller's buffers.
 *  - `loss` receives n values for LOSSKIT_REDUCTION_NONE and one value for
 *    SUM and MEAN; it may be NULL to skip it.
 *  - `grad` receives the gradient of the reduced loss (for NONE: of the sum
 *    of the per-element losses) with respect to the predictions / logits;
 *    NULL skips the backward work entirely.
 *  - Sums accumulate in double over fixed chunks whose partial sums are added
 *    in chunk order, so every result is bitwise identical at any `threads`.
 *  - `threads` caps the worker threads: 0 means all online cores, 1 runs on
 *    the calling thread. Small inputs always run on the calling thread.
 *  - NaN in an input gives NaN in the outputs that depend on it.
 */
#ifndef LOSSKIT_H
#define LOSSKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Status codes                                                           */
/* ---------------------------------------------------------------------- */

#define LOSSKIT_OK 0
/* -1 ... -63: the argument at that position is bad. */
#define LOSSKIT_ERR_NOMEM (-100)        /* scratch allocation failed */
#define LOSSKIT_ERR_UNSUPPORTED (-101)  /* ISA not available on this CPU */
#define LOSSKIT_ERR_NOT_PSD (-102)      /* matrix not positive semi-definite */
#define LOSSKIT_ERR_THREAD (-103)       /* a worker thread could not start */

/* A short English description of a status code (static storage). */
const char *losskit_status_string(int status);

/* ---------------------------------------------------------------------- */
/* Reductions, ISA dispatch, threads                                      */
/* ---------------------------------------------------------------------- */

typedef enum losskit_reduction {
    LOSSKIT_REDUCTION_NONE = 0,
    LOSSKIT_REDUCTION_SUM = 1,
    LOSSKIT_REDUCTION_MEAN = 2
} losskit_reduction;

typedef enum losskit_isa {
    LOSSKIT_ISA_SCALAR = 0,
    LOSSKIT_ISA_AVX2 = 1, /* AVX2 + FMA */
    LOSSKIT_ISA_NEON = 2,  /* 128-bit NEON: the aarch64 baseline */
    LOSSKIT_ISA_AVX512 = 3 /* AVX-512 F, DQ, BW, VL (+ AVX2, FMA) */
} losskit_isa;

/* The ISA path in use. Chosen once (thread-safe) from the CPU's features
 * (x86-64: AVX-512 where the CPU has it, else AVX2, else scalar; aarch64:
 * NEON, which every aarch64 CPU has); the environment variable
 * LOSSKIT_ISA=scalar|avx2|avx512|neon forces one (an unsupported request
 * falls back to the best available). */
losskit_isa losskit_active_isa(void);
/* Name of an ISA ("scalar", "avx2", "avx512", "neon"). */
const char *losskit_isa_name(losskit_isa isa);
/* Whether this CPU can run `isa`. */
int losskit_isa_supported(losskit_isa isa);
/* Switch the ISA path at run time (for tests and benchmarks). Returns
 * LOSSKIT_ERR_UNSUPPORTED if the CPU lacks it. Not meant to race with
 * running kernels. */
int losskit_set_isa(losskit_isa isa);

/* Override the path for kernels called from the calling thread only
 * (isa < 0 removes the override). For tests that must not disturb others. */
int losskit_set_thread_isa(int isa);

/* Whether kernels called from this thread may use the gather-based paths
 * (the transposed softmax block for <= 32 classes on AVX-512): -1 = the
 * default (Intel CPUs only: gathers are slow on AMD Zen), 0 = never,
 * 1 = always. For tests, which run both. */
int losskit_set_thread_gathers(int mode);

/* Frees the scratch the calling thread keeps between calls (MultiBox keeps
 * its per-call working memory, ~20 MB for SSD300 x 32, so that a training
 * loop does not page-fault it in again at every step). Freed at thread exit
 * anyway; the next call allocates it again. */
void losskit_release_scratch(void);

/* Number of online cores (what threads = 0 resolves to). */
int losskit_cpu_count(void);

/* The most threads a kernel starts for a `threads` argument: the online core
 * count for threads <= 0, else min(threads, online cores). More threads than
 * cores only adds start-up and contention (Wing 4M: 2.8 ms at 2 threads,
 * 12 ms at 4096 before this cap); results do not depend on it. */
int losskit_max_threads(int threads);

/* 1 if the kernels were compiled with optimization (__OPTIMIZE__), else 0.
 * SwiftPM compiles a dependency's C at -O0 in a debug build, where the
 * kernels run 10-35x slower (Wing 4M: 127 ms against 3.7 ms): trainers build
 * with `swift build -c release`, and `make bench` refuses an unoptimized
 * library. */
int losskit_optimized_build(void);

/* ---------------------------------------------------------------------- */
/* Vector math over arrays (the kernels' own exp/log; <= 2 ulp from libm)  */
/* ---------------------------------------------------------------------- */

typedef enum losskit_vecmath_fn {
    LOSSKIT_VEC_EXP = 0,
    LOSSKIT_VEC_LOG = 1,
    LOSSKIT_VEC_LOG1P = 2,
    LOSSKIT_VEC_SIGMOID = 3,  /* 1 / (1 + exp(-x)) */
    LOSSKIT_VEC_SOFTPLUS = 4  /* log(1 + exp(x)) */
} losskit_vecmath_fn;

/* out[i] = fn(in[i]) on the active ISA path; in and out may alias. */
int losskit_vecmath(losskit_vecmath_fn fn, const float *in, float *out, size_t n);

/* ---------------------------------------------------------------------- */
/* Regression losses. r = pred - target, elementwise over n values.        */
/* `weight`: NULL, or n per-element target weights as mmpose's             */
/* use_target_weight (0 for an invisible keypoint). L1, MSE, Smooth L1,     */
/* Huber, Wing and Adaptive Wing apply them as mmpose does, to pred and     */
/* target before the loss: loss(w pred, w target), gradient w loss'(...);   */
/* focal regression and shrinkage multiply each element's loss by w.        */
/* MEAN divides by n in both cases.                                         */
/* ---------------------------------------------------------------------- */

/* |r|; gradient sign(r), 0 at r = 0. */
int losskit_l1(const float *pred, const float *target, size_t n, const float *weight,
               losskit_reduction reduction, float *loss, float *grad, int threads);

/* r^2. */
int losskit_mse(const float *pred, const float *target, size_t n, const float *weight,
                losskit_reduction reduction, float *loss, float *grad, int threads);

/* 0.5 r^2 / beta if |r| < beta else |r| - 0.5 beta (PyTorch smooth_l1_loss).
 * beta = 0 is L1; beta < 0 or non-finite is argument 5. */
int losskit_smooth_l1(const float *pred, const float *target, size_t n, const float *weight, float beta,
                      losskit_reduction reduction, float *loss, float *grad, int threads);

/* 0.5 r^2 if |r| < delta else delta (|r| - 0.5 delta) (PyTorch huber_loss).
 * delta must be > 0 and finite. */
int losskit_huber(const float *pred, const float *target, size_t n, const float *weight, float delta,
                  losskit_reduction reduction, float *loss, float *grad, int threads);

/* Wing loss (Feng et al. 2018): w ln(1 + |r|/eps) if |r| < w else |r| - C,
 * C = w - w ln(1 + w/eps). w > 0, eps > 0. */
int losskit_wing(const float *pred, const float *target, size_t n, const float *weight, float w, float epsilon,
                 losskit_reduction reduction, float *loss, float *grad, int threads);

/* Adaptive Wing loss (Wang et al. 2019; mmpose AdaptiveWingLoss), with
 * target-dependent exponent alpha - y:
 *   omega ln(1 + (|r|/eps)^(alpha - y))      if |r| < theta
 *   A |r| - C                                otherwise
 * A = omega / (1 + (theta/eps)^(alpha-y)) (alpha-y) (theta/eps)^(alpha-y-1) / eps,
 * C = theta A - omega ln(1 + (theta/eps)^(alpha-y)).
 * omega, epsilon, theta > 0; alpha finite. */
int losskit_adaptive_wing(const float *pred, const float *target, size_t n, const float *weight,
                          float alpha, float omega, float epsilon, float theta,
                          losskit_reduction reduction, float *loss, float *grad, int threads);

/* |r|^(2 + gamma), the "L_F" of the DSLT paper. gamma >= 0. */
int losskit_focal_regression(const float *pred, const float *target, size_t n, const float *weight, float gamma,
                             losskit_reduction reduction, float *loss, float *grad, int threads);

typedef enum losskit_shrinkage_weight {
    LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET = 0, /* exp(y), the paper's form */
    LOSSKIT_SHRINKAGE_WEIGHT_NONE = 1,       /* 1 */
    LOSSKIT_SHRINKAGE_WEIGHT_DSLT_CODE = 2   /* (y e^{1.6 y} / max_j y_j e^{1.6 y_j})^2 */
} losskit_shrinkage_weight;

/* Shrinkage loss (Lu et al., DSLT): weight(y) l^2 / (1 + exp(a (c - l))),
 * l = |r|. a, c finite. The gradient carries sign(r). */
int losskit_shrinkage(const float *pred, const float *target, size_t n, const float *target_weight, float a, float c,
                      losskit_shrinkage_weight weight,
                      losskit_reduction reduction, float *loss, float *grad, int threads);

/* ---------------------------------------------------------------------- */
/* Binary classification on logits                                        */
/* ---------------------------------------------------------------------- */

/* PyTorch binary_cross_entropy_with_logits:
 *   weight (1 - t) softplus(x) + weight pw t softplus(-x),  pw = pos_weight (1 if NULL)
 * (PyTorch's (1 + (pw - 1) t) softplus(-x) + (1 - t) x, written without its
 * cancellation at confident correct logits). weight: NULL or n per-element
 * weights scaling each element's loss, as PyTorch's `weight`; MEAN divides by n.
 * pos_weight: NULL, or one value (pos_weight_count = 1, broadcast), or
 * pos_weight_count values broadcast along the last axis of size
 * pos_weight_count (n must be a multiple of it). */
int losskit_bce_logits(const float *logits, const float *targets, size_t n, const float *weight,
                       const float *pos_weight, size_t pos_weight_count,
                       losskit_reduction reduction, float *loss, float *grad, int threads);

/* torchvision sigmoid_focal_loss: ce (1 - p_t)^gamma alpha_t with
 * ce = BCE with logits, p = sigmoid(x), p_t = p t + (1 - p)(1 - t),
 * alpha_t = alpha t + (1 - alpha)(1 - t); alpha < 0 disables it.
 * gamma >= 0. Soft targets allowed. MEAN divides by n; for RetinaNet's
 * "sum / number of positives", pass REDUCTION_SUM and `normalizer` > 0:
 * loss and gradient are then divided by it (normalizer 0 or 1 = none). */
int losskit_sigmoid_focal(const float *logits, const float *targets, size_t n,
                          float alpha, float gamma, float normalizer,
                          losskit_reduction reduction, float *loss, float *grad, int threads);

/* ---------------------------------------------------------------------- */
/* Softmax classification over [rows, classes] logits, int64 labels        */
/* ---------------------------------------------------------------------- */

/* PyTorch cross_entropy: row loss
 *   (1 - eps) w_y (-log p_y) + (eps / C) sum_c w_c (-log p_c)
 * class_weights: NULL (all 1) or `classes` values >= 0. Rows whose label is
 * ignore_index give 0 and no gradient; any other label must be in
 * [0, classes). MEAN divides by the sum of w_y over rows not ignored
 * (their count without weights); a MEAN over zero total weight (all rows
 * ignored, or every counted row's w_y = 0, with or without smoothing) gives
 * NaN and a NaN gradient on the counted rows (0 on ignored rows), as PyTorch.
 * label_smoothing in [0, 1]. loss for NONE has `rows` values. */
int losskit_softmax_ce(const float *logits, const int64_t *labels, size_t rows, size_t classes,
                       const float *class_weights, int64_t ignore_index, float label_smoothing,
                       losskit_reduction reduction, float *loss, float *grad, int threads);

/* PyTorch cross_entropy with probability targets (soft labels: mixup,
 * CutMix, distillation): targets [rows, classes], row loss
 *   sum_c w_c t'_c (-log p_c),   t'_c = (1 - eps) t_c + eps / C
 * Targets are used as given, as PyTorch: rows need not sum to 1, entries are
 * not checked (negative ones enter the formula, NaN gives NaN). A -inf logit
 * where t'_c w_c = 0 gives a NaN loss (0 x inf, as PyTorch) but a finite
 * gradient. No ignore index (PyTorch has none for probability targets).
 * MEAN divides by `rows` (not by a weight sum); rows = 0 gives NaN.
 * Statuses: -1 logits, -2 targets, -3 rows x classes too large, -4 classes,
 * -5 class_weights, -6 label_smoothing, -7 reduction, -10 threads. */
int losskit_softmax_ce_soft(const float *logits, const float *targets, size_t rows, size_t classes,
                            const float *class_weights, float label_smoothing,
                            losskit_reduction reduction, float *loss, float *grad, int threads);

/* Multi-class focal loss (RetinaNet's softmax form): -alpha (1 - p_y)^gamma log p_y
 * per row; ignore_index rows give 0 and are not counted by MEAN. */
int losskit_softmax_focal(const float *logits, const int64_t *labels, size_t rows, size_t classes,
                          float alpha, float gamma, int64_t ignore_index,
                          losskit_reduction reduction, float *loss, float *grad, int threads);

#ifdef __cplusplus
}
#endif

/* The detection and metric-learning families (same conventions). */
#include "losskit_detection.h"
#include "losskit_metric.h"
#include "losskit_reference.h"
#include "losskit_detection_eval.h"
#include "losskit_reid_eval.h"

#endif /* LOSSKIT_H */
