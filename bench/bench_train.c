/* bench_train.c - the unet-s training step, the sampler step and every distinct unet-s
 * conv layer, timed with 1 and 2 threads.
 *
 *   train_bN   one training step at batch N, exactly as `cmad train-score` runs it:
 *              graph reset, zero grad, DSM loss forward (sde_dsm_loss), backward,
 *              global-norm clip, Adam, EMA.  Rate in images per second.
 *   sample_b64 one score evaluation of the sampler (sde_score, no grad, batch 64), as
 *              sde_sample does per Euler-Maruyama step.  Rate in images per second.
 *   mlp_b128, cnn_b128  one classifier training step at batch 128, as `cmad
 *              train-classifier` runs it: graph reset, zero grad, forward, mean softmax
 *              cross-entropy, backward, gradient norm (its clip is off by default), Adam,
 *              EMA.  Rate in images per second.
 *   conv_*     conv2d forward (y = conv(x, w) + b) and backward (dx, dw, db) at batch 64
 *              (--conv-batch N: at N, the names then ending in _bN)
 *              for each distinct conv shape of unet-s, found by walking the tape of one
 *              forward pass, on the gemm path (the Winograd switch off).  FLOPs: forward
 *              2 N O Ho Wo C kh kw, backward twice that (direct-conv FLOPs, also for:)
 *   conv_*_wino the same layer on the Winograd path (conv_wino.h), for the shapes where
 *              conv2d uses it: its forward and its dx (a forward of the transposed conv
 *              when that one qualifies too); dW stays on the gemm path.
 *
 * Inputs are synthetic (x ~ U(-1, 1)): the step's cost does not depend on the pixels.  The
 * training-step result (loss, gradient norm) with 2 threads must equal the 1-thread one bit
 * for bit; a difference fails the section.  Run this section alone with
 * `build-native/bench train`, only the two steps with `build-native/bench step`, only the
 * conv layers with `build-native/bench conv`.  The steps run with the Winograd switch as the
 * environment sets it (CMAD_WINOGRAD=0: off). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/conv_ref.h"
#include "../autograd/conv_wino.h"
#include "../autograd/ops.h"
#include "../nn/classifier.h"
#include "../nn/optim.h"
#include "../nn/unet.h"
#include "../sde/sde.h"
#include "../tensor/platform.h"
#include "bench.h"

#define MAX_REPS 64
#define MAX_CONVS 32

static const int thread_counts[] = {1, 2};
#define N_THREAD_COUNTS ((int)(sizeof thread_counts / sizeof thread_counts[0]))

/* One training step; returns loss and sets *norm (the pre-clip gradient norm). */
static double train_step(Graph *g, UNet *net, const Sde *sde, Adam *opt, Var **xv_out, Scalar *x,
                         int N, Rng *rng, double *norm)
{
    int shape[4] = {0, 1, 28, 28};
    Var *xv, *loss;
    double l;
    shape[0] = N;
    ag_graph_reset(g);
    params_zero_grad(&net->params);
    xv = ag_leaf(g, x, NULL, 0, 4, shape, "x0");
    loss = sde_dsm_loss(g, sde, net, xv, NULL, rng, 0);
    ag_backward(g, loss);
    l = (double)loss->val.data[0];
    *norm = params_clip_grad(&net->params, 1.0);
    adam_step(opt, &net->params);
    params_ema_update(&net->params, 0.999);
    if (xv_out) *xv_out = xv;
    return l;
}

static void fill_uniform(Rng *r, Scalar *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) x[i] = (Scalar)(2 * rng_uniform(r) - 1);
}

static BenchResult *report(BenchReport *rep, const char *name, const char *params, double *t,
                           int reps, double per_run, const char *unit)
{
    return bench_timed(rep, "train", name, params, t, reps, per_run, unit);
}

static void print_row(const BenchResult *r)
{
    printf("%-22s %-34s %4d %10.2f %10.2f %10.1f %-8s %5s\n", r->name, r->params, r->threads,
           r->ms_median, r->ms_min, r->rate, r->rate_unit,
           r->same_bits < 0 ? "-"
           : r->same_bits   ? "same"
                            : "DIFF");
    fflush(stdout);
}

/* ---------------------------------------------------------------- training step */

static int bench_train_steps(BenchReport *rep, int N)
{
    UNetConfig cfg = unet_s_config(0);
    Sde sde = sde_vp();
    Arena *arena = arena_new((size_t)256 << 20);
    Scalar *x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)N * 784);
    double first_loss = 0, first_norm = 0;
    int ti, failed = 0;
    char name[32], params[96];
    for (ti = 0; ti < N_THREAD_COUNTS; ti++) {
        UNet net;
        Adam opt = adam_default(1e-3);
        Graph g;
        Rng init, rng;
        double t[MAX_REPS], loss = 0, norm = 0;
        int k, reps = rep->reps < MAX_REPS ? rep->reps : MAX_REPS;
        size_t chunks;
        if (N > 64 && reps > 5) reps = 5; /* the batch-128 step is slow: 5 repeats */
        BenchResult *res;
        if (rep->only_threads && rep->only_threads != thread_counts[ti]) continue;
        plat_set_threads(thread_counts[ti]);
        unet_build(&net, &cfg);
        rng_seed(&init, 1, 0);
        params_initialise(&net.params, &init);
        fill_uniform(&init, x, (size_t)N * 784);
        rng_seed(&rng, 1, 1);
        ag_graph_init(&g, arena);
        /* warm-up; its loss and norm are the checked result (same seeds for each count) */
        loss = train_step(&g, &net, &sde, &opt, NULL, x, N, &rng, &norm);
        chunks = arena_chunk_count(arena);
        for (k = 0; k < reps; k++) {
            double t0 = plat_now(), nm;
            train_step(&g, &net, &sde, &opt, NULL, x, N, &rng, &nm);
            t[k] = plat_now() - t0;
        }
        snprintf(name, sizeof name, "train_b%d", N);
        snprintf(params, sizeof params, "unet-s DSM fwd+bwd+clip+Adam+EMA N=%d", N);
        res = report(rep, name, params, t, reps, (double)N, "img/s");
        if (res) {
            if (ti == 0) {
                first_loss = loss;
                first_norm = norm;
            } else if (first_norm != 0) { /* the 1-thread run took place */
                res->same_bits = loss == first_loss && norm == first_norm;
                if (!res->same_bits) {
                    fprintf(stderr,
                            "bench train: %s: %d threads give loss %.9g norm %.9g, "
                            "1 thread %.9g %.9g\n",
                            name, res->threads, loss, norm, first_loss, first_norm);
                    failed = 1;
                }
            }
            print_row(res);
        }
        if (arena_chunk_count(arena) != chunks)
            fprintf(stderr,
                    "bench train: %s: the arena grew from %lu to %lu chunks after "
                    "the warm-up\n",
                    name, (unsigned long)chunks, (unsigned long)arena_chunk_count(arena));
        if (ti == 0)
            printf("%-22s arena high-water %.1f MB, %lu chunk(s)\n", "",
                   (double)arena_high_water(arena) / 1048576.0,
                   (unsigned long)arena_chunk_count(arena));
        unet_free(&net);
    }
    free(x);
    arena_free(arena);
    return failed;
}

/* ---------------------------------------------------------------- classifier step */

/* One train-classifier step at batch N; returns the loss, sets *norm. */
static double cls_train_step(Graph *g, Classifier *c, Adam *opt, Scalar *x, const int *labels,
                             int N, double *norm)
{
    int shape[4] = {0, 1, 28, 28};
    Var *loss;
    double l;
    shape[0] = N;
    ag_graph_reset(g);
    params_zero_grad(&c->params);
    loss = ag_mean(
        g, ag_softmax_ce(g, classifier_forward(g, c, ag_leaf(g, x, NULL, 0, 4, shape, "x"), NULL),
                         labels));
    ag_backward(g, loss);
    l = (double)loss->val.data[0];
    *norm = params_clip_grad(&c->params, 0);
    adam_step(opt, &c->params);
    params_ema_update(&c->params, 0.999);
    return l;
}

static int bench_cls_steps(BenchReport *rep, ClassifierArch arch)
{
    const int N = 128;
    Arena *arena = arena_new((size_t)64 << 20);
    Scalar *x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)N * 784);
    int labels[128], ti, i, failed = 0;
    double first_loss = 0, first_norm = 0;
    char name[32], params[96];
    for (i = 0; i < N; i++) labels[i] = i % 10;
    snprintf(name, sizeof name, "%s_b%d", arch == ARCH_MLP ? "mlp" : "cnn", N);
    snprintf(params, sizeof params, "%s CE fwd+bwd+Adam+EMA N=%d", classifier_name(arch), N);
    for (ti = 0; ti < N_THREAD_COUNTS; ti++) {
        Classifier c;
        Adam opt = adam_default(1e-3);
        Graph g;
        Rng init;
        double t[MAX_REPS], loss, norm, nm;
        int k, reps = rep->reps < MAX_REPS ? rep->reps : MAX_REPS;
        BenchResult *res;
        if (rep->only_threads && rep->only_threads != thread_counts[ti]) continue;
        plat_set_threads(thread_counts[ti]);
        classifier_build(&c, arch);
        rng_seed(&init, 1, 0);
        params_initialise(&c.params, &init);
        for (i = 0; i < N * 784; i++) x[i] = (Scalar)rng_uniform(&init);
        ag_graph_init(&g, arena);
        loss = cls_train_step(&g, &c, &opt, x, labels, N, &norm); /* warm-up, the checked result */
        for (k = 0; k < reps; k++) {
            double t0 = plat_now();
            cls_train_step(&g, &c, &opt, x, labels, N, &nm);
            t[k] = plat_now() - t0;
        }
        res = report(rep, name, params, t, reps, (double)N, "img/s");
        if (res) {
            if (ti == 0) {
                first_loss = loss;
                first_norm = norm;
            } else if (first_norm != 0) {
                res->same_bits = loss == first_loss && norm == first_norm;
                if (!res->same_bits) {
                    fprintf(stderr, "bench train: %s: %d threads differ from 1 thread\n", name,
                            res->threads);
                    failed = 1;
                }
            }
            print_row(res);
        }
        classifier_free(&c);
    }
    free(x);
    arena_free(arena);
    return failed;
}

/* ---------------------------------------------------------------- sampler step */

static void bench_sample_step(BenchReport *rep)
{
    const int N = 64;
    UNetConfig cfg = unet_s_config(0);
    Sde sde = sde_vp();
    UNet net;
    Arena *arena = arena_new((size_t)64 << 20);
    Scalar *x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)N * 784);
    Scalar tt[64];
    Rng init;
    Graph g;
    int ti, i, shape[4] = {64, 1, 28, 28};
    unet_build(&net, &cfg);
    rng_seed(&init, 1, 0);
    params_initialise(&net.params, &init);
    fill_uniform(&init, x, (size_t)N * 784);
    for (i = 0; i < N; i++) tt[i] = (Scalar)0.5;
    ag_graph_init(&g, arena);
    ag_set_grad_enabled(&g, 0);
    for (ti = 0; ti < N_THREAD_COUNTS; ti++) {
        double t[MAX_REPS];
        int k, reps = rep->reps < MAX_REPS ? rep->reps : MAX_REPS;
        BenchResult *res;
        if (rep->only_threads && rep->only_threads != thread_counts[ti]) continue;
        plat_set_threads(thread_counts[ti]);
        for (k = -1; k < reps; k++) { /* k = -1: warm-up */
            double t0 = plat_now();
            arena_reset(arena);
            sde_score(&g, &sde, &net, ag_leaf(&g, x, NULL, 0, 4, shape, "x"), tt, NULL);
            if (k >= 0) t[k] = plat_now() - t0;
        }
        res = report(rep, "sample_b64", "unet-s score, no grad, N=64", t, reps, (double)N, "img/s");
        if (res) print_row(res);
    }
    unet_free(&net);
    free(x);
    arena_free(arena);
}

/* ---------------------------------------------------------------- conv layers */

typedef struct ConvCase {
    int C, H, O, k, stride, pad;
} ConvCase;

/* Distinct conv shapes of unet-s (batch-independent), from the tape of a batch-1 forward. */
static int unet_conv_cases(ConvCase *cc, int max)
{
    UNetConfig cfg = unet_s_config(0);
    UNet net;
    Arena *arena = arena_new((size_t)16 << 20);
    Graph g;
    Scalar x[784], t = (Scalar)0.5;
    int shape[4] = {1, 1, 28, 28}, n = 0, i;
    Var *v;
    unet_build(&net, &cfg);
    memset(x, 0, sizeof x);
    ag_graph_init(&g, arena);
    unet_forward(&g, &net, ag_leaf(&g, x, NULL, 0, 4, shape, "x"), &t, NULL);
    for (v = g.tail; v; v = v->prev) { /* newest first: reversed below */
        ConvCase c;
        if (v->op != OP_CONV2D) continue;
        c.C = v->in[0]->val.shape[1];
        c.H = v->in[0]->val.shape[2];
        c.O = v->in[1]->val.shape[0];
        c.k = v->in[1]->val.shape[2];
        c.stride = v->ip[0];
        c.pad = v->ip[1];
        for (i = 0; i < n; i++)
            if (!memcmp(&cc[i], &c, sizeof c)) break;
        if (i == n && n < max) cc[n++] = c;
    }
    for (i = 0; i < n / 2; i++) {
        ConvCase tmp = cc[i];
        cc[i] = cc[n - 1 - i];
        cc[n - 1 - i] = tmp;
    }
    unet_free(&net);
    arena_free(arena);
    return n;
}

#ifdef CMAD_DOUBLE
#define CONV_EPS DBL_EPSILON
#else
#define CONV_EPS FLT_EPSILON
#endif
#define CONV_CHECK_N 2 /* samples checked against the direct-loop reference */

static double max_abs_diff(const Scalar *a, const Scalar *b, size_t n)
{
    double worst = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= worst)) worst = e; /* NaN sticks */
    }
    return worst;
}

/* y and dx (dy = 1) of the first CONV_CHECK_N samples against conv2d_ref (each sample's y
 * and dx depend on that sample only).  Returns 1 when an error exceeds 2 K eps (K the
 * products per element: C kh kw for y, O kh kw for dx; inputs in [-1, 1]), or on the
 * Winograd path (wino) CONV_WINO_TOL K eps: its transforms add up to 4 inputs, 9 weights
 * (scaled by 1/4) and 9 products per element, so its rounding is a few times larger. */
#define CONV_WINO_TOL 8.0
static int conv_check(const ConvCase *c, const Var *x, const Var *w, const Var *b, const Var *y,
                      const char *params, int wino)
{
    ConvShape s =
        conv_shape_make(CONV_CHECK_N, c->C, c->H, c->H, c->O, c->k, c->k, c->stride, c->pad);
    size_t ny = (size_t)CONV_CHECK_N * c->O * s.Ho * s.Wo,
           nx = (size_t)CONV_CHECK_N * c->C * c->H * c->H;
    Scalar *ref = (Scalar *)xcalloc(ny * 2 + nx, sizeof(Scalar)), *dy = ref + ny, *dx = dy + ny;
    double f = wino ? CONV_WINO_TOL : 2.0, ey, ex, ty = f * c->C * c->k * c->k * CONV_EPS,
           tx = f * c->O * c->k * c->k * CONV_EPS;
    size_t i;
    for (i = 0; i < ny; i++) dy[i] = 1;
    conv2d_ref_forward(&s, x->val.data, w->val.data, b->val.data, ref);
    conv2d_ref_backward(&s, x->val.data, w->val.data, dy, dx, NULL, NULL);
    ey = max_abs_diff(y->val.data, ref, ny);
    ex = max_abs_diff(x->grad, dx, nx);
    free(ref);
    if (getenv("CMAD_BENCH_ERR"))
        fprintf(stderr, "conv %s: y err %.3g = %.2f K eps, dx err %.3g = %.2f K eps\n", params, ey,
                ey / (c->C * c->k * c->k * CONV_EPS), ex, ex / (c->O * c->k * c->k * CONV_EPS));
    if (ey <= ty && ex <= tx) return 0;
    fprintf(stderr,
            "bench train: conv %s: y error %.3g (tol %.3g), dx error %.3g (tol %.3g) against "
            "conv2d_ref: NOT reported\n",
            params, ey, ty, ex, tx);
    return 1;
}

/* dw (dy = 1) of the layer on CONV_CHECK_N fresh samples against conv2d_ref (dw sums over the
 * batch, so it is checked on a batch of its own; the path that forms dW depends on the
 * shapes, not the batch size).  Returns 1 when the error exceeds 2 K eps, K = the
 * CONV_CHECK_N Ho Wo terms of each element (inputs in [-1, 1]), or CONV_WINO_TOL K eps on
 * the Winograd path. */
static int conv_check_dw(const ConvCase *c, const Var *w, const char *params, int wino)
{
    ConvShape s =
        conv_shape_make(CONV_CHECK_N, c->C, c->H, c->H, c->O, c->k, c->k, c->stride, c->pad);
    Arena *arena = arena_new((size_t)16 << 20);
    Graph g;
    Var *x, *w2, *y;
    Rng r;
    int xs[4];
    size_t nw = w->val.n;
    Scalar *ref = (Scalar *)xcalloc(nw, sizeof(Scalar)), *dy;
    double e, tol = (wino ? CONV_WINO_TOL : 2.0) * CONV_CHECK_N * s.Ho * s.Wo * CONV_EPS;
    size_t i;
    ag_graph_init(&g, arena);
    rng_seed(&r, 5, 0);
    xs[0] = CONV_CHECK_N;
    xs[1] = c->C;
    xs[2] = xs[3] = c->H;
    x = ag_new(&g, 4, xs, 0, "x");
    w2 = ag_new(&g, 4, w->val.shape, 1, "w");
    fill_uniform(&r, x->val.data, x->val.n);
    memcpy(w2->val.data, w->val.data, nw * sizeof(Scalar));
    y = ag_conv2d(&g, x, w2, NULL, c->stride, c->pad);
    ag_backward(&g, y); /* dy = 1 */
    dy = (Scalar *)xmalloc(y->val.n * sizeof(Scalar));
    for (i = 0; i < y->val.n; i++) dy[i] = 1;
    conv2d_ref_backward(&s, x->val.data, w2->val.data, dy, NULL, ref, NULL);
    e = max_abs_diff(w2->grad, ref, nw);
    free(dy);
    free(ref);
    arena_free(arena);
    if (getenv("CMAD_BENCH_ERR"))
        fprintf(stderr, "conv %s: dw err %.3g = %.2f K eps\n", params, e,
                e / (CONV_CHECK_N * s.Ho * s.Wo * CONV_EPS));
    if (e <= tol) return 0;
    fprintf(stderr,
            "bench train: conv %s: dw error %.3g (tol %.3g) against conv2d_ref: NOT reported\n",
            params, e, tol);
    return 1;
}

/* The conv layers, each on the gemm path (conv_*; the Winograd switch off) and, where
 * conv2d would use it, on the Winograd path (conv_*_wino): forward and backward (dx of a
 * stride-1 3x3 conv is a forward conv too), each checked against conv2d_ref first. */
static int bench_convs(BenchReport *rep)
{
    int failed = 0;
    const int N = rep->conv_batch;
    ConvCase cc[MAX_CONVS];
    int nc = unet_conv_cases(cc, MAX_CONVS), ci, ti, wino;
    const int wino_saved = conv_wino_enabled();
    Arena *arena = arena_new((size_t)128 << 20);
    Rng r;
    rng_seed(&r, 3, 0);
    for (ci = 0; ci < nc; ci++)
        for (wino = 0; wino < 2; wino++) {
            const ConvCase *c = &cc[ci];
            int xs[4], ws[4], bs[1], Ho = (c->H + 2 * c->pad - c->k) / c->stride + 1;
            double flop = 2.0 * N * c->O * Ho * Ho * c->C * c->k * c->k;
            char name[48], params[96];
            char tag[24];
            ConvShape s = conv_shape_make(N, c->C, c->H, c->H, c->O, c->k, c->k, c->stride, c->pad);
            Graph g;
            Var *x, *w, *b, *y;
            conv_wino_set_enabled(wino);
            if (wino && !conv_wino_use(&s)) continue;
            if (N == 64)
                snprintf(tag, sizeof tag, "%s", wino ? "_wino" : "");
            else
                snprintf(tag, sizeof tag, "%s_b%d", wino ? "_wino" : "", N);
            xs[0] = N;
            xs[1] = c->C;
            xs[2] = xs[3] = c->H;
            ws[0] = c->O;
            ws[1] = c->C;
            ws[2] = ws[3] = c->k;
            bs[0] = c->O;
            arena_reset(arena);
            ag_graph_init(&g, arena);
            x = ag_new(&g, 4, xs, 1, "x");
            w = ag_new(&g, 4, ws, 1, "w");
            b = ag_new(&g, 1, bs, 1, "b");
            fill_uniform(&r, x->val.data, x->val.n);
            fill_uniform(&r, w->val.data, w->val.n);
            fill_uniform(&r, b->val.data, b->val.n);
            y = ag_conv2d(&g, x, w, b, c->stride, c->pad);
            snprintf(params, sizeof params, "C%d %dx%d -> O%d k%d s%d p%d N%d%s", c->C, c->H, c->H,
                     c->O, c->k, c->stride, c->pad, N, wino ? " wino" : "");
            ag_backward(&g, y); /* dy = 1; x->grad from a zeroed start */
            if (conv_check(c, x, w, b, y, params, wino) || conv_check_dw(c, w, params, wino)) {
                failed = 1;
                continue;
            }
            for (ti = 0; ti < N_THREAD_COUNTS; ti++) {
                double tf[MAX_REPS], tb[MAX_REPS];
                int k, reps = rep->reps < MAX_REPS ? rep->reps : MAX_REPS;
                BenchResult *res;
                if (rep->only_threads && rep->only_threads != thread_counts[ti]) continue;
                plat_set_threads(thread_counts[ti]);
                for (k = -1; k < reps; k++) { /* k = -1: warm-up */
                    double t0 = plat_now(), t1;
                    ag_forward(&g, y);
                    t1 = plat_now();
                    ag_backward(&g, y); /* dy = 1 */
                    if (k >= 0) {
                        tf[k] = t1 - t0;
                        tb[k] = plat_now() - t1;
                    }
                }
                snprintf(name, sizeof name, "conv_c%d_%d_o%d_k%ds%d_fwd%s", c->C, c->H, c->O, c->k,
                         c->stride, tag);
                res = report(rep, name, params, tf, reps, flop * 1e-9, "GFLOP/s");
                if (res) print_row(res);
                snprintf(name, sizeof name, "conv_c%d_%d_o%d_k%ds%d_bwd%s", c->C, c->H, c->O, c->k,
                         c->stride, tag);
                res = report(rep, name, params, tb, reps, 2 * flop * 1e-9, "GFLOP/s");
                if (res) print_row(res);
            }
        }
    conv_wino_set_enabled(wino_saved);
    arena_free(arena);
    return failed;
}

/* Only the training and sampler steps (`build-native/bench step`), for quick comparisons. */
int bench_step(BenchReport *rep)
{
    int saved = plat_threads(), failed = 0;
    printf("\n== step: unet-s training and sampler steps, classifier steps (%s, median of %d) ==\n",
           SCALAR_NAME, rep->reps);
    failed |= bench_train_steps(rep, 64);
    failed |= bench_train_steps(rep, 128);
    bench_sample_step(rep);
    failed |= bench_cls_steps(rep, ARCH_MLP);
    failed |= bench_cls_steps(rep, ARCH_CNN);
    plat_set_threads(saved);
    return failed;
}

/* Only the classifier steps (`build-native/bench cls`). */
int bench_cls(BenchReport *rep)
{
    int saved = plat_threads(), failed = 0;
    printf("\n== cls: classifier training steps (%s, median of %d) ==\n", SCALAR_NAME, rep->reps);
    failed |= bench_cls_steps(rep, ARCH_MLP);
    failed |= bench_cls_steps(rep, ARCH_CNN);
    plat_set_threads(saved);
    return failed;
}

/* Only the conv layers (`build-native/bench conv`). */
int bench_conv(BenchReport *rep)
{
    int saved = plat_threads(), failed;
    printf("\n== conv: unet-s conv layers, gemm and Winograd paths (%s, median of %d) ==\n",
           SCALAR_NAME, rep->reps);
    printf("%-22s %-34s %4s %10s %10s %10s %-8s %5s\n", "case", "params", "thr", "ms_med", "ms_min",
           "rate", "unit", "bits");
    failed = bench_convs(rep);
    plat_set_threads(saved);
    return failed;
}

int bench_train(BenchReport *rep)
{
    int saved = plat_threads(), failed = 0;
    printf("\n== train: unet-s step, sampler step, conv layers (%s, median of %d) ==\n",
           SCALAR_NAME, rep->reps);
    printf("%-22s %-34s %4s %10s %10s %10s %-8s %5s\n", "case", "params", "thr", "ms_med", "ms_min",
           "rate", "unit", "bits");
    failed |= bench_train_steps(rep, 64);
    failed |= bench_train_steps(rep, 128);
    bench_sample_step(rep);
    failed |= bench_cls_steps(rep, ARCH_MLP);
    failed |= bench_cls_steps(rep, ARCH_CNN);
    failed |= bench_convs(rep);
    plat_set_threads(saved);
    return failed;
}
