/* Re-identification evaluation: CMC / mAP by counting, k-reciprocal re-ranking
 * over streamed neighbour lists. */
#include "internal.h"
#include <float.h>
#include <stdlib.h>
#include <string.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* ---- ranking one query ------------------------------------------------- */

/* (d, index) order: ascending distance, NaN after every number, ties by index. */
static inline bool key_less(float da, size_t ia, float db, size_t ib) {
    bool na = isnan(da), nb = isnan(db);
    if (na || nb) return na == nb ? ia < ib : nb;
    return da < db || (da == db && ia < ib);
}

typedef struct {
    const float *dist; /* row-major, row stride g */
    size_t row0;       /* labels index of the block's first row */
    size_t g;
    losskit_reid_labels labels;
    int ap_kind;
    double *ap;          /* [q] */
    int64_t *first;      /* [q] */
    size_t rows_per_task, rows;
} rank_job;

/* Workspace of one task: the query's matches and their histogram. */
typedef struct {
    size_t *idx;
    float *d;
    size_t *before;
    size_t cap;
} rank_space;

static bool rank_space_grow(rank_space *s, size_t need) {
    if (need <= s->cap) return true;
    size_t cap = need < 64 ? 64 : need;
    size_t *idx = realloc(s->idx, cap * sizeof(size_t));
    if (idx) s->idx = idx;
    float *d = realloc(s->d, cap * sizeof(float));
    if (d) s->d = d;
    size_t *before = realloc(s->before, (cap + 1) * sizeof(size_t));
    if (before) s->before = before;
    if (!idx || !d || !before) return false;
    s->cap = cap;
    return true;
}

/* Insertion sort of the matches by key (few per query; already in index order). */
static void sort_matches(float *d, size_t *idx, size_t p) {
    for (size_t a = 1; a < p; a++) {
        float dv = d[a];
        size_t iv = idx[a], b = a;
        while (b > 0 && key_less(dv, iv, d[b - 1], idx[b - 1])) { d[b] = d[b - 1]; idx[b] = idx[b - 1]; b--; }
        d[b] = dv;
        idx[b] = iv;
    }
}

/* Ranks query `qi`'s matches in `row`; writes its AP (NaN: skipped) and first-match rank (-1). */
static bool rank_query(const rank_job *j, size_t qi, const float *row, rank_space *s) {
    const int64_t qid = j->labels.query_ids[qi], qcam = j->labels.query_cams[qi];
    const int64_t *gid = j->labels.gallery_ids, *gcam = j->labels.gallery_cams;
    size_t p = 0;
    for (size_t c = 0; c < j->g; c++) {
        if (gid[c] != qid || gid[c] == -1 || gcam[c] == qcam) continue;
        if (p == s->cap && !rank_space_grow(s, 2 * s->cap)) return false;
        s->idx[p] = c;
        s->d[p] = row[c];
        p++;
    }
    if (p == 0) { j->ap[qi] = NAN; j->first[qi] = -1; return true; }
    sort_matches(s->d, s->idx, p);
    size_t *hist = s->before; /* hist[k]: valid non-matches ranked before match k and after match k - 1 */
    memset(hist, 0, (p + 1) * sizeof(size_t));
    const float dmax = s->d[p - 1];
    const size_t imax = s->idx[p - 1];
    const bool fast = !isnan(dmax);
    if (fast && p <= 64) {
        /* no NaN among the matches; a NaN entry fails v <= dmax. hist[number of matches before entry c]++,
         * counted without branches (a few dozen matches: cheaper than a mispredicted binary search) */
        for (size_t c = 0; c < j->g; c++) {
            float v = row[c];
            if (!(v <= dmax)) continue; /* after the last match */
            if (gid[c] == -1 || gid[c] == qid) continue; /* junk, a match, or same identity and camera */
            if (v == dmax && c > imax) continue;
            size_t before = 0;
            for (size_t k = 0; k < p; k++) before += (s->d[k] < v) | ((s->d[k] == v) & (s->idx[k] < c));
            hist[before]++;
        }
    } else { /* NaN among the matches, or many matches: a binary search per entry */
        for (size_t c = 0; c < j->g; c++) {
            float v = row[c];
            if (fast && !(v <= dmax)) continue;
            if (gid[c] == -1 || gid[c] == qid) continue;
            if (!key_less(v, c, dmax, imax)) continue;
            /* lower bound: the first match whose key is greater */
            size_t lo = 0, hi = p - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (key_less(v, c, s->d[mid], s->idx[mid])) hi = mid; else lo = mid + 1;
            }
            hist[lo]++;
        }
    }
    double ap = 0.0;
    size_t before = 0;
    for (size_t k = 0; k < p; k++) {
        before += hist[k];
        size_t rank = k + before; /* 0-based */
        if (k == 0) j->first[qi] = (int64_t)rank;
        double precision = (double)(k + 1) / (double)(rank + 1);
        if (j->ap_kind == LOSSKIT_REID_AP_MARKET) {
            double previous = rank == 0 ? 1.0 : (double)k / (double)rank;
            ap += (previous + precision) / 2.0;
        } else {
            ap += precision;
        }
    }
    j->ap[qi] = ap / (double)p;
    return true;
}

static void rank_task(void *ctx, size_t task) {
    rank_job *j = ctx;
    size_t r0 = task * j->rows_per_task, r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    rank_space s = {0};
    bool ok = rank_space_grow(&s, 64);
    for (size_t r = r0; r < r1; r++) {
        if (!ok || !rank_query(j, j->row0 + r, j->dist + r * j->g, &s)) {
            ok = false;
            j->ap[j->row0 + r] = NAN;
            j->first[j->row0 + r] = INT64_MIN; /* marks an allocation failure */
        }
    }
    free(s.idx);
    free(s.d);
    free(s.before);
}

static int rank_rows(const float *dist, size_t row0, size_t rows, size_t g, losskit_reid_labels labels, int ap_kind,
                     double *ap, int64_t *first, int threads) {
    rank_job job = {.dist = dist, .row0 = row0, .g = g, .labels = labels, .ap_kind = ap_kind, .ap = ap,
                    .first = first, .rows_per_task = 16, .rows = rows};
    int nthreads = lk_threads_for(threads, rows * (g / 1024 + 1), 64);
    int status = lk_parallel_for((rows + job.rows_per_task - 1) / job.rows_per_task, nthreads, rank_task, &job);
    if (status != LOSSKIT_OK) return status;
    for (size_t r = 0; r < rows; r++)
        if (first[row0 + r] == INT64_MIN) return LOSSKIT_ERR_NOMEM;
    return LOSSKIT_OK;
}

/* The aggregate in query order, in double. */
static void summarize(const double *ap, const int64_t *first, size_t q, losskit_reid_scores *s) {
    size_t evaluated = 0;
    double sum = 0.0;
    if (s->cmc) memset(s->cmc, 0, s->max_rank * sizeof(double));
    for (size_t i = 0; i < q; i++) {
        if (first[i] < 0) continue;
        evaluated++;
        sum += ap[i];
        if (s->cmc)
            for (size_t r = (size_t)first[i]; r < s->max_rank; r++) s->cmc[r] += 1.0;
    }
    if (s->cmc)
        for (size_t r = 0; r < s->max_rank; r++) s->cmc[r] = evaluated ? s->cmc[r] / (double)evaluated : NAN;
    s->map = evaluated ? sum / (double)evaluated : NAN;
    s->evaluated = evaluated;
}

static int check_labels(losskit_reid_labels l, size_t q, size_t g) {
    if ((!l.query_ids || !l.query_cams) && q > 0) return 1;
    if ((!l.gallery_ids || !l.gallery_cams) && g > 0) return 1;
    return 0;
}

/* Per-query outputs: the caller's, or scratch. */
static int per_query_buffers(losskit_reid_scores *s, size_t q, double **ap, int64_t **first, void **owned) {
    *owned = NULL;
    *ap = s->ap;
    *first = s->first_match;
    size_t need = (s->ap ? 0 : q * sizeof(double)) + (s->first_match ? 0 : q * sizeof(int64_t));
    if (need == 0) return LOSSKIT_OK;
    char *mem = malloc(need);
    if (!mem) return LOSSKIT_ERR_NOMEM;
    *owned = mem;
    if (!s->ap) { *ap = (double *)mem; mem += q * sizeof(double); }
    if (!s->first_match) *first = (int64_t *)mem;
    return LOSSKIT_OK;
}

int losskit_reid_evaluate_distances(const float *dist, size_t q, size_t g, losskit_reid_labels labels, int ap_kind,
                                    losskit_reid_scores *scores, int threads) {
    size_t qg;
    LK_CHECK(lk_mul_ok(q, g, &qg) && qg <= LK_MAX_FLOATS, 3);
    LK_CHECK(dist != NULL || qg == 0, 1);
    LK_CHECK(check_labels(labels, q, g) == 0, 4);
    LK_CHECK(ap_kind == LOSSKIT_REID_AP_MEAN_PRECISION || ap_kind == LOSSKIT_REID_AP_MARKET, 5);
    LK_CHECK(scores != NULL && (scores->cmc != NULL || scores->max_rank == 0), 6);
    LK_CHECK(threads >= 0, 7);
    double *ap;
    int64_t *first;
    void *owned;
    int status = per_query_buffers(scores, q, &ap, &first, &owned);
    if (status != LOSSKIT_OK) return status;
    status = rank_rows(dist, 0, q, g, labels, ap_kind, ap, first, threads);
    if (status == LOSSKIT_OK) summarize(ap, first, q, scores);
    free(owned);
    return status;
}

/* ---- features ------------------------------------------------------------ */

/* Rows of src [n, d] divided by max(|row|, 1e-12) (torch F.normalize) into dst. */
static void normalize_rows(const float *src, float *dst, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++) {
        double norm = sqrt(lk_squared_norm(src + i * d, d));
        float div = (float)(norm > 1e-12 ? norm : (isnan(norm) ? norm : 1e-12));
        for (size_t k = 0; k < d; k++) dst[i * d + k] = src[i * d + k] / div;
    }
}

typedef struct {
    const float *src;
    float *dst;
    size_t n, d, per;
} normalize_job;

static void normalize_task(void *ctx, size_t t) {
    const normalize_job *j = ctx;
    size_t r0 = t * j->per, r1 = r0 + j->per < j->n ? r0 + j->per : j->n;
    normalize_rows(j->src + r0 * j->d, j->dst + r0 * j->d, r1 - r0, j->d);
}

static int normalize_parallel(const float *src, float *dst, size_t n, size_t d, int threads) {
    normalize_job job = {.src = src, .dst = dst, .n = n, .d = d, .per = 256};
    return lk_parallel_for((n + 255) / 256, lk_threads_for(threads, n * d, 1 << 18), normalize_task, &job);
}

#define REID_QUERY_BLOCK 256

int losskit_reid_evaluate_features(int metric, int normalize, const float *qf, size_t q, const float *gf, size_t g,
                                   size_t d, losskit_reid_labels labels, int ap_kind, losskit_reid_scores *scores,
                                   float *distances, int threads) {
    size_t qd, gd, qg;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(q, d, &qd) && qd <= LK_MAX_FLOATS && q <= INT32_MAX, 4);
    LK_CHECK(qf != NULL || qd == 0, 3);
    LK_CHECK(lk_mul_ok(g, d, &gd) && gd <= LK_MAX_FLOATS && g <= INT32_MAX, 6);
    LK_CHECK(gf != NULL || gd == 0, 5);
    LK_CHECK(d >= 1 && d <= INT32_MAX, 7);
    LK_CHECK(lk_mul_ok(q, g, &qg) && qg <= LK_MAX_FLOATS, 6);
    LK_CHECK(check_labels(labels, q, g) == 0, 8);
    LK_CHECK(ap_kind == LOSSKIT_REID_AP_MEAN_PRECISION || ap_kind == LOSSKIT_REID_AP_MARKET, 9);
    LK_CHECK(scores != NULL && (scores->cmc != NULL || scores->max_rank == 0), 10);
    LK_CHECK(threads >= 0, 12);
    double *ap;
    int64_t *first;
    void *owned;
    int status = per_query_buffers(scores, q, &ap, &first, &owned);
    if (status != LOSSKIT_OK) return status;
    const size_t block = REID_QUERY_BLOCK;
    size_t block_rows = q < block ? q : block;
    float *gnorm = NULL, *qnorm = NULL, *scratch = NULL;
    if (normalize) {
        gnorm = malloc((gd ? gd : 1) * sizeof(float));
        qnorm = malloc((block_rows * d != 0 ? block_rows * d : 1) * sizeof(float));
        if (!gnorm || !qnorm) status = LOSSKIT_ERR_NOMEM;
        else status = normalize_parallel(gf, gnorm, g, d, threads);
    }
    if (!distances && status == LOSSKIT_OK) {
        scratch = malloc((block_rows * g != 0 ? block_rows * g : 1) * sizeof(float));
        if (!scratch) status = LOSSKIT_ERR_NOMEM;
    }
    for (size_t r0 = 0; r0 < q && status == LOSSKIT_OK; r0 += block) {
        size_t rows = q - r0 < block ? q - r0 : block;
        const float *x = qf + r0 * d;
        if (normalize) {
            normalize_rows(x, qnorm, rows, d);
            x = qnorm;
        }
        float *out = distances ? distances + r0 * g : scratch;
        status = losskit_pairwise_distance((losskit_metric)metric, x, rows, normalize ? gnorm : gf, g, d, out, threads);
        if (status == LOSSKIT_OK) status = rank_rows(out, r0, rows, g, labels, ap_kind, ap, first, threads);
    }
    if (status == LOSSKIT_OK) summarize(ap, first, q, scores);
    free(gnorm);
    free(qnorm);
    free(scratch);
    free(owned);
    return status;
}

/* ---- k-reciprocal re-ranking -------------------------------------------- */

/* Neighbour lists: the kk nearest items of each of n items, ascending (d, index),
 * the item itself first (stored with distance -1). */
typedef struct {
    size_t n, kk;
    float *d;      /* [n, kk] */
    int32_t *idx;  /* [n, kk] */
    int32_t *len;  /* [n] */
    float *rowmax; /* [n] */
} nn_lists;

static inline void nn_insert(nn_lists *L, size_t i, float v, int32_t c) {
    float *d = L->d + i * L->kk;
    int32_t *x = L->idx + i * L->kk;
    int32_t len = L->len[i];
    if ((size_t)len == L->kk) {
        if (!(v < d[len - 1] || (v == d[len - 1] && c < x[len - 1]))) return;
        len--;
    } else {
        L->len[i] = len + 1;
    }
    int32_t b = len;
    while (b > 0 && (v < d[b - 1] || (v == d[b - 1] && c < x[b - 1]))) { d[b] = d[b - 1]; x[b] = x[b - 1]; b--; }
    d[b] = v;
    x[b] = c;
}

/* The value a full list of item i admits below (+inf while it is not full). */
static inline float nn_threshold(const nn_lists *L, size_t i) {
    return (size_t)L->len[i] == L->kk ? L->d[i * L->kk + L->kk - 1] : INFINITY;
}

typedef struct {
    nn_lists *L;
    const float *block; /* rows [r0, r0 + rows) x columns [r0, n) */
    size_t r0, rows, n;
    size_t q;           /* items [0, q) are the queries */
    const int32_t *gallery_of; /* item q + t -> gallery column */
    size_t g;
    float *out;         /* [q, g] */
    size_t cols_per_task;
} block_job;

/* Row i of the block: its own list and maximum (columns > i), and its query-gallery distances. */
static void block_row(void *ctx, size_t r) {
    block_job *j = ctx;
    size_t i = j->r0 + r, w = j->n - j->r0;
    const float *row = j->block + r * w - j->r0; /* row[c] for c in [r0, n) */
    float mx = j->L->rowmax[i];
    float thr = nn_threshold(j->L, i);
    for (size_t c = i + 1; c < j->n; c++) {
        float v = row[c];
        mx = v > mx ? v : mx;
        if (v <= thr) {
            nn_insert(j->L, i, v, (int32_t)c);
            thr = nn_threshold(j->L, i);
        }
    }
    j->L->rowmax[i] = mx;
    if (i < j->q) {
        size_t c0 = j->q > i + 1 ? j->q : i + 1;
        for (size_t c = c0; c < j->n; c++) j->out[i * j->g + (size_t)j->gallery_of[c - j->q]] = row[c];
    }
}

/* Columns [c0, c1) of the block: their lists and maxima from the rows above them. */
static void block_columns(void *ctx, size_t t) {
    block_job *j = ctx;
    size_t w = j->n - j->r0;
    size_t c0 = j->r0 + 1 + t * j->cols_per_task;
    size_t c1 = c0 + j->cols_per_task < j->n ? c0 + j->cols_per_task : j->n;
    float thr[256];
    for (size_t c = c0; c < c1; c++) thr[c - c0] = nn_threshold(j->L, c);
    for (size_t r = 0; r < j->rows; r++) {
        size_t i = j->r0 + r;
        const float *row = j->block + r * w - j->r0;
        size_t from = c0 > i + 1 ? c0 : i + 1;
        for (size_t c = from; c < c1; c++) {
            float v = row[c];
            j->L->rowmax[c] = v > j->L->rowmax[c] ? v : j->L->rowmax[c];
            if (v <= thr[c - c0]) {
                nn_insert(j->L, c, v, (int32_t)i);
                thr[c - c0] = nn_threshold(j->L, c);
            }
        }
    }
}

/* round-half-even(k / 2), numpy's np.around */
static int half_rounded(int k) {
    int h = k / 2;
    if (k % 2 == 0) return h;
    return h % 2 == 0 ? h : h + 1;
}

/* Sparse rows (CSR). */
typedef struct {
    size_t *start; /* [n + 1] */
    int32_t *col;
    float *val;
    size_t cap;
} sparse_rows;

static bool sparse_push(sparse_rows *s, size_t at, int32_t c, float v) {
    if (at == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        int32_t *col = realloc(s->col, cap * sizeof(int32_t));
        if (col) s->col = col;
        float *val = realloc(s->val, cap * sizeof(float));
        if (val) s->val = val;
        if (!col || !val) return false;
        s->cap = cap;
    }
    s->col[at] = c;
    s->val[at] = v;
    return true;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The k-reciprocal set of item i among its first k + 1 neighbours, in list order. */
static size_t reciprocal(const nn_lists *L, size_t i, size_t k, int32_t *out) {
    size_t take = k + 1 < (size_t)L->len[i] ? k + 1 : (size_t)L->len[i], count = 0;
    const int32_t *fwd = L->idx + i * L->kk;
    for (size_t a = 0; a < take; a++) {
        size_t c = (size_t)fwd[a];
        size_t ctake = k + 1 < (size_t)L->len[c] ? k + 1 : (size_t)L->len[c];
        const int32_t *back = L->idx + c * L->kk;
        for (size_t b = 0; b < ctake; b++)
            if ((size_t)back[b] == i) { out[count++] = (int32_t)c; break; }
    }
    return count;
}

/* The distance between items a and b: from a's list if it holds b, else directly. */
static float item_distance(const nn_lists *L, const float *feat, size_t d, size_t a, size_t b) {
    if (a == b) return 0.0f;
    const int32_t *x = L->idx + a * L->kk;
    for (int32_t t = 0; t < L->len[a]; t++)
        if ((size_t)x[t] == b) return L->d[a * L->kk + (size_t)t];
    double s = lk_squared_distance(feat + a * d, feat + b * d, d);
    return (float)s;
}

int losskit_reid_rerank(int normalize, const float *qf, size_t q, const float *gf, size_t g, size_t d,
                        const int64_t *gallery_ids, int k1, int k2, double lambda, float *out, int threads) {
    size_t qd, gd, qg, n;
    LK_CHECK(lk_mul_ok(q, d, &qd) && qd <= LK_MAX_FLOATS && q <= INT32_MAX / 2, 3);
    LK_CHECK(qf != NULL || qd == 0, 2);
    LK_CHECK(lk_mul_ok(g, d, &gd) && gd <= LK_MAX_FLOATS && g <= INT32_MAX / 2, 5);
    LK_CHECK(gf != NULL || gd == 0, 4);
    LK_CHECK(d >= 1 && d <= INT32_MAX, 6);
    LK_CHECK(k1 >= 1 && k1 <= 1000, 8);
    LK_CHECK(k2 >= 1 && k2 <= 1000, 9);
    LK_CHECK(lambda >= 0.0 && lambda <= 1.0, 10);
    LK_CHECK(lk_mul_ok(q, g, &qg) && qg <= LK_MAX_FLOATS, 11);
    LK_CHECK(out != NULL || qg == 0, 11);
    LK_CHECK(threads >= 0, 12);
    if (qg == 0) return LOSSKIT_OK;
    /* the items: queries, then the kept gallery entries */
    int32_t *gallery_of = malloc(g * sizeof(int32_t));
    if (!gallery_of) return LOSSKIT_ERR_NOMEM;
    size_t kept = 0;
    for (size_t t = 0; t < g; t++)
        if (!gallery_ids || gallery_ids[t] != -1) gallery_of[kept++] = (int32_t)t;
    n = q + kept;
    for (size_t i = 0; i < q; i++)
        for (size_t t = 0; t < g; t++) out[i * g + t] = INFINITY;
    size_t nd;
    float *feat = NULL;
    if (!lk_mul_ok(n, d, &nd) || !(feat = malloc(nd * sizeof(float)))) { free(gallery_of); return LOSSKIT_ERR_NOMEM; }
    int status = LOSSKIT_OK;
    if (normalize) {
        status = normalize_parallel(qf, feat, q, d, threads);
        for (size_t t = 0; t < kept && status == LOSSKIT_OK; t++)
            normalize_rows(gf + (size_t)gallery_of[t] * d, feat + (q + t) * d, 1, d);
    } else {
        memcpy(feat, qf, qd * sizeof(float));
        for (size_t t = 0; t < kept; t++) memcpy(feat + (q + t) * d, gf + (size_t)gallery_of[t] * d, d * sizeof(float));
    }
    bool has_nan = false;
    for (size_t i = 0; i < n && !has_nan; i++) has_nan = isnan(lk_squared_norm(feat + i * d, d));
    if (has_nan) {
        for (size_t i = 0; i < qg; i++) out[i] = NAN;
        free(feat);
        free(gallery_of);
        return status;
    }
    const int half = half_rounded(k1);
    const size_t kk = (size_t)(k1 + 1 > k2 ? k1 + 1 : k2);
    nn_lists L = {.n = n, .kk = kk};
    L.d = malloc(n * kk * sizeof(float));
    L.idx = malloc(n * kk * sizeof(int32_t));
    L.len = malloc(n * sizeof(int32_t));
    L.rowmax = malloc(n * sizeof(float));
    const size_t block = 512;
    float *dist = malloc((block < n ? block : n) * n * sizeof(float));
    if (!L.d || !L.idx || !L.len || !L.rowmax || !dist) status = LOSSKIT_ERR_NOMEM;
    if (status == LOSSKIT_OK)
        for (size_t i = 0; i < n; i++) {
            L.len[i] = 1;
            L.d[i * kk] = -1.0f; /* itself, before any distance */
            L.idx[i * kk] = (int32_t)i;
            L.rowmax[i] = 0.0f;
        }
    /* 1. neighbour lists and row maxima from the upper triangle, block by block */
    int nthreads = lk_threads_for(threads, n, 64);
    for (size_t r0 = 0; r0 < n && status == LOSSKIT_OK; r0 += block) {
        size_t rows = n - r0 < block ? n - r0 : block;
        status = losskit_pairwise_distance(LOSSKIT_METRIC_SQEUCLIDEAN, feat + r0 * d, rows, feat + r0 * d, n - r0, d,
                                           dist, threads);
        if (status != LOSSKIT_OK) break;
        block_job job = {.L = &L, .block = dist, .r0 = r0, .rows = rows, .n = n, .q = q, .gallery_of = gallery_of,
                         .g = g, .out = out, .cols_per_task = 256};
        status = lk_parallel_for(rows, nthreads, block_row, &job);
        if (status == LOSSKIT_OK && n > r0 + 1)
            status = lk_parallel_for((n - r0 - 1 + 255) / 256, nthreads, block_columns, &job);
    }
    free(dist);
    /* 2. V: k-reciprocal sets, expanded, weighted by exp(-D / rowmax) */
    sparse_rows V = {0}, W = {0};
    V.start = malloc((n + 1) * sizeof(size_t));
    W.start = malloc((n + 1) * sizeof(size_t));
    size_t setcap = (size_t)(k1 + 1) * (size_t)(half + 2) + 8;
    int32_t *set = malloc(setcap * sizeof(int32_t)), *rec = malloc(kk * sizeof(int32_t));
    int32_t *half_sets = malloc(n * (size_t)(half + 1) * sizeof(int32_t));
    int32_t *half_len = malloc(n * sizeof(int32_t));
    double *weights = malloc(setcap * sizeof(double));
    if (!V.start || !W.start || !set || !rec || !half_sets || !half_len || !weights) status = LOSSKIT_ERR_NOMEM;
    if (status == LOSSKIT_OK)
        for (size_t i = 0; i < n; i++) half_len[i] = (int32_t)reciprocal(&L, i, (size_t)half, half_sets + i * (size_t)(half + 1));
    size_t nnz = 0;
    for (size_t i = 0; i < n && status == LOSSKIT_OK; i++) {
        V.start[i] = nnz;
        size_t r = reciprocal(&L, i, (size_t)k1, rec), len = r;
        memcpy(set, rec, r * sizeof(int32_t));
        for (size_t a = 0; a < r; a++) {
            size_t c = (size_t)rec[a], hl = (size_t)half_len[c], common = 0;
            const int32_t *hs = half_sets + c * (size_t)(half + 1);
            for (size_t b = 0; b < hl; b++)
                for (size_t e = 0; e < r; e++)
                    if (rec[e] == hs[b]) { common++; break; }
            if ((double)common > 2.0 / 3.0 * (double)hl) {
                memcpy(set + len, hs, hl * sizeof(int32_t));
                len += hl;
            }
        }
        qsort(set, len, sizeof(int32_t), cmp_i32);
        size_t u = 0;
        for (size_t a = 0; a < len; a++)
            if (u == 0 || set[a] != set[u - 1]) set[u++] = set[a];
        double sum = 0.0;
        float mx = L.rowmax[i];
        for (size_t a = 0; a < u; a++) {
            float dn = item_distance(&L, feat, d, i, (size_t)set[a]) / mx;
            weights[a] = exp(-(double)dn);
            sum += weights[a];
        }
        for (size_t a = 0; a < u && status == LOSSKIT_OK; a++)
            if (!sparse_push(&V, nnz++, set[a], (float)(weights[a] / sum))) status = LOSSKIT_ERR_NOMEM;
    }
    V.start[n] = nnz;
    free(half_sets);
    free(half_len);
    free(weights);
    free(rec);
    free(set);
    /* 3. query expansion: W[i] = mean of V over i's first k2 neighbours */
    double *acc = malloc(n * sizeof(double));
    int32_t *touched = malloc(n * sizeof(int32_t));
    uint8_t *mark = calloc(n, 1);
    if (!acc || !touched || !mark) status = LOSSKIT_ERR_NOMEM;
    sparse_rows *R = &V;
    if (status == LOSSKIT_OK && k2 != 1) {
        size_t wn = 0;
        for (size_t i = 0; i < n && status == LOSSKIT_OK; i++) {
            W.start[i] = wn;
            size_t take = (size_t)k2 < (size_t)L.len[i] ? (size_t)k2 : (size_t)L.len[i], nt = 0;
            for (size_t a = 0; a < take; a++) {
                size_t m = (size_t)L.idx[i * kk + a];
                for (size_t e = V.start[m]; e < V.start[m + 1]; e++) {
                    int32_t c = V.col[e];
                    if (!mark[c]) { mark[c] = 1; touched[nt++] = c; acc[c] = 0.0; }
                    acc[c] += V.val[e];
                }
            }
            qsort(touched, nt, sizeof(int32_t), cmp_i32);
            for (size_t a = 0; a < nt && status == LOSSKIT_OK; a++) {
                int32_t c = touched[a];
                if (!sparse_push(&W, wn++, c, (float)(acc[c] / (double)take))) status = LOSSKIT_ERR_NOMEM;
                mark[c] = 0;
            }
        }
        W.start[n] = wn;
        R = &W;
    }
    free(acc);
    free(touched);
    free(mark);
    /* 4. the inverted index of R's columns (rows ascending) */
    size_t rn = status == LOSSKIT_OK ? R->start[n] : 0;
    size_t *cstart = calloc(n + 1, sizeof(size_t));
    int32_t *crow = malloc((rn ? rn : 1) * sizeof(int32_t));
    float *cval = malloc((rn ? rn : 1) * sizeof(float));
    if (!cstart || !crow || !cval) status = LOSSKIT_ERR_NOMEM;
    if (status == LOSSKIT_OK) {
        for (size_t e = 0; e < rn; e++) cstart[R->col[e] + 1]++;
        for (size_t c = 0; c < n; c++) cstart[c + 1] += cstart[c];
        size_t *fill = malloc(n * sizeof(size_t));
        if (!fill) status = LOSSKIT_ERR_NOMEM;
        else {
            memcpy(fill, cstart, n * sizeof(size_t));
            for (size_t i = 0; i < n; i++)
                for (size_t e = R->start[i]; e < R->start[i + 1]; e++) {
                    size_t at = fill[R->col[e]]++;
                    crow[at] = (int32_t)i;
                    cval[at] = R->val[e];
                }
            free(fill);
        }
    }
    /* 5. Jaccard distance of each query to each kept gallery item, and the final mix */
    float *temp = malloc(n * sizeof(float));
    if (!temp) status = LOSSKIT_ERR_NOMEM;
    const float wj = (float)(1.0 - lambda), wo = (float)lambda;
    for (size_t i = 0; i < q && status == LOSSKIT_OK; i++) {
        memset(temp, 0, n * sizeof(float));
        for (size_t e = R->start[i]; e < R->start[i + 1]; e++) {
            size_t c = (size_t)R->col[e];
            float vi = R->val[e];
            for (size_t f = cstart[c]; f < cstart[c + 1]; f++) {
                float vm = cval[f] < vi ? cval[f] : vi;
                temp[crow[f]] += vm;
            }
        }
        float mx = L.rowmax[i];
        for (size_t t = 0; t < kept; t++) {
            float tm = temp[q + t];
            float jac = 1.0f - tm / (2.0f - tm);
            size_t at = i * g + (size_t)gallery_of[t];
            float orig = out[at] / mx;
            float a = jac * wj;
            float b = orig * wo;
            out[at] = a + b;
        }
    }
    free(temp);
    free(cstart);
    free(crow);
    free(cval);
    free(V.start); free(V.col); free(V.val);
    free(W.start); free(W.col); free(W.val);
    free(L.d); free(L.idx); free(L.len); free(L.rowmax);
    free(feat);
    free(gallery_of);
    (void)nthreads;
    return status;
}
