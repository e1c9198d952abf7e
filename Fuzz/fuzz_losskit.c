/* libFuzzer target over LossKit's C entry points, built with AddressSanitizer
 * and UndefinedBehaviorSanitizer (`make fuzz`, FUZZ_SECONDS=60 by default).
 *
 * The input picks an op, a reduction (including an invalid one), an ISA path,
 * a thread count, sizes, parameters and data; parameters and data are drawn
 * from special values (0, -0, +-1, NaN, +-inf, subnormals, +-88.7, +-1e4,
 * huge) or raw bit patterns. Pointers may be NULL and labels out of range.
 * Buffers are allocated to exactly the size the ABI promises to touch, so
 * any write or read past them is a finding. */
#include "losskit.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
static float pick(const uint8_t **d, size_t *n) {
    if (*n < 4) return 0.5f;
    uint32_t u; memcpy(&u, *d, 4); *d += 4; *n -= 4;
    static const float specials[] = {0, -0.0f, 1, -1, NAN, INFINITY, -INFINITY, 1e-40f, -1e-40f, 88.7f, -88.7f, 1e4f, -1e4f, 1e30f, 3.4e38f};
    if ((u & 0xff) < 40) return specials[(u >> 8) % 15];
    float f; memcpy(&f, &u, 4); return f;
}
/* Boxes made to follow the box rule (x2 >= x1, y2 >= y1; w, h >= 0) for
 * format f, so that the box kernels get past their argument checks. */
static void follow_box_rule(float *b, size_t nbox, int f) {
    for (size_t i = 0; i < nbox; i++) {
        float *x = b + 4 * i;
        if (f == 0) {
            if (x[2] < x[0]) { float s = x[0]; x[0] = x[2]; x[2] = s; }
            if (x[3] < x[1]) { float s = x[1]; x[1] = x[3]; x[3] = s; }
        } else {
            x[2] = fabsf(x[2]);
            x[3] = fabsf(x[3]);
        }
    }
}
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 8) return 0;
    uint8_t weighted = (d[3] >> 4) & 1; /* the elementwise losses' per-element weights */
    uint8_t op = d[0], red = d[1] % 4, isa = d[2] % 4, gathers = (d[2] >> 2) & 1, thr = d[3] % 3, flags = d[4];
    size_t cnt = ((size_t)d[5] << 8 | d[6]) % 3000, classes = 1 + d[7] % 40;
    d += 8; n -= 8;
    if (losskit_set_thread_isa(isa == 2 ? 0 : isa) != 0) losskit_set_thread_isa(0);
    losskit_set_thread_gathers(gathers); /* both softmax block paths */
    float p1 = pick(&d, &n), p2 = pick(&d, &n), p3 = pick(&d, &n), p4 = pick(&d, &n);
    size_t rows = cnt / classes;
    size_t total = (op % 12 >= 10) ? rows * classes : cnt;
    size_t nb = total ? total * 4 : 1; float *x = malloc(nb), *t = malloc(nb), *loss = malloc(total ? nb : 4), *g = malloc(nb);
    int64_t *y = malloc(rows ? rows * 8 : 1);
    float w[64];
    for (size_t i = 0; i < total; i++) { x[i] = pick(&d, &n); t[i] = (flags & 1) ? pick(&d, &n) : (float)(i & 1); }
    for (size_t i = 0; i < rows; i++) y[i] = (flags & 2) && (i % 3 == 0) ? -100 : (int64_t)((i * 7) % classes) + ((flags & 4) && i == 0 ? 1000 : 0);
    for (int i = 0; i < 64; i++) w[i] = (flags & 8) ? fabsf(pick(&d, &n)) : 1.0f;
    float *L = (flags & 16) ? NULL : loss, *G = (flags & 32) ? NULL : g;
    /* per-element weights of the elementwise losses: NULL, or total values (specials, zeros, data) */
    float *ew = malloc(nb);
    for (size_t i = 0; i < total; i++) ew[i] = (i % 3 == 0) ? 0.0f : x[(i * 5) % total] * t[i];
    const float *W = weighted ? ew : NULL;
    const float *X = (flags & 64) && total == 0 ? NULL : x;
    int threads = thr;
    size_t nb1 = total / 4 < 64 ? total / 4 : 64, nb2 = rows < 32 ? rows : 32;
    size_t dd = 1 + (size_t)(flags % 7), rr = total / dd;
    switch (op % 25) {
    case 0: losskit_l1(X, t, total, W, red, L, G, threads); break;
    case 1: losskit_mse(X, t, total, W, red, L, G, threads); break;
    case 2: losskit_smooth_l1(X, t, total, W, p1, red, L, G, threads); break;
    case 3: losskit_huber(X, t, total, W, p1, red, L, G, threads); break;
    case 4: losskit_wing(X, t, total, W, p1, p2, red, L, G, threads); break;
    case 5: losskit_adaptive_wing(X, t, total, W, p1, p2, p3, p4, red, L, G, threads); break;
    case 6: losskit_focal_regression(X, t, total, W, p1, red, L, G, threads); break;
    case 7: losskit_shrinkage(X, t, total, W, p1, p2, (flags >> 4) % 4, red, L, G, threads); break;
    case 8: losskit_bce_logits(X, t, total, W, (flags & 128) ? w : NULL, (flags & 128) ? 1 + (cnt % 3) : 0, red, L, G, threads); break;
    case 9: losskit_sigmoid_focal(X, t, total, p1, p2, p3, red, L, G, threads); break;
    case 10: losskit_softmax_ce(X, y, rows, classes, (flags & 128) ? w : NULL, -100, p1, red, L, G, threads);
        /* probability targets: t is fuzzed values (flags & 1) or 0/1 */
        losskit_softmax_ce_soft(X, t, rows, classes, (flags & 128) ? w : NULL, p1, red, L, G, threads); break;
    case 11: losskit_softmax_focal(X, y, rows, classes, p1, p2, -100, red, L, G, threads); break;
    case 12: { /* matrices: n x m pairs out of x; out is the loss buffer, checked against its size */
        size_t m = nb1 ? (total / 4) / (nb1 ? nb1 : 1) : 0;
        if (flags & 64) { follow_box_rule(x, nb1, (flags >> 3) % 4); follow_box_rule(t, m, (flags >> 3) % 4); }
        if (nb1 * m <= total) losskit_box_iou_matrix(flags % 5, (flags >> 3) % 4, x, nb1, t, m, loss, threads);
        break; }
    case 13:
        if (flags & 64) { follow_box_rule(x, total / 4, (flags >> 3) % 4); follow_box_rule(t, total / 4, (flags >> 3) % 4); }
        losskit_box_iou_loss(flags % 5, (flags >> 3) % 4, X, t, total / 4, fabsf(p1), red, L, G, threads);
        break;
    case 14: { /* match: truths from x (possibly malformed), priors from t */
        int64_t *mi = malloc(nb2 ? nb2 * 8 : 1), *ct = malloc(nb2 ? nb2 * 8 : 1);
        losskit_ssd_match(x, y, total / 4 < rows ? total / 4 : rows, t, nb2 <= total / 4 ? nb2 : 0, p1, mi, ct);
        free(mi); free(ct);
        break; }
    case 15: {
        int64_t *keep = malloc(total ? total * 8 : 1);
        size_t kept = 0;
        losskit_nms(x, t, total / 4, p1, keep, &kept);
        free(keep);
        break; }
    case 16: { /* one image, up to 3 truths, priors from t, loc/conf from x */
        size_t P = total / (4 + classes + 4);
        size_t T = rows < 3 ? rows : 3;
        size_t counts[1] = {T};
        float ll, lc;
        if (P && T * 4 <= total && classes >= 2)
            losskit_multibox_loss(x, x + 4 * P, 1, P, classes, t, x, y, counts, p1, fabsf(p2), 0.1f, 0.2f,
                                  &ll, &lc, G ? g : NULL, G && (flags & 8) ? g + 4 * P : NULL, NULL, threads);
        if (flags & 64) losskit_release_scratch(); /* the next call allocates its scratch again */
        break; }
    case 17: { /* distances rr x m2 of dimension dd, into the loss buffer, and their backward (x as the upstream) */
        size_t rr2 = rr ? total / (rr * dd) : 0, m2 = rr2 <= rr ? rr2 : rr;
        if (rr * rr2 <= total && losskit_pairwise_distance(flags % 4, x, rr, t, m2, dd, loss, threads) == 0) {
            float *gy = malloc(m2 * dd ? m2 * dd * 4 : 4);
            losskit_pairwise_distance_backward(flags % 4, x, rr, t, m2, dd, loss, x, G, (flags & 128) ? NULL : gy, threads);
            free(gy);
        }
        break; }
    case 18: /* margins mostly >= 0 (a negative one is refused); contrastive labels from x: mostly refused */
        if (flags & 16) losskit_contrastive(flags % 4, X, t, x, rr, dd, (flags & 2) ? p1 : fabsf(p1), flags & 1, red, L, G,
                                            NULL, threads);
        else losskit_triplet(flags % 4, X, t, x, rr, dd, (flags & 2) ? p1 : fabsf(p1), flags & 1, red, L, G, NULL, NULL,
                             threads);
        break;
    case 19: { /* trihard with the fuzzed labels (rows of y, one per feature row) */
        size_t nr = rr < rows ? rr : rows;
        int64_t *hp = malloc(nr ? nr * 8 : 1);
        losskit_trihard(flags % 4, X, y, nr, dd, (flags & 16) ? p1 : fabsf(p1), flags & 1, (flags >> 1) % 3, red, L, G, hp, NULL, threads);
        free(hp);
        break; }
    case 20: { /* Mahalanobis: M [dd, dd] (or a factor of k rows) from t, which may be anything */
        size_t k = (flags >> 3) % 3, rr2 = rr ? total / (rr * dd) : 0;
        if ((k ? k : dd) * dd <= total && rr * rr2 <= total)
            losskit_mahalanobis_distance(flags % 3, x, rr, x, rr2 <= rr ? rr2 : rr, dd, t, k, loss, threads);
        if (dd * dd <= total) {
            float *factor = malloc(dd * dd * 4);
            size_t rank = 0;
            losskit_mahalanobis_factor(t, dd, factor, &rank);
            free(factor);
        }
        break; }
    case 21: { /* detection AP: boxes, areas, scores from x (doubles; may be anything), indices possibly out of range */
        size_t ng = total / 12, nd = (total - 6 * ng) / 6, I = 1 + flags % 4, K = 1 + (flags >> 2) % 4;
        double *gb = malloc(8 * (4 * ng + 1)), *ga = malloc(8 * (ng + 1)), *db = malloc(8 * (4 * nd + 1)), *ds = malloc(8 * (nd + 1));
        int64_t *gi = malloc(8 * (ng + 1)), *gc = malloc(8 * (ng + 1)), *di = malloc(8 * (nd + 1)), *dc = malloc(8 * (nd + 1));
        uint8_t *gf = malloc(ng + 1);
        size_t k = 0;
        for (size_t i = 0; i < ng; i++) {
            for (int j = 0; j < 4; j++) gb[4 * i + j] = (flags & 64) ? x[k++] : fabs((double)x[k++]);
            ga[i] = fabs((double)x[k++]);
            gf[i] = (uint8_t)(x[k++] > 0);
            gi[i] = (int64_t)((i * 5) % I) + ((flags & 4) && i == 1 ? (int64_t)I : 0);
            gc[i] = (int64_t)((i * 3) % K);
        }
        for (size_t i = 0; i < nd; i++) {
            for (int j = 0; j < 4; j++) db[4 * i + j] = fabs((double)x[k++]);
            ds[i] = x[k++];
            di[i] = (int64_t)((i * 7) % I);
            dc[i] = (int64_t)((size_t)fabs((double)x[k++]) % K);
        }
        losskit_eval_boxes G1 = {gb, NULL, ga, (flags & 128) ? NULL : gf, gi, gc, ng}, D1 = {db, ds, NULL, NULL, di, dc, nd};
        double stats[LOSSKIT_COCO_STATS], *prec = malloc(8 * (K * 10 * 101 * 4 * 3)), *rec = malloc(8 * (K * 10 * 4 * 3)), ap[4], mean;
        losskit_coco_evaluate(&G1, &D1, I, K, stats, (flags & 16) ? NULL : prec, (flags & 32) ? NULL : rec, threads);
        losskit_voc_evaluate(&G1, &D1, I, K, (double)p1, flags & 1, flags & 2, ap, (flags & 8) ? NULL : &mean, threads);
        free(gb); free(ga); free(db); free(ds); free(gi); free(gc); free(di); free(dc); free(gf); free(prec); free(rec);
        break; }
    case 22: case 23: case 24: { /* re-id evaluation and re-ranking (x: queries or distances, t: gallery), landmarks */
        size_t rr2 = rr ? total / (rr * dd) : 0, m2 = rr2 <= rr ? rr2 : rr, nl = rr > m2 ? rr : m2;
        int64_t *ids = malloc(4 * (nl ? nl : 1) * 8);
        for (size_t i = 0; i < 4 * nl; i++) ids[i] = rows ? y[i % rows] % 5 : (int64_t)(i % 3) - 1;
        losskit_reid_labels lab = {ids, ids + nl, ids + 2 * nl, ids + 3 * nl};
        double cmc[8], ap[64];
        int64_t first[64];
        losskit_reid_scores sc = {.ap = rr <= 64 ? ap : NULL, .first_match = rr <= 64 ? first : NULL,
                                  .cmc = (flags & 16) ? NULL : cmc, .max_rank = (flags & 16) ? 0 : 1 + flags % 8};
        if (op % 25 == 22 && rr * m2 <= total)
            losskit_reid_evaluate_distances(X, rr, m2, lab, (flags >> 1) % 3, &sc, threads);
        if (op % 25 == 23 && rr * m2 <= total)
            losskit_reid_evaluate_features(flags % 4, flags & 1, X, rr, t, m2, dd, lab, (flags >> 1) % 3, &sc,
                                           (flags & 32) ? NULL : loss, threads);
        if (op % 25 == 24 && rr * m2 <= total && rr + m2 <= 400)
            losskit_reid_rerank(flags & 1, X, rr, t, m2, dd, (flags & 32) ? NULL : lab.gallery_ids, 1 + flags % 25,
                                1 + (flags >> 3) % 8, p1, loss, threads);
        size_t lk = dd, ln = total / (2 * lk);
        double *nme = malloc((ln ? ln : 1) * 8), ced[5], mean, auc, fr;
        if (losskit_landmark_nme(X, t, ln, lk, (losskit_landmark_norm)(flags % 5), flags % 9, (flags >> 3) % 9,
                                 (flags >> 6), nme) == 0) {
            losskit_landmark_summary(nme, ln, p2, &mean, &auc, &fr);
            losskit_landmark_ced(nme, ln, p2, 2 + flags % 4, ced);
        }
        free(nme);
        free(ids);
        break; }
    }
    if (op % 25 == 19) { /* trihard against a reference set: queries rows of x, references rows of t, fuzzed labels,
                            self marks possibly out of range (refused), gradients exactly their sizes */
        size_t qn = rr / 2 < rows ? rr / 2 : rows, mr = rr < rows ? rr : rows;
        int64_t *rq = malloc(mr ? mr * 8 : 1), *hp = malloc(qn ? qn * 8 : 1), *hn = malloc(qn ? qn * 8 : 1);
        float *gq = malloc(qn * dd ? qn * dd * 4 : 4), *gr = malloc(mr * dd ? mr * dd * 4 : 4);
        for (size_t j = 0; j < mr; j++) rq[j] = (int64_t)((j * 3) % (qn + ((flags & 4) ? 2 : 1))) - 1;
        losskit_trihard_reference(flags % 4, X, y, qn, t, y + (rows - mr), (flags & 8) ? NULL : rq, mr, dd,
                                  (flags & 16) ? p1 : fabsf(p1), flags & 1, (flags >> 5) & 1, (flags >> 1) % 3, red,
                                  cnt % 5, L, G ? gq : NULL, (flags & 128) ? NULL : gr, hp, (flags & 64) ? NULL : hn,
                                  threads);
        free(rq); free(hp); free(hn); free(gq); free(gr);
    }
    if (op / 25 >= 1 && op / 25 <= 3) { /* reference sets: queries rr2 rows of x, references the rest; labels and marks from y */
        size_t rq = rr / 3, rm = rr - rq, rl = rows < rr ? rows : rr;
        int64_t *lab = malloc((rr ? rr : 1) * 8), *mk = malloc((rm ? rm : 1) * 8);
        for (size_t i = 0; i < rr; i++) lab[i] = i < rl ? y[i] : (int64_t)i % 3;
        for (size_t j = 0; j < rm; j++) mk[j] = (flags & 4) ? (int64_t)(j % (rq + 2)) - 1 : -1; /* q itself: out of range */
        float *gr = malloc(rm * dd ? rm * dd * 4 : 4);
        if (op / 25 == 1)
            losskit_contrastive_reference(flags % 4, X, lab, rq, x + rq * dd, lab + rq, (flags & 8) ? mk : NULL, rm, dd,
                                          (flags & 2) ? p1 : fabsf(p1), fabsf(p2), 1 + (flags >> 6) % 3, flags & 1, red, L, G,
                                          (flags & 128) ? NULL : gr, threads);
        else if (op / 25 == 3) /* t = rows - 2 quadruplets from y (indices possibly out of range) */
            losskit_quadruplet_reference(flags % 4, X, rq, x + rq * dd, rm, dd, y, rows > 2 ? y + 1 : y, rows > 2 ? y + 2 : y, y,
                                         rows > 2 ? rows - 2 : 0, (flags & 2) ? p1 : fabsf(p1), fabsf(p2), (flags >> 7) & 1,
                                         red, L, G, (flags & 128) ? NULL : gr, threads);
        else /* t = rows triplets from y (indices possibly out of range) */
            losskit_triplet_reference(flags % 4, X, rq, x + rq * dd, rm, dd, y, rows > 1 ? y + 1 : y, y, rows > 1 ? rows - 1 : 0,
                                      (flags & 2) ? p1 : fabsf(p1), flags & 1, (flags >> 3) & 1, (flags >> 6) & 1, (flags >> 7) & 1,
                                      red, L, G, (flags & 128) ? NULL : gr, threads);
        free(lab), free(mk), free(gr);
    }
    if (total) losskit_vecmath(op % 5, x, g, total);
    free(x); free(t); free(loss); free(g); free(y); free(ew);
    return 0;
}
