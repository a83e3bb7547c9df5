/* layers.h - the building blocks of every network, on the autograd ops.
 *
 *   Linear     y = x W^T + b                         W [out, in], b [out]
 *   Conv       y = conv2d(x, W) + b                  W [out, in, k, k], b [out]
 *   GNorm      GroupNorm(groups) with gamma, beta    [C] each, eps 1e-5
 *   ResBlock   h = Conv3x3(SiLU(GN(x))); h += Linear(SiLU(emb)) per channel;
 *              h = Conv3x3_zero(SiLU(GN(h))); y = skip(x) + h  (skip: 1x1 conv iff cin != cout)
 *   Attention  one head: GN, qkv = 1x1 conv C -> 3C ([q | k | v] in blocks of C),
 *              w = softmax_keys(q . k / sqrt(C)), a = w v, y = x + Conv1x1_zero(a)
 *   sinusoid   e(t) = [cos(1000 t f_i) | sin(1000 t f_i)], f_i = 10000^(-i / (dim/2))
 * A layer holds the indices of its tensors in a Params list (params.h); names follow the
 * PyTorch module names of golden/README.md. */
#ifndef CMAD_LAYERS_H
#define CMAD_LAYERS_H

#include "params.h"

typedef struct Linear {
    int w, b, in, out;
} Linear;

typedef struct Conv {
    int w, b, cin, cout, k, stride, pad;
} Conv;

typedef struct GNorm {
    int w, b, c, groups;
} GNorm;

typedef struct ResBlock {
    GNorm norm1, norm2;
    Conv conv1, conv2, skip;
    Linear emb;
    int has_skip, cin, cout;
} ResBlock;

typedef struct Attention {
    GNorm norm;
    Conv qkv, proj;
    int c;
} Attention;

Linear linear_declare(Params *p, const char *name, int in, int out, int zero);
Conv conv_declare(Params *p, const char *name, int cin, int cout, int k, int stride, int pad,
                  int zero);
GNorm gnorm_declare(Params *p, const char *name, int c, int groups);
ResBlock resblock_declare(Params *p, const char *name, int cin, int cout, int emb_dim, int groups);
Attention attention_declare(Params *p, const char *name, int c, int groups);

Var *linear_forward(Graph *g, const Params *p, const Linear *l, Var *x);
Var *conv_forward(Graph *g, const Params *p, const Conv *c, Var *x);
/* conv_forward(x) + z, z [N, O, 1, 1] or [N, O, Ho, Wo], added as the conv writes
 * (ag_conv2d_add) */
Var *conv_add_forward(Graph *g, const Params *p, const Conv *c, Var *x, Var *z);
Var *gnorm_forward(Graph *g, const Params *p, const GNorm *n, Var *x);
/* silu(GroupNorm(x)) as one op (ag_groupnorm_silu): the same bits, less memory kept. */
Var *gnorm_silu_forward(Graph *g, const Params *p, const GNorm *n, Var *x);
/* semb = SiLU(time embedding) [N, emb_dim], shared by every block of a net. */
Var *resblock_forward(Graph *g, const Params *p, const ResBlock *r, Var *x, Var *semb);
Var *attention_forward(Graph *g, const Params *p, const Attention *a, Var *x);

/* Sinusoidal embedding of 1000 t for each of n times into out [n, dim] (dim even). */
void sinusoid_embed(const Scalar *t, int n, int dim, Scalar *out);

#endif
