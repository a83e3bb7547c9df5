/* gemm.h - general matrix multiply, row-major, BLAS-style arguments.
 *
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 *   op(A) = A (A is M x K, row stride lda) or A^T when ta (A is K x M, row stride lda);
 *   op(B) = B (K x N, stride ldb) or B^T when tb (B is N x K, stride ldb).
 *   beta == 0 means C is overwritten (its old contents may be NaN).
 *
 * gemm() is the fast kernel (cache-blocked, packed panels, a register-tiled micro-kernel
 * the compiler vectorises); OpenMP splits the output into tiles that each thread owns and
 * every C element sums over k in the same order, so the result does not depend on the
 * number of threads.  Products below ~2M multiply-adds stay on the calling thread.  Safe
 * to call from inside an OpenMP parallel region (it then runs serially in the caller);
 * not from several non-OpenMP threads at once (pack buffers are per OpenMP thread).
 * gemm_ref() is the naive triple loop it is tested against (double accumulator). */
#ifndef CMAD_GEMM_H
#define CMAD_GEMM_H

#include "tensor.h"

void gemm(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
          const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc);
void gemm_ref(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
              const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc);

#endif
