/* MultiBox's prior scan (rule one of the matching) for one instruction set
 * (included by multibox.c after simd_layer.h, once per ISA): the same as
 * scan_iou_scalar there, VW priors at a time - compares and selects instead
 * of the scalar loop's branches and dependent maxima (~4 cycles a prior).
 * IoUs are NaN-free here (the boxes were checked finite). */

V_TARGET static void VFN(scan_iou)(const float *restrict iou, size_t T, size_t P, float *restrict best_overlap,
                                   float *restrict best_truth, uint32_t *best_prior) {
    for (size_t t = 0; t < T; t++) {
        const float *row = iou + t * P;
        const vf tf = v_set((float)t);
        vf top = v_set(row[0]);
        size_t p = 0;
        for (; p + VW <= P; p += VW) {
            vf v = v_load(row + p), b = v_load(best_overlap + p);
            vm up = v_cmp(v, b, _CMP_GT_OQ);
            v_store(best_overlap + p, v_sel(up, v, b));
            v_store(best_truth + p, v_sel(up, tf, v_load(best_truth + p)));
            top = v_max(v, top);
        }
        float m = v_hmax(top);
        for (size_t q = p; q < P; q++) {
            if (row[q] > best_overlap[q]) { best_overlap[q] = row[q]; best_truth[q] = (float)t; }
            m = row[q] > m ? row[q] : m;
        }
        /* the first index holding the maximum */
        const vf mv = v_set(m);
        size_t best = P;
        for (size_t q = 0; q + VW <= P && best == P; q += VW) {
            unsigned bits = vm_bits(v_cmp(v_load(row + q), mv, _CMP_EQ_OQ));
            if (bits) best = q + (size_t)__builtin_ctz(bits);
        }
        for (size_t q = P - P % VW; q < P && best == P; q++) if (row[q] == m) best = q;
        best_prior[t] = (uint32_t)(best == P ? 0 : best);
    }
}
