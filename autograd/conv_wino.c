/* conv_wino.c - Winograd F(2x2, 3x3) forward of a 3x3 stride-1 pad-1 conv (see conv_wino.h).
 *
 * Slots: tile row (n, ti) of the batch has ns slots, its tiles j < tw and, on images at
 * least WINO_SPARE_TW tiles wide, a spare after them; slot (n th + ti) ns + j.  A block is
 * a run of consecutive slots, a multiple of 32 long (the gemm's panel width) but for the
 * batch's last, at most T (blocks may cut tile rows).  The block's input rows are split by
 * row parity into buffers (wino_split, WinoSplit) where patch column k of every slot lies
 * at the slot's own index plus a fixed offset, so the transforms are flat loops over slots
 * with unit stride: with the spare, two buffers (even and odd columns) whose columns 2 and
 * 3 are those of the next slot (the spare's patch reads past the tile row; its outputs are
 * never copied out); without it, four buffers, one per patch column.  The spare costs
 * 1 / (tw + 1) of the gemm and transform work, the four buffers twice the split's writes:
 * measured in one process against the spare everywhere (batch 64, 2 threads, Zen 4), the
 * forward without it was 1.08-1.17x as fast at 7x7 (a fifth of the slots were spares)
 * and 1.02-1.08x at 14x14, but 0.92-0.97x at 28x28 (a fifteenth), which keeps it.  Layout
 * of one block:
 *   U [16, C, O]   transformed weights, k = 4 a + b the position in the 4x4 tile, stored
 *                  as the gemm's A panels ([O / MR][C][MR], zero rows past O)
 *   split          the block's input rows split as above, every channel
 *   V [4, C, T]    transformed input for k = 4 a .. 4 a + 3 (one row a of B^T d B), stored
 *                  as the gemm's B panels ([T / NR][C][NR]), so the gemm reads U and V in
 *                  place (GemmPanels, any depth block) instead of copying them (the copy
 *                  was 4-6 % of a training step; writing the panels costs about 1.5 %
 *                  more than writing plain rows)
 *   M [16, O, T]   the 16 products M_k = U_k^T V_k
 * A block splits its input once, then for a = 0 .. 3 transforms row a into V and runs its
 * 4 gemms while V is still in cache, then transforms M into y.  T comes from the shapes
 * (the block's scratch, 8 C + 16 O per slot, within WINO_BLOCK_SCALARS) and the thread
 * count (the blocks shared out evenly), and no tile's arithmetic depends on T or on where a
 * block starts, so the bits do not depend on the thread count. */
#include "conv_wino.h"

#include <stdlib.h>
#include <string.h>

#include "../tensor/gemm.h"
#include "../tensor/parallel.h"
#include "../tensor/platform.h"
#include "ops_internal.h"

/* Scalars that a block's scratch may take: T = this / (8 C + 16 O) slots, rounded down to
 * a multiple of 32 (a gemm panel width), and at least WINO_BLOCK_MIN.  2 MB in float: more
 * than a Zen 4 L2 (1 MB), but L2-sized blocks measured 2-10 % slower (fewer gemm columns). */
#ifndef WINO_BLOCK_SCALARS
#define WINO_BLOCK_SCALARS ((size_t)1 << 19)
#endif
/* Tiles per row from which a tile row gets a spare slot (see the top of the file). */
#ifndef WINO_SPARE_TW
#define WINO_SPARE_TW 8
#endif
#ifndef WINO_BLOCK_MIN
#define WINO_BLOCK_MIN 64
#endif

/* ---------------------------------------------------------------- switch and rule */

static int wino_on = -1; /* -1: not read yet */

int conv_wino_enabled(void)
{
    if (wino_on < 0) {
        const char *e = getenv("CMAD_WINOGRAD");
        wino_on = !(e && e[0] == '0' && e[1] == '\0');
    }
    return wino_on;
}

int conv_wino_set_enabled(int on)
{
    int was = conv_wino_enabled();
    wino_on = on != 0;
    return was;
}

int conv_wino_fits(const ConvShape *s)
{
    return s->kh == 3 && s->kw == 3 && s->stride == 1 && s->pad == 1;
}

int conv_wino_use(const ConvShape *s)
{
    return conv_wino_enabled() && conv_wino_fits(s) && s->C >= 16 && s->O >= 16;
}

/* ---------------------------------------------------------------- geometry */

typedef struct WinoGeom {
    const ConvShape *s;
    int th, tw;    /* tile rows and tile columns per sample */
    int spare;     /* 1: each tile row ends in a spare slot (wide images), 0: none */
    int ns;        /* tw + spare: slots per tile row */
    long nslots;   /* slots of the batch, N th ns */
    long nblk;     /* blocks (wino_block_start) */
    long units;    /* runs of 32 slots, the last maybe short: nslots / 32 rounded up */
    int T;         /* slots of the largest block, a multiple of 32 (or nslots) */
    int R;         /* most tile rows a block touches, T / ns + 2 */
    size_t vs, ms; /* scalars between V_k and V_{k+1}, M_k and M_{k+1} (C T, O T) */
    int mr, nr;    /* the gemm's panel widths (gemm_tile_widths) */
} WinoGeom;

static void wino_geom(WinoGeom *g, const ConvShape *s, int nthr)
{
    size_t per = (size_t)8 * s->C + (size_t)16 * s->O, T = WINO_BLOCK_SCALARS / per / 32 * 32;
    long nblk, units;
    g->s = s;
    g->th = (s->Ho + 1) / 2;
    g->tw = (s->Wo + 1) / 2;
    g->spare = g->tw >= WINO_SPARE_TW;
    g->ns = g->tw + g->spare;
    g->nslots = (long)s->N * g->th * g->ns;
    if (T < WINO_BLOCK_MIN) T = WINO_BLOCK_MIN;
    /* as many blocks as that size needs, rounded up to a multiple of the threads, and the
     * slots shared out evenly in runs of 32 (wino_block_start): a small batch (CMAD trains
     * at 8) would otherwise leave one thread a short last block and the other the rest
     * (1344 + 336 slots for ctrl-s), and blocks of one rounded-up size gave the first
     * thread up to 12 % more slots than the second (the 14x14 layers at batch 16 and 32) */
    units = (g->nslots + 31) / 32;
    nblk = (g->nslots + (long)T - 1) / (long)T;
    if (nthr > 1) nblk = (nblk + nthr - 1) / nthr * nthr;
    if (nblk > units / (WINO_BLOCK_MIN / 32)) nblk = units / (WINO_BLOCK_MIN / 32);
    if (nblk < 1) nblk = 1;
    g->nblk = nblk;
    g->units = units;
    T = (size_t)((units + nblk - 1) / nblk) * 32; /* the largest block */
    if ((long)T > g->nslots) T = (size_t)g->nslots;
    g->T = (int)T;
    g->R = g->T / g->ns + 2;
    gemm_tile_widths(&g->mr, &g->nr);
    g->vs = (size_t)s->C * (size_t)((g->T + g->nr - 1) / g->nr * g->nr);
    g->ms = (size_t)s->O * g->T;
}

/* The first slot of block b (b = nblk: the end): whole runs of 32 slots, the blocks at
 * most one run apart in size, so a thread's consecutive blocks (a static schedule over a
 * multiple of the threads) hold as many slots as another's, to 32. */
static long wino_block_start(const WinoGeom *g, long b)
{
    long first = b * g->units / g->nblk * 32;
    return first < g->nslots ? first : g->nslots;
}

/* ---------------------------------------------------------------- transforms */

/* u_k = G w G^T for every (o, c), k = 4 a + b, stored as the gemm's A panels of width mr
 * (Mat[o][c], a GemmPanels of depth C): u[k ks + (o / mr) C mr + c mr + o % mr], ks = the panels'
 * size, the rows past O zero.  flip = 0: the kernel of (o, c) is w[o, c] (w [O, C, 3, 3]);
 * flip = 1: it is w[c, o] turned by 180 degrees (w [C, O, 3, 3]), the kernel of the
 * transposed conv that gives a conv's input gradient (op_conv.c), made here without a
 * flipped copy. */
static size_t wino_weights_ks(const ConvShape *s, int mr)
{
    return (size_t)s->C * (size_t)((s->O + mr - 1) / mr * mr);
}

static void wino_weights(const ConvShape *s, int mr, const Scalar *w, int flip, Scalar *u)
{
    const size_t ks = wino_weights_ks(s, mr);
    const int Op = (s->O + mr - 1) / mr * mr; /* rows of the panels, O rounded up */
    long o;
    /* parallel over o (each writes its own lanes): serial, this was 2.6 % of a CMAD
     * iteration on one thread and so about 5 % on two */
    PAR_FOR((long)16 * s->O * s->C)
    for (o = 0; o < Op; o++) {
        int c, i, j;
        if (o >= s->O) { /* the last panel's rows past O: zero */
            for (i = 0; i < 16; i++)
                for (c = 0; c < s->C; c++)
                    u[(size_t)i * ks + ((size_t)(o / mr) * s->C + c) * mr + o % mr] = 0;
            continue;
        }
        for (c = 0; c < s->C; c++) {
            const Scalar *src =
                flip ? w + ((size_t)c * s->O + o) * 9 : w + ((size_t)o * s->C + c) * 9;
            Scalar g[9], t[4][3], r[4][4];
            for (i = 0; i < 9; i++) g[i] = src[flip ? 8 - i : i];
            for (j = 0; j < 3; j++) { /* t = G g (4x3) */
                t[0][j] = g[j];
                t[1][j] = (Scalar)0.5 * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = (Scalar)0.5 * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (i = 0; i < 4; i++) { /* r = t G^T (4x4) */
                r[i][0] = t[i][0];
                r[i][1] = (Scalar)0.5 * (t[i][0] + t[i][1] + t[i][2]);
                r[i][2] = (Scalar)0.5 * (t[i][0] - t[i][1] + t[i][2]);
                r[i][3] = t[i][2];
            }
            for (i = 0; i < 16; i++)
                u[(size_t)i * ks + ((size_t)(o / mr) * s->C + c) * mr + o % mr] = r[i / 4][i % 4];
        }
    }
}

size_t conv_wino_u_len(const ConvShape *s)
{
    int mr, nr;
    gemm_tile_widths(&mr, &nr);
    return size_mul((size_t)16, wino_weights_ks(s, mr));
}

void conv_wino_u(const ConvShape *s, const Scalar *w, int flip, Scalar *u)
{
    int mr, nr;
    gemm_tile_widths(&mr, &nr);
    wino_weights(s, mr, w, flip, u);
}

/* Row loops called with constant lengths (the widths of unet-s's images and of the gemm's
 * panels) are PLAT_INLINE: inlined, they become whole-vector and masked loops (gcc
 * otherwise keeps one copy with a variable length, whose 13- or 6-element runs went
 * scalar). */

/* The split rows of one chunk of tile rows (wino_split).  Patch row u of tile row ta + i is
 * padded row 2 (ta + i) + u: row i + u / 2 of the group of buffers of row parity u % 2,
 * which starts at sp + (u % 2) gs; in that group, patch column k of slot t (the slot's
 * index in the chunk) is at t + off_k, so that a transform reads four flat runs per patch
 * row.  Two layouts:
 *   spare: a group is two buffers, the even and the odd padded columns, rows of ns =
 *          tw + 1 (the last the spare slot's, which holds padded columns 2 tw, 2 tw + 1
 *          for the last tile's patch); off = (0, len, 1, len + 1), len = (r + 1) ns + 1
 *   no spare: a group is four buffers, buffer k holding patch column k of each tile,
 *          rows of tw; off = (0, len, 2 len, 3 len), len = (r + 1) tw
 * for a chunk of r tile rows. */
typedef struct WinoSplit {
    size_t len, gs, rs; /* one buffer, one group, one buffer row (ns) */
} WinoSplit;

static void wino_split_geom(const WinoGeom *g, int rows, WinoSplit *w)
{
    w->rs = (size_t)g->ns;
    w->len = (size_t)(rows + 1) * w->rs + (size_t)g->spare;
    w->gs = (g->spare ? 2 : 4) * w->len;
}

/* Scalars of the split rows of a block, all channels: chunk i of r_i tile rows takes two
 * groups (2 gs) per channel; the r_i add up to at most R, and there are at most R chunks. */
static size_t wino_split_len(const WinoGeom *g)
{
    const size_t R = (size_t)g->R, ns = (size_t)g->ns;
    return (size_t)g->s->C * (g->spare ? 4 * (2 * R * ns + R) : 16 * R * ns);
}

/* One input row x (W long, W = 2 tw or 2 tw - 1), spare layout: e[j], o[j] = padded
 * columns 2 j, 2 j + 1 (input columns 2 j - 1, 2 j; zero outside the image), j <= tw. */
PLAT_INLINE void wino_split_row2(const Scalar *x, int W, int tw, Scalar *restrict e,
                                 Scalar *restrict o)
{
    int j;
    e[0] = 0;
    o[0] = x[0];
    for (j = 1; j < tw; j++) {
        e[j] = x[2 * j - 1];
        o[j] = x[2 * j];
    }
    e[tw] = W == 2 * tw ? x[W - 1] : 0;
    o[tw] = 0;
}

/* The same row, no-spare layout: b0[j] .. b3[j] = padded columns 2 j .. 2 j + 3 (input
 * columns 2 j - 1 .. 2 j + 2), the patch columns of tile j, j < tw. */
PLAT_INLINE void wino_split_row4(const Scalar *x, int W, int tw, Scalar *restrict b0,
                                 Scalar *restrict b1, Scalar *restrict b2, Scalar *restrict b3)
{
    int j;
    b0[0] = 0;
    for (j = 1; j < tw; j++) b0[j] = x[2 * j - 1];
    for (j = 0; j < tw; j++) b1[j] = x[2 * j];
    for (j = 0; j < tw - 1; j++) {
        b2[j] = x[2 * j + 1];
        b3[j] = x[2 * j + 2];
    }
    b2[tw - 1] = W == 2 * tw ? x[W - 1] : 0;
    b3[tw - 1] = 0;
}

/* Tile rows ta .. tb - 1 of one sample read padded rows 2 ta .. 2 tb + 1 (padded row p,
 * column q hold input row p - 1, column q - 1; zero outside the image): each is read
 * once and written into its group (WinoSplit) at row i = its padded row / 2 - ta.
 * xc [H, W] is the input plane of this sample and channel. */
static void wino_split(const WinoGeom *g, const WinoSplit *w, int ta, int tb, const Scalar *xc,
                       Scalar *sp)
{
    const ConvShape *s = g->s;
    const int tw = g->tw, W = s->W, nr = tb - ta + 1;
    const size_t rs = w->rs;
    int pr, i, j, k;
    for (pr = 0; pr < 2; pr++) {
        Scalar *restrict gp = sp + (size_t)pr * w->gs;
        for (i = 0; i < nr; i++) {
            int row = 2 * (ta + i) + pr - 1; /* input row */
            Scalar *restrict b0 = gp + (size_t)i * rs, *restrict b1 = b0 + w->len;
            const Scalar *x;
            if (row < 0 || row >= s->H) {
                for (k = 0; k < (g->spare ? 2 : 4); k++)
                    for (j = 0; j < (int)rs; j++) b0[(size_t)k * w->len + j] = 0;
                continue;
            }
            x = xc + (size_t)row * W;
            if (g->spare) {
                if (W == 28 && tw == 14) /* unet-s's image sizes as constants */
                    wino_split_row2(x, 28, 14, b0, b1);
                else
                    wino_split_row2(x, W, tw, b0, b1);
            } else {
                Scalar *restrict b2 = b1 + w->len, *restrict b3 = b2 + w->len;
                if (W == 14 && tw == 7)
                    wino_split_row4(x, 14, 7, b0, b1, b2, b3);
                else if (W == 7 && tw == 4)
                    wino_split_row4(x, 7, 4, b0, b1, b2, b3);
                else
                    wino_split_row4(x, W, tw, b0, b1, b2, b3);
            }
        }
        if (g->spare) gp[(size_t)nr * rs] = gp[w->len + (size_t)nr * rs] = 0;
    }
}

/* One row of e = B^T d and the four v = e B it gives, for slots t = 0 .. T - 1:
 *   e_k[t] = p[off_k + t] + sign q[off_k + t],  k = 0 .. 3
 * (p, q two patch rows, their column k at off_k (WinoSplit; len: its buffer length); sign
 * is +-1, so that p + sign q is exactly p +- q), then v0..v3 = e0 - e2, e1 + e2, e2 - e1,
 * e1 - e3.  Slot t is block slot t0 + t, stored in the gemm's B panels of width nr:
 * vb[(t0 + t) / nr * C nr + (t0 + t) % nr] (vb already offset to its channel), so the
 * loop runs a panel's stretch at a time.  Four separate outputs: gcc vectorises the loop
 * over t (with 16 stores through one pointer it gives up on the aliasing checks). */
PLAT_INLINE void wino_in_run(const Scalar *p, const Scalar *q, size_t len, int spare, Scalar sign,
                             int n, Scalar *restrict v0, Scalar *restrict v1, Scalar *restrict v2,
                             Scalar *restrict v3)
{
    /* columns 1 .. 3; with the spare, 2 and 3 are 0 and 1 one slot on (a constant) */
    const Scalar *p1 = p + len, *p2 = spare ? p + 1 : p1 + len, *p3 = spare ? p1 + 1 : p2 + len;
    const Scalar *q1 = q + len, *q2 = spare ? q + 1 : q1 + len, *q3 = spare ? q1 + 1 : q2 + len;
    int t;
    for (t = 0; t < n; t++) {
        Scalar e0 = p[t] + sign * q[t], e1 = p1[t] + sign * q1[t];
        Scalar e2 = p2[t] + sign * q2[t], e3 = p3[t] + sign * q3[t];
        v0[t] = e0 - e2;
        v1[t] = e1 + e2;
        v2[t] = e2 - e1;
        v3[t] = e1 - e3;
    }
}

static void wino_in_row(const Scalar *p, const Scalar *q, size_t len, int spare, Scalar sign,
                        int t0, int T, int nr, int C, Scalar *v0, Scalar *v1, Scalar *v2,
                        Scalar *v3)
{
    int t = 0, w = t0 % nr;
    size_t at = (size_t)(t0 / nr) * C * nr + (size_t)w; /* of slot t0 + t */
    while (t < T) {
        const int n = nr - w < T - t ? nr - w : T - t;
        const Scalar *pt = p + t, *qt = q + t;
        if (n == 32 && spare) /* whole panels of the usual width: fixed-length loops */
            wino_in_run(pt, qt, len, 1, sign, 32, v0 + at, v1 + at, v2 + at, v3 + at);
        else if (n == 32)
            wino_in_run(pt, qt, len, 0, sign, 32, v0 + at, v1 + at, v2 + at, v3 + at);
        else if (spare)
            wino_in_run(pt, qt, len, 1, sign, n, v0 + at, v1 + at, v2 + at, v3 + at);
        else
            wino_in_run(pt, qt, len, 0, sign, n, v0 + at, v1 + at, v2 + at, v3 + at);
        t += n;
        at += (size_t)C * nr - (size_t)w; /* the next panel, lane 0 */
        w = 0;
    }
}

/* (B^T d B)[a][b], b = 0 .. 3, for the T slots t0 .. t0 + T - 1 of one chunk (block
 * slots bt .. bt + T - 1), one channel (sp: its wino_split groups), into V_b (stride vs)
 * at that channel of the B panels (v: V_0 + c nr).  Patch row u of slot t starts at
 * sp + (u % 2) gs + (u / 2) rs + t; row a of B^T combines the patch rows as r0 - r2,
 * r1 + r2, r2 - r1, r1 - r3 for a = 0 .. 3. */
static void wino_in(const WinoGeom *g, const WinoSplit *w, const Scalar *sp, int a, int t0, int T,
                    int bt, Scalar *v)
{
    const size_t vs = g->vs;
    const int nr = g->nr, C = g->s->C;
    const Scalar *r0 = sp + t0, *r1 = r0 + w->gs, *r2 = r0 + w->rs, *r3 = r1 + w->rs;
    Scalar *v1 = v + vs, *v2 = v + 2 * vs, *v3 = v + 3 * vs;
    if (a == 0) wino_in_row(r0, r2, w->len, g->spare, -1, bt, T, nr, C, v, v1, v2, v3);
    if (a == 1) wino_in_row(r1, r2, w->len, g->spare, 1, bt, T, nr, C, v, v1, v2, v3);
    if (a == 2) wino_in_row(r2, r1, w->len, g->spare, -1, bt, T, nr, C, v, v1, v2, v3);
    if (a == 3) wino_in_row(r1, r3, w->len, g->spare, -1, bt, T, nr, C, v, v1, v2, v3);
}

/* out[a][2 t + b] = (A^T m A)[a][b] for the T slots of the block, one output
 * channel, m[k][t] (k stride ms); out[a] is 2 T long. */
static void wino_out(const WinoGeom *g, const Scalar *m, int T, Scalar *restrict out)
{
    const size_t ms = g->ms, len = (size_t)2 * g->T;
    Scalar *o0 = out, *o1 = out + len;
    int t;
    for (t = 0; t < T; t++) { /* written out, as in wino_in */
        /* q = A^T m: row combinations (k = 4 row + column), column by column */
        Scalar p0 = m[0 * ms + t] + m[4 * ms + t] + m[8 * ms + t];
        Scalar p1 = m[1 * ms + t] + m[5 * ms + t] + m[9 * ms + t];
        Scalar p2 = m[2 * ms + t] + m[6 * ms + t] + m[10 * ms + t];
        Scalar p3 = m[3 * ms + t] + m[7 * ms + t] + m[11 * ms + t];
        Scalar q0 = m[4 * ms + t] - m[8 * ms + t] - m[12 * ms + t];
        Scalar q1 = m[5 * ms + t] - m[9 * ms + t] - m[13 * ms + t];
        Scalar q2 = m[6 * ms + t] - m[10 * ms + t] - m[14 * ms + t];
        Scalar q3 = m[7 * ms + t] - m[11 * ms + t] - m[15 * ms + t];
        /* A^T m A = q A */
        o0[2 * t] = p0 + p1 + p2;
        o0[2 * t + 1] = p1 - p2 - p3;
        o1[2 * t] = q0 + q1 + q2;
        o1[2 * t + 1] = q1 - q2 - q3;
    }
}

/* y's output rows i and (when two) i + 1 of one tile row, n columns from the block's out
 * rows (src, and src + olen for the second): y = A^T M A + b, then + z (ConvAdd): zmode 0
 * none, 1 the plane's zo, 2 the rows zr (zr[j], zr[Wo + j]). */
PLAT_INLINE void wino_y_rows(Scalar *restrict yo, int Wo, const Scalar *src, size_t olen, Scalar bo,
                             int zmode, Scalar zo, const Scalar *zr, int n, int two)
{
    int r, j;
    for (r = 0; r <= two; r++) {
        Scalar *restrict d = yo + (size_t)r * Wo;
        const Scalar *sr = src + (size_t)r * olen;
        if (zmode == 0)
            for (j = 0; j < n; j++) d[j] = sr[j] + bo;
        else if (zmode == 1)
            for (j = 0; j < n; j++) d[j] = (sr[j] + bo) + zo;
        else
            for (j = 0; j < n; j++) d[j] = (sr[j] + bo) + zr[(size_t)r * Wo + j];
    }
}

/* ---------------------------------------------------------------- gemm operands */

/* ---------------------------------------------------------------- one block */

/* Per-thread scratch of a block: V, M, the split input rows, the output rows. */
typedef struct WinoScratch {
    Scalar *v, *m, *split, *out;
} WinoScratch;

/* Slots [g0, g0 + T) into y: input split, then for each row a of the transform the 4
 * V_k and their gemms into M, output transform, rows copied into y (spare slots and
 * outputs past the image dropped). */
static void wino_block(const WinoGeom *g, long g0, int T, const Scalar *x, const Scalar *u,
                       const ConvAdd *add, const WinoScratch *ws, Scalar *y)
{
    const ConvShape *s = g->s;
    const size_t plane = (size_t)s->H * s->W, oplane = (size_t)s->Ho * s->Wo;
    const size_t olen = (size_t)2 * g->T;
    const long g1 = g0 + T, r0 = g0 / g->ns, r1 = (g1 - 1) / g->ns + 1; /* tile rows */
    long r;
    int k, c, o;
    int ai;
    Scalar *sp = ws->split;
    for (r = r0; r < r1;) { /* chunks: the block's tile rows of one sample */
        int n = (int)(r / g->th), ta = (int)(r % g->th);
        int tb = r1 - r < g->th - ta ? ta + (int)(r1 - r) : g->th;
        const Scalar *xn = x + (size_t)n * s->C * plane;
        WinoSplit w;
        wino_split_geom(g, tb - ta, &w);
        for (c = 0; c < s->C; c++)
            wino_split(g, &w, ta, tb, xn + (size_t)c * plane, sp + (size_t)c * 2 * w.gs);
        sp += (size_t)s->C * 2 * w.gs;
        r += tb - ta;
    }
    for (ai = 0; ai < 4; ai++) {
        sp = ws->split;
        for (r = r0; r < r1;) {
            int ta = (int)(r % g->th);
            int tb = r1 - r < g->th - ta ? ta + (int)(r1 - r) : g->th;
            long first = r * g->ns, lo = first > g0 ? first : g0;
            long hi = (r + tb - ta) * g->ns < g1 ? (r + tb - ta) * g->ns : g1;
            WinoSplit w;
            wino_split_geom(g, tb - ta, &w);
            for (c = 0; c < s->C; c++)
                wino_in(g, &w, sp + (size_t)c * 2 * w.gs, ai, (int)(lo - first), (int)(hi - lo),
                        (int)(lo - g0), ws->v + (size_t)c * g->nr);
            sp += (size_t)s->C * 2 * w.gs;
            r += tb - ta;
        }
        if (T % g->nr) { /* the last panel's lanes past T: zero, not last block's values */
            int b4, w0 = T % g->nr;
            for (b4 = 0; b4 < 4; b4++)
                for (c = 0; c < s->C; c++)
                    memset(ws->v + (size_t)b4 * g->vs +
                               ((size_t)(T / g->nr) * s->C + (size_t)c) * g->nr + (size_t)w0,
                           0, (size_t)(g->nr - w0) * sizeof(Scalar));
        }
        for (k = 4 * ai; k < 4 * ai + 4; k++) /* M_k [O, T] = U_k^T [O, C] V_k [C, T] */
            gemm_op_panels(s->O, T, s->C, u + (size_t)k * wino_weights_ks(s, g->mr), g->mr,
                           ws->v + (size_t)(k - 4 * ai) * g->vs, g->nr, 0,
                           ws->m + (size_t)k * g->ms, g->T);
    }
    for (o = 0; o < s->O; o++) {
        const Scalar bo = add && add->b ? add->b[o] : 0;
        const int zmode = add && add->z ? 1 + (add->z_full != 0) : 0;
        wino_out(g, ws->m + (size_t)o * g->T, T, ws->out);
        for (r = r0; r < r1; r++) { /* tiles ja .. jb - 1 of tile row r */
            int n = (int)(r / g->th), i = 2 * (int)(r % g->th), x0, x1, cols, two;
            long first = r * g->ns;
            int ja = first < g0 ? (int)(g0 - first) : 0;
            int jb = g1 - first < g->tw ? (int)(g1 - first) : g->tw;
            const size_t yoff = ((size_t)n * s->O + o) * oplane + (size_t)i * s->Wo;
            Scalar *restrict yo = y + yoff;
            const Scalar *src = ws->out + 2 * (size_t)(first + ja - g0); /* column x0 */
            const Scalar zo = zmode == 1 ? add->z[(size_t)n * s->O + o] : 0;
            const Scalar *zr = zmode == 2 ? add->z + yoff + 2 * ja : NULL;
            x0 = 2 * ja;
            x1 = 2 * jb < s->Wo ? 2 * jb : s->Wo;
            cols = x1 - x0;
            two = i + 1 < s->Ho;
            if (cols == 28) /* whole rows of unet-s's images as constants */
                wino_y_rows(yo + x0, s->Wo, src, olen, bo, zmode, zo, zr, 28, two);
            else if (cols == 14)
                wino_y_rows(yo + x0, s->Wo, src, olen, bo, zmode, zo, zr, 14, two);
            else if (cols == 7)
                wino_y_rows(yo + x0, s->Wo, src, olen, bo, zmode, zo, zr, 7, two);
            else
                wino_y_rows(yo + x0, s->Wo, src, olen, bo, zmode, zo, zr, cols, two);
        }
    }
}

/* ---------------------------------------------------------------- channels-last grids */

/* One sample moved channels last: dst[i drow + j dcol + c] = src[c plane + i W + j].  Sixteen
 * channels at a time, gathered for each pixel: every write fills a whole line of dst and
 * the sixteen planes are read in step, one stream each.  Against a plane at a time with
 * stores strided by C this was 1.4-1.9x as fast on the 28x28 layers and 1.6-5x on the 14x14
 * in isolation (C 32-128, batch 64; a row at a time across all planes was slower than
 * either); inside a training step the gain was not visible. */
static void to_channels_last(const Scalar *src, size_t plane, int C, int H, int W, Scalar *dst,
                             size_t drow, size_t dcol)
{
    int c0, c, i, j;
    for (c0 = 0; c0 < C; c0 += 16) {
        const int cn = C - c0 < 16 ? C - c0 : 16;
        const Scalar *sb = src + (size_t)c0 * plane;
        for (i = 0; i < H; i++)
            for (j = 0; j < W; j++) {
                const Scalar *sp = sb + (size_t)i * W + j;
                Scalar *restrict d = dst + (size_t)i * drow + (size_t)j * dcol + c0;
                if (cn == 16) { /* the usual case as a constant: no test per channel */
                    for (c = 0; c < 16; c++) d[c] = sp[(size_t)c * plane];
                } else {
                    for (c = 0; c < cn; c++) d[c] = sp[(size_t)c * plane];
                }
            }
    }
}

/* One sample's grid in one block of Wb channels: d [Hp][Wp][Wb] holds channels c0 .. c0 +
 * cn - 1 of src_n (one sample, [C, H, W]) at row and column offset pad, zero elsewhere. */
static void grid_sample(const Scalar *src_n, int c0, int cn, int H, int W, int pad, int Hp, int Wp,
                        int Wb, Scalar *d)
{
    const size_t plane = (size_t)H * W, rowl = (size_t)Wp * Wb;
    int i;
    if (cn < Wb) { /* a partial block: every lane zero first */
        memset(d, 0, (size_t)Hp * rowl * sizeof(Scalar));
    } else { /* the border only */
        memset(d, 0, (size_t)pad * rowl * sizeof(Scalar));
        memset(d + (size_t)(pad + H) * rowl, 0, (size_t)(Hp - pad - H) * rowl * sizeof(Scalar));
        for (i = pad; i < pad + H; i++) {
            Scalar *r = d + (size_t)i * rowl;
            memset(r, 0, (size_t)pad * Wb * sizeof(Scalar));
            memset(r + (size_t)(pad + W) * Wb, 0, (size_t)(Wp - pad - W) * Wb * sizeof(Scalar));
        }
    }
    to_channels_last(src_n + (size_t)c0 * plane, plane, cn, H, W,
                     d + (size_t)pad * rowl + (size_t)pad * Wb, rowl, (size_t)Wb);
}

/* conv_grid_blocks (conv_wino.h): dst [ceil(C / Wb)][rows][Wb] with rows >= N Hp Wp holds
 * src [N, C, H, W] channels last in blocks of Wb channels, each sample an Hp x Wp grid with
 * the image at row and column offset `pad` (Hp >= H + pad, Wp >= W + pad); zero elsewhere
 * (the grid's border, the rows past the last grid, the channels past C).  Parallel over
 * (block, sample).  It serves op_conv.c's grid and channels-last dW. */
void conv_grid_blocks(const Scalar *src, int N, int C, int H, int W, int pad, int Hp, int Wp,
                      int Wb, size_t rows, Scalar *dst)
{
    const size_t plane = (size_t)H * W, g = (size_t)Hp * Wp;
    const int nb = (C + Wb - 1) / Wb;
    long t;
    PAR_FOR((long)nb * (long)rows * Wb)
    for (t = 0; t < (long)nb * N + nb; t++) {
        const int b = (int)(t / (N + 1)), n = (int)(t % (N + 1)), c0 = b * Wb;
        const int cn = C - c0 < Wb ? C - c0 : Wb;
        Scalar *d = dst + ((size_t)b * rows + (size_t)n * g) * Wb;
        if (n == N) /* past the last grid */
            memset(d, 0, (rows - (size_t)N * g) * Wb * sizeof(Scalar));
        else
            grid_sample(src + (size_t)n * C * plane, c0, cn, H, W, pad, Hp, Wp, Wb, d);
    }
}

/* ---------------------------------------------------------------- forward */

void conv_wino_forward_u(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *u,
                         const ConvAdd *add, Scalar *y)
{
    ArenaMark mark = arena_mark(a);
    WinoGeom g;
    int nthr = plat_threads();
    size_t per_thr, rl;
    Scalar *scr;
    long blk, nblk;
    CHECK(conv_wino_fits(s), "conv_wino: %dx%d stride %d pad %d is not 3x3 stride 1 pad 1", s->kh,
          s->kw, s->stride, s->pad);
    wino_geom(&g, s, nthr);
    nblk = g.nblk;
    if (nthr > nblk) nthr = (int)nblk; /* fewer blocks than threads: scratch per block */
    rl = wino_split_len(&g);
    /* V, M, split rows, out; then the gap between threads (PAR_SPAN) */
    per_thr = PAR_SPAN(4 * g.vs + 16 * g.ms + rl + 4 * (size_t)g.T, sizeof(Scalar));
    scr = (Scalar *)arena_alloc(a, size_mul((size_t)nthr, per_thr * sizeof(Scalar)));
    PAR_FOR(g.nslots * 16 * (long)(s->C + s->O))
    for (blk = 0; blk < nblk; blk++) {
        int me = nblk == nthr ? (int)blk : plat_thread_num(); /* whose scratch */
        long g0 = wino_block_start(&g, blk);
        int T = (int)(wino_block_start(&g, blk + 1) - g0);
        WinoScratch ws;
        CHECK(me < nthr, "conv_wino: scratch %d of %d", me, nthr);
        ws.v = scr + (size_t)me * per_thr;
        ws.m = ws.v + 4 * g.vs;
        ws.split = ws.m + 16 * g.ms;
        ws.out = ws.split + rl;
        wino_block(&g, g0, T, x, u, add, &ws, y);
    }
    arena_release(a, mark);
}

void conv_wino_forward_add(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *w, int flip,
                           const ConvAdd *add, Scalar *y)
{
    ArenaMark mark = arena_mark(a);
    Scalar *u = (Scalar *)arena_alloc(a, size_mul(conv_wino_u_len(s), sizeof(Scalar)));
    conv_wino_u(s, w, flip, u);
    conv_wino_forward_u(a, s, x, u, add, y);
    arena_release(a, mark);
}

void conv_wino_forward(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *w, int flip,
                       const Scalar *b, Scalar *y)
{
    ConvAdd add = {0};
    add.b = b;
    conv_wino_forward_add(a, s, x, w, flip, &add, y);
}

/* ---------------------------------------------------------------- weight gradient
 *
 * The forward is linear in U = G w G^T: y_t = A^T (U . V_t) A for each tile t, so
 *   dL/dU = sum_t (A dy_t A^T) . V_t,   dL/dw = G^T (dL/dU) G,
 * dy_t the 2x2 tile of dy (zero past the image), V_t = B^T d_t B as in the forward.  For
 * each of the 16 positions k = 4 a + b that is a gemm whose depth runs over the tiles:
 *   Z_k [O, C] = D_k [O, tiles] V_k^T [tiles, C],   D_k[o, t] = (A dy_t A^T)[a][b],
 * 16 multiply-adds per (o, c) pair and tile against 36 for the direct dW.
 *
 * The operands come from channels-last grids of x and dy (conv_grid_blocks) in blocks of
 * NR channels, so a tile's transform is a few adds of whole NR-lane rows; it lands in the
 * gemm's panels as they are read ([channel block][tile][lane], gemm_panels_in_place; dy's
 * NR lanes go out MR at a time).  x's row combinations are formed once per run of a tile
 * row (neighbouring tiles share two patch columns).  Tile (n, ti, tj) starts at grid position
 * (n Hg + 2 ti) Wg + 2 tj in both grids: x's is the image padded by 1 to 2 th + 2 rows and
 * 2 tw + 2 columns (the 4x4 patches), dy's the output padded to 2 th x 2 tw (the 2x2
 * tiles, zero past the image, so a tile hanging over an odd edge adds nothing there).
 *
 * The batch is cut into WINO_DW_PARTS runs of samples (parts), each with its own Z; the
 * threads take whole parts.  A part goes a chunk of samples at a time: the chunk's grids
 * are built in the thread's scratch (small enough to stay in L2 for the transforms that
 * read them at once), its tiles taken in even blocks of at most WINO_DW_TILES, and for
 * each row a of a block the 4 positions' operands are transformed into panels and their
 * gemms accumulate into the part's Z_k.  Last, Z = Z_0 + Z_1 + ... in part order and
 * dw[o, c] += G^T Z[o, c] G.  Parts, chunks and blocks come from the shapes only, so 1 and
 * T threads give the same bits.
 *
 * Against whole-batch grids built first (conv_grid_blocks) and the 4 rows a shared out
 * among the threads, which read every grid once per thread: the 12 weight gradients of
 * unet-s at batch 64 went from 110 to 69 ms on 2 threads and from 169 to 139 ms on one
 * (Zen 4; medians of 9, summed). */
/* Tiles per block: 64, 128 and 256 measured within noise of each other on the 28x28 and
 * 14x14 layers (Zen 3, one thread); 64 keeps a row's panels (4 positions, C + O channels)
 * at 128 KB for C = O = 64. */
#ifndef WINO_DW_TILES
#define WINO_DW_TILES 64
#endif
#define WINO_DW_WMAX 64
/* Parts of the batch (runs of samples) whose Z are summed apart and added up at the end:
 * a fixed count, so the sums do not depend on the thread count; the threads take whole
 * parts, so at most this many take part. */
#ifndef WINO_DW_PARTS
#define WINO_DW_PARTS 4
#endif
/* Scalars that a chunk's x and dy grids may take: a part goes a chunk of samples at a
 * time, its grids built in the thread's scratch right before they are transformed. */
#ifndef WINO_DW_GRID_SCALARS
#define WINO_DW_GRID_SCALARS ((size_t)1 << 17)
#endif

/* Row a of B^T (the patch rows u and v, the second with sign sgn) and the rows of A. */
static const int wino_bt_u[4] = {0, 1, 2, 1}, wino_bt_v[4] = {2, 2, 1, 3};
static const int wino_bt_sgn[4] = {-1, 1, -1, -1};
static const int wino_a[4][2] = {{1, 0}, {1, 1}, {1, -1}, {0, -1}};

/* The columns of row a of B^T d B for one tile, W lanes: e[v] (the W lanes at e + v W) is
 * patch column v of row a, d[u] + sgn d[v] (wino_dw_transform forms these once per tile
 * row: neighbouring tiles share two columns); the entries b = 0 .. 3 into o0 .. o3, as in
 * the forward (wino_in_run).  Inlined with constant W by the callers. */
PLAT_INLINE void wino_dw_x_cols(const Scalar *e, int W, Scalar *restrict o0, Scalar *restrict o1,
                                Scalar *restrict o2, Scalar *restrict o3)
{
    int w;
    for (w = 0; w < W; w++) {
        Scalar e0 = e[w], e1 = e[W + w], e2 = e[2 * W + w], e3 = e[3 * W + w];
        o0[w] = e0 - e2;
        o1[w] = e1 + e2;
        o2[w] = e2 - e1;
        o3[w] = e1 - e3;
    }
}

/* Row a of A dy A^T for one 2x2 tile (dy[i][j] the W lanes at g + (i Wg + j) W): the
 * coefficients of A are 0 and +-1, so f = a0 dy[0] + a1 dy[1] is exact; then the
 * columns f0, f0 + f1, f0 - f1, -f1.  Lane w goes to o[(w / L) cs + w % L]: the A panels
 * are L = MR lanes wide, narrower than the grid's blocks (computed W at a time, stored in
 * W / L panels cs apart). */
PLAT_INLINE void wino_dw_dy_row(const Scalar *g, size_t Wg, int W, int L, size_t cs, int a,
                                Scalar *restrict o0, Scalar *restrict o1, Scalar *restrict o2,
                                Scalar *restrict o3)
{
    const Scalar *r0 = g, *r1 = g + Wg * (size_t)W;
    const Scalar a0 = (Scalar)wino_a[a][0], a1 = (Scalar)wino_a[a][1];
    Scalar t[4][WINO_DW_WMAX];
    int w, q;
    for (w = 0; w < W; w++) { /* whole vectors into t, then L lanes at a time out */
        Scalar f0 = a0 * r0[w] + a1 * r1[w], f1 = a0 * r0[W + w] + a1 * r1[W + w];
        t[0][w] = f0;
        t[1][w] = f0 + f1;
        t[2][w] = f0 - f1;
        t[3][w] = -f1;
    }
    for (q = 0; q < W / L; q++) {
        const size_t at = (size_t)q * cs;
        for (w = 0; w < L; w++) {
            /* t[.][q L + w] with q L + w < W, set above; clang-tidy's analyser loses that */
            // NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign)
            o0[at + (size_t)w] = t[0][q * L + w];
            o1[at + (size_t)w] = t[1][q * L + w];
            o2[at + (size_t)w] = t[2][q * L + w];
            o3[at + (size_t)w] = t[3][q * L + w];
        }
    }
}

/* One grid (x or dy) and the transform that turns its tiles into gemm panels. */
typedef struct WinoDwGrid {
    const Scalar *g;    /* [nblk][rows][W] */
    size_t rows;        /* grid positions per channel block */
    int nblk, W;        /* channel blocks and their width */
    int L;              /* the panel width: a multiple of W (x) or a divisor of it (dy) */
    int Hg, Wg, th, tw; /* grid and tiles per sample */
    int is_x;           /* 1: B^T d B of 4x4 patches; 0: A dy A^T of 2x2 tiles */
} WinoDwGrid;

/* Tiles t0 .. t0 + nt - 1 of the grid, rows a0 .. a1 - 1 of the transform (positions
 * k = 4 a0 .. 4 a1 - 1), into panels p: position k at p + (k - 4 a0) ps, [ceil(ch / L)][nt]
 * [L] (a GemmPanels of depth nt).  Block cb's channels cb W .. are lanes (cb W) % L .. of
 * panel cb W / L on (W <= L), or whole panels from there on (W > L).  The tiles go a run
 * of one tile row at a time; for x the row combinations of the run's patch columns are
 * formed first into e (4 Wg W scalars). */
static void wino_dw_transform(const WinoDwGrid *gr, long t0, int nt, int a0, int a1, Scalar *p,
                              size_t ps, Scalar *e)
{
    const int per = gr->th * gr->tw, W = gr->W, L = gr->L;
    const size_t Wg = (size_t)gr->Wg, cs = (size_t)nt * (size_t)L, WW = (size_t)W;
    int cb, j, a, r;
    for (cb = 0; cb < gr->nblk; cb++) {
        const Scalar *gb = gr->g + (size_t)cb * gr->rows * WW;
        /* the block's first panel, and its first lane in it */
        const size_t pb = (size_t)(cb * W / L) * cs + (size_t)(cb * W % L);
        for (j = 0; j < nt;) {
            const long t = t0 + j;
            const int n = (int)(t / per), ti = (int)(t % per) / gr->tw,
                      tj = (int)(t % per) % gr->tw;
            const int run = gr->tw - tj < nt - j ? gr->tw - tj : nt - j;
            const Scalar *g =
                gb + (((size_t)n * gr->Hg + 2 * (size_t)ti) * Wg + 2 * (size_t)tj) * WW;
            if (gr->is_x) { /* e[a][col] = d[u][col] + sgn d[v][col], cols 2 tj .. */
                const size_t ncol = (size_t)(2 * run + 2) * WW;
                size_t i;
                for (a = a0; a < a1; a++) {
                    const Scalar *r0 = g + (size_t)wino_bt_u[a] * Wg * WW,
                                 *r1 = g + (size_t)wino_bt_v[a] * Wg * WW;
                    const Scalar sa = (Scalar)wino_bt_sgn[a];
                    Scalar *restrict ea = e + (size_t)(a - a0) * Wg * WW;
                    for (i = 0; i < ncol; i++) ea[i] = r0[i] + sa * r1[i];
                }
            }
            for (r = 0; r < run; r++, j++) {
                for (a = a0; a < a1; a++) {
                    Scalar *o = p + (size_t)(4 * (a - a0)) * ps + pb + (size_t)j * (size_t)L;
                    Scalar *o1 = o + ps, *o2 = o1 + ps, *o3 = o2 + ps;
                    if (gr->is_x) { /* the usual widths as constants: whole-vector loops */
                        const Scalar *ea = e + ((size_t)(a - a0) * Wg + 2 * (size_t)r) * WW;
                        if (W == 16)
                            wino_dw_x_cols(ea, 16, o, o1, o2, o3);
                        else if (W == 32)
                            wino_dw_x_cols(ea, 32, o, o1, o2, o3);
                        else
                            wino_dw_x_cols(ea, W, o, o1, o2, o3);
                    } else {
                        const Scalar *gt = g + 2 * (size_t)r * WW;
                        if (W == 16 && L == 8)
                            wino_dw_dy_row(gt, Wg, 16, 8, cs, a, o, o1, o2, o3);
                        else if (W == 16 && L == 4)
                            wino_dw_dy_row(gt, Wg, 16, 4, cs, a, o, o1, o2, o3);
                        else if (W == 32 && L == 8)
                            wino_dw_dy_row(gt, Wg, 32, 8, cs, a, o, o1, o2, o3);
                        else
                            wino_dw_dy_row(gt, Wg, W, L, cs, a, o, o1, o2, o3);
                    }
                }
            }
        }
    }
}

void conv_db_add(const double *sums, int N, int O, Scalar *db)
{
    int o, n;
    for (o = 0; o < O; o++) {
        double acc = 0.0;
        for (n = 0; n < N; n++) acc += sums[(size_t)n * O + (size_t)o];
        db[o] += (Scalar)acc;
    }
}

/* Samples n0 .. n0 + ns - 1 of src [N, nc, H, W] as the chunk's grid gr describes it
 * (blocks of gr->W channels, image at offset pad), into dst: the grid's storage, which
 * the transforms then read through gr->g. */
static void wino_dw_grid(const WinoDwGrid *gr, const Scalar *src, int nc, int H, int W, int pad,
                         int n0, int ns, Scalar *dst)
{
    const size_t plane = (size_t)H * W, g = (size_t)gr->Hg * gr->Wg;
    int b, n;
    for (b = 0; b < gr->nblk; b++)
        for (n = 0; n < ns; n++) {
            const int c0 = b * gr->W, cn = nc - c0 < gr->W ? nc - c0 : gr->W;
            grid_sample(src + (size_t)(n0 + n) * nc * plane, c0, cn, H, W, pad, gr->Hg, gr->Wg,
                        gr->W, dst + ((size_t)b * gr->rows + (size_t)n * g) * gr->W);
        }
}

/* The channel block width of a grid of ch channels: half (NR / 2, 0 when it is not a
 * multiple of MR) when blocks of it are fewer than twice those of NR (16 or 48 channels
 * against NR = 32: the transforms and the gemm's half-width kernel skip the empty lanes),
 * else full. */
static int wino_dw_block_width(int ch, int nr, int half, int full)
{
    return half && (ch + half - 1) / half < 2 * ((ch + nr - 1) / nr) ? half : full;
}

void conv_wino_dw(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *dy, Scalar *dw,
                  Scalar *db, double *sums)
{
    ArenaMark mark = arena_mark(a);
    const int th = (s->Ho + 1) / 2, tw = (s->Wo + 1) / 2;
    const int nparts = s->N < WINO_DW_PARTS ? s->N : WINO_DW_PARTS;
    const size_t zs = (size_t)s->O * s->C;
    int mr, nr, half, nthr = plat_threads(), S;
    size_t xs, ds, xgs, dgs, per_thr;
    Scalar *z, *scr;
    double *dbs = sums; /* [N][O]: each plane of dy summed, for db and the caller */
    WinoDwGrid gx, gd;
    long part;
    CHECK(conv_wino_fits(s), "conv_wino: %dx%d stride %d pad %d is not 3x3 stride 1 pad 1", s->kh,
          s->kw, s->stride, s->pad);
    gemm_tile_widths(&mr, &nr);
    CHECK(nr <= WINO_DW_WMAX && mr <= WINO_DW_WMAX, "conv_wino dW: panel widths %d, %d", mr, nr);
    half = nr % (2 * mr) == 0 ? nr / 2 : 0;
    gx.L = nr;
    gx.W = wino_dw_block_width(s->C, nr, half, nr);
    gx.nblk = (s->C + gx.W - 1) / gx.W;
    gx.Hg = 2 * th + 2;
    gx.Wg = 2 * tw + 2;
    gx.is_x = 1;
    gd.L = mr; /* dy computed nr lanes at a time when MR divides NR (the usual tiles) */
    gd.W = wino_dw_block_width(s->O, nr, half, nr % mr == 0 ? nr : mr);
    gd.nblk = (s->O + gd.W - 1) / gd.W;
    gd.Hg = 2 * th;
    gd.Wg = 2 * tw;
    gd.is_x = 0;
    gx.th = gd.th = th;
    gx.tw = gd.tw = tw;
    { /* samples per chunk: both grids within WINO_DW_GRID_SCALARS, at least one */
        const size_t per =
            (size_t)gx.nblk * gx.W * gx.Hg * gx.Wg + (size_t)gd.nblk * gd.W * gd.Hg * gd.Wg;
        const int most = (s->N + nparts - 1) / nparts;
        S = per < WINO_DW_GRID_SCALARS ? (int)(WINO_DW_GRID_SCALARS / per) : 1;
        if (S > most) S = most;
    }
    gx.rows = (size_t)S * gx.Hg * gx.Wg;
    gd.rows = (size_t)S * gd.Hg * gd.Wg;
    xgs = gx.rows * gx.nblk * gx.W;
    dgs = gd.rows * gd.nblk * gd.W;
    if (nthr > nparts) nthr = nparts;
    z = (Scalar *)arena_alloc(a, size_mul((size_t)16 * nparts, zs * sizeof(Scalar)));
    if (db && !dbs) dbs = (double *)arena_alloc(a, size_mul((size_t)s->N * s->O, sizeof(double)));
    /* per thread: its chunk's grids, the panels of 4 positions (one row a) for a tile
     * block, and e */
    /* x's panels: ceil(C / NR) of them, the lanes past C in the last not written (column
     * j of a product reads column j of B only: those columns of Z are never formed) */
    xs = (size_t)WINO_DW_TILES * (size_t)((s->C + nr - 1) / nr) * nr;
    ds = (size_t)WINO_DW_TILES * gd.nblk * gd.W;
    per_thr = PAR_SPAN(xgs + dgs + (size_t)4 * (xs + ds) + (size_t)gx.Wg * gx.W, sizeof(Scalar));
    scr = (Scalar *)arena_alloc(a, size_mul((size_t)nthr, per_thr * sizeof(Scalar)));
    PAR_FOR((long)s->N * th * tw * 16 * (long)(s->C + s->O))
    for (part = 0; part < nparts; part++) {
        const int me = plat_thread_num();
        const int p0 = (int)((long)s->N * part / nparts),
                  p1 = (int)((long)s->N * (part + 1) / nparts);
        Scalar *zp = z + (size_t)part * 16 * zs, *xg, *dg, *vx, *vd, *e;
        WinoDwGrid cx = gx, cd = gd;
        int n0, first = 1;
        CHECK(me < nthr, "conv_wino dW: scratch %d of %d", me, nthr);
        xg = scr + (size_t)me * per_thr;
        dg = xg + xgs;
        vx = dg + dgs;
        vd = vx + 4 * xs;
        e = vd + 4 * ds;
        cx.g = xg;
        cd.g = dg;
        for (n0 = p0; n0 < p1; n0 += S) {
            const int ns = p1 - n0 < S ? p1 - n0 : S;
            const long ntc = (long)ns * th * tw;
            const int nb = (int)((ntc + WINO_DW_TILES - 1) / WINO_DW_TILES);
            int j;
            wino_dw_grid(&cx, x, s->C, s->H, s->W, 1, n0, ns, xg);
            wino_dw_grid(&cd, dy, s->O, s->Ho, s->Wo, 0, n0, ns, dg);
            if (dbs) { /* the chunk's planes of dy, just read, summed for db */
                const size_t P = (size_t)s->Ho * s->Wo;
                size_t q;
                for (q = (size_t)n0 * s->O; q < (size_t)(n0 + ns) * s->O; q++)
                    dbs[q] = sum_lanes(dy + q * P, P);
            }
            for (j = 0; j < nb; j++) { /* tile blocks of even size, at most WINO_DW_TILES */
                const long t0 = ntc * j / nb;
                const int nt = (int)(ntc * (j + 1) / nb - t0);
                int ai, k;
                for (ai = 0; ai < 4; ai++) { /* row a: positions 4 a .. 4 a + 3 */
                    wino_dw_transform(&cx, t0, nt, ai, ai + 1, vx, xs, e);
                    wino_dw_transform(&cd, t0, nt, ai, ai + 1, vd, ds, NULL);
                    for (k = 4 * ai; k < 4 * ai + 4; k++) /* Z_k [O, C] (+)= D_k V_k^T */
                        gemm_op_panels(s->O, s->C, nt, vd + (size_t)(k - 4 * ai) * ds, mr,
                                       vx + (size_t)(k - 4 * ai) * xs, nr, first ? 0 : 1,
                                       zp + (size_t)k * zs, s->C);
                }
                first = 0;
            }
        }
    }
    if (db) conv_db_add(dbs, s->N, s->O, db);
    { /* for each run of 64 (o, c) pairs: the parts' sums into the first, in part order, then
       * dw[o, c] += G^T Z[o, c] G, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (one
       * parallel loop, not two: each costs a wake-up of the other thread) */
        const long nrun = ((long)zs + 63) / 64;
        long q;
        PAR_FOR((long)zs * (16 * nparts + 25))
        for (q = 0; q < nrun; q++) {
            const size_t oc0 = (size_t)q * 64, oc1 = oc0 + 64 < zs ? oc0 + 64 : zs;
            size_t oc;
            int k, p;
            for (k = 0; k < 16; k++)
                for (p = 1; p < nparts; p++) {
                    Scalar *restrict zk = z + (size_t)k * zs;
                    const Scalar *zq = z + ((size_t)p * 16 + (size_t)k) * zs;
                    for (oc = oc0; oc < oc1; oc++) zk[oc] += zq[oc];
                }
            for (oc = oc0; oc < oc1; oc++) {
                Scalar t[4][3], r[3][3];
                int i, j;
                for (i = 0; i < 4; i++) { /* t = Z G */
                    const Scalar z0 = z[(size_t)(4 * i) * zs + oc],
                                 z1 = z[(size_t)(4 * i + 1) * zs + oc],
                                 z2 = z[(size_t)(4 * i + 2) * zs + oc],
                                 z3 = z[(size_t)(4 * i + 3) * zs + oc];
                    t[i][0] = z0 + (Scalar)0.5 * (z1 + z2);
                    t[i][1] = (Scalar)0.5 * (z1 - z2);
                    t[i][2] = (Scalar)0.5 * (z1 + z2) + z3;
                }
                for (j = 0; j < 3; j++) { /* r = G^T t */
                    r[0][j] = t[0][j] + (Scalar)0.5 * (t[1][j] + t[2][j]);
                    r[1][j] = (Scalar)0.5 * (t[1][j] - t[2][j]);
                    r[2][j] = (Scalar)0.5 * (t[1][j] + t[2][j]) + t[3][j];
                }
                for (i = 0; i < 9; i++) dw[oc * 9 + (size_t)i] += r[i / 3][i % 3];
            }
        }
    }
    arena_release(a, mark);
}
