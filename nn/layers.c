/* layers.c - Linear, Conv, GroupNorm, ResBlock, Attention, time embedding (layers.h). */
#include "layers.h"

#include <math.h>
#include <stdio.h>

#include "../autograd/ops.h"

#define GN_EPS ((Scalar)1e-5)

/* ---------------------------------------------------------------- declare */

Linear linear_declare(Params *p, const char *name, int in, int out, int zero)
{
    Linear l;
    int ws[2], bs[1];
    ws[0] = out;
    ws[1] = in;
    bs[0] = out;
    l.in = in;
    l.out = out;
    l.w = params_add(p, name, "weight", 2, ws, zero ? INIT_ZEROS : INIT_UNIFORM_FAN_IN, in);
    l.b = params_add(p, name, "bias", 1, bs, zero ? INIT_ZEROS : INIT_UNIFORM_FAN_IN, in);
    return l;
}

Conv conv_declare(Params *p, const char *name, int cin, int cout, int k, int stride, int pad,
                  int zero)
{
    Conv c;
    int ws[4], bs[1];
    ws[0] = cout;
    ws[1] = cin;
    ws[2] = ws[3] = k;
    bs[0] = cout;
    c.cin = cin;
    c.cout = cout;
    c.k = k;
    c.stride = stride;
    c.pad = pad;
    c.w =
        params_add(p, name, "weight", 4, ws, zero ? INIT_ZEROS : INIT_UNIFORM_FAN_IN, cin * k * k);
    c.b = params_add(p, name, "bias", 1, bs, zero ? INIT_ZEROS : INIT_UNIFORM_FAN_IN, cin * k * k);
    return c;
}

GNorm gnorm_declare(Params *p, const char *name, int c, int groups)
{
    GNorm n;
    int s[1];
    s[0] = c;
    CHECK(c % groups == 0, "GroupNorm %s: %d channels do not split into %d groups", name, c,
          groups);
    n.c = c;
    n.groups = groups;
    n.w = params_add(p, name, "weight", 1, s, INIT_ONES, 0);
    n.b = params_add(p, name, "bias", 1, s, INIT_ZEROS, 0);
    return n;
}

ResBlock resblock_declare(Params *p, const char *name, int cin, int cout, int emb_dim, int groups)
{
    ResBlock r;
    char sub[PARAM_NAME_MAX];
#define SUB(s) (snprintf(sub, sizeof sub, "%s.%s", name, s), sub)
    r.cin = cin;
    r.cout = cout;
    r.norm1 = gnorm_declare(p, SUB("norm1"), cin, groups);
    r.conv1 = conv_declare(p, SUB("conv1"), cin, cout, 3, 1, 1, 0);
    r.emb = linear_declare(p, SUB("emb"), emb_dim, cout, 0);
    r.norm2 = gnorm_declare(p, SUB("norm2"), cout, groups);
    r.conv2 = conv_declare(p, SUB("conv2"), cout, cout, 3, 1, 1, 1);
    r.has_skip = cin != cout;
    if (r.has_skip)
        r.skip = conv_declare(p, SUB("skip"), cin, cout, 1, 1, 0, 0);
    else
        r.skip.w = r.skip.b = -1;
#undef SUB
    return r;
}

Attention attention_declare(Params *p, const char *name, int c, int groups)
{
    Attention a;
    char sub[PARAM_NAME_MAX];
    a.c = c;
    snprintf(sub, sizeof sub, "%s.norm", name);
    a.norm = gnorm_declare(p, sub, c, groups);
    snprintf(sub, sizeof sub, "%s.qkv", name);
    a.qkv = conv_declare(p, sub, c, 3 * c, 1, 1, 0, 0);
    snprintf(sub, sizeof sub, "%s.proj", name);
    a.proj = conv_declare(p, sub, c, c, 1, 1, 0, 1);
    return a;
}

/* ---------------------------------------------------------------- forward */

Var *linear_forward(Graph *g, const Params *p, const Linear *l, Var *x)
{
    return ag_linear(g, x, params_leaf(g, p, l->w), params_leaf(g, p, l->b));
}

Var *conv_forward(Graph *g, const Params *p, const Conv *c, Var *x)
{
    return conv_add_forward(g, p, c, x, NULL);
}

Var *conv_add_forward(Graph *g, const Params *p, const Conv *c, Var *x, Var *z)
{
    return ag_conv2d_add(g, x, params_leaf(g, p, c->w), params_leaf(g, p, c->b), z, c->stride,
                         c->pad);
}

Var *gnorm_forward(Graph *g, const Params *p, const GNorm *n, Var *x)
{
    return ag_groupnorm(g, x, params_leaf(g, p, n->w), params_leaf(g, p, n->b), n->groups, GN_EPS);
}

Var *gnorm_silu_forward(Graph *g, const Params *p, const GNorm *n, Var *x)
{
    return ag_groupnorm_silu(g, x, params_leaf(g, p, n->w), params_leaf(g, p, n->b), n->groups,
                             GN_EPS);
}

Var *resblock_forward(Graph *g, const Params *p, const ResBlock *r, Var *x, Var *semb)
{
    Var *h, *e, *skip;
    int es[4];
    AgScope scope = ag_scope_begin(g);
    /* the time embedding and the skip are added by the convs as they write (ag_conv2d_add:
     * the bits of conv + add) */
    e = linear_forward(g, p, &r->emb, semb); /* [N, cout] */
    es[0] = e->val.shape[0];
    es[1] = e->val.shape[1];
    es[2] = es[3] = 1;
    h = conv_add_forward(g, p, &r->conv1, gnorm_silu_forward(g, p, &r->norm1, x),
                         ag_reshape(g, e, 4, es)); /* per (sample, channel) */
    skip = r->has_skip ? conv_forward(g, p, &r->skip, x) : x;
    h = conv_add_forward(g, p, &r->conv2, gnorm_silu_forward(g, p, &r->norm2, h), skip);
    ag_scope_end(g, scope, h);
    return h;
}

Var *attention_forward(Graph *g, const Params *p, const Attention *a, Var *x)
{
    int N = x->val.shape[0], C = a->c, H = x->val.shape[2], W = x->val.shape[3];
    int s3[3], s4[4];
    Var *qkv, *q, *k, *v, *w, *o;
    AgScope scope = ag_scope_begin(g);
    qkv = conv_forward(g, p, &a->qkv, gnorm_forward(g, p, &a->norm, x)); /* [N, 3C, H, W] */
    s3[0] = N;
    s3[1] = 3 * C;
    s3[2] = H * W;
    qkv = ag_reshape(g, qkv, 3, s3);
    q = ag_slice(g, qkv, 1, 0, C); /* [N, C, P] */
    k = ag_slice(g, qkv, 1, C, C);
    v = ag_slice(g, qkv, 1, 2 * C, C);
    w = ag_bmm(g, q, k, 1, 0); /* [N, P, P]: q^T k */
    w = ag_softmax(g, ag_scale(g, w, (Scalar)(1.0 / sqrt((double)C))));
    o = ag_bmm(g, v, w, 0, 1); /* [N, C, P]: o[c,p] = sum_j v[c,j] w[p,j] */
    s4[0] = N;
    s4[1] = C;
    s4[2] = H;
    s4[3] = W;
    o = ag_reshape(g, o, 4, s4);
    o = conv_add_forward(g, p, &a->proj, o, x); /* x + proj(o) */
    ag_scope_end(g, scope, o);
    return o;
}

void sinusoid_embed(const Scalar *t, int n, int dim, Scalar *out)
{
    int half = dim / 2, i, j;
    for (i = 0; i < n; i++)
        for (j = 0; j < half; j++) {
            double f = exp(-log(10000.0) * (double)j / (double)half);
            double arg = 1000.0 * (double)t[i] * f;
            out[(size_t)i * dim + j] = (Scalar)cos(arg);
            out[(size_t)i * dim + half + j] = (Scalar)sin(arg);
        }
}
