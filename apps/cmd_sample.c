/* cmd_sample.c - `cmad sample`: draws images from a trained score net (unet-s, plain or
 * class-conditional) with the Euler-Maruyama sampler (alone or with a Langevin corrector) or
 * the probability-flow Heun sampler, writes a PNG
 * grid and the raw floats (.npy), and, given cnn-eval, reports the share of confident
 * samples, the class histogram and (conditional) the accuracy against the requested label,
 * then the line that makes it traceable: command, seed, git revision, checkpoint hashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../control/metrics.h"
#include "../data/npy.h"
#include "../data/png.h"
#include "../sde/sde.h"
#include "../tensor/platform.h"
#include "apps.h"
#include "args.h"
#include "common.h"

int cmd_sample(int argc, char **argv)
{
    const char *model = "models/unet-s.safetensors", *png = "samples.png", *npy = NULL,
               *evalc = APP_DEFAULT_EVALC, *sampler = "em", *label = NULL;
    int n = 64, threads = 0, raw = 0, rc, i, *labels = NULL, hist[10] = {0}, confident = 0, hit = 0,
        have_eval = 0;
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
    if (net.cfg.num_classes) {
        labels = (int *)xmalloc(sizeof(int) * (size_t)n);
        for (i = 0; i < n; i++) {
            if (!label || !strcmp(label, "all"))
                labels[i] = i % 10;
            else if (!strcmp(label, "null"))
                labels[i] = 10;
            else if (strlen(label) == 1 && label[0] >= '0' && label[0] <= '9')
                labels[i] = label[0] - '0';
            else
                app_fail("sample", "option --label wants 0..9, all or null, got '%s'", label);
        }
    } else if (label) {
        app_fail("sample", "--label: %s is an unconditional model", model);
    }
    /* everything is loaded and checked before any output is written */
    have_eval = app_load_eval_classifier("sample", evalc, &c);
    if (have_eval) {
        run_record_file(&rec, "eval_classifier", evalc);
        run_record_verify(&rec);
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
        int *lab = (int *)xmalloc(sizeof(int) * (size_t)n);
        Scalar *conf = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n),
               *xc = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n * 784);
        size_t j;
        for (j = 0; j < (size_t)n * 784; j++)
            xc[j] = x[j] < 0 ? 0 : x[j] > 1 ? 1 : x[j]; /* as an image */
        classify(&c, xc, n, lab, conf, NULL);
        for (i = 0; i < n; i++) {
            hist[lab[i]]++;
            confident += conf[i] >= (Scalar)0.9;
            if (labels && labels[i] < 10) hit += lab[i] == labels[i];
        }
        printf("confident (cnn-eval p >= 0.9): %.2f%% of %d\nclass histogram:",
               100.0 * confident / n, n);
        for (i = 0; i < 10; i++) printf(" %d:%d", i, hist[i]);
        printf("\n");
        if (labels && labels[0] < 10)
            printf("accuracy against the requested label: %.2f%%\n", 100.0 * hit / n);
        {
            StrBuf line = {NULL, 0, 0};
            run_record_line(&rec, &line, 0);
            printf("%s\n", line.s);
            strbuf_free(&line);
        }
        classifier_free(&c);
        free(lab);
        free(conf);
        free(xc);
    }
    run_record_print(&rec);
    if (png) printf("wrote %s\n", png);
    free(x);
    free(labels);
    unet_free(&net);
    run_record_free(&rec);
    return 0;
}
