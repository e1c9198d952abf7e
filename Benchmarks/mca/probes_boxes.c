/* llvm-mca probe (Benchmarks/mca/run_mca.sh): one row of the plain IoU
 * matrix - the row box against the column boxes' structure of arrays
 * (iou_vec, the form NEON runs for every vector), and the scalar path's
 * pair_metric over the same row. */
#include "../../CKernels/boxes.c"

#define MCA_LOOP _Pragma("clang loop vectorize(disable) unroll(disable)")

__attribute__((noinline)) void mca_iou_neon(const float *b, const col_soa *s, float *out, size_t m) {
    const row_box_neon a = row_box_of_neon(b, false);
    MCA_LOOP for (size_t j = 0; j + VW <= m; j += VW) v_store(out + j, iou_vec_neon(&a, s, j, false, 0, LOSSKIT_IOU, false));
}

__attribute__((noinline)) void mca_iou_scalar(const float *b, const float *boxes2, float *out, size_t m) {
    MCA_LOOP for (size_t j = 0; j < m; j++) out[j] = pair_metric(LOSSKIT_IOU, b, boxes2 + 4 * j);
}
