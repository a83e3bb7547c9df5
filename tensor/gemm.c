/* gemm.c - placeholder: the fast kernel is being written; for now it calls the reference. */
#include "gemm.h"

void gemm_ref(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
              const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc)
{
    int i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double acc = 0.0;
            for (k = 0; k < K; k++) {
                Scalar a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                Scalar b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * (double)b;
            }
            C[(size_t)i * ldc + j] = (Scalar)(alpha * acc + (beta == 0 ? 0.0 : beta * C[(size_t)i * ldc + j]));
        }
}

void gemm(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
          const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc)
{
    gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
