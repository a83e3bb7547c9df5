/* test_apps.c - the cmad program as a user meets it: bad flags and bad files get one error
 * line and a non-zero exit with no output left behind, a resumed training run is bit
 * for bit the uninterrupted one (weights, EMA, Adam moments, step, RNG), and the numbers of
 * `cmad eval` come with the command, git revision and checkpoint SHA-256s that made them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/npy.h"
#include "../data/sha256.h"
#include "../tensor/platform.h"
#include "../tensor/safetensors.h"
#include "harness.h"
#include <time.h>

/* The quote that the shell system() runs takes around a word with spaces: cmd.exe knows
 * only double quotes, a POSIX shell single quotes (which keep a " inside as it is). */
#define Q (plat_shell_is_cmd() ? '"' : '\'')

/* A scratch file name in the temporary folder. */
static void tmp_path(char *buf, size_t cap, const char *name)
{
    static unsigned long counter;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, cap, "%s/cmadapp_%lx_%lu_%s", dir, (unsigned long)time(NULL), ++counter, name);
}

/* Runs a command line (stdout and stderr to errfile), returns its exit status. */
static int run(const char *cmd, const char *errfile)
{
    static char full[8192];
    int rc;
    snprintf(full, sizeof full, "%s > %s 2>&1", cmd, errfile);
    rc = system(full);
    if (rc == -1) return -1;
    return rc >= 256 ? rc / 256 : rc; /* POSIX wait status: exit code in the high byte */
}

static int file_has(const char *path, const char *needle)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* The folder of the raw MNIST files ($MNIST_DIR_RAW, else data/mnist), or NULL after
 * marking the test skipped when they are not there. */
static const char *raw_mnist(void)
{
    const char *data = getenv("MNIST_DIR_RAW") ? getenv("MNIST_DIR_RAW") : "data/mnist";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", data);
    if (exists(probe)) return data;
    t_skip("needs MNIST in data/mnist (make data)");
    return NULL;
}

/* 1 when MNIST and the shipped nets the app tests run are here; else marks the test skipped. */
static int have_mnist_and_models(void)
{
    if (exists("data/mnist/train-images-idx3-ubyte") &&
        exists("data/mnist/t10k-images-idx3-ubyte") && exists("models/unet-s.safetensors") &&
        exists("models/mlp-robust.safetensors") && exists("models/cnn-eval.safetensors"))
        return 1;
    t_skip("needs MNIST in data/mnist and the models in models/");
    return 0;
}

/* A sampler given an --eval-classifier that is not there: exit 1, the flag and path named,
 * no PNG written. */
static void expect_missing_eval_classifier(const char *sampler_args, const char *out,
                                           const char *err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s --threads 1 --eval-classifier /nonexistent/c.st --png %s",
             t_app_path(), sampler_args, out);
    T_EQ_INT(run(cmd, err), 1);
    T_OK(file_has(err, "--eval-classifier: cannot open /nonexistent/c.st"));
    T_OK(!exists(out));
}

static void test_bad_flag_and_missing_file(void)
{
    char err[512], cmd[2048], out[512];
    tmp_path(err, sizeof err, "apps-err.txt");
    tmp_path(out, sizeof out, "apps-out.png");
    snprintf(cmd, sizeof cmd, "%s sample --n abc", t_app_path());
    T_EQ_INT(run(cmd, err), 2);
    T_OK(file_has(err, "--n"));
    snprintf(cmd, sizeof cmd, "%s sample --model /nonexistent/m.safetensors --png %s", t_app_path(),
             out);
    T_EQ_INT(run(cmd, err), 1);
    T_OK(file_has(err, "/nonexistent/m.safetensors"));
    T_OK(!exists(out));
    snprintf(cmd, sizeof cmd, "%s train-score --data /nonexistent/mnist --steps 1 --out %s",
             t_app_path(), out);
    T_EQ_INT(run(cmd, err), 1);
    T_OK(file_has(err, "/nonexistent/mnist"));
    T_OK(!exists(out));
    if (exists("models/unet-s.safetensors")) { /* a bad classifier is found before any output */
        char bad[512];
        FILE *f;
        tmp_path(bad, sizeof bad, "apps-bad-cnn.safetensors");
        f = fopen(bad, "wb");
        T_OK(f != NULL);
        if (f) {
            fputs("not a checkpoint", f);
            fclose(f);
        }
        snprintf(cmd, sizeof cmd,
                 "%s sample --n 1 --steps 2 --threads 1 --eval-classifier %s --png %s",
                 t_app_path(), bad, out);
        T_EQ_INT(run(cmd, err), 1);
        T_OK(file_has(err, bad));
        T_OK(!exists(out));
        remove(bad);
        /* a named classifier that is not there is an error in both samplers, not a skip */
        expect_missing_eval_classifier("sample --n 1 --steps 2", out, err);
    }
    if (exists("models/ctrl-n2-3-joint.safetensors"))
        expect_missing_eval_classifier(
            "control sample --controls models/ctrl-n2-3-joint.safetensors --n 1", out, err);
    snprintf(cmd, sizeof cmd, "%s test-classifier --arch rnn", t_app_path());
    T_EQ_INT(run(cmd, err), 2);
    T_OK(file_has(err, "--arch"));
    snprintf(cmd, sizeof cmd, "%s test-classifier --model /nonexistent/c.safetensors",
             t_app_path());
    T_EQ_INT(run(cmd, err), 1);
    T_OK(file_has(err, "/nonexistent/c.safetensors"));
    snprintf(cmd, sizeof cmd, "%s no-such-command", t_app_path());
    T_EQ_INT(run(cmd, err), 2);
    remove(err);
}

/* 1 when every tensor of two safetensors files has the same bytes. */
static int same_tensors(const char *a, const char *b)
{
    char err[512];
    SafeFile *fa = st_open(a, err, sizeof err), *fb = st_open(b, err, sizeof err);
    int i, same = fa && fb && st_count(fa) == st_count(fb);
    for (i = 0; same && i < st_count(fa); i++) {
        const SafeEntry *ea = st_entry(fa, i), *eb = st_find(fb, ea->name);
        double *x, *y;
        size_t j;
        if (!eb || eb->numel != ea->numel || eb->dtype != ea->dtype) {
            same = 0;
            break;
        }
        if (ea->dtype != ST_DTYPE_F32 && ea->dtype != ST_DTYPE_F64) continue; /* ints below */
        x = (double *)malloc(sizeof(double) * (ea->numel + 1));
        y = (double *)malloc(sizeof(double) * (ea->numel + 1));
        st_read_f64(fa, ea, x, ea->numel, err, sizeof err);
        st_read_f64(fb, eb, y, eb->numel, err, sizeof err);
        for (j = 0; j < ea->numel; j++)
            if (memcmp(&x[j], &y[j], sizeof(double)) != 0) same = 0;
        free(x);
        free(y);
    }
    if (same) {
        const SafeEntry *ea = st_find(fa, "train.rng"), *eb = st_find(fb, "train.rng");
        uint64_t u[4], v[4];
        if (ea && eb) {
            st_read_u64(fa, ea, u, 4, err, sizeof err);
            st_read_u64(fb, eb, v, 4, err, sizeof err);
            same = memcmp(u, v, sizeof u) == 0;
        }
    }
    st_close(fa);
    st_close(fb);
    return same;
}

/* `what` (a training subcommand with its options) for six steps straight, against three
 * steps, stop, and three more with --resume: the models and the states must be equal. */
static void resume_matches(const char *data, const char *what)
{
    char cmd[4096], err[512], m6[512], s6[512], m3[512], s3[512];
    const char *tail = "--batch 4 --warmup 2 --save-every 0";
    tmp_path(err, sizeof err, "resume-err.txt");
    tmp_path(m6, sizeof m6, "resume-a.safetensors");
    tmp_path(s6, sizeof s6, "resume-a.state.safetensors");
    tmp_path(m3, sizeof m3, "resume-b.safetensors");
    tmp_path(s3, sizeof s3, "resume-b.state.safetensors");
    snprintf(cmd, sizeof cmd, "%s %s --data %s --steps 6 %s --out %s --state %s", t_app_path(),
             what, data, tail, m6, s6);
    T_EQ_INT(run(cmd, err), 0);
    snprintf(cmd, sizeof cmd, "%s %s --data %s --steps 3 %s --out %s --state %s", t_app_path(),
             what, data, tail, m3, s3);
    T_EQ_INT(run(cmd, err), 0);
    snprintf(cmd, sizeof cmd, "%s %s --data %s --steps 6 %s --out %s --state %s --resume",
             t_app_path(), what, data, tail, m3, s3);
    T_EQ_INT(run(cmd, err), 0);
    T_OK(same_tensors(m6, m3));
    T_OK(same_tensors(s6, s3));
    remove(err);
    remove(m6);
    remove(s6);
    remove(m3);
    remove(s3);
}

static void test_resume_is_bit_identical(void)
{
    const char *data = raw_mnist();
    if (!data) return;
    resume_matches(data, "train-score");
    /* the shift and noise augmentations draw from the training RNG, which the state carries */
    resume_matches(data, "train-classifier --arch mlp --shift 2 --noise 0.3");
    /* the PGD attack of adversarial training is a function of the weights and the batch */
    resume_matches(data, "train-classifier --arch mlp --adv-eps 1 --adv-steps 2");
}

/* The mean loss of the first and of the last progress line of a training log. */
static int first_last_loss(const char *log, double *first, double *last)
{
    char line[1024];
    int n = 0;
    FILE *f = fopen(log, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, " loss ");
        if (!p) continue;
        *last = atof(p + 6);
        if (n++ == 0) *first = *last;
    }
    fclose(f);
    return n;
}

/* 50 steps (30 in quick mode) of unet-s training from scratch: the DSM loss falls well below its start
 * (about 784 = E|z|^2 while conv_out is zero; the first logged mean over 10 steps is ~500). */
static void test_train_smoke_loss_falls(void)
{
    char cmd[4096], log[512], m[512], st[512];
    const char *data = raw_mnist();
    double first = 0, last = 0;
    int steps = t_quick() ? 30 : 50; /* sanitizer and tcc runs: fewer steps */
    if (!data) return;
    tmp_path(log, sizeof log, "smoke.log");
    tmp_path(m, sizeof m, "smoke.safetensors");
    tmp_path(st, sizeof st, "smoke.state.safetensors");
    snprintf(cmd, sizeof cmd,
             "%s train-score --data %s --steps %d --batch 8 --warmup 5 --lr 2e-3 --log-every 10 "
             "--save-every 0 --out %s --state %s",
             t_app_path(), data, steps, m, st);
    T_EQ_INT(run(cmd, log), 0);
    T_EQ_INT(first_last_loss(log, &first, &last), steps / 10);
    T_OK(first > 200);
    if (!(last < 0.5 * first)) t_report(__FILE__, __LINE__, "loss %g -> %g", first, last);
    remove(log);
    remove(m);
    remove(st);
}

/* The whole file as a string (malloc'd), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n = 0, cap = 4096, k;
    if (!f) return NULL;
    buf = (char *)malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) buf = (char *)realloc(buf, cap *= 2);
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* The JSON string value after `"key": ` at or after from, unescaped into out (the escapes the
 * app writes: \" \\ \n \t \u00XX); returns a pointer past it, or NULL. */
static const char *json_string(const char *from, const char *key, char *out, size_t cap)
{
    char pat[128];
    const char *p;
    size_t n = 0;
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    p = from ? strstr(from, pat) : NULL;
    if (!p) return NULL;
    for (p += strlen(pat); *p && *p != '"' && n + 1 < cap; p++) {
        if (*p == '\\') {
            p++;
            if (*p == 'n')
                out[n++] = '\n';
            else if (*p == 't')
                out[n++] = '\t';
            else if (*p == 'u' && strlen(p) >= 5) { /* \u00XX */
                char h[3];
                h[0] = p[3];
                h[1] = p[4];
                h[2] = '\0';
                out[n++] = (char)strtol(h, NULL, 16);
                p += 4;
            } else
                out[n++] = *p;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

/* `cmad eval` on 2 samples, 2 grid points: metrics.json names the command exactly as run
 * (an output folder with a space and quotes in its name tests the quoting and the JSON
 * escapes), the git revision, the date, and each checkpoint with a SHA-256 that matches the
 * file; table.md has peak_mb and the short hashes.  A bad method fails before any output. */
static void test_eval_records_command_and_hashes(void)
{
    static const char *roles[] = {"score", "classifier", "eval_classifier"};
    char dir[512], log[512], cmd[4096], path[1024], got[4096], hex[65], err[1024];
    char *json, *table, *logtxt, *html;
    const char *p;
    int i;
    /* Windows names cannot hold a double quote: a space alone there */
    tmp_path(dir, sizeof dir, plat_shell_is_cmd() ? "eval q dir" : "eval \"q\" dir");
    tmp_path(log, sizeof log, "eval.log");
    /* a bad method: one line naming it, exit 1, no output folder */
    snprintf(cmd, sizeof cmd, "%s eval --methods prior,nosuch --out %c%s%c", t_app_path(), Q, dir,
             Q);
    T_EQ_INT(run(cmd, log), 1);
    T_OK(file_has(log, "nosuch"));
    T_OK(!exists(dir));
    if (!have_mnist_and_models()) {
        remove(log);
        return;
    }
    snprintf(cmd, sizeof cmd,
             "%s eval --methods prior --n 2 --steps 2 --batch 2 --seed 5 --threads 1 --out %c%s%c",
             t_app_path(), Q, dir, Q);
    T_EQ_INT(run(cmd, log), 0);
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    json = slurp(path);
    T_OK(json != NULL);
    if (!json) return;
    T_OK(json_string(json, "command", got, sizeof got) != NULL);
    if (strcmp(got, cmd) != 0) t_report(__FILE__, __LINE__, "command\n  %s\nvs\n  %s", got, cmd);
    T_OK(json_string(json, "git_rev", got, sizeof got) != NULL);
    T_OK(strlen(got) >= 4);
    T_OK(json_string(json, "date", got, sizeof got) != NULL);
    T_OK(strlen(got) == 20 && got[4] == '-' && got[10] == 'T' && got[19] == 'Z');
    T_OK(strstr(json, "\"seed\": 5") != NULL);
    T_OK(strstr(json, "\"threads\": 1") != NULL);
    logtxt = slurp(log);
    snprintf(path, sizeof path, "%s/table.md", dir);
    table = slurp(path);
    T_OK(table && strstr(table, "| peak_mb |") && strstr(table, "seed 5"));
    snprintf(path, sizeof path, "%s/report.html", dir);
    html = slurp(path); /* self-contained: the grid inline as a PNG (base64 of \x89PNG) */
    T_OK(html && strstr(html, "src=\"data:image/png;base64,iVBORw0KGgo") &&
         strstr(html, "</html>\n"));
    free(html);
    for (i = 0; i < 3; i++) {
        char key[64], file[1024];
        snprintf(key, sizeof key, "\"%s\": {", roles[i]);
        p = strstr(json, key);
        T_OK(p != NULL);
        p = json_string(p, "path", file, sizeof file);
        T_OK(p != NULL);
        p = json_string(p, "sha256", got, sizeof got);
        T_OK(p != NULL);
        if (!p) continue;
        T_EQ_INT(sha256_file_hex(file, hex, err, sizeof err), 0);
        if (strcmp(got, hex) != 0) t_report(__FILE__, __LINE__, "%s: %s vs %s", file, got, hex);
        T_OK(logtxt && strstr(logtxt, hex)); /* the full hash on stderr */
        hex[12] = '\0';
        T_OK(table && strstr(table, hex)); /* the short one in the table footer */
    }
    free(json);
    free(table);
    free(logtxt);
    remove(log);
    {
        static const char *outs[] = {"metrics.json", "table.md", "report.html", "prior.png",
                                     "prior.npy"};
        for (i = 0; i < 5; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, outs[i]);
            T_EQ_INT(remove(path), 0);
        }
        remove(dir); /* the emptied folder */
    }
}

/* `cmad eval ARGS` on 1 sample and a 2-point grid into dir; its exit status. */
static int run_tiny_eval(const char *args, const char *dir, const char *log)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s eval %s --n 1 --steps 2 --batch 1 --threads 1 --out %c%s%c",
             t_app_path(), args, Q, dir, Q);
    return run(cmd, log);
}

/* 1 when two files have the same bytes. */
static int same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca = 0, cb = 0, same = fa && fb;
    while (same && ca != EOF) {
        ca = getc(fa);
        cb = getc(fb);
        same = ca == cb;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* `cmad eval` stopped by --batches and gone on with --resume draws the samples of an
 * uninterrupted run, byte for byte; its table says which samples came from the partial file;
 * a partial file of another run (another seed) or a corrupt one is refused, naming it. */
static void test_eval_resume(void)
{
    static const char *methods[] = {"prior", "cdps-parity"};
    const char *args = "eval --methods prior,cdps --n 4 --batch 2 --steps 3 --seed 5 --threads 1";
    char full[512], part[512], bad[512], log[512], cmd[4096], a[1024], b[1024];
    char *json;
    FILE *f;
    int i;
    if (!have_mnist_and_models()) return;
    tmp_path(full, sizeof full, "eval-full");
    tmp_path(part, sizeof part, "eval-part");
    tmp_path(bad, sizeof bad, "eval-bad");
    tmp_path(log, sizeof log, "eval-resume.log");
    snprintf(cmd, sizeof cmd, "%s %s --out %s", t_app_path(), args, full);
    T_EQ_INT(run(cmd, log), 0);
    /* prior's two batches, then one of cdps: stopped, the partial files kept */
    snprintf(cmd, sizeof cmd, "%s %s --out %s --batches 3", t_app_path(), args, part);
    T_EQ_INT(run(cmd, log), 0);
    T_OK(file_has(log, "stopped after 3 batches"));
    snprintf(a, sizeof a, "%s/metrics.json", part);
    T_OK(!exists(a));
    snprintf(a, sizeof a, "%s/cdps-parity.part.safetensors", part);
    T_OK(exists(a));
    /* another seed: refused, naming the partial file, which stays */
    snprintf(cmd, sizeof cmd, "%s %s --out %s --seed 6 --resume", t_app_path(), args, part);
    T_EQ_INT(run(cmd, log), 1);
    T_OK(file_has(log, "prior.part.safetensors: made by a run with other settings"));
    T_OK(exists(a));
    snprintf(cmd, sizeof cmd, "%s %s --out %s --resume", t_app_path(), args, part);
    T_EQ_INT(run(cmd, log), 0);
    T_OK(file_has(log, "cdps-parity: resuming at sample 2 of 4"));
    for (i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s.npy", full, methods[i]);
        snprintf(b, sizeof b, "%s/%s.npy", part, methods[i]);
        T_OK(same_bytes(a, b));
        snprintf(b, sizeof b, "%s/%s.part.safetensors", part, methods[i]);
        T_OK(!exists(b)); /* removed once every output is written */
    }
    snprintf(a, sizeof a, "%s/metrics.json", part);
    json = slurp(a);
    T_OK(json && strstr(json, "\"resumed\": 4") && strstr(json, "\"resumed\": 2"));
    free(json);
    snprintf(a, sizeof a, "%s/table.md", part);
    T_OK(file_has(a, "cdps-parity: samples 0-1 were drawn by an earlier run"));
    /* a corrupt partial file */
    snprintf(cmd, sizeof cmd, "%s %s --out %s --batches 1", t_app_path(), args, bad);
    T_EQ_INT(run(cmd, log), 0);
    snprintf(a, sizeof a, "%s/prior.part.safetensors", bad);
    f = fopen(a, "wb");
    T_OK(f != NULL);
    if (f) {
        fputs("not a safetensors file", f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "%s %s --out %s --resume", t_app_path(), args, bad);
    T_EQ_INT(run(cmd, log), 1);
    T_OK(file_has(log, "prior.part.safetensors"));
    remove(a);
    remove(log);
    {
        static const char *outs[] = {"metrics.json",   "table.md",  "report.html",
                                     "prior.png",      "prior.npy", "cdps-parity.png",
                                     "cdps-parity.npy"};
        for (i = 0; i < 7; i++) {
            snprintf(a, sizeof a, "%s/%s", full, outs[i]);
            remove(a);
            snprintf(a, sizeof a, "%s/%s", part, outs[i]);
            remove(a);
        }
        remove(full);
        remove(part);
        remove(bad);
    }
}

/* Controls trained with --overlap 2: `cmad eval` scores every method through that same
 * aggregator (it read none and used the default split before) and says so in metrics.json
 * and table.md. */
static void test_eval_uses_the_controls_aggregator(void)
{
    char dir[512], ctrl[512], log[512], cmd[4096], args[1100], path[1024];
    char *json, *table;
    tmp_path(dir, sizeof dir, "eval-overlap");
    tmp_path(ctrl, sizeof ctrl, "ctrl-overlap.safetensors");
    tmp_path(log, sizeof log, "eval-overlap.log");
    if (!have_mnist_and_models()) return;
    snprintf(cmd, sizeof cmd,
             "%s control train --agents 2 --target 3 --overlap 2 --steps 3 --batch 1 --iters 1 "
             "--threads 1 --out %c%s%c --curve %c%s.csv%c",
             t_app_path(), Q, ctrl, Q, Q, ctrl, Q);
    T_EQ_INT(run(cmd, log), 0);
    snprintf(args, sizeof args, "--methods cmad,prior --controls %c%s%c", Q, ctrl, Q);
    T_EQ_INT(run_tiny_eval(args, dir, log), 0);
    T_OK(file_has(log, "aggregator split, overlap 2 (from the controls file)"));
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    json = slurp(path);
    T_OK(json && strstr(json, "\"phi\": \"split\", \"overlap\": 2,"));
    snprintf(path, sizeof path, "%s/table.md", dir);
    table = slurp(path);
    T_OK(table && strstr(table, "aggregator split, 2 rows of overlap"));
    free(json);
    free(table);
    /* a different --overlap than the controls': one line naming the flag, exit 1 */
    snprintf(args, sizeof args, "--methods cmad --controls %c%s%c --overlap 3", Q, ctrl, Q);
    T_EQ_INT(run_tiny_eval(args, dir, log), 1);
    T_OK(file_has(log, "option --overlap 3: the controls"));
    /* baselines alone take it from the flag */
    T_EQ_INT(run_tiny_eval("--methods prior --overlap 2", dir, log), 0);
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    json = slurp(path);
    T_OK(json && strstr(json, "\"overlap\": 2,"));
    free(json);
    {
        static const char *outs[] = {"metrics.json", "table.md",  "report.html", "cmad.png",
                                     "cmad.npy",     "prior.png", "prior.npy"};
        int i;
        for (i = 0; i < 7; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, outs[i]);
            T_EQ_INT(remove(path), 0);
        }
        remove(dir);
    }
    remove(ctrl);
    snprintf(path, sizeof path, "%s.csv", ctrl);
    remove(path);
    remove(log);
}

/* Controls record the SHA-256 of the score net and objective classifier they were trained
 * with; `control sample` and `eval` with another score net say so on stderr (one warning
 * line naming the net), and stay quiet with the one they were trained with. */
static void test_controls_record_their_nets(void)
{
    char ctrl[512], other[512], log[512], dir[512], png[512], cmd[4096], args[1200];
    char hex[SHA256_HEX_LEN + 1], e[512];
    SafeFile *f;
    if (!have_mnist_and_models()) return;
    tmp_path(ctrl, sizeof ctrl, "ctrl-nets.safetensors");
    tmp_path(other, sizeof other, "other-unet.safetensors");
    tmp_path(log, sizeof log, "ctrl-nets.log");
    tmp_path(dir, sizeof dir, "ctrl-nets-eval");
    tmp_path(png, sizeof png, "ctrl-nets.png");
    snprintf(cmd, sizeof cmd,
             "%s control train --agents 2 --target 3 --steps 3 --batch 1 --iters 1 --threads 1 "
             "--out %c%s%c --curve %c%s.csv%c",
             t_app_path(), Q, ctrl, Q, Q, ctrl, Q);
    T_EQ_INT(run(cmd, log), 0);
    f = st_open(ctrl, e, sizeof e);
    T_OK(f != NULL);
    if (!f) return;
    T_EQ_INT(sha256_file_hex("models/unet-s.safetensors", hex, e, sizeof e), 0);
    T_OK(st_meta(f, "score_sha256") && !strcmp(st_meta(f, "score_sha256"), hex));
    T_EQ_INT(sha256_file_hex("models/mlp-robust.safetensors", hex, e, sizeof e), 0);
    T_OK(st_meta(f, "classifier_sha256") && !strcmp(st_meta(f, "classifier_sha256"), hex));
    st_close(f);
    /* the nets it was trained with: no warning */
    snprintf(cmd, sizeof cmd,
             "%s control sample --controls %c%s%c --n 1 --steps 2 --batch 1 --threads 1 "
             "--png %c%s%c",
             t_app_path(), Q, ctrl, Q, Q, png, Q);
    T_EQ_INT(run(cmd, log), 0);
    T_OK(!file_has(log, "warning"));
    /* another unet-s (one training step): a warning naming it, in both commands */
    snprintf(cmd, sizeof cmd, "%s train-score --steps 1 --batch 2 --threads 1 --out %c%s%c",
             t_app_path(), Q, other, Q);
    T_EQ_INT(run(cmd, log), 0);
    snprintf(cmd, sizeof cmd,
             "%s control sample --controls %c%s%c --score %c%s%c --n 1 --steps 2 --batch 1 "
             "--threads 1 --png %c%s%c",
             t_app_path(), Q, ctrl, Q, Q, other, Q, Q, png, Q);
    T_EQ_INT(run(cmd, log), 0);
    T_OK(file_has(log, "warning: the score net"));
    T_OK(file_has(log, other));
    T_OK(!file_has(log, "warning: the classifier net"));
    snprintf(args, sizeof args, "--methods cmad --controls %c%s%c --score %c%s%c", Q, ctrl, Q, Q,
             other, Q);
    T_EQ_INT(run_tiny_eval(args, dir, log), 0);
    T_OK(file_has(log, "warning: the score net"));
    {
        static const char *outs[] = {"metrics.json", "table.md", "report.html", "cmad.png",
                                     "cmad.npy"};
        char path[1024];
        int i;
        for (i = 0; i < 5; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, outs[i]);
            T_EQ_INT(remove(path), 0);
        }
        remove(dir);
        snprintf(path, sizeof path, "%s.csv", ctrl);
        remove(path);
    }
    remove(ctrl);
    remove(other);
    remove(png);
    remove(log);
}

/* A controls file whose metadata numbers are not numbers (or overflow an int) is refused with
 * one line naming the file and the key, by `cmad control sample` and `cmad eval` alike, before
 * any sampling: the readers once took them through atoi.  A newline in the value stays out
 * of the error line. */
static void test_controls_bad_metadata_numbers(void)
{
    /* key, value, the value as the error line shows it (a control byte as '?') */
    static const char *bad[][3] = {{"agents", "4294967298", "4294967298"},
                                   {"agents", "2x", "2x"},
                                   {"overlap", "-1", "-1"},
                                   {"rho", "nan", "nan"},
                                   {"rho", "1\n2", "1?2"}};
    char ctrl[512], err[512], cmd[2048], msg[600], e[256];
    int i;
    tmp_path(ctrl, sizeof ctrl, "bad-meta.safetensors");
    tmp_path(err, sizeof err, "bad-meta.txt");
    for (i = 0; i < 5; i++) {
        SafeWriter *w = st_writer_new();
        st_add_meta(w, "model", "cmad-controls");
        st_add_meta(w, "config",
                    "in_ch=1;levels=2;ch=8,8,0,0;nres=1;attention=0;sin_dim=16;"
                    "emb_dim=16;num_classes=0;groups=4");
        if (strcmp(bad[i][0], "agents") != 0) st_add_meta(w, "agents", "2");
        st_add_meta(w, bad[i][0], bad[i][1]);
        T_EQ_INT(st_write(w, ctrl, e, sizeof e), 0);
        st_writer_free(w);
        snprintf(msg, sizeof msg, "%s: metadata %s '%s'", ctrl, bad[i][0], bad[i][2]);
        snprintf(cmd, sizeof cmd, "%s control sample --controls %c%s%c --n 1", t_app_path(), Q,
                 ctrl, Q);
        T_EQ_INT(run(cmd, err), 1);
        T_OK(file_has(err, msg));
        snprintf(cmd, sizeof cmd, "%s eval --methods cmad --agents 2 --controls %c%s%c --n 1",
                 t_app_path(), Q, ctrl, Q);
        T_EQ_INT(run(cmd, err), 1);
        T_OK(file_has(err, msg));
    }
    /* numbers fine, but a config far larger than the file's tensors (none here): refused
     * before any net is allocated, for controls and for a UNet checkpoint alike */
    for (i = 0; i < 2; i++) {
        SafeWriter *w = st_writer_new();
        st_add_meta(w, "format", "cmad-c/1");
        st_add_meta(w, "model", i ? "unet-s" : "cmad-controls");
        st_add_meta(w, "config",
                    "in_ch=1;levels=3;ch=4096,4096,4096,0;nres=4;attention=1;"
                    "sin_dim=16;emb_dim=16;num_classes=0;groups=4");
        st_add_meta(w, "agents", "2");
        T_EQ_INT(st_write(w, ctrl, e, sizeof e), 0);
        st_writer_free(w);
        snprintf(cmd, sizeof cmd, "%s %s %c%s%c --n 1", t_app_path(),
                 i ? "sample --model" : "control sample --controls", Q, ctrl, Q);
        T_EQ_INT(run(cmd, err), 1);
        T_OK(file_has(err, "its config asks for"));
    }
    remove(ctrl);
    remove(err);
}

/* Copies the safetensors file src to dst with metadata `key` set to `value` (added when
 * absent); 1 on success. */
static int with_meta(const char *src, const char *dst, const char *key, const char *value)
{
    char err[512];
    SafeFile *f = st_open(src, err, sizeof err);
    SafeWriter *w = st_writer_new();
    int i, ok = f != NULL, seen = 0;
    for (i = 0; ok && i < st_count(f); i++) {
        const SafeEntry *e = st_entry(f, i);
        int shape[ST_MAX_DIM], d;
        void *buf = malloc(e->numel * 8 + 8);
        for (d = 0; d < e->ndim; d++) shape[d] = (int)e->shape[d];
        if (e->dtype == ST_DTYPE_F32)
            ok = !st_read_scalar(f, e, (Scalar *)buf, e->numel, err, sizeof err) &&
                 !st_add(w, e->name, ST_DTYPE_F32, e->ndim, shape, (const Scalar *)buf);
        else if (e->dtype == ST_DTYPE_F64)
            ok = !st_read_f64(f, e, (double *)buf, e->numel, err, sizeof err) &&
                 !st_add_f64(w, e->name, e->ndim, shape, (const double *)buf);
        else if (e->dtype == ST_DTYPE_U64)
            ok = !st_read_u64(f, e, (uint64_t *)buf, e->numel, err, sizeof err) &&
                 !st_add_u64(w, e->name, e->ndim, shape, (const uint64_t *)buf);
        else
            ok = !st_read_i64(f, e, (int64_t *)buf, e->numel, err, sizeof err) &&
                 !st_add_i64(w, e->name, e->ndim, shape, (const int64_t *)buf);
        free(buf);
    }
    for (i = 0; ok && i < st_meta_count(f); i++) {
        const char *k = st_meta_key(f, i);
        seen |= !strcmp(k, key);
        ok = !st_add_meta(w, k, strcmp(k, key) ? st_meta(f, k) : value);
    }
    if (ok && !seen) ok = !st_add_meta(w, key, value);
    if (f) st_close(f); /* the writer holds copies; dst may be src */
    if (ok) ok = !st_write(w, dst, err, sizeof err);
    st_writer_free(w);
    return ok;
}

/* 1 when src was copied byte for byte to dst. */
static int copy_file(const char *src, const char *dst)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    int c, ok = a && b;
    while (ok && (c = getc(a)) != EOF) ok = putc(c, b) != EOF;
    if (a) fclose(a);
    if (b && fclose(b)) ok = 0;
    return ok;
}

/* --resume with options that would make another run (here --lr, --stratified-t, and the
 * length of a cosine schedule) is refused with one line naming the option, and the state
 * is left as it was; the options are recorded in the model file too.  A resumed run's
 * train_seconds adds the earlier legs'; a state with a bad one is refused. */
static void test_resume_refuses_other_options(void)
{
    static const char *const other[][2] = {
        {"--steps 3", "--lr 2e-3 --steps 3"},
        {"--steps 3", "--stratified-t --steps 3"},
        {"--lr-end 1e-4 --steps 2", "--lr-end 1e-4 --steps 3"},
    };
    static const char *const named[] = {"--lr was 0.001 there, 0.002 here",
                                        "--stratified-t was 0 there, 1 here",
                                        "--schedule-steps was 2 there, 3 here"};
    const char *data = raw_mnist();
    char cmd[4096], err[512], m[512], s[512], keep[512];
    const char *tail = "--batch 4 --warmup 2 --save-every 0 --threads 1";
    size_t k;
    if (!data) return;
    tmp_path(err, sizeof err, "recipe-err.txt");
    tmp_path(m, sizeof m, "recipe.safetensors");
    tmp_path(s, sizeof s, "recipe.state.safetensors");
    tmp_path(keep, sizeof keep, "recipe-keep.safetensors");
    for (k = 0; k < sizeof named / sizeof named[0]; k++) {
        snprintf(cmd, sizeof cmd, "%s train-score --data %s %s %s --out %s --state %s",
                 t_app_path(), data, other[k][0], tail, m, s);
        T_EQ_INT(run(cmd, err), 0);
        if (k == 0) {
            SafeFile *f = st_open(m, cmd, sizeof cmd);
            const char *r = f ? st_meta(f, "train") : NULL;
            T_OK(r && !strncmp(r, "cond=0;stratified-t=0;batch=4;lr=0.001;", 39));
            if (f) st_close(f);
        }
        T_OK(copy_file(s, keep));
        snprintf(cmd, sizeof cmd, "%s train-score --data %s %s %s --out %s --state %s --resume",
                 t_app_path(), data, other[k][1], tail, m, s);
        T_EQ_INT(run(cmd, err), 1);
        T_OK(file_has(err, "made by a run with other options"));
        T_OK(file_has(err, named[k]));
        T_OK(same_bytes(s, keep));
    }
    /* a model file counts the seconds of every leg: a state that says 5000 s gives > 5000 */
    snprintf(cmd, sizeof cmd, "%s train-score --data %s --steps 2 %s --out %s --state %s",
             t_app_path(), data, tail, m, s);
    T_EQ_INT(run(cmd, err), 0);
    T_OK(with_meta(s, s, "train_seconds", "5000.0"));
    snprintf(cmd, sizeof cmd, "%s train-score --data %s --steps 3 %s --out %s --state %s --resume",
             t_app_path(), data, tail, m, s);
    T_EQ_INT(run(cmd, err), 0);
    {
        SafeFile *f = st_open(m, cmd, sizeof cmd);
        const char *secs = f ? st_meta(f, "train_seconds") : NULL;
        T_OK(secs && atof(secs) > 5000.0 && atof(secs) < 5100.0);
        if (f) st_close(f);
    }
    /* and refuses a state whose recorded seconds are not a number, naming the key */
    T_OK(with_meta(s, s, "train_seconds", "soon"));
    T_OK(copy_file(s, keep));
    snprintf(cmd, sizeof cmd, "%s train-score --data %s --steps 4 %s --out %s --state %s --resume",
             t_app_path(), data, tail, m, s);
    T_EQ_INT(run(cmd, err), 1);
    T_OK(file_has(err, "train_seconds is 'soon'"));
    T_OK(same_bytes(s, keep));
    remove(err);
    remove(m);
    remove(s);
    remove(keep);
}

/* The line of a file that starts with prefix, into buf (without its newline); 0 if none. */
static int line_of(const char *path, const char *prefix, char *buf, size_t cap)
{
    char line[2048];
    FILE *f = fopen(path, "r");
    int found = 0;
    if (!f) return 0;
    while (!found && fgets(line, sizeof line, f))
        if (!strncmp(line, prefix, strlen(prefix))) {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(buf, cap, "%s", line);
            found = 1;
        }
    fclose(f);
    return found;
}

/* `cmad score` on the .npy that `cmad sample` wrote prints the report sample printed
 * (confident share, histogram, fd and its real-data range); bad samples files, shapes,
 * pixels and flags get one line naming them and exit 1. */
static void test_score_matches_sample(void)
{
    static const char *const lines[] = {"confident", "class histogram", "fd ("};
    char cmd[4096], a[512], b[512], npy[512], png[512], la[2048], lb[2048];
    int shape[3] = {2, 27, 27}, i;
    Scalar px[2 * 28 * 28];
    if (!have_mnist_and_models()) return;
    tmp_path(a, sizeof a, "sample-out.txt");
    tmp_path(b, sizeof b, "score-out.txt");
    tmp_path(npy, sizeof npy, "s.npy");
    tmp_path(png, sizeof png, "s.png");
    snprintf(cmd, sizeof cmd, "%s sample --n 12 --steps 4 --threads 1 --npy %s --png %s",
             t_app_path(), npy, png);
    T_EQ_INT(run(cmd, a), 0);
    snprintf(cmd, sizeof cmd, "%s score --npy %s --threads 1", t_app_path(), npy);
    T_EQ_INT(run(cmd, b), 0);
    for (i = 0; i < 3; i++) {
        T_OK(line_of(a, lines[i], la, sizeof la));
        T_OK(line_of(b, lines[i], lb, sizeof lb));
        T_OK(strcmp(la, lb) == 0);
    }
    T_OK(file_has(b, "5 disjoint sets of 12"));
    T_OK(file_has(b, "samples ")); /* the samples file's hash in the record line */
    snprintf(cmd, sizeof cmd, "%s score --npy %s --label 3 --threads 1", t_app_path(), npy);
    T_EQ_INT(run(cmd, b), 0);
    T_OK(file_has(b, "accuracy against the requested label"));
    T_OK(file_has(b, "test images of class 3"));
    /* refusals */
    snprintf(cmd, sizeof cmd, "%s score", t_app_path());
    T_EQ_INT(run(cmd, b), 1);
    T_OK(file_has(b, "--npy"));
    snprintf(cmd, sizeof cmd, "%s score --npy %s --label null", t_app_path(), npy);
    T_EQ_INT(run(cmd, b), 1);
    T_OK(file_has(b, "--label"));
    snprintf(cmd, sizeof cmd, "%s score --npy %s --eval-classifier /nonexistent/e.safetensors",
             t_app_path(), npy);
    T_EQ_INT(run(cmd, b), 1);
    T_OK(file_has(b, "/nonexistent/e.safetensors"));
    snprintf(cmd, sizeof cmd, "%s score --npy %s --data /nonexistent/mnist", t_app_path(), npy);
    T_EQ_INT(run(cmd, b), 1);
    T_OK(file_has(b, "/nonexistent/mnist"));
    for (i = 0; i < 2 * 28 * 28; i++) px[i] = 0.5f;
    T_EQ_INT(npy_write_f32(npy, 3, shape, px, la, sizeof la), 0);
    snprintf(cmd, sizeof cmd, "%s score --npy %s", t_app_path(), npy);
    T_EQ_INT(run(cmd, b), 1);
    T_OK(file_has(b, npy) && file_has(b, "wants shape"));
    shape[1] = shape[2] = 28;
    px[28 * 28 + 5] = (Scalar)NAN; /* in sample 1 */
    T_EQ_INT(npy_write_f32(npy, 3, shape, px, la, sizeof la), 0);
    T_EQ_INT(run(cmd, b), 1);
    T_OK(file_has(b, "sample 1 has a non-finite pixel"));
    {
        FILE *f = fopen(npy, "wb"); /* a header that is not a dict */
        T_OK(f != NULL);
        if (f) {
            fwrite("\x93NUMPY\x01\x00\x04\x00{}x\n", 1, 14, f);
            fclose(f);
        }
    }
    T_EQ_INT(run(cmd, b), 1);
    T_OK(file_has(b, npy) && file_has(b, "--npy"));
    remove(a);
    remove(b);
    remove(npy);
    remove(png);
}

const TestCase apps_tests[] = {
    {"train_smoke_loss_falls", test_train_smoke_loss_falls},
    {"bad_flag_and_missing_file", test_bad_flag_and_missing_file},
    {"resume_is_bit_identical", test_resume_is_bit_identical},
    {"resume_refuses_other_options", test_resume_refuses_other_options},
    {"eval_records_command_and_hashes", test_eval_records_command_and_hashes},
    {"eval_uses_the_controls_aggregator", test_eval_uses_the_controls_aggregator},
    {"controls_record_their_nets", test_controls_record_their_nets},
    {"eval_resume", test_eval_resume},
    {"controls_bad_metadata_numbers", test_controls_bad_metadata_numbers},
    {"score_matches_sample", test_score_matches_sample},
    {NULL, NULL},
};
