/* The whole-process peak resident memory of TriHard at 16384 x 128 (P 4096
 * x K 4, Euclidean, margin 0.3, mean, with the gradient): `make bench-memory`.
 * A process of its own, so that nothing else the benchmark allocates (its
 * bandwidth probe, other workloads) counts. */
#define _POSIX_C_SOURCE 199309L
#include "losskit.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static float normal(uint64_t *s) { /* Box-Muller on a xorshift */
    double u[2];
    for (int k = 0; k < 2; k++) {
        *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
        u[k] = ((*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

int main(void) {
    const size_t p = 4096, k = 4, n = p * k, d = 128;
    float *x = malloc(sizeof(float) * n * d), *grad = malloc(sizeof(float) * n * d);
    int64_t *labels = malloc(sizeof(int64_t) * n);
    uint64_t s = 13;
    for (size_t id = 0; id < p; id++) {
        float center[128];
        for (size_t c = 0; c < d; c++) center[c] = 0.3f * normal(&s); /* as make bench */
        for (size_t r = 0; r < k; r++) {
            for (size_t c = 0; c < d; c++) x[(id * k + r) * d + c] = center[c] + normal(&s);
            labels[id * k + r] = (int64_t)id;
        }
    }
    struct rusage before;
    getrusage(RUSAGE_SELF, &before);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    float loss = 0;
    int status = losskit_trihard(LOSSKIT_METRIC_EUCLIDEAN, x, labels, n, d, 0.3f, 0, LOSSKIT_MINING_HARDEST,
                                 LOSSKIT_REDUCTION_MEAN, &loss, grad, NULL, NULL, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage after;
    getrusage(RUSAGE_SELF, &after);
    printf("trihard_16384x128: status %d, loss %.6f, %.0f ms at 1 thread\n", status, loss,
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    printf("peak resident memory of the whole process: %ld MiB (inputs + gradient: %zu MiB)\n",
           after.ru_maxrss / 1024, (2 * n * d * sizeof(float) + n * sizeof(int64_t)) >> 20);
    free(x); free(grad); free(labels);
    return status != 0;
}
