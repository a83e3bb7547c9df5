/* common.c - shared app helpers (see common.h). */
#include "common.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../control/metrics.h"
#include "../data/wfile.h"
#include "../nn/checkpoint.h"
#include "../tensor/platform.h"

/* The Makefile passes the revision to this file only (see its GIT_REV). */
#ifndef CMAD_GIT_REV
#define CMAD_GIT_REV "unknown"
#endif

void app_fail(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    size_t i;
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one line, whatever a file put into a name it quotes: control bytes as '?' */
    for (i = 0; msg[i]; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f) msg[i] = '?';
    fprintf(stderr, "cmad %s: %s\n", cmd, msg);
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

/* s seconds as "1h05m" or "4m07s" (0 when negative or absurd). */
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
    if (epoch >= 0) /* epoch < 0: the loop has no epochs */
        fprintf(stderr, "cmad %s: epoch %ld step %ld/%ld %s %.1f img/s ETA %s\n", cmd, epoch, step,
                total, metrics, img_per_s, eta);
    else
        fprintf(stderr, "cmad %s: step %ld/%ld %s %.1f img/s ETA %s\n", cmd, step, total, metrics,
                img_per_s, eta);
}

double app_meta_number(const char *cmd, const SafeFile *f, const char *key, double fallback,
                       double lo, double hi, int whole)
{
    const char *v = st_meta(f, key);
    char *end;
    double x;
    if (!v) return fallback;
    x = strtod(v, &end);
    if (end == v || *end != '\0' || !(x >= lo && x <= hi) || (whole && x != floor(x)))
        app_fail(cmd, "%s: metadata %s '%.40s' is not a%s number in [%g, %g]", st_path(f), key, v,
                 whole ? " whole" : "", lo, hi);
    return x;
}

void app_check_config_fits(const char *cmd, const char *path, size_t have, const UNetConfig *cfg,
                           int copies)
{
    size_t want = unet_param_count(cfg);
    if (want > have / (size_t)copies)
        app_fail(cmd, "%s: its config asks for %d x %lu parameters, more than its %lu values", path,
                 copies, (unsigned long)want, (unsigned long)have);
}

void app_load_unet(const char *cmd, const char *path, UNet *net)
{
    char model[64], config[512], err[512];
    UNetConfig cfg;
    size_t values;
    if (ckpt_peek(path, model, sizeof model, config, sizeof config, &values, err, sizeof err))
        app_fail(cmd, "%s", err);
    if (strncmp(model, "unet", 4) != 0 && strncmp(model, "ctrl", 4) != 0)
        app_fail(cmd, "%s: holds a '%s' model, not a UNet", path, model);
    if (unet_config_parse(config, &cfg, err, sizeof err)) app_fail(cmd, "%s: %s", path, err);
    app_check_config_fits(cmd, path, values, &cfg, 1);
    unet_build(net, &cfg);
    if (ckpt_load(path, &net->params, model, NULL, err, sizeof err)) app_fail(cmd, "%s", err);
}

int app_load_eval_classifier(const char *cmd, const char *path, Classifier *c)
{
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        if (!strcmp(path, APP_DEFAULT_EVALC)) return 0;
        app_fail(cmd, "--eval-classifier: cannot open %s", path);
    }
    fclose(probe);
    app_load_classifier(cmd, path, ARCH_CNN, c);
    params_use_ema(&c->params);
    return 1;
}

void app_load_classifier(const char *cmd, const char *path, ClassifierArch arch, Classifier *c)
{
    char err[512];
    classifier_build(c, arch);
    if (ckpt_load(path, &c->params, classifier_name(arch), NULL, err, sizeof err))
        app_fail(cmd, "%s", err);
}

double *app_features(const Classifier *c, const Scalar *x, int n, int *label, Scalar *conf)
{
    Scalar *xc = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n * 784);
    Scalar *f = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)n * 128);
    double *d = (double *)xmalloc(sizeof(double) * (size_t)n * 128);
    size_t i;
    for (i = 0; i < (size_t)n * 784; i++) xc[i] = x[i] < 0 ? 0 : x[i] > 1 ? 1 : x[i];
    classify(c, xc, n, label, conf, f);
    for (i = 0; i < (size_t)n * 128; i++) d[i] = (double)f[i];
    free(xc);
    free(f);
    return d;
}

int app_class_images(const Mnist *m, int c, int skip, int max, Scalar **x)
{
    int *idx = (int *)xmalloc(sizeof(int) * (size_t)(m->n > 0 ? m->n : 1)), n = 0, seen = 0, i;
    for (i = 0; i < m->n && n < max; i++)
        if ((c < 0 || m->labels[i] == c) && seen++ >= skip) idx[n++] = i;
    *x = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)(n > 0 ? n : 1) * 784);
    mnist_batch(m, idx, n, *x, NULL);
    free(idx);
    return n;
}

double app_peak_mb(void) { return (double)plat_peak_rss() / (1024.0 * 1024.0); }

/* ---------------------------------------------------------------- run records */

static int app_argc;
static char **app_argv;

void app_set_argv(int argc, char **argv)
{
    app_argc = argc;
    app_argv = argv;
}

const char *app_git_rev(void) { return CMAD_GIT_REV; }

static void strbuf_reserve(StrBuf *b, size_t extra)
{
    if (b->s && b->n + extra < b->cap) return;
    while (b->cap <= b->n + extra) b->cap = b->cap ? 2 * b->cap : 256;
    b->s = (char *)realloc(b->s, b->cap);
    if (!b->s) app_fail("strbuf", "out of memory (%lu bytes)", (unsigned long)b->cap);
}

void strbuf_printf(StrBuf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    int len;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) app_fail("strbuf", "bad format '%s'", fmt);
    strbuf_reserve(b, (size_t)len);
    vsnprintf(b->s + b->n, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    b->n += (size_t)len;
}

void strbuf_json(StrBuf *b, const char *s)
{
    strbuf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            strbuf_printf(b, "\\%c", c);
        else if (c == '\n')
            strbuf_printf(b, "\\n");
        else if (c == '\t')
            strbuf_printf(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            strbuf_printf(b, "\\u%04x", c);
        else
            strbuf_printf(b, "%c", c);
    }
    strbuf_printf(b, "\"");
}

void strbuf_html(StrBuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            strbuf_printf(b, "&amp;");
        else if (*s == '<')
            strbuf_printf(b, "&lt;");
        else if (*s == '>')
            strbuf_printf(b, "&gt;");
        else if (*s == '"')
            strbuf_printf(b, "&quot;");
        else
            strbuf_printf(b, "%c", *s);
    }
}

void strbuf_write(const char *cmd, const StrBuf *b, const char *path)
{
    char err[1024];
    if (data_write_file(path, (const unsigned char *)(b->s ? b->s : ""), b->n, err, sizeof err))
        app_fail(cmd, "%s", err);
}

void strbuf_free(StrBuf *b)
{
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}

/* 1 when the shell takes the argument as it is (no quoting needed to rerun it). */
static int shell_plain(const char *a)
{
    if (!*a) return 0;
    for (; *a; a++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,:/@%",
                    *a) &&
            !(plat_shell_is_cmd() && *a == '\\'))
            return 0;
    return 1;
}

/* one argument as a shell would need it typed: a plain word as it is; else, for a POSIX shell,
 * in single quotes (' as '\''), for cmd.exe in double quotes (" as \") */
static void shell_word(StrBuf *b, const char *a)
{
    const char q = plat_shell_is_cmd() ? '"' : '\'';
    if (shell_plain(a)) {
        strbuf_printf(b, "%s", a);
        return;
    }
    strbuf_printf(b, "%c", q);
    for (; *a; a++)
        if (*a == q)
            strbuf_printf(b, plat_shell_is_cmd() ? "\\\"" : "'\\''");
        else
            strbuf_printf(b, "%c", *a);
    strbuf_printf(b, "%c", q);
}

void run_record_init(RunRecord *r, const char *cmd, long seed)
{
    StrBuf b = {NULL, 0, 0};
    time_t now = time(NULL);
    const struct tm *tm = now == (time_t)-1 ? NULL : gmtime(&now);
    int i;
    memset(r, 0, sizeof *r);
    r->cmd = cmd;
    r->seed = seed;
    r->threads = plat_threads();
    if (!tm || !strftime(r->date, sizeof r->date, "%Y-%m-%dT%H:%M:%SZ", tm))
        snprintf(r->date, sizeof r->date, "unknown");
    /* argv as typed */
    for (i = 0; i < app_argc; i++) {
        if (i) strbuf_printf(&b, " ");
        shell_word(&b, app_argv[i]);
    }
    if (!b.s) strbuf_printf(&b, "cmad %s", cmd);
    r->command = b.s;
}

void run_record_file(RunRecord *r, const char *role, const char *path)
{
    char err[1024];
    RunFile *f;
    if (r->nfiles >= RUN_MAX_FILES) app_fail(r->cmd, "more than %d checkpoints", RUN_MAX_FILES);
    f = &r->files[r->nfiles];
    if (sha256_file_hex(path, f->sha256, err, sizeof err)) app_fail(r->cmd, "%s", err);
    f->role = role;
    f->path = path;
    r->nfiles++;
}

void app_check_trained_with(const char *cmd, const SafeFile *controls_file, const char *controls,
                            const char *key, const char *role, const char *path, const char *hex)
{
    const char *want = st_meta(controls_file, key);
    if (!want || !strcmp(want, hex)) return;
    fprintf(stderr,
            "cmad %s: warning: the %s net %s (sha256 %.12s) is not the one the controls %s were "
            "trained with (sha256 %.12s); their results do not carry over to it\n",
            cmd, role, path, hex, controls, want);
}

void run_record_verify(const RunRecord *r)
{
    char hex[SHA256_HEX_LEN + 1], err[1024];
    int i;
    for (i = 0; i < r->nfiles; i++) {
        const RunFile *f = &r->files[i];
        if (sha256_file_hex(f->path, hex, err, sizeof err)) app_fail(r->cmd, "%s", err);
        if (strcmp(hex, f->sha256) != 0)
            app_fail(r->cmd,
                     "%s: changed on disk while it was being loaded (is a run saving over it?); "
                     "its SHA-256 would not name the weights used, run again when it is stable",
                     f->path);
    }
}

void run_record_json(const RunRecord *r, StrBuf *b)
{
    int i;
    strbuf_printf(b, "\"command\": ");
    strbuf_json(b, r->command);
    strbuf_printf(b, ", \"git_rev\": ");
    strbuf_json(b, app_git_rev());
    strbuf_printf(b, ", \"date\": ");
    strbuf_json(b, r->date);
    strbuf_printf(b, ", \"threads\": %d, \"seed\": %ld,\n \"checkpoints\": {", r->threads, r->seed);
    for (i = 0; i < r->nfiles; i++) {
        strbuf_printf(b, "%s\n  ", i ? "," : "");
        strbuf_json(b, r->files[i].role);
        strbuf_printf(b, ": {\"path\": ");
        strbuf_json(b, r->files[i].path);
        strbuf_printf(b, ", \"sha256\": \"%s\"}", r->files[i].sha256);
    }
    strbuf_printf(b, "}");
}

void run_record_line(const RunRecord *r, StrBuf *b, int markdown)
{
    int i;
    /* a code span; one holding a backtick is opened and closed by two */
    int two = markdown && strchr(r->command, '`') != NULL;
    const char *open = !markdown ? ""
                       : two     ? "`` "
                                 : "`",
               *close = !markdown ? ""
                        : two     ? " ``"
                                  : "`";
    strbuf_printf(b, "command: %s%s%s, seed %ld, git %s, %s, checkpoints (SHA-256):", open,
                  r->command, close, r->seed, app_git_rev(), r->date);
    for (i = 0; i < r->nfiles; i++)
        strbuf_printf(b, "%s %s %.12s (%s)", i ? "," : "", r->files[i].role, r->files[i].sha256,
                      r->files[i].path);
    if (!r->nfiles) strbuf_printf(b, " none");
}

void run_record_print(const RunRecord *r)
{
    int i;
    fprintf(stderr, "cmad %s: git %s, started %s; checkpoints (SHA-256):\n", r->cmd, app_git_rev(),
            r->date);
    for (i = 0; i < r->nfiles; i++)
        fprintf(stderr, "cmad %s:   %s  %s (%s)\n", r->cmd, r->files[i].sha256, r->files[i].path,
                r->files[i].role);
}

void run_record_free(RunRecord *r)
{
    free(r->command);
    r->command = NULL;
}

double app_multi_sample(const char *cmd, const char *what, const CmadProblem *pr, UNet *const *cond,
                        const MethodSpec *ms, int K, int n, const int *targets, uint64_t seed,
                        Scalar *y)
{
    int i, B = pr->spec.batch > 0 ? pr->spec.batch : n;
    double t0 = plat_now(), nfe = 0;
    for (i = 0; i < n; i += B) {
        int nb = n - i < B ? n - i : B;
        nfe = multi_sample(pr, cond, ms, K, nb, targets + i, seed, i, y + (size_t)i * 784, NULL);
        app_sample_progress(cmd, what, 0, i + nb, n, t0);
    }
    return nfe;
}

void app_sample_progress(const char *cmd, const char *what, int first, int done, int n, double t0)
{
    char eta[32];
    double el = plat_now() - t0, rate = (done - first) / el;
    fmt_time((n - done) / rate, eta, sizeof eta);
    fprintf(stderr, "cmad %s: %s%s%d/%d samples, %.2f img/s, ETA %s\n", cmd, what ? what : "",
            what ? " " : "", done, n, rate, eta);
}
