/* SSD: encode / decode, two-rule prior matching, MultiBox loss with hard
 * negative mining; greedy NMS. The IoU and softmax CE work goes through the
 * kernels of boxes.c and softmax.c. */
#include "internal.h"
#include <stdatomic.h>
#include <stdlib.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

static void encode_one(const float *m, const float *p, float v0, float v1, float *out) {
    out[0] = (0.5f * (m[0] + m[2]) - p[0]) / (v0 * p[2]);
    out[1] = (0.5f * (m[1] + m[3]) - p[1]) / (v0 * p[3]);
    out[2] = logf((m[2] - m[0]) / p[2]) / v1;
    out[3] = logf((m[3] - m[1]) / p[3]) / v1;
}

int losskit_ssd_encode(const float *matched_xyxy, const float *priors_cxcywh, size_t n,
                       float v0, float v1, float *loc) {
    LK_CHECK(matched_xyxy != NULL || n == 0, 1);
    LK_CHECK(priors_cxcywh != NULL || n == 0, 2);
    LK_CHECK(n <= LK_MAX_FLOATS / 4, 3);
    LK_CHECK(isfinite(v0) && v0 > 0.0f, 4);
    LK_CHECK(isfinite(v1) && v1 > 0.0f, 5);
    LK_CHECK(loc != NULL || n == 0, 6);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_XYXY, matched_xyxy, n) == n, 1);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_CXCYWH, priors_cxcywh, n) == n, 2);
    for (size_t i = 0; i < n; i++) encode_one(matched_xyxy + 4 * i, priors_cxcywh + 4 * i, v0, v1, loc + 4 * i);
    return LOSSKIT_OK;
}

int losskit_ssd_decode(const float *loc, const float *priors_cxcywh, size_t n,
                       float v0, float v1, float *boxes_xyxy) {
    LK_CHECK(loc != NULL || n == 0, 1);
    LK_CHECK(priors_cxcywh != NULL || n == 0, 2);
    LK_CHECK(n <= LK_MAX_FLOATS / 4, 3);
    LK_CHECK(isfinite(v0) && v0 > 0.0f, 4);
    LK_CHECK(isfinite(v1) && v1 > 0.0f, 5);
    LK_CHECK(boxes_xyxy != NULL || n == 0, 6);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_CXCYWH, priors_cxcywh, n) == n, 2);
    for (size_t i = 0; i < n; i++) {
        const float *l = loc + 4 * i, *p = priors_cxcywh + 4 * i;
        float cx = p[0] + l[0] * v0 * p[2], cy = p[1] + l[1] * v0 * p[3];
        float w = p[2] * expf(l[2] * v1), h = p[3] * expf(l[3] * v1);
        float *b = boxes_xyxy + 4 * i;
        b[0] = cx - 0.5f * w;
        b[1] = cy - 0.5f * h;
        b[2] = b[0] + w; /* as ssd.pytorch: x2 = x1 + w */
        b[3] = b[1] + h;
    }
    return LOSSKIT_OK;
}

static void priors_to_corners(const float *p, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        out[4 * i] = p[4 * i] - 0.5f * p[4 * i + 2];
        out[4 * i + 1] = p[4 * i + 1] - 0.5f * p[4 * i + 3];
        out[4 * i + 2] = p[4 * i] + 0.5f * p[4 * i + 2];
        out[4 * i + 3] = p[4 * i + 1] + 0.5f * p[4 * i + 3];
    }
}

/* Rule one's scan, over the rows t of an IoU matrix [T, P]: each prior's best
 * truth (first on ties) into best_overlap / best_truth (floats: truth indices
 * are small), and each row's first argmax into best_prior. */
static void scan_iou_scalar(const float *restrict iou, size_t T, size_t P, float *restrict best_overlap,
                            float *restrict best_truth, uint32_t *best_prior) {
    for (size_t t = 0; t < T; t++) {
        const float *row = iou + t * P;
        size_t best = 0;
        for (size_t p = 0; p < P; p++) {
            if (row[p] > best_overlap[p]) { best_overlap[p] = row[p]; best_truth[p] = (float)t; }
            if (row[p] > row[best]) best = p;
        }
        best_prior[t] = (uint32_t)best;
    }
}

/* The same per ISA (multibox_simd.h): VFN(scan_iou). */
#define LK_SIMD_TEMPLATE "multibox_simd.h"
#include "simd_each_isa.h"

/* The two rules, from an IoU matrix [T, P]; scratch: best_overlap[P],
 * best_truth[P] (floats) and best_prior[T] (P < 2^31: checked by the callers). */
static void match_from_iou(const float *restrict iou, size_t T, size_t P, const int64_t *labels, float threshold,
                           float *restrict best_overlap, float *restrict best_truth, uint32_t *best_prior,
                           int64_t *matched, int64_t *conf_t) {
    for (size_t p = 0; p < P; p++) { best_overlap[p] = -1.0f; best_truth[p] = -1.0f; }
#if LK_X86
    const losskit_isa path = lk_isa_path();
    if (path == LOSSKIT_ISA_AVX512) scan_iou_avx512(iou, T, P, best_overlap, best_truth, best_prior);
    else if (path == LOSSKIT_ISA_AVX2) scan_iou_avx2(iou, T, P, best_overlap, best_truth, best_prior);
    else
#elif LK_ARM64
    if (lk_isa_path() == LOSSKIT_ISA_NEON) scan_iou_neon(iou, T, P, best_overlap, best_truth, best_prior);
    else
#endif
        scan_iou_scalar(iou, T, P, best_overlap, best_truth, best_prior);
    for (size_t t = 0; t < T; t++) { /* each truth claims its best prior; a later truth wins */
        best_overlap[best_prior[t]] = 2.0f;
        best_truth[best_prior[t]] = (float)t;
    }
    for (size_t p = 0; p < P; p++) {
        int64_t t = (int64_t)best_truth[p];
        bool background = t < 0 || !(best_overlap[p] >= threshold);
        matched[p] = background ? -1 : t;
        conf_t[p] = background ? 0 : labels[t] + 1;
    }
}

static bool boxes_well_formed(const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float *x = b + 4 * i;
        if (!(isfinite(x[0]) && isfinite(x[1]) && isfinite(x[2]) && isfinite(x[3]) && x[0] <= x[2] && x[1] <= x[3]))
            return false;
    }
    return true;
}

int losskit_ssd_match(const float *truths_xyxy, const int64_t *labels, size_t num_truths,
                      const float *priors_cxcywh, size_t num_priors, float threshold,
                      int64_t *matched_index, int64_t *conf_target) {
    size_t cells;
    LK_CHECK(truths_xyxy != NULL || num_truths == 0, 1);
    LK_CHECK(labels != NULL || num_truths == 0, 2);
    /* bounds that keep the scratch size, 6P + T P + T floats, far from overflowing */
    LK_CHECK(num_truths <= INT32_MAX && lk_mul_ok(num_truths, num_priors, &cells) && cells <= LK_MAX_FLOATS / 2, 3);
    LK_CHECK(priors_cxcywh != NULL || num_priors == 0, 4);
    LK_CHECK(num_priors <= INT32_MAX, 5);
    LK_CHECK(!isnan(threshold), 6);
    LK_CHECK(matched_index != NULL || num_priors == 0, 7);
    LK_CHECK(conf_target != NULL || num_priors == 0, 8);
    LK_CHECK(boxes_well_formed(truths_xyxy, num_truths), 1);
    for (size_t t = 0; t < num_truths; t++) LK_CHECK(labels[t] >= 0 && labels[t] < INT64_MAX, 2);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_CXCYWH, priors_cxcywh, num_priors) == num_priors, 4);
    float *scratch = malloc(sizeof(float) * (4 * num_priors + cells + 2 * num_priors + num_truths + 1));
    if (!scratch) return LOSSKIT_ERR_NOMEM;
    float *corners = scratch, *iou = scratch + 4 * num_priors, *best = iou + cells, *best_truth = best + num_priors;
    uint32_t *best_prior = (uint32_t *)(best_truth + num_priors);
    priors_to_corners(priors_cxcywh, num_priors, corners);
    int status = lk_box_iou_matrix_kept(LOSSKIT_IOU, truths_xyxy, num_truths, corners, num_priors, iou, 1);
    if (status == LOSSKIT_OK)
        match_from_iou(iou, num_truths, num_priors, labels, threshold, best, best_truth, best_prior, matched_index,
                       conf_target);
    free(scratch);
    return status;
}

/* ---- MultiBox ------------------------------------------------------------- */

typedef struct {
    const float *loc, *priors, *corners, *truths;
    lk_box_soa corner_soa; /* the priors' corners as the IoU kernel's columns */
    const int64_t *labels;
    const size_t *first, *counts;
    size_t P;
    float threshold, v0, v1;
    int64_t *conf_t;   /* [B, P] */
    int64_t *matched;  /* [B, P] */
    float *iou;        /* per image b: IoU [T_b, P], best overlap and truth [2P], best prior [T_b]; at (first[b] + 2b) P + first[b] */
    size_t *positives; /* [B] */
} match_job;

static void match_image(void *ctx, size_t b) {
    match_job *j = ctx;
    size_t T = j->counts[b], P = j->P;
    float *iou = j->iou + (j->first[b] + 2 * b) * P + j->first[b];
    if (T) lk_box_iou_from_soa(LOSSKIT_IOU, j->truths + 4 * j->first[b], T, j->corners, j->corner_soa, iou, 1);
    match_from_iou(iou, T, P, j->labels + j->first[b], j->threshold, iou + T * P, iou + (T + 1) * P,
                   (uint32_t *)(iou + (T + 2) * P), j->matched + b * P, j->conf_t + b * P);
    const int64_t *ct = j->conf_t + b * P;
    size_t pos = 0;
    for (size_t p = 0; p < P; p++) pos += ct[p] > 0;
    j->positives[b] = pos;
}

/* Mining order: loss descending, then index ascending; NaN ranks first (the
 * hardest: it must reach the loss) and -0 equals +0. A key with that order
 * as unsigned integers lets a radix select find the k-th without sorting.
 * Branch-free, so that the loops over it vectorize. */
static inline uint32_t mining_key(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u = v == 0.0f ? 0u : u;
    uint32_t key = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return v != v ? UINT32_MAX : key;
}

/* Marks selected[p] = 1 for the top k of loss[0, n) in mining order (k <= n),
 * 0 for the rest: histograms over 11, 11 and 10 bits of the key pin the k-th
 * key exactly (the second and third over the few keys left in the first's
 * bin); ties at it go to the lowest indices. O(n), branch-free counting (a
 * quickselect's data-dependent branches measured several times slower here).
 * keys: scratch [n]: every key, then the first pass's bin compacted in
 * place (the last pass computes the keys again from the losses). */
#define MB_HIST_WAYS 4
static void select_top(const float *loss, size_t n, size_t k, uint32_t *keys, uint8_t *selected) {
    if (k == 0) { memset(selected, 0, n); return; }
    for (size_t p = 0; p < n; p++) keys[p] = mining_key(loss[p]);
    /* pass 1 over everything: the top 11 bits. The losses of one image share
     * a few exponents, so most keys fall in a few bins: counting into four
     * interleaved histograms keeps the increments of one bin from waiting
     * on each other. */
    uint32_t hist[MB_HIST_WAYS][2048];
    memset(hist, 0, sizeof hist);
    size_t p = 0;
    for (; p + MB_HIST_WAYS <= n; p += MB_HIST_WAYS)
        for (int w = 0; w < MB_HIST_WAYS; w++) hist[w][keys[p + w] >> 21]++;
    for (; p < n; p++) hist[0][keys[p] >> 21]++;
    for (int w = 1; w < MB_HIST_WAYS; w++)
        for (int b = 0; b < 2048; b++) hist[0][b] += hist[w][b];
    size_t need = k;
    uint32_t bin = 2048;
    while (bin-- > 0) { /* from the top: the bin where the k-th falls */
        if (hist[0][bin] >= need) break;
        need -= hist[0][bin];
    }
    uint32_t prefix = bin << 21;
    /* the keys in that bin, compacted to the front of keys[] (in place: the
     * others are not needed past here); passes 2 and 3 run on them */
    size_t nc = 0;
    for (size_t q = 0; q < n; q++) {
        uint32_t key = keys[q];
        keys[nc] = key;
        nc += (key >> 21) == bin;
    }
    static const int shift[2] = {10, 0};
    static const uint32_t width[2] = {2048, 1024};
    uint32_t prefix_mask = 0x7FFu << 21;
    for (int pass = 0; pass < 2; pass++) {
        memset(hist[0], 0, sizeof(uint32_t) * width[pass]);
        for (size_t c = 0; c < nc; c++)
            if ((keys[c] & prefix_mask) == prefix) hist[0][(keys[c] >> shift[pass]) & (width[pass] - 1)]++;
        bin = width[pass];
        while (bin-- > 0) {
            if (hist[0][bin] >= need) break;
            need -= hist[0][bin];
        }
        prefix |= bin << shift[pass];
        prefix_mask |= (width[pass] - 1) << shift[pass];
    }
    /* keys above the k-th are in; of those equal to it, the first `need`
     * (keys[] now holds the compacted bin: recompute) */
    size_t ties = 0;
    for (size_t q = 0; q < n; q++) {
        uint32_t key = mining_key(loss[q]);
        selected[q] = key > prefix;
        ties += key == prefix;
    }
    for (size_t q = 0; q < n && need > 0 && ties > 0; q++) {
        if (mining_key(loss[q]) == prefix) { selected[q] = 1; need--; }
    }
}

typedef struct {
    const float *loc, *conf, *priors, *truths;
    const size_t *first, *positives;
    size_t P, classes;
    float neg_pos_ratio, v0, v1, inv_n;
    const int64_t *conf_t, *matched;
    float *mining;      /* [B P] background CE */
    uint32_t *keys;     /* [B P] mining keys (scratch) */
    uint8_t *selected;  /* [B P] */
    int64_t *target;    /* [B P] CE target, -1 = not counted */
    size_t *slot;       /* [B + 1] where each image's rows start in the compact block */
    size_t *count;      /* [B] rows each image put there */
    double *loc_part;   /* [B] localization loss per image */
    float *grad_loc, *grad_conf;
    float *sel_x, *sel_g;
    int64_t *sel_y;
    size_t *sel_rows;
    _Atomic int status; /* a task's failure (out of memory), for the caller */
} image_job;

/* Hard negatives an image with `pos` positives among P priors takes, as
 * ssd.pytorch: num_neg = clamp(negpos_ratio * num_pos, max = P - 1) is a
 * float32 tensor (the int64 count promoted), and `idx_rank < num_neg`
 * keeps every rank below it: ceil of the float product (ratio 2.5, 31
 * positives: 77.5, 78 negatives), at most P - 1. */
static size_t negatives_for(float neg_pos_ratio, size_t pos, size_t P) {
    const float want = neg_pos_ratio * (float)pos; /* one rounding, in float, as torch */
    return want >= (float)(P - 1) ? P - 1 : (size_t)ceilf(want);
}

/* Image b, start to end but for the confidence loss: the background CE of
 * its priors (the softmax kernel, forward only, on this thread), hard
 * negatives, CE targets, the localization loss and gradient, its counted
 * rows copied into its slots of the compact block while they are still in
 * the cache (slots it leaves empty get label -1: skipped), and its
 * confidence gradient zeroed. */
static void image_mine(void *ctx, size_t b) {
    image_job *j = ctx;
    const size_t P = j->P, C = j->classes, r0 = b * P;
    const int64_t *ct = j->conf_t + r0;
    int64_t *tg = j->target + r0;
    float *ml = j->mining + r0;
    memset(tg, 0, sizeof(int64_t) * P); /* label 0 everywhere: the background CE */
    double unused;
    int status = lk_softmax_ce_scaled(j->conf + r0 * C, tg, P, C, NULL, -1, 0.0f, 1.0f, ml, NULL, 1, &unused);
    if (status != LOSSKIT_OK) { atomic_store(&j->status, status); return; }
    for (size_t p = 0; p < P; p++) ml[p] = ct[p] > 0 ? 0.0f : ml[p]; /* positives rank as 0 */
    uint8_t *sel = j->selected + r0;
    select_top(ml, P, negatives_for(j->neg_pos_ratio, j->positives[b], P), j->keys + r0, sel);
    size_t n = 0;
    for (size_t p = 0; p < P; p++) {
        int64_t t = ct[p] > 0 ? ct[p] : (int64_t)sel[p] - 1;
        tg[p] = t;
        n += t >= 0;
    }
    j->count[b] = n;
    /* counted rows into the compact block (n <= the image's slots: its
     * positives and at most negatives_for() others) */
    size_t k = j->slot[b];
    for (size_t p = 0; p < P; p++) {
        if (tg[p] < 0) continue;
        memcpy(j->sel_x + k * C, j->conf + (r0 + p) * C, sizeof(float) * C);
        j->sel_y[k] = tg[p];
        j->sel_rows[k++] = r0 + p;
    }
    for (; k < j->slot[b + 1]; k++) {
        memset(j->sel_x + k * C, 0, sizeof(float) * C);
        j->sel_y[k] = -1;
        j->sel_rows[k] = SIZE_MAX;
    }
    if (j->grad_conf) lk_zero_streaming(j->grad_conf + r0 * C, P * C);
    /* smooth L1 (beta 1) on the encoded offsets of the positives */
    double loc_sum = 0.0;
    float *gl = j->grad_loc ? j->grad_loc + 4 * r0 : NULL;
    if (gl) memset(gl, 0, sizeof(float) * 4 * P);
    for (size_t p = 0; p < P; p++) {
        if (ct[p] <= 0) continue;
        size_t r = r0 + p;
        float enc[4];
        encode_one(j->truths + 4 * (j->first[b] + (size_t)j->matched[r]), j->priors + 4 * p, j->v0, j->v1, enc);
        for (int q = 0; q < 4; q++) {
            float d = j->loc[4 * r + q] - enc[q], a = fabsf(d);
            loc_sum += a < 1.0f ? 0.5f * d * d : a - 0.5f;
            if (gl) gl[4 * p + q] = (a < 1.0f ? d : (d > 0 ? 1.0f : (d < 0 ? -1.0f : d))) * j->inv_n;
        }
    }
    j->loc_part[b] = loc_sum;
}

/* The compact block's gradient rows of image b back in place (its gradient
 * was zeroed with streaming stores, so the rows' lines are fetched ahead). */
static void image_scatter(void *ctx, size_t b) {
    image_job *j = ctx;
    const size_t C = j->classes, k0 = j->slot[b], k1 = k0 + j->count[b];
    enum { AHEAD = 8 };
    for (size_t k = k0; k < k1; k++) {
        if (k + AHEAD < k1) {
            const char *ahead = (const char *)(j->grad_conf + j->sel_rows[k + AHEAD] * C);
            for (size_t off = 0; off < sizeof(float) * C + 63; off += 64) __builtin_prefetch(ahead + off, 1);
        }
        memcpy(j->grad_conf + j->sel_rows[k] * C, j->sel_g + k * C, sizeof(float) * C);
    }
}

int losskit_multibox_loss(const float *loc, const float *conf, size_t batch, size_t num_priors, size_t classes,
                          const float *priors_cxcywh, const float *truths_xyxy, const int64_t *labels,
                          const size_t *truth_counts, float threshold, float neg_pos_ratio, float v0, float v1,
                          float *loss_loc, float *loss_conf, float *grad_loc, float *grad_conf,
                          int64_t *conf_target, int threads) {
    size_t rows, cells;
    LK_CHECK(loc != NULL || batch == 0, 1);
    LK_CHECK(conf != NULL || batch == 0, 2);
    LK_CHECK(lk_mul_ok(batch, num_priors, &rows) && rows <= LK_MAX_FLOATS / 4 && num_priors <= INT32_MAX, 3);
    LK_CHECK(num_priors >= 1, 4);
    LK_CHECK(classes >= 2 && lk_mul_ok(rows, classes, &cells) && cells <= LK_MAX_FLOATS, 5);
    LK_CHECK(priors_cxcywh != NULL, 6);
    LK_CHECK(truth_counts != NULL || batch == 0, 9);
    size_t total_truths = 0;
    for (size_t b = 0; b < batch; b++) {
        LK_CHECK(!__builtin_add_overflow(total_truths, truth_counts[b], &total_truths), 9);
    }
    LK_CHECK(total_truths <= LK_MAX_FLOATS / 4, 9);
    LK_CHECK(truths_xyxy != NULL || total_truths == 0, 7);
    LK_CHECK(labels != NULL || total_truths == 0, 8);
    LK_CHECK(!isnan(threshold), 10);
    LK_CHECK(isfinite(neg_pos_ratio) && neg_pos_ratio >= 0.0f, 11);
    LK_CHECK(isfinite(v0) && v0 > 0.0f, 12);
    LK_CHECK(isfinite(v1) && v1 > 0.0f, 13);
    LK_CHECK(loss_loc != NULL, 14);
    LK_CHECK(loss_conf != NULL, 15);
    LK_CHECK(threads >= 0, 19);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_CXCYWH, priors_cxcywh, num_priors) == num_priors, 6);
    LK_CHECK(boxes_well_formed(truths_xyxy, total_truths), 7);
    for (size_t t = 0; t < total_truths; t++) LK_CHECK(labels[t] >= 0 && (uint64_t)labels[t] + 1 < classes, 8);

    const size_t P = num_priors;
    /* scratch, kept by the calling thread between calls (a training loop
     * would page-fault ~20 MB of fresh memory in again at every step):
     * first [B + 1], corners [4P] and as arrays [8P], IoU [(T + 2B) P + T],
     * conf_t, matched, CE target [B P], mining loss, keys, selected [B P],
     * per image: positives, slots [B + 1], rows placed, localization loss */
    enum { PARTS = 14 };
    size_t sizes[PARTS] = {sizeof(size_t) * (batch + 1), sizeof(float) * 4 * P, sizeof(float) * lk_box_soa_floats(P),
                           sizeof(float) * ((total_truths + 2 * batch) * P + total_truths),
                           conf_target ? 0 : sizeof(int64_t) * rows, sizeof(int64_t) * rows, sizeof(float) * rows,
                           sizeof(uint32_t) * rows, rows, sizeof(int64_t) * rows, sizeof(size_t) * batch,
                           sizeof(size_t) * (batch + 1), sizeof(size_t) * batch, sizeof(double) * batch};
    size_t offsets[PARTS], bytes = 0;
    for (int k = 0; k < PARTS; k++) {
        offsets[k] = bytes;
        bytes += (sizes[k] + 63) & ~(size_t)63;
    }
    char *block = lk_thread_scratch(0, bytes);
    int status = LOSSKIT_OK;
    if (!block) return LOSSKIT_ERR_NOMEM;
    size_t *first = (size_t *)(block + offsets[0]);
    float *corners = (float *)(block + offsets[1]), *corner_soa = (float *)(block + offsets[2]);
    float *iou = (float *)(block + offsets[3]);
    int64_t *conf_t = conf_target ? conf_target : (int64_t *)(block + offsets[4]);
    int64_t *matched = (int64_t *)(block + offsets[5]);
    float *mining = (float *)(block + offsets[6]);
    uint32_t *keys = (uint32_t *)(block + offsets[7]);
    uint8_t *selected = (uint8_t *)(block + offsets[8]);
    int64_t *target = (int64_t *)(block + offsets[9]);
    size_t *positives = (size_t *)(block + offsets[10]);
    size_t *slot = (size_t *)(block + offsets[11]);
    size_t *count = (size_t *)(block + offsets[12]);
    double *loc_part = (double *)(block + offsets[13]);
    first[0] = 0;
    for (size_t b = 0; b < batch; b++) first[b + 1] = first[b] + truth_counts[b];
    priors_to_corners(priors_cxcywh, P, corners);
    const lk_box_soa corner_cols = lk_box_soa_fill(corners, P, corner_soa);

    /* 1. match every image (in parallel), counting its positives */
    match_job mj = {.loc = loc, .priors = priors_cxcywh, .corners = corners, .corner_soa = corner_cols,
                    .truths = truths_xyxy, .labels = labels, .first = first, .counts = truth_counts, .P = P,
                    .threshold = threshold, .v0 = v0, .v1 = v1, .conf_t = conf_t, .matched = matched, .iou = iou,
                    .positives = positives};
    int image_threads = lk_threads_for(threads, batch, 1);
    status = lk_parallel_for(batch, image_threads, match_image, &mj);
    if (status != LOSSKIT_OK) goto done;

    size_t num_pos = 0;
    for (size_t b = 0; b < batch; b++) num_pos += positives[b];
    if (num_pos == 0) { /* N = 0: nothing to learn from */
        *loss_loc = 0.0f;
        *loss_conf = 0.0f;
        if (grad_loc) memset(grad_loc, 0, sizeof(float) * 4 * rows);
        if (grad_conf) memset(grad_conf, 0, sizeof(float) * cells);
        goto done;
    }

    /* 2. the confidence loss is CE over positives and mined negatives (a few %
     * of the priors), gradient scaled by 1/N: those rows go into a compact
     * block for the softmax kernel. Each image's slots there: its positives
     * and at most negatives_for() others. */
    slot[0] = 0;
    for (size_t b = 0; b < batch; b++) {
        size_t cap = positives[b] + negatives_for(neg_pos_ratio, positives[b], P);
        slot[b + 1] = slot[b] + (cap < P ? cap : P);
    }
    const size_t nsel = slot[batch];
    size_t sel_floats = ((nsel * classes * (grad_conf ? 2 : 1)) + 15) & ~(size_t)15;
    char *sel = lk_thread_scratch(1, sizeof(float) * sel_floats + (sizeof(size_t) + sizeof(int64_t)) * (nsel + 1));
    if (!sel) { status = LOSSKIT_ERR_NOMEM; goto done; }
    image_job ij = {.loc = loc, .conf = conf, .priors = priors_cxcywh, .truths = truths_xyxy, .first = first,
                    .positives = positives, .P = P, .classes = classes, .neg_pos_ratio = neg_pos_ratio, .v0 = v0,
                    .v1 = v1, .inv_n = (float)(1.0 / (double)num_pos), .conf_t = conf_t, .matched = matched,
                    .mining = mining, .keys = keys, .selected = selected, .target = target, .slot = slot,
                    .count = count, .loc_part = loc_part, .grad_loc = grad_loc, .grad_conf = grad_conf};
    ij.sel_x = (float *)sel;
    ij.sel_rows = (size_t *)(sel + sizeof(float) * sel_floats);
    ij.sel_y = (int64_t *)(ij.sel_rows + nsel + 1);
    ij.sel_g = grad_conf ? ij.sel_x + nsel * classes : NULL;

    /* 3. per image, in parallel: mining, targets, localization, gathering */
    atomic_init(&ij.status, LOSSKIT_OK);
    status = lk_parallel_for(batch, image_threads, image_mine, &ij);
    if (status == LOSSKIT_OK) status = atomic_load(&ij.status);
    if (status != LOSSKIT_OK) goto done;

    /* 4. CE and its gradient on the compact block; the gradient rows back in place */
    double conf_sum = 0.0;
    status = lk_softmax_ce_scaled(ij.sel_x, ij.sel_y, nsel, classes, NULL, -1, 0.0f, ij.inv_n, NULL, ij.sel_g, threads,
                                  &conf_sum);
    if (status != LOSSKIT_OK) goto done;
    if (grad_conf) {
        status = lk_parallel_for(batch, image_threads, image_scatter, &ij);
        if (status != LOSSKIT_OK) goto done;
    }
    double loc_sum = 0.0;
    for (size_t b = 0; b < batch; b++) loc_sum += loc_part[b]; /* image order: any thread count, same sum */
    *loss_loc = (float)(loc_sum / (double)num_pos);
    *loss_conf = (float)(conf_sum / (double)num_pos);

done:
    return status;
}

/* ---- NMS ------------------------------------------------------------------ */

typedef struct { float score; int64_t index; } scored;

/* descending score, ties by lower index, NaN last */
static int by_score(const void *pa, const void *pb) {
    const scored *a = pa, *b = pb;
    bool na = isnan(a->score), nb = isnan(b->score);
    if (na != nb) return na ? 1 : -1;
    if (a->score > b->score) return -1;
    if (a->score < b->score) return 1;
    return a->index < b->index ? -1 : (a->index > b->index ? 1 : 0);
}

int losskit_nms(const float *boxes_xyxy, const float *scores, size_t n, float iou_threshold,
                int64_t *keep, size_t *kept) {
    LK_CHECK(boxes_xyxy != NULL || n == 0, 1);
    LK_CHECK(scores != NULL || n == 0, 2);
    LK_CHECK(n <= LK_MAX_FLOATS / 4, 3);
    LK_CHECK(!isnan(iou_threshold), 4);
    LK_CHECK(keep != NULL || n == 0, 5);
    LK_CHECK(kept != NULL, 6);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_XYXY, boxes_xyxy, n) == n, 1);
    *kept = 0;
    if (n == 0) return LOSSKIT_OK;
    scored *order = malloc(sizeof(scored) * n);
    unsigned char *dead = calloc(n, 1);
    float *iou = malloc(sizeof(float) * n);
    float *sorted = malloc(sizeof(float) * 4 * n);
    if (!order || !dead || !iou || !sorted) { free(order); free(dead); free(iou); free(sorted); return LOSSKIT_ERR_NOMEM; }
    for (size_t i = 0; i < n; i++) order[i] = (scored){scores[i], (int64_t)i};
    qsort(order, n, sizeof(scored), by_score);
    for (size_t i = 0; i < n; i++) memcpy(sorted + 4 * i, boxes_xyxy + 4 * order[i].index, 4 * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        if (dead[i]) continue;
        keep[(*kept)++] = order[i].index;
        size_t rest = n - i - 1;
        if (!rest) break;
        /* the IoU kernel: this box against every later one */
        lk_box_iou_matrix_kept(LOSSKIT_IOU, sorted + 4 * i, 1, sorted + 4 * (i + 1), rest, iou, 1);
        for (size_t j = 0; j < rest; j++) if (iou[j] > iou_threshold) dead[i + 1 + j] = 1;
    }
    free(order); free(dead); free(iou); free(sorted);
    return LOSSKIT_OK;
}
