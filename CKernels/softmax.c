/* Softmax cross-entropy and softmax focal loss over [rows, classes] logits.
 *
 * Row loss with weights w and label smoothing eps (PyTorch cross_entropy):
 *   L = (1 - eps) w_y (lse - x_y) + (eps / C) sum_c w_c (lse - x_c)
 *   dL/dx_j = p_j ((1 - eps) w_y + (eps / C) W) - (1 - eps) w_y [j = y] - (eps / C) w_j
 * with lse = max + log sum_c exp(x_c - max), p = softmax(x), W = sum_c w_c.
 * A first pass over the labels checks them and computes the MEAN
 * denominator (sum of w_y over rows not ignored), so the gradient is scaled
 * in the same pass that computes it. Probability targets (soft labels) have
 * their own kernel, losskit_softmax_ce_soft, below. */
#include "vecmath.h"
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

typedef struct {
    const float *x;
    const int64_t *y;
    size_t classes;
    const float *w;     /* class weights or NULL */
    const float *t;     /* probability targets [rows, classes] (soft-label form) or NULL */
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

/* Class weights: NULL, or every one finite and >= 0. */
static bool weights_ok(const float *w, size_t classes) {
    if (w)
        for (size_t j = 0; j < classes; j++)
            if (!(w[j] >= 0.0f && isfinite(w[j]))) return false;
    return true;
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

/* rows b..e-1 through a scalar row kernel: per-row losses and their sum */
static inline double rows_scalar(const sm_ctx *c, size_t b, size_t e, float (*row)(const sm_ctx *, size_t)) {
    double acc = 0.0;
    for (size_t i = b; i < e; i++) {
        float l = row(c, i);
        if (c->loss) c->loss[i] = l;
        acc += l;
    }
    return acc;
}

static double ce_chunk_scalar(void *vc, size_t b, size_t e) { return rows_scalar(vc, b, e, ce_row_scalar); }

/* ---- cross-entropy with probability targets, scalar ------------------ */
/* Soft labels (PyTorch cross_entropy with a [rows, classes] float target):
 *   t'_c = (1 - eps) t_c + eps / C,   u_c = w_c t'_c,   U = sum_c u_c
 *   L = sum_c u_c (lse - x_c) = U log S - sum_c u_c (x_c - max)
 *   dL/dx_j = p_j U - u_j
 * Targets are taken as given (PyTorch checks nothing: rows need not sum to 1).
 * A term with u_c = 0 and x_c = -inf is 0 x inf = NaN in the loss, as in
 * PyTorch; the gradient stays finite (p_c = 0), as PyTorch's. */

static inline float soft_u(const sm_ctx *c, size_t j, float t) {
    float u = fmaf(1.0f - c->eps, t, c->eps / (float)c->classes);
    return c->w ? u * c->w[j] : u;
}

static float ce_soft_row_scalar(const sm_ctx *c, size_t i) {
    size_t C = c->classes;
    const float *x = c->x + i * C, *t = c->t + i * C;
    float *g = c->grad ? c->grad + i * C : NULL;
    float mx = -INFINITY;
    for (size_t j = 0; j < C; j++) mx = fmaxf(mx, x[j]);
    float S = 0.0f, U = 0.0f, D = 0.0f;
    for (size_t j = 0; j < C; j++) {
        float d = x[j] - mx, ej = expf(d), u = soft_u(c, j, t[j]);
        S += ej;
        U += u;
        D = fmaf(u, d, D);
        if (g) g[j] = ej;
    }
    if (g) {
        float coef = c->gscale * U / S;
        for (size_t j = 0; j < C; j++) g[j] = g[j] * coef - c->gscale * soft_u(c, j, t[j]);
    }
    return U * logf(S) - D;
}

static double ce_soft_chunk_scalar(void *vc, size_t b, size_t e) { return rows_scalar(vc, b, e, ce_soft_row_scalar); }

/* ---- cross-entropy, SIMD -------------------------------------------- */
#define LK_SIMD_TEMPLATE "softmax_simd.h"
#include "simd_each_isa.h"

/* The chunk kernel of the ISA path in use. */
#if LK_X86
#define SM_PICK(name) (lk_isa_path() == LOSSKIT_ISA_AVX512 ? name##_avx512 \
                       : lk_isa_path() == LOSSKIT_ISA_AVX2 ? name##_avx2 : name##_scalar)
#elif LK_ARM64
#define SM_PICK(name) (lk_isa_path() == LOSSKIT_ISA_NEON ? name##_neon : name##_scalar)
#else
#define SM_PICK(name) name##_scalar
#endif

/* The reduced value of a row-loss sum: MEAN divides by den, and a MEAN over
 * den = 0 (no row counted, or their weights sum to 0) is 0/0 = NaN, as PyTorch. */
static float sm_reduced(double sum, double den, losskit_reduction reduction) {
    if (reduction != LOSSKIT_REDUCTION_MEAN) return (float)sum;
    return den > 0.0 ? (float)(sum / den) : NAN;
}

/* The gradient scale of that value: 1 / den for MEAN, NaN when den = 0 (the
 * counted rows' gradient is then NaN, ignored rows keep 0, as PyTorch). */
static float sm_gscale(double den, losskit_reduction reduction) {
    if (reduction != LOSSKIT_REDUCTION_MEAN) return 1.0f;
    return den > 0.0 ? (float)(1.0 / den) : NAN;
}

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
    lk_range_sum_fn fn = SM_PICK(ce_chunk);
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
    LK_CHECK(weights_ok(class_weights, classes), 5);
    size_t bad;
    double den = label_pass(labels, rows, classes, class_weights, ignore_index, &bad);
    LK_CHECK(bad == 0, 2);
    /* a MEAN over zero total weight (every counted row's w_y is 0, or no row
     * counted) is 0/0: NaN loss and NaN gradient on the counted rows (ignored
     * rows keep 0), as PyTorch - also with smoothing, whose sum is not 0 */
    float gscale = sm_gscale(den, reduction);
    double sum = 0.0;
    int status = lk_softmax_ce_scaled(logits, labels, rows, classes, class_weights, ignore_index, label_smoothing, gscale,
                                      reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL, grad, threads, &sum);
    if (status != LOSSKIT_OK) return status;
    if (loss && reduction != LOSSKIT_REDUCTION_NONE)
        *loss = sm_reduced(sum, den, reduction);
    return LOSSKIT_OK;
}

int losskit_softmax_ce_soft(const float *logits, const float *targets, size_t rows, size_t classes,
                            const float *class_weights, float label_smoothing,
                            losskit_reduction reduction, float *loss, float *grad, int threads) {
    size_t total;
    LK_CHECK(logits != NULL || rows == 0, 1);
    LK_CHECK(targets != NULL || rows == 0, 2);
    LK_CHECK(lk_mul_ok(rows, classes, &total) && total <= LK_MAX_FLOATS, 3);
    LK_CHECK(classes >= 1, 4);
    LK_CHECK(weights_ok(class_weights, classes), 5);
    LK_CHECK(!isnan(label_smoothing) && label_smoothing >= 0.0f && label_smoothing <= 1.0f, 6);
    LK_CHECK(lk_reduction_ok(reduction), 7);
    LK_CHECK(threads >= 0, 10);
    /* MEAN divides by the row count, not by a weight sum (PyTorch, probability targets) */
    sm_ctx c = {.x = logits, .t = targets, .classes = classes, .w = class_weights, .eps = label_smoothing,
                .loss = reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL, .grad = grad,
                .gscale = sm_gscale((double)rows, reduction),
                .fast_gathers = lk_use_gathers()};
    lk_range_sum_fn fn = SM_PICK(ce_soft_chunk);
    double sum = 0.0;
    int status = sm_run(&c, rows, fn, threads, &sum);
    if (status != LOSSKIT_OK) return status;
    if (loss && reduction != LOSSKIT_REDUCTION_NONE)
        *loss = sm_reduced(sum, (double)rows, reduction);
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
    /* den = 0: every row ignored (their gradient is 0), the MEAN NaN, as cross-entropy */
    c.gscale = sm_gscale(den, reduction);
    double sum = 0.0;
    int status = sm_run(&c, rows, focal_chunk, threads, &sum);
    if (status != LOSSKIT_OK) return status;
    if (loss && reduction != LOSSKIT_REDUCTION_NONE)
        *loss = sm_reduced(sum, den, reduction);
    return LOSSKIT_OK;
}
