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
 * gcc also unrolls the depth loop by 4: with AVX2's 16 registers and the loop not
 * unrolled it reads each B vector once per FMA (a memory operand) instead of once per
 * step, and the 4 x 16 kernel ran at half the FMA peak of a Zen 3 core (49 of 93 GFLOP/s
 * with its panels in L1; 75-90 unrolled).  The sums are the same, in the same order.
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
#include "platform.h"

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

#define GEMM_UNROLL PLAT_UNROLL
#if defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)
#define GEMM_UNROLL_K _Pragma("GCC unroll 4")
#else
#define GEMM_UNROLL_K
#endif

/* GEMM_FMA, the multiply-add of every sum: gemm.h. */

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
 * i.e. each source row becomes one lane of a [cols][W] panel (a transpose).  Panels are
 * pstride scalars apart (cols W for a whole block; more when this fills a slice of it). */
static void pack_transpose(const Scalar *src, size_t ld, int rows, int cols, int W, size_t pstride,
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
        dst += pstride;
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

/* Packs a GemmView (see gemm.h).  A range inside one column block is a plain strided
 * matrix (pack_straight / pack_transpose); a range across blocks goes block by block
 * (depth along the columns) or through a per-panel column table (d along the columns). */
void gemm_pack_view(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst)
{
    const GemmView *v = (const GemmView *)ctx;
    const size_t ld = (size_t)v->ld, cb = (size_t)v->cb;
#define VIEW_COL(c) ((size_t)(c) / cb * v->cbs + (size_t)(c) % cb)
    if (v->depth_rows) { /* Mat[d][p] = view(p, d): d runs along the stored rows */
        if ((size_t)d0 / cb == (size_t)(d0 + dn - 1) / cb) {
            pack_straight(v->p + (size_t)p0 * ld + VIEW_COL(d0), ld, kc, dn, W, dst);
        } else { /* per panel: runs of one column block, copied row by row */
            size_t off[GEMM_PACK_WMAX];
            int rw[GEMM_PACK_WMAX + 1], q, w, p, t;
            CHECK(W <= GEMM_PACK_WMAX, "gemm_pack_view: panel width %d", W);
            for (q = 0; q * W < dn; q++) {
                int wn = dn - q * W < W ? dn - q * W : W, nr = 0;
                Scalar *d = dst + (size_t)q * kc * W;
                for (w = 0; w < wn;) {
                    int c = d0 + q * W + w, len = v->cb - c % v->cb;
                    if (len > wn - w) len = wn - w;
                    rw[nr] = w;
                    off[nr++] = VIEW_COL(c);
                    w += len;
                }
                rw[nr] = wn;
                for (p = 0; p < kc; p++) {
                    const Scalar *row = v->p + (size_t)(p0 + p) * ld;
                    for (t = 0; t < nr; t++)
                        memcpy(d + rw[t], row + off[t],
                               (size_t)(rw[t + 1] - rw[t]) * sizeof(Scalar));
                    for (w = wn; w < W; w++) d[w] = 0;
                    d += W;
                }
            }
        }
    } else { /* Mat[d][p] = view(d, p): the depth runs along the stored rows, block by block */
        int a = p0;
        while (a < p0 + kc) {
            int b = (int)(((size_t)a / cb + 1) * cb);
            if (b > p0 + kc) b = p0 + kc;
            pack_transpose(v->p + (size_t)d0 * ld + VIEW_COL(a), ld, dn, b - a, W, (size_t)kc * W,
                           dst + (size_t)(a - p0) * W);
            a = b;
        }
    }
#undef VIEW_COL
}

int gemm_view_rows(const void *ctx, int d0, int dn, int p0, int kc, int W, const Scalar **ptr,
                   ptrdiff_t *off)
{
    const GemmView *v = (const GemmView *)ctx;
    int q, p, any = 0;
    if (!v->depth_rows) return 0;
    for (q = 0; q * W < dn; q++) {
        const int c = d0 + q * W;
        ptr[q] = NULL;
        if (c % v->cb + W <= v->cb) { /* all W columns inside one block */
            ptr[q] = v->p + (size_t)p0 * v->ld + (size_t)(c / v->cb) * v->cbs + (size_t)(c % v->cb);
            any = 1;
        }
    }
    for (p = 0; p < kc; p++) off[p] = (ptrdiff_t)p * v->ld;
    return any;
}

/* ---------------------------------------------------------------- micro-kernel */

/* C[0:MR, 0:NW] (row stride ldc) = (first ? beta*C : C) + alpha * Ap^T Bp, Ap [kc][MR],
 * Bp [kc][NR] of which the first NW columns are read (NW = NR, or NR / 2 for a tile of at
 * most NR / 2 columns: the same products on half the registers); beta == 0 with first
 * never reads C.  Whole tiles only (a partial one goes through gemm_tile_split, into a
 * [MR][NR] scratch at either width), and every loop over the rows of acc unrolled: when
 * a loop indexed acc by a run-time row (a partial tile's bounds, or a store loop left
 * rolled), gcc kept a copy of acc in memory as well and cleared it with a 1 KB memset on
 * every call: 3.6 % of a training step, most of it in the Winograd gemms, whose depth is
 * only C (32 at 28x28).  Unrolling the column loops too made gcc spill the accumulators. */
static inline void kernel_any(int kc, const Scalar *restrict Ap, const Scalar *restrict Bp,
                              const ptrdiff_t *off, Scalar *restrict C, int ldc, Scalar alpha,
                              Scalar beta, int first, const int NW)
{
    Scalar acc[MR][NR];
    int i, j, p;
    GEMM_UNROLL
    for (i = 0; i < MR; i++) {
        for (j = 0; j < NW; j++) acc[i][j] = 0;
    }
    GEMM_UNROLL_K
    for (p = 0; p < kc; p++) {
        const Scalar *a = Ap + (size_t)p * MR, *b = off ? Bp + off[p] : Bp + (size_t)p * NR;
        GEMM_UNROLL
        for (i = 0; i < MR; i++) {
            Scalar ai = a[i];
            GEMM_UNROLL
            for (j = 0; j < NW; j++) acc[i][j] = GEMM_FMA(ai, b[j], acc[i][j]);
        }
    }
    if (!first) {
        GEMM_UNROLL
        for (i = 0; i < MR; i++) {
            Scalar *c = C + (size_t)i * ldc;
            for (j = 0; j < NW; j++) c[j] += alpha * acc[i][j];
        }
    } else if (beta == 0) {
        GEMM_UNROLL
        for (i = 0; i < MR; i++) {
            Scalar *c = C + (size_t)i * ldc;
            for (j = 0; j < NW; j++) c[j] = alpha * acc[i][j];
        }
    } else {
        GEMM_UNROLL
        for (i = 0; i < MR; i++) {
            Scalar *c = C + (size_t)i * ldc;
            for (j = 0; j < NW; j++) c[j] = beta * c[j] + alpha * acc[i][j];
        }
    }
}

/* One register tile, whole (C at cp, row stride ldc) or into t [MR][NR] (alpha 1, beta 0),
 * on a packed B panel (off NULL: rows NR apart) or one read in place (GemmOperand's rows:
 * row p at bp + off[p]); at half width when it has at most NR / 2 columns (the 16 input
 * channels of a small conv against NR = 32 took twice the multiply-adds they needed).
 * Each call of kernel_any has its stride and width as constants. */
static void kernel_tile(int kc, const Scalar *ap, const Scalar *bp, const ptrdiff_t *off, int nr,
                        Scalar *cp, int ldc, Scalar alpha, Scalar beta, int first)
{
    if (2 * nr <= NR) {
        if (off)
            kernel_any(kc, ap, bp, off, cp, ldc, alpha, beta, first, NR / 2);
        else
            kernel_any(kc, ap, bp, NULL, cp, ldc, alpha, beta, first, NR / 2);
    } else if (off) {
        kernel_any(kc, ap, bp, off, cp, ldc, alpha, beta, first, NR);
    } else {
        kernel_any(kc, ap, bp, NULL, cp, ldc, alpha, beta, first, NR);
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

/* Where C's tile at (row i, column j) of nr columns starts, or NULL when those columns
 * cross a column block (see gemm.h). */
typedef struct GemmC {
    Scalar *C;
    int ldc, cb;
    size_t cbs;
} GemmC;

static Scalar *gemm_c_at(const GemmC *c, int i, int j, int nr)
{
    if (j / c->cb != (j + nr - 1) / c->cb) return NULL;
    return c->C + (size_t)i * c->ldc + (size_t)(j / c->cb) * c->cbs + (size_t)(j % c->cb);
}

/* A partial tile, or one whose columns cross a block: the kernel writes alpha = 1, beta = 0
 * into t (so t holds acc exactly: 1 * acc is acc), then each element is combined as the
 * kernel would have done, a run of columns inside one block at a time (the forward of a
 * conv writes y [N, O, P] as column blocks of P: at P = 49, most tiles cross one, and a
 * block index worked out per element made these copies about a fifth of a 7x7 layer). */
static void gemm_tile_split(const GemmC *c, int i0, int j0, int mr, int nr, const Scalar *t,
                            Scalar alpha, Scalar beta, int first)
{
    int i, j, q;
    for (j = 0; j < nr;) {
        const int blk = (j0 + j) / c->cb, off = (j0 + j) % c->cb;
        const int len = c->cb - off < nr - j ? c->cb - off : nr - j;
        for (i = 0; i < mr; i++) {
            Scalar *restrict e = c->C + (size_t)(i0 + i) * c->ldc + (size_t)blk * c->cbs + off;
            const Scalar *src = t + (size_t)i * NR + j;
            if (!first)
                for (q = 0; q < len; q++) e[q] += alpha * src[q];
            else if (beta == 0)
                for (q = 0; q < len; q++) e[q] = alpha * src[q];
            else
                for (q = 0; q < len; q++) e[q] = beta * e[q] + alpha * src[q];
        }
        j += len;
    }
}

/* One tile of C: rows [m0, m1), columns [n0, n1), all of K. */
static void gemm_tile(int m0, int m1, int n0, int n1, int K, Scalar alpha, const GemmOperand *A,
                      const GemmOperand *B, Scalar beta, const GemmC *c, GemmBuf *buf)
{
    int jc, pc, ic, ir, jr;
    for (jc = n0; jc < n1; jc += NC) {
        int nc = n1 - jc < NC ? n1 - jc : NC;
        for (pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            const Scalar *bq[NC / NR + 1], *aq[MC / MR + 1]; /* panel starts */
            unsigned char packed[NC / NR + 1]; /* panel q rows NR apart (else at boff) */
            ptrdiff_t boff[KC];
            int q;
            if (B->panels && B->panels(B->ctx, jc, nc, pc, kc, NR, bq)) {
                memset(packed, 1, sizeof packed);
            } else if (B->rows && B->rows(B->ctx, jc, nc, pc, kc, NR, bq, boff)) {
                for (q = 0; q * NR < nc; q++) { /* the panels not in place: packed one by one */
                    packed[q] = (unsigned char)(bq[q] == NULL);
                    if (packed[q]) {
                        Scalar *d = buf->b + (size_t)q * kc * NR;
                        B->pack(B->ctx, jc + q * NR, nc - q * NR < NR ? nc - q * NR : NR, pc, kc,
                                NR, d);
                        bq[q] = d;
                    }
                }
            } else {
                B->pack(B->ctx, jc, nc, pc, kc, NR, buf->b);
                for (q = 0; q * NR < nc; q++) bq[q] = buf->b + (size_t)q * kc * NR;
                memset(packed, 1, sizeof packed);
            }
            for (ic = m0; ic < m1; ic += MC) {
                int mc = m1 - ic < MC ? m1 - ic : MC;
                if (!A->panels || !A->panels(A->ctx, ic, mc, pc, kc, MR, aq)) {
                    A->pack(A->ctx, ic, mc, pc, kc, MR, buf->a);
                    for (q = 0; q * MR < mc; q++) aq[q] = buf->a + (size_t)q * kc * MR;
                }
                for (ir = 0; ir < mc; ir += MR) {
                    const Scalar *ap = aq[ir / MR];
                    int mr = mc - ir < MR ? mc - ir : MR;
                    for (jr = 0; jr < nc; jr += NR) {
                        int nr = nc - jr < NR ? nc - jr : NR;
                        Scalar *cp = gemm_c_at(c, ic + ir, jc + jr, nr);
                        const Scalar *bp = bq[jr / NR];
                        const int pk = packed[jr / NR];
                        const ptrdiff_t *off = pk ? NULL : boff;
                        if (cp && mr == MR && (nr == NR || 2 * nr == NR)) {
                            kernel_tile(kc, ap, bp, off, nr, cp, c->ldc, alpha, beta, pc == 0);
                        } else {
                            Scalar t[MR * NR];
                            kernel_tile(kc, ap, bp, off, nr, t, NR, 1, 0, 1);
                            gemm_tile_split(c, ic + ir, jc + jr, mr, nr, t, alpha, beta, pc == 0);
                        }
                    }
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
static void gemm_grid_tile(int t, int tm, int tn, int M, int N, int K, Scalar alpha,
                           const GemmOperand *A, const GemmOperand *B, Scalar beta, const GemmC *c,
                           GemmBuf *buf)
{
    int pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR;
    int ti = t / tn, tj = t % tn;
    int m0 = (int)((long)pm * ti / tm) * MR, m1 = (int)((long)pm * (ti + 1) / tm) * MR;
    int n0 = (int)((long)pn * tj / tn) * NR, n1 = (int)((long)pn * (tj + 1) / tn) * NR;
    if (m1 > M) m1 = M;
    if (n1 > N) n1 = N;
    if (m0 < m1 && n0 < n1) gemm_tile(m0, m1, n0, n1, K, alpha, A, B, beta, c, buf);
}
#endif

/* The packed path of gemm() and gemm_op(): threads over tiles of C, or serial. */
static void gemm_run(int M, int N, int K, Scalar alpha, const GemmOperand *A, const GemmOperand *B,
                     Scalar beta, const GemmC *c)
{
    double work = (double)M * N * K;
    int slot = 0;
    CHECK(c->C != NULL, "gemm: no output matrix");
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
                    gemm_grid_tile(t, tm, tn, M, N, K, alpha, A, B, beta, c, &gemm_bufs[me]);
            }
            return;
        }
    }
#else
    (void)work;
#endif
    if (slot < 0) { /* more nested threads than slots: a buffer for this call only */
        GemmBuf tmp;
        gemm_buf_alloc(&tmp);
        gemm_tile(0, M, 0, N, K, alpha, A, B, beta, c, &tmp);
        free(tmp.raw);
        return;
    }
    if (!gemm_bufs[slot].raw) gemm_buf_alloc(&gemm_bufs[slot]);
    gemm_tile(0, M, 0, N, K, alpha, A, B, beta, c, &gemm_bufs[slot]);
}

/* C = beta C for K = 0 (no products). */
static void gemm_scale_c(int M, int N, Scalar beta, const GemmC *c)
{
    int i, j;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            Scalar *e =
                c->C + (size_t)i * c->ldc + (size_t)(j / c->cb) * c->cbs + (size_t)(j % c->cb);
            *e = beta == 0 ? 0 : beta * *e;
        }
}

void gemm(int ta, int tb, int M, int N, int K, Scalar alpha, const Scalar *A, int lda,
          const Scalar *B, int ldb, Scalar beta, Scalar *C, int ldc)
{
    GemmView va, vb;
    GemmOperand oa, ob;
    GemmC c;
    if (M <= 0 || N <= 0) return;
    c.C = C;
    c.ldc = ldc;
    c.cb = N;
    c.cbs = 0;
    if (K <= 0) {
        gemm_scale_c(M, N, beta, &c);
        return;
    }
    if ((double)M * N * K <= GEMM_SMALL) {
        gemm_small(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* op(A) is M x K: stored K x M (depth rows) when ta; op(B) is K x N: stored K x N
     * (depth rows) unless tb.  cb spans every stored column: one block. */
    va.p = A;
    va.ld = lda;
    va.cb = ta ? M : K;
    va.cbs = 0;
    va.depth_rows = ta;
    vb.p = B;
    vb.ld = ldb;
    vb.cb = tb ? K : N;
    vb.cbs = 0;
    vb.depth_rows = !tb;
    oa.pack = ob.pack = gemm_pack_view;
    oa.panels = ob.panels = NULL;
    oa.rows = ob.rows = NULL;
    oa.ctx = &va;
    ob.ctx = &vb;
    gemm_run(M, N, K, alpha, &oa, &ob, beta, &c);
}

void gemm_tile_widths(int *mr, int *nr)
{
    *mr = MR;
    *nr = NR;
}

int gemm_panels_in_place(const void *ctx, int d0, int dn, int p0, int kc, int W, const Scalar **ptr)
{
    const GemmPanels *m = (const GemmPanels *)ctx;
    int q;
    (void)kc;
    if (W != m->W || d0 % W != 0) return 0;
    for (q = 0; q * W < dn; q++) ptr[q] = m->p + ((size_t)(d0 / W + q) * m->depth + (size_t)p0) * W;
    return 1;
}

void gemm_pack_panels(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst)
{
    const GemmPanels *m = (const GemmPanels *)ctx;
    int q, p, w;
    for (q = 0; q * W < dn; q++) {
        int wn = dn - q * W < W ? dn - q * W : W;
        Scalar *d = dst + (size_t)q * kc * W;
        for (p = 0; p < kc; p++, d += W) {
            for (w = 0; w < wn; w++) {
                int r = d0 + q * W + w;
                d[w] = m->p[((size_t)(r / m->W) * m->depth + (size_t)(p0 + p)) * m->W +
                            (size_t)(r % m->W)];
            }
            for (; w < W; w++) d[w] = 0;
        }
    }
}

void gemm_op(int M, int N, int K, Scalar alpha, const GemmOperand *A, const GemmOperand *B,
             Scalar beta, Scalar *C, int ldc, int cb, size_t cbs)
{
    GemmC c;
    if (M <= 0 || N <= 0) return;
    c.C = C;
    c.ldc = ldc;
    c.cb = cb < N ? cb : N;
    c.cbs = cbs;
    if (cb >= N) c.cbs = 0;
    if (K <= 0) {
        gemm_scale_c(M, N, beta, &c);
        return;
    }
    gemm_run(M, N, K, alpha, A, B, beta, &c);
}

void gemm_op_panels(int M, int N, int K, const Scalar *a, int wa, const Scalar *b, int wb,
                    Scalar beta, Scalar *C, int ldc)
{
    GemmPanels pa, pb;
    GemmOperand oa, ob;
    pa.p = a;
    pa.W = wa;
    pa.depth = K;
    pb.p = b;
    pb.W = wb;
    pb.depth = K;
    oa.pack = ob.pack = gemm_pack_panels;
    oa.panels = ob.panels = gemm_panels_in_place;
    oa.rows = ob.rows = NULL;
    oa.ctx = &pa;
    ob.ctx = &pb;
    gemm_op(M, N, K, 1, &oa, &ob, beta, C, ldc, ldc, 0);
}
