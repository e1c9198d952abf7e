/* llvm-mca probes (Benchmarks/mca/run_mca.sh, aarch64 only): the inner loop
 * of a fused elementwise loss with its parameters fixed, as the chunk
 * kernels run it - element function, loss and scaled gradient stored, loss
 * added in double - one vector (NEON) or one element (scalar) an iteration.
 * Both call the kernels' own element functions. */
#include "../../CKernels/elementwise.c"

#define MCA_LOOP _Pragma("clang loop vectorize(disable) unroll(disable)")
#define PROBE(op, ...)                                                                                            \
    __attribute__((noinline)) double mca_##op##_neon(const float *x, const float *t, float *l, float *g, size_t n) { \
        const ew_ctx c = {.gscale = 1e-3f, .p = {__VA_ARGS__}};                                                   \
        vd acc[2] = {vd_zero(), vd_zero()};                                                                       \
        const vf gs = v_set(c.gscale);                                                                            \
        MCA_LOOP for (size_t i = 0; i + VW <= n; i += VW) {                                                       \
            vf gv;                                                                                                \
            vf lv = op##_velem_neon(&c, v_load(x + i), v_load(t + i), &gv);                                       \
            v_accumulate(acc, lv);                                                                                \
            v_store(l + i, lv);                                                                                   \
            v_store(g + i, v_mul(gv, gs));                                                                        \
        }                                                                                                         \
        return vd_total(acc);                                                                                     \
    }                                                                                                             \
    __attribute__((noinline)) double mca_##op##_scalar(const float *x, const float *t, float *l, float *g, size_t n) { \
        const ew_ctx c = {.gscale = 1e-3f, .p = {__VA_ARGS__}};                                                   \
        double acc = 0.0;                                                                                         \
        MCA_LOOP for (size_t i = 0; i < n; i++) {                                                                 \
            float gg;                                                                                             \
            float lv = op##_elem(&c, i, x[i], t[i], &gg);                                                         \
            acc += (double)lv;                                                                                    \
            l[i] = lv;                                                                                            \
            g[i] = gg * c.gscale;                                                                                 \
        }                                                                                                         \
        return acc;                                                                                               \
    }

PROBE(sigmoid_focal, 0.25f, 2.0f)                       /* torchvision's defaults */
PROBE(wing, 10.0f, 0.5f, -7.917595f, 2.0f)              /* w 10, eps 2: {w, 1/eps, C, eps} */
PROBE(shrinkage, 10.0f, 0.2f, (float)LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET, 1.0f) /* a 10, c 0.2, weight exp(y) */
