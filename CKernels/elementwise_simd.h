/* Vector element functions of the elementwise losses, written once over
 * simd_layer.h (no include guard: elementwise.c includes it per ISA).
 * Each takes predictions/logits x and targets t, returns the loss and
 * writes the unscaled gradient; EW_SIMD_KERNEL (elementwise.c) turns it
 * into a chunk kernel. Regression ops blend NaN in once, from r. */

V_INLINE vf VFN(l1_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    (void)c;
    vf r = v_sub(x, t);
    *g = VFN(v_keepnan)(VFN(v_sign)(r), r);
    return v_abs(r);
}

V_INLINE vf VFN(mse_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    (void)c;
    vf r = v_sub(x, t);
    *g = v_add(r, r);
    return v_mul(r, r);
}

V_INLINE vf VFN(smooth_l1_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    vf beta = v_set(c->p[0]), inv = v_set(c->p[1]);
    vf r = v_sub(x, t), a = v_abs(r);
    vm inner = v_cmp(a, beta, _CMP_LT_OQ);
    vf rb = v_mul(r, inv);
    *g = VFN(v_keepnan)(v_sel(inner, rb, VFN(v_sign)(r)), r);
    return v_sel(inner, v_mul(v_mul(v_set(0.5f), r), rb), v_fnma(v_set(0.5f), beta, a));
}

V_INLINE vf VFN(huber_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    vf d = v_set(c->p[0]);
    vf r = v_sub(x, t), a = v_abs(r);
    vm inner = v_cmp(a, d, _CMP_LT_OQ);
    *g = VFN(v_keepnan)(v_sel(inner, r, v_mul(d, VFN(v_sign)(r))), r);
    return v_sel(inner, v_mul(v_set(0.5f), v_mul(r, r)), v_mul(d, v_fnma(v_set(0.5f), d, a)));
}

/* p = {w, 1/eps, C, eps, w/eps}. One log1p and one reciprocal of v = 1 + |r|/eps
 * serve the loss w log1p(|r|/eps) and the gradient (w/eps) / v; the gradient
 * comes out already scaled by gscale (EW_SIMD_KERNEL_X(wing, true)). The log
 * branch's lanes with |r| >= w are discarded, whatever they hold; NaN r takes
 * the log branch (the compare is false), which keeps it. */
V_INLINE vf VFN(wing_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    vf w = v_set(c->p[0]);
    vf r = v_sub(x, t), a = v_abs(r);
    vf rec;
    vf lp = VFN(v_log1p_recip)(v_mul(a, v_set(c->p[1])), &rec);
    vm outer = v_cmp(a, w, _CMP_GE_OQ);
    vf mag = v_sel(outer, v_set(c->gscale), v_mul(v_set(c->p[4] * c->gscale), rec));
    /* sign(r) |g|: 0 at r = 0, NaN kept (the unordered compare is true) */
    *g = v_zero_unless(v_cmp(r, v_zero(), _CMP_NEQ_UQ), v_or(v_signbit(r), mag));
    return v_sel(outer, v_sub(a, v_set(c->p[2])), v_mul(w, lp));
}

/* |r|^k, k = 2 + gamma: a^(k-1) = exp((k-1) log a), log 0 = -inf gives 0 */
V_INLINE vf VFN(focal_regression_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    vf k = v_set(c->p[0]);
    vf r = v_sub(x, t), a = v_abs(r);
    /* integer exponents (gamma 0, 1, 2: the usual) by multiplication, exactly;
     * others through exp/log, which loses ~(k-1) log|r| ulp */
    float k1 = c->p[0] - 1.0f;
    vf ak1 = k1 == 1.0f ? a
           : k1 == 2.0f ? v_mul(a, a)
           : k1 == 3.0f ? v_mul(v_mul(a, a), a)
           : VFN(v_exp)(v_mul(v_set(k1), VFN(v_log)(a)));
    *g = VFN(v_keepnan)(v_mul(VFN(v_sign)(r), v_mul(k, ak1)), r);
    return VFN(v_keepnan)(v_mul(ak1, a), r);
}

/* p = {a, c, weight mode, 1 / max y e^{1.6 y}} */
V_INLINE vf VFN(shrinkage_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    vf a = v_set(c->p[0]);
    vf r = v_sub(x, t), l = v_abs(r);
    vf w;
    int mode = (int)c->p[2];
    if (mode == LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET) {
        w = VFN(v_exp_kernel)(t, false);
    } else if (mode == LOSSKIT_SHRINKAGE_WEIGHT_NONE) {
        w = v_set(1.0f);
    } else {
        w = v_mul(v_mul(t, VFN(v_exp)(v_mul(v_set(1.6f), t))), v_set(c->p[3]));
        w = v_mul(w, w);
    }
    vf sp, sn, e;
    VFN(v_sigmoid2)(v_mul(a, v_sub(l, v_set(c->p[1]))), &sp, &sn, &e);
    vf wl = v_mul(w, l);
    vf inner = v_fma(v_mul(l, a), sn, v_set(2.0f)); /* 2 + l a (1 - sigmoid) */
    /* the magnitude is >= 0 and 0 at r = 0, so sign(r) is just r's sign bit;
     * NaN in x or t reaches both outputs through l */
    *g = v_or(v_signbit(r), v_mul(wl, v_mul(sp, inner)));
    return v_mul(v_mul(wl, l), sp);
}

/* loss = (1 - t) softplus(x) + pw t softplus(-x),
 * grad = (1 - t) sigmoid(x) - pw t sigmoid(-x): terms of one sign for hard
 * targets, so no cancellation (see elementwise.c) */
V_INLINE vf VFN(bce_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    vf p, pc, spp, spn;
    VFN(v_sigmoid_softplus2)(x, &p, &pc, &spp, &spn);
    vf omt = v_sub(v_set(1.0f), t), pwt = v_mul(v_set(c->p[0]), t);
    *g = v_fms(omt, p, v_mul(pwt, pc));
    return v_fma(omt, spp, v_mul(pwt, spn)); /* NaN in x or t reaches both outputs */
}

/* torchvision sigmoid_focal_loss: p = {alpha, gamma} (see elementwise.c) */
V_INLINE vf VFN(sigmoid_focal_velem)(const ew_ctx *c, vf x, vf t, vf *g) {
    const vf one = v_set(1.0f);
    float alpha = c->p[0], gamma = c->p[1];
    vf p, pc, spp, spn;
    VFN(v_sigmoid_softplus2)(x, &p, &pc, &spp, &spn);
    vf omt = v_sub(one, t);
    vf ce = v_fma(omt, spp, v_mul(t, spn)); /* exact BCE: no cancellation */
    vf pct = v_mul(pc, t);
    vf q = v_fma(p, omt, pct); /* 1 - p_t */
    vf at = alpha >= 0.0f ? v_fma(v_set(2.0f * alpha - 1.0f), t, v_set(1.0f - alpha)) : one;
    vf pmt = v_fms(p, omt, pct); /* p - t without cancellation for hard targets */
    /* curvature term ce dm p (1 - p) (2t - 1) */
    vf ppc = v_mul(p, pc);
    if (gamma == 2.0f) {
        /* loss = at ce q^2, grad = at q ((p - t) q - 2 ce p (1-p) (2t-1)) */
        vf aq = v_mul(at, q);
        vf curv = v_mul(ce, v_mul(ppc, v_fms(v_set(4.0f), t, v_set(2.0f))));
        *g = v_mul(aq, v_fms(pmt, q, curv));
        return v_mul(aq, v_mul(q, ce));
    }
    vf m, dm;
    if (gamma == 0.0f) {
        m = one;
        dm = v_zero();
    } else {
        m = VFN(v_pow_unit)(q, gamma);
        dm = v_zero_unless(v_cmp(q, v_zero(), _CMP_GT_OQ), v_div(v_mul(v_set(gamma), m), q));
    }
    vf curv = v_mul(v_mul(ce, dm), v_mul(ppc, v_fms(v_set(2.0f), t, one)));
    *g = VFN(v_keepnan)(v_mul(at, v_fms(pmt, m, curv)), x);
    return VFN(v_keepnan)(v_mul(at, v_mul(ce, m)), x);
}

EW_SIMD_KERNEL(l1)
EW_SIMD_KERNEL(mse)
EW_SIMD_KERNEL(smooth_l1)
EW_SIMD_KERNEL(huber)
EW_SIMD_KERNEL_X(wing, true)
EW_SIMD_KERNEL(focal_regression)
EW_SIMD_KERNEL(shrinkage)
EW_SIMD_KERNEL(bce)
EW_SIMD_KERNEL(sigmoid_focal)

/* The vector math API over arrays (tail through a masked vector). */
V_TARGET static void VFN(vecmath_array)(losskit_vecmath_fn fn, const float *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i += VW) {
        size_t k = n - i < VW ? n - i : VW;
        vf x = k == VW ? v_load(in + i) : v_load_first(in + i, k), y;
        switch (fn) {
        case LOSSKIT_VEC_EXP: y = VFN(v_exp)(x); break;
        case LOSSKIT_VEC_LOG: y = VFN(v_log)(x); break;
        case LOSSKIT_VEC_LOG1P: y = VFN(v_log1p)(x); break;
        case LOSSKIT_VEC_SIGMOID: y = VFN(v_sigmoid)(x); break;
        default: y = VFN(v_softplus)(x); break;
        }
        if (k == VW) v_store(out + i, y);
        else v_store_first(out + i, y, k);
    }
}
