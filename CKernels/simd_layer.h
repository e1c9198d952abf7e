/* A thin layer over one SIMD instruction set, so the vector math and the
 * kernels are written once and compiled for AVX2, for AVX-512 and for NEON.
 *
 * Define LK_SIMD to 256 (AVX2 + FMA) or 512 (AVX-512 F/DQ/BW/VL) on x86-64,
 * or to 128 (NEON, aarch64) on arm64, and include this; on x86-64 it may be
 * included again with the other value (no include guard).
 * Then include a template (vecmath_simd.h, ...): every function it defines is
 * named through VFN(name), which appends the ISA suffix.
 *
 *   vf  float vector (VW lanes)    vi  int32 vector    vm  lane mask
 *   vd  double vector (VW/2 lanes; VW floats widen into two of them)
 */
#if LK_X86
#include <immintrin.h>
#elif LK_ARM64
#include <arm_neon.h>
#else
#error "simd_layer.h is for x86-64 and aarch64"
#endif

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
#undef v_stream_fence
#undef m_not
#undef vm_bits
#undef v_iota
#undef m_andnot

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
#define v_stream_fence() _mm_sfence() /* after a run of v_stream / v_stream_aligned */
#define m_not(m) _mm256_xor_ps(m, _mm256_castsi256_ps(_mm256_set1_epi32(-1)))
#define vm_bits(m) ((unsigned)_mm256_movemask_ps(m)) /* bit l: lane l of the mask */
#define v_iota() _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7)
#define m_andnot(a, b) _mm256_andnot_ps(b, a) /* a and not b */

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
#define v_stream_fence() _mm_sfence()
#define m_not(m) ((__mmask16)~(m))
#define vm_bits(m) ((unsigned)(m))
#define v_iota() _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define m_andnot(a, b) ((__mmask16)((a) & ~(b)))

#elif LK_SIMD == 128
/* NEON (aarch64, where it is the baseline: no target attribute). What
 * differs from the x86 branches:
 *  - compares give all-ones lanes (uint32x4_t), selected with BSL; the x86
 *    compare predicates (_CMP_*) are mapped onto NEON's compares, in one
 *    always-inlined switch that folds away (op is always a constant);
 *  - FMIN / FMAX return NaN when either operand is NaN (x86 returns the
 *    second operand): the templates take the NaN-carrying operand second
 *    anyway, so NaN still passes; where x86 would drop a NaN in the first
 *    operand the result here is NaN, which every kernel's NaN rule allows;
 *  - FRECPE has 8 bits, not 12 or 14: v_rcp_approx adds one FRECPS step
 *    (~16 bits), so v_recip's Newton step ends as accurate as on x86;
 *  - no masked loads / stores: a tail of k < 4 floats is loaded and stored
 *    lane by lane, never touching memory past its k floats;
 *  - no gathers (softmax takes its row-by-row form, as on AVX2);
 *  - no non-temporal store intrinsics: v_stream / v_stream_aligned are plain
 *    stores and v_stream_fence does nothing;
 *  - horizontal sums / maxima are single instructions (FADDV, FMAXV, FADDP). */
#ifndef _CMP_EQ_OQ
#define _CMP_EQ_OQ 0x00
#define _CMP_UNORD_Q 0x03
#define _CMP_NEQ_UQ 0x04
#define _CMP_ORD_Q 0x07
#define _CMP_NEQ_OQ 0x0c
#define _CMP_GE_OQ 0x1d
#define _CMP_GT_OQ 0x1e
#define _CMP_LT_OQ 0x11
#define _CMP_LE_OQ 0x12
#endif
#ifndef _CMP_NLE_UQ
#define _CMP_NLE_UQ 0x06 /* not (a <= b): a > b or unordered */
#define _CMP_NGE_UQ 0x09 /* not (a >= b): a < b or unordered */
#endif
#define VW 4
#define VFN(name) name##_neon
#define V_TARGET
#define vf float32x4_t
#define vi int32x4_t
#define vm uint32x4_t
#define vd float64x2_t
#define v_set(x) vdupq_n_f32(x)
#define v_zero() vdupq_n_f32(0.0f)
#define v_load(p) vld1q_f32(p)
#define v_store(p, v) vst1q_f32(p, v)
#define v_add vaddq_f32
#define v_sub vsubq_f32
#define v_mul vmulq_f32
#define v_div vdivq_f32
#define v_sqrt vsqrtq_f32
#define v_fma(a, b, c) vfmaq_f32(c, a, b)               /* a b + c, fused */
#define v_fms(a, b, c) vfmaq_f32(vnegq_f32(c), a, b)    /* a b - c, fused (+0 for an exact 0, as x86) */
#define v_fnma(a, b, c) vfmsq_f32(c, a, b)              /* c - a b, fused */
#define v_min vminq_f32
#define v_max vmaxq_f32
#define v_abs vabsq_f32
#define v_negabs(a) vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u)))
#define v_signbit(a) vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u)))
#define v_or(a, b) vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define v_round vrndnq_f32 /* to nearest, ties to even */
#define v_rcp_approx(a) lk_rcp_neon(a)
#define v_cmp(a, b, op) lk_cmp_neon(a, b, op)
#define v_sel(m, yes, no) vbslq_f32(m, yes, no)
#define v_zero_unless(m, a) vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(a)))
#define m_and vandq_u32
#define m_or vorrq_u32
#define m_none(m) (vmaxvq_u32(m) == 0)
#define v_to_i vcvtnq_s32_f32
#define vi_to_f vcvtq_f32_s32
#define v_bits vreinterpretq_s32_f32
#define vi_as_f vreinterpretq_f32_s32
#define vi_set vdupq_n_s32
#define vi_add vaddq_s32
#define vi_sub vsubq_s32
#define vi_and vandq_s32
#define vi_srai vshrq_n_s32
#define vi_slli vshlq_n_s32
#define v_scale2n(p, n) lk_scale2n_neon(p, n)
#define vm_first(k) lk_tail_neon(k)
#define v_load_first(p, k) lk_load_first_neon(p, k)
#define v_store_first(p, v, k) lk_store_first_neon(p, v, k)
#define vd_zero() vdupq_n_f64(0.0)
#define v_accumulate(acc, v)                                                \
    do {                                                                    \
        (acc)[0] = vaddq_f64((acc)[0], vcvt_f64_f32(vget_low_f32(v)));      \
        (acc)[1] = vaddq_f64((acc)[1], vcvt_high_f64_f32(v));               \
    } while (0)
#define vd_total(acc) vaddvq_f64(vaddq_f64((acc)[0], (acc)[1]))
#define v_hmax(v) vmaxvq_f32(v)
#define v_hsum(v) vaddvq_f32(v)
#define v_stream(p, v) vst1q_f32(p, v)
#define v_first_lane(v) vgetq_lane_f32(v, 0)
#define vm_lane(k) vceqq_u32(lk_iota_u32_neon(), vdupq_n_u32((uint32_t)(k)))
#define v_clamp0_bits(a) vreinterpretq_f32_s32(vmaxq_s32(vreinterpretq_s32_f32(a), vdupq_n_s32(0)))
#define vm_nonzero(a) vtstq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x7fffffffu)) /* NaN counts as nonzero */
#define v_opaque(a) __asm__("" : "+w"(a))
#define v_stream_aligned(p, v) vst1q_f32(p, v)
#define v_stream_fence() ((void)0)
#define m_not vmvnq_u32
#define vm_bits(m) vaddvq_u32(vandq_u32(m, lk_lane_bits_neon()))
#define v_iota() vcvtq_f32_u32(lk_iota_u32_neon())
#define m_andnot vbicq_u32 /* a and not b: BIC */

#ifndef LK_SIMD_NEON_HELPERS
#define LK_SIMD_NEON_HELPERS
static inline __attribute__((always_inline)) uint32x4_t lk_iota_u32_neon(void) {
    static const uint32_t iota[4] = {0, 1, 2, 3};
    return vld1q_u32(iota);
}
static inline __attribute__((always_inline)) uint32x4_t lk_lane_bits_neon(void) {
    static const uint32_t bits[4] = {1, 2, 4, 8};
    return vld1q_u32(bits);
}
static inline __attribute__((always_inline)) uint32x4_t lk_tail_neon(size_t k) {
    static const uint32_t m[8] = {~0u, ~0u, ~0u, ~0u, 0, 0, 0, 0};
    return vld1q_u32(m + 4 - k);
}
/* the first k (< 4) lanes, lane by lane: no access past p + k */
static inline __attribute__((always_inline)) float32x4_t lk_load_first_neon(const float *p, size_t k) {
    float32x4_t v = vdupq_n_f32(0.0f);
    switch (k) {
    case 3: v = vld1q_lane_f32(p + 2, v, 2); __attribute__((fallthrough));
    case 2: v = vld1q_lane_f32(p + 1, v, 1); __attribute__((fallthrough));
    case 1: v = vld1q_lane_f32(p, v, 0); break;
    default: if (k >= 4) v = vld1q_f32(p); break;
    }
    return v;
}
static inline __attribute__((always_inline)) void lk_store_first_neon(float *p, float32x4_t v, size_t k) {
    switch (k) {
    case 3: vst1q_lane_f32(p + 2, v, 2); __attribute__((fallthrough));
    case 2: vst1q_lane_f32(p + 1, v, 1); __attribute__((fallthrough));
    case 1: vst1q_lane_f32(p, v, 0); break;
    default: if (k >= 4) vst1q_f32(p, v); break;
    }
}
/* FRECPE (8 bits) and one FRECPS step: ~16 bits, as good a start for
 * v_recip's Newton step as x86's RCPPS */
static inline __attribute__((always_inline)) float32x4_t lk_rcp_neon(float32x4_t a) {
    float32x4_t r = vrecpeq_f32(a);
    return vmulq_f32(r, vrecpsq_f32(a, r));
}
static inline __attribute__((always_inline)) uint32x4_t lk_cmp_neon(float32x4_t a, float32x4_t b, const int op) {
    switch (op) {
    case _CMP_EQ_OQ: return vceqq_f32(a, b);
    case _CMP_NEQ_UQ: return vmvnq_u32(vceqq_f32(a, b));
    case _CMP_NEQ_OQ: return vorrq_u32(vcltq_f32(a, b), vcgtq_f32(a, b));
    case _CMP_LT_OQ: return vcltq_f32(a, b);
    case _CMP_LE_OQ: return vcleq_f32(a, b);
    case _CMP_GT_OQ: return vcgtq_f32(a, b);
    case _CMP_GE_OQ: return vcgeq_f32(a, b);
    case _CMP_ORD_Q: return vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b));
    case _CMP_NLE_UQ: return vmvnq_u32(vcleq_f32(a, b));
    case _CMP_NGE_UQ: return vmvnq_u32(vcgeq_f32(a, b));
    default /* _CMP_UNORD_Q */: return vmvnq_u32(vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b)));
    }
}
/* p 2^n for integral n in [-150, 128], as the AVX2 branch: two normal
 * factors, so a subnormal result rounds once, in the last multiply */
static inline __attribute__((always_inline)) float32x4_t lk_scale2n_neon(float32x4_t p, float32x4_t nf) {
    int32x4_t n = vcvtnq_s32_f32(nf);
    int32x4_t n1 = vshrq_n_s32(n, 1), n2 = vsubq_s32(n, n1);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}
#endif
#else
#error "define LK_SIMD to 256 or 512 (x86-64) or 128 (aarch64)"
#endif

#define V_INLINE static inline __attribute__((always_inline)) V_TARGET
