/* test_conv.c - conv2d against the direct-loop reference (forward and backward, several
 * shapes, both the im2col path and the 1x1 direct path), GroupNorm against a plain double
 * loop, upsample2 and maxpool2 values, frozen weights, accumulation, and 1 vs 2 threads. */
#include <stdlib.h>
#include <string.h>

#include "../autograd/conv_ref.h"
#include "../autograd/conv_wino.h"
#include "../autograd/gradcheck.h"
#include "../autograd/ops.h"
#include "../autograd/ops_internal.h"
#include "../tensor/platform.h"
#include "harness.h"

/* ---------------------------------------------------------------- helpers */

/* One conv2d geometry: x [N, C, H, W], w [O, C, k, k], stride, pad. */
typedef struct {
    int N, C, H, W, O, k, stride, pad;
} ConvCase;

static const ConvCase conv_cases[] = {
    {2, 3, 7, 7, 4, 3, 1, 1},     /* 3x3 same padding, odd channels */
    {2, 3, 7, 7, 4, 3, 2, 1},     /* 3x3 stride 2 (Down), odd size */
    {3, 5, 6, 6, 4, 3, 2, 1},     /* stride 2, even size */
    {2, 4, 9, 7, 5, 3, 1, 1},     /* H != W */
    {2, 3, 8, 8, 4, 5, 1, 2},     /* 5x5 */
    {2, 3, 6, 6, 2, 3, 1, 0},     /* no padding */
    {2, 3, 5, 5, 4, 1, 1, 0},     /* 1x1 through im2col (small planes, batched) */
    {1, 3, 5, 5, 4, 1, 1, 0},     /* 1x1 direct (one sample) */
    {2, 3, 16, 16, 5, 1, 1, 0},   /* 1x1 direct (planes >= 256 pixels) */
    {11, 32, 28, 28, 4, 3, 1, 1}, /* 28x28 padded-width forward over 11 samples */
    {7, 32, 28, 28, 8, 3, 2, 1},  /* stride 2, C 32: dW channels last, dx in runs 2+2+2+1 */
    {2, 8, 9, 7, 5, 3, 2, 1},     /* stride 2, odd H != W: phases of unequal size */
    {2, 3, 11, 10, 4, 5, 3, 2},   /* stride 3, 5x5: three phases a side */
    {2, 8, 7, 7, 4, 1, 2, 0},     /* 1x1 at stride 2 */
    {2, 16, 7, 7, 16, 3, 1, 1},   /* Winograd forward and dx (C, O >= 16), odd size */
    {2, 16, 9, 13, 20, 3, 1, 1},  /* Winograd, odd H != W */
    {2, 9, 8, 7, 5, 5, 1, 2},     /* dW channels last, 5x5, C = 9 (runs cut by the panels) */
    {3, 8, 6, 6, 5, 3, 1, 0},     /* dW channels last, no padding */
    {2, 16, 30, 26, 5, 3, 1, 1},  /* dW on the padded grid, O not a whole A panel */
    {2, 5, 28, 28, 6, 3, 1, 1},   /* dW on the padded grid, C = 5: panels gathered */
    {2, 3, 28, 28, 16, 3, 1, 1},  /* C = 3 (ctrl-s's first conv): dW summed directly */
    {3, 16, 14, 12, 1, 3, 1, 1},  /* O = 1: dW summed directly */
    {2, 32, 28, 28, 1, 3, 1, 1},  /* O = 1 (unet-s's last conv): summed directly */
    {2, 1, 9, 11, 8, 3, 1, 1},    /* C = 1: dx (a conv with O = 1) summed directly */
    {2, 3, 8, 8, 2, 5, 1, 2},     /* O = 2, 5x5: summed directly */
    {2, 4, 9, 8, 5, 3, 2, 0},     /* stride 2, no padding: x's even columns to phase 0 */
    {2, 3, 9, 11, 4, 5, 2, 2},    /* stride 2, pad 2, odd width: a column left after pairs */
    {2, 1, 9, 11, 7, 3, 1, 1},    /* depth 9, O = 7: the stem's channel pairs, then one */
    {2, 3, 14, 40, 6, 3, 1, 1},   /* depth 27, O = 6: bands of 6, 6, 2 rows; channels left over */
    {2, 3, 1, 15, 1, 3, 1, 1},    /* O = 1, one row of 15: tap planes a pixel at a time */
    {3, 4, 2, 16, 1, 3, 1, 1},    /* O = 1, two rows of 16: one block of 32 pixels */
    {2, 5, 9, 33, 2, 3, 1, 1},    /* O = 2, 9 x 33: blocks of 32, then 9 single pixels */
    {2, 2, 48, 48, 1, 3, 1, 1},   /* O = 1, 48x48: tap planes past the scratch, padded path */
    {2, 3, 5, 1, 1, 3, 1, 1},     /* O = 1, one column: its first and last column are one */
    {3, 2, 1, 1, 2, 3, 1, 1},     /* O = 2, one pixel: every tap but the middle one outside */
};
#define N_CONV_CASES (int)(sizeof conv_cases / sizeof conv_cases[0])

static void fill_normal(Rng *r, Scalar *p, size_t n, double scale)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = (Scalar)(rng_normal(r) * scale);
}

/* max_i |a_i - b_i| / (1 + |b_i|) */
static double max_rel_diff(const Scalar *a, const Scalar *b, size_t n)
{
    double worst = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
        if (d > worst || d != d) worst = d;
    }
    return worst;
}

static void expect_close(const char *what, const ConvCase *c, const Scalar *got, const Scalar *want,
                         size_t n, double tol)
{
    double d = max_rel_diff(got, want, n);
    if (!(d <= tol))
        t_report(__FILE__, __LINE__, "%s: N%d C%d %dx%d O%d k%d s%d p%d: max rel diff %.3g > %.3g",
                 what, c->N, c->C, c->H, c->W, c->O, c->k, c->stride, c->pad, d, tol);
}

/* Leaves x, w, b for a case (w scaled by 1/sqrt(fan-in) so that |y| ~ 1). */
static void make_conv_leaves(Graph *g, Rng *r, const ConvCase *c, int x_rg, int w_rg, int with_bias,
                             Var **x, Var **w, Var **b)
{
    int xs[4], ws[4], bs[1];
    xs[0] = c->N;
    xs[1] = c->C;
    xs[2] = c->H;
    xs[3] = c->W;
    ws[0] = c->O;
    ws[1] = c->C;
    ws[2] = c->k;
    ws[3] = c->k;
    bs[0] = c->O;
    *x = ag_new(g, 4, xs, x_rg, "x");
    *w = ag_new(g, 4, ws, w_rg, "w");
    fill_normal(r, (*x)->val.data, (*x)->val.n, 1.0);
    fill_normal(r, (*w)->val.data, (*w)->val.n, 1.0 / sqrt((double)c->C * c->k * c->k));
    *b = NULL;
    if (with_bias) {
        *b = ag_new(g, 1, bs, w_rg, "b");
        fill_normal(r, (*b)->val.data, (*b)->val.n, 0.5);
    }
}

static ConvShape case_shape(const ConvCase *c)
{
    return conv_shape_make(c->N, c->C, c->H, c->W, c->O, c->k, c->k, c->stride, c->pad);
}

/* ---------------------------------------------------------------- conv2d */

static void test_conv_forward_matches_reference(void)
{
    Arena *ar = arena_new((size_t)1 << 24);
    Graph g;
    Rng r;
    int i;
    ag_graph_init(&g, ar);
    rng_seed(&r, 11, 0);
    for (i = 0; i < N_CONV_CASES; i++) {
        const ConvCase *c = &conv_cases[i];
        ConvShape s = case_shape(c);
        Var *x, *w, *b, *y;
        Scalar *ref;
        ag_graph_reset(&g);
        make_conv_leaves(&g, &r, c, 1, 1, i % 3 != 2, &x, &w, &b);
        y = ag_conv2d(&g, x, w, b, c->stride, c->pad);
        T_EQ_INT(y->val.shape[2], s.Ho);
        T_EQ_INT(y->val.shape[3], s.Wo);
        ref = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
        conv2d_ref_forward(&s, x->val.data, w->val.data, b ? b->val.data : NULL, ref);
        expect_close("conv2d forward", c, y->val.data, ref, y->val.n, 1e-5);
    }
    arena_free(ar);
}

static void test_conv_backward_matches_reference(void)
{
    Arena *ar = arena_new((size_t)1 << 24);
    Graph g;
    Rng r;
    int i;
    ag_graph_init(&g, ar);
    rng_seed(&r, 12, 0);
    for (i = 0; i < N_CONV_CASES; i++) {
        const ConvCase *c = &conv_cases[i];
        ConvShape s = case_shape(c);
        Var *x, *w, *b, *y;
        Scalar *dy, *dx, *dw, *db;
        ag_graph_reset(&g);
        make_conv_leaves(&g, &r, c, 1, 1, 1, &x, &w, &b);
        y = ag_conv2d(&g, x, w, b, c->stride, c->pad);
        dy = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
        fill_normal(&r, dy, y->val.n, 1.0);
        ag_backward_seed(&g, y, dy);
        dx = (Scalar *)arena_calloc(ar, x->val.n * sizeof(Scalar));
        dw = (Scalar *)arena_calloc(ar, w->val.n * sizeof(Scalar));
        db = (Scalar *)arena_calloc(ar, b->val.n * sizeof(Scalar));
        conv2d_ref_backward(&s, x->val.data, w->val.data, dy, dx, dw, db);
        T_OK(x->grad && w->grad && b->grad);
        if (!x->grad || !w->grad || !b->grad) continue;
        /* dw and db sum N Ho Wo terms of size ~1; float rounding grows with that count (the
         * grid dW, which adds them in another order, measured 2.5e-5 over the 1560 terms
         * of the 30x26 case, above 1e-5 + 4e-9 per term, which the channels-last one met;
         * the Winograd dW, whose tile products are sums of up to 4 dy times sums of up to 4
         * x, measured 1.54e-5 over the 234 terms of the 9x13 case: 4e-8 per term) */
        expect_close("conv2d dx", c, x->grad, dx, x->val.n, 1e-5);
        expect_close("conv2d dw", c, w->grad, dw, w->val.n, 1e-5 + 4e-8 * s.N * s.Ho * s.Wo);
        expect_close("conv2d db", c, b->grad, db, b->val.n, 1e-5 + 4e-9 * s.N * s.Ho * s.Wo);
    }
    arena_free(ar);
}

/* Backward accumulates: a second backward without zeroing gives exactly twice. */
static void test_conv_backward_twice_doubles(void)
{
    static const int pick[3] = {1, 8, 10}; /* stride 2, 1x1 direct, dx in runs of samples */
    Arena *ar = arena_new((size_t)1 << 24);
    Graph g;
    Rng r;
    int i;
    ag_graph_init(&g, ar);
    rng_seed(&r, 13, 0);
    for (i = 0; i < 3; i++) {
        const ConvCase *c = &conv_cases[pick[i]];
        Var *x, *w, *b, *y;
        Scalar *dy, *first[3];
        Var *leaves[3];
        int k;
        size_t j;
        ag_graph_reset(&g);
        make_conv_leaves(&g, &r, c, 1, 1, 1, &x, &w, &b);
        y = ag_conv2d(&g, x, w, b, c->stride, c->pad);
        dy = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
        fill_normal(&r, dy, y->val.n, 1.0);
        ag_backward_seed(&g, y, dy);
        leaves[0] = x;
        leaves[1] = w;
        leaves[2] = b;
        for (k = 0; k < 3; k++) {
            first[k] = (Scalar *)arena_alloc(ar, leaves[k]->val.n * sizeof(Scalar));
            memcpy(first[k], leaves[k]->grad, leaves[k]->val.n * sizeof(Scalar));
        }
        ag_backward_seed(&g, y, dy);
        for (k = 0; k < 3; k++) {
            int bad = 0;
            for (j = 0; j < leaves[k]->val.n; j++) bad += leaves[k]->grad[j] != 2 * first[k][j];
            if (bad)
                t_report(__FILE__, __LINE__, "case %d %s: %d elements not doubled", pick[i],
                         leaves[k]->name, bad);
        }
    }
    arena_free(ar);
}

/* One graph of test_conv_add_bits: fused (ag_conv2d_add) or conv then add, on the leaves
 * drawn from seed.  z is an op on a leaf (z = z0 / 2, so that it has no gradient when the
 * conv's backward reaches it and takes dy over), per plane or full; `twice`: z is also
 * added to y, so that the conv finds z's gradient made and adds to it; `self`: z is the
 * conv's own input (h = x0 / 2, y = conv(h) + h, C = O and same size).  Returns y; the
 * leaves' gradients after a backward seeded with a fixed dy are in x0, w, b, z0. */
static Var *conv_add_graph(Graph *g, const ConvCase *c, int fused, int full, int bias, int twice,
                           int self, Var **lv)
{
    const ConvShape s = case_shape(c);
    Rng r;
    Var *x, *w, *b, *z0 = NULL, *h, *z, *y;
    Scalar *dy;
    int zs[4];
    rng_seed(&r, 31, 0);
    make_conv_leaves(g, &r, c, 1, 1, bias, &x, &w, &b);
    h = ag_scale(g, x, (Scalar)0.5);
    zs[0] = s.N;
    zs[1] = s.O;
    zs[2] = full ? s.Ho : 1;
    zs[3] = full ? s.Wo : 1;
    if (self) {
        z = h;
    } else {
        z0 = ag_new(g, 4, zs, 1, "z0");
        fill_normal(&r, z0->val.data, z0->val.n, 1.0);
        z = ag_scale(g, z0, (Scalar)0.5);
    }
    if (fused) {
        y = ag_conv2d_add(g, h, w, b, z, c->stride, c->pad);
    } else {
        Var *cv = ag_conv2d(g, h, w, b, c->stride, c->pad);
        y = full ? ag_add(g, z, cv) : ag_add(g, cv, z); /* as resblock_forward wrote them */
    }
    if (twice) y = ag_add(g, y, z);
    dy = (Scalar *)arena_alloc(g->arena, y->val.n * sizeof(Scalar));
    fill_normal(&r, dy, y->val.n, 1.0);
    ag_backward_seed(g, y, dy);
    lv[0] = x;
    lv[1] = w;
    lv[2] = b;
    lv[3] = z0;
    return y;
}

/* ag_conv2d_add gives the bits of ag_conv2d followed by ag_add, forward and every
 * gradient, on every conv case (each of the conv's paths: Winograd, 1x1, gathered, padded
 * width, small O, direct and grid dW), z per plane and full, with and without bias, z
 * read again after the conv, and z the conv's own input. */
static void test_conv_add_bits(void)
{
    Arena *ar = arena_new((size_t)1 << 26);
    Graph g;
    int i, v;
    ag_graph_init(&g, ar);
    for (i = 0; i < N_CONV_CASES; i++) {
        const ConvCase *c = &conv_cases[i];
        const int can_self = c->C == c->O && c->stride == 1 && 2 * c->pad == c->k - 1;
        for (v = 0; v < 10; v++) {
            const int full = v & 1, bias = (v >> 1) & 1, twice = v >= 4 && v < 8, self = v >= 8;
            Var *lv[4], *ly[4];
            Var *y;
            Scalar *keep[5];
            size_t n[5];
            int k, same = 1;
            if (self && (!full || !can_self)) continue;
            ag_graph_reset(&g);
            y = conv_add_graph(&g, c, 0, full, bias, twice, self, lv);
            for (k = 0; k < 5; k++) { /* y, then the leaves' gradients */
                const Var *src = k == 0 ? y : lv[k - 1];
                const Scalar *d = k == 0 ? y->val.data : src ? src->grad : NULL;
                n[k] = src ? src->val.n : 0;
                keep[k] = d ? (Scalar *)malloc(n[k] * sizeof(Scalar)) : NULL;
                if (keep[k]) memcpy(keep[k], d, n[k] * sizeof(Scalar));
            }
            ag_graph_reset(&g);
            y = conv_add_graph(&g, c, 1, full, bias, twice, self, ly);
            T_OK(y->op == OP_CONV2D || twice);
            for (k = 0; k < 5; k++) {
                const Var *src = k == 0 ? y : ly[k - 1];
                const Scalar *d = k == 0 ? y->val.data : src ? src->grad : NULL;
                if (!keep[k] != !d || (d && memcmp(keep[k], d, n[k] * sizeof(Scalar)) != 0))
                    same = 0;
                free(keep[k]);
            }
            if (!same)
                t_report(__FILE__, __LINE__,
                         "N%d C%d %dx%d O%d k%d s%d p%d, z %s%s%s%s: fused bits differ", c->N, c->C,
                         c->H, c->W, c->O, c->k, c->stride, c->pad, full ? "full" : "plane",
                         bias ? ", bias" : "", twice ? ", read twice" : "",
                         self ? ", the conv's input" : "");
        }
    }
    arena_free(ar);
}

/* The direct sum of a conv with O <= 2 (conv_small_o3's tap planes, or conv_small_o's
 * padded planes, in each thread's scratch) gives the same bits on 1, 2 and 3 threads:
 * forward with bias and z, and the gradients, with O = 1 (unet-s's last conv) and C = 1
 * (its first, whose dx is a conv with O = 1), over the parallel threshold and with more
 * samples than threads. */
static void test_small_o_threads_bit_identical(void)
{
    static const ConvCase cases[2] = {{5, 16, 28, 28, 1, 3, 1, 1}, {5, 1, 28, 28, 16, 3, 1, 1}};
    const int keep = plat_threads();
    Arena *ar = arena_new((size_t)1 << 25);
    Graph g;
    int i, t, k;
    for (i = 0; i < 2; i++) {
        Scalar *first[5] = {NULL, NULL, NULL, NULL, NULL};
        for (t = 1; t <= 3; t++) {
            Var *lv[4], *y;
            plat_set_threads(t);
            ag_graph_init(&g, ar);
            y = conv_add_graph(&g, &cases[i], 1, 1, 1, 0, 0, lv);
            for (k = 0; k < 5; k++) {
                const Var *v = k == 0 ? y : lv[k - 1];
                const Scalar *d = k == 0 ? y->val.data : v->grad;
                const size_t n = v->val.n * sizeof(Scalar);
                T_OK(d != NULL);
                if (!d) continue;
                if (t == 1) {
                    first[k] = (Scalar *)malloc(n);
                    if (first[k]) memcpy(first[k], d, n);
                } else if (first[k] && memcmp(first[k], d, n) != 0) {
                    t_report(__FILE__, __LINE__, "C%d O%d: %s differs on %d threads", cases[i].C,
                             cases[i].O, k == 0 ? "y" : v->name, t);
                }
            }
            arena_reset(ar);
        }
        for (k = 0; k < 5; k++) free(first[k]);
    }
    plat_set_threads(keep);
    arena_free(ar);
}

/* What conv_case_outputs builds: the conv with its bias and an element-wise z fused (add
 * 0), with its bias and z added after it (1: the conv itself adds nothing but b), or
 * fused without a bias, z one value per plane (2). */
#define N_CONV_ADDS 3

/* y and the leaves' gradients of conv_add_graph for case c, as add says, copied.  Each
 * run has an arena of its own, so that an output left unwritten cannot keep the last
 * run's value from the same address. */
static void conv_case_outputs(const ConvCase *c, int add, Scalar *out[5], size_t n[5])
{
    Arena *ar = arena_new((size_t)1 << 25);
    Graph g;
    Var *lv[4], *y;
    int k;
    ag_graph_init(&g, ar);
    y = conv_add_graph(&g, c, add != 1, add != 2, add != 2, 0, 0, lv);
    for (k = 0; k < 5; k++) {
        const Var *v = k == 0 ? y : lv[k - 1]; /* lv[2], b: NULL without the bias */
        const Scalar *d = k == 0 ? y->val.data : v ? v->grad : NULL;
        n[k] = d ? v->val.n : 0;
        out[k] = d ? (Scalar *)malloc(n[k] * sizeof(Scalar)) : NULL;
        if (out[k]) memcpy(out[k], d, n[k] * sizeof(Scalar));
    }
    arena_free(ar);
}

/* 1 when got's outputs (of conv_case_outputs) have want's sizes and bits; frees got's. */
static int outputs_same(Scalar *const want[5], const size_t nw[5], Scalar *got[5],
                        const size_t ng[5])
{
    int k, same = 1;
    for (k = 0; k < 5; k++) {
        if (nw[k] != ng[k] ||
            (nw[k] && (!want[k] || !got[k] || memcmp(want[k], got[k], nw[k] * sizeof(Scalar)))))
            same = 0;
        free(got[k]);
    }
    return same;
}

/* Each conv case, with each of the N_CONV_ADDS things added, with a path switched off
 * (on(0), on 1 thread) and on (on(1), on 1, 2 and 3 threads): the same bits, forward and
 * gradients (the input gradient of a strided or shallow conv is such a forward too). */
static void same_bits_with(const char *what, void (*on)(int))
{
    const int keep = plat_threads();
    int i, t, k, add;
    for (i = 0; i < N_CONV_CASES; i++)
        for (add = 0; add < N_CONV_ADDS; add++) {
            Scalar *base[5], *got[5];
            size_t nb[5], ng[5];
            plat_set_threads(1);
            on(0);
            conv_case_outputs(&conv_cases[i], add, base, nb);
            on(1);
            for (t = 1; t <= 3; t++) {
                plat_set_threads(t);
                conv_case_outputs(&conv_cases[i], add, got, ng);
                if (!outputs_same(base, nb, got, ng))
                    t_report(__FILE__, __LINE__,
                             "N%d C%d %dx%d O%d k%d s%d, add %d, %d threads: %s differ",
                             conv_cases[i].N, conv_cases[i].C, conv_cases[i].H, conv_cases[i].W,
                             conv_cases[i].O, conv_cases[i].k, conv_cases[i].stride, add, t, what);
            }
            for (k = 0; k < 5; k++) free(base[k]);
        }
    plat_set_threads(keep);
}

static void chunks_on(int on) { conv_chunk_set_from(on ? 0 : (size_t)-1); }

/* The GEMM-path forward a chunk of samples at a time (conv_forward_chunks, forced on every
 * shape) gives the bits of the whole-batch path. */
static void test_conv_chunks_same_bits(void)
{
    const size_t from = conv_chunk_set_from((size_t)-1);
    same_bits_with("chunks", chunks_on);
    conv_chunk_set_from(from);
}

static int small_c_kept;
static void small_c_on(int on) { conv_small_c_set_max(on ? small_c_kept : 0); }

/* The stems' direct sums (conv_small_c, on the cases of depth C kh kw <= 27 at stride 1)
 * give the gemm's bits. */
static void test_conv_small_c_same_bits(void)
{
    small_c_kept = conv_small_c_set_max(0);
    same_bits_with("direct sums", small_c_on);
    conv_small_c_set_max(small_c_kept);
}

/* The tap-plane sums of a 3x3 pad-1 conv with O <= 2 (conv_small_o3: unet-s's last conv,
 * and its first one's dx) on every conv case they take, with each of the N_CONV_ADDS
 * things added: the same bits on 1, 2 and 3 threads, and within rounding of the sums from
 * the padded planes (the path switched off), forward and gradients; their bits differ
 * from those somewhere, so the path did run. */
static void test_conv_small_o3_close(void)
{
    const int keep = plat_threads();
    const size_t kept = conv_small_o3_set_max(0);
    const double tol = sizeof(Scalar) == sizeof(float) ? 2e-5 : 1e-12;
    int i, t, k, add, cases = 0, differ = 0;
    for (i = 0; i < N_CONV_CASES; i++) {
        const ConvCase *c = &conv_cases[i];
        if (c->k != 3 || c->pad != 1 || c->stride != 1 || (c->O > 2 && c->C > 2)) continue;
        cases++;
        for (add = 0; add < N_CONV_ADDS; add++) {
            Scalar *base[5], *first[5], *got[5];
            size_t nb[5], nf[5], ng[5];
            plat_set_threads(1);
            conv_small_o3_set_max(0);
            conv_case_outputs(c, add, base, nb);
            conv_small_o3_set_max(kept);
            conv_case_outputs(c, add, first, nf);
            for (k = 0; k < 5; k++) {
                T_OK(nb[k] == nf[k]);
                if (nb[k] == nf[k] && nb[k] && base[k] && first[k]) {
                    expect_close(k == 0 ? "tap planes: y" : "tap planes: gradient", c, first[k],
                                 base[k], nb[k], tol);
                    differ += memcmp(first[k], base[k], nb[k] * sizeof(Scalar)) != 0;
                }
            }
            for (t = 2; t <= 3; t++) {
                plat_set_threads(t);
                conv_case_outputs(c, add, got, ng);
                if (!outputs_same(first, nf, got, ng))
                    t_report(__FILE__, __LINE__,
                             "N%d C%d %dx%d O%d, add %d, %d threads: tap planes differ", c->N, c->C,
                             c->H, c->W, c->O, add, t);
            }
            for (k = 0; k < 5; k++) {
                free(base[k]);
                free(first[k]);
            }
        }
    }
    T_OK(cases >= 6);
    T_OK(differ > 0); /* the tap planes ran: their own bits */
    conv_small_o3_set_max(kept);
    plat_set_threads(keep);
}

/* Frozen weights (requires_grad 0): no weight gradient, dx still right; and a frozen
 * input: no dx, dw still right. */
static void test_conv_frozen(void)
{
    static const int pick[3] = {0, 1, 8};
    Arena *ar = arena_new((size_t)1 << 24);
    Graph g;
    Rng r;
    int i;
    ag_graph_init(&g, ar);
    rng_seed(&r, 14, 0);
    for (i = 0; i < 3; i++) {
        const ConvCase *c = &conv_cases[pick[i]];
        ConvShape s = case_shape(c);
        Var *x, *w, *b, *y;
        Scalar *dy, *dx, *dw;
        /* frozen weights */
        ag_graph_reset(&g);
        make_conv_leaves(&g, &r, c, 1, 0, 1, &x, &w, &b);
        y = ag_conv2d(&g, x, w, b, c->stride, c->pad);
        T_OK(y->requires_grad);
        dy = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
        fill_normal(&r, dy, y->val.n, 1.0);
        ag_backward_seed(&g, y, dy);
        T_OK(w->grad == NULL);
        T_OK(b->grad == NULL);
        dx = (Scalar *)arena_calloc(ar, x->val.n * sizeof(Scalar));
        conv2d_ref_backward(&s, x->val.data, w->val.data, dy, dx, NULL, NULL);
        T_OK(x->grad != NULL);
        if (x->grad) expect_close("frozen-weight dx", c, x->grad, dx, x->val.n, 1e-5);
        /* frozen input (an image), trainable weights */
        ag_graph_reset(&g);
        make_conv_leaves(&g, &r, c, 0, 1, 1, &x, &w, &b);
        y = ag_conv2d(&g, x, w, b, c->stride, c->pad);
        dy = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
        fill_normal(&r, dy, y->val.n, 1.0);
        ag_backward_seed(&g, y, dy);
        T_OK(x->grad == NULL);
        dw = (Scalar *)arena_calloc(ar, w->val.n * sizeof(Scalar));
        conv2d_ref_backward(&s, x->val.data, w->val.data, dy, NULL, dw, NULL);
        T_OK(w->grad != NULL);
        if (w->grad) expect_close("frozen-input dw", c, w->grad, dw, w->val.n, 1e-5);
    }
    arena_free(ar);
}

/* ---------------------------------------------------------------- Winograd */

/* Every 3x3 stride-1 conv of unet-s and ctrl-s (DESIGN.md section 3) as C -> O at H x W,
 * and the transposed conv that computes its input gradient (O -> C), plus odd and small
 * sizes; conv_in (C 1 or 3) and conv_out (O 1) are in the list although conv2d keeps them
 * on the gemm path (conv_wino_use), so that the kernel itself is checked on them too. */
static const int wino_shapes[][4] = {
    /* unet-s forward */
    {1, 32, 28, 28},
    {32, 32, 28, 28},
    {32, 64, 14, 14},
    {64, 64, 14, 14},
    {64, 64, 7, 7},
    {128, 64, 7, 7},
    {128, 64, 14, 14},
    {96, 64, 14, 14},
    {64, 64, 28, 28},
    {96, 32, 28, 28},
    {64, 32, 28, 28},
    {32, 1, 28, 28},
    /* unet-s input gradients (the transposed convs) */
    {64, 32, 14, 14},
    {64, 128, 7, 7},
    {64, 128, 14, 14},
    {64, 96, 14, 14},
    {32, 96, 28, 28},
    {32, 64, 28, 28},
    /* ctrl-s forward and input gradients */
    {3, 16, 28, 28},
    {16, 16, 28, 28},
    {16, 32, 14, 14},
    {32, 32, 14, 14},
    {64, 32, 14, 14},
    {48, 32, 14, 14},
    {32, 32, 28, 28},
    {48, 16, 28, 28},
    {32, 16, 28, 28},
    {16, 1, 28, 28},
    {32, 48, 14, 14},
    {16, 48, 28, 28},
    {16, 3, 28, 28},
    /* odd and small sizes */
    {16, 16, 7, 5},
    {17, 19, 9, 13},
    {16, 16, 1, 1},
    {16, 16, 2, 3},
    {5, 7, 3, 3},
    {300, 17, 5, 6}, /* C past the gemm's depth block: U and V read in place at depth offsets */
    /* tile rows with a spare slot (8 or more tiles wide) at odd and even widths, and the
     * widest without one */
    {16, 16, 6, 15},
    {16, 16, 5, 16},
    {16, 16, 3, 14},
};
#define N_WINO_SHAPES (int)(sizeof wino_shapes / sizeof wino_shapes[0])

#ifdef CMAD_DOUBLE
#define WINO_TOL 1e-12
#else
#define WINO_TOL 1e-5
#endif

/* max |a - b| / max |b| (relative to the output scale) */
static double max_scaled_diff(const Scalar *a, const Scalar *b, size_t n)
{
    double worst = 0.0, scale = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst || d != d) worst = d;
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return worst / (scale > 0 ? scale : 1.0);
}

/* conv_wino_forward against conv2d_ref on every shape above, batch 2, with and without
 * bias, to WINO_TOL of the output scale (|y| ~ 1). */
static void test_wino_matches_reference(void)
{
    Arena *ar = arena_new((size_t)1 << 24);
    Rng r;
    int i, bias;
    rng_seed(&r, 21, 0);
    for (i = 0; i < N_WINO_SHAPES; i++)
        for (bias = 0; bias < 2; bias++) {
            const int *q = wino_shapes[i];
            ConvCase c;
            ConvShape s;
            size_t nx, nw, ny;
            Scalar *x, *w, *b, *y, *ref;
            c.N = 2;
            c.C = q[0];
            c.O = q[1];
            c.H = q[2];
            c.W = q[3];
            c.k = 3;
            c.stride = c.pad = 1;
            s = case_shape(&c);
            nx = (size_t)c.N * c.C * c.H * c.W;
            nw = (size_t)c.O * c.C * 9;
            ny = (size_t)c.N * c.O * s.Ho * s.Wo;
            arena_reset(ar);
            x = (Scalar *)arena_alloc(ar, nx * sizeof(Scalar));
            w = (Scalar *)arena_alloc(ar, nw * sizeof(Scalar));
            b = (Scalar *)arena_alloc(ar, (size_t)c.O * sizeof(Scalar));
            y = (Scalar *)arena_alloc(ar, ny * sizeof(Scalar));
            ref = (Scalar *)arena_alloc(ar, ny * sizeof(Scalar));
            fill_normal(&r, x, nx, 1.0);
            fill_normal(&r, w, nw, 1.0 / sqrt(9.0 * c.C));
            fill_normal(&r, b, (size_t)c.O, 0.5);
            T_OK(conv_wino_fits(&s));
            conv_wino_forward(ar, &s, x, w, 0, bias ? b : NULL, y);
            conv2d_ref_forward(&s, x, w, bias ? b : NULL, ref);
            {
                double d = max_scaled_diff(y, ref, ny);
                if (!(d <= WINO_TOL))
                    t_report(__FILE__, __LINE__,
                             "winograd C%d O%d %dx%d bias %d: max diff %.3g of the output scale "
                             "> %.3g",
                             c.C, c.O, c.H, c.W, bias, d, WINO_TOL);
            }
        }
    arena_free(ar);
}

/* conv2d takes the Winograd path exactly when conv_wino_use says so (the same bits as
 * conv_wino_forward), and the switch turns it off (the gemm path, also close to the
 * reference). */
static void test_wino_dispatch_and_switch(void)
{
    static const ConvCase c = {2, 32, 14, 14, 32, 3, 1, 1};
    Arena *ar = arena_new((size_t)1 << 24);
    Graph g;
    Rng r;
    ConvShape s = case_shape(&c);
    Var *x, *w, *b, *y;
    Scalar *direct, *ref;
    int was = conv_wino_set_enabled(1);
    ag_graph_init(&g, ar);
    rng_seed(&r, 22, 0);
    make_conv_leaves(&g, &r, &c, 1, 1, 1, &x, &w, &b);
    T_OK(conv_wino_use(&s));
    y = ag_conv2d(&g, x, w, b, 1, 1);
    direct = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
    ref = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
    conv_wino_forward(ar, &s, x->val.data, w->val.data, 0, b->val.data, direct);
    T_OK(memcmp(direct, y->val.data, y->val.n * sizeof(Scalar)) == 0);
    conv_wino_set_enabled(0);
    T_OK(!conv_wino_use(&s));
    ag_forward(&g, y);
    T_OK(memcmp(direct, y->val.data, y->val.n * sizeof(Scalar)) != 0);
    conv2d_ref_forward(&s, x->val.data, w->val.data, b->val.data, ref);
    expect_close("gemm path with the switch off", &c, y->val.data, ref, y->val.n, 1e-5);
    conv_wino_set_enabled(was);
    arena_free(ar);
}

/* conv_wino_forward with 1 and 2 threads: the same bits (several blocks per thread), with
 * and without the spare slot per tile row (28x28, 14x14). */
static void wino_threads_case(const ConvCase *cp)
{
    const ConvCase c = *cp;
    Arena *ar = arena_new((size_t)1 << 24);
    Rng r;
    ConvShape s = case_shape(&c);
    size_t nx = (size_t)c.N * c.C * c.H * c.W, nw = (size_t)c.O * c.C * 9,
           ny = (size_t)c.N * c.O * s.Ho * s.Wo;
    Scalar *x = (Scalar *)arena_alloc(ar, nx * sizeof(Scalar));
    Scalar *w = (Scalar *)arena_alloc(ar, nw * sizeof(Scalar));
    Scalar *b = (Scalar *)arena_alloc(ar, (size_t)c.O * sizeof(Scalar));
    Scalar *y1 = (Scalar *)arena_alloc(ar, ny * sizeof(Scalar));
    Scalar *y2 = (Scalar *)arena_alloc(ar, ny * sizeof(Scalar));
    int keep = plat_threads();
    rng_seed(&r, 23, 0);
    fill_normal(&r, x, nx, 1.0);
    fill_normal(&r, w, nw, 1.0 / sqrt(9.0 * c.C));
    fill_normal(&r, b, (size_t)c.O, 0.5);
    plat_set_threads(1);
    conv_wino_forward(ar, &s, x, w, 0, b, y1);
    plat_set_threads(2);
    conv_wino_forward(ar, &s, x, w, 0, b, y2);
    plat_set_threads(keep);
    T_OK(memcmp(y1, y2, ny * sizeof(Scalar)) == 0);
    arena_free(ar);
}

static void test_wino_threads_bit_identical(void)
{
    static const ConvCase wide = {6, 32, 28, 28, 32, 3, 1, 1},
                          narrow = {12, 32, 14, 14, 32, 3, 1, 1};
    wino_threads_case(&wide);
    wino_threads_case(&narrow);
}

/* op_conv.c keeps each kernel's Winograd weights U for the step (a memo made at a kernel's
 * second use and checked against its bits at every later one).  A kernel changed in place
 * after that must get a new U, for y and for dx (the flipped U); after a direct
 * arena_reset, whose memory is then written over, a kernel at the address of an old one
 * must not find the old U; and the flipped U made from w itself must be the bits that a
 * flipped copy gives.  With a stale U, y and dx would be those of the old kernel, far
 * outside the tolerance (the kernel is doubled, then quartered and negated). */
static void test_wino_memo(void)
{
    static const ConvCase c = {2, 16, 9, 8, 24, 3, 1, 1};
    Arena *ar = arena_new((size_t)1 << 24);
    Graph g;
    Rng r;
    ConvShape s = case_shape(&c);
    ConvShape t = conv_shape_make(c.N, c.O, c.H, c.W, c.C, 3, 3, 1, 1); /* dx's conv */
    const size_t nw = (size_t)c.O * c.C * 9;
    Var *x, *w, *b, *y;
    Scalar *ref, *dy, *dx, *dw, *db, *wf, *u1, *u2, *w_at;
    int was = conv_wino_set_enabled(1), round, k;
    size_t i;
    ag_graph_init(&g, ar);
    rng_seed(&r, 24, 0);
    T_OK(conv_wino_use(&s) && conv_wino_use(&t));
    make_conv_leaves(&g, &r, &c, 1, 0, 1, &x, &w, &b);
    y = ag_conv2d(&g, x, w, b, 1, 1); /* first use: noted */
    ag_forward(&g, y);                /* second: U kept */
    ref = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
    conv2d_ref_forward(&s, x->val.data, w->val.data, b->val.data, ref);
    expect_close("memo: U kept", &c, y->val.data, ref, y->val.n, WINO_TOL);
    for (i = 0; i < nw; i++) w->val.data[i] *= 2; /* in place, same address */
    ag_forward(&g, y);
    conv2d_ref_forward(&s, x->val.data, w->val.data, b->val.data, ref);
    expect_close("memo: kernel changed in place", &c, y->val.data, ref, y->val.n, WINO_TOL);
    dy = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
    dx = (Scalar *)arena_calloc(ar, x->val.n * sizeof(Scalar));
    dw = (Scalar *)arena_calloc(ar, nw * sizeof(Scalar));
    db = (Scalar *)arena_calloc(ar, (size_t)c.O * sizeof(Scalar));
    fill_normal(&r, dy, y->val.n, 1.0);
    for (k = 0; k < 2; k++) ag_backward_seed(&g, y, dy); /* the flipped U noted, then kept */
    for (i = 0; i < nw; i++) w->val.data[i] *= -0.25f;
    ag_backward_seed(&g, y, dy); /* x->grad: 2 dx(w) + dx(-w / 4) = 7/4 dx(w) = -7 dx(-w / 4) */
    conv2d_ref_backward(&s, x->val.data, w->val.data, dy, dx, dw, db);
    T_OK(x->grad != NULL);
    if (x->grad) {
        for (i = 0; i < x->val.n; i++) dx[i] *= -7;
        expect_close("memo: dx after the kernel changed", &c, x->grad, dx, x->val.n, WINO_TOL);
    }
    /* the sampler's way: no grad, the arena reset directly between steps; the next step's
     * kernel lies where the last one did, with other values */
    ag_graph_reset(&g);
    ag_set_grad_enabled(&g, 0);
    w_at = NULL;
    for (round = 0; round < 2; round++) {
        if (round) { /* what the last step kept is overwritten (a stale memo would crash) */
            arena_reset(ar);
            memset(arena_block_get(ar, (size_t)1 << 20), 0xab, (size_t)1 << 20);
        }
        make_conv_leaves(&g, &r, &c, 0, 0, 1, &x, &w, &b);
        if (round) T_OK(w->val.data == w_at); /* else this proves nothing */
        w_at = w->val.data;
        for (k = 0; k < 2; k++) y = ag_conv2d(&g, x, w, b, 1, 1); /* round 0: U kept */
        ref = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
        conv2d_ref_forward(&s, x->val.data, w->val.data, b->val.data, ref);
        expect_close("memo: after a direct arena_reset", &c, y->val.data, ref, y->val.n, WINO_TOL);
    }
    /* the flipped U from w itself against U of a flipped copy, bit for bit */
    wf = (Scalar *)arena_alloc(ar, nw * sizeof(Scalar));
    u1 = (Scalar *)arena_alloc(ar, conv_wino_u_len(&t) * sizeof(Scalar));
    u2 = (Scalar *)arena_alloc(ar, conv_wino_u_len(&t) * sizeof(Scalar));
    for (i = 0; i < nw; i++) { /* wf[ci, o, a, bb] = w[o, ci, 2 - a, 2 - bb] */
        size_t o = i / ((size_t)c.C * 9), ci = i / 9 % (size_t)c.C, kk = i % 9;
        wf[(ci * (size_t)c.O + o) * 9 + (8 - kk)] = w->val.data[i];
    }
    conv_wino_u(&t, w->val.data, 1, u1);
    conv_wino_u(&t, wf, 0, u2);
    T_OK(memcmp(u1, u2, conv_wino_u_len(&t) * sizeof(Scalar)) == 0);
    conv_wino_set_enabled(was);
    arena_free(ar);
}

/* conv_wino_dw against conv2d_ref_backward on every shape above, batch 1 to 5 (parts of
 * one or two samples, fewer parts than WINO_DW_PARTS), and on a 14x14 layer at batch 40
 * (parts of 10 samples in chunks of 4, 4 and 2): dw accumulates (it starts from a nonzero
 * value), to WINO_TOL of the gradient's scale. */
static void test_wino_dw_matches_reference(void)
{
    Arena *ar = arena_new((size_t)1 << 24);
    Rng r;
    int i;
    rng_seed(&r, 24, 0);
    for (i = 0; i <= N_WINO_SHAPES; i++) {
        static const int big[4] = {64, 64, 14, 14};
        const int *q = i < N_WINO_SHAPES ? wino_shapes[i] : big;
        ConvShape s =
            conv_shape_make(i < N_WINO_SHAPES ? 1 + i % 5 : 40, q[0], q[2], q[3], q[1], 3, 3, 1, 1);
        size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.O * s.C * 9,
               ny = (size_t)s.N * s.O * s.Ho * s.Wo, k;
        Scalar *x, *dy, *dw, *ref, *db, *dbref;
        double d, e;
        arena_reset(ar);
        x = (Scalar *)arena_alloc(ar, nx * sizeof(Scalar));
        dy = (Scalar *)arena_alloc(ar, ny * sizeof(Scalar));
        dw = (Scalar *)arena_alloc(ar, nw * sizeof(Scalar));
        ref = (Scalar *)arena_alloc(ar, nw * sizeof(Scalar));
        db = (Scalar *)arena_alloc(ar, (size_t)s.O * sizeof(Scalar));
        dbref = (Scalar *)arena_alloc(ar, (size_t)s.O * sizeof(Scalar));
        fill_normal(&r, x, nx, 1.0);
        fill_normal(&r, dy, ny, 1.0);
        fill_normal(&r, dw, nw, 1.0);
        fill_normal(&r, db, (size_t)s.O, 1.0);
        for (k = 0; k < nw; k++) ref[k] = dw[k];
        for (k = 0; k < (size_t)s.O; k++) dbref[k] = db[k];
        conv_wino_dw(ar, &s, x, dy, dw, i % 2 ? db : NULL, NULL); /* db on every other shape */
        conv2d_ref_backward(&s, x, NULL, dy, NULL, ref, i % 2 ? dbref : NULL);
        d = max_scaled_diff(dw, ref, nw);
        e = max_scaled_diff(db, dbref, (size_t)s.O); /* untouched when NULL was passed */
        if (!(d <= WINO_TOL && e <= WINO_TOL))
            t_report(__FILE__, __LINE__,
                     "winograd dW C%d O%d %dx%d: max diff %.3g (dw), %.3g (db) of the gradient "
                     "scale > %.3g",
                     s.C, s.O, s.H, s.W, d, e, WINO_TOL);
    }
    arena_free(ar);
}

/* conv_wino_dw with 1, 2, 3 and 4 threads (4 parts of the batch shared out 4, 2 + 2,
 * 2 + 1 + 1 and 1 each): the same bits, on a 28x28 layer (a sample per chunk, several tile
 * blocks per chunk), a 14x14 one (several samples per chunk, several chunks per part) and
 * one with C 48, O 16 (channels in blocks of half a panel). */
static void test_wino_dw_threads_bit_identical(void)
{
    static const int shapes[3][5] = {
        {6, 32, 28, 28, 48}, {40, 64, 14, 14, 64}, {5, 48, 28, 28, 16}};
    Arena *ar = arena_new((size_t)1 << 25);
    Rng r;
    int keep = plat_threads(), t, i;
    rng_seed(&r, 25, 0);
    for (i = 0; i < 3; i++) {
        const int *q = shapes[i];
        ConvShape s = conv_shape_make(q[0], q[1], q[2], q[3], q[4], 3, 3, 1, 1);
        size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.O * s.C * 9,
               ny = (size_t)s.N * s.O * s.Ho * s.Wo;
        Scalar *x, *dy, *dw1, *dwt;
        arena_reset(ar);
        x = (Scalar *)arena_alloc(ar, nx * sizeof(Scalar));
        dy = (Scalar *)arena_alloc(ar, ny * sizeof(Scalar));
        dw1 = (Scalar *)arena_alloc(ar, (nw + (size_t)s.O) * sizeof(Scalar)); /* dw, db */
        dwt = (Scalar *)arena_alloc(ar, (nw + (size_t)s.O) * sizeof(Scalar));
        fill_normal(&r, x, nx, 1.0);
        fill_normal(&r, dy, ny, 1.0);
        memset(dw1, 0, (nw + (size_t)s.O) * sizeof(Scalar));
        plat_set_threads(1);
        conv_wino_dw(ar, &s, x, dy, dw1, dw1 + nw, NULL);
        for (t = 2; t <= 4; t++) {
            memset(dwt, 0, (nw + (size_t)s.O) * sizeof(Scalar));
            plat_set_threads(t);
            conv_wino_dw(ar, &s, x, dy, dwt, dwt + nw, NULL);
            T_OK(memcmp(dw1, dwt, (nw + (size_t)s.O) * sizeof(Scalar)) == 0);
        }
    }
    plat_set_threads(keep);
    arena_free(ar);
}

/* ---------------------------------------------------------------- upsample2, maxpool2 */

static void test_upsample2_values(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    int s[4] = {1, 2, 2, 3}, i, j, c;
    Var *x, *y;
    Scalar dy[48];
    ag_graph_init(&g, ar);
    x = ag_new(&g, 4, s, 1, "x");
    for (i = 0; i < 12; i++) x->val.data[i] = (Scalar)(i + 1);
    y = ag_upsample2(&g, x);
    T_EQ_INT(y->val.shape[2], 4);
    T_EQ_INT(y->val.shape[3], 6);
    for (c = 0; c < 2; c++)
        for (i = 0; i < 4; i++)
            for (j = 0; j < 6; j++)
                T_OK(y->val.data[(c * 4 + i) * 6 + j] == x->val.data[(c * 2 + i / 2) * 3 + j / 2]);
    for (i = 0; i < 48; i++) dy[i] = (Scalar)i;
    ag_backward_seed(&g, y, dy);
    /* dx[c, i, j] = sum of dy over the 2x2 block at (2i, 2j) */
    for (c = 0; c < 2; c++)
        for (i = 0; i < 2; i++)
            for (j = 0; j < 3; j++) {
                int o = (c * 4 + 2 * i) * 6 + 2 * j;
                T_OK(x->grad[(c * 2 + i) * 3 + j] == dy[o] + dy[o + 1] + dy[o + 6] + dy[o + 7]);
            }
    arena_free(ar);
}

static void test_maxpool2_values(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    int s[4] = {1, 1, 4, 4};
    /* windows: max at bottom-right; a tie (first in row-major wins); max at top-right;
     * all negative with the max at bottom-left */
    static const Scalar xin[16] = {1, 2, 5, 9, 3, 4, 9, 1, 7, 8, -4, -3, 7, 6, -1, -2};
    Var *x, *y;
    Scalar dy[4] = {10, 20, 30, 40};
    static const Scalar want_y[4] = {4, 9, 8, -1};
    static const Scalar want_dx[16] = {0, 0, 0, 20, 0, 10, 0, 0, 0, 30, 0, 0, 0, 0, 40, 0};
    int i;
    ag_graph_init(&g, ar);
    x = ag_new(&g, 4, s, 1, "x");
    memcpy(x->val.data, xin, sizeof xin);
    y = ag_maxpool2(&g, x);
    for (i = 0; i < 4; i++) T_OK(y->val.data[i] == want_y[i]);
    ag_backward_seed(&g, y, dy);
    for (i = 0; i < 16; i++) T_OK(x->grad[i] == want_dx[i]);
    arena_free(ar);
}

/* Ties in every arrangement go to the first max in row-major order: all four equal (a), a
 * tie down the right column (b), down the left column (a), in the lower row (c). */
static void test_maxpool2_ties(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    int s[4] = {1, 1, 4, 4}, i;
    static const Scalar xin[16] = {3, 3, 1, 5, 3, 3, 2, 5, 2, 1, 0, 1, 2, 0, 2, 2};
    static const Scalar want_dx[16] = {1, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 4, 0};
    Scalar dy[4] = {1, 2, 3, 4};
    Var *x, *y;
    ag_graph_init(&g, ar);
    x = ag_new(&g, 4, s, 1, "x");
    memcpy(x->val.data, xin, sizeof xin);
    y = ag_maxpool2(&g, x);
    T_OK(y->val.data[0] == 3 && y->val.data[1] == 5 && y->val.data[2] == 2 && y->val.data[3] == 2);
    ag_backward_seed(&g, y, dy);
    for (i = 0; i < 16; i++) T_OK(x->grad[i] == want_dx[i]);
    arena_free(ar);
}

/* ---------------------------------------------------------------- GroupNorm */

/* Plain double loop: y = gamma (x - mu) / sqrt(var + eps) + beta per (n, group). */
static void groupnorm_ref(const Scalar *x, const Scalar *gamma, const Scalar *beta, int N, int C,
                          int HW, int G, double eps, double *y)
{
    int n, gi, c, i, cpg = C / G;
    for (n = 0; n < N; n++)
        for (gi = 0; gi < G; gi++) {
            double mu = 0, var = 0, D = (double)cpg * HW;
            for (c = gi * cpg; c < (gi + 1) * cpg; c++)
                for (i = 0; i < HW; i++) mu += x[((size_t)n * C + c) * HW + i];
            mu /= D;
            for (c = gi * cpg; c < (gi + 1) * cpg; c++)
                for (i = 0; i < HW; i++) {
                    double d = x[((size_t)n * C + c) * HW + i] - mu;
                    var += d * d;
                }
            var /= D;
            for (c = gi * cpg; c < (gi + 1) * cpg; c++)
                for (i = 0; i < HW; i++) {
                    size_t k = ((size_t)n * C + c) * HW + i;
                    y[k] = (gamma ? gamma[c] : 1.0) * (x[k] - mu) / sqrt(var + eps) +
                           (beta ? beta[c] : 0.0);
                }
        }
}

static void test_groupnorm_forward_matches_double_loop(void)
{
    static const int cases[][6] = {/* ndim, N, C, H, W, G */
                                   {4, 2, 8, 5, 5, 4},
                                   {4, 3, 6, 4, 3, 6},
                                   {4, 2, 32, 7, 7, 8},
                                   {4, 1, 4, 2, 2, 1},
                                   {2, 5, 6, 1, 1, 3}};
    Arena *ar = arena_new((size_t)1 << 22);
    Graph g;
    Rng r;
    int i, affine;
    ag_graph_init(&g, ar);
    rng_seed(&r, 15, 0);
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        for (affine = 0; affine < 2; affine++) {
            const int *q = cases[i];
            int xs[4], cs[1], HW = q[3] * q[4];
            Var *x, *gm = NULL, *bt = NULL, *y;
            double *ref, worst = 0;
            size_t j;
            xs[0] = q[1];
            xs[1] = q[2];
            xs[2] = q[3];
            xs[3] = q[4];
            cs[0] = q[2];
            ag_graph_reset(&g);
            x = ag_new(&g, q[0], xs, 1, "x");
            /* an offset and a spread per element, as real activations have */
            for (j = 0; j < x->val.n; j++) x->val.data[j] = (Scalar)(3.0 + 2.0 * rng_normal(&r));
            if (affine) {
                gm = ag_new(&g, 1, cs, 1, "gamma");
                bt = ag_new(&g, 1, cs, 1, "beta");
                fill_normal(&r, gm->val.data, gm->val.n, 1.0);
                fill_normal(&r, bt->val.data, bt->val.n, 1.0);
            }
            y = ag_groupnorm(&g, x, gm, bt, q[5], (Scalar)1e-5);
            ref = (double *)arena_alloc(ar, x->val.n * sizeof(double));
            groupnorm_ref(x->val.data, gm ? gm->val.data : NULL, bt ? bt->val.data : NULL, q[1],
                          q[2], HW, q[5], 1e-5, ref);
            for (j = 0; j < x->val.n; j++) {
                double d = fabs((double)y->val.data[j] - ref[j]);
                if (d > worst) worst = d;
            }
            if (!(worst < 2e-6))
                t_report(__FILE__, __LINE__, "groupnorm case %d affine %d: max diff %.3g", i,
                         affine, worst);
        }
    arena_free(ar);
}

/* Without affine, dx of each group is orthogonal to 1 and to xhat (the VJP projects
 * them out), and backward twice doubles every gradient exactly. */
static void test_groupnorm_backward_properties(void)
{
    Arena *ar = arena_new((size_t)1 << 22);
    Graph g;
    Rng r;
    int xs[4] = {2, 6, 4, 4}, cs[1] = {6}, n, gi, k;
    Var *x, *gm, *bt, *y, *y2, *leaves[3];
    Scalar *dy, *first[3];
    size_t j;
    ag_graph_init(&g, ar);
    rng_seed(&r, 16, 0);
    x = ag_new(&g, 4, xs, 1, "x");
    fill_normal(&r, x->val.data, x->val.n, 1.0);
    y = ag_groupnorm(&g, x, NULL, NULL, 3, (Scalar)1e-5);
    dy = (Scalar *)arena_alloc(ar, y->val.n * sizeof(Scalar));
    fill_normal(&r, dy, y->val.n, 1.0);
    ag_backward_seed(&g, y, dy);
    for (n = 0; n < 2; n++)
        for (gi = 0; gi < 3; gi++) {
            double s1 = 0, s2 = 0;
            size_t off = ((size_t)n * 6 + 2 * gi) * 16;
            for (j = off; j < off + 32; j++) {
                s1 += x->grad[j];
                s2 += x->grad[j] * y->val.data[j];
            }
            T_NEAR(s1, 0.0, 1e-4);
            T_NEAR(s2, 0.0, 1e-4);
        }
    /* accumulation, affine */
    ag_graph_reset(&g);
    x = ag_new(&g, 4, xs, 1, "x");
    gm = ag_new(&g, 1, cs, 1, "gamma");
    bt = ag_new(&g, 1, cs, 1, "beta");
    fill_normal(&r, x->val.data, x->val.n, 1.0);
    fill_normal(&r, gm->val.data, 6, 1.0);
    fill_normal(&r, bt->val.data, 6, 1.0);
    y2 = ag_groupnorm(&g, x, gm, bt, 2, (Scalar)1e-5);
    dy = (Scalar *)arena_alloc(ar, y2->val.n * sizeof(Scalar));
    fill_normal(&r, dy, y2->val.n, 1.0);
    ag_backward_seed(&g, y2, dy);
    leaves[0] = x;
    leaves[1] = gm;
    leaves[2] = bt;
    for (k = 0; k < 3; k++) {
        first[k] = (Scalar *)arena_alloc(ar, leaves[k]->val.n * sizeof(Scalar));
        memcpy(first[k], leaves[k]->grad, leaves[k]->val.n * sizeof(Scalar));
    }
    ag_backward_seed(&g, y2, dy);
    for (k = 0; k < 3; k++)
        for (j = 0; j < leaves[k]->val.n; j++) T_OK(leaves[k]->grad[j] == 2 * first[k][j]);
    arena_free(ar);
}

/* ---------------------------------------------------------------- threads */

/* Forward values and input gradients of conv2d (im2col, 1x1 and, C = 3, direct dW paths; a
 * stride-2 conv whose dx goes in runs of samples, its own root), GroupNorm, upsample2 and
 * maxpool2 on sizes above the parallel threshold, with n threads. */
static void run_image_ops(int threads, Scalar **vals, size_t *count)
{
    static const ConvCase big = {4, 16, 32, 32, 16, 3, 1, 1}, big1 = {4, 16, 32, 32, 16, 1, 1, 0},
                          big3 = {4, 3, 32, 32, 16, 3, 1, 1}, big2 = {7, 32, 28, 28, 8, 3, 2, 1};
    Arena *ar = arena_new((size_t)1 << 24);
    Graph g;
    Rng r;
    Var *x, *w, *b, *x1, *w1, *b1, *x3, *w3, *b3, *y, *y1, *y3, *gn, *up, *mp, *gm, *bt;
    Var *x2, *w2, *b2, *y2;
    Var *outs[7], *ins[14];
    Scalar *seed;
    int cs[1] = {16}, k;
    size_t n = 0, j;
    plat_set_threads(threads);
    ag_graph_init(&g, ar);
    rng_seed(&r, 17, 0);
    make_conv_leaves(&g, &r, &big, 1, 1, 1, &x, &w, &b);
    make_conv_leaves(&g, &r, &big1, 1, 1, 1, &x1, &w1, &b1);
    make_conv_leaves(&g, &r, &big3, 1, 1, 1, &x3, &w3, &b3);
    make_conv_leaves(&g, &r, &big2, 1, 1, 1, &x2, &w2, &b2);
    gm = ag_new(&g, 1, cs, 1, "gamma");
    bt = ag_new(&g, 1, cs, 1, "beta");
    fill_normal(&r, gm->val.data, 16, 1.0);
    fill_normal(&r, bt->val.data, 16, 1.0);
    y = ag_conv2d(&g, x, w, b, big.stride, big.pad);
    y1 = ag_conv2d(&g, x1, w1, b1, 1, 0);
    y3 = ag_conv2d(&g, x3, w3, b3, 1, 1);
    gn = ag_groupnorm(&g, ag_add(&g, ag_add(&g, y, y1), y3), gm, bt, 4, (Scalar)1e-5);
    up = ag_upsample2(&g, gn);
    mp = ag_maxpool2(&g, up);
    /* root: mp; seed it and walk back through everything */
    seed = (Scalar *)arena_alloc(ar, mp->val.n * sizeof(Scalar));
    fill_normal(&r, seed, mp->val.n, 1.0);
    ag_backward_seed(&g, mp, seed);
    y2 = ag_conv2d(&g, x2, w2, b2, big2.stride, big2.pad);
    seed = (Scalar *)arena_alloc(ar, y2->val.n * sizeof(Scalar));
    fill_normal(&r, seed, y2->val.n, 1.0);
    ag_backward_seed(&g, y2, seed);
    outs[0] = y;
    outs[1] = y1;
    outs[2] = gn;
    outs[3] = up;
    outs[4] = mp;
    outs[5] = y3;
    outs[6] = y2;
    ins[0] = x;
    ins[1] = w;
    ins[2] = b;
    ins[3] = x1;
    ins[4] = w1;
    ins[5] = b1;
    ins[6] = gm;
    ins[7] = bt;
    ins[8] = x3;
    ins[9] = w3;
    ins[10] = b3;
    ins[11] = x2;
    ins[12] = w2;
    ins[13] = b2;
    for (k = 0; k < 7; k++) n += outs[k]->val.n;
    for (k = 0; k < 14; k++) n += ins[k]->val.n;
    *vals = (Scalar *)xmalloc(n * sizeof(Scalar));
    n = 0;
    for (k = 0; k < 7; k++)
        for (j = 0; j < outs[k]->val.n; j++) (*vals)[n++] = outs[k]->val.data[j];
    for (k = 0; k < 14; k++)
        for (j = 0; j < ins[k]->val.n; j++) (*vals)[n++] = ins[k]->grad[j];
    *count = n;
    arena_free(ar);
}

static void test_threads_bit_identical(void)
{
    int keep = plat_threads();
    Scalar *one, *two;
    size_t n1, n2;
    run_image_ops(1, &one, &n1);
    run_image_ops(2, &two, &n2);
    plat_set_threads(keep);
    T_OK(n1 == n2);
    if (n1 == n2) T_OK(memcmp(one, two, n1 * sizeof(Scalar)) == 0);
    free(one);
    free(two);
}

const TestCase conv_tests[] = {
    {"conv_forward_matches_reference", test_conv_forward_matches_reference},
    {"conv_backward_matches_reference", test_conv_backward_matches_reference},
    {"conv_backward_twice_doubles", test_conv_backward_twice_doubles},
    {"conv_frozen", test_conv_frozen},
    {"conv_add_bits", test_conv_add_bits},
    {"wino_matches_reference", test_wino_matches_reference},
    {"wino_dispatch_and_switch", test_wino_dispatch_and_switch},
    {"wino_threads_bit_identical", test_wino_threads_bit_identical},
    {"wino_memo", test_wino_memo},
    {"wino_dw_matches_reference", test_wino_dw_matches_reference},
    {"wino_dw_threads_bit_identical", test_wino_dw_threads_bit_identical},
    {"upsample2_values", test_upsample2_values},
    {"maxpool2_values", test_maxpool2_values},
    {"maxpool2_ties", test_maxpool2_ties},
    {"groupnorm_forward_matches_double_loop", test_groupnorm_forward_matches_double_loop},
    {"groupnorm_backward_properties", test_groupnorm_backward_properties},
    {"threads_bit_identical", test_threads_bit_identical},
    {"small_o_threads_bit_identical", test_small_o_threads_bit_identical},
    {"small_o3_close", test_conv_small_o3_close},
    {"conv_chunks_same_bits", test_conv_chunks_same_bits},
    {"conv_small_c_same_bits", test_conv_small_c_same_bits},
    {NULL, NULL},
};
