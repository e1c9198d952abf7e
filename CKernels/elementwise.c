/* Regression losses and binary classification losses: one fused pass that
 * writes the per-element loss (reduction none), accumulates the sum in double
 * per fixed chunk, and writes the scaled gradient. */
#include "vecmath.h"
#include <stdint.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

typedef struct ew_ctx {
    const float *x;   /* predictions or logits */
    const float *t;   /* targets */
    float *loss;      /* per-element losses (reduction none) or NULL */
    float *grad;      /* gradient or NULL */
    float gscale;     /* 1/n for mean, 1 (or 1/normalizer) otherwise */
    bool stream;      /* outputs are large: non-temporal stores */
    float p[6];       /* the op's parameters, in the order its entry point takes them */
    const float *pw;  /* bce: pos_weight, broadcast along the last axis */
    size_t pw_count;
} ew_ctx;

typedef struct {
    lk_range_sum_fn scalar[2]; /* [0]: forward only, [1]: with gradient */
    lk_range_sum_fn vector[2]; /* AVX2, or NULL: the scalar kernel serves */
} ew_kernels;

/* Scalar chunk kernel from an element function
 *   float elem(const ew_ctx *c, size_t i, float x, float t, float *g)
 * that returns the loss and writes the unscaled gradient. */
#define EW_SCALAR(name)                                                              \
    static inline double name##_scalar_body(const ew_ctx *c, size_t b, size_t e, bool with_grad) { \
        double acc = 0.0;                                                            \
        for (size_t i = b; i < e; i++) {                                             \
            float g = 0.0f;                                                          \
            float l = name##_elem(c, i, c->x[i], c->t[i], &g);                       \
            acc += (double)l;                                                        \
            if (c->loss) c->loss[i] = l;                                             \
            if (with_grad) c->grad[i] = g * c->gscale;                               \
        }                                                                            \
        return acc;                                                                  \
    }                                                                                \
    static double name##_scalar_fwd(void *c, size_t b, size_t e) { return name##_scalar_body(c, b, e, false); } \
    static double name##_scalar_bwd(void *c, size_t b, size_t e) { return name##_scalar_body(c, b, e, true); }

#if LK_X86
/* AVX2 chunk kernel from a vector element function
 *   v8f velem(const ew_ctx *c, v8f x, v8f t, v8f *g)
 * with the scalar element function for the tail. */
#define EW_AVX2(name)                                                                \
    LK_TARGET_AVX2 static inline double name##_avx2_body(const ew_ctx *c, size_t b, size_t e, bool with_grad) { \
        __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};                \
        const v8f gs = _mm256_set1_ps(c->gscale);                                    \
        const bool sl = c->stream && c->loss && ((uintptr_t)(c->loss + b) & 15) == 0; \
        const bool sg = c->stream && with_grad && ((uintptr_t)(c->grad + b) & 15) == 0; \
        size_t i = b;                                                                \
        for (; i + 8 <= e; i += 8) {                                                 \
            v8f g = _mm256_setzero_ps();                                             \
            v8f l = name##_velem(c, _mm256_loadu_ps(c->x + i), _mm256_loadu_ps(c->t + i), &g); \
            lk_v_accumulate(acc, l);                                                 \
            if (c->loss) lk_v_store(c->loss + i, l, sl);                             \
            if (with_grad) lk_v_store(c->grad + i, _mm256_mul_ps(g, gs), sg);        \
        }                                                                            \
        if (sl || sg) _mm_sfence();                                                  \
        double tail = name##_scalar_body(c, i, e, with_grad);                        \
        return lk_v_total(acc) + tail;                                               \
    }                                                                                \
    static double name##_avx2_fwd(void *c, size_t b, size_t e) { return name##_avx2_body(c, b, e, false); } \
    static double name##_avx2_bwd(void *c, size_t b, size_t e) { return name##_avx2_body(c, b, e, true); }
#define EW_KERNELS_VEC(name) {{name##_scalar_fwd, name##_scalar_bwd}, {name##_avx2_fwd, name##_avx2_bwd}}
#else
#define EW_KERNELS_VEC(name) {{name##_scalar_fwd, name##_scalar_bwd}, {NULL, NULL}}
#endif
#define EW_KERNELS_SCALAR(name) {{name##_scalar_fwd, name##_scalar_bwd}, {NULL, NULL}}

/* Runs the kernels over n elements with deterministic chunked reduction. */
static int ew_run(ew_ctx *c, const ew_kernels *k, size_t n, losskit_reduction reduction,
                  float *loss, float *grad, int threads, double normalizer) {
    c->loss = reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL;
    c->grad = grad;
    double count = reduction == LOSSKIT_REDUCTION_MEAN ? (double)n : normalizer;
    c->gscale = (float)(1.0 / count);
    size_t bytes_out = n * sizeof(float) * ((c->loss ? 1 : 0) + (grad ? 1 : 0));
    c->stream = bytes_out >= LK_STREAM_MIN_BYTES;
    int with_grad = grad != NULL;
    lk_range_sum_fn fn = (lk_use_avx2() && k->vector[with_grad]) ? k->vector[with_grad] : k->scalar[with_grad];
    int nthreads = n < LK_PARALLEL_MIN ? 1 : lk_threads_for(threads, n, 2 * LK_CHUNK);
    double sum = 0.0;
    int status = lk_chunked_sum(n, LK_CHUNK, nthreads, fn, c, &sum);
    if (status != LOSSKIT_OK) return status;
    if (loss && reduction != LOSSKIT_REDUCTION_NONE) *loss = (float)(sum / count);
    return LOSSKIT_OK;
}

/* Checks shared by every elementwise entry point (argument positions given). */
#define EW_CHECK_COMMON(x, t, n, reduction, threads, px, pt, pn, pred_, pthr) \
    LK_CHECK((x) != NULL || (n) == 0, px);                                     \
    LK_CHECK((t) != NULL || (n) == 0, pt);                                     \
    LK_CHECK((n) <= LK_MAX_FLOATS, pn);                                        \
    LK_CHECK(lk_reduction_ok(reduction), pred_);                               \
    LK_CHECK((threads) >= 0, pthr)

LK_INLINE bool finite_f(float v) { return isfinite(v); }

/* ===================================================================== */
/* L1                                                                    */

LK_INLINE float l1_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)c; (void)i;
    float r = x - t;
    *g = lk_signf(r);
    return fabsf(r);
}
EW_SCALAR(l1)
#if LK_X86
LK_V v8f l1_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    (void)c;
    v8f r = _mm256_sub_ps(x, t);
    *g = lk_v_sign(r);
    return lk_v_abs(r);
}
EW_AVX2(l1)
#endif

int losskit_l1(const float *pred, const float *target, size_t n,
               losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 4, 7);
    static const ew_kernels k = EW_KERNELS_VEC(l1);
    ew_ctx c = {.x = pred, .t = target};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* MSE                                                                   */

LK_INLINE float mse_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)c; (void)i;
    float r = x - t;
    *g = 2.0f * r;
    return r * r;
}
EW_SCALAR(mse)
#if LK_X86
LK_V v8f mse_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    (void)c;
    v8f r = _mm256_sub_ps(x, t);
    *g = _mm256_add_ps(r, r);
    return _mm256_mul_ps(r, r);
}
EW_AVX2(mse)
#endif

int losskit_mse(const float *pred, const float *target, size_t n,
                losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 4, 7);
    static const ew_kernels k = EW_KERNELS_VEC(mse);
    ew_ctx c = {.x = pred, .t = target};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Smooth L1: p[0] = beta, p[1] = 1/beta (0 when beta = 0)               */

LK_INLINE float smooth_l1_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)i;
    float r = x - t, a = fabsf(r);
    if (a < c->p[0]) {
        *g = r * c->p[1];
        return 0.5f * r * r * c->p[1];
    }
    *g = lk_signf(r);
    return a - 0.5f * c->p[0];
}
EW_SCALAR(smooth_l1)
#if LK_X86
LK_V v8f smooth_l1_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    v8f beta = _mm256_set1_ps(c->p[0]), inv = _mm256_set1_ps(c->p[1]);
    v8f r = _mm256_sub_ps(x, t), a = lk_v_abs(r);
    v8f inner = _mm256_cmp_ps(a, beta, _CMP_LT_OQ);
    v8f rb = _mm256_mul_ps(r, inv);
    *g = lk_v_select(inner, rb, lk_v_sign(r));
    return lk_v_select(inner, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), r), rb),
                       _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), beta, a));
}
EW_AVX2(smooth_l1)
#endif

int losskit_smooth_l1(const float *pred, const float *target, size_t n, float beta,
                      losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 5, 8);
    LK_CHECK(finite_f(beta) && beta >= 0.0f, 4);
    static const ew_kernels k = EW_KERNELS_VEC(smooth_l1);
    ew_ctx c = {.x = pred, .t = target, .p = {beta, beta > 0.0f ? 1.0f / beta : 0.0f}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Huber: p[0] = delta                                                   */

LK_INLINE float huber_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)i;
    float d = c->p[0], r = x - t, a = fabsf(r);
    if (a < d) {
        *g = r;
        return 0.5f * r * r;
    }
    *g = d * lk_signf(r);
    return d * (a - 0.5f * d);
}
EW_SCALAR(huber)
#if LK_X86
LK_V v8f huber_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    v8f d = _mm256_set1_ps(c->p[0]);
    v8f r = _mm256_sub_ps(x, t), a = lk_v_abs(r);
    v8f inner = _mm256_cmp_ps(a, d, _CMP_LT_OQ);
    *g = lk_v_select(inner, r, _mm256_mul_ps(d, lk_v_sign(r)));
    return lk_v_select(inner, _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(r, r)),
                       _mm256_mul_ps(d, _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), d, a)));
}
EW_AVX2(huber)
#endif

int losskit_huber(const float *pred, const float *target, size_t n, float delta,
                  losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 5, 8);
    LK_CHECK(finite_f(delta) && delta > 0.0f, 4);
    static const ew_kernels k = EW_KERNELS_VEC(huber);
    ew_ctx c = {.x = pred, .t = target, .p = {delta}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Wing: p[0] = w, p[1] = 1/eps, p[2] = C, p[3] = eps                   */

LK_INLINE float wing_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)i;
    float w = c->p[0], r = x - t, a = fabsf(r);
    if (a < w) {
        *g = lk_signf(r) * w / (c->p[3] + a);
        return w * log1pf(a * c->p[1]);
    }
    *g = lk_signf(r);
    return a - c->p[2];
}
EW_SCALAR(wing)
#if LK_X86
LK_V v8f wing_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    v8f w = _mm256_set1_ps(c->p[0]);
    v8f r = _mm256_sub_ps(x, t), a = lk_v_abs(r);
    v8f inner = _mm256_cmp_ps(a, w, _CMP_LT_OQ);
    v8f s = lk_v_sign(r);
    *g = lk_v_select(inner, _mm256_div_ps(_mm256_mul_ps(s, w), _mm256_add_ps(_mm256_set1_ps(c->p[3]), a)), s);
    v8f in_loss = _mm256_mul_ps(w, lk_v_log1p(_mm256_mul_ps(a, _mm256_set1_ps(c->p[1]))));
    return lk_v_select(inner, in_loss, _mm256_sub_ps(a, _mm256_set1_ps(c->p[2])));
}
EW_AVX2(wing)
#endif

int losskit_wing(const float *pred, const float *target, size_t n, float w, float epsilon,
                 losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 6, 9);
    LK_CHECK(finite_f(w) && w > 0.0f, 4);
    LK_CHECK(finite_f(epsilon) && epsilon > 0.0f, 5);
    static const ew_kernels k = EW_KERNELS_VEC(wing);
    float C = (float)((double)w - (double)w * log1p((double)w / (double)epsilon));
    ew_ctx c = {.x = pred, .t = target, .p = {w, 1.0f / epsilon, C, epsilon}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Adaptive Wing: p = {alpha, omega, epsilon, theta}. Scalar: pow with a  */
/* per-element exponent has no cheap vector form, and no workload needs it.*/

LK_INLINE float adaptive_wing_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)i;
    float alpha = c->p[0], omega = c->p[1], eps = c->p[2], theta = c->p[3];
    float r = x - t, a = fabsf(r), e = alpha - t;
    if (a < theta) {
        float u = a / eps;
        float ue = powf(u, e);
        /* d/da omega ln(1 + u^e) = omega e u^(e-1) / (eps (1 + u^e)); 0 at a = 0 (sign(0) = 0) */
        float du = a > 0.0f ? omega * e * powf(u, e - 1.0f) / (eps * (1.0f + ue)) : 0.0f;
        *g = lk_signf(r) * du;
        return omega * log1pf(ue);
    }
    float te = powf(theta / eps, e);
    float A = omega * (1.0f / (1.0f + te)) * e * powf(theta / eps, e - 1.0f) * (1.0f / eps);
    float C = theta * A - omega * log1pf(te);
    *g = lk_signf(r) * A;
    return A * a - C;
}
EW_SCALAR(adaptive_wing)

int losskit_adaptive_wing(const float *pred, const float *target, size_t n,
                          float alpha, float omega, float epsilon, float theta,
                          losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 8, 11);
    LK_CHECK(finite_f(alpha), 4);
    LK_CHECK(finite_f(omega) && omega > 0.0f, 5);
    LK_CHECK(finite_f(epsilon) && epsilon > 0.0f, 6);
    LK_CHECK(finite_f(theta) && theta > 0.0f, 7);
    static const ew_kernels k = EW_KERNELS_SCALAR(adaptive_wing);
    ew_ctx c = {.x = pred, .t = target, .p = {alpha, omega, epsilon, theta}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Focal regression |r|^(2 + gamma): p[0] = 2 + gamma                     */

LK_INLINE float focal_regression_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)i;
    float k = c->p[0], r = x - t, a = fabsf(r);
    float ak1 = powf(a, k - 1.0f); /* k >= 2, so 0^(k-1) = 0 */
    *g = lk_signf(r) * k * ak1;
    return ak1 * a;
}
EW_SCALAR(focal_regression)
#if LK_X86
LK_V v8f focal_regression_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    v8f k = _mm256_set1_ps(c->p[0]);
    v8f r = _mm256_sub_ps(x, t), a = lk_v_abs(r);
    /* a^(k-1) = exp((k-1) log a); log 0 = -inf gives exp(-inf) = 0 as wanted */
    v8f ak1 = lk_v_exp(_mm256_mul_ps(_mm256_sub_ps(k, _mm256_set1_ps(1.0f)), lk_v_log(a)));
    *g = _mm256_mul_ps(lk_v_sign(r), _mm256_mul_ps(k, ak1));
    return _mm256_mul_ps(ak1, a);
}
EW_AVX2(focal_regression)
#endif

int losskit_focal_regression(const float *pred, const float *target, size_t n, float gamma,
                             losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 5, 8);
    LK_CHECK(finite_f(gamma) && gamma >= 0.0f, 4);
    /* exp(k log a) loses ~k ulp; integer k (the usual gamma 0, 1, 2) is exact in the scalar pow */
    static const ew_kernels k = EW_KERNELS_VEC(focal_regression);
    ew_ctx c = {.x = pred, .t = target, .p = {2.0f + gamma}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Shrinkage: p = {a, c, weight mode, 1 / max_j y_j e^{1.6 y_j}}          */

LK_INLINE float shrinkage_weight(const ew_ctx *c, float y) {
    switch ((int)c->p[2]) {
    case LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET: return expf(y);
    case LOSSKIT_SHRINKAGE_WEIGHT_NONE: return 1.0f;
    default: {
        float v = y * expf(1.6f * y) * c->p[3];
        return v * v;
    }
    }
}

LK_INLINE float shrinkage_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)i;
    float r = x - t, l = fabsf(r), w = shrinkage_weight(c, t);
    float z = c->p[0] * (l - c->p[1]);
    float sp = lk_sigmoidf(z), sn = lk_sigmoidf(-z); /* 1/(1+exp(a(c-l))) and its complement */
    *g = w * lk_signf(r) * (2.0f * l * sp + l * l * c->p[0] * sp * sn);
    return w * l * l * sp;
}
EW_SCALAR(shrinkage)
#if LK_X86
LK_V v8f shrinkage_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    v8f a = _mm256_set1_ps(c->p[0]);
    v8f r = _mm256_sub_ps(x, t), l = lk_v_abs(r);
    v8f w;
    int mode = (int)c->p[2];
    if (mode == LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET) {
        w = lk_v_exp(t);
    } else if (mode == LOSSKIT_SHRINKAGE_WEIGHT_NONE) {
        w = _mm256_set1_ps(1.0f);
    } else {
        w = _mm256_mul_ps(_mm256_mul_ps(t, lk_v_exp(_mm256_mul_ps(_mm256_set1_ps(1.6f), t))), _mm256_set1_ps(c->p[3]));
        w = _mm256_mul_ps(w, w);
    }
    v8f sp, sn;
    lk_v_sigmoid2(_mm256_mul_ps(a, _mm256_sub_ps(l, _mm256_set1_ps(c->p[1]))), &sp, &sn);
    v8f wl = _mm256_mul_ps(w, l);
    v8f inner = _mm256_fmadd_ps(_mm256_mul_ps(l, a), sn, _mm256_set1_ps(2.0f)); /* 2 + l a sn */
    *g = _mm256_mul_ps(_mm256_mul_ps(lk_v_sign(r), wl), _mm256_mul_ps(sp, inner));
    return _mm256_mul_ps(_mm256_mul_ps(wl, l), sp);
}
EW_AVX2(shrinkage)
#endif

int losskit_shrinkage(const float *pred, const float *target, size_t n, float a, float c_,
                      losskit_shrinkage_weight weight,
                      losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 7, 10);
    LK_CHECK(finite_f(a), 4);
    LK_CHECK(finite_f(c_), 5);
    LK_CHECK(weight == LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET || weight == LOSSKIT_SHRINKAGE_WEIGHT_NONE ||
                 weight == LOSSKIT_SHRINKAGE_WEIGHT_DSLT_CODE, 6);
    float inv_max = 0.0f;
    if (weight == LOSSKIT_SHRINKAGE_WEIGHT_DSLT_CODE) {
        /* the DSLT code normalises y e^{1.6 y} by its maximum over the batch;
         * an all-zero (or all-negative) target map has weight 0 everywhere */
        float m = 0.0f;
        bool nan = false;
        for (size_t i = 0; i < n; i++) {
            float v = target[i] * expf(1.6f * target[i]);
            if (isnan(v)) nan = true;
            else if (v > m) m = v;
        }
        inv_max = nan ? NAN : (m > 0.0f ? 1.0f / m : 0.0f);
    }
    static const ew_kernels k = EW_KERNELS_VEC(shrinkage);
    ew_ctx c = {.x = pred, .t = target, .p = {a, c_, (float)weight, inv_max}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* BCE with logits: p[0] = pos_weight (scalar case)                       */
/*   loss = (1 - t) x + lw softplus(-x),  lw = 1 + (pw - 1) t             */
/*   grad = (1 - t) - lw sigmoid(-x)                                      */

LK_INLINE float bce_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    float pw = c->pw_count > 1 ? c->pw[i % c->pw_count] : c->p[0];
    float lw = 1.0f + (pw - 1.0f) * t;
    *g = (1.0f - t) - lw * lk_sigmoidf(-x);
    return (1.0f - t) * x + lw * lk_softplusf(-x);
}
EW_SCALAR(bce)
#if LK_X86
LK_V v8f bce_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    const v8f one = _mm256_set1_ps(1.0f);
    v8f lw = _mm256_fmadd_ps(_mm256_set1_ps(c->p[0] - 1.0f), t, one);
    v8f e = lk_v_exp(_mm256_sub_ps(_mm256_setzero_ps(), lk_v_abs(x)));
    v8f d = _mm256_add_ps(one, e);
    v8f xpos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    v8f sig_negx = lk_v_keepnan(_mm256_div_ps(lk_v_select(xpos, e, one), d), x); /* sigmoid(-x) */
    v8f omt = _mm256_sub_ps(one, t);
    *g = _mm256_fnmadd_ps(lw, sig_negx, omt);
    v8f sp = _mm256_add_ps(lk_v_max0(_mm256_sub_ps(_mm256_setzero_ps(), x)), lk_v_log1p(e)); /* softplus(-x) */
    return _mm256_fmadd_ps(lw, sp, _mm256_mul_ps(omt, x));
}
EW_AVX2(bce)
#endif

int losskit_bce_logits(const float *logits, const float *targets, size_t n,
                       const float *pos_weight, size_t pos_weight_count,
                       losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(logits, targets, n, reduction, threads, 1, 2, 3, 6, 9);
    LK_CHECK(pos_weight != NULL || pos_weight_count == 0, 4);
    LK_CHECK(pos_weight_count <= 1 || n % pos_weight_count == 0, 5);
    static const ew_kernels vec = EW_KERNELS_VEC(bce);
    static const ew_kernels per_class = EW_KERNELS_SCALAR(bce);
    ew_ctx c = {.x = logits, .t = targets, .pw = pos_weight, .pw_count = pos_weight_count,
                .p = {pos_weight_count == 1 ? pos_weight[0] : 1.0f}};
    return ew_run(&c, pos_weight_count > 1 ? &per_class : &vec, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Sigmoid focal loss (torchvision): p = {alpha, gamma}                   */
/*   q = 1 - p_t = p (1 - t) + (1 - p) t,  m = q^gamma                     */
/*   loss = alpha_t ce m                                                  */
/*   grad = alpha_t [ (p - t) m - ce gamma q^(gamma-1) p (1 - p) (2t - 1) ] */
/* p and 1 - p both come from exp(-|x|) at full relative precision, so     */
/* saturated logits still give the tiny (even subnormal) losses torch does.*/

LK_INLINE float focal_pow(float q, float gamma, float *dm) { /* q^gamma and gamma q^(gamma-1) (0 at q = 0) */
    if (gamma == 2.0f) { *dm = 2.0f * q; return q * q; }
    if (gamma == 0.0f) { *dm = 0.0f; return 1.0f; }
    float m = powf(q, gamma);
    *dm = q > 0.0f ? gamma * m / q : 0.0f;
    return m;
}

LK_INLINE float sigmoid_focal_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    (void)i;
    float alpha = c->p[0], gamma = c->p[1];
    float p = lk_sigmoidf(x), pc = lk_sigmoidf(-x); /* p, 1 - p */
    float ce = lk_softplusf(x) - x * t;
    float q = p * (1.0f - t) + pc * t;
    float dm, m = focal_pow(q, gamma, &dm);
    float at = alpha >= 0.0f ? alpha * t + (1.0f - alpha) * (1.0f - t) : 1.0f;
    float pmt = p * (1.0f - t) - pc * t; /* p - t without cancellation for hard targets */
    *g = at * (pmt * m - ce * dm * p * pc * (2.0f * t - 1.0f));
    return at * ce * m;
}
EW_SCALAR(sigmoid_focal)
#if LK_X86
LK_V v8f sigmoid_focal_velem(const ew_ctx *c, v8f x, v8f t, v8f *g) {
    const v8f one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    float alpha = c->p[0], gamma = c->p[1];
    v8f e = lk_v_exp(_mm256_sub_ps(zero, lk_v_abs(x)));
    v8f d = _mm256_add_ps(one, e);
    v8f big = _mm256_div_ps(one, d), small = _mm256_mul_ps(e, big);
    v8f xpos = _mm256_cmp_ps(x, zero, _CMP_GE_OQ);
    v8f p = lk_v_select(xpos, big, small), pc = lk_v_select(xpos, small, big);
    v8f ce = _mm256_fnmadd_ps(x, t, _mm256_add_ps(lk_v_max0(x), lk_v_log1p(e)));
    v8f omt = _mm256_sub_ps(one, t);
    v8f q = _mm256_fmadd_ps(p, omt, _mm256_mul_ps(pc, t));
    v8f m, dm;
    if (gamma == 2.0f) {
        m = _mm256_mul_ps(q, q);
        dm = _mm256_add_ps(q, q);
    } else if (gamma == 0.0f) {
        m = one;
        dm = zero;
    } else {
        m = lk_v_exp(_mm256_mul_ps(_mm256_set1_ps(gamma), lk_v_log(q)));
        v8f qpos = _mm256_cmp_ps(q, zero, _CMP_GT_OQ);
        dm = _mm256_and_ps(qpos, _mm256_div_ps(_mm256_mul_ps(_mm256_set1_ps(gamma), m), q));
    }
    v8f at = alpha >= 0.0f ? _mm256_fmadd_ps(_mm256_set1_ps(alpha), t, _mm256_mul_ps(_mm256_set1_ps(1.0f - alpha), omt)) : one;
    v8f pmt = _mm256_fmsub_ps(p, omt, _mm256_mul_ps(pc, t));
    v8f two_t_m1 = _mm256_fmsub_ps(_mm256_set1_ps(2.0f), t, one);
    v8f curv = _mm256_mul_ps(_mm256_mul_ps(ce, dm), _mm256_mul_ps(_mm256_mul_ps(p, pc), two_t_m1));
    *g = lk_v_keepnan(_mm256_mul_ps(at, _mm256_fmsub_ps(pmt, m, curv)), x);
    return lk_v_keepnan(_mm256_mul_ps(at, _mm256_mul_ps(ce, m)), x);
}
EW_AVX2(sigmoid_focal)
#endif

int losskit_sigmoid_focal(const float *logits, const float *targets, size_t n,
                          float alpha, float gamma, float normalizer,
                          losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(logits, targets, n, reduction, threads, 1, 2, 3, 7, 10);
    LK_CHECK(!isnan(alpha) && alpha <= 1.0f, 4);
    LK_CHECK(finite_f(gamma) && gamma >= 0.0f, 5);
    LK_CHECK(finite_f(normalizer) && normalizer >= 0.0f &&
                 (normalizer == 0.0f || normalizer == 1.0f || reduction == LOSSKIT_REDUCTION_SUM), 6);
    static const ew_kernels k = EW_KERNELS_VEC(sigmoid_focal);
    ew_ctx c = {.x = logits, .t = targets, .p = {alpha, gamma}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, normalizer > 0.0f ? (double)normalizer : 1.0);
}

/* ===================================================================== */
/* Vector math over arrays                                                */

typedef float (*scalar_math_fn)(float);
static float sigmoid_ref(float x) { return lk_sigmoidf(x); }
static float softplus_ref(float x) { return lk_softplusf(x); }

#if LK_X86
LK_TARGET_AVX2 static void vecmath_avx2(losskit_vecmath_fn fn, const float *in, float *out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f x = _mm256_loadu_ps(in + i), y;
        switch (fn) {
        case LOSSKIT_VEC_EXP: y = lk_v_exp(x); break;
        case LOSSKIT_VEC_LOG: y = lk_v_log(x); break;
        case LOSSKIT_VEC_LOG1P: y = lk_v_log1p(x); break;
        case LOSSKIT_VEC_SIGMOID: y = lk_v_sigmoid(x); break;
        default: y = lk_v_softplus(x); break;
        }
        _mm256_storeu_ps(out + i, y);
    }
    if (i < n) { /* pad the tail through the vector path too, so every element sees it */
        float bufin[8] = {0}, bufout[8];
        memcpy(bufin, in + i, (n - i) * sizeof(float));
        vecmath_avx2(fn, bufin, bufout, 8);
        memcpy(out + i, bufout, (n - i) * sizeof(float));
    }
}
#endif

int losskit_vecmath(losskit_vecmath_fn fn, const float *in, float *out, size_t n) {
    LK_CHECK(fn >= LOSSKIT_VEC_EXP && fn <= LOSSKIT_VEC_SOFTPLUS, 1);
    LK_CHECK(in != NULL || n == 0, 2);
    LK_CHECK(out != NULL || n == 0, 3);
    LK_CHECK(n <= LK_MAX_FLOATS, 4);
#if LK_X86
    if (lk_use_avx2()) {
        vecmath_avx2(fn, in, out, n);
        return LOSSKIT_OK;
    }
#endif
    static const scalar_math_fn table[] = {expf, logf, log1pf, sigmoid_ref, softplus_ref};
    for (size_t i = 0; i < n; i++) out[i] = table[fn](in[i]);
    return LOSSKIT_OK;
}
