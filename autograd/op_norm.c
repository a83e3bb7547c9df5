/* op_norm.c - GroupNorm, fused forward and backward.
 *
 * x [N, C, H, W] (or [N, C], taken as H = W = 1), G groups of C/G channels; for each
 * (n, group) over its D = (C/G) H W elements:
 *   mu = mean x,  var = mean (x - mu)^2 (biased),  rstd = 1 / sqrt(var + eps)
 *   xhat = (x - mu) rstd,  y = gamma[c] xhat + beta[c]     (gamma, beta [C] or absent)
 * VJP, with dxhat = dy gamma[c] and means over the group's D elements:
 *   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
 *   dgamma[c] += sum_{n, h, w} dy xhat,   dbeta[c] += sum_{n, h, w} dy
 * Statistics and sums are accumulated in double over SUM_LANES interleaved partial sums
 * (sum_lanes, op_reduce.c), so the loops vectorise; mean and rstd per (n, group) are saved
 * (out->saved, double [2, N, G]).  Parallel over (n, group) for y and dx, over c for
 * dgamma and dbeta, each summed in a fixed order.
 *
 * gn_silu fuses the SiLU that follows every GroupNorm of the UNet: y = silu(n) with
 * n = GroupNorm(x).  Composed, the tape keeps n for SiLU's backward besides x for the
 * norm's; fused, it keeps x only and the backward makes n again from x and the saved
 * mean and rstd, by the forward's own expression, so the bits are those of the
 * composition:  dn = dy s (1 + n (1 - s)), s = sigmoid(n) (elem_silu_vjp: y / n when the
 * tape kept the node's output y), then the GroupNorm VJP of dn. */
#include <math.h>

#include "../tensor/parallel.h"
#include "ops.h"
#include "ops_internal.h"

/* Sizes of a GroupNorm node: N, C, G, HW (pixels per channel), cpg (channels per group). */
typedef struct {
    int N, C, G, cpg;
    size_t HW;
} GnShape;

static GnShape gn_shape(const Var *out)
{
    const Tensor *x = &out->in[0]->val;
    GnShape s;
    s.N = x->shape[0];
    s.C = x->shape[1];
    s.G = out->ip[0];
    s.cpg = s.C / s.G;
    s.HW = x->n / ((size_t)s.N * s.C);
    return s;
}

static void gn_forward(Graph *g, Var *out, int silu)
{
    GnShape s = gn_shape(out);
    const Scalar *x = out->in[0]->val.data;
    const Scalar *gamma = out->in[1] ? out->in[1]->val.data : NULL;
    const Scalar *beta = out->in[2] ? out->in[2]->val.data : NULL;
    Scalar *y = out->val.data;
    const double eps = (double)out->sp[0];
    const size_t D = (size_t)s.cpg * s.HW;
    double *mean, *rstd;
    long t, nt = (long)s.N * s.G;
    mean = (double *)ag_saved(g, out, size_mul(2 * (size_t)nt, sizeof(double)));
    rstd = mean + nt;
    PAR_FOR((long)out->val.n)
    for (t = 0; t < nt; t++) {
        const size_t off = (size_t)t * D; /* (n, group) is contiguous: channels n C + gi cpg .. */
        const Scalar *xp = x + off;
        Scalar *yp = y + off;
        const int c0 = (int)(t % s.G) * s.cpg;
        double mu, var, r;
        size_t i;
        int c;
        mu = sum_lanes(xp, D) / (double)D;
        var = sum_lanes_sqdev(xp, mu, D) / (double)D;
        r = 1.0 / sqrt(var + eps);
        mean[t] = mu;
        rstd[t] = r;
        for (c = 0; c < s.cpg; c++) { /* y = (x - mu) r gamma + beta = x a + b */
            double gm = gamma ? (double)gamma[c0 + c] : 1.0, bt = beta ? (double)beta[c0 + c] : 0.0;
            double a = r * gm, b = bt - mu * a;
            const Scalar *xc = xp + (size_t)c * s.HW;
            Scalar *yc = yp + (size_t)c * s.HW;
            for (i = 0; i < s.HW; i++) yc[i] = (Scalar)((double)xc[i] * a + b);
            if (silu) elem_silu(yc, yc, s.HW); /* op_elem.c's SiLU */
        }
    }
}

/* dn = dy s (1 + n (1 - s)), s = sigmoid(n), over the cpg channels of one (n, group) at
 * offset off, with n = GroupNorm(x) made again exactly as gn_forward made it; dn starts
 * from 0 as SiLU's gradient buffer does. */
static void gn_silu_dn(const GnShape *s, const Var *out, size_t off, int c0, double mu, double r,
                       Scalar *dn)
{
    const Scalar *x = out->in[0]->val.data + off, *dy = out->grad + off;
    const Scalar *y = out->needed ? out->val.data + off : NULL; /* kept when read on */
    const Scalar *gamma = out->in[1] ? out->in[1]->val.data : NULL;
    const Scalar *beta = out->in[2] ? out->in[2]->val.data : NULL;
    size_t i;
    int c;
    for (c = 0; c < s->cpg; c++) {
        double gm = gamma ? (double)gamma[c0 + c] : 1.0, bt = beta ? (double)beta[c0 + c] : 0.0;
        double a = r * gm, b = bt - mu * a;
        const Scalar *xc = x + (size_t)c * s->HW, *dc = dy + (size_t)c * s->HW;
        Scalar *nc = dn + (size_t)c * s->HW;
        for (i = 0; i < s->HW; i++) nc[i] = (Scalar)((double)xc[i] * a + b);   /* n */
        elem_silu_vjp(nc, y ? y + (size_t)c * s->HW : NULL, dc, nc, s->HW, 0); /* n -> dn */
    }
}

/* The VJP of a GroupNorm node (silu = 0) or of gn_silu (silu = 1, the norm's upstream
 * gradient being dn above, made one group at a time just before its sums read it, so it is
 * still in cache).  One loop over (n, group) forms each channel's sums, sum d and
 * sum d (x - mu) with d = dy or dn, then the group's dx from them, the group's d and x
 * still in cache; dgamma and dbeta are the same per-channel sums added over n, kept from
 * that loop rather than read again. */
static void gn_backward(Graph *g, Var *out, int silu)
{
    GnShape s = gn_shape(out);
    Var *xv = out->in[0], *gv = out->in[1], *bv = out->in[2];
    const Scalar *x = xv->val.data;
    const Scalar *gamma = gv ? gv->val.data : NULL;
    const double *mean = (const double *)out->saved, *rstd = mean + (size_t)s.N * s.G;
    const size_t D = (size_t)s.cpg * s.HW;
    const long nt = (long)s.N * s.G, nc = s.C;
    int dx_fresh = 0;
    /* the gradients first: ag_grad may take them from the arena */
    Scalar *dx = ag_needs(out, 0) ? ag_grad_fresh(g, xv, &dx_fresh) : NULL;
    Scalar *dgamma = ag_needs(out, 1) ? ag_grad(g, gv) : NULL;
    Scalar *dbeta = ag_needs(out, 2) ? ag_grad(g, bv) : NULL;
    ArenaMark mark = arena_mark(g->arena);
    /* sums[2 (n C + c) + 0 / 1] = sum d, sum d (x - mu) over channel c of sample n */
    double *sums =
        (double *)arena_alloc(g->arena, size_mul((size_t)2 * s.N, (size_t)s.C * sizeof(double)));
    Scalar *dn =
        silu ? (Scalar *)arena_alloc(g->arena, size_mul(out->val.n, sizeof(Scalar))) : NULL;
    long t;
    PAR_FOR((long)out->val.n)
    for (t = 0; t < nt; t++) {
        const size_t off = (size_t)t * D; /* (n, group) is contiguous: channels n C + gi cpg .. */
        const int c0 = (int)(t % s.G) * s.cpg;
        const double mu = mean[t], r = rstd[t];
        const Scalar *d = silu ? dn + off : out->grad + off;
        double *sm = sums + 2 * ((size_t)(t / s.G) * s.C + (size_t)c0);
        double s1 = 0.0, s2 = 0.0, m1, m2;
        size_t i;
        int c;
        if (silu) gn_silu_dn(&s, out, off, c0, mu, r, dn + off);
        for (c = 0; c < s.cpg; c++) { /* s1 = sum dxhat, s2 = sum dxhat xhat */
            double gm = gamma ? (double)gamma[c0 + c] : 1.0;
            const Scalar *xc = x + off + (size_t)c * s.HW, *dc = d + (size_t)c * s.HW;
            sm[2 * c] = sum_lanes2(dc, xc, mu, s.HW, &sm[2 * c + 1]);
            s1 += gm * sm[2 * c];
            s2 += gm * r * sm[2 * c + 1];
        }
        if (!dx) continue;
        m1 = s1 / (double)D;
        m2 = s2 / (double)D;
        /* dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) */
        for (c = 0; c < s.cpg; c++) { /* = d (r gm) + x (-r^2 m2) + r (mu r m2 - m1) */
            double gm = gamma ? (double)gamma[c0 + c] : 1.0;
            double ka = r * gm, kb = -r * r * m2, kc = r * (mu * r * m2 - m1);
            const Scalar *xc = x + off + (size_t)c * s.HW, *dc = d + (size_t)c * s.HW;
            Scalar *dxc = dx + off + (size_t)c * s.HW;
            for (i = 0; i < s.HW; i++)
                dxc[i] = (dx_fresh ? (Scalar)0 : dxc[i]) +
                         (Scalar)((double)dc[i] * ka + (double)xc[i] * kb + kc);
        }
    }
    if (dgamma || dbeta) {
        PAR_FOR((long)s.N * s.C)
        for (t = 0; t < nc; t++) { /* dgamma[c] += sum dy xhat, dbeta[c] += sum dy */
            const int c = (int)t, gi = c / s.cpg;
            double sg = 0.0, sb = 0.0;
            int n;
            for (n = 0; n < s.N; n++) {
                const double *sm = sums + 2 * ((size_t)n * s.C + (size_t)c);
                sg += sm[1] * rstd[(size_t)n * s.G + gi];
                sb += sm[0];
            }
            if (dgamma) dgamma[c] += (Scalar)sg;
            if (dbeta) dbeta[c] += (Scalar)sb;
        }
    }
    arena_release(g->arena, mark);
}

void op_groupnorm_forward(Graph *g, Var *out) { gn_forward(g, out, 0); }
void op_groupnorm_backward(Graph *g, Var *out) { gn_backward(g, out, 0); }
void op_gn_silu_forward(Graph *g, Var *out) { gn_forward(g, out, 1); }
void op_gn_silu_backward(Graph *g, Var *out) { gn_backward(g, out, 1); }

static Var *gn_node(Graph *g, OpKind op, Var *x, Var *gamma, Var *beta, int groups, Scalar eps)
{
    const Tensor *xt = &x->val;
    Var *out;
    if (xt->ndim != 4 && xt->ndim != 2)
        ag_shape_error("groupnorm", xt, NULL, "x must be [N, C, H, W] or [N, C]");
    CHECK(groups >= 1 && xt->shape[1] % groups == 0,
          "groupnorm: %d groups do not divide %d channels", groups, xt->shape[1]);
    CHECK(eps > 0, "groupnorm: eps must be > 0, got %g", (double)eps);
    if (gamma && (gamma->val.ndim != 1 || gamma->val.shape[0] != xt->shape[1]))
        ag_shape_error("groupnorm", xt, &gamma->val, "gamma must be [C]");
    if (beta && (beta->val.ndim != 1 || beta->val.shape[0] != xt->shape[1]))
        ag_shape_error("groupnorm", xt, &beta->val, "beta must be [C]");
    out = ag_node(g, op, xt->ndim, xt->shape, x, gamma, beta);
    out->ip[0] = groups;
    out->sp[0] = eps;
    ag_forward(g, out);
    return out;
}

Var *ag_groupnorm(Graph *g, Var *x, Var *gamma, Var *beta, int groups, Scalar eps)
{
    return gn_node(g, OP_GROUPNORM, x, gamma, beta, groups, eps);
}

Var *ag_groupnorm_silu(Graph *g, Var *x, Var *gamma, Var *beta, int groups, Scalar eps)
{
    return gn_node(g, OP_GN_SILU, x, gamma, beta, groups, eps);
}

/* ---------------------------------------------------------------- gradient checks */

#include "gradcheck.h"

/* GroupNorm is scale-invariant in x, so a small x scale sx makes dx ~ gamma / sx large,
 * while gamma in [0.05, 0.15] and beta ~ N(0, 0.05^2) keep y, hence the rounding of
 * L = sum(y r) that limits the central difference, small next to every gradient.  The float
 * build's step (1e-2) needs x ~ 1 instead, to stay where the map is nearly linear. */
static Var *gc_gn_any(Graph *g, Rng *r, int ndim, const int *xs, int groups, int affine, double sx,
                      int mode /* bit 0: GN + SiLU; bit 1: x through an op first */)
{
    int cs[1];
    Var *x, *gamma = NULL, *beta = NULL;
    cs[0] = xs[1];
    x = gc_normal(g, r, ndim, xs, sizeof(Scalar) == sizeof(double) ? sx : 1.0, 0.0, 1, "x");
    if (mode & 2) x = ag_scale(g, x, (Scalar)0.5); /* an op node: dx written fresh */
    if (affine) {
        gamma = gc_uniform(g, r, 1, cs, 0.05, 0.15, 1, "gamma");
        beta = gc_normal(g, r, 1, cs, 0.05, 0.0, 1, "beta");
    }
    return mode & 1 ? ag_groupnorm_silu(g, x, gamma, beta, groups, (Scalar)1e-5)
                    : ag_groupnorm(g, x, gamma, beta, groups, (Scalar)1e-5);
}

static Var *gc_gn(Graph *g, Rng *r, int ndim, const int *xs, int groups, int affine, double sx)
{
    return gc_gn_any(g, r, ndim, xs, groups, affine, sx, 0);
}

static const int gn_s4[4] = {2, 4, 3, 3}, gn_s2[2] = {3, 8};

static Var *gc_gn_affine(Graph *g, Rng *r) { return gc_gn(g, r, 4, gn_s4, 2, 1, 0.1); }
static Var *gc_gn_plain(Graph *g, Rng *r) { return gc_gn(g, r, 4, gn_s4, 2, 0, 0.03); }
static Var *gc_gn_gc(Graph *g, Rng *r) { return gc_gn(g, r, 4, gn_s4, 4, 1, 0.1); }
static Var *gc_gn_g1(Graph *g, Rng *r) { return gc_gn(g, r, 4, gn_s4, 1, 1, 0.1); }
static Var *gc_gn_rank2(Graph *g, Rng *r) { return gc_gn(g, r, 2, gn_s2, 2, 1, 0.1); }
static Var *gc_gn_on_op(Graph *g, Rng *r) { return gc_gn_any(g, r, 4, gn_s4, 2, 1, 0.1, 2); }
static Var *gc_gn_silu_on_op(Graph *g, Rng *r) { return gc_gn_any(g, r, 4, gn_s4, 2, 1, 0.1, 3); }
/* SiLU is smooth: beta ~ N(0, 0.05^2) keeps n near 0, where its curvature is largest */
static Var *gc_gn_silu(Graph *g, Rng *r) { return gc_gn_any(g, r, 4, gn_s4, 2, 1, 0.1, 1); }
static Var *gc_gn_silu_plain(Graph *g, Rng *r) { return gc_gn_any(g, r, 4, gn_s4, 2, 0, 0.03, 1); }
/* the output read on (times a trainable w): dn takes the sigmoid as y / n */
static Var *gc_gn_silu_read(Graph *g, Rng *r)
{
    Var *y = gc_gn_any(g, r, 4, gn_s4, 2, 1, 0.1, 1);
    return ag_mul(g, y, gc_normal(g, r, 4, gn_s4, 1.0, 0.0, 1, "w"));
}

const GradCase gc_norm_cases[] = {
    {OP_GROUPNORM, "G2 C4 3x3, affine", gc_gn_affine},
    {OP_GROUPNORM, "G2 C4 3x3, no affine", gc_gn_plain},
    {OP_GROUPNORM, "G=C=4 3x3, affine", gc_gn_gc},
    {OP_GROUPNORM, "G1 C4 3x3, affine", gc_gn_g1},
    {OP_GROUPNORM, "G2 [N, C] = [3, 8], affine", gc_gn_rank2},
    {OP_GN_SILU, "G2 C4 3x3, affine", gc_gn_silu},
    {OP_GN_SILU, "G2 C4 3x3, affine, output read on", gc_gn_silu_read},
    {OP_GN_SILU, "G2 C4 3x3, no affine", gc_gn_silu_plain},
    {OP_GROUPNORM, "G2 C4 3x3, affine, x an op node", gc_gn_on_op},
    {OP_GN_SILU, "G2 C4 3x3, affine, x an op node", gc_gn_silu_on_op},
    {OP_LEAF, NULL, NULL},
};
