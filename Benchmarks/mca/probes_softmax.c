/* llvm-mca probe (Benchmarks/mca/run_mca.sh): the exp pass of a softmax CE
 * row wider than the register path (SSD's 21 classes with 4 lanes), as
 * ce_chunk runs it - exp(x - max) summed and stashed in the gradient row -
 * and the scalar path's loop of ce_row_scalar (no class weights). */
#include "../../CKernels/softmax.c"

#define MCA_LOOP _Pragma("clang loop vectorize(disable) unroll(disable)")

__attribute__((noinline)) float mca_softmax_exp_neon(const float *x, float *g, size_t C, float mx) {
    const vf vmx = v_set(mx);
    vf vs = v_zero();
    MCA_LOOP for (size_t j = 0; j + VW <= C; j += VW) {
        vf e = v_exp_kernel_neon(v_sub(v_load(x + j), vmx), true);
        vs = v_add(vs, e);
        v_store(g + j, e);
    }
    return v_hsum(vs);
}

__attribute__((noinline)) float mca_softmax_exp_scalar(const float *x, float *g, size_t C, float mx) {
    float S = 0.0f, wx = 0.0f;
    MCA_LOOP for (size_t j = 0; j < C; j++) {
        float ej = expf(x[j] - mx);
        S += ej;
        wx += 1.0f * (x[j] - mx);
        g[j] = ej;
    }
    return S + wx;
}
