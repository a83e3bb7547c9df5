/* test_nn.c - parameter counts and names of the default networks; Adam, clipping, EMA and
 * the learning-rate schedule against their formulas (nn/optim.h); the DSM times, uniform and
 * stratified (sde/sde.h); the classifier's L2 PGD attack (adversarial training) stays in its
 * ball and raises the loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"
#include "../nn/checkpoint.h"
#include "../nn/classifier.h"
#include "../nn/optim.h"
#include "../nn/unet.h"
#include "../sde/sde.h"
#include "harness.h"
#include "small_net.h"
#include "tmp_path.h"

static void test_unet_param_counts(void)
{
    UNet net;
    UNetConfig c = unet_s_config(0);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 1062497);
    T_OK(params_find(&net.params, "mid.1.qkv.weight") >= 0);
    T_OK(params_find(&net.params, "up.7.conv2.bias") >= 0);
    T_OK(params_find(&net.params, "up.5.conv.weight") >= 0);
    unet_free(&net);
    c = unet_s_config(1);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 1063905);
    unet_free(&net);
    c = ctrl_s_config(0);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 159985);
    unet_free(&net);
    c = ctrl_s_config(1);
    unet_build(&net, &c);
    T_EQ_INT(net.params.total, 160625);
    unet_free(&net);
}

static void test_classifier_param_counts(void)
{
    Classifier c;
    classifier_build(&c, ARCH_MLP);
    T_EQ_INT(c.params.total, 269322);
    classifier_free(&c);
    classifier_build(&c, ARCH_CNN);
    T_EQ_INT(c.params.total, 421642);
    classifier_free(&c);
}

/* Two Adam steps, a clip and an EMA update on two numbers, against the formulas by hand. */
static void test_adam_clip_ema_formulas(void)
{
    Params p;
    Adam a = adam_default(0.1);
    int shape[1] = {2}, k;
    double w[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0}, e[2] = {1.0, -2.0};
    double g[2][2] = {{3.0, 4.0}, {-1.0, 0.5}}, norm;
    params_init(&p);
    params_add(&p, NULL, "w", 1, shape, INIT_ZEROS, 1);
    params_finalize(&p);
    p.data[0] = p.ema[0] = 1;
    p.data[1] = p.ema[1] = -2;
    for (k = 0; k < 2; k++) {
        int i;
        double scale = 1, gn = sqrt(g[k][0] * g[k][0] + g[k][1] * g[k][1]);
        p.grad[0] = (Scalar)g[k][0];
        p.grad[1] = (Scalar)g[k][1];
        norm = params_clip_grad(&p, 2.0);
        T_NEAR(norm, gn, 1e-5 * gn);
        if (gn > 2.0) scale = 2.0 / (gn + 1e-6);
        adam_step(&a, &p);
        params_ema_update(&p, 0.9);
        for (i = 0; i < 2; i++) {
            double gi = g[k][i] * scale;
            m[i] = 0.9 * m[i] + 0.1 * gi;
            v[i] = 0.999 * v[i] + 0.001 * gi * gi;
            w[i] -= 0.1 * (m[i] / (1 - pow(0.9, k + 1))) /
                    (sqrt(v[i] / (1 - pow(0.999, k + 1))) + 1e-8);
            e[i] = 0.9 * e[i] + 0.1 * w[i];
            T_NEAR(p.data[i], w[i], 1e-5);
            T_NEAR(p.ema[i], e[i], 1e-5);
        }
    }
    params_free(&p);
}

/* Warm-up, then a cosine that starts at lr and ends at lr_end; lr_end < 0 keeps lr. */
static void test_lr_schedule(void)
{
    long s;
    double prev = 1;
    T_NEAR(lr_schedule(1e-3, 1e-4, 10, 0, 100), 1e-4, 1e-15);
    T_NEAR(lr_schedule(1e-3, 1e-4, 10, 9, 100), 1e-3, 1e-15);
    T_NEAR(lr_schedule(1e-3, 1e-4, 10, 10, 100), 1e-3, 1e-15);
    T_NEAR(lr_schedule(1e-3, 1e-4, 10, 99, 100), 1e-4, 1e-15);
    T_NEAR(lr_schedule(1e-3, 1e-4, 10, 500, 100), 1e-4, 1e-15); /* past the end: stays */
    T_NEAR(lr_schedule(1e-3, 1e-4, 0, 54, 109), 5.5e-4, 1e-12); /* half-way: the mean */
    T_NEAR(lr_schedule(1e-3, -1, 10, 99, 100), 1e-3, 1e-15);
    T_NEAR(lr_schedule(2e-3, 2e-4, 0, 0, 1), 2e-3, 1e-15); /* one step: lr */
    for (s = 10; s < 100; s++) {
        double lr = lr_schedule(1e-3, 1e-4, 10, s, 100);
        T_OK(lr <= prev && lr >= 1e-4 - 1e-18);
        prev = lr;
    }
}

/* sde_dsm_time: one uniform draw per sample in both modes (the uniform mode as the loss
 * always drew it); stratified, sample i of n lands in the i-th part of [1e-5, 1], and over
 * many batches each part is filled evenly (mean of each part near its centre). */
static void test_dsm_time(void)
{
    enum { N = 8, BATCHES = 4000 };
    Rng a, b, c;
    double part_sum[N] = {0}, w = (1.0 - 1e-5) / N;
    int i, k;
    rng_seed(&a, 7, 3);
    rng_seed(&b, 7, 3);
    rng_seed(&c, 7, 3);
    for (k = 0; k < BATCHES; k++)
        for (i = 0; i < N; i++) {
            double u = rng_uniform(&c), tu = sde_dsm_time(&a, i, N, 0),
                   ts = sde_dsm_time(&b, i, N, 1);
            T_OK(tu == 1e-5 + (1.0 - 1e-5) * u);
            T_NEAR(ts, 1e-5 + w * (i + u), 1e-15);
            T_OK(ts >= 1e-5 + w * i - 1e-15 && ts <= 1e-5 + w * (i + 1) + 1e-15);
            part_sum[i] += ts;
        }
    for (i = 0; i < N; i++) T_NEAR(part_sum[i] / BATCHES, 1e-5 + w * (i + 0.5), 0.01);
}

/* Mean cross-entropy of a batch of 784-pixel images. */
static double batch_ce(Graph *g, const Classifier *c, Scalar *x, const int *labels, int n)
{
    int shape[4] = {0, 1, 28, 28};
    Var *l;
    shape[0] = n;
    ag_graph_reset(g);
    l = ag_mean(
        g, ag_softmax_ce(g, classifier_forward(g, c, ag_leaf(g, x, NULL, 0, 4, shape, "x"), NULL),
                         labels));
    return (double)l->val.data[0];
}

/* classifier_pgd_l2 on a random MLP: every perturbation within its L2 ball of radius eps
 * (the pixels clamped to [0, 1]), the loss of the batch raised, the weights thawed again
 * with no gradient left on them, and the same bits on a second run from a no-grad graph. */
static void test_pgd_attack(void)
{
    enum { N = 6, P = 784 };
    static Scalar x[N * P], d[N * P], out[N * P], out2[N * P];
    int labels[N], i, q;
    const double eps = 1.0;
    Classifier c;
    Rng r;
    Arena *a = arena_new((size_t)16 << 20);
    Graph g;
    double before, after, gsum = 0;
    classifier_build(&c, ARCH_MLP);
    rng_seed(&r, 5, 0);
    params_initialise(&c.params, &r);
    params_zero_grad(&c.params);
    for (q = 0; q < N * P; q++) x[q] = (Scalar)rng_uniform(&r);
    for (i = 0; i < N; i++) labels[i] = i;
    ag_graph_init(&g, a);
    before = batch_ce(&g, &c, x, labels, N);
    classifier_pgd_l2(&g, &c, x, labels, N, eps, 5, d, out);
    after = batch_ce(&g, &c, out, labels, N);
    T_OK(after > before + 0.05); /* 2.285 -> 2.368: a random net is near uniform */
    T_EQ_INT(c.params.trainable, 1);
    for (q = 0; q < (int)c.params.total; q++) gsum += fabs((double)c.params.grad[q]);
    T_OK(gsum == 0);
    for (i = 0; i < N; i++) {
        double n2 = 0, moved = 0;
        for (q = 0; q < P; q++) {
            double dq = (double)out[i * P + q] - (double)x[i * P + q];
            T_OK(out[i * P + q] >= 0 && out[i * P + q] <= 1);
            n2 += dq * dq;
            moved += (double)d[i * P + q] * d[i * P + q];
        }
        T_OK(sqrt(n2) <= eps * (1 + 1e-5));
        T_OK(sqrt(moved) > 0.9 * eps); /* the steps add up to 2.5 eps: it reaches the sphere */
    }
    ag_set_grad_enabled(&g, 0); /* a no-grad graph: the attack turns gradients on itself */
    classifier_pgd_l2(&g, &c, x, labels, N, eps, 5, d, out2);
    T_OK(!memcmp(out, out2, sizeof out));
    T_EQ_INT(ag_set_grad_enabled(&g, 1), 0); /* and leaves the graph's setting as it was */
    classifier_free(&c);
    arena_free(a);
}

/* A training checkpoint round-trips its state, and one whose state is out of range (a
 * negative step, a spare flag other than 0/1, an all-zero generator) is refused naming the
 * file and the tensor; so is a file with no tensors. */
static void test_checkpoint_state_ranges(void)
{
    Classifier c;
    Adam opt = adam_default(1e-3);
    Rng rng, back;
    TrainState ts;
    char path[512], err[512];
    int i;
    t_tmp_path(path, sizeof path, "state.safetensors");
    classifier_build(&c, ARCH_MLP);
    rng_seed(&rng, 7, 1);
    ts.opt = &opt;
    ts.rng = &rng;
    ts.step = 12;
    opt.step = 11;
    T_EQ_INT(ckpt_save(path, &c.params, "mlp", "", &ts, NULL, err, sizeof err), 0);
    ts.rng = &back;
    ts.step = 0;
    T_EQ_INT(ckpt_load(path, &c.params, "mlp", &ts, err, sizeof err), 0);
    T_OK(ts.step == 12 && opt.step == 11 && !memcmp(back.s, rng.s, sizeof rng.s));
    for (i = 0; i < 3; i++) {
        static const char *what[] = {"'train.step' holds -1", "'train.rng_has_spare' holds 2",
                                     "'train.rng' is all zeros"};
        Rng bad = rng;
        ts.rng = &bad;
        ts.step = i == 0 ? -1 : 12;
        bad.has_spare = i == 1 ? 2 : 0;
        if (i == 2) memset(bad.s, 0, sizeof bad.s);
        T_EQ_INT(ckpt_save(path, &c.params, "mlp", "", &ts, NULL, err, sizeof err), 0);
        ts.rng = &back;
        T_EQ_INT(ckpt_load(path, &c.params, "mlp", &ts, err, sizeof err), -1);
        T_OK(strstr(err, path) && strstr(err, what[i]));
        if (!strstr(err, what[i])) t_report(__FILE__, __LINE__, "%s", err);
    }
    /* and a file that is not a checkpoint at all */
    T_EQ_INT(t_write_bytes(path, "\x08\0\0\0\0\0\0\0{}", 10), 0);
    T_EQ_INT(ckpt_load(path, &c.params, "mlp", &ts, err, sizeof err), -1);
    T_OK(strstr(err, path) != NULL);
    remove(path);
    T_OK(!t_file_exists(path));
    classifier_free(&c);
}

/* A config string round-trips, and the parser takes the whole string or nothing: trailing
 * text, a number too long for an int, a level count of 0 or of 4 (which 28x28 images do
 * not allow) are refused with a message. */
static void test_unet_config_strict(void)
{
    UNetConfig c = unet_s_config(1), back;
    char text[512], s[600], err[256];
    const char *rest;
    unet_config_str(&c, text, sizeof text);
    T_EQ_INT(unet_config_parse(text, &back, err, sizeof err), 0);
    T_OK(!memcmp(&c, &back, sizeof c));
    rest = strstr(text, ";levels="); /* text is "in_ch=1;levels=..." */
    T_OK(rest != NULL);
    if (!rest) return;
    snprintf(s, sizeof s, "%s;x", text);
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    T_OK(strstr(err, "bad UNet config") != NULL);
    snprintf(s, sizeof s, "%s ", text);
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    snprintf(s, sizeof s, "in_ch=4294967297%s", rest); /* wraps to 1 through %d */
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    T_OK(strstr(err, "more than 9 digits") != NULL);
    snprintf(s, sizeof s, "in_ch=+1%s", rest); /* %d alone would take the sign... */
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    T_OK(strstr(err, "not a plain number") != NULL);
    snprintf(s, sizeof s, "in_ch= 1%s", rest); /* ...and the space */
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    snprintf(s, sizeof s, "in_ch=-1%s", rest);
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    snprintf(s, sizeof s, "in_ch=1;levels=0%s", strstr(text, ";ch="));
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    snprintf(s, sizeof s, "in_ch=1;levels=4%s", strstr(text, ";ch=")); /* 28 -> 14 -> 7 -> 4 */
    T_EQ_INT(unet_config_parse(s, &back, err, sizeof err), -1);
    T_OK(strstr(err, "a 28x28 image allows 1..3") != NULL);
}

/* The recipe comparison of --resume: equal strings pass; otherwise the first differing key
 * is named, with its value on each side ("(none)" when one side lacks it); a malformed
 * recorded recipe, a repeated key and bytes that would break the line are handled. */
static void test_checkpoint_recipe_diff(void)
{
    char err[256];
    const char *here = "cond=0;lr=0.001;ema=0.999";
    T_EQ_INT(ckpt_recipe_diff(here, here, err, sizeof err), 0);
    T_EQ_INT(ckpt_recipe_diff("cond=0;lr=0.002;ema=0.999", here, err, sizeof err), -1);
    T_OK(strcmp(err, "--lr was 0.002 there, 0.001 here") == 0);
    T_EQ_INT(ckpt_recipe_diff("cond=0;lr=0.001", here, err, sizeof err), -1);
    T_OK(strcmp(err, "--ema was (none) there, 0.999 here") == 0);
    T_EQ_INT(ckpt_recipe_diff("cond=0;lr=0.001;ema=0.999;wd=1", here, err, sizeof err), -1);
    T_OK(strcmp(err, "--wd was 1 there, (none) here") == 0);
    T_EQ_INT(ckpt_recipe_diff("cond=0;lr=0.001;ema=0.999;lr=5", here, err, sizeof err), -1);
    T_OK(strstr(err, "repeated") != NULL);
    T_EQ_INT(ckpt_recipe_diff("cond=0;lr", here, err, sizeof err), -1);
    T_OK(strstr(err, "malformed") != NULL);
    T_EQ_INT(ckpt_recipe_diff("=1;cond=0", here, err, sizeof err), -1);
    T_OK(strstr(err, "malformed") != NULL);
    T_EQ_INT(ckpt_recipe_diff("", here, err, sizeof err), -1);
    T_OK(strcmp(err, "--cond was (none) there, 0 here") == 0);
    T_EQ_INT(ckpt_recipe_diff("cond=\n\x80;lr=0.001;ema=0.999", here, err, sizeof err), -1);
    T_OK(strcmp(err, "--cond was ?? there, 0 here") == 0);
    T_EQ_INT(ckpt_recipe_diff(here, "", err, sizeof err), -1);
    T_OK(strcmp(err, "--cond was 0 there, (none) here") == 0);
}

/* The predictor-corrector sampler: with snr 0 the corrector does nothing and the bits are
 * the Euler-Maruyama sampler's; with snr > 0 it moves the samples, and a sample is the
 * same drawn in a batch of three or alone (per-sample norms, its own noise streams).  Then
 * one step by hand (K = 2: the corrector at t = 1, then the last, noise-free EM step). */
static void test_pc_sampler(void)
{
    UNet net;
    Sde sde = sde_vp(), ve = sde_ve();
    SampleOpts em = sample_opts_default(), pc;
    Rng r, cr;
    const int P = 784;
    Scalar *a = (Scalar *)malloc(sizeof(Scalar) * 3 * P),
           *b = (Scalar *)malloc(sizeof(Scalar) * 3 * P);
    Scalar *x = (Scalar *)malloc(sizeof(Scalar) * P), *z = (Scalar *)malloc(sizeof(Scalar) * P);
    Scalar t1[1] = {1};
    size_t j;
    int same = 1, finite = 1, shape[4] = {1, 1, 28, 28};
    rng_seed(&r, 43, 0);
    t_small_score_net(&net, &r);
    em.K = 4;
    em.batch = 3;
    em.seed = 9;
    em.use_ema = 0;
    pc = em;
    pc.kind = SAMPLER_PC;
    pc.snr = 0;
    sde_sample(&sde, &net, 3, NULL, &em, a);
    sde_sample(&sde, &net, 3, NULL, &pc, b);
    T_OK(memcmp(a, b, sizeof(Scalar) * 3 * P) == 0);
    pc.snr = 0.16;
    sde_sample(&sde, &net, 3, NULL, &pc, b);
    for (j = 0; j < (size_t)3 * P; j++) {
        same &= a[j] == b[j];
        finite &= isfinite((double)b[j]);
    }
    T_OK(!same && finite);
    pc.batch = 1;
    pc.first_index = 2;
    sde_sample(&sde, &net, 1, NULL, &pc, a);
    T_OK(memcmp(a, b + 2 * P, sizeof(Scalar) * P) == 0);
    /* by hand, on the VE SDE (alpha = 1: on VP at t = 1 the corrector is exp(-20) weak):
     * x(1) ~ N(0, s(1)^2), one corrector step at t = 1, one EM step to eps */
    pc.K = 2;
    pc.first_index = 0;
    sde_sample(&ve, &net, 1, NULL, &pc, a);
    {
        Arena *ar = arena_new((size_t)32 << 20);
        Graph g;
        Var *sv;
        double moved = 0, s1 = sde_std(&ve, 1.0), dt = 1.0 - ve.eps, fc = sde_fcoef(&ve, 1.0);
        double beta = sde_g(&ve, 1.0) * sde_g(&ve, 1.0), zn = 0, gn = 0, eps, worst = 0;
        rng_seed(&r, 9, 0);
        rng_seed(&cr, 9, SDE_PC_STREAM);
        for (j = 0; j < (size_t)P; j++) x[j] = (Scalar)(s1 * rng_normal(&r));
        ag_graph_init(&g, ar);
        ag_set_grad_enabled(&g, 0);
        sv = sde_score(&g, &ve, &net, ag_leaf(&g, x, NULL, 0, 4, shape, "x"), t1, NULL);
        for (j = 0; j < (size_t)P; j++) {
            z[j] = (Scalar)rng_normal(&cr);
            zn += (double)z[j] * z[j];
            gn += (double)sv->val.data[j] * sv->val.data[j];
        }
        eps = 2.0 * exp(2.0 * fc * dt) * 0.16 * 0.16 * zn / gn;
        for (j = 0; j < (size_t)P; j++) {
            Scalar c = (Scalar)(x[j] + eps * sv->val.data[j] + sqrt(2.0 * eps) * z[j]);
            moved += fabs((double)c - x[j]);
            x[j] = c;
        }
        T_OK(moved > 1e-3 * P); /* the corrector step is not negligible here */
        ag_graph_reset(&g);
        sv = sde_score(&g, &ve, &net, ag_leaf(&g, x, NULL, 0, 4, shape, "x"), t1, NULL);
        for (j = 0; j < (size_t)P; j++) {
            double want = x[j] + (-fc * x[j] + beta * sv->val.data[j]) * dt;
            double d = fabs(want - a[j]) / (1.0 + fabs(want));
            if (d > worst) worst = d;
        }
        T_OK(worst < 1e-5);
        arena_free(ar);
    }
    free(a);
    free(b);
    free(x);
    free(z);
    unet_free(&net);
}

const TestCase nn_tests[] = {
    {"pgd_attack", test_pgd_attack},
    {"adam_clip_ema_formulas", test_adam_clip_ema_formulas},
    {"lr_schedule", test_lr_schedule},
    {"dsm_time", test_dsm_time},
    {"pc_sampler", test_pc_sampler},
    {"unet_param_counts", test_unet_param_counts},
    {"classifier_param_counts", test_classifier_param_counts},
    {"checkpoint_state_ranges", test_checkpoint_state_ranges},
    {"checkpoint_recipe_diff", test_checkpoint_recipe_diff},
    {"unet_config_strict", test_unet_config_strict},
    {NULL, NULL},
};
