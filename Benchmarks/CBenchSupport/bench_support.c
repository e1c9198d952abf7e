#define _GNU_SOURCE
#include "bench_support.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* OpenBLAS symbols (Accelerate on Apple has cblas_sgemm but no thread setter). */
#ifdef __APPLE__
#include <Accelerate/Accelerate.h>
void bench_blas_threads(int threads) { (void)threads; }
const char *bench_blas_core(void) { return "Accelerate"; }
void bench_fix_blas_core(char **argv) { (void)argv; }
#else
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int threads);
char *openblas_get_corename(void);
void bench_blas_threads(int threads) { openblas_set_num_threads(threads); }
const char *bench_blas_core(void) { return openblas_get_corename(); }

void bench_fix_blas_core(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *core = openblas_get_corename();
    if (!core || (strcasecmp(core, "prescott") != 0 && strcasecmp(core, "core2") != 0 && strcasecmp(core, "nehalem") != 0))
        return;
    const char *want = NULL;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
#endif
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("LOSSKIT_BENCH_BLAS_DETECTED", core, 1);
    execv("/proc/self/exe", argv);
}
#define CblasRowMajor RowMajor
#define CblasNoTrans NoTrans
#define CblasTrans Trans
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { const float *a, *b; float *c; size_t begin, end; } span;

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void triad_avx2(span *s) {
    size_t i = s->begin;
    while (i < s->end && ((size_t)(s->c + i) & 31)) { s->c[i] = s->a[i] * 1.5f + s->b[i]; i++; }
    __m256 k = _mm256_set1_ps(1.5f);
    for (; i + 8 <= s->end; i += 8)
        _mm256_stream_ps(s->c + i, _mm256_fmadd_ps(_mm256_loadu_ps(s->a + i), k, _mm256_loadu_ps(s->b + i)));
    for (; i < s->end; i++) s->c[i] = s->a[i] * 1.5f + s->b[i];
    _mm_sfence();
}
#endif

static void *triad(void *arg) {
    span *s = arg;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) { triad_avx2(s); return NULL; }
#endif
    for (size_t i = s->begin; i < s->end; i++) s->c[i] = s->a[i] * 1.5f + s->b[i];
    return NULL;
}

double bench_stream_seconds(const float *a, const float *b, float *c, size_t n, int threads, int repeats) {
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        pthread_t ids[64];
        span spans[64];
        double t0 = now();
        for (int t = 0; t < threads; t++) {
            spans[t] = (span){a, b, c, n * t / threads, n * (t + 1) / threads};
            if (t > 0) pthread_create(&ids[t], NULL, triad, &spans[t]);
        }
        triad(&spans[0]);
        for (int t = 1; t < threads; t++) pthread_join(ids[t], NULL);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

double bench_sgemm_seconds(int m, int n, int k, int threads, int repeats) {
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n),
          *c = malloc(sizeof(float) * (size_t)m * n);
    if (!a || !b || !c) { free(a); free(b); free(c); return -1; }
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    bench_blas_threads(threads);
    double best = 1e30;
    for (int r = 0; r < repeats + 1; r++) { /* first call warms up */
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double dt = now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    free(a); free(b); free(c);
    return best;
}

size_t bench_peak_rss_bytes(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
#ifdef __APPLE__
    return (size_t)u.ru_maxrss;
#else
    return (size_t)u.ru_maxrss * 1024;
#endif
}
