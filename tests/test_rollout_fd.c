/* test_rollout_fd.c - finite-difference audit of dJ/d(control parameters) through a
 * 3-update CMAD rollout with pre-sampled noise, for both drift forms and for the joint and
 * IDO objectives.  Small random nets keep it quick; every weight is non-zero so every path
 * matters.  Finite differences of a float rollout say little, so the float build skips
 * these tests; `make check-grad` runs them in the double build with tol 1e-6. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../control/cmad.h"
#include "harness.h"

static void randomise(Params *p, Rng *r, double scale)
{
    size_t i;
    for (i = 0; i < p->total; i++) p->data[i] = (Scalar)(scale * rng_normal(r));
}

static UNetConfig tiny(int in_ch)
{
    UNetConfig c = ctrl_s_config(0);
    c.in_ch = in_ch;
    c.ch[0] = 4;
    c.ch[1] = 8;
    c.sin_dim = 8;
    c.emb_dim = 8;
    c.groups = 2;
    c.attention = in_ch == 1; /* the score net also exercises attention */
    return c;
}

static double rollout_J(CmadProblem *pr, const CmadNoise *nz, const int *tg, int player, Arena *a1,
                        Arena *a2, int backward)
{
    Graph g, gg;
    Var *J;
    double v;
    ag_graph_init(&g, a1);
    ag_graph_init(&gg, a2);
    ag_graph_reset(&g);
    if (!backward) ag_set_grad_enabled(&g, 0);
    J = cmad_objective(&g, &gg, pr, nz, tg, player, NULL, NULL);
    v = (double)J->val.data[0];
    if (backward) ag_backward(&g, J);
    return v;
}

static void check_rollout(DriftForm drift, int player)
{
    UNetConfig sc = tiny(1), cc = tiny(3);
    UNet score, ctrl[2];
    Classifier cls;
    CmadSpec spec;
    CmadProblem pr;
    CmadNoise nz;
    Rng r;
    Scalar *x_init, *xi, *gfix, *xfix;
    Arena *a1 = arena_new((size_t)16 << 20), *a2 = arena_new((size_t)4 << 20);
    int tg[2] = {3, 7}, i, a, checked = 0;
    double h = 1e-5, tol = 1e-6, worst = 0, amax = 0;
    memset(&spec, 0, sizeof spec);
    spec.agents = 2;
    spec.batch = 2;
    spec.K = 4;
    spec.lambda = 1;
    spec.rho = 1;
    spec.drift = drift;
    cmad_problem_init(&pr, &spec);
    rng_seed(&r, 31, 0);
    unet_build(&score, &sc);
    randomise(&score.params, &r, 0.2);
    score.params.trainable = 0;
    classifier_build(&cls, ARCH_MLP);
    randomise(&cls.params, &r, 0.05);
    cls.params.trainable = 0;
    for (a = 0; a < 2; a++) {
        unet_build(&ctrl[a], &cc);
        randomise(&ctrl[a].params, &r, 0.2);
        pr.ctrl[a] = &ctrl[a];
        pr.score[a] = &score;
    }
    pr.cls = &cls;
    x_init = (Scalar *)malloc(sizeof(Scalar) * 2 * 2 * 784);
    xi = (Scalar *)malloc(sizeof(Scalar) * 2 * 2 * 2 * 784);
    gfix = (Scalar *)malloc(sizeof(Scalar) * 3 * 2 * 2 * 784);
    xfix = (Scalar *)malloc(sizeof(Scalar) * 4 * 2 * 2 * 784);
    cmad_noise_draw(&spec, &pr.sde, 5, 0, x_init, xi);
    memset(&nz, 0, sizeof nz);
    nz.x_init = x_init;
    nz.xi = xi;
    nz.g_record = gfix;
    nz.x_record = xfix;
    for (a = 0; a < 2; a++) params_zero_grad(&ctrl[a].params);
    rollout_J(&pr, &nz, tg, player, a1, a2, 1);
    /* perturbed rollouts keep the guidance (and, for IDO, the other agents' states) of the
       unperturbed one: the constants of the objective */
    nz.g_record = nz.x_record = NULL;
    nz.g_replay = gfix;
    nz.x_replay = xfix;
    for (a = 0; a < 2; a++)
        for (i = 0; i < (int)ctrl[a].params.total; i++)
            if (fabs((double)ctrl[a].params.grad[i]) > amax)
                amax = fabs((double)ctrl[a].params.grad[i]);
    T_OK(amax > 0);
    for (a = 0; a < 2; a++) {
        Params *p = &ctrl[a].params;
        int t;
        /* the first element of every third tensor, plus the largest-gradient element */
        for (t = 0; t <= p->count; t++) {
            size_t e = 0, j;
            if (t < p->count && t % 3 != 0) continue;
            double num, ana, den, err, lp, lm;
            Scalar keep;
            if (t < p->count) {
                e = p->info[t].offset;
            } else {
                for (j = 0; j < p->total; j++)
                    if (fabs((double)p->grad[j]) > fabs((double)p->grad[e])) e = j;
            }
            keep = p->data[e];
            p->data[e] = (Scalar)((double)keep + h);
            lp = rollout_J(&pr, &nz, tg, player, a1, a2, 0);
            p->data[e] = (Scalar)((double)keep - h);
            lm = rollout_J(&pr, &nz, tg, player, a1, a2, 0);
            p->data[e] = keep;
            num = (lp - lm) / (2 * h);
            ana = (double)p->grad[e];
            if (player >= 0 && a != player) {
                T_OK(ana == 0); /* J_p does not train the other agent */
                continue;
            }
            den = fmax(fmax(fabs(num), fabs(ana)), 1e-3 * amax);
            err = fabs(num - ana) / den;
            if (getenv("CMAD_FD_VERBOSE"))
                fprintf(stderr, "agent %d %s[%lu] num %.10e ana %.10e err %.2e\n", a,
                        t < p->count ? p->info[t].name : "max", (unsigned long)e, num, ana, err);
            if (err > worst) worst = err;
            checked++;
        }
    }
    T_OK(checked > 10);
    if (!(worst < tol))
        t_report(__FILE__, __LINE__, "drift %s player %d: max rel err %.3e over %d elements",
                 drift == DRIFT_G ? "g" : "g2", player, worst, checked);
    free(x_init);
    free(xi);
    free(gfix);
    free(xfix);
    arena_free(a1);
    arena_free(a2);
    unet_free(&score);
    unet_free(&ctrl[0]);
    unet_free(&ctrl[1]);
    classifier_free(&cls);
}

static void check_or_skip(DriftForm drift, int player)
{
    if (sizeof(Scalar) != sizeof(double))
        t_skip("double build only: make check-grad");
    else
        check_rollout(drift, player);
}

static void test_fd_joint_g(void) { check_or_skip(DRIFT_G, -1); }
static void test_fd_joint_g2(void) { check_or_skip(DRIFT_G2, -1); }
static void test_fd_ido_g(void) { check_or_skip(DRIFT_G, 0); }
static void test_fd_ido_g2(void) { check_or_skip(DRIFT_G2, 1); }

const TestCase rollout_fd_tests[] = {
    {"joint_g", test_fd_joint_g},
    {"joint_g2", test_fd_joint_g2},
    {"ido_g_player0", test_fd_ido_g},
    {"ido_g2_player1", test_fd_ido_g2},
    {NULL, NULL},
};
