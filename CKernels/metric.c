/* Aligned metric-learning losses: contrastive, triplet, improved triplet,
 * quadruplet. One tuple per row; distances and their gradients in double. */
#include "blas.h"
#include "internal.h"
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* D(u, v) and what its backward needs (internal.h: lk_dist_t). */
typedef lk_dist_t dist_t;

static dist_t dist(losskit_metric m, const float *restrict u, const float *restrict v, size_t d) {
    dist_t r = {0, 0, 0, 0, 0};
    if (m != LOSSKIT_METRIC_COSINE) { /* the Euclidean forms need d^2 alone */
        r.d2 = lk_squared_distance(u, v, d);
        r.D = m == LOSSKIT_METRIC_SQEUCLIDEAN ? r.d2 : sqrt(r.d2 > 1e-12 ? r.d2 : (isnan(r.d2) ? r.d2 : 1e-12));
        return r;
    }
    /* 8 partial sums per quantity: independent chains the compiler vectorizes,
     * added in a fixed order (the result does not depend on anything else) */
    enum { P = 8 };
    double d2[P] = {0}, dot[P] = {0}, nu[P] = {0}, nv[P] = {0};
    size_t k = 0;
    for (; k + P <= d; k += P)
        for (size_t l = 0; l < P; l++) {
            double a = u[k + l], b = v[k + l];
            d2[l] += (a - b) * (a - b);
            dot[l] += a * b;
            nu[l] += a * a;
            nv[l] += b * b;
        }
    for (size_t l = 0; k + l < d; l++) {
        double a = u[k + l], b = v[k + l];
        d2[l] += (a - b) * (a - b);
        dot[l] += a * b;
        nu[l] += a * a;
        nv[l] += b * b;
    }
    for (size_t l = 0; l < P; l++) {
        r.d2 += d2[l];
        r.dot += dot[l];
        r.nu += nu[l];
        r.nv += nv[l];
    }
    r.nu = sqrt(r.nu);
    r.nv = sqrt(r.nv);
    r.D = 1.0 - r.dot / (fmax(r.nu, 1e-8) * fmax(r.nv, 1e-8));
    if (r.D < LK_PAIR_REPAIR && r.nu >= 1e-8 && r.nv >= 1e-8) {
        /* near-parallel: 1 - cos cancels even in double (rows of norm 3e20
         * at distance 1: 1e-41 comes out 0); |u/|u| - v/|v||^2 / 2 does not */
        double s = 0.0;
        for (size_t l = 0; l < d; l++) {
            double t = u[l] / r.nu - v[l] / r.nv;
            s += t * t;
        }
        r.D = 0.5 * s;
    }
    if (isnan(r.dot)) r.D = NAN;
    return r;
}

/* gu += s dD/du, gv += s dD/dv (either may be NULL; distinct rows, never the inputs). */
static void dist_back(losskit_metric m, const float *restrict u, const float *restrict v, size_t d, const dist_t *r,
                      double s, float *restrict gu, float *restrict gv) {
    if (s == 0.0 || (!gu && !gv)) return;
    switch (m) {
    case LOSSKIT_METRIC_EUCLIDEAN:
    case LOSSKIT_METRIC_SQEUCLIDEAN: {
        /* dD/du = f (u - v) = -dD/dv */
        double f = 2.0 * s;
        if (m == LOSSKIT_METRIC_EUCLIDEAN) {
            if (!(r->d2 > 1e-12)) { if (isnan(r->d2)) goto poison; return; } /* the clamp: no gradient */
            f = s / r->D;
        }
        /* one loop per output, no branch inside: these vectorize */
        if (gu) for (size_t k = 0; k < d; k++) gu[k] += (float)(f * ((double)u[k] - v[k]));
        if (gv) for (size_t k = 0; k < d; k++) gv[k] -= (float)(f * ((double)u[k] - v[k]));
        return;
    }
    default: {
        /* D = 1 - dot / (cu cv), cu = max(|u|, 1e-8): dD/du = -v/(cu cv) + dot u / (cu^2 cv |u|) where |u| > 1e-8 */
        double cu = fmax(r->nu, 1e-8), cv = fmax(r->nv, 1e-8);
        double a = -s / (cu * cv);
        double bu = r->nu > 1e-8 ? s * r->dot / (cu * cu * cv * r->nu) : 0.0;
        double bv = r->nv > 1e-8 ? s * r->dot / (cu * cv * cv * r->nv) : 0.0;
        if (gu) for (size_t k = 0; k < d; k++) gu[k] += (float)(a * v[k] + bu * u[k]);
        if (gv) for (size_t k = 0; k < d; k++) gv[k] += (float)(a * u[k] + bv * v[k]);
        return;
    }
    }
poison:
    for (size_t k = 0; k < d; k++) {
        if (gu) gu[k] = NAN;
        if (gv) gv[k] = NAN;
    }
}

lk_dist_t lk_dist(losskit_metric m, const float *u, const float *v, size_t d) { return dist(m, u, v, d); }
void lk_dist_back(losskit_metric m, const float *u, const float *v, size_t d, const lk_dist_t *r, double s, float *gu,
                  float *gv) {
    dist_back(m, u, v, d, r, s, gu, gv);
}

enum { K_CONTRASTIVE, K_TRIPLET, K_QUADRUPLET };

typedef struct {
    int kind;
    losskit_metric metric;
    const float *in[4];   /* the tuple's inputs, row-major [n, d] */
    const float *same;
    size_t d;
    float m1, m2;
    int flag;             /* contrastive: squared form; triplet: improved */
    float *loss;          /* per row (NONE) or NULL */
    float *grad[4];
    double gscale;
} tuple_ctx;

static double tuple_rows(void *vc, size_t b, size_t e) {
    const tuple_ctx *c = vc;
    const size_t d = c->d;
    double acc = 0.0;
    for (size_t i = b; i < e; i++) {
        const float *x[4];
        float *g[4];
        for (int k = 0; k < 4; k++) {
            x[k] = c->in[k] ? c->in[k] + i * d : NULL;
            g[k] = c->grad[k] ? c->grad[k] + i * d : NULL;
            if (g[k]) memset(g[k], 0, d * sizeof(float));
        }
        double l;
        if (c->kind == K_CONTRASTIVE) {
            dist_t r = dist(c->metric, x[0], x[1], d);
            double y = c->same[i], D = r.D, dLdD;
            if (c->flag) { /* squared form, S = D^2 */
                double S = D * D, h = c->m1 - S > 0 ? c->m1 - S : 0.0;
                l = y * S + (1 - y) * h * h;
                dLdD = (y - 2.0 * (1 - y) * h) * 2.0 * D;
            } else {
                double h = c->m1 - D > 0 ? c->m1 - D : 0.0;
                l = y * D * D + (1 - y) * h * h;
                dLdD = 2.0 * y * D - 2.0 * (1 - y) * h;
            }
            dist_back(c->metric, x[0], x[1], d, &r, dLdD * c->gscale, g[0], g[1]);
        } else if (c->kind == K_TRIPLET) {
            dist_t ap = dist(c->metric, x[0], x[1], d), an = dist(c->metric, x[0], x[2], d);
            double z = ap.D - an.D + c->m1, active = z > 0 ? 1.0 : 0.0;
            l = (z > 0 ? z : 0.0) + (c->flag ? ap.D : 0.0);
            if (isnan(z)) { l = NAN; active = NAN; }
            dist_back(c->metric, x[0], x[1], d, &ap, (active + (c->flag ? 1.0 : 0.0)) * c->gscale, g[0], g[1]);
            dist_back(c->metric, x[0], x[2], d, &an, -active * c->gscale, g[0], g[2]);
        } else {
            dist_t ap = dist(c->metric, x[0], x[1], d), an = dist(c->metric, x[0], x[2], d);
            dist_t nn = dist(c->metric, x[2], x[3], d);
            double z1 = ap.D - an.D + c->m1, z2 = ap.D - nn.D + c->m2;
            double a1 = z1 > 0 ? 1.0 : 0.0, a2 = z2 > 0 ? 1.0 : 0.0;
            l = (z1 > 0 ? z1 : 0.0) + (z2 > 0 ? z2 : 0.0);
            if (isnan(z1) || isnan(z2)) { l = NAN; a1 = a2 = NAN; }
            dist_back(c->metric, x[0], x[1], d, &ap, (a1 + a2) * c->gscale, g[0], g[1]);
            dist_back(c->metric, x[0], x[2], d, &an, -a1 * c->gscale, g[0], g[2]);
            dist_back(c->metric, x[2], x[3], d, &nn, -a2 * c->gscale, g[2], g[3]);
        }
        if (c->loss) c->loss[i] = (float)l;
        acc += (float)l;
    }
    return acc;
}

static int run_tuples(tuple_ctx *c, size_t n, losskit_reduction reduction, float *loss, int threads) {
    c->loss = reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL;
    c->gscale = reduction == LOSSKIT_REDUCTION_MEAN ? 1.0 / (double)n : 1.0;
    size_t chunk = 64;
    int nthreads = n * c->d < LK_PARALLEL_MIN ? 1 : lk_threads_for(threads, n, 2 * chunk);
    double sum = 0.0;
    int status = lk_chunked_sum(n, chunk, nthreads, tuple_rows, c, &sum);
    if (status != LOSSKIT_OK) return status;
    lk_store_reduced(reduction, sum, (double)n, loss);
    return LOSSKIT_OK;
}

#define CHECK_ROWS(ptr, pos) LK_CHECK((ptr) != NULL || nd == 0, pos)

int losskit_contrastive(losskit_metric metric, const float *x1, const float *x2, const float *same, size_t n, size_t d,
                        float margin, int squared_form, losskit_reduction reduction, float *loss,
                        float *grad_x1, float *grad_x2, int threads) {
    size_t nd;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(n, d, &nd) && nd <= LK_MAX_FLOATS, 5);
    CHECK_ROWS(x1, 2);
    CHECK_ROWS(x2, 3);
    LK_CHECK(same != NULL || n == 0, 4);
    LK_CHECK(d >= 1, 6); /* first: with d >= 1, n is bounded by the rows' size check */
    for (size_t i = 0; i < n; i++) LK_CHECK(same[i] == 0.0f || same[i] == 1.0f, 4); /* labels, not weights */
    LK_CHECK(isfinite(margin) && margin >= 0.0f, 7);
    LK_CHECK(lk_reduction_ok(reduction), 9);
    LK_CHECK(threads >= 0, 13);
    tuple_ctx c = {.kind = K_CONTRASTIVE, .metric = metric, .in = {x1, x2}, .same = same, .d = d, .m1 = margin,
                   .flag = squared_form != 0, .grad = {grad_x1, grad_x2}};
    return run_tuples(&c, n, reduction, loss, threads);
}

int losskit_triplet(losskit_metric metric, const float *anchor, const float *positive, const float *negative,
                    size_t n, size_t d, float margin, int improved, losskit_reduction reduction, float *loss,
                    float *grad_anchor, float *grad_positive, float *grad_negative, int threads) {
    size_t nd;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(n, d, &nd) && nd <= LK_MAX_FLOATS, 5);
    CHECK_ROWS(anchor, 2);
    CHECK_ROWS(positive, 3);
    CHECK_ROWS(negative, 4);
    LK_CHECK(d >= 1, 6);
    LK_CHECK(isfinite(margin) && margin >= 0.0f, 7);
    LK_CHECK(lk_reduction_ok(reduction), 9);
    LK_CHECK(threads >= 0, 14);
    tuple_ctx c = {.kind = K_TRIPLET, .metric = metric, .in = {anchor, positive, negative}, .d = d, .m1 = margin,
                   .flag = improved != 0, .grad = {grad_anchor, grad_positive, grad_negative}};
    return run_tuples(&c, n, reduction, loss, threads);
}

int losskit_quadruplet(losskit_metric metric, const float *anchor, const float *positive, const float *negative1,
                       const float *negative2, size_t n, size_t d, float margin1, float margin2,
                       losskit_reduction reduction, float *loss, float *grad_anchor, float *grad_positive,
                       float *grad_negative1, float *grad_negative2, int threads) {
    size_t nd;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(n, d, &nd) && nd <= LK_MAX_FLOATS, 6);
    CHECK_ROWS(anchor, 2);
    CHECK_ROWS(positive, 3);
    CHECK_ROWS(negative1, 4);
    CHECK_ROWS(negative2, 5);
    LK_CHECK(d >= 1, 7);
    LK_CHECK(isfinite(margin1) && margin1 >= 0.0f, 8);
    LK_CHECK(isfinite(margin2) && margin2 >= 0.0f, 9);
    LK_CHECK(lk_reduction_ok(reduction), 10);
    LK_CHECK(threads >= 0, 16);
    tuple_ctx c = {.kind = K_QUADRUPLET, .metric = metric, .in = {anchor, positive, negative1, negative2}, .d = d,
                   .m1 = margin1, .m2 = margin2, .grad = {grad_anchor, grad_positive, grad_negative1, grad_negative2}};
    return run_tuples(&c, n, reduction, loss, threads);
}

/* ---- TriHard -------------------------------------------------------------- */


/* One block of rows [r0, r0 + rows) against columns [r0, n): g = the block's
 * SGEMM output (ldg = n - r0). Values are d^2 (the Euclidean forms: same
 * order as d) or the cosine distance. */
typedef struct {
    losskit_metric metric;
    bool cosine;
    const float *x;
    size_t n, d, r0, rows, ldg, tile;
    const float *g;
    const float *norm;  /* |x|^2, or 1 / max(|x|, 1e-8) for cosine */
    const float *label; /* dense label ids as floats */
    float *col;         /* [4][n]: best positive value, index; best negative value, index per anchor */
    float *best;        /* per task: [rows][4] */
} trihard_block;

static double th_exact(const void *ctx, size_t i, size_t j) {
    const trihard_block *b = ctx;
    dist_t r = dist(b->metric, b->x + i * b->d, b->x + j * b->d, b->d);
    return b->cosine ? r.D : r.d2;
}

/* NaN wins a max or a min, as in torch.max / torch.min (reid-strong-baseline's
 * mining): an anchor that sees a NaN distance gets a NaN loss. */
static inline bool th_above(double v, double best) { return v > best || (isnan(v) && !isnan(best)); }
static inline bool th_below(double v, double best) { return v < best || (isnan(v) && !isnan(best)); }

/* best = (value, index): keep the larger value, ties (NaN ties too) to the lower index. */
static inline void th_better_max(float v, float idx, float *best) {
    bool tie = v == best[0] || (isnan(v) && isnan(best[0]));
    if (idx >= 0 && (best[1] < 0 || th_above(v, best[0]) || (tie && idx < best[1]))) { best[0] = v; best[1] = idx; }
}
static inline void th_better_min(float v, float idx, float *best) {
    bool tie = v == best[0] || (isnan(v) && isnan(best[0]));
    if (idx >= 0 && (best[1] < 0 || th_below(v, best[0]) || (tie && idx < best[1]))) { best[0] = v; best[1] = idx; }
}

static void th_tile_scalar(const trihard_block *b, size_t c0, size_t c1, float *best_rows) {
    const size_t diag_end = b->r0 + b->rows;
    for (size_t r = 0; r < b->rows; r++) {
        size_t i = b->r0 + r;
        const float *g = b->g + r * b->ldg - b->r0;
        float *best = best_rows + 4 * r;
        for (size_t j = c0; j < c1; j++) {
            float v;
            if (b->cosine) {
                v = 1.0f - g[j] * b->norm[i] * b->norm[j];
                if (v < (float)LK_PAIR_REPAIR) v = (float)th_exact(b, i, j);
            } else {
                float s = b->norm[i] + b->norm[j];
                v = s + g[j];
                if (v < s * (float)LK_PAIR_REPAIR) v = (float)th_exact(b, i, j);
            }
            bool same = b->label[j] == b->label[i];
            /* strict comparisons over increasing j: the lowest index wins ties */
            if (same && j != i && (best[1] < 0 || th_above(v, best[0]))) { best[0] = v; best[1] = (float)j; }
            if (!same && (best[3] < 0 || th_below(v, best[2]))) { best[2] = v; best[3] = (float)j; }
            if (j < diag_end) continue;
            float *cp = b->col + j, *cn = b->col + 2 * b->n + j;
            if (same && (cp[b->n] < 0 || th_above(v, cp[0]))) { cp[0] = v; cp[b->n] = (float)i; }
            if (!same && (cn[b->n] < 0 || th_below(v, cn[0]))) { cn[0] = v; cn[b->n] = (float)i; }
        }
    }
}

#define LK_SIMD_TEMPLATE "pair_values_simd.h"
#define LK_SIMD_TEMPLATE_2 "trihard_simd.h"
#include "simd_each_isa.h"

typedef struct {
    const trihard_block *b;
    losskit_isa path;
} th_job;

static void th_task(void *ctx, size_t task) {
    const th_job *job = ctx;
    const trihard_block *b = job->b;
    size_t c0 = b->r0 + task * b->tile, c1 = c0 + b->tile < b->n ? c0 + b->tile : b->n;
    float *best = b->best + task * b->rows * 4;
#if LK_X86
    if (job->path == LOSSKIT_ISA_AVX512) { th_tile_avx512(b, c0, c1, best); return; }
    if (job->path == LOSSKIT_ISA_AVX2) { th_tile_avx2(b, c0, c1, best); return; }
#elif LK_ARM64
    if (job->path == LOSSKIT_ISA_NEON) { th_tile_neon(b, c0, c1, best); return; }
#endif
    th_tile_scalar(b, c0, c1, best);
}

typedef struct { int64_t label; size_t index; } th_labelled;

static int th_by_label(const void *a, const void *b) {
    const th_labelled *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* Whether a row of this squared norm (or every row of x [n, d]) is in the
 * float-safe range of the SGEMM kernels (distance.c). */
bool lk_scale_safe(double squared_norm);
bool lk_rows_scale_safe(const float *x, size_t n, size_t d);

/* trihard_mine_hardest's answer when a row is outside that range (before any
 * SGEMM): the caller mines in double instead. */
#define TH_UNSAFE_SCALE 1

/* Batch-hard mining over the upper triangle: block by block, SGEMM gives
 * the block's rows against the columns from its own first row on; each task
 * reduces a tile of columns into the rows' bests and the columns' (anchors
 * past the block) bests, so every pair is computed once and the n x n
 * matrix never exists. pos/neg: the chosen indices, -1 when the anchor has
 * no positive or no negative. */
static int trihard_mine_hardest(losskit_metric metric, const float *x, const int64_t *labels, size_t n, size_t d,
                                int threads, int64_t *pos, int64_t *neg) {
    const bool cosine = metric == LOSSKIT_METRIC_COSINE;
    /* Up to 2048 rows the whole matrix fits the scratch budget (4 Mi floats):
     * one SSYRK computes its upper triangle (half the flops, in one call) and
     * the rows reduce it as a single block. Past that, blocks of rows through
     * SGEMM: GEMM-sized, the triangle's waste (block / 2n) small. */
    const bool whole = n <= 2048;
    size_t block = n / 4 < 64 ? 64 : n / 4;
    if (block > 512) block = 512;
    if (block > ((size_t)4 << 20) / n) block = ((size_t)4 << 20) / n < 16 ? 16 : ((size_t)4 << 20) / n;
    if (whole || block > n) block = n;
    const size_t tile = 1024;
    size_t max_tasks = (n + tile - 1) / tile;
    float *g = malloc(sizeof(float) * block * n);
    float *vecs = malloc(sizeof(float) * 6 * n);
    float *best = malloc(sizeof(float) * 4 * block * max_tasks);
    th_labelled *order = malloc(sizeof(th_labelled) * n);
    size_t *count = malloc(sizeof(size_t) * n), *first_of = malloc(sizeof(size_t) * n);
    int status = LOSSKIT_OK;
    if (!g || !vecs || !best || !order || !count || !first_of) { status = LOSSKIT_ERR_NOMEM; goto done; }
    float *norm = vecs, *label = vecs + n, *col = vecs + 2 * n;
    /* dense label ids; per id, its count and its lowest index */
    for (size_t i = 0; i < n; i++) order[i] = (th_labelled){labels[i], i};
    qsort(order, n, sizeof(th_labelled), th_by_label);
    size_t ids = 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && order[k].label != order[k - 1].label) ids++;
        label[order[k].index] = (float)ids;
    }
    for (size_t k = 0; k <= ids; k++) count[k] = 0;
    for (size_t i = 0; i < n; i++) count[(size_t)label[i]]++;
    for (size_t k = n; k-- > 0;) first_of[(size_t)label[order[k].index]] = order[k].index;
    for (size_t i = 0; i < n; i++) {
        double s = lk_squared_norm(x + i * d, d);
        if (!lk_scale_safe(s)) { status = TH_UNSAFE_SCALE; goto done; }
        norm[i] = cosine ? (float)(1.0 / fmax(sqrt(s), 1e-8)) : (float)s;
        col[i] = -INFINITY; col[n + i] = -1.0f; col[2 * n + i] = INFINITY; col[3 * n + i] = -1.0f;
    }
    int nthreads = lk_threads_for(threads, n * n / 2 * d, (size_t)1 << 22);
    lk_blas_set_threads(nthreads);
    trihard_block b = {.metric = metric, .cosine = cosine, .x = x, .n = n, .d = d, .g = g, .norm = norm,
                       .label = label, .col = col, .best = best, .tile = tile};
    th_job job = {.b = &b, .path = lk_isa_path()};
    for (size_t r0 = 0; r0 < n && status == LOSSKIT_OK; r0 += block) {
        size_t rows = n - r0 < block ? n - r0 : block, cols = n - r0;
        b.r0 = r0; b.rows = rows; b.ldg = cols;
        if (whole) { /* the upper triangle, then mirrored: the rows read all their columns */
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, cosine ? 1.0f : -2.0f, x, (int)d, 0.0f,
                        g, (int)n);
            for (size_t i = 1; i < n; i++)
                for (size_t j = 0; j < i; j++) g[i * n + j] = g[j * n + i];
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d, cosine ? 1.0f : -2.0f,
                        x + r0 * d, (int)d, x + r0 * d, (int)d, 0.0f, g, (int)cols);
        }
        size_t tasks = (cols + tile - 1) / tile;
        for (size_t t = 0; t < tasks * rows; t++) {
            best[4 * t] = -INFINITY; best[4 * t + 1] = -1.0f; best[4 * t + 2] = INFINITY; best[4 * t + 3] = -1.0f;
        }
        status = lk_parallel_for(tasks, nthreads, th_task, &job);
        for (size_t r = 0; r < rows && status == LOSSKIT_OK; r++) {
            size_t a = r0 + r;
            /* candidates before the block (the column state) first: their indices are the lower */
            float p[2] = {col[a], col[n + a]}, q[2] = {col[2 * n + a], col[3 * n + a]};
            for (size_t t = 0; t < tasks; t++) {
                const float *bt = best + (t * rows + r) * 4;
                th_better_max(bt[0], bt[1], p);
                th_better_min(bt[2], bt[3], q);
            }
            size_t c = count[(size_t)label[a]];
            bool has_pos = c > 1, has_neg = c < n;
            if (!has_pos || !has_neg) { pos[a] = neg[a] = -1; continue; }
            /* all candidates +inf (a min over them keeps none): the lowest index */
            if (p[1] < 0) {
                size_t f = first_of[(size_t)label[a]];
                if (f == a) for (f = a + 1; label[f] != label[a]; f++) {}
                p[1] = (float)f;
            }
            if (q[1] < 0) { size_t f = 0; while (label[f] == label[a]) f++; q[1] = (float)f; }
            pos[a] = (int64_t)p[1];
            neg[a] = (int64_t)q[1];
        }
    }
done:
    free(g); free(vecs); free(best); free(order); free(count); free(first_of);
    return status;
}

/* Mining row by row: blocks of rows through the distance kernel against all
 * n (about 4 Mi floats of scratch), each row reduced at once. Semi-hard
 * needs each row's hardest positive before its negatives, so it goes here. */
static int trihard_mine_rows(losskit_metric metric, const float *x, const int64_t *labels, size_t n, size_t d,
                             losskit_mining mining, int threads, int64_t *pos, int64_t *neg) {
    size_t block = (size_t)4 << 20;
    block = block / n < 1 ? 1 : (block / n > 1024 ? 1024 : block / n);
    float *dist_block = malloc(sizeof(float) * block * n);
    if (!dist_block) return LOSSKIT_ERR_NOMEM;
    int status = LOSSKIT_OK;
    for (size_t r0 = 0; r0 < n && status == LOSSKIT_OK; r0 += block) {
        size_t rows = n - r0 < block ? n - r0 : block;
        status = losskit_pairwise_distance(metric, x + r0 * d, rows, x, n, d, dist_block, threads);
        for (size_t r = 0; r < rows && status == LOSSKIT_OK; r++) {
            size_t a = r0 + r;
            const float *row = dist_block + r * n;
            int64_t p = -1, q = -1, semi = -1;
            for (size_t j = 0; j < n; j++) {
                if (j == a) continue;
                if (labels[j] == labels[a]) { if (p < 0 || th_above(row[j], row[p])) p = (int64_t)j; }
                else if (q < 0 || th_below(row[j], row[q])) q = (int64_t)j;
            }
            if (mining == LOSSKIT_MINING_SEMIHARD && p >= 0)
                for (size_t j = 0; j < n; j++)
                    if (labels[j] != labels[a] && row[j] > row[p] && (semi < 0 || row[j] < row[semi])) semi = (int64_t)j;
            pos[a] = p;
            neg[a] = semi >= 0 ? semi : q;
            if (p < 0 || q < 0) pos[a] = neg[a] = -1;
        }
    }
    free(dist_block);
    return status;
}


/* Mining anchor by anchor straight from the features, in double: for
 * batches with a row outside the float-safe range (|x|^2 would overflow or
 * underflow the SGEMM's float), where the distances exist only in double.
 * The same rules as the other miners (the metric's clamped distance, ties to
 * the lowest index, NaN wins), O(n^2 d) without BLAS: each anchor on its own,
 * so any thread count gives the same choices. */
typedef struct {
    losskit_metric metric;
    losskit_mining mining;
    const float *x;
    const int64_t *labels;
    size_t n, d;
    int64_t *pos, *neg;
} th_direct;

static void th_direct_anchor(void *ctx, size_t a) {
    const th_direct *t = ctx;
    const float *fa = t->x + a * t->d;
    int64_t p = -1, q = -1, semi = -1;
    double dp = 0.0, dq = 0.0, ds = 0.0;
    for (size_t j = 0; j < t->n; j++) {
        if (j == a) continue;
        const double v = dist(t->metric, fa, t->x + j * t->d, t->d).D;
        if (t->labels[j] == t->labels[a]) { if (p < 0 || th_above(v, dp)) { p = (int64_t)j; dp = v; } }
        else if (q < 0 || th_below(v, dq)) { q = (int64_t)j; dq = v; }
    }
    if (t->mining == LOSSKIT_MINING_SEMIHARD && p >= 0)
        for (size_t j = 0; j < t->n; j++) {
            if (t->labels[j] == t->labels[a]) continue;
            const double v = dist(t->metric, fa, t->x + j * t->d, t->d).D;
            if (v > dp && (semi < 0 || v < ds)) { semi = (int64_t)j; ds = v; }
        }
    t->pos[a] = p < 0 || q < 0 ? -1 : p;
    t->neg[a] = p < 0 || q < 0 ? -1 : (semi >= 0 ? semi : q);
}

int losskit_trihard(losskit_metric metric, const float *features, const int64_t *labels, size_t n, size_t d,
                    float margin, int soft_margin, losskit_mining mining, losskit_reduction reduction,
                    float *loss, float *grad, int64_t *hardest_positive, int64_t *hardest_negative, int threads) {
    size_t nd;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(n, d, &nd) && nd <= LK_MAX_FLOATS && n <= INT32_MAX, 4);
    LK_CHECK(features != NULL || nd == 0, 2);
    LK_CHECK(labels != NULL || n == 0, 3);
    LK_CHECK(d >= 1, 5);
    LK_CHECK(soft_margin || (isfinite(margin) && margin >= 0.0f), 6);
    LK_CHECK(mining == LOSSKIT_MINING_HARDEST || mining == LOSSKIT_MINING_SEMIHARD, 8);
    LK_CHECK(lk_reduction_ok(reduction), 9);
    LK_CHECK(threads >= 0, 14);
    if (grad) memset(grad, 0, nd * sizeof(float));
    if (n == 0) { lk_store_reduced(reduction, 0.0, 1.0, loss); return LOSSKIT_OK; }
    int status = LOSSKIT_OK;
    int64_t *pos = malloc(sizeof(int64_t) * n), *neg = malloc(sizeof(int64_t) * n);
    double *per_anchor = malloc(sizeof(double) * n);
    if (!pos || !neg || !per_anchor) { status = LOSSKIT_ERR_NOMEM; goto done; }
    /* batch hard over the upper triangle; semi-hard (or indices past float's
     * 2^24) through whole rows; features outside the float-safe range in double */
    if (mining == LOSSKIT_MINING_HARDEST && n < ((size_t)1 << 24))
        status = trihard_mine_hardest(metric, features, labels, n, d, threads, pos, neg); /* checks the scale */
    else
        status = lk_rows_scale_safe(features, n, d) ? trihard_mine_rows(metric, features, labels, n, d, mining, threads, pos, neg)
                                                    : TH_UNSAFE_SCALE;
    if (status == TH_UNSAFE_SCALE) {
        th_direct t = {.metric = metric, .mining = mining, .x = features, .labels = labels, .n = n, .d = d,
                       .pos = pos, .neg = neg};
        status = lk_parallel_for(n, lk_threads_for(threads, n, 16), th_direct_anchor, &t);
    }
    if (status != LOSSKIT_OK) goto done;
    /* losses and gradients from the chosen pairs, recomputed exactly; in
     * anchor order, so the result does not depend on threads */
    size_t kept = 0;
    for (size_t a = 0; a < n; a++) kept += pos[a] >= 0;
    double scale = reduction == LOSSKIT_REDUCTION_MEAN ? (kept ? 1.0 / (double)kept : 0.0) : 1.0;
    double total = 0.0;
    for (size_t a = 0; a < n; a++) {
        per_anchor[a] = 0.0;
        if (pos[a] < 0) continue;
        const float *fa = features + a * d, *fp = features + pos[a] * d, *fn = features + neg[a] * d;
        dist_t ap = dist(metric, fa, fp, d), an = dist(metric, fa, fn, d);
        double s; /* the batch soft margin has no margin term (reid-strong-baseline's SoftMarginLoss) */
        const double l = lk_triplet_term(ap.D - an.D + (soft_margin ? 0.0 : margin), soft_margin, &s);
        per_anchor[a] = l;
        total += (float)l;
        if (grad) {
            dist_back(metric, fa, fp, d, &ap, s * scale, grad + a * d, grad + pos[a] * d);
            dist_back(metric, fa, fn, d, &an, -s * scale, grad + a * d, grad + neg[a] * d);
        }
    }
    if (loss) {
        if (reduction == LOSSKIT_REDUCTION_NONE) for (size_t a = 0; a < n; a++) loss[a] = (float)per_anchor[a];
        else *loss = (float)(reduction == LOSSKIT_REDUCTION_MEAN ? (kept ? total / (double)kept : 0.0) : total);
    }
    if (hardest_positive) memcpy(hardest_positive, pos, sizeof(int64_t) * n);
    if (hardest_negative) memcpy(hardest_negative, neg, sizeof(int64_t) * n);
done:
    free(pos); free(neg); free(per_anchor);
    return status;
}
