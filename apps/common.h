/* common.h - what the subcommands share: start-up banner, errors, progress lines,
 * loading MNIST and models. */
#ifndef CMAD_APPS_COMMON_H
#define CMAD_APPS_COMMON_H

#include <stdint.h>

#include "../data/idx.h"
#include "../nn/classifier.h"
#include "../nn/unet.h"

/* Prints "cmad <cmd>: <message>" on stderr and exits with status 1. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 2, 3)))
#endif
void app_fail(const char *cmd, const char *fmt, ...);

/* Applies --threads (0 keeps the default) and prints the banner: command, scalar type,
 * threads, seed. */
void app_start(const char *cmd, int threads, uint64_t seed);

/* Loads a split of MNIST from dir or exits with the loader's message. */
void app_load_mnist(const char *cmd, const char *dir, const char *split, Mnist *m);

/* Progress on stderr: "epoch E step S/T loss L  R img/s  ETA 1m23s" (no newline handling
 * tricks: one line per call, so logs stay readable). */
void app_progress(const char *cmd, long epoch, long step, long total, const char *metrics,
                  double img_per_s, double eta_s);

/* Loads a UNet checkpoint (any of unet-s, unet-s-cond, ctrl-s...) built from its config. */
void app_load_unet(const char *cmd, const char *path, UNet *net);
void app_load_classifier(const char *cmd, const char *path, ClassifierArch arch, Classifier *c);

/* Accuracy (0..1) of a classifier on a data set, with its weights or its EMA. */
double classifier_accuracy(Classifier *c, const Mnist *m, int use_ema);

/* Peak resident memory in MB (0 when the platform does not say). */
double app_peak_mb(void);

#endif
