/* Private helpers shared by the kernels: dispatch, threads, chunked sums. */
#ifndef LOSSKIT_INTERNAL_H
#define LOSSKIT_INTERNAL_H

#include "include/losskit.h"
#include <math.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define LK_X86 1
#else
#define LK_X86 0
#endif
/* aarch64 with NEON (every aarch64 CPU: the baseline, no run-time check) */
#if defined(__aarch64__) && defined(__ARM_NEON)
#define LK_ARM64 1
#else
#define LK_ARM64 0
#endif

#define LK_INLINE static inline __attribute__((always_inline))

/* Elements per chunk of an elementwise reduction. Fixed (not derived from the
 * thread count) so partial sums, and therefore results, never depend on it. */
#define LK_CHUNK ((size_t)16384)

/* Below this many elements a kernel stays on the calling thread. */
#define LK_PARALLEL_MIN ((size_t)65536)

/* Outputs larger than this are written with non-temporal stores: they will
 * not be read again before they are evicted from the cache anyway. */
#define LK_STREAM_MIN_BYTES ((size_t)4 << 20)

/* The path kernels called from this thread use: LOSSKIT_ISA_SCALAR, _AVX2
 * or _AVX512 on x86-64, _SCALAR or _NEON on aarch64 (the process-wide
 * choice, or this thread's override). */
losskit_isa lk_isa_path(void);

/* IoU-family matrix with the second box set already as a structure of
 * arrays (lk_box_soa_floats(m) floats, lk_box_soa_fill): callers that reuse
 * one set (SSD's priors, image after image) build it once. Arguments
 * already checked. Each of the 8 arrays repeats its first LK_BOX_SOA_PAD
 * entries after its last (the IoU kernel's vectors run across row ends).
 * The fill also notes what the kernels would otherwise scan the set for. */
#define LK_BOX_SOA_PAD 16
static inline size_t lk_box_soa_floats(size_t m) { return 8 * (m + LK_BOX_SOA_PAD); }
typedef struct {
    const float *soa;
    size_t m;
    bool nan;      /* some box has a NaN coordinate */
    bool areas_ok; /* every area is finite and >= 0 */
} lk_box_soa;
lk_box_soa lk_box_soa_fill(const float *boxes, size_t m, float *soa);
/* The first of n boxes in `format` that breaks the box rule (x2 < x1 or
 * y2 < y1; w < 0 or h < 0), or n (see losskit_detection.h). */
size_t lk_first_bad_box(losskit_box_format format, const float *boxes, size_t n);
int lk_box_iou_from_soa(losskit_iou_kind kind, const float *boxes1, size_t n, const float *boxes2, lk_box_soa cols,
                        float *out, int threads);
/* losskit_box_iou_matrix for callers that read the matrix back at once: its
 * stores are never streamed past the cache (nor are lk_box_iou_from_soa's). */
int lk_box_iou_matrix_kept(losskit_iou_kind kind, const float *boxes1, size_t n, const float *boxes2, size_t m,
                           float *out, int threads);

/* A scratch block of the calling thread, kept between calls (slot 0 or 1):
 * large per-call scratch from malloc is fresh mmap'd memory, page-faulted
 * again at every call. Grown as needed; freed at thread exit or by
 * losskit_release_scratch. NULL if it cannot grow. Not for worker threads,
 * and a kernel that uses a slot must not call another that uses it. */
void *lk_thread_scratch(int slot, size_t bytes);

/* Whether the gather-based paths pay on this CPU (or this thread's override). */
bool lk_use_gathers(void);

/* The calling thread's overrides (ISA path, gathers), so that worker threads
 * run a caller's tasks on the caller's settings: a kernel that picks its
 * path inside a task then still honours losskit_set_thread_isa. */
typedef struct { int isa, gathers; } lk_thread_settings;
lk_thread_settings lk_thread_settings_get(void);
void lk_thread_settings_apply(lk_thread_settings settings);

/* Threads to use for `work_units` independent units of work (>= 1). */
int lk_threads_for(int requested, size_t work_units, size_t min_units_per_thread);

/* Runs fn(ctx, task) for task in [0, ntasks) on up to `threads` threads
 * (tasks are independent; the order they run in must not matter).
 * Returns LOSSKIT_OK or LOSSKIT_ERR_THREAD. */
typedef void (*lk_task_fn)(void *ctx, size_t task);
int lk_parallel_for(size_t ntasks, int threads, lk_task_fn fn, void *ctx);

/* Deterministic parallel sum: splits [0, n) into chunks of `chunk` elements,
 * runs fn(ctx, begin, end) -> partial sum of each chunk on up to `threads`
 * threads, and adds the partials in chunk order into *sum. */
typedef double (*lk_range_sum_fn)(void *ctx, size_t begin, size_t end);
int lk_chunked_sum(size_t n, size_t chunk, int threads, lk_range_sum_fn fn, void *ctx, double *sum);

/* Softmax cross-entropy rows with an explicit gradient scale (softmax.c);
 * labels already checked. row_loss (per row) and grad may be NULL. */
int lk_softmax_ce_scaled(const float *logits, const int64_t *labels, size_t rows, size_t classes,
                         const float *class_weights, int64_t ignore_index, float label_smoothing,
                         float grad_scale, float *row_loss, float *grad, int threads, double *sum);

/* An SGEMM distance form below this fraction is recomputed exactly: d^2
 * against |x|^2 + |y|^2 (there it has lost more than its rounding / 0.1 of
 * its precision), or the cosine distance itself (1 - cos cancels). */
#define LK_PAIR_REPAIR 0.1

/* |v|^2 in double over 8 partial sums: independent chains the compiler
 * vectorizes (one double chain is latency-bound), added in a fixed order. */
static inline double lk_squared_norm(const float *v, size_t d) {
    enum { P = 8 };
    double acc[P] = {0}, s = 0.0;
    size_t k = 0;
    for (; k + P <= d; k += P)
        for (size_t l = 0; l < P; l++) acc[l] += (double)v[k + l] * v[k + l];
    for (size_t l = 0; k + l < d; l++) acc[l] += (double)v[k + l] * v[k + l];
    for (size_t l = 0; l < P; l++) s += acc[l];
    return s;
}

/* |u - v|^2 in double, over partial sums as lk_squared_norm. */
static inline double lk_squared_distance(const float *u, const float *v, size_t d) {
    enum { P = 8 };
    double acc[P] = {0}, s = 0.0;
    size_t k = 0;
    for (; k + P <= d; k += P)
        for (size_t l = 0; l < P; l++) {
            double t = (double)u[k + l] - v[k + l];
            acc[l] += t * t;
        }
    for (size_t l = 0; k + l < d; l++) {
        double t = (double)u[k + l] - v[k + l];
        acc[l] += t * t;
    }
    for (size_t l = 0; l < P; l++) s += acc[l];
    return s;
}

/* The losses' `normalize` option (normalize.c): rows divided by
 * max(|x|, LK_NORMALIZE_EPS) as torch.nn.functional.normalize, norm [n] the
 * denominators; the backward turns a gradient wrt the normalized rows (in
 * place) into one wrt the rows x passed in. */
#define LK_NORMALIZE_EPS 1e-12
void lk_normalize_rows(const float *x, size_t n, size_t d, float *out, double *norm);
void lk_normalize_backward(const float *x, const double *norm, size_t n, size_t d, float *grad);

/* Zeroes n floats with non-temporal stores: a large gradient that is
 * mostly zeros is written without reading its lines into the cache first
 * (half the memory traffic of memset's stores). The lines are written
 * whole, one 64-byte store each where AVX-512 is the path: Zen 4 streams
 * four 128-bit stores to a line far slower (MultiBox's 23 MB of class
 * gradient, batch 32: 7.7 ms a step with them, 7.0 with whole lines). */
#if LK_X86
#include <immintrin.h>
__attribute__((target("avx512f"))) static inline void lk_zero_lines_avx512(float *p, size_t lines) {
    const __m512 z = _mm512_setzero_ps();
    for (size_t l = 0; l < lines; l++) _mm512_stream_ps(p + 16 * l, z);
}
__attribute__((target("avx"))) static inline void lk_zero_lines_avx(float *p, size_t lines) {
    const __m256 z = _mm256_setzero_ps();
    for (size_t l = 0; l < lines; l++) {
        _mm256_stream_ps(p + 16 * l, z);
        _mm256_stream_ps(p + 16 * l + 8, z);
    }
}
static inline void lk_zero_streaming(float *p, size_t n) {
    const size_t head = (size_t)((64 - ((uintptr_t)p & 63)) & 63) / sizeof(float);
    if (((uintptr_t)p & 3) != 0 || n < head + 64) { memset(p, 0, n * sizeof(float)); return; }
    const size_t lines = (n - head) / 16;
    float *body = p + head;
    memset(p, 0, head * sizeof(float));
    switch (lk_isa_path()) {
    case LOSSKIT_ISA_AVX512: lk_zero_lines_avx512(body, lines); break;
    case LOSSKIT_ISA_AVX2: lk_zero_lines_avx(body, lines); break;
    default:
        for (size_t i = 0; i < 16 * lines; i += 4) _mm_stream_ps(body + i, _mm_setzero_ps());
        break;
    }
    memset(body + 16 * lines, 0, (n - head - 16 * lines) * sizeof(float));
    _mm_sfence();
}
#else
static inline void lk_zero_streaming(float *p, size_t n) { memset(p, 0, n * sizeof(float)); }
#endif

/* a * b without overflow, or false. */
LK_INLINE bool lk_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

/* Largest element count any float buffer may have (bytes fit in ptrdiff_t). */
#define LK_MAX_FLOATS (((size_t)PTRDIFF_MAX) / sizeof(float))

LK_INLINE bool lk_reduction_ok(losskit_reduction r) {
    return r == LOSSKIT_REDUCTION_NONE || r == LOSSKIT_REDUCTION_SUM || r == LOSSKIT_REDUCTION_MEAN;
}

/* Scale applied to every gradient element: 1/n for MEAN, 1 otherwise. */
LK_INLINE float lk_grad_scale(losskit_reduction r, double count) {
    return r == LOSSKIT_REDUCTION_MEAN ? (float)(1.0 / count) : 1.0f;
}

/* Writes the reduced value of `sum` over `count` items. */
LK_INLINE void lk_store_reduced(losskit_reduction r, double sum, double count, float *loss) {
    if (!loss || r == LOSSKIT_REDUCTION_NONE) return;
    *loss = (float)(r == LOSSKIT_REDUCTION_MEAN ? sum / count : sum);
}

LK_INLINE float lk_signf(float r) { /* sign(r), 0 at 0, NaN stays NaN */
    return r > 0.0f ? 1.0f : (r < 0.0f ? -1.0f : (r == 0.0f ? 0.0f : r));
}

/* The metric's distance of two rows in double and what its backward needs
 * (metric.c, the aligned losses' and TriHard's): D, and d^2 / the dot
 * product and norms (cosine). lk_dist_back adds s dD/du into gu and
 * s dD/dv into gv (either may be NULL; rows distinct from the inputs). */
typedef struct { double D, d2, dot, nu, nv; } lk_dist_t;
lk_dist_t lk_dist(losskit_metric m, const float *u, const float *v, size_t d);
void lk_dist_back(losskit_metric m, const float *u, const float *v, size_t d, const lk_dist_t *r, double s, float *gu,
                  float *gv);

/* Whether a row of this squared norm (or every row of x [n, d]) is in the
 * float-safe range of the SGEMM kernels (distance.c). */
bool lk_scale_safe(double squared_norm);
bool lk_rows_scale_safe(const float *x, size_t n, size_t d);

/* A triplet's loss from z = D(a, p) - D(a, n) + margin, and dloss/dz in
 * *slope: softplus(z) (the soft margin) or max(z, 0), whose slope is 0 at
 * z = 0 as in PyTorch's hinge backward. A NaN z gives NaN for both. */
static inline double lk_triplet_term(double z, bool soft, double *slope) {
    double l;
    if (soft) {
        l = z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); /* softplus without overflow */
        *slope = 1.0 / (1.0 + exp(-z));
    } else {
        l = z > 0 ? z : 0.0;
        *slope = z > 0 ? 1.0 : 0.0;
    }
    if (isnan(z)) l = *slope = NAN;
    return l;
}

#endif
