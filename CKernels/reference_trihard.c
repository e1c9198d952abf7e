/* losskit_trihard_reference (losskit_reference.h): TriHard of q queries
 * against m references.
 *
 * Mining, batch hard: blocks of RT_BLOCK queries x chunks of RT_CHUNK
 * references through SGEMM (one tile at a time, never the q x m matrix),
 * each tile reduced at once by a SIMD row reduction (reference_simd.h; its
 * scalar twin rt_tile_scalar) into each query's best positive / negative,
 * carried across chunks in increasing reference order. Pairs whose SGEMM
 * form cancels are recomputed in double (pair_values_simd.h, LK_PAIR_REPAIR),
 * as losskit_trihard does, and so are NaN values (an infinite feature: inf -
 * inf where the distance is +inf), so the choice agrees with float64
 * distances.
 * Threads take (block, range of chunks) units; the units' bests are merged
 * in order. The tiles' shape is fixed and a best is a selection by a total
 * order (NaN, then the value, then the lowest index), so the choice is
 * bitwise the same at any thread count.
 * Semi-hard mining (and indices past float's 2^24) goes row by row through
 * the distance kernel; rows outside the float-safe scale are mined in
 * double, anchor by anchor, as losskit_trihard does.
 * Losses and gradients of the chosen pairs are recomputed exactly, in double,
 * in query order.
 *
 * Scratch: per thread a tile of RT_BLOCK x RT_CHUNK floats (2 MiB) and the
 * rows' lane state (256 KiB); O(q + m) label and norm vectors; with
 * normalize = 1, the normalized copies of the queries and references
 * ((q + m) d floats).
 * Tile shape (4096 x 65,536 x 128, one thread, Zen 4): 1024 x 512 spends
 * ~7% less CPU than 256 x 1024 (the references are packed for the SGEMM
 * once per block of queries: 4 times instead of 16); 2048 x 256 / 1024 x 256
 * are no faster. */
#include "blas.h"
#include "internal.h"
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

#ifndef RT_BLOCK
#define RT_BLOCK ((size_t)1024) /* queries per tile */
#endif
#ifndef RT_CHUNK
#define RT_CHUNK ((size_t)512)  /* references per tile */
#endif
#define RT_LANES 16             /* lane state per row: the widest path's lanes */
#define RT_FLOAT_EXACT ((size_t)1 << 24)

/* What the tile reduction reads. Values are d^2 (the Euclidean forms) or
 * the cosine distance. */
typedef struct {
    losskit_metric metric;
    bool cosine;
    const float *x, *y; /* queries [q, d], references [m, d] */
    size_t d;
    const float *qnorm, *rnorm; /* |x|^2, or 1 / max(|x|, 1e-8) for cosine */
    const float *qlab, *rlab;   /* dense label ids (a query's label absent from the references: -1) */
    const float *rself;         /* reference_query as floats (-1: none) */
} rt_sets;

static double rt_exact(const void *ctx, size_t i, size_t j) {
    const rt_sets *s = ctx;
    lk_dist_t r = lk_dist(s->metric, s->x + i * s->d, s->y + j * s->d, s->d);
    return s->cosine ? r.D : r.d2;
}

/* NaN wins a max or a min (torch.max / torch.min, as losskit_trihard). */
static inline bool rt_above(double v, double best) { return v > best || (isnan(v) && !isnan(best)); }
static inline bool rt_below(double v, double best) { return v < best || (isnan(v) && !isnan(best)); }

/* best = (value, index) takes (v, idx) if it comes first in the total order:
 * NaN, then the larger (want_max) or smaller value, then the lower index.
 * An index < 0 is no candidate. */
static inline void rt_take(float v, float idx, bool want_max, float *best) {
    if (idx < 0) return;
    bool tie = v == best[0] || (isnan(v) && isnan(best[0]));
    bool beats = want_max ? rt_above(v, best[0]) : rt_below(v, best[0]);
    if (best[1] < 0 || beats || (tie && idx < best[1])) { best[0] = v; best[1] = idx; }
}

static void rt_tile_scalar(const rt_sets *s, const float *g, size_t ldg, size_t i0, size_t rows, size_t c0, size_t c1,
                           float *state) {
    for (size_t r = 0; r < rows; r++) {
        const size_t i = i0 + r;
        const float *row = g + r * ldg - c0;
        float *st = state + r * 4 * RT_LANES;
        float pv = st[0], pi = st[RT_LANES], nv = st[2 * RT_LANES], ni = st[3 * RT_LANES];
        const float qn = s->qnorm[i], li = s->qlab[i], fi = (float)i;
        for (size_t j = c0; j < c1; j++) {
            float v; /* as pair_values: the same float operations, the same repair */
            if (s->cosine) {
                v = fmaf(-(row[j] * qn), s->rnorm[j], 1.0f);
                if (v < (float)LK_PAIR_REPAIR) v = (float)rt_exact(s, i, j);
            } else {
                float sum = qn + s->rnorm[j];
                v = sum + row[j];
                if (v < sum * (float)LK_PAIR_REPAIR) v = (float)rt_exact(s, i, j);
            }
            if (isnan(v)) v = (float)rt_exact(s, i, j); /* inf - inf where the distance is +inf */
            /* strict comparisons over increasing j: the lowest index wins ties */
            if (s->rlab[j] == li && s->rself[j] != fi && rt_above(v, pv)) { pv = v; pi = (float)j; }
            if (s->rlab[j] != li && rt_below(v, nv)) { nv = v; ni = (float)j; }
        }
        st[0] = pv; st[RT_LANES] = pi; st[2 * RT_LANES] = nv; st[3 * RT_LANES] = ni;
    }
}

#define LK_SIMD_TEMPLATE "pair_values_simd.h"
#define LK_SIMD_TEMPLATE_2 "reference_simd.h"
#include "simd_each_isa.h"

/* ---- batch-hard mining through SGEMM tiles -------------------------------- */

/* One round: `blocks` query blocks from first_block on, each split into
 * `parts` ranges of chunks; unit u = (block u / parts, range u % parts)
 * owns a tile and a lane state, and leaves its rows' bests in best. */
typedef struct {
    const rt_sets *s;
    losskit_isa path;
    size_t q, m, parts, nchunks, first_block;
    float *tiles; /* [units][RT_BLOCK * RT_CHUNK] */
    float *lanes; /* [units][RT_BLOCK][4 * RT_LANES] */
    float *best;  /* [units][RT_BLOCK][4]: positive value, index, negative value, index */
} rt_round;

static void rt_unit(void *ctx, size_t u) {
    const rt_round *R = ctx;
    const rt_sets *s = R->s;
    const size_t i0 = (R->first_block + u / R->parts) * RT_BLOCK, part = u % R->parts;
    float *best = R->best + u * RT_BLOCK * 4;
    if (i0 >= R->q) return;
    const size_t rows = R->q - i0 < RT_BLOCK ? R->q - i0 : RT_BLOCK;
    const size_t ch0 = part * R->nchunks / R->parts, ch1 = (part + 1) * R->nchunks / R->parts;
    float *tile = R->tiles + u * RT_BLOCK * RT_CHUNK, *lanes = R->lanes + u * RT_BLOCK * 4 * RT_LANES;
    for (size_t r = 0; r < rows; r++)
        for (int l = 0; l < RT_LANES; l++) {
            float *st = lanes + r * 4 * RT_LANES + l;
            st[0] = -INFINITY; st[RT_LANES] = -1.0f; st[2 * RT_LANES] = INFINITY; st[3 * RT_LANES] = -1.0f;
        }
    for (size_t ch = ch0; ch < ch1; ch++) {
        const size_t c0 = ch * RT_CHUNK, c1 = c0 + RT_CHUNK < R->m ? c0 + RT_CHUNK : R->m, cols = c1 - c0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)s->d, s->cosine ? 1.0f : -2.0f,
                    s->x + i0 * s->d, (int)s->d, s->y + c0 * s->d, (int)s->d, 0.0f, tile, (int)cols);
        switch (R->path) {
#if LK_X86
        case LOSSKIT_ISA_AVX512: rt_tile_avx512(s, tile, cols, i0, rows, c0, c1, lanes); break;
        case LOSSKIT_ISA_AVX2: rt_tile_avx2(s, tile, cols, i0, rows, c0, c1, lanes); break;
#elif LK_ARM64
        case LOSSKIT_ISA_NEON: rt_tile_neon(s, tile, cols, i0, rows, c0, c1, lanes); break;
#endif
        default: rt_tile_scalar(s, tile, cols, i0, rows, c0, c1, lanes); break;
        }
    }
    for (size_t r = 0; r < rows; r++) {
        const float *st = lanes + r * 4 * RT_LANES;
        float *b = best + 4 * r;
        b[0] = -INFINITY; b[1] = -1.0f; b[2] = INFINITY; b[3] = -1.0f;
        for (int l = 0; l < RT_LANES; l++) {
            rt_take(st[l], st[RT_LANES + l], true, b);
            rt_take(st[2 * RT_LANES + l], st[3 * RT_LANES + l], false, b + 2);
        }
    }
}

/* pos / neg [q] <- each query's best candidate index, -1 when none won (no
 * candidate, or every negative at +inf: the caller resolves those). */
static int rt_mine_tiles(const rt_sets *s, size_t q, size_t m, int threads, int64_t *pos, int64_t *neg) {
    const size_t nblocks = (q + RT_BLOCK - 1) / RT_BLOCK, nchunks = (m + RT_CHUNK - 1) / RT_CHUNK;
    const int nthreads = lk_threads_for(threads, nblocks * nchunks, 1);
    const size_t parts = (size_t)nthreads < nchunks ? (size_t)nthreads : nchunks;
    size_t per_round = ((size_t)nthreads + parts - 1) / parts; /* blocks per round */
    if (per_round > nblocks) per_round = nblocks;
    const size_t units = per_round * parts;
    rt_round R = {.s = s, .path = lk_isa_path(), .q = q, .m = m, .parts = parts, .nchunks = nchunks,
                  .tiles = malloc(sizeof(float) * units * RT_BLOCK * RT_CHUNK),
                  .lanes = malloc(sizeof(float) * units * RT_BLOCK * 4 * RT_LANES),
                  .best = malloc(sizeof(float) * units * RT_BLOCK * 4)};
    int status = R.tiles && R.lanes && R.best ? LOSSKIT_OK : LOSSKIT_ERR_NOMEM;
    lk_blas_set_threads(1); /* the units run on LossKit's threads, one SGEMM each */
    for (size_t b0 = 0; b0 < nblocks && status == LOSSKIT_OK; b0 += per_round) {
        R.first_block = b0;
        status = lk_parallel_for(units, nthreads, rt_unit, &R);
        for (size_t u = 0; u < units && status == LOSSKIT_OK; u += parts) {
            const size_t i0 = (b0 + u / parts) * RT_BLOCK;
            for (size_t r = 0; i0 < q && r < RT_BLOCK && i0 + r < q; r++) {
                float p[2] = {-INFINITY, -1.0f}, n[2] = {INFINITY, -1.0f};
                for (size_t k = 0; k < parts; k++) { /* ranges in increasing reference order */
                    const float *b = R.best + ((u + k) * RT_BLOCK + r) * 4;
                    rt_take(b[0], b[1], true, p);
                    rt_take(b[2], b[3], false, n);
                }
                pos[i0 + r] = (int64_t)p[1];
                neg[i0 + r] = (int64_t)n[1];
            }
        }
    }
    free(R.tiles); free(R.lanes); free(R.best);
    return status;
}

/* ---- row by row: semi-hard, huge index ranges, rows outside float's scale -- */

typedef struct {
    losskit_metric metric;
    losskit_mining mining;
    const float *x, *y;
    const int64_t *qlabels, *rlabels, *rq;
    size_t m, d, r0;
    const float *dist; /* the block's distance rows [rows][m], or NULL: in double from the features */
    int64_t *pos, *neg;
} rt_rows;

static inline double rt_row_value(const rt_rows *t, size_t a, size_t r, size_t j) {
    return t->dist ? (double)t->dist[r * t->m + j] : lk_dist(t->metric, t->x + a * t->d, t->y + j * t->d, t->d).D;
}

/* Query r0 + r: hardest positive, then the negative by the mining rule. */
static void rt_row(void *ctx, size_t r) {
    const rt_rows *t = ctx;
    const size_t a = t->r0 + r;
    const int64_t la = t->qlabels[a];
    int64_t p = -1, n = -1, semi = -1;
    double dp = 0.0, dn = 0.0, ds = 0.0;
    for (size_t j = 0; j < t->m; j++) {
        const bool same = t->rlabels[j] == la;
        if (same && t->rq && t->rq[j] == (int64_t)a) continue;
        const double v = rt_row_value(t, a, r, j);
        if (same) { if (p < 0 || rt_above(v, dp)) { p = (int64_t)j; dp = v; } }
        else if (n < 0 || rt_below(v, dn)) { n = (int64_t)j; dn = v; }
    }
    if (t->mining == LOSSKIT_MINING_SEMIHARD && p >= 0)
        for (size_t j = 0; j < t->m; j++) {
            if (t->rlabels[j] == la) continue;
            const double v = rt_row_value(t, a, r, j);
            if (v > dp && (semi < 0 || v < ds)) { semi = (int64_t)j; ds = v; }
        }
    t->pos[a] = p;
    t->neg[a] = semi >= 0 ? semi : n;
}

/* Blocks of queries through the distance kernel against all m (about 4 Mi
 * floats of scratch), or every pair in double (`direct`). */
static int rt_mine_rows(rt_rows *t, size_t q, bool direct, int threads) {
    if (direct) {
        t->r0 = 0;
        return lk_parallel_for(q, lk_threads_for(threads, q, 16), rt_row, t);
    }
    size_t block = ((size_t)4 << 20) / t->m;
    block = block < 1 ? 1 : (block > 1024 ? 1024 : block);
    float *dist = malloc(sizeof(float) * block * t->m);
    if (!dist) return LOSSKIT_ERR_NOMEM;
    t->dist = dist;
    int status = LOSSKIT_OK;
    for (size_t r0 = 0; r0 < q && status == LOSSKIT_OK; r0 += block) {
        const size_t rows = q - r0 < block ? q - r0 : block;
        status = losskit_pairwise_distance(t->metric, t->x + r0 * t->d, rows, t->y, t->m, t->d, dist, threads);
        t->r0 = r0;
        if (status == LOSSKIT_OK) status = lk_parallel_for(rows, lk_threads_for(threads, rows, 16), rt_row, t);
    }
    free(dist);
    return status;
}

/* ---- labels ------------------------------------------------------------------ */

typedef struct { int64_t label; size_t index; } rt_labelled;

static int rt_by_label(const void *a, const void *b) {
    const rt_labelled *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* Dense ids of the reference labels (rlab) and of the query labels (qlab,
 * -1 where no reference has it); per query whether it has a positive (a
 * reference of its label not marked as itself) and a negative. */
static int rt_labels(const int64_t *qlabels, size_t q, const int64_t *rlabels, const int64_t *rq, size_t m, float *qlab,
                     float *rlab, bool *has_pos, bool *has_neg) {
    rt_labelled *order = malloc(sizeof(rt_labelled) * (m ? m : 1));
    size_t *count = malloc(sizeof(size_t) * (m ? m : 1)), *marked = calloc(q ? q : 1, sizeof(size_t));
    if (!order || !count || !marked) { free(order); free(count); free(marked); return LOSSKIT_ERR_NOMEM; }
    for (size_t j = 0; j < m; j++) order[j] = (rt_labelled){rlabels[j], j};
    qsort(order, m, sizeof(rt_labelled), rt_by_label);
    size_t ids = 0;
    for (size_t k = 0; k < m; k++) {
        if (k > 0 && order[k].label != order[k - 1].label) ids++;
        rlab[order[k].index] = (float)ids;
        count[ids] = k > 0 && order[k].label == order[k - 1].label ? count[ids] + 1 : 1;
    }
    for (size_t a = 0; a < q; a++) {
        size_t lo = 0, hi = m; /* the first sorted entry with label >= the query's */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (order[mid].label < qlabels[a]) lo = mid + 1; else hi = mid;
        }
        qlab[a] = lo < m && order[lo].label == qlabels[a] ? rlab[order[lo].index] : -1.0f;
    }
    if (rq)
        for (size_t j = 0; j < m; j++)
            if (rq[j] >= 0 && rlabels[j] == qlabels[rq[j]]) marked[rq[j]]++;
    for (size_t a = 0; a < q; a++) {
        const size_t c = qlab[a] < 0 ? 0 : count[(size_t)qlab[a]];
        has_pos[a] = c > marked[a];
        has_neg[a] = c < m;
    }
    free(order); free(count); free(marked);
    return LOSSKIT_OK;
}

/* The lowest-index candidate of query a: every one tied (all negatives at
 * +inf: a min over them keeps none). */
static int64_t rt_first(const int64_t *rlabels, const int64_t *rq, size_t m, int64_t la, size_t a, bool positive) {
    for (size_t j = 0; j < m; j++) {
        const bool same = rlabels[j] == la;
        if (positive ? same && !(rq && rq[j] == (int64_t)a) : !same) return (int64_t)j;
    }
    return -1;
}

/* ---- the entry point ------------------------------------------------------- */

int losskit_trihard_reference(losskit_metric metric, const float *queries, const int64_t *query_labels, size_t q,
                              const float *references, const int64_t *reference_labels,
                              const int64_t *reference_query, size_t m, size_t d, float margin, int soft_margin,
                              int normalize, losskit_mining mining, losskit_reduction reduction, size_t mean_count,
                              float *loss, float *grad_queries, float *grad_references, int64_t *hardest_positive,
                              int64_t *hardest_negative, int threads) {
    size_t qd, md;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(q, d, &qd) && qd <= LK_MAX_FLOATS && q <= INT32_MAX, 4);
    LK_CHECK(queries != NULL || qd == 0, 2);
    LK_CHECK(query_labels != NULL || q == 0, 3);
    LK_CHECK(lk_mul_ok(m, d, &md) && md <= LK_MAX_FLOATS && m <= INT32_MAX, 8);
    LK_CHECK(references != NULL || md == 0, 5);
    LK_CHECK(reference_labels != NULL || m == 0, 6);
    LK_CHECK(d >= 1 && d <= INT32_MAX, 9);
    if (reference_query)
        for (size_t j = 0; j < m; j++) LK_CHECK(reference_query[j] >= -1 && reference_query[j] < (int64_t)q, 7);
    LK_CHECK(isfinite(margin) && margin >= 0.0f, 10);
    LK_CHECK(soft_margin == 0 || soft_margin == 1, 11);
    LK_CHECK(normalize == 0 || normalize == 1, 12);
    LK_CHECK(mining == LOSSKIT_MINING_HARDEST || mining == LOSSKIT_MINING_SEMIHARD, 13);
    LK_CHECK(lk_reduction_ok(reduction), 14);
    LK_CHECK(threads >= 0, 21);

    if (grad_queries) memset(grad_queries, 0, qd * sizeof(float));
    if (grad_references) lk_zero_streaming(grad_references, md);
    const bool cosine = metric == LOSSKIT_METRIC_COSINE;
    int status = LOSSKIT_OK;
    int64_t *pos = malloc(sizeof(int64_t) * (q ? q : 1)), *neg = malloc(sizeof(int64_t) * (q ? q : 1));
    float *vecs = malloc(sizeof(float) * (2 * q + 3 * m + 1));
    bool *has = malloc(2 * q + 1);
    float *copies = NULL;
    double *norms = NULL;
    if (!pos || !neg || !vecs || !has) { status = LOSSKIT_ERR_NOMEM; goto done; }
    float *qnorm = vecs, *qlab = vecs + q, *rnorm = vecs + 2 * q, *rlab = rnorm + m, *rself = rlab + m;
    bool *has_pos = has, *has_neg = has + q;
    const float *x = queries, *y = references;
    if (normalize && q + m > 0) { /* the losses run on normalized copies; the gradients chain back at the end */
        copies = malloc(sizeof(float) * (qd + md));
        norms = malloc(sizeof(double) * (q + m));
        if (!copies || !norms) { status = LOSSKIT_ERR_NOMEM; goto done; }
        lk_normalize_rows(queries, q, d, copies, norms);
        lk_normalize_rows(references, m, d, copies + qd, norms + q);
        x = copies;
        y = copies + qd;
    }
    status = rt_labels(query_labels, q, reference_labels, reference_query, m, qlab, rlab, has_pos, has_neg);
    if (status != LOSSKIT_OK) goto done;

    /* mining: batch hard through SGEMM tiles; semi-hard (or indices past
     * float's 2^24) row by row; rows outside the float-safe scale in double */
    bool safe = true;
    for (size_t i = 0; i < q; i++) {
        const double sq = lk_squared_norm(x + i * d, d);
        safe = safe && lk_scale_safe(sq);
        qnorm[i] = cosine ? (float)(1.0 / fmax(sqrt(sq), 1e-8)) : (float)sq;
    }
    for (size_t j = 0; j < m; j++) {
        const double sq = lk_squared_norm(y + j * d, d);
        safe = safe && lk_scale_safe(sq);
        rnorm[j] = cosine ? (float)(1.0 / fmax(sqrt(sq), 1e-8)) : (float)sq;
        rself[j] = reference_query ? (float)reference_query[j] : -1.0f;
    }
    if (q > 0 && m > 0) {
        if (safe && mining == LOSSKIT_MINING_HARDEST && q < RT_FLOAT_EXACT && m < RT_FLOAT_EXACT) {
            rt_sets s = {.metric = metric, .cosine = cosine, .x = x, .y = y, .d = d, .qnorm = qnorm, .rnorm = rnorm,
                         .qlab = qlab, .rlab = rlab, .rself = rself};
            status = rt_mine_tiles(&s, q, m, threads, pos, neg);
        } else {
            rt_rows t = {.metric = metric, .mining = mining, .x = x, .y = y, .qlabels = query_labels,
                         .rlabels = reference_labels, .rq = reference_query, .m = m, .d = d, .pos = pos, .neg = neg};
            status = rt_mine_rows(&t, q, !safe, threads);
        }
        if (status != LOSSKIT_OK) goto done;
    }
    size_t kept = 0;
    for (size_t a = 0; a < q; a++) {
        if (!has_pos[a] || !has_neg[a]) { pos[a] = neg[a] = -1; continue; }
        if (pos[a] < 0) pos[a] = rt_first(reference_labels, reference_query, m, query_labels[a], a, true);
        if (neg[a] < 0) neg[a] = rt_first(reference_labels, reference_query, m, query_labels[a], a, false);
        kept++;
    }

    /* losses and gradients of the chosen pairs, recomputed exactly; in query
     * order, so the result does not depend on threads */
    const double divisor = reduction == LOSSKIT_REDUCTION_MEAN ? (double)(mean_count > 0 ? mean_count : kept) : 1.0;
    const double scale = divisor > 0 ? 1.0 / divisor : 0.0;
    double total = 0.0;
    for (size_t a = 0; a < q; a++) {
        double l = 0.0;
        if (pos[a] >= 0) {
            const float *fa = x + a * d, *fp = y + pos[a] * d, *fn = y + neg[a] * d;
            lk_dist_t ap = lk_dist(metric, fa, fp, d), an = lk_dist(metric, fa, fn, d);
            const double z = ap.D - an.D + margin;
            double s;
            l = lk_triplet_term(z, soft_margin, &s);
            total += (float)l;
            lk_dist_back(metric, fa, fp, d, &ap, s * scale, grad_queries ? grad_queries + a * d : NULL,
                         grad_references ? grad_references + pos[a] * d : NULL);
            lk_dist_back(metric, fa, fn, d, &an, -s * scale, grad_queries ? grad_queries + a * d : NULL,
                         grad_references ? grad_references + neg[a] * d : NULL);
        }
        if (loss && reduction == LOSSKIT_REDUCTION_NONE) loss[a] = (float)l;
    }
    if (loss && reduction != LOSSKIT_REDUCTION_NONE)
        *loss = (float)(reduction == LOSSKIT_REDUCTION_MEAN ? (divisor > 0 ? total / divisor : 0.0) : total);
    if (normalize) {
        if (grad_queries) lk_normalize_backward(queries, norms, q, d, grad_queries);
        if (grad_references) lk_normalize_backward(references, norms + q, m, d, grad_references);
    }
    if (hardest_positive) memcpy(hardest_positive, pos, sizeof(int64_t) * q);
    if (hardest_negative) memcpy(hardest_negative, neg, sizeof(int64_t) * q);
done:
    free(pos); free(neg); free(vecs); free(has); free(copies); free(norms);
    return status;
}
