/* TriHard's block reduction for one instruction set (included by metric.c
 * after simd_layer.h, once per ISA; see trihard_block there).
 *
 * One task: rows [r0, r0 + rows) of the block against columns [c0, c1).
 * Every value v(i, j) (d^2, or the cosine distance) updates
 *   - the task's own best positive / negative of row i (anchor i), and
 *   - for columns past the diagonal block, the shared best of anchor j -
 *     which only this task touches, rows in increasing order, so a strict
 *     comparison keeps the lowest index on ties.
 * Indices ride in float lanes (exact below 2^24, which the caller checks).
 *
 * A row runs as spans of whole vectors, each span's partial vector peeled
 * after it: the diagonal block's columns (the row's bests only; the vector
 * holding column i itself drops that lane from the positives), then the
 * columns past it (the row's bests and the columns' state). Each lane sees
 * its columns in increasing order, so a lane keeps the lowest index of its
 * ties and the lanes' merge (th_better_*, ties to the lower index) does the
 * rest. Labels are finite (dense ids): "other label" is "not the same".
 *
 * A row's first pass takes no value for NaN: "v beats best" is one compare
 * (a NaN best is never beaten; NaN wins). It adds its values lane-wise on
 * the side; a NaN sum (some value was NaN: rare) runs the row again
 * NaN-aware, from fresh row bests. The columns' state then gets the NaNs
 * the first pass missed; every other update repeats one the first pass made
 * (an equal value does not beat), so the state is what one NaN-aware pass
 * gives. */

/* v beats best in a max (above) or a min (below). NaN-aware, NaN wins
 * against a number: not (v <= best), and best is a number (a compare, an
 * ordered test and an and-not on NEON). Else v is a number: the compare. */
#define TH_ABOVE(v, best, nan) ((nan) ? m_and(v_cmp(v, best, _CMP_NLE_UQ), v_cmp(best, best, _CMP_ORD_Q)) : v_cmp(v, best, _CMP_GT_OQ))
#define TH_BELOW(v, best, nan) ((nan) ? m_and(v_cmp(v, best, _CMP_NGE_UQ), v_cmp(best, best, _CMP_ORD_Q)) : v_cmp(v, best, _CMP_LT_OQ))

typedef struct {
    vf pv, pi, nv, ni; /* per lane: the row's best positive and negative, value and index */
    vf sum;            /* the first pass's values, added: NaN when one was */
} VFN(th_lanes);

/* A row's constants, copied out of the block: the loops keep them in
 * registers (the exact repair's call would otherwise make them reload). */
typedef struct {
    const trihard_block *b;
    size_t i, n;
    const float *g; /* g[j], j in [r0, n) */
    const float *norm, *label;
    float *col;
    vf vni, vli, vfi;
} VFN(th_rowctx);

/* The exact repair out of line and marked cold: the loops keep their
 * registers, spilling only on the way to it. */
__attribute__((noinline, cold)) static double VFN(th_exact_cold)(const void *ctx, size_t i, size_t j) { return th_exact(ctx, i, j); }

/* Values of row i at columns j .. j + k - 1 (k <= VW). */
V_INLINE vf VFN(th_values)(const VFN(th_rowctx) *x, size_t j, size_t k, bool cosine) {
    vf gv = k == VW ? v_load(x->g + j) : v_load_first(x->g + j, k);
    vf nj = k == VW ? v_load(x->norm + j) : v_load_first(x->norm + j, k);
    return VFN(pair_values)(gv, x->vni, nj, cosine, k, VFN(th_exact_cold), x->b, x->i, j);
}

/* Columns j .. j + k - 1 (idx: their indices): the row's bests; with
 * `self`, lane i is no positive; with `cols`, anchor j's state too. The
 * flags are constants where it is inlined (cosine: the metric's form). */
V_INLINE void VFN(th_step)(const VFN(th_rowctx) *x, size_t j, size_t k, vf idx, bool self, bool cols, bool nan, bool cosine,
                           VFN(th_lanes) *s) {
    const bool full = k == VW;
    vf v = VFN(th_values)(x, j, k, cosine);
    vf lj = full ? v_load(x->label + j) : v_load_first(x->label + j, k);
    vm same = v_cmp(lj, x->vli, _CMP_EQ_OQ);
    if (!full) same = m_and(same, vm_first(k));
    vm pos = self ? m_andnot(same, v_cmp(idx, x->vfi, _CMP_EQ_OQ)) : same;
    vm up = m_and(pos, TH_ABOVE(v, s->pv, nan));
    vm dn = m_andnot(TH_BELOW(v, s->nv, nan), same);
    if (!full) dn = m_and(dn, vm_first(k));
    s->pv = v_sel(up, v, s->pv);
    s->pi = v_sel(up, idx, s->pi);
    s->nv = v_sel(dn, v, s->nv);
    s->ni = v_sel(dn, idx, s->ni);
    if (!nan) s->sum = v_add(s->sum, v);
    if (!cols) return;
    /* anchor j's state: its indices are read and the four written back only
     * when a lane changes (rare once a few rows have passed) */
    float *cpv = x->col + j, *cpi = cpv + x->n, *cnv = cpi + x->n, *cni = cnv + x->n;
    vf a = full ? v_load(cpv) : v_load_first(cpv, k), c = full ? v_load(cnv) : v_load_first(cnv, k);
    vm cup = m_and(same, TH_ABOVE(v, a, nan));
    vm cdn = m_andnot(TH_BELOW(v, c, nan), same);
    if (!full) cdn = m_and(cdn, vm_first(k));
    if (m_none(m_or(cup, cdn))) return;
    vf ai = full ? v_load(cpi) : v_load_first(cpi, k), ci = full ? v_load(cni) : v_load_first(cni, k);
    a = v_sel(cup, v, a);
    ai = v_sel(cup, x->vfi, ai);
    c = v_sel(cdn, v, c);
    ci = v_sel(cdn, x->vfi, ci);
    if (full) { v_store(cpv, a); v_store(cpi, ai); v_store(cnv, c); v_store(cni, ci); }
    else { v_store_first(cpv, a, k); v_store_first(cpi, ai, k); v_store_first(cnv, c, k); v_store_first(cni, ci, k); }
}

/* Columns [j, end): whole vectors, then the partial one if `tail`; returns
 * the first column not done. */
V_INLINE size_t VFN(th_span)(const VFN(th_rowctx) *x, size_t j, size_t end, bool tail, bool cols, bool nan, bool cosine,
                             VFN(th_lanes) *s) {
    vf idx = v_add(v_iota(), v_set((float)j));
    const vf step = v_set((float)VW);
    for (; j + VW <= end; j += VW, idx = v_add(idx, step)) VFN(th_step)(x, j, VW, idx, false, cols, nan, cosine, s);
    if (tail && j < end) { VFN(th_step)(x, j, end - j, idx, false, cols, nan, cosine, s); j = end; }
    return j;
}

V_INLINE void VFN(th_row_pass)(const VFN(th_rowctx) *x, size_t c0, size_t c1, bool nan, bool cosine, VFN(th_lanes) *s) {
    const trihard_block *b = x->b;
    const size_t i = x->i, diag_end = b->r0 + b->rows;
    const size_t split = c1 < diag_end ? c1 : (c0 > diag_end ? c0 : diag_end);
    s->pv = v_set(-INFINITY); s->pi = v_set(-1.0f); s->nv = v_set(INFINITY); s->ni = v_set(-1.0f);
    s->sum = v_zero();
    size_t j = c0;
    if (i >= c0 && i < split) { /* the vector holding column i */
        size_t at = c0 + (i - c0) / VW * VW, k = split - at < VW ? split - at : VW;
        VFN(th_span)(x, j, at, false, false, nan, cosine, s);
        VFN(th_step)(x, at, k, v_add(v_iota(), v_set((float)at)), true, false, nan, cosine, s);
        j = at + k;
    }
    j = VFN(th_span)(x, j, split, true, false, nan, cosine, s); /* inside the diagonal block: its rows see those columns themselves */
    VFN(th_span)(x, j, c1, true, true, nan, cosine, s);
}

V_INLINE void VFN(th_row)(const trihard_block *b, size_t r, size_t c0, size_t c1, bool cosine, float *best) {
    const size_t i = b->r0 + r;
    VFN(th_rowctx) x = {.b = b, .i = i, .n = b->n, .g = b->g + r * b->ldg - b->r0, .norm = b->norm, .label = b->label,
                        .col = b->col, .vni = v_set(b->norm[i]), .vli = v_set(b->label[i]), .vfi = v_set((float)i)};
    VFN(th_lanes) s;
    VFN(th_row_pass)(&x, c0, c1, false, cosine, &s);
    if (!m_none(v_cmp(s.sum, s.sum, _CMP_UNORD_Q))) VFN(th_row_pass)(&x, c0, c1, true, cosine, &s);
    float lv[VW], li[VW];
    v_store(lv, s.pv); v_store(li, s.pi);
    for (int l = 0; l < VW; l++) th_better_max(lv[l], li[l], best);
    v_store(lv, s.nv); v_store(li, s.ni);
    for (int l = 0; l < VW; l++) th_better_min(lv[l], li[l], best + 2);
}

V_TARGET static void VFN(th_tile)(const trihard_block *b, size_t c0, size_t c1, float *best) {
    if (b->cosine)
        for (size_t r = 0; r < b->rows; r++) VFN(th_row)(b, r, c0, c1, true, best + 4 * r);
    else
        for (size_t r = 0; r < b->rows; r++) VFN(th_row)(b, r, c0, c1, false, best + 4 * r);
}

#undef TH_ABOVE
#undef TH_BELOW
