/* IoU / GIoU / DIoU matrix rows, written once over simd_layer.h (no include
 * guard: boxes.c includes it per ISA). One row box against VW columns at a
 * time; the columns come as a structure of arrays (see boxes.c). */

/* Rows r0 .. r1. `nan_cols`: some column box has a NaN coordinate; without
 * one (the usual case) a row's NaN is handled once for the row, and no
 * per-pair NaN terms are needed. */
V_INLINE void VFN(iou_rows_impl)(const iou_job *job, size_t r0, size_t r1, const bool nan_cols) {
    const size_t m = job->m, full = m - m % VW, rest = m % VW;
    const col_soa *s = &job->cols;
    const losskit_iou_kind kind = job->kind;
    for (size_t i = r0; i < r1; i++) {
        const float *a = job->boxes1 + 4 * i;
        float *out = job->out + i * m;
        const bool row_nan = isnan(a[0] + a[1] + a[2] + a[3]);
        if (row_nan && !nan_cols) { /* a NaN coordinate poisons its pairs */
            for (size_t j = 0; j < m; j++) out[j] = NAN;
            continue;
        }
        const vf ax1 = v_set(a[0]), ay1 = v_set(a[1]), ax2 = v_set(a[2]), ay2 = v_set(a[3]);
        const vf aarea = v_set((a[2] - a[0]) * (a[3] - a[1]));
        const vf acx = v_set(a[0] + a[2]), acy = v_set(a[1] + a[3]);
        const vf anan = v_set(row_nan ? NAN : 0.0f);
        for (size_t j = 0; j < m; j += VW) {
            const bool last = j == full;
            if (last && !rest) break;
#define LOAD(arr) (last ? v_load_first(s->arr + j, rest) : v_load(s->arr + j))
            vf bx1 = LOAD(x1), by1 = LOAD(y1), bx2 = LOAD(x2), by2 = LOAD(y2);
            vf iw = v_max(v_zero(), v_sub(v_min(ax2, bx2), v_max(ax1, bx1)));
            vf ih = v_max(v_zero(), v_sub(v_min(ay2, by2), v_max(ay1, by1)));
            vf inter = v_mul(iw, ih);
            vf uni = v_sub(v_add(aarea, LOAD(area)), inter);
            vm empty = v_cmp(uni, v_zero(), _CMP_EQ_OQ); /* 0 / 0 in torchvision: 0 here */
#if LK_SIMD == 512
            vf r = _mm512_maskz_div_ps((__mmask16)~empty, inter, uni);
#else
            vf r = v_div(inter, uni);
#endif
            if (kind != LOSSKIT_IOU) {
                vf cw = v_max(v_zero(), v_sub(v_max(ax2, bx2), v_min(ax1, bx1)));
                vf ch = v_max(v_zero(), v_sub(v_max(ay2, by2), v_min(ay1, by1)));
                if (kind == LOSSKIT_GIOU) {
                    vf C = v_mul(cw, ch);
                    r = v_sub(r, v_div(v_sub(C, uni), C));
                } else {
                    vf c2 = v_fma(cw, cw, v_fma(ch, ch, v_set(1e-7f)));
                    vf dx = v_mul(v_set(0.5f), v_sub(acx, LOAD(cx)));
                    vf dy = v_mul(v_set(0.5f), v_sub(acy, LOAD(cy)));
                    r = v_sub(r, v_div(v_fma(dx, dx, v_mul(dy, dy)), c2));
                }
#if LK_SIMD == 512
                r = v_sel(empty, v_zero(), r);
#endif
            }
#if LK_SIMD != 512
            r = v_sel(empty, v_zero(), r);
#endif
            if (nan_cols) r = v_add(r, v_add(anan, LOAD(nan)));
#undef LOAD
            if (last) v_store_first(out + j, r, rest);
            else v_store(out + j, r);
        }
    }
}

V_TARGET static void VFN(iou_rows)(const iou_job *job, size_t r0, size_t r1) {
    if (job->nan_cols) VFN(iou_rows_impl)(job, r0, r1, true);
    else VFN(iou_rows_impl)(job, r0, r1, false);
}
