/* IoU / GIoU / DIoU matrix rows, written once over simd_layer.h (no include
 * guard: boxes.c includes it per ISA). One row box against VW columns at a
 * time; the columns come as a structure of arrays (see boxes.c). */

V_TARGET static void VFN(iou_rows)(const iou_job *job, size_t r0, size_t r1) {
    const size_t m = job->m, full = m - m % VW, rest = m % VW;
    const col_soa *s = &job->cols;
    const losskit_iou_kind kind = job->kind;
    for (size_t i = r0; i < r1; i++) {
        const float *a = job->boxes1 + 4 * i;
        const vf ax1 = v_set(a[0]), ay1 = v_set(a[1]), ax2 = v_set(a[2]), ay2 = v_set(a[3]);
        const vf aarea = v_set((a[2] - a[0]) * (a[3] - a[1]));
        const vf acx = v_set(a[0] + a[2]), acy = v_set(a[1] + a[3]);
        const vf anan = v_set(isnan(a[0] + a[1] + a[2] + a[3]) ? NAN : 0.0f);
        float *out = job->out + i * m;
        const bool stream = job->stream && ((uintptr_t)out & 15) == 0;
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
            vf r = v_div(inter, uni);
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
            }
            r = v_sel(empty, v_zero(), r);
            r = v_add(r, v_add(anan, LOAD(nan))); /* a NaN coordinate poisons its pairs */
#undef LOAD
            if (last) v_store_first(out + j, r, rest);
            else if (stream) v_stream(out + j, r);
            else v_store(out + j, r);
        }
    }
    if (job->stream) _mm_sfence(); /* once per task: a fence per row would drain the stores each time */
}
