/* Detection AP: COCO bbox evaluation (pycocotools' COCOeval) and PASCAL VOC
 * AP (ssd.pytorch's voc_eval), in double, categories in parallel.
 *
 * Every double expression below is written in the peers' operation order
 * and never contracted into an FMA, so the IoU, recall and precision values
 * are the peers' to the last bit and a match on a threshold goes the same
 * way. */
#pragma STDC FP_CONTRACT OFF
#include "internal.h"
#include <stdlib.h>

enum { COCO_T = LOSSKIT_COCO_IOU_THRESHOLDS, COCO_R = LOSSKIT_COCO_RECALL_POINTS,
       COCO_A = LOSSKIT_COCO_AREAS, COCO_M = LOSSKIT_COCO_MAX_DETS };
static const double coco_area_lo[COCO_A] = {0.0, 0.0, 1024.0, 9216.0};
static const double coco_area_hi[COCO_A] = {1e10, 1024.0, 9216.0, 1e10};
static const size_t coco_max_dets[COCO_M] = {1, 10, 100};

/* np.linspace(.5, .95, 10) and np.linspace(0, 1, 101), value for value. */
static void coco_thresholds(double iou[COCO_T], double rec[COCO_R]) {
    const double step = (0.95 - 0.5) / 9.0;
    for (int t = 0; t < COCO_T; t++) iou[t] = (double)t * step + 0.5;
    iou[COCO_T - 1] = 0.95;
    const double rstep = 1.0 / 100.0;
    for (int r = 0; r < COCO_R; r++) rec[r] = (double)r * rstep + 0.0;
    rec[COCO_R - 1] = 1.0;
}

/* ---- validation and bucketing -------------------------------------------- */

static bool eval_boxes_ok(const losskit_eval_boxes *b, bool detections, bool need_areas, size_t num_images,
                          size_t num_categories) {
    if (!b) return false;
    if (b->n == 0) return true;
    size_t floats;
    if (!lk_mul_ok(b->n, 4, &floats) || floats > LK_MAX_FLOATS / 2) return false;
    if (!b->boxes || !b->images || !b->categories) return false;
    if (detections && !b->scores) return false;
    if (need_areas && !b->areas) return false;
    for (size_t i = 0; i < b->n; i++) {
        const double *q = b->boxes + 4 * i;
        if (!isfinite(q[0]) || !isfinite(q[1]) || !isfinite(q[2]) || !isfinite(q[3])) return false;
        if (q[2] < 0.0 || q[3] < 0.0) return false;
        if (b->images[i] < 0 || (uint64_t)b->images[i] >= num_images) return false;
        if (b->categories[i] < 0 || (uint64_t)b->categories[i] >= num_categories) return false;
        if (detections && !isfinite(b->scores[i])) return false;
        if (need_areas && !(b->areas[i] >= 0.0 && isfinite(b->areas[i]))) return false;
        if (b->flags && b->flags[i] > 1) return false;
    }
    return true;
}

/* Stable counting sort of a box set by (category, image): order[] lists the
 * boxes of cell c = category * num_images + image at start[c] ..
 * start[c + 1] - 1, in file order. start has cells + 1 entries. */
static void bucket_boxes(const losskit_eval_boxes *b, size_t num_images, size_t cells, size_t *start, size_t *order) {
    memset(start, 0, (cells + 1) * sizeof(size_t));
    for (size_t i = 0; i < b->n; i++) start[(size_t)b->categories[i] * num_images + (size_t)b->images[i] + 1]++;
    for (size_t c = 0; c < cells; c++) start[c + 1] += start[c];
    size_t *fill = start; /* reuse: fill[c] advances, then shifted back */
    for (size_t i = 0; i < b->n; i++) {
        size_t c = (size_t)b->categories[i] * num_images + (size_t)b->images[i];
        order[fill[c]++] = i;
    }
    for (size_t c = cells; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
}

/* Stable merge sort of idx[0, n) by key[idx] descending (numpy's
 * argsort(-key, kind='mergesort')); tmp has room for n. */
static void sort_desc_stable(const double *key, size_t *idx, size_t n, size_t *tmp) {
    if (n < 2) return;
    for (size_t i = 1; i < n && n <= 16; i++) { /* insertion sort for small runs */
        size_t v = idx[i], j = i;
        while (j > 0 && key[idx[j - 1]] < key[v]) { idx[j] = idx[j - 1]; j--; }
        idx[j] = v;
    }
    if (n <= 16) return;
    size_t *src = idx, *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) dst[o++] = key[src[b]] > key[src[a]] ? src[b++] : src[a++];
            while (a < mid) dst[o++] = src[a++];
            while (b < hi) dst[o++] = src[b++];
        }
        size_t *s = src; src = dst; dst = s;
    }
    if (src != idx) memcpy(idx, src, n * sizeof(size_t));
}

/* ---- COCO ---------------------------------------------------------------- */

/* maskApi.c bbIou for one pair, xywh boxes; crowd: over the detection's area. */
static inline double coco_iou(const double *D, const double *G, bool crowd) {
    double ga = G[2] * G[3], da = D[2] * D[3];
    double w = fmin(D[2] + D[0], G[2] + G[0]) - fmax(D[0], G[0]);
    if (w <= 0) return 0.0;
    double h = fmin(D[3] + D[1], G[3] + G[1]) - fmax(D[1], G[1]);
    if (h <= 0) return 0.0;
    double i = w * h;
    double u = crowd ? da : da + ga - i;
    return i / u;
}

enum { DET_FP = 0, DET_TP = 1, DET_IGNORED = 2 };

typedef struct {
    const losskit_eval_boxes *gt, *dt;
    size_t num_images, num_categories;
    const size_t *gt_start, *gt_order, *dt_start, *dt_order;
    size_t max_cell_dt, max_cell_gt;
    double iou_thr[COCO_T], rec_thr[COCO_R];
    double *precision, *recall;
    int *status;
} coco_job;

/* One image and category: the kept detections' states (per area range and
 * threshold: DET_TP, DET_FP or DET_IGNORED) at state[d * A * T + a * T + t],
 * and the regular ground truths per area range added to npig. */
static void coco_match_cell(const coco_job *J, const size_t *gts, size_t G, const size_t *dts, size_t D,
                            double *ious, size_t *gind, uint8_t *gtig, uint8_t *gtm, uint8_t *crowd, size_t *hits,
                            uint8_t *state, size_t npig[COCO_A]) {
    const losskit_eval_boxes *gt = J->gt, *dt = J->dt;
    for (size_t j = 0; j < G; j++) crowd[j] = gt->flags ? gt->flags[gts[j]] : 0;
    /* IoU of the kept detections with every ground truth (file order); a
     * detection below the lowest threshold everywhere matches nothing */
    size_t nhits = 0; /* hits[]: the detections with some IoU >= the lowest threshold */
    for (size_t d = 0; d < D; d++) {
        const double *box = dt->boxes + 4 * dts[d];
        bool hit = false;
        for (size_t j = 0; j < G; j++) {
            double v = coco_iou(box, gt->boxes + 4 * gts[j], crowd[j]);
            ious[d * G + j] = v;
            hit |= v >= J->iou_thr[0];
        }
        hits[nhits] = d;
        nhits += hit;
    }
    for (size_t a = 0; a < COCO_A; a++) {
        const double lo = coco_area_lo[a], hi = coco_area_hi[a];
        /* ground truths: regular first, then ignored (stable) */
        size_t ng = 0, regular = 0;
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = 0; j < G; j++) {
                double area = gt->areas[gts[j]];
                bool ig = crowd[j] || area < lo || area > hi;
                if ((int)ig == pass) { gind[ng] = j; gtig[ng] = ig; ng++; regular += !ig; }
            }
        npig[a] += regular;
        for (size_t d = 0; d < D; d++) {
            const double *box = dt->boxes + 4 * dts[d];
            double area = box[2] * box[3];
            uint8_t unmatched = (area < lo || area > hi) ? DET_IGNORED : DET_FP;
            memset(state + d * (COCO_A * COCO_T) + a * COCO_T, unmatched, COCO_T);
        }
        for (size_t t = 0; t < COCO_T; t++) {
            memset(gtm, 0, G);
            const double thr = J->iou_thr[t] < 1 - 1e-10 ? J->iou_thr[t] : 1 - 1e-10;
            for (size_t h = 0; h < nhits; h++) {
                const size_t d = hits[h];
                const double *row = ious + d * G;
                double iou = thr;
                long m = -1;
                for (size_t q = 0; q < G; q++) {
                    if (gtm[q] && !crowd[gind[q]]) continue;
                    if (m > -1 && !gtig[m] && gtig[q]) break;
                    double v = row[gind[q]];
                    if (v < iou) continue;
                    iou = v;
                    m = (long)q;
                }
                uint8_t s;
                if (m >= 0) {
                    gtm[m] = 1;
                    s = gtig[m] ? DET_IGNORED : DET_TP;
                } else {
                    const double *box = dt->boxes + 4 * dts[d];
                    double area = box[2] * box[3];
                    s = (area < lo || area > hi) ? DET_IGNORED : DET_FP;
                }
                state[d * (COCO_A * COCO_T) + a * COCO_T + t] = s;
            }
        }
    }
}

/* pycocotools' accumulate for one category, area range, threshold and
 * maxDets, over the category's kept detections in score order (their states
 * st[0, n)). Precision is kept at the true positives only: between two of
 * them it falls, so the monotone envelope at any position is the larger of
 * its own value and the envelope at the next true positive, and a recall
 * threshold > 0 is first reached at a true positive. */
static void coco_accumulate(const coco_job *J, size_t k, size_t a, size_t t, size_t mi, const uint8_t *st, size_t n,
                            size_t npig, double *tp_pr) {
    const size_t K = J->num_categories;
    const double eps = 2.220446049250313e-16;
    double tp = 0, fp = 0, first_pr = 0;
    size_t ntp = 0;
    for (size_t o = 0; o < n; o++) {
        const uint8_t s = st[o];
        const bool is_tp = s == DET_TP;
        tp += is_tp;
        fp += s == DET_FP;
        tp_pr[ntp] = tp / (fp + tp + eps);
        ntp += is_tp;
    }
    if (n > 0) first_pr = (st[0] == DET_TP ? 1.0 : 0.0) / ((st[0] == DET_FP ? 1.0 : 0.0) + (st[0] == DET_TP ? 1.0 : 0.0) + eps);
    for (size_t i = ntp; i > 1; i--) /* envelope over the true positives */
        if (tp_pr[i - 1] > tp_pr[i - 2]) tp_pr[i - 2] = tp_pr[i - 1];
    J->recall[((t * K + k) * COCO_A + a) * COCO_M + mi] = n ? tp / (double)npig : 0.0;
    size_t pos = 0; /* the pos-th true positive (0-based): recall (pos + 1) / npig */
    for (size_t r = 0; r < COCO_R; r++) {
        const double thr = J->rec_thr[r];
        double q = 0.0;
        if (n > 0) {
            if (0.0 >= thr) { /* reached at the first detection */
                q = first_pr;
                if (ntp > 0 && tp_pr[0] > q) q = tp_pr[0];
            } else {
                while (pos < ntp && (double)(pos + 1) / (double)npig < thr) pos++;
                q = pos < ntp ? tp_pr[pos] : 0.0;
            }
        }
        J->precision[(((t * COCO_R + r) * K + k) * COCO_A + a) * COCO_M + mi] = q;
    }
}

static void coco_category(void *ctx, size_t k) {
    coco_job *J = ctx;
    const losskit_eval_boxes *dt = J->dt;
    const size_t I = J->num_images;
    const size_t cell0 = k * I;
    const size_t ndt_all = J->dt_start[cell0 + I] - J->dt_start[cell0];
    const size_t maxd = J->max_cell_dt, maxg = J->max_cell_gt;
    const size_t keep_max = maxd < 100 ? maxd : 100;
    const size_t S = COCO_A * COCO_T;

    size_t cap = ndt_all + 1;
    double *score = malloc(cap * sizeof(double));
    uint8_t *rank = malloc(cap);
    uint8_t *state = malloc(cap * S), *sstate = malloc(cap * S);
    size_t *order = malloc(cap * sizeof(size_t)), *tmp = malloc((cap > maxd ? cap : maxd + 1) * sizeof(size_t));
    size_t *cell_dt = malloc((maxd + 1) * sizeof(size_t));
    size_t *gind = malloc((maxg + 1) * sizeof(size_t));
    uint8_t *gtig = malloc(maxg + 1), *gtm = malloc(maxg + keep_max + 1), *crowd = malloc(maxg + 1);
    double *ious = malloc((keep_max * maxg + 1) * sizeof(double));
    double *tp_pr = malloc(cap * sizeof(double));
    size_t *hits = malloc((keep_max + 1) * sizeof(size_t));
    if (!score || !rank || !hits || !state || !sstate || !order || !tmp || !cell_dt || !gind || !gtig || !gtm ||
        !crowd || !ious || !tp_pr) {
        J->status[k] = LOSSKIT_ERR_NOMEM;
        goto done;
    }
    size_t npig[COCO_A] = {0};
    size_t nkept = 0;
    for (size_t img = 0; img < I; img++) {
        const size_t c = cell0 + img;
        const size_t g0 = J->gt_start[c], G = J->gt_start[c + 1] - g0;
        const size_t d0 = J->dt_start[c], Dall = J->dt_start[c + 1] - d0;
        if (G == 0 && Dall == 0) continue;
        memcpy(cell_dt, J->dt_order + d0, Dall * sizeof(size_t));
        sort_desc_stable(dt->scores, cell_dt, Dall, tmp);
        const size_t D = Dall < 100 ? Dall : 100;
        coco_match_cell(J, J->gt_order + g0, G, cell_dt, D, ious, gind, gtig, gtm, crowd, hits, state + nkept * S, npig);
        for (size_t d = 0; d < D; d++) {
            score[nkept + d] = dt->scores[cell_dt[d]];
            rank[nkept + d] = (uint8_t)d;
        }
        nkept += D;
    }
    /* the category's detections: (image, rank) order already; stable by score */
    for (size_t i = 0; i < nkept; i++) order[i] = i;
    sort_desc_stable(score, order, nkept, tmp);
    /* per maxDets, the states of the detections it keeps, transposed to
     * [a, t][sorted position]: each accumulate pass streams one row */
    for (size_t mi = 0; mi < COCO_M; mi++) {
        size_t n = 0;
        for (size_t o = 0; o < nkept; o++) {
            const size_t i = order[o];
            if (rank[i] >= coco_max_dets[mi]) continue;
            for (size_t s = 0; s < S; s++) sstate[s * cap + n] = state[i * S + s];
            n++;
        }
        for (size_t a = 0; a < COCO_A; a++) {
            if (npig[a] == 0) continue; /* stays -1 */
            for (size_t t = 0; t < COCO_T; t++)
                coco_accumulate(J, k, a, t, mi, sstate + (a * COCO_T + t) * cap, n, npig[a], tp_pr);
        }
    }
done:
    free(score); free(rank); free(hits); free(state); free(sstate); free(order); free(tmp); free(cell_dt);
    free(gind); free(gtig); free(gtm); free(crowd); free(ious); free(tp_pr);
}

/* Mean of the entries > -1 (pycocotools' _summarize), -1 if none. */
static double coco_mean(const double *precision, const double *recall, size_t K, int ap, int t_only, size_t a,
                        size_t mi) {
    double sum = 0;
    size_t count = 0;
    for (size_t t = 0; t < COCO_T; t++) {
        if (t_only >= 0 && (int)t != t_only) continue;
        if (ap) {
            for (size_t r = 0; r < COCO_R; r++)
                for (size_t k = 0; k < K; k++) {
                    double v = precision[(((t * COCO_R + r) * K + k) * COCO_A + a) * COCO_M + mi];
                    if (v > -1) { sum += v; count++; }
                }
        } else {
            for (size_t k = 0; k < K; k++) {
                double v = recall[((t * K + k) * COCO_A + a) * COCO_M + mi];
                if (v > -1) { sum += v; count++; }
            }
        }
    }
    return count ? sum / (double)count : -1.0;
}

/* Scratch shared by both evaluations: both sets bucketed by (category, image). */
typedef struct {
    size_t cells;
    size_t *gt_start, *gt_order, *dt_start, *dt_order;
    size_t max_cell_gt, max_cell_dt;
} eval_buckets;

static void buckets_free(eval_buckets *b) {
    free(b->gt_start); free(b->gt_order); free(b->dt_start); free(b->dt_order);
}

static int buckets_build(eval_buckets *b, const losskit_eval_boxes *gt, const losskit_eval_boxes *dt,
                         size_t num_images, size_t num_categories) {
    memset(b, 0, sizeof *b);
    if (!lk_mul_ok(num_images, num_categories, &b->cells) || b->cells >= LK_MAX_FLOATS / 4) return -3;
    b->gt_start = malloc((b->cells + 1) * sizeof(size_t));
    b->dt_start = malloc((b->cells + 1) * sizeof(size_t));
    b->gt_order = malloc((gt->n + 1) * sizeof(size_t));
    b->dt_order = malloc((dt->n + 1) * sizeof(size_t));
    if (!b->gt_start || !b->dt_start || !b->gt_order || !b->dt_order) { buckets_free(b); return LOSSKIT_ERR_NOMEM; }
    bucket_boxes(gt, num_images, b->cells, b->gt_start, b->gt_order);
    bucket_boxes(dt, num_images, b->cells, b->dt_start, b->dt_order);
    for (size_t c = 0; c < b->cells; c++) {
        size_t g = b->gt_start[c + 1] - b->gt_start[c], d = b->dt_start[c + 1] - b->dt_start[c];
        if (g > b->max_cell_gt) b->max_cell_gt = g;
        if (d > b->max_cell_dt) b->max_cell_dt = d;
    }
    return LOSSKIT_OK;
}

int losskit_coco_evaluate(const losskit_eval_boxes *gt, const losskit_eval_boxes *dt,
                          size_t num_images, size_t num_categories,
                          double *stats, double *precision, double *recall, int threads) {
    if (!eval_boxes_ok(gt, false, true, num_images, num_categories)) return -1;
    if (!eval_boxes_ok(dt, true, false, num_images, num_categories)) return -2;
    if (threads < 0) return -8;
    if (!stats) return -5;
    size_t prec_n, rec_n;
    if (!lk_mul_ok(num_categories, (size_t)COCO_T * COCO_R * COCO_A * COCO_M, &prec_n) || prec_n > LK_MAX_FLOATS / 2)
        return -4;
    rec_n = num_categories * COCO_T * COCO_A * COCO_M;
    eval_buckets B;
    int status = buckets_build(&B, gt, dt, num_images, num_categories);
    if (status != LOSSKIT_OK) return status;
    double *P = precision ? precision : malloc((prec_n + 1) * sizeof(double));
    double *Rc = recall ? recall : malloc((rec_n + 1) * sizeof(double));
    int *task_status = calloc(num_categories + 1, sizeof(int));
    if (!P || !Rc || !task_status) { status = LOSSKIT_ERR_NOMEM; goto done; }
    for (size_t i = 0; i < prec_n; i++) P[i] = -1.0;
    for (size_t i = 0; i < rec_n; i++) Rc[i] = -1.0;
    coco_job job = {.gt = gt, .dt = dt, .num_images = num_images, .num_categories = num_categories,
                    .gt_start = B.gt_start, .gt_order = B.gt_order, .dt_start = B.dt_start, .dt_order = B.dt_order,
                    .max_cell_dt = B.max_cell_dt, .max_cell_gt = B.max_cell_gt,
                    .precision = P, .recall = Rc, .status = task_status};
    coco_thresholds(job.iou_thr, job.rec_thr);
    status = lk_parallel_for(num_categories, lk_threads_for(threads, num_categories, 1), coco_category, &job);
    for (size_t k = 0; status == LOSSKIT_OK && k < num_categories; k++)
        if (task_status[k] != LOSSKIT_OK) status = task_status[k];
    if (status == LOSSKIT_OK) {
        const size_t K = num_categories;
        /* summarize(): all/small/medium/large are area indices 0..3; maxDets 1/10/100 are 0..2 */
        stats[0] = coco_mean(P, Rc, K, 1, -1, 0, 2);
        stats[1] = coco_mean(P, Rc, K, 1, 0, 0, 2);
        stats[2] = coco_mean(P, Rc, K, 1, 5, 0, 2);
        stats[3] = coco_mean(P, Rc, K, 1, -1, 1, 2);
        stats[4] = coco_mean(P, Rc, K, 1, -1, 2, 2);
        stats[5] = coco_mean(P, Rc, K, 1, -1, 3, 2);
        stats[6] = coco_mean(P, Rc, K, 0, -1, 0, 0);
        stats[7] = coco_mean(P, Rc, K, 0, -1, 0, 1);
        stats[8] = coco_mean(P, Rc, K, 0, -1, 0, 2);
        stats[9] = coco_mean(P, Rc, K, 0, -1, 1, 2);
        stats[10] = coco_mean(P, Rc, K, 0, -1, 2, 2);
        stats[11] = coco_mean(P, Rc, K, 0, -1, 3, 2);
    }
done:
    if (P != precision) free(P);
    if (Rc != recall) free(Rc);
    free(task_status);
    buckets_free(&B);
    return status;
}

/* ---- VOC ----------------------------------------------------------------- */

typedef struct {
    const losskit_eval_boxes *gt, *dt;
    size_t num_images;
    eval_buckets *B;
    double threshold, one;
    int use07;
    double *ap;
    int *status;
} voc_job;

static void voc_category(void *ctx, size_t k) {
    voc_job *J = ctx;
    const losskit_eval_boxes *gt = J->gt, *dt = J->dt;
    const size_t I = J->num_images, cell0 = k * I;
    const size_t d0 = J->B->dt_start[cell0], nd = J->B->dt_start[cell0 + I] - d0;
    const size_t g0 = J->B->gt_start[cell0], ng = J->B->gt_start[cell0 + I] - g0;
    size_t *order = malloc((nd + 1) * sizeof(size_t)), *tmp = malloc((nd + 1) * sizeof(size_t));
    uint8_t *taken = calloc(ng + 1, 1);
    double *rec = malloc((nd + 1) * sizeof(double)), *prec = malloc((nd + 2) * sizeof(double));
    if (!order || !tmp || !taken || !rec || !prec) { J->status[k] = LOSSKIT_ERR_NOMEM; goto done; }
    size_t npos = 0;
    for (size_t j = 0; j < ng; j++) {
        size_t g = J->B->gt_order[g0 + j];
        if (!(gt->flags && gt->flags[g])) npos++;
    }
    if (npos == 0) { J->ap[k] = -1.0; goto done; }
    /* the category's detections in file order, then stable by score */
    size_t n = 0;
    for (size_t i = 0; i < dt->n; i++)
        if ((size_t)dt->categories[i] == k) order[n++] = i;
    sort_desc_stable(dt->scores, order, n, tmp);
    const double one = J->one;
    double tp = 0, fp = 0;
    for (size_t o = 0; o < n; o++) {
        const size_t d = order[o], img = (size_t)dt->images[d];
        const double *q = dt->boxes + 4 * d;
        const double bx1 = q[0], by1 = q[1], bx2 = q[0] + q[2], by2 = q[1] + q[3];
        const size_t c0 = J->B->gt_start[cell0 + img], c1 = J->B->gt_start[cell0 + img + 1];
        double ovmax = -INFINITY;
        size_t jmax = 0;
        bool nan_seen = false;
        for (size_t j = c0; j < c1; j++) {
            const double *G = gt->boxes + 4 * J->B->gt_order[j];
            const double gx1 = G[0], gy1 = G[1], gx2 = G[0] + G[2], gy2 = G[1] + G[3];
            double iw = fmax(fmin(gx2, bx2) - fmax(gx1, bx1) + one, 0.0);
            double ih = fmax(fmin(gy2, by2) - fmax(gy1, by1) + one, 0.0);
            double inters = iw * ih;
            double bw = bx2 - bx1 + one, bh = by2 - by1 + one, gw = gx2 - gx1 + one, gh = gy2 - gy1 + one;
            double ba = bw * bh, ga = gw * gh;
            double uni = ba + ga - inters;
            double ov = inters / uni;
            if (isnan(ov)) { nan_seen = true; continue; }
            if (ov > ovmax) { ovmax = ov; jmax = j - g0; }
        }
        bool matched = false;
        if (!nan_seen && ovmax > J->threshold) {
            size_t g = J->B->gt_order[g0 + jmax];
            if (gt->flags && gt->flags[g]) { /* difficult: neither */
                rec[o] = tp; prec[o] = fp;
                continue;
            }
            if (!taken[jmax]) { taken[jmax] = 1; matched = true; }
        }
        if (matched) tp += 1; else fp += 1;
        rec[o] = tp; prec[o] = fp; /* cumulative counts; converted below */
    }
    for (size_t o = 0; o < n; o++) {
        double t = rec[o], f = prec[o];
        rec[o] = t / (double)npos;
        double denom = t + f;
        prec[o] = t / (denom > 2.220446049250313e-16 ? denom : 2.220446049250313e-16);
    }
    double ap = 0.0;
    if (J->use07) {
        for (int i = 0; i < 11; i++) {
            double thr = (double)i * 0.1, p = 0.0;
            bool any = false;
            for (size_t o = 0; o < n; o++)
                if (rec[o] >= thr) { if (!any || prec[o] > p) p = prec[o]; any = true; }
            ap = ap + (any ? p : 0.0) / 11.0;
        }
    } else {
        /* mrec = [0, rec, 1], mpre = [0, prec, 0]; envelope; sum over recall changes */
        double next_pre = 0.0; /* envelope at position o + 1 of mpre */
        double *env = prec;    /* in place: env[o] = max(prec[o..]) */
        for (size_t o = n; o > 0; o--) {
            if (env[o - 1] < next_pre) env[o - 1] = next_pre;
            next_pre = env[o - 1];
        }
        double prev_rec = 0.0;
        for (size_t o = 0; o <= n; o++) {
            double r = o < n ? rec[o] : 1.0, p = o < n ? env[o] : 0.0;
            if (r != prev_rec) ap += (r - prev_rec) * p;
            prev_rec = r;
        }
    }
    J->ap[k] = ap;
done:
    free(order); free(tmp); free(taken); free(rec); free(prec);
}

int losskit_voc_evaluate(const losskit_eval_boxes *gt, const losskit_eval_boxes *dt,
                         size_t num_images, size_t num_categories, double iou_threshold,
                         int use_07_metric, int plus_one, double *ap, double *map_value, int threads) {
    if (!eval_boxes_ok(gt, false, false, num_images, num_categories)) return -1;
    if (!eval_boxes_ok(dt, true, false, num_images, num_categories)) return -2;
    if (!(iou_threshold >= 0.0 && iou_threshold <= 1.0)) return -5;
    if (!ap && num_categories > 0) return -8;
    if (threads < 0) return -10;
    eval_buckets B;
    int status = buckets_build(&B, gt, dt, num_images, num_categories);
    if (status != LOSSKIT_OK) return status;
    int *task_status = calloc(num_categories + 1, sizeof(int));
    if (!task_status) { buckets_free(&B); return LOSSKIT_ERR_NOMEM; }
    voc_job job = {.gt = gt, .dt = dt, .num_images = num_images, .B = &B, .threshold = iou_threshold,
                   .one = plus_one ? 1.0 : 0.0, .use07 = use_07_metric, .ap = ap, .status = task_status};
    status = lk_parallel_for(num_categories, lk_threads_for(threads, num_categories, 1), voc_category, &job);
    for (size_t k = 0; status == LOSSKIT_OK && k < num_categories; k++)
        if (task_status[k] != LOSSKIT_OK) status = task_status[k];
    if (status == LOSSKIT_OK && map_value) {
        double sum = 0;
        size_t count = 0;
        for (size_t k = 0; k < num_categories; k++)
            if (ap[k] != -1.0) { sum += ap[k]; count++; }
        *map_value = count ? sum / (double)count : NAN;
    }
    free(task_status);
    buckets_free(&B);
    return status;
}
