/* conv_ref.h - REFERENCE kernels: the slow, obvious direct loops that the fast conv2d
 * (im2col + gemm, op_conv.c) is tested against.  Never used by the networks.
 *
 *   y[n, o, i, j] = b[o] + sum_{c, ki, kj} w[o, c, ki, kj] x[n, c, i s - p + ki, j s - p + kj]
 *   (x is zero outside [0, H) x [0, W)),  Ho = (H + 2p - kh) / s + 1, likewise Wo.
 *
 * The backward reference takes dy = dL/dy and ACCUMULATES (+=) into dx, dw, db; any of
 * them may be NULL to skip it.  Sums are formed in double. */
#ifndef CMAD_CONV_REF_H
#define CMAD_CONV_REF_H

#include "../tensor/tensor.h"

/* Geometry of one conv2d call. */
typedef struct ConvShape {
    int N, C, H, W; /* input x [N, C, H, W] */
    int O, kh, kw;  /* weights w [O, C, kh, kw] */
    int stride, pad;
    int Ho, Wo; /* output y [N, O, Ho, Wo] */
} ConvShape;

/* Fills Ho, Wo from the rest; CHECKs that the output is at least 1 x 1. */
ConvShape conv_shape_make(int N, int C, int H, int W, int O, int kh, int kw, int stride, int pad);

/* y [N, O, Ho, Wo] = conv(x [N, C, H, W], w [O, C, kh, kw]) + b [O] (b may be NULL). */
void conv2d_ref_forward(const ConvShape *s, const Scalar *x, const Scalar *w, const Scalar *b,
                        Scalar *y);
/* dx [N, C, H, W] += dL/dx, dw [O, C, kh, kw] += dL/dw, db [O] += dL/db from dy [N, O, Ho, Wo]. */
void conv2d_ref_backward(const ConvShape *s, const Scalar *x, const Scalar *w, const Scalar *dy,
                         Scalar *dx, Scalar *dw, Scalar *db);

#endif
