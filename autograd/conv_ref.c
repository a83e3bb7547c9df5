/* conv_ref.c - direct-loop reference conv2d (see conv_ref.h).  Plain loops, one thread. */
#include "conv_ref.h"

ConvShape conv_shape_make(int N, int C, int H, int W, int O, int kh, int kw, int stride, int pad)
{
    ConvShape s;
    CHECK(N >= 1 && C >= 1 && H >= 1 && W >= 1 && O >= 1 && kh >= 1 && kw >= 1,
          "conv2d: bad sizes N %d C %d H %d W %d O %d kernel %dx%d", N, C, H, W, O, kh, kw);
    CHECK(stride >= 1 && pad >= 0, "conv2d: stride %d must be >= 1, pad %d >= 0", stride, pad);
    CHECK(H + 2 * pad >= kh && W + 2 * pad >= kw,
          "conv2d: kernel %dx%d larger than the padded input %dx%d", kh, kw, H + 2 * pad,
          W + 2 * pad);
    s.N = N;
    s.C = C;
    s.H = H;
    s.W = W;
    s.O = O;
    s.kh = kh;
    s.kw = kw;
    s.stride = stride;
    s.pad = pad;
    s.Ho = (H + 2 * pad - kh) / stride + 1;
    s.Wo = (W + 2 * pad - kw) / stride + 1;
    return s;
}

/* Offsets of x[n, c, ih, iw], w[o, c, ki, kj] and y[n, o, i, j]. */
#define X_AT(s, n, c, ih, iw) ((((size_t)(n) * (s)->C + (c)) * (s)->H + (ih)) * (s)->W + (iw))
#define W_AT(s, o, c, ki, kj) ((((size_t)(o) * (s)->C + (c)) * (s)->kh + (ki)) * (s)->kw + (kj))
#define Y_AT(s, n, o, i, j) ((((size_t)(n) * (s)->O + (o)) * (s)->Ho + (i)) * (s)->Wo + (j))

void conv2d_ref_forward(const ConvShape *s, const Scalar *x, const Scalar *w, const Scalar *b,
                        Scalar *y)
{
    int n, o, i, j, c, ki, kj;
    for (n = 0; n < s->N; n++)
        for (o = 0; o < s->O; o++)
            for (i = 0; i < s->Ho; i++)
                for (j = 0; j < s->Wo; j++) {
                    double acc = b ? (double)b[o] : 0.0;
                    for (c = 0; c < s->C; c++)
                        for (ki = 0; ki < s->kh; ki++)
                            for (kj = 0; kj < s->kw; kj++) {
                                int ih = i * s->stride - s->pad + ki;
                                int iw = j * s->stride - s->pad + kj;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)w[W_AT(s, o, c, ki, kj)] *
                                       (double)x[X_AT(s, n, c, ih, iw)];
                            }
                    y[Y_AT(s, n, o, i, j)] = (Scalar)acc;
                }
}

void conv2d_ref_backward(const ConvShape *s, const Scalar *x, const Scalar *w, const Scalar *dy,
                         Scalar *dx, Scalar *dw, Scalar *db)
{
    int n, o, i, j, c, ki, kj;
    if (db)
        for (o = 0; o < s->O; o++) {
            double acc = 0.0;
            for (n = 0; n < s->N; n++)
                for (i = 0; i < s->Ho; i++)
                    for (j = 0; j < s->Wo; j++) acc += (double)dy[Y_AT(s, n, o, i, j)];
            db[o] += (Scalar)acc;
        }
    /* dw[o, c, ki, kj] = sum_{n, i, j} dy[n, o, i, j] x[n, c, i s - p + ki, j s - p + kj] */
    if (dw)
        for (o = 0; o < s->O; o++)
            for (c = 0; c < s->C; c++)
                for (ki = 0; ki < s->kh; ki++)
                    for (kj = 0; kj < s->kw; kj++) {
                        double acc = 0.0;
                        for (n = 0; n < s->N; n++)
                            for (i = 0; i < s->Ho; i++)
                                for (j = 0; j < s->Wo; j++) {
                                    int ih = i * s->stride - s->pad + ki;
                                    int iw = j * s->stride - s->pad + kj;
                                    if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                    acc += (double)dy[Y_AT(s, n, o, i, j)] *
                                           (double)x[X_AT(s, n, c, ih, iw)];
                                }
                        dw[W_AT(s, o, c, ki, kj)] += (Scalar)acc;
                    }
    /* dx[n, c, ih, iw] = sum over (o, ki, kj) with i s - p + ki = ih, j s - p + kj = iw */
    if (dx)
        for (n = 0; n < s->N; n++)
            for (c = 0; c < s->C; c++)
                for (i = 0; i < s->H; i++)
                    for (j = 0; j < s->W; j++) {
                        double acc = 0.0;
                        for (o = 0; o < s->O; o++)
                            for (ki = 0; ki < s->kh; ki++)
                                for (kj = 0; kj < s->kw; kj++) {
                                    int ti = i + s->pad - ki, tj = j + s->pad - kj;
                                    if (ti < 0 || tj < 0 || ti % s->stride || tj % s->stride)
                                        continue;
                                    ti /= s->stride;
                                    tj /= s->stride;
                                    if (ti >= s->Ho || tj >= s->Wo) continue;
                                    acc += (double)dy[Y_AT(s, n, o, ti, tj)] *
                                           (double)w[W_AT(s, o, c, ki, kj)];
                                }
                        dx[X_AT(s, n, c, i, j)] += (Scalar)acc;
                    }
}
