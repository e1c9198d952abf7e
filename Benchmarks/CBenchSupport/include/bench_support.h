/* Machine ceilings for `make bench`: streaming bandwidth and SGEMM throughput. */
#ifndef LOSSKIT_BENCH_SUPPORT_H
#define LOSSKIT_BENCH_SUPPORT_H
#include <stddef.h>

/* c[i] = a[i] * s + b[i] over n floats on `threads` threads, with
 * non-temporal stores where the CPU has them: the read-read-write pattern of
 * a fused elementwise loss. Returns seconds (best of `repeats`). */
double bench_stream_seconds(const float *a, const float *b, float *c, size_t n, int threads, int repeats);

/* Seconds for one m x n x k SGEMM through OpenBLAS on `threads` threads (best of `repeats`). */
double bench_sgemm_seconds(int m, int n, int k, int threads, int repeats);

/* Sets OpenBLAS's thread count. */
void bench_blas_threads(int threads);

/* Peak resident set size of this process so far, in bytes. */
size_t bench_peak_rss_bytes(void);
#endif
