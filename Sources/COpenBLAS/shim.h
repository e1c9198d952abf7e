// Lets SwiftPM find OpenBLAS + LAPACKE through pkg-config (Debian:
// libopenblas-dev, liblapacke-dev). The kernels declare the few BLAS/LAPACK
// symbols they call themselves (CKernels/blas.h), so no include path matters.
