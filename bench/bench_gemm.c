/* bench_gemm.c - GEMM throughput: 1024^3 and the im2col shapes of a small UNet.
 *
 * Conv as GEMM (im2col): a 3x3 conv with Cin -> Cout channels on N images of H x W is
 *   forward   Y[Cout, P]      = W[Cout, Cin*9] . col[Cin*9, P]          (NN)
 *   weights   dW[Cout, Cin*9] = dY[Cout, P] . col[Cin*9, P]^T            (NT)
 *   input     dcol[Cin*9, P]  = W[Cout, Cin*9]^T . dY[Cout, P]           (TN)
 * with P = N*H*W pixels.  Shapes: N = 64 images, 28x28 (P = 50176) and 14x14 (P = 12544).
 *
 * Every timed result is checked against gemm_ref on a random sample of outputs (all of
 * them for small C) with |err| <= 2 K eps max|a| max|b|; a failing kernel is not reported.
 * The 2-thread result must also equal the 1-thread result bit for bit. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/gemm.h"
#include "../tensor/platform.h"
#include "../tensor/rng.h"
#include "bench.h"

#ifdef CMAD_DOUBLE
#define EPS DBL_EPSILON
#else
#define EPS FLT_EPSILON
#endif

typedef struct GemmCase {
    const char *name;
    int ta, tb, M, N, K;
} GemmCase;

/* conv(Cin -> Cout, P pixels): forward, weight gradient, input gradient. */
#define CONV_CASES(tag, cin, cout, p)                                                              \
    {tag "_fwd", 0, 0, cout, p, (cin)*9}, {tag "_dW", 0, 1, cout, (cin)*9, p},                     \
    {                                                                                              \
        tag "_dcol", 1, 0, (cin)*9, p, cout                                                        \
    }

static const GemmCase cases[] = {
    {"square1024", 0, 0, 1024, 1024, 1024},  CONV_CASES("c32to32_28", 32, 32, 50176),
    CONV_CASES("c64to32_28", 64, 32, 50176), CONV_CASES("c32to64_14", 32, 64, 12544),
    CONV_CASES("c64to64_14", 64, 64, 12544), CONV_CASES("c128to64_14", 128, 64, 12544),
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))
#define N_SAMPLE 400

static Scalar *rand_buf(Rng *r, size_t n)
{
    Scalar *x = (Scalar *)xmalloc(n * sizeof(Scalar));
    size_t i;
    for (i = 0; i < n; i++) x[i] = (Scalar)(2 * rng_uniform(r) - 1);
    return x;
}

/* Worst |C - ref| over a sample of outputs (every output when C is small). */
static double check_sample(const GemmCase *c, const Scalar *A, int lda, const Scalar *B, int ldb,
                           const Scalar *C, Rng *r)
{
    size_t total = (size_t)c->M * c->N, n = total <= 4 * N_SAMPLE ? total : N_SAMPLE, s;
    double worst = 0;
    for (s = 0; s < n; s++) {
        size_t idx = n == total ? s : (size_t)(rng_uniform(r) * (double)total);
        int i = (int)(idx / (size_t)c->N), j = (int)(idx % (size_t)c->N);
        /* one element of op(A) op(B): gemm_ref on row i of op(A) and column j of op(B) */
        const Scalar *a = c->ta ? A + i : A + (size_t)i * lda;
        const Scalar *b = c->tb ? B + (size_t)j * ldb : B + j;
        Scalar ref;
        double e;
        gemm_ref(c->ta, c->tb, 1, 1, c->K, 1, a, lda, b, ldb, 0, &ref, 1);
        e = fabs((double)C[idx] - (double)ref);
        if (!(e <= worst)) worst = e; /* NaN sticks */
    }
    return worst;
}

int bench_gemm(BenchReport *rep)
{
    static const int thread_counts[] = {1, 2};
    int saved = plat_threads(), ci, ti, failed = 0;
    Rng r;
    rng_seed(&r, 2024, 0);
    printf("\n== gemm: C = op(A) op(B), %s, GFLOP/s from the median time ==\n", SCALAR_NAME);
    printf("%-18s %-3s %6s %6s %6s %4s %9s %9s %9s %10s %5s\n", "case", "op", "M", "N", "K", "thr",
           "ms_med", "ms_min", "GFLOP/s", "max_err", "bits");
    for (ci = 0; ci < N_CASES; ci++) {
        const GemmCase *c = &cases[ci];
        int lda = c->ta ? c->M : c->K, ldb = c->tb ? c->K : c->N;
        size_t nc = (size_t)c->M * c->N;
        Scalar *A = rand_buf(&r, (size_t)c->M * c->K), *B = rand_buf(&r, (size_t)c->K * c->N);
        Scalar *C = (Scalar *)xmalloc(nc * sizeof(Scalar));
        Scalar *C1 = (Scalar *)xmalloc(nc * sizeof(Scalar));
        /* inputs are U(-1, 1): |a|, |b| <= 1 */
        double flop = 2.0 * c->M * c->N * c->K, tol = 2.0 * c->K * EPS;
        for (ti = 0; ti < (int)(sizeof thread_counts / sizeof thread_counts[0]); ti++) {
            double t[64], err;
            int k, reps = rep->reps < 64 ? rep->reps : 64;
            BenchResult *res;
            plat_set_threads(thread_counts[ti]);
            gemm(c->ta, c->tb, c->M, c->N, c->K, 1, A, lda, B, ldb, 0, C, c->N); /* warm-up */
            for (k = 0; k < reps; k++) {
                double t0 = plat_now();
                gemm(c->ta, c->tb, c->M, c->N, c->K, 1, A, lda, B, ldb, 0, C, c->N);
                t[k] = plat_now() - t0;
            }
            err = check_sample(c, A, lda, B, ldb, C, &r);
            if (!(err <= tol)) {
                fprintf(stderr,
                        "bench gemm: %s %s%s %dx%dx%d threads=%d: max error %g > "
                        "tolerance %g: result NOT reported\n",
                        c->name, c->ta ? "T" : "N", c->tb ? "T" : "N", c->M, c->N, c->K,
                        thread_counts[ti], err, tol);
                failed = 1;
                continue;
            }
            res = bench_add(rep, "gemm", c->name);
            if (!res) continue;
            snprintf(res->params, sizeof res->params, "%s%s M=%d N=%d K=%d", c->ta ? "T" : "N",
                     c->tb ? "T" : "N", c->M, c->N, c->K);
            res->threads = plat_threads();
            res->reps = reps;
            res->ms_median = 1e3 * bench_median(t, reps);
            res->ms_min = 1e3 * t[0];
            res->rate = flop / (res->ms_median * 1e-3) / 1e9;
            res->rate_unit = "GFLOP/s";
            res->max_err = err;
            res->tol = tol;
            if (ti == 0) {
                memcpy(C1, C, nc * sizeof(Scalar));
            } else {
                res->same_bits = memcmp(C1, C, nc * sizeof(Scalar)) == 0;
                if (!res->same_bits) {
                    fprintf(stderr, "bench gemm: %s: %d threads differ from 1 thread\n", c->name,
                            res->threads);
                    failed = 1;
                }
            }
            printf("%-18s %s%s  %6d %6d %6d %4d %9.3f %9.3f %9.1f %10.2e %5s\n", c->name,
                   c->ta ? "T" : "N", c->tb ? "T" : "N", c->M, c->N, c->K, res->threads,
                   res->ms_median, res->ms_min, res->rate, err,
                   res->same_bits < 0 ? "-"
                   : res->same_bits   ? "same"
                                      : "DIFF");
            fflush(stdout);
        }
        free(A);
        free(B);
        free(C);
        free(C1);
    }
    plat_set_threads(saved);
    return failed;
}
