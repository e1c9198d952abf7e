/* IoU / GIoU / DIoU matrix rows, written once over simd_layer.h (no include
 * guard: boxes.c includes it per ISA). One row box against VW columns at a
 * time; the columns come as a structure of arrays (see boxes.c). */

/* One row box, broadcast. */
typedef struct {
    vf x1, y1, x2, y2, area, cx, cy, nan;
} VFN(row_box);

/* The row box against VW column boxes from column j (the first `rest`
 * only, if `tail`). kind is a constant where this is inlined, and so is
 * nan_cols for plain IoU (the hot case): its loop carries no tests. */
V_INLINE vf VFN(iou_vec)(const VFN(row_box) *a, const col_soa *s, size_t j, const bool tail, size_t rest,
                         const losskit_iou_kind kind, const bool nan_cols) {
#define LOAD(arr) (tail ? v_load_first(s->arr + j, rest) : v_load(s->arr + j))
    vf bx1 = LOAD(x1), by1 = LOAD(y1), bx2 = LOAD(x2), by2 = LOAD(y2);
    vf iw = v_max(v_zero(), v_sub(v_min(a->x2, bx2), v_max(a->x1, bx1)));
    vf ih = v_max(v_zero(), v_sub(v_min(a->y2, by2), v_max(a->y1, by1)));
    vf inter = v_mul(iw, ih);
    vf uni = v_sub(v_add(a->area, LOAD(area)), inter);
    vm empty = v_cmp(uni, v_zero(), _CMP_EQ_OQ); /* 0 / 0 in torchvision: 0 here */
#if LK_SIMD == 512
    vf r = _mm512_maskz_div_ps((__mmask16)~empty, inter, uni); /* zero where empty, in the division */
    const bool zeroed = kind == LOSSKIT_IOU; /* nothing added to r below */
#else
    vf r = v_div(inter, uni);
    const bool zeroed = false;
#endif
    if (kind != LOSSKIT_IOU) {
        vf cw = v_max(v_zero(), v_sub(v_max(a->x2, bx2), v_min(a->x1, bx1)));
        vf ch = v_max(v_zero(), v_sub(v_max(a->y2, by2), v_min(a->y1, by1)));
        if (kind == LOSSKIT_GIOU) {
            vf C = v_mul(cw, ch);
            r = v_sub(r, v_div(v_sub(C, uni), C));
        } else {
            vf c2 = v_fma(cw, cw, v_fma(ch, ch, v_set(1e-7f)));
            vf dx = v_mul(v_set(0.5f), v_sub(a->cx, LOAD(cx)));
            vf dy = v_mul(v_set(0.5f), v_sub(a->cy, LOAD(cy)));
            r = v_sub(r, v_div(v_fma(dx, dx, v_mul(dy, dy)), c2));
        }
    }
    if (!zeroed) r = v_sel(empty, v_zero(), r);
    if (nan_cols) r = v_add(r, v_add(a->nan, LOAD(nan))); /* a NaN coordinate poisons its pairs */
#undef LOAD
    return r;
}

/* Rows r0 .. r1. `nan_cols`: some column box has a NaN coordinate; without
 * one (the usual case) a row's NaN is handled once for the row, and no
 * per-pair NaN terms are needed. */
V_INLINE void VFN(iou_rows_impl)(const iou_job *job, size_t r0, size_t r1, const losskit_iou_kind kind,
                                 const bool nan_cols) {
    const size_t m = job->m, full = m - m % VW, rest = m % VW;
    const col_soa cols = job->cols, *s = &cols; /* a copy: the stores to out cannot alias it */
    const float *boxes1 = job->boxes1;
    float *const out0 = job->out;
    for (size_t i = r0; i < r1; i++) {
        const float *b = boxes1 + 4 * i;
        float *out = out0 + i * m;
        const bool row_nan = isnan(b[0] + b[1] + b[2] + b[3]);
        if (row_nan && !nan_cols) {
            for (size_t j = 0; j < m; j++) out[j] = NAN;
            continue;
        }
        const VFN(row_box) a = {v_set(b[0]), v_set(b[1]), v_set(b[2]), v_set(b[3]), v_set((b[2] - b[0]) * (b[3] - b[1])),
                                v_set(b[0] + b[2]), v_set(b[1] + b[3]), v_set(row_nan ? NAN : 0.0f)};
        for (size_t j = 0; j < full; j += VW) v_store(out + j, VFN(iou_vec)(&a, s, j, false, 0, kind, nan_cols));
        if (rest) v_store_first(out + full, VFN(iou_vec)(&a, s, full, true, rest, kind, nan_cols), rest);
    }
}

V_TARGET static void VFN(iou_rows)(const iou_job *job, size_t r0, size_t r1) {
    const bool nan_cols = job->nan_cols;
    switch (job->kind) {
    case LOSSKIT_IOU:
        if (nan_cols) VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_IOU, true);
        else VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_IOU, false);
        break;
    case LOSSKIT_GIOU: VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_GIOU, nan_cols); break;
    default: VFN(iou_rows_impl)(job, r0, r1, LOSSKIT_DIOU, nan_cols); break;
    }
}
