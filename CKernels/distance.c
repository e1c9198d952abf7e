/* Distance matrices through SGEMM with a fused epilogue and cancellation repair. */
#include "blas.h"
#include "internal.h"
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* d^2 below this fraction of ||x||^2 + ||y||^2 is recomputed directly: there
 * the SGEMM form has lost more than (its rounding) / 0.1 of its precision. */
#define LK_REPAIR_FRACTION 0.1

static double squared_norm(const float *v, size_t d) {
    double s = 0.0;
    for (size_t k = 0; k < d; k++) s += (double)v[k] * v[k];
    return s;
}

static double direct_squared_distance(const float *a, const float *b, size_t d) {
    double s = 0.0;
    for (size_t k = 0; k < d; k++) {
        double t = (double)a[k] - b[k];
        s += t * t;
    }
    return s;
}

typedef struct {
    losskit_metric metric;
    const float *x, *y;
    size_t n, m, d, r0, rows;
    const float *xn, *yn; /* squared norms (Euclidean) or norms (cosine) */
    float *out;
} epilogue_job;

/* One row of the block: the cross term is in out already. */
static void epilogue_row(void *ctx, size_t r) {
    const epilogue_job *j = ctx;
    size_t i = j->r0 + r;
    float *row = j->out + i * j->m;
    const float *xi = j->x + i * j->d;
    for (size_t c = 0; c < j->m; c++) {
        if (j->metric == LOSSKIT_METRIC_COSINE) {
            double nx = fmax(j->xn[i], 1e-8), ny = fmax(j->yn[c], 1e-8);
            double v = 1.0 - row[c] / (nx * ny);
            if (v < LK_REPAIR_FRACTION) { /* near-parallel: 1 - cos cancels; use |x/nx - y/ny|^2 / 2 */
                const float *yc = j->y + c * j->d;
                double s = 0.0, dot = 0.0;
                for (size_t k = 0; k < j->d; k++) {
                    double t = xi[k] / nx - yc[k] / ny;
                    s += t * t;
                    dot += (double)xi[k] * yc[k];
                }
                /* the identity holds for unit vectors; the 1e-8 floors only matter at norm ~0 */
                v = (j->xn[i] >= 1e-8f && j->yn[c] >= 1e-8f) ? 0.5 * s : 1.0 - dot / (nx * ny);
            }
            row[c] = isnan(row[c]) || isnan(j->xn[i] + j->yn[c]) ? NAN : (float)v;
            continue;
        }
        double scale = (double)j->xn[i] + j->yn[c];
        double d2 = scale + row[c]; /* row[c] = -2 x.y */
        if (d2 < LK_REPAIR_FRACTION * scale) d2 = direct_squared_distance(xi, j->y + c * j->d, j->d);
        if (isnan(row[c])) d2 = NAN;
        d2 = d2 > 0.0 ? d2 : (isnan(d2) ? d2 : 0.0);
        row[c] = j->metric == LOSSKIT_METRIC_SQEUCLIDEAN ? (float)d2 : (float)sqrt(d2 > 1e-12 ? d2 : (isnan(d2) ? d2 : 1e-12));
    }
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
    if (nm == 0) return LOSSKIT_OK;
    float *norms = malloc(sizeof(float) * (n + m));
    if (!norms) return LOSSKIT_ERR_NOMEM;
    float *xn = norms, *yn = norms + n;
    bool cosine = metric == LOSSKIT_METRIC_COSINE;
    for (size_t i = 0; i < n; i++) { double s = squared_norm(x + i * d, d); xn[i] = (float)(cosine ? sqrt(s) : s); }
    for (size_t j = 0; j < m; j++) { double s = squared_norm(y + j * d, d); yn[j] = (float)(cosine ? sqrt(s) : s); }
    int nthreads = lk_threads_for(threads, n, 16);
    lk_blas_set_threads(nthreads);
    /* blocks of rows: the epilogue reads what SGEMM just wrote, while it is in cache */
    const size_t block = 256;
    epilogue_job job = {.metric = metric, .x = x, .y = y, .n = n, .m = m, .d = d, .xn = xn, .yn = yn, .out = out};
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
