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

#include <math.h>
#include <stddef.h>

#include "tensor.h"

/* The multiply-add gemm sums with: fused (fmaf, fma) where the target has a fast one, else
 * a * b + c.  Each element of C is acc = GEMM_FMA(a, b, acc) over its depth in order from
 * acc = 0 (per depth block of 256), so code that must give gemm's bits for a short product
 * (conv2d's shallow stems) sums with it the same way. */
#ifdef CMAD_DOUBLE
#if defined(FP_FAST_FMA) || defined(__FMA__)
#define GEMM_FMA(a, b, c) fma(a, b, c)
#endif
#else
#if defined(FP_FAST_FMAF) || defined(__FMA__)
#define GEMM_FMA(a, b, c) fmaf(a, b, c)
#endif
#endif
#ifndef GEMM_FMA
#define GEMM_FMA(a, b, c) ((a) * (b) + (c))
#endif

void gemm(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
          const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc);
void gemm_ref(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
              const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc);

/* ---------------------------------------------------------------- implicit operands
 *
 * gemm_op() is gemm() with operands given by the functions that pack them, so a caller
 * can multiply a matrix that is never formed (conv2d's im2col matrix, a batch of
 * [C, P] planes seen as one [C, N P] matrix) and write C in a batched layout.
 *
 * An operand is seen as Mat[d][p]: for A, d is the row i of op(A) and p the depth k; for
 * B, d is the column j of op(B) and p the depth k.  Its pack function fills
 *   dst[q][p][w] = Mat[d0 + q W + w][p0 + p]     for q W + w < dn, p < kc
 * and zero for q W + w >= dn up to a whole panel (q = 0 .. ceil(dn / W) - 1).  W is the
 * register tile size (any value up to GEMM_PACK_WMAX).
 *
 * C is written in column blocks: element (i, j) lives at
 *   C + i ldc + (j / cb) cbs + j % cb
 * (cb >= N, cbs = 0 is the ordinary matrix; cb = P, ldc = P, cbs = O P writes the
 * [O, N P] product of a conv straight into y [N, O, P]).  Same summation order and thread
 * independence as gemm(). */
#define GEMM_PACK_WMAX 64

typedef struct GemmOperand {
    void (*pack)(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst);
    const void *ctx;
    /* Optional (NULL: always pack): where the panels that pack would write for this request
     * already lie in memory: ptr[q] = the start of panel q ([kc][W] contiguous, zero-padded
     * like pack's), q = 0 .. ceil(dn / W) - 1, returning 1; or 0 when they do not (pack is
     * used then).  Same values, so the same bits. */
    int (*panels)(const void *ctx, int d0, int dn, int p0, int kc, int W, const Scalar **ptr);
    /* Optional, read for B only (NULL: none), tried when panels gives nothing: panels read
     * where they lie, row by row.  It fills off[p] for p < kc and, for each panel q of the
     * request, ptr[q]: column w of depth row p0 + p of panel q is at ptr[q] + off[p] + w
     * (all W columns readable, those past dn being ignored); ptr[q] = NULL when that panel
     * is to be packed.  Returns 0 when none can be read in place.  Same values, so the same
     * bits. */
    int (*rows)(const void *ctx, int d0, int dn, int p0, int kc, int W, const Scalar **ptr,
                ptrdiff_t *off);
} GemmOperand;

/* The register tile: the panel widths gemm_op asks its A (MR) and B (NR) operands for. */
void gemm_tile_widths(int *mr, int *nr);

/* A matrix stored in the panel layout itself: rows d in groups of W, each group a
 * [depth][W] block, Mat[d][p] = p_[((d / W) depth + p) W + d % W], the rows past the last
 * d zero up to a whole group.  As an operand (ctx a const GemmPanels *): gemm_panels_in_place
 * hands the panels over where they lie when asked for width W (any depth range), and
 * gemm_pack_panels gathers them otherwise. */
typedef struct GemmPanels {
    const Scalar *p;
    int W, depth;
} GemmPanels;

int gemm_panels_in_place(const void *ctx, int d0, int dn, int p0, int kc, int W,
                         const Scalar **ptr);
void gemm_pack_panels(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst);

/* A stored matrix seen as an operand: element (r, c) at p + r ld + (c / cb) cbs + c % cb;
 * depth_rows = 1 when its rows are the depth index (A^T, or B as K x N), 0 when its rows
 * are d (A as M x K, or B^T as N x K). */
typedef struct GemmView {
    const Scalar *p;
    int ld, cb;
    size_t cbs;
    int depth_rows;
} GemmView;

/* The pack function of a GemmView (ctx is a const GemmView *). */
void gemm_pack_view(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst);
/* Its rows function (B with depth_rows = 1): a panel whose W columns lie inside one column
 * block is read in place, rows ld apart.  Worth it when the panel is read by several row
 * tiles and the rows do not all fall on a few cache sets (ld not a multiple of 1 KB):
 * a 1x1 conv reads x [N, C, P] so, each panel C rows of P. */
int gemm_view_rows(const void *ctx, int d0, int dn, int p0, int kc, int W, const Scalar **ptr,
                   ptrdiff_t *off);

void gemm_op(int M, int N, int K, Scalar alpha, const GemmOperand *A, const GemmOperand *B,
             Scalar beta, Scalar *C, int ldc, int cb, size_t cbs);

/* C [M, N] (row stride ldc) = beta C + A B with both operands stored as GemmPanels of
 * depth K: a (Mat[i][k], width wa) and b (Mat[j][k], width wb), read in place when the
 * widths are the tile's.  gemm_op with alpha 1 and one column block. */
void gemm_op_panels(int M, int N, int K, const Scalar *a, int wa, const Scalar *b, int wb,
                    Scalar beta, Scalar *C, int ldc);

#endif
