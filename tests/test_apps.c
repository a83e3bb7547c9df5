/* test_apps.c - the cmad program as a user meets it: bad flags and bad files get one error
 * line and a non-zero exit with no output left behind, and a resumed training run is bit
 * for bit the uninterrupted one (weights, EMA, Adam moments, step, RNG). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/safetensors.h"
#include "harness.h"
#include <time.h>

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

static void test_resume_is_bit_identical(void)
{
    char cmd[4096], err[512], m6[512], s6[512], m3[512], s3[512];
    const char *data = getenv("MNIST_DIR_RAW") ? getenv("MNIST_DIR_RAW") : "data/mnist";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", data);
    if (!exists(probe)) {
        t_skip("needs MNIST in data/mnist (make data)");
        return;
    }
    tmp_path(err, sizeof err, "resume-err.txt");
    tmp_path(m6, sizeof m6, "resume-a.safetensors");
    tmp_path(s6, sizeof s6, "resume-a.state.safetensors");
    tmp_path(m3, sizeof m3, "resume-b.safetensors");
    tmp_path(s3, sizeof s3, "resume-b.state.safetensors");
    /* six steps straight, against three steps, stop, and three more with --resume */
    snprintf(cmd, sizeof cmd,
             "%s train-score --data %s --steps 6 --batch 4 --warmup 2 --out %s --state %s "
             "--save-every 0",
             t_app_path(), data, m6, s6);
    T_EQ_INT(run(cmd, err), 0);
    snprintf(cmd, sizeof cmd,
             "%s train-score --data %s --steps 3 --batch 4 --warmup 2 --out %s --state %s "
             "--save-every 0",
             t_app_path(), data, m3, s3);
    T_EQ_INT(run(cmd, err), 0);
    snprintf(cmd, sizeof cmd,
             "%s train-score --data %s --steps 6 --batch 4 --warmup 2 --out %s --state %s "
             "--save-every 0 --resume",
             t_app_path(), data, m3, s3);
    T_EQ_INT(run(cmd, err), 0);
    T_OK(same_tensors(m6, m3));
    T_OK(same_tensors(s6, s3));
    remove(err);
    remove(m6);
    remove(s6);
    remove(m3);
    remove(s3);
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
    const char *data = "data/mnist";
    char probe[1024];
    double first = 0, last = 0;
    int steps = t_quick() ? 30 : 50; /* sanitizer and tcc runs: fewer steps */
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", data);
    if (!exists(probe)) {
        t_skip("needs MNIST in data/mnist (make data)");
        return;
    }
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

const TestCase apps_tests[] = {
    {"train_smoke_loss_falls", test_train_smoke_loss_falls},
    {"bad_flag_and_missing_file", test_bad_flag_and_missing_file},
    {"resume_is_bit_identical", test_resume_is_bit_identical},
    {NULL, NULL},
};
