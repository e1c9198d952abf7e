/* Distance values from an SGEMM cross term, for one instruction set
 * (included after simd_layer.h by the kernels that reduce or rewrite an SGEMM
 * output: distance.c, metric.c). */


/* d^2 = ni + nj + g (g = -2 x.y; ni, nj squared norms), or for cosine
 * 1 - g ni nj (g = x.y; ni, nj inverse norms), for pair (i, j + lane) over
 * the first k lanes. Lanes that cancel get exact(ctx, i, j + lane) instead
 * (rare: near-duplicates). NaN stays NaN. */
V_INLINE vf VFN(pair_values)(vf g, vf ni, vf nj, bool cosine, size_t k, double (*exact)(const void *, size_t, size_t),
                             const void *ctx, size_t i, size_t j) {
    vf v;
    vm flag;
    if (cosine) {
        v = v_fnma(v_mul(g, ni), nj, v_set(1.0f));
        flag = v_cmp(v, v_set((float)LK_PAIR_REPAIR), _CMP_LT_OQ);
    } else {
        vf s = v_add(ni, nj);
        v = v_add(s, g);
        flag = v_cmp(v, v_mul(s, v_set((float)LK_PAIR_REPAIR)), _CMP_LT_OQ);
    }
    flag = m_and(flag, vm_first(k));
    if (!m_none(flag)) {
        float lanes[VW];
        v_store(lanes, v);
        unsigned bits = vm_bits(flag);
        for (unsigned l = 0; l < (unsigned)VW; l++)
            if (bits >> l & 1u) lanes[l] = (float)exact(ctx, i, j + l);
        v = v_load(lanes);
    }
    return v;
}

