/* test_control.c - phi, the task loss and the CMAD objective against ../shared/golden. */
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"
#include "../control/objective.h"
#include "golden.h"
#include "harness.h"
#include "small_net.h"

static void test_phi_bands(void)
{
    Phi p;
    int s, n;
    phi_band(3, 28, 0, &s, &n);
    T_OK(s == 0 && n == 10);
    phi_band(3, 28, 1, &s, &n);
    T_OK(s == 10 && n == 9);
    phi_band(3, 28, 2, &s, &n);
    T_OK(s == 19 && n == 9);
    phi_init(&p, 2, 28, PHI_SPLIT, 0);
    T_OK(p.nbound == 1 && p.bound_a[0] == 13);
    T_OK(p.w[0][13] == 1 && p.w[1][13] == 0 && p.w[1][14] == 1);
    phi_init(&p, 2, 28, PHI_SPLIT, 2); /* rows 12..15 are shared and averaged */
    T_NEAR(p.w[0][12], 0.5, 0);
    T_NEAR(p.w[1][15], 0.5, 0);
    T_NEAR(p.w[0][11], 1, 0);
    phi_init(&p, 3, 28, PHI_AVERAGE, 0);
    T_NEAR(p.w[2][27], 1.0 / 3.0, 1e-7);
}

static void check_objective(const char *file, int agents)
{
    SafeFile *f = golden_open(file);
    Classifier cls;
    Phi phi;
    Arena *ar;
    Graph g;
    Scalar *yin;
    Var *y, *l, *ce, *seam, *mean;
    int ys[4] = {3, 1, 28, 28}, c[3] = {3, 3, 3};
    if (!f) return;
    classifier_build(&cls, ARCH_MLP);
    ar = arena_new(1 << 24);
    ag_graph_init(&g, ar);
    phi_init(&phi, agents, 28, PHI_SPLIT, 0);
    yin = golden_read(f, "input.y", 3 * 784);
    if (!yin || golden_load_params(f, &cls.params, "classifier.")) goto done;
    cls.params.trainable = 0;
    y = ag_leaf(&g, yin, NULL, 1, 4, ys, "y");
    l = task_loss(&g, &phi, &cls, y, c, &ce, &seam);
    mean = ag_mean(&g, l);
    golden_compare(f, "output.loss_per_sample", l->val.data, 3);
    golden_compare(f, "output.ce_per_sample", ce->val.data, 3);
    golden_compare(f, "output.seam_per_sample", seam->val.data, 3);
    golden_compare(f, "output.loss", mean->val.data, 1);
    ag_backward(&g, mean);
    golden_compare(f, "grad.input.y", y->grad, 3 * 784);
done:
    free(yin);
    arena_free(ar);
    classifier_free(&cls);
    st_close(f);
}

static void test_objective_n2(void) { check_objective("objective_n2", 2); }
static void test_objective_n3(void) { check_objective("objective_n3", 3); }

const TestCase control_tests[] = {
    {"phi_bands", test_phi_bands},
    {"objective_n2", test_objective_n2},
    {"objective_n3", test_objective_n3},
    {NULL, NULL},
};

/* ---------------------------------------------------------------- the CMAD objective J */

#include "../control/cmad.h"

typedef struct CmadFixture {
    UNet score, ctrl[2];
    Classifier cls;
    SafeFile *f;
    Scalar *x_init, *xi;
    int ok;
} CmadFixture;

static void fixture_open(CmadFixture *fx)
{
    SafeFile *fu = golden_open("unet_s"), *fm = golden_open("mlp");
    UNetConfig us = unet_s_config(0), cs = ctrl_s_config(0);
    int i;
    memset(fx, 0, sizeof *fx);
    fx->f = golden_open("cmad_objective");
    unet_build(&fx->score, &us);
    classifier_build(&fx->cls, ARCH_MLP);
    for (i = 0; i < 2; i++) unet_build(&fx->ctrl[i], &cs);
    if (!fu || !fm || !fx->f) goto done;
    if (golden_load_params(fu, &fx->score.params, "") ||
        golden_load_params(fm, &fx->cls.params, "") ||
        golden_load_params(fx->f, &fx->ctrl[0].params, "ctrl0.") ||
        golden_load_params(fx->f, &fx->ctrl[1].params, "ctrl1."))
        goto done;
    fx->score.params.trainable = 0;
    fx->cls.params.trainable = 0;
    fx->x_init = golden_read(fx->f, "input.x_init", 2 * 2 * 784);
    fx->xi = golden_read(fx->f, "input.xi", 2 * 2 * 2 * 784);
    fx->ok = fx->x_init && fx->xi;
done:
    st_close(fu);
    st_close(fm);
}

static void fixture_close(CmadFixture *fx)
{
    unet_free(&fx->score);
    unet_free(&fx->ctrl[0]);
    unet_free(&fx->ctrl[1]);
    classifier_free(&fx->cls);
    free(fx->x_init);
    free(fx->xi);
    st_close(fx->f);
}

/* J, its three terms and the final Y of a case against the golden file. */
static void compare_terms(CmadFixture *fx, const char *name, const CmadTerms *tm, const Scalar *yf)
{
    static const char *const part[4] = {"J", "energy", "terminal", "running"};
    double val[4];
    char key[256];
    int k;
    val[0] = tm->J;
    val[1] = tm->energy;
    val[2] = tm->terminal;
    val[3] = tm->running;
    for (k = 0; k < 4; k++) {
        Scalar v = (Scalar)val[k];
        snprintf(key, sizeof key, "%s.%s", name, part[k]);
        golden_compare(fx->f, key, &v, 1);
    }
    snprintf(key, sizeof key, "%s.y_final", name);
    golden_compare(fx->f, key, yf, 2 * 784);
}

/* The control gradients of the agents in the bitmask grads_for against the golden file. */
static void compare_grads(CmadFixture *fx, const char *name, int grads_for)
{
    char key[256];
    int i, j;
    for (i = 0; i < 2; i++) {
        if (!(grads_for & (1 << i))) continue;
        for (j = 0; j < fx->ctrl[i].params.count; j++) {
            const ParamInfo *pi = &fx->ctrl[i].params.info[j];
            snprintf(key, sizeof key, "%s.grad.ctrl%d.%s", name, i, pi->name);
            golden_compare(fx->f, key, fx->ctrl[i].params.grad + pi->offset, pi->n);
        }
    }
}

/* Runs one golden case; grads_for: bitmask of agents whose gradients the file stores. */
static void check_cmad_case(CmadFixture *fx, const char *name, DriftForm drift, double rho,
                            int player, int grads_for)
{
    CmadSpec spec;
    CmadProblem pr;
    CmadNoise nz;
    CmadTerms tm;
    Arena *a1 = arena_new((size_t)64 << 20), *a2 = arena_new((size_t)16 << 20);
    Graph g, gg;
    Var *J;
    Scalar yf[2 * 784];
    int targets[2] = {3, 3};
    memset(&spec, 0, sizeof spec);
    spec.agents = 2;
    spec.batch = 2;
    spec.K = 4;
    spec.lambda = 1;
    spec.rho = rho;
    spec.drift = drift;
    spec.phi_mode = PHI_SPLIT;
    spec.checkpointing = 1;
    cmad_problem_init(&pr, &spec);
    pr.score[0] = pr.score[1] = &fx->score;
    pr.ctrl[0] = &fx->ctrl[0];
    pr.ctrl[1] = &fx->ctrl[1];
    pr.cls = &fx->cls;
    memset(&nz, 0, sizeof nz);
    nz.x_init = fx->x_init;
    nz.xi = fx->xi;
    ag_graph_init(&g, a1);
    ag_graph_init(&gg, a2);
    params_zero_grad(&fx->ctrl[0].params);
    params_zero_grad(&fx->ctrl[1].params);
    J = cmad_objective(&g, &gg, &pr, &nz, targets, player, &tm, yf);
    compare_terms(fx, name, &tm, yf);
    if (grads_for) {
        ag_backward(&g, J);
        compare_grads(fx, name, grads_for);
    }
    /* the checkpointed objective: same J and terms, same gradients */
    params_zero_grad(&fx->ctrl[0].params);
    params_zero_grad(&fx->ctrl[1].params);
    memset(&tm, 0, sizeof tm);
    cmad_objective_checkpointed(&g, &gg, &pr, &nz, targets, player, &tm, yf);
    compare_terms(fx, name, &tm, yf);
    compare_grads(fx, name, grads_for);
    cmad_problem_free(&pr);
    arena_free(a1);
    arena_free(a2);
}

static void test_cmad_objective(void)
{
    CmadFixture fx;
    fixture_open(&fx);
    if (fx.ok) {
        check_cmad_case(&fx, "joint_g", DRIFT_G, 1, -1, 3);
        check_cmad_case(&fx, "joint_g2", DRIFT_G2, 1, -1, 0);
        check_cmad_case(&fx, "joint_norun", DRIFT_G, 0, -1, 0);
        check_cmad_case(&fx, "ido_p0", DRIFT_G, 1, 0, 1);
        check_cmad_case(&fx, "ido_p1", DRIFT_G, 1, 1, 0);
    } else {
        T_OK(fx.ok);
    }
    fixture_close(&fx);
}

/* ---------------------------------------------------------------- baselines */

#include "../control/baselines.h"

static void test_cdps_step_golden(void)
{
    CmadFixture fx;
    SafeFile *f;
    CmadSpec spec;
    CmadProblem pr;
    CdpsStep cs;
    Arena *ar;
    Graph g;
    Scalar *x = NULL, *xi = NULL, *grad = NULL, *X[2], *XI[2], *GR[2], lv;
    double loss, eps = 1e-3, dt = (1.0 - eps) / 499.0;
    int targets[2] = {3, 3};
    fixture_open(&fx);
    f = golden_open("cdps_step");
    if (!fx.ok || !f) {
        T_OK(0);
        goto done;
    }
    memset(&spec, 0, sizeof spec);
    spec.agents = 2;
    spec.batch = 2;
    spec.K = 500;
    cmad_problem_init(&pr, &spec);
    pr.score[0] = pr.score[1] = &fx.score;
    pr.cls = &fx.cls;
    x = golden_read(f, "input.x", 4 * 784);
    xi = golden_read(f, "input.xi", 4 * 784);
    grad = (Scalar *)malloc(sizeof(Scalar) * 4 * 784);
    if (!x || !xi || !grad) goto done;
    X[0] = x;
    X[1] = x + 2 * 784;
    XI[0] = xi;
    XI[1] = xi + 2 * 784;
    GR[0] = grad;
    GR[1] = grad + 2 * 784;
    cs.mode = CDPS_PARITY;
    cs.gamma = 100;
    cs.zeta = 0;
    ar = arena_new((size_t)32 << 20);
    ag_graph_init(&g, ar);
    cdps_step(&g, &pr, &cs, X, pr.spec.batch, 0.5, dt, (const Scalar *const *)XI, targets, &loss,
              GR);
    lv = (Scalar)loss;
    golden_compare(f, "output.loss", &lv, 1);
    golden_compare(f, "output.grad", grad, 4 * 784);
    golden_compare(f, "output.x_next", x, 4 * 784);
    arena_free(ar);
done:
    free(x);
    free(xi);
    free(grad);
    st_close(f);
    fixture_close(&fx);
}

static void test_amdm_step_golden(void)
{
    SafeFile *f = golden_open("amdm_step");
    Scalar *x, *m, xbar[2 * 784], xt[3 * 2 * 784];
    const Scalar *xs[3];
    int i;
    if (!f) return;
    x = golden_read(f, "input.x", 3 * 2 * 784);
    m = golden_read(f, "input.m", 3 * 2 * 784);
    if (x && m) {
        for (i = 0; i < 3; i++) xs[i] = x + (size_t)i * 2 * 784;
        amdm_aggregate(xs, 3, 2, 784, 0.5, xbar);
        golden_compare(f, "output.xbar", xbar, 2 * 784);
        for (i = 0; i < 3; i++)
            amdm_deviate(xbar, m + (size_t)i * 2 * 784, 2, 784, 0.05, 0.3,
                         xt + (size_t)i * 2 * 784);
        golden_compare(f, "output.x_tilde", xt, 3 * 2 * 784);
    }
    free(x);
    free(m);
    st_close(f);
}

static double norm_of(const Scalar *a, int n)
{
    double s = 0;
    int j;
    for (j = 0; j < n; j++) s += (double)a[j] * a[j];
    return sqrt(s);
}

static void test_slerp_properties(void)
{
    Scalar a[64], b[64], o[64];
    Rng r;
    int j;
    double na, nb;
    rng_seed(&r, 21, 0);
    for (j = 0; j < 64; j++) {
        a[j] = (Scalar)rng_normal(&r);
        b[j] = (Scalar)rng_normal(&r);
    }
    na = norm_of(a, 64);
    nb = norm_of(b, 64);
    for (j = 0; j < 64; j++) b[j] = (Scalar)(b[j] * na / nb); /* equal norms */
    amdm_slerp(a, b, 64, 0.0, o);
    for (j = 0; j < 64; j++) T_NEAR(o[j], a[j], 1e-5);
    amdm_slerp(a, b, 64, 1.0, o);
    for (j = 0; j < 64; j++) T_NEAR(o[j], b[j], 1e-5);
    amdm_slerp(a, b, 64, 0.5, o);
    T_NEAR(norm_of(o, 64), na, 1e-4 * na); /* the norm is preserved */
    amdm_slerp(a, a, 64, 0.5, o);          /* theta = 0: linear fallback, no NaN */
    for (j = 0; j < 64; j++) T_NEAR(o[j], a[j], 1e-6);
}

static void test_deviation_properties(void)
{
    Scalar xbar[2 * 16], m[2 * 16], o[2 * 16];
    Rng r;
    int j;
    double sd = 0.1, d2 = 0;
    rng_seed(&r, 22, 0);
    for (j = 0; j < 32; j++) {
        xbar[j] = (Scalar)rng_normal(&r);
        m[j] = (Scalar)rng_normal(&r);
    }
    amdm_deviate(xbar, m, 2, 16, sd, 1.0, o); /* eta = 1 lands on the shell */
    for (j = 0; j < 16; j++) d2 += ((double)o[j] - m[j]) * ((double)o[j] - m[j]);
    T_NEAR(sqrt(d2), sqrt(16.0) * sd, 1e-5);
    amdm_deviate(xbar, xbar, 2, 16, sd, 0.3, o); /* r = 0: stays at xbar */
    for (j = 0; j < 32; j++) T_OK(o[j] == xbar[j]);
}

/* ---------------------------------------------------------------- samplers */

#include "../control/multi.h"

static void test_zero_control_equals_plain_sampler(void)
{
    UNetConfig cc = ctrl_s_config(0);
    UNet score, ctrl[2];
    Classifier cls;
    CmadSpec spec;
    CmadProblem pr;
    MethodSpec cm = method_spec_default(METHOD_CMAD), pm = method_spec_default(METHOD_PRIOR);
    SampleOpts so = sample_opts_default();
    Rng r;
    Scalar *a = (Scalar *)malloc(sizeof(Scalar) * 3 * 784),
           *b = (Scalar *)malloc(sizeof(Scalar) * 3 * 784);
    int tg[3] = {3, 3, 3}, i, K = 4;
    size_t j;
    rng_seed(&r, 41, 0);
    t_small_score_net(&score, &r);
    classifier_build(&cls, ARCH_MLP);
    params_initialise(&cls.params, &r);
    cls.params.trainable = 0;
    for (i = 0; i < 2; i++) {
        unet_build(&ctrl[i], &cc);
        params_initialise(&ctrl[i].params, &r); /* conv_out is zero: u = 0 */
    }
    memset(&spec, 0, sizeof spec);
    spec.agents = 1;
    spec.batch = 3;
    spec.K = K;
    spec.lambda = 1;
    spec.rho = 1;
    cmad_problem_init(&pr, &spec);
    pr.score[0] = pr.score[1] = &score;
    pr.ctrl[0] = &ctrl[0];
    pr.ctrl[1] = &ctrl[1];
    pr.cls = &cls;
    /* one agent, zero control: the plain Euler-Maruyama sampler, bit for bit */
    multi_sample(&pr, NULL, &cm, K, 3, tg, 77, 0, a, NULL);
    so.K = K;
    so.batch = 3;
    so.seed = 77;
    so.use_ema = 0;
    sde_sample(&pr.sde, &score, 3, NULL, &so, b);
    T_OK(memcmp(a, b, sizeof(Scalar) * 3 * 784) == 0);
    /* two agents: zero controls give exactly the prior's images */
    spec.agents = 2;
    cmad_problem_init(&pr, &spec);
    pr.score[0] = pr.score[1] = &score;
    pr.ctrl[0] = &ctrl[0];
    pr.ctrl[1] = &ctrl[1];
    pr.cls = &cls;
    multi_sample(&pr, NULL, &cm, K, 3, tg, 78, 0, a, NULL);
    multi_sample(&pr, NULL, &pm, K, 3, tg, 78, 0, b, NULL);
    T_OK(memcmp(a, b, sizeof(Scalar) * 3 * 784) == 0);
    /* CDPS with a last, partial batch (3 samples in batches of 2): the third sample is the
     * one a lone batch of it gives (it once read the rest of a full batch) */
    {
        MethodSpec dm = method_spec_default(METHOD_CDPS);
        pr.spec.batch = 2;
        multi_sample(&pr, NULL, &dm, K, 3, tg, 79, 0, a, NULL);
        multi_sample(&pr, NULL, &dm, K, 1, tg, 79, 2, b, NULL);
        T_OK(memcmp(a + 2 * 784, b, sizeof(Scalar) * 784) == 0);
        for (j = 0; j < 3 * 784; j++) T_OK(isfinite((double)a[j]));
    }
    free(a);
    free(b);
    unet_free(&score);
    unet_free(&ctrl[0]);
    unet_free(&ctrl[1]);
    classifier_free(&cls);
}

const TestCase cmad_tests[] = {
    {"objective_golden", test_cmad_objective},
    {"cdps_step_golden", test_cdps_step_golden},
    {"amdm_step_golden", test_amdm_step_golden},
    {"slerp_properties", test_slerp_properties},
    {"deviation_properties", test_deviation_properties},
    {"zero_control_equals_plain_sampler", test_zero_control_equals_plain_sampler},
    {NULL, NULL},
};
