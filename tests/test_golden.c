/* test_golden.c - the default networks and the schedule reproduce ../shared/golden:
 * outputs, input gradients and every parameter gradient. */
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"
#include "../nn/classifier.h"
#include "../sde/sde.h"
#include "golden.h"
#include "harness.h"

static void test_schedule(void)
{
    SafeFile *f = golden_open("schedule");
    Sde s = sde_vp();
    Scalar *t, got[8 * 32];
    double v[4][8];
    int i, k;
    if (!f) return;
    t = golden_read(f, "t", 8);
    if (!t) goto done;
    for (i = 0; i < 8; i++) {
        v[0][i] = sde_beta(&s, t[i]);
        v[1][i] = sde_g(&s, t[i]);
        v[2][i] = sde_a(&s, t[i]);
        v[3][i] = sde_std(&s, t[i]);
    }
    for (k = 0; k < 4; k++) {
        static const char *const names[4] = {"beta", "g", "a", "s"};
        for (i = 0; i < 8; i++) got[i] = (Scalar)v[k][i];
        golden_compare(f, names[k], got, 8);
    }
    sinusoid_embed(t, 8, 32, got);
    golden_compare(f, "emb32", got, 8 * 32);
    sinusoid_embed(t, 8, 16, got);
    golden_compare(f, "emb16", got, 8 * 16);
    free(t);
done:
    st_close(f);
}

/* Loads the net's weights and inputs, runs forward (score or control) and backward with
 * the stored upstream gradient, and compares output, input gradient, parameter gradients. */
static void check_unet(const char *file, UNetConfig cfg, int is_score)
{
    SafeFile *f = golden_open(file);
    UNet net;
    Arena *ar;
    Graph g;
    Var *x, *y;
    Scalar *xin = NULL, *t = NULL, *r = NULL;
    int64_t lab64[2];
    int labels[2], i, N = 2;
    size_t nx = (size_t)N * cfg.in_ch * 784;
    char nm[256];
    Sde s = sde_vp();
    if (!f) return;
    unet_build(&net, &cfg);
    ar = arena_new((size_t)64 << 20);
    ag_graph_init(&g, ar);
    if (golden_load_params(f, &net.params, "")) goto done;
    xin = golden_read(f, "input.x", nx);
    t = golden_read(f, "input.t", (size_t)N);
    r = golden_read(f, "upstream.r", (size_t)N * 784);
    if (!xin || !t || !r) goto done;
    if (cfg.num_classes) {
        char msg[256];
        const SafeEntry *e = st_find(f, "input.label");
        T_OK(e && st_read_i64(f, e, lab64, 2, msg, sizeof msg) == 0);
        for (i = 0; i < N; i++) labels[i] = (int)lab64[i];
    }
    {
        int xs[4];
        xs[0] = N;
        xs[1] = cfg.in_ch;
        xs[2] = xs[3] = 28;
        x = ag_leaf(&g, xin, NULL, 1, 4, xs, "x");
    }
    y = is_score ? sde_score(&g, &s, &net, x, t, cfg.num_classes ? labels : NULL)
                 : unet_forward(&g, &net, x, t, cfg.num_classes ? labels : NULL);
    golden_compare(f, "output.y", y->val.data, y->val.n);
    params_zero_grad(&net.params);
    ag_backward_seed(&g, y, r);
    golden_compare(f, "grad.input.x", x->grad, nx);
    for (i = 0; i < net.params.count; i++) {
        const ParamInfo *pi = &net.params.info[i];
        snprintf(nm, sizeof nm, "grad.%s", pi->name);
        golden_compare(f, nm, net.params.grad + pi->offset, pi->n);
    }
done:
    free(xin);
    free(t);
    free(r);
    arena_free(ar);
    unet_free(&net);
    st_close(f);
}

static void test_unet_s(void) { check_unet("unet_s", unet_s_config(0), 1); }
static void test_unet_s_cond(void) { check_unet("unet_s_cond", unet_s_config(1), 1); }
static void test_ctrl_s(void) { check_unet("ctrl_s", ctrl_s_config(0), 0); }
static void test_ctrl_s_label(void) { check_unet("ctrl_s_label", ctrl_s_config(1), 0); }

static void check_classifier(const char *file, ClassifierArch arch)
{
    SafeFile *f = golden_open(file);
    Classifier c;
    Arena *ar;
    Graph g;
    Var *x, *y;
    Scalar *xin = NULL, *r = NULL;
    int xs[4] = {3, 1, 28, 28}, i;
    char nm[256];
    if (!f) return;
    classifier_build(&c, arch);
    ar = arena_new((size_t)16 << 20);
    ag_graph_init(&g, ar);
    if (golden_load_params(f, &c.params, "")) goto done;
    xin = golden_read(f, "input.x", 3 * 784);
    r = golden_read(f, "upstream.r", 30);
    if (!xin || !r) goto done;
    x = ag_leaf(&g, xin, NULL, 1, 4, xs, "x");
    y = classifier_forward(&g, &c, x, NULL);
    golden_compare(f, "output.y", y->val.data, y->val.n);
    params_zero_grad(&c.params);
    ag_backward_seed(&g, y, r);
    golden_compare(f, "grad.input.x", x->grad, 3 * 784);
    for (i = 0; i < c.params.count; i++) {
        const ParamInfo *pi = &c.params.info[i];
        snprintf(nm, sizeof nm, "grad.%s", pi->name);
        golden_compare(f, nm, c.params.grad + pi->offset, pi->n);
    }
done:
    free(xin);
    free(r);
    arena_free(ar);
    classifier_free(&c);
    st_close(f);
}

static void test_mlp(void) { check_classifier("mlp", ARCH_MLP); }
static void test_cnn_eval(void) { check_classifier("cnn_eval", ARCH_CNN); }

const TestCase golden_tests[] = {
    {"schedule", test_schedule},         {"unet_s", test_unet_s},
    {"unet_s_cond", test_unet_s_cond},   {"ctrl_s", test_ctrl_s},
    {"ctrl_s_label", test_ctrl_s_label}, {"mlp", test_mlp},
    {"cnn_eval", test_cnn_eval},         {NULL, NULL},
};
