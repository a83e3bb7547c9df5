/* test_linalg.c - the Jacobi eigen-solver and the Frechet distance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/linalg.h"
#include "../tensor/rng.h"
#include "harness.h"

static void test_sym_eig_reconstructs(void)
{
    enum { N = 12 };
    double a[N * N], keep[N * N], w[N], v[N * N];
    Rng r;
    int i, j, k;
    rng_seed(&r, 51, 0);
    for (i = 0; i < N; i++)
        for (j = 0; j <= i; j++) a[i * N + j] = a[j * N + i] = rng_normal(&r);
    memcpy(keep, a, sizeof a);
    T_OK(sym_eig(a, N, w, v) > 0);
    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++) {
            double acc = 0;
            for (k = 0; k < N; k++) acc += v[i * N + k] * w[k] * v[j * N + k];
            T_NEAR(acc, keep[i * N + j], 1e-12);
        }
}

static void test_frechet_known_values(void)
{
    /* identical sets: 0; a shifted copy: |shift|^2; a scaled copy in 1-D: (sqrt(v1) - sqrt(v2))^2 */
    enum { n = 400, d = 3 };
    double *x = (double *)malloc(sizeof(double) * n * d),
           *y = (double *)malloc(sizeof(double) * n * d);
    Rng r;
    int i, j;
    rng_seed(&r, 52, 0);
    for (i = 0; i < n * d; i++) x[i] = rng_normal(&r);
    T_NEAR(frechet_distance(x, n, x, n, d), 0.0, 1e-9);
    for (i = 0; i < n; i++)
        for (j = 0; j < d; j++) y[i * d + j] = x[i * d + j] + (j == 0 ? 2.0 : 0.0);
    T_NEAR(frechet_distance(x, n, y, n, d), 4.0, 1e-9);
    for (i = 0; i < n * d; i++) y[i] = 3.0 * x[i];
    {
        /* per-dim variances scale by 9: FD = sum_j (sqrt(v_j) - 3 sqrt(v_j))^2 only when the
           covariance is diagonal; use d = 1 for the exact check */
        double v = 0, mu = 0;
        for (i = 0; i < n; i++) mu += x[i * d];
        mu /= n;
        for (i = 0; i < n; i++) v += (x[i * d] - mu) * (x[i * d] - mu);
        v /= n - 1;
        for (i = 0; i < n; i++) {
            x[i] = x[i * d];
            y[i] = 3.0 * x[i];
        }
        T_NEAR(frechet_distance(x, n, y, n, 1), 4.0 * mu * mu + 4.0 * v, 1e-9);
    }
    free(x);
    free(y);
}

const TestCase linalg_tests[] = {
    {"sym_eig_reconstructs", test_sym_eig_reconstructs},
    {"frechet_known_values", test_frechet_known_values},
    {NULL, NULL},
};
