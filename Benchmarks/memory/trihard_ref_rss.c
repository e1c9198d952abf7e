/* The whole-process peak resident memory of trihard_ref_4096x65536x128
 * (Benchmarks/README.md: 4096 queries N(0,1) with labels uniform over 16,384
 * identities against 65,536 references N(0,1), reference j of identity
 * j mod 16,384; batch hard, margin 0.3, Euclidean, mean, gradients for both
 * sets): `make bench-memory`. A process of its own, so that nothing else the
 * benchmark allocates counts. Usage: trihard_ref_rss [threads [runs]]
 * (default 1 thread, 1 run; the time printed is the fastest run). */
#define _POSIX_C_SOURCE 199309L
#include "losskit.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t step(uint64_t *s) { *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17; return *s; }

static float normal(uint64_t *s) { /* Box-Muller on a xorshift */
    double u0 = ((step(s) >> 11) + 0.5) / 9007199254740992.0, u1 = ((step(s) >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u0)) * cos(6.283185307179586 * u1));
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 1, runs = argc > 2 ? atoi(argv[2]) : 1;
    const size_t q = 4096, m = 65536, d = 128, ids = 16384;
    float *x = malloc(sizeof(float) * q * d), *y = malloc(sizeof(float) * m * d);
    float *gx = malloc(sizeof(float) * q * d), *gy = malloc(sizeof(float) * m * d);
    int64_t *ql = malloc(sizeof(int64_t) * q), *rl = malloc(sizeof(int64_t) * m);
    if (!x || !y || !gx || !gy || !ql || !rl) return 2;
    uint64_t s = 29;
    for (size_t i = 0; i < q * d; i++) x[i] = normal(&s);
    for (size_t i = 0; i < q; i++) ql[i] = (int64_t)(step(&s) % ids);
    for (size_t i = 0; i < m * d; i++) y[i] = normal(&s);
    for (size_t j = 0; j < m; j++) rl[j] = (int64_t)(j % ids);
    double best = INFINITY;
    float loss = 0;
    int status = 0;
    for (int r = 0; r < runs && status == 0; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        status = losskit_trihard_reference(LOSSKIT_METRIC_EUCLIDEAN, x, ql, q, y, rl, NULL, m, d, 0.3f, 0, 0,
                                           LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &loss, gx, gy, NULL, NULL,
                                           threads);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (ms < best) best = ms;
    }
    struct rusage after;
    getrusage(RUSAGE_SELF, &after);
    printf("trihard_ref_4096x65536x128: status %d, loss %.6f, %.0f ms at %d thread(s) (fastest of %d)\n", status, loss,
           best, threads, runs);
    printf("peak resident memory of the whole process: %ld MiB (inputs + gradients: %zu MiB)\n", after.ru_maxrss / 1024,
           (2 * (q + m) * d * sizeof(float) + (q + m) * sizeof(int64_t)) >> 20);
    free(x); free(y); free(gx); free(gy); free(ql); free(rl);
    return status != 0;
}
