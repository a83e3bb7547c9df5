/* bench_cmad.c - the control methods' expensive steps, with randomly initialised nets
 * (unet-s score nets, frozen; ctrl-s control nets; the MLP objective classifier, frozen).
 *
 *   cmad_nN_bB_kK  one joint BPTT iteration of CMAD without checkpointing: graph reset,
 *                  zero control gradients, cmad_objective (the K-step controlled rollout,
 *                  guidance channel, running cost) and ag_backward.  Rate in iterations
 *                  per second; peak_mb is the high-water mark of the rollout's arena plus
 *                  the guidance graph's, i.e. the memory one iteration needs.
 *   cdps_n2_b64    one CDPS update (parity mode) of two agents at batch 64: score and
 *                  Tweedie through both frozen score nets, task loss, input gradients.
 *
 *   mem (section, on request): the memory of one step of each case, measured once (the
 *                  figures are deterministic): a unet-s training step at batch 64, the
 *                  BPTT iterations above, and the checkpointed objective at K = 5 and 25.
 *                  CMAD_MEM_CASES=a,b runs only the cases whose names contain a or b;
 *                  CMAD_MEM_DETAIL=1 prints the tape's memory by op kind after backward.
 *
 * The thread count is the runner's (OMP_NUM_THREADS or --threads); these cases are slow,
 * so they use BENCH_HEAVY_REPS repeats after the warm-up.  Check: every repeat of a case
 * runs on the same noise, so it must give the same J (CDPS: the same states) bit for bit,
 * and J must be finite; otherwise the case fails and is not reported. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../control/baselines.h"
#include "../control/cmad.h"
#include "../nn/classifier.h"
#include "../nn/unet.h"
#include "../sde/sde.h"
#include "../tensor/platform.h"
#include "bench.h"

#define BENCH_HEAVY_REPS 3
#define MAX_AGENTS 3

typedef struct Nets {
    UNet score, ctrl[MAX_AGENTS];
    Classifier cls;
} Nets;

/* Random nets; zero-initialised output layers get small values so no path is idle. */
static void nets_build(Nets *n, int agents)
{
    UNetConfig sc = unet_s_config(0), cc = ctrl_s_config(0);
    Rng r;
    size_t j;
    int i;
    rng_seed(&r, 5, 0);
    unet_build(&n->score, &sc);
    params_initialise(&n->score.params, &r);
    for (j = 0; j < n->score.params.total; j++)
        if (n->score.params.data[j] == 0) n->score.params.data[j] = (Scalar)(0.01 * rng_normal(&r));
    n->score.params.trainable = 0;
    for (i = 0; i < agents; i++) {
        unet_build(&n->ctrl[i], &cc);
        params_initialise(&n->ctrl[i].params, &r);
        for (j = 0; j < n->ctrl[i].params.total; j++)
            if (n->ctrl[i].params.data[j] == 0)
                n->ctrl[i].params.data[j] = (Scalar)(0.01 * rng_normal(&r));
    }
    classifier_build(&n->cls, ARCH_MLP);
    params_initialise(&n->cls.params, &r);
    n->cls.params.trainable = 0;
}

static void nets_free(Nets *n, int agents)
{
    int i;
    unet_free(&n->score);
    for (i = 0; i < agents; i++) unet_free(&n->ctrl[i]);
    classifier_free(&n->cls);
}

static void problem(CmadProblem *pr, Nets *n, int agents, int batch, int K, int ckpt)
{
    CmadSpec spec;
    int i;
    memset(&spec, 0, sizeof spec);
    spec.agents = agents;
    spec.batch = batch;
    spec.K = K;
    spec.lambda = 1;
    spec.rho = 1;
    spec.drift = DRIFT_G;
    spec.phi_mode = PHI_SPLIT;
    spec.checkpointing = ckpt;
    cmad_problem_init(pr, &spec);
    for (i = 0; i < agents; i++) {
        pr->score[i] = &n->score;
        pr->ctrl[i] = &n->ctrl[i];
    }
    pr->cls = &n->cls;
}

/* One joint CMAD iteration's whole set-up: nets, problem, noise (seed 11), target 3, arenas. */
typedef struct CmadCase {
    Nets n;
    CmadProblem pr;
    CmadNoise nz;
    CmadTerms tm;
    Arena *a1, *a2;
    Graph g, gg;
    Scalar *x_init, *xi;
    int *tg, agents;
} CmadCase;

static void case_open(CmadCase *c, int agents, int batch, int K, size_t arena_bytes)
{
    size_t np = (size_t)agents * batch * 784;
    int b;
    c->agents = agents;
    c->a1 = arena_new(arena_bytes);
    c->a2 = arena_new((size_t)64 << 20);
    c->x_init = (Scalar *)xmalloc(sizeof(Scalar) * np);
    c->xi = (Scalar *)xmalloc(sizeof(Scalar) * np * (size_t)(K - 2));
    c->tg = (int *)xmalloc(sizeof(int) * (size_t)batch);
    nets_build(&c->n, agents);
    problem(&c->pr, &c->n, agents, batch, K, 1); /* the cases run both objectives */
    for (b = 0; b < batch; b++) c->tg[b] = 3;
    cmad_noise_draw(&c->pr.spec, &c->pr.sde, 11, 0, c->x_init, c->xi);
    memset(&c->nz, 0, sizeof c->nz);
    c->nz.x_init = c->x_init;
    c->nz.xi = c->xi;
    ag_graph_init(&c->g, c->a1);
    ag_graph_init(&c->gg, c->a2);
}

/* One iteration (graph reset, zero gradients, objective, backward); returns J. */
static double case_iter(CmadCase *c, int ckpt)
{
    int i;
    ag_graph_reset(&c->g);
    for (i = 0; i < c->agents; i++) params_zero_grad(&c->n.ctrl[i].params);
    if (ckpt) {
        cmad_objective_checkpointed(&c->g, &c->gg, &c->pr, &c->nz, c->tg, -1, &c->tm, NULL);
    } else {
        Var *J = cmad_objective(&c->g, &c->gg, &c->pr, &c->nz, c->tg, -1, &c->tm, NULL);
        ag_backward(&c->g, J);
    }
    return c->tm.J;
}

static double case_peak_mb(const CmadCase *c)
{
    return (double)(arena_high_water(c->a1) + arena_high_water(c->a2)) / 1048576.0;
}

static void case_close(CmadCase *c)
{
    nets_free(&c->n, c->agents);
    cmad_problem_free(&c->pr);
    free(c->x_init);
    free(c->xi);
    free(c->tg);
    arena_free(c->a1);
    arena_free(c->a2);
}

static BenchResult *report(BenchReport *rep, const char *name, const char *params, double *t,
                           int reps, const char *unit, double peak_mb)
{
    BenchResult *res = bench_timed(rep, "cmad", name, params, t, reps, 1.0, unit);
    if (!res) return NULL;
    res->peak_mb = peak_mb;
    printf("%-22s %-34s %4d %10.1f %10.1f %10.3f %-8s %9.1f\n", res->name, res->params,
           res->threads, res->ms_median, res->ms_min, res->rate, res->rate_unit, peak_mb);
    fflush(stdout);
    return res;
}

/* ---------------------------------------------------------------- CMAD BPTT */

static int bench_cmad_iter(BenchReport *rep, int agents, int batch, int K)
{
    CmadCase c;
    int k, failed = 0;
    double t[BENCH_HEAVY_REPS], J0 = 0;
    char name[48], params[96];
    case_open(&c, agents, batch, K, (size_t)1 << 30);
    for (k = -1; k < BENCH_HEAVY_REPS; k++) { /* k = -1: warm-up, its J is the reference */
        double t0 = plat_now(), J = case_iter(&c, 0);
        if (k >= 0) t[k] = plat_now() - t0;
        if (k < 0)
            J0 = J;
        else if (J != J0 || !isfinite(J))
            failed = 1;
    }
    snprintf(name, sizeof name, "cmad_n%d_b%d_k%d", agents, batch, K);
    snprintf(params, sizeof params, "joint BPTT iter, N=%d B=%d K=%d, no ckpt", agents, batch, K);
    if (failed)
        fprintf(stderr, "bench cmad: %s: J differs between repeats or is not finite\n", name);
    else
        report(rep, name, params, t, BENCH_HEAVY_REPS, "iter/s", case_peak_mb(&c));
    case_close(&c);
    return failed;
}

/* ---------------------------------------------------------------- CDPS step */

static int bench_cdps(BenchReport *rep)
{
    const int agents = 2, batch = 64;
    Nets n;
    CmadProblem pr;
    CdpsStep cs;
    Arena *a = arena_new((size_t)512 << 20);
    Graph g;
    size_t per = (size_t)batch * 784;
    Scalar *X0 = (Scalar *)xmalloc(sizeof(Scalar) * per * agents),
           *X = (Scalar *)xmalloc(sizeof(Scalar) * per * agents),
           *XI = (Scalar *)xmalloc(sizeof(Scalar) * per * agents), *ref = NULL;
    Scalar *Xp[MAX_AGENTS], *XIp[MAX_AGENTS];
    int *tg = (int *)xmalloc(sizeof(int) * batch), k, b, failed = 0;
    double t[BENCH_HEAVY_REPS], loss;
    size_t j;
    Rng r;
    nets_build(&n, agents);
    problem(&pr, &n, agents, batch, 500, 0);
    memset(&cs, 0, sizeof cs);
    cs.mode = CDPS_PARITY;
    cs.gamma = 100;
    rng_seed(&r, 12, 0);
    for (j = 0; j < per * agents; j++) {
        X0[j] = (Scalar)rng_normal(&r);
        XI[j] = (Scalar)rng_normal(&r);
    }
    for (b = 0; b < agents; b++) {
        Xp[b] = X + (size_t)b * per;
        XIp[b] = XI + (size_t)b * per;
    }
    for (b = 0; b < batch; b++) tg[b] = 3;
    ag_graph_init(&g, a);
    for (k = -1; k < BENCH_HEAVY_REPS; k++) {
        double t0;
        memcpy(X, X0, sizeof(Scalar) * per * agents);
        t0 = plat_now();
        ag_graph_reset(&g);
        cdps_step(&g, &pr, &cs, Xp, batch, 0.5, 1.0 / 500, (const Scalar *const *)XIp, tg, &loss,
                  NULL);
        if (k >= 0) t[k] = plat_now() - t0;
        if (k < 0) {
            ref = (Scalar *)xmalloc(sizeof(Scalar) * per * agents);
            memcpy(ref, X, sizeof(Scalar) * per * agents);
        } else if (memcmp(ref, X, sizeof(Scalar) * per * agents) != 0 || !isfinite(loss)) {
            failed = 1;
        }
    }
    if (failed)
        fprintf(stderr, "bench cmad: cdps_n2_b64: states differ between repeats\n");
    else
        report(rep, "cdps_n2_b64", "CDPS parity step, N=2 B=64", t, BENCH_HEAVY_REPS, "step/s",
               (double)arena_high_water(a) / 1048576.0);
    nets_free(&n, agents);
    free(X0);
    free(X);
    free(XI);
    free(ref);
    free(tg);
    arena_free(a);
    return failed;
}

int bench_cmad(BenchReport *rep)
{
    int failed = 0;
    printf("\n== cmad: control methods (%s, %d threads, median of %d after a warm-up) ==\n",
           SCALAR_NAME, plat_threads(), BENCH_HEAVY_REPS);
    printf("%-22s %-34s %4s %10s %10s %10s %-8s %9s\n", "case", "params", "thr", "ms_med", "ms_min",
           "rate", "unit", "peak_MB");
    failed |= bench_cdps(rep);
    failed |= bench_cmad_iter(rep, 2, 16, 25);
    failed |= bench_cmad_iter(rep, 3, 8, 25);
    return failed;
}

/* ---------------------------------------------------------------- memory of one step */

static int mem_wanted(const char *name)
{
    const char *list = getenv("CMAD_MEM_CASES"), *p;
    if (!list || !*list) return 1;
    for (p = list; *p;) {
        size_t len = strcspn(p, ",");
        char part[48];
        if (len > 0 && len < sizeof part) {
            memcpy(part, p, len);
            part[len] = '\0';
            if (strstr(name, part)) return 1;
        }
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static int mem_detail(void)
{
    const char *d = getenv("CMAD_MEM_DETAIL");
    return d && *d && strcmp(d, "0") != 0;
}

static void mem_report(BenchReport *rep, const char *name, const char *params, double secs,
                       double peak_mb)
{
    double t[1];
    t[0] = secs;
    report(rep, name, params, t, 1, "step/s", peak_mb);
}

/* One unet-s DSM training step (forward and backward; the optimiser adds no graph memory). */
static void mem_train(BenchReport *rep, int batch)
{
    UNetConfig cfg = unet_s_config(0);
    Sde sde = sde_vp();
    UNet net;
    Arena *a = arena_new((size_t)256 << 20);
    Graph g;
    Rng r;
    Scalar *x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)batch * 784);
    int shape[4] = {0, 1, 28, 28};
    char name[48], params[96];
    double t0;
    size_t j;
    Var *loss;
    snprintf(name, sizeof name, "mem_train_b%d", batch);
    if (!mem_wanted(name)) {
        free(x);
        arena_free(a);
        return;
    }
    shape[0] = batch;
    unet_build(&net, &cfg);
    rng_seed(&r, 1, 0);
    params_initialise(&net.params, &r);
    for (j = 0; j < (size_t)batch * 784; j++) x[j] = (Scalar)(2 * rng_uniform(&r) - 1);
    ag_graph_init(&g, a);
    t0 = plat_now();
    params_zero_grad(&net.params);
    loss = sde_dsm_loss(&g, &sde, &net, ag_leaf(&g, x, NULL, 0, 4, shape, "x0"), NULL, &r, 0);
    ag_backward(&g, loss);
    snprintf(params, sizeof params, "unet-s DSM fwd+bwd N=%d", batch);
    mem_report(rep, name, params, plat_now() - t0, (double)arena_high_water(a) / 1048576.0);
    if (mem_detail()) ag_print_memory(&g, stdout);
    unet_free(&net);
    free(x);
    arena_free(a);
}

/* One joint iteration of CMAD, with or without checkpointing. */
static void mem_cmad(BenchReport *rep, int agents, int batch, int K, int ckpt)
{
    CmadCase c;
    char name[48], params[96];
    double t0;
    snprintf(name, sizeof name, "mem_cmad_n%d_b%d_k%d%s", agents, batch, K, ckpt ? "_ckpt" : "");
    if (!mem_wanted(name)) return;
    case_open(&c, agents, batch, K, (size_t)256 << 20);
    t0 = plat_now();
    case_iter(&c, ckpt);
    snprintf(params, sizeof params, "joint iter N=%d B=%d K=%d, %s", agents, batch, K,
             ckpt ? "ckpt" : "no ckpt");
    mem_report(rep, name, params, plat_now() - t0, case_peak_mb(&c));
    if (mem_detail()) ag_print_memory(&c.g, stdout);
    case_close(&c);
}

int bench_mem(BenchReport *rep)
{
    printf("\n== mem: arena high-water of one step (%s, %d threads, one run) ==\n", SCALAR_NAME,
           plat_threads());
    printf("%-22s %-34s %4s %10s %10s %10s %-8s %9s\n", "case", "params", "thr", "ms", "ms", "rate",
           "unit", "peak_MB");
    mem_train(rep, 64);
    mem_cmad(rep, 2, 16, 5, 0);
    mem_cmad(rep, 2, 16, 25, 0);
    mem_cmad(rep, 3, 8, 25, 0);
    mem_cmad(rep, 2, 16, 5, 1);
    mem_cmad(rep, 2, 16, 25, 1);
    return 0;
}
