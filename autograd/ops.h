/* ops.h - the differentiable ops.  Each constructor checks shapes, records a node and
 * computes its value.  Forward formula and vector-Jacobian product (dx = dL/dx given
 * dy = dL/dy) are written beside each op.
 *
 * Broadcasting (add, sub, mul): b may have the rank of a with any dim equal to 1, which is
 * then repeated (per-channel [1, C, 1, 1] or [N, C, 1, 1], per-sample [N, 1, 1, 1],
 * a mask [1, 1, H, W], a scalar [1]); a is never broadcast.  A b of lower rank is aligned
 * to a's trailing dims (numpy's rule), so a per-sample factor is [N, 1, 1, 1], never [N].
 * Backward sums dy over the repeated positions.
 */
#ifndef CMAD_OPS_H
#define CMAD_OPS_H

#include "autograd.h"

/* ------------------------------------------------ elementwise (op_elem.c) */

/* y = a + b              da += dy, db += sum_broadcast(dy) */
Var *ag_add(Graph *g, Var *a, Var *b);
/* y = a - b              da += dy, db -= sum_broadcast(dy) */
Var *ag_sub(Graph *g, Var *a, Var *b);
/* y = a * b              da += dy * b, db += sum_broadcast(dy * a) */
Var *ag_mul(Graph *g, Var *a, Var *b);
/* y = alpha a + beta     da += alpha dy */
Var *ag_affine(Graph *g, Var *a, Scalar alpha, Scalar beta);
Var *ag_scale(Graph *g, Var *a, Scalar alpha);
/* y = a sigma(a)         da += dy sigma(a) (1 + a (1 - sigma(a))) */
Var *ag_silu(Graph *g, Var *a);
/* y = max(a, 0)          da += dy [a > 0] */
Var *ag_relu(Graph *g, Var *a);
/* y = exp(a)             da += dy y */
Var *ag_exp(Graph *g, Var *a);
/* y = log(a)             da += dy / a */
Var *ag_log(Graph *g, Var *a);
/* y = sqrt(a)            da += dy / (2 y) */
Var *ag_sqrt(Graph *g, Var *a);

/* ------------------------------------------------ reductions (op_reduce.c) */

/* y = sum a -> [1]                         da += dy */
Var *ag_sum(Graph *g, Var *a);
/* y = mean a -> [1]                        da += dy / n */
Var *ag_mean(Graph *g, Var *a);
/* y[n] = sum over all but dim 0 of a[n, ...] -> [N]    da[n, ...] += dy[n] */
Var *ag_sum_sample(Graph *g, Var *a);
/* y = softmax over the last dim            da += y (dy - sum(dy y)) */
Var *ag_softmax(Graph *g, Var *a);
/* y[n] = logsumexp(z[n, :]) - z[n, label[n]] for logits z [N, C]
 *                                          dz[n, c] += dy[n] (softmax(z)[n, c] - [c == label[n]]) */
Var *ag_softmax_ce(Graph *g, Var *logits, const int *labels /* [N], 0..C-1 */);

/* ------------------------------------------------ linear algebra (op_linalg.c) */

/* y = a b, a [M, K], b [K, N]              da += dy b^T, db += a^T dy */
Var *ag_matmul(Graph *g, Var *a, Var *b);
/* y = x W^T + bias, x [N, I], W [O, I], bias [O] or NULL
 *                                          dx += dy W, dW += dy^T x, dbias += sum_n dy */
Var *ag_linear(Graph *g, Var *x, Var *w, Var *bias);
/* y[b] = op(a[b]) op(c[b]), a, c rank 3 (batch first); op = transpose when the flag is set
 *                                          the usual matmul VJPs per batch entry */
Var *ag_bmm(Graph *g, Var *a, Var *c, int ta, int tc);
/* y[n, :] = table[ids[n], :], table [V, D] -> [N, D]    dtable[ids[n], :] += dy[n, :] */
Var *ag_embedding(Graph *g, Var *table, const int *ids /* [N] */, int n);

/* ------------------------------------------------ images (op_conv.c, op_norm.c) */

/* y = conv2d(x, w) + b, x [N, C, H, W], w [O, C, kh, kw], b [O] or NULL,
 * Ho = (H + 2 pad - kh) / stride + 1.  im2col + gemm; backward through gemm too. */
Var *ag_conv2d(Graph *g, Var *x, Var *w, Var *b, int stride, int pad);
/* y = (conv2d(x, w) + b) + z: the conv with a shift added as it writes y, z [N, O, 1, 1]
 * (one value per sample and channel, a time embedding) or [N, O, Ho, Wo] (a residual), or
 * NULL.  The bits of ag_add(ag_conv2d(x, w, b, ...), z), in one pass over y instead of
 * three, and one op on the tape instead of two.   dz += dy summed over each plane, or dy */
Var *ag_conv2d_add(Graph *g, Var *x, Var *w, Var *b, Var *z, int stride, int pad);
/* y [N, C, 2H, 2W] = x[n, c, i / 2, j / 2]    dx = sum of dy over each 2x2 block */
Var *ag_upsample2(Graph *g, Var *x);
/* y [N, C, H/2, W/2] = max over each 2x2 block (H, W even); dx to the first argmax */
Var *ag_maxpool2(Graph *g, Var *x);
/* GroupNorm over G groups of C/G channels, eps; gamma, beta [C] (NULL: no affine).
 *   y = gamma (x - mu) / sqrt(var + eps) + beta, mu and var per (n, group), biased var. */
Var *ag_groupnorm(Graph *g, Var *x, Var *gamma, Var *beta, int groups, Scalar eps);
/* y = silu(n), n = ag_groupnorm(x, gamma, beta): the same bits as the two ops, but only x
 * is kept for backward, which makes n again from x and the saved statistics.
 *   dn = dy s (1 + n (1 - s)), s = sigmoid(n); then GroupNorm's VJP of dn */
Var *ag_groupnorm_silu(Graph *g, Var *x, Var *gamma, Var *beta, int groups, Scalar eps);

/* ------------------------------------------------ shapes (op_shape.c) */

/* y = concat(a, b) along dim 1 (channels), other dims equal */
Var *ag_concat(Graph *g, Var *a, Var *b);
/* y = a[..., start:start+len, ...] along dim `axis` */
Var *ag_slice(Graph *g, Var *a, int axis, int start, int len);
/* y = a with a new shape of the same element count */
Var *ag_reshape(Graph *g, Var *a, int ndim, const int *shape);

#endif
