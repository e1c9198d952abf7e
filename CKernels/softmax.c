/* Softmax cross-entropy and softmax focal loss over [rows, classes] logits.
 *
 * Row loss with weights w and label smoothing eps (PyTorch cross_entropy):
 *   L = (1 - eps) w_y (lse - x_y) + (eps / C) sum_c w_c (lse - x_c)
 *   dL/dx_j = p_j ((1 - eps) w_y + (eps / C) W) - (1 - eps) w_y [j = y] - (eps / C) w_j
 * with lse = max + log sum_c exp(x_c - max), p = softmax(x), W = sum_c w_c.
 * A first pass over the labels checks them and computes the MEAN
 * denominator (sum of w_y over rows not ignored), so the gradient is scaled
 * in the same pass that computes it. */
#include "vecmath.h"
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

typedef struct {
    const float *x;
    const int64_t *y;
    size_t classes;
    const float *w;     /* class weights or NULL */
    double wsum;        /* W */
    int64_t ignore;
    float eps;
    float alpha, gamma; /* focal */
    float *loss;        /* per row (NONE) or NULL */
    float *grad;
    float gscale;
    bool fast_gathers;  /* the transposed 16-row block (AVX-512, <= 32 classes) */
} sm_ctx;

static size_t rows_per_chunk(size_t classes) {
    size_t r = LK_CHUNK / (classes ? classes : 1);
    return r ? r : 1;
}

/* Checks every label, returns the number of bad label's row + 1 via *bad_row (0 = none),
 * and the sum of w_y over rows not ignored. */
static double label_pass(const int64_t *labels, size_t rows, size_t classes, const float *w,
                         int64_t ignore, size_t *bad_row) {
    double den = 0.0;
    *bad_row = 0;
    for (size_t i = 0; i < rows; i++) {
        int64_t y = labels[i];
        if (y == ignore) continue;
        if (y < 0 || (uint64_t)y >= classes) { *bad_row = i + 1; return 0.0; }
        den += w ? (double)w[y] : 1.0;
    }
    return den;
}

/* ---- cross-entropy, scalar ------------------------------------------- */

static float ce_row_scalar(const sm_ctx *c, size_t i) {
    size_t C = c->classes;
    const float *x = c->x + i * C;
    float *g = c->grad ? c->grad + i * C : NULL;
    int64_t y = c->y[i];
    if (y == c->ignore) {
        if (g) memset(g, 0, C * sizeof(float));
        return 0.0f;
    }
    float mx = -INFINITY;
    for (size_t j = 0; j < C; j++) mx = fmaxf(mx, x[j]);
    float S = 0.0f, wx = 0.0f;
    for (size_t j = 0; j < C; j++) {
        float ej = expf(x[j] - mx);
        S += ej;
        wx += (c->w ? c->w[j] : 1.0f) * (x[j] - mx);
        if (g) g[j] = ej;
    }
    float ls = logf(S);
    float wy = c->w ? c->w[y] : 1.0f;
    float loss = (1.0f - c->eps) * wy * (ls - (x[y] - mx));
    if (c->eps > 0.0f) loss += c->eps / (float)C * ((float)c->wsum * ls - wx);
    if (g) {
        float a = (1.0f - c->eps) * wy, b = c->eps / (float)C;
        float coef = (a + b * (float)c->wsum) / S;
        for (size_t j = 0; j < C; j++)
            g[j] = c->gscale * (g[j] * coef - b * (c->w ? c->w[j] : 1.0f));
        g[y] -= c->gscale * a;
    }
    return loss;
}

static double ce_chunk_scalar(void *vc, size_t b, size_t e) {
    sm_ctx *c = vc;
    double acc = 0.0;
    for (size_t i = b; i < e; i++) {
        float l = ce_row_scalar(c, i);
        if (c->loss) c->loss[i] = l;
        acc += l;
    }
    return acc;
}

/* ---- cross-entropy, SIMD -------------------------------------------- */
#if LK_X86
#define LK_SIMD 256
#include "simd_layer.h"
#include "softmax_simd.h"
#undef LK_SIMD
#define LK_SIMD 512
#include "simd_layer.h"
#include "softmax_simd.h"
#undef LK_SIMD
#elif LK_ARM64
#define LK_SIMD 128
#include "simd_layer.h"
#include "softmax_simd.h"
#undef LK_SIMD
#endif

/* Runs a per-row kernel over row chunks; rows is the chunked dimension. */
static int sm_run(sm_ctx *c, size_t rows, lk_range_sum_fn fn, int threads, double *sum) {
    size_t chunk = rows_per_chunk(c->classes);
    size_t work = rows * c->classes;
    int nthreads = work < LK_PARALLEL_MIN ? 1 : lk_threads_for(threads, rows, 2 * chunk);
    /* lk_chunked_sum chunks a 1-D range: here the range is rows */
    return lk_chunked_sum(rows, chunk, nthreads, fn, c, sum);
}

/* The kernel behind losskit_softmax_ce, with the gradient scale given
 * (MultiBox divides by its own positive count). Labels must already be valid. */
int lk_softmax_ce_scaled(const float *logits, const int64_t *labels, size_t rows, size_t classes,
                         const float *class_weights, int64_t ignore_index, float label_smoothing,
                         float grad_scale, float *row_loss, float *grad, int threads, double *sum) {
    double wsum = 0.0;
    if (class_weights) for (size_t j = 0; j < classes; j++) wsum += class_weights[j];
    else wsum = (double)classes;
    sm_ctx c = {.x = logits, .y = labels, .classes = classes, .w = class_weights, .wsum = wsum,
                .ignore = ignore_index, .eps = label_smoothing, .loss = row_loss, .grad = grad, .gscale = grad_scale,
                .fast_gathers = lk_use_gathers()};
    lk_range_sum_fn fn = ce_chunk_scalar;
#if LK_X86
    losskit_isa path = lk_isa_path();
    if (path == LOSSKIT_ISA_AVX512) fn = ce_chunk_avx512;
    else if (path == LOSSKIT_ISA_AVX2) fn = ce_chunk_avx2;
#elif LK_ARM64
    if (lk_isa_path() == LOSSKIT_ISA_NEON) fn = ce_chunk_neon;
#endif
    return sm_run(&c, rows, fn, threads, sum);
}

int losskit_softmax_ce(const float *logits, const int64_t *labels, size_t rows, size_t classes,
                       const float *class_weights, int64_t ignore_index, float label_smoothing,
                       losskit_reduction reduction, float *loss, float *grad, int threads) {
    size_t total;
    LK_CHECK(logits != NULL || rows == 0, 1);
    LK_CHECK(labels != NULL || rows == 0, 2);
    LK_CHECK(lk_mul_ok(rows, classes, &total) && total <= LK_MAX_FLOATS, 3);
    LK_CHECK(classes >= 1, 4);
    LK_CHECK(!isnan(label_smoothing) && label_smoothing >= 0.0f && label_smoothing <= 1.0f, 7);
    LK_CHECK(lk_reduction_ok(reduction), 8);
    LK_CHECK(threads >= 0, 11);
    if (class_weights)
        for (size_t j = 0; j < classes; j++) LK_CHECK(class_weights[j] >= 0.0f && isfinite(class_weights[j]), 5);
    size_t bad;
    double den = label_pass(labels, rows, classes, class_weights, ignore_index, &bad);
    LK_CHECK(bad == 0, 2);
    float gscale = reduction == LOSSKIT_REDUCTION_MEAN ? (float)(1.0 / den) : 1.0f;
    double sum = 0.0;
    int status = lk_softmax_ce_scaled(logits, labels, rows, classes, class_weights, ignore_index, label_smoothing, gscale,
                                      reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL, grad, threads, &sum);
    if (status != LOSSKIT_OK) return status;
    if (loss && reduction != LOSSKIT_REDUCTION_NONE)
        *loss = (float)(reduction == LOSSKIT_REDUCTION_MEAN ? sum / den : sum);
    return LOSSKIT_OK;
}

/* ---- softmax focal ---------------------------------------------------- */
/* F = -alpha (1 - p)^gamma log p,  p = p_y
 * dF/dx_j = K ([j = y] - p_j),  K = -alpha ((1 - p)^gamma - gamma (1 - p)^(gamma-1) p log p)
 * 1 - p is summed from the other classes, so it keeps its precision when p -> 1. */

static double focal_chunk(void *vc, size_t b, size_t e) {
    sm_ctx *c = vc;
    size_t C = c->classes;
    double acc = 0.0;
    for (size_t i = b; i < e; i++) {
        const float *x = c->x + i * C;
        float *g = c->grad ? c->grad + i * C : NULL;
        int64_t y = c->y[i];
        float l = 0.0f;
        if (y == c->ignore) {
            if (g) memset(g, 0, C * sizeof(float));
        } else {
            float mx = -INFINITY;
            for (size_t j = 0; j < C; j++) mx = fmaxf(mx, x[j]);
            double S = 0.0, others = 0.0;
            bool nan = false;
            for (size_t j = 0; j < C; j++) {
                nan |= isnan(x[j]);
                double ej = exp((double)x[j] - mx);
                S += ej;
                if ((int64_t)j != y) others += ej;
            }
            double logp = ((double)x[y] - mx) - log(S);
            double p = exp(logp), q = others / S; /* q = 1 - p */
            double m = pow(q, c->gamma);
            double dm = q > 0.0 ? c->gamma * m / q : 0.0;
            l = (float)(-c->alpha * m * logp);
            if (nan) l = NAN;
            if (g) {
                double K = -c->alpha * (m - dm * p * logp) * c->gscale;
                for (size_t j = 0; j < C; j++) {
                    double pj = exp((double)x[j] - mx) / S;
                    g[j] = nan ? NAN : (float)(K * (((int64_t)j == y ? 1.0 : 0.0) - pj));
                }
            }
        }
        if (c->loss) c->loss[i] = l;
        acc += l;
    }
    return acc;
}

int losskit_softmax_focal(const float *logits, const int64_t *labels, size_t rows, size_t classes,
                          float alpha, float gamma, int64_t ignore_index,
                          losskit_reduction reduction, float *loss, float *grad, int threads) {
    size_t total;
    LK_CHECK(logits != NULL || rows == 0, 1);
    LK_CHECK(labels != NULL || rows == 0, 2);
    LK_CHECK(lk_mul_ok(rows, classes, &total) && total <= LK_MAX_FLOATS, 3);
    LK_CHECK(classes >= 1, 4);
    LK_CHECK(isfinite(alpha), 5);
    LK_CHECK(isfinite(gamma) && gamma >= 0.0f, 6);
    LK_CHECK(lk_reduction_ok(reduction), 8);
    LK_CHECK(threads >= 0, 11);
    size_t bad;
    double den = label_pass(labels, rows, classes, NULL, ignore_index, &bad);
    LK_CHECK(bad == 0, 2);
    sm_ctx c = {.x = logits, .y = labels, .classes = classes, .ignore = ignore_index,
                .alpha = alpha, .gamma = gamma,
                .loss = reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL, .grad = grad};
    c.gscale = reduction == LOSSKIT_REDUCTION_MEAN ? (float)(1.0 / den) : 1.0f;
    double sum = 0.0;
    int status = sm_run(&c, rows, focal_chunk, threads, &sum);
    if (status != LOSSKIT_OK) return status;
    if (loss && reduction != LOSSKIT_REDUCTION_NONE)
        *loss = (float)(reduction == LOSSKIT_REDUCTION_MEAN ? sum / den : sum);
    return LOSSKIT_OK;
}
