/* Vector math for the SIMD paths (vecmath_simd.h, instantiated here for
 * AVX2 and AVX-512 on x86-64, NEON on aarch64) and its scalar twins (libm) for the scalar path. */
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

/* ---- SIMD instantiations --------------------------------------------- */
#define LK_SIMD_TEMPLATE "vecmath_simd.h"
#include "simd_each_isa.h"

#endif
