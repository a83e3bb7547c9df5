/* gemm.c - cache-blocked GEMM with packed panels and a register-tiled micro-kernel.
 *
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C          (row-major, see gemm.h)
 *
 * Blocking (the Goto/BLIS scheme, written for row-major C):
 *
 *   for jc in 0..N step NC                      column block of C and of op(B)
 *     for pc in 0..K step KC                    depth block
 *       Bp <- op(B)[pc:pc+KC, jc:jc+NC]         packed as NC/NR panels, each [KC][NR]
 *       for ic in 0..M step MC                  row block
 *         Ap <- op(A)[ic:ic+MC, pc:pc+KC]       packed as MC/MR panels, each [KC][MR]
 *         for ir in 0..MC step MR               one A panel [KC][MR] stays in L1 ...
 *           for jr in 0..NC step NR             ... while B panels stream from L2/L3
 *             acc[MR][NR] = sum_{p < KC} Ap[p][0:MR]^T x Bp[p][0:NR]   (outer products)
 *             C[ic+ir.., jc+jr..] = (pc == 0 ? beta*C : C) + alpha * acc
 *
 * The micro-kernel holds MR x NR accumulators in registers: per step p it broadcasts MR
 * values of A and multiplies them with the NR-wide row of B (NR is a whole number of SIMD
 * vectors; MR*NR/VLEN accumulators + NR/VLEN B vectors + 1 broadcast fit the register
 * file; the sizes per target are in the tile-size section).  It is plain C, no
 * intrinsics: a fixed-size loop nest that gcc (with an unroll pragma) and clang unroll
 * completely and vectorise.  fmaf()/fma() is used when the target has a fast fused
 * multiply-add (FP_FAST_FMAF, __FMA__), so -march=native builds emit vfmadd (gcc's
 * -std=c99 implies -ffp-contract=off, so a*b+c would never fuse); elsewhere a*b+c.
 * Defaults: KC = 256, MC = 128 rows, NC = 1024 columns; AVX-512 float MR x NR = 8 x 32.
 * Edges: panels are zero-padded to MR/NR, the kernel always runs full size and the
 * write-back only stores the valid part, so every C element goes through the same code.
 *
 * Determinism: C[i,j] is sum over the KC-blocks in order of (sum over p in the block, in
 * order, one accumulator), independent of where tile borders fall.  Threads (OpenMP) own
 * rectangular tiles of C whose borders are multiples of MR / NR; KC does not depend on the
 * thread count, so 1 and T threads give the same bits.
 *
 * Memory: each thread packs into its own buffers (MC*KC + KC*NC scalars), allocated on
 * first use and kept: steady-state calls do not malloc.  Called from inside an active
 * OpenMP parallel region, gemm runs serially in the calling thread with a buffer slot
 * named by that thread's position in the team tree.  Not safe to call concurrently from
 * threads that OpenMP does not know about (raw pthreads). */
#include "gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------- tile sizes */

/* SIMD width in bytes of the target, only used to size the register tile. */
#if defined(__AVX512F__)
#define GEMM_VBYTES 64
#define GEMM_NREG 32
#elif defined(__AVX__)
#define GEMM_VBYTES 32
#define GEMM_NREG 16
#else
#define GEMM_VBYTES 16
#define GEMM_NREG 16
#endif

#ifdef CMAD_DOUBLE
#define GEMM_VLEN (GEMM_VBYTES / 8)
#else
#define GEMM_VLEN (GEMM_VBYTES / 4)
#endif

/* The register tile MR x NR: MR*NR/VLEN accumulators + NR/VLEN B vectors + a broadcast
 * must fit the register file, and the compiler must keep them there.  gcc and clang do
 * that for different shapes; these were measured (1024^3, one thread, EPYC Zen 4):
 *   AVX-512 float 8 x 32 (gcc and clang ~105 GFLOP/s; 12 x 32 spills in gcc)
 *   AVX-512 double 4 x 32 (clang falls apart at 8 x 16, gcc ~10% slower than its best)
 *   AVX2 4 x 2 vectors; SSE2 4 x 2 vectors, but 6 x 8 for clang float.
 * Both can be overridden with -DGEMM_MR=.. -DGEMM_NR=.. (NR a multiple of VLEN). */
#ifndef GEMM_NR
#if GEMM_NREG >= 32 && defined(CMAD_DOUBLE)
#define GEMM_NR (4 * GEMM_VLEN)
#else
#define GEMM_NR (2 * GEMM_VLEN)
#endif
#endif
#ifndef GEMM_MR
#if GEMM_NREG >= 32 && !defined(CMAD_DOUBLE)
#define GEMM_MR 8
#elif GEMM_VBYTES == 16 && defined(__clang__) && !defined(CMAD_DOUBLE)
#define GEMM_MR 6
#else
#define GEMM_MR 4
#endif
#endif
#define MR GEMM_MR
#define NR GEMM_NR

/* Cache blocks: an A panel [KC][MR] in L1, the packed A block [MC][KC] in L2, the packed
 * B block [KC][NC] in L2/L3.  MC is a multiple of MR, NC of NR. */
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
#ifndef GEMM_MC
#define GEMM_MC ((128 / MR) * MR)
#endif
#ifndef GEMM_NC
#define GEMM_NC ((1024 / NR) * NR)
#endif
#define KC GEMM_KC
#define MC GEMM_MC
#define NC GEMM_NC

/* Below this many multiply-adds the plain loop wins over packing; above GEMM_PAR_MIN
 * threads are worth starting. */
#define GEMM_SMALL 4096.0
#define GEMM_PAR_MIN (1 << 21)

#if defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)
#define GEMM_UNROLL _Pragma("GCC unroll 64")
#else
#define GEMM_UNROLL
#endif

#ifdef CMAD_DOUBLE
#if defined(FP_FAST_FMA) || defined(__FMA__)
#define GEMM_FMA(a, b, c) fma(a, b, c)
#endif
#else
#if defined(FP_FAST_FMAF) || defined(__FMA__)
#define GEMM_FMA(a, b, c) fmaf(a, b, c)
#endif
#endif
#ifndef GEMM_FMA
#define GEMM_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* ---------------------------------------------------------------- reference */

void gemm_ref(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
              const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc)
{
    int i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double acc = 0.0;
            for (k = 0; k < K; k++) {
                Scalar a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                Scalar b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * (double)b;
            }
            C[(size_t)i * ldc + j] =
                (Scalar)(alpha * acc + (beta == 0 ? 0.0 : beta * C[(size_t)i * ldc + j]));
        }
}

/* ---------------------------------------------------------------- packing */

/* Packing reads the source in long contiguous runs (friendly to the hardware prefetcher)
 * and, where the panel layout transposes the source, goes by GEMM_TB-deep slices so that
 * the panel lines being written stay in L1. */
#define GEMM_TB 16

#if defined(__GNUC__) && !defined(__TINYC__)
#define GEMM_PREFETCH(p) __builtin_prefetch(p)
#else
#define GEMM_PREFETCH(p) ((void)0)
#endif

/* Copies a rows x cols block (source row stride ld) into panels of width W:
 *   dst[panel][c][r % W] = src[r][c] for r < rows, zero up to a whole panel,
 * i.e. each source row becomes one lane of a [cols][W] panel (a transpose). */
static void pack_transpose(const Scalar *src, size_t ld, int rows, int cols, int W,
                           Scalar *restrict dst)
{
    int r0, c0, r, c;
    for (r0 = 0; r0 < rows; r0 += W) {
        int w = rows - r0 < W ? rows - r0 : W;
        for (c0 = 0; c0 < cols; c0 += GEMM_TB) {
            int tb = cols - c0 < GEMM_TB ? cols - c0 : GEMM_TB;
            for (r = 0; r < w; r++) {
                const Scalar *s = src + (size_t)(r0 + r) * ld + c0;
                Scalar *d = dst + (size_t)c0 * W + r;
                GEMM_PREFETCH(s + 4 * GEMM_TB);
                for (c = 0; c < tb; c++) d[(size_t)c * W] = s[c];
            }
            for (; r < W; r++)
                for (c = 0; c < tb; c++) dst[(size_t)(c0 + c) * W + r] = 0;
        }
        dst += (size_t)cols * W;
    }
}

/* Copies a rows x cols block (source row stride ld) into panels of width W without
 * transposing: dst[panel][r][c % W] = src[r][c], zero past column cols. */
static void pack_straight(const Scalar *src, size_t ld, int rows, int cols, int W,
                          Scalar *restrict dst)
{
    int r, c0, c;
    for (r = 0; r < rows; r++) {
        const Scalar *s = src + (size_t)r * ld;
        Scalar *d = dst + (size_t)r * W;
        for (c0 = 0; c0 + W <= cols; c0 += W) {
            for (c = 0; c < W; c++) d[c] = s[c0 + c];
            d += (size_t)rows * W;
        }
        if (c0 < cols) {
            for (c = 0; c < cols - c0; c++) d[c] = s[c0 + c];
            for (; c < W; c++) d[c] = 0;
        }
    }
}

/* Ap[panel][p][i] = op(A)[r0 + panel*MR + i, p0 + p], zero past row m. */
static void pack_a(int ta, const Scalar *A, int lda, int r0, int m, int p0, int kc,
                   Scalar *restrict Ap)
{
    if (ta) /* A is K x M */
        pack_straight(A + (size_t)p0 * lda + r0, (size_t)lda, kc, m, MR, Ap);
    else /* A is M x K */
        pack_transpose(A + (size_t)r0 * lda + p0, (size_t)lda, m, kc, MR, Ap);
}

/* Bp[panel][p][j] = op(B)[p0 + p, c0 + panel*NR + j], zero past column n. */
static void pack_b(int tb, const Scalar *B, int ldb, int p0, int kc, int c0, int n,
                   Scalar *restrict Bp)
{
    if (tb) /* B is N x K */
        pack_transpose(B + (size_t)c0 * ldb + p0, (size_t)ldb, n, kc, NR, Bp);
    else /* B is K x N */
        pack_straight(B + (size_t)p0 * ldb + c0, (size_t)ldb, kc, n, NR, Bp);
}

/* ---------------------------------------------------------------- micro-kernel */

/* C[0:mr, 0:nr] (row stride ldc) = (first ? beta*C : C) + alpha * Ap^T Bp,
 * Ap [kc][MR], Bp [kc][NR]; beta == 0 with first never reads C. */
static void kernel(int kc, const Scalar *restrict Ap, const Scalar *restrict Bp, Scalar *restrict C,
                   int ldc, int mr, int nr, Scalar alpha, Scalar beta, int first)
{
    Scalar acc[MR][NR];
    int i, j, p;
    for (i = 0; i < MR; i++) {
        for (j = 0; j < NR; j++) acc[i][j] = 0;
    }
    for (p = 0; p < kc; p++) {
        const Scalar *a = Ap + (size_t)p * MR, *b = Bp + (size_t)p * NR;
        GEMM_UNROLL
        for (i = 0; i < MR; i++) {
            Scalar ai = a[i];
            GEMM_UNROLL
            for (j = 0; j < NR; j++) acc[i][j] = GEMM_FMA(ai, b[j], acc[i][j]);
        }
    }
    if (mr == MR && nr == NR) {
        if (!first) {
            for (i = 0; i < MR; i++) {
                Scalar *c = C + (size_t)i * ldc;
                for (j = 0; j < NR; j++) c[j] += alpha * acc[i][j];
            }
        } else if (beta == 0) {
            for (i = 0; i < MR; i++) {
                Scalar *c = C + (size_t)i * ldc;
                for (j = 0; j < NR; j++) c[j] = alpha * acc[i][j];
            }
        } else {
            for (i = 0; i < MR; i++) {
                Scalar *c = C + (size_t)i * ldc;
                for (j = 0; j < NR; j++) c[j] = beta * c[j] + alpha * acc[i][j];
            }
        }
    } else {
        for (i = 0; i < mr; i++) {
            Scalar *c = C + (size_t)i * ldc;
            for (j = 0; j < nr; j++) {
                if (!first)
                    c[j] += alpha * acc[i][j];
                else if (beta == 0)
                    c[j] = alpha * acc[i][j];
                else
                    c[j] = beta * c[j] + alpha * acc[i][j];
            }
        }
    }
}

/* ---------------------------------------------------------------- buffers */

#define GEMM_SLOTS 64

typedef struct GemmBuf {
    void *raw;
    Scalar *a; /* [MC][KC] */
    Scalar *b; /* [KC][NC] */
} GemmBuf;

static GemmBuf gemm_bufs[GEMM_SLOTS];

static void gemm_buf_alloc(GemmBuf *g)
{
    size_t na = (size_t)MC * KC, nb = (size_t)KC * NC, mis;
    Scalar *p = (Scalar *)xmalloc((na + nb) * sizeof(Scalar) + 64);
    g->raw = p;
    mis = (size_t)p % 64; /* a multiple of sizeof(Scalar): malloc aligns for it */
    g->a = p + (mis ? (64 - mis) / sizeof(Scalar) : 0); /* 64-byte aligned panels */
    g->b = g->a + na;
}

/* ---------------------------------------------------------------- driver */

/* One tile of C: rows [m0, m1), columns [n0, n1), all of K. */
static void gemm_tile(int ta, int tb, int m0, int m1, int n0, int n1, int K, Scalar alpha,
                      const Scalar *A, int lda, const Scalar *B, int ldb, Scalar beta, Scalar *C,
                      int ldc, GemmBuf *buf)
{
    int jc, pc, ic, ir, jr;
    for (jc = n0; jc < n1; jc += NC) {
        int nc = n1 - jc < NC ? n1 - jc : NC;
        for (pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            pack_b(tb, B, ldb, pc, kc, jc, nc, buf->b);
            for (ic = m0; ic < m1; ic += MC) {
                int mc = m1 - ic < MC ? m1 - ic : MC;
                pack_a(ta, A, lda, ic, mc, pc, kc, buf->a);
                for (ir = 0; ir < mc; ir += MR) {
                    const Scalar *ap = buf->a + (size_t)ir * kc;
                    for (jr = 0; jr < nc; jr += NR)
                        kernel(kc, ap, buf->b + (size_t)jr * kc,
                               C + (size_t)(ic + ir) * ldc + jc + jr, ldc,
                               mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, alpha,
                               beta, pc == 0);
                }
            }
        }
    }
}

/* Plain loop for tiny products (no packing). */
static void gemm_small(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
                       const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc)
{
    int i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            Scalar acc = 0, *c = C + (size_t)i * ldc + j;
            for (k = 0; k < K; k++) {
                Scalar a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                Scalar b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc = GEMM_FMA(a, b, acc);
            }
            *c = beta == 0 ? alpha * acc : beta * *c + alpha * acc;
        }
}

#ifdef _OPENMP
/* Splits C into tm x tn tiles (tm * tn = T) whose borders are multiples of MR / NR,
 * choosing the factorisation that packs least: a tile of h x w packs its A rows and its
 * B columns, so the total is K (tn M + tm N), smallest for the most square tiles. */
static void gemm_grid(int M, int N, int T, int *tm, int *tn)
{
    int pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR, a, best = -1;
    double best_cost = 0;
    *tm = 1;
    *tn = 1;
    for (a = 1; a <= T; a++) {
        int b = T / a;
        double cost = (double)b * M + (double)a * N;
        if (a * b != T || a > pm || b > pn) continue;
        if (best < 0 || cost < best_cost) {
            best = a;
            best_cost = cost;
        }
    }
    if (best > 0) {
        *tm = best;
        *tn = T / best;
    } else if (pn >= pm) { /* T does not factor onto the panels: split the longer side */
        *tn = pn < T ? pn : T;
    } else {
        *tm = pm < T ? pm : T;
    }
}

/* Runs tile t (row-major numbering) of a tm x tn grid of C. */
static void gemm_grid_tile(int t, int tm, int tn, int ta, int tb, int M, int N, int K, Scalar alpha,
                           const Scalar *A, int lda, const Scalar *B, int ldb, Scalar beta,
                           Scalar *C, int ldc, GemmBuf *buf)
{
    int pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR;
    int ti = t / tn, tj = t % tn;
    int m0 = (int)((long)pm * ti / tm) * MR, m1 = (int)((long)pm * (ti + 1) / tm) * MR;
    int n0 = (int)((long)pn * tj / tn) * NR, n1 = (int)((long)pn * (tj + 1) / tn) * NR;
    if (m1 > M) m1 = M;
    if (n1 > N) n1 = N;
    if (m0 < m1 && n0 < n1)
        gemm_tile(ta, tb, m0, m1, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc, buf);
}
#endif

void gemm(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
          const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc)
{
    double work = (double)M * N * K;
    int slot = 0;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta * C */
        int i, j;
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) {
                Scalar *c = C + (size_t)i * ldc + j;
                *c = beta == 0 ? 0 : beta * *c;
            }
        return;
    }
    if (work <= GEMM_SMALL) {
        gemm_small(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#ifdef _OPENMP
    if (omp_in_parallel()) {
        /* Nested: serial, in a slot unique to this thread of the team tree. */
        int l, level = omp_get_level();
        long id = 0;
        for (l = 1; l <= level && id < GEMM_SLOTS; l++)
            id = id * omp_get_team_size(l) + omp_get_ancestor_thread_num(l);
        slot = id < GEMM_SLOTS ? (int)id : -1;
    } else if (work >= GEMM_PAR_MIN && omp_get_max_threads() > 1) {
        int tm = 1, tn = 1, T = omp_get_max_threads();
        gemm_grid(M, N, T < GEMM_SLOTS ? T : GEMM_SLOTS, &tm, &tn);
        if (tm * tn > 1) {
#pragma omp parallel num_threads(tm *tn)
            {
                int t, me = omp_get_thread_num(), nth = omp_get_num_threads();
                if (!gemm_bufs[me].raw) gemm_buf_alloc(&gemm_bufs[me]);
                for (t = me; t < tm * tn; t += nth)
                    gemm_grid_tile(t, tm, tn, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                   &gemm_bufs[me]);
            }
            return;
        }
    }
#endif
    if (slot < 0) { /* more nested threads than slots: a buffer for this call only */
        GemmBuf tmp;
        gemm_buf_alloc(&tmp);
        gemm_tile(ta, tb, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &tmp);
        free(tmp.raw);
        return;
    }
    if (!gemm_bufs[slot].raw) gemm_buf_alloc(&gemm_bufs[slot]);
    gemm_tile(ta, tb, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &gemm_bufs[slot]);
}
