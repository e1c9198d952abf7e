/* The few BLAS / LAPACK routines the kernels call: cblas_sgemm, cblas_ssyrk,
 * a Cholesky (lk_dpotrf_lower), a symmetric eigendecomposition (lk_dsyevd)
 * and the BLAS thread count (lk_blas_set_threads).
 *
 * The one platform branch of the package (Package.swift links to match):
 *  - Apple platforms: Accelerate, its CBLAS and its CLAPACK (column-major
 *    Fortran interface; no LAPACKE there). Built from the same code but not
 *    tested: no Apple machine is available to the project.
 *  - elsewhere: OpenBLAS + LAPACKE (the COpenBLAS system library: -lopenblas,
 *    -llapacke), declared here so that no include path matters. Tested on
 *    Linux x86-64 natively and Linux arm64 under qemu-user. */
#ifndef LOSSKIT_BLAS_H
#define LOSSKIT_BLAS_H

#ifdef __APPLE__
#include <Accelerate/Accelerate.h>
#include <stdlib.h>
/* Accelerate sizes its own threads; no setter in its CBLAS */
static inline void lk_blas_set_threads(int threads) { (void)threads; }
/* CLAPACK is column-major: the lower triangle of a row-major symmetric
 * matrix is its upper triangle there. */
static inline int lk_dpotrf_lower(int n, double *a) {
    char uplo = 'U';
    __CLPK_integer nn = n, lda = n, info = 0;
    dpotrf_(&uplo, &nn, a, &lda, &info);
    return (int)info;
}
static inline int lk_dsyevd(int n, double *a, double *w) {
    /* eigenvectors come back as columns of a column-major matrix: transpose to rows-as-components */
    char jobz = 'V', uplo = 'U';
    __CLPK_integer nn = n, lda = n, lwork = -1, liwork = -1, info = 0, iwq = 0;
    double wq = 0;
    dsyevd_(&jobz, &uplo, &nn, a, &lda, w, &wq, &lwork, &iwq, &liwork, &info);
    lwork = (__CLPK_integer)wq;
    liwork = iwq;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    __CLPK_integer *iwork = malloc(sizeof(__CLPK_integer) * (size_t)liwork);
    if (!work || !iwork) { free(work); free(iwork); return -1; }
    dsyevd_(&jobz, &uplo, &nn, a, &lda, w, work, &lwork, iwork, &liwork, &info);
    free(work);
    free(iwork);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) { double t = a[i * n + j]; a[i * n + j] = a[j * n + i]; a[j * n + i] = t; }
    return (int)info;
}
#else
enum { LK_CBLAS_ROW_MAJOR = 101, LK_CBLAS_NO_TRANS = 111, LK_CBLAS_TRANS = 112, LK_CBLAS_UPPER = 121 };
#define CblasRowMajor LK_CBLAS_ROW_MAJOR
#define CblasNoTrans LK_CBLAS_NO_TRANS
#define CblasTrans LK_CBLAS_TRANS
#define CblasUpper LK_CBLAS_UPPER
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float *a, int lda, float beta,
                 float *c, int ldc);
void openblas_set_num_threads(int threads);
/* LAPACKE (Debian liblapacke), row-major; lapack_int is int there. */
int LAPACKE_dpotrf(int matrix_layout, char uplo, int n, double *a, int lda);
int LAPACKE_dsyevd(int matrix_layout, char jobz, char uplo, int n, double *a, int lda, double *w);
/* Cholesky M = L L^T into the lower triangle of a; 0 or the LAPACK info. */
static inline int lk_dpotrf_lower(int n, double *a) { return LAPACKE_dpotrf(LK_CBLAS_ROW_MAJOR, 'L', n, a, n); }
/* Eigenvalues ascending into w; eigenvector j in column j of a (row-major). */
static inline int lk_dsyevd(int n, double *a, double *w) { return LAPACKE_dsyevd(LK_CBLAS_ROW_MAJOR, 'V', 'L', n, a, n, w); }
/* OpenBLAS runs on as many threads as LossKit was asked for, not its own default. */
static inline void lk_blas_set_threads(int threads) { openblas_set_num_threads(threads); }
#endif

#endif
