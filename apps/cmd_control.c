/* cmd_control.c - `cmad control train` and `cmad control sample`: CMAD's learned controls.
 *
 * train   optimises J (control/cmad.h) over the control nets by backpropagation through
 *         the simulated trajectory: `joint` (one Adam over every agent's control, fresh noise
 *         each iteration) or `ido` (coordinate descent: per outer iteration, each agent p in
 *         turn takes `inner` steps on J_p with the others as constants, its Adam state reset),
 *         per-agent gradient clipping at 1.0.  Writes the controls (safetensors, tensors
 *         "ctrl<i>.<param>") and a loss curve (CSV).
 * sample  the 500-step controlled sampler: PNG grid, .npy of every image, metrics JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"
#include "../control/metrics.h"
#include "../control/multi.h"
#include "../data/npy.h"
#include "../data/png.h"
#include "../nn/checkpoint.h"
#include "../tensor/platform.h"
#include "../tensor/safetensors.h"
#include "apps.h"
#include "args.h"
#include "common.h"

typedef struct CtlCfg {
    const char *score, *classifier, *evalc, *out, *curve, *opt, *target, *drift, *phi, *preset;
    int agents, batch, K, iters, outer, inner, threads, log_every, overlap, checkpointing;
    double lambda, rho, lr, lr_end; /* lr_end < 0: constant lr */
    long seed;
    /* copies of a controls file's metadata strings (the file is closed after loading) */
    char meta_target[16], meta_drift[16], meta_phi[16], meta_score[1024], meta_cls[1024];
    /* SHA-256 of the score net and objective classifier in use (set by setup) */
    char score_sha[SHA256_HEX_LEN + 1], cls_sha[SHA256_HEX_LEN + 1];
} CtlCfg;

/* ---------------------------------------------------------------- files */

static int controls_save(const char *path, const CmadProblem *pr, const CtlCfg *c, char *err,
                         size_t errcap)
{
    SafeWriter *w = st_writer_new();
    char nm[128], buf[512];
    int i, j, rc;
    for (i = 0; i < pr->spec.agents; i++) {
        const Params *p = &pr->ctrl[i]->params;
        for (j = 0; j < p->count; j++) {
            snprintf(nm, sizeof nm, "ctrl%d.%s", i, p->info[j].name);
            st_add(w, nm, ST_DTYPE_F32, p->info[j].ndim, p->info[j].shape,
                   p->data + p->info[j].offset);
        }
    }
    st_add_meta(w, "format", "cmad-c/1");
    st_add_meta(w, "model", "cmad-controls");
    unet_config_str(&pr->ctrl[0]->cfg, buf, sizeof buf);
    st_add_meta(w, "config", buf);
    st_add_metaf(w, "agents", "%d", pr->spec.agents);
    st_add_meta(w, "target", c->target);
    st_add_meta(w, "drift", c->drift);
    st_add_meta(w, "phi", c->phi);
    st_add_metaf(w, "overlap", "%d", c->overlap);
    st_add_metaf(w, "rho", "%.17g", c->rho);
    st_add_metaf(w, "lambda", "%.17g", c->lambda);
    st_add_meta(w, "opt", c->opt);
    st_add_meta(w, "score", c->score);
    st_add_meta(w, "classifier", c->classifier);
    st_add_meta(w, "score_sha256", c->score_sha);
    st_add_meta(w, "classifier_sha256", c->cls_sha);
    st_add_metaf(w, "seed", "%ld", c->seed);
    st_add_metaf(w, "lr", "%.17g", c->lr);
    st_add_metaf(w, "lr_end", "%.17g", c->lr_end < 0 ? c->lr : c->lr_end);
    rc = st_write(w, path, err, errcap);
    st_writer_free(w);
    return rc;
}

/* ---------------------------------------------------------------- shared set-up */

typedef struct CtlRun {
    UNet score, ctrl[PHI_MAX_AGENTS];
    Classifier cls;
    CmadProblem pr;
} CtlRun;

static int parse_target(const char *cmd, const char *s, int *amortised)
{
    char *end;
    long v;
    if (!strcmp(s, "all")) {
        *amortised = 1;
        return -1;
    }
    v = strtol(s, &end, 10);
    if (*end || end == s || v < 0 || v > 9)
        app_fail(cmd, "option --target wants a digit 0..9 or 'all', got '%s'", s);
    *amortised = 0;
    return (int)v;
}

static void setup(const char *cmd, CtlCfg *c, CtlRun *run, int amortised)
{
    CmadSpec spec;
    char err[1024];
    int i;
    memset(&spec, 0, sizeof spec);
    spec.agents = c->agents;
    spec.batch = c->batch;
    spec.K = c->K;
    spec.lambda = c->lambda;
    spec.rho = c->rho;
    if (!strcmp(c->drift, "g"))
        spec.drift = DRIFT_G;
    else if (!strcmp(c->drift, "g2"))
        spec.drift = DRIFT_G2;
    else
        app_fail(cmd, "option --drift wants g or g2, got '%s'", c->drift);
    if (phi_mode_parse(c->phi, &spec.phi_mode))
        app_fail(cmd, "option --phi wants split or average, got '%s'", c->phi);
    spec.overlap = c->overlap;
    spec.amortised = amortised;
    spec.checkpointing = c->checkpointing;
    cmad_problem_init(&run->pr, &spec);
    if (sha256_file_hex(c->score, c->score_sha, err, sizeof err) ||
        sha256_file_hex(c->classifier, c->cls_sha, err, sizeof err))
        app_fail(cmd, "%s", err);
    app_load_unet(cmd, c->score, &run->score);
    if (run->score.cfg.in_ch != 1 || run->score.cfg.num_classes != 0)
        app_fail(cmd, "%s: --score wants an unconditional score net (unet-s)", c->score);
    params_use_ema(&run->score.params);
    run->score.params.trainable = 0;
    app_load_classifier(cmd, c->classifier, ARCH_MLP, &run->cls);
    params_use_ema(&run->cls.params);
    run->cls.params.trainable = 0;
    run->pr.cls = &run->cls;
    for (i = 0; i < c->agents; i++) run->pr.score[i] = &run->score;
}

static void teardown(CtlRun *run, int agents)
{
    int i;
    for (i = 0; i < agents; i++) unet_free(&run->ctrl[i]);
    unet_free(&run->score);
    classifier_free(&run->cls);
    cmad_problem_free(&run->pr);
}

static CtlCfg ctl_defaults(void)
{
    CtlCfg c;
    memset(&c, 0, sizeof c);
    c.score = "models/unet-s.safetensors";
    c.classifier = APP_DEFAULT_OBJ;
    c.evalc = APP_DEFAULT_EVALC;
    c.opt = "joint";
    c.target = "3";
    c.drift = "g";
    c.phi = "split";
    c.agents = 2;
    c.batch = 16;
    c.K = 25;
    c.iters = 1000;
    c.outer = 300;
    c.inner = 5;
    c.lambda = 1;
    c.rho = 1;
    c.lr = 1e-4;
    c.lr_end = -1;
    c.log_every = 10;
    c.seed = 3;
    return c;
}

/* ---------------------------------------------------------------- train */

static double batch_accuracy(const Classifier *cls, const Scalar *y, int B, const int *tg)
{
    int lab[256], i, hit = 0;
    classify(cls, y, B, lab, NULL, NULL);
    for (i = 0; i < B; i++) hit += lab[i] == tg[i];
    return (double)hit / B;
}

static int control_train(int argc, char **argv)
{
    CtlCfg c = ctl_defaults();
    CtlRun run;
    Adam opt[PHI_MAX_AGENTS];
    Arena *a1, *a2;
    Graph g, gg;
    Rng rng;
    FILE *curve;
    int amortised, target, i, rc, ido;
    long it, total, step = 0;
    Scalar *x_init, *xi, *yf;
    int *tg;
    char err[512], outbuf[256], curvebuf[256];
    double t0;
    const Opt opts[] = {
        {"--preset", OPT_STR, &c.preset,
         "fast (minutes on a laptop) or paper (reference budgets); flags after it override", 0, -1},
        {"--agents", OPT_INT, &c.agents, "number of agents N", 1, PHI_MAX_AGENTS},
        {"--target", OPT_STR, &c.target,
         "target digit 0..9, or all (amortised: the label is an input)", 0, -1},
        {"--opt", OPT_STR, &c.opt, "joint or ido", 0, -1},
        {"--lambda", OPT_DOUBLE, &c.lambda, "weight of the control energy", 0, 1e6},
        {"--rho", OPT_DOUBLE, &c.rho,
         "weight of the running (Tweedie look-ahead) cost; 0 also zeroes G", 0, 1e6},
        {"--steps", OPT_INT, &c.K, "grid points K of the training rollout", 2, 1000},
        {"--batch", OPT_INT, &c.batch, "trajectories per iteration", 1, 256},
        {"--iters", OPT_INT, &c.iters, "joint: iterations", 1, 1e7},
        {"--outer", OPT_INT, &c.outer, "ido: outer iterations", 1, 1e7},
        {"--inner", OPT_INT, &c.inner, "ido: inner steps per agent", 1, 1e5},
        {"--lr", OPT_DOUBLE, &c.lr, "Adam learning rate", 1e-8, 1},
        {"--lr-end", OPT_DOUBLE, &c.lr_end,
         "learning rate at the end of a cosine decay from --lr (-1: constant)", -1, 1},
        {"--drift", OPT_STR, &c.drift, "control drift form: g (g u) or g2 (g^2 u)", 0, -1},
        {"--phi", OPT_STR, &c.phi, "aggregator: split or average", 0, -1},
        {"--overlap", OPT_INT, &c.overlap, "rows of band overlap (split)", 0, 13},
        {"--score", OPT_STR, &c.score, "unconditional score net checkpoint", 0, -1},
        {"--classifier", OPT_STR, &c.classifier, "objective classifier (mlp) checkpoint", 0, -1},
        {"--out", OPT_STR, &c.out,
         "controls file (default models/ctrl-n<N>-<target>-<opt>.safetensors)", 0, -1},
        {"--curve", OPT_STR, &c.curve, "loss curve CSV (default: the controls file with .csv)", 0,
         -1},
        {"--checkpointing", OPT_FLAG, &c.checkpointing,
         "recompute each step's activations in backward (flat memory in K)", 0, -1},
        {"--seed", OPT_LONG, &c.seed, "seed of initialisation, noise and targets", 0, 1e18},
        {"--threads", OPT_INT, &c.threads, "threads (0: OpenMP default)", 0, 1024},
        {"--log-every", OPT_INT, &c.log_every, "iterations between progress lines", 1, 1e9},
        {NULL, OPT_INT, NULL, NULL, 0, 0},
    };
    /* a preset sets defaults first; explicit flags then override it */
    for (i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--preset")) {
            if (!strcmp(argv[i + 1], "fast")) {
                c.K = 25;
                c.batch = 8;
                c.iters = 150;
                /* ido: 75 outer x 2 inner gives each agent joint's 150 updates */
                c.outer = 75;
                c.inner = 2;
                c.lr = 2e-3;
                c.lr_end = 2e-4;
                /* lambda 1 (the default) lets the controls game both classifiers with
                 * fragments of strokes; 10 keeps the images digit-like (README, CMAD) */
                c.lambda = 10;
            } else if (!strcmp(argv[i + 1], "paper")) {
                c.K = 25;
                c.lr = 1e-4;
                c.iters = 1000;
                c.outer = 300;
                c.inner = 5;
            } else {
                fprintf(stderr,
                        "cmad control train: option --preset wants fast or paper, got '%s'\n",
                        argv[i + 1]);
                return 2;
            }
        }
    rc = args_parse("control train",
                    "usage: cmad control train [options]\n"
                    "  Learns CMAD control nets (ctrl-s) for N agents sharing a frozen unet-s.",
                    opts, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (c.preset && !strcmp(c.preset, "paper") && c.agents >= 3)
        c.batch = c.batch == 16 ? 8 : c.batch;
    ido = !strcmp(c.opt, "ido");
    if (!ido && strcmp(c.opt, "joint"))
        app_fail("control train", "option --opt wants joint or ido, got '%s'", c.opt);
    target = parse_target("control train", c.target, &amortised);
    if (!c.out) {
        snprintf(outbuf, sizeof outbuf, "models/ctrl-n%d-%s-%s.safetensors", c.agents, c.target,
                 c.opt);
        c.out = outbuf;
    }
    if (!c.curve) {
        size_t n = strlen(c.out);
        snprintf(curvebuf, sizeof curvebuf, "%.*s.csv",
                 (int)(n > 12 && !strcmp(c.out + n - 12, ".safetensors") ? n - 12 : n), c.out);
        c.curve = curvebuf;
    }
    app_start("control train", c.threads, (uint64_t)c.seed);
    setup("control train", &c, &run, amortised);
    rng_seed(&rng, (uint64_t)c.seed, 0);
    for (i = 0; i < c.agents; i++) {
        UNetConfig cc = ctrl_s_config(amortised);
        unet_build(&run.ctrl[i], &cc);
        params_initialise(&run.ctrl[i].params, &rng);
        run.pr.ctrl[i] = &run.ctrl[i];
        opt[i] = adam_default(c.lr);
    }
    fprintf(stderr,
            "cmad control train: N=%d target %s opt %s K=%d batch %d lambda %g rho %g drift %s, "
            "%lu control parameters per agent\n",
            c.agents, c.target, c.opt, c.K, c.batch, c.lambda, c.rho, c.drift,
            (unsigned long)run.ctrl[0].params.total);
    x_init = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)c.agents * c.batch * 784);
    xi = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)(c.K > 2 ? c.K - 2 : 1) * c.agents * c.batch *
                           784);
    yf = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)c.batch * 784);
    tg = (int *)xmalloc(sizeof(int) * (size_t)c.batch);
    a1 = arena_new((size_t)256 << 20);
    a2 = arena_new((size_t)16 << 20);
    ag_graph_init(&g, a1);
    ag_graph_init(&gg, a2);
    curve = fopen(c.curve, "w");
    if (!curve) app_fail("control train", "cannot write the loss curve %s", c.curve);
    fprintf(curve, "iter,agent,J,energy,terminal,running,acc\n");
    total = ido ? (long)c.outer * c.agents * c.inner : c.iters;
    t0 = plat_now();
    for (it = 0; it < (ido ? c.outer : c.iters); it++) {
        int p, s, np = ido ? c.agents : 1, ns = ido ? c.inner : 1;
        /* cosine from lr to lr_end over the outer iterations (joint: over iterations) */
        double lr = lr_schedule(c.lr, c.lr_end, 0, it, ido ? c.outer : c.iters);
        for (p = 0; p < c.agents; p++) opt[p].lr = lr;
        /* the op profile leaves out the first iteration: it is the one that faults in the
         * arena's pages (4-7 s of a BPTT iteration of about 6 s on the Zen 4 host) */
        if (it == 1 && ag_profile_on()) ag_profile_reset();
        for (p = 0; p < np; p++) {
            int player = ido ? p : -1;
            if (ido) adam_reset(&opt[p], &run.ctrl[p].params);
            for (s = 0; s < ns; s++, step++) {
                CmadNoise nz;
                CmadTerms tm;
                Var *J;
                double acc;
                int b, a;
                for (b = 0; b < c.batch; b++) tg[b] = amortised ? (int)rng_below(&rng, 10) : target;
                cmad_noise_draw(&run.pr.spec, &run.pr.sde, (uint64_t)c.seed + 1, step * c.batch,
                                x_init, xi);
                memset(&nz, 0, sizeof nz);
                nz.x_init = x_init;
                nz.xi = xi;
                ag_graph_reset(&g);
                for (a = 0; a < c.agents; a++) params_zero_grad(&run.ctrl[a].params);
                if (c.checkpointing) {
                    cmad_objective_checkpointed(&g, &gg, &run.pr, &nz, tg, player, &tm, yf);
                    CHECK(isfinite(tm.J), "J is %g at iteration %ld", tm.J, it);
                } else {
                    J = cmad_objective(&g, &gg, &run.pr, &nz, tg, player, &tm, yf);
                    CHECK(isfinite(tm.J), "J is %g at iteration %ld", tm.J, it);
                    ag_backward(&g, J);
                }
                for (a = 0; a < c.agents; a++) {
                    if (ido && a != p) continue;
                    params_clip_grad(&run.ctrl[a].params, 1.0); /* per agent */
                    adam_step(&opt[a], &run.ctrl[a].params);
                }
                acc = batch_accuracy(&run.cls, yf, c.batch, tg);
                fprintf(curve, "%ld,%d,%.6g,%.6g,%.6g,%.6g,%.4f\n", step, player, tm.J, tm.energy,
                        tm.terminal, tm.running, acc);
                if ((step + 1) % c.log_every == 0 || step + 1 == total) {
                    char m[256];
                    double el = plat_now() - t0;
                    char who[48] = "";
                    if (ido) snprintf(who, sizeof who, "outer %ld agent %d ", it + 1, p);
                    snprintf(m, sizeof m,
                             "%sJ %.4f energy %.4f terminal %.4f running %.4f acc %.2f %.3f it/s",
                             who, tm.J, tm.energy, tm.terminal, tm.running, acc, (step + 1) / el);
                    app_progress("control train", -1, step + 1, total, m, (step + 1) * c.batch / el,
                                 el / (step + 1) * (total - step - 1));
                    fflush(curve);
                }
            }
        }
    }
    fclose(curve);
    if (controls_save(c.out, &run.pr, &c, err, sizeof err)) app_fail("control train", "%s", err);
    fprintf(
        stderr,
        "cmad control train: %ld updates in %.1f s, arena high-water %.0f MB, peak RSS %.0f MB; "
        "saved %s and %s\n",
        step, plat_now() - t0, (double)arena_high_water(a1) / 1048576.0, app_peak_mb(), c.out,
        c.curve);
    free(x_init);
    free(xi);
    free(yf);
    free(tg);
    arena_free(a1);
    arena_free(a2);
    teardown(&run, c.agents);
    return 0;
}

/* ---------------------------------------------------------------- sample */

/* A metadata string of f copied into buf (fallback when absent; too long is an error). */
static const char *meta_copy(const SafeFile *f, const char *key, const char *fallback, char *buf,
                             size_t cap)
{
    const char *v = st_meta(f, key);
    if (!v) return fallback;
    if (strlen(v) >= cap)
        app_fail("control sample", "%s: metadata %s is too long (%lu bytes)", st_path(f), key,
                 (unsigned long)strlen(v));
    memcpy(buf, v, strlen(v) + 1);
    return buf;
}

/* path itself unless it is the copy of a recorded path (meta) that does not exist here, in
 * which case the default, with a note on stderr. */
static const char *recorded_or_default(const char *path, const char *meta, const char *dflt,
                                       const char *what)
{
    FILE *probe;
    if (path != meta) return path;
    probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        return path;
    }
    fprintf(stderr,
            "cmad control sample: the %s net the controls name (%s) is not here; using %s\n", what,
            path, dflt);
    return dflt;
}

/* Loads the controls of every agent; fills c's fields from the file's metadata. */
static void controls_load(const char *cmd, const char *path, CtlCfg *c, CtlRun *run)
{
    char err[512], nm[128];
    SafeFile *f = st_open(path, err, sizeof err);
    const char *m, *cfgs;
    UNetConfig cc;
    int i, j, amortised;
    if (!f) app_fail(cmd, "%s", err);
    m = st_meta(f, "model");
    cfgs = st_meta(f, "config");
    if (!m || strcmp(m, "cmad-controls") || !cfgs || !st_meta(f, "agents"))
        app_fail(cmd, "%s: not a cmad-c controls file (metadata model is not cmad-controls)", path);
    if (unet_config_parse(cfgs, &cc, err, sizeof err)) app_fail(cmd, "%s: %s", path, err);
    c->agents = (int)app_meta_number(cmd, f, "agents", 0, 1, PHI_MAX_AGENTS, 1);
    c->target = meta_copy(f, "target", "3", c->meta_target, sizeof c->meta_target);
    c->drift = meta_copy(f, "drift", "g", c->meta_drift, sizeof c->meta_drift);
    c->phi = meta_copy(f, "phi", "split", c->meta_phi, sizeof c->meta_phi);
    /* the score net the controls were trained with, unless --score names another */
    if (!c->score) c->score = meta_copy(f, "score", NULL, c->meta_score, sizeof c->meta_score);
    if (!c->score) c->score = "models/unet-s.safetensors";
    if (!c->classifier)
        c->classifier = meta_copy(f, "classifier", NULL, c->meta_cls, sizeof c->meta_cls);
    if (!c->classifier) c->classifier = APP_DEFAULT_OBJ;
    /* a path recorded on another machine: the shipped default, said aloud */
    c->score = recorded_or_default(c->score, c->meta_score, "models/unet-s.safetensors", "score");
    c->classifier = recorded_or_default(c->classifier, c->meta_cls, APP_DEFAULT_OBJ, "classifier");
    c->overlap = (int)app_meta_number(cmd, f, "overlap", 0, 0, 13, 1);
    c->rho = app_meta_number(cmd, f, "rho", 1.0, 0, 1e6, 0);
    (void)parse_target(cmd, c->target, &amortised);
    setup(cmd, c, run, amortised);
    app_check_trained_with(cmd, f, path, "score_sha256", "score", c->score, c->score_sha);
    app_check_trained_with(cmd, f, path, "classifier_sha256", "classifier", c->classifier,
                           c->cls_sha);
    app_check_config_fits(cmd, path, st_total_numel(f), &cc, c->agents);
    for (i = 0; i < c->agents; i++) {
        Params *p;
        unet_build(&run->ctrl[i], &cc);
        p = &run->ctrl[i].params;
        for (j = 0; j < p->count; j++) {
            snprintf(nm, sizeof nm, "ctrl%d.%s", i, p->info[j].name);
            if (st_load_scalar(f, nm, p->info[j].ndim, p->info[j].shape,
                               p->data + p->info[j].offset, err, sizeof err))
                app_fail(cmd, "%s", err);
        }
        p->trainable = 0;
        run->pr.ctrl[i] = &run->ctrl[i];
    }
    st_close(f);
}

static int write_sample_outputs(const char *cmd, const char *png, const char *npy, const Scalar *y,
                                int n)
{
    char err[512];
    int shape[3];
    if (png && png_write_grid(png, y, n < 64 ? n : 64, 28, 28, 8, 2, err, sizeof err))
        app_fail(cmd, "%s", err);
    shape[0] = n;
    shape[1] = shape[2] = 28;
    if (npy && npy_write_f32(npy, 3, shape, y, err, sizeof err)) app_fail(cmd, "%s", err);
    return 0;
}

static int control_sample(int argc, char **argv)
{
    CtlCfg c = ctl_defaults();
    CtlRun run;
    const char *controls = NULL, *png = "samples-cmad.png", *npy = NULL, *metrics = NULL,
               *tstr = NULL;
    int n = 256, K = 500, rc, amortised, target, i, have_eval = 0;
    MethodSpec ms = method_spec_default(METHOD_CMAD);
    Scalar *y;
    int *tg;
    Classifier evalc;
    Metrics m;
    double t0, nfe = 0;
    const Opt opts[] = {
        {"--controls", OPT_STR, &controls, "controls file from cmad control train (required)", 0,
         -1},
        {"--n", OPT_INT, &n, "samples", 1, 1000000},
        {"--steps", OPT_INT, &K, "grid points of the sampler", 2, 100000},
        {"--batch", OPT_INT, &c.batch, "samples per batch", 1, 1024},
        {"--target", OPT_STR, &tstr, "target digit (amortised controls only; default: cycle 0..9)",
         0, -1},
        {"--eval-classifier", OPT_STR, &c.evalc,
         "cnn-eval checkpoint for acc_eval (skipped if absent)", 0, -1},
        {"--score", OPT_STR, &c.score,
         "score net (default: the one the controls were trained with)", 0, -1},
        {"--classifier", OPT_STR, &c.classifier,
         "objective classifier (default: the one the controls were trained with)", 0, -1},
        {"--png", OPT_STR, &png, "PNG grid of the first 64 samples", 0, -1},
        {"--npy", OPT_STR, &npy, "every sample as float32 .npy (n, 28, 28)", 0, -1},
        {"--metrics", OPT_STR, &metrics, "metrics JSON", 0, -1},
        {"--seed", OPT_LONG, &c.seed, "noise seed (sample j uses streams of index j)", 0, 1e18},
        {"--threads", OPT_INT, &c.threads, "threads (0: OpenMP default)", 0, 1024},
        {NULL, OPT_INT, NULL, NULL, 0, 0},
    };
    c.batch = 64;
    c.seed = 0;
    c.score = c.classifier = NULL;
    rc = args_parse(
        "control sample",
        "usage: cmad control sample --controls FILE [options]\n"
        "  Samples with learned CMAD controls on the 500-step grid and scores the images.",
        opts, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (!controls) app_fail("control sample", "option --controls is required");
    app_start("control sample", c.threads, (uint64_t)c.seed);
    controls_load("control sample", controls, &c, &run);
    target = parse_target("control sample", c.target, &amortised);
    if (tstr) {
        int dummy;
        if (!amortised)
            app_fail("control sample", "--target: these controls were trained for digit %s only",
                     c.target);
        target = parse_target("control sample", tstr, &dummy);
    }
    run.pr.spec.batch = c.batch;
    y = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n * 784);
    tg = (int *)xmalloc(sizeof(int) * (size_t)n);
    for (i = 0; i < n; i++) tg[i] = target >= 0 ? target : i % 10;
    have_eval = app_load_eval_classifier("control sample", c.evalc, &evalc);
    t0 = plat_now();
    nfe = app_multi_sample("control sample", "cmad", &run.pr, NULL, &ms, K, n, tg, (uint64_t)c.seed,
                           y);
    metrics_compute(&run.pr.phi, &run.cls, have_eval ? &evalc : NULL, y, n, tg, &m);
    fprintf(stderr,
            "cmad control sample: %d samples, K=%d, %.1f s: acc_obj %.4f acc_eval %.4f terminal "
            "%.4f seam %.5f\n",
            n, K, plat_now() - t0, m.acc_obj, m.acc_eval, m.terminal, m.seam);
    write_sample_outputs("control sample", png, npy, y, n);
    if (metrics) { /* the metrics, then the run record (command, git, checkpoint SHA-256s) */
        StrBuf b = {NULL, 0, 0};
        RunRecord rec;
        run_record_init(&rec, "control sample", c.seed);
        run_record_file(&rec, "controls", controls);
        run_record_file(&rec, "score", c.score);
        run_record_file(&rec, "classifier", c.classifier);
        if (have_eval) run_record_file(&rec, "eval_classifier", c.evalc);
        run_record_print(&rec);
        strbuf_printf(&b,
                      "{\"method\": \"cmad\", \"agents\": %d, \"target\": \"%s\", \"n\": %d, "
                      "\"steps\": %d, \"batch\": %d, \"acc_obj\": %.6f, \"acc_eval\": %.6f, "
                      "\"terminal\": %.6f, \"seam\": %.6f, \"nfe\": %.1f, \"seconds\": %.2f, "
                      "\"peak_mb\": %.0f,\n ",
                      c.agents, tstr ? tstr : c.target, n, K, c.batch, m.acc_obj, m.acc_eval,
                      m.terminal, m.seam, nfe, plat_now() - t0, app_peak_mb());
        run_record_json(&rec, &b);
        strbuf_printf(&b, "}\n");
        strbuf_write("control sample", &b, metrics);
        strbuf_free(&b);
        run_record_free(&rec);
    }
    if (have_eval) classifier_free(&evalc);
    free(y);
    free(tg);
    teardown(&run, c.agents);
    return 0;
}

int cmd_control(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "train")) return control_train(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "sample")) return control_sample(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: cmad control train|sample [options]   (each has --help)\n");
        return 0;
    }
    fprintf(stderr, "cmad control: want 'train' or 'sample' (cmad control --help)\n");
    return 2;
}
