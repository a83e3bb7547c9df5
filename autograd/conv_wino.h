/* conv_wino.h - the forward of a 3x3, stride-1, pad-1 conv2d by Winograd F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): 16 instead
 * of 36 multiplies per 2x2 output tile and (o, c) pair, 2.25x fewer than the direct product.
 *
 * The output y [N, O, H, W] is cut into 2x2 tiles; tile (n, ti, tj) covers y rows 2 ti,
 * 2 ti + 1 and columns 2 tj, 2 tj + 1 and reads the 4x4 input patch d = x[n, c, 2 ti - 1 ..
 * 2 ti + 2, 2 tj - 1 .. 2 tj + 2] (zero outside the image).  With
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1]:
 *   U[o, c] = G w[o, c] G^T          (4x4, per call: cheap)
 *   V[c, t] = B^T d[c, t] B          (4x4 per channel and tile)
 *   M_k[o, t] = sum_c U_k[o, c] V_k[c, t]     for each of the 16 positions k: 16 GEMMs
 *   y tile(o, t) = A^T M[o, t] A + b[o]
 * which equals the direct sum exactly in real arithmetic; in floating point it differs by
 * rounding (the transforms add at most a few terms, and the 1/2 in G is exact).
 *
 * Tiles are processed in blocks of T (a count from the shapes only, sized so that V and the
 * products of a block stay in L2): transform the block, 16 gemm() calls, inverse transform
 * into y, next block.  Blocks run in parallel (each thread owns its scratch and the y tiles
 * of its blocks); every tile is computed by the same code whatever the block or thread, so
 * 1 and T threads give the same bits.  Odd H or W: the last tile row or column is computed
 * as if the image were one larger and its extra outputs are dropped.
 *
 * conv_wino_forward serves op_conv2d's forward and, through the flipped transposed kernel,
 * the input gradient of a stride-1 conv (op_conv.c); conv_wino_dw its weight gradient.  It is compared with conv2d_ref
 * (conv_ref.h) in tests/test_conv.c. */
#ifndef CMAD_CONV_WINO_H
#define CMAD_CONV_WINO_H

#include "../tensor/tensor.h"
#include "conv_ref.h"

/* 1 when s is a 3x3, stride-1, pad-1 conv (the only geometry conv_wino_forward computes). */
int conv_wino_fits(const ConvShape *s);

/* 1 when conv2d uses the Winograd path for s: the switch is on, s fits, and s is one of the
 * shapes where it was measured faster (C >= 16 and O >= 16; see the rule in conv_wino.c). */
int conv_wino_use(const ConvShape *s);

/* The switch: on unless the environment variable CMAD_WINOGRAD is "0" when first asked;
 * conv_wino_set_enabled overrides it (for the bench's A/B and the tests) and returns the
 * previous setting.  Not to be changed while a conv runs. */
int conv_wino_enabled(void);
int conv_wino_set_enabled(int on);

/* What a conv adds to its sums: y = (sum + b[o]) + z, b [O] and z either one value per
 * (n, o) plane (z_full 0: z [N, O], a time embedding) or per element (z_full 1: z [N, O,
 * Ho, Wo], a residual); b and z may each be NULL.  The two adds in that order give the bits
 * of the conv with its bias followed by an add of z. */
typedef struct ConvAdd {
    const Scalar *b, *z;
    int z_full;
} ConvAdd;

/* y [N, O, H, W] = conv(x [N, C, H, W], w [O, C, 3, 3]) + b [O] (b may be NULL), stride 1,
 * pad 1; with flip = 1, w is [C, O, 3, 3] and the kernel of (o, c) is w[c, o] turned by 180
 * degrees (see conv_wino_u).  Scratch comes from the arena and is released before
 * returning.  conv_wino_forward_add adds what add says instead (add may be NULL). */
void conv_wino_forward(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *w, int flip,
                       const Scalar *b, Scalar *y);
void conv_wino_forward_add(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *w, int flip,
                           const ConvAdd *add, Scalar *y);

/* The same in two steps, so that a caller may keep the transformed weights U of a kernel
 * that many convs use (op_conv.c keeps them for a step: a CMAD iteration runs each net K
 * times with the same weights).  u holds conv_wino_u_len(s) scalars; conv_wino_u fills it
 * from w [O, C, 3, 3] (flip = 0) or, for the transposed conv of an input gradient, from
 * w [C, O, 3, 3] with each kernel turned by 180 degrees (flip = 1: the kernel of (o, c) is
 * w[c, o, 2 - i, 2 - j]), the bits that a flipped copy would give.  conv_wino_forward_u
 * is conv_wino_forward given u. */
size_t conv_wino_u_len(const ConvShape *s);
void conv_wino_u(const ConvShape *s, const Scalar *w, int flip, Scalar *u);
void conv_wino_forward_u(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *u,
                         const ConvAdd *add, Scalar *y);

/* dw [O, C, 3, 3] += the weight gradient of y = conv(x, w) given dy [N, O, H, W], stride 1,
 * pad 1, by the same transforms: 16 gemms over the tiles instead of one over the pixels
 * with 9 times the columns (see the section in conv_wino.c).  Each plane of dy is summed
 * while a chunk is in cache when db or sums is not NULL: into sums [N, O] (sum_lanes of
 * plane (n, o)) unless it is NULL, and db [O] += them by conv_db_add unless db is NULL.
 * Scratch from the arena. */
void conv_wino_dw(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *dy, Scalar *dw,
                  Scalar *db, double *sums);

/* db [O] += sum over n of sums[n O + o], in sample order: a conv's bias gradient from its
 * per-plane sums of dy (sums[n O + o] = sum_lanes of plane (n, o)).  op_conv.c and
 * conv_wino_dw both finish db here, so the two paths give the same bits. */
void conv_db_add(const double *sums, int N, int O, Scalar *db);

/* dst [ceil(C / Wb)][rows][Wb] = src [N, C, H, W] channels last in blocks of Wb channels,
 * each sample an Hp x Wp grid holding the image at row and column offset pad, zero
 * elsewhere (rows >= N Hp Wp; the rows past the last grid and the lanes past C zero).  The
 * layout of conv_wino_dw's operands and of op_conv.c's grid and channels-last dW. */
void conv_grid_blocks(const Scalar *src, int N, int C, int H, int W, int pad, int Hp, int Wp,
                      int Wb, size_t rows, Scalar *dst);

#endif
