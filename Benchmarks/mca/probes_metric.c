/* llvm-mca probe (Benchmarks/mca/run_mca.sh): one row of a TriHard tile
 * against its columns (Euclidean: d^2 from the SGEMM term, the row's and
 * the columns' hardest positive and negative), th_row for NEON and
 * th_tile_scalar's column loop for scalar (the compiler keeps that one a
 * function of its own; mca_loops.py reads it there). */
#include "../../CKernels/metric.c"

__attribute__((noinline)) void mca_trihard_neon(const trihard_block *b, size_t c0, size_t c1, float *best) {
    trihard_block k = *b;
    k.cosine = false;
    th_row_neon(&k, 0, c0, c1, best);
}

__attribute__((noinline)) void mca_trihard_scalar(const trihard_block *b, size_t c0, size_t c1, float *best) {
    trihard_block k = *b;
    k.cosine = false;
    k.rows = 1;
    th_tile_scalar(&k, c0, c1, best);
}
