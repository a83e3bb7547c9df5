/* cmd_train.c - `cmad train-score` (unet-s, optionally class-conditional, DSM loss) and
 * `cmad train-classifier` (objective MLP or cnn-eval, cross-entropy).
 *
 * Both train with Adam, linear warm-up, global gradient clipping and an EMA of the
 * weights, and save the whole training state (weights, EMA, Adam moments, step, RNG) so
 * that `--resume` continues bit for bit.  Epoch e visits the training set in the order of
 * a permutation drawn from its own stream (seed, 1000 + e), so the batch of a step
 * depends on the step alone; the last partial batch of an epoch is dropped.  The options
 * that shape the run are saved with it (metadata "train") and `--resume` refuses others. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"
#include "../nn/checkpoint.h"
#include "../sde/sde.h"
#include "../tensor/platform.h"
#include "apps.h"
#include "args.h"
#include "common.h"

typedef struct TrainCfg {
    const char *data, *out, *state;
    int epochs, batch, threads, resume, log_every, save_every, warmup;
    long max_steps;
    double lr, lr_end, clip, ema, wd;
    long seed;
    char recipe[1024]; /* the options that shape the run (train_recipe) */
} TrainCfg;

/* ---------------------------------------------------------------- the run's recipe */

/* Options that leave the trajectory alone: where files are, how often to log or save,
 * threads (results do not depend on them), and the run length (see train_loop). */
static int recipe_skips(const char *name)
{
    static const char *const skip[] = {"--data",    "--out",       "--state",
                                       "--threads", "--log-every", "--save-every",
                                       "--resume",  "--epochs",    "--steps"};
    size_t k;
    for (k = 0; k < sizeof skip / sizeof skip[0]; k++)
        if (!strcmp(name, skip[k])) return 1;
    return 0;
}

/* c->recipe = "name=value;..." over every option of the table but those above, so that an
 * option added later is covered without a change here.  Doubles keep all 17 digits. */
static void train_recipe(const char *cmd, const Opt *o, TrainCfg *c)
{
    size_t used = 0;
    for (; o->name; o++) {
        char v[64];
        int n;
        if (recipe_skips(o->name)) continue;
        switch (o->kind) {
        case OPT_INT:
        case OPT_FLAG: snprintf(v, sizeof v, "%d", *(const int *)o->dst); break;
        case OPT_LONG: snprintf(v, sizeof v, "%ld", *(const long *)o->dst); break;
        case OPT_DOUBLE: snprintf(v, sizeof v, "%.17g", *(const double *)o->dst); break;
        default: snprintf(v, sizeof v, "%s", *(const char *const *)o->dst); break;
        }
        CHECK(!strchr(v, ';') && !strchr(v, '='), "%s: option %s holds ';' or '='", cmd, o->name);
        n = snprintf(c->recipe + used, sizeof c->recipe - used, "%s%s=%s", used ? ";" : "",
                     o->name + 2, v);
        CHECK(n > 0 && (size_t)n < sizeof c->recipe - used, "%s: recipe too long", cmd);
        used += (size_t)n;
    }
}

/* --resume: the state at `path` must have been made with this run's recipe (a state from
 * before recipes were recorded is let through with a note).  Returns the training seconds
 * the state records, so that a model file counts the time of every leg. */
static double resume_check(const char *cmd, const char *path, const char *recipe)
{
    char err[512], why[384], *end;
    SafeFile *f = st_open(path, err, sizeof err);
    const char *have, *secs;
    double before = 0.0;
    if (!f) app_fail(cmd, "--resume: %s", err);
    err[0] = '\0';
    have = st_meta(f, "train");
    secs = st_meta(f, "train_seconds");
    if (!have)
        fprintf(stderr,
                "cmad %s: note: %s records no training options (an older file); not checked\n", cmd,
                path);
    else if (ckpt_recipe_diff(have, recipe, why, sizeof why))
        snprintf(err, sizeof err,
                 "--resume: %s: made by a run with other options (%s); resume with the same "
                 "options, or start a new run with another --out",
                 path, why);
    if (!err[0] && secs) {
        before = strtod(secs, &end);
        if (end == secs || *end || !(before >= 0.0 && before < 1e12))
            snprintf(err, sizeof err, "--resume: %s: metadata train_seconds is '%.40s', not a time",
                     path, secs);
    }
    st_close(f);
    if (err[0]) app_fail(cmd, "%s", err);
    return before;
}

/* The images of step `step`: batch `b` of epoch `e` of the shuffled training set. */
static void batch_of_step(const Mnist *m, long step, int batch, uint64_t seed, int *order,
                          long *cached_epoch, int *idx)
{
    long spe = m->n / batch, e = step / spe, pos = (step % spe) * batch;
    if (e != *cached_epoch) {
        Rng r;
        rng_seed(&r, seed, 1000 + (uint64_t)e);
        mnist_shuffle(&r, order, m->n);
        *cached_epoch = e;
    }
    memcpy(idx, order + pos, sizeof(int) * (size_t)batch);
}

/* Shared loop: `step_fn` builds the loss of one batch; returns it for the progress line. */
typedef double (*StepFn)(void *ctx, Graph *g, const Scalar *x, const int *labels, int n, Rng *rng);

static void train_loop(const char *cmd, const TrainCfg *c, const Mnist *m, Params *p,
                       const char *model, const char *config, StepFn step_fn, void *ctx,
                       void (*on_epoch)(void *ctx, long epoch))
{
    Adam opt = adam_default(c->lr);
    Rng rng;
    TrainState ts;
    Arena *arena = arena_new((size_t)256 << 20);
    Graph g;
    long spe = m->n / c->batch, total = c->max_steps > 0 ? c->max_steps : spe * c->epochs;
    long cached_epoch = -1, step;
    int *order = (int *)xmalloc(sizeof(int) * (size_t)m->n);
    int *idx = (int *)xmalloc(sizeof(int) * (size_t)c->batch);
    int *labels = (int *)xmalloc(sizeof(int) * (size_t)c->batch);
    Scalar *x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)c->batch * MNIST_PIXELS);
    double t0 = plat_now(), tlog = t0, loss_acc = 0.0, norm_acc = 0.0, t_before = 0.0;
    long nlog = 0, start;
    char err[512], metrics[128], recipe[sizeof c->recipe + 48];
    CHECK(spe >= 1, "batch larger than the data set");
    opt.weight_decay = c->wd;
    rng_seed(&rng, (uint64_t)c->seed, 1);
    ts.opt = &opt;
    ts.rng = &rng;
    ts.step = 0;
    /* The cosine decay depends on the run length, so a cosine run's length is part of what a
     * resumed run must share; a constant rate can be trained for longer. */
    if (c->lr_end >= 0)
        snprintf(recipe, sizeof recipe, "%s;schedule-steps=%ld", c->recipe, total);
    else
        snprintf(recipe, sizeof recipe, "%s", c->recipe);
    if (c->resume) {
        t_before = resume_check(cmd, c->state, recipe);
        if (ckpt_load(c->state, p, model, &ts, err, sizeof err)) app_fail(cmd, "--resume: %s", err);
        fprintf(stderr, "cmad %s: resumed from %s at step %ld\n", cmd, c->state, ts.step);
    }
    start = ts.step;
    ag_graph_init(&g, arena);
    for (step = start; step < total; step++) {
        double loss, norm;
        batch_of_step(m, step, c->batch, (uint64_t)c->seed, order, &cached_epoch, idx);
        mnist_batch(m, idx, c->batch, x, labels);
        ag_graph_reset(&g);
        params_zero_grad(p);
        loss = step_fn(ctx, &g, x, labels, c->batch, &rng);
        CHECK(isfinite(loss), "loss is %g at step %ld", loss, step);
        norm = params_clip_grad(p, c->clip);
        opt.lr = lr_schedule(c->lr, c->lr_end, c->warmup, step, total);
        adam_step(&opt, p);
        params_ema_update(p, c->ema);
        loss_acc += loss;
        norm_acc += norm;
        nlog++;
        ts.step = step + 1;
        if ((step + 1) % c->log_every == 0 || step + 1 == total) {
            double now = plat_now(), rate = (double)nlog * c->batch / (now - tlog);
            snprintf(metrics, sizeof metrics, "loss %.5f gnorm %.3f lr %.2e", loss_acc / nlog,
                     norm_acc / nlog, opt.lr);
            app_progress(cmd, step / spe, step + 1, total, metrics, rate,
                         (double)(total - step - 1) * c->batch / rate);
            tlog = now;
            loss_acc = norm_acc = 0.0;
            nlog = 0;
        }
        if ((c->save_every > 0 && (step + 1) % c->save_every == 0) || step + 1 == total) {
            char secs[32];
            const char *meta[] = {"seed", NULL, "train_seconds", secs, "train", NULL, NULL};
            char seedbuf[32];
            snprintf(seedbuf, sizeof seedbuf, "%ld", c->seed);
            meta[1] = seedbuf;
            meta[5] = recipe;
            snprintf(secs, sizeof secs, "%.1f", t_before + plat_now() - t0); /* every leg */
            /* the training state (with Adam) and the model file (weights and EMA) */
            if (ckpt_save(c->state, p, model, config, &ts, meta, err, sizeof err) ||
                ckpt_save(c->out, p, model, config, NULL, meta, err, sizeof err))
                app_fail(cmd, "%s", err);
        }
        if (on_epoch && ((step + 1) % spe == 0 || step + 1 == total)) on_epoch(ctx, step / spe);
    }
    fprintf(stderr,
            "cmad %s: %ld steps in %.1f s, arena high-water %.1f MB, peak RSS %.0f MB, saved %s "
            "and %s\n",
            cmd, total - start, plat_now() - t0, (double)arena_high_water(arena) / 1048576.0,
            app_peak_mb(), c->out, c->state);
    free(order);
    free(idx);
    free(labels);
    free(x);
    arena_free(arena);
}

/* ---------------------------------------------------------------- options */

#define TRAIN_MAX_OPTS 24

static Opt opt_make(const char *name, OptKind kind, void *dst, const char *help, double lo,
                    double hi)
{
    Opt o;
    o.name = name;
    o.kind = kind;
    o.dst = dst;
    o.help = help;
    o.lo = lo;
    o.hi = hi;
    return o;
}

/* The options every training command has, ended by the table terminator; returns how
 * many entries it wrote before the terminator. */
static int train_opts(Opt *o, TrainCfg *c, const char *seed_help)
{
    int n = 0;
    o[n++] = opt_make("--data", OPT_STR, &c->data, "folder with the raw MNIST files", 0, -1);
    o[n++] =
        opt_make("--out", OPT_STR, &c->out,
                 "model file to write: weights and EMA (none: the net's file in models/)", 0, -1);
    o[n++] = opt_make("--state", OPT_STR, &c->state,
                      "training-state file (adds Adam, step, RNG; --resume reads it; none: --out's "
                      "name with .state)",
                      0, -1);
    o[n++] = opt_make("--epochs", OPT_INT, &c->epochs, "passes over the 60000 training images", 1,
                      10000);
    o[n++] = opt_make("--steps", OPT_LONG, &c->max_steps,
                      "stop after this many steps (0: use --epochs)", 0, 1e9);
    o[n++] = opt_make("--batch", OPT_INT, &c->batch, "images per step", 1, 60000);
    o[n++] = opt_make("--lr", OPT_DOUBLE, &c->lr, "Adam learning rate after warm-up", 1e-8, 1);
    o[n++] = opt_make(
        "--lr-end", OPT_DOUBLE, &c->lr_end,
        "learning rate at the last step, cosine from --lr after warm-up (-1: constant)", -1, 1);
    o[n++] =
        opt_make("--warmup", OPT_INT, &c->warmup, "steps of linear learning-rate warm-up", 1, 1e9);
    o[n++] = opt_make("--clip", OPT_DOUBLE, &c->clip, "global gradient-norm clip (0: off)", 0, 1e9);
    o[n++] = opt_make("--ema", OPT_DOUBLE, &c->ema, "EMA decay of the weights", 0, 1);
    o[n++] = opt_make("--wd", OPT_DOUBLE, &c->wd, "weight decay", 0, 1);
    o[n++] = opt_make("--seed", OPT_LONG, &c->seed, seed_help, 0, 1e18);
    o[n++] = opt_make("--threads", OPT_INT, &c->threads, "threads (0: OpenMP default)", 0, 1024);
    o[n++] =
        opt_make("--log-every", OPT_INT, &c->log_every, "steps between progress lines", 1, 1e9);
    o[n++] = opt_make("--save-every", OPT_INT, &c->save_every,
                      "steps between checkpoints (0: only at the end)", 0, 1e9);
    o[n++] = opt_make("--resume", OPT_FLAG, &c->resume,
                      "continue from the training state at --state", 0, -1);
    o[n] = opt_make(NULL, OPT_INT, NULL, NULL, 0, 0);
    return n;
}

/* ---------------------------------------------------------------- train-score */

typedef struct ScoreCtx {
    UNet *net;
    Sde sde;
    int cond, stratified;
    double drop;
    int *labels;
} ScoreCtx;

static double score_step(void *vctx, Graph *g, const Scalar *x, const int *labels, int n, Rng *rng)
{
    ScoreCtx *c = (ScoreCtx *)vctx;
    int shape[4] = {0, 1, 28, 28}, i;
    Var *xv, *loss;
    shape[0] = n;
    if (c->cond)
        for (i = 0; i < n; i++) c->labels[i] = rng_uniform(rng) < c->drop ? 10 : labels[i];
    xv = ag_leaf(g, (Scalar *)x, NULL, 0, 4, shape, "x0");
    loss = sde_dsm_loss(g, &c->sde, c->net, xv, c->cond ? c->labels : NULL, rng, c->stratified);
    ag_backward(g, loss);
    return (double)loss->val.data[0];
}

/* Default training-state path: the model path with ".state" before ".safetensors". */
static void state_path(TrainCfg *c, char *buf, size_t cap)
{
    size_t n = strlen(c->out), ext = strlen(".safetensors");
    if (c->state) return;
    if (n > ext && !strcmp(c->out + n - ext, ".safetensors"))
        snprintf(buf, cap, "%.*s.state.safetensors", (int)(n - ext), c->out);
    else
        snprintf(buf, cap, "%s.state", c->out);
    c->state = buf;
}

static TrainCfg train_defaults(void)
{
    TrainCfg c;
    memset(&c, 0, sizeof c);
    c.lr_end = -1;
    c.data = APP_DEFAULT_DATA;
    c.batch = 64;
    c.log_every = 100;
    c.save_every = 1000;
    c.warmup = 500;
    c.clip = 1.0;
    c.ema = 0.999;
    c.seed = 1;
    return c;
}

int cmd_train_score(int argc, char **argv)
{
    TrainCfg c = train_defaults();
    ScoreCtx ctx;
    UNet net;
    UNetConfig cfg;
    Mnist m;
    Rng init;
    char config[512], statebuf[1024];
    int rc;
    Opt opts[TRAIN_MAX_OPTS];
    int no = 0;
    opts[no++] = opt_make("--cond", OPT_FLAG, &ctx.cond,
                          "class-conditional (label 10 = null, 10% dropped)", 0, -1);
    opts[no++] = opt_make("--stratified-t", OPT_FLAG, &ctx.stratified,
                          "sample i of a batch of N draws t from the i-th of N equal parts of "
                          "[1e-5, 1] (same expected loss, less variance)",
                          0, -1);
    no += train_opts(opts + no, &c, "seed of initialisation, batches and noise");
    memset(&ctx, 0, sizeof ctx);
    c.epochs = 10;
    c.lr = 1e-3;
    c.out = NULL;
    rc = args_parse(
        "train-score",
        "usage: cmad train-score [options]\n"
        "  Trains the score network unet-s on MNIST with denoising score matching (VP SDE).",
        opts, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    train_recipe("train-score", opts, &c);
    if (!c.out) c.out = ctx.cond ? "models/unet-s-cond.safetensors" : "models/unet-s.safetensors";
    state_path(&c, statebuf, sizeof statebuf);
    app_start("train-score", c.threads, (uint64_t)c.seed);
    app_load_mnist("train-score", c.data, "train", &m);
    cfg = unet_s_config(ctx.cond);
    unet_build(&net, &cfg);
    rng_seed(&init, (uint64_t)c.seed, 0);
    params_initialise(&net.params, &init);
    unet_config_str(&cfg, config, sizeof config);
    fprintf(stderr,
            "cmad train-score: %s, %lu parameters, batch %d, lr %g, warm-up %d, %d epochs, t %s\n",
            unet_name(&cfg), (unsigned long)net.params.total, c.batch, c.lr, c.warmup, c.epochs,
            ctx.stratified ? "stratified" : "uniform");
    ctx.net = &net;
    ctx.sde = sde_vp();
    ctx.drop = 0.1;
    ctx.labels = (int *)xmalloc(sizeof(int) * (size_t)c.batch);
    train_loop("train-score", &c, &m, &net.params, unet_name(&cfg), config, score_step, &ctx, NULL);
    free(ctx.labels);
    unet_free(&net);
    mnist_free(&m);
    return 0;
}

/* ---------------------------------------------------------------- train-classifier */

typedef struct ClsCtx {
    Classifier *c;
    Mnist test;
    const char *cmd;
    int shift;      /* --shift: each image moves by up to this many pixels (0: off) */
    double noise;   /* --noise: each image gets N(0, sigma^2) pixel noise, sigma ~ U(0, noise) */
    double adv_eps; /* --adv-eps: train on L2 PGD adversarial images of this radius (0: off) */
    int adv_steps;  /* --adv-steps: PGD steps of the attack */
    Scalar *moved;  /* [batch, 784] the augmented images, allocated once */
    Scalar *adv;    /* [batch, 784] the attacked images (--adv-eps), allocated once */
    Scalar *delta;  /* [batch, 784] the attack's perturbation */
} ClsCtx;

static double cls_step(void *vctx, Graph *g, const Scalar *x, const int *labels, int n, Rng *rng)
{
    ClsCtx *c = (ClsCtx *)vctx;
    int shape[4] = {0, 1, 28, 28}, i;
    Var *loss;
    shape[0] = n;
    if (c->shift > 0) { /* serial draws from the training RNG: the same bits at any thread count */
        uint32_t span = (uint32_t)(2 * c->shift + 1);
        for (i = 0; i < n; i++) {
            int dx = (int)rng_below(rng, span) - c->shift,
                dy = (int)rng_below(rng, span) - c->shift;
            mnist_shift(x + (size_t)i * MNIST_PIXELS, c->moved + (size_t)i * MNIST_PIXELS, dx, dy);
        }
        x = c->moved;
    }
    if (c->noise > 0) { /* serial draws as above; after the shift, so both can be on */
        for (i = 0; i < n; i++) {
            const Scalar *src = x + (size_t)i * MNIST_PIXELS;
            Scalar *dst = c->moved + (size_t)i * MNIST_PIXELS;
            double sigma = c->noise * rng_uniform(rng);
            int p;
            for (p = 0; p < MNIST_PIXELS; p++) dst[p] = src[p] + (Scalar)(sigma * rng_normal(rng));
        }
        x = c->moved;
    }
    if (c->adv_eps > 0) {
        /* Madry et al.'s adversarial training: the batch is replaced by its attacked copy */
        classifier_pgd_l2(g, c->c, x, labels, n, c->adv_eps, c->adv_steps, c->delta, c->adv);
        x = c->adv;
    }
    loss = ag_mean(
        g,
        ag_softmax_ce(
            g, classifier_forward(g, c->c, ag_leaf(g, (Scalar *)x, NULL, 0, 4, shape, "x"), NULL),
            labels));
    ag_backward(g, loss);
    return (double)loss->val.data[0];
}

/* Test accuracy of c (its EMA when use_ema) on m; with eps > 0, on the images after an L2
 * PGD attack of that radius and `steps` steps (classifier_pgd_l2) instead. */
static double accuracy_under(Classifier *c, const Mnist *m, int use_ema, double eps, int steps)
{
    Arena *ar = arena_new((size_t)64 << 20);
    Graph g;
    int B = 500, i, correct = 0, b0;
    int *idx = (int *)xmalloc(sizeof(int) * (size_t)B),
        *lab = (int *)xmalloc(sizeof(int) * (size_t)B);
    Scalar *x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)B * MNIST_PIXELS);
    Scalar *xa = eps > 0 ? (Scalar *)xmalloc(sizeof(Scalar) * (size_t)B * MNIST_PIXELS) : NULL;
    Scalar *d = eps > 0 ? (Scalar *)xmalloc(sizeof(Scalar) * (size_t)B * MNIST_PIXELS) : NULL;
    Scalar *keep = c->params.data;
    if (use_ema) c->params.data = c->params.ema;
    ag_graph_init(&g, ar);
    ag_set_grad_enabled(&g, 0); /* the attack turns gradients on for itself */
    for (b0 = 0; b0 < m->n; b0 += B) {
        int nb = m->n - b0 < B ? m->n - b0 : B, shape[4] = {0, 1, 28, 28};
        Var *y;
        for (i = 0; i < nb; i++) idx[i] = b0 + i;
        mnist_batch(m, idx, nb, x, lab);
        if (eps > 0) classifier_pgd_l2(&g, c, x, lab, nb, eps, steps, d, xa);
        shape[0] = nb;
        ag_graph_reset(&g);
        y = classifier_forward(&g, c, ag_leaf(&g, eps > 0 ? xa : x, NULL, 0, 4, shape, "x"), NULL);
        for (i = 0; i < nb; i++) correct += classifier_argmax(y->val.data + i * 10) == lab[i];
    }
    c->params.data = keep;
    free(idx);
    free(lab);
    free(x);
    free(xa);
    free(d);
    arena_free(ar);
    return (double)correct / m->n;
}

double classifier_accuracy(Classifier *c, const Mnist *m, int use_ema)
{
    return accuracy_under(c, m, use_ema, 0, 0);
}

static void cls_epoch(void *vctx, long epoch)
{
    ClsCtx *c = (ClsCtx *)vctx;
    fprintf(stderr, "cmad %s: epoch %ld test accuracy %.2f%% (weights) %.2f%% (EMA)\n", c->cmd,
            epoch, 100.0 * classifier_accuracy(c->c, &c->test, 0),
            100.0 * classifier_accuracy(c->c, &c->test, 1));
    if (c->adv_eps > 0)
        fprintf(stderr,
                "cmad %s: epoch %ld test accuracy under an L2 attack of %g (%d steps): "
                "%.2f%% (EMA)\n",
                c->cmd, epoch, c->adv_eps, c->adv_steps,
                100.0 * accuracy_under(c->c, &c->test, 1, c->adv_eps, c->adv_steps));
}

/* --arch: mlp or cnn (also cnn-eval) into *a; -1 with one error line otherwise. */
static int arch_of(const char *cmd, const char *arch, ClassifierArch *a)
{
    if (!strcmp(arch, "mlp"))
        *a = ARCH_MLP;
    else if (!strcmp(arch, "cnn") || !strcmp(arch, "cnn-eval"))
        *a = ARCH_CNN;
    else {
        fprintf(stderr, "cmad %s: option --arch wants mlp or cnn, got '%s'\n", cmd, arch);
        return -1;
    }
    return 0;
}

int cmd_train_classifier(int argc, char **argv)
{
    TrainCfg c = train_defaults();
    ClsCtx ctx;
    Classifier cls;
    Mnist m;
    Rng init;
    const char *arch = "mlp";
    ClassifierArch a;
    char statebuf[1024];
    int rc;
    Opt opts[TRAIN_MAX_OPTS];
    int no = 0;
    opts[no++] = opt_make("--arch", OPT_STR, &arch,
                          "mlp (the objective classifier) or cnn (cnn-eval)", 0, -1);
    opts[no++] = opt_make("--shift", OPT_INT, &ctx.shift,
                          "augmentation: move each training image by up to this many pixels", 0, 8);
    opts[no++] = opt_make("--noise", OPT_DOUBLE, &ctx.noise,
                          "augmentation: add Gaussian pixel noise, its std drawn per image from "
                          "U(0, this)",
                          0, 10);
    opts[no++] =
        opt_make("--adv-eps", OPT_DOUBLE, &ctx.adv_eps,
                 "adversarial training: L2 radius of the PGD attack on each image (0: off)", 0, 28);
    opts[no++] = opt_make("--adv-steps", OPT_INT, &ctx.adv_steps,
                          "adversarial training: PGD steps per batch", 1, 100);
    no += train_opts(opts + no, &c, "seed of initialisation and batches");
    ctx.shift = 0;
    ctx.noise = 0;
    ctx.adv_eps = 0;
    ctx.adv_steps = 7;
    ctx.moved = ctx.adv = ctx.delta = NULL;
    c.epochs = 10;
    c.batch = 128;
    c.lr = 1e-3;
    c.warmup = 100;
    c.clip = 0;
    c.ema = 0.999;
    c.seed = 2;
    rc = args_parse(
        "train-classifier",
        "usage: cmad train-classifier [options]\n"
        "  Trains the objective MLP (--arch mlp) or the evaluation CNN (--arch cnn) on MNIST.",
        opts, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (arch_of("train-classifier", arch, &a)) return 2;
    arch = a == ARCH_MLP ? "mlp" : "cnn"; /* one spelling in the recipe */
    train_recipe("train-classifier", opts, &c);
    if (!c.out) c.out = a == ARCH_MLP ? "models/mlp.safetensors" : "models/cnn-eval.safetensors";
    state_path(&c, statebuf, sizeof statebuf);
    app_start("train-classifier", c.threads, (uint64_t)c.seed);
    app_load_mnist("train-classifier", c.data, "train", &m);
    app_load_mnist("train-classifier", c.data, "t10k", &ctx.test);
    classifier_build(&cls, a);
    rng_seed(&init, (uint64_t)c.seed, 0);
    params_initialise(&cls.params, &init);
    fprintf(stderr,
            "cmad train-classifier: %s, %lu parameters, batch %d, lr %g, %d epochs, shift %d, "
            "noise %g, adversarial L2 %g (%d steps)\n",
            classifier_name(a), (unsigned long)cls.params.total, c.batch, c.lr, c.epochs, ctx.shift,
            ctx.noise, ctx.adv_eps, ctx.adv_eps > 0 ? ctx.adv_steps : 0);
    ctx.c = &cls;
    ctx.cmd = "train-classifier";
    if (ctx.shift > 0 || ctx.noise > 0)
        ctx.moved = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)c.batch * MNIST_PIXELS);
    if (ctx.adv_eps > 0) {
        ctx.adv = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)c.batch * MNIST_PIXELS);
        ctx.delta = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)c.batch * MNIST_PIXELS);
    }
    train_loop("train-classifier", &c, &m, &cls.params, classifier_name(a), classifier_name(a),
               cls_step, &ctx, cls_epoch);
    free(ctx.moved);
    free(ctx.adv);
    free(ctx.delta);
    classifier_free(&cls);
    mnist_free(&m);
    mnist_free(&ctx.test);
    return 0;
}

/* ---------------------------------------------------------------- test-classifier */

int cmd_test_classifier(int argc, char **argv)
{
    const char *model = APP_DEFAULT_OBJ, *arch = "mlp", *data = APP_DEFAULT_DATA;
    double eps = 0;
    int steps = 7, threads = 0, rc;
    ClassifierArch a;
    Classifier cls;
    Mnist test;
    Opt opts[] = {
        {"--model", OPT_STR, &model, "classifier checkpoint", 0, -1},
        {"--arch", OPT_STR, &arch, "mlp or cnn", 0, -1},
        {"--data", OPT_STR, &data, "folder with the raw MNIST files", 0, -1},
        {"--adv-eps", OPT_DOUBLE, &eps, "also attack each test image: L2 radius of PGD (0: off)", 0,
         28},
        {"--adv-steps", OPT_INT, &steps, "PGD steps of the attack", 1, 100},
        {"--threads", OPT_INT, &threads, "threads (0: OpenMP default)", 0, 1024},
        {NULL, OPT_INT, NULL, NULL, 0, 0},
    };
    rc = args_parse("test-classifier",
                    "usage: cmad test-classifier [options]\n"
                    "  MNIST test accuracy of a classifier's EMA weights, clean and, with\n"
                    "  --adv-eps, under an L2 PGD attack (how easily it can be fooled).",
                    opts, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (arch_of("test-classifier", arch, &a)) return 2;
    app_start("test-classifier", threads, 0);
    app_load_classifier("test-classifier", model, a, &cls);
    app_load_mnist("test-classifier", data, "t10k", &test);
    printf("%s: test accuracy %.2f%% (EMA)", model, 100.0 * classifier_accuracy(&cls, &test, 1));
    if (eps > 0)
        printf(", under an L2 PGD attack of %g (%d steps) %.2f%%", eps, steps,
               100.0 * accuracy_under(&cls, &test, 1, eps, steps));
    printf("\n");
    classifier_free(&cls);
    mnist_free(&test);
    return 0;
}
