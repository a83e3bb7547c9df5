/* conv_wino.c - Winograd F(2x2, 3x3) forward of a 3x3 stride-1 pad-1 conv (see conv_wino.h).
 *
 * Slots: each tile row (n, ti) of the batch has ns = tw + 1 slots, the tiles j < tw and a
 * spare; slot n th ns + ti ns + j.  A block is T consecutive slots (T a multiple of 32, the
 * gemm's panel width; blocks may cut tile rows).  The spare slot keeps the patch of slot t
 * at columns 2 t .. 2 t + 3 of the input rows of one sample, once those rows are split by
 * the parity of row and column (wino_split): the transforms are flat loops over slots
 * with unit stride.  The spare costs 1 / (tw + 1) of the gemm work; its outputs are never
 * copied out.  Layout of one block:
 *   U [16, C, O]   transformed weights, k = 4 a + b the position in the 4x4 tile, stored
 *                  as the gemm's A panels ([O / MR][C][MR], zero rows past O)
 *   split          the block's input rows split by parity, every channel (wino_split)
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

/* Scalars that a block's scratch may take: T = this / (8 C + 16 O) slots, rounded down to
 * a multiple of 32 (a gemm panel width), and at least WINO_BLOCK_MIN.  2 MB in float: more
 * than a Zen 4 L2 (1 MB), but L2-sized blocks measured 2-10 % slower (fewer gemm columns). */
#ifndef WINO_BLOCK_SCALARS
#define WINO_BLOCK_SCALARS ((size_t)1 << 19)
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
    int ns;        /* tw + 1: slots per tile row (the last a spare) */
    long nslots;   /* slots of the batch, N th ns */
    int T;         /* slots per block, a multiple of 32 */
    int R;         /* most tile rows a block touches, T / ns + 2 */
    size_t vs, ms; /* scalars between V_k and V_{k+1}, M_k and M_{k+1} (C T, O T) */
    int mr, nr;    /* the gemm's panel widths (gemm_tile_widths) */
} WinoGeom;

static void wino_geom(WinoGeom *g, const ConvShape *s, int nthr)
{
    size_t per = (size_t)8 * s->C + (size_t)16 * s->O, T = WINO_BLOCK_SCALARS / per / 32 * 32;
    long nblk;
    g->s = s;
    g->th = (s->Ho + 1) / 2;
    g->tw = (s->Wo + 1) / 2;
    g->ns = g->tw + 1;
    g->nslots = (long)s->N * g->th * g->ns;
    if (T < WINO_BLOCK_MIN) T = WINO_BLOCK_MIN;
    /* as many blocks as that size needs, rounded up to a multiple of the threads, and the
     * slots shared out evenly: a small batch (CMAD trains at 8) would otherwise leave one
     * thread a short last block and the other the rest (1344 + 336 slots for ctrl-s) */
    nblk = (g->nslots + (long)T - 1) / (long)T;
    if (nthr > 1) nblk = (nblk + nthr - 1) / nthr * nthr;
    T = (size_t)((g->nslots + nblk - 1) / nblk + 31) / 32 * 32;
    if (T < WINO_BLOCK_MIN) T = WINO_BLOCK_MIN;
    if ((long)T > g->nslots) T = (size_t)g->nslots;
    g->T = (int)T;
    g->R = g->T / g->ns + 2;
    gemm_tile_widths(&g->mr, &g->nr);
    g->vs = (size_t)s->C * (size_t)((g->T + g->nr - 1) / g->nr * g->nr);
    g->ms = (size_t)s->O * g->T;
}

/* ---------------------------------------------------------------- transforms */

/* u_k = G w G^T for every (o, c), k = 4 a + b, stored as the gemm's A panels of width mr
 * (Mat[o][c], a GemmPanels of depth C): u[k ks + (o / mr) C mr + c mr + o % mr], ks = the panels'
 * size, the rows past O zero. */
static size_t wino_weights_ks(const ConvShape *s, int mr)
{
    return (size_t)s->C * (size_t)((s->O + mr - 1) / mr * mr);
}

static void wino_weights(const ConvShape *s, int mr, const Scalar *w, Scalar *u)
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
            const Scalar *g = w + ((size_t)o * s->C + c) * 9;
            Scalar t[4][3], r[4][4];
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

/* Scalars of the split rows of a block, all channels: chunk i of r_i tile rows has four
 * buffers of (r_i + 1) ns + 1 per channel; the r_i add up to at most R, and there are at
 * most R chunks. */
static size_t wino_split_len(const WinoGeom *g)
{
    return (size_t)g->s->C * ((size_t)2 * g->R * g->ns + (size_t)g->R);
}

/* Tile rows ta .. tb - 1 of one sample read padded rows 2 ta .. 2 tb + 1 (padded row p,
 * column q hold input row p - 1, column q - 1; zero outside the image).  They are split
 * by the parity of the row and of the column into four buffers of rows of ns = tw + 1:
 *   sp[2 par_row + par_col][i ns + j] = padded (2 (ta + i) + par_row, 2 j + par_col)
 * for i <= tb - ta, j <= tw, and a zero after the last row.  Every input row is read
 * once; patch row u of tile row ta + i is then padded row 2 (ta + i) + u, i.e. row
 * i + u / 2 of buffers 2 (u % 2) (even columns) and 2 (u % 2) + 1 (odd columns), so the
 * patches of the chunk's slots t = i ns + j sit at one affine offset per buffer.
 * Each buffer is len long (at least (tb - ta + 1) ns + 1); xc [H, W] is the input plane
 * of this sample and channel. */
static void wino_split(const WinoGeom *g, size_t len, int ta, int tb, const Scalar *xc, Scalar *sp)
{
    const ConvShape *s = g->s;
    const int tw = g->tw, ns = tw + 1, W = s->W, nr = tb - ta + 1;
    int pr, i, j;
    for (pr = 0; pr < 2; pr++) {
        Scalar *restrict ev = sp + (size_t)(2 * pr) * len, *restrict od = ev + len;
        for (i = 0; i < nr; i++) {
            int row = 2 * (ta + i) + pr - 1; /* input row */
            Scalar *restrict e = ev + (size_t)i * ns, *restrict o = od + (size_t)i * ns;
            const Scalar *x;
            if (row < 0 || row >= s->H) {
                for (j = 0; j < ns; j++) e[j] = o[j] = 0;
                continue;
            }
            x = xc + (size_t)row * W;
            /* padded columns 2 j, 2 j + 1 are input columns 2 j - 1, 2 j: inside the image
             * for 1 <= j < tw (W is 2 tw or 2 tw - 1) */
            e[0] = 0;
            o[0] = x[0];
            for (j = 1; j < tw; j++) {
                e[j] = x[2 * j - 1];
                o[j] = x[2 * j];
            }
            e[tw] = W == 2 * tw ? x[W - 1] : 0;
            o[tw] = 0;
        }
        ev[(size_t)nr * ns] = od[(size_t)nr * ns] = 0;
    }
}

/* One row of e = B^T d and the four v = e B it gives, for slots t = 0 .. T - 1:
 *   e[t] = (p[t], po[t], p[t + 1], po[t + 1]) + sign (q[t], qo[t], q[t + 1], qo[t + 1])
 * (p, q the even columns of two patch rows, po, qo the odd ones; sign is +-1, so that
 * p + sign q is exactly p +- q), then v0..v3 = e[0] - e[2], e[1] + e[2], e[2] - e[1],
 * e[1] - e[3].  Slot t is block slot t0 + t, stored in the gemm's B panels of width nr:
 * vb[(t0 + t) / nr * C nr + (t0 + t) % nr] (vb already offset to its channel), so the
 * loop runs a panel's stretch at a time.  Four separate outputs: gcc vectorises the loop
 * over t (with 16 stores through one pointer it gives up on the aliasing checks). */
static void wino_in_run(const Scalar *p, const Scalar *po, const Scalar *q, const Scalar *qo,
                        Scalar sign, int n, Scalar *restrict v0, Scalar *restrict v1,
                        Scalar *restrict v2, Scalar *restrict v3)
{
    int t;
    for (t = 0; t < n; t++) {
        Scalar e0 = p[t] + sign * q[t], e1 = po[t] + sign * qo[t];
        Scalar e2 = p[t + 1] + sign * q[t + 1], e3 = po[t + 1] + sign * qo[t + 1];
        v0[t] = e0 - e2;
        v1[t] = e1 + e2;
        v2[t] = e2 - e1;
        v3[t] = e1 - e3;
    }
}

static void wino_in_row(const Scalar *p, const Scalar *po, const Scalar *q, const Scalar *qo,
                        Scalar sign, int t0, int T, int nr, int C, Scalar *v0, Scalar *v1,
                        Scalar *v2, Scalar *v3)
{
    int t = 0, w = t0 % nr;
    size_t off = (size_t)(t0 / nr) * C * nr + (size_t)w; /* of slot t0 + t */
    while (t < T) {
        const int n = nr - w < T - t ? nr - w : T - t;
        if (n == 16) /* whole panels of the usual widths: fixed-length loops */
            wino_in_run(p + t, po + t, q + t, qo + t, sign, 16, v0 + off, v1 + off, v2 + off,
                        v3 + off);
        else if (n == 32)
            wino_in_run(p + t, po + t, q + t, qo + t, sign, 32, v0 + off, v1 + off, v2 + off,
                        v3 + off);
        else
            wino_in_run(p + t, po + t, q + t, qo + t, sign, n, v0 + off, v1 + off, v2 + off,
                        v3 + off);
        t += n;
        off += (size_t)C * nr - (size_t)w; /* the next panel, lane 0 */
        w = 0;
    }
}

/* (B^T d B)[a][b], b = 0 .. 3, for the T slots t0 .. t0 + T - 1 of one chunk (block
 * slots bt .. bt + T - 1), one channel (sp: its wino_split buffers, each len long), into
 * V_b (stride vs) at that channel of the B panels (v: V_0 + c nr): slot t reads patch row
 * u as (ev[t], od[t], ev[t + 1], od[t + 1]) of that row's buffers (the last slot of each
 * tile row is a spare whose result is never used: it keeps the slot index affine).  Row a
 * of B^T combines the patch rows as r0 - r2, r1 + r2, r2 - r1, r1 - r3 for a = 0 .. 3. */
static void wino_in(const WinoGeom *g, size_t len, const Scalar *sp, int a, int t0, int T, int bt,
                    Scalar *v)
{
    const size_t vs = g->vs, ns = (size_t)g->ns;
    const int nr = g->nr, C = g->s->C;
    const Scalar *e0 = sp + t0, *o0 = sp + len + t0, *e1 = sp + 2 * len + t0,
                 *o1 = sp + 3 * len + t0;
    const Scalar *e2 = e0 + ns, *o2 = o0 + ns, *e3 = e1 + ns, *o3 = o1 + ns;
    Scalar *v1 = v + vs, *v2 = v + 2 * vs, *v3 = v + 3 * vs;
    if (a == 0) wino_in_row(e0, o0, e2, o2, -1, bt, T, nr, C, v, v1, v2, v3);
    if (a == 1) wino_in_row(e1, o1, e2, o2, 1, bt, T, nr, C, v, v1, v2, v3);
    if (a == 2) wino_in_row(e2, o2, e1, o1, -1, bt, T, nr, C, v, v1, v2, v3);
    if (a == 3) wino_in_row(e1, o1, e3, o3, -1, bt, T, nr, C, v, v1, v2, v3);
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
                       const Scalar *b, const WinoScratch *ws, Scalar *y)
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
        const size_t len = (size_t)(tb - ta + 1) * g->ns + 1;
        const Scalar *xn = x + (size_t)n * s->C * plane;
        for (c = 0; c < s->C; c++)
            wino_split(g, len, ta, tb, xn + (size_t)c * plane, sp + (size_t)c * 4 * len);
        sp += (size_t)s->C * 4 * len;
        r += tb - ta;
    }
    for (ai = 0; ai < 4; ai++) {
        sp = ws->split;
        for (r = r0; r < r1;) {
            int ta = (int)(r % g->th);
            int tb = r1 - r < g->th - ta ? ta + (int)(r1 - r) : g->th;
            const size_t len = (size_t)(tb - ta + 1) * g->ns + 1;
            long first = r * g->ns, lo = first > g0 ? first : g0;
            long hi = (r + tb - ta) * g->ns < g1 ? (r + tb - ta) * g->ns : g1;
            for (c = 0; c < s->C; c++)
                wino_in(g, len, sp + (size_t)c * 4 * len, ai, (int)(lo - first), (int)(hi - lo),
                        (int)(lo - g0), ws->v + (size_t)c * g->nr);
            sp += (size_t)s->C * 4 * len;
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
        for (k = 4 * ai; k < 4 * ai + 4; k++) { /* M_k [O, T] = U_k^T [O, C] V_k [C, T] */
            GemmPanels mu, mv;
            GemmOperand oa, ob;
            mu.p = u + (size_t)k * wino_weights_ks(s, g->mr);
            mu.W = g->mr;
            mu.depth = s->C;
            mv.p = ws->v + (size_t)(k - 4 * ai) * g->vs;
            mv.W = g->nr;
            mv.depth = s->C;
            oa.pack = ob.pack = gemm_pack_panels;
            oa.panels = ob.panels = gemm_panels_in_place;
            oa.ctx = &mu;
            ob.ctx = &mv;
            gemm_op(s->O, T, s->C, 1, &oa, &ob, 0, ws->m + (size_t)k * g->ms, g->T, g->T, 0);
        }
    }
    for (o = 0; o < s->O; o++) {
        const Scalar bo = b ? b[o] : 0;
        wino_out(g, ws->m + (size_t)o * g->T, T, ws->out);
        for (r = r0; r < r1; r++) { /* tiles ja .. jb - 1 of tile row r */
            int n = (int)(r / g->th), i = 2 * (int)(r % g->th), j, x0, x1;
            long first = r * g->ns;
            int ja = first < g0 ? (int)(g0 - first) : 0;
            int jb = g1 - first < g->tw ? (int)(g1 - first) : g->tw;
            Scalar *restrict yo = y + ((size_t)n * s->O + o) * oplane + (size_t)i * s->Wo;
            const Scalar *src = ws->out + 2 * (size_t)(first + ja - g0); /* column x0 */
            x0 = 2 * ja;
            x1 = 2 * jb < s->Wo ? 2 * jb : s->Wo;
            for (j = x0; j < x1; j++) yo[j] = src[j - x0] + bo; /* y = A^T M A + b */
            if (i + 1 < s->Ho)
                for (j = x0; j < x1; j++) yo[s->Wo + j] = src[olen + j - x0] + bo;
        }
    }
}

/* ---------------------------------------------------------------- forward */

void conv_wino_forward(Arena *a, const ConvShape *s, const Scalar *x, const Scalar *w,
                       const Scalar *b, Scalar *y)
{
    ArenaMark mark = arena_mark(a);
    WinoGeom g;
    int nthr = plat_threads();
    size_t per_thr, rl;
    Scalar *u, *scr;
    long blk, nblk;
    CHECK(conv_wino_fits(s), "conv_wino: %dx%d stride %d pad %d is not 3x3 stride 1 pad 1", s->kh,
          s->kw, s->stride, s->pad);
    wino_geom(&g, s, nthr);
    nblk = (g.nslots + g.T - 1) / g.T;
    if (nthr > nblk) nthr = (int)nblk; /* fewer blocks than threads: scratch per block */
    rl = wino_split_len(&g);
    per_thr = 4 * g.vs + 16 * g.ms + 4 * rl + 4 * (size_t)g.T; /* V, M, split rows, out */
    u = (Scalar *)arena_alloc(a, size_mul((size_t)16, wino_weights_ks(s, g.mr) * sizeof(Scalar)));
    scr = (Scalar *)arena_alloc(a, size_mul((size_t)nthr, per_thr * sizeof(Scalar)));
    wino_weights(s, g.mr, w, u);
    PAR_FOR(g.nslots * 16 * (long)(s->C + s->O))
    for (blk = 0; blk < nblk; blk++) {
        int me = nblk == nthr ? (int)blk : plat_thread_num(); /* whose scratch */
        long g0 = blk * g.T;
        int T = g.nslots - g0 < g.T ? (int)(g.nslots - g0) : g.T;
        WinoScratch ws;
        CHECK(me < nthr, "conv_wino: scratch %d of %d", me, nthr);
        ws.v = scr + (size_t)me * per_thr;
        ws.m = ws.v + 4 * g.vs;
        ws.split = ws.m + 16 * g.ms;
        ws.out = ws.split + 4 * rl;
        wino_block(&g, g0, T, x, u, b, &ws, y);
    }
    arena_release(a, mark);
}
