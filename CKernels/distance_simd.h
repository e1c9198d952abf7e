/* The distance epilogue for one instruction set (included by distance.c
 * after simd_layer.h, once per ISA): one row of the SGEMM output in place,
 * in float (see epilogue_row_scalar for the double reference path). Lanes
 * whose SGEMM form cancels are recomputed exactly, as there (pair_values). */

V_INLINE vf VFN(ds_values)(const epilogue_job *j, size_t i, float *row, size_t c, size_t k) {
    const bool cosine = j->metric == LOSSKIT_METRIC_COSINE;
    const float *norms = cosine ? j->yinv : j->yn;
    vf g = k == VW ? v_load(row + c) : v_load_first(row + c, k);
    vf nj = k == VW ? v_load(norms + c) : v_load_first(norms + c, k);
    vf v = VFN(pair_values)(g, v_set(cosine ? j->xinv[i] : j->xn[i]), nj, cosine, k, exact_value, j, i, c);
    if (j->metric == LOSSKIT_METRIC_EUCLIDEAN) /* max returns its second operand for NaN: NaN stays */
        v = v_sqrt(v_max(v_set(1e-12f), v));
    else if (j->metric == LOSSKIT_METRIC_SQEUCLIDEAN)
        v = v_max(v_zero(), v);
    return v;
}

V_TARGET static void VFN(ds_row)(const epilogue_job *j, size_t i) {
    float *row = j->out + i * j->m;
    size_t c = 0;
    for (; c + VW <= j->m; c += VW) v_store(row + c, VFN(ds_values)(j, i, row, c, VW));
    if (c < j->m) v_store_first(row + c, VFN(ds_values)(j, i, row, c, j->m - c), j->m - c);
}

