/* Vector exp / log / log1p / sigmoid / softplus, written once over
 * simd_layer.h and instantiated per ISA (no include guard: include it after
 * each simd_layer.h).
 *
 * Two tiers:
 *  - the API functions (v_exp, v_log, v_log1p, v_sigmoid, v_softplus) are
 *    within 2 ulp of the correctly rounded result over the whole float
 *    range, subnormals, +-0, +-inf and NaN included (a test sweeps it);
 *  - the kernel helpers (v_log_core, v_log1p_unit, v_log1p_pos, v_recip,
 *    v_sigmoid2) assume a domain their caller guarantees and trade the last
 *    ulp (<= 3) for fewer instructions: no divisions, no special-case blends.
 *    The fused kernels apply one NaN blend per output instead.
 *
 * Where floating point bites:
 *  - exp(x) for x < -87.3 is subnormal: 2^n does not fit one exponent field,
 *    so v_scale2n applies it so that the result rounds only once.
 *  - MIN/MAX return their *second* operand when either is NaN, so every clamp
 *    takes x second: NaN passes through to the result.
 *  - log1p(x) = log(u) - ((u - 1) - x) / u with u = 1 + x: (u - 1) - x is the
 *    rounding error of u, exactly, and the quotient puts it back.
 */

/* where `src` is NaN, the result is that NaN */
V_INLINE vf VFN(v_keepnan)(vf value, vf src) {
    return v_sel(v_cmp(src, src, _CMP_UNORD_Q), src, value);
}

/* sign(x): -1, 0 or +1 (NaN gives +-1: callers blend NaN in once at the end) */
V_INLINE vf VFN(v_sign)(vf x) {
    vf one = v_or(v_signbit(x), v_set(1.0f));
    return v_zero_unless(v_cmp(x, v_zero(), _CMP_NEQ_OQ), one);
}

/* max(x, 0) that keeps NaN */
V_INLINE vf VFN(v_max0)(vf x) { return v_max(v_zero(), x); }

/* 1 / a for finite a with |a| in [2^-126, 2^126]: approximate reciprocal and
 * one Newton step (AVX2: ~1.5 ulp; AVX-512: ~0.5 ulp). */
V_INLINE vf VFN(v_recip)(vf a) {
    vf r = v_rcp_approx(a);
    return v_mul(r, v_fnma(a, r, v_set(2.0f)));
}

/* exp(x); `nonpositive` callers (x <= 0 or NaN) skip the upper clamp */
V_INLINE vf VFN(v_exp_impl)(vf x, const bool nonpositive) {
    vf xc = v_max(v_set(-104.0f), x); /* beyond the clamps: inf / 0 anyway */
    if (!nonpositive) xc = v_min(v_set(89.0f), xc);
    vf n = v_round(v_mul(xc, v_set(1.44269504088896341f)));
    vf r = v_fnma(n, v_set(0.693145751953125f), xc); /* x - n ln2, ln2 in two parts */
    r = v_fnma(n, v_set(1.428606765330187045e-06f), r);
    /* exp(r) on |r| <= ln2/2: Cephes expf's polynomial, 1 + r + r^2 P(r), in one
     * Horner chain whose last step, fma(q, r, 1), rounds once */
    vf q = v_set(1.9875691500e-4f);
    q = v_fma(q, r, v_set(1.3981999507e-3f));
    q = v_fma(q, r, v_set(8.3334519073e-3f));
    q = v_fma(q, r, v_set(4.1665795894e-2f));
    q = v_fma(q, r, v_set(1.6666665459e-1f));
    q = v_fma(q, r, v_set(5.0000001201e-1f));
    q = v_fma(q, r, v_set(1.0f));
    vf p = v_fma(q, r, v_set(1.0f));
    return v_scale2n(p, n); /* NaN x: p is NaN, so is this */
}

V_INLINE vf VFN(v_exp)(vf x) { return VFN(v_exp_impl)(x, false); }

/* Kernel-grade exp: a degree-5 fit (<= ~2.4 ulp), five FMAs in one chain.
 * For the fused losses, whose own rounding dominates; the API exp above is
 * the <= 1 ulp one. */
V_INLINE vf VFN(v_exp_kernel)(vf x, const bool nonpositive) {
    vf xc = v_max(v_set(-104.0f), x);
    if (!nonpositive) xc = v_min(v_set(89.0f), xc);
    vf n = v_round(v_mul(xc, v_set(1.44269504088896341f)));
    vf r = v_fnma(n, v_set(0.693145751953125f), xc);
    r = v_fnma(n, v_set(1.428606765330187045e-06f), r);
    vf q = v_set(0.008333823643624783f);
    q = v_fma(q, r, v_set(0.041898585855960846f));
    q = v_fma(q, r, v_set(0.1666688621044159f));
    q = v_fma(q, r, v_set(0.49999141693115234f));
    q = v_fma(q, r, v_set(1.0f));
    return v_scale2n(v_fma(q, r, v_set(1.0f)), n);
}

/* log(x) for finite x >= 2^-126 (no specials): Cephes logf, division-free. */
V_INLINE vf VFN(v_log_core)(vf x) {
    vi bits = v_bits(x);
    /* m in [sqrt(1/2), sqrt(2)): subtract the bits of sqrt(1/2) so the split is exact */
    vi off = vi_sub(bits, vi_set(0x3f3504f3));
    vf e = vi_to_f(vi_srai(off, 23));
    vf m = vi_as_f(vi_add(vi_and(off, vi_set(0x007fffff)), vi_set(0x3f3504f3)));
    vf f = v_sub(m, v_set(1.0f));
    vf z = v_mul(f, f);
    vf p = v_set(7.0376836292e-2f);
    p = v_fma(p, f, v_set(-1.1514610310e-1f));
    p = v_fma(p, f, v_set(1.1676998740e-1f));
    p = v_fma(p, f, v_set(-1.2420140846e-1f));
    p = v_fma(p, f, v_set(1.4249322787e-1f));
    p = v_fma(p, f, v_set(-1.6668057665e-1f));
    p = v_fma(p, f, v_set(2.0000714765e-1f));
    p = v_fma(p, f, v_set(-2.4999993993e-1f));
    p = v_fma(p, f, v_set(3.3333331174e-1f));
    vf y = v_fma(e, v_set(-2.12194440e-4f), v_mul(v_mul(f, z), p));
    y = v_fnma(v_set(0.5f), z, y);
    return v_fma(e, v_set(0.693359375f), v_add(f, y));
}

/* log(x) for every x: -inf at 0, NaN below 0, inf at inf, subnormals scaled up. */
V_INLINE vf VFN(v_log)(vf x) {
    vm tiny = v_cmp(x, v_set(1.17549435e-38f), _CMP_LT_OQ);
    vf xs = v_sel(tiny, v_mul(x, v_set(16777216.0f)), x);
    vf y = VFN(v_log_core)(xs);
    y = v_sel(tiny, v_sub(y, v_set(16.635532333438687f)), y); /* 24 ln 2 */
    y = v_sel(v_cmp(x, v_zero(), _CMP_EQ_OQ), v_set(-INFINITY), y);
    y = v_sel(v_cmp(x, v_zero(), _CMP_LT_OQ), v_set(NAN), y);
    y = v_sel(v_cmp(x, v_set(INFINITY), _CMP_EQ_OQ), x, y);
    return VFN(v_keepnan)(y, x);
}

V_INLINE vf VFN(v_log1p)(vf x) {
    const vf one = v_set(1.0f);
    vf u = v_add(one, x);
    vf corr = v_div(v_sub(v_sub(u, one), x), u);
    vf y = v_sub(VFN(v_log)(u), corr);
    /* u == 1: log1p(x) = x (keeps -0 and subnormals exact); inf: inf; x == -1: -inf */
    y = v_sel(v_cmp(u, one, _CMP_EQ_OQ), x, y);
    y = v_sel(v_cmp(x, v_set(INFINITY), _CMP_EQ_OQ), x, y);
    y = v_sel(v_cmp(u, v_zero(), _CMP_EQ_OQ), v_set(-INFINITY), y);
    return VFN(v_keepnan)(y, x);
}

/* log1p(e) for e in [0, 1] (NaN passes): e q(e), q a degree-9 Chebyshev
 * fit of log1p(e)/e on [0, 1] (<= 1.7 ulp evaluated in float). Ten FMAs,
 * no division: the softplus of every BCE-family loss goes through here. */
V_INLINE vf VFN(v_log1p_unit)(vf e) {
    vf q = v_set(-0.0031760570127516985f);
    q = v_fma(q, e, v_set(0.019542528316378593f));
    q = v_fma(q, e, v_set(-0.05637361481785774f));
    q = v_fma(q, e, v_set(0.10543623566627502f));
    q = v_fma(q, e, v_set(-0.1526966691017151f));
    q = v_fma(q, e, v_set(0.1966327428817749f));
    q = v_fma(q, e, v_set(-0.24951615929603577f));
    q = v_fma(q, e, v_set(0.33329710364341736f));
    q = v_fma(q, e, v_set(-0.49999892711639404f));
    q = v_fma(q, e, v_set(1.0f));
    return v_mul(e, q);
}

/* log1p(u) for finite u >= 0 (no specials). */
V_INLINE vf VFN(v_log1p_pos)(vf u) {
    const vf one = v_set(1.0f);
    vf v = v_add(one, u);
    vf corr = v_mul(v_sub(v_sub(v, one), u), VFN(v_recip)(v));
    return v_sub(VFN(v_log_core)(v), corr);
}

/* log1p(u) and 1 / (1 + u) for u >= 0 (NaN passes; the other lanes of an
 * infinite u are garbage, for callers that discard them), <= 2 ulp: the
 * logarithm of v = 1 + u corrected by the rounding of v, (v - 1) - u, divided
 * by v - and 1 / v is what the caller's gradient needs too. AVX-512: v's
 * mantissa m rounded to the nearest 1/16, i, picks c_i ~ 1 / (1 + i/16) and
 * -log c_i from 17-entry tables (two registers, one VPERMT2PS each), so
 * log m = -log c_i + log1p(m c_i - 1) needs a degree-4 polynomial on
 * |m c_i - 1| <= 1/32 (c_0 = 1: small u keep their relative precision).
 * AVX2 goes through the Cephes log above. */
V_INLINE vf VFN(v_log1p_recip)(vf u, vf *rec) {
    const vf one = v_set(1.0f);
    vf v = v_add(one, u);
    *rec = VFN(v_recip)(v);
    vf d = v_sub(v_sub(v, one), u); /* the rounding error of v, exactly */
#if LK_SIMD == 512
    __m512i mant = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x007fffff));
    __m512i idx = _mm512_srli_epi32(_mm512_add_epi32(mant, _mm512_set1_epi32(1 << 18)), 19); /* 0..16 */
    vf m = _mm512_castsi512_ps(_mm512_or_si512(mant, _mm512_set1_epi32(0x3f800000))); /* [1, 2) */
    vf k = _mm512_getexp_ps(v);
    /* c_i = 1 / (1 + i/16) in float, and -log c_i (in double, then rounded) */
    const __m512 c_lo = _mm512_setr_ps(
        1.000000000e+00f, 9.411764741e-01f, 8.888888955e-01f, 8.421052694e-01f, 8.000000119e-01f, 7.619047761e-01f,
        7.272727489e-01f, 6.956521869e-01f, 6.666666865e-01f, 6.399999857e-01f, 6.153846383e-01f, 5.925925970e-01f,
        5.714285970e-01f, 5.517241359e-01f, 5.333333611e-01f, 5.161290169e-01f);
    const __m512 l_lo = _mm512_setr_ps(
        0.0f, 6.062461808e-02f, 1.177830249e-01f, 1.718502492e-01f, 2.231435329e-01f, 2.719337046e-01f,
        3.184536994e-01f, 3.629054725e-01f, 4.054650664e-01f, 4.462871253e-01f, 4.855077863e-01f, 5.232481360e-01f,
        5.596157312e-01f, 5.947071314e-01f, 6.286085844e-01f, 6.613985300e-01f);
    vf ci = _mm512_permutex2var_ps(c_lo, idx, _mm512_set1_ps(0.5f));
    vf li = _mm512_permutex2var_ps(l_lo, idx, _mm512_set1_ps(6.931471825e-01f));
    vf r = v_fms(m, ci, one); /* |r| <= 1/32 */
    /* log1p(r) = r + r^2 (a1 + a2 r + a3 r^2): a relative-error minimax fit, 0.5 ulp */
    vf q = v_fma(v_set(-0.25017309188842773f), r, v_set(0.33349522948265076f));
    q = v_fma(q, r, v_set(-0.4999999701976776f));
    vf y = v_fma(v_mul(r, r), q, v_add(li, r));
    y = v_fma(k, v_set(0.693147182f), y);
#else
    vf y = VFN(v_log_core)(v);
#endif
    return v_fnma(d, *rec, y); /* log v - d / v */
}

/* sigmoid(x) and sigmoid(-x), each to full relative precision, from one exp.
 * Also gives e = exp(-|x|) for the caller's log1p. */
V_INLINE void VFN(v_sigmoid2)(vf x, vf *pos, vf *neg, vf *e_out) {
    vf e = VFN(v_exp_kernel)(v_negabs(x), true);
    vf big = VFN(v_recip)(v_add(v_set(1.0f), e)); /* sigmoid(|x|) */
    vf small = v_mul(e, big);                       /* sigmoid(-|x|) */
    vm xpos = v_cmp(x, v_zero(), _CMP_GE_OQ);
    *pos = v_sel(xpos, big, small);
    *neg = v_sel(xpos, small, big);
    *e_out = e;
}

/* sigmoid(+-x) and softplus(+-x), each to full relative precision wherever
 * it is a normal float, from one exp and one log1p: softplus(x) =
 * max(x, 0) + log1p(e), softplus(-x) = max(-x, 0) + log1p(e), e = exp(-|x|).
 * NaN x gives NaN in all four. */
V_INLINE void VFN(v_sigmoid_softplus2)(vf x, vf *sig_pos, vf *sig_neg, vf *sp_pos, vf *sp_neg) {
    vf e;
    VFN(v_sigmoid2)(x, sig_pos, sig_neg, &e);
    vf l = VFN(v_log1p_unit)(e);
    *sp_pos = v_add(VFN(v_max0)(x), l);
    *sp_neg = v_add(VFN(v_max0)(v_sub(v_zero(), x)), l);
}

/* q^gamma for q in [0, 1] (NaN passes), gamma > 0: the integer part of gamma
 * (up to 8) by multiplication, the fraction as exp(f log q), so the rounding
 * of the exponent costs f |log q| ulp rather than gamma |log q|. */
V_INLINE vf VFN(v_pow_unit)(vf q, float gamma) {
    float gi = floorf(gamma), gf = gamma - gi;
    if (gi > 8.0f) return VFN(v_exp)(v_mul(v_set(gamma), VFN(v_log)(q)));
    vf m = gf > 0.0f ? VFN(v_exp)(v_mul(v_set(gf), VFN(v_log)(q))) : v_set(1.0f);
    for (int k = 0; k < (int)gi; k++) m = v_mul(m, q);
    return m;
}

/* API sigmoid: exact division, NaN kept. */
V_INLINE vf VFN(v_sigmoid)(vf x) {
    vf e = VFN(v_exp)(v_negabs(x));
    vf d = v_add(v_set(1.0f), e);
    vf num = v_sel(v_cmp(x, v_zero(), _CMP_GE_OQ), v_set(1.0f), e);
    return VFN(v_keepnan)(v_div(num, d), x);
}

/* API softplus: log(1 + e^x) = max(x, 0) + log1p(e^-|x|). */
V_INLINE vf VFN(v_softplus)(vf x) {
    vf e = VFN(v_exp)(v_negabs(x));
    return VFN(v_keepnan)(v_add(VFN(v_max0)(x), VFN(v_log1p)(e)), x);
}
