/* Distance matrices through SGEMM with a fused epilogue and cancellation repair. */
#include "blas.h"
#include "internal.h"
#include <float.h>
#include <stdlib.h>
#include <string.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* C = alpha op(A) op(B) + beta C (cblas_sgemm, row-major) in slices of
 * `slice` rows of C (`by_columns`: columns) on `threads` threads, OpenBLAS
 * itself on one. OpenBLAS's threaded driver blocks the inner dimension
 * otherwise than its single-threaded one (different sums at 1 and 2 threads
 * once the inner length passes ~512); slices that do not depend on the
 * thread count keep every entry bitwise the same at any thread count. Each
 * slice packs its whole other operand again: slices of 256 or more keep
 * that to a few percent. */
typedef struct {
    int ta, tb;
    size_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
    bool by_columns;
    size_t slice; /* fixed by the caller, never from the thread count */
} gemm_slices;

static void gemm_slice(void *ctx, size_t s) {
    const gemm_slices *g = ctx;
    const size_t at = s * g->slice, span = (g->by_columns ? g->N : g->M) - at;
    const size_t len = span < g->slice ? span : g->slice;
    if (g->by_columns) { /* columns [at, at + len) of C: rows of op(B)^T */
        const float *b = g->tb == CblasNoTrans ? g->B + at : g->B + at * g->ldb;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, (int)g->M, (int)len, (int)g->K, g->alpha, g->A, (int)g->lda, b,
                    (int)g->ldb, g->beta, g->C + at, (int)g->ldc);
    } else { /* rows [at, at + len) of C */
        const float *a = g->ta == CblasNoTrans ? g->A + at * g->lda : g->A + at;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, (int)len, (int)g->N, (int)g->K, g->alpha, a, (int)g->lda, g->B,
                    (int)g->ldb, g->beta, g->C + at * g->ldc, (int)g->ldc);
    }
}

static int sgemm_sliced(gemm_slices g, int threads) {
    if (g.M == 0 || g.N == 0) return LOSSKIT_OK;
    lk_blas_set_threads(1);
    const size_t span = g.by_columns ? g.N : g.M;
    return lk_parallel_for((span + g.slice - 1) / g.slice, threads, gemm_slice, &g);
}

/* 1 / max(norm, 1e-8) for the cosine, NaN for a NaN norm (which fmax would drop). */
static inline float inverse_norm(double norm) { return isnan(norm) ? NAN : (float)(1.0 / fmax(norm, 1e-8)); }

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
    /* rescaled rows (see distance_matrix): out holds the rescaled rows' dot
     * products; row i was multiplied by 2^-xe[i] (y: ye); true squared norms */
    bool scaled;
    const int *xe, *ye;
    const double *xsq, *ysq;
} epilogue_job;

/* Rows whose squared norm (in double) lies in [2^-100, 2^100] go through
 * float SGEMM as they are: every product and partial sum of x.y stays a
 * normal float (|x.y| <= |x||y| <= 2^100), and so do the backward's
 * 1 / (|x| |y|) >= 2^-100. Zero and non-finite rows are neutral. A row
 * outside (features beyond ~1e15 or below ~1e-15 in magnitude, where
 * |x|^2 overflows or underflows float) sends the whole call to a path that
 * is exact at any scale. */
bool lk_scale_safe(double squared_norm) {
    return !(isfinite(squared_norm) && squared_norm != 0.0) || (squared_norm >= 0x1p-100 && squared_norm <= 0x1p100);
}

/* Whether every row of x [n, d] is within the float-safe range above (used
 * by TriHard too, which mines in double when one is not). */
bool lk_rows_scale_safe(const float *x, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++)
        if (!lk_scale_safe(lk_squared_norm(x + i * d, d))) return false;
    return true;
}

/* The cosine distance of x_i and y_c (norms nx, ny) computed directly:
 * near-parallel, 1 - cos cancels; |x/nx - y/ny|^2 / 2 does not. The identity
 * holds for unit vectors (`unfloored`: neither norm is under the 1e-8 floor). */
static double cosine_exact(const float *xi, const float *yc, size_t d, double nx, double ny, bool unfloored) {
    nx = fmax(nx, 1e-8);
    ny = fmax(ny, 1e-8);
    double s = 0.0, dot = 0.0;
    for (size_t k = 0; k < d; k++) {
        double t = xi[k] / nx - yc[k] / ny;
        s += t * t;
        dot += (double)xi[k] * yc[k];
    }
    return unfloored ? 0.5 * s : 1.0 - dot / (nx * ny);
}

/* The exact value of a pair whose SGEMM form cancelled: d^2, or the cosine distance. */
static double exact_value(const void *ctx, size_t i, size_t c) {
    const epilogue_job *j = ctx;
    if (j->metric != LOSSKIT_METRIC_COSINE) return j->exact(j->exact_ctx, i, c);
    const float *xi = j->x + i * j->d, *yc = j->y + c * j->d;
    if (j->scaled) {
        const double nx = sqrt(j->xsq[i]), ny = sqrt(j->ysq[c]);
        return cosine_exact(xi, yc, j->d, nx, ny, nx >= 1e-8 && ny >= 1e-8);
    }
    return cosine_exact(xi, yc, j->d, j->xn[i], j->yn[c], j->xn[i] >= 1e-8f && j->yn[c] >= 1e-8f);
}

/* A Euclidean-form entry from d^2 in double (NaN if `poisoned`): clamped at
 * 0, and for the Euclidean distance at 1e-12 under the square root. */
static inline float squared_form_value(losskit_metric metric, double d2, bool poisoned) {
    if (poisoned) d2 = NAN;
    d2 = d2 > 0.0 ? d2 : (isnan(d2) ? d2 : 0.0);
    return metric == LOSSKIT_METRIC_SQEUCLIDEAN ? (float)d2 : (float)sqrt(d2 > 1e-12 ? d2 : (isnan(d2) ? d2 : 1e-12));
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
        row[c] = squared_form_value(j->metric, d2, isnan(row[c]));
    }
}

/* One row of the block for rescaled rows, in double: out holds the rescaled
 * rows' dot products, x.y = out 2^(xe + ye) exactly; the norms are the true
 * ones (double), so nothing overflows or underflows at any feature scale. */
static void epilogue_row_scaled(const epilogue_job *j, size_t i) {
    float *row = j->out + i * j->m;
    for (size_t c = 0; c < j->m; c++) {
        const double dot = ldexp((double)row[c], j->xe[i] + j->ye[c]), sum = j->xsq[i] + j->ysq[c];
        if (j->metric == LOSSKIT_METRIC_COSINE) {
            const double nx = sqrt(j->xsq[i]), ny = sqrt(j->ysq[c]);
            double v = 1.0 - dot / (fmax(nx, 1e-8) * fmax(ny, 1e-8));
            if (v < LK_PAIR_REPAIR) v = exact_value(j, i, c);
            row[c] = isnan(dot) || isnan(sum) ? NAN : (float)v;
            continue;
        }
        double d2 = sum - 2.0 * dot;
        if (d2 < LK_PAIR_REPAIR * sum) d2 = exact_value(j, i, c);
        row[c] = squared_form_value(j->metric, d2, isnan(dot));
    }
}

#define LK_SIMD_TEMPLATE "pair_values_simd.h"
#define LK_SIMD_TEMPLATE_2 "distance_simd.h"
#include "simd_each_isa.h"

static void epilogue_row(void *ctx, size_t r) {
    const epilogue_job *j = ctx;
    size_t i = j->r0 + r;
    if (j->scaled) { epilogue_row_scaled(j, i); return; }
#if LK_X86
    if (j->path == LOSSKIT_ISA_AVX512) { ds_row_avx512(j, i); return; }
    if (j->path == LOSSKIT_ISA_AVX2) { ds_row_avx2(j, i); return; }
#elif LK_ARM64
    if (j->path == LOSSKIT_ISA_NEON) { ds_row_neon(j, i); return; }
#endif
    epilogue_row_scalar(j, i);
}

/* Rows rescaled by exact powers of two, for inputs outside the float-safe
 * range: row i of x times 2^-xe[i], with |x_i| 2^-xe[i] in [0.5, 1) (zero and
 * non-finite rows as they are), and the true squared norms in double. */
typedef struct {
    float *xs, *ys;
    int *xe, *ye;
    double *xsq, *ysq;
} scaled_rows;

static void rescale_rows(const float *v, size_t rows, size_t d, float *vs, int *e, double *sq) {
    for (size_t i = 0; i < rows; i++) {
        sq[i] = lk_squared_norm(v + i * d, d);
        e[i] = 0;
        if (isfinite(sq[i]) && sq[i] > 0.0) (void)frexp(sqrt(sq[i]), &e[i]);
        for (size_t k = 0; k < d; k++) vs[i * d + k] = ldexpf(v[i * d + k], -e[i]);
    }
}

static int scaled_rows_make(const float *x, size_t n, const float *y, size_t m, size_t d, scaled_rows *s) {
    s->xs = malloc(sizeof(float) * (n + m) * d + 1);
    s->xe = malloc(sizeof(int) * (n + m) + 1);
    s->xsq = malloc(sizeof(double) * (n + m) + 1);
    if (!s->xs || !s->xe || !s->xsq) return LOSSKIT_ERR_NOMEM;
    s->ys = s->xs + n * d;
    s->ye = s->xe + n;
    s->ysq = s->xsq + n;
    rescale_rows(x, n, d, s->xs, s->xe, s->xsq);
    rescale_rows(y, m, d, s->ys, s->ye, s->ysq);
    return LOSSKIT_OK;
}

static void scaled_rows_free(scaled_rows *s) { free(s->xs); free(s->xe); free(s->xsq); }

/* The distance matrix of x [n, d] and y [m, d] (arguments already checked);
 * `exact` recomputes the pairs that cancel. Rows outside the float-safe
 * range (lk_scale_safe) send the call through rescaled copies of the rows
 * and a double epilogue: the same SGEMM, bitwise deterministic as well. */
static int distance_matrix(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                           float *out, int threads, exact_squared_fn exact, const void *exact_ctx) {
    if (n == 0 || m == 0) return LOSSKIT_OK;
    bool cosine = metric == LOSSKIT_METRIC_COSINE, safe = true;
    float *norms = malloc(sizeof(float) * (n + m) * (cosine ? 2 : 1));
    if (!norms) return LOSSKIT_ERR_NOMEM;
    float *xn = norms, *yn = norms + n, *xinv = norms + n + m, *yinv = xinv + n;
    for (size_t i = 0; i < n; i++) {
        double s = lk_squared_norm(x + i * d, d);
        safe = safe && lk_scale_safe(s);
        xn[i] = (float)(cosine ? sqrt(s) : s);
    }
    for (size_t j = 0; j < m; j++) {
        double s = lk_squared_norm(y + j * d, d);
        safe = safe && lk_scale_safe(s);
        yn[j] = (float)(cosine ? sqrt(s) : s);
    }
    if (cosine) {
        for (size_t i = 0; i < n; i++) xinv[i] = inverse_norm(xn[i]);
        for (size_t j = 0; j < m; j++) yinv[j] = inverse_norm(yn[j]);
    }
    scaled_rows sc = {0};
    if (!safe && scaled_rows_make(x, n, y, m, d, &sc) != LOSSKIT_OK) {
        scaled_rows_free(&sc);
        free(norms);
        return LOSSKIT_ERR_NOMEM;
    }
    int nthreads = lk_threads_for(threads, n, 16);
    /* blocks of 1024 rows, sliced by 1024 columns (each slice packs its own
     * rows of y and the whole block of x); 1024 x m floats still sit in the
     * last-level cache when the epilogue reads them */
    const size_t block = 1024;
    epilogue_job job = {.metric = metric, .x = x, .y = y, .n = n, .m = m, .d = d, .xn = xn, .yn = yn, .out = out,
                        .xinv = cosine ? xinv : NULL, .yinv = cosine ? yinv : NULL,
                        .exact = exact, .exact_ctx = exact_ctx, .path = lk_isa_path(),
                        .scaled = !safe, .xe = sc.xe, .ye = sc.ye, .xsq = sc.xsq, .ysq = sc.ysq};
    const float *xa = safe ? x : sc.xs, *ya = safe ? y : sc.ys;
    const float alpha = cosine || !safe ? 1.0f : -2.0f; /* rescaled rows: the plain dot products */
    int status = LOSSKIT_OK;
    for (size_t r0 = 0; r0 < n && status == LOSSKIT_OK; r0 += block) {
        size_t rows = n - r0 < block ? n - r0 : block;
        if (d == 0) memset(out + r0 * m, 0, sizeof(float) * rows * m);
        else status = sgemm_sliced((gemm_slices){.ta = CblasNoTrans, .tb = CblasTrans, .M = rows, .N = m, .K = d,
                                                 .alpha = alpha, .A = xa + r0 * d, .lda = d, .B = ya,
                                                 .ldb = d, .beta = 0.0f, .C = out + r0 * m, .ldc = m, .by_columns = true,
                                                 .slice = 1024},
                                   nthreads);
        if (status != LOSSKIT_OK) break;
        job.r0 = r0;
        job.rows = rows;
        status = lk_parallel_for(rows, nthreads, epilogue_row, &job);
    }
    scaled_rows_free(&sc);
    free(norms);
    return status;
}

/* The arguments a distance matrix and its backward share (positions 1-6):
 * 0, or minus the position of the first bad one; the sizes on success. */
static int check_pair_sets(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                           size_t *nd, size_t *md, size_t *nm) {
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(n, d, nd) && *nd <= LK_MAX_FLOATS && n <= INT32_MAX, 3);
    LK_CHECK(x != NULL || *nd == 0, 2);
    LK_CHECK(lk_mul_ok(m, d, md) && *md <= LK_MAX_FLOATS && m <= INT32_MAX, 5);
    LK_CHECK(y != NULL || *md == 0, 4);
    LK_CHECK(d >= 1 && d <= INT32_MAX, 6); /* no feature, no distance: d = 0 is refused, as in Swift */
    LK_CHECK(lk_mul_ok(n, m, nm) && *nm <= LK_MAX_FLOATS, 5);
    return LOSSKIT_OK;
}

int losskit_pairwise_distance(losskit_metric metric, const float *x, size_t n, const float *y, size_t m, size_t d,
                              float *out, int threads) {
    size_t nd, md, nm;
    int bad = check_pair_sets(metric, x, n, y, m, d, &nd, &md, &nm);
    if (bad) return bad;
    LK_CHECK(out != NULL || nm == 0, 7);
    LK_CHECK(threads >= 0, 8);
    direct_pairs pairs = {.x = x, .y = y, .d = d};
    return distance_matrix(metric, x, n, y, m, d, out, threads, direct_exact, &pairs);
}

/* ---- backward ----------------------------------------------------------- */

/* With W[i, j] the pair's coefficient, both gradients are one SGEMM plus a
 * diagonal term:  grad_x = alpha W y + diag(a) x,  grad_y = alpha W^T x + diag(b) y.
 *   squared:    W = g,               alpha = -2, a_i = 2 sum_j W_ij, b_j = 2 sum_i W_ij
 *   Euclidean:  W = g / D (0 where the clamp holds), alpha = -1, a_i = sum_j W_ij, b_j = sum_i W_ij
 *   cosine:     W = g / (nx_i ny_j), alpha = -1, a_i = sum_j g_ij c_ij / nx_i^2, b_j = sum_i g_ij c_ij / ny_j^2
 * (c = 1 - D the cosine, nx = max(|x|, 1e-8); a_i = 0 where |x_i| <= 1e-8: a
 * floored norm passes no gradient; the same for b_j). Where x_i and y_j
 * nearly coincide (the pairs the forward repairs) that form cancels as the
 * forward's does: those pairs are left out of W and the sums, and added
 * directly, in double, from the features. */
typedef struct {
    losskit_metric metric;
    const float *x, *y, *g, *dist;
    const double *xsq, *ysq;   /* squared norms */
    const float *xinv, *yinv;  /* cosine: 1 / max(norm, 1e-8), NaN for a NaN norm */
    size_t m, d, r0, rows;
    float *w;         /* the block's W */
    double *rowsum;   /* a's sums, all n rows */
    double *colsum;   /* b's sums, accumulated block after block */
    float *grad_x, *grad_y;
    size_t cols_per_task;
    bool all_direct;  /* a row outside the float-safe range: every pair directly, in double */
} backward_job;

/* Pair (i, j) nearly coincides (or the features are outside the range where
 * W and the SGEMMs stay normal floats): its terms go in directly. */
static inline bool backward_direct(const backward_job *b, size_t i, size_t j, float dist) {
    if (b->all_direct) return true;
    if (b->metric == LOSSKIT_METRIC_COSINE) return dist < LK_PAIR_REPAIR;
    double d2 = b->metric == LOSSKIT_METRIC_SQEUCLIDEAN ? dist : (double)dist * dist;
    return d2 < LK_PAIR_REPAIR * (b->xsq[i] + b->ysq[j]);
}

/* The pair's gradient wrt x_i, times g, added into out (d values); wrt y_j
 * with `wrt_y` (the two are not opposite for the cosine). */
static void backward_pair(const backward_job *b, size_t i, size_t j, float g, float dist, bool wrt_y, float *out) {
    const float *u = b->x + i * b->d, *v = b->y + j * b->d;
    if (wrt_y) { const float *t = u; u = v; v = t; }
    double cu, cv; /* coefficients of u and v, from the features in double */
    switch (b->metric) {
    case LOSSKIT_METRIC_SQEUCLIDEAN: cu = 2.0 * g; cv = -cu; break;
    case LOSSKIT_METRIC_EUCLIDEAN: {
        const double d2 = lk_squared_distance(u, v, b->d);
        cu = d2 > 1e-12 ? (double)g / sqrt(d2) : 0.0 * g; /* no gradient where the clamp held; NaN stays NaN */
        cv = -cu;
        break;
    }
    default: {
        /* 1 / norm in double: float's rounding there is magnified ~1/angle for near-parallel pairs */
        const double nu = sqrt(wrt_y ? b->ysq[j] : b->xsq[i]), nv = sqrt(wrt_y ? b->xsq[i] : b->ysq[j]);
        const double iu = 1.0 / fmax(nu, 1e-8), iv = 1.0 / fmax(nv, 1e-8);
        cv = -(double)g * iu * iv;
        cu = nu > 1e-8 ? (double)g * (1.0 - (double)dist) * iu * iu : 0.0 * g * iu;
        break;
    }
    }
    /* the pair's term first: with features far larger than their difference
     * (|x| ~ 3e20, |x - y| ~ 1) cu u and cv v cancel, and the running sum
     * must not be absorbed into them; the Euclidean forms take u - v exactly */
    if (b->metric == LOSSKIT_METRIC_COSINE)
        for (size_t k = 0; k < b->d; k++) out[k] = (float)((double)out[k] + (cu * u[k] + cv * v[k]));
    else
        for (size_t k = 0; k < b->d; k++) out[k] = (float)((double)out[k] + cu * ((double)u[k] - v[k]));
}

/* A pair's term in its row's sum a and its column's sum b: its W, or for the
 * cosine g c (the norms divide later). */
static inline double sum_term(const backward_job *b, float g, float dist, float w) {
    return b->metric == LOSSKIT_METRIC_COSINE ? (double)g * (1.0 - (double)dist) : (double)w;
}

/* Row r of the block: W and the row's sum a (pairs that nearly coincide left out). */
static void backward_row(void *ctx, size_t r) {
    const backward_job *b = ctx;
    const size_t i = b->r0 + r, m = b->m;
    const float *g = b->g + i * m, *dist = b->dist + i * m;
    float *w = b->w + r * m;
    double sum = 0.0;
    for (size_t j = 0; j < m; j++) {
        if (backward_direct(b, i, j, dist[j])) {
            w[j] = 0.0f;
            continue;
        }
        float coef;
        if (b->metric == LOSSKIT_METRIC_SQEUCLIDEAN) {
            coef = isnan(dist[j]) ? NAN : g[j]; /* a NaN feature poisons its pairs */
        } else if (b->metric == LOSSKIT_METRIC_EUCLIDEAN) {
            if (dist[j] <= 1e-6f) { /* D = sqrt(1e-12) in float: whether the clamp held, d^2 itself tells */
                const double d2 = lk_squared_distance(b->x + i * b->d, b->y + j * b->d, b->d);
                coef = d2 > 1e-12 ? (float)(g[j] / sqrt(d2)) : 0.0f * g[j];
            } else {
                coef = g[j] / dist[j]; /* NaN stays NaN */
            }
        } else {
            coef = g[j] * b->xinv[i] * b->yinv[j];
        }
        w[j] = coef;
        sum += sum_term(b, g[j], dist[j], coef);
    }
    b->rowsum[i] = sum;
}

/* After the block's SGEMM into grad_x: row r's pairs that nearly coincide. */
static void backward_row_direct(void *ctx, size_t r) {
    const backward_job *b = ctx;
    const size_t i = b->r0 + r, m = b->m;
    const float *g = b->g + i * m, *dist = b->dist + i * m;
    for (size_t j = 0; j < m; j++)
        if (backward_direct(b, i, j, dist[j])) backward_pair(b, i, j, g[j], dist[j], false, b->grad_x + i * b->d);
}

/* Columns [c0, c1) over the block's rows, in row order: b's sums, and (after
 * the block's SGEMM into grad_y) the pairs that nearly coincide. */
static void backward_columns(void *ctx, size_t task) {
    const backward_job *b = ctx;
    const size_t c0 = task * b->cols_per_task, c1 = c0 + b->cols_per_task < b->m ? c0 + b->cols_per_task : b->m;
    for (size_t r = 0; r < b->rows; r++) {
        const size_t i = b->r0 + r;
        const float *w = b->w + r * b->m, *g = b->g + i * b->m, *dist = b->dist + i * b->m;
        for (size_t j = c0; j < c1; j++) {
            if (backward_direct(b, i, j, dist[j])) backward_pair(b, i, j, g[j], dist[j], true, b->grad_y + j * b->d);
            else b->colsum[j] += sum_term(b, g[j], dist[j], w[j]);
        }
    }
}

/* out[i, :] += coef[i] * v[i, :] (a NaN feature poisons its row even where coef is 0) */
static void add_diagonal(float *out, const float *v, const double *coef, size_t rows, size_t d) {
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < d; k++) out[i * d + k] = (float)((double)out[i * d + k] + coef[i] * v[i * d + k]);
}

/* The diagonal coefficient from a sum: times 2 (squared), or / norm^2 (cosine,
 * from the squared norm in double; none through a floored norm). */
static double diagonal_coefficient(losskit_metric metric, double sum, double squared_norm) {
    if (metric == LOSSKIT_METRIC_SQEUCLIDEAN) return 2.0 * sum;
    if (metric == LOSSKIT_METRIC_EUCLIDEAN) return sum;
    const double norm = sqrt(squared_norm);
    return norm > 1e-8 ? sum / squared_norm : 0.0 * sum * norm;
}

int losskit_pairwise_distance_backward(losskit_metric metric, const float *x, size_t n, const float *y, size_t m,
                                       size_t d, const float *distances, const float *grad_out, float *grad_x,
                                       float *grad_y, int threads) {
    size_t nd, md, nm;
    int bad = check_pair_sets(metric, x, n, y, m, d, &nd, &md, &nm);
    if (bad) return bad;
    LK_CHECK(distances != NULL || nm == 0, 7);
    LK_CHECK(grad_out != NULL || nm == 0, 8);
    LK_CHECK(threads >= 0, 11);
    if (grad_x) memset(grad_x, 0, sizeof(float) * nd);
    if (grad_y) memset(grad_y, 0, sizeof(float) * md);
    if (nm == 0 || d == 0 || (!grad_x && !grad_y)) return LOSSKIT_OK;

    const size_t block = n < 512 ? n : 512;
    size_t wfloats;
    if (!lk_mul_ok(block, m, &wfloats)) return LOSSKIT_ERR_NOMEM;
    float *w = malloc(sizeof(float) * (wfloats + n + m));
    double *sums = malloc(sizeof(double) * 2 * (n + m));
    if (!w || !sums) { free(w); free(sums); return LOSSKIT_ERR_NOMEM; }
    backward_job job = {.metric = metric, .x = x, .y = y, .g = grad_out, .dist = distances, .m = m, .d = d, .w = w,
                        .grad_x = grad_x, .grad_y = grad_y, .cols_per_task = 256};
    double *xsq = sums, *ysq = sums + n, *rowsum = sums + n + m, *colsum = rowsum + n;
    float *xinv = w + wfloats, *yinv = xinv + n;
    bool safe = true;
    for (size_t i = 0; i < n; i++) { xsq[i] = lk_squared_norm(x + i * d, d); safe = safe && lk_scale_safe(xsq[i]); }
    for (size_t j = 0; j < m; j++) { ysq[j] = lk_squared_norm(y + j * d, d); safe = safe && lk_scale_safe(ysq[j]); }
    /* W = g / D (Euclidean) and W = g (squared) stay normal floats at any
     * scale (pairs that would cancel go in directly anyway); the cosine's
     * W = g / (|x| |y|) does not (1e-41 for norms of 3e20) */
    job.all_direct = !safe && metric == LOSSKIT_METRIC_COSINE;
    if (metric == LOSSKIT_METRIC_COSINE) { /* W's factors (the diagonal and direct terms use double) */
        for (size_t i = 0; i < n; i++) xinv[i] = inverse_norm(sqrt(xsq[i]));
        for (size_t j = 0; j < m; j++) yinv[j] = inverse_norm(sqrt(ysq[j]));
    }
    memset(colsum, 0, sizeof(double) * m);
    job.xsq = xsq; job.ysq = ysq; job.xinv = xinv; job.yinv = yinv; job.rowsum = rowsum; job.colsum = colsum;

    const float alpha = metric == LOSSKIT_METRIC_SQEUCLIDEAN ? -2.0f : -1.0f;
    const int nthreads = lk_threads_for(threads, n, 16);
    int status = LOSSKIT_OK;
    for (size_t r0 = 0; r0 < n && status == LOSSKIT_OK; r0 += block) {
        const size_t rows = n - r0 < block ? n - r0 : block;
        job.r0 = r0;
        job.rows = rows;
        status = lk_parallel_for(rows, nthreads, backward_row, &job);
        if (status == LOSSKIT_OK && grad_x) {
            if (!job.all_direct) /* else W = 0: grad_x keeps its zeros */
                status = sgemm_sliced((gemm_slices){.ta = CblasNoTrans, .tb = CblasNoTrans, .M = rows, .N = d, .K = m,
                                                    .alpha = alpha, .A = w, .lda = m, .B = y, .ldb = d, .beta = 0.0f,
                                                    .C = grad_x + r0 * d, .ldc = d, .slice = 256},
                                      nthreads);
            if (status == LOSSKIT_OK) status = lk_parallel_for(rows, nthreads, backward_row_direct, &job);
        }
        if (status == LOSSKIT_OK && grad_y && !job.all_direct) /* accumulated block after block, in order */
            status = sgemm_sliced((gemm_slices){.ta = CblasTrans, .tb = CblasNoTrans, .M = m, .N = d, .K = rows,
                                                .alpha = alpha, .A = w, .lda = m, .B = x + r0 * d, .ldb = d,
                                                .beta = r0 == 0 ? 0.0f : 1.0f, .C = grad_y, .ldc = d, .slice = 256},
                                  nthreads);
        if (status == LOSSKIT_OK && grad_y)
            status = lk_parallel_for((m + job.cols_per_task - 1) / job.cols_per_task, nthreads, backward_columns, &job);
    }
    if (status == LOSSKIT_OK) {
        for (size_t i = 0; i < n; i++) rowsum[i] = diagonal_coefficient(metric, rowsum[i], xsq[i]);
        for (size_t j = 0; j < m; j++) colsum[j] = diagonal_coefficient(metric, colsum[j], ysq[j]);
        if (grad_x) add_diagonal(grad_x, x, rowsum, n, d);
        if (grad_y) add_diagonal(grad_y, y, colsum, m, d);
    }
    free(w);
    free(sums);
    return status;
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
    const int tthreads = lk_threads_for(threads, n + m, 64);
    if (k > 0) {
        status = sgemm_sliced((gemm_slices){.ta = CblasNoTrans, .tb = CblasTrans, .M = n, .N = k, .K = d, .alpha = 1.0f,
                                            .A = x, .lda = d, .B = af, .ldb = d, .beta = 0.0f, .C = xt, .ldc = k,
                                            .slice = 256},
                              tthreads);
        if (status == LOSSKIT_OK)
            status = sgemm_sliced((gemm_slices){.ta = CblasNoTrans, .tb = CblasTrans, .M = m, .N = k, .K = d,
                                                .alpha = 1.0f, .A = y, .lda = d, .B = af, .ldb = d, .beta = 0.0f,
                                                .C = yt, .ldc = k, .slice = 256},
                                  tthreads);
    }
    if (status != LOSSKIT_OK) { free(scratch); free(a); return status; }
    mahalanobis_pairs pairs = {.x = x, .y = y, .a = a, .d = d, .k = k};
    status = distance_matrix(metric, xt, n, yt, m, k, out, threads, mahalanobis_exact, &pairs);
    free(scratch);
    free(a);
    return status;
}
