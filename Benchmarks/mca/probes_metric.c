/* llvm-mca probe (Benchmarks/mca/run_mca.sh): TriHard's tile reduction as
 * the kernel runs it - th_tile_neon and th_tile_scalar, Euclidean - on a
 * block of rows against columns past the diagonal block, so every value
 * updates the row's bests and its column's state (the loop that dominates
 * past 2048 rows). Both branch on their data (the scalar loop on every
 * compare, the NEON loop on the rare exact repair), so mca_loops.py
 * measures the instructions one run executes (mca_drive under qemu) rather
 * than the loop's static body: the same columns, the same values, for both. */
#include "../../CKernels/metric.c"

__attribute__((noinline)) void mca_trihard_neon(const trihard_block *b, size_t c0, size_t c1, float *best) {
    th_tile_neon(b, c0, c1, best);
}

__attribute__((noinline)) void mca_trihard_scalar(const trihard_block *b, size_t c0, size_t c1, float *best) {
    th_tile_scalar(b, c0, c1, best);
}

/* The run: identities of 4 (P x K batches: most columns are negatives),
 * features ~N(0, 1) in 16 dimensions. Each probe runs twice: rows 0..31
 * against columns 32..551 (warm-up: the columns' state as earlier blocks
 * leave it), then the measured call, rows 32..39 against columns 40..551. */
#define MCA_N 552
#define MCA_D 16
#define MCA_ROWS 40
static float mca_x[MCA_N * MCA_D], mca_g[MCA_ROWS * MCA_N], mca_norm[MCA_N], mca_label[MCA_N], mca_col[4 * MCA_N], mca_best[4 * 32];

static void mca_run(void (*probe)(const trihard_block *, size_t, size_t, float *)) {
    for (size_t j = 0; j < MCA_N; j++) {
        mca_col[j] = -INFINITY, mca_col[MCA_N + j] = -1.0f, mca_col[2 * MCA_N + j] = INFINITY, mca_col[3 * MCA_N + j] = -1.0f;
    }
    trihard_block b = {.metric = LOSSKIT_METRIC_SQEUCLIDEAN, .cosine = false, .x = mca_x, .n = MCA_N, .d = MCA_D,
                       .norm = mca_norm, .label = mca_label, .col = mca_col, .ldg = MCA_N, .tile = 1024};
    const size_t blocks[2][3] = {{0, 32, 32}, {32, 8, 40}}; /* r0, rows, first column */
    for (int k = 0; k < 2; k++) {
        b.r0 = blocks[k][0], b.rows = blocks[k][1], b.g = mca_g + b.r0 * MCA_N + b.r0;
        for (size_t t = 0; t < 4 * b.rows; t++) mca_best[t] = t % 4 == 1 || t % 4 == 3 ? -1.0f : (t % 4 ? INFINITY : -INFINITY);
        probe(&b, blocks[k][2], MCA_N, mca_best);
    }
}

void mca_drive(void) {
    uint64_t s = 12345;
    for (size_t i = 0; i < MCA_N * MCA_D; i += 2) { /* Box-Muller */
        double u[2];
        for (int k = 0; k < 2; k++) s = s * 6364136223846793005ull + 1442695040888963407ull, u[k] = ((s >> 11) + 0.5) / 9007199254740992.0;
        mca_x[i] = (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
        mca_x[i + 1] = (float)(sqrt(-2 * log(u[0])) * sin(6.283185307179586 * u[1]));
    }
    for (size_t j = 0; j < MCA_N; j++) {
        mca_label[j] = (float)(j / 4);
        mca_norm[j] = (float)lk_squared_norm(mca_x + j * MCA_D, MCA_D);
    }
    for (size_t i = 0; i < MCA_ROWS; i++)
        for (size_t j = 0; j < MCA_N; j++) {
            float dot = 0.0f;
            for (size_t k = 0; k < MCA_D; k++) dot += mca_x[i * MCA_D + k] * mca_x[j * MCA_D + k];
            mca_g[i * MCA_N + j] = -2.0f * dot;
        }
    mca_run(mca_trihard_neon);
    mca_run(mca_trihard_scalar);
}
