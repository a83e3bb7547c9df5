/* common.c - shared app helpers (see common.h). */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/checkpoint.h"
#include "../tensor/platform.h"

void app_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "cmad %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void app_start(const char *cmd, int threads, uint64_t seed)
{
    if (threads > 0) plat_set_threads(threads);
    fprintf(stderr, "cmad %s: scalar %s, %d thread%s%s, seed %llu\n", cmd, SCALAR_NAME,
            plat_threads(), plat_threads() == 1 ? "" : "s", plat_have_openmp() ? " (OpenMP)" : "",
            (unsigned long long)seed);
}

void app_load_mnist(const char *cmd, const char *dir, const char *split, Mnist *m)
{
    char err[512];
    if (mnist_load(dir, split, m, err, sizeof err))
        app_fail(cmd, "%s (run `make data` to fetch MNIST, or pass --data DIR)", err);
}

static void fmt_time(double s, char *buf, size_t cap)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
}

void app_progress(const char *cmd, long epoch, long step, long total, const char *metrics,
                  double img_per_s, double eta_s)
{
    char eta[32];
    fmt_time(eta_s, eta, sizeof eta);
    fprintf(stderr, "cmad %s: epoch %ld step %ld/%ld %s %.1f img/s ETA %s\n", cmd, epoch, step,
            total, metrics, img_per_s, eta);
}

void app_load_unet(const char *cmd, const char *path, UNet *net)
{
    char model[64], config[512], err[512];
    UNetConfig cfg;
    if (ckpt_peek(path, model, sizeof model, config, sizeof config, err, sizeof err))
        app_fail(cmd, "%s", err);
    if (strncmp(model, "unet", 4) != 0 && strncmp(model, "ctrl", 4) != 0)
        app_fail(cmd, "%s: holds a '%s' model, not a UNet", path, model);
    if (unet_config_parse(config, &cfg, err, sizeof err)) app_fail(cmd, "%s: %s", path, err);
    unet_build(net, &cfg);
    if (ckpt_load(path, &net->params, model, NULL, err, sizeof err)) app_fail(cmd, "%s", err);
}

void app_load_classifier(const char *cmd, const char *path, ClassifierArch arch, Classifier *c)
{
    char err[512];
    classifier_build(c, arch);
    if (ckpt_load(path, &c->params, classifier_name(arch), NULL, err, sizeof err))
        app_fail(cmd, "%s", err);
}

double app_peak_mb(void) { return (double)plat_peak_rss() / (1024.0 * 1024.0); }
