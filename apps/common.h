/* common.h - what the subcommands share: start-up banner, errors, progress lines,
 * loading MNIST and models, and the run record that makes a reported number traceable. */
#ifndef CMAD_APPS_COMMON_H
#define CMAD_APPS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "../data/idx.h"
#include "../data/sha256.h"
#include "../tensor/safetensors.h"
#include "../nn/classifier.h"
#include "../nn/unet.h"
#include "../control/multi.h"

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

/* Progress on stderr: "epoch E step S/T loss L  R img/s  ETA 1m23s" (epoch < 0: no epoch; no
 * newline handling tricks: one line per call, so logs stay readable). */
void app_progress(const char *cmd, long epoch, long step, long total, const char *metrics,
                  double img_per_s, double eta_s);

/* Exits naming the file when copies nets of config cfg need more parameters than the file's
 * tensors hold (have elements in all): a config read from a file is checked before anything
 * is allocated. */
void app_check_config_fits(const char *cmd, const char *path, size_t have, const UNetConfig *cfg,
                           int copies);
/* Loads a UNet checkpoint (any of unet-s, unet-s-cond, ctrl-s...) built from its config. */
void app_load_unet(const char *cmd, const char *path, UNet *net);
void app_load_classifier(const char *cmd, const char *path, ClassifierArch arch, Classifier *c);
/* Where the apps look for MNIST unless --data names another folder (`make data` fills it). */
#define APP_DEFAULT_DATA "data/mnist"
/* Where the apps look for cnn-eval unless --eval-classifier names another file. */
#define APP_DEFAULT_EVALC "models/cnn-eval.safetensors"
/* The objective classifier of CMAD and the baselines: the adversarially trained MLP. */
#define APP_DEFAULT_OBJ "models/mlp-robust.safetensors"
/* cnn-eval from path with its EMA weights in use: 1; 0 when path is the default and absent
 * (the report is then skipped); a named file that cannot be opened, or a corrupt one, exits
 * as above naming the flag or the file. */
int app_load_eval_classifier(const char *cmd, const char *path, Classifier *c);

/* A number in a checkpoint's metadata (key), checked: fallback when the key is absent; a
 * value that is not a number in [lo, hi] (a whole one when whole is 1) exits with one line
 * naming the file and the key. */
double app_meta_number(const char *cmd, const SafeFile *f, const char *key, double fallback,
                       double lo, double hi, int whole);

/* Accuracy (0..1) of a classifier on a data set, with its weights or its EMA. */
double classifier_accuracy(Classifier *c, const Mnist *m, int use_ema);

/* cnn-eval's penultimate features [n, 128] (double, malloc'd) of images x [n, 784], each
 * pixel clamped to [0, 1] first: what fd compares.  The same pass gives the argmax labels
 * and max probabilities when label [n] and conf [n] are not NULL. */
double *app_features(const Classifier *c, const Scalar *x, int n, int *label, Scalar *conf);
/* Images of class c (any class when c < 0) from a split, skipping the first skip of them,
 * up to max: returns the count, x [count, 784] malloc'd. */
int app_class_images(const Mnist *m, int c, int skip, int max, Scalar **x);

/* Peak resident memory in MB (0 when the platform does not say). */
double app_peak_mb(void);

/* ---------------------------------------------------------------- run records */

/* EVAL.md "Outputs": every number comes from one command anyone can rerun, with the seed and
 * the checkpoint hashes beside it.  A RunRecord holds the command line as typed, the git
 * revision the binary was built from, the UTC start time, the threads, the seed and the
 * SHA-256 of every checkpoint the numbers depend on; the apps write it into their JSON,
 * table footers and reports. */

/* The progress line of a batched sampler: "cmad <cmd>: [<what> ]done/n samples, R img/s,
 * ETA ..." from the start time t0 (plat_now()); the first samples of the done were there
 * before t0 (a resumed run), so the rate counts done - first. */
void app_sample_progress(const char *cmd, const char *what, int first, int done, int n, double t0);

/* multi_sample over n samples in batches of pr->spec.batch, with a progress line on stderr
 * ("cmad <cmd>: <what> 64/256 samples, ...") after each; sample j uses the noise streams of
 * index j, so the samples equal one multi_sample call's.  Returns nfe per sample. */
double app_multi_sample(const char *cmd, const char *what, const CmadProblem *pr, UNet *const *cond,
                        const MethodSpec *ms, int K, int n, const int *targets, uint64_t seed,
                        Scalar *y);

/* main() hands over the whole argv (program path included) for the records. */
void app_set_argv(int argc, char **argv);

/* The revision the binary was built from: "abc1234", "abc1234-dirty" (tracked files differed
 * from that commit) or "unknown" (built outside a git checkout). */
const char *app_git_rev(void);

/* A growing NUL-terminated string; files are built in one and written atomically. */
typedef struct StrBuf {
    char *s; /* NULL until the first append */
    size_t n, cap;
} StrBuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void strbuf_printf(StrBuf *b, const char *fmt, ...);
/* s as a JSON string literal: quotes, backslash and control characters escaped. */
void strbuf_json(StrBuf *b, const char *s);
/* s with the HTML specials & < > " escaped. */
void strbuf_html(StrBuf *b, const char *s);
/* Writes the buffer to path atomically (tmp + rename: no partial file) or fails naming it. */
void strbuf_write(const char *cmd, const StrBuf *b, const char *path);
void strbuf_free(StrBuf *b);

#define RUN_MAX_FILES 16

typedef struct RunFile {
    const char *role, *path;         /* "score", "models/unet-s.safetensors" */
    char sha256[SHA256_HEX_LEN + 1]; /* lowercase hex */
} RunFile;

typedef struct RunRecord {
    const char *cmd; /* subcommand, for error lines ("eval") */
    char *command;   /* argv as typed, shell-quoted where needed (malloc'd) */
    char date[32];   /* UTC start, ISO 8601: 2026-11-25T18:04:05Z */
    int threads;
    long seed;
    int nfiles;
    RunFile files[RUN_MAX_FILES];
} RunRecord;

/* Starts a record (call after app_start, which sets the threads). */
void run_record_init(RunRecord *r, const char *cmd, long seed);
/* Hashes a checkpoint the numbers depend on, or fails with a line naming the file.  Call it
 * just before loading the file and run_record_verify after: a file rewritten in between
 * (a training run saving over it) is caught instead of reported with the wrong hash. */
void run_record_file(RunRecord *r, const char *role, const char *path);
/* Hashes every recorded file again; fails naming the first that changed. */
void run_record_verify(const RunRecord *r);
/* The JSON members (no braces): "command", "git_rev", "date", "threads", "seed",
 * "checkpoints": {"<role>": {"path": ..., "sha256": ...}, ...}. */
void run_record_json(const RunRecord *r, StrBuf *b);
/* One line (no newline): the command, seed, git revision and the 12-digit short SHA-256 and
 * path of each checkpoint; markdown = 1 puts the command in a code span. */
void run_record_line(const RunRecord *r, StrBuf *b, int markdown);
/* Warns on stderr when a controls file records (metadata key, e.g. "score_sha256") another
 * SHA-256 than hex, the hash of the net at path about to be used with it (role "score" or
 * "classifier"): results with a net the controls were not trained against do not carry
 * over.  Files from before the key existed are not checked. */
void app_check_trained_with(const char *cmd, const SafeFile *controls_file, const char *controls,
                            const char *key, const char *role, const char *path, const char *hex);
/* Stderr: git revision and date, then "sha256 <hex>  <path> (<role>)" per checkpoint. */
void run_record_print(const RunRecord *r);
void run_record_free(RunRecord *r);

#endif
