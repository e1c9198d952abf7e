/* A thin layer over one SIMD instruction set, so the vector math and the
 * kernels are written once and compiled for AVX2 and for AVX-512.
 *
 * Define LK_SIMD to 256 (AVX2 + FMA) or 512 (AVX-512 F/DQ/BW/VL) and include
 * this; it may be included again with the other value (no include guard).
 * Then include a template (vecmath_simd.h, ...): every function it defines is
 * named through VFN(name), which appends the ISA suffix.
 *
 *   vf  float vector (VW lanes)    vi  int32 vector    vm  lane mask
 *   vd  double vector (VW/2 lanes; VW floats widen into two of them)
 */
#if !LK_X86
#error "simd_layer.h is for x86-64"
#endif
#include <immintrin.h>

#undef VW
#undef VFN
#undef V_TARGET
#undef V_INLINE
#undef vf
#undef vi
#undef vm
#undef vd
#undef v_set
#undef v_zero
#undef v_load
#undef v_store
#undef v_add
#undef v_sub
#undef v_mul
#undef v_div
#undef v_sqrt
#undef v_fma
#undef v_fms
#undef v_fnma
#undef v_min
#undef v_max
#undef v_abs
#undef v_negabs
#undef v_signbit
#undef v_or
#undef v_round
#undef v_rcp_approx
#undef v_cmp
#undef v_sel
#undef v_zero_unless
#undef m_and
#undef m_or
#undef m_none
#undef v_to_i
#undef vi_to_f
#undef v_bits
#undef vi_as_f
#undef vi_set
#undef vi_add
#undef vi_sub
#undef vi_and
#undef vi_srai
#undef vi_slli
#undef v_scale2n
#undef vm_first
#undef v_load_first
#undef v_store_first
#undef vd_zero
#undef v_accumulate
#undef vd_total
#undef v_hmax
#undef v_hsum
#undef v_stream
#undef v_first_lane
#undef vm_lane
#undef v_clamp0_bits
#undef vm_nonzero
#undef v_opaque
#undef v_stream_aligned

#if LK_SIMD == 256
#define VW 8
#define VFN(name) name##_avx2
#define V_TARGET __attribute__((target("avx2,fma")))
#define vf __m256
#define vi __m256i
#define vm __m256
#define vd __m256d
#define v_set(x) _mm256_set1_ps(x)
#define v_zero() _mm256_setzero_ps()
#define v_load(p) _mm256_loadu_ps(p)
#define v_store(p, v) _mm256_storeu_ps(p, v)
#define v_add _mm256_add_ps
#define v_sub _mm256_sub_ps
#define v_mul _mm256_mul_ps
#define v_div _mm256_div_ps
#define v_sqrt _mm256_sqrt_ps
#define v_fma _mm256_fmadd_ps   /* a b + c */
#define v_fms _mm256_fmsub_ps   /* a b - c */
#define v_fnma _mm256_fnmadd_ps /* c - a b */
#define v_min _mm256_min_ps     /* NaN: returns the second operand */
#define v_max _mm256_max_ps
#define v_abs(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a)
#define v_negabs(a) _mm256_or_ps(_mm256_set1_ps(-0.0f), a) /* -|a| */
#define v_signbit(a) _mm256_and_ps(_mm256_set1_ps(-0.0f), a)
#define v_or _mm256_or_ps
#define v_round(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define v_rcp_approx _mm256_rcp_ps /* 12 bits */
#define v_cmp(a, b, op) _mm256_cmp_ps(a, b, op)
#define v_sel(m, yes, no) _mm256_blendv_ps(no, yes, m)
#define v_zero_unless(m, a) _mm256_and_ps(m, a)
#define m_and _mm256_and_ps
#define m_or _mm256_or_ps
#define m_none(m) (_mm256_movemask_ps(m) == 0)
#define v_to_i _mm256_cvtps_epi32
#define vi_to_f _mm256_cvtepi32_ps
#define v_bits _mm256_castps_si256
#define vi_as_f _mm256_castsi256_ps
#define vi_set _mm256_set1_epi32
#define vi_add _mm256_add_epi32
#define vi_sub _mm256_sub_epi32
#define vi_and _mm256_and_si256
#define vi_srai _mm256_srai_epi32
#define vi_slli _mm256_slli_epi32
/* p 2^n for integral n in [-150, 128]: two normal factors, so subnormal
 * results round once, in the last multiply */
#define v_scale2n(p, n) lk_scale2n_avx2(p, n)
#define vm_first(k) _mm256_castsi256_ps(lk_tail_avx2(k))
#define v_load_first(p, k) _mm256_maskload_ps(p, lk_tail_avx2(k))
#define v_store_first(p, v, k) _mm256_maskstore_ps(p, lk_tail_avx2(k), v)
#define vd_zero() _mm256_setzero_pd()
#define v_accumulate(acc, v)                                                            \
    do {                                                                                \
        (acc)[0] = _mm256_add_pd((acc)[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v))); \
        (acc)[1] = _mm256_add_pd((acc)[1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))); \
    } while (0)
#define vd_total(acc) lk_total_avx2(acc)
#define v_hmax(v) lk_hmax_avx2(v)
#define v_hsum(v) lk_hsum_avx2(v)
#define v_stream(p, v)                                       \
    do {                                                     \
        _mm_stream_ps((p), _mm256_castps256_ps128(v));       \
        _mm_stream_ps((p) + 4, _mm256_extractf128_ps(v, 1)); \
    } while (0)
#define v_first_lane(v) _mm256_cvtss_f32(v)
#define vm_lane(k) _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(k))))
/* max(a, +0) by the integer order of the bits, on the integer pipes: +0
 * for -0 and for a NaN with the sign bit set */
#define v_clamp0_bits(a) _mm256_castsi256_ps(_mm256_max_epi32(_mm256_castps_si256(a), _mm256_setzero_si256()))
#define vm_nonzero(a) _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_NEQ_UQ) /* NaN counts as nonzero */
/* hides a constant from the optimizer (see boxes_simd.h) */
#define v_opaque(a) __asm__("" : "+x"(a))
#define v_stream_aligned(p, v) _mm256_stream_ps(p, v) /* p on a 32-byte boundary */

#ifndef LK_SIMD_AVX2_HELPERS
#define LK_SIMD_AVX2_HELPERS
__attribute__((target("avx2,fma"))) static inline __m256i lk_tail_avx2(size_t k) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - k));
}
__attribute__((target("avx2,fma"))) static inline __m256 lk_scale2n_avx2(__m256 p, __m256 nf) {
    __m256i n = _mm256_cvtps_epi32(nf);
    __m256i n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
__attribute__((target("avx2,fma"))) static inline double lk_total_avx2(const __m256d *acc) {
    __m256d s = _mm256_add_pd(acc[0], acc[1]);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
__attribute__((target("avx2,fma"))) static inline float lk_hmax_avx2(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
__attribute__((target("avx2,fma"))) static inline float lk_hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

#elif LK_SIMD == 512
#define VW 16
#define VFN(name) name##_avx512
#define V_TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#define vf __m512
#define vi __m512i
#define vm __mmask16
#define vd __m512d
#define v_set(x) _mm512_set1_ps(x)
#define v_zero() _mm512_setzero_ps()
#define v_load(p) _mm512_loadu_ps(p)
#define v_store(p, v) _mm512_storeu_ps(p, v)
#define v_add _mm512_add_ps
#define v_sub _mm512_sub_ps
#define v_mul _mm512_mul_ps
#define v_div _mm512_div_ps
#define v_sqrt _mm512_sqrt_ps
#define v_fma _mm512_fmadd_ps
#define v_fms _mm512_fmsub_ps
#define v_fnma _mm512_fnmadd_ps
#define v_min _mm512_min_ps /* NaN: returns the second operand, as MINPS */
#define v_max _mm512_max_ps
#define v_abs(a) _mm512_abs_ps(a)
#define v_negabs(a) _mm512_or_ps(_mm512_set1_ps(-0.0f), a)
#define v_signbit(a) _mm512_and_ps(_mm512_set1_ps(-0.0f), a)
#define v_or _mm512_or_ps
#define v_round(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define v_rcp_approx _mm512_rcp14_ps /* 14 bits */
#define v_cmp(a, b, op) _mm512_cmp_ps_mask(a, b, op)
#define v_sel(m, yes, no) _mm512_mask_blend_ps(m, no, yes)
#define v_zero_unless(m, a) _mm512_maskz_mov_ps(m, a)
#define m_and(a, b) ((__mmask16)((a) & (b)))
#define m_or(a, b) ((__mmask16)((a) | (b)))
#define m_none(m) ((m) == 0)
#define v_to_i _mm512_cvtps_epi32
#define vi_to_f _mm512_cvtepi32_ps
#define v_bits _mm512_castps_si512
#define vi_as_f _mm512_castsi512_ps
#define vi_set _mm512_set1_epi32
#define vi_add _mm512_add_epi32
#define vi_sub _mm512_sub_epi32
#define vi_and _mm512_and_si512
#define vi_srai _mm512_srai_epi32
#define vi_slli _mm512_slli_epi32
/* VSCALEFPS computes p 2^floor(n) with correct subnormal and overflow results */
#define v_scale2n(p, n) _mm512_scalef_ps(p, n)
#define vm_first(k) ((__mmask16)((1u << (k)) - 1u))
#define v_load_first(p, k) _mm512_maskz_loadu_ps(vm_first(k), p)
#define v_store_first(p, v, k) _mm512_mask_storeu_ps(p, vm_first(k), v)
#define vd_zero() _mm512_setzero_pd()
#define v_accumulate(acc, v)                                                                  \
    do {                                                                                      \
        (acc)[0] = _mm512_add_pd((acc)[0], _mm512_cvtps_pd(_mm512_castps512_ps256(v)));       \
        (acc)[1] = _mm512_add_pd((acc)[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));    \
    } while (0)
#define vd_total(acc) _mm512_reduce_add_pd(_mm512_add_pd((acc)[0], (acc)[1]))
#define v_hmax(v) _mm512_reduce_max_ps(v)
#define v_hsum(v) _mm512_reduce_add_ps(v)
#define v_stream(p, v)                                            \
    do {                                                          \
        _mm_stream_ps((p), _mm512_castps512_ps128(v));            \
        _mm_stream_ps((p) + 4, _mm512_extractf32x4_ps(v, 1));     \
        _mm_stream_ps((p) + 8, _mm512_extractf32x4_ps(v, 2));     \
        _mm_stream_ps((p) + 12, _mm512_extractf32x4_ps(v, 3));    \
    } while (0)
#define v_first_lane(v) _mm512_cvtss_f32(v)
#define vm_lane(k) ((__mmask16)(1u << (k)))
#define v_clamp0_bits(a) _mm512_castsi512_ps(_mm512_max_epi32(_mm512_castps_si512(a), _mm512_setzero_si512()))
#define vm_nonzero(a) _mm512_test_epi32_mask(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff))
#define v_opaque(a) __asm__("" : "+v"(a))
/* one full-width non-temporal store, p on a 64-byte boundary (v_stream's four
 * 128-bit ones measured 3x slower writing the IoU matrix's whole lines) */
#define v_stream_aligned(p, v) _mm512_stream_ps(p, v)
#else
#error "define LK_SIMD to 256 or 512"
#endif

#define V_INLINE static inline __attribute__((always_inline)) V_TARGET
