/* Contrastive loss over every query x reference pair, and triplets given by
 * index, of queries against a reference set (losskit_reference.h).
 *
 * Contrastive streams: a block of query rows goes through
 * losskit_pairwise_distance against all m references, each pair's loss and
 * dL/dD are computed in the block, and the block's dL/dD goes through
 * losskit_pairwise_distance_backward. The block's rows of grad_queries are
 * written in place; its share of grad_references is added to the running
 * total block after block, in block order. The block size depends on m only,
 * so the result is bitwise the same at any thread count.
 *
 * Indexed triplets: every triplet's distances, loss and the coefficients of
 * its pairs' gradients in fixed chunks; then each gradient row gathers the
 * terms of the triplets that touch it, in triplet order (a counting sort by
 * row), so rows never race and the order never depends on threads. */
#include "internal.h"
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* ---- shared ------------------------------------------------------------- */

/* The `normalize` option's copies: rows / max(|row|, 1e-12), with the denominators. */
typedef struct { float *rows; double *norm; } rp_normalized;

static int rp_normalize(const float *x, size_t n, size_t d, rp_normalized *out) {
    out->rows = malloc(sizeof(float) * (n * d != 0 ? n * d : 1));
    out->norm = malloc(sizeof(double) * (n ? n : 1));
    if (!out->rows || !out->norm) return LOSSKIT_ERR_NOMEM;
    lk_normalize_rows(x, n, d, out->rows, out->norm);
    return LOSSKIT_OK;
}

static void rp_normalized_free(rp_normalized *r) { free(r->rows); free(r->norm); }

/* ---- contrastive over all pairs ------------------------------------------ */

typedef struct {
    const float *dist;       /* the block's distances [rows, m] */
    float *grad;             /* its dL/dD [rows, m], or NULL (values only) */
    const int64_t *qlabel, *rlabel;
    const size_t *mark_first, *marks; /* per query, the references marked as it (ascending), CSR */
    size_t r0, m;
    float pos_margin, neg_margin;
    int power;
    float pos_scale, neg_scale;       /* gradient scales of the two kinds of pair */
    double *pos_sum, *neg_sum;        /* per row of the block */
    size_t *pos_nonzero, *neg_nonzero;
} cr_block;

/* Columns [j0, j1) of one row: losses into the sums, dL/dD into g. */
static void cr_columns(const cr_block *b, int64_t label, const float *dist, float *g, size_t j0, size_t j1,
                       double sums[2], size_t nonzero[2]) {
    const int64_t *rl = b->rlabel;
    const float pm = b->pos_margin, nm = b->neg_margin;
    for (size_t j = j0; j < j1; j++) {
        const bool same = rl[j] == label;
        const float h = same ? dist[j] - pm : nm - dist[j];
        const float hinge = h < 0.0f ? 0.0f : h; /* NaN stays NaN */
        const float l = b->power == 2 ? hinge * hinge : hinge;
        sums[!same] += l;
        nonzero[!same] += l > 0.0f;
        if (g) {
            /* dl/dh: 1 or 2 h above the hinge, 0 at and below it (0 * h keeps a NaN) */
            const float dl = b->power == 2 ? 2.0f * hinge : (h > 0.0f ? 1.0f : 0.0f * h);
            g[j] = same ? dl * b->pos_scale : -dl * b->neg_scale;
        }
    }
}

static void cr_row(void *ctx, size_t r) {
    const cr_block *b = ctx;
    const size_t i = b->r0 + r, m = b->m;
    const float *dist = b->dist + r * m;
    float *g = b->grad ? b->grad + r * m : NULL;
    double sums[2] = {0.0, 0.0};
    size_t nonzero[2] = {0, 0};
    size_t j0 = 0;
    /* the segments between the references marked as this query; those pairs do not count */
    if (b->marks)
        for (size_t k = b->mark_first[i]; k < b->mark_first[i + 1]; k++) {
            const size_t j = b->marks[k];
            cr_columns(b, b->qlabel[i], dist, g, j0, j, sums, nonzero);
            if (g) g[j] = 0.0f;
            j0 = j + 1;
        }
    cr_columns(b, b->qlabel[i], dist, g, j0, m, sums, nonzero);
    b->pos_sum[r] = sums[0];
    b->neg_sum[r] = sums[1];
    b->pos_nonzero[r] = nonzero[0];
    b->neg_nonzero[r] = nonzero[1];
}

/* Rows per block: about 4 Mi floats of distances (and as many of dL/dD),
 * between 16 and 512 rows; a function of m alone. */
static size_t cr_block_rows(size_t q, size_t m) {
    size_t block = ((size_t)4 << 20) / (m ? m : 1);
    if (block < 16) block = 16;
    if (block > 512) block = 512;
    return block < q ? block : q;
}

/* sum / nonzero, or 0 for no nonzero term (0 * sum: a NaN sum stays NaN) */
static double cr_nonzero_mean(double sum, size_t nonzero) { return nonzero ? sum / (double)nonzero : 0.0 * sum; }

typedef struct {
    losskit_metric metric;
    const float *x, *y;       /* queries and references as the distances see them (normalized copies or the caller's) */
    const float *x_caller;    /* the caller's queries (the normalize backward) */
    rp_normalized qn;         /* the block's normalized queries (normalize only) */
    size_t q, m, d, block;
    int threads;
    cr_block b;
    float *dist, *grad_dist, *grad_ref_block;
    double pos_total, neg_total;
    size_t pos_nonzero, neg_nonzero;
} cr_run;

/* One pass over the blocks: values always; with grads, dL/dD and its backward. */
static int cr_pass(cr_run *c, float *grad_queries, float *grad_references, bool grads) {
    int status = LOSSKIT_OK;
    const size_t m = c->m, d = c->d;
    c->pos_total = c->neg_total = 0.0;
    c->pos_nonzero = c->neg_nonzero = 0;
    for (size_t r0 = 0; r0 < c->q && status == LOSSKIT_OK; r0 += c->block) {
        const size_t rows = c->q - r0 < c->block ? c->q - r0 : c->block;
        const float *xb = c->x + r0 * d;
        if (c->qn.rows) { /* normalize this block's queries */
            lk_normalize_rows(c->x_caller + r0 * d, rows, d, c->qn.rows, c->qn.norm);
            xb = c->qn.rows;
        }
        status = losskit_pairwise_distance(c->metric, xb, rows, c->y, m, d, c->dist, c->threads);
        if (status != LOSSKIT_OK) break;
        c->b.r0 = r0;
        c->b.grad = grads ? c->grad_dist : NULL;
        status = lk_parallel_for(rows, lk_threads_for(c->threads, rows * m, (size_t)1 << 16), cr_row, &c->b);
        if (status != LOSSKIT_OK) break;
        for (size_t r = 0; r < rows; r++) { /* in row order: the totals do not depend on threads */
            c->pos_total += c->b.pos_sum[r];
            c->neg_total += c->b.neg_sum[r];
            c->pos_nonzero += c->b.pos_nonzero[r];
            c->neg_nonzero += c->b.neg_nonzero[r];
        }
        if (!grads) continue;
        /* the first block writes grad_references itself; later ones add theirs to it, in block order */
        float *gy = grad_references ? (r0 == 0 ? grad_references : c->grad_ref_block) : NULL;
        status = losskit_pairwise_distance_backward(c->metric, xb, rows, c->y, m, d, c->dist, c->grad_dist,
                                                    grad_queries ? grad_queries + r0 * d : NULL, gy, c->threads);
        if (status != LOSSKIT_OK) break;
        if (gy && r0 > 0)
            for (size_t k = 0; k < m * d; k++) grad_references[k] += c->grad_ref_block[k];
        if (grad_queries && c->qn.rows) lk_normalize_backward(c->x_caller + r0 * d, c->qn.norm, rows, d, grad_queries + r0 * d);
    }
    return status;
}

int losskit_contrastive_reference(losskit_metric metric, const float *queries, const int64_t *query_labels, size_t q,
                                  const float *references, const int64_t *reference_labels,
                                  const int64_t *reference_query, size_t m, size_t d, float pos_margin,
                                  float neg_margin, int power, int normalize, losskit_pair_reduction reduction,
                                  float *loss, float *grad_queries, float *grad_references, int threads) {
    size_t qd, md, qm;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(q, d, &qd) && qd <= LK_MAX_FLOATS && q <= INT32_MAX, 4);
    LK_CHECK(queries != NULL || qd == 0, 2);
    LK_CHECK(query_labels != NULL || q == 0, 3);
    LK_CHECK(lk_mul_ok(m, d, &md) && md <= LK_MAX_FLOATS && m <= INT32_MAX && lk_mul_ok(q, m, &qm), 8);
    LK_CHECK(references != NULL || md == 0, 5);
    LK_CHECK(reference_labels != NULL || m == 0, 6);
    LK_CHECK(d >= 1 && d <= INT32_MAX, 9);
    if (reference_query)
        for (size_t j = 0; j < m; j++) LK_CHECK(reference_query[j] >= -1 && reference_query[j] < (int64_t)q, 7);
    LK_CHECK(isfinite(pos_margin) && pos_margin >= 0.0f, 10);
    LK_CHECK(isfinite(neg_margin) && neg_margin >= 0.0f, 11);
    LK_CHECK(power == 1 || power == 2, 12);
    LK_CHECK(reduction == LOSSKIT_PAIRS_SUM || reduction == LOSSKIT_PAIRS_MEAN || reduction == LOSSKIT_PAIRS_MEAN_NONZERO, 14);
    LK_CHECK(threads >= 0, 18);
    if (grad_queries) memset(grad_queries, 0, sizeof(float) * qd);
    if (grad_references) memset(grad_references, 0, sizeof(float) * md);
    if (q == 0 || m == 0) {
        if (loss) *loss = 0.0f;
        return LOSSKIT_OK;
    }
    const bool grads = grad_queries || grad_references;
    cr_run c = {.metric = metric, .x = queries, .y = references, .x_caller = queries, .q = q, .m = m, .d = d,
                .block = cr_block_rows(q, m), .threads = threads};
    const size_t block = c.block;
    size_t *mark_first = NULL, *marks = NULL, marked = 0;
    rp_normalized rn = {0};
    int status = LOSSKIT_OK;
    c.dist = malloc(sizeof(float) * block * m * (grads ? 2 : 1));
    double *row_sums = malloc(sizeof(double) * 2 * block);
    size_t *row_counts = malloc(sizeof(size_t) * 2 * block);
    if (!c.dist || !row_sums || !row_counts) { status = LOSSKIT_ERR_NOMEM; goto done; }
    c.grad_dist = grads ? c.dist + block * m : NULL;
    if (grad_references && q > block && !(c.grad_ref_block = malloc(sizeof(float) * md))) { status = LOSSKIT_ERR_NOMEM; goto done; }
    if (reference_query) { /* per query, its marked references in ascending order (a counting sort) */
        mark_first = calloc(q + 1, sizeof(size_t));
        if (!mark_first) { status = LOSSKIT_ERR_NOMEM; goto done; }
        for (size_t j = 0; j < m; j++)
            if (reference_query[j] >= 0) { mark_first[reference_query[j] + 1]++; marked++; }
        for (size_t i = 0; i < q; i++) mark_first[i + 1] += mark_first[i];
        marks = malloc(sizeof(size_t) * (marked ? marked : 1));
        size_t *fill = malloc(sizeof(size_t) * q);
        if (!marks || !fill) { free(fill); status = LOSSKIT_ERR_NOMEM; goto done; }
        memcpy(fill, mark_first, sizeof(size_t) * q);
        for (size_t j = 0; j < m; j++)
            if (reference_query[j] >= 0) marks[fill[reference_query[j]]++] = j;
        free(fill);
    }
    if (normalize) {
        if ((status = rp_normalize(references, m, d, &rn)) != LOSSKIT_OK) goto done;
        c.y = rn.rows;
        c.qn.rows = malloc(sizeof(float) * block * d);
        c.qn.norm = malloc(sizeof(double) * block);
        if (!c.qn.rows || !c.qn.norm) { status = LOSSKIT_ERR_NOMEM; goto done; }
    }
    c.b = (cr_block){.dist = c.dist, .qlabel = query_labels, .rlabel = reference_labels, .mark_first = mark_first,
                     .marks = marked ? marks : NULL, .m = m, .pos_margin = pos_margin, .neg_margin = neg_margin,
                     .power = power, .pos_scale = 1.0f, .neg_scale = 1.0f, .pos_sum = row_sums,
                     .neg_sum = row_sums + block, .pos_nonzero = row_counts, .neg_nonzero = row_counts + block};
    const double counted = (double)qm - (double)marked;
    if (reduction == LOSSKIT_PAIRS_MEAN) c.b.pos_scale = c.b.neg_scale = counted > 0 ? (float)(1.0 / counted) : 0.0f;
    /* MEAN_NONZERO: the gradient scales are 1 / the nonzero counts, known only after every
     * pair has been seen - a first pass counts them (distances only: a third of the work) */
    const bool count_first = reduction == LOSSKIT_PAIRS_MEAN_NONZERO && grads;
    if (count_first) {
        if ((status = cr_pass(&c, NULL, NULL, false)) != LOSSKIT_OK) goto done;
        c.b.pos_scale = c.pos_nonzero ? (float)(1.0 / (double)c.pos_nonzero) : 0.0f;
        c.b.neg_scale = c.neg_nonzero ? (float)(1.0 / (double)c.neg_nonzero) : 0.0f;
    }
    if ((status = cr_pass(&c, grad_queries, grad_references, grads)) != LOSSKIT_OK) goto done;
    if (grad_references && normalize) lk_normalize_backward(references, rn.norm, m, d, grad_references);
    if (loss) {
        const double total = c.pos_total + c.neg_total;
        switch (reduction) {
        case LOSSKIT_PAIRS_SUM: *loss = (float)total; break;
        case LOSSKIT_PAIRS_MEAN: *loss = (float)(counted > 0 ? total / counted : 0.0 * total); break;
        default:
            *loss = (float)(cr_nonzero_mean(c.pos_total, c.pos_nonzero) + cr_nonzero_mean(c.neg_total, c.neg_nonzero));
            break;
        }
    }
done:
    free(c.dist); free(row_sums); free(row_counts); free(c.grad_ref_block); free(mark_first); free(marks);
    rp_normalized_free(&rn);
    rp_normalized_free(&c.qn);
    return status;
}

/* ---- indexed triplets ----------------------------------------------------- */

/* D(u, v) in double, and the factors of its gradient: dD/du = fu u + fv v,
 * dD/dv = gu u + gv v, except the Euclidean forms, which use f (u - v) so
 * that near-coincident rows do not cancel. */
typedef struct { double D, f, fu, fv, gu, gv; } rp_pair;

static rp_pair rp_distance(losskit_metric metric, const float *u, const float *v, size_t d) {
    rp_pair p = {0};
    if (metric != LOSSKIT_METRIC_COSINE) {
        const double d2 = lk_squared_distance(u, v, d);
        if (metric == LOSSKIT_METRIC_SQEUCLIDEAN) {
            p.D = d2;
            p.f = 2.0;
        } else {
            p.D = isnan(d2) ? d2 : sqrt(d2 > 1e-12 ? d2 : 1e-12);
            p.f = d2 > 1e-12 ? 1.0 / p.D : 0.0 * d2; /* the clamp passes no gradient; NaN stays NaN */
        }
        return p;
    }
    double dot = 0.0;
    for (size_t k = 0; k < d; k++) dot += (double)u[k] * v[k];
    const double nu = sqrt(lk_squared_norm(u, d)), nv = sqrt(lk_squared_norm(v, d));
    const double cu = fmax(nu, 1e-8), cv = fmax(nv, 1e-8);
    p.D = 1.0 - dot / (cu * cv);
    if (p.D < LK_PAIR_REPAIR && nu >= 1e-8 && nv >= 1e-8) { /* near-parallel: 1 - cos cancels; half |u^ - v^|^2 does not */
        double s = 0.0;
        for (size_t k = 0; k < d; k++) {
            const double t = u[k] / nu - v[k] / nv;
            s += t * t;
        }
        p.D = 0.5 * s;
    }
    if (isnan(dot) || isnan(nu) || isnan(nv)) p.D = NAN;
    /* D = 1 - dot / (cu cv): dD/du = -v / (cu cv) + dot u / (cu^2 cv |u|) where |u| > 1e-8 (a floored norm is constant) */
    p.fv = p.gu = -1.0 / (cu * cv);
    p.fu = nu > 1e-8 ? dot / (cu * cu * cv * nu) : 0.0;
    p.gv = nv > 1e-8 ? dot / (cu * cv * cv * nv) : 0.0;
    return p;
}

/* A triplet's three pairs: 0 = (anchor, positive), 1 = (anchor, negative),
 * 2 = (positive, negative) (swap only). Per pair its coefficient dL/dD times
 * the reduction's scale, and its gradient factors. */
enum { RP_PAIRS = 3 };
typedef struct { double c[RP_PAIRS]; rp_pair p[RP_PAIRS]; } rp_triplet;

typedef struct {
    losskit_metric metric;
    const float *x, *y;             /* queries and references as the distances see them */
    const int64_t *anchor, *positive, *negative;
    const int64_t *negative2;       /* quadruplets: pair 2 is (negative, negative2); NULL for triplets */
    size_t d;
    double margin, margin2, scale;
    int soft, improved, swap;
    float *loss;                    /* per triplet (NONE) or NULL */
    rp_triplet *rec;                /* per triplet, or NULL (no gradient) */
} tr_ctx;

static double tr_range(void *vc, size_t k0, size_t k1) {
    const tr_ctx *c = vc;
    const size_t d = c->d;
    double acc = 0.0;
    for (size_t k = k0; k < k1; k++) {
        const float *a = c->x + c->anchor[k] * d, *p = c->y + c->positive[k] * d, *n = c->y + c->negative[k] * d;
        rp_triplet t = {.p = {rp_distance(c->metric, a, p, d), rp_distance(c->metric, a, n, d)}};
        if (c->negative2) { /* quadruplet: max(z1, 0) + max(z2, 0) */
            t.p[2] = rp_distance(c->metric, n, c->y + c->negative2[k] * d, d);
            const double z1 = t.p[0].D - t.p[1].D + c->margin, z2 = t.p[0].D - t.p[2].D + c->margin2;
            double s1 = z1 > 0 ? 1.0 : 0.0, s2 = z2 > 0 ? 1.0 : 0.0, l = (z1 > 0 ? z1 : 0.0) + (z2 > 0 ? z2 : 0.0);
            if (isnan(z1) || isnan(z2)) l = s1 = s2 = NAN;
            if (c->loss) c->loss[k] = (float)l;
            acc += (float)l;
            if (c->rec) {
                t.c[0] = (s1 + s2) * c->scale;
                t.c[1] = -s1 * c->scale;
                t.c[2] = -s2 * c->scale;
                c->rec[k] = t;
            }
            continue;
        }
        double dn = t.p[1].D, wn = 1.0, ws = 0.0; /* the negative distance and its split between pairs 1 and 2 */
        if (c->swap) {
            t.p[2] = rp_distance(c->metric, p, n, d);
            /* min(D(a,n), D(p,n)); a tie splits the gradient in halves, as torch.min's backward does */
            if (t.p[2].D < dn) { dn = t.p[2].D; wn = 0.0; ws = 1.0; }
            else if (t.p[2].D == dn) { wn = ws = 0.5; }
            else if (isnan(t.p[2].D)) { dn = t.p[2].D; }
        }
        const double z = t.p[0].D - dn + c->margin;
        double s, l = lk_triplet_term(z, c->soft, &s);
        if (c->improved) l += t.p[0].D;
        if (c->loss) c->loss[k] = (float)l;
        acc += (float)l;
        if (c->rec) {
            t.c[0] = (s + (c->improved ? 1.0 : 0.0)) * c->scale;
            t.c[1] = -s * wn * c->scale;
            t.c[2] = -s * ws * c->scale;
            c->rec[k] = t;
        }
    }
    return acc;
}

/* One gradient row's terms: entries (triplet k, pair, side) in triplet order. */
typedef struct {
    losskit_metric metric;
    const float *x, *y;
    const int64_t *anchor, *positive, *negative, *negative2;
    size_t d, rows;
    const rp_triplet *rec;
    const size_t *first, *entry;    /* CSR by row: entry = 8 k + 2 pair + side (0: u, 1: v) */
    float *grad;                    /* [rows, d] */
    double *acc;                    /* d doubles per task */
} tr_gather;

enum { TR_ROWS_PER_TASK = 32 };

static void tr_gather_rows(void *ctx, size_t task) {
    const tr_gather *gt = ctx;
    const size_t d = gt->d, r0 = task * TR_ROWS_PER_TASK;
    const size_t r1 = r0 + TR_ROWS_PER_TASK < gt->rows ? r0 + TR_ROWS_PER_TASK : gt->rows;
    double *acc = gt->acc + task * d;
    for (size_t r = r0; r < r1; r++) {
        for (size_t k = 0; k < d; k++) acc[k] = 0.0;
        for (size_t e = gt->first[r]; e < gt->first[r + 1]; e++) {
            const size_t code = gt->entry[e], k = code / 8, pair = (code / 2) % 4, side = code % 2;
            const rp_triplet *t = gt->rec + k;
            const double c = t->c[pair];
            if (c == 0.0) continue;
            /* the pair's rows: u is the anchor (a query) for pairs 0 and 1; pair 2 is (positive, negative),
             * or (negative, negative2) for quadruplets */
            const float *u = pair < 2 ? gt->x + gt->anchor[k] * d
                                      : gt->y + (gt->negative2 ? gt->negative[k] : gt->positive[k]) * d;
            const float *v = gt->y + (pair == 0 ? gt->positive[k] : pair == 2 && gt->negative2 ? gt->negative2[k] : gt->negative[k]) * d;
            const rp_pair *p = &t->p[pair];
            if (gt->metric != LOSSKIT_METRIC_COSINE) {
                const double f = side == 0 ? c * p->f : -c * p->f;
                for (size_t l = 0; l < d; l++) acc[l] += f * ((double)u[l] - v[l]);
            } else {
                const double au = c * (side == 0 ? p->fu : p->gu), av = c * (side == 0 ? p->fv : p->gv);
                for (size_t l = 0; l < d; l++) acc[l] += au * u[l] + av * v[l];
            }
        }
        for (size_t k = 0; k < d; k++) gt->grad[r * d + k] = (float)acc[k];
    }
}

/* Counting sort of the terms by row: first [rows + 1], entry [count]. */
static int tr_index(size_t rows, size_t count, const size_t *row_of, const size_t *code, size_t **first, size_t **entry) {
    *first = calloc(rows + 1, sizeof(size_t));
    *entry = malloc(sizeof(size_t) * (count ? count : 1));
    size_t *fill = malloc(sizeof(size_t) * (rows ? rows : 1));
    if (!*first || !*entry || !fill) { free(fill); return LOSSKIT_ERR_NOMEM; }
    for (size_t e = 0; e < count; e++) (*first)[row_of[e] + 1]++;
    for (size_t r = 0; r < rows; r++) (*first)[r + 1] += (*first)[r];
    memcpy(fill, *first, sizeof(size_t) * rows);
    for (size_t e = 0; e < count; e++) (*entry)[fill[row_of[e]]++] = code[e];
    free(fill);
    return LOSSKIT_OK;
}

static int tr_gradient(tr_gather *gt, size_t rows, size_t count, const size_t *row_of, const size_t *code, int threads) {
    size_t *first = NULL, *entry = NULL;
    const size_t tasks = (rows + TR_ROWS_PER_TASK - 1) / TR_ROWS_PER_TASK;
    double *acc = malloc(sizeof(double) * (tasks ? tasks : 1) * gt->d);
    int status = acc ? tr_index(rows, count, row_of, code, &first, &entry) : LOSSKIT_ERR_NOMEM;
    if (status == LOSSKIT_OK) {
        gt->rows = rows;
        gt->first = first;
        gt->entry = entry;
        gt->acc = acc;
        status = lk_parallel_for(tasks, lk_threads_for(threads, count * gt->d, (size_t)1 << 15), tr_gather_rows, gt);
    }
    free(first);
    free(entry);
    free(acc);
    return status;
}

/* Triplets (or quadruplets) by index, arguments checked: c0 carries the metric, indices, margins and options. */
static int tuples_reference(const tr_ctx *c0, const float *queries, size_t q, const float *references, size_t m,
                            size_t t, int normalize, losskit_reduction reduction, float *loss, float *grad_queries,
                            float *grad_references, int threads) {
    const size_t qd = q * c0->d, md = m * c0->d, d = c0->d;
    if (grad_queries) memset(grad_queries, 0, sizeof(float) * qd);
    if (grad_references) memset(grad_references, 0, sizeof(float) * md);
    if (t == 0) { /* no triplet: 0 (a mean over none too, as TriHard's all-skipped batch) */
        if (loss && reduction != LOSSKIT_REDUCTION_NONE) *loss = 0.0f;
        return LOSSKIT_OK;
    }
    const int64_t *anchor = c0->anchor, *positive = c0->positive, *negative = c0->negative, *negative2 = c0->negative2;
    const bool grads = grad_queries || grad_references, swap = c0->swap || negative2;
    rp_normalized qn = {0}, rn = {0};
    rp_triplet *rec = NULL;
    size_t *row_of = NULL, *code = NULL;
    int status = LOSSKIT_OK;
    if (normalize) {
        if ((status = rp_normalize(queries, q, d, &qn)) != LOSSKIT_OK) goto done;
        if ((status = rp_normalize(references, m, d, &rn)) != LOSSKIT_OK) goto done;
    }
    if (grads && !(rec = malloc(sizeof(rp_triplet) * t))) { status = LOSSKIT_ERR_NOMEM; goto done; }
    tr_ctx c = *c0;
    c.x = normalize ? qn.rows : queries;
    c.y = normalize ? rn.rows : references;
    c.scale = reduction == LOSSKIT_REDUCTION_MEAN ? 1.0 / (double)t : 1.0;
    c.loss = reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL;
    c.rec = rec;
    double sum = 0.0;
    const size_t chunk = 256;
    status = lk_chunked_sum(t, chunk, lk_threads_for(threads, t * d, (size_t)1 << 15), tr_range, &c, &sum);
    if (status != LOSSKIT_OK) goto done;
    lk_store_reduced(reduction, sum, (double)t, loss);
    if (!grads) goto done;
    row_of = malloc(sizeof(size_t) * 4 * t);
    code = malloc(sizeof(size_t) * 4 * t);
    if (!row_of || !code) { status = LOSSKIT_ERR_NOMEM; goto done; }
    tr_gather gt = {.metric = c.metric, .x = c.x, .y = c.y, .anchor = anchor, .positive = positive, .negative = negative,
                    .negative2 = negative2, .d = d, .rec = rec};
    if (grad_queries) { /* the anchor's side of pairs 0 and 1 */
        for (size_t k = 0; k < t; k++)
            for (size_t pair = 0; pair < 2; pair++) {
                row_of[2 * k + pair] = (size_t)anchor[k];
                code[2 * k + pair] = 8 * k + 2 * pair;
            }
        gt.grad = grad_queries;
        if ((status = tr_gradient(&gt, q, 2 * t, row_of, code, threads)) != LOSSKIT_OK) goto done;
        if (normalize) lk_normalize_backward(queries, qn.norm, q, d, grad_queries);
    }
    if (grad_references) { /* pair 0's v (positive), pair 1's v (negative), and pair 2 with swap or for quadruplets */
        size_t count = 0;
        for (size_t k = 0; k < t; k++) {
            row_of[count] = (size_t)positive[k]; code[count++] = 8 * k + 1;
            row_of[count] = (size_t)negative[k]; code[count++] = 8 * k + 3;
            if (!swap) continue;
            row_of[count] = (size_t)(negative2 ? negative[k] : positive[k]); code[count++] = 8 * k + 4;
            row_of[count] = (size_t)(negative2 ? negative2[k] : negative[k]); code[count++] = 8 * k + 5;
        }
        gt.grad = grad_references;
        if ((status = tr_gradient(&gt, m, count, row_of, code, threads)) != LOSSKIT_OK) goto done;
        if (normalize) lk_normalize_backward(references, rn.norm, m, d, grad_references);
    }
done:
    rp_normalized_free(&qn);
    rp_normalized_free(&rn);
    free(rec); free(row_of); free(code);
    return status;
}

/* The arguments the indexed losses share: positions 1-6 (metric, queries, q,
 * references, m, d), the tuple count at t_pos and the index arrays from
 * first_index_pos on (the first indexes the queries, the others the
 * references): 0, or minus the position of the first bad one. */
static int check_tuples(losskit_metric metric, const float *queries, size_t q, const float *references, size_t m,
                        size_t d, const int64_t *const *indices, int count, size_t t, int first_index_pos, int t_pos) {
    size_t qd, md;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(q, d, &qd) && qd <= LK_MAX_FLOATS, 3);
    LK_CHECK(queries != NULL || qd == 0, 2);
    LK_CHECK(lk_mul_ok(m, d, &md) && md <= LK_MAX_FLOATS, 5);
    LK_CHECK(references != NULL || md == 0, 4);
    LK_CHECK(d >= 1, 6);
    LK_CHECK(t <= PTRDIFF_MAX / sizeof(rp_triplet), t_pos); /* its scratch's size fits, and so do the codes 8 k + 7 */
    for (int r = 0; r < count; r++) {
        LK_CHECK(indices[r] != NULL || t == 0, first_index_pos + r);
        for (size_t k = 0; k < t; k++)
            LK_CHECK(indices[r][k] >= 0 && (uint64_t)indices[r][k] < (r == 0 ? q : m), first_index_pos + r);
    }
    return LOSSKIT_OK;
}

int losskit_triplet_reference(losskit_metric metric, const float *queries, size_t q, const float *references,
                              size_t m, size_t d, const int64_t *anchor, const int64_t *positive,
                              const int64_t *negative, size_t t, float margin, int soft_margin, int improved,
                              int swap, int normalize, losskit_reduction reduction, float *loss, float *grad_queries,
                              float *grad_references, int threads) {
    const int64_t *indices[3] = {anchor, positive, negative};
    const int bad = check_tuples(metric, queries, q, references, m, d, indices, 3, t, 7, 10);
    if (bad) return bad;
    LK_CHECK(isfinite(margin) && margin >= 0.0f, 11);
    LK_CHECK(lk_reduction_ok(reduction), 16);
    LK_CHECK(threads >= 0, 20);
    const tr_ctx c = {.metric = metric, .anchor = anchor, .positive = positive, .negative = negative, .d = d,
                      .margin = margin, .soft = soft_margin != 0, .improved = improved != 0, .swap = swap != 0};
    return tuples_reference(&c, queries, q, references, m, t, normalize, reduction, loss, grad_queries, grad_references,
                            threads);
}

int losskit_quadruplet_reference(losskit_metric metric, const float *queries, size_t q, const float *references,
                                 size_t m, size_t d, const int64_t *anchor, const int64_t *positive,
                                 const int64_t *negative1, const int64_t *negative2, size_t t, float margin1,
                                 float margin2, int normalize, losskit_reduction reduction, float *loss,
                                 float *grad_queries, float *grad_references, int threads) {
    const int64_t *indices[4] = {anchor, positive, negative1, negative2};
    const int bad = check_tuples(metric, queries, q, references, m, d, indices, 4, t, 7, 11);
    if (bad) return bad;
    LK_CHECK(isfinite(margin1) && margin1 >= 0.0f, 12);
    LK_CHECK(isfinite(margin2) && margin2 >= 0.0f, 13);
    LK_CHECK(lk_reduction_ok(reduction), 15);
    LK_CHECK(threads >= 0, 19);
    const tr_ctx c = {.metric = metric, .anchor = anchor, .positive = positive, .negative = negative1,
                      .negative2 = negative2, .d = d, .margin = margin1, .margin2 = margin2};
    return tuples_reference(&c, queries, q, references, m, t, normalize, reduction, loss, grad_queries, grad_references,
                            threads);
}
