/* Distance matrices through SGEMM with a fused epilogue and cancellation repair. */
#include "blas.h"
#include "internal.h"
#include <float.h>
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* The exact squared distance of pair (i, j) in double, for pairs whose SGEMM
 * form cancelled. */
typedef double (*exact_squared_fn)(const void *ctx, size_t i, size_t j);

typedef struct {
    const float *x, *y;
    size_t d;
} direct_pairs;

static double direct_exact(const void *ctx, size_t i, size_t j) {
    const direct_pairs *p = ctx;
    return lk_squared_distance(p->x + i * p->d, p->y + j * p->d, p->d);
}

typedef struct {
    losskit_metric metric;
    const float *x, *y;
    size_t n, m, d, r0, rows;
    const float *xn, *yn;     /* squared norms (Euclidean) or norms (cosine) */
    const float *xinv, *yinv; /* cosine: 1 / max(norm, 1e-8), NaN for a NaN norm */
    float *out;
    exact_squared_fn exact;
    const void *exact_ctx;
    losskit_isa path;
} epilogue_job;

/* The exact value of a pair whose SGEMM form cancelled: d^2, or the cosine distance. */
static double exact_value(const void *ctx, size_t i, size_t c) {
    const epilogue_job *j = ctx;
    if (j->metric != LOSSKIT_METRIC_COSINE) return j->exact(j->exact_ctx, i, c);
    /* near-parallel: 1 - cos cancels; use |x/nx - y/ny|^2 / 2 */
    const float *xi = j->x + i * j->d, *yc = j->y + c * j->d;
    double nx = fmax(j->xn[i], 1e-8), ny = fmax(j->yn[c], 1e-8);
    double s = 0.0, dot = 0.0;
    for (size_t k = 0; k < j->d; k++) {
        double t = xi[k] / nx - yc[k] / ny;
        s += t * t;
        dot += (double)xi[k] * yc[k];
    }
    /* the identity holds for unit vectors; the 1e-8 floors only matter at norm ~0 */
    return (j->xn[i] >= 1e-8f && j->yn[c] >= 1e-8f) ? 0.5 * s : 1.0 - dot / (nx * ny);
}

/* One row of the block, in double (the scalar path): the cross term is in out already. */
static void epilogue_row_scalar(const epilogue_job *j, size_t i) {
    float *row = j->out + i * j->m;
    for (size_t c = 0; c < j->m; c++) {
        if (j->metric == LOSSKIT_METRIC_COSINE) {
            double nx = fmax(j->xn[i], 1e-8), ny = fmax(j->yn[c], 1e-8);
            double v = 1.0 - row[c] / (nx * ny);
            if (v < LK_PAIR_REPAIR) v = exact_value(j, i, c);
            row[c] = isnan(row[c]) || isnan(j->xn[i] + j->yn[c]) ? NAN : (float)v;
            continue;
        }
        double scale = (double)j->xn[i] + j->yn[c];
        double d2 = scale + row[c]; /* row[c] = -2 x.y */
        if (d2 < LK_PAIR_REPAIR * scale) d2 = exact_value(j, i, c);
        if (isnan(row[c])) d2 = NAN;
        d2 = d2 > 0.0 ? d2 : (isnan(d2) ? d2 : 0.0);
        row[c] = j->metric == LOSSKIT_METRIC_SQEUCLIDEAN ? (float)d2 : (float)sqrt(d2 > 1e-12 ? d2 : (isnan(d2) ? d2 : 1e-12));
    }
}

#if LK_X86
#define LK_SIMD 256
#include "simd_layer.h"
#include "pair_values_simd.h"
#include "distance_simd.h"
#undef LK_SIMD
#define LK_SIMD 512
#include "simd_layer.h"
#include "pair_values_simd.h"
#include "distance_simd.h"
#undef LK_SIMD
#endif

static void epilogue_row(void *ctx, size_t r) {
    const epilogue_job *j = ctx;
    size_t i = j->r0 + r;
#if LK_X86
    if (j->path == LOSSKIT_ISA_AVX512) { ds_row_avx512(j, i); return; }
    if (j->path == LOSSKIT_ISA_AVX2) { ds_row_avx2(j, i); return; }
#endif
    epilogue_row_scalar(j, i);
}

/* The distance matrix of x [n, d] and y [m, d] (arguments already checked);
 * `exact` recomputes the pairs that cancel. */
static int distance_matrix(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                           float *out, int threads, exact_squared_fn exact, const void *exact_ctx) {
    if (n == 0 || m == 0) return LOSSKIT_OK;
    bool cosine = metric == LOSSKIT_METRIC_COSINE;
    float *norms = malloc(sizeof(float) * (n + m) * (cosine ? 2 : 1));
    if (!norms) return LOSSKIT_ERR_NOMEM;
    float *xn = norms, *yn = norms + n, *xinv = norms + n + m, *yinv = xinv + n;
    for (size_t i = 0; i < n; i++) { double s = lk_squared_norm(x + i * d, d); xn[i] = (float)(cosine ? sqrt(s) : s); }
    for (size_t j = 0; j < m; j++) { double s = lk_squared_norm(y + j * d, d); yn[j] = (float)(cosine ? sqrt(s) : s); }
    if (cosine) {
        for (size_t i = 0; i < n; i++) xinv[i] = isnan(xn[i]) ? NAN : (float)(1.0 / fmax(xn[i], 1e-8));
        for (size_t j = 0; j < m; j++) yinv[j] = isnan(yn[j]) ? NAN : (float)(1.0 / fmax(yn[j], 1e-8));
    }
    int nthreads = lk_threads_for(threads, n, 16);
    lk_blas_set_threads(nthreads);
    /* blocks of 1024 rows: OpenBLAS packs y again at every call, so fewer calls pay;
     * 1024 x m floats still sit in the last-level cache when the epilogue reads them */
    const size_t block = 1024;
    epilogue_job job = {.metric = metric, .x = x, .y = y, .n = n, .m = m, .d = d, .xn = xn, .yn = yn, .out = out,
                        .xinv = cosine ? xinv : NULL, .yinv = cosine ? yinv : NULL,
                        .exact = exact, .exact_ctx = exact_ctx, .path = lk_isa_path()};
    int status = LOSSKIT_OK;
    for (size_t r0 = 0; r0 < n && status == LOSSKIT_OK; r0 += block) {
        size_t rows = n - r0 < block ? n - r0 : block;
        if (d == 0) memset(out + r0 * m, 0, sizeof(float) * rows * m);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)m, (int)d, cosine ? 1.0f : -2.0f,
                         x + r0 * d, (int)d, y, (int)d, 0.0f, out + r0 * m, (int)m);
        job.r0 = r0;
        job.rows = rows;
        status = lk_parallel_for(rows, nthreads, epilogue_row, &job);
    }
    free(norms);
    return status;
}

int losskit_pairwise_distance(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                              float *out, int threads) {
    size_t nd, md, nm;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(n, d, &nd) && nd <= LK_MAX_FLOATS && n <= INT32_MAX, 3);
    LK_CHECK(x != NULL || nd == 0, 2);
    LK_CHECK(lk_mul_ok(m, d, &md) && md <= LK_MAX_FLOATS && m <= INT32_MAX, 5);
    LK_CHECK(y != NULL || md == 0, 4);
    LK_CHECK(d <= INT32_MAX, 6);
    LK_CHECK(lk_mul_ok(n, m, &nm) && nm <= LK_MAX_FLOATS, 5);
    LK_CHECK(out != NULL || nm == 0, 7);
    LK_CHECK(threads >= 0, 8);
    direct_pairs pairs = {.x = x, .y = y, .d = d};
    return distance_matrix(metric, x, n, y, m, d, out, threads, direct_exact, &pairs);
}

/* ---- Mahalanobis ------------------------------------------------------- */

/* Rows of a factor A [k, d] with M = A^T A, in double. M positive definite:
 * A = L^T from the Cholesky factor M = L L^T (LAPACKE dpotrf). Singular but
 * PSD (dpotrf stops at a zero pivot): A = sqrt(Lambda) V^T from the
 * eigendecomposition (LAPACKE dsyevd), rows of eigenvalues <= tol dropped.
 * The factorization runs in double: it is O(d^3) once, against O((n + m) d^2)
 * for the transform. Returns LOSSKIT_OK, LOSSKIT_ERR_NOT_PSD (asymmetric,
 * non-finite or an eigenvalue below -tol) or LOSSKIT_ERR_NOMEM. */
static int psd_factor(const float *matrix, size_t d, double *a, size_t *rank) {
    double maxabs = 0.0;
    for (size_t i = 0; i < d * d; i++) {
        if (!isfinite(matrix[i])) return LOSSKIT_ERR_NOT_PSD;
        maxabs = fmax(maxabs, fabs((double)matrix[i]));
    }
    /* float inputs: a product like A^T A need not come out bitwise symmetric */
    double sym_tol = 1e-5 * maxabs;
    double *w = malloc(sizeof(double) * (d * d + d));
    if (!w) return LOSSKIT_ERR_NOMEM;
    double *sym = w, *eig = w + d * d;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double mij = matrix[i * d + j], mji = matrix[j * d + i];
            if (fabs(mij - mji) > sym_tol) { free(w); return LOSSKIT_ERR_NOT_PSD; }
            sym[i * d + j] = 0.5 * (mij + mji);
        }
    memcpy(a, sym, sizeof(double) * d * d);
    if (lk_dpotrf_lower((int)d, a) == 0) {
        /* A = L^T in place: row r takes column r of L, read before any later row zeroes it */
        for (size_t r = 0; r < d; r++)
            for (size_t c = 0; c < d; c++) a[r * d + c] = c >= r ? a[c * d + r] : 0.0;
        *rank = d;
        free(w);
        return LOSSKIT_OK;
    }
    if (lk_dsyevd((int)d, sym, eig) != 0) { free(w); return LOSSKIT_ERR_NOT_PSD; }
    double top = fmax(fabs(eig[0]), fabs(eig[d - 1]));
    double tol = (double)d * FLT_EPSILON * top; /* M itself is only float-accurate */
    if (eig[0] < -tol) { free(w); return LOSSKIT_ERR_NOT_PSD; }
    size_t k = 0;
    for (size_t j = d; j-- > 0;) { /* largest first */
        if (!(eig[j] > tol)) break;
        double s = sqrt(eig[j]);
        for (size_t c = 0; c < d; c++) a[k * d + c] = s * sym[c * d + j]; /* column j of V */
        k++;
    }
    *rank = k;
    free(w);
    return LOSSKIT_OK;
}

typedef struct {
    const float *x, *y;
    const double *a; /* factor [k, d] */
    size_t d, k;
} mahalanobis_pairs;

/* |A (x_i - y_j)|^2 in double from the original features: the transformed
 * ones carry SGEMM rounding, which near-duplicates would magnify. */
static double mahalanobis_exact(const void *ctx, size_t i, size_t j) {
    const mahalanobis_pairs *p = ctx;
    const float *xi = p->x + i * p->d, *yj = p->y + j * p->d;
    double s = 0.0;
    for (size_t r = 0; r < p->k; r++) {
        const double *ar = p->a + r * p->d;
        double t = 0.0;
        for (size_t c = 0; c < p->d; c++) t += ar[c] * ((double)xi[c] - yj[c]);
        s += t * t;
    }
    return s;
}

int losskit_mahalanobis_factor(const float *matrix, size_t d, float *factor, size_t *rank) {
    size_t dd;
    LK_CHECK(matrix != NULL, 1);
    LK_CHECK(d >= 1 && d <= INT32_MAX && lk_mul_ok(d, d, &dd) && dd <= LK_MAX_FLOATS / 2, 2);
    LK_CHECK(factor != NULL, 3);
    LK_CHECK(rank != NULL, 4);
    double *a = malloc(sizeof(double) * dd);
    if (!a) return LOSSKIT_ERR_NOMEM;
    size_t k = 0;
    int status = psd_factor(matrix, d, a, &k);
    if (status == LOSSKIT_OK) {
        for (size_t i = 0; i < dd; i++) factor[i] = i < k * d ? (float)a[i] : 0.0f;
        *rank = k;
    }
    free(a);
    return status;
}

int losskit_mahalanobis_distance(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                                 const float *matrix, size_t factor_rows, float *out, int threads) {
    size_t nd, md, nm, dd, kd;
    LK_CHECK(metric == LOSSKIT_METRIC_EUCLIDEAN || metric == LOSSKIT_METRIC_SQEUCLIDEAN, 1);
    LK_CHECK(lk_mul_ok(n, d, &nd) && nd <= LK_MAX_FLOATS && n <= INT32_MAX, 3);
    LK_CHECK(x != NULL || nd == 0, 2);
    LK_CHECK(lk_mul_ok(m, d, &md) && md <= LK_MAX_FLOATS && m <= INT32_MAX, 5);
    LK_CHECK(y != NULL || md == 0, 4);
    LK_CHECK(d >= 1 && d <= INT32_MAX && lk_mul_ok(d, d, &dd) && dd <= LK_MAX_FLOATS / 2, 6);
    LK_CHECK(factor_rows <= INT32_MAX && lk_mul_ok(factor_rows, d, &kd) && kd <= LK_MAX_FLOATS / 2, 8);
    LK_CHECK(matrix != NULL, 7);
    LK_CHECK(lk_mul_ok(n, m, &nm) && nm <= LK_MAX_FLOATS, 5);
    LK_CHECK(out != NULL || nm == 0, 9);
    LK_CHECK(threads >= 0, 10);
    size_t k = factor_rows ? factor_rows : d;
    size_t nk, mk;
    LK_CHECK(lk_mul_ok(n, k, &nk) && lk_mul_ok(m, k, &mk) && nk <= LK_MAX_FLOATS - mk, 8);
    double *a = malloc(sizeof(double) * k * d);
    if (!a) return LOSSKIT_ERR_NOMEM;
    int status = LOSSKIT_OK;
    if (factor_rows) {
        for (size_t i = 0; i < k * d; i++) a[i] = matrix[i];
    } else {
        status = psd_factor(matrix, d, a, &k);
    }
    if (status != LOSSKIT_OK || nm == 0) { free(a); return status; }
    /* features transformed once (x' = A x, as rows: X A^T), then the Euclidean kernel */
    float *scratch = malloc(sizeof(float) * ((n + m) * k + k * d) + 1);
    if (!scratch) { free(a); return LOSSKIT_ERR_NOMEM; }
    float *xt = scratch, *yt = scratch + n * k, *af = scratch + (n + m) * k;
    for (size_t i = 0; i < k * d; i++) af[i] = (float)a[i];
    lk_blas_set_threads(lk_threads_for(threads, n + m, 64));
    if (k > 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d, 1.0f, x, (int)d, af, (int)d, 0.0f,
                    xt, (int)k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, 1.0f, y, (int)d, af, (int)d, 0.0f,
                    yt, (int)k);
    }
    mahalanobis_pairs pairs = {.x = x, .y = y, .a = a, .d = d, .k = k};
    status = distance_matrix(metric, xt, n, yt, m, k, out, threads, mahalanobis_exact, &pairs);
    free(scratch);
    free(a);
    return status;
}
