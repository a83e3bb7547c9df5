/* test_fused.c - fused ops against their composition from primitives (values and
 * gradients), and a whole network's bits with 1 and 2 threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/gradcheck.h"
#include "../autograd/ops.h"
#include "../autograd/ops_internal.h"
#include "../nn/unet.h"
#include "../tensor/platform.h"
#include "harness.h"

static double tol_for(void) { return sizeof(Scalar) == sizeof(double) ? 1e-12 : 2e-5; }

static void test_softmax_ce_vs_composition(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int s[2] = {5, 7}, labels[5] = {0, 6, 3, 3, 1}, n, j;
    Var *z, *fused, *oh, *comp;
    Scalar dfused[35], rseed[5];
    ag_graph_init(&g, ar);
    rng_seed(&r, 11, 0);
    z = gc_normal(&g, &r, 2, s, 2.0, 0, 1, "z");
    for (n = 0; n < 5; n++) rseed[n] = (Scalar)rng_normal(&r);
    fused = ag_softmax_ce(&g, z, labels);
    ag_backward_seed(&g, fused, rseed);
    memcpy(dfused, z->grad, sizeof dfused);
    ag_zero_grad(z);
    /* -sum_c onehot[n, c] log softmax(z)[n, c] */
    oh = ag_zeros(&g, 2, s, 0, "onehot");
    for (n = 0; n < 5; n++) oh->val.data[n * 7 + labels[n]] = 1;
    comp = ag_scale(&g, ag_sum_sample(&g, ag_mul(&g, ag_log(&g, ag_softmax(&g, z)), oh)), -1);
    for (n = 0; n < 5; n++) T_NEAR(fused->val.data[n], comp->val.data[n], tol_for());
    ag_backward_seed(&g, comp, rseed);
    for (j = 0; j < 35; j++) T_NEAR(dfused[j], z->grad[j], tol_for());
    arena_free(ar);
}

static void test_groupnorm_vs_composition(void)
{
    Arena *ar = arena_new(1 << 22);
    Graph g;
    Rng r;
    const int N = 2, C = 6, H = 3, W = 4, G = 3, M = (C / G) * H * W;
    int xs[4] = {2, 6, 3, 4}, cs[1] = {6}, rows[2] = {N * G, M}, col[2] = {N * G, 1},
        cb[4] = {1, 6, 1, 1};
    Var *x, *gam, *bet, *fused, *xr, *mu, *xc, *var, *rstd, *y;
    Scalar *rseed, dx[144], dg[6], db[6];
    size_t i;
    ag_graph_init(&g, ar);
    rng_seed(&r, 12, 0);
    x = gc_normal(&g, &r, 4, xs, 1.0, 0, 1, "x");
    gam = gc_normal(&g, &r, 1, cs, 1.0, 0, 1, "gamma");
    bet = gc_normal(&g, &r, 1, cs, 1.0, 0, 1, "beta");
    rseed = (Scalar *)arena_alloc(ar, sizeof(Scalar) * 144);
    for (i = 0; i < 144; i++) rseed[i] = (Scalar)rng_normal(&r);
    fused = ag_groupnorm(&g, x, gam, bet, G, (Scalar)1e-5);
    ag_backward_seed(&g, fused, rseed);
    memcpy(dx, x->grad, sizeof dx);
    memcpy(dg, gam->grad, sizeof dg);
    memcpy(db, bet->grad, sizeof db);
    ag_zero_grad(x);
    ag_zero_grad(gam);
    ag_zero_grad(bet);
    /* rows of one group: mean, centre, biased variance, 1/sqrt(var + eps) = exp(-log(.)/2) */
    xr = ag_reshape(&g, x, 2, rows);
    mu = ag_reshape(&g, ag_scale(&g, ag_sum_sample(&g, xr), (Scalar)(1.0 / M)), 2, col);
    xc = ag_sub(&g, xr, mu);
    var = ag_scale(&g, ag_sum_sample(&g, ag_mul(&g, xc, xc)), (Scalar)(1.0 / M));
    rstd = ag_exp(&g, ag_scale(&g, ag_log(&g, ag_affine(&g, var, 1, (Scalar)1e-5)), -0.5));
    y = ag_reshape(&g, ag_mul(&g, xc, ag_reshape(&g, rstd, 2, col)), 4, xs);
    y = ag_add(&g, ag_mul(&g, y, ag_reshape(&g, gam, 4, cb)), ag_reshape(&g, bet, 4, cb));
    for (i = 0; i < 144; i++) T_NEAR(fused->val.data[i], y->val.data[i], tol_for());
    ag_backward_seed(&g, y, rseed);
    for (i = 0; i < 144; i++) T_NEAR(dx[i], x->grad[i], 10 * tol_for());
    for (i = 0; i < 6; i++) {
        T_NEAR(dg[i], gam->grad[i], 10 * tol_for());
        T_NEAR(db[i], bet->grad[i], 10 * tol_for());
    }
    arena_free(ar);
}

/* gn_silu must give the bits of silu(groupnorm): values and every gradient, with and
 * without the affine parameters, with the output read on by a later backward (times a
 * trainable w: the VJPs then take the sigmoid as y / n) and not, and backward twice
 * doubles them. */
static void test_gn_silu_vs_composition(void)
{
    int mode;
    for (mode = 0; mode < 4; mode++) {
        const int affine = mode & 1, read = mode >> 1;
        Arena *ar = arena_new(1 << 22);
        Graph g;
        Rng r;
        int xs[4] = {2, 6, 3, 4}, cs[1] = {6};
        Var *x, *w, *gam = NULL, *bet = NULL, *fused, *comp;
        Scalar *rseed, y[144], dx[144], dg[6], db[6];
        size_t i;
        ag_graph_init(&g, ar);
        rng_seed(&r, 13, 0);
        x = gc_normal(&g, &r, 4, xs, 1.0, 0, 1, "x");
        if (affine) {
            gam = gc_normal(&g, &r, 1, cs, 1.0, 0, 1, "gamma");
            bet = gc_normal(&g, &r, 1, cs, 1.0, 0, 1, "beta");
        }
        w = gc_normal(&g, &r, 4, xs, 1.0, 0, 1, "w");
        rseed = (Scalar *)arena_alloc(ar, sizeof(Scalar) * 144);
        for (i = 0; i < 144; i++) rseed[i] = (Scalar)rng_normal(&r);
        fused = ag_groupnorm_silu(&g, x, gam, bet, 3, (Scalar)1e-5);
        memcpy(y, fused->val.data, sizeof y);
        if (read) fused = ag_mul(&g, fused, w);
        ag_backward_seed(&g, fused, rseed);
        memcpy(dx, x->grad, sizeof dx);
        if (affine) {
            memcpy(dg, gam->grad, sizeof dg);
            memcpy(db, bet->grad, sizeof db);
            ag_zero_grad(gam);
            ag_zero_grad(bet);
        }
        ag_zero_grad(x);
        comp = ag_silu(&g, ag_groupnorm(&g, x, gam, bet, 3, (Scalar)1e-5));
        T_OK(memcmp(y, comp->val.data, sizeof y) == 0);
        if (read) comp = ag_mul(&g, comp, w);
        ag_backward_seed(&g, comp, rseed);
        T_OK(memcmp(dx, x->grad, sizeof dx) == 0);
        if (affine) {
            T_OK(memcmp(dg, gam->grad, sizeof dg) == 0);
            T_OK(memcmp(db, bet->grad, sizeof db) == 0);
        }
        ag_backward_seed(&g, fused, rseed);
        for (i = 0; i < 144; i++) T_OK(x->grad[i] == 2 * dx[i]);
        arena_free(ar);
    }
}

/* unet-s forward + backward at batch 3; returns a malloc'd copy of [score | dx | dparams]. */
static Scalar *unet_run(UNet *net, int threads)
{
    Arena *ar = arena_new((size_t)64 << 20);
    Graph g;
    Rng r;
    int xs[4] = {3, 1, 28, 28};
    Scalar t[3] = {(Scalar)0.9, (Scalar)0.3, (Scalar)0.02};
    size_t n = 3 * 784, i;
    Scalar *out = (Scalar *)malloc(sizeof(Scalar) * (2 * n + net->params.total));
    Var *x, *y, *loss;
    int keep = plat_threads();
    plat_set_threads(threads);
    ag_graph_init(&g, ar);
    rng_seed(&r, 5, 0);
    x = gc_normal(&g, &r, 4, xs, 1.0, 0, 1, "x");
    params_zero_grad(&net->params);
    y = unet_forward(&g, net, x, t, NULL);
    loss = ag_sum(&g, ag_mul(&g, y, y));
    ag_backward(&g, loss);
    memcpy(out, y->val.data, n * sizeof(Scalar));
    memcpy(out + n, x->grad, n * sizeof(Scalar));
    for (i = 0; i < net->params.total; i++) out[2 * n + i] = net->params.grad[i];
    plat_set_threads(keep);
    arena_free(ar);
    return out;
}

static void test_unet_threads_bit_identical(void)
{
    UNet net;
    UNetConfig cfg = unet_s_config(0);
    Rng r;
    Scalar *a, *b;
    size_t i;
    unet_build(&net, &cfg);
    rng_seed(&r, 9, 0);
    params_initialise(&net.params, &r);
    /* zero-initialised layers would hide paths: give every weight a value */
    for (i = 0; i < net.params.total; i++)
        if (net.params.data[i] == 0) net.params.data[i] = (Scalar)(0.01 * rng_normal(&r));
    a = unet_run(&net, 1);
    b = unet_run(&net, 2);
    T_OK(memcmp(a, b, sizeof(Scalar) * (2 * 3 * 784 + net.params.total)) == 0);
    free(a);
    free(b);
    unet_free(&net);
}

/* The exp SiLU uses (elem_exp: a polynomial in the float build) against libm in double:
 * within 4 float ulps over the range where e^x is a normal float, NaN stays NaN. */
static void test_exp_poly_matches_libm(void)
{
    enum { NX = 175001 };
    Scalar *x = (Scalar *)malloc(sizeof(Scalar) * NX), *y = (Scalar *)malloc(sizeof(Scalar) * NX);
    double worst = 0, tol = sizeof(Scalar) == 4 ? 4 * 1.1920929e-7 : 1e-15;
    Scalar nan_in, nan_out;
    int i;
    for (i = 0; i < NX; i++) x[i] = (Scalar)(-87.0 + 175.0 * i / (NX - 1));
    elem_exp(x, y, NX);
    for (i = 0; i < NX; i++) {
        double ref = exp((double)x[i]), rel = fabs((double)y[i] - ref) / ref;
        if (rel > worst) worst = rel;
    }
    T_OK(worst <= tol);
    if (worst > tol)
        fprintf(stderr, "exp_poly: worst relative error %.3g (tol %.3g)\n", worst, tol);
    nan_in = (Scalar)NAN;
    elem_exp(&nan_in, &nan_out, 1);
    T_OK(nan_out != nan_out);
    free(x);
    free(y);
}

/* The blocked SiLU and sigmoid (elem_silu, elem_sigmoid) against the one-line loops they
 * stand for, bit for bit: full blocks, a tail, lengths below one block, in place, and the
 * clamped ends of the exp (|x| past 88) and NaN. */
static void test_silu_blocked_same_bits(void)
{
    enum { NX = 3 * ELEM_BLOCK + 7 };
    static const size_t lens[] = {0, 1, ELEM_BLOCK - 1, ELEM_BLOCK, ELEM_BLOCK + 1, NX};
    Scalar x[NX], y[NX], s[NX], in[NX];
    size_t li, i;
    int bad = 0;
    for (i = 0; i < NX; i++) x[i] = (Scalar)(-12.0 + 24.0 * (double)((i * 37) % NX) / NX);
    x[3] = (Scalar)-100;
    x[40] = (Scalar)95;
    x[77] = (Scalar)NAN;
    for (li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const size_t n = lens[li];
        memcpy(in, x, sizeof x);
        elem_silu(x, y, n);
        elem_sigmoid(x, s, n);
        elem_silu(in, in, n); /* in place */
        for (i = 0; i < n; i++) {
            const Scalar ys = x[i] / ((Scalar)1 + elem_exp_poly(-x[i]));
            const Scalar ss = (Scalar)1 / ((Scalar)1 + elem_exp_poly(-x[i]));
            if (x[i] != x[i]) { /* NaN stays NaN */
                bad += y[i] == y[i] || s[i] == s[i] || in[i] == in[i];
                continue;
            }
            bad += memcmp(&y[i], &ys, sizeof ys) != 0 || memcmp(&s[i], &ss, sizeof ss) != 0 ||
                   memcmp(&in[i], &ys, sizeof ys) != 0;
        }
    }
    T_OK(bad == 0);
}

const TestCase fused_tests[] = {
    {"silu_blocked_same_bits", test_silu_blocked_same_bits},
    {"gn_silu_vs_composition", test_gn_silu_vs_composition},
    {"exp_poly_matches_libm", test_exp_poly_matches_libm},
    {"softmax_ce_vs_composition", test_softmax_ce_vs_composition},
    {"groupnorm_vs_composition", test_groupnorm_vs_composition},
    {"unet_threads_bit_identical", test_unet_threads_bit_identical},
    {NULL, NULL},
};
