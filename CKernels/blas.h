/* The few BLAS symbols the kernels call, declared here so that no include
 * path matters; the link flags come from the COpenBLAS system library
 * (-lopenblas). The one platform branch of the package: Accelerate on Apple. */
#ifndef LOSSKIT_BLAS_H
#define LOSSKIT_BLAS_H

#ifdef __APPLE__
#include <Accelerate/Accelerate.h>
static inline void lk_blas_set_threads(int threads) { (void)threads; }
#else
enum { LK_CBLAS_ROW_MAJOR = 101, LK_CBLAS_NO_TRANS = 111, LK_CBLAS_TRANS = 112 };
#define CblasRowMajor LK_CBLAS_ROW_MAJOR
#define CblasNoTrans LK_CBLAS_NO_TRANS
#define CblasTrans LK_CBLAS_TRANS
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int threads);
/* OpenBLAS runs on as many threads as LossKit was asked for, not its own default. */
static inline void lk_blas_set_threads(int threads) { openblas_set_num_threads(threads); }
#endif

#endif
