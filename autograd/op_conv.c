/* op_conv.c - image ops: conv2d (implicit im2col + gemm), nearest upsampling x2, 2x2 max
 * pooling.  Formulas and VJPs are in ops.h; the direct-loop reference conv is in conv_ref.c.
 *
 * conv2d, with K = C kh kw rows of patches, P = Ho Wo output pixels per sample and
 * cols [K, N P] the im2col matrix (row (c, ki, kj), column n P + i Wo + jo holds
 * x[n, c, i s - p + ki, jo s - p + kj], 0 in the padding), which is never formed: gemm_op
 * packs its panels (pack_pw, pack_pw_t) from a zero-padded copy of x cut into its s x s
 * phases, in which every tap is a shift of one phase plane; the output is computed in a
 * padded-width layout (ConvCols) so that panel rows are plain copies, and the extra
 * columns are dropped.  A shallow forward's panels inside one sample are not even copied:
 * the GEMM reads their rows where they lie (pw_rows).
 *   forward   y [O, N P] = W [O, K] cols        one gemm over the whole batch, written
 *                                               into y [N, O, P] (column blocks of P)
 *             y[n, o, p] += b[o]      (then + z, ag_conv2d_add: a shift added as y is
 *                                         written, per (n, o) or per element)
 *   backward  dW [O, K] += dy [O, N P] cols^T    dy read as a blocked matrix (widened
 *                                               with zero columns), or a channels-last
 *                                               copy of x, or Winograd (conv_wino.h)
 *             dx, stride 1:  the transposed conv is a conv of dy with the flipped kernel
 *                 W'[c, o, a, b] = W[o, c, kh-1-a, kw-1-b] and padding kh-1-p, so
 *                 dx [C, N H W] = W' [C, O kh kw] cols(dy), the same implicit gemm
 *             dx, stride > 1: dcols [K, m P] = W^T dy for runs of m samples, each
 *                 followed by dx = col2im(dcols)  (scatter-add)
 *             db[o] += sum_{n, p} dy[n, o, p]
 * The run length m depends only on the shapes, never on the thread count.
 * dW and dx are formed in scratch and added to the gradients in one addition per element
 * (backward twice doubles them exactly).  gemm() threads itself over tiles of its output;
 * the copy loops here run in parallel over the index that owns their writes (a
 * sample-channel plane or a row).  A 1x1 stride-1 pad-0 conv reads x (and dy) as plain
 * blocked matrices: no im2col at all. */
#include <string.h>

#include "../tensor/gemm.h"
#include "../tensor/parallel.h"
#include "../tensor/platform.h"
#include "conv_ref.h"
#include "conv_wino.h"
#include "ops.h"
#include "ops_internal.h"

/* ---------------------------------------------------------------- geometry */

/* a x b scalars of scratch from the graph's arena (between arena_mark and arena_release) */
static Scalar *scratch(Graph *g, size_t a, size_t b)
{
    return (Scalar *)arena_alloc(g->arena, size_mul(size_mul(a, b), sizeof(Scalar)));
}

/* ip[0] stride, ip[1] pad; sizes from x [N, C, H, W] and w [O, C, kh, kw]. */
static ConvShape conv_geom(const Var *out)
{
    const Tensor *x = &out->in[0]->val, *w = &out->in[1]->val;
    return conv_shape_make(x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0],
                           w->shape[2], w->shape[3], out->ip[0], out->ip[1]);
}

/* A 1x1 stride-1 pad-0 conv: x [N, C, P] is already the cols matrix (blocked by sample). */
static int conv_is_1x1(const ConvShape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

/* Output positions whose input tap is inside the image, for a tap at offset k of a
 * kernel: o in [*lo, *hi) has 0 <= o s - p + k < n (an empty range when *lo >= *hi). */
static void tap_range(int n, int no, int s, int p, int k, int *lo, int *hi)
{
    int a = p - k > 0 ? (p - k + s - 1) / s : 0;         /* first o with o s - p + k >= 0 */
    int b = n + p - k > 0 ? (n + p - k + s - 1) / s : 0; /* first o with o s - p + k >= n */
    *lo = a < no ? a : no;
    *hi = b < no ? b : no;
    if (*hi < *lo) *hi = *lo;
}

/* A stored [rows, N cols-per-block] tensor region seen as a gemm operand (gemm.h):
 * element (r, n) at p + r ld + (n / cb) cbs + n % cb. */
static GemmView conv_view(const Scalar *p, int ld, int cb, size_t cbs, int depth_rows)
{
    GemmView v;
    v.p = p;
    v.ld = ld;
    v.cb = cb;
    v.cbs = cbs;
    v.depth_rows = depth_rows;
    return v;
}

/* ---------------------------------------------------------------- implicit im2col
 *
 * The cols matrix of x [N, C, H, W] under geometry s, for gemm_op, is read from a
 * zero-padded copy of x cut into its s x s phases (s the stride; one phase at stride 1):
 *   xp[n][c][a][b][i][j] = x[n, c, i s + a - pad, j s + b - pad]   (0 outside the image)
 * for a, b < s, i < Hq = ceil((H + 2 pad) / s), j < Wq = ceil((W + 2 pad) / s).  Tap
 * (ki, kj) of output pixel (io, jo) reads padded position (io s + ki, jo s + kj), which is
 * phase (ki mod s, kj mod s) at (io + ki / s, jo + kj / s): at every stride a tap is a
 * plain shift of one phase plane.  So in the padded-width layout, where output pixel
 * (io, jo) of sample n is column
 *   col = n Pw + io Wq + jo,   Pw = Ho Wq,   jo in [0, Wq)   (the columns past Wo garbage),
 * every element is cols[k][col] = xp[kofs(k) + n C s^2 Hq Wq + io Wq + jo] with
 *   kofs(c, ki, kj) = ((c s^2 + (ki mod s) s + kj mod s) Hq + ki / s) Wq + kj / s:
 * along col inside one sample the source is contiguous, so panels are plain row copies,
 * no gather.  (A stride-2 3x3 conv of unet-s had its panels gathered through a table of
 * offsets before; see pack_pw.)  The garbage columns read up to (kw - 1) / s past a row,
 * into the next row or the zeroed tail after the last plane (conv_pad_size). */
typedef struct ConvCols {
    const ConvShape *s;
    const Scalar *xp;
    int ph;     /* phases per side: the stride */
    int Hp, Wp; /* Hq, Wq: the rows and columns of one phase plane */
    int Pw;     /* Ho Wq, the columns per sample in the padded-width layout */
    size_t chw; /* scalars per sample of xp: C s^2 Hq Wq */
} ConvCols;

static void conv_cols_geom(ConvCols *cc, const ConvShape *s)
{
    cc->s = s;
    cc->xp = NULL;
    cc->ph = s->stride;
    cc->Hp = (s->H + 2 * s->pad + s->stride - 1) / s->stride;
    cc->Wp = (s->W + 2 * s->pad + s->stride - 1) / s->stride;
    cc->Pw = s->Ho * cc->Wp;
    cc->chw = (size_t)s->C * s->stride * s->stride * cc->Hp * cc->Wp;
    CHECK((double)s->N * cc->chw < 2147483647.0 && (double)s->N * cc->Pw < 2147483647.0,
          "conv2d: padded input of %d x %d x %d x %d is too large for int offsets", s->N, s->C,
          s->H + 2 * s->pad, s->W + 2 * s->pad);
}

/* Scalars of the padded copy: N chw and a zeroed tail of Wq + kw (the padded-width
 * layout's last garbage columns read past the last plane). */
static size_t conv_pad_size(const ConvShape *s)
{
    ConvCols cc;
    conv_cols_geom(&cc, s);
    return (size_t)s->N * cc.chw + (size_t)cc.Wp + (size_t)s->kw;
}

/* dst[j] = src[j] for j < n, for the short rows of a pad: up to 32 scalars as two copies
 * of a constant size (overlapping), which compilers expand in place.  A loop, or a memcpy
 * of n, is a library call per row (gcc turns such loops into memcpy and memset, also a
 * loop of constant-size copies): on rows of 28 scalars those calls had made the pad half
 * of the O = 1 output conv's forward (one thread, Zen 5, batch 64). */
static inline void copy_run(Scalar *restrict dst, const Scalar *restrict src, int n)
{
    const size_t z = sizeof(Scalar);
    if (n > 32) {
        memcpy(dst, src, (size_t)n * z);
    } else if (n >= 16) {
        memcpy(dst, src, 16 * z);
        memcpy(dst + n - 16, src + n - 16, 16 * z);
    } else if (n >= 8) {
        memcpy(dst, src, 8 * z);
        memcpy(dst + n - 8, src + n - 8, 8 * z);
    } else if (n >= 4) {
        memcpy(dst, src, 4 * z);
        memcpy(dst + n - 4, src + n - 4, 4 * z);
    } else {
        if (n > 2) dst[2] = src[2];
        if (n > 1) dst[1] = src[1];
        if (n > 0) dst[0] = src[0];
    }
}

/* dst[j] = 0 for j < n (as copy_run). */
static inline void zero_run(Scalar *dst, int n)
{
    static const Scalar zeros[32];
    if (n > 32)
        memset(dst, 0, (size_t)n * sizeof(Scalar));
    else
        copy_run(dst, zeros, n);
}

/* One plane of a stride-1 pad: dst [H + 2 pad, Wp] = src [H, W], each row a copy between
 * two borders of zeros. */
static void pad_plane_s1(const ConvShape *s, int Wp, const Scalar *src, Scalar *dst)
{
    const int pd = s->pad, W = s->W;
    int i;
    memset(dst, 0, ((size_t)pd * Wp + pd) * sizeof(Scalar)); /* top rows, first left border */
    for (i = 0; i < s->H; i++) {
        Scalar *r = dst + (size_t)(i + pd) * Wp + pd;
        copy_run(r, src + (size_t)i * W, W);
        zero_run(r + W, Wp - W); /* the right border and the next row's left one */
    }
    memset(dst + (size_t)(pd + s->H) * Wp + pd, 0, ((size_t)pd * Wp - pd) * sizeof(Scalar));
}

/* ev[q] = x[2 q], od[q] = x[2 q + 1] for q < h. */
static inline void deinterleave(const Scalar *restrict x, Scalar *restrict ev, Scalar *restrict od,
                                int h)
{
    int q;
    for (q = 0; q < h; q++) {
        ev[q] = x[2 * q];
        od[q] = x[2 * q + 1];
    }
}

/* One plane of a stride-2 pad: row y of src lands in the phase planes (a, 0) and (a, 1) of
 * its padded row's parity a, x's even columns in one and its odd columns in the other
 * (which is which, and at what offset, set by pad's parity), in one deinterleaving pass;
 * the rows no x row reaches are zero.  The general loop below, an element at a time per
 * phase, had been 31 % of the stride-2 C32 28x28 forward on one thread (Zen 5, batch 64);
 * this is 12 % (perf), the forward 1.16-1.22x as fast on two threads. */
static void pad_plane_s2(const ConvShape *s, const ConvCols *cc, const Scalar *src, Scalar *dst)
{
    const int pd = s->pad, Wq = cc->Wp, W = s->W, h = W / 2, odd = pd & 1;
    const size_t pq = (size_t)cc->Hp * Wq;
    /* x column 2 q goes to phase be at eo + q, column 2 q + 1 to phase 1 - be at oo + q */
    const int be = odd, eo = (pd - odd) / 2, oo = (pd + odd) / 2;
    const int ee = eo + (W + 1) / 2, oe = oo + h; /* ends of the written runs */
    int i, a, y;
    for (a = 0; a < 2; a++)
        for (i = 0; i < cc->Hp; i++) {
            Scalar *r0 = dst + (size_t)(2 * a) * pq + (size_t)i * Wq, *r1 = r0 + pq;
            Scalar *restrict ev = be ? r1 : r0, *restrict od = be ? r0 : r1;
            const Scalar *restrict sr;
            y = 2 * i + a - pd;
            if (y < 0 || y >= s->H) {
                zero_run(r0, Wq);
                zero_run(r1, Wq);
                continue;
            }
            sr = src + (size_t)y * W;
            zero_run(ev, eo);
            zero_run(od, oo);
            switch (h) { /* constant trip counts for unet-s's widths: straight-line code */
            case 14: deinterleave(sr, ev + eo, od + oo, 14); break;
            case 7: deinterleave(sr, ev + eo, od + oo, 7); break;
            default: deinterleave(sr, ev + eo, od + oo, h);
            }
            if (W & 1) ev[eo + h] = sr[W - 1];
            zero_run(ev + ee, Wq - ee);
            zero_run(od + oe, Wq - oe);
        }
}

/* One plane (n, c) of the padded copy: dst, its st^2 phase planes of Hq x Wq, from src
 * [H, W] (above).  At stride 1 it is pad_plane_s1's plane, at 2 pad_plane_s2's. */
static void pad_plane(const ConvShape *s, const ConvCols *cc, const Scalar *src, Scalar *dst)
{
    const int pd = s->pad, st = s->stride;
    const size_t pq = (size_t)cc->Hp * cc->Wp;
    int a, b, i, j;
    if (st == 1) {
        pad_plane_s1(s, cc->Wp, src, dst);
        return;
    }
    if (st == 2) {
        pad_plane_s2(s, cc, src, dst);
        return;
    }
    for (b = 0; b < st; b++) { /* columns j in [jlo, jhi) of phase b are inside x */
        const int jlo = pd - b > 0 ? (pd - b + st - 1) / st : 0;
        int jhi = (s->W + pd - b + st - 1) / st;
        if (jhi > cc->Wp) jhi = cc->Wp;
        for (a = 0; a < st; a++) {
            Scalar *d = dst + (size_t)(a * st + b) * pq;
            for (i = 0; i < cc->Hp; i++) {
                const int y = i * st + a - pd;
                Scalar *restrict r = d + (size_t)i * cc->Wp;
                const Scalar *sr;
                if (y < 0 || y >= s->H || jlo >= jhi) {
                    memset(r, 0, (size_t)cc->Wp * sizeof(Scalar));
                    continue;
                }
                sr = src + (size_t)y * s->W; /* x column j st + b - pd */
                for (j = 0; j < jlo; j++) r[j] = 0;
                for (; j < jhi; j++) r[j] = sr[(size_t)j * st + b - pd];
                for (; j < cc->Wp; j++) r[j] = 0;
            }
        }
    }
}

/* xp = x padded and cut into phases (above), then the zeroed tail; parallel over planes
 * (n, c). */
static void conv_pad(const ConvShape *s, const Scalar *x, Scalar *xp)
{
    ConvCols cc;
    const int st = s->stride;
    long t, nt = (long)s->N * s->C;
    size_t pq;
    conv_cols_geom(&cc, s);
    pq = (size_t)cc.Hp * cc.Wp;
    PAR_FOR(nt * (long)st * st * (long)pq)
    for (t = 0; t < nt; t++)
        pad_plane(s, &cc, x + (size_t)t * s->H * s->W, xp + (size_t)t * st * st * pq);
    memset(xp + (size_t)nt * st * st * pq, 0,
           (conv_pad_size(s) - (size_t)nt * st * st * pq) * sizeof(Scalar));
}

static void conv_cols_init(ConvCols *cc, const ConvShape *s, const Scalar *xp)
{
    conv_cols_geom(cc, s);
    cc->xp = xp;
}

/* kofs(k) (see ConvCols). */
static int pw_kofs1(const ConvCols *cc, int k)
{
    const ConvShape *s = cc->s;
    const int st = cc->ph, taps = s->kh * s->kw;
    const int c = k / taps, ki = k % taps / s->kw, kj = k % s->kw;
    return ((c * st * st + ki % st * st + kj % st) * cc->Hp + ki / st) * cc->Wp + kj / st;
}

/* kofs(k) for k = k0 .. k0 + n - 1. */
static void pw_kofs(const ConvCols *cc, int k0, int n, int *kofs)
{
    int p;
    for (p = 0; p < n; p++) kofs[p] = pw_kofs1(cc, k0 + p);
}

/* Depth (C kh kw) up to which pw_rows reads panels in place.  Paired in one process against
 * packing them (Zen 4, one thread): the stem C1 -> 32 (depth 9) 1.22x forward, ctrl-s's
 * C3 -> 16 (27) 1.08x and the transposed conv of its input gradient 1.12x, the stride-2
 * C16 -> 16 (144) 1.04x; but C32 -> 32 at stride 2 (288) 0.98x and C64 -> 64 (576)
 * 0.94x: a deep panel read in place is hundreds of scattered 128-byte rows, re-read by
 * every row tile, where a packed one is contiguous. */
#define PW_ROWS_MAX_K 160

/* B's panels in place (GemmOperand.rows): a panel of W columns inside one sample is, at
 * depth row k, the W scalars from xp + n chw + m + kofs(k) - the rows pack_pw would copy. */
static int pw_rows(const void *ctx, int d0, int dn, int p0, int kc, int W, const Scalar **ptr,
                   ptrdiff_t *off)
{
    const ConvCols *cc = (const ConvCols *)ctx;
    int q, p, any = 0;
    if (cc->s->C * cc->s->kh * cc->s->kw > PW_ROWS_MAX_K) return 0;
    for (q = 0; q * W < dn; q++) {
        const int col = d0 + q * W, n = col / cc->Pw, m = col % cc->Pw;
        ptr[q] = NULL;
        if (m + W <= cc->Pw) {
            ptr[q] = cc->xp + (size_t)n * cc->chw + (size_t)m;
            any = 1;
        }
    }
    for (p = 0; p < kc; p++) off[p] = pw_kofs1(cc, p0 + p);
    return any;
}

#define PW_KBLOCK 256 /* depth rows per table of kofs */

/* As B (d = n, depth = k): dst[q][p][w] = cols[p0 + p][d0 + q W + w].  A panel is cut
 * into runs of one sample; each depth row copies every run from its shifted source. */
static void pack_pw(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst)
{
    const ConvCols *cc = (const ConvCols *)ctx;
    const size_t chw = cc->chw;
    int kofs[PW_KBLOCK], rw[GEMM_PACK_WMAX + 1], q, w, p, pb, t;
    const Scalar *rsrc[GEMM_PACK_WMAX];
    CHECK(W <= GEMM_PACK_WMAX, "conv pack: panel width %d", W);
    for (pb = 0; pb < kc; pb += PW_KBLOCK) {
        int kn = kc - pb < PW_KBLOCK ? kc - pb : PW_KBLOCK;
        pw_kofs(cc, p0 + pb, kn, kofs);
        for (q = 0; q * W < dn; q++) {
            int wn = dn - q * W < W ? dn - q * W : W, nr = 0;
            Scalar *restrict dq = dst + (size_t)q * kc * W + (size_t)pb * W;
            for (w = 0; w < wn;) { /* runs of one sample */
                int n = d0 + q * W + w, m = n % cc->Pw;
                int len = cc->Pw - m < wn - w ? cc->Pw - m : wn - w;
                rw[nr] = w;
                rsrc[nr++] = cc->xp + (size_t)(n / cc->Pw) * chw + (size_t)m;
                w += len;
            }
            rw[nr] = wn;
            if (nr == 1 && wn == 32 && W == 32) {
                const Scalar *src = rsrc[0];
                for (p = 0; p < kn; p++)
                    memcpy(dq + (size_t)p * 32, src + kofs[p], 32 * sizeof(Scalar));
            } else {
                for (p = 0; p < kn; p++) {
                    Scalar *d = dq + (size_t)p * W;
                    for (t = 0; t < nr; t++)
                        memcpy(d + rw[t], rsrc[t] + kofs[p],
                               (size_t)(rw[t + 1] - rw[t]) * sizeof(Scalar));
                    for (w = wn; w < W; w++) d[w] = 0;
                }
            }
        }
    }
}

/* Depth of the slices pack_pw_t writes at a time. */
#define PW_TB 16

/* As B^T (d = k, depth = n): dst[q][p][w] = cols[d0 + q W + w][p0 + p]; each lane copies
 * contiguous runs (one per sample) into every W-th slot. */
static void pack_pw_t(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst)
{
    const ConvCols *cc = (const ConvCols *)ctx;
    const size_t chw = cc->chw;
    int kofs[GEMM_PACK_WMAX], q, w, p, p0s;
    CHECK(W <= GEMM_PACK_WMAX, "conv pack: panel width %d", W);
    for (q = 0; q * W < dn; q++) {
        int wn = dn - q * W < W ? dn - q * W : W;
        Scalar *restrict dq = dst + (size_t)q * kc * W;
        int a = p0;
        pw_kofs(cc, d0 + q * W, wn, kofs);
        while (a < p0 + kc) { /* depth segment [a, b) inside one sample */
            int b = (a / cc->Pw + 1) * cc->Pw, len;
            const Scalar *base = cc->xp + (size_t)(a / cc->Pw) * chw + (size_t)(a % cc->Pw);
            if (b > p0 + kc) b = p0 + kc;
            len = b - a;
            /* PW_TB-deep slices, so that the panel lines being written stay in L1 (a whole
             * segment is up to kc lines of W scalars: 64 KB at kc 256, W 64) */
            for (p0s = 0; p0s < len; p0s += PW_TB) {
                int tb = len - p0s < PW_TB ? len - p0s : PW_TB;
                Scalar *ds = dq + (size_t)(a - p0 + p0s) * W;
                for (w = 0; w < wn; w++) {
                    const Scalar *src = base + kofs[w] + p0s;
                    for (p = 0; p < tb; p++) ds[(size_t)p * W + w] = src[p];
                }
                for (; w < W; w++)
                    for (p = 0; p < tb; p++) ds[(size_t)p * W + w] = 0;
            }
            a = b;
        }
    }
}

/* ---------------------------------------------------------------- dW, channels last
 *
 * A stride-1 conv with C >= NHWC_MIN_C forms dW from a channels-last copy of x instead of
 * the padded-width cols^T: with xt [N, Hp, Wp, C] (zero-padded),
 *   dwt [O, K'] = dy [O, N P] colt [N P, K'],   K' = (ki, kj, c), c fastest,
 *   colt[n P + i Wo + j][(ki kw + kj) C + c] = xt[n][i + ki][j + kj][c],
 * so every panel row of colt is a few runs of C contiguous scalars: x is transposed once
 * per element (C per pixel), not once per element of the im2col matrix (kh kw C per
 * pixel).  dy is read where it is ([N, O, P]), the gemm's packing of A doing its
 * transpose; a channels-last copy of dy as well (packed by plain row copies) cost a pass
 * over dy and measured about 3 % slower on the unet-s training step. */
#define NHWC_MIN_C 8

typedef struct ConvNhwc {
    const ConvShape *s;
    const Scalar *xt;
    int Hp, Wp;
} ConvNhwc;

/* As B (d = k', depth = n): dst[q][p][w] = colt[p0 + p][d0 + q W + w]: each panel row is
 * the runs of one (ki, kj) at a time, read from the pixel's row of xt. */
static void pack_nhwc(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst)
{
    const ConvNhwc *nc = (const ConvNhwc *)ctx;
    const ConvShape *s = nc->s;
    const int C = s->C, Wo = s->Wo, P = s->Ho * s->Wo, st = s->stride;
    int off[GEMM_PACK_WMAX], rw[GEMM_PACK_WMAX + 1], q, w, p, t;
    CHECK(W <= GEMM_PACK_WMAX, "conv pack: panel width %d", W);
    for (q = 0; q * W < dn; q++) {
        int wn = dn - q * W < W ? dn - q * W : W, nr = 0, n, i, j;
        Scalar *restrict d = dst + (size_t)q * kc * W;
        for (w = 0; w < wn;) { /* runs of one (ki, kj) */
            int k = d0 + q * W + w, kk = k / C, c = k % C, len = C - c;
            if (len > wn - w) len = wn - w;
            rw[nr] = w;
            off[nr++] = ((kk / s->kw) * nc->Wp + kk % s->kw) * C + c;
            w += len;
        }
        rw[nr] = wn;
        n = p0 / P;
        i = p0 % P / Wo;
        j = p0 % Wo;
        for (p = 0; p < kc; p++, d += W) {
            const Scalar *px =
                nc->xt + (((size_t)n * nc->Hp + (size_t)i * st) * nc->Wp + (size_t)j * st) * C;
            for (t = 0; t < nr; t++) {
                const Scalar *src = px + off[t];
                Scalar *dd = d + rw[t];
                int len = rw[t + 1] - rw[t], e;
                if (len == 64) { /* fixed lengths for the usual runs: whole-vector copies */
                    for (e = 0; e < 64; e++) dd[e] = src[e];
                } else if (len == 32) {
                    for (e = 0; e < 32; e++) dd[e] = src[e];
                } else {
                    for (e = 0; e < len; e++) dd[e] = src[e];
                }
            }
            for (w = wn; w < W; w++) d[w] = 0;
            if (++j == Wo) {
                j = 0;
                if (++i == s->Ho) {
                    i = 0;
                    n++;
                }
            }
        }
    }
}

/* dw [O, C, kh, kw] += dwt [O, (kh kw) C] (the tap-major columns of the channels-last and
 * grid dW forms), parallel over o. */
static void dw_add_taps_first(const ConvShape *s, const Scalar *dwt, Scalar *dw)
{
    const int C = s->C, khw = s->kh * s->kw, K = C * khw;
    long o;
    PAR_FOR((long)s->O * K)
    for (o = 0; o < s->O; o++) { /* dw[o][c][kk] += dwt[o][kk C + c] */
        int c, kk;
        for (c = 0; c < C; c++)
            for (kk = 0; kk < khw; kk++)
                dw[((size_t)o * C + c) * khw + kk] += dwt[(size_t)o * K + (size_t)kk * C + c];
    }
}

/* dw [O, C, kh, kw] += dy . cols^T for a stride-1 conv, through the channels-last layout
 * above (scratch from the graph's arena; the caller releases it). */
static void conv_dw_nhwc(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *dy,
                         Scalar *dw)
{
    const int K = s->C * s->kh * s->kw, C = s->C;
    const size_t P = (size_t)s->Ho * s->Wo;
    ConvNhwc nc;
    GemmView vdy;
    GemmOperand oa = {0}, ob = {0}; /* panels NULL: packed here */
    Scalar *xt, *dwt;
    nc.s = s;
    nc.Hp = s->H + 2 * s->pad;
    nc.Wp = s->W + 2 * s->pad;
    CHECK((double)s->N * nc.Hp * nc.Wp * C < 2147483647.0 && (double)s->N * P < 2147483647.0,
          "conv2d: channels-last copy of %d x %d x %d x %d is too large for int offsets", s->N,
          nc.Hp, nc.Wp, C);
    xt = scratch(g, (size_t)s->N * nc.Hp, (size_t)nc.Wp * C);
    dwt = scratch(g, (size_t)s->O, (size_t)K);
    conv_grid_blocks(x, s->N, C, s->H, s->W, s->pad, nc.Hp, nc.Wp, C, (size_t)s->N * nc.Hp * nc.Wp,
                     xt); /* xt [N, Hp, Wp, C]: one block of every channel */
    nc.xt = xt;
    vdy = conv_view(dy, (int)P, (int)P, (size_t)s->O * P, 0); /* Mat[o][n P + p] = dy[n, o, p] */
    oa.pack = gemm_pack_view;
    oa.ctx = &vdy;
    ob.pack = pack_nhwc;
    ob.ctx = &nc;
    gemm_op(s->O, K, (int)(s->N * P), 1, &oa, &ob, 0, dwt, K, K, 0);
    dw_add_taps_first(s, dwt, dw);
}

/* ---------------------------------------------------------------- dW on the padded grid
 *
 * A stride-1 conv whose C is a whole number of the gemm's B panels (C % NR == 0) forms dW
 * with both operands read in place, nothing packed: the depth runs over the padded grid
 * q = (n Hp + i) Wp + j of every sample (i < Hp, j < Wp), where the positions with i >= Ho
 * or j >= Wo have dy = 0.  Then the tap (ki, kj) of position q reads grid position
 * q + ki Wp + kj, so
 *   dwt [O, K'] = dyg [O, Pg] xcol [Pg, K'],   K' = (ki, kj, c), c fastest,
 *   xcol[q][(ki kw + kj) C + c] = xg[c / NR][q + ki Wp + kj][c % NR],
 * and a B panel (NR columns: one tap, NR channels) over depths q0 .. q0 + kc - 1 is the
 * contiguous block xg[c / NR][q0 + ki Wp + kj ..][NR]: xg is x zero-padded and cut into
 * channel blocks of NR ([C / NR][Pg + tail][NR], the tail zero rows that the last
 * positions' taps reach).  dy goes into A's panels the same way: dyg [ceil(O / MR)][Pg][MR],
 * zero at the garbage positions and in the rows past O.  The garbage positions cost
 * Hp Wp / (Ho Wo) - 1 more multiply-adds (15 % at 28x28, 31 % at 14x14); the im2col
 * panels they replace wrote kh kw C scalars per pixel. */
typedef struct ConvGrid {
    const ConvShape *s;
    const Scalar *xg;
    int Hp, Wp, mr, nr;
    size_t Pg, Pt; /* grid positions N Hp Wp; rows of one channel block of xg (Pg + tail) */
} ConvGrid;

/* Mat[d = k'][q] = xcol[q][k'] (B): whole panels in place when they are asked for. */
static int grid_x_panels(const void *ctx, int d0, int dn, int p0, int kc, int W, const Scalar **ptr)
{
    const ConvGrid *gr = (const ConvGrid *)ctx;
    const int C = gr->s->C;
    int q;
    (void)kc;
    if (W != gr->nr || d0 % W != 0 || C % W != 0) return 0;
    for (q = 0; q * W < dn; q++) {
        int k = d0 + q * W, tap = k / C, c = k % C;
        size_t off = (size_t)(tap / gr->s->kw) * gr->Wp + (size_t)(tap % gr->s->kw);
        ptr[q] = gr->xg + ((size_t)(c / W) * gr->Pt + (size_t)p0 + off) * W;
    }
    return 1;
}

/* The panels gathered (a panel across two taps, or C not a whole number of panels): each
 * column's source is fixed, so its offset is found once per panel column. */
static void grid_x_pack(const void *ctx, int d0, int dn, int p0, int kc, int W, Scalar *dst)
{
    const ConvGrid *gr = (const ConvGrid *)ctx;
    const int C = gr->s->C, nr = gr->nr;
    int q, p, w;
    CHECK(W <= GEMM_PACK_WMAX, "conv pack: panel width %d", W);
    for (q = 0; q * W < dn; q++) {
        size_t off[GEMM_PACK_WMAX];
        int wn = dn - q * W < W ? dn - q * W : W;
        Scalar *d = dst + (size_t)q * kc * W;
        for (w = 0; w < wn; w++) {
            int k = d0 + q * W + w, tap = k / C, c = k % C;
            size_t tofs = (size_t)(tap / gr->s->kw) * gr->Wp + (size_t)(tap % gr->s->kw);
            off[w] = ((size_t)(c / nr) * gr->Pt + (size_t)p0 + tofs) * nr + (size_t)(c % nr);
        }
        for (p = 0; p < kc; p++, d += W) {
            for (w = 0; w < wn; w++) d[w] = gr->xg[off[w] + (size_t)p * nr];
            for (; w < W; w++) d[w] = 0;
        }
    }
}

/* 1 when the grid form suits this conv: stride 1, C a whole number of B panels (or too few
 * channels for the channels-last form), and at most 20 % of the grid garbage.  Measured
 * on the unet-s layers at batch 64 (Zen 3, 2 threads), against the channels-last form:
 * 28x28 (15 % garbage) 1.15-1.6x as fast, 14x14 (31 %) even, 7x7 (65 %) 1.3x slower. */
static int conv_dw_grid_fits(const ConvShape *s)
{
    int mr, nr;
    const double grid = (double)(s->H + 2 * s->pad) * (s->W + 2 * s->pad);
    gemm_tile_widths(&mr, &nr);
    return s->stride == 1 && !conv_is_1x1(s) && (s->C % nr == 0 || s->C < NHWC_MIN_C) &&
           grid <= 1.2 * (double)s->Ho * s->Wo;
}

static void conv_dw_grid(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *dy,
                         Scalar *dw)
{
    const int K = s->C * s->kh * s->kw, C = s->C;
    ConvGrid gr;
    GemmPanels dyp;
    GemmOperand oa = {0}, ob = {0};
    Scalar *xg, *dyg, *dwt;
    size_t tail;
    gr.s = s;
    gr.Hp = s->H + 2 * s->pad;
    gr.Wp = s->W + 2 * s->pad;
    gemm_tile_widths(&gr.mr, &gr.nr);
    gr.Pg = (size_t)s->N * gr.Hp * gr.Wp;
    tail = (size_t)(s->kh - 1) * gr.Wp + (size_t)(s->kw - 1);
    gr.Pt = gr.Pg + tail;
    CHECK((double)gr.Pt * (C + gr.nr) < 2147483647.0 && gr.Pg < 2147483647u,
          "conv2d: padded grid of %d x %d x %d x %d is too large for int offsets", s->N, gr.Hp,
          gr.Wp, C);
    xg = scratch(g, gr.Pt, (size_t)(C + gr.nr - 1) / gr.nr * gr.nr);
    dyg = scratch(g, gr.Pg, (size_t)(s->O + gr.mr - 1) / gr.mr * gr.mr);
    dwt = scratch(g, (size_t)s->O, (size_t)K);
    conv_grid_blocks(x, s->N, C, s->H, s->W, s->pad, gr.Hp, gr.Wp, gr.nr, gr.Pt, xg);
    conv_grid_blocks(dy, s->N, s->O, s->Ho, s->Wo, 0, gr.Hp, gr.Wp, gr.mr, gr.Pg, dyg);
    gr.xg = xg;
    dyp.p = dyg; /* Mat[d = o][q] = dyg, A's panels as they lie */
    dyp.W = gr.mr;
    dyp.depth = (int)gr.Pg;
    oa.pack = gemm_pack_panels;
    oa.panels = gemm_panels_in_place;
    oa.ctx = &dyp;
    ob.pack = grid_x_pack;
    ob.panels = grid_x_panels;
    ob.ctx = &gr;
    gemm_op(s->O, K, (int)gr.Pg, 1, &oa, &ob, 0, dwt, K, K, 0);
    dw_add_taps_first(s, dwt, dw);
}

/* 1 when dW goes through Winograd (conv_wino_dw): a Winograd-path conv (3x3 stride 1 pad
 * 1, C and O >= 16) where the grid form does not fit (14x14, 7x7: its garbage positions),
 * or with C and O >= 32, where the transforms (C + O per tile) are small against the
 * gemm (C O per tile).  dW alone, one thread, base = the grid form (Zen 3, 2026-11-28,
 * exp dwall.sh): unet-s at batch 64 1.15-1.66x as fast on the 14x14 and 7x7 layers,
 * 1.1-1.3x on the 28x28; ctrl-s at batch 16 1.05-1.65x on the 14x14, but 0.69-0.92x on the
 * 28x28 layers with 16 channels (0.95x at 32 -> 32). */
static int conv_dw_wino_use(const ConvShape *s)
{
    return conv_wino_use(s) && (!conv_dw_grid_fits(s) || (s->C >= 32 && s->O >= 32));
}

/* dst [N, O, Ho, Wp] = src [N, O, Ho, Wo] with zeros in the garbage columns (dy in the
 * padded-width layout, so the garbage columns add nothing to dW). */
static void pw_widen(const ConvShape *s, int Wp, const Scalar *src, Scalar *dst)
{
    long t, nt = (long)s->N * s->O;
    PAR_FOR(nt * s->Ho * Wp)
    for (t = 0; t < nt; t++) {
        const Scalar *a = src + (size_t)t * s->Ho * s->Wo;
        Scalar *d = dst + (size_t)t * s->Ho * Wp;
        int i, jo;
        for (i = 0; i < s->Ho; i++) {
            for (jo = 0; jo < s->Wo; jo++) d[(size_t)i * Wp + jo] = a[(size_t)i * s->Wo + jo];
            for (; jo < Wp; jo++) d[(size_t)i * Wp + jo] = 0;
        }
    }
}

/* ---------------------------------------------------------------- dW, summed directly
 *
 * A stride-1 conv (not 1x1, kh kw <= DW_DIRECT_TAPS) with O or C at most DW_DIRECT_MAX
 * (the UNets' first conv, C 1 or 3, and last, O 1): every gemm form of dW [O, C kh kw] has
 * a side as short as O or C, so its panels are mostly padding while it packs kh kw copies
 * of x (C 16 -> O 1 at batch 16, 28x28: 1.1 ms for 2.3 M multiply-adds).  Here each
 * (o, c) pair sums its taps straight from the planes, in the padded-width layout: x
 * padded (xp [N, C, Hp, Wp]) and dy widened with zero columns (dyw [N, O, Ho, Wp]), so
 * that tap (a, b) is one run of L = (Ho - 1) Wp + Wo products per sample,
 *   dw[o, c, a, b] += sum_n sum_{q < L} dyw[n, o, q] xp[n, c, a Wp + b + q]
 * (a garbage column of dyw is zero; the run ends inside the plane), summed in DW_LANES
 * float lanes (lane q mod DW_LANES), each sample's lanes added into a double per tap in
 * a fixed order.  Pairs in parallel: the same bits on any thread
 * count. */
#ifndef DW_DIRECT_MAX
#define DW_DIRECT_MAX 4
#endif
#define DW_DIRECT_TAPS 49
#define DW_LANES 16

static int conv_dw_direct_fits(const ConvShape *s)
{
    return s->stride == 1 && !conv_is_1x1(s) && (s->O <= DW_DIRECT_MAX || s->C <= DW_DIRECT_MAX) &&
           s->kh * s->kw <= DW_DIRECT_TAPS;
}

/* Output channels whose runs share each load of x (conv_dw_direct). */
#define DW_OB 4

/* acc[k] += sum_{q < L} d[q] x[off[k] + q] for the taps k < taps, in DW_LANES lanes, a tap
 * at a time (with the taps inside the lane loop gcc vectorised over the taps with
 * gathers, 4x slower). */
static void dw_taps_run1(const Scalar *d, const Scalar *x, const int *off, int taps, int L,
                         double *acc)
{
    int k, q, l;
    for (k = 0; k < taps; k++) {
        const Scalar *xk = x + off[k];
        Scalar lane[DW_LANES];
        double t = 0.0;
        for (l = 0; l < DW_LANES; l++) lane[l] = 0;
        for (q = 0; q + DW_LANES <= L; q += DW_LANES)
            for (l = 0; l < DW_LANES; l++) lane[l] += d[q + l] * xk[q + l];
        for (l = 0; q + l < L; l++) lane[l] += d[q + l] * xk[q + l];
        for (l = 0; l < DW_LANES; l++) t += (double)lane[l];
        acc[k] += t;
    }
}

/* The same for DW_OB output channels at once, d_j = d + j dstride into acc[j taps + k]:
 * each load of x serves four products.  Lane for lane the sums of dw_taps_run1. */
static void dw_taps_run4(const Scalar *d, size_t dstride, const Scalar *x, const int *off, int taps,
                         int L, double *acc)
{
    const Scalar *d0 = d, *d1 = d + dstride, *d2 = d + 2 * dstride, *d3 = d + 3 * dstride;
    int k, q, l, j;
    for (k = 0; k < taps; k++) {
        const Scalar *xk = x + off[k];
        Scalar ln[DW_OB][DW_LANES];
        for (l = 0; l < DW_LANES; l++) ln[0][l] = ln[1][l] = ln[2][l] = ln[3][l] = 0;
        for (q = 0; q + DW_LANES <= L; q += DW_LANES)
            for (l = 0; l < DW_LANES; l++) {
                const Scalar xv = xk[q + l];
                ln[0][l] += d0[q + l] * xv;
                ln[1][l] += d1[q + l] * xv;
                ln[2][l] += d2[q + l] * xv;
                ln[3][l] += d3[q + l] * xv;
            }
        for (l = 0; q + l < L; l++) {
            const Scalar xv = xk[q + l];
            ln[0][l] += d0[q + l] * xv;
            ln[1][l] += d1[q + l] * xv;
            ln[2][l] += d2[q + l] * xv;
            ln[3][l] += d3[q + l] * xv;
        }
        for (j = 0; j < DW_OB; j++) {
            double t = 0.0;
            for (l = 0; l < DW_LANES; l++) t += (double)ln[j][l];
            acc[j * taps + k] += t;
        }
    }
}

static void conv_dw_direct(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *dy,
                           Scalar *dw)
{
    const int Hp = s->H + 2 * s->pad, Wp = s->W + 2 * s->pad, taps = s->kh * s->kw;
    const int L = (s->Ho - 1) * Wp + s->Wo, nob = (s->O + DW_OB - 1) / DW_OB;
    const size_t pplane = (size_t)Hp * Wp, wplane = (size_t)s->Ho * Wp;
    Scalar *xp = scratch(g, conv_pad_size(s), 1);
    Scalar *dyw = scratch(g, (size_t)s->N * s->O, wplane);
    int off[DW_DIRECT_TAPS], k;
    long t, np = (long)nob * s->C;
    for (k = 0; k < taps; k++) off[k] = (k / s->kw) * Wp + k % s->kw;
    conv_pad(s, x, xp);
    pw_widen(s, Wp, dy, dyw);
    PAR_FOR((long)s->N * (long)wplane * taps * s->O * s->C)
    for (t = 0; t < np; t++) { /* output channels o0 .. o0 + ob - 1 against channel c */
        const int o0 = (int)(t / s->C) * DW_OB, c = (int)(t % s->C);
        const int ob = s->O - o0 < DW_OB ? s->O - o0 : DW_OB;
        double acc[DW_OB * DW_DIRECT_TAPS];
        int n, j, kk;
        for (j = 0; j < ob * taps; j++) acc[j] = 0.0;
        for (n = 0; n < s->N; n++) {
            const Scalar *dn = dyw + ((size_t)n * s->O + o0) * wplane;
            const Scalar *xn = xp + ((size_t)n * s->C + c) * pplane;
            if (ob == DW_OB)
                dw_taps_run4(dn, wplane, xn, off, taps, L, acc);
            else /* the last block's few channels */
                for (j = 0; j < ob; j++)
                    dw_taps_run1(dn + (size_t)j * wplane, xn, off, taps, L, acc + j * taps);
        }
        for (j = 0; j < ob; j++)
            for (kk = 0; kk < taps; kk++)
                dw[((size_t)(o0 + j) * s->C + c) * taps + kk] += (Scalar)acc[j * taps + kk];
    }
}

/* dx [m, C, H, W] = col2im(dcols [K, m P]), the adjoint of im2col.  Each (j, c) plane is
 * owned by one thread, zeroed, then summed over (ki, kj, i, jo) in that fixed order; the
 * taps that fall in the padding are skipped by range (tap_range), so the inner loop is a
 * shifted (stride 1) or strided row addition. */
static void col2im(const ConvShape *s, const Scalar *dcols, int m, Scalar *dx)
{
    const int P = s->Ho * s->Wo, st = s->stride, pd = s->pad;
    const size_t ld = (size_t)m * P;
    long t, nt = (long)m * s->C;
    PAR_FOR((long)ld * s->C * s->kh * s->kw)
    for (t = 0; t < nt; t++) {
        int j = (int)(t / s->C), c = (int)(t % s->C), ki, kj, i, jo;
        Scalar *dp = dx + ((size_t)j * s->C + c) * s->H * s->W;
        memset(dp, 0, (size_t)s->H * s->W * sizeof(Scalar));
        for (ki = 0; ki < s->kh; ki++) {
            int ilo, ihi;
            tap_range(s->H, s->Ho, st, pd, ki, &ilo, &ihi);
            for (kj = 0; kj < s->kw; kj++) {
                const Scalar *row =
                    dcols + ((size_t)(c * s->kh + ki) * s->kw + kj) * ld + (size_t)j * P;
                int jlo, jhi;
                tap_range(s->W, s->Wo, st, pd, kj, &jlo, &jhi);
                for (i = ilo; i < ihi; i++) {
                    const Scalar *r = row + (size_t)i * s->Wo;
                    /* dx row i s - p + ki, column jo s - p + kj, for jo in [jlo, jhi) */
                    Scalar *d = dp + (size_t)(i * st - pd + ki) * s->W;
                    if (st == 1) {
                        Scalar *d1 = d + (jlo - pd + kj);
                        const Scalar *r1 = r + jlo;
                        int n1 = jhi - jlo;
                        for (jo = 0; jo < n1; jo++) d1[jo] += r1[jo];
                    } else {
                        for (jo = jlo; jo < jhi; jo++) d[jo * st - pd + kj] += r[jo];
                    }
                }
            }
        }
    }
}

/* dst [n] += src [n].  Backward forms the op's whole contribution in scratch and adds it
 * with this one addition per element, so running backward twice doubles a gradient
 * exactly. */
static void add_into(Scalar *dst, const Scalar *src, size_t n)
{
    long i, nn = (long)n;
    PAR_FOR(nn)
    for (i = 0; i < nn; i++) dst[i] += src[i];
}

/* At most this many output channels, a stride-1 conv with a kernel past 1x1 is summed
 * directly (conv_small_o) rather than through the gemm. */
#define SMALL_O 2

/* ---------------------------------------------------------------- Winograd weights memo */

/* The transformed weights U of a Winograd-path conv (conv_wino_u), kept for the rest of a
 * step: a CMAD iteration runs each net K times with unchanged weights, and making U again
 * each time (with the flipped copy of the input gradient's kernel) took about 3 % of the
 * iteration, besides a parallel loop per conv.  An entry is found by the kernel's address,
 * shape and flip.  The first use of a kernel only notes it (a training step uses each
 * kernel once forward and once flipped: nothing to keep); the second keeps U and a copy of
 * the kernel; later uses take U only when the kernel's bits equal that copy (one memcmp),
 * so a kernel changed in place (a finite-difference check, an optimiser step within a
 * step) gets a new U, and the memo never changes a result, since U is a function of those
 * bits.  Entries live in the arena's block pool and go with its next reset. */
typedef struct WinoMemo {
    const Scalar *w;
    int C, O, flip;
    Scalar *copy, *u; /* NULL while the kernel has been seen once */
    struct WinoMemo *next;
} WinoMemo;

/* U for the kernel w of s (flip: see conv_wino_u) from the memo, or NULL on its first use. */
static const Scalar *wino_memo_u(Graph *g, const ConvShape *s, const Scalar *w, int flip)
{
    const size_t nw = size_mul((size_t)s->O * s->C, 9 * sizeof(Scalar));
    WinoMemo *e;
    if (g->memo_resets != arena_resets(g->arena)) { /* the arena was reset: all gone */
        g->memo = NULL;
        g->memo_resets = arena_resets(g->arena);
    }
    for (e = (WinoMemo *)g->memo; e; e = e->next)
        if (e->w == w && e->C == s->C && e->O == s->O && e->flip == flip) break;
    if (!e) { /* first use: noted */
        e = (WinoMemo *)arena_block_get(g->arena, sizeof(WinoMemo));
        e->w = w;
        e->C = s->C;
        e->O = s->O;
        e->flip = flip;
        e->copy = e->u = NULL;
        e->next = (WinoMemo *)g->memo;
        g->memo = e;
        return NULL;
    }
    if (e->u && memcmp(e->copy, w, nw) == 0) return e->u;
    if (!e->u) {
        e->copy = (Scalar *)arena_block_get(g->arena, nw);
        e->u = (Scalar *)arena_block_get(g->arena, size_mul(conv_wino_u_len(s), sizeof(Scalar)));
    }
    memcpy(e->copy, w, nw);
    conv_wino_u(s, w, flip, e->u);
    return e->u;
}

/* y = the Winograd conv of x with kernel w (flipped or not) + b, U from the memo or, on
 * the kernel's first use, made in scratch. */
static void conv_wino_run(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *w, int flip,
                          const ConvAdd *add, Scalar *y)
{
    const Scalar *u = wino_memo_u(g, s, w, flip);
    if (u)
        conv_wino_forward_u(g->arena, s, x, u, add, y);
    else
        conv_wino_forward_add(g->arena, s, x, w, flip, add, y);
}

/* b[o] of plane t = n O + o of the output, or 0 without b. */
static Scalar plane_bias(const ConvAdd *add, int O, long t) { return add->b ? add->b[t % O] : 0; }

/* dst[j] = (src[j] + bo) + z for j < n: one run of plane t = n O + o of the output, bo its
 * plane_bias, dst at element off of y, z the plane's value or z_full's element at the same
 * place; src may be dst.  Without b: (src[j] + 0) + z when add_b0 (the padded-width
 * copy-out, which always added b or 0), else src[j] + z, so that each path keeps the bits
 * of its conv followed by an add. */
static void conv_add_row(const ConvAdd *add, Scalar bo, long t, size_t off, int add_b0,
                         const Scalar *src, Scalar *dst, int n)
{
    const int has_b = add->b != NULL || add_b0;
    int j;
    if (!add->z) {
        for (j = 0; j < n; j++) dst[j] = src[j] + bo;
    } else if (!add->z_full) {
        const Scalar zo = add->z[t];
        if (has_b)
            for (j = 0; j < n; j++) dst[j] = (src[j] + bo) + zo;
        else
            for (j = 0; j < n; j++) dst[j] = src[j] + zo;
    } else {
        const Scalar *zr = add->z + off;
        if (has_b)
            for (j = 0; j < n; j++) dst[j] = (src[j] + bo) + zr[j];
        else
            for (j = 0; j < n; j++) dst[j] = src[j] + zr[j];
    }
}

/* Output plane t = n O + o of y from its rows in the padded-width layout (src, Ho rows Wp
 * apart): the valid columns with b (+ z), as conv_add_row adds them. */
static void conv_out_plane(const ConvAdd *add, const ConvShape *s, long t, const Scalar *src,
                           int Wp, Scalar *y)
{
    const size_t off = (size_t)t * s->Ho * s->Wo;
    const Scalar bo = plane_bias(add, s->O, t); /* once a plane: a division */
    int i;
    for (i = 0; i < s->Ho; i++)
        conv_add_row(add, bo, t, off + (size_t)i * s->Wo, 1, src + (size_t)i * Wp,
                     y + off + (size_t)i * s->Wo, s->Wo);
}

/* Scalars of conv_small_o3's per-thread scratch (a sample's nine tap planes with their
 * margins, and a plane of sums) up to which it takes a 3x3 pad-1 conv: 64 KB in float,
 * about L1's size (unet-s's last conv takes 8,362).  0: never. */
static size_t small_o3_max = 16384;

size_t conv_small_o3_set_max(size_t scalars)
{
    size_t was = small_o3_max;
    small_o3_max = scalars;
    return was;
}

/* Those scalars for s: nine planes of H W, each between margins of W + 1 zeros, and one. */
static size_t small_o3_scalars(const ConvShape *s)
{
    const size_t P = size_mul((size_t)s->H, (size_t)s->W);
    return size_mul(9, P + 2 * ((size_t)s->W + 1)) + P;
}

/* Tap planes Z_k[p] = sum over c, in order, of wo[9 c + k] x[c, p] by GEMM_FMA from 0 (as
 * gemm's micro-kernel sums a column, so gemm's bits), for the NW pixels from p0 of one
 * sample's planes xn (C planes of P), Z_k at Z + k zs: 9 x NW sums in registers (NW <= 32;
 * a constant at the hot calls), each x vector loaded once for the nine taps, where it lies. */
PLAT_INLINE void small_o3_taps(const Scalar *restrict xn, const Scalar *restrict wo, int C,
                               size_t P, size_t p0, Scalar *restrict Z, size_t zs, const int NW)
{
    Scalar a[9][32];
    int c, k, l;
    PLAT_UNROLL
    for (k = 0; k < 9; k++) {
        PLAT_UNROLL
        for (l = 0; l < NW; l++) a[k][l] = 0;
    }
    for (c = 0; c < C; c++) {
        const Scalar *xc = xn + (size_t)c * P + p0, *wc = wo + 9 * c;
        if (p0 + 96 <= P) { /* two blocks on: x comes from memory after its backward */
            PLAT_PREFETCH(xc + 64);
            PLAT_PREFETCH(xc + 80);
        }
        PLAT_UNROLL
        for (k = 0; k < 9; k++) {
            const Scalar wk = wc[k];
            PLAT_UNROLL
            for (l = 0; l < NW; l++) a[k][l] = GEMM_FMA(wk, xc[l], a[k][l]);
        }
    }
    PLAT_UNROLL
    for (k = 0; k < 9; k++)
        for (l = 0; l < NW; l++) Z[(size_t)k * zs + p0 + l] = a[k][l];
}

/* Output pixel (r, q) of conv_small_o3 from its tap planes (Z_k at Z + k zs): the sum over
 * the nine taps in the order ky, kx, from 0, of Z_k one row up (ky = 0), on (1) or down
 * (2) and one column left (kx = 0), on or right, a tap outside the plane adding 0. */
static Scalar small_o3_pixel(const Scalar *Z, size_t zs, int H, int W, int r, int q)
{
    Scalar v = 0;
    int ky, kx;
    for (ky = 0; ky < 3; ky++)
        for (kx = 0; kx < 3; kx++) {
            const int rr = r + ky - 1, qq = q + kx - 1;
            const Scalar t = rr >= 0 && rr < H && qq >= 0 && qq < W
                                 ? Z[(size_t)(3 * ky + kx) * zs + (size_t)rr * W + qq]
                                 : 0;
            v = v + t;
        }
    return v;
}

/* The plane of sums dst [H, W] of conv_small_o3 from its tap planes, each pixel as
 * small_o3_pixel sums it: along the plane as one run (the margins of W + 1 zeros around
 * each Z_k stand for the rows above and below), then the first and the last column again,
 * where a tap one column over would otherwise read the row before's or after's end. */
static void small_o3_sums(const Scalar *Z, size_t zs, int H, int W, Scalar *restrict dst)
{
    const long P = (long)H * W, w = W;
    const Scalar *restrict t0 = Z - w - 1, *restrict t1 = Z + zs - w,
                           *restrict t2 = Z + 2 * zs - w + 1;
    const Scalar *restrict t3 = Z + 3 * zs - 1, *restrict t4 = Z + 4 * zs,
                           *restrict t5 = Z + 5 * zs + 1;
    const Scalar *restrict t6 = Z + 6 * zs + w - 1, *restrict t7 = Z + 7 * zs + w,
                           *restrict t8 = Z + 8 * zs + w + 1;
    long p;
    int r;
    for (p = 0; p < P; p++) {
        Scalar v = 0;
        v = v + t0[p];
        v = v + t1[p];
        v = v + t2[p];
        v = v + t3[p];
        v = v + t4[p];
        v = v + t5[p];
        v = v + t6[p];
        v = v + t7[p];
        dst[p] = v + t8[p];
    }
    for (r = 0; r < H; r++) {
        dst[(size_t)r * W] = small_o3_pixel(Z, zs, H, W, r, 0);
        dst[(size_t)r * W + W - 1] = small_o3_pixel(Z, zs, H, W, r, W - 1);
    }
}

/* conv_small_o for a 3x3 kernel with a pad of 1 whose scratch fits small_o3_max: for each
 * sample and output channel, the nine tap planes (small_o3_taps: a gemm of nine rows, x
 * read in place), then the plane of sums of their shifted pixels (small_o3_sums), written
 * with the bias and z as conv_out_plane adds them.  Its own order, so its own bits, the
 * same for any number of threads (each sample in a fixed order by one thread).  (Summed
 * along the row from a padded plane instead, c by c and tap by tap, two of a tap's three
 * column shifts are loads that span two cache lines, and those loads set the pace;
 * docs/speed-history.md, sessions 35 and 36.) */
static void conv_small_o3(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *w,
                          const ConvAdd *add, Scalar *y)
{
    const int nthr = plat_threads();
    const size_t P = (size_t)s->H * s->W, m = (size_t)s->W + 1, zs = P + 2 * m;
    const size_t per = PAR_SPAN(small_o3_scalars(s), sizeof(Scalar));
    Scalar *scr = scratch(g, (size_t)nthr, per);
    long n;
    int t;
    for (t = 0; t < nthr; t++) memset(scr + (size_t)t * per, 0, 9 * zs * sizeof(Scalar));
    PAR_FOR((long)s->N * s->O * s->Ho * s->Wo * s->C * 9)
    for (n = 0; n < s->N; n++) {
        const int me = plat_thread_num();
        Scalar *Z = scr + (size_t)me * per + m, *sums = Z - m + 9 * zs;
        const Scalar *xn = x + (size_t)n * s->C * P;
        int o;
        CHECK(me < nthr, "conv2d: scratch %d of %d", me, nthr);
        for (o = 0; o < s->O; o++) {
            const long tp = n * s->O + o;
            const Scalar *wo = w + (size_t)o * s->C * 9;
            size_t p0 = 0;
            for (; p0 + 32 <= P; p0 += 32) small_o3_taps(xn, wo, s->C, P, p0, Z, zs, 32);
            for (; p0 + 16 <= P; p0 += 16) small_o3_taps(xn, wo, s->C, P, p0, Z, zs, 16);
            for (; p0 < P; p0++) small_o3_taps(xn, wo, s->C, P, p0, Z, zs, 1);
            small_o3_sums(Z, zs, s->H, s->W, sums);
            conv_add_row(add, plane_bias(add, s->O, tp), tp, (size_t)tp * P, 1, sums,
                         y + (size_t)tp * P, (int)P);
        }
    }
}

/* y [N, O, Ho, Wo] (+ b, + z) for a stride-1 conv with O <= SMALL_O: the UNet's last conv
 * (O = 1) and the input gradient of its first (C = 1).  The gemm would compute MR rows to
 * keep one and pack every column of the image for it (the last conv of unet-s ran at 2.6
 * GFLOP/s); here each output plane is a sum of shifted rows of the padded input, c by c
 * and tap by tap (a 3x3 kernel's nine taps in one pass), vectorised along the plane in the
 * padded-width layout (acc, Ho Wp), then its valid columns go out with the bias and z as
 * conv_forward_gemm's copy does.  One parallel loop over the samples: each pads its C
 * planes into the thread's scratch (pad_plane_s1, then a zeroed tail of kw for the
 * garbage columns' reads past the last plane), where they stay in cache for the sums.
 * (Padding the whole batch first, in a loop of its own, took 2-3 times as long as the sums
 * inside a CMAD iteration, the padded batch going out to memory and back.)  Each plane is
 * summed in a fixed order, so the bits do not depend on the threads.  A 3x3 pad-1 kernel
 * on planes whose tap planes fit small_o3_max (the nets' own) goes to conv_small_o3
 * instead, which sums in its own order. */
static void conv_small_o(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *w,
                         const ConvAdd *add, Scalar *y)
{
    const int taps = s->kh * s->kw, nthr = plat_threads();
    const size_t plane = (size_t)s->H * s->W;
    ConvCols cc;
    size_t pq, xs, per;
    Scalar *scr;
    long n;
    if (s->kh == 3 && s->kw == 3 && s->pad == 1 && small_o3_scalars(s) <= small_o3_max) {
        conv_small_o3(g, s, x, w, add, y);
        return;
    }
    conv_cols_geom(&cc, s);
    pq = (size_t)cc.Hp * cc.Wp;
    xs = (size_t)s->C * pq + (size_t)s->kw;
    per = PAR_SPAN(xs + (size_t)cc.Pw, sizeof(Scalar));
    scr = scratch(g, (size_t)nthr, per);
    PAR_FOR((long)s->N * s->O * cc.Pw * s->C * taps)
    for (n = 0; n < s->N; n++) {
        const int me = plat_thread_num(), Wp = cc.Wp, Pw = cc.Pw;
        Scalar *xp = scr + (size_t)me * per, *restrict acc = xp + xs;
        int c, o, a, bb, p;
        CHECK(me < nthr, "conv2d: scratch %d of %d", me, nthr);
        for (c = 0; c < s->C; c++)
            pad_plane_s1(s, Wp, x + ((size_t)n * s->C + c) * plane, xp + (size_t)c * pq);
        memset(xp + (size_t)s->C * pq, 0, (size_t)s->kw * sizeof(Scalar));
        for (o = 0; o < s->O; o++) {
            const long t = n * s->O + o;
            for (p = 0; p < Pw; p++) acc[p] = 0;
            for (c = 0; c < s->C; c++) {
                const Scalar *xc = xp + (size_t)c * pq;
                const Scalar *wc = w + ((size_t)o * s->C + c) * taps;
                if (taps == 9) { /* 3x3: the nine taps in one pass, added in the same order */
                    const Scalar *r0 = xc, *r1 = xc + Wp, *r2 = xc + 2 * (size_t)Wp;
                    for (p = 0; p < Pw; p++)
                        acc[p] = acc[p] + wc[0] * r0[p] + wc[1] * r0[p + 1] + wc[2] * r0[p + 2] +
                                 wc[3] * r1[p] + wc[4] * r1[p + 1] + wc[5] * r1[p + 2] +
                                 wc[6] * r2[p] + wc[7] * r2[p + 1] + wc[8] * r2[p + 2];
                    continue;
                }
                for (a = 0; a < s->kh; a++)
                    for (bb = 0; bb < s->kw; bb++) {
                        const Scalar wv = wc[a * s->kw + bb], *src = xc + (size_t)a * Wp + bb;
                        for (p = 0; p < Pw; p++) acc[p] += wv * src[p];
                    }
            }
            conv_out_plane(add, s, t, acc, Wp, y);
        }
    }
}

/* Output channels and columns of a block of conv_small_c's sums: SC_OB x SC_PB
 * accumulators (eight AVX-512 registers), each tap one load per vector of columns for four
 * multiply-adds.  unet-s's stem (depth 9, a constant at its call) takes 2 x 2 SC_PB: gcc
 * then keeps the two channels' 18 weights in registers across the blocks instead of
 * broadcasting them for each (the stem's forward 1.33x as fast, Zen 5, one or two
 * threads; 2 x 64 at depth 27 was 1.23x slower, 4 x 32 is kept there).  The last columns
 * of a band go 16 and then one at a time. */
#define SC_OB 4
#define SC_PB 32

/* n rounded up to a multiple of 16 scalars (64 bytes in float, the arena's alignment). */
static size_t round_up16(size_t n) { return (n + 15) / 16 * 16; }

/* Depth (C kh kw) up to which a stride-1 conv's forward sums its taps directly
 * (conv_small_c): unet-s's C1 stem (9) and ctrl-s's C3 stem (27). */
static int conv_small_c_max = 27;

int conv_small_c_set_max(int depth)
{
    int was = conv_small_c_max;
    conv_small_c_max = depth;
    return was;
}

/* Scalars of a band's cols in conv_small_c: 32 KB in float, within L1 with the rows of y
 * being written. */
#define SC_BAND 8192

/* Planes t0 .. t0 + OB - 1 of y, their nq (<= PB) columns from element off of each plane
 * (P apart): for each, the sum over k < K, in order, of w[j K + k] cols[k ld + q] by
 * GEMM_FMA from 0 (how gemm's micro-kernel sums a column of one depth block, so the bits
 * are gemm's), then (+ bo[j]) (+ z) as conv_add_row adds them.  OB, PB and direct are
 * constants at each call; nq is PB but for a band's last columns. */
PLAT_INLINE void small_c_block(const ConvAdd *add, long t0, size_t off, size_t P,
                               const Scalar *cols, size_t ld, int K, const Scalar *w,
                               const Scalar *bo, int nq, Scalar *y, const int OB, const int PB,
                               const int direct)
{
    Scalar a[SC_OB][2 * SC_PB]; /* [OB][PB]: 4 x 32, 2 x 64 or 1 x 32 used */
    int k, j, q;
    for (j = 0; j < OB; j++)
        for (q = 0; q < PB; q++) a[j][q] = 0;
    for (k = 0; k < K; k++) {
        const Scalar *src = cols + (size_t)k * ld;
        for (j = 0; j < OB; j++) {
            const Scalar wv = w[(size_t)j * K + k];
            for (q = 0; q < PB; q++) a[j][q] = GEMM_FMA(wv, src[q], a[j][q]);
        }
    }
    for (j = 0; j < OB; j++) {
        Scalar *yr = y + (size_t)(t0 + j) * P + off;
        if (direct) /* no z, nq == PB: the sums never leave the registers */
            for (q = 0; q < PB; q++) yr[q] = a[j][q] + bo[j];
        else
            conv_add_row(add, bo[j], t0 + j, (size_t)(t0 + j) * P + off, 1, a[j], yr, nq);
    }
}

/* Planes t0 .. t0 + OB - 1 of y (OB a constant: SC_OB, or 1 for the last channels), the
 * band of pb columns from element off of each, from the band's cols [K, ld]: whole blocks
 * of SC_PB columns, then of 16, then the rest (cols's rows are readable to ld, a multiple
 * of 16). */
PLAT_INLINE void small_c_planes(const ConvAdd *add, const ConvShape *s, long t0, size_t off, int pb,
                                const Scalar *cols, size_t ld, int K, const Scalar *w, Scalar *y,
                                const int OB, const int PB)
{
    const size_t P = (size_t)s->Ho * s->Wo;
    Scalar bo[SC_OB];
    int p0 = 0, j;
    for (j = 0; j < OB; j++) bo[j] = plane_bias(add, s->O, t0 + j); /* a division each */
    if (!add->z)
        for (; p0 + PB <= pb; p0 += PB)
            small_c_block(add, t0, off + p0, P, cols + p0, ld, K, w, bo, PB, y, OB, PB, 1);
    for (; p0 + PB <= pb; p0 += PB)
        small_c_block(add, t0, off + p0, P, cols + p0, ld, K, w, bo, PB, y, OB, PB, 0);
    if (!add->z)
        for (; p0 + 16 <= pb; p0 += 16)
            small_c_block(add, t0, off + p0, P, cols + p0, ld, K, w, bo, 16, y, OB, 16, 1);
    for (; p0 + 16 <= pb; p0 += 16)
        small_c_block(add, t0, off + p0, P, cols + p0, ld, K, w, bo, 16, y, OB, 16, 0);
    if (p0 < pb)
        small_c_block(add, t0, off + p0, P, cols + p0, ld, K, w, bo, pb - p0, y, OB, 16, 0);
}

/* y [N, O, Ho, Wo] (+ b, + z) for a stride-1 conv of depth C kh kw <= conv_small_c_max, the
 * stems.  The gemm takes them as a product of depth 9 or 27 into the padded-width layout of
 * the whole batch (7 MB for unet-s's at batch 64), which is then copied out: y's bytes
 * written twice.  Here one parallel loop over the samples pads each sample's C planes into
 * the thread's scratch and, a band of output rows at a time (all 28 of unet-s's stem, 8
 * of ctrl-s's), lays the band's taps out as cols [K, rows Wo] (its im2col matrix, each row
 * on a 64-byte line: vectors that span two lines load at half the rate), then sums SC_OB
 * output channels x SC_PB columns at a time in registers and writes them straight into y
 * with the bias and z (small_c_block, with gemm's bits): a plane's columns are whole
 * vectors, and nothing is copied out. */
static void conv_small_c(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *w,
                         const ConvAdd *add, Scalar *y)
{
    const int K = s->C * s->kh * s->kw, nthr = plat_threads(), Wo = s->Wo;
    const size_t plane = (size_t)s->H * s->W;
    const ConvAdd none = {0};
    int kofs[64], k, R;
    ConvCols cc;
    size_t pq, xs, ld, per;
    Scalar *scr;
    long n;
    CHECK(K <= 64, "conv2d: direct sums of depth %d", K);
    if (!add) add = &none;
    conv_cols_geom(&cc, s);
    pq = (size_t)cc.Hp * cc.Wp;
    for (k = 0; k < K; k++) kofs[k] = pw_kofs1(&cc, k);
    R = SC_BAND / (K * Wo); /* output rows a band */
    if (R < 1) R = 1;
    if (R >= s->Ho) {
        R = s->Ho;
    } else { /* fewer, if that makes the band whole vectors (8 rows of 28, not 10) */
        int r = R;
        while (r > 1 && r * Wo % 16) r--;
        if (r * Wo % 16 == 0) R = r;
    }
    ld = round_up16((size_t)R * Wo);
    xs = round_up16((size_t)s->C * pq);
    per = PAR_SPAN(xs + (size_t)K * ld, sizeof(Scalar));
    scr = scratch(g, (size_t)nthr, per);
    PAR_FOR((long)s->N * s->O * s->Ho * Wo * K)
    for (n = 0; n < s->N; n++) {
        const int me = plat_thread_num();
        Scalar *xp = scr + (size_t)me * per, *cols = xp + xs;
        int c, o, i, q, r0;
        CHECK(me < nthr, "conv2d: scratch %d of %d", me, nthr);
        for (c = 0; c < s->C; c++)
            pad_plane_s1(s, cc.Wp, x + ((size_t)n * s->C + c) * plane, xp + (size_t)c * pq);
        for (r0 = 0; r0 < s->Ho; r0 += R) {
            const int nr = s->Ho - r0 < R ? s->Ho - r0 : R, pb = nr * Wo;
            for (q = 0; q < K; q++) {
                Scalar *cr = cols + (size_t)q * ld;
                for (i = 0; i < nr; i++)
                    copy_run(cr + (size_t)i * Wo, xp + kofs[q] + (size_t)(r0 + i) * cc.Wp, Wo);
                zero_run(cr + pb, (int)(round_up16((size_t)pb) - (size_t)pb));
            }
            o = 0;
            if (K == 9) /* unet-s's stem: 2 x 64, its 18 weights held in registers */
                for (; o + 2 <= s->O; o += 2)
                    small_c_planes(add, s, n * s->O + o, (size_t)r0 * Wo, pb, cols, ld, 9,
                                   w + (size_t)o * K, y, 2, 2 * SC_PB);
            else if (K == 27) /* ctrl-s's: the blocks below, the depth a constant */
                for (; o + SC_OB <= s->O; o += SC_OB)
                    small_c_planes(add, s, n * s->O + o, (size_t)r0 * Wo, pb, cols, ld, 27,
                                   w + (size_t)o * K, y, SC_OB, SC_PB);
            for (; o + SC_OB <= s->O; o += SC_OB)
                small_c_planes(add, s, n * s->O + o, (size_t)r0 * Wo, pb, cols, ld, K,
                               w + (size_t)o * K, y, SC_OB, SC_PB);
            for (; o < s->O; o++)
                small_c_planes(add, s, n * s->O + o, (size_t)r0 * Wo, pb, cols, ld, K,
                               w + (size_t)o * K, y, 1, SC_PB);
        }
    }
}

/* Scalars that a chunk's scratch may take (its padded planes and its part of yw). */
#ifndef CONV_CHUNK_SCALARS
#define CONV_CHUNK_SCALARS ((size_t)1 << 17)
#endif

/* From this many scalars of padded copy, the padded-width path goes a chunk of samples at a
 * time (conv_forward_chunks) instead of padding the whole batch first.  Paired in one
 * process (Zen 4, 2 threads, the forward alone, 61-101 pairs, `/work/exp/s33/chab2.c`):
 * the stride-2 C32 28x28 at batch 64 (1.8 M scalars) 1.37-1.47x as fast, at batch 32
 * (0.9 M) 1.00-1.17x, C64 14x14 at batch 64 (1.0 M) 1.09-1.15x; below it chunks lost: C64
 * 14x14 at batch 32 (0.5 M) 0.86x, ctrl-s's C16 28x28 stride 2 (0.2 M) 0.95x, the C1 and C3
 * stems 0.70-0.87x (a small batch stays in cache anyway, and each chunk packs the weights
 * again). */
static size_t conv_chunk_from = (size_t)3 << 18;

size_t conv_chunk_set_from(size_t scalars)
{
    size_t was = conv_chunk_from;
    conv_chunk_from = scalars;
    return was;
}

/* The padded-width path a run of samples at a time (chunks: the batch cut evenly, a
 * multiple of the threads, each chunk's scratch within CONV_CHUNK_SCALARS): a thread pads
 * its chunk's planes into its own scratch, runs the chunk's gemm on them (serial, nested)
 * and copies the valid columns out, so the padded copy stays in cache instead of going
 * out to memory for the whole batch and back.  A column's sum does not depend on which
 * columns share its gemm, so the bits are the whole-batch gemm's. */
static void conv_forward_chunks(Graph *g, const ConvShape *s, const Scalar *x,
                                const GemmOperand *oa, const ConvAdd *add, Scalar *y)
{
    const int K = s->C * s->kh * s->kw, nthr = plat_threads();
    const size_t plane = (size_t)s->H * s->W;
    ConvCols cc;
    size_t per_n, tail, xs, per;
    long nch, S, ch;
    Scalar *scr;
    conv_cols_geom(&cc, s);
    per_n = cc.chw + (size_t)s->O * cc.Pw;
    tail = (size_t)cc.Wp + (size_t)s->kw;
    S = (long)(CONV_CHUNK_SCALARS / per_n);
    if (S < 1) S = 1;
    nch = (s->N + S - 1) / S;
    nch = (nch + nthr - 1) / nthr * nthr;
    if (nch > s->N) nch = s->N;
    S = (s->N + nch - 1) / nch; /* the most samples a chunk takes */
    xs = (size_t)S * cc.chw + tail;
    per = PAR_SPAN(xs + (size_t)S * s->O * cc.Pw, sizeof(Scalar));
    scr = scratch(g, (size_t)nthr, per);
    PAR_FOR((double)s->N * s->O * cc.Pw * K)
    for (ch = 0; ch < nch; ch++) {
        const int me = plat_thread_num();
        const int n0 = (int)((long)s->N * ch / nch), n1 = (int)((long)s->N * (ch + 1) / nch);
        Scalar *xp = scr + (size_t)me * per, *yw = xp + xs;
        ConvCols c2 = cc;
        GemmOperand ob = {0};
        long t, q;
        CHECK(me < nthr, "conv2d: scratch %d of %d", me, nthr);
        for (q = (long)n0 * s->C; q < (long)n1 * s->C; q++)
            pad_plane(s, &cc, x + (size_t)q * plane,
                      xp + (size_t)(q - (long)n0 * s->C) * (cc.chw / (size_t)s->C));
        memset(xp + (size_t)(n1 - n0) * cc.chw, 0, tail * sizeof(Scalar));
        c2.xp = xp;
        ob.ctx = &c2;
        ob.pack = pack_pw;
        ob.rows = pw_rows;
        gemm_op(s->O, (n1 - n0) * cc.Pw, K, 1, oa, &ob, 0, yw, cc.Pw, cc.Pw, (size_t)s->O * cc.Pw);
        for (t = (long)n0 * s->O; t < (long)n1 * s->O; t++)
            conv_out_plane(add, s, t, yw + (size_t)(t - (long)n0 * s->O) * cc.Pw, cc.Wp, y);
    }
}

/* y [N, O, P] = W [O, K] cols(x) (+ b): one gemm over the batch (scratch from the
 * arena).  1x1 stride 1: x is read in place and y written in place.  Otherwise the gemm
 * writes the padded-width layout into scratch, then the valid columns are copied out with
 * the bias (conv_small_o does both, for O <= SMALL_O at stride 1). */
static void conv_forward_gemm(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *w,
                              const ConvAdd *add, Scalar *y)
{
    const ConvAdd none = {0};
    ArenaMark mark = arena_mark(g->arena);
    const int P = s->Ho * s->Wo, K = s->C * s->kh * s->kw;
    GemmView vw = conv_view(w, K, K, 0, 0), vx;
    GemmOperand oa = {0}, ob = {0}; /* panels NULL: packed here */
    ConvCols cc;
    long t, nt = (long)s->N * s->O;
    if (!add) add = &none;
    if (conv_wino_use(s)) { /* 3x3 stride 1 pad 1, C and O >= 16: Winograd F(2x2, 3x3) */
        conv_wino_run(g, s, x, w, 0, add, y);
        return;
    }
    oa.pack = gemm_pack_view;
    oa.ctx = &vw;
    if (conv_is_1x1(s)) { /* cols = x seen as [C, N P]; y written in place */
        vx = conv_view(x, P, P, (size_t)s->C * P, 1);
        ob.pack = gemm_pack_view;
        ob.rows = gemm_view_rows; /* panels inside a sample read where they lie */
        ob.ctx = &vx;
        gemm_op(s->O, s->N * P, K, 1, &oa, &ob, 0, y, P, P, (size_t)s->O * P);
        if (add->b || add->z) {
            PAR_FOR(nt * P)
            for (t = 0; t < nt; t++)
                conv_add_row(add, plane_bias(add, s->O, t), t, (size_t)t * P, 0, y + (size_t)t * P,
                             y + (size_t)t * P, P);
        }
    } else if (s->O <= SMALL_O && s->stride == 1) {
        conv_small_o(g, s, x, w, add, y);
    } else if (s->stride == 1 && K <= conv_small_c_max) {
        conv_small_c(g, s, x, w, add, y);
    } else if (conv_pad_size(s) > conv_chunk_from) {
        conv_forward_chunks(g, s, x, &oa, add, y);
    } else { /* the padded-width layout yw, then its valid columns copied out */
        Scalar *xp = scratch(g, conv_pad_size(s), 1), *yw;
        int Pw, Wp;
        conv_pad(s, x, xp);
        conv_cols_init(&cc, s, xp);
        Pw = cc.Pw;
        Wp = cc.Wp;
        yw = scratch(g, (size_t)s->N * s->O, (size_t)Pw);
        ob.ctx = &cc;
        ob.pack = pack_pw;
        ob.rows = pw_rows;
        gemm_op(s->O, s->N * Pw, K, 1, &oa, &ob, 0, yw, Pw, Pw, (size_t)s->O * Pw);
        PAR_FOR(nt * P)
        for (t = 0; t < nt; t++) /* y[n, o, i, jo] = yw[n, o, i Wp + jo] + b[o] (+ z) */
            conv_out_plane(add, s, t, yw + (size_t)t * Pw, Wp, y);
    }
    arena_release(g->arena, mark);
}

/* ---------------------------------------------------------------- conv2d */

void op_conv2d_forward(Graph *g, Var *out)
{
    ConvShape s = conv_geom(out);
    ConvAdd add = {0};
    add.b = out->in[2] ? out->in[2]->val.data : NULL;
    add.z = out->in[3] ? out->in[3]->val.data : NULL;
    add.z_full = out->in[3] && out->in[3]->val.n == out->val.n;
    conv_forward_gemm(g, &s, out->in[0]->val.data, out->in[1]->val.data, &add, out->val.data);
}

/* Runs of samples whose 1x1 weight gradients are summed apart (conv_dw_1x1). */
#define DW_1X1_PARTS 4

/* dw [O, C] += dy [O, N P] x^T [N P, C] for a 1x1 conv: the depth N P is long and O and C
 * short (C often one register tile wide), so one gemm split its output over O's tiles and
 * each thread packed all of x (the transposed copy is most of the work): 2 threads took
 * about as long as one.  Instead the batch is cut
 * into min(N, DW_1X1_PARTS) runs of samples, each a serial gemm into its own partial, and
 * the partials are added in run order: the cut depends on N only, so 1 and T threads give
 * the same bits. */
static void conv_dw_1x1(Graph *g, const ConvShape *s, const Scalar *x, const Scalar *dy, Scalar *dw)
{
    const int P = s->Ho * s->Wo, np = s->N < DW_1X1_PARTS ? s->N : DW_1X1_PARTS;
    const size_t ws = (size_t)s->O * s->C;
    Scalar *part = scratch(g, ws, (size_t)np);
    long p, i;
    PAR_FOR((long)s->N * P * (long)ws)
    for (p = 0; p < np; p++) {
        const int n0 = (int)((long)s->N * p / np), n1 = (int)((long)s->N * (p + 1) / np);
        GemmView vd = conv_view(dy + (size_t)n0 * s->O * P, P, P, (size_t)s->O * P, 0);
        GemmView vx = conv_view(x + (size_t)n0 * s->C * P, P, P, (size_t)s->C * P, 0);
        GemmOperand oa = {0}, ob = {0};
        oa.pack = ob.pack = gemm_pack_view;
        oa.ctx = &vd;
        ob.ctx = &vx;
        gemm_op(s->O, s->C, (n1 - n0) * P, 1, &oa, &ob, 0, part + (size_t)p * ws, s->C, s->C, 0);
    }
    PAR_FOR((long)ws * np)
    for (i = 0; i < (long)ws; i++) {
        Scalar acc = part[i];
        int q;
        for (q = 1; q < np; q++) acc += part[(size_t)q * ws + (size_t)i];
        dw[i] += acc;
    }
}

/* Scalars of the dcols block one task of conv_dx_col2im forms (512 KB in float: 1 << 16 and
 * 1 << 18 measured within a few per cent of it on the two stride-2 layers of unet-s). */
#define DX_COLS_TASK ((size_t)1 << 17)

/* dxt [N, C, H, W] = the input gradient of any conv by columns: for each run of m samples,
 * dcols [K, m P] = W^T [K, O] dy [O, m P], then dxt = col2im(dcols).  The runs are the
 * parallel tasks, each a serial gemm into its thread's scratch and its col2im while that
 * block is still in cache: with whole-batch chunks (8 MB of dcols, the gemm threaded over
 * its tiles) the col2im of a stride-2 unet-s layer read every dcols element back from
 * memory.  m comes from the shapes only, and a gemm's sums do not depend on how many
 * columns it is given, so the bits do not depend on the thread count. */
static void conv_dx_col2im(Graph *g, const ConvShape *s, const Scalar *w, const Scalar *dy,
                           Scalar *dxt)
{
    const int P = s->Ho * s->Wo, K = s->C * s->kh * s->kw;
    const size_t per = (size_t)K * P, plane = (size_t)s->C * s->H * s->W;
    const int m = per >= DX_COLS_TASK ? 1 : (int)(DX_COLS_TASK / per);
    const long ntask = (s->N + m - 1) / m;
    /* a task's dcols, then the gap between threads (PAR_SPAN) */
    const size_t span = PAR_SPAN(per * (size_t)(m < s->N ? m : s->N), sizeof(Scalar));
    int nthr = plat_threads();
    Scalar *cols;
    long t;
    if (nthr > ntask) nthr = (int)ntask;
    cols = scratch(g, span, (size_t)nthr);
    PAR_FOR((long)s->N * (long)per * s->O)
    for (t = 0; t < ntask; t++) {
        const int n0 = (int)(t * m), mm = s->N - n0 < m ? s->N - n0 : m;
        const int me = ntask == nthr ? (int)t : plat_thread_num();
        Scalar *c = cols + (size_t)me * span;
        GemmView vw = conv_view(w, K, K, 0, 1);
        GemmView vd = conv_view(dy + (size_t)n0 * s->O * P, P, P, (size_t)s->O * P, 1);
        GemmOperand oa = {0}, ob = {0};
        CHECK(me < nthr, "conv2d: dx scratch %d of %d", me, nthr);
        oa.pack = ob.pack = gemm_pack_view;
        oa.ctx = &vw;
        ob.ctx = &vd;
        gemm_op(K, mm * P, s->O, 1, &oa, &ob, 0, c, mm * P, mm * P, 0);
        col2im(s, c, mm, dxt + (size_t)n0 * plane);
    }
}

/* dxt [N, C, H, W] = the input gradient of a stride-1 conv, as the conv of dy with the
 * flipped, transposed kernel (see the header): on the Winograd path U is made from w
 * itself, flipped as it is read; otherwise the flipped kernel wt is formed in scratch. */
static void conv_dx_transposed(Graph *g, const ConvShape *s, const Scalar *w, const Scalar *dy,
                               Scalar *dxt)
{
    ConvShape t =
        conv_shape_make(s->N, s->O, s->Ho, s->Wo, s->C, s->kh, s->kw, 1, s->kh - 1 - s->pad);
    Scalar *wt;
    long c;
    if (conv_wino_use(&t)) {
        conv_wino_run(g, &t, dy, w, 1, NULL, dxt);
        return;
    }
    wt = scratch(g, (size_t)s->O, (size_t)s->C * s->kh * s->kw);
    PAR_FOR((long)s->C * s->O * s->kh * s->kw)
    for (c = 0; c < s->C; c++) { /* wt[c, o, a, b] = w[o, c, kh-1-a, kw-1-b] */
        int o, a, bb;
        for (o = 0; o < s->O; o++)
            for (a = 0; a < s->kh; a++)
                for (bb = 0; bb < s->kw; bb++)
                    wt[(((size_t)c * s->O + o) * s->kh + a) * s->kw + bb] =
                        w[(((size_t)o * s->C + c) * s->kh + (s->kh - 1 - a)) * s->kw +
                          (s->kw - 1 - bb)];
    }
    conv_forward_gemm(g, &t, dy, wt, NULL, dxt);
}

void op_conv2d_backward(Graph *g, Var *out)
{
    ConvShape s = conv_geom(out);
    Var *xv = out->in[0], *wv = out->in[1], *bv = out->in[2];
    const Scalar *x = xv->val.data, *w = wv->val.data, *dy = out->grad;
    const int P = s.Ho * s.Wo, K = s.C * s.kh * s.kw;
    const size_t plane = (size_t)s.C * s.H * s.W;
    const int need_x = ag_needs(out, 0), need_w = ag_needs(out, 1);
    /* the Winograd dW reads dy a chunk at a time and sums its planes while it is in cache */
    const int wino_dw = need_w && conv_dw_wino_use(&s);
    Var *zv = out->in[3];
    const int z_plane = zv && zv->val.n != out->val.n; /* z [N, O, 1, 1] */
    const long nq = (long)s.N * s.O;
    /* gradients first: ag_grad may allocate them, and they must outlive the scratch */
    Scalar *db = bv && ag_needs(out, 2) ? ag_grad(g, bv) : NULL;
    Scalar *dz = z_plane && ag_needs(out, 3) ? ag_grad(g, zv) : NULL;
    int dx_fresh = 0;
    Scalar *dx = need_x ? ag_grad_fresh(g, xv, &dx_fresh) : NULL;
    Scalar *dw = need_w ? ag_grad(g, wv) : NULL;
    ArenaMark outer = arena_mark(g->arena);
    /* db[o] += sum_{n, p} dy[n, o, p] and dz[n, o] += sum_p dy[n, o, p], from per-plane sums
     * (sum_lanes): planes in parallel here, or by the Winograd dW */
    double *sums =
        db || dz ? (double *)arena_alloc(g->arena, size_mul((size_t)nq, sizeof(double))) : NULL;
    long t;
    if (sums && !wino_dw) {
        PAR_FOR((long)out->val.n)
        for (t = 0; t < nq; t++) sums[t] = sum_lanes(dy + (size_t)t * P, (size_t)P);
    }
    if (need_x || need_w) {
        ArenaMark mark = arena_mark(g->arena);
        /* dy [N, O, P] as the blocked matrix [O, N P]: rows o (depth for dx) */
        GemmView vdy = conv_view(dy, P, P, (size_t)s.O * P, 0);
        GemmOperand oa = {0}, ob = {0}; /* panels NULL: packed here */
        if (wino_dw) {
            conv_wino_dw(g->arena, &s, x, dy, dw, NULL, sums);
        } else if (dw && conv_dw_direct_fits(&s)) {
            conv_dw_direct(g, &s, x, dy, dw);
        } else if (dw && conv_dw_grid_fits(&s)) {
            conv_dw_grid(g, &s, x, dy, dw);
        } else if (dw && conv_is_1x1(&s)) {
            conv_dw_1x1(g, &s, x, dy, dw);
        } else if (dw && s.C >= NHWC_MIN_C) {
            conv_dw_nhwc(g, &s, x, dy, dw);
        } else if (dw) { /* dwt [O, K] = dyw [O, N Pw] cols^T [N Pw, K]; dw += dwt */
            Scalar *dwt = scratch(g, (size_t)s.O, (size_t)K);
            Scalar *xp = scratch(g, conv_pad_size(&s), 1), *dyw;
            GemmView vdw;
            ConvCols cc;
            conv_pad(&s, x, xp);
            conv_cols_init(&cc, &s, xp);
            /* the padded-width layout: dy widened with zero columns */
            dyw = scratch(g, (size_t)s.N * s.O, (size_t)cc.Pw);
            pw_widen(&s, cc.Wp, dy, dyw);
            vdw = conv_view(dyw, cc.Pw, cc.Pw, (size_t)s.O * cc.Pw, 0);
            oa.pack = gemm_pack_view;
            oa.ctx = &vdw;
            ob.ctx = &cc;
            ob.pack = pack_pw_t;
            gemm_op(s.O, K, s.N * cc.Pw, 1, &oa, &ob, 0, dwt, K, K, 0);
            add_into(dw, dwt, (size_t)s.O * K);
        }
        if (dx) {
            /* every path below writes all of dxt: straight into a fresh dx */
            Scalar *dxt = dx_fresh ? dx : scratch(g, plane, (size_t)s.N);
            if (conv_is_1x1(&s)) { /* dx [C, N P] = W^T [C, O] dy [O, N P] */
                GemmView vw = conv_view(w, s.C, s.C, 0, 1), vd = vdy;
                vd.depth_rows = 1;
                oa.pack = ob.pack = gemm_pack_view;
                ob.rows = gemm_view_rows;
                oa.ctx = &vw;
                ob.ctx = &vd;
                gemm_op(s.C, s.N * P, s.O, 1, &oa, &ob, 0, dxt, P, P, plane);
            } else if (s.stride == 1 && s.kh == s.kw && s.pad <= s.kh - 1) {
                conv_dx_transposed(g, &s, w, dy, dxt);
            } else {
                conv_dx_col2im(g, &s, w, dy, dxt);
            }
            if (!dx_fresh) add_into(dx, dxt, (size_t)s.N * plane);
        }
        arena_release(g->arena, mark);
    }
    if (sums) {
        if (db) conv_db_add(sums, s.N, s.O, db);
        if (dz)
            for (t = 0; t < nq; t++) dz[t] += (Scalar)sums[t];
    }
    arena_release(g->arena, outer);
    /* a residual z [N, O, Ho, Wo]: dz = dy, last (x may be z), as an add's backward gives
     * it: dy's buffer taken over when z has no gradient yet, else added */
    if (zv && !z_plane && ag_needs(out, 3) && !ag_grad_take(out, zv)) {
        int fz = 0;
        Scalar *dzf = ag_grad_fresh(g, zv, &fz);
        PAR_FOR((long)out->val.n)
        for (t = 0; t < (long)out->val.n; t++) dzf[t] = (fz ? (Scalar)0 : dzf[t]) + dy[t];
    }
}

Var *ag_conv2d(Graph *g, Var *x, Var *w, Var *b, int stride, int pad)
{
    return ag_conv2d_add(g, x, w, b, NULL, stride, pad);
}

Var *ag_conv2d_add(Graph *g, Var *x, Var *w, Var *b, Var *z, int stride, int pad)
{
    const Tensor *xt = &x->val, *wt = &w->val;
    ConvShape s;
    int shape[4];
    Var *out, *ins[AG_MAX_IN] = {0};
    if (xt->ndim != 4) ag_shape_error("conv2d", xt, wt, "x must be [N, C, H, W]");
    if (wt->ndim != 4) ag_shape_error("conv2d", xt, wt, "w must be [O, C, kh, kw]");
    if (wt->shape[1] != xt->shape[1])
        ag_shape_error("conv2d", xt, wt, "channels of x and w differ");
    if (b && (b->val.ndim != 1 || b->val.shape[0] != wt->shape[0]))
        ag_shape_error("conv2d", wt, &b->val, "bias must be [O]");
    s = conv_shape_make(xt->shape[0], xt->shape[1], xt->shape[2], xt->shape[3], wt->shape[0],
                        wt->shape[2], wt->shape[3], stride, pad);
    shape[0] = s.N;
    shape[1] = s.O;
    shape[2] = s.Ho;
    shape[3] = s.Wo;
    if (z) {
        const Tensor *zt = &z->val;
        const int full = zt->ndim == 4 && zt->shape[2] == s.Ho && zt->shape[3] == s.Wo;
        const int per = zt->ndim == 4 && zt->shape[2] == 1 && zt->shape[3] == 1;
        if (zt->ndim != 4 || zt->shape[0] != s.N || zt->shape[1] != s.O || !(full || per))
            ag_shape_error("conv2d", wt, zt, "z must be [N, O, 1, 1] or [N, O, Ho, Wo]");
    }
    ins[0] = x;
    ins[1] = w;
    ins[2] = b;
    ins[3] = z;
    out = ag_node_in(g, OP_CONV2D, 4, shape, ins);
    out->ip[0] = stride;
    out->ip[1] = pad;
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- upsample2 */

void op_upsample2_forward(Graph *g, Var *out)
{
    const Tensor *xt = &out->in[0]->val;
    const Scalar *x = xt->data;
    Scalar *y = out->val.data;
    const int H = xt->shape[2], W = xt->shape[3];
    long t, planes = (long)xt->shape[0] * xt->shape[1];
    (void)g;
    PAR_FOR((long)out->val.n)
    for (t = 0; t < planes; t++) { /* y[2i + a, 2j + b] = x[i, j] */
        const Scalar *xp = x + (size_t)t * H * W;
        Scalar *yp = y + (size_t)t * 4 * H * W;
        int i, j;
        for (i = 0; i < H; i++) {
            Scalar *r0 = yp + (size_t)(2 * i) * 2 * W, *r1 = r0 + 2 * W;
            for (j = 0; j < W; j++) {
                Scalar v = xp[(size_t)i * W + j];
                r0[2 * j] = r0[2 * j + 1] = r1[2 * j] = r1[2 * j + 1] = v;
            }
        }
    }
}

void op_upsample2_backward(Graph *g, Var *out)
{
    const Tensor *xt = &out->in[0]->val;
    const Scalar *dy = out->grad;
    Scalar *dx;
    const int H = xt->shape[2], W = xt->shape[3];
    long t, planes = (long)xt->shape[0] * xt->shape[1];
    if (!ag_needs(out, 0)) return;
    dx = ag_grad(g, out->in[0]);
    PAR_FOR((long)out->val.n)
    for (t = 0; t < planes; t++) { /* dx[i, j] += sum of dy over the 2x2 block */
        Scalar *dp = dx + (size_t)t * H * W;
        const Scalar *yp = dy + (size_t)t * 4 * H * W;
        int i, j;
        for (i = 0; i < H; i++) {
            const Scalar *r0 = yp + (size_t)(2 * i) * 2 * W, *r1 = r0 + 2 * W;
            for (j = 0; j < W; j++)
                dp[(size_t)i * W + j] += (r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1]);
        }
    }
}

Var *ag_upsample2(Graph *g, Var *x)
{
    int shape[4];
    Var *out;
    if (x->val.ndim != 4) ag_shape_error("upsample2", &x->val, NULL, "x must be [N, C, H, W]");
    shape[0] = x->val.shape[0];
    shape[1] = x->val.shape[1];
    shape[2] = 2 * x->val.shape[2];
    shape[3] = 2 * x->val.shape[3];
    out = ag_node(g, OP_UPSAMPLE2, 4, shape, x, NULL, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- maxpool2 */

/* out->saved: one byte per output element, the argmax 0..3 in its 2x2 window
 * (row-major: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right). */

void op_maxpool2_forward(Graph *g, Var *out)
{
    const Tensor *xt = &out->in[0]->val;
    const Scalar *x = xt->data;
    Scalar *y = out->val.data;
    unsigned char *arg;
    const int H = xt->shape[2], W = xt->shape[3], Ho = H / 2, Wo = W / 2;
    long t, planes = (long)xt->shape[0] * xt->shape[1];
    arg = (unsigned char *)ag_saved(g, out, out->val.n);
    PAR_FOR((long)xt->n)
    for (t = 0; t < planes; t++) {
        const Scalar *xp = x + (size_t)t * H * W;
        size_t o = (size_t)t * Ho * Wo;
        int i, j;
        for (i = 0; i < Ho; i++) {
            const Scalar *r0 = xp + (size_t)(2 * i) * W, *r1 = r0 + W;
            Scalar *yo = y + o;
            unsigned char *ao = arg + o;
            /* the first max of the window (a b / c d) wins ties: the better of each row
             * pair with strict >, then the lower row unless the upper is strictly larger.
             * Selects, not branches (the data of a ReLU mispredicts), so that it vectorises. */
            for (j = 0; j < Wo; j++) {
                Scalar a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
                Scalar m0 = b > a ? b : a, m1 = d > c ? d : c;
                int k0 = b > a ? 1 : 0, k1 = d > c ? 3 : 2, up = m1 > m0;
                yo[j] = up ? m1 : m0;
                ao[j] = (unsigned char)(up ? k1 : k0);
            }
            o += (size_t)Wo;
        }
    }
}

void op_maxpool2_backward(Graph *g, Var *out)
{
    const Tensor *xt = &out->in[0]->val;
    const Scalar *dy = out->grad;
    const unsigned char *arg = (const unsigned char *)out->saved;
    Scalar *dx;
    const int H = xt->shape[2], W = xt->shape[3], Ho = H / 2, Wo = W / 2;
    long t, planes = (long)xt->shape[0] * xt->shape[1];
    if (!ag_needs(out, 0)) return;
    dx = ag_grad(g, out->in[0]);
    PAR_FOR((long)xt->n)
    for (t = 0; t < planes; t++) { /* dx[argmax of the window] += dy */
        Scalar *dp = dx + (size_t)t * H * W;
        size_t o = (size_t)t * Ho * Wo;
        int i, j;
        for (i = 0; i < Ho; i++)
            for (j = 0; j < Wo; j++, o++) {
                int a = arg[o];
                dp[(size_t)(2 * i + a / 2) * W + 2 * j + a % 2] += dy[o];
            }
    }
}

Var *ag_maxpool2(Graph *g, Var *x)
{
    int shape[4];
    Var *out;
    if (x->val.ndim != 4) ag_shape_error("maxpool2", &x->val, NULL, "x must be [N, C, H, W]");
    if (x->val.shape[2] % 2 || x->val.shape[3] % 2)
        ag_shape_error("maxpool2", &x->val, NULL, "H and W must be even");
    shape[0] = x->val.shape[0];
    shape[1] = x->val.shape[1];
    shape[2] = x->val.shape[2] / 2;
    shape[3] = x->val.shape[3] / 2;
    out = ag_node(g, OP_MAXPOOL2, 4, shape, x, NULL, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- gradient checks */

#include "gradcheck.h"

/* x [N, C, H, W] ~ N(0, 0.1^2), w [O, C, k, k] and bias [O] ~ N(0, 0.005^2), so |y| ~ 0.003.
 * conv2d is linear in each input, so the central difference has no truncation error: its
 * only error is the rounding of L = sum(y r) over a few hundred terms, divided by 2h.
 * Small outputs keep that rounding far below 1e-6 of dx (~ |w|) and dw (~ |x|). */
static Var *gc_conv(Graph *g, Rng *r, int N, int C, int H, int O, int k, int stride, int pad,
                    int bias)
{
    int xs[4], ws[4], bs[1];
    Var *x, *w, *b = NULL;
    xs[0] = N;
    xs[1] = C;
    xs[2] = H;
    xs[3] = H;
    ws[0] = O;
    ws[1] = C;
    ws[2] = k;
    ws[3] = k;
    bs[0] = O;
    x = gc_normal(g, r, 4, xs, 0.1, 0.0, 1, "x");
    w = gc_normal(g, r, 4, ws, 0.005, 0.0, 1, "w");
    if (bias) b = gc_normal(g, r, 1, bs, 0.005, 0.0, 1, "b");
    return ag_conv2d(g, x, w, b, stride, pad);
}

static Var *gc_conv3_s1(Graph *g, Rng *r) { return gc_conv(g, r, 2, 3, 5, 4, 3, 1, 1, 1); }
static Var *gc_conv3_s1_nob(Graph *g, Rng *r) { return gc_conv(g, r, 2, 3, 7, 4, 3, 1, 1, 0); }
static Var *gc_conv3_s2(Graph *g, Rng *r) { return gc_conv(g, r, 2, 3, 7, 4, 3, 2, 1, 1); }
static Var *gc_conv3_s2_even(Graph *g, Rng *r) { return gc_conv(g, r, 2, 3, 6, 4, 3, 2, 1, 0); }
static Var *gc_conv1_batched(Graph *g, Rng *r) { return gc_conv(g, r, 2, 3, 5, 4, 1, 1, 0, 1); }
static Var *gc_conv1_direct(Graph *g, Rng *r) { return gc_conv(g, r, 1, 3, 5, 4, 1, 1, 0, 1); }
static Var *gc_conv1_direct_nob(Graph *g, Rng *r) { return gc_conv(g, r, 2, 3, 16, 4, 1, 1, 0, 0); }
static Var *gc_conv5_p2(Graph *g, Rng *r) { return gc_conv(g, r, 2, 3, 5, 4, 5, 1, 2, 1); }
static Var *gc_conv3_o1(Graph *g, Rng *r) { return gc_conv(g, r, 2, 4, 5, 1, 3, 1, 1, 1); }
static Var *gc_conv3_c1(Graph *g, Rng *r) { return gc_conv(g, r, 2, 1, 6, 3, 3, 1, 1, 0); }
/* C, O >= 16: y and dx through Winograd (conv_wino.h), when it is switched on */
static Var *gc_conv3_wino(Graph *g, Rng *r) { return gc_conv(g, r, 2, 16, 6, 16, 3, 1, 1, 1); }
static Var *gc_conv3_wino_odd(Graph *g, Rng *r) { return gc_conv(g, r, 1, 16, 5, 17, 3, 1, 1, 0); }

/* ag_conv2d_add: x, w, b as gc_conv, and z ~ N(0, 0.005^2) added to y: kind 1 per plane
 * [N, O, 1, 1], 2 full [N, O, Ho, Wo], 3 full through an op (z = z0 / 2: the conv takes
 * dy over as z's gradient), 4 the conv's own input through an op (h = x / 2, y = conv(h)
 * + h: dz added after dx; C = O, same size). */
static Var *gc_conv_z(Graph *g, Rng *r, int N, int C, int H, int O, int k, int stride, int pad,
                      int kind)
{
    const int Ho = (H + 2 * pad - k) / stride + 1;
    int xs[4], ws[4], bs[1], zs[4];
    Var *x, *w, *b, *z;
    xs[0] = zs[0] = N;
    xs[1] = C;
    xs[2] = xs[3] = H;
    ws[0] = bs[0] = zs[1] = O;
    ws[1] = C;
    ws[2] = ws[3] = k;
    zs[2] = zs[3] = kind == 1 ? 1 : Ho;
    x = gc_normal(g, r, 4, xs, 0.1, 0.0, 1, "x");
    w = gc_normal(g, r, 4, ws, 0.005, 0.0, 1, "w");
    b = gc_normal(g, r, 1, bs, 0.005, 0.0, 1, "b");
    if (kind == 4) {
        x = ag_scale(g, x, (Scalar)0.5);
        return ag_conv2d_add(g, x, w, b, x, stride, pad);
    }
    z = gc_normal(g, r, 4, zs, 0.005, 0.0, 1, "z");
    if (kind == 3) z = ag_scale(g, z, (Scalar)0.5);
    return ag_conv2d_add(g, x, w, b, z, stride, pad);
}

static Var *gc_conv3_zplane(Graph *g, Rng *r) { return gc_conv_z(g, r, 2, 3, 5, 4, 3, 1, 1, 1); }
static Var *gc_conv3_wino_zplane(Graph *g, Rng *r)
{
    return gc_conv_z(g, r, 2, 16, 6, 16, 3, 1, 1, 1);
}
static Var *gc_conv3_s2_zfull(Graph *g, Rng *r) { return gc_conv_z(g, r, 2, 3, 7, 4, 3, 2, 1, 2); }
static Var *gc_conv1_zfull_op(Graph *g, Rng *r) { return gc_conv_z(g, r, 2, 3, 5, 4, 1, 1, 0, 3); }
static Var *gc_conv3_wino_zself(Graph *g, Rng *r)
{
    return gc_conv_z(g, r, 2, 16, 6, 16, 3, 1, 1, 4);
}

/* x through an op first (h = x / 2), so that conv2d's backward finds dh not yet allocated
 * and writes it in place (ag_grad_fresh); with `twice` a second conv2d reads h as well,
 * and the first one's backward (run second) must add to dh instead. */
static Var *gc_conv_on_op(Graph *g, Rng *r, int N, int C, int H, int O, int k, int stride,
                          int twice)
{
    int xs[4], ws[4];
    Var *x, *h, *y;
    xs[0] = N;
    xs[1] = C;
    xs[2] = xs[3] = H;
    ws[0] = O;
    ws[1] = C;
    ws[2] = ws[3] = k;
    x = gc_normal(g, r, 4, xs, 0.1, 0.0, 1, "x");
    h = ag_scale(g, x, (Scalar)0.5);
    y = ag_conv2d(g, h, gc_normal(g, r, 4, ws, 0.005, 0.0, 1, "w"), NULL, stride, k / 2);
    if (twice) {
        Var *w2 = gc_normal(g, r, 4, ws, 0.005, 0.0, 1, "w2");
        y = ag_add(g, y, ag_conv2d(g, h, w2, NULL, stride, k / 2));
    }
    return y;
}

static Var *gc_conv3_on_op(Graph *g, Rng *r) { return gc_conv_on_op(g, r, 2, 3, 5, 4, 3, 1, 0); }
static Var *gc_conv3_s2_on_op(Graph *g, Rng *r) { return gc_conv_on_op(g, r, 2, 3, 7, 4, 3, 2, 0); }
static Var *gc_conv1_on_op(Graph *g, Rng *r) { return gc_conv_on_op(g, r, 2, 3, 5, 4, 1, 1, 0); }
static Var *gc_conv3_wino_on_op_twice(Graph *g, Rng *r)
{
    return gc_conv_on_op(g, r, 2, 16, 6, 16, 3, 1, 1);
}

static Var *gc_upsample(Graph *g, Rng *r)
{
    static const int s[4] = {2, 3, 3, 5};
    return ag_upsample2(g, gc_normal(g, r, 4, s, 0.1, 0.0, 1, "x")); /* small y: small rounding */
}

/* Values 0.025 apart in a random order: no ties, no kink within the FD step (1e-6 in the
 * double build, 1e-2 in the float build). */
static Var *gc_maxpool(Graph *g, Rng *r)
{
    static const int s[4] = {2, 3, 4, 6};
    int idx[144], i;
    Var *x = ag_new(g, 4, s, 1, "x");
    for (i = 0; i < 144; i++) idx[i] = i;
    rng_shuffle(r, idx, 144);
    for (i = 0; i < 144; i++) x->val.data[i] = (Scalar)(0.025 * (idx[i] - 72));
    return ag_maxpool2(g, x);
}

const GradCase gc_conv_cases[] = {
    {OP_CONV2D, "3x3 s1 p1 N2 C3 5x5 O4, bias", gc_conv3_s1},
    {OP_CONV2D, "3x3 s1 p1 N2 C3 7x7 O4, no bias", gc_conv3_s1_nob},
    {OP_CONV2D, "3x3 s2 p1 N2 C3 7x7 O4, bias", gc_conv3_s2},
    {OP_CONV2D, "3x3 s2 p1 N2 C3 6x6 O4, no bias", gc_conv3_s2_even},
    {OP_CONV2D, "1x1 N2 C3 5x5 O4 (batched), bias", gc_conv1_batched},
    {OP_CONV2D, "1x1 N1 C3 5x5 O4 (direct), bias", gc_conv1_direct},
    {OP_CONV2D, "1x1 N2 C3 16x16 (direct), no bias", gc_conv1_direct_nob},
    {OP_CONV2D, "5x5 s1 p2 N2 C3 5x5 O4, bias", gc_conv5_p2},
    {OP_CONV2D, "3x3 s1 p1 N2 C4 5x5 O1 (summed directly), bias", gc_conv3_o1},
    {OP_CONV2D, "3x3 s1 p1 N2 C1 6x6 O3 (dx summed directly), no bias", gc_conv3_c1},
    {OP_CONV2D, "3x3 s1 p1 N2 C16 6x6 O16, bias", gc_conv3_wino},
    {OP_CONV2D, "3x3 s1 p1 N1 C16 5x5 O17, no bias", gc_conv3_wino_odd},
    {OP_CONV2D, "3x3 s1 on an op (dx written fresh)", gc_conv3_on_op},
    {OP_CONV2D, "3x3 s2 on an op (dx written fresh)", gc_conv3_s2_on_op},
    {OP_CONV2D, "1x1 on an op (dx written fresh)", gc_conv1_on_op},
    {OP_CONV2D, "3x3 C16 on an op read by two convs", gc_conv3_wino_on_op_twice},
    {OP_CONV2D, "3x3 s1 C3 O4 + z per plane, bias", gc_conv3_zplane},
    {OP_CONV2D, "3x3 C16 O16 + z per plane (Winograd dW's sums)", gc_conv3_wino_zplane},
    {OP_CONV2D, "3x3 s2 C3 O4 + z full, bias", gc_conv3_s2_zfull},
    {OP_CONV2D, "1x1 + z full through an op (dy taken over)", gc_conv1_zfull_op},
    {OP_CONV2D, "3x3 C16 + its own input (dz after dx)", gc_conv3_wino_zself},
    {OP_UPSAMPLE2, "N2 C3 3x5", gc_upsample},
    {OP_MAXPOOL2, "N2 C3 4x6, permutation", gc_maxpool},
    {OP_LEAF, NULL, NULL},
};
