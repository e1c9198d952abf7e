/* CPU feature detection (once) and the LOSSKIT_ISA override. */
#include "internal.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* -1 = not chosen yet; otherwise a losskit_isa. */
static _Atomic int active_isa = -1;

int losskit_isa_supported(losskit_isa isa) {
    switch (isa) {
    case LOSSKIT_ISA_SCALAR: return 1;
    case LOSSKIT_ISA_AVX2:
#if LK_X86
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        return 0;
#endif
    case LOSSKIT_ISA_AVX512:
#if LK_X86
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        return 0;
#endif
    case LOSSKIT_ISA_NEON: return LK_ARM64;
    default: return 0;
    }
}

static losskit_isa choose_isa(void) {
    losskit_isa best = losskit_isa_supported(LOSSKIT_ISA_AVX512) ? LOSSKIT_ISA_AVX512
                     : losskit_isa_supported(LOSSKIT_ISA_AVX2)   ? LOSSKIT_ISA_AVX2
                     : losskit_isa_supported(LOSSKIT_ISA_NEON)   ? LOSSKIT_ISA_NEON
                                                                 : LOSSKIT_ISA_SCALAR;
    const char *forced = getenv("LOSSKIT_ISA");
    if (forced) {
        if (strcmp(forced, "scalar") == 0) return LOSSKIT_ISA_SCALAR;
        if (strcmp(forced, "avx2") == 0 && losskit_isa_supported(LOSSKIT_ISA_AVX2)) return LOSSKIT_ISA_AVX2;
        if (strcmp(forced, "avx512") == 0 && losskit_isa_supported(LOSSKIT_ISA_AVX512)) return LOSSKIT_ISA_AVX512;
        if (strcmp(forced, "neon") == 0 && losskit_isa_supported(LOSSKIT_ISA_NEON)) return LOSSKIT_ISA_NEON;
    }
    return best;
}

losskit_isa losskit_active_isa(void) {
    int isa = atomic_load_explicit(&active_isa, memory_order_acquire);
    if (isa < 0) {
        /* Racing first calls all compute the same answer; any store wins. */
        int expected = -1;
        int chosen = (int)choose_isa();
        atomic_compare_exchange_strong(&active_isa, &expected, chosen);
        isa = atomic_load_explicit(&active_isa, memory_order_acquire);
    }
    return (losskit_isa)isa;
}

/* Per-thread override (-1 = none): lets tests pin a path while other tests run. */
static _Thread_local int thread_isa = -1;

int losskit_set_thread_isa(int isa) {
    if (isa >= 0 && !losskit_isa_supported((losskit_isa)isa)) return LOSSKIT_ERR_UNSUPPORTED;
    thread_isa = isa < 0 ? -1 : isa;
    return LOSSKIT_OK;
}

/* Kernels pick their path on the calling thread, before any worker starts. */
losskit_isa lk_isa_path(void) {
    return thread_isa >= 0 ? (losskit_isa)thread_isa : losskit_active_isa();
}

/* Gathers (the transposed softmax block's transposition): fast on Intel's
 * AVX-512 cores, microcoded on AMD Zen 4, where the gathering block measured
 * 2x slower than row by row (12.2 vs 5.9 ms on softmax_ce_279k_x21); there
 * the block transposes with shuffles instead. */
static _Thread_local int thread_gathers = -1;

int losskit_set_thread_gathers(int mode) {
    thread_gathers = mode < 0 ? -1 : (mode > 0);
    return LOSSKIT_OK;
}

bool lk_use_gathers(void) {
    if (thread_gathers >= 0) return thread_gathers == 1;
#if LK_X86
    __builtin_cpu_init();
    return __builtin_cpu_is("intel");
#else
    return false;
#endif
}

lk_thread_settings lk_thread_settings_get(void) { return (lk_thread_settings){thread_isa, thread_gathers}; }

void lk_thread_settings_apply(lk_thread_settings settings) {
    thread_isa = settings.isa;
    thread_gathers = settings.gathers;
}

int losskit_set_isa(losskit_isa isa) {
    if (!losskit_isa_supported(isa)) return LOSSKIT_ERR_UNSUPPORTED;
    atomic_store_explicit(&active_isa, (int)isa, memory_order_release);
    return LOSSKIT_OK;
}

const char *losskit_isa_name(losskit_isa isa) {
    switch (isa) {
    case LOSSKIT_ISA_SCALAR: return "scalar";
    case LOSSKIT_ISA_AVX2: return "avx2";
    case LOSSKIT_ISA_NEON: return "neon";
    case LOSSKIT_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}

int losskit_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

int losskit_max_threads(int threads) {
    int cores = losskit_cpu_count();
    return threads <= 0 || threads > cores ? cores : threads;
}

int losskit_optimized_build(void) {
#ifdef __OPTIMIZE__
    return 1;
#else
    return 0;
#endif
}

const char *losskit_status_string(int status) {
    if (status == LOSSKIT_OK) return "ok";
    if (status == LOSSKIT_ERR_NOMEM) return "scratch memory could not be allocated";
    if (status == LOSSKIT_ERR_UNSUPPORTED) return "instruction set not supported by this CPU";
    if (status == LOSSKIT_ERR_NOT_PSD) return "matrix is not positive semi-definite";
    if (status == LOSSKIT_ERR_THREAD) return "a worker thread could not be started";
    if (status < 0 && status > -64) return "an argument is invalid (the status is minus its 1-based position)";
    return "unknown status";
}
