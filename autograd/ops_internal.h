/* ops_internal.h - forward and backward of every op, for the op table (optable.c).
 * Contract for a forward: it reads out->in[], out->ip/sp/ids and writes out->val; it may
 * be called again on the same node (the gradient audit and checkpointed recomputation
 * replay the tape), so it allocates out->saved only while that is NULL and takes scratch
 * space between arena_mark() and arena_release().  A backward ACCUMULATES into
 * ag_grad(g, in) for each input with ag_needs(out, i). */
#ifndef CMAD_OPS_INTERNAL_H
#define CMAD_OPS_INTERNAL_H

#include <math.h>
#include <string.h>

#include "autograd.h"

#define OP_FN(name)                                                                                \
    void op_##name##_forward(Graph *g, Var *out);                                                  \
    void op_##name##_backward(Graph *g, Var *out);

OP_FN(add)
OP_FN(sub)
OP_FN(mul)
OP_FN(affine)
OP_FN(silu)
OP_FN(relu)
OP_FN(exp)
OP_FN(log)
OP_FN(sqrt)
OP_FN(sum)
OP_FN(mean)
OP_FN(sum_sample)
OP_FN(softmax)
OP_FN(softmax_ce)
OP_FN(matmul)
OP_FN(linear)
OP_FN(bmm)
OP_FN(conv2d)
OP_FN(upsample2)
OP_FN(maxpool2)
OP_FN(groupnorm)
OP_FN(gn_silu)
OP_FN(concat)
OP_FN(slice)
OP_FN(reshape)
OP_FN(embedding)

#undef OP_FN

/* op_conv.c: the padded copy's size (scalars) from which a GEMM-path conv's forward goes a
 * chunk of samples at a time; sets it and returns the old one (the tests set 0 to take
 * that path on small shapes). */
size_t conv_chunk_set_from(size_t scalars);
/* op_conv.c: the depth (C kh kw) up to which a stride-1 conv's forward sums its taps
 * directly with gemm's bits; sets it and returns the old one (the tests set 0 for gemm). */
int conv_small_c_set_max(int depth);
/* op_conv.c: the per-thread scratch (scalars) up to which a 3x3 pad-1 conv with O <= 2
 * sums its nine tap planes; sets it and returns the old one (the tests set 0 to compare
 * them with the padded planes' sums). */
size_t conv_small_o3_set_max(size_t scalars);

/* Sums in double over SUM_LANES interleaved partial sums (element i goes to lane i mod
 * SUM_LANES), the lanes combined in a fixed pairwise order: independent of the thread
 * count, and vectorisable because the loop carries SUM_LANES chains, not one.
 *   sum_lanes(x, n)              = sum_i x[i]
 *   sum_lanes2(a, b, mu, n, sab) = sum_i a[i], and *sab = sum_i a[i] (b[i] - mu)
 *   sum_lanes_sqdev(x, mu, n)    = sum_i (x[i] - mu)^2 */
#define SUM_LANES 8
double sum_lanes(const Scalar *x, size_t n);
double sum_lanes2(const Scalar *a, const Scalar *b, double mu, size_t n, double *sab);
double sum_lanes_sqdev(const Scalar *x, double mu, size_t n);

/* SiLU's exp, here so that SiLU (op_elem.c) and the fused GroupNorm + SiLU (op_norm.c)
 * compute the same bits and both loops vectorise.  Double build: libm exp (the audit and the 1e-10 goldens rest on it).
 * Float build: elem_exp_poly, pure IEEE arithmetic the compiler vectorises (-O3; libm's expf
 * is a call per element):
 *   x clamped to [-87.33, 88.37] (NaN passes through), n = round(x / ln 2) by the
 *   1.5 2^23 trick, r = x - n ln2 in two parts (Cody-Waite, |r| <= ln2 / 2),
 *   e^r by its Taylor polynomial of degree 7 (truncation < 5e-9 relative), times 2^n
 *   built in the exponent bits.
 * Relative error within a few float ulps of expf (test: elem.exp_poly_matches_libm); the
 * same bits on every thread and at every position of a block. */
#ifdef CMAD_DOUBLE
static inline Scalar elem_exp_poly(Scalar x) { return exp(x); }
#else
static inline Scalar elem_exp_poly(Scalar x)
{
    const float magic = 12582912.0f; /* 1.5 2^23: adding it rounds to an integer */
    float t, n, r, p;
    unsigned int bits, tb, mb;
    x = x > 88.37f ? 88.37f : x;
    x = x < -87.33f ? -87.33f : x;
    t = x * 1.44269504f + magic;
    n = t - magic;
    r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&mb, &magic, sizeof mb);
    bits = (tb - mb + 127u) << 23; /* 2^n: n = tb - mb as an integer, -126 <= n <= 127 */
    memcpy(&t, &bits, sizeof t);
    return p * t;
}
#endif

/* y[i] = e^x[i], the exp that SiLU uses (op_elem.c): a vectorisable polynomial in the float
 * build, libm exp in the double build.  Its reference twin is libm (tests/test_fused.c). */
void elem_exp(const Scalar *x, Scalar *y, size_t n);

/* SiLU and the sigmoid, ELEM_BLOCK elements at a time: the block's exponentials
 * (elem_exp_poly) into a small array first, then the division.  Each element gets the same
 * operations in the same order as the one-line loop y = x / (1 + e^-x), so the same bits;
 * but gcc, given the one-line loop, if-converts the exp's clamps around the division (two
 * divisions and three blends a vector) and the loop ran 3.0 ns an element, blocked 0.8 ns
 * (Zen 3, AVX2, a 1568-element GroupNorm group; /work/exp/s18/silu.c had the measurement).
 * y (or s) may be x. */
#define ELEM_BLOCK 32
void elem_silu(const Scalar *x, Scalar *y, size_t n);    /* y = x / (1 + e^-x) */
void elem_sigmoid(const Scalar *x, Scalar *s, size_t n); /* s = 1 / (1 + e^-x) */
/* SiLU's VJP: out = base + dy s (1 + x (1 - s)), s = sigmoid(x), base = out (acc) or 0;
 * out may be x.  Given the output y = silu(x) (the callers pass it when a later op's
 * backward reads it, Var.needed, as a trainable conv's weight gradient does, so it is kept
 * in every scope), s = y / x (1/2 at x = 0) and out = base + dy (y + s (1 - y)): a division
 * instead of an exponential and a division (the sigmoids were 40 % of GroupNorm + SiLU's
 * backward).  Without y (NULL), a block of sigmoids at a time.  Which of the two depends on
 * the graph alone: not on scopes, replays or the thread count. */
void elem_silu_vjp(const Scalar *x, const Scalar *y, const Scalar *dy, Scalar *out, size_t n,
                   int acc);

#endif
