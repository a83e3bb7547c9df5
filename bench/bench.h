/* bench.h - the benchmark runner's shared pieces.
 *
 * A section is one function in its own file (bench_gemm.c, ...) listed in the table in
 * bench_main.c.  It times its kernels, checks each result against a slow reference before
 * reporting it, and adds one BenchResult per (case, thread count) to the report; the runner
 * prints the tables as it goes and writes every result to bench/results.json at the end.
 * A section returns non-zero when a kernel failed its check: the runner then exits 1. */
#ifndef CMAD_BENCH_H
#define CMAD_BENCH_H

#define BENCH_MAX_RESULTS 512

typedef struct BenchResult {
    char section[24]; /* "gemm" */
    char name[48];    /* case name, e.g. "conv1_fwd" */
    char params[96];  /* shape and variant, e.g. "NN M=64 N=12544 K=576" */
    int threads;
    int reps;
    double ms_median, ms_min;
    double rate; /* in rate_unit, from the median time */
    const char *rate_unit;
    double max_err, tol; /* worst checked |fast - ref| and its bound */
    int same_bits;       /* -1 not compared, 0/1 against the 1-thread result */
    double peak_mb;      /* memory the case needs (arena high-water), 0 when not measured */
} BenchResult;

typedef struct BenchReport {
    BenchResult r[BENCH_MAX_RESULTS];
    int n;
    int reps;         /* timed repeats per case (>= 5), after one warm-up run */
    int only_threads; /* --threads N: time only this thread count (0: every count) */
    int conv_batch;   /* --conv-batch N: the batch of the conv section (64) */
} BenchReport;

typedef struct BenchSection {
    const char *name;
    int (*run)(BenchReport *rep);
    int on_request; /* 1: runs only when named on the command line */
} BenchSection;

/* Adds a result (NULL when the report is full). */
BenchResult *bench_add(BenchReport *rep, const char *section, const char *name);
/* Median of n timings (sorts t in place). */
double bench_median(double *t, int n);
/* A result of section from reps timings t (seconds; sorted in place): median and fastest
 * in ms, rate = per_run units per second at the median, this process's thread count. */
BenchResult *bench_timed(BenchReport *rep, const char *section, const char *name,
                         const char *params, double *t, int reps, double per_run, const char *unit);

int bench_gemm(BenchReport *rep);
int bench_train(BenchReport *rep);
int bench_step(BenchReport *rep);
int bench_conv(BenchReport *rep);
int bench_cls(BenchReport *rep);
int bench_cmad(BenchReport *rep);
int bench_mem(BenchReport *rep);

#endif
