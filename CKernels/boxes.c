/* IoU-family matrices and aligned losses, box format conversions. */
#include "vecmath.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

static bool kind_ok(losskit_iou_kind k) { return k >= LOSSKIT_IOU && k <= LOSSKIT_CIOU; }
static bool format_ok(losskit_box_format f) { return f >= LOSSKIT_BOX_XYXY && f <= LOSSKIT_BOX_CXCYWH; }

/* A box in `format` as corners c (not aliasing b), in float, as
 * torchvision.ops.box_convert: the kernels convert each box as they load it. */
static inline void box_corners(losskit_box_format format, const float *b, float *c) {
    switch (format) {
    case LOSSKIT_BOX_XYWH:
        c[0] = b[0]; c[1] = b[1]; c[2] = b[0] + b[2]; c[3] = b[1] + b[3];
        break;
    case LOSSKIT_BOX_CXCYWH:
        c[0] = b[0] - 0.5f * b[2]; c[1] = b[1] - 0.5f * b[3]; c[2] = b[0] + 0.5f * b[2]; c[3] = b[1] + 0.5f * b[3];
        break;
    default:
        c[0] = b[0]; c[1] = b[1]; c[2] = b[2]; c[3] = b[3];
        break;
    }
}

static inline bool box_breaks_rule(losskit_box_format format, const float *x) {
    return format == LOSSKIT_BOX_XYXY ? (x[2] < x[0] || x[3] < x[1]) : (x[2] < 0.0f || x[3] < 0.0f);
}

#if LK_X86
#include <immintrin.h>
/* Whether any of boxes [0, n) breaks the rule, four boxes a step in two
 * vectors: each box's (x2, y2) swapped onto its (x1, y1) within the lane
 * (xyxy: lanes 0, 1, 4, 5 are x2 < x1, y2 < y1), or each float against 0
 * (lanes 2, 3, 6, 7: w < 0, h < 0). Scanning a 100k-box set before the IoU
 * matrix costs ~0.02 ms from the cache, ~0.05 from memory (a scalar loop:
 * 0.06 either way). */
__attribute__((target("avx2"))) static bool any_bad_box_avx2(losskit_box_format format, const float *b, size_t n) {
    const size_t len = 4 * n;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    size_t i = 0;
    if (format == LOSSKIT_BOX_XYXY) {
        for (; i + 16 <= len; i += 16) {
            const __m256 v = _mm256_loadu_ps(b + i), w = _mm256_loadu_ps(b + i + 8);
            acc0 = _mm256_or_ps(acc0, _mm256_cmp_ps(_mm256_permute_ps(v, 0x4E), v, _CMP_LT_OQ));
            acc1 = _mm256_or_ps(acc1, _mm256_cmp_ps(_mm256_permute_ps(w, 0x4E), w, _CMP_LT_OQ));
        }
    } else {
        for (; i + 16 <= len; i += 16) {
            acc0 = _mm256_or_ps(acc0, _mm256_cmp_ps(_mm256_loadu_ps(b + i), _mm256_setzero_ps(), _CMP_LT_OQ));
            acc1 = _mm256_or_ps(acc1, _mm256_cmp_ps(_mm256_loadu_ps(b + i + 8), _mm256_setzero_ps(), _CMP_LT_OQ));
        }
    }
    const int lanes = format == LOSSKIT_BOX_XYXY ? 0x33 : 0xCC;
    bool bad = (_mm256_movemask_ps(_mm256_or_ps(acc0, acc1)) & lanes) != 0;
    for (size_t k = i / 4; k < n && !bad; k++) bad = box_breaks_rule(format, b + 4 * k);
    return bad;
}
#endif

size_t lk_first_bad_box(losskit_box_format format, const float *b, size_t n) {
    if (n == 0) return 0;
#if LK_X86
    /* the usual answer (none) at vector speed; the index only if one breaks the rule */
    if (lk_isa_path() != LOSSKIT_ISA_SCALAR && !any_bad_box_avx2(format, b, n)) return n;
#endif
    for (size_t i = 0; i < n; i++)
        if (box_breaks_rule(format, b + 4 * i)) return i;
    return n;
}

/* ---- one pair, scalar ------------------------------------------------- */

static const float kFourOverPi2 = 0.405284734569351086f; /* 4 / pi^2 */

/* One pair of corner boxes. The IoU in torchvision's operation order:
 * (area_a + area_b) - inter, then the quotient (so that near-ties break as
 * in float32 torchvision; the portable twin does the same). A 0 / 0 term is
 * 0 (see losskit_box_iou_matrix). */
static float pair_metric(losskit_iou_kind kind, const float *a, const float *b) {
    /* each box's own sum, as the vector paths test it (-inf in one box and +inf in the other is no NaN) */
    if (isnan(a[0] + a[1] + a[2] + a[3]) || isnan(b[0] + b[1] + b[2] + b[3])) return NAN;
    const float aw = a[2] - a[0], ah = a[3] - a[1], bw = b[2] - b[0], bh = b[3] - b[1];
    const float area_a = aw * ah, area_b = bw * bh; /* separate statements: never contracted to an FMA */
    const float iw = fmaxf(0.0f, fminf(a[2], b[2]) - fmaxf(a[0], b[0]));
    const float ih = fmaxf(0.0f, fminf(a[3], b[3]) - fmaxf(a[1], b[1]));
    const float inter = iw * ih, sum = area_a + area_b, uni = sum - inter;
    const float iou = uni == 0.0f ? 0.0f : inter / uni;
    if (kind == LOSSKIT_IOU) return iou;
    float cw = fmaxf(0.0f, fmaxf(a[2], b[2]) - fminf(a[0], b[0]));
    float ch = fmaxf(0.0f, fmaxf(a[3], b[3]) - fminf(a[1], b[1]));
    if (kind == LOSSKIT_GIOU) {
        float C = cw * ch;
        return iou - (C == 0.0f ? 0.0f : (C - uni) / C);
    }
    float c2 = cw * cw + ch * ch + 1e-7f;
    float dx = 0.5f * ((a[0] + a[2]) - (b[0] + b[2])), dy = 0.5f * ((a[1] + a[3]) - (b[1] + b[3]));
    float diou = iou - (dx * dx + dy * dy) / c2;
    if (kind == LOSSKIT_DIOU) return diou;
    if ((aw == 0.0f && ah == 0.0f) || (bw == 0.0f && bh == 0.0f)) return diou; /* aspect 0/0: no aspect term */
    float d = atanf(aw / ah) - atanf(bw / bh);
    float v = kFourOverPi2 * d * d;
    float alpha = v / (1.0f - iou + v + 1e-7f);
    return diou - alpha * v;
}

/* ---- matrices ---------------------------------------------------------- */

typedef struct {
    float *x1, *y1, *x2, *y2, *area, *cx, *cy, *nan; /* the second set, one array per field */
} col_soa;

/* Phase copies of the plain IoU kernel's columns: see iou_phase_stride. */
enum { IOU_PHASES = 8, IOU_PHASE_ARRAYS = 5, IOU_PHASE_MAX_BYTES = 128 << 10, IOU_PHASE_MIN_ROWS = 64 };

typedef struct {
    losskit_iou_kind kind;
    losskit_box_format format; /* of boxes1 (the columns are corners already) */
    const float *boxes1;
    size_t n, m, rows_per_task;
    float *out;
    bool nan_cols;    /* some box of the second set has a NaN coordinate */
    bool stream;      /* a large output: the plain IoU kernel streams its stores */
    bool half_stream; /* ... those of every other task only (two threads or more, see iou_flat) */
    losskit_isa path; /* chosen on the calling thread */
    col_soa cols;
    bool cols_pos;        /* every column box has a finite area >= 0 (see iou_vec_pos) */
    col_soa phase[IOU_PHASES]; /* the columns for a row starting at column j: phase[j % IOU_PHASES] */
} iou_job;

/* A box with a NaN coordinate: its whole row of the matrix is NaN. */
static inline bool box_has_nan(const float *b) { return isnan(b[0] + b[1] + b[2] + b[3]); }

/* Row i's box as corners (converted as it is loaded). */
static inline void row_corners(const iou_job *job, size_t i, float *c) { box_corners(job->format, job->boxes1 + 4 * i, c); }

static void fill_nan(float *out, size_t m) {
    for (size_t j = 0; j < m; j++) out[j] = NAN;
}

static void iou_rows_scalar(const iou_job *job, size_t r0, size_t r1) {
    const col_soa *s = &job->cols; /* the columns' corners */
    for (size_t i = r0; i < r1; i++) {
        float a[4];
        row_corners(job, i, a);
        for (size_t j = 0; j < job->m; j++) {
            const float b[4] = {s->x1[j], s->y1[j], s->x2[j], s->y2[j]};
            job->out[i * job->m + j] = pair_metric(job->kind, a, b);
        }
    }
}

#define LK_SIMD_TEMPLATE "boxes_simd.h"
#include "simd_each_isa.h"

static void iou_task(void *ctx, size_t task) {
    const iou_job *job = ctx;
    size_t r0 = task * job->rows_per_task;
    size_t r1 = r0 + job->rows_per_task < job->n ? r0 + job->rows_per_task : job->n;
#if LK_X86
    /* CIoU needs atan: the scalar path serves it */
    if (job->kind != LOSSKIT_CIOU) {
        losskit_isa path = job->path;
        if (path == LOSSKIT_ISA_AVX512) { iou_rows_avx512(job, r0, r1); return; }
        if (path == LOSSKIT_ISA_AVX2) { iou_rows_avx2(job, r0, r1); return; }
    }
#elif LK_ARM64
    if (job->kind != LOSSKIT_CIOU && job->path == LOSSKIT_ISA_NEON) { iou_rows_neon(job, r0, r1); return; }
#endif
    iou_rows_scalar(job, r0, r1);
}

/* Phase copies of the columns for the plain IoU kernel. Its rows are one
 * run of aligned vectors, so a row starts at column j = -(address of the
 * row) mod VW and loads the columns from j, j + VW, ...: for most j those
 * loads straddle 32-byte halves of cache lines, which Zen 4 (two 256-bit
 * load halves) pays for twice - measured 1.95 against 1.70 ms for 10M pairs
 * streamed, m = 100 against m = 104. Copy c of x1, y1, x2, y2 and the area
 * is placed so that its column c sits on a 32-byte boundary, and a row with
 * j = c (mod 8) reads that copy: every load aligned, same values. Only the
 * phases the matrix's rows take are built: -(out / 4 + i m) mod 8. */
static size_t iou_phase_stride(size_t m) { return (m + LK_BOX_SOA_PAD + IOU_PHASES + 15) & ~(size_t)15; }

/* Which phases occur (bit c), or 0 if copies are not worth it here (or the
 * aligned-run kernel, m >= its vector width, is not the one that runs). */
static unsigned iou_phases_used(losskit_iou_kind kind, size_t n, size_t m, const float *out, losskit_isa path) {
    const size_t width = path == LOSSKIT_ISA_AVX512 ? 16 : path == LOSSKIT_ISA_AVX2 ? 8 : SIZE_MAX;
    if (kind != LOSSKIT_IOU || n < IOU_PHASE_MIN_ROWS || m < width || ((uintptr_t)out & 3) != 0) return 0;
    if (m > IOU_PHASE_MAX_BYTES / sizeof(float)) return 0; /* too large anyway; keeps the sizes below from overflowing */
    unsigned used = 0;
    size_t c = (size_t)(0 - (uintptr_t)out / sizeof(float)) % IOU_PHASES;
    for (size_t i = 0; i < IOU_PHASES; i++, c = (c + IOU_PHASES - m % IOU_PHASES) % IOU_PHASES) used |= 1u << c;
    size_t copies = (size_t)__builtin_popcount(used);
    return sizeof(float) * copies * IOU_PHASE_ARRAYS * iou_phase_stride(m) <= IOU_PHASE_MAX_BYTES ? used : 0;
}

/* Fills the copies for the phases in `used` into block (64-byte aligned,
 * popcount(used) * IOU_PHASE_ARRAYS * iou_phase_stride(m) floats). */
static void iou_phase_fill(const float *soa, size_t m, unsigned used, float *block, col_soa phase[IOU_PHASES]) {
    const size_t stride = m + LK_BOX_SOA_PAD, pstride = iou_phase_stride(m);
    for (size_t c = 0; c < IOU_PHASES; c++) {
        if (!(used >> c & 1u)) continue;
        float *arrays[IOU_PHASE_ARRAYS];
        for (size_t q = 0; q < IOU_PHASE_ARRAYS; q++) {
            /* x1, y1, x2, y2, area are the first five arrays of the structure */
            float *dst = block + q * pstride + (IOU_PHASES - c) % IOU_PHASES; /* dst + c: 32-byte aligned */
            memcpy(dst, soa + q * stride, sizeof(float) * stride);
            arrays[q] = dst;
        }
        phase[c] = (col_soa){.x1 = arrays[0], .y1 = arrays[1], .x2 = arrays[2], .y2 = arrays[3], .area = arrays[4]};
        block += IOU_PHASE_ARRAYS * pstride;
    }
}

static int iou_matrix_run(losskit_iou_kind kind, losskit_box_format format, const float *boxes1, size_t n,
                          lk_box_soa cols, float *out, int threads, const col_soa *phase, bool keep);
static lk_box_soa box_soa_fill(losskit_box_format format, const float *boxes, size_t m, float *soa);

/* losskit_box_iou_matrix; `keep`: the caller reads the matrix back at once,
 * so it is never streamed past the cache. */
static int box_iou_matrix(losskit_iou_kind kind, losskit_box_format format, const float *boxes1, size_t n,
                          const float *boxes2, size_t m, float *out, int threads, bool keep) {
    size_t total;
    LK_CHECK(kind_ok(kind), 1);
    LK_CHECK(format_ok(format), 2);
    LK_CHECK(boxes1 != NULL || n == 0, 3);
    LK_CHECK(n <= LK_MAX_FLOATS / 4, 4);
    LK_CHECK(boxes2 != NULL || m == 0, 5);
    LK_CHECK(m <= LK_MAX_FLOATS / 8 - LK_BOX_SOA_PAD, 6); /* its padded structure of arrays fits too */
    LK_CHECK(lk_mul_ok(n, m, &total) && total <= LK_MAX_FLOATS, 6);
    LK_CHECK(out != NULL || total == 0, 7);
    LK_CHECK(threads >= 0, 8);
    LK_CHECK(lk_first_bad_box(format, boxes1, n) == n, 3);
    LK_CHECK(lk_first_bad_box(format, boxes2, m) == m, 5);
    if (total == 0) return LOSSKIT_OK;
    /* the second set as a structure of arrays, and its phase copies: O(m) scratch */
    const unsigned used = iou_phases_used(kind, n, m, out, lk_isa_path());
    const size_t soa_floats = lk_box_soa_floats(m);
    const size_t phase_floats = (size_t)__builtin_popcount(used) * IOU_PHASE_ARRAYS * iou_phase_stride(m);
    float *soa = malloc(sizeof(float) * (soa_floats + (used ? phase_floats + 16 : 0)));
    if (!soa) return LOSSKIT_ERR_NOMEM;
    const lk_box_soa cols = box_soa_fill(format, boxes2, m, soa);
    col_soa phase[IOU_PHASES] = {{0}};
    if (used && !cols.nan) {
        float *block = soa + soa_floats;
        block += (size_t)(0 - (uintptr_t)block) % 64 / sizeof(float); /* malloc gives 16-byte alignment */
        iou_phase_fill(soa, m, used, block, phase);
    }
    int status = iou_matrix_run(kind, format, boxes1, n, cols, out, threads, phase, keep);
    free(soa);
    return status;
}

int losskit_box_iou_matrix(losskit_iou_kind kind, losskit_box_format format, const float *boxes1, size_t n,
                           const float *boxes2, size_t m, float *out, int threads) {
    return box_iou_matrix(kind, format, boxes1, n, boxes2, m, out, threads, false);
}

int lk_box_iou_matrix_kept(losskit_iou_kind kind, const float *boxes1, size_t n, const float *boxes2, size_t m,
                           float *out, int threads) {
    return box_iou_matrix(kind, LOSSKIT_BOX_XYXY, boxes1, n, boxes2, m, out, threads, true);
}

/* The columns as corners, converted from `format` as they are copied in. */
static lk_box_soa box_soa_fill(losskit_box_format format, const float *boxes, size_t m, float *soa) {
    const size_t stride = m + LK_BOX_SOA_PAD;
    lk_box_soa facts = {.soa = soa, .m = m, .nan = false, .areas_ok = true};
    if (m == 0) return facts;
    for (size_t j = 0; j < m; j++) {
        float b[4];
        box_corners(format, boxes + 4 * j, b);
        const float area = (b[2] - b[0]) * (b[3] - b[1]);
        const bool nan = box_has_nan(b);
        soa[j] = b[0]; soa[stride + j] = b[1]; soa[2 * stride + j] = b[2]; soa[3 * stride + j] = b[3];
        soa[4 * stride + j] = area;
        soa[5 * stride + j] = b[0] + b[2]; soa[6 * stride + j] = b[1] + b[3];
        soa[7 * stride + j] = nan ? NAN : 0.0f;
        facts.nan |= nan;
        facts.areas_ok &= area >= 0.0f && area < INFINITY;
    }
    for (size_t a = 0; a < 8; a++) /* the repeat after the end */
        for (size_t j = m; j < stride; j++) soa[a * stride + j] = soa[a * stride + j % m];
    return facts;
}

lk_box_soa lk_box_soa_fill(const float *boxes, size_t m, float *soa) {
    return box_soa_fill(LOSSKIT_BOX_XYXY, boxes, m, soa);
}

int lk_box_iou_from_soa(losskit_iou_kind kind, const float *boxes1, size_t n, const float *boxes2, lk_box_soa cols,
                        float *out, int threads) {
    (void)boxes2; /* the columns are all in cols */
    return iou_matrix_run(kind, LOSSKIT_BOX_XYXY, boxes1, n, cols, out, threads, NULL, true);
}

/* `phase`: NULL, or the IOU_PHASES column copies of iou_phase_fill (plain
 * IoU, no NaN column; a phase not built has a NULL x1). `keep`: never
 * stream the output (read back at once). */
static int iou_matrix_run(losskit_iou_kind kind, losskit_box_format format, const float *boxes1, size_t n,
                          lk_box_soa cols, float *out, int threads, const col_soa *phase, bool keep) {
    const size_t m = cols.m, total = n * m;
    if (total == 0) return LOSSKIT_OK;
    iou_job job = {.kind = kind, .format = format, .boxes1 = boxes1, .n = n, .m = m, .out = out,
                   .nan_cols = cols.nan, .cols_pos = cols.areas_ok};
    const size_t stride = m + LK_BOX_SOA_PAD;
    col_soa *s = &job.cols;
    float *f = (float *)cols.soa; /* read only: the kernels never write through these */
    s->x1 = f; s->y1 = f + stride; s->x2 = f + 2 * stride; s->y2 = f + 3 * stride;
    s->area = f + 4 * stride; s->cx = f + 5 * stride; s->cy = f + 6 * stride; s->nan = f + 7 * stride;
    /* the copy of each row phase: an aligned one if built, else the arrays themselves */
    for (size_t c = 0; c < IOU_PHASES; c++) job.phase[c] = phase && phase[c].x1 ? phase[c] : job.cols;
    job.path = lk_isa_path();
    job.rows_per_task = 65536 / m ? 65536 / m : 1;
    size_t tasks = (n + job.rows_per_task - 1) / job.rows_per_task;
    int nthreads = total < LK_PARALLEL_MIN ? 1 : lk_threads_for(threads, tasks, 1);
    /* A large matrix is bound by its writes: non-temporal stores skip the
     * read for ownership (100k x 100 on Zen 4, 1 thread: 1.71-1.86 ms
     * streamed, 1.80-2.0 ordinary); from two threads half of it is streamed
     * (see iou_flat). */
    job.stream = !keep && sizeof(float) * total >= LK_STREAM_MIN_BYTES && ((uintptr_t)out & 3) == 0;
    job.half_stream = nthreads >= 2;
    return lk_parallel_for(tasks, nthreads, iou_task, &job);
}

/* ---- aligned losses ------------------------------------------------------ */
/* d max(p, g)/dp and d min(p, g)/dp, with torch's half at ties */
static inline float dmax(float p, float g) { return p > g ? 1.0f : (p == g ? 0.5f : 0.0f); }
static inline float dmin(float p, float g) { return p < g ? 1.0f : (p == g ? 0.5f : 0.0f); }

typedef struct {
    losskit_iou_kind kind;
    losskit_box_format format;
    const float *p, *t;
    float eps, gscale;
    float *loss, *grad;
} iou_loss_ctx;

/* num / den where a zero den means 0 / 0 (the one rule: that term is 0). */
static inline float ratio0(float num, float den) { return den == 0.0f ? 0.0f : num / den; }

/* Loss of one pair of corner boxes and, if g, its gradient wrt the
 * prediction's corners (x1, y1, x2, y2). */
static float pair_loss(losskit_iou_kind kind, const float *P, const float *G, float eps, float *g) {
    const float x1 = P[0], y1 = P[1], x2 = P[2], y2 = P[3];
    const float a1 = G[0], b1 = G[1], a2 = G[2], b2 = G[3];
    const float wp = x2 - x1, hp = y2 - y1, wg = a2 - a1, hg = b2 - b1;
    /* intersection, torchvision's masked form: zero unless both extents are positive */
    const float iw = fminf(x2, a2) - fmaxf(x1, a1), ih = fminf(y2, b2) - fmaxf(y1, b1);
    const bool overlap = iw > 0.0f && ih > 0.0f;
    const float I = overlap ? iw * ih : 0.0f;
    const float U = wp * hp + wg * hg - I;
    const float Ue = U + eps, iou = ratio0(I, Ue);
    /* dI, dU wrt (x1, y1, x2, y2) */
    float dI[4] = {0, 0, 0, 0};
    if (overlap) {
        dI[0] = -ih * dmax(x1, a1);
        dI[1] = -iw * dmax(y1, b1);
        dI[2] = ih * dmin(x2, a2);
        dI[3] = iw * dmin(y2, b2);
    }
    const float dAp[4] = {-hp, -wp, hp, wp};
    float diou[4], dU[4];
    for (int k = 0; k < 4; k++) {
        dU[k] = dAp[k] - dI[k];
        diou[k] = ratio0(dI[k] * Ue - I * dU[k], Ue * Ue);
    }
    const float cx1 = fminf(x1, a1), cy1 = fminf(y1, b1), cx2 = fmaxf(x2, a2), cy2 = fmaxf(y2, b2);
    const float cw = cx2 - cx1, ch = cy2 - cy1;
    /* d cw, d ch wrt (x1, y1, x2, y2) */
    const float dcw[4] = {-dmin(x1, a1), 0.0f, dmax(x2, a2), 0.0f};
    const float dch[4] = {0.0f, -dmin(y1, b1), 0.0f, dmax(y2, b2)};
    float loss;
    if (kind == LOSSKIT_GIOU) {
        const float C = cw * ch, Ce = C + eps;
        loss = 1.0f - iou + ratio0(C - U, Ce);
        if (g)
            for (int k = 0; k < 4; k++) {
                float dC = dcw[k] * ch + cw * dch[k];
                g[k] = -diou[k] + ratio0((dC - dU[k]) * Ce - (C - U) * dC, Ce * Ce);
            }
        return loss;
    }
    const float c2 = cw * cw + ch * ch + eps;
    const float dx = 0.5f * ((x1 + x2) - (a1 + a2)), dy = 0.5f * ((y1 + y2) - (b1 + b2));
    const float rho2 = dx * dx + dy * dy;
    loss = 1.0f - iou + ratio0(rho2, c2);
    if (g)
        for (int k = 0; k < 4; k++) {
            float drho2 = (k == 0 || k == 2) ? dx : dy; /* d/dx1 of dx^2 = 2 dx (1/2) */
            float dc2 = 2.0f * (cw * dcw[k] + ch * dch[k]);
            g[k] = -diou[k] + ratio0(drho2 * c2 - rho2 * dc2, c2 * c2);
        }
    if (kind == LOSSKIT_DIOU) return loss;
    if ((wp == 0.0f && hp == 0.0f) || (wg == 0.0f && hg == 0.0f)) return loss; /* v undefined: 0 */
    const float delta = atanf(wg / hg) - atanf(wp / hp);
    const float v = kFourOverPi2 * delta * delta;
    const float alpha = ratio0(v, 1.0f - iou + v + eps); /* a constant for the gradient, as torch.no_grad */
    loss += alpha * v;
    if (g) {
        /* d atan(w/h)/dw = h / (w^2 + h^2), d/dh = -w / (w^2 + h^2); v depends on -atan(wp/hp) */
        float r2 = wp * wp + hp * hp;
        float dv_dw = -2.0f * kFourOverPi2 * delta * (hp / r2);
        float dv_dh = 2.0f * kFourOverPi2 * delta * (wp / r2);
        g[0] += alpha * -dv_dw;
        g[2] += alpha * dv_dw;
        g[1] += alpha * -dv_dh;
        g[3] += alpha * dv_dh;
    }
    return loss;
}

/* The gradient wrt corners g, chained back to the box's own format. */
static inline void grad_to_format(losskit_box_format format, float *g) {
    if (format == LOSSKIT_BOX_XYWH) { /* x2 = x + w */
        g[0] += g[2];
        g[1] += g[3];
    } else if (format == LOSSKIT_BOX_CXCYWH) { /* x1 = cx - w / 2, x2 = cx + w / 2 */
        const float gx1 = g[0], gy1 = g[1];
        g[0] = gx1 + g[2];
        g[1] = gy1 + g[3];
        g[2] = 0.5f * (g[2] - gx1);
        g[3] = 0.5f * (g[3] - gy1);
    }
}

static double iou_loss_chunk(void *vc, size_t b, size_t e) {
    const iou_loss_ctx *c = vc;
    double acc = 0.0;
    for (size_t i = b; i < e; i++) {
        float g[4], P[4], G[4];
        box_corners(c->format, c->p + 4 * i, P);
        box_corners(c->format, c->t + 4 * i, G);
        float l = pair_loss(c->kind, P, G, c->eps, c->grad ? g : NULL);
        if (c->grad) grad_to_format(c->format, g);
        if (box_has_nan(P) || box_has_nan(G)) {
            l = NAN;
            g[0] = g[1] = g[2] = g[3] = NAN;
        }
        if (c->loss) c->loss[i] = l;
        if (c->grad)
            for (int k = 0; k < 4; k++) c->grad[4 * i + k] = g[k] * c->gscale;
        acc += l;
    }
    return acc;
}

int losskit_box_iou_loss(losskit_iou_kind kind, losskit_box_format format, const float *pred, const float *target,
                         size_t n, float eps, losskit_reduction reduction, float *loss, float *grad, int threads) {
    LK_CHECK(kind == LOSSKIT_GIOU || kind == LOSSKIT_DIOU || kind == LOSSKIT_CIOU, 1);
    LK_CHECK(format_ok(format), 2);
    LK_CHECK(pred != NULL || n == 0, 3);
    LK_CHECK(target != NULL || n == 0, 4);
    LK_CHECK(n <= LK_MAX_FLOATS / 4, 5);
    LK_CHECK(isfinite(eps) && eps >= 0.0f, 6);
    LK_CHECK(lk_reduction_ok(reduction), 7);
    LK_CHECK(threads >= 0, 10);
    LK_CHECK(lk_first_bad_box(format, pred, n) == n, 3);
    LK_CHECK(lk_first_bad_box(format, target, n) == n, 4);
    if (n == 0) { /* torchvision: the mean of no pairs is 0 (its test_empty_inputs) */
        if (loss && reduction != LOSSKIT_REDUCTION_NONE) *loss = 0.0f;
        return LOSSKIT_OK;
    }
    iou_loss_ctx c = {.kind = kind, .format = format, .p = pred, .t = target, .eps = eps,
                      .gscale = lk_grad_scale(reduction, (double)n),
                      .loss = reduction == LOSSKIT_REDUCTION_NONE ? loss : NULL, .grad = grad};
    int nthreads = n < LK_PARALLEL_MIN / 4 ? 1 : lk_threads_for(threads, n, 2 * (LK_CHUNK / 4));
    double sum = 0.0;
    int status = lk_chunked_sum(n, LK_CHUNK / 4, nthreads, iou_loss_chunk, &c, &sum);
    if (status != LOSSKIT_OK) return status;
    lk_store_reduced(reduction, sum, (double)n, loss);
    return LOSSKIT_OK;
}

/* ---- conversions ------------------------------------------------------------ */

int losskit_boxes_xyxy_to_cxcywh(const float *in, float *out, size_t n) {
    LK_CHECK(in != NULL || n == 0, 1);
    LK_CHECK(out != NULL || n == 0, 2);
    LK_CHECK(n <= LK_MAX_FLOATS / 4, 3);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_XYXY, in, n) == n, 1);
    for (size_t i = 0; i < n; i++) {
        float x1 = in[4 * i], y1 = in[4 * i + 1], x2 = in[4 * i + 2], y2 = in[4 * i + 3];
        out[4 * i] = 0.5f * (x1 + x2);
        out[4 * i + 1] = 0.5f * (y1 + y2);
        out[4 * i + 2] = x2 - x1;
        out[4 * i + 3] = y2 - y1;
    }
    return LOSSKIT_OK;
}

int losskit_boxes_cxcywh_to_xyxy(const float *in, float *out, size_t n) {
    LK_CHECK(in != NULL || n == 0, 1);
    LK_CHECK(out != NULL || n == 0, 2);
    LK_CHECK(n <= LK_MAX_FLOATS / 4, 3);
    LK_CHECK(lk_first_bad_box(LOSSKIT_BOX_CXCYWH, in, n) == n, 1);
    for (size_t i = 0; i < n; i++) {
        float cx = in[4 * i], cy = in[4 * i + 1], w = in[4 * i + 2], h = in[4 * i + 3];
        out[4 * i] = cx - 0.5f * w;
        out[4 * i + 1] = cy - 0.5f * h;
        out[4 * i + 2] = cx + 0.5f * w;
        out[4 * i + 3] = cy + 0.5f * h;
    }
    return LOSSKIT_OK;
}
