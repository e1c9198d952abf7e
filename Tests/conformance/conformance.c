/* LossKit C conformance run: every C entry point of the headers in CKernels/include,
 * without Swift. Runs natively (x86-64: AVX2 and AVX-512 against scalar,
 * whichever the CPU has) and under qemu-user on aarch64 (NEON against
 * scalar): `make test-c`, `make test-arm64`.
 *
 * Four tables, each entry a few lines:
 *  - diff_cases: one function per entry point (and mode) that computes its
 *    outputs from inputs it generates (variant 0 random, 1 edge values -
 *    NaN, +-inf, +-0, huge, tiny -, 2 large enough to run on threads). Each
 *    entry is run on the scalar path and on every SIMD path the CPU has,
 *    compared within the Swift differential tests' tolerances (NaN where
 *    the scalar path has NaN), and again at 2 and 3 threads, bitwise.
 *  - the vector math sweep: exp / log / log1p / sigmoid / softplus on each
 *    SIMD path within 2 ulp of libm over the whole float range.
 *  - golden_cases: the JSON fixtures of Tests/LossKitTests/Fixtures, on
 *    every path, within the golden tolerances.
 *  - bad_args: a bad argument returns its status code (-k for the k-th).
 * Adding an entry point: a run_* function and a line in diff_cases (and a
 * line in bad_args; a golden_* handler if it has a fixture).
 *
 * Usage: conformance [fixtures-dir]. Prints the ISA paths and the number of
 * cases checked, and ends with "N passed, N failed" (exit status 1 if any
 * failed). */
#include "losskit.h"
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- results, RNG, inputs ------------------------------------------- */

static int passed, failed;

static void report(int ok, const char *fmt, ...) {
    if (ok) { passed++; return; }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

/* A growable list of floats: everything an entry point wrote, statuses too. */
typedef struct { float *v; size_t n, cap; } obuf;

static void put(obuf *o, const float *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 16;
        o->v = realloc(o->v, o->cap * sizeof *o->v);
    }
    memcpy(o->v + o->n, p, n * sizeof *p);
    o->n += n;
}
static void put1(obuf *o, float v) { put(o, &v, 1); }
static void put_ints(obuf *o, const int64_t *p, size_t n) { for (size_t i = 0; i < n; i++) put1(o, (float)p[i]); }

static uint64_t rng_state;
static void seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t next(void) {
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static float uni(float lo, float hi) { return lo + (hi - lo) * (float)((next() >> 40) * 0x1p-24); }
static float gauss(void) {
    float u = uni(1e-7f, 1.0f), v = uni(0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}
static float *fill(size_t n, float lo, float hi) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = uni(lo, hi);
    return p;
}
static float *normals(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * gauss();
    return p;
}
static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* variant 1: every 7th element an edge value */
static void edges(float *p, size_t n, int variant) {
    static const float e[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e4f, -1e4f, 1e-30f, 88.0f, -88.0f, 1e30f, -1e-40f};
    if (variant != 1) return;
    for (size_t i = 3, k = 0; i < n; i += 7, k++) p[i] = e[k % (sizeof e / sizeof *e)];
}

/* boxes in corner form; variant 1 adds degenerate, identical and NaN boxes */
static float *boxes(size_t n, int variant) {
    float *b = malloc((n ? n : 1) * 4 * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        float x = uni(0, 100), y = uni(0, 100);
        b[4 * i] = x, b[4 * i + 1] = y, b[4 * i + 2] = x + uni(0, 50), b[4 * i + 3] = y + uni(0, 50);
        if (variant == 1) {
            if (i % 5 == 1) b[4 * i + 2] = x;                        /* zero width */
            if (i % 7 == 2) memcpy(b + 4 * i, b, 4 * sizeof *b);     /* duplicate */
            if (i % 11 == 4) b[4 * i + 1] = NAN;                     /* NaN coordinate */
            if (i % 13 == 6) b[4 * i + 2] = b[4 * i] + 1e-6f;        /* tiny */
        }
    }
    return b;
}
/* priors in centre form */
static float *priors(size_t n) {
    float *p = malloc(n * 4 * sizeof *p);
    for (size_t i = 0; i < n; i++) p[4 * i] = uni(0.05f, 0.95f), p[4 * i + 1] = uni(0.05f, 0.95f), p[4 * i + 2] = uni(0.05f, 0.6f), p[4 * i + 3] = uni(0.05f, 0.6f);
    return p;
}

/* ---- differential cases --------------------------------------------- */

typedef void (*run_fn)(const void *spec, int variant, int threads, obuf *o);
typedef struct {
    const char *name;
    run_fn run;
    const void *spec;
    float rtol, atol;
    int threaded; /* variant 2 is worth running on several threads */
} diff_case;

/* Elementwise losses: one adapter per entry point, one runner for all. */
typedef int (*ew_call)(const float *x, const float *t, size_t n, const float *w, losskit_reduction r, float *loss, float *grad, int th);
/* x ~ N(0, xs); t: 0 normal, 1 [0, 1], 2 {0, 1}. no_huge: variant 1 without
 * the edge value 1e30 (no entry point needs it now: the scalar shrinkage
 * gradient, once inf x 0 = NaN there, is finite as on the SIMD paths).
 * weighted: a per-element weight array in [0, 2), every 5th weight 0 (an
 * invisible keypoint); else weight = NULL. */
typedef struct { ew_call call; float xs; int tdom; int no_huge; int weighted; } ew_spec;

#define EW_ARGS const float *x, const float *t, size_t n, const float *w, losskit_reduction r, float *l, float *g, int th
static int c_l1(EW_ARGS) { return losskit_l1(x, t, n, w, r, l, g, th); }
static int c_mse(EW_ARGS) { return losskit_mse(x, t, n, w, r, l, g, th); }
static int c_smooth_l1(EW_ARGS) { return losskit_smooth_l1(x, t, n, w, 1.0f, r, l, g, th); }
static int c_smooth_l1_b0(EW_ARGS) { return losskit_smooth_l1(x, t, n, w, 0.0f, r, l, g, th); }
static int c_huber(EW_ARGS) { return losskit_huber(x, t, n, w, 1.5f, r, l, g, th); }
static int c_wing(EW_ARGS) { return losskit_wing(x, t, n, w, 10.0f, 2.0f, r, l, g, th); }
static int c_awing(EW_ARGS) { return losskit_adaptive_wing(x, t, n, w, 2.1f, 14.0f, 1.0f, 0.5f, r, l, g, th); }
static int c_focal_reg(EW_ARGS) { return losskit_focal_regression(x, t, n, w, 1.0f, r, l, g, th); }
static int c_focal_reg_g(EW_ARGS) { return losskit_focal_regression(x, t, n, w, 0.5f, r, l, g, th); }
static int c_shrink(EW_ARGS) { return losskit_shrinkage(x, t, n, w, 10.0f, 0.2f, LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET, r, l, g, th); }
static int c_shrink_none(EW_ARGS) { return losskit_shrinkage(x, t, n, w, 10.0f, 0.2f, LOSSKIT_SHRINKAGE_WEIGHT_NONE, r, l, g, th); }
static int c_shrink_dslt(EW_ARGS) { return losskit_shrinkage(x, t, n, w, 10.0f, 0.2f, LOSSKIT_SHRINKAGE_WEIGHT_DSLT_CODE, r, l, g, th); }
static int c_bce(EW_ARGS) { return losskit_bce_logits(x, t, n, w, NULL, 0, r, l, g, th); }
static int c_bce_pw(EW_ARGS) { const float pw = 3.0f; return losskit_bce_logits(x, t, n, w, &pw, 1, r, l, g, th); }
static int c_focal(EW_ARGS) { (void)w; return losskit_sigmoid_focal(x, t, n, 0.25f, 2.0f, 0.0f, r, l, g, th); }
static int c_focal_g(EW_ARGS) { (void)w; return losskit_sigmoid_focal(x, t, n, -1.0f, 1.5f, 0.0f, r, l, g, th); }
#undef EW_ARGS

static const ew_spec s_l1 = {c_l1, 3, 0, 0, 0}, s_mse = {c_mse, 3, 0, 0, 0}, s_sl1 = {c_smooth_l1, 3, 0, 0, 0}, s_sl1b0 = {c_smooth_l1_b0, 3, 0, 0, 0},
                     s_huber = {c_huber, 3, 0, 0, 0}, s_wing = {c_wing, 8, 0, 0, 0}, s_awing = {c_awing, 1, 1, 0, 0}, s_freg = {c_focal_reg, 2, 0, 0, 0},
                     s_fregg = {c_focal_reg_g, 2, 0, 0, 0}, s_shrink = {c_shrink, 1, 1, 0, 0}, s_shrink_none = {c_shrink_none, 1, 1, 0, 0},
                     s_shrink_dslt = {c_shrink_dslt, 1, 1, 0, 0}, s_bce = {c_bce, 4, 1, 0, 0}, s_bcepw = {c_bce_pw, 4, 2, 0, 0},
                     s_focal = {c_focal, 4, 2, 0, 0}, s_focalg = {c_focal_g, 4, 1, 0, 0};
/* the weighted variants */
static const ew_spec w_l1 = {c_l1, 3, 0, 0, 1}, w_mse = {c_mse, 3, 0, 0, 1}, w_sl1 = {c_smooth_l1, 3, 0, 0, 1}, w_huber = {c_huber, 3, 0, 0, 1},
                     w_wing = {c_wing, 8, 0, 0, 1}, w_awing = {c_awing, 1, 1, 0, 1}, w_freg = {c_focal_reg, 2, 0, 0, 1},
                     w_shrink = {c_shrink, 1, 1, 0, 1}, w_bce = {c_bce, 4, 1, 0, 1}, w_bcepw = {c_bce_pw, 4, 2, 0, 1};

static size_t size_of(int variant) { return variant == 0 ? 1003 : variant == 1 ? 531 : 200003; }

static void run_ew(const void *spec, int variant, int threads, obuf *o) {
    const ew_spec *s = spec;
    const size_t n = size_of(variant);
    seed(11 + variant);
    float *x = normals(n, s->xs), *t = s->tdom == 0 ? normals(n, s->xs) : fill(n, 0, 1), *w = NULL;
    if (s->tdom == 2) for (size_t i = 0; i < n; i++) t[i] = t[i] < 0.3f ? 1.0f : 0.0f;
    edges(x, n, variant);
    if (variant == 1 && s->tdom == 0) edges(t + 2, n - 2, variant);
    for (size_t i = 0; s->no_huge && i < n; i++) if (fabsf(x[i]) == 1e30f) x[i] = 1e6f;
    if (s->weighted) {
        w = fill(n, 0, 2);
        for (size_t i = 0; i < n; i += 5) w[i] = 0.0f;
    }
    float *l = zeros(n), *g = zeros(n), sum;
    put1(o, (float)s->call(x, t, n, w, LOSSKIT_REDUCTION_NONE, l, g, threads));
    put(o, l, n), put(o, g, n);
    put1(o, (float)s->call(x, t, n, w, LOSSKIT_REDUCTION_MEAN, &sum, g, threads));
    put1(o, sum), put(o, g, n);
    put1(o, (float)s->call(x, t, n, w, LOSSKIT_REDUCTION_SUM, &sum, NULL, threads));
    put1(o, sum);
    free(x), free(t), free(w), free(l), free(g);
}

/* mode: 0 softmax_ce (int64 labels), 1 softmax_focal, 2 softmax_ce_soft
 * (probability targets: rows of random probabilities; variant 1 adds rows
 * that do not sum to 1 and a negative entry, used as given).
 * zero_den: every 3rd row ignored and w_y = 0 on the rest (class weights 0
 * on the labels used), so MEAN divides by zero total weight: NaN loss, NaN
 * gradient on the counted rows (formerly +inf). */
typedef struct { int mode; int weights; float eps; int zero_den; } sm_spec;
static const sm_spec s_ce = {0, 0, 0.0f, 0}, s_ce_w = {0, 1, 0.1f, 0}, s_sfocal = {1, 0, 0.0f, 0}, s_ce_zero = {0, 1, 0.1f, 1},
                     s_soft = {2, 0, 0.0f, 0}, s_soft_w = {2, 1, 0.1f, 0};

static void run_softmax(const void *spec, int variant, int threads, obuf *o) {
    const sm_spec *s = spec;
    const size_t C = variant == 0 ? 21 : variant == 1 ? 37 : 81, R = variant == 0 ? 203 : variant == 1 ? 61 : 2003;
    seed(23 + variant);
    float *x = normals(R * C, 3), *w = fill(C, 0.1f, 2), *l = zeros(R), *g = zeros(R * C), sum;
    int64_t *y = malloc(R * sizeof *y);
    for (size_t i = 0; i < R; i++) y[i] = i % 9 == 4 ? -100 : (int64_t)(next() % C);
    edges(x, R * C, variant);
    if (s->zero_den) {
        for (size_t i = 0; i < R; i++) y[i] = i % 3 == 0 ? -100 : (int64_t)(i % 2); /* labels 0 and 1 only, both weighted 0 */
        w[0] = w[1] = 0.0f;
    }
    float *tp = NULL;
    if (s->mode == 2) {
        tp = fill(R * C, 0, 1);
        for (size_t i = 0; i < R; i++) {
            double rs = 0;
            for (size_t c = 0; c < C; c++) rs += tp[i * C + c];
            for (size_t c = 0; c < C; c++) tp[i * C + c] = (float)(tp[i * C + c] / rs);
            if (variant == 1 && i % 5 == 2) tp[i * C] = 0.7f; /* rows not summing to 1 */
        }
        if (variant == 1) tp[3 * C + 1] = -0.25f;
    }
    for (int red = 0; red < 2; red++) {
        const losskit_reduction r = red ? LOSSKIT_REDUCTION_MEAN : LOSSKIT_REDUCTION_NONE;
        int st = s->mode == 1 ? losskit_softmax_focal(x, y, R, C, 0.25f, 2.0f, -100, r, red ? &sum : l, g, threads)
                 : s->mode == 2 ? losskit_softmax_ce_soft(x, tp, R, C, s->weights ? w : NULL, s->eps, r, red ? &sum : l, g, threads)
                                : losskit_softmax_ce(x, y, R, C, s->weights ? w : NULL, -100, s->eps, r, red ? &sum : l, g, threads);
        put1(o, (float)st);
        if (red) put1(o, sum); else put(o, l, R);
        put(o, g, R * C);
        if (s->zero_den && red) {
            int nan_grad = 1;
            for (size_t i = 0; i < R; i++) nan_grad &= y[i] == -100 ? g[i * C] == 0.0f : isnan(g[i * C]);
            report(st == 0 && isnan(sum) && nan_grad, "softmax_ce MEAN over zero total weight (variant %d, threads %d): status %d, loss %g, "
                   "expected NaN with NaN gradient on counted rows (0 on ignored rows)", variant, threads, st, sum);
        }
    }
    free(x), free(w), free(l), free(g), free(y), free(tp);
}

/* IoU kind and the box format the inputs are handed over in (converted
 * from the corner-form boxes(): x2 >= x1 and y2 >= y1 there, so w, h >= 0). */
typedef struct { losskit_iou_kind kind; losskit_box_format format; } iou_spec;
static const iou_spec k_iou = {LOSSKIT_IOU, LOSSKIT_BOX_XYXY}, k_giou = {LOSSKIT_GIOU, LOSSKIT_BOX_XYXY}, k_diou = {LOSSKIT_DIOU, LOSSKIT_BOX_XYXY},
                      k_ciou = {LOSSKIT_CIOU, LOSSKIT_BOX_XYXY}, k_iou_xywh = {LOSSKIT_IOU, LOSSKIT_BOX_XYWH}, k_giou_xywh = {LOSSKIT_GIOU, LOSSKIT_BOX_XYWH},
                      k_ciou_xywh = {LOSSKIT_CIOU, LOSSKIT_BOX_XYWH}, k_diou_xywh = {LOSSKIT_DIOU, LOSSKIT_BOX_XYWH},
                      k_iou_cxcywh = {LOSSKIT_IOU, LOSSKIT_BOX_CXCYWH}, k_giou_cxcywh = {LOSSKIT_GIOU, LOSSKIT_BOX_CXCYWH},
                      k_diou_cxcywh = {LOSSKIT_DIOU, LOSSKIT_BOX_CXCYWH}, k_ciou_cxcywh = {LOSSKIT_CIOU, LOSSKIT_BOX_CXCYWH};

static float *in_format(float *b, size_t n, losskit_box_format f) {
    for (size_t i = 0; i < n && f != LOSSKIT_BOX_XYXY; i++) {
        float *q = b + 4 * i, w = q[2] - q[0], h = q[3] - q[1];
        if (f == LOSSKIT_BOX_CXCYWH) q[0] += 0.5f * w, q[1] += 0.5f * h;
        q[2] = w, q[3] = h;
    }
    return b;
}

static void run_iou_matrix(const void *spec, int variant, int threads, obuf *o) {
    const iou_spec *s = spec;
    const size_t n = variant == 0 ? 37 : variant == 1 ? 45 : 3001, m = variant == 0 ? 53 : variant == 1 ? 13 : 100;
    seed(31 + variant);
    float *a = in_format(boxes(n, variant), n, s->format), *b = in_format(boxes(m, variant), m, s->format), *out = zeros(n * m);
    put1(o, (float)losskit_box_iou_matrix(s->kind, s->format, a, n, b, m, out, threads));
    put(o, out, n * m);
    if (variant == 1) { /* m below every vector width */
        put1(o, (float)losskit_box_iou_matrix(s->kind, s->format, a, n, b, 3, out, threads));
        put(o, out, n * 3);
    }
    free(a), free(b), free(out);
}

static void run_iou_loss(const void *spec, int variant, int threads, obuf *o) {
    const iou_spec *s = spec;
    const size_t n = size_of(variant) / 4;
    seed(37 + variant);
    float *p = in_format(boxes(n, variant), n, s->format), *t = in_format(boxes(n, 0), n, s->format), *l = zeros(n), *g = zeros(4 * n), sum;
    put1(o, (float)losskit_box_iou_loss(s->kind, s->format, p, t, n, 1e-7f, LOSSKIT_REDUCTION_NONE, l, g, threads));
    put(o, l, n), put(o, g, 4 * n);
    put1(o, (float)losskit_box_iou_loss(s->kind, s->format, p, t, n, 1e-7f, LOSSKIT_REDUCTION_MEAN, &sum, g, threads));
    put1(o, sum), put(o, g, 4 * n);
    free(p), free(t), free(l), free(g);
}

static void run_box_formats(const void *spec, int variant, int threads, obuf *o) {
    (void)spec, (void)threads;
    const size_t n = 103;
    seed(41 + variant);
    float *b = boxes(n, variant), *c = zeros(4 * n), *d = zeros(4 * n);
    put1(o, (float)losskit_boxes_xyxy_to_cxcywh(b, c, n)), put(o, c, 4 * n);
    put1(o, (float)losskit_boxes_cxcywh_to_xyxy(c, d, n)), put(o, d, 4 * n);
    free(b), free(c), free(d);
}

static void run_ssd_codec(const void *spec, int variant, int threads, obuf *o) {
    (void)spec, (void)threads;
    const size_t n = 211;
    seed(43 + variant);
    float *b = boxes(n, variant), *p = priors(n), *loc = zeros(4 * n), *back = zeros(4 * n);
    for (size_t i = 0; i < 4 * n; i++) b[i] /= 150.0f;
    put1(o, (float)losskit_ssd_encode(b, p, n, 0.1f, 0.2f, loc)), put(o, loc, 4 * n);
    put1(o, (float)losskit_ssd_decode(loc, p, n, 0.1f, 0.2f, back)), put(o, back, 4 * n);
    free(b), free(p), free(loc), free(back);
}

static void run_ssd_match(const void *spec, int variant, int threads, obuf *o) {
    (void)spec, (void)threads;
    const size_t T = variant == 2 ? 17 : 5, P = variant == 2 ? 8732 : 301;
    seed(47 + variant);
    float *t = boxes(T, 0), *p = priors(P);
    for (size_t i = 0; i < 4 * T; i++) t[i] /= 150.0f;
    int64_t lab[17], *mi = malloc(P * sizeof *mi), *ct = malloc(P * sizeof *ct);
    for (size_t i = 0; i < T; i++) lab[i] = (int64_t)(i % 4);
    put1(o, (float)losskit_ssd_match(t, lab, T, p, P, 0.5f, mi, ct));
    put_ints(o, mi, P), put_ints(o, ct, P);
    free(t), free(p), free(mi), free(ct);
}

static void run_multibox(const void *spec, int variant, int threads, obuf *o) {
    (void)spec;
    const size_t B = variant == 2 ? 8 : 3, P = variant == 2 ? 2000 : 307, C = 21;
    seed(53 + variant);
    float *loc = normals(B * P * 4, 0.5f), *conf = normals(B * P * C, 2), *p = priors(P);
    size_t counts[8], total = 0;
    for (size_t b = 0; b < B; b++) counts[b] = b == 1 ? 0 : 1 + b % 4, total += counts[b];
    float *t = boxes(total, 0);
    for (size_t i = 0; i < 4 * total; i++) t[i] /= 150.0f;
    int64_t *lab = malloc((total + 1) * sizeof *lab), *ct = malloc(B * P * sizeof *ct);
    for (size_t i = 0; i < total; i++) lab[i] = (int64_t)(i % (C - 1));
    float ll, lc, *gl = zeros(B * P * 4), *gc = zeros(B * P * C);
    put1(o, (float)losskit_multibox_loss(loc, conf, B, P, C, p, t, lab, counts, 0.5f, 3.0f, 0.1f, 0.2f, &ll, &lc, gl, gc, ct, threads));
    put1(o, ll), put1(o, lc), put(o, gl, B * P * 4), put(o, gc, B * P * C), put_ints(o, ct, B * P);
    free(loc), free(conf), free(p), free(t), free(lab), free(ct), free(gl), free(gc);
}

static void run_nms(const void *spec, int variant, int threads, obuf *o) {
    (void)spec, (void)threads;
    const size_t n = 301;
    seed(59 + variant);
    float *b = boxes(n, variant == 1 ? 0 : variant), *s = fill(n, 0, 1);
    int64_t *keep = malloc(n * sizeof *keep);
    size_t kept = 0;
    put1(o, (float)losskit_nms(b, s, n, 0.5f, keep, &kept));
    put1(o, (float)kept), put_ints(o, keep, kept);
    free(b), free(s), free(keep);
}

static const losskit_metric m_euc = LOSSKIT_METRIC_EUCLIDEAN, m_sq = LOSSKIT_METRIC_SQEUCLIDEAN, m_cos = LOSSKIT_METRIC_COSINE;

static void dims(int variant, size_t *n, size_t *m, size_t *d) {
    *n = variant == 0 ? 37 : variant == 1 ? 13 : 301;
    *m = variant == 0 ? 29 : variant == 1 ? 7 : 257;
    *d = variant == 0 ? 19 : variant == 1 ? 5 : 64;
}

/* features; variant 1: near-duplicates of y's rows (the exact repair) and a NaN */
static void features(int variant, size_t n, size_t m, size_t d, float **x, float **y) {
    *x = normals(n * d, 1), *y = normals(m * d, 1);
    if (variant == 1) {
        for (size_t i = 0; i < n && i < m; i += 2)
            for (size_t k = 0; k < d; k++) (*x)[i * d + k] = 50 * (*y)[i * d + k] + (k == 0 ? 1e-3f : 0), (*y)[i * d + k] *= 50;
        (*x)[d * (n - 1)] = NAN;
    }
}

static void run_distance(const void *spec, int variant, int threads, obuf *o) {
    size_t n, m, d;
    dims(variant, &n, &m, &d);
    seed(61 + variant);
    float *x, *y, *out, *up, *gx, *gy;
    features(variant, n, m, d, &x, &y);
    out = zeros(n * m), up = normals(n * m, 1), gx = zeros(n * d), gy = zeros(m * d);
    losskit_metric metric = *(const losskit_metric *)spec;
    put1(o, (float)losskit_pairwise_distance(metric, x, n, y, m, d, out, threads));
    put(o, out, n * m);
    put1(o, (float)losskit_pairwise_distance_backward(metric, x, n, y, m, d, out, up, gx, gy, threads));
    put(o, gx, n * d), put(o, gy, m * d);
    free(x), free(y), free(out), free(up), free(gx), free(gy);
}

static void run_mahalanobis(const void *spec, int variant, int threads, obuf *o) {
    size_t n, m, d, rank = 0;
    dims(variant, &n, &m, &d);
    seed(67 + variant);
    float *x, *y, *a = normals(d * d, 1), *M = zeros(d * d), *f = zeros(d * d), *out = zeros(n * m);
    features(variant == 1 ? 0 : variant, n, m, d, &x, &y);
    for (size_t i = 0; i < d; i++) /* M = A^T A, rank d - 1 in variant 1 (singular) */
        for (size_t j = 0; j < d; j++)
            for (size_t k = 0; k < d - (variant == 1); k++) M[i * d + j] += a[k * d + i] * a[k * d + j];
    put1(o, (float)losskit_mahalanobis_factor(M, d, f, &rank)), put1(o, (float)rank);
    put1(o, (float)losskit_mahalanobis_distance(*(const losskit_metric *)spec, x, n, y, m, d, M, 0, out, threads));
    put(o, out, n * m);
    free(x), free(y), free(a), free(M), free(f), free(out);
}

static void run_pair_losses(const void *spec, int variant, int threads, obuf *o) {
    losskit_metric metric = *(const losskit_metric *)spec;
    const size_t n = variant == 2 ? 4001 : 37, d = variant == 1 ? 5 : 24;
    seed(71 + variant);
    float *a = normals(n * d, 1), *p = normals(n * d, 1), *q = normals(n * d, 1), *r = normals(n * d, 1), *same = fill(n, 0, 1);
    for (size_t i = 0; i < n; i++) same[i] = same[i] < 0.5f;
    edges(a, n * d, variant);
    float l, *g1 = zeros(n * d), *g2 = zeros(n * d), *g3 = zeros(n * d), *g4 = zeros(n * d);
    put1(o, (float)losskit_contrastive(metric, a, p, same, n, d, 1.0f, 0, LOSSKIT_REDUCTION_MEAN, &l, g1, g2, threads));
    put1(o, l), put(o, g1, n * d), put(o, g2, n * d);
    for (int improved = 0; improved < 2; improved++) {
        put1(o, (float)losskit_triplet(metric, a, p, q, n, d, 0.3f, improved, LOSSKIT_REDUCTION_MEAN, &l, g1, g2, g3, threads));
        put1(o, l), put(o, g1, n * d), put(o, g2, n * d), put(o, g3, n * d);
    }
    put1(o, (float)losskit_quadruplet(metric, a, p, q, r, n, d, 1.0f, 0.5f, LOSSKIT_REDUCTION_SUM, &l, g1, g2, g3, g4, threads));
    put1(o, l), put(o, g1, n * d), put(o, g2, n * d), put(o, g3, n * d), put(o, g4, n * d);
    free(a), free(p), free(q), free(r), free(same), free(g1), free(g2), free(g3), free(g4);
}

static void run_trihard(const void *spec, int variant, int threads, obuf *o) {
    losskit_metric metric = *(const losskit_metric *)spec;
    const size_t n = variant == 0 ? 64 : variant == 1 ? 15 : 1024, d = variant == 1 ? 7 : 32;
    seed(73 + variant);
    float *x = normals(n * d, 1), l, *g = zeros(n * d);
    int64_t *lab = malloc(n * sizeof *lab), *hp = malloc(n * sizeof *hp), *hn = malloc(n * sizeof *hn);
    for (size_t i = 0; i < n; i++) lab[i] = (int64_t)(i / 4);
    if (variant == 1) { memcpy(x + d, x, d * sizeof *x); x[5 * d + 1] = NAN; }
    for (int mode = 0; mode < 3; mode++) {
        put1(o, (float)losskit_trihard(metric, x, lab, n, d, 0.3f, mode == 1, mode == 2 ? LOSSKIT_MINING_SEMIHARD : LOSSKIT_MINING_HARDEST,
                                       LOSSKIT_REDUCTION_MEAN, &l, g, hp, hn, threads));
        put1(o, l), put(o, g, n * d), put_ints(o, hp, n), put_ints(o, hn, n);
    }
    free(x), free(g), free(lab), free(hp), free(hn);
}

/* ---- evaluation entry points: thread determinism (no SIMD paths: the ISA
 * comparison is exact too). Doubles go out as two floats, the value and its
 * rounding residue (48 bits of mantissa). */

static void put_doubles(obuf *o, const double *p, size_t n) {
    for (size_t i = 0; i < n; i++) put1(o, (float)p[i]), put1(o, (float)(p[i] - (double)(float)p[i]));
}

/* A detection set of I images and K categories: ground truths (COCO xywh,
 * areas near w h, every 9th crowd / difficult), detections jittered from
 * them plus false positives, scores rounded to 1/64 (ties). Variant 1: a
 * zero-size box, images and a category without ground truth. */
typedef struct {
    size_t I, K;
    double *gb, *ga, *db, *ds;
    uint8_t *gf;
    int64_t *gi, *gk, *di, *dk;
    losskit_eval_boxes gt, dt;
} det_set;

static void det_make(det_set *d, int variant) {
    d->I = variant == 2 ? 400 : 24, d->K = variant == 2 ? 20 : 5;
    const size_t ng = d->I * 4, nd = ng * 2;
    d->gb = malloc(4 * ng * sizeof(double)), d->ga = malloc(ng * sizeof(double)), d->gf = malloc(ng);
    d->gi = malloc(ng * sizeof(int64_t)), d->gk = malloc(ng * sizeof(int64_t));
    d->db = malloc(4 * nd * sizeof(double)), d->ds = malloc(nd * sizeof(double));
    d->di = malloc(nd * sizeof(int64_t)), d->dk = malloc(nd * sizeof(int64_t));
    size_t g = 0;
    for (size_t i = 0; i < d->I; i++) {
        if (variant == 1 && i % 6 == 5) continue; /* images without ground truth */
        for (size_t j = 0; j < 1 + (size_t)(next() % 4); j++, g++) {
            double *b = d->gb + 4 * g;
            b[0] = uni(0, 500), b[1] = uni(0, 400), b[2] = uni(4, 200), b[3] = uni(4, 200);
            if (variant == 1 && g % 17 == 3) b[2] = 0;
            d->ga[g] = b[2] * b[3] * uni(0.8f, 1.2f), d->gf[g] = g % 9 == 4;
            d->gi[g] = (int64_t)i, d->gk[g] = (int64_t)(next() % (d->K - (variant == 1))); /* variant 1: the last category has none */
        }
    }
    size_t k = 0;
    for (size_t j = 0; j < g; j++)
        for (size_t r = 0; r < 1 + j % 2; r++, k++) { /* one or two detections per ground truth */
            for (int c = 0; c < 4; c++) d->db[4 * k + c] = d->gb[4 * j + c] + (c < 2 ? uni(-8, 8) : uni(0, 10));
            d->ds[k] = floor(uni(0, 1) * 64) / 64, d->di[k] = d->gi[j], d->dk[k] = r ? (int64_t)(next() % d->K) : d->gk[j];
        }
    for (; k < nd; k++) { /* false positives */
        double *b = d->db + 4 * k;
        b[0] = uni(0, 500), b[1] = uni(0, 400), b[2] = uni(1, 150), b[3] = uni(1, 150);
        d->ds[k] = floor(uni(0, 1) * 64) / 64, d->di[k] = (int64_t)(next() % d->I), d->dk[k] = (int64_t)(next() % d->K);
    }
    d->gt = (losskit_eval_boxes){d->gb, NULL, d->ga, d->gf, d->gi, d->gk, g};
    d->dt = (losskit_eval_boxes){d->db, d->ds, NULL, NULL, d->di, d->dk, nd};
}
static void det_free(det_set *d) { free(d->gb), free(d->ga), free(d->gf), free(d->gi), free(d->gk), free(d->db), free(d->ds), free(d->di), free(d->dk); }

static void run_coco(const void *spec, int variant, int threads, obuf *o) {
    (void)spec;
    seed(79 + variant);
    det_set d;
    det_make(&d, variant);
    const size_t np = LOSSKIT_COCO_IOU_THRESHOLDS * LOSSKIT_COCO_RECALL_POINTS * d.K * LOSSKIT_COCO_AREAS * LOSSKIT_COCO_MAX_DETS,
                 nr = LOSSKIT_COCO_IOU_THRESHOLDS * d.K * LOSSKIT_COCO_AREAS * LOSSKIT_COCO_MAX_DETS;
    double stats[LOSSKIT_COCO_STATS], *prec = malloc(np * sizeof *prec), *rec = malloc(nr * sizeof *rec);
    put1(o, (float)losskit_coco_evaluate(&d.gt, &d.dt, d.I, d.K, stats, prec, rec, threads));
    put_doubles(o, stats, LOSSKIT_COCO_STATS), put_doubles(o, prec, np), put_doubles(o, rec, nr);
    free(prec), free(rec), det_free(&d);
}

static void run_voc(const void *spec, int variant, int threads, obuf *o) {
    (void)spec;
    seed(83 + variant);
    det_set d;
    det_make(&d, variant);
    d.gt.areas = NULL; /* VOC: flags are `difficult` */
    double *ap = malloc(d.K * sizeof *ap), map;
    for (int use07 = 0; use07 < 2; use07++) {
        put1(o, (float)losskit_voc_evaluate(&d.gt, &d.dt, d.I, d.K, 0.5, use07, use07, ap, &map, threads));
        put_doubles(o, ap, d.K), put_doubles(o, &map, 1);
    }
    free(ap), det_free(&d);
}

static void run_reid_eval(const void *spec, int variant, int threads, obuf *o) {
    (void)spec;
    const size_t q = variant == 2 ? 700 : 37, g = variant == 2 ? 3000 : 211, ids = variant == 2 ? 150 : 12;
    seed(89 + variant);
    float *dist = fill(q * g, 0, 2);
    int64_t *qi = malloc(q * sizeof *qi), *qc = malloc(q * sizeof *qc), *gi = malloc(g * sizeof *gi), *gc = malloc(g * sizeof *gc), first[700];
    for (size_t i = 0; i < q; i++) qi[i] = (int64_t)(next() % ids), qc[i] = (int64_t)(next() % 6);
    for (size_t j = 0; j < g; j++) gi[j] = j % 23 == 7 ? -1 : (int64_t)(next() % ids), gc[j] = (int64_t)(next() % 6);
    if (variant == 1)
        for (size_t i = 0; i < q * g; i += 11) dist[i] = i % 2 ? NAN : dist[i / 2]; /* NaN and repeated distances (ties) */
    else
        for (size_t i = 0; i < q * g; i++) dist[i] = floorf(dist[i] * 256) / 256; /* ties */
    const losskit_reid_labels lab = {qi, qc, gi, gc};
    double ap[700], cmc[50];
    for (int kind = 0; kind < 2; kind++) {
        losskit_reid_scores sc = {ap, first, cmc, 50, 0, 0};
        put1(o, (float)losskit_reid_evaluate_distances(dist, q, g, lab, kind, &sc, threads));
        put_doubles(o, ap, q), put_ints(o, first, q), put_doubles(o, cmc, 50), put_doubles(o, &sc.map, 1), put1(o, (float)sc.evaluated);
    }
    free(dist), free(qi), free(qc), free(gi), free(gc);
}

static void run_landmark_nme(const void *spec, int variant, int threads, obuf *o) {
    (void)spec, (void)threads;
    const size_t n = variant == 2 ? 2000 : 31, k = 68;
    seed(97 + variant);
    float *t = fill(n * k * 2, 0, 256), *p = normals(n * k * 2, 3);
    for (size_t i = 0; i < n * k * 2; i++) p[i] += t[i];
    if (variant == 1) {
        p[5] = NAN;
        for (size_t j = 0; j < 2 * k; j++) t[2 * k + j] = 100.0f; /* sample 1: every landmark on one point: normalizers 0 */
    }
    double *nme = malloc(n * sizeof *nme);
    for (int norm = LOSSKIT_NORM_INTER_OCULAR; norm <= LOSSKIT_NORM_BBOX_AREA; norm++) {
        const int pupil = norm == LOSSKIT_NORM_INTER_PUPIL;
        put1(o, (float)losskit_landmark_nme(p, t, n, k, (losskit_landmark_norm)norm, 36, pupil ? 42 : 45, 6, nme));
        put_doubles(o, nme, n);
    }
    free(t), free(p), free(nme);
}

/* rtol / atol: the Swift differential tests' (gradients' bounds, the looser of value and gradient). */
static const diff_case diff_cases[] = {
    {"l1", run_ew, &s_l1, 5e-5f, 1e-6f, 1},
    {"mse", run_ew, &s_mse, 5e-5f, 1e-6f, 1},
    {"smooth_l1", run_ew, &s_sl1, 5e-5f, 1e-6f, 1},
    {"smooth_l1 beta 0", run_ew, &s_sl1b0, 5e-5f, 1e-6f, 1},
    {"huber", run_ew, &s_huber, 5e-5f, 1e-6f, 1},
    {"wing", run_ew, &s_wing, 5e-5f, 1e-6f, 1},
    {"adaptive_wing", run_ew, &s_awing, 5e-5f, 1e-6f, 1},
    {"focal_regression", run_ew, &s_freg, 5e-5f, 1e-6f, 1},
    {"focal_regression gamma 0.5", run_ew, &s_fregg, 5e-5f, 1e-6f, 1},
    {"shrinkage", run_ew, &s_shrink, 5e-5f, 1e-6f, 1},
    {"shrinkage weight none", run_ew, &s_shrink_none, 5e-5f, 1e-6f, 1},
    {"shrinkage weight dslt", run_ew, &s_shrink_dslt, 5e-5f, 1e-6f, 1},
    {"bce_logits", run_ew, &s_bce, 5e-5f, 1e-6f, 1},
    {"bce_logits pos_weight", run_ew, &s_bcepw, 5e-5f, 1e-6f, 1},
    {"l1 weighted", run_ew, &w_l1, 5e-5f, 1e-6f, 1},
    {"mse weighted", run_ew, &w_mse, 5e-5f, 1e-6f, 1},
    {"smooth_l1 weighted", run_ew, &w_sl1, 5e-5f, 1e-6f, 1},
    {"huber weighted", run_ew, &w_huber, 5e-5f, 1e-6f, 1},
    {"wing weighted", run_ew, &w_wing, 5e-5f, 1e-6f, 1},
    {"adaptive_wing weighted", run_ew, &w_awing, 5e-5f, 1e-6f, 1},
    {"focal_regression weighted", run_ew, &w_freg, 5e-5f, 1e-6f, 1},
    {"shrinkage weighted", run_ew, &w_shrink, 5e-5f, 1e-6f, 1},
    {"bce_logits weighted", run_ew, &w_bce, 5e-5f, 1e-6f, 1},
    {"bce_logits weighted pos_weight", run_ew, &w_bcepw, 5e-5f, 1e-6f, 1},
    {"sigmoid_focal", run_ew, &s_focal, 1e-4f, 2e-6f, 1},
    {"sigmoid_focal gamma 1.5", run_ew, &s_focalg, 1e-4f, 2e-6f, 1},
    {"softmax_ce", run_softmax, &s_ce, 5e-5f, 1e-6f, 1},
    {"softmax_ce weights smoothing", run_softmax, &s_ce_w, 5e-5f, 1e-6f, 1},
    {"softmax_focal", run_softmax, &s_sfocal, 5e-5f, 1e-6f, 1},
    {"softmax_ce MEAN zero total weight", run_softmax, &s_ce_zero, 5e-5f, 1e-6f, 1},
    {"softmax_ce_soft", run_softmax, &s_soft, 5e-5f, 1e-6f, 1},
    {"softmax_ce_soft weights smoothing", run_softmax, &s_soft_w, 5e-5f, 1e-6f, 1},
    {"box_iou_matrix iou", run_iou_matrix, &k_iou, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix giou", run_iou_matrix, &k_giou, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix diou", run_iou_matrix, &k_diou, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix ciou", run_iou_matrix, &k_ciou, 2e-5f, 2e-6f, 1},
    {"box_iou_loss giou", run_iou_loss, &k_giou, 1e-3f, 1e-5f, 1},
    {"box_iou_loss diou", run_iou_loss, &k_diou, 1e-3f, 1e-5f, 1},
    {"box_iou_loss ciou", run_iou_loss, &k_ciou, 1e-3f, 1e-5f, 1},
    {"box_iou_matrix iou xywh", run_iou_matrix, &k_iou_xywh, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix giou xywh", run_iou_matrix, &k_giou_xywh, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix ciou xywh", run_iou_matrix, &k_ciou_xywh, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix iou cxcywh", run_iou_matrix, &k_iou_cxcywh, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix diou cxcywh", run_iou_matrix, &k_diou_cxcywh, 2e-5f, 2e-6f, 1},
    {"box_iou_matrix ciou cxcywh", run_iou_matrix, &k_ciou_cxcywh, 2e-5f, 2e-6f, 1},
    {"box_iou_loss giou xywh", run_iou_loss, &k_giou_xywh, 1e-3f, 1e-5f, 1},
    {"box_iou_loss diou xywh", run_iou_loss, &k_diou_xywh, 1e-3f, 1e-5f, 1},
    {"box_iou_loss giou cxcywh", run_iou_loss, &k_giou_cxcywh, 1e-3f, 1e-5f, 1},
    {"box_iou_loss ciou cxcywh", run_iou_loss, &k_ciou_cxcywh, 1e-3f, 1e-5f, 1},
    {"box formats", run_box_formats, NULL, 1e-6f, 1e-6f, 0},
    {"ssd_encode / ssd_decode", run_ssd_codec, NULL, 1e-6f, 1e-6f, 0},
    {"ssd_match", run_ssd_match, NULL, 0.0f, 0.0f, 0},
    {"multibox_loss", run_multibox, NULL, 1e-4f, 1e-6f, 1},
    {"nms", run_nms, NULL, 0.0f, 0.0f, 0},
    {"pairwise_distance(+backward) euclidean", run_distance, &m_euc, 1e-3f, 1e-5f, 1},
    {"pairwise_distance(+backward) sqeuclidean", run_distance, &m_sq, 1e-3f, 1e-5f, 1},
    {"pairwise_distance(+backward) cosine", run_distance, &m_cos, 1e-3f, 1e-5f, 1},
    {"mahalanobis euclidean", run_mahalanobis, &m_euc, 1e-4f, 1e-5f, 1},
    {"mahalanobis sqeuclidean", run_mahalanobis, &m_sq, 1e-4f, 1e-5f, 1},
    {"contrastive / triplet / quadruplet euclidean", run_pair_losses, &m_euc, 1e-4f, 1e-6f, 1},
    {"contrastive / triplet / quadruplet cosine", run_pair_losses, &m_cos, 1e-4f, 1e-6f, 1},
    {"trihard euclidean", run_trihard, &m_euc, 1e-4f, 1e-6f, 1},
    {"trihard sqeuclidean", run_trihard, &m_sq, 1e-4f, 1e-6f, 1},
    {"trihard cosine", run_trihard, &m_cos, 1e-4f, 1e-6f, 1},
    {"coco_evaluate", run_coco, NULL, 0.0f, 0.0f, 1},
    {"voc_evaluate", run_voc, NULL, 0.0f, 0.0f, 1},
    {"reid_evaluate_distances", run_reid_eval, NULL, 0.0f, 0.0f, 1},
    {"landmark_nme", run_landmark_nme, NULL, 0.0f, 0.0f, 0},
};

static int close_to(float a, float b, float rtol, float atol) {
    if (isnan(b)) return isnan(a);
    if (isnan(a)) return 0;
    if (isinf(b) || isinf(a)) return a == b;
    return fabsf(a - b) <= atol + rtol * fabsf(b);
}

static int isa_list[4], isa_count;

static void run_diff_cases(void) {
    for (size_t c = 0; c < sizeof diff_cases / sizeof *diff_cases; c++) {
        const diff_case *dc = &diff_cases[c];
        const int before = passed + failed;
        for (int variant = 0; variant < 3; variant++) {
            obuf ref = {0};
            losskit_set_thread_isa(LOSSKIT_ISA_SCALAR);
            dc->run(dc->spec, variant, 1, &ref);
            for (int k = 0; k < isa_count; k++) {
                const int isa = isa_list[k];
                obuf one = {0};
                losskit_set_thread_isa(isa);
                dc->run(dc->spec, variant, 1, &one);
                if (isa != LOSSKIT_ISA_SCALAR) {
                    size_t bad = one.n == ref.n ? one.n : 0;
                    for (size_t i = 0; i < one.n && one.n == ref.n; i++)
                        if (!close_to(one.v[i], ref.v[i], dc->rtol, dc->atol)) { bad = i; break; }
                    report(bad == one.n, "%s (variant %d) %s vs scalar: output %zu: %.9g vs %.9g", dc->name, variant,
                           losskit_isa_name((losskit_isa)isa), bad, bad < one.n ? one.v[bad] : 0.0, bad < ref.n ? ref.v[bad] : 0.0);
                }
                if (variant == 2 && dc->threaded)
                    for (int threads = 2; threads <= 3; threads++) {
                        obuf more = {0};
                        dc->run(dc->spec, variant, threads, &more);
                        report(more.n == one.n && memcmp(more.v, one.v, one.n * sizeof *one.v) == 0,
                               "%s %s: %d threads not bitwise equal to 1", dc->name, losskit_isa_name((losskit_isa)isa), threads);
                        free(more.v);
                    }
                free(one.v);
            }
            losskit_set_thread_isa(-1);
            free(ref.v);
        }
        printf("  %-48s %d checks\n", dc->name, passed + failed - before);
    }
}

/* ---- vector math: <= 2 ulp from libm over the float range ------------ */

static int64_t ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4), memcpy(&ib, &b, 4);
    int64_t ka = ia < 0 ? (int64_t)INT32_MIN - ia : ia, kb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return ka > kb ? ka - kb : kb - ka;
}

static void run_vecmath_sweep(void) {
    static const char *names[] = {"exp", "log", "log1p", "sigmoid", "softplus"};
    const size_t n = 1u << 21;
    float *x = malloc(n * sizeof *x), *ref = malloc(n * sizeof *ref), *out = malloc(n * sizeof *out);
    for (size_t i = 0; i < n; i++) { /* every 2048th bit pattern, both signs, NaN and infinities included */
        uint32_t bits = (uint32_t)(i * 2048u + (uint32_t)(i % 2047));
        memcpy(&x[i], &bits, 4);
    }
    for (int fn = LOSSKIT_VEC_EXP; fn <= LOSSKIT_VEC_SOFTPLUS; fn++) {
        losskit_set_thread_isa(LOSSKIT_ISA_SCALAR);
        losskit_vecmath((losskit_vecmath_fn)fn, x, ref, n);
        for (int k = 0; k < isa_count; k++) {
            if (isa_list[k] == LOSSKIT_ISA_SCALAR) continue;
            losskit_set_thread_isa(isa_list[k]);
            losskit_vecmath((losskit_vecmath_fn)fn, x, out, n);
            int64_t worst = 0;
            size_t at = 0;
            int nan_ok = 1;
            for (size_t i = 0; i < n; i++) {
                if (isnan(ref[i]) || isnan(out[i])) { nan_ok &= isnan(ref[i]) && isnan(out[i]); continue; }
                int64_t u = out[i] == ref[i] ? 0 : ulps(out[i], ref[i]);
                if (u > worst) worst = u, at = i;
            }
            printf("  %-8s %-7s worst %lld ulp from libm\n", names[fn], losskit_isa_name((losskit_isa)isa_list[k]), (long long)worst);
            report(worst <= 2 && nan_ok, "vecmath %s %s: %lld ulp at %.9g (%.9g vs %.9g), NaN agreement %d", names[fn],
                   losskit_isa_name((losskit_isa)isa_list[k]), (long long)worst, x[at], out[at], ref[at], nan_ok);
        }
    }
    losskit_set_thread_isa(-1);
    free(x), free(ref), free(out);
}

/* ---- golden fixtures ------------------------------------------------ */

static losskit_reduction reduction_of(const jnode *params) {
    const char *r = j_str(params, "reduction");
    return strcmp(r, "none") == 0 ? LOSSKIT_REDUCTION_NONE : strcmp(r, "sum") == 0 ? LOSSKIT_REDUCTION_SUM : LOSSKIT_REDUCTION_MEAN;
}
static losskit_metric metric_of(const jnode *params) {
    const char *m = j_str(params, "metric");
    return strcmp(m, "cosine") == 0 ? LOSSKIT_METRIC_COSINE : strcmp(m, "sqeuclidean") == 0 ? LOSSKIT_METRIC_SQEUCLIDEAN : LOSSKIT_METRIC_EUCLIDEAN;
}

/* expected tensor `key` against got[n]: values within rtol 1e-5 (atol
 * 1e-6), a reduced scalar or a distance within 1e-4 */
static int expect(const jnode *c, const char *key, const float *got, size_t n, float rtol, float atol, const char *label) {
    size_t en;
    float *e = j_floats(j_get(j_get(c, "expected"), key), &en);
    size_t bad = en == n ? n : 0;
    for (size_t i = 0; i < n && en == n; i++)
        if (!close_to(got[i], e[i], rtol, atol)) { bad = i; break; }
    if (bad != n) printf("  %s %s[%zu]: %.9g vs expected %.9g (%zu values, %zu expected)\n", label, key, bad, bad < n ? got[bad] : 0.0, bad < en ? e[bad] : 0.0, n, en);
    free(e);
    return bad == n;
}

typedef int (*golden_fn)(const jnode *c, int threads, const char *label);

/* elementwise fixtures: inputs pred/target (or logits/targets), grad_pred (grad_logits) */
static int golden_ew(const jnode *c, int threads, const char *label, const char *op) {
    const jnode *in = j_get(c, "inputs"), *p = j_get(c, "params");
    const int logit = j_get(in, "logits") != NULL;
    if (!strcmp(op, "weighted_elementwise")) op = j_str(p, "loss"); /* with a "weight" input */
    size_t n, nt, nw;
    float *x = j_floats(j_get(in, logit ? "logits" : "pred"), &n), *t = j_floats(j_get(in, logit ? "targets" : "target"), &nt),
          *w = j_floats(j_get(in, "weight"), &nw);
    losskit_reduction r = reduction_of(p);
    float *l = zeros(n), *g = zeros(n);
    int st = -999;
    float *lo = r == LOSSKIT_REDUCTION_NONE ? l : l; /* scalar in l[0] otherwise */
    if (!strcmp(op, "l1")) st = losskit_l1(x, t, n, w, r, lo, g, threads);
    else if (!strcmp(op, "mse")) st = losskit_mse(x, t, n, w, r, lo, g, threads);
    else if (!strcmp(op, "smooth_l1")) st = losskit_smooth_l1(x, t, n, w, (float)j_num(p, "beta", 1), r, lo, g, threads);
    else if (!strcmp(op, "huber")) st = losskit_huber(x, t, n, w, (float)j_num(p, "delta", 1), r, lo, g, threads);
    else if (!strcmp(op, "wing")) st = losskit_wing(x, t, n, w, (float)j_num(p, "w", 10), (float)j_num(p, "epsilon", 2), r, lo, g, threads);
    else if (!strcmp(op, "adaptive_wing"))
        st = losskit_adaptive_wing(x, t, n, w, (float)j_num(p, "alpha", 2.1), (float)j_num(p, "omega", 14), (float)j_num(p, "epsilon", 1),
                                   (float)j_num(p, "theta", 0.5), r, lo, g, threads);
    else if (!strcmp(op, "focal_regression")) st = losskit_focal_regression(x, t, n, w, (float)j_num(p, "gamma", 1), r, lo, g, threads);
    else if (!strcmp(op, "shrinkage"))
        st = losskit_shrinkage(x, t, n, w, (float)j_num(p, "a", 10), (float)j_num(p, "c", 0.2),
                               j_num(p, "target_weight", 1) ? LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET : LOSSKIT_SHRINKAGE_WEIGHT_NONE, r, lo, g, threads);
    else if (!strcmp(op, "bce_logits")) {
        const jnode *pw = j_get(p, "pos_weight");
        float pwv = pw && pw->type == J_NUM ? (float)pw->num : 0.0f;
        st = losskit_bce_logits(x, t, n, w, pw && pw->type == J_NUM ? &pwv : NULL, pw && pw->type == J_NUM, r, lo, g, threads);
    } else if (!strcmp(op, "sigmoid_focal"))
        st = losskit_sigmoid_focal(x, t, n, (float)j_num(p, "alpha", 0.25), (float)j_num(p, "gamma", 2), 0.0f, r, lo, g, threads);
    int ok = st == 0 && expect(c, "loss", l, r == LOSSKIT_REDUCTION_NONE ? n : 1, r == LOSSKIT_REDUCTION_NONE ? 1e-5f : 1e-4f, 1e-6f, label) &&
             expect(c, logit ? "grad_logits" : "grad_pred", g, n, 1e-5f, 1e-6f, label);
    free(x), free(t), free(w), free(l), free(g);
    return ok;
}
#define GOLDEN_EW(op) static int golden_##op(const jnode *c, int threads, const char *label) { return golden_ew(c, threads, label, #op); }
GOLDEN_EW(l1) GOLDEN_EW(mse) GOLDEN_EW(smooth_l1) GOLDEN_EW(huber) GOLDEN_EW(wing) GOLDEN_EW(adaptive_wing)
GOLDEN_EW(focal_regression) GOLDEN_EW(shrinkage) GOLDEN_EW(bce_logits) GOLDEN_EW(sigmoid_focal) GOLDEN_EW(weighted_elementwise)

static int golden_softmax_ce(const jnode *c, int threads, const char *label) {
    const jnode *in = j_get(c, "inputs"), *p = j_get(c, "params");
    size_t n, nl, nw;
    float *x = j_floats(j_get(in, "logits"), &n), *w = j_floats(j_get(in, "class_weights"), &nw);
    int64_t *y = j_ints(j_get(in, "labels"), &nl);
    const size_t R = j_dim(j_get(in, "logits"), 0), C = j_dim(j_get(in, "logits"), 1);
    losskit_reduction r = reduction_of(p);
    float *l = zeros(R), *g = zeros(n);
    int st = losskit_softmax_ce(x, y, R, C, w, (int64_t)j_num(p, "ignore_index", -100), (float)j_num(p, "label_smoothing", 0), r, l, g, threads);
    int ok = st == 0 && expect(c, "loss", l, r == LOSSKIT_REDUCTION_NONE ? R : 1, r == LOSSKIT_REDUCTION_NONE ? 1e-5f : 1e-4f, 1e-6f, label) &&
             expect(c, "grad_logits", g, n, 1e-5f, 1e-6f, label);
    free(x), free(w), free(y), free(l), free(g);
    return ok;
}

static int golden_softmax_ce_soft(const jnode *c, int threads, const char *label) {
    const jnode *in = j_get(c, "inputs"), *p = j_get(c, "params");
    size_t n, nt, nw;
    float *x = j_floats(j_get(in, "logits"), &n), *t = j_floats(j_get(in, "targets"), &nt), *w = j_floats(j_get(in, "class_weights"), &nw);
    const size_t R = j_dim(j_get(in, "logits"), 0), C = j_dim(j_get(in, "logits"), 1);
    losskit_reduction r = reduction_of(p);
    float *l = zeros(R), *g = zeros(n);
    int st = losskit_softmax_ce_soft(x, t, R, C, w, (float)j_num(p, "label_smoothing", 0), r, l, g, threads);
    int ok = st == 0 && expect(c, "loss", l, r == LOSSKIT_REDUCTION_NONE ? R : 1, r == LOSSKIT_REDUCTION_NONE ? 1e-5f : 1e-4f, 1e-6f, label) &&
             expect(c, "grad_logits", g, n, 1e-5f, 1e-6f, label);
    free(x), free(t), free(w), free(l), free(g);
    return ok;
}

static losskit_box_format format_of(const jnode *params) {
    const char *f = j_str(params, "format");
    return strcmp(f, "xywh") == 0 ? LOSSKIT_BOX_XYWH : strcmp(f, "cxcywh") == 0 ? LOSSKIT_BOX_CXCYWH : LOSSKIT_BOX_XYXY;
}

static int golden_matrix(const jnode *c, int threads, const char *label, losskit_iou_kind kind) {
    const jnode *in = j_get(c, "inputs");
    size_t n1, n2;
    float *a = j_floats(j_get(in, "boxes1"), &n1), *b = j_floats(j_get(in, "boxes2"), &n2), *out = zeros(n1 / 4 * (n2 / 4));
    int ok = losskit_box_iou_matrix(kind, format_of(j_get(c, "params")), a, n1 / 4, b, n2 / 4, out, threads) == 0 && expect(c, "matrix", out, n1 / 4 * (n2 / 4), 1e-5f, 1e-6f, label);
    free(a), free(b), free(out);
    return ok;
}
static int golden_box_iou(const jnode *c, int th, const char *l) { return golden_matrix(c, th, l, LOSSKIT_IOU); }
static int golden_giou_matrix(const jnode *c, int th, const char *l) { return golden_matrix(c, th, l, LOSSKIT_GIOU); }
static int golden_diou_matrix(const jnode *c, int th, const char *l) { return golden_matrix(c, th, l, LOSSKIT_DIOU); }
static int golden_ciou_matrix(const jnode *c, int th, const char *l) { return golden_matrix(c, th, l, LOSSKIT_CIOU); }

static int golden_iou_loss(const jnode *c, int threads, const char *label, losskit_iou_kind kind) {
    const jnode *in = j_get(c, "inputs"), *p = j_get(c, "params");
    size_t n, nt;
    float *x = j_floats(j_get(in, "pred"), &n), *t = j_floats(j_get(in, "target"), &nt);
    losskit_reduction r = j_get(p, "reduction") ? reduction_of(p) : LOSSKIT_REDUCTION_NONE; /* box_formats.json: none */
    float *l = zeros(n / 4), *g = zeros(n);
    int ok = losskit_box_iou_loss(kind, format_of(p), x, t, n / 4, (float)j_num(p, "eps", 1e-7), r, l, g, threads) == 0 &&
             expect(c, "loss", l, r == LOSSKIT_REDUCTION_NONE ? n / 4 : 1, r == LOSSKIT_REDUCTION_NONE ? 1e-5f : 1e-4f, 1e-6f, label) &&
             expect(c, "grad_pred", g, n, 1e-4f, 1e-6f, label);
    free(x), free(t), free(l), free(g);
    return ok;
}
static int golden_giou_loss(const jnode *c, int th, const char *l) { return golden_iou_loss(c, th, l, LOSSKIT_GIOU); }
static int golden_diou_loss(const jnode *c, int th, const char *l) { return golden_iou_loss(c, th, l, LOSSKIT_DIOU); }
static int golden_ciou_loss(const jnode *c, int th, const char *l) { return golden_iou_loss(c, th, l, LOSSKIT_CIOU); }
/* box_formats.json: matrices and losses of every kind in every format */
static int golden_box_formats(const jnode *c, int th, const char *l) {
    const char *k = j_str(j_get(c, "params"), "kind");
    losskit_iou_kind kind = !strcmp(k, "generalized") ? LOSSKIT_GIOU : !strcmp(k, "distance") ? LOSSKIT_DIOU : !strcmp(k, "complete") ? LOSSKIT_CIOU : LOSSKIT_IOU;
    return !strcmp(j_str(j_get(c, "params"), "op"), "loss") ? golden_iou_loss(c, th, l, kind) : golden_matrix(c, th, l, kind);
}

static int golden_ssd_encode(const jnode *c, int threads, const char *label) {
    (void)threads;
    const jnode *in = j_get(c, "inputs"), *v = j_get(j_get(c, "params"), "variances");
    size_t n, np;
    float *m = j_floats(j_get(in, "matched_xyxy"), &n), *p = j_floats(j_get(in, "priors_cxcywh"), &np), *loc = zeros(n);
    int ok = losskit_ssd_encode(m, p, n / 4, (float)v->item[0]->num, (float)v->item[1]->num, loc) == 0 && expect(c, "loc", loc, n, 1e-5f, 1e-6f, label);
    free(m), free(p), free(loc);
    return ok;
}
static int golden_ssd_decode(const jnode *c, int threads, const char *label) {
    (void)threads;
    const jnode *in = j_get(c, "inputs"), *v = j_get(j_get(c, "params"), "variances");
    size_t n, np;
    float *l = j_floats(j_get(in, "loc"), &n), *p = j_floats(j_get(in, "priors_cxcywh"), &np), *b = zeros(n);
    int ok = losskit_ssd_decode(l, p, n / 4, (float)v->item[0]->num, (float)v->item[1]->num, b) == 0 && expect(c, "boxes_xyxy", b, n, 1e-5f, 1e-6f, label);
    free(l), free(p), free(b);
    return ok;
}
static int golden_ssd_match(const jnode *c, int threads, const char *label) {
    (void)threads;
    const jnode *in = j_get(c, "inputs");
    size_t nt, nl, np;
    float *t = j_floats(j_get(in, "truths_xyxy"), &nt), *p = j_floats(j_get(in, "priors_cxcywh"), &np);
    int64_t *lab = j_ints(j_get(in, "labels"), &nl), *mi = malloc(np / 4 * sizeof *mi), *ct = malloc(np / 4 * sizeof *ct);
    float *fm = zeros(np / 4), *fc = zeros(np / 4);
    int ok = losskit_ssd_match(t, lab, nt / 4, p, np / 4, (float)j_num(j_get(c, "params"), "threshold", 0.5), mi, ct) == 0;
    for (size_t i = 0; i < np / 4; i++) fm[i] = (float)mi[i], fc[i] = (float)ct[i];
    ok = ok && expect(c, "matched_index", fm, np / 4, 0, 0, label) && expect(c, "conf_target", fc, np / 4, 0, 0, label);
    free(t), free(p), free(lab), free(mi), free(ct), free(fm), free(fc);
    return ok;
}

static int golden_pairwise_distance(const jnode *c, int threads, const char *label) {
    const jnode *in = j_get(c, "inputs");
    size_t nx, ny;
    float *x = j_floats(j_get(in, "x"), &nx), *y = j_floats(j_get(in, "y"), &ny);
    const size_t n = j_dim(j_get(in, "x"), 0), m = j_dim(j_get(in, "y"), 0), d = j_dim(j_get(in, "x"), 1);
    float *out = zeros(n * m);
    int ok = losskit_pairwise_distance(metric_of(j_get(c, "params")), x, n, y, m, d, out, threads) == 0 && expect(c, "matrix", out, n * m, 1e-4f, 1e-6f, label);
    free(x), free(y), free(out);
    return ok;
}

static int golden_trihard(const jnode *c, int threads, const char *label) {
    const jnode *in = j_get(c, "inputs"), *p = j_get(c, "params");
    size_t nf, nl;
    float *x = j_floats(j_get(in, "features"), &nf), l = 0;
    int64_t *lab = j_ints(j_get(in, "labels"), &nl);
    float *g = zeros(nf);
    const jnode *margin = j_get(p, "margin");
    int soft = j_num(p, "soft_margin", 0) != 0;
    int ok = losskit_trihard(metric_of(p), x, lab, nl, nf / nl, margin && margin->type == J_NUM ? (float)margin->num : 0.0f, soft,
                             LOSSKIT_MINING_HARDEST, reduction_of(p), &l, g, NULL, NULL, threads) == 0 &&
             expect(c, "loss", &l, 1, 1e-4f, 1e-6f, label) && expect(c, "grad_features", g, nf, 1e-4f, 1e-6f, label);
    free(x), free(lab), free(g);
    return ok;
}

typedef struct { const char *file; golden_fn fn; } golden_case;
static const golden_case golden_cases[] = {
    {"l1", golden_l1}, {"mse", golden_mse}, {"smooth_l1", golden_smooth_l1}, {"huber", golden_huber}, {"wing", golden_wing},
    {"adaptive_wing", golden_adaptive_wing}, {"focal_regression", golden_focal_regression}, {"shrinkage", golden_shrinkage},
    {"bce_logits", golden_bce_logits}, {"sigmoid_focal", golden_sigmoid_focal}, {"softmax_ce", golden_softmax_ce},
    {"box_iou", golden_box_iou}, {"generalized_box_iou", golden_giou_matrix}, {"distance_box_iou", golden_diou_matrix},
    {"complete_box_iou", golden_ciou_matrix}, {"giou_loss", golden_giou_loss}, {"diou_loss", golden_diou_loss},
    {"ciou_loss", golden_ciou_loss}, {"ssd_encode", golden_ssd_encode}, {"ssd_decode", golden_ssd_decode},
    {"ssd_match", golden_ssd_match}, {"pairwise_distance", golden_pairwise_distance}, {"trihard", golden_trihard},
    {"weighted_elementwise", golden_weighted_elementwise}, {"softmax_ce_soft", golden_softmax_ce_soft},
    {"softmax_ce_zero_denominator", golden_softmax_ce}, {"box_formats", golden_box_formats},
};

static void run_golden(const char *dir) {
    for (size_t f = 0; f < sizeof golden_cases / sizeof *golden_cases; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.json", dir, golden_cases[f].file);
        jnode *root = j_load(path);
        const jnode *cases = j_get(root, "cases");
        report(cases != NULL, "golden %s: cannot read %s", golden_cases[f].file, path);
        for (size_t i = 0; cases && i < cases->n; i++)
            for (int k = 0; k < isa_count; k++) {
                char label[256];
                snprintf(label, sizeof label, "golden %s/%s %s", golden_cases[f].file, j_str(cases->item[i], "name"),
                         losskit_isa_name((losskit_isa)isa_list[k]));
                losskit_set_thread_isa(isa_list[k]);
                report(golden_cases[f].fn(cases->item[i], 2, label), "%s", label);
            }
        losskit_set_thread_isa(-1);
        j_free(root);
    }
}

/* ---- bad arguments -------------------------------------------------- */

static float B[64] = {0, 0, 1, 1, 0, 0, 2, 2};
static int64_t Y[8] = {0, 1, 0, 1};
static size_t COUNTS[2] = {1, 0};
static float L;

static int bad_l1_pred(void) { return losskit_l1(NULL, B, 4, NULL, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_l1_reduction(void) { return losskit_l1(B, B, 4, NULL, (losskit_reduction)7, &L, NULL, 1); }
static int bad_l1_threads(void) { return losskit_l1(B, B, 4, NULL, LOSSKIT_REDUCTION_MEAN, &L, NULL, -1); }
static int bad_l1w_threads(void) { return losskit_l1(B, B, 4, B + 8, LOSSKIT_REDUCTION_MEAN, &L, NULL, -1); }
static int bad_mse_target(void) { return losskit_mse(B, NULL, 4, B + 8, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_smooth_l1_beta(void) { return losskit_smooth_l1(B, B, 4, NULL, -1.0f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_smooth_l1w_reduction(void) { return losskit_smooth_l1(B, B, 4, B + 8, 1.0f, (losskit_reduction)3, &L, NULL, 1); }
static int bad_huber_delta(void) { return losskit_huber(B, B, 4, NULL, 0.0f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_wing_eps(void) { return losskit_wing(B, B, 4, NULL, 10.0f, NAN, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_wingw_threads(void) { return losskit_wing(B, B, 4, B + 8, 10.0f, 2.0f, LOSSKIT_REDUCTION_MEAN, &L, NULL, -2); }
static int bad_awing_theta(void) { return losskit_adaptive_wing(B, B, 4, NULL, 2.1f, 14, 1, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_awingw_reduction(void) { return losskit_adaptive_wing(B, B, 4, B + 8, 2.1f, 14, 1, 0.5f, (losskit_reduction)9, &L, NULL, 1); }
static int bad_focal_reg_gamma(void) { return losskit_focal_regression(B, B, 4, NULL, -1.0f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_shrinkage_weight(void) { return losskit_shrinkage(B, B, 4, NULL, 10, 0.2f, (losskit_shrinkage_weight)9, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_shrinkagew_threads(void) { return losskit_shrinkage(B, B, 4, B + 8, 10, 0.2f, LOSSKIT_SHRINKAGE_WEIGHT_NONE, LOSSKIT_REDUCTION_MEAN, &L, NULL, -1); }
static int bad_bce_pos_weight(void) { return losskit_bce_logits(B, B, 4, NULL, B, 3, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_bce_pos_weight_null(void) { return losskit_bce_logits(B, B, 4, B + 8, NULL, 1, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_bcew_reduction(void) { return losskit_bce_logits(B, B, 4, B + 8, NULL, 0, (losskit_reduction)4, &L, NULL, 1); }
static int bad_focal_gamma(void) { return losskit_sigmoid_focal(B, B, 4, 0.25f, -2, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_ce_label(void) { int64_t y[2] = {0, 5}; return losskit_softmax_ce(B, y, 2, 2, NULL, -100, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_ce_classes(void) { return losskit_softmax_ce(B, Y, 2, 0, NULL, -100, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_ce_smoothing(void) { return losskit_softmax_ce(B, Y, 2, 2, NULL, -100, 1.5f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_soft_targets(void) { return losskit_softmax_ce_soft(B, NULL, 2, 2, NULL, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_soft_classes(void) { return losskit_softmax_ce_soft(B, B, 2, 0, NULL, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_soft_weights(void) { float w[2] = {1, -1}; return losskit_softmax_ce_soft(B, B, 2, 2, w, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_soft_smoothing(void) { return losskit_softmax_ce_soft(B, B, 2, 2, NULL, -0.1f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_soft_reduction(void) { return losskit_softmax_ce_soft(B, B, 2, 2, NULL, 0, (losskit_reduction)3, &L, NULL, 1); }
static int bad_soft_threads(void) { return losskit_softmax_ce_soft(B, B, 2, 2, NULL, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, -1); }
static int bad_softmax_focal_gamma(void) { return losskit_softmax_focal(B, Y, 2, 2, 1, -1, -100, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_vecmath_fn(void) { return losskit_vecmath((losskit_vecmath_fn)9, B, B, 4); }
static int bad_iou_kind(void) { return losskit_box_iou_matrix((losskit_iou_kind)9, LOSSKIT_BOX_XYXY, B, 1, B, 1, B + 32, 1); }
static int bad_iou_format(void) { return losskit_box_iou_matrix(LOSSKIT_IOU, (losskit_box_format)3, B, 1, B, 1, B + 32, 1); }
static int bad_iou_overflow(void) { return losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, B, 1u << 20, B, SIZE_MAX / 4, B + 32, 1); }
static int bad_iou_boxes1_rule(void) { float b[4] = {5, 0, 1, 1}; return losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, b, 1, B, 1, B + 32, 1); }
static int bad_iou_boxes2_xywh(void) { float b[4] = {0, 0, 1, -1}; return losskit_box_iou_matrix(LOSSKIT_GIOU, LOSSKIT_BOX_XYWH, B, 1, b, 1, B + 32, 1); }
static int bad_iou_boxes1_cxcywh(void) { float b[4] = {0, 0, -1, 1}; return losskit_box_iou_matrix(LOSSKIT_CIOU, LOSSKIT_BOX_CXCYWH, b, 1, B, 1, B + 32, 1); }
static int bad_iou_out(void) { return losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_CXCYWH, B, 1, B, 1, NULL, 1); }
static int bad_iou_threads(void) { return losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_XYWH, B, 1, B, 1, B + 32, -1); }
static int bad_iou_loss_kind(void) { return losskit_box_iou_loss(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, B, B, 1, 1e-7f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_iou_loss_format(void) { return losskit_box_iou_loss(LOSSKIT_GIOU, (losskit_box_format)-1, B, B, 1, 1e-7f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_iou_loss_target_rule(void) { float b[4] = {0, 0, 1, -2}; return losskit_box_iou_loss(LOSSKIT_DIOU, LOSSKIT_BOX_XYWH, B, b, 1, 1e-7f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_iou_loss_pred_rule(void) { float b[4] = {3, 3, 2, 4}; return losskit_box_iou_loss(LOSSKIT_GIOU, LOSSKIT_BOX_XYXY, b, B, 1, 1e-7f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_iou_loss_eps(void) { return losskit_box_iou_loss(LOSSKIT_CIOU, LOSSKIT_BOX_CXCYWH, B, B, 1, -1e-7f, LOSSKIT_REDUCTION_MEAN, &L, NULL, 1); }
static int bad_iou_loss_reduction(void) { return losskit_box_iou_loss(LOSSKIT_CIOU, LOSSKIT_BOX_XYWH, B, B, 1, 1e-7f, (losskit_reduction)5, &L, NULL, 1); }
static int bad_iou_loss_threads(void) { return losskit_box_iou_loss(LOSSKIT_GIOU, LOSSKIT_BOX_CXCYWH, B, B, 1, 1e-7f, LOSSKIT_REDUCTION_MEAN, &L, NULL, -1); }
static int bad_formats_out(void) { return losskit_boxes_xyxy_to_cxcywh(B, NULL, 1); }
static int bad_encode_variance(void) { return losskit_ssd_encode(B, B, 1, 0.0f, 0.2f, B + 32); }
static int bad_decode_out(void) { return losskit_ssd_decode(B, B, 1, 0.1f, 0.2f, NULL); }
static int bad_match_threshold(void) { int64_t a[2], b[2]; return losskit_ssd_match(B, Y, 1, B, 1, NAN, a, b); }
static int bad_multibox_loc(void) { float a, b; return losskit_multibox_loss(NULL, B, 1, 1, 2, B, B, Y, COUNTS, 0.5f, 3, 0.1f, 0.2f, &a, &b, NULL, NULL, NULL, 1); }
static int bad_nms_kept(void) { int64_t k[2]; return losskit_nms(B, B, 1, 0.5f, k, NULL); }
static int bad_distance_metric(void) { return losskit_pairwise_distance((losskit_metric)5, B, 1, B, 1, 2, B + 32, 1); }
static int bad_distance_d0(void) { return losskit_pairwise_distance(LOSSKIT_METRIC_EUCLIDEAN, B, 1, B, 1, 0, B + 32, 1); }
static int bad_distance_backward_grad(void) { return losskit_pairwise_distance_backward(LOSSKIT_METRIC_EUCLIDEAN, B, 1, B, 1, 2, NULL, B, B + 32, B + 40, 1); }
static int bad_distance_backward_d0(void) { return losskit_pairwise_distance_backward(LOSSKIT_METRIC_COSINE, B, 1, B, 1, 0, B, B, B + 32, B + 40, 1); }
static int bad_mahalanobis_factor(void) { return losskit_mahalanobis_factor(B, 2, B + 32, NULL); }
static int bad_mahalanobis_factor_d0(void) { size_t r; return losskit_mahalanobis_factor(B, 0, B + 32, &r); }
static int bad_mahalanobis_not_psd(void) { float m[4] = {1, 0, 0, -1}; return losskit_mahalanobis_distance(LOSSKIT_METRIC_EUCLIDEAN, B, 1, B, 1, 2, m, 0, B + 32, 1); }
static int bad_mahalanobis_d0(void) { return losskit_mahalanobis_distance(LOSSKIT_METRIC_EUCLIDEAN, B, 1, B, 1, 0, B, 0, B + 32, 1); }
static int bad_contrastive_d(void) { return losskit_contrastive(LOSSKIT_METRIC_EUCLIDEAN, B, B, B, 1, 0, 1, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_contrastive_label(void) { float same[2] = {1, 0.5f}; return losskit_contrastive(LOSSKIT_METRIC_EUCLIDEAN, B, B, same, 2, 2, 1, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_contrastive_label_nan(void) { float same[2] = {NAN, 0}; return losskit_contrastive(LOSSKIT_METRIC_COSINE, B, B, same, 2, 2, 1, 1, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_contrastive_margin(void) { float same[2] = {1, 0}; return losskit_contrastive(LOSSKIT_METRIC_EUCLIDEAN, B, B, same, 2, 2, -1, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, 1); }
static int bad_triplet_margin(void) { return losskit_triplet(LOSSKIT_METRIC_EUCLIDEAN, B, B, B, 1, 2, NAN, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, 1); }
static int bad_triplet_margin_neg(void) { return losskit_triplet(LOSSKIT_METRIC_EUCLIDEAN, B, B, B, 1, 2, -0.3f, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, 1); }
static int bad_triplet_d0(void) { return losskit_triplet(LOSSKIT_METRIC_EUCLIDEAN, B, B, B, 1, 0, 0.3f, 0, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, 1); }
static int bad_quadruplet_reduction(void) { return losskit_quadruplet(LOSSKIT_METRIC_EUCLIDEAN, B, B, B, B, 1, 2, 1, 1, (losskit_reduction)5, &L, NULL, NULL, NULL, NULL, 1); }
static int bad_quadruplet_margin2(void) { return losskit_quadruplet(LOSSKIT_METRIC_EUCLIDEAN, B, B, B, B, 1, 2, 1, -1, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, NULL, 1); }
static int bad_quadruplet_d0(void) { return losskit_quadruplet(LOSSKIT_METRIC_EUCLIDEAN, B, B, B, B, 1, 0, 1, 1, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, NULL, 1); }
static int bad_trihard_mining(void) { return losskit_trihard(LOSSKIT_METRIC_EUCLIDEAN, B, Y, 4, 2, 0.3f, 0, (losskit_mining)4, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, 1); }
static int bad_trihard_margin(void) { return losskit_trihard(LOSSKIT_METRIC_EUCLIDEAN, B, Y, 4, 2, -0.3f, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, 1); }
static int bad_trihard_d0(void) { return losskit_trihard(LOSSKIT_METRIC_EUCLIDEAN, B, Y, 4, 0, 0.3f, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, &L, NULL, NULL, NULL, 1); }
/* not bad: TriHard on n = 0 and n = 1 is a valid batch with loss 0 (and a zero gradient): 0, else the status or -999 */
static int ok_trihard_n(size_t n) {
    float g[2] = {7, 7};
    int64_t hp = 5, hn = 5;
    L = 7;
    int st = losskit_trihard(LOSSKIT_METRIC_EUCLIDEAN, B, Y, n, 2, 0.3f, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, &L, g, &hp, &hn, 1);
    return st != 0 ? st : L == 0.0f && (n == 0 || (g[0] == 0.0f && g[1] == 0.0f && hp == -1 && hn == -1)) ? 0 : -999;
}
static int ok_trihard_n0(void) { return ok_trihard_n(0); }
static int ok_trihard_n1(void) { return ok_trihard_n(1); }
static int bad_coco_stats(void) {
    const double bx[4] = {0, 0, 1, 1}, sc = 0.5, area = 1;
    const int64_t z = 0;
    losskit_eval_boxes gt = {bx, NULL, &area, NULL, &z, &z, 1}, dt = {bx, &sc, NULL, NULL, &z, &z, 1};
    return losskit_coco_evaluate(&gt, &dt, 1, 1, NULL, NULL, NULL, 1);
}
static int bad_voc_threshold(void) {
    const double bx[4] = {0, 0, 1, 1}, sc = 0.5;
    const int64_t z = 0;
    double ap;
    losskit_eval_boxes gt = {bx, NULL, NULL, NULL, &z, &z, 1}, dt = {bx, &sc, NULL, NULL, &z, &z, 1};
    return losskit_voc_evaluate(&gt, &dt, 1, 1, 1.5, 0, 0, &ap, NULL, 1);
}
static int bad_reid_ap_kind(void) {
    const int64_t id[2] = {0, 1};
    losskit_reid_scores sc = {0};
    return losskit_reid_evaluate_distances(B, 2, 2, (losskit_reid_labels){id, id, id, id}, 2, &sc, 1);
}
static int bad_landmark_norm(void) { double nme[2]; return losskit_landmark_nme(B, B, 1, 4, (losskit_landmark_norm)4, 0, 1, 1, nme); }
static int bad_isa(void) { return losskit_set_isa((losskit_isa)42); }

typedef struct { const char *name; int (*call)(void); int expected; } bad_case;
static const bad_case bad_args[] = {
    {"l1 pred NULL", bad_l1_pred, -1}, {"l1 reduction", bad_l1_reduction, -5}, {"l1 threads < 0", bad_l1_threads, -8},
    {"l1 weighted threads < 0", bad_l1w_threads, -8}, {"mse weighted target NULL", bad_mse_target, -2},
    {"smooth_l1 beta < 0", bad_smooth_l1_beta, -5}, {"smooth_l1 weighted reduction", bad_smooth_l1w_reduction, -6},
    {"huber delta 0", bad_huber_delta, -5}, {"wing eps NaN", bad_wing_eps, -6}, {"wing weighted threads < 0", bad_wingw_threads, -10},
    {"adaptive_wing theta 0", bad_awing_theta, -8}, {"adaptive_wing weighted reduction", bad_awingw_reduction, -9},
    {"focal_regression gamma < 0", bad_focal_reg_gamma, -5},
    {"shrinkage weight", bad_shrinkage_weight, -7}, {"shrinkage weighted threads < 0", bad_shrinkagew_threads, -11},
    {"bce pos_weight count", bad_bce_pos_weight, -6}, {"bce weighted pos_weight NULL", bad_bce_pos_weight_null, -5},
    {"bce weighted reduction", bad_bcew_reduction, -7},
    {"sigmoid_focal gamma < 0", bad_focal_gamma, -5}, {"softmax_ce label", bad_ce_label, -2}, {"softmax_ce classes 0", bad_ce_classes, -4},
    {"softmax_ce smoothing > 1", bad_ce_smoothing, -7},
    {"softmax_ce_soft targets NULL", bad_soft_targets, -2}, {"softmax_ce_soft classes 0", bad_soft_classes, -4},
    {"softmax_ce_soft class weight < 0", bad_soft_weights, -5}, {"softmax_ce_soft smoothing < 0", bad_soft_smoothing, -6},
    {"softmax_ce_soft reduction", bad_soft_reduction, -7}, {"softmax_ce_soft threads < 0", bad_soft_threads, -10},
    {"softmax_focal gamma < 0", bad_softmax_focal_gamma, -6},
    {"vecmath fn", bad_vecmath_fn, -1}, {"box_iou_matrix kind", bad_iou_kind, -1}, {"box_iou_matrix format", bad_iou_format, -2},
    {"box_iou_matrix n m overflow", bad_iou_overflow, -6}, {"box_iou_matrix boxes1 x2 < x1", bad_iou_boxes1_rule, -3},
    {"box_iou_matrix boxes2 xywh h < 0", bad_iou_boxes2_xywh, -5}, {"box_iou_matrix boxes1 cxcywh w < 0", bad_iou_boxes1_cxcywh, -3},
    {"box_iou_matrix out NULL", bad_iou_out, -7}, {"box_iou_matrix threads < 0", bad_iou_threads, -8},
    {"box_iou_loss kind IOU", bad_iou_loss_kind, -1}, {"box_iou_loss format", bad_iou_loss_format, -2},
    {"box_iou_loss pred x2 < x1", bad_iou_loss_pred_rule, -3}, {"box_iou_loss target xywh h < 0", bad_iou_loss_target_rule, -4},
    {"box_iou_loss eps < 0", bad_iou_loss_eps, -6}, {"box_iou_loss reduction", bad_iou_loss_reduction, -7},
    {"box_iou_loss threads < 0", bad_iou_loss_threads, -10}, {"xyxy_to_cxcywh out NULL", bad_formats_out, -2},
    {"ssd_encode variance 0", bad_encode_variance, -4}, {"ssd_decode out NULL", bad_decode_out, -6},
    {"ssd_match threshold NaN", bad_match_threshold, -6}, {"multibox loc NULL", bad_multibox_loc, -1}, {"nms kept NULL", bad_nms_kept, -6},
    {"pairwise_distance metric", bad_distance_metric, -1}, {"pairwise_distance d 0", bad_distance_d0, -6},
    {"pairwise_distance_backward distances NULL", bad_distance_backward_grad, -7}, {"pairwise_distance_backward d 0", bad_distance_backward_d0, -6},
    {"mahalanobis_factor rank NULL", bad_mahalanobis_factor, -4}, {"mahalanobis_factor d 0", bad_mahalanobis_factor_d0, -2},
    {"mahalanobis not PSD", bad_mahalanobis_not_psd, LOSSKIT_ERR_NOT_PSD}, {"mahalanobis d 0", bad_mahalanobis_d0, -6},
    {"contrastive d 0", bad_contrastive_d, -6}, {"contrastive label 0.5", bad_contrastive_label, -4},
    {"contrastive label NaN", bad_contrastive_label_nan, -4}, {"contrastive margin < 0", bad_contrastive_margin, -7},
    {"triplet margin NaN", bad_triplet_margin, -7}, {"triplet margin < 0", bad_triplet_margin_neg, -7}, {"triplet d 0", bad_triplet_d0, -6},
    {"quadruplet reduction", bad_quadruplet_reduction, -10}, {"quadruplet margin2 < 0", bad_quadruplet_margin2, -9},
    {"quadruplet d 0", bad_quadruplet_d0, -7}, {"trihard mining", bad_trihard_mining, -8}, {"trihard margin < 0", bad_trihard_margin, -6},
    {"trihard d 0", bad_trihard_d0, -5}, {"trihard n 0: valid, loss 0", ok_trihard_n0, 0}, {"trihard n 1: valid, loss 0", ok_trihard_n1, 0},
    {"coco_evaluate stats NULL", bad_coco_stats, -5}, {"voc_evaluate iou_threshold > 1", bad_voc_threshold, -5},
    {"reid_evaluate_distances ap_kind", bad_reid_ap_kind, -5}, {"landmark_nme norm", bad_landmark_norm, -5},
    {"set_isa unknown", bad_isa, LOSSKIT_ERR_UNSUPPORTED},
};

static void run_bad_args(void) {
    for (size_t i = 0; i < sizeof bad_args / sizeof *bad_args; i++) {
        int got = bad_args[i].call();
        report(got == bad_args[i].expected, "bad argument %s: status %d, expected %d", bad_args[i].name, got, bad_args[i].expected);
    }
}

#include "reference_trihard_cases.c"

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *fixtures = argc > 1 ? argv[1] : "Tests/LossKitTests/Fixtures";
    isa_list[isa_count++] = LOSSKIT_ISA_SCALAR;
    const losskit_isa simd[] = {LOSSKIT_ISA_AVX2, LOSSKIT_ISA_AVX512, LOSSKIT_ISA_NEON};
    for (size_t i = 0; i < 3; i++)
        if (losskit_isa_supported(simd[i])) isa_list[isa_count++] = simd[i];
    printf("LossKit C conformance: active ISA path %s; paths checked:", losskit_isa_name(losskit_active_isa()));
    for (int k = 0; k < isa_count; k++) printf(" %s", losskit_isa_name((losskit_isa)isa_list[k]));
    printf("%s\n", isa_count == 1 ? " (no SIMD path on this CPU: scalar only)" : " (each SIMD path against scalar)");
    int before = 0;
    run_diff_cases();
    printf("differential + thread determinism: %d checks (%zu entry-point cases x 3 input sets)\n", passed + failed - before,
           sizeof diff_cases / sizeof *diff_cases);
    before = passed + failed;
    run_vecmath_sweep();
    printf("vector math ulp sweep: %d checks\n", passed + failed - before);
    before = passed + failed;
    run_golden(fixtures);
    printf("golden fixtures (%s): %d checks\n", fixtures, passed + failed - before);
    before = passed + failed;
    run_bad_args();
    printf("bad-argument status codes: %d checks\n", passed + failed - before);
    run_reference_trihard_cases();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
