/* cmd_sample.c - `cmad sample`: draws images from a trained score net (unet-s, plain or
 * class-conditional) with the Euler-Maruyama sampler (alone or with a Langevin corrector) or
 * the probability-flow Heun sampler, writes a PNG grid and the raw floats (.npy), and,
 * given cnn-eval, reports on them; `cmad score`: the same report on saved samples (.npy).
 *
 * The report: the share of samples cnn-eval classifies with p >= 0.9, the class histogram,
 * the accuracy against the requested labels (when there are some), and, given MNIST, fd:
 * the Frechet distance of cnn-eval's penultimate features to those of the MNIST test images
 * (of the requested class when every sample asks for the same one, else of all classes),
 * next to the range of the same distance over disjoint sets of as many real training images
 * (fd is biased upward at small n and moves with the class mix, so only figures at the same
 * n compare, and only a figure outside the real range says more than the confident share);
 * then the line that makes it traceable: command, seed, git revision, file hashes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../control/metrics.h"
#include "../data/npy.h"
#include "../data/png.h"
#include "../sde/sde.h"
#include "../tensor/linalg.h"
#include "../tensor/platform.h"
#include "apps.h"
#include "args.h"
#include "common.h"

/* fd's yardstick: the same distance for this many disjoint sets of n real training images,
 * reported as a range (at n = 1024 over all classes it spans 6.4 to 11.3: fd at such n
 * tells a model's samples from real ones only when it falls outside that range). */
#define FD_REAL_SETS 5

/* labels [n] for --label: a digit, 'all' (cycles 0..9) or 'null' (10). */
static int *parse_labels(const char *cmd, const char *label, int n)
{
    int *labels = (int *)xmalloc(sizeof(int) * (size_t)n), i, v;
    if (!strcmp(label, "all"))
        v = -1;
    else if (!strcmp(label, "null"))
        v = 10;
    else if (strlen(label) == 1 && label[0] >= '0' && label[0] <= '9')
        v = label[0] - '0';
    else
        app_fail(cmd, "option --label wants 0..9, all or null, got '%s'", label);
    for (i = 0; i < n; i++) labels[i] = v < 0 ? i % 10 : v;
    return labels;
}

/* Loads MNIST for fd: 1; 0 when dir is the default and holds no MNIST (fd is then skipped);
 * a named folder without it, or a corrupt file, exits naming it. */
static int load_fd_data(const char *cmd, const char *dir, Mnist *train, Mnist *test)
{
    char probe[1024];
    FILE *f;
    snprintf(probe, sizeof probe, "%s/t10k-images-idx3-ubyte", dir);
    f = fopen(probe, "rb");
    if (f)
        fclose(f);
    else if (!strcmp(dir, APP_DEFAULT_DATA))
        return 0;
    app_load_mnist(cmd, dir, "t10k", test);
    app_load_mnist(cmd, dir, "train", train);
    return 1;
}

/* The report of the header comment on samples x [n, 784] (labels [n] or NULL; train and
 * test NULL: no fd), then the run record's line. */
static void report(const Classifier *c, const Scalar *x, int n, const int *labels,
                   const Mnist *train, const Mnist *test, const RunRecord *rec)
{
    int *lab = (int *)xmalloc(sizeof(int) * (size_t)n), hist[10] = {0}, confident = 0, hit = 0, i;
    Scalar *conf = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n);
    double *feat = app_features(c, x, n, lab, conf); /* one pass: labels and fd's features */
    StrBuf line = {NULL, 0, 0};
    for (i = 0; i < n; i++) {
        hist[lab[i]]++;
        confident += conf[i] >= (Scalar)0.9;
        if (labels && labels[i] < 10) hit += lab[i] == labels[i];
    }
    printf("confident (cnn-eval p >= 0.9): %.2f%% of %d\nclass histogram:", 100.0 * confident / n,
           n);
    for (i = 0; i < 10; i++) printf(" %d:%d", i, hist[i]);
    printf("\n");
    if (labels && labels[0] < 10)
        printf("accuracy against the requested label: %.2f%%\n", 100.0 * hit / n);
    if (test) {
        int cls = labels && labels[0] < 10 ? labels[0] : -1, nreal, nheld, sets = 0, k;
        Scalar *real;
        double *freal, fd, lo = 0, hi = 0;
        for (i = 1; i < n && cls >= 0; i++)
            if (labels[i] != cls) cls = -1; /* a mix of classes: against all of them */
        nreal = app_class_images(test, cls, 0, test->n, &real);
        freal = app_features(c, real, nreal, NULL, NULL);
        fd = frechet_distance(feat, n, freal, nreal, 128);
        for (k = 0; k < FD_REAL_SETS; k++) { /* disjoint sets of n training images */
            Scalar *held;
            double *fheld, f;
            nheld = app_class_images(train, cls, k * n, n, &held);
            if (nheld == n) {
                fheld = app_features(c, held, nheld, NULL, NULL);
                f = frechet_distance(fheld, nheld, freal, nreal, 128);
                lo = sets && lo < f ? lo : f;
                hi = sets && hi > f ? hi : f;
                sets++;
                free(fheld);
            }
            free(held);
        }
        printf("fd (cnn-eval features) against the %d MNIST test images", nreal);
        if (cls >= 0) printf(" of class %d", cls);
        printf(": %.3f", fd);
        if (sets)
            printf("; real training images, %d disjoint sets of %d: %.3f to %.3f", sets, n, lo, hi);
        printf("\n");
        free(real);
        free(freal);
    }
    run_record_line(rec, &line, 0);
    printf("%s\n", line.s);
    strbuf_free(&line);
    free(lab);
    free(conf);
    free(feat);
}

int cmd_sample(int argc, char **argv)
{
    const char *model = "models/unet-s.safetensors", *png = "samples.png", *npy = NULL,
               *evalc = APP_DEFAULT_EVALC, *sampler = "em", *label = NULL, *data = APP_DEFAULT_DATA;
    int n = 64, threads = 0, raw = 0, rc, i, *labels = NULL, have_eval = 0, have_data = 0;
    Mnist train, test;
    Classifier c;
    long seed = 0;
    SampleOpts so = sample_opts_default();
    Sde sde = sde_vp();
    UNet net;
    Scalar *x;
    double t0;
    char err[512];
    RunRecord rec;
    const Opt opts[] = {
        {"--model", OPT_STR, &model, "score net checkpoint (unet-s or unet-s-cond)", 0, -1},
        {"--n", OPT_INT, &n, "number of samples", 1, 10000000},
        {"--steps", OPT_INT, &so.K, "grid points of the sampler", 2, 100000},
        {"--sampler", OPT_STR, &sampler,
         "em (reverse SDE), pc (em with a Langevin corrector before each step: twice the "
         "evaluations) or heun (probability-flow ODE)",
         0, -1},
        {"--snr", OPT_DOUBLE, &so.snr, "pc: the corrector's signal-to-noise ratio", 0, 10},
        {"--batch", OPT_INT, &so.batch, "samples per network call", 1, 4096},
        {"--label", OPT_STR, &label,
         "conditional nets: a digit 0..9, 'all' (cycles 0..9) or 'null'", 0, -1},
        {"--raw", OPT_FLAG, &raw, "sample with the raw weights instead of their EMA", 0, -1},
        {"--png", OPT_STR, &png, "PNG grid of the first 64 samples", 0, -1},
        {"--npy", OPT_STR, &npy, "every sample as float32 .npy (n, 28, 28)", 0, -1},
        {"--eval-classifier", OPT_STR, &evalc,
         "cnn-eval checkpoint for the confidence report (the default is skipped if absent)", 0, -1},
        {"--data", OPT_STR, &data,
         "MNIST folder for the report's fd (the default is skipped if it holds no MNIST)", 0, -1},
        {"--seed", OPT_LONG, &seed, "noise seed (sample j uses stream j)", 0, 1e18},
        {"--threads", OPT_INT, &threads, "threads (0: OpenMP default)", 0, 1024},
        {NULL, OPT_INT, NULL, NULL, 0, 0},
    };
    rc = args_parse("sample",
                    "usage: cmad sample [options]\n  Draws images from a trained score net.", opts,
                    argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (!strcmp(sampler, "em"))
        so.kind = SAMPLER_EM;
    else if (!strcmp(sampler, "heun"))
        so.kind = SAMPLER_HEUN;
    else if (!strcmp(sampler, "pc"))
        so.kind = SAMPLER_PC;
    else
        app_fail("sample", "option --sampler wants em, pc or heun, got '%s'", sampler);
    app_start("sample", threads, (uint64_t)seed);
    run_record_init(&rec, "sample", seed);
    run_record_file(&rec, "model", model);
    app_load_unet("sample", model, &net);
    run_record_verify(&rec);
    if (net.cfg.in_ch != 1)
        app_fail("sample", "%s: not a score net (in_ch %d)", model, net.cfg.in_ch);
    if (net.cfg.num_classes)
        labels = parse_labels("sample", label ? label : "all", n);
    else if (label)
        app_fail("sample", "--label: %s is an unconditional model", model);
    /* everything is loaded and checked before any output is written */
    have_eval = app_load_eval_classifier("sample", evalc, &c);
    if (have_eval) {
        run_record_file(&rec, "eval_classifier", evalc);
        run_record_verify(&rec);
        have_data = load_fd_data("sample", data, &train, &test);
    }
    so.seed = (uint64_t)seed;
    so.use_ema = !raw;
    fprintf(stderr, "cmad sample: %s (%s), %d samples, %s sampler, K=%d", model,
            unet_name(&net.cfg), n, sampler, so.K);
    if (so.kind == SAMPLER_PC) fprintf(stderr, ", snr %g", so.snr);
    fprintf(stderr, "\n");
    x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n * 784);
    t0 = plat_now();
    for (i = 0; i < n; i += so.batch) { /* a batch at a time for the progress line: the
                                         * streams are per sample index, so the same bits */
        int nb = n - i < so.batch ? n - i : so.batch;
        so.first_index = i;
        sde_sample(&sde, &net, nb, labels ? labels + i : NULL, &so, x + (size_t)i * 784);
        app_sample_progress("sample", NULL, 0, i + nb, n, t0);
    }
    fprintf(stderr, "cmad sample: %.1f s (%.2f s per sample)\n", plat_now() - t0,
            (plat_now() - t0) / n);
    if (png && png_write_grid(png, x, n < 64 ? n : 64, 28, 28, 8, 2, err, sizeof err))
        app_fail("sample", "%s", err);
    if (npy) {
        int shape[3];
        shape[0] = n;
        shape[1] = shape[2] = 28;
        if (npy_write_f32(npy, 3, shape, x, err, sizeof err)) {
            if (png) remove(png); /* no partial output */
            app_fail("sample", "%s", err);
        }
    }
    if (have_eval) {
        report(&c, x, n, labels, have_data ? &train : NULL, have_data ? &test : NULL, &rec);
        classifier_free(&c);
    }
    if (have_data) {
        mnist_free(&train);
        mnist_free(&test);
    }
    run_record_print(&rec);
    if (png) printf("wrote %s\n", png);
    free(x);
    free(labels);
    unet_free(&net);
    run_record_free(&rec);
    return 0;
}

int cmd_score(int argc, char **argv)
{
    const char *npy = NULL, *evalc = APP_DEFAULT_EVALC, *data = APP_DEFAULT_DATA, *label = NULL;
    int threads = 0, rc, n, *labels = NULL, have_data;
    Mnist train, test;
    Classifier c;
    NpyArray a;
    RunRecord rec;
    size_t j;
    char err[512];
    const Opt opts[] = {
        {"--npy", OPT_STR, &npy,
         "samples to score: float32 or float64 .npy of shape (n, 28, 28), "
         "(n, 1, 28, 28) or (n, 784), as `cmad sample --npy` writes",
         0, -1},
        {"--label", OPT_STR, &label,
         "the labels the samples were drawn for: a digit 0..9 or 'all' (cycles 0..9, as `cmad "
         "sample` does for a conditional net); gives the accuracy and fd's class",
         0, -1},
        {"--eval-classifier", OPT_STR, &evalc, "cnn-eval checkpoint", 0, -1},
        {"--data", OPT_STR, &data,
         "MNIST folder for fd (the default is skipped if it holds no MNIST)", 0, -1},
        {"--threads", OPT_INT, &threads, "threads (0: OpenMP default)", 0, 1024},
        {NULL, OPT_INT, NULL, NULL, 0, 0},
    };
    rc = args_parse("score",
                    "usage: cmad score --npy FILE [options]\n  Reports on saved samples as "
                    "`cmad sample` does on fresh ones: confident share, class histogram,\n  "
                    "accuracy against --label, fd against the MNIST test images.",
                    opts, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (!npy) app_fail("score", "option --npy is required (the samples to score)");
    if (label && !strcmp(label, "null"))
        app_fail("score", "option --label wants 0..9 or all, got 'null'");
    app_start("score", threads, 0);
    if (npy_read(npy, &a, err, sizeof err)) app_fail("score", "--npy: %s", err);
    if (!((a.ndim == 3 && a.shape[1] == 28 && a.shape[2] == 28) ||
          (a.ndim == 4 && a.shape[1] == 1 && a.shape[2] == 28 && a.shape[3] == 28) ||
          (a.ndim == 2 && a.shape[1] == 784)) ||
        a.shape[0] < 1 || a.shape[0] > 10000000)
        app_fail("score",
                 "--npy: %s: wants shape (n, 28, 28), (n, 1, 28, 28) or (n, 784) with "
                 "n >= 1",
                 npy);
    n = (int)a.shape[0];
    for (j = 0; j < a.numel; j++)
        if (!isfinite(a.data[j]))
            app_fail("score", "--npy: %s: sample %lu has a non-finite pixel", npy,
                     (unsigned long)(j / 784));
    if (label) labels = parse_labels("score", label, n);
    run_record_init(&rec, "score", 0);
    run_record_file(&rec, "samples", npy);
    if (!app_load_eval_classifier("score", evalc, &c))
        app_fail("score", "--eval-classifier: cannot open %s (make models writes it)", evalc);
    run_record_file(&rec, "eval_classifier", evalc);
    run_record_verify(&rec);
    have_data = load_fd_data("score", data, &train, &test);
    fprintf(stderr, "cmad score: %s, %d samples\n", npy, n);
    report(&c, a.data, n, labels, have_data ? &train : NULL, have_data ? &test : NULL, &rec);
    run_record_print(&rec);
    classifier_free(&c);
    if (have_data) {
        mnist_free(&train);
        mnist_free(&test);
    }
    npy_free(&a);
    free(labels);
    run_record_free(&rec);
    return 0;
}
