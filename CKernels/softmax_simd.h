/* Softmax cross-entropy chunk kernel, written once over simd_layer.h
 * (no include guard: softmax.c includes it per ISA).
 *
 * The gradient of a row needs only its max and S = sum exp(x - max); the log
 * is needed for the loss alone. So each row finishes its gradient at once,
 * while its exps are still in registers (rows of up to SM_REG_VECTORS vectors;
 * wider rows stash them in the gradient row), and the logs of a group of VW
 * rows are taken by one vector log for their losses. Row tails go through
 * masked loads and stores. */

#ifndef SM_REG_VECTORS
#define SM_REG_VECTORS 4
#endif

/* Gradient of one row from its exps: g_j = ex_j coef - bs w_j - onehot [j = y]. */
V_INLINE vf VFN(ce_grad_vec)(const sm_ctx *c, vf ex, size_t j, bool last, size_t rest, vf coef, vf bs,
                             bool smooth, size_t yvec, size_t ylane, vf onehot) {
    vf gv = v_mul(ex, coef);
    if (smooth) {
        vf wv = c->w ? (last ? v_load_first(c->w + j, rest) : v_load(c->w + j)) : v_set(1.0f);
        gv = v_fnma(bs, wv, gv);
    }
    if (j == yvec) gv = v_sub(gv, v_zero_unless(vm_lane(ylane), onehot));
    return gv;
}

/* Four rows in lockstep: each row is one long dependent chain (max ->
 * horizontal max -> exp -> horizontal sum), so interleaving independent rows
 * is what keeps the vector units busy. Rows here are not ignored and have at
 * most SM_REG_VECTORS vectors. */
#define SM_ILP 4
V_INLINE void VFN(ce_rows4)(const sm_ctx *c, size_t i0, size_t lane0, vf *S, float *shifted_y, float *wx, float *wys) {
    const size_t C = c->classes, full = C - C % VW, rest = C % VW, nvec = (C + VW - 1) / VW;
    const bool smooth = c->eps > 0.0f;
    const float bb = c->eps / (float)C;
    const float *x[SM_ILP];
    vf vmax[SM_ILP], vm_[SM_ILP], vs[SM_ILP], vw[SM_ILP], ex[SM_ILP][SM_REG_VECTORS];
    float m[SM_ILP];
    for (int q = 0; q < SM_ILP; q++) { x[q] = c->x + (i0 + q) * C; vmax[q] = v_set(-INFINITY); }
    for (size_t v = 0; v < nvec; v++) {
        size_t j = v * VW;
        for (int q = 0; q < SM_ILP; q++) {
            vf xv = j == full ? v_sel(vm_first(rest), v_load_first(x[q] + j, rest), v_set(-INFINITY)) : v_load(x[q] + j);
            vmax[q] = v_max(xv, vmax[q]);
        }
    }
    for (int q = 0; q < SM_ILP; q++) {
        m[q] = v_hmax(vmax[q]);
        vm_[q] = v_set(m[q]);
        vs[q] = v_zero();
        vw[q] = v_zero();
    }
    for (size_t v = 0; v < nvec && v < SM_REG_VECTORS; v++) {
        size_t j = v * VW;
        bool last = j == full;
        vf wv = v_set(1.0f);
        if (smooth && c->w) wv = last ? v_load_first(c->w + j, rest) : v_load(c->w + j);
        for (int q = 0; q < SM_ILP; q++) {
            vf d = v_sub(last ? v_load_first(x[q] + j, rest) : v_load(x[q] + j), vm_[q]);
            vf exv = VFN(v_exp_kernel)(d, true);
            if (last) {
                exv = v_zero_unless(vm_first(rest), exv);
                d = v_zero_unless(vm_first(rest), d);
            }
            vs[q] = v_add(vs[q], exv);
            if (smooth) vw[q] = v_fma(wv, d, vw[q]);
            ex[q][v] = exv;
        }
    }
    for (int q = 0; q < SM_ILP; q++) {
        size_t i = i0 + q;
        int64_t y = c->y[i];
        float sum = v_hsum(vs[q]), wy = c->w ? c->w[y] : 1.0f;
        *S = v_sel(vm_lane(lane0 + q), v_set(sum), *S);
        shifted_y[q] = x[q][y] - m[q];
        wx[q] = smooth ? v_hsum(vw[q]) : 0.0f;
        wys[q] = wy;
        if (c->grad) {
            float *g = c->grad + i * C;
            float a = (1.0f - c->eps) * wy;
            vf coef = v_set(c->gscale * (a + bb * (float)c->wsum) / sum);
            vf bs = v_set(c->gscale * bb), onehot = v_set(c->gscale * a);
            size_t ylane = (size_t)y % VW, yvec = (size_t)y - ylane;
            for (size_t v = 0; v < nvec && v < SM_REG_VECTORS; v++) {
                size_t j = v * VW;
                bool last = j == full;
                vf gv = VFN(ce_grad_vec)(c, ex[q][v], j, last, rest, coef, bs, smooth, yvec, ylane, onehot);
                if (last) v_store_first(g + j, gv, rest);
                else v_store(g + j, gv);
            }
        }
    }
}

#if LK_SIMD == 512
/* Few classes (SSD's 21, VOC, COCO's 81 does not qualify): 16 rows at once,
 * transposed so that lane r holds row r. Every reduction over the classes is
 * then vertical - no horizontal max or sum, no half-empty vectors, one log per
 * 16 rows. The transposition: gathers where they are fast (Intel), else 16
 * row loads per 16 columns and an in-register 16 x 16 transpose (64 shuffles),
 * and the same way back for the gradient. */
#define SM_TRANSPOSED_MAX_CLASSES 32
/* The block's fixed 16-step loops must become straight-line code (their
 * vectors then stay in registers); SwiftPM builds C at -O2, where clang
 * leaves some of them as loops over stack arrays (1.5x slower gradient). */
#ifndef SM_UNROLL
#if defined(__clang__)
#define SM_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define SM_UNROLL _Pragma("GCC unroll 16")
#else
#define SM_UNROLL
#endif
#endif

/* r[i][j] <- r[j][i]: 32-bit, then 64-bit interleaves, then two rounds of
 * 128-bit lane shuffles. */
V_INLINE void VFN(transpose16)(__m512 r[16]) {
    __m512 t[16];
    SM_UNROLL for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    SM_UNROLL for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    SM_UNROLL for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    SM_UNROLL for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}
/* 16 rows of C <= 32 columns (row-major, row stride C) into C vectors,
 * out[k] lane r = row r's column k: the in-register transpose, 16 columns at a time */
V_INLINE void VFN(load_transposed16)(const float *base, size_t C, vf *out) {
    for (size_t h = 0; h < C; h += 16) { /* columns h .. h + w - 1 */
        size_t w = C - h < 16 ? C - h : 16;
        __m512 r[16];
        SM_UNROLL for (int row = 0; row < 16; row++)
            r[row] = w == 16 ? v_load(base + row * C + h) : v_load_first(base + row * C + h, w);
        VFN(transpose16)(r);
        for (size_t k = 0; k < w; k++) out[h + k] = r[k];
    }
}

/* the inverse: C column vectors back to 16 rows at base */
V_INLINE void VFN(store_transposed16)(float *base, size_t C, const vf *cols) {
    for (size_t h = 0; h < C; h += 16) {
        size_t w = C - h < 16 ? C - h : 16;
        __m512 r[16];
        SM_UNROLL for (size_t k = 0; k < 16; k++) r[k] = k < w ? cols[h + k] : v_zero();
        VFN(transpose16)(r);
        SM_UNROLL for (int row = 0; row < 16; row++) {
            float *g = base + (size_t)row * C + h;
            if (w == 16) v_store(g, r[row]);
            else v_store_first(g, r[row], w);
        }
    }
}

/* the 16 row losses summed in double, as every chunk sum (a fixed order: the
 * same at any thread count) */
V_INLINE double VFN(sum16_double)(vf loss) {
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(loss)),
                                              _mm512_cvtps_pd(_mm512_extractf32x8_ps(loss, 1))));
}

V_TARGET static double VFN(ce_block16)(const sm_ctx *c, size_t g0) {
    const size_t C = c->classes;
    const bool smooth = c->eps > 0.0f;
    const float bb = c->eps / (float)C;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)C));
    const float *base = c->x + g0 * C;
    /* the 16 labels as int32 lanes (-1 where ignored) and their class weights */
    const __m512i ign = _mm512_set1_epi64(c->ignore);
    const __m512i y_lo = _mm512_loadu_si512(c->y + g0), y_hi = _mm512_loadu_si512(c->y + g0 + 8);
    const __mmask16 valid = (__mmask16)(_mm512_cmpneq_epi64_mask(y_lo, ign) |
                                        ((unsigned)_mm512_cmpneq_epi64_mask(y_hi, ign) << 8));
    __m512i yv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(y_lo)), _mm512_cvtepi64_epi32(y_hi), 1);
    yv = _mm512_mask_mov_epi32(_mm512_set1_epi32(-1), valid, yv);
    /* labels were checked against the class count: the gather stays in w */
    const vf wy = c->w ? _mm512_mask_i32gather_ps(v_zero(), valid, yv, c->w, 4) : _mm512_maskz_mov_ps(valid, v_set(1.0f));
    vf xs[SM_TRANSPOSED_MAX_CLASSES];
    vf m = v_set(-INFINITY);
    if (c->fast_gathers) {
        for (size_t k = 0; k < C; k++) xs[k] = _mm512_i32gather_ps(idx, base + k, 4);
    } else {
        VFN(load_transposed16)(base, C, xs);
    }
    for (size_t k = 0; k < C; k++) m = v_max(xs[k], m);
    /* lane r's logit at its label: one gather from the transposed block
     * (xs[k] lane r is float 16 k + r), not a compare and blend per class */
    const __m512i at_label = _mm512_add_epi32(_mm512_slli_epi32(yv, 4), lane);
    vf xy = v_sub(_mm512_mask_i32gather_ps(m, valid, at_label, (const float *)xs, 4), m);
    vf S = v_zero(), wx = v_zero();
    for (size_t k = 0; k < C; k++) {
        vf d = v_sub(xs[k], m);
        vf ex = VFN(v_exp_kernel)(d, true);
        S = v_add(S, ex);
        xs[k] = ex;
        if (smooth) wx = v_fma(c->w ? v_set(c->w[k]) : v_set(1.0f), d, wx);
    }
    vf ls = VFN(v_log)(S);
    vf loss = v_mul(v_mul(v_set(1.0f - c->eps), wy), v_sub(ls, xy));
    if (smooth) loss = v_fma(v_set(bb), v_fms(v_set((float)c->wsum), ls, wx), loss);
    loss = v_zero_unless(valid, loss);
    if (c->loss) v_store(c->loss + g0, loss);
    if (c->grad) {
        vf a = v_mul(v_set(1.0f - c->eps), wy);
        vf coef = v_div(v_mul(v_set(c->gscale), v_fma(v_set(bb * (float)c->wsum), v_set(1.0f), a)), S);
        coef = v_zero_unless(valid, coef);
        vf bs = v_zero_unless(valid, v_set(c->gscale * bb));
        vf onehot = v_mul(v_set(c->gscale), a);
        for (size_t k = 0; k < C; k++) { /* the gradient, still transposed, in place of the exps */
            vf gv = v_mul(xs[k], coef);
            if (smooth) gv = v_fnma(bs, c->w ? v_set(c->w[k]) : v_set(1.0f), gv);
            xs[k] = _mm512_mask_sub_ps(gv, _mm512_cmpeq_epi32_mask(yv, _mm512_set1_epi32((int)k)), gv, onehot);
        }
        if (c->fast_gathers) {
            /* back to rows through an L1 block: scatters cost more than gathers */
            float scratch[SM_TRANSPOSED_MAX_CLASSES * 16] __attribute__((aligned(64)));
            for (size_t k = 0; k < C; k++) _mm512_store_ps(scratch + 16 * k, xs[k]);
            const __m512i down = _mm512_slli_epi32(lane, 4);
            const size_t full = C - C % 16, rest = C % 16;
            for (int r = 0; r < 16; r++) {
                float *g = c->grad + (g0 + r) * C;
                for (size_t j = 0; j < full; j += 16)
                    v_store(g + j, _mm512_i32gather_ps(down, scratch + 16 * j + r, 4));
                if (rest)
                    v_store_first(g + full, _mm512_mask_i32gather_ps(v_zero(), vm_first(rest), down, scratch + 16 * full + r, 4), rest);
            }
        } else {
            VFN(store_transposed16)(c->grad + g0 * C, C, xs);
        }
    }
    return VFN(sum16_double)(loss);
}
#endif

V_TARGET static double VFN(ce_chunk)(void *vc, size_t b, size_t e) {
    /* a local copy: stores through the float* outputs cannot alias it, so its
     * fields stay in registers instead of being reloaded after every store */
    const sm_ctx lc = *(const sm_ctx *)vc, *c = &lc;
    const size_t C = c->classes, full = C - C % VW, rest = C % VW, nvec = (C + VW - 1) / VW;
    const bool smooth = c->eps > 0.0f, in_registers = nvec <= SM_REG_VECTORS;
    const float bb = c->eps / (float)C;
    float shifted_y[VW], wx[VW], wys[VW], ls[VW];
    double acc = 0.0;
    for (size_t g0 = b; g0 < e; g0 += VW) {
        size_t gn = e - g0 < VW ? e - g0 : VW;
        /* a group with no counted row (MultiBox's second pass is mostly these): zeros, at once */
        bool any = false;
        for (size_t r = 0; r < gn && !any; r++) any = c->y[g0 + r] != c->ignore;
        if (!any) {
            if (c->grad) memset(c->grad + g0 * C, 0, gn * C * sizeof(float));
            if (c->loss) memset(c->loss + g0, 0, gn * sizeof(float));
            continue;
        }
#if LK_SIMD == 512
        if (gn == 16 && C <= SM_TRANSPOSED_MAX_CLASSES) {
            acc += VFN(ce_block16)(c, g0);
            continue;
        }
#endif
        /* each row's S goes into its lane (scalar stores then a vector load would stall) */
        vf S = v_set(1.0f); /* ignored or absent rows: log 1 = 0 */
        for (size_t r = 0; r < VW; r++) { shifted_y[r] = 0.0f; wx[r] = 0.0f; wys[r] = 0.0f; }
        for (size_t r = 0; r < gn; r++) {
            size_t i = g0 + r;
            if (in_registers && r % SM_ILP == 0 && r + SM_ILP <= gn && c->y[i] != c->ignore &&
                c->y[i + 1] != c->ignore && c->y[i + 2] != c->ignore && c->y[i + 3] != c->ignore) {
                VFN(ce_rows4)(c, i, r, &S, shifted_y + r, wx + r, wys + r);
                r += SM_ILP - 1;
                continue;
            }
            int64_t y = c->y[i];
            float *g = c->grad ? c->grad + i * C : NULL;
            if (y == c->ignore) {
                if (g) memset(g, 0, C * sizeof(float));
                continue;
            }
            const float *x = c->x + i * C;
            vf vmax = v_set(-INFINITY);
            for (size_t j = 0; j < full; j += VW) vmax = v_max(v_load(x + j), vmax);
            if (rest) vmax = v_max(v_sel(vm_first(rest), v_load_first(x + full, rest), v_set(-INFINITY)), vmax);
            const float m = v_hmax(vmax);
            const vf vm_ = v_set(m);
            vf vs = v_zero(), vw = v_zero();
            vf ex[SM_REG_VECTORS];
            for (size_t v = 0; v < nvec; v++) {
                size_t j = v * VW;
                bool last = j == full;
                vf d = v_sub(last ? v_load_first(x + j, rest) : v_load(x + j), vm_);
                vf exv = VFN(v_exp_kernel)(d, true);
                if (last) {
                    exv = v_zero_unless(vm_first(rest), exv);
                    d = v_zero_unless(vm_first(rest), d);
                }
                vs = v_add(vs, exv);
                if (smooth) {
                    vf wv = c->w ? (last ? v_load_first(c->w + j, rest) : v_load(c->w + j)) : v_set(1.0f);
                    vw = v_fma(wv, d, vw);
                }
                if (in_registers) ex[v < SM_REG_VECTORS ? v : 0] = exv;
                else if (g) {
                    if (last) v_store_first(g + j, exv, rest);
                    else v_store(g + j, exv);
                }
            }
            const float sum = v_hsum(vs), wy = c->w ? c->w[y] : 1.0f;
            S = v_sel(vm_lane(r), v_set(sum), S);
            shifted_y[r] = x[y] - m;
            wx[r] = smooth ? v_hsum(vw) : 0.0f;
            wys[r] = wy;
            if (g) {
                float a = (1.0f - c->eps) * wy;
                vf coef = v_set(c->gscale * (a + bb * (float)c->wsum) / sum);
                vf bs = v_set(c->gscale * bb), onehot = v_set(c->gscale * a);
                size_t ylane = (size_t)y % VW, yvec = (size_t)y - ylane;
                for (size_t v = 0; v < nvec; v++) {
                    size_t j = v * VW;
                    bool last = j == full;
                    vf exv = in_registers ? ex[v < SM_REG_VECTORS ? v : 0]
                                          : (last ? v_load_first(g + j, rest) : v_load(g + j));
                    vf gv = VFN(ce_grad_vec)(c, exv, j, last, rest, coef, bs, smooth, yvec, ylane, onehot);
                    if (last) v_store_first(g + j, gv, rest);
                    else v_store(g + j, gv);
                }
            }
        }
        /* losses: one vector log for the group */
        v_store(ls, VFN(v_log)(S));
        for (size_t r = 0; r < gn; r++) {
            size_t i = g0 + r;
            float loss = 0.0f;
            if (c->y[i] != c->ignore) {
                loss = (1.0f - c->eps) * wys[r] * (ls[r] - shifted_y[r]);
                if (smooth) loss += bb * ((float)c->wsum * ls[r] - wx[r]);
            }
            if (c->loss) c->loss[i] = loss;
            acc += loss;
        }
    }
    return acc;
}

/* ---- probability targets (soft labels) -------------------------------
 * u_c = w_c ((1 - eps) t_c + eps / C), U = sum u_c, D = sum u_c (x_c - max):
 * loss U log S - D, gradient p_j U - u_j (see softmax.c). */

/* u for one vector of classes j..j+VW-1 (the first `rest` of them when last) */
V_INLINE vf VFN(soft_u_vec)(const sm_ctx *c, const float *t, size_t j, bool last, size_t rest, vf va, vf vb) {
    vf u = v_fma(va, last ? v_load_first(t + j, rest) : v_load(t + j), vb);
    if (c->w) u = v_mul(u, last ? v_load_first(c->w + j, rest) : v_load(c->w + j));
    return last ? v_zero_unless(vm_first(rest), u) : u;
}

#if LK_SIMD == 512
/* 16 rows transposed (lane r = row r), as ce_block16, for <= 32 classes:
 * logits and targets both go through the in-register 16 x 16 transpose. */
V_TARGET static double VFN(ce_soft_block16)(const sm_ctx *c, size_t g0) {
    const size_t C = c->classes;
    const vf va = v_set(1.0f - c->eps), vb = v_set(c->eps / (float)C);
    vf xs[SM_TRANSPOSED_MAX_CLASSES], us[SM_TRANSPOSED_MAX_CLASSES];
    VFN(load_transposed16)(c->x + g0 * C, C, xs);
    VFN(load_transposed16)(c->t + g0 * C, C, us);
    vf m = v_set(-INFINITY);
    for (size_t k = 0; k < C; k++) m = v_max(xs[k], m);
    vf S = v_zero(), U = v_zero(), D = v_zero();
    for (size_t k = 0; k < C; k++) {
        vf d = v_sub(xs[k], m);
        vf ex = VFN(v_exp_kernel)(d, true);
        vf u = v_fma(va, us[k], vb);
        if (c->w) u = v_mul(u, v_set(c->w[k]));
        S = v_add(S, ex);
        U = v_add(U, u);
        D = v_fma(u, d, D);
        xs[k] = ex;
        us[k] = u;
    }
    vf loss = v_fms(U, VFN(v_log)(S), D);
    if (c->loss) v_store(c->loss + g0, loss);
    if (c->grad) {
        const vf gs = v_set(c->gscale), coef = v_div(v_mul(gs, U), S);
        for (size_t k = 0; k < C; k++) xs[k] = v_fnma(gs, us[k], v_mul(xs[k], coef));
        VFN(store_transposed16)(c->grad + g0 * C, C, xs);
    }
    return VFN(sum16_double)(loss);
}
#endif

V_TARGET static double VFN(ce_soft_chunk)(void *vc, size_t b, size_t e) {
    const sm_ctx lc = *(const sm_ctx *)vc, *c = &lc;
    const size_t C = c->classes, full = C - C % VW, rest = C % VW, nvec = (C + VW - 1) / VW;
    const bool in_registers = nvec <= SM_REG_VECTORS;
    const vf va = v_set(1.0f - c->eps), vb = v_set(c->eps / (float)C), gs = v_set(c->gscale);
    float Us[VW], Ds[VW], ls[VW];
    double acc = 0.0;
    for (size_t g0 = b; g0 < e; g0 += VW) {
        size_t gn = e - g0 < VW ? e - g0 : VW;
#if LK_SIMD == 512
        if (gn == 16 && C <= SM_TRANSPOSED_MAX_CLASSES) {
            acc += VFN(ce_soft_block16)(c, g0);
            continue;
        }
#endif
        vf S = v_set(1.0f); /* absent rows: log 1 = 0 */
        for (size_t r = 0; r < gn; r++) {
            size_t i = g0 + r;
            const float *x = c->x + i * C, *t = c->t + i * C;
            float *g = c->grad ? c->grad + i * C : NULL;
            vf vmax = v_set(-INFINITY);
            for (size_t j = 0; j < full; j += VW) vmax = v_max(v_load(x + j), vmax);
            if (rest) vmax = v_max(v_sel(vm_first(rest), v_load_first(x + full, rest), v_set(-INFINITY)), vmax);
            const vf vm_ = v_set(v_hmax(vmax));
            vf vs = v_zero(), vu = v_zero(), vd = v_zero();
            vf ex[SM_REG_VECTORS], us[SM_REG_VECTORS];
            for (size_t v = 0; v < nvec; v++) {
                size_t j = v * VW;
                bool last = j == full;
                vf d = v_sub(last ? v_load_first(x + j, rest) : v_load(x + j), vm_);
                vf exv = VFN(v_exp_kernel)(d, true);
                vf u = VFN(soft_u_vec)(c, t, j, last, rest, va, vb);
                if (last) {
                    exv = v_zero_unless(vm_first(rest), exv);
                    d = v_zero_unless(vm_first(rest), d);
                }
                vs = v_add(vs, exv);
                vu = v_add(vu, u);
                vd = v_fma(u, d, vd);
                if (in_registers) {
                    ex[v < SM_REG_VECTORS ? v : 0] = exv;
                    us[v < SM_REG_VECTORS ? v : 0] = u;
                } else if (g) {
                    if (last) v_store_first(g + j, exv, rest);
                    else v_store(g + j, exv);
                }
            }
            const float sum = v_hsum(vs);
            S = v_sel(vm_lane(r), v_set(sum), S);
            Us[r] = v_hsum(vu);
            Ds[r] = v_hsum(vd);
            if (g) {
                const vf coef = v_set(c->gscale * Us[r] / sum);
                for (size_t v = 0; v < nvec; v++) {
                    size_t j = v * VW;
                    bool last = j == full;
                    vf exv = in_registers ? ex[v < SM_REG_VECTORS ? v : 0] : (last ? v_load_first(g + j, rest) : v_load(g + j));
                    vf u = in_registers ? us[v < SM_REG_VECTORS ? v : 0] : VFN(soft_u_vec)(c, t, j, last, rest, va, vb);
                    vf gv = v_fnma(gs, u, v_mul(exv, coef));
                    if (last) v_store_first(g + j, gv, rest);
                    else v_store(g + j, gv);
                }
            }
        }
        v_store(ls, VFN(v_log)(S));
        for (size_t r = 0; r < gn; r++) {
            float loss = Us[r] * ls[r] - Ds[r];
            if (c->loss) c->loss[g0 + r] = loss;
            acc += loss;
        }
    }
    return acc;
}
