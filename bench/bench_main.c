/* bench_main.c - runs the benchmark sections and writes bench/results.json.
 *
 *   build-native/bench [--reps N] [--json PATH] [--threads N] [--conv-batch N] [SECTION...]
 *   build-native/bench train     (training step, sampler step, conv layers)
 *   build-native/bench step      (training and sampler steps only)
 *   build-native/bench conv      (the conv layers only, gemm and Winograd paths)
 *   build-native/bench cmad      (CMAD BPTT iterations and a CDPS step, with peak memory)
 *   build-native/bench mem       (the memory of one step of each case, run once)
 *
 * With no SECTION every section in the table runs except those marked on request (step,
 * conv, mem).  The exit status is 1 when any kernel
 * failed its check against the reference (its figures are then not reported). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/platform.h"
#include "../tensor/tensor.h"
#include "bench.h"

static const BenchSection sections[] = {
    {"gemm", bench_gemm, 0}, {"train", bench_train, 0},
    {"step", bench_step, 1},                        /* a subset of train, for quick comparisons */
    {"conv", bench_conv, 1},                        /* the conv layers of train */
    {"cls", bench_cls, 1},                          /* the classifier steps of train */
    {"cmad", bench_cmad, 0}, {"mem", bench_mem, 1}, /* memory of one step per case, measured once */
};
#define N_SECTIONS ((int)(sizeof sections / sizeof sections[0]))

BenchResult *bench_add(BenchReport *rep, const char *section, const char *name)
{
    BenchResult *r;
    if (rep->n >= BENCH_MAX_RESULTS) return NULL;
    r = &rep->r[rep->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->section, sizeof r->section, "%s", section);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->same_bits = -1;
    r->rate_unit = "";
    return r;
}

BenchResult *bench_timed(BenchReport *rep, const char *section, const char *name,
                         const char *params, double *t, int reps, double per_run, const char *unit)
{
    BenchResult *res = bench_add(rep, section, name);
    if (!res) return NULL;
    snprintf(res->params, sizeof res->params, "%s", params);
    res->threads = plat_threads();
    res->reps = reps;
    res->ms_median = 1e3 * bench_median(t, reps); /* sorts t: t[0] is then the fastest */
    res->ms_min = 1e3 * t[0];
    res->rate = per_run / (res->ms_median * 1e-3);
    res->rate_unit = unit;
    return res;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static int write_json(const BenchReport *rep, const char *path)
{
    FILE *f = fopen(path, "w");
    int i;
    if (!f) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        return 1;
    }
    fprintf(f,
            "{\n  \"scalar\": \"%s\",\n  \"openmp\": %d,\n  \"max_threads\": %d,\n"
            "  \"reps\": %d,\n  \"results\": [\n",
            SCALAR_NAME, plat_have_openmp(), plat_threads(), rep->reps);
    for (i = 0; i < rep->n; i++) {
        const BenchResult *r = &rep->r[i];
        fprintf(f,
                "    {\"section\": \"%s\", \"name\": \"%s\", \"params\": \"%s\", "
                "\"threads\": %d, \"reps\": %d, \"ms_median\": %.4f, \"ms_min\": %.4f, "
                "\"rate\": %.3f, \"rate_unit\": \"%s\", \"max_err\": %.3g, \"tol\": %.3g, "
                "\"same_bits_as_1_thread\": %s, \"peak_mb\": %.1f}%s\n",
                r->section, r->name, r->params, r->threads, r->reps, r->ms_median, r->ms_min,
                r->rate, r->rate_unit, r->max_err, r->tol,
                r->same_bits < 0 ? "null"
                : r->same_bits   ? "true"
                                 : "false",
                r->peak_mb, i + 1 < rep->n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "bench: error writing %s\n", path);
        return 1;
    }
    printf("wrote %s (%d results)\n", path, rep->n);
    return 0;
}

int main(int argc, char **argv)
{
    static BenchReport rep;
    const char *json = "bench/results.json";
    int i, s, failed = 0, only = 0;
    rep.reps = 7;
    rep.conv_batch = 64;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            rep.reps = atoi(argv[++i]);
            if (rep.reps < 5) rep.reps = 5;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            rep.only_threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--conv-batch") && i + 1 < argc) {
            rep.conv_batch = atoi(argv[++i]);
            if (rep.conv_batch < 2 || rep.conv_batch > 1024) {
                fprintf(stderr, "bench: --conv-batch wants 2 to 1024, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
            json = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s [--reps N (7, min 5)] [--json PATH (bench/results.json)] "
                   "[--threads N (train, step: only N threads; cmad, mem: run with N)] "
                   "[--conv-batch N (64: the conv layers' batch; CMAD trains at 8 and 16)] "
                   "[SECTION...]\nsections:",
                   argv[0]);
            for (s = 0; s < N_SECTIONS; s++) printf(" %s", sections[s].name);
            printf("\n");
            return 0;
        } else {
            only = 1;
        }
    }
    if (rep.only_threads > 0) plat_set_threads(rep.only_threads);
    printf("cmad bench: scalar %s, OpenMP %s, max threads %d, median of %d runs after a "
           "warm-up\n",
           SCALAR_NAME, plat_have_openmp() ? "on" : "off", plat_threads(), rep.reps);
    for (s = 0; s < N_SECTIONS; s++) {
        int run = !only && !sections[s].on_request;
        for (i = 1; i < argc && !run; i++)
            if (!strcmp(argv[i], sections[s].name)) run = 1;
        if (!run) continue;
        if (sections[s].run(&rep) != 0) {
            fprintf(stderr, "bench: section %s FAILED its reference check\n", sections[s].name);
            failed = 1;
        }
    }
    if (write_json(&rep, json) != 0) return 1;
    return failed;
}
