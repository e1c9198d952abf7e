/* Vector exp / log / log1p / sigmoid / softplus for the AVX2 path, and their
 * scalar twins (libm) for the scalar path and loop tails.
 *
 * Accuracy: each vector function is within 2 ulp of the correctly rounded
 * result over the whole float range, including subnormal inputs and outputs,
 * +-0, +-inf and NaN (Tests/LossKitTests/VecMathTests.swift sweeps it).
 *
 * Where floating point bites:
 *  - exp(x) for x < -87.3 is subnormal: 2^n cannot be built in one exponent
 *    field, so it is applied as two factors 2^(n/2) 2^(n - n/2) and the last
 *    multiply rounds once into the subnormal grid.
 *  - MIN/MAX return their *second* operand when either is NaN, so every clamp
 *    below takes x second: NaN passes straight through to the result.
 *  - log1p(x) = log(u) - ((u - 1) - x) / u with u = 1 + x: (u - 1) - x is the
 *    rounding error of u, exactly, and the quotient puts it back.
 */
#ifndef LOSSKIT_VECMATH_H
#define LOSSKIT_VECMATH_H

#include "internal.h"

/* ---- scalar twins ---------------------------------------------------- */

LK_INLINE float lk_sigmoidf(float x) { /* 1 / (1 + e^-x) without overflow */
    float e = expf(-fabsf(x));
    float d = 1.0f + e;
    return x >= 0.0f ? 1.0f / d : (x < 0.0f ? e / d : x);
}

LK_INLINE float lk_softplusf(float x) { /* log(1 + e^x) */
    return isnan(x) ? x : (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

#if LK_X86
#include <immintrin.h>

typedef __m256 v8f;
typedef __m256i v8i;

#define LK_V LK_TARGET_AVX2 LK_INLINE

LK_V v8f lk_v_set(float x) { return _mm256_set1_ps(x); }
LK_V v8f lk_v_abs(v8f x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
LK_V v8f lk_v_isnan(v8f x) { return _mm256_cmp_ps(x, x, _CMP_UNORD_Q); }
/* where `src` is NaN, the result is that NaN */
LK_V v8f lk_v_keepnan(v8f value, v8f src) { return _mm256_blendv_ps(value, src, lk_v_isnan(src)); }
LK_V v8f lk_v_select(v8f mask, v8f yes, v8f no) { return _mm256_blendv_ps(no, yes, mask); }
/* sign(x): -1, 0 or +1; NaN stays NaN */
LK_V v8f lk_v_sign(v8f x) {
    v8f one = _mm256_or_ps(_mm256_and_ps(x, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    v8f nonzero = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NEQ_UQ);
    return lk_v_keepnan(_mm256_and_ps(one, nonzero), x);
}
LK_V v8f lk_v_max0(v8f x) { return _mm256_max_ps(_mm256_setzero_ps(), x); } /* NaN-preserving */

/* 2^n for integer n in [-150, 128], as two normal factors multiplied into p. */
LK_V v8f lk_v_ldexp(v8f p, v8i n) {
    v8i n1 = _mm256_srai_epi32(n, 1);
    v8i n2 = _mm256_sub_epi32(n, n1);
    v8f s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    v8f s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

LK_V v8f lk_v_exp(v8f x) {
    /* clamp (x second: NaN survives); beyond these bounds the result is inf / 0 anyway */
    v8f xc = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    v8f n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* r = x - n ln2 in two FMA steps (ln2 = hi + lo) */
    v8f r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    /* exp(r) on |r| <= ln2/2: minimax polynomial (degree 6) */
    v8f u = _mm256_set1_ps(1.9875691500e-4f);
    u = _mm256_fmadd_ps(u, r, _mm256_set1_ps(1.3981999507e-3f));
    u = _mm256_fmadd_ps(u, r, _mm256_set1_ps(8.3334519073e-3f));
    u = _mm256_fmadd_ps(u, r, _mm256_set1_ps(4.1665795894e-2f));
    u = _mm256_fmadd_ps(u, r, _mm256_set1_ps(1.6666665459e-1f));
    u = _mm256_fmadd_ps(u, r, _mm256_set1_ps(5.0000001201e-1f));
    /* 1 + (r + r^2 u): the small part first, one rounding at the end */
    v8f p = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_mul_ps(r, r), u, r));
    v8f y = lk_v_ldexp(p, _mm256_cvtps_epi32(n));
    return lk_v_keepnan(y, x);
}

/* log(x) for all x: -inf at 0, NaN below 0, inf at inf, subnormals handled. */
LK_V v8f lk_v_log(v8f x) {
    const v8f one = _mm256_set1_ps(1.0f);
    /* scale subnormals up by 2^24 so the exponent field is meaningful */
    v8f tiny = _mm256_cmp_ps(x, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
    v8f xs = lk_v_select(tiny, _mm256_mul_ps(x, _mm256_set1_ps(16777216.0f)), x);
    v8f ebias = lk_v_select(tiny, _mm256_set1_ps(-24.0f), _mm256_setzero_ps());
    v8i bits = _mm256_castps_si256(xs);
    /* m in [sqrt(1/2), sqrt(2)): subtract the bits of sqrt(1/2) so the split is exact */
    v8i off = _mm256_sub_epi32(bits, _mm256_set1_epi32(0x3f3504f3));
    v8i e = _mm256_srai_epi32(off, 23);
    v8i mbits = _mm256_add_epi32(_mm256_and_si256(off, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f3504f3));
    v8f m = _mm256_castsi256_ps(mbits);
    v8f ef = _mm256_add_ps(_mm256_cvtepi32_ps(e), ebias);
    /* log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716 */
    v8f f = _mm256_sub_ps(m, one);
    v8f s = _mm256_div_ps(f, _mm256_add_ps(m, one));
    v8f z = _mm256_mul_ps(s, s);
    v8f w = _mm256_mul_ps(z, z);
    /* log(m) = f - hf + s (hf + R), R = z (L1 + w L3 + ...) (FreeBSD e_logf.c split) */
    v8f t1 = _mm256_mul_ps(w, _mm256_fmadd_ps(w, _mm256_set1_ps(0.24279078841f), _mm256_set1_ps(0.40000972152f)));
    v8f t2 = _mm256_mul_ps(z, _mm256_fmadd_ps(w, _mm256_set1_ps(0.28498786688f), _mm256_set1_ps(0.66666662693f)));
    v8f R = _mm256_add_ps(t2, t1);
    v8f hf = _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(f, f));
    v8f lo = _mm256_fmadd_ps(s, _mm256_add_ps(hf, R), _mm256_fmadd_ps(ef, _mm256_set1_ps(9.0580006145e-06f), _mm256_setzero_ps()));
    v8f y = _mm256_add_ps(_mm256_sub_ps(f, _mm256_sub_ps(hf, lo)), _mm256_mul_ps(ef, _mm256_set1_ps(6.9313812256e-01f)));
    /* specials: x == 0 -> -inf, x < 0 -> NaN, x == inf -> inf, NaN -> NaN */
    y = lk_v_select(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ), _mm256_set1_ps(-INFINITY), y);
    y = lk_v_select(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ), _mm256_set1_ps(NAN), y);
    y = lk_v_select(_mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ), x, y);
    return lk_v_keepnan(y, x);
}

LK_V v8f lk_v_log1p(v8f x) {
    const v8f one = _mm256_set1_ps(1.0f);
    v8f u = _mm256_add_ps(one, x);
    v8f corr = _mm256_div_ps(_mm256_sub_ps(_mm256_sub_ps(u, one), x), u);
    v8f y = _mm256_sub_ps(lk_v_log(u), corr);
    /* u == 1: log1p(x) = x to within rounding (also keeps -0 and subnormals exact);
     * x == inf: inf; x == -1: -inf (the correction is 0/0 there) */
    y = lk_v_select(_mm256_cmp_ps(u, one, _CMP_EQ_OQ), x, y);
    y = lk_v_select(_mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ), x, y);
    y = lk_v_select(_mm256_cmp_ps(u, _mm256_setzero_ps(), _CMP_EQ_OQ), _mm256_set1_ps(-INFINITY), y);
    return lk_v_keepnan(y, x);
}

/* sigmoid(x) and sigmoid(-x), each to full relative precision, from one exp. */
LK_V void lk_v_sigmoid2(v8f x, v8f *pos, v8f *neg) {
    v8f e = lk_v_exp(_mm256_sub_ps(_mm256_setzero_ps(), lk_v_abs(x)));
    v8f d = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
    v8f big = _mm256_div_ps(_mm256_set1_ps(1.0f), d); /* sigmoid(|x|) */
    v8f small = _mm256_div_ps(e, d);                  /* sigmoid(-|x|) */
    v8f xpos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    *pos = lk_v_keepnan(lk_v_select(xpos, big, small), x);
    *neg = lk_v_keepnan(lk_v_select(xpos, small, big), x);
}

LK_V v8f lk_v_sigmoid(v8f x) {
    v8f pos, neg;
    lk_v_sigmoid2(x, &pos, &neg);
    return pos;
}

/* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
LK_V v8f lk_v_softplus(v8f x) {
    v8f e = lk_v_exp(_mm256_sub_ps(_mm256_setzero_ps(), lk_v_abs(x)));
    return _mm256_add_ps(lk_v_max0(x), lk_v_log1p(e));
}

/* Stores 8 floats; non-temporal when `stream` (the caller checked 16-byte alignment). */
LK_V void lk_v_store(float *dst, v8f v, bool stream) {
    if (stream) {
        _mm_stream_ps(dst, _mm256_castps256_ps128(v));
        _mm_stream_ps(dst + 4, _mm256_extractf128_ps(v, 1));
    } else {
        _mm256_storeu_ps(dst, v);
    }
}

/* Adds the 8 lanes of v to two double accumulators (lanes 0-3, 4-7). */
LK_V void lk_v_accumulate(__m256d *acc, v8f v) {
    acc[0] = _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc[1] = _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

LK_V double lk_v_total(const __m256d *acc) {
    __m256d s = _mm256_add_pd(acc[0], acc[1]);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

LK_V float lk_v_hmax(v8f v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

LK_V float lk_v_hsum(v8f v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Mask of the first `k` lanes (0 <= k <= 8) for maskload / maskstore. */
LK_V v8i lk_v_tailmask(size_t k) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - k));
}

#endif /* LK_X86 */
#endif
