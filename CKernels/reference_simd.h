/* The reference-set TriHard's tile reduction for one instruction set
 * (included by reference_trihard.c after simd_layer.h and pair_values_simd.h,
 * once per ISA; see rt_sets and rt_tile_scalar there, its scalar twin).
 *
 * One tile: queries [i0, i0 + rows) against references [c0, c1), g the
 * SGEMM output (row r at g + r * ldg). Each row carries its state across the
 * tiles of its unit, lane by lane (state: per row 4 x RT_LANES floats, best
 * positive value, its index, best negative value, its index; lane l sees the
 * references j = l mod VW in increasing order, so a strict comparison keeps
 * the lowest index on ties; NaN wins). Indices ride in float lanes (exact
 * below 2^24, which the caller checks). */

/* v beats best in a max (GT) or a min (LT): NaN wins against a number. */
#define RT_BEATS(v, best, op) m_or(v_cmp(v, best, op), m_and(v_cmp(v, v, _CMP_UNORD_Q), v_cmp(best, best, _CMP_ORD_Q)))

/* k (<= VW) references from j on into the row's lane state. */
#define RT_STEP(k, LOAD)                                                                         \
    do {                                                                                         \
        vf v = VFN(pair_values)(LOAD(row + j, k), vni, LOAD(s->rnorm + j, k), s->cosine, k, rt_exact, s, i, j); \
        v = VFN(rt_nan_exact)(v, k, s, i, j);                                                    \
        vf lj = LOAD(s->rlab + j, k), sj = LOAD(s->rself + j, k);                                \
        vf idx = v_add(iota, v_set((float)j));                                                   \
        vm live = vm_first(k);                                                                   \
        vm pos = m_and(m_and(v_cmp(lj, vli, _CMP_EQ_OQ), live), v_cmp(sj, vfi, _CMP_NEQ_OQ));   \
        vm neg = m_and(v_cmp(lj, vli, _CMP_NEQ_OQ), live);                                       \
        vm up = m_and(pos, RT_BEATS(v, pv, _CMP_GT_OQ));                                         \
        vm dn = m_and(neg, RT_BEATS(v, nv, _CMP_LT_OQ));                                         \
        pv = v_sel(up, v, pv);                                                                   \
        pi = v_sel(up, idx, pi);                                                                 \
        nv = v_sel(dn, v, nv);                                                                   \
        ni = v_sel(dn, idx, ni);                                                                 \
    } while (0)
#define RT_LOAD_ALL(p, k) v_load(p)
#define RT_LOAD_FIRST(p, k) v_load_first(p, k)

/* Lanes whose SGEMM form is NaN are recomputed in double: an infinite
 * feature gives inf - inf there where the distance is +inf. */
V_INLINE vf VFN(rt_nan_exact)(vf v, size_t k, const rt_sets *s, size_t i, size_t j) {
    vm nan = m_and(v_cmp(v, v, _CMP_UNORD_Q), vm_first(k));
    if (m_none(nan)) return v;
    float lanes[VW];
    v_store(lanes, v);
    unsigned bits = vm_bits(nan);
    for (unsigned l = 0; l < (unsigned)VW; l++)
        if (bits >> l & 1u) lanes[l] = (float)rt_exact(s, i, j + l);
    return v_load(lanes);
}

V_TARGET static void VFN(rt_tile)(const rt_sets *s, const float *g, size_t ldg, size_t i0, size_t rows, size_t c0,
                                  size_t c1, float *state) {
    const vf iota = v_iota();
    for (size_t r = 0; r < rows; r++) {
        const size_t i = i0 + r;
        const float *row = g + r * ldg - c0; /* row[j], j in [c0, c1) */
        float *st = state + r * 4 * RT_LANES;
        vf pv = v_load(st), pi = v_load(st + RT_LANES), nv = v_load(st + 2 * RT_LANES), ni = v_load(st + 3 * RT_LANES);
        const vf vni = v_set(s->qnorm[i]), vli = v_set(s->qlab[i]), vfi = v_set((float)i);
        size_t j = c0;
        for (; j + VW <= c1; j += VW) RT_STEP(VW, RT_LOAD_ALL);
        if (j < c1) RT_STEP(c1 - j, RT_LOAD_FIRST);
        v_store(st, pv);
        v_store(st + RT_LANES, pi);
        v_store(st + 2 * RT_LANES, nv);
        v_store(st + 3 * RT_LANES, ni);
    }
}

#undef RT_BEATS
#undef RT_STEP
#undef RT_LOAD_ALL
#undef RT_LOAD_FIRST
