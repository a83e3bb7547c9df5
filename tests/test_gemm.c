/* test_gemm.c - the fast gemm against the naive gemm_ref: odd shapes, the four transpose
 * cases, alpha/beta, padded leading dimensions, NaN in C with beta = 0, and the same bits
 * with one thread and with two (also when called from inside a parallel region). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../tensor/gemm.h"
#include "../tensor/platform.h"
#include "../tensor/rng.h"
#include "harness.h"

#ifdef CMAD_DOUBLE
#define EPS DBL_EPSILON
#else
#define EPS FLT_EPSILON
#endif

#define SENTINEL ((Scalar)-12345.0)

/* A rows x cols matrix with row stride ld >= cols: values U(-1, 1), the gap is SENTINEL. */
static Scalar *rand_mat(Rng *r, int rows, int cols, int ld)
{
    Scalar *m = (Scalar *)xmalloc((size_t)rows * ld * sizeof(Scalar));
    int i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < ld; j++)
            m[(size_t)i * ld + j] = j < cols ? (Scalar)(2 * rng_uniform(r) - 1) : SENTINEL;
    return m;
}

static double max_abs(const Scalar *m, int rows, int cols, int ld)
{
    double mx = 0;
    int i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++)
            if (fabs((double)m[(size_t)i * ld + j]) > mx) mx = fabs((double)m[(size_t)i * ld + j]);
    return mx;
}

/* Runs gemm and gemm_ref on one case; returns the number of bad elements (reported once).
 * pad widens every leading dimension; beta == 0 fills C with NaN first. */
static int check_case(Rng *r, int ta, int tb, int M, int N, int K, Scalar alpha, Scalar beta,
                      int pad)
{
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int lda = ac + pad, ldb = bc + pad, ldc = N + pad, i, j, bad = 0;
    Scalar *A = rand_mat(r, ar, ac, lda), *B = rand_mat(r, br, bc, ldb);
    Scalar *C = rand_mat(r, M, N, ldc), *R;
    double tol;
    if (beta == 0)
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) C[(size_t)i * ldc + j] = (Scalar)NAN;
    R = (Scalar *)xmalloc((size_t)M * ldc * sizeof(Scalar));
    memcpy(R, C, (size_t)M * ldc * sizeof(Scalar));
    /* |error| <~ K eps max|a| max|b| |alpha| + eps |beta| max|c|, with a safety factor 2 */
    tol = 2 * EPS *
              ((double)K * max_abs(A, ar, ac, lda) * max_abs(B, br, bc, ldb) * fabs((double)alpha) +
               (beta == 0 ? 0 : fabs((double)beta) * max_abs(C, M, N, ldc))) +
          1e-30;
    gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    for (i = 0; i < M; i++)
        for (j = 0; j < ldc; j++) {
            double c = C[(size_t)i * ldc + j], e = R[(size_t)i * ldc + j];
            int ok = j < N ? fabs(c - e) <= tol : c == (double)SENTINEL; /* gap untouched */
            if (!ok && bad++ == 0)
                t_report(__FILE__, __LINE__,
                         "gemm ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: C[%d,%d] = "
                         "%.9g, ref %.9g (tol %g)",
                         ta, tb, M, N, K, (double)alpha, (double)beta, pad, i, j, c, e, tol);
        }
    free(A);
    free(B);
    free(C);
    free(R);
    return bad;
}

static void test_gemm_odd_shapes(void)
{
    static const int sz[] = {1, 2, 7, 17, 33, 65, 129};
    int ns = (int)(sizeof sz / sizeof sz[0]), a, b, c, t;
    Rng r;
    rng_seed(&r, 1, 0);
    for (t = 0; t < 4; t++)
        for (a = 0; a < ns; a++)
            for (b = 0; b < ns; b++)
                for (c = 0; c < ns; c++)
                    check_case(&r, t & 1, t >> 1, sz[a], sz[b], sz[c], 1, 0, 0);
}

static void test_gemm_alpha_beta_ld(void)
{
    static const double ab[][2] = {{1, 0}, {0.5, 0}, {1, 1}, {-1.5, 0.25}, {2, -1}, {0, 2}};
    int i, t;
    Rng r;
    rng_seed(&r, 2, 0);
    for (t = 0; t < 4; t++)
        for (i = 0; i < (int)(sizeof ab / sizeof ab[0]); i++) {
            check_case(&r, t & 1, t >> 1, 37, 45, 29, (Scalar)ab[i][0], (Scalar)ab[i][1], 0);
            check_case(&r, t & 1, t >> 1, 37, 45, 29, (Scalar)ab[i][0], (Scalar)ab[i][1], 5);
            check_case(&r, t & 1, t >> 1, 70, 131, 300, (Scalar)ab[i][0], (Scalar)ab[i][1], 3);
            check_case(&r, t & 1, t >> 1, 3, 5, 2, (Scalar)ab[i][0], (Scalar)ab[i][1], 1);
        }
}

/* Shapes that cross every cache block (KC, MC, NC) and the im2col shapes in miniature. */
static void test_gemm_blocks(void)
{
    static const int shp[][3] = {{300, 260, 530}, {29, 4200, 300}, {64, 784, 288},
                                 {288, 784, 64},  {64, 288, 1568}, {13, 3, 2000}};
    int i, t;
    Rng r;
    rng_seed(&r, 3, 0);
    for (t = 0; t < 4; t++)
        for (i = 0; i < (int)(sizeof shp / sizeof shp[0]); i++) {
            if (t_quick() && i > 2) break;
            check_case(&r, t & 1, t >> 1, shp[i][0], shp[i][1], shp[i][2], 1, t == 2 ? 0.5f : 0, t);
        }
}

/* K = 0 scales C by beta (beta = 0 clears NaN); M = 0 or N = 0 touch nothing. */
static void test_gemm_degenerate(void)
{
    Scalar C[6] = {1, 2, 3, (Scalar)NAN, 5, 6}, A[1] = {7}, B[1] = {8};
    int i;
    gemm(0, 0, 2, 3, 0, 1, A, 1, B, 3, 2, C, 3);
    T_NEAR(C[0], 2, 0);
    T_NEAR(C[5], 12, 0);
    gemm(0, 0, 2, 3, 0, 1, A, 1, B, 3, 0, C, 3);
    for (i = 0; i < 6; i++) T_OK(C[i] == 0);
    C[0] = 9;
    gemm(0, 0, 0, 3, 5, 1, A, 1, B, 3, 0, C, 3);
    gemm(0, 0, 2, 0, 5, 1, A, 1, B, 3, 0, C, 3);
    T_NEAR(C[0], 9, 0);
}

/* Fills C by gemm with n threads. */
static void run_threads(int n, int ta, int tb, int M, int N, int K, const Scalar *A,
                        const Scalar *B, Scalar *C)
{
    plat_set_threads(n);
    gemm(ta, tb, M, N, K, (Scalar)0.75, A, ta ? M : K, B, tb ? K : N, 0, C, N);
}

static void test_gemm_threads_same_bits(void)
{
    static const int shp[][3] = {{256, 256, 256}, {64, 3136, 576}, {129, 1000, 333},
                                 {64, 576, 3136}, {576, 784, 64},  {7, 5000, 70}};
    int saved = plat_threads(), i, t;
    Rng r;
    rng_seed(&r, 4, 0);
    for (i = 0; i < (int)(sizeof shp / sizeof shp[0]) && !(t_quick() && i > 1); i++)
        for (t = 0; t < 4; t++) {
            int M = shp[i][0], N = shp[i][1], K = shp[i][2];
            Scalar *A = rand_mat(&r, M, K, K), *B = rand_mat(&r, K, N, N);
            Scalar *C1 = (Scalar *)xmalloc((size_t)M * N * sizeof(Scalar));
            Scalar *C2 = (Scalar *)xmalloc((size_t)M * N * sizeof(Scalar));
            run_threads(1, t & 1, t >> 1, M, N, K, A, B, C1);
            run_threads(2, t & 1, t >> 1, M, N, K, A, B, C2);
            if (memcmp(C1, C2, (size_t)M * N * sizeof(Scalar)) != 0)
                t_report(__FILE__, __LINE__, "1 vs 2 threads differ: ta=%d tb=%d %dx%dx%d", t & 1,
                         t >> 1, M, N, K);
            run_threads(3, t & 1, t >> 1, M, N, K, A, B, C2);
            if (memcmp(C1, C2, (size_t)M * N * sizeof(Scalar)) != 0)
                t_report(__FILE__, __LINE__, "1 vs 3 threads differ: ta=%d tb=%d %dx%dx%d", t & 1,
                         t >> 1, M, N, K);
            free(A);
            free(B);
            free(C1);
            free(C2);
        }
    plat_set_threads(saved);
}

/* gemm called from every thread of a parallel region runs serially there and agrees
 * bit for bit with a call from outside. */
static void test_gemm_nested(void)
{
    enum { J = 4, M = 96, N = 300, K = 200 };
    Scalar *A = NULL, *B = NULL, *Cs, *Cp;
    int saved = plat_threads(), j;
    Rng r;
    rng_seed(&r, 5, 0);
    A = rand_mat(&r, J * M, K, K);
    B = rand_mat(&r, K, N, N);
    Cs = (Scalar *)xmalloc((size_t)J * M * N * sizeof(Scalar));
    Cp = (Scalar *)xmalloc((size_t)J * M * N * sizeof(Scalar));
    for (j = 0; j < J; j++)
        gemm(0, 0, M, N, K, 1, A + (size_t)j * M * K, K, B, N, 0, Cs + (size_t)j * M * N, N);
    plat_set_threads(2);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (j = 0; j < J; j++)
        gemm(0, 0, M, N, K, 1, A + (size_t)j * M * K, K, B, N, 0, Cp + (size_t)j * M * N, N);
    plat_set_threads(saved);
    T_OK(memcmp(Cs, Cp, (size_t)J * M * N * sizeof(Scalar)) == 0);
    free(A);
    free(B);
    free(Cs);
    free(Cp);
}

/* gemm_op on matrices stored in the panel layout (GemmPanels): with the gemm's own panel
 * widths the panels are read in place (gemm_panels_in_place), with other widths gathered
 * (gemm_pack_panels); both against gemm_ref, on depths past one depth block and on row
 * counts that leave a partial last group (its rows zero, as the layout requires). */
static void test_gemm_panels_operand(void)
{
    static const int shapes[][3] = {{13, 37, 300}, {4, 16, 7}, {33, 65, 513}};
    int mr, nr, si, wi, bad = 0;
    Rng r;
    gemm_tile_widths(&mr, &nr);
    rng_seed(&r, 8, 0);
    for (si = 0; si < 3; si++)
        for (wi = 0; wi < 2; wi++) {
            const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            const int wa = wi ? 3 : mr, wb = wi ? 5 : nr; /* in place, then gathered */
            const int ma = (M + wa - 1) / wa * wa, nb = (N + wb - 1) / wb * wb;
            Scalar *A = rand_mat(&r, M, K, K), *B = rand_mat(&r, N, K, K);
            Scalar *Ap = (Scalar *)xcalloc((size_t)ma * K, sizeof(Scalar));
            Scalar *Bp = (Scalar *)xcalloc((size_t)nb * K, sizeof(Scalar));
            Scalar *C = (Scalar *)xmalloc((size_t)M * N * sizeof(Scalar));
            Scalar *R = (Scalar *)xmalloc((size_t)M * N * sizeof(Scalar));
            double tol = 2 * EPS * K;
            int i, j, k;
            for (i = 0; i < M; i++) /* Mat[d][p] at ((d / W) depth + p) W + d % W */
                for (k = 0; k < K; k++)
                    Ap[((size_t)(i / wa) * K + k) * wa + i % wa] = A[(size_t)i * K + k];
            for (j = 0; j < N; j++)
                for (k = 0; k < K; k++)
                    Bp[((size_t)(j / wb) * K + k) * wb + j % wb] = B[(size_t)j * K + k];
            gemm_op_panels(M, N, K, Ap, wa, Bp, wb, 0, C, N);
            gemm_ref(0, 1, M, N, K, 1, A, K, B, K, 0, R, N);
            for (i = 0; i < M * N; i++)
                if (!(fabs((double)C[i] - (double)R[i]) <= tol) && bad++ == 0)
                    t_report(
                        __FILE__, __LINE__,
                        "gemm_op on panels M=%d N=%d K=%d widths %d/%d: C[%d] = %.9g, ref %.9g", M,
                        N, K, wa, wb, i, (double)C[i], (double)R[i]);
            free(A);
            free(B);
            free(Ap);
            free(Bp);
            free(C);
            free(R);
        }
    T_OK(bad == 0);
}

/* gemm_op with B a blocked view (gemm_view_rows: the panels inside one column block read
 * in place, rows ld apart, the others packed), as a 1x1 conv reads x [N, C, P] as [C, N P]:
 * the same bits as with every panel packed, and gemm_ref's values; block widths that put
 * every panel in place (cb = NR), none (cb < NR), and a mix, on depths past one depth block. */
static void test_gemm_view_rows(void)
{
    static const int shapes[][4] = {{13, 300, 49, 3},
                                    {40, 7, 100, 2},
                                    {9, 64, 32, 4},
                                    {17, 20, 31, 5},
                                    {8, 257, 130, 3}}; /* M, K, cb, blocks */
    int mr, nr, si, bad = 0;
    Rng r;
    gemm_tile_widths(&mr, &nr);
    rng_seed(&r, 9, 0);
    for (si = 0; si < 5; si++) {
        const int M = shapes[si][0], K = shapes[si][1], cb = shapes[si][2], nbk = shapes[si][3];
        const int N = cb * nbk;
        const size_t cbs = (size_t)K * cb + 3; /* blocks apart by more than their size */
        Scalar *A = rand_mat(&r, M, K, K),
               *Bs = rand_mat(&r, 1, (int)(cbs * nbk), (int)(cbs * nbk));
        Scalar *B = (Scalar *)xmalloc((size_t)K * N * sizeof(Scalar)); /* dense [K, N] */
        Scalar *C1 = (Scalar *)xmalloc((size_t)M * N * sizeof(Scalar));
        Scalar *C2 = (Scalar *)xmalloc((size_t)M * N * sizeof(Scalar));
        Scalar *R = (Scalar *)xmalloc((size_t)M * N * sizeof(Scalar));
        GemmView va, vb;
        GemmOperand oa = {0}, ob = {0};
        double tol = 2 * EPS * K;
        int i, j, k;
        for (k = 0; k < K; k++)
            for (j = 0; j < N; j++)
                B[(size_t)k * N + j] = Bs[(size_t)(j / cb) * cbs + (size_t)k * cb + j % cb];
        va.p = A;
        va.ld = va.cb = K;
        va.cbs = 0;
        va.depth_rows = 0;
        vb.p = Bs;
        vb.ld = vb.cb = cb;
        vb.cbs = cbs;
        vb.depth_rows = 1;
        oa.pack = ob.pack = gemm_pack_view;
        oa.ctx = &va;
        ob.ctx = &vb;
        gemm_op(M, N, K, 1, &oa, &ob, 0, C1, N, N, 0); /* every panel packed */
        ob.rows = gemm_view_rows;
        gemm_op(M, N, K, 1, &oa, &ob, 0, C2, N, N, 0);
        gemm_ref(0, 0, M, N, K, 1, A, K, B, N, 0, R, N);
        if (memcmp(C1, C2, (size_t)M * N * sizeof(Scalar)) != 0 && bad++ == 0)
            t_report(__FILE__, __LINE__, "gemm_view_rows M=%d K=%d cb=%d: bits differ from packed",
                     M, K, cb);
        for (i = 0; i < M * N; i++)
            if (!(fabs((double)C2[i] - (double)R[i]) <= tol) && bad++ == 0)
                t_report(__FILE__, __LINE__,
                         "gemm_view_rows M=%d K=%d cb=%d: C[%d] = %.9g, ref %.9g", M, K, cb, i,
                         (double)C2[i], (double)R[i]);
        free(A);
        free(Bs);
        free(B);
        free(C1);
        free(C2);
        free(R);
    }
    T_OK(bad == 0);
}

const TestCase gemm_tests[] = {
    {"odd_shapes", test_gemm_odd_shapes},
    {"alpha_beta_ld", test_gemm_alpha_beta_ld},
    {"blocks", test_gemm_blocks},
    {"degenerate", test_gemm_degenerate},
    {"threads_same_bits", test_gemm_threads_same_bits},
    {"nested", test_gemm_nested},
    {"panels_operand", test_gemm_panels_operand},
    {"view_rows", test_gemm_view_rows},
    {NULL, NULL},
};
