/* TriHard's block reduction for one instruction set (included by metric.c
 * after simd_layer.h, once per ISA; see trihard_block there).
 *
 * One task: rows [r0, r0 + rows) of the block against columns [c0, c1).
 * Every value v(i, j) (d^2, or the cosine distance) updates
 *   - the task's own best positive / negative of row i (anchor i), and
 *   - for columns past the diagonal block, the shared best of anchor j -
 *     which only this task touches, rows in increasing order, so a strict
 *     comparison keeps the lowest index on ties.
 * Indices ride in float lanes (exact below 2^24, which the caller checks). */

#define TH_NOT(m) m_not(m)

V_INLINE vf VFN(th_iota)(void) { return v_iota(); }

/* v beats best in a max (GT) or a min (LT): NaN wins against a number. */
#define TH_BEATS(v, best, op) m_or(v_cmp(v, best, op), m_and(v_cmp(v, v, _CMP_UNORD_Q), v_cmp(best, best, _CMP_ORD_Q)))

/* Values of row i at columns j .. j + k - 1 (k <= VW). */
V_INLINE vf VFN(th_values)(const trihard_block *b, size_t i, const float *g, size_t j, size_t k, vf vni) {
    vf gv = k == VW ? v_load(g + j) : v_load_first(g + j, k);
    vf nj = k == VW ? v_load(b->norm + j) : v_load_first(b->norm + j, k);
    return VFN(pair_values)(gv, vni, nj, b->cosine, k, th_exact, b, i, j);
}

V_INLINE void VFN(th_row)(const trihard_block *b, size_t r, size_t c0, size_t c1, float *best) {
    const size_t i = b->r0 + r, diag_end = b->r0 + b->rows;
    const float *g = b->g + r * b->ldg - b->r0; /* g[j], j in [r0, n) */
    const vf vni = v_set(b->norm[i]), vli = v_set(b->label[i]), vfi = v_set((float)i), iota = VFN(th_iota)();
    vf pv = v_set(-INFINITY), pi = v_set(-1.0f), nv = v_set(INFINITY), ni = v_set(-1.0f);
    size_t split = c1 < diag_end ? c1 : (c0 > diag_end ? c0 : diag_end);
    for (size_t j = c0; j < c1; j += VW) {
        size_t k = c1 - j < VW ? c1 - j : VW;
        vf v = VFN(th_values)(b, i, g, j, k, vni);
        vf lj = k == VW ? v_load(b->label + j) : v_load_first(b->label + j, k);
        vf idx = v_add(iota, v_set((float)j));
        vm live = vm_first(k);
        vm same = m_and(v_cmp(lj, vli, _CMP_EQ_OQ), live);
        vm other = m_and(v_cmp(lj, vli, _CMP_NEQ_OQ), live);
        vm pos = m_and(same, v_cmp(idx, vfi, _CMP_NEQ_OQ));
        vm up = m_and(pos, TH_BEATS(v, pv, _CMP_GT_OQ));
        pv = v_sel(up, v, pv);
        pi = v_sel(up, idx, pi);
        vm dn = m_and(other, TH_BEATS(v, nv, _CMP_LT_OQ));
        nv = v_sel(dn, v, nv);
        ni = v_sel(dn, idx, ni);
        if (j + VW <= split) continue; /* inside the diagonal block: its rows see those columns themselves */
        /* anchor j's state; lanes left of the diagonal block's end are masked off */
        vm cols = j >= split ? live : m_and(live, TH_NOT(vm_first(split - j)));
        float *cpv = b->col + j, *cpi = cpv + b->n, *cnv = cpi + b->n, *cni = cnv + b->n;
        vf a = k == VW ? v_load(cpv) : v_load_first(cpv, k), ai = k == VW ? v_load(cpi) : v_load_first(cpi, k);
        vf c = k == VW ? v_load(cnv) : v_load_first(cnv, k), ci = k == VW ? v_load(cni) : v_load_first(cni, k);
        vm cup = m_and(m_and(same, cols), TH_BEATS(v, a, _CMP_GT_OQ));
        vm cdn = m_and(m_and(other, cols), TH_BEATS(v, c, _CMP_LT_OQ));
        a = v_sel(cup, v, a);
        ai = v_sel(cup, vfi, ai);
        c = v_sel(cdn, v, c);
        ci = v_sel(cdn, vfi, ci);
        if (k == VW) { v_store(cpv, a); v_store(cpi, ai); v_store(cnv, c); v_store(cni, ci); }
        else { v_store_first(cpv, a, k); v_store_first(cpi, ai, k); v_store_first(cnv, c, k); v_store_first(cni, ci, k); }
    }
    float lv[VW], li[VW];
    v_store(lv, pv); v_store(li, pi);
    for (int l = 0; l < VW; l++) th_better_max(lv[l], li[l], best);
    v_store(lv, nv); v_store(li, ni);
    for (int l = 0; l < VW; l++) th_better_min(lv[l], li[l], best + 2);
}

V_TARGET static void VFN(th_tile)(const trihard_block *b, size_t c0, size_t c1, float *best) {
    for (size_t r = 0; r < b->rows; r++) VFN(th_row)(b, r, c0, c1, best + 4 * r);
}

#undef TH_NOT
#undef TH_BEATS
