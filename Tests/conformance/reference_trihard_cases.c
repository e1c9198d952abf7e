/* losskit_trihard_reference in the C conformance run (included by
 * conformance.c, whose helpers it uses; run_reference_trihard_cases()).
 *  - every SIMD path against scalar, bitwise (the mining runs the same float
 *    operations on every path; losses and gradients are one double path;
 *    semi-hard on 600 x 2500 within a tolerance: see below),
 *    on random and edge inputs (NaN rows, +inf features, exact and near
 *    duplicates, tied references, self-marked references, no positive, no
 *    negative, rows outside the float-safe scale), every metric and mode;
 *    and bitwise at 1, 2 and 3 threads on inputs of several tiles;
 *  - the choices against a plain float64 miner written here;
 *  - references = the batch, reference_query[j] = j, against losskit_trihard;
 *  - mean_count, normalize (against pre-normalized inputs), finite
 *    differences of both gradients, q = 0, m = 0, one identity;
 *  - bad arguments: each returns its position's status. */

typedef struct {
    losskit_metric metric;
    float margin;
    int soft, normalize;
    losskit_mining mining;
    losskit_reduction reduction;
    size_t mean_count;
} rt_mode;

typedef struct {
    size_t q, m, d;
    float *x, *y;
    int64_t *ql, *rl, *rq; /* rq may be NULL */
} rt_input;

typedef struct {
    int status;
    float *loss; /* q (NONE) or 1 */
    float *gq, *gr;
    int64_t *hp, *hn;
} rt_output;

static rt_output rt_call(const rt_input *in, const rt_mode *md, int threads) {
    rt_output o = {0};
    o.loss = zeros(in->q + 1);
    o.gq = zeros(in->q * in->d);
    o.gr = zeros(in->m * in->d);
    o.hp = malloc((in->q + 1) * sizeof(int64_t));
    o.hn = malloc((in->q + 1) * sizeof(int64_t));
    o.status = losskit_trihard_reference(md->metric, in->x, in->ql, in->q, in->y, in->rl, in->rq, in->m, in->d,
                                         md->margin, md->soft, md->normalize, md->mining, md->reduction, md->mean_count,
                                         o.loss, o.gq, o.gr, o.hp, o.hn, threads);
    return o;
}

static void rt_free_output(rt_output *o) { free(o->loss), free(o->gq), free(o->gr), free(o->hp), free(o->hn); }

static int rt_same_output(const rt_input *in, const rt_output *a, const rt_output *b) {
    const size_t nl = in->q + 1;
    return a->status == b->status && memcmp(a->loss, b->loss, nl * sizeof(float)) == 0 &&
           memcmp(a->gq, b->gq, in->q * in->d * sizeof(float)) == 0 &&
           memcmp(a->gr, b->gr, in->m * in->d * sizeof(float)) == 0 &&
           memcmp(a->hp, b->hp, in->q * sizeof(int64_t)) == 0 && memcmp(a->hn, b->hn, in->q * sizeof(int64_t)) == 0;
}

static void rt_free_input(rt_input *in) { free(in->x), free(in->y), free(in->ql), free(in->rl), free(in->rq); }

/* variant 0: random, some references copies of queries (marked or not);
 * 1: edge values; 2: several tiles (threads); 3: one row outside the
 * float-safe scale (mined in double). */
static rt_input rt_make(int variant) {
    rt_input in;
    in.q = variant == 2 ? 600 : variant == 1 ? 23 : 40;
    in.m = variant == 2 ? 2500 : variant == 1 ? 61 : 300;
    in.d = variant == 2 ? 40 : variant == 1 ? 7 : 19;
    const size_t ids = variant == 1 ? 5 : (variant == 2 ? 200 : 12);
    seed(911 + variant);
    in.x = normals(in.q * in.d, 1);
    in.y = normals(in.m * in.d, 1);
    in.ql = malloc(in.q * sizeof(int64_t));
    in.rl = malloc(in.m * sizeof(int64_t));
    in.rq = malloc(in.m * sizeof(int64_t));
    for (size_t i = 0; i < in.q; i++) in.ql[i] = 1000 + (int64_t)(next() % ids) * 7; /* sparse label values */
    for (size_t j = 0; j < in.m; j++) { in.rl[j] = 1000 + (int64_t)(next() % ids) * 7; in.rq[j] = -1; }
    in.ql[0] = 5; /* a label no reference has: all negatives, no positive */
    /* references 0..q/2: copies of queries 2k (marked on even k), same label */
    for (size_t k = 0; 2 * k < in.q && k < in.m / 4; k++) {
        memcpy(in.y + k * in.d, in.x + 2 * k * in.d, in.d * sizeof(float));
        in.rl[k] = in.ql[2 * k];
        if (k % 2 == 0) in.rq[k] = (int64_t)(2 * k);
    }
    if (variant == 1) {
        const size_t d = in.d;
        in.x[3 * d + 2] = NAN;                         /* a NaN query */
        in.y[(in.m - 2) * d + 1] = NAN;                /* a NaN reference */
        for (size_t c = 0; c < d; c++) in.y[(in.m - 5) * d + c] = in.y[(in.m - 6) * d + c]; /* tied pair */
        in.rl[in.m - 5] = in.rl[in.m - 6];
        for (size_t c = 0; c < d; c++) in.y[(in.m - 8) * d + c] = in.x[6 * d + c] * (1.0f + 1e-6f); /* near-dup */
        in.rl[in.m - 8] = in.ql[6] + 7;
        in.x[9 * d] = INFINITY; /* query 9: +inf: SGEMM values inf / NaN */
        /* query 4: a label of its own; reference 2 is itself (marked), reference
         * m - 10 an unmarked copy: at distance 0 both, the copy must win */
        in.ql[4] = 3, in.rl[2] = 3, in.rl[in.m - 10] = 3;
        memcpy(in.y + (in.m - 10) * d, in.x + 4 * d, d * sizeof(float));
    }
    if (variant == 3) for (size_t c = 0; c < in.d; c++) in.y[7 * in.d + c] *= 1e20f;
    return in;
}

static const rt_mode rt_modes[] = {
    {LOSSKIT_METRIC_EUCLIDEAN, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0},
    {LOSSKIT_METRIC_SQEUCLIDEAN, 0.5f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_SUM, 0},
    {LOSSKIT_METRIC_COSINE, 0.1f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_NONE, 0},
    {LOSSKIT_METRIC_EUCLIDEAN, 0.2f, 1, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0},
    {LOSSKIT_METRIC_EUCLIDEAN, 0.3f, 0, 0, LOSSKIT_MINING_SEMIHARD, LOSSKIT_REDUCTION_MEAN, 0},
    {LOSSKIT_METRIC_COSINE, 0.3f, 0, 1, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0},
    {LOSSKIT_METRIC_EUCLIDEAN, 0.3f, 0, 1, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 1000},
};
#define RT_NMODES (sizeof rt_modes / sizeof *rt_modes)

/* The plain float64 miner: every pair's distance in double, the rules of
 * losskit_reference.h (hardest; ties to the lowest index; NaN wins; a
 * reference marked as the query is never its positive). */
static double rt_naive_dist(losskit_metric metric, const float *u, const float *v, size_t d) {
    double d2 = 0, dot = 0, nu = 0, nv = 0;
    for (size_t k = 0; k < d; k++) {
        d2 += ((double)u[k] - v[k]) * ((double)u[k] - v[k]);
        dot += (double)u[k] * v[k], nu += (double)u[k] * u[k], nv += (double)v[k] * v[k];
    }
    if (metric == LOSSKIT_METRIC_SQEUCLIDEAN) return d2;
    if (metric == LOSSKIT_METRIC_EUCLIDEAN) return sqrt(d2 > 1e-12 ? d2 : (isnan(d2) ? d2 : 1e-12));
    return 1.0 - dot / (fmax(sqrt(nu), 1e-8) * fmax(sqrt(nv), 1e-8));
}

static void rt_naive_mine(const rt_input *in, losskit_metric metric, size_t a, int64_t *p, int64_t *n) {
    double dp = 0, dn = 0;
    *p = *n = -1;
    for (size_t j = 0; j < in->m; j++) {
        double v = rt_naive_dist(metric, in->x + a * in->d, in->y + j * in->d, in->d);
        if (in->rl[j] == in->ql[a]) {
            if (in->rq && in->rq[j] == (int64_t)a) continue;
            if (*p < 0 || v > dp || (isnan(v) && !isnan(dp))) *p = (int64_t)j, dp = v;
        } else if (*n < 0 || v < dn || (isnan(v) && !isnan(dn))) *n = (int64_t)j, dn = v;
    }
    if (*p < 0 || *n < 0) *p = *n = -1;
}

static void rt_check_paths_threads(void) {
    for (int variant = 0; variant < 4; variant++) {
        rt_input in = rt_make(variant);
        for (size_t k = 0; k < RT_NMODES; k++) {
            const rt_mode *md = &rt_modes[k];
            losskit_set_thread_isa(LOSSKIT_ISA_SCALAR);
            rt_output ref = rt_call(&in, md, 1);
            report(ref.status == 0, "trihard_reference (variant %d, mode %zu) scalar: status %d", variant, k, ref.status);
            for (int p = 1; p < isa_count; p++) {
                losskit_set_thread_isa(isa_list[p]);
                rt_output o = rt_call(&in, md, 1);
                int same = rt_same_output(&in, &o, &ref);
                if (md->mining == LOSSKIT_MINING_SEMIHARD && variant == 2) {
                    /* row by row through the distance kernel, whose float epilogue
                     * rounds differently per path: near-ties at the semi-hard
                     * threshold may go either way (a few of 600 queries) */
                    size_t differ = 0;
                    for (size_t a = 0; a < in.q; a++) differ += o.hp[a] != ref.hp[a] || o.hn[a] != ref.hn[a];
                    same = o.status == 0 && differ * 100 <= in.q && fabsf(o.loss[0] - ref.loss[0]) <= 1e-3f * ref.loss[0];
                }
                report(same, "trihard_reference (variant %d, mode %zu) %s vs scalar", variant, k,
                       losskit_isa_name((losskit_isa)isa_list[p]));
                rt_free_output(&o);
            }
            if (variant == 2)
                for (int p = 0; p < isa_count; p++) {
                    losskit_set_thread_isa(isa_list[p]);
                    rt_output one = rt_call(&in, md, 1);
                    for (int threads = 2; threads <= 3; threads++) {
                        rt_output more = rt_call(&in, md, threads);
                        report(rt_same_output(&in, &more, &one), "trihard_reference mode %zu %s: %d threads not bitwise 1",
                               k, losskit_isa_name((losskit_isa)isa_list[p]), threads);
                        rt_free_output(&more);
                    }
                    rt_free_output(&one);
                }
            /* the hardest choices against the float64 miner (variant 1's
             * near-duplicate and +inf rows included; its NaN rows too) */
            if (md->mining == LOSSKIT_MINING_HARDEST && !md->normalize && ref.status == 0) {
                size_t bad = in.q;
                for (size_t a = 0; a < in.q && bad == in.q; a++) {
                    int64_t p, n;
                    rt_naive_mine(&in, md->metric, a, &p, &n);
                    if (p != ref.hp[a] || n != ref.hn[a]) bad = a;
                }
                report(bad == in.q, "trihard_reference (variant %d, mode %zu) query %zu: chose %lld/%lld, float64 %s",
                       variant, k, bad, bad < in.q ? (long long)ref.hp[bad] : 0LL,
                       bad < in.q ? (long long)ref.hn[bad] : 0LL, "differs");
            }
            losskit_set_thread_isa(-1);
            rt_free_output(&ref);
        }
        rt_free_input(&in);
    }
}

/* The same batch as queries and as references (reference_query[j] = j):
 * losskit_trihard's indices, its loss, and its gradient as the sum of both. */
static void rt_check_batch_equivalence(void) {
    const size_t sizes[] = {64, 3000};
    for (size_t si = 0; si < 2; si++)
        for (size_t k = 0; k < RT_NMODES; k++) {
            const rt_mode *md = &rt_modes[k];
            if (md->normalize || md->mean_count || (md->soft && md->margin != 0.0f)) continue;
            const size_t n = sizes[si], d = 24;
            seed(5 + si);
            float *x = normals(n * d, 1), *g = zeros(n * d), *gq = zeros(n * d), *gr = zeros(n * d);
            int64_t *lab = malloc(n * sizeof *lab), *rq = malloc(n * sizeof *rq);
            int64_t *hp = malloc(n * sizeof *hp), *hn = malloc(n * sizeof *hn), *rp = malloc(n * sizeof *rp),
                    *rn = malloc(n * sizeof *rn);
            float *lb = zeros(n), *lr = zeros(n);
            for (size_t i = 0; i < n; i++) lab[i] = (int64_t)(i / 4), rq[i] = (int64_t)i;
            for (int soft = 0; soft <= 1; soft++) {
                int s1 = losskit_trihard(md->metric, x, lab, n, d, soft ? 0.0f : md->margin, soft, md->mining, md->reduction,
                                         lb, g, hp, hn, 2);
                int s2 = losskit_trihard_reference(md->metric, x, lab, n, x, lab, rq, n, d, soft ? 0.0f : md->margin, soft, 0,
                                                   md->mining, md->reduction, 0, lr, gq, gr, rp, rn, 2);
                const size_t nl = md->reduction == LOSSKIT_REDUCTION_NONE ? n : 1;
                int ok = s1 == 0 && s2 == 0 && memcmp(hp, rp, n * sizeof *hp) == 0 && memcmp(hn, rn, n * sizeof *hn) == 0;
                for (size_t i = 0; i < nl && ok; i++) ok = fabsf(lb[i] - lr[i]) <= 1e-6f * fabsf(lb[i]) + 1e-7f;
                float gmax = 0;
                for (size_t i = 0; i < n * d; i++) gmax = fmaxf(gmax, fabsf(g[i]));
                size_t bad = n * d;
                for (size_t i = 0; i < n * d && ok; i++)
                    if (!(fabsf(gq[i] + gr[i] - g[i]) <= 1e-6f * fabsf(g[i]) + 1e-6f * gmax)) bad = i, ok = 0;
                report(ok, "trihard_reference = trihard on the batch (n %zu, mode %zu, soft %d): status %d/%d, loss %.9g vs %.9g, grad %zu",
                       n, k, soft, s1, s2, lb[0], lr[0], bad);
            }
            free(x), free(g), free(gq), free(gr), free(lab), free(rq), free(hp), free(hn), free(rp), free(rn), free(lb), free(lr);
        }
}

/* mean_count, normalize, the empty and one-identity cases, finite differences. */
static void rt_check_rules(void) {
    rt_input in = rt_make(0);
    rt_mode md = rt_modes[0];
    rt_output base = rt_call(&in, &md, 1);
    size_t kept = 0;
    for (size_t a = 0; a < in.q; a++) kept += base.hp[a] >= 0;
    report(base.hp[0] == -1 && base.hn[0] == -1 && kept > 0 && kept < in.q, "trihard_reference: query 0 (no positive) skipped, kept %zu", kept);
    for (size_t k = 0; k < in.m; k++)
        if (in.rq[k] >= 0) report(base.hp[in.rq[k]] != (int64_t)k, "trihard_reference: query %lld took itself", (long long)in.rq[k]);
    /* an unmarked copy of a query is another sample: at distance 0 it is never the hardest positive unless alone */
    md.mean_count = 2 * kept;
    rt_output half = rt_call(&in, &md, 1);
    int ok = fabsf(half.loss[0] - 0.5f * base.loss[0]) <= 1e-6f * base.loss[0];
    for (size_t i = 0; i < in.q * in.d && ok; i++) ok = fabsf(half.gq[i] - 0.5f * base.gq[i]) <= 1e-6f * fabsf(base.gq[i]) + 1e-9f;
    for (size_t i = 0; i < in.m * in.d && ok; i++) ok = fabsf(half.gr[i] - 0.5f * base.gr[i]) <= 1e-6f * fabsf(base.gr[i]) + 1e-9f;
    report(ok, "trihard_reference mean_count: loss %.9g vs %.9g / 2", half.loss[0], base.loss[0]);
    rt_free_output(&half);
    /* normalize: the same choices and loss as on rows normalized beforehand */
    rt_input un = in;
    un.x = malloc(in.q * in.d * sizeof(float));
    un.y = malloc(in.m * in.d * sizeof(float));
    for (int set = 0; set < 2; set++) {
        const float *src = set ? in.y : in.x;
        float *dst = set ? un.y : un.x;
        for (size_t r = 0, rows = set ? in.m : in.q; r < rows; r++) {
            double s = 0;
            for (size_t c = 0; c < in.d; c++) s += (double)src[r * in.d + c] * src[r * in.d + c];
            for (size_t c = 0; c < in.d; c++) dst[r * in.d + c] = (float)(src[r * in.d + c] / fmax(sqrt(s), 1e-12));
        }
    }
    md = rt_modes[0];
    rt_output pre = rt_call(&un, &md, 1);
    md.normalize = 1;
    rt_output nz = rt_call(&in, &md, 1);
    report(nz.status == 0 && memcmp(nz.hp, pre.hp, in.q * sizeof(int64_t)) == 0 && memcmp(nz.hn, pre.hn, in.q * sizeof(int64_t)) == 0 &&
           nz.loss[0] == pre.loss[0], "trihard_reference normalize: loss %.9g vs pre-normalized %.9g", nz.loss[0], pre.loss[0]);
    rt_free_output(&pre);
    rt_free_output(&nz);
    free(un.x), free(un.y);
    /* finite differences of both gradients (plain and normalize; SUM so the steps are not diluted) */
    for (int normalize = 0; normalize <= 1; normalize++)
        for (int soft = 0; soft <= 1; soft++) {
            rt_input sm = rt_make(0);
            sm.q = 10, sm.m = 60; /* a prefix: the same arrays */
            for (size_t j = 0; j < sm.m; j++) if (sm.rq[j] >= (int64_t)sm.q) sm.rq[j] = -1;
            rt_mode fm = {LOSSKIT_METRIC_EUCLIDEAN, 0.5f, soft, normalize, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_SUM, 0};
            if (normalize) fm.metric = LOSSKIT_METRIC_SQEUCLIDEAN;
            rt_output g = rt_call(&sm, &fm, 1);
            double worst = 0;
            for (int set = 0; set < 2; set++)
                for (size_t t = 0; t < 40; t++) {
                    float *v = set ? sm.y : sm.x;
                    size_t e = (size_t)(next() % ((set ? sm.m : sm.q) * sm.d));
                    const float h = 1e-3f, keep = v[e];
                    float lp, lm;
                    v[e] = keep + h;
                    losskit_trihard_reference(fm.metric, sm.x, sm.ql, sm.q, sm.y, sm.rl, sm.rq, sm.m, sm.d, fm.margin, fm.soft,
                                              fm.normalize, fm.mining, fm.reduction, 0, &lp, NULL, NULL, NULL, NULL, 1);
                    v[e] = keep - h;
                    losskit_trihard_reference(fm.metric, sm.x, sm.ql, sm.q, sm.y, sm.rl, sm.rq, sm.m, sm.d, fm.margin, fm.soft,
                                              fm.normalize, fm.mining, fm.reduction, 0, &lm, NULL, NULL, NULL, NULL, 1);
                    v[e] = keep;
                    double fd = ((double)lp - lm) / (2.0 * h), an = set ? g.gr[e] : g.gq[e];
                    double err = fabs(fd - an) / (1.0 + fabs(an));
                    if (err > worst) worst = err;
                }
            report(worst < 5e-3, "trihard_reference finite differences (normalize %d, soft %d): worst %.3g", normalize, soft, worst);
            rt_free_output(&g);
            rt_free_input(&sm);
        }
    rt_free_output(&base);
    /* q = 0, m = 0, one identity: valid, loss 0, gradients 0, indices -1 */
    for (int which = 0; which < 3; which++) {
        rt_input e = rt_make(0);
        if (which == 0) { e.q = 0; free(e.rq); e.rq = NULL; }
        if (which == 1) e.m = 0;
        if (which == 2) { for (size_t i = 0; i < e.q; i++) e.ql[i] = 3; for (size_t j = 0; j < e.m; j++) e.rl[j] = 3; }
        for (losskit_reduction r = LOSSKIT_REDUCTION_NONE; r <= LOSSKIT_REDUCTION_MEAN; r++) {
            rt_mode em = rt_modes[0];
            em.reduction = r;
            rt_output o = rt_call(&e, &em, 1);
            for (size_t i = 0; i < e.q * e.d; i++) o.gq[i] += 1.0f; /* written: zeros + 1 */
            int good = o.status == 0;
            for (size_t i = 0; i < (r == LOSSKIT_REDUCTION_NONE ? e.q : 1); i++) good = good && o.loss[i] == 0.0f;
            for (size_t i = 0; i < e.q * e.d; i++) good = good && o.gq[i] == 1.0f;
            for (size_t i = 0; i < e.m * e.d; i++) good = good && o.gr[i] == 0.0f;
            for (size_t i = 0; i < e.q; i++) good = good && o.hp[i] == -1 && o.hn[i] == -1;
            report(good, "trihard_reference %s (reduction %d): status %d, loss 0, zero gradients, no pairs",
                   which == 0 ? "q = 0" : which == 1 ? "m = 0" : "one identity", (int)r, o.status);
            rt_free_output(&o);
        }
        rt_free_input(&e);
    }
    /* every negative at +inf: the lowest-index negative, as a min over ties */
    {
        float qx[2] = {INFINITY, 1}, ry[6] = {1, 0, -1, 5, -2, 5};
        int64_t ql[1] = {1}, rl[3] = {1, 2, 2}, p = 9, n = 9;
        float l;
        int st = losskit_trihard_reference(LOSSKIT_METRIC_EUCLIDEAN, qx, ql, 1, ry, rl, NULL, 3, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST,
                                           LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, &p, &n, 1);
        report(st == 0 && p == 0 && n == 1, "trihard_reference: all negatives at +inf: negative %lld (expected 1)", (long long)n);
    }
    rt_free_input(&in);
}

static float RTB[64];
static int64_t RTY[8] = {0, 0, 1, 1, 0, 1, 0, 1}, RTQ[8] = {0, -1, 1, -1, -1, -1, -1, -1};
#define RT_BAD(name, ...) static int name(void) { float l; return losskit_trihard_reference(__VA_ARGS__); }
#define RT_OK LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, 4, RTB, RTY, RTQ, 4, 2
RT_BAD(rt_bad_metric, (losskit_metric)9, RTB, RTY, 4, RTB, RTY, RTQ, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_queries, LOSSKIT_METRIC_EUCLIDEAN, NULL, RTY, 4, RTB, RTY, RTQ, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_qlabels, LOSSKIT_METRIC_EUCLIDEAN, RTB, NULL, 4, RTB, RTY, RTQ, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_q, LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, SIZE_MAX / 2, RTB, RTY, RTQ, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_refs, LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, 4, NULL, RTY, RTQ, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_rlabels, LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, 4, RTB, NULL, RTQ, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_rq_big, LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, 4, RTB, RTY, RTQ + 1, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_rq, LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, 1, RTB, RTY, RTQ, 4, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_m, LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, 4, RTB, RTY, RTQ, SIZE_MAX / 2, 2, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_d, LOSSKIT_METRIC_EUCLIDEAN, RTB, RTY, 4, RTB, RTY, RTQ, 4, 0, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_margin, RT_OK, -0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_margin_soft, RT_OK, NAN, 1, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_soft, RT_OK, 0.3f, 2, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_normalize, RT_OK, 0.3f, 0, -1, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_mining, RT_OK, 0.3f, 0, 0, (losskit_mining)7, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_reduction, RT_OK, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, (losskit_reduction)5, 0, &l, NULL, NULL, NULL, NULL, 1)
RT_BAD(rt_bad_threads, RT_OK, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, -1)
RT_BAD(rt_good, RT_OK, 0.3f, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &l, NULL, NULL, NULL, NULL, 1)

static void rt_check_bad_args(void) {
    static const struct { const char *name; int (*call)(void); int expected; } cases[] = {
        {"metric", rt_bad_metric, -1}, {"queries NULL", rt_bad_queries, -2}, {"query_labels NULL", rt_bad_qlabels, -3},
        {"q overflow", rt_bad_q, -4}, {"references NULL", rt_bad_refs, -5}, {"reference_labels NULL", rt_bad_rlabels, -6},
        {"reference_query shifted (valid)", rt_bad_rq_big, 0}, {"reference_query >= q", rt_bad_rq, -7},
        {"m overflow", rt_bad_m, -8}, {"d 0", rt_bad_d, -9}, {"margin < 0", rt_bad_margin, -10},
        {"margin NaN (soft)", rt_bad_margin_soft, -10}, {"soft_margin 2", rt_bad_soft, -11},
        {"normalize -1", rt_bad_normalize, -12}, {"mining", rt_bad_mining, -13}, {"reduction", rt_bad_reduction, -14},
        {"threads -1", rt_bad_threads, -21}, {"valid call", rt_good, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int got = cases[i].call();
        report(got == cases[i].expected, "bad argument trihard_reference %s: status %d, expected %d", cases[i].name, got,
               cases[i].expected);
    }
}

static void run_reference_trihard_cases(void) {
    const int before = passed + failed;
    rt_check_paths_threads();
    rt_check_batch_equivalence();
    rt_check_rules();
    rt_check_bad_args();
    printf("trihard_reference (paths, threads, float64 miner, batch equivalence, rules, bad arguments): %d checks\n",
           passed + failed - before);
}
