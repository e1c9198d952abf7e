/* Aligned metric-learning losses: contrastive, triplet, improved triplet,
 * quadruplet. One tuple per row; distances and their gradients in double. */
#include "internal.h"
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* D(u, v) and what its backward needs. */
typedef struct { double D, d2, dot, nu, nv; } dist_t;

static dist_t dist(losskit_metric m, const float *u, const float *v, size_t d) {
    dist_t r = {0, 0, 0, 0, 0};
    for (size_t k = 0; k < d; k++) {
        double a = u[k], b = v[k];
        r.d2 += (a - b) * (a - b);
        r.dot += a * b;
        r.nu += a * a;
        r.nv += b * b;
    }
    r.nu = sqrt(r.nu);
    r.nv = sqrt(r.nv);
    switch (m) {
    case LOSSKIT_METRIC_EUCLIDEAN: r.D = sqrt(r.d2 > 1e-12 ? r.d2 : (isnan(r.d2) ? r.d2 : 1e-12)); break;
    case LOSSKIT_METRIC_SQEUCLIDEAN: r.D = r.d2; break;
    default: r.D = 1.0 - r.dot / (fmax(r.nu, 1e-8) * fmax(r.nv, 1e-8)); if (isnan(r.dot)) r.D = NAN; break;
    }
    return r;
}

/* gu += s dD/du, gv += s dD/dv (either may be NULL). */
static void dist_back(losskit_metric m, const float *u, const float *v, size_t d, const dist_t *r, double s,
                      float *gu, float *gv) {
    if (s == 0.0 || (!gu && !gv)) return;
    switch (m) {
    case LOSSKIT_METRIC_EUCLIDEAN: {
        if (!(r->d2 > 1e-12)) { if (isnan(r->d2)) goto poison; return; } /* the clamp: no gradient */
        double f = s / r->D;
        for (size_t k = 0; k < d; k++) {
            double g = f * ((double)u[k] - v[k]);
            if (gu) gu[k] += (float)g;
            if (gv) gv[k] -= (float)g;
        }
        return;
    }
    case LOSSKIT_METRIC_SQEUCLIDEAN:
        for (size_t k = 0; k < d; k++) {
            double g = 2.0 * s * ((double)u[k] - v[k]);
            if (gu) gu[k] += (float)g;
            if (gv) gv[k] -= (float)g;
        }
        return;
    default: {
        /* D = 1 - dot / (cu cv), cu = max(|u|, 1e-8): dD/du = -v/(cu cv) + dot u / (cu^2 cv |u|) where |u| > 1e-8 */
        double cu = fmax(r->nu, 1e-8), cv = fmax(r->nv, 1e-8);
        double a = -s / (cu * cv);
        double bu = r->nu > 1e-8 ? s * r->dot / (cu * cu * cv * r->nu) : 0.0;
        double bv = r->nv > 1e-8 ? s * r->dot / (cu * cv * cv * r->nv) : 0.0;
        for (size_t k = 0; k < d; k++) {
            if (gu) gu[k] += (float)(a * v[k] + bu * u[k]);
            if (gv) gv[k] += (float)(a * u[k] + bv * v[k]);
        }
        return;
    }
    }
poison:
    for (size_t k = 0; k < d; k++) {
        if (gu) gu[k] = NAN;
        if (gv) gv[k] = NAN;
    }
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
    LK_CHECK(d >= 1, 6);
    LK_CHECK(isfinite(margin), 7);
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
    LK_CHECK(isfinite(margin), 7);
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
    LK_CHECK(isfinite(margin1), 8);
    LK_CHECK(isfinite(margin2), 9);
    LK_CHECK(lk_reduction_ok(reduction), 10);
    LK_CHECK(threads >= 0, 16);
    tuple_ctx c = {.kind = K_QUADRUPLET, .metric = metric, .in = {anchor, positive, negative1, negative2}, .d = d,
                   .m1 = margin1, .m2 = margin2, .grad = {grad_anchor, grad_positive, grad_negative1, grad_negative2}};
    return run_tuples(&c, n, reduction, loss, threads);
}

/* ---- TriHard -------------------------------------------------------------- */

int losskit_trihard(losskit_metric metric, const float *features, const int64_t *labels, size_t n, size_t d,
                    float margin, int soft_margin, losskit_mining mining, losskit_reduction reduction,
                    float *loss, float *grad, int64_t *hardest_positive, int64_t *hardest_negative, int threads) {
    size_t nd;
    LK_CHECK(metric >= LOSSKIT_METRIC_EUCLIDEAN && metric <= LOSSKIT_METRIC_COSINE, 1);
    LK_CHECK(lk_mul_ok(n, d, &nd) && nd <= LK_MAX_FLOATS && n <= INT32_MAX, 4);
    LK_CHECK(features != NULL || nd == 0, 2);
    LK_CHECK(labels != NULL || n == 0, 3);
    LK_CHECK(d >= 1, 5);
    LK_CHECK(soft_margin || isfinite(margin), 6);
    LK_CHECK(mining == LOSSKIT_MINING_HARDEST || mining == LOSSKIT_MINING_SEMIHARD, 8);
    LK_CHECK(lk_reduction_ok(reduction), 9);
    LK_CHECK(threads >= 0, 14);
    if (grad) memset(grad, 0, nd * sizeof(float));
    if (n == 0) { lk_store_reduced(reduction, 0.0, 1.0, loss); return LOSSKIT_OK; }
    /* blocks of rows against all n: about 4 Mi floats of scratch */
    size_t block = (size_t)4 << 20;
    block = block / n < 1 ? 1 : (block / n > 1024 ? 1024 : block / n);
    float *dist_block = malloc(sizeof(float) * block * n);
    int64_t *pos = malloc(sizeof(int64_t) * n), *neg = malloc(sizeof(int64_t) * n);
    double *per_anchor = malloc(sizeof(double) * n);
    int status = LOSSKIT_OK;
    if (!dist_block || !pos || !neg || !per_anchor) { status = LOSSKIT_ERR_NOMEM; goto done; }
    for (size_t r0 = 0; r0 < n; r0 += block) {
        size_t rows = n - r0 < block ? n - r0 : block;
        status = losskit_pairwise_distance(metric, features + r0 * d, rows, features, n, d, dist_block, threads);
        if (status != LOSSKIT_OK) goto done;
        for (size_t r = 0; r < rows; r++) { /* reduce each row of the block at once */
            size_t a = r0 + r;
            const float *row = dist_block + r * n;
            int64_t p = -1, q = -1, semi = -1;
            for (size_t j = 0; j < n; j++) {
                if (j == a) continue;
                if (labels[j] == labels[a]) { if (p < 0 || row[j] > row[p]) p = (int64_t)j; }
                else if (q < 0 || row[j] < row[q]) q = (int64_t)j;
            }
            if (mining == LOSSKIT_MINING_SEMIHARD && p >= 0)
                for (size_t j = 0; j < n; j++)
                    if (labels[j] != labels[a] && row[j] > row[p] && (semi < 0 || row[j] < row[semi])) semi = (int64_t)j;
            pos[a] = p;
            neg[a] = semi >= 0 ? semi : q;
            if (p < 0 || q < 0) pos[a] = neg[a] = -1;
        }
    }
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
        double z = ap.D - an.D, l, s;
        if (soft_margin) {
            l = z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); /* softplus */
            s = 1.0 / (1.0 + exp(-z));
        } else {
            z += margin;
            l = z > 0 ? z : 0.0;
            s = z > 0 ? 1.0 : 0.0;
        }
        if (isnan(z)) l = s = NAN;
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
    free(dist_block); free(pos); free(neg); free(per_anchor);
    return status;
}
