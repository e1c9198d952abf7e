/* Compiles a kernel template once per SIMD width this architecture has:
 * AVX2 (LK_SIMD 256) and AVX-512 (512) on x86-64, NEON (128) on aarch64;
 * nothing elsewhere, where the scalar path is all there is.
 *
 *   #define LK_SIMD_TEMPLATE "softmax_simd.h"
 *   #include "simd_each_isa.h"
 *
 * LK_SIMD_TEMPLATE_2, when defined, is a second template included after the
 * first at each width (e.g. pair_values_simd.h, then the kernel using it).
 * Both are undefined afterwards; no include guard, by design. */
#if LK_X86
#define LK_SIMD 256
#include "simd_layer.h"
#include LK_SIMD_TEMPLATE
#ifdef LK_SIMD_TEMPLATE_2
#include LK_SIMD_TEMPLATE_2
#endif
#undef LK_SIMD
#define LK_SIMD 512
#include "simd_layer.h"
#include LK_SIMD_TEMPLATE
#ifdef LK_SIMD_TEMPLATE_2
#include LK_SIMD_TEMPLATE_2
#endif
#undef LK_SIMD
#elif LK_ARM64
#define LK_SIMD 128
#include "simd_layer.h"
#include LK_SIMD_TEMPLATE
#ifdef LK_SIMD_TEMPLATE_2
#include LK_SIMD_TEMPLATE_2
#endif
#undef LK_SIMD
#endif
#undef LK_SIMD_TEMPLATE
#undef LK_SIMD_TEMPLATE_2
