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

/* OpenBLAS's name for the core it runs on ("Prescott", "Haswell", "SkylakeX"...). */
const char *bench_blas_core(void);

/* If OpenBLAS fell back to a generic core on a CPU with AVX2 / AVX-512 (it
 * does in some VMs, whose CPUID it does not recognise), set OPENBLAS_CORETYPE
 * to the matching kernel set and re-execute this program so OpenBLAS reads it
 * at load time. Returns only if nothing needed doing (or exec failed). */
void bench_fix_blas_core(char **argv);

/* Peak resident set size of this process so far, in bytes. */
size_t bench_peak_rss_bytes(void);
#endif
