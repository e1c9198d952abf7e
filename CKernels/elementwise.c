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
    const float *w;   /* per-element weights or NULL */
    bool w_inputs;    /* weights scale pred and target before the loss (mmpose's
                         target weight); otherwise they scale each element's loss */
} ew_ctx;

typedef struct {
    lk_range_sum_fn scalar[4]; /* [0]: forward only, [1]: with gradient, [2], [3]: the same weighted */
    lk_range_sum_fn wide[4];   /* AVX2 (x86-64) or NEON (aarch64); NULL: the scalar kernel serves */
    lk_range_sum_fn widest[4]; /* AVX-512 (x86-64 only); NULL: the wide kernel serves */
} ew_kernels;

/* Scalar chunk kernel from an element function
 *   float elem(const ew_ctx *c, size_t i, float x, float t, float *g)
 * that returns the loss and writes the unscaled gradient. */
#define EW_SCALAR(name)                                                              \
    static inline double name##_scalar_body(const ew_ctx *c, size_t b, size_t e, bool with_grad, \
                                            bool weighted) {                         \
        double acc = 0.0;                                                            \
        for (size_t i = b; i < e; i++) {                                             \
            float g = 0.0f, x = c->x[i], t = c->t[i], wt = weighted ? c->w[i] : 1.0f; \
            if (weighted && c->w_inputs) { x *= wt; t *= wt; }                       \
            float l = name##_elem(c, i, x, t, &g);                                   \
            if (weighted) { g *= wt; if (!c->w_inputs) l *= wt; }                     \
            acc += (double)l;                                                        \
            if (c->loss) c->loss[i] = l;                                             \
            if (with_grad) c->grad[i] = g * c->gscale;                               \
        }                                                                            \
        return acc;                                                                  \
    }                                                                                \
    static double name##_scalar_fwd(void *c, size_t b, size_t e) { return name##_scalar_body(c, b, e, false, false); } \
    static double name##_scalar_bwd(void *c, size_t b, size_t e) { return name##_scalar_body(c, b, e, true, false); } \
    static double name##_scalar_wfwd(void *c, size_t b, size_t e) { return name##_scalar_body(c, b, e, false, true); } \
    static double name##_scalar_wbwd(void *c, size_t b, size_t e) { return name##_scalar_body(c, b, e, true, true); }

/* SIMD chunk kernel (instantiated per ISA inside elementwise_simd.h) from a
 * vector element function  vf velem(const ew_ctx *c, vf x, vf t, vf *g).
 * The last partial vector goes through masked loads and stores, so every
 * element of a chunk sees the same code. Large outputs are streamed.
 * `weighted` (a constant in each instantiation) applies c->w as c->w_inputs says.
 * `prescaled`: velem already multiplied its gradient by c->gscale. */
#define EW_SIMD_KERNEL(name) EW_SIMD_KERNEL_X(name, false)
#define EW_SIMD_KERNEL_X(name, prescaled)                                                      \
    V_INLINE vf VFN(name##_wvelem)(const ew_ctx *c, vf x, vf t, vf w, vf *g, const bool weighted) { \
        if (!weighted) return VFN(name##_velem)(c, x, t, g);                                   \
        if (c->w_inputs) { x = v_mul(x, w); t = v_mul(t, w); }                                 \
        vf l = VFN(name##_velem)(c, x, t, g);                                                  \
        *g = v_mul(*g, w);                                                                     \
        return c->w_inputs ? l : v_mul(l, w);                                                  \
    }                                                                                          \
    /* the first k < VW elements at i, through masked loads and stores */                     \
    V_INLINE void VFN(name##_part)(const ew_ctx *c, size_t i, size_t k, vd *acc, vf gs,        \
                                   bool with_grad, const bool weighted) {                      \
        vf g = v_zero();                                                                       \
        vf w = weighted ? v_load_first(c->w + i, k) : v_zero();                                \
        vf l = VFN(name##_wvelem)(c, v_load_first(c->x + i, k), v_load_first(c->t + i, k), w, &g, weighted); \
        l = v_zero_unless(vm_first(k), l);                                                     \
        v_accumulate(acc, l);                                                                  \
        if (c->loss) v_store_first(c->loss + i, l, k);                                         \
        if (with_grad) v_store_first(c->grad + i, prescaled ? g : v_mul(g, gs), k);            \
    }                                                                                          \
    V_INLINE double VFN(name##_body)(const ew_ctx *cp, size_t b, size_t e, bool with_grad,     \
                                     const bool weighted) {                                    \
        const ew_ctx lc = *cp, *c = &lc; /* not reloaded after each store to the outputs */    \
        vd acc[2] = {vd_zero(), vd_zero()};                                                    \
        const vf gs = v_set(c->gscale);                                                        \
        size_t i = b;                                                                          \
        /* streamed outputs: a masked head brings the gradient (else the loss) to a vector     \
         * boundary, so that each streaming store is one aligned full-width store */           \
        bool sl = false, sg = false;                                                           \
        if (c->stream) {                                                                       \
            const uintptr_t align = VW * sizeof(float);                                        \
            uintptr_t lead = (uintptr_t)((with_grad ? c->grad : c->loss) + b);                 \
            if (lead % sizeof(float) == 0) {                                                   \
                size_t head = (size_t)((align - lead % align) % align) / sizeof(float);        \
                if (head > e - b) head = e - b;                                                \
                if (head) VFN(name##_part)(c, i, head, acc, gs, with_grad, weighted);          \
                i += head;                                                                     \
                sg = with_grad && (uintptr_t)(c->grad + i) % align == 0;                       \
                sl = c->loss && (uintptr_t)(c->loss + i) % align == 0;                         \
            }                                                                                  \
        }                                                                                      \
        /* two independent vectors per step: each is one long dependent chain */               \
        for (; i + 2 * VW <= e; i += 2 * VW) {                                                 \
            vf g0 = v_zero(), g1 = v_zero();                                                   \
            vf w0 = weighted ? v_load(c->w + i) : v_zero();                                    \
            vf w1 = weighted ? v_load(c->w + i + VW) : v_zero();                               \
            vf l0 = VFN(name##_wvelem)(c, v_load(c->x + i), v_load(c->t + i), w0, &g0, weighted); \
            vf l1 = VFN(name##_wvelem)(c, v_load(c->x + i + VW), v_load(c->t + i + VW), w1, &g1, weighted); \
            /* each widened: two large finite losses could overflow a float sum */             \
            v_accumulate(acc, l0);                                                             \
            v_accumulate(acc, l1);                                                             \
            if (c->loss) {                                                                     \
                if (sl) { v_stream_aligned(c->loss + i, l0); v_stream_aligned(c->loss + i + VW, l1); } \
                else { v_store(c->loss + i, l0); v_store(c->loss + i + VW, l1); }              \
            }                                                                                  \
            if (with_grad) {                                                                   \
                vf gg0 = prescaled ? g0 : v_mul(g0, gs), gg1 = prescaled ? g1 : v_mul(g1, gs); \
                if (sg) { v_stream_aligned(c->grad + i, gg0); v_stream_aligned(c->grad + i + VW, gg1); } \
                else { v_store(c->grad + i, gg0); v_store(c->grad + i + VW, gg1); }            \
            }                                                                                  \
        }                                                                                      \
        for (; i + VW <= e; i += VW) {                                                         \
            vf g = v_zero();                                                                   \
            vf w = weighted ? v_load(c->w + i) : v_zero();                                     \
            vf l = VFN(name##_wvelem)(c, v_load(c->x + i), v_load(c->t + i), w, &g, weighted); \
            v_accumulate(acc, l);                                                              \
            if (c->loss) {                                                                     \
                if (sl) v_stream_aligned(c->loss + i, l);                                      \
                else v_store(c->loss + i, l);                                                  \
            }                                                                                  \
            if (with_grad) {                                                                   \
                vf gg = prescaled ? g : v_mul(g, gs);                                          \
                if (sg) v_stream_aligned(c->grad + i, gg);                                     \
                else v_store(c->grad + i, gg);                                                 \
            }                                                                                  \
        }                                                                                      \
        if (i < e) VFN(name##_part)(c, i, e - i, acc, gs, with_grad, weighted);                \
        if (sl || sg) v_stream_fence();                                                        \
        return vd_total(acc);                                                                  \
    }                                                                                          \
    V_TARGET static double VFN(name##_fwd)(void *c, size_t b, size_t e) { return VFN(name##_body)(c, b, e, false, false); } \
    V_TARGET static double VFN(name##_bwd)(void *c, size_t b, size_t e) { return VFN(name##_body)(c, b, e, true, false); } \
    V_TARGET static double VFN(name##_wfwd)(void *c, size_t b, size_t e) { return VFN(name##_body)(c, b, e, false, true); } \
    V_TARGET static double VFN(name##_wbwd)(void *c, size_t b, size_t e) { return VFN(name##_body)(c, b, e, true, true); }

#define EW_SCALAR_FNS(name) {name##_scalar_fwd, name##_scalar_bwd, name##_scalar_wfwd, name##_scalar_wbwd}
#if LK_X86
#define EW_KERNELS_VEC(name)                                                                  \
    {EW_SCALAR_FNS(name), {name##_fwd_avx2, name##_bwd_avx2, name##_wfwd_avx2, name##_wbwd_avx2}, \
     {name##_fwd_avx512, name##_bwd_avx512, name##_wfwd_avx512, name##_wbwd_avx512}}
#elif LK_ARM64 /* NEON in the wide slot (ew_run takes it for any path but scalar and AVX-512) */
#define EW_KERNELS_VEC(name)                                                                  \
    {EW_SCALAR_FNS(name), {name##_fwd_neon, name##_bwd_neon, name##_wfwd_neon, name##_wbwd_neon}, \
     {NULL, NULL, NULL, NULL}}
#else
#define EW_KERNELS_VEC(name) {EW_SCALAR_FNS(name), {NULL}, {NULL}}
#endif
#define EW_KERNELS_SCALAR(name) {EW_SCALAR_FNS(name), {NULL}, {NULL}}

/* ===================================================================== */
/* SIMD instantiations                                                    */
#define LK_SIMD_TEMPLATE "elementwise_simd.h"
#include "simd_each_isa.h"


/* Runs the kernels over n elements with deterministic chunked reduction. */
static int ew_run(ew_ctx *c, const ew_kernels *k, size_t n, losskit_reduction reduction,
                  float *loss, float *grad, int threads, double normalizer) {
    c->loss = reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL;
    c->grad = grad;
    double count = reduction == LOSSKIT_REDUCTION_MEAN ? (double)n : normalizer;
    c->gscale = (float)(1.0 / count);
    size_t bytes_out = n * sizeof(float) * ((c->loss ? 1 : 0) + (grad ? 1 : 0));
    c->stream = bytes_out >= LK_STREAM_MIN_BYTES;
    int variant = (grad != NULL) + (c->w != NULL ? 2 : 0);
    losskit_isa path = lk_isa_path();
    lk_range_sum_fn fn = k->scalar[variant];
    if (path == LOSSKIT_ISA_AVX512 && k->widest[variant]) fn = k->widest[variant];
    else if (path != LOSSKIT_ISA_SCALAR && k->wide[variant]) fn = k->wide[variant];
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

int losskit_l1(const float *pred, const float *target, size_t n, const float *weight,
               losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 5, 8);
    static const ew_kernels k = EW_KERNELS_VEC(l1);
    ew_ctx c = {.x = pred, .t = target, .w = weight, .w_inputs = true};
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

int losskit_mse(const float *pred, const float *target, size_t n, const float *weight,
                losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 5, 8);
    static const ew_kernels k = EW_KERNELS_VEC(mse);
    ew_ctx c = {.x = pred, .t = target, .w = weight, .w_inputs = true};
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

int losskit_smooth_l1(const float *pred, const float *target, size_t n, const float *weight, float beta,
                      losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 6, 9);
    LK_CHECK(finite_f(beta) && beta >= 0.0f, 5);
    static const ew_kernels k = EW_KERNELS_VEC(smooth_l1);
    ew_ctx c = {.x = pred, .t = target, .w = weight, .w_inputs = true,
                .p = {beta, beta > 0.0f ? 1.0f / beta : 0.0f}};
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

int losskit_huber(const float *pred, const float *target, size_t n, const float *weight, float delta,
                  losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 6, 9);
    LK_CHECK(finite_f(delta) && delta > 0.0f, 5);
    static const ew_kernels k = EW_KERNELS_VEC(huber);
    ew_ctx c = {.x = pred, .t = target, .w = weight, .w_inputs = true, .p = {delta}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Wing: p[0] = w, p[1] = 1/eps, p[2] = C, p[3] = eps, p[4] = w/eps      */

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

int losskit_wing(const float *pred, const float *target, size_t n, const float *weight, float w, float epsilon,
                 losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 7, 10);
    LK_CHECK(finite_f(w) && w > 0.0f, 5);
    LK_CHECK(finite_f(epsilon) && epsilon > 0.0f, 6);
    static const ew_kernels k = EW_KERNELS_VEC(wing);
    float C = (float)((double)w - (double)w * log1p((double)w / (double)epsilon));
    ew_ctx c = {.x = pred, .t = target, .w = weight, .w_inputs = true,
                .p = {w, 1.0f / epsilon, C, epsilon, w / epsilon}};
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

int losskit_adaptive_wing(const float *pred, const float *target, size_t n, const float *weight,
                          float alpha, float omega, float epsilon, float theta,
                          losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 9, 12);
    LK_CHECK(finite_f(alpha), 5);
    LK_CHECK(finite_f(omega) && omega > 0.0f, 6);
    LK_CHECK(finite_f(epsilon) && epsilon > 0.0f, 7);
    LK_CHECK(finite_f(theta) && theta > 0.0f, 8);
    static const ew_kernels k = EW_KERNELS_SCALAR(adaptive_wing);
    ew_ctx c = {.x = pred, .t = target, .w = weight, .w_inputs = true, .p = {alpha, omega, epsilon, theta}};
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

int losskit_focal_regression(const float *pred, const float *target, size_t n, const float *weight, float gamma,
                             losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 6, 9);
    LK_CHECK(finite_f(gamma) && gamma >= 0.0f, 5);
    /* exp(k log a) loses ~k ulp; integer k (the usual gamma 0, 1, 2) is exact in the scalar pow */
    static const ew_kernels k = EW_KERNELS_VEC(focal_regression);
    ew_ctx c = {.x = pred, .t = target, .w = weight, .p = {2.0f + gamma}};
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
    /* w l sp (2 + (l a) sn), as the SIMD paths: for a huge |r| sn underflows to 0
     * and (l a) sn stays 0, where l l a sp sn was inf x 0 = NaN */
    *g = w * lk_signf(r) * (l * (sp * fmaf(l * c->p[0], sn, 2.0f)));
    return w * l * l * sp;
}
EW_SCALAR(shrinkage)

int losskit_shrinkage(const float *pred, const float *target, size_t n, const float *target_weight, float a, float c_,
                      losskit_shrinkage_weight weight,
                      losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(pred, target, n, reduction, threads, 1, 2, 3, 8, 11);
    LK_CHECK(finite_f(a), 5);
    LK_CHECK(finite_f(c_), 6);
    LK_CHECK(weight == LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET || weight == LOSSKIT_SHRINKAGE_WEIGHT_NONE ||
                 weight == LOSSKIT_SHRINKAGE_WEIGHT_DSLT_CODE, 7);
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
    ew_ctx c = {.x = pred, .t = target, .w = target_weight, .p = {a, c_, (float)weight, inv_max}};
    return ew_run(&c, &k, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* BCE with logits: p[0] = pos_weight (scalar case)                       */
/*   loss = (1 - t) softplus(x) + pw t softplus(-x)                       */
/*   grad = (1 - t) sigmoid(x) - pw t sigmoid(-x)                         */
/* PyTorch's (1 - t) x + (1 + (pw - 1) t) softplus(-x) is the same value,  */
/* but at t = 0, x << 0 (and t = 1, x >> 0) it subtracts nearly equal     */
/* terms and keeps no relative precision; this form adds terms of one     */
/* sign, so hard targets get every element to full relative precision.    */

LK_INLINE float bce_elem(const ew_ctx *c, size_t i, float x, float t, float *g) {
    float pw = c->pw_count > 1 ? c->pw[i % c->pw_count] : c->p[0];
    float omt = 1.0f - t, pwt = pw * t;
    *g = omt * lk_sigmoidf(x) - pwt * lk_sigmoidf(-x);
    return omt * lk_softplusf(x) + pwt * lk_softplusf(-x);
}
EW_SCALAR(bce)

int losskit_bce_logits(const float *logits, const float *targets, size_t n, const float *weight,
                       const float *pos_weight, size_t pos_weight_count,
                       losskit_reduction reduction, float *loss, float *grad, int threads) {
    EW_CHECK_COMMON(logits, targets, n, reduction, threads, 1, 2, 3, 7, 10);
    LK_CHECK(pos_weight != NULL || pos_weight_count == 0, 5);
    LK_CHECK(pos_weight_count <= 1 || n % pos_weight_count == 0, 6);
    static const ew_kernels vec = EW_KERNELS_VEC(bce);
    static const ew_kernels per_class = EW_KERNELS_SCALAR(bce);
    ew_ctx c = {.x = logits, .t = targets, .w = weight, .pw = pos_weight, .pw_count = pos_weight_count,
                .p = {pos_weight_count == 1 ? pos_weight[0] : 1.0f}};
    return ew_run(&c, pos_weight_count > 1 ? &per_class : &vec, n, reduction, loss, grad, threads, 1.0);
}

/* ===================================================================== */
/* Sigmoid focal loss (torchvision): p = {alpha, gamma}                   */
/*   q = 1 - p_t = p (1 - t) + (1 - p) t,  m = q^gamma                     */
/*   ce = (1 - t) softplus(x) + t softplus(-x)   (the exact BCE above)     */
/*   loss = alpha_t ce m                                                  */
/*   grad = alpha_t [ (p - t) m - ce gamma q^(gamma-1) p (1 - p) (2t - 1) ] */
/* p and 1 - p both come from exp(-|x|) at full relative precision, so     */
/* saturated logits keep their tiny losses and gradients.                  */

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
    float ce = (1.0f - t) * lk_softplusf(x) + t * lk_softplusf(-x);
    float q = p * (1.0f - t) + pc * t;
    float dm, m = focal_pow(q, gamma, &dm);
    float at = alpha >= 0.0f ? alpha * t + (1.0f - alpha) * (1.0f - t) : 1.0f;
    float pmt = p * (1.0f - t) - pc * t; /* p - t without cancellation for hard targets */
    *g = at * (pmt * m - ce * dm * p * pc * (2.0f * t - 1.0f));
    return at * ce * m;
}
EW_SCALAR(sigmoid_focal)

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

int losskit_vecmath(losskit_vecmath_fn fn, const float *in, float *out, size_t n) {
    LK_CHECK(fn >= LOSSKIT_VEC_EXP && fn <= LOSSKIT_VEC_SOFTPLUS, 1);
    LK_CHECK(in != NULL || n == 0, 2);
    LK_CHECK(out != NULL || n == 0, 3);
    LK_CHECK(n <= LK_MAX_FLOATS, 4);
#if LK_X86
    losskit_isa path = lk_isa_path();
    if (path == LOSSKIT_ISA_AVX512) { vecmath_array_avx512(fn, in, out, n); return LOSSKIT_OK; }
    if (path == LOSSKIT_ISA_AVX2) { vecmath_array_avx2(fn, in, out, n); return LOSSKIT_OK; }
#elif LK_ARM64
    if (lk_isa_path() == LOSSKIT_ISA_NEON) { vecmath_array_neon(fn, in, out, n); return LOSSKIT_OK; }
#endif
    static const scalar_math_fn table[] = {expf, logf, log1pf, sigmoid_ref, softplus_ref};
    for (size_t i = 0; i < n; i++) out[i] = table[fn](in[i]);
    return LOSSKIT_OK;
}
