/* op_conv.c - image ops: conv2d (im2col + gemm), nearest upsampling x2, 2x2 max pooling.
 * Formulas and VJPs are in ops.h; the direct-loop reference conv is in conv_ref.c.
 *
 * conv2d, with K = C kh kw rows of patches and P = Ho Wo output pixels per sample:
 *   forward   cols [K, m P] = im2col(x[n0 .. n0+m-1])        (m samples per chunk)
 *             Y [O, m P] = W [O, K] cols                     one gemm per chunk
 *             y[n, o, p] = Y[o, (n - n0) P + p] + b[o]
 *   backward  dYc [O, m P] = dy of the chunk, gathered the same way
 *             dW [O, K] += dYc cols^T                        (cols recomputed, not saved)
 *             dcols [K, m P] = W^T dYc;  dx += col2im(dcols)  (scatter-add)
 *             db[o] += sum_{n, p} dy[n, o, p]
 * The chunk size m depends only on the shapes (a cols budget), never on the thread count,
 * so dW sums its chunks in a fixed order.  dW and dx are formed in scratch and added to
 * the gradients in one addition per element (backward twice doubles them exactly).
 * gemm() threads itself; the copy loops here run in parallel over the index that owns
 * their writes (a sample-channel plane or a row).
 * A 1x1 stride-1 pad-0 conv with large planes skips im2col: x[n] is already [C, P], so
 * one gemm per sample reads x and writes y in place. */
#include <string.h>

#include "../tensor/gemm.h"
#include "../tensor/parallel.h"
#include "conv_ref.h"
#include "ops.h"
#include "ops_internal.h"

/* Most scalars one chunk's cols buffer [K, m P] may hold (m >= 1 regardless). */
#define CONV_COLS_BUDGET ((size_t)1 << 21)
/* A 1x1 conv goes per sample, without copies, when a plane has at least this many pixels. */
#define CONV_DIRECT_MIN_P 256

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

static int conv_is_direct(const ConvShape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0 &&
           (s->N == 1 || s->Ho * s->Wo >= CONV_DIRECT_MIN_P);
}

/* Samples per chunk: as many as fit the cols budget, at least 1. */
static int conv_chunk(const ConvShape *s)
{
    size_t per = (size_t)s->C * s->kh * s->kw * s->Ho * s->Wo;
    size_t m = CONV_COLS_BUDGET / (per > 0 ? per : 1);
    if (m < 1) m = 1;
    if (m > (size_t)s->N) m = (size_t)s->N;
    return (int)m;
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

/* cols [K, m P] from x [m, C, H, W]: row (c, ki, kj), column j P + i Wo + jo holds
 * x[j, c, i s - p + ki, jo s - p + kj] or 0 in the padding.  Parallel over (j, c).
 * Each output row is a zeroed border, a copied middle (one memcpy at stride 1) and a
 * zeroed border; the ranges come from tap_range, not from a test per element. */
static void im2col(const ConvShape *s, const Scalar *x, int m, Scalar *cols)
{
    const int P = s->Ho * s->Wo, st = s->stride, pd = s->pad;
    const size_t ld = (size_t)m * P;
    long t, nt = (long)m * s->C;
    PAR_FOR((long)ld * s->C * s->kh * s->kw)
    for (t = 0; t < nt; t++) {
        int j = (int)(t / s->C), c = (int)(t % s->C), ki, kj, i, jo;
        const Scalar *xp = x + ((size_t)j * s->C + c) * s->H * s->W;
        for (ki = 0; ki < s->kh; ki++) {
            int ilo, ihi;
            tap_range(s->H, s->Ho, st, pd, ki, &ilo, &ihi);
            for (kj = 0; kj < s->kw; kj++) {
                Scalar *row = cols + ((size_t)(c * s->kh + ki) * s->kw + kj) * ld + (size_t)j * P;
                int jlo, jhi;
                tap_range(s->W, s->Wo, st, pd, kj, &jlo, &jhi);
                if (ilo > 0) memset(row, 0, (size_t)ilo * s->Wo * sizeof(Scalar));
                for (i = ilo; i < ihi; i++) {
                    Scalar *r = row + (size_t)i * s->Wo;
                    /* x row i s - p + ki; tap jo reads column jo s - p + kj (>= 0 for jo >= jlo) */
                    const Scalar *xr = xp + (size_t)(i * st - pd + ki) * s->W;
                    for (jo = 0; jo < jlo; jo++) r[jo] = 0;
                    if (st == 1) {
                        if (jhi > jlo)
                            memcpy(r + jlo, xr + (jlo - pd + kj),
                                   (size_t)(jhi - jlo) * sizeof(Scalar));
                    } else {
                        for (jo = jlo; jo < jhi; jo++) r[jo] = xr[jo * st - pd + kj];
                    }
                    for (jo = jhi; jo < s->Wo; jo++) r[jo] = 0;
                }
                if (ihi < s->Ho)
                    memset(row + (size_t)ihi * s->Wo, 0,
                           (size_t)(s->Ho - ihi) * s->Wo * sizeof(Scalar));
            }
        }
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

/* ---------------------------------------------------------------- conv2d */

void op_conv2d_forward(Graph *g, Var *out)
{
    ConvShape s = conv_geom(out);
    const Scalar *x = out->in[0]->val.data, *w = out->in[1]->val.data;
    const Scalar *b = out->in[2] ? out->in[2]->val.data : NULL;
    Scalar *y = out->val.data;
    const int P = s.Ho * s.Wo, K = s.C * s.kh * s.kw;
    long t;
    if (conv_is_direct(&s)) {
        int n;
        long nt = (long)s.N * s.O;
        for (n = 0; n < s.N; n++) /* y[n] [O, P] = W [O, C] x[n] [C, P] */
            gemm(0, 0, s.O, P, s.C, 1, w, s.C, x + (size_t)n * s.C * P, P, 0,
                 y + (size_t)n * s.O * P, P);
        if (b) {
            PAR_FOR((long)out->val.n)
            for (t = 0; t < nt; t++) {
                Scalar *yp = y + (size_t)t * P, bo = b[t % s.O];
                int p;
                for (p = 0; p < P; p++) yp[p] += bo;
            }
        }
    } else {
        ArenaMark mark = arena_mark(g->arena);
        int mmax = conv_chunk(&s), n0;
        Scalar *cols = scratch(g, (size_t)K * mmax, (size_t)P);
        Scalar *tmp = scratch(g, (size_t)s.O * mmax, (size_t)P);
        for (n0 = 0; n0 < s.N; n0 += mmax) {
            int m = s.N - n0 < mmax ? s.N - n0 : mmax;
            long nt = (long)m * s.O;
            im2col(&s, x + (size_t)n0 * s.C * s.H * s.W, m, cols);
            /* tmp [O, m P] = W [O, K] cols [K, m P] */
            gemm(0, 0, s.O, m * P, K, 1, w, K, cols, m * P, 0, tmp, m * P);
            PAR_FOR(nt * P)
            for (t = 0; t < nt; t++) { /* y[n0 + j, o, :] = tmp[o, j P : (j + 1) P] + b[o] */
                int j = (int)(t / s.O), o = (int)(t % s.O), p;
                const Scalar *src = tmp + (size_t)o * m * P + (size_t)j * P;
                Scalar *dst = y + ((size_t)(n0 + j) * s.O + o) * P, bo = b ? b[o] : 0;
                for (p = 0; p < P; p++) dst[p] = src[p] + bo;
            }
        }
        arena_release(g->arena, mark);
    }
}

void op_conv2d_backward(Graph *g, Var *out)
{
    ConvShape s = conv_geom(out);
    Var *xv = out->in[0], *wv = out->in[1], *bv = out->in[2];
    const Scalar *x = xv->val.data, *w = wv->val.data, *dy = out->grad;
    const int P = s.Ho * s.Wo, K = s.C * s.kh * s.kw;
    const int need_x = ag_needs(out, 0), need_w = ag_needs(out, 1);
    long t;
    if (bv && ag_needs(out, 2)) { /* db[o] += sum_{n, p} dy[n, o, p], parallel over o */
        Scalar *db = ag_grad(g, bv);
        long no = s.O;
        PAR_FOR((long)out->val.n)
        for (t = 0; t < no; t++) {
            double acc = 0.0;
            int n;
            for (n = 0; n < s.N; n++)
                acc += sum_lanes(dy + ((size_t)n * s.O + (size_t)t) * P, (size_t)P);
            db[t] += (Scalar)acc;
        }
    }
    if (!need_x && !need_w) return;
    {
        /* gradients first: ag_grad may allocate them, and they must outlive the scratch */
        Scalar *dx = need_x ? ag_grad(g, xv) : NULL, *dw = need_w ? ag_grad(g, wv) : NULL;
        ArenaMark mark = arena_mark(g->arena);
        /* dwt [O, K]: dW summed over the batch (sample or chunk order), added to dw once */
        Scalar *dwt = dw ? scratch(g, (size_t)s.O, (size_t)K) : NULL;
        if (conv_is_direct(&s)) {
            Scalar *dxt = dx ? scratch(g, (size_t)s.C, (size_t)P) : NULL;
            int n;
            for (n = 0; n < s.N; n++) {
                const Scalar *dyn = dy + (size_t)n * s.O * P;
                if (dwt) /* dwt [O, C] (+)= dy[n] [O, P] x[n]^T [P, C] */
                    gemm(0, 1, s.O, s.C, P, 1, dyn, P, x + (size_t)n * s.C * P, P, n ? 1 : 0, dwt,
                         s.C);
                if (dxt) { /* dx[n] [C, P] += W^T [C, O] dy[n] [O, P] */
                    gemm(1, 0, s.C, P, s.O, 1, w, s.C, dyn, P, 0, dxt, P);
                    add_into(dx + (size_t)n * s.C * P, dxt, (size_t)s.C * P);
                }
            }
        } else {
            int mmax = conv_chunk(&s), n0;
            size_t plane = (size_t)s.C * s.H * s.W;
            /* one buffer serves as cols (for dW), then as dcols (for dx) */
            Scalar *cols = scratch(g, (size_t)K * mmax, (size_t)P);
            Scalar *dyc = scratch(g, (size_t)s.O * mmax, (size_t)P);
            Scalar *dxc = dx ? scratch(g, plane, (size_t)mmax) : NULL;
            for (n0 = 0; n0 < s.N; n0 += mmax) {
                int m = s.N - n0 < mmax ? s.N - n0 : mmax;
                long nt = (long)m * s.O;
                PAR_FOR(nt * P)
                for (t = 0; t < nt; t++) { /* dyc[o, j P : (j + 1) P] = dy[n0 + j, o, :] */
                    int j = (int)(t / s.O), o = (int)(t % s.O);
                    memcpy(dyc + (size_t)o * m * P + (size_t)j * P,
                           dy + ((size_t)(n0 + j) * s.O + o) * P, (size_t)P * sizeof(Scalar));
                }
                if (dwt) {
                    im2col(&s, x + (size_t)n0 * plane, m, cols);
                    /* dwt [O, K] (+)= dyc [O, m P] cols^T [m P, K] */
                    gemm(0, 1, s.O, K, m * P, 1, dyc, m * P, cols, m * P, n0 ? 1 : 0, dwt, K);
                }
                if (dxc) {
                    /* dcols [K, m P] = W^T [K, O] dyc [O, m P];  dx += col2im(dcols) */
                    gemm(1, 0, K, m * P, s.O, 1, w, K, dyc, m * P, 0, cols, m * P);
                    col2im(&s, cols, m, dxc);
                    add_into(dx + (size_t)n0 * plane, dxc, (size_t)m * plane);
                }
            }
        }
        if (dwt) add_into(dw, dwt, (size_t)s.O * K);
        arena_release(g->arena, mark);
    }
}

Var *ag_conv2d(Graph *g, Var *x, Var *w, Var *b, int stride, int pad)
{
    const Tensor *xt = &x->val, *wt = &w->val;
    ConvShape s;
    int shape[4];
    Var *out;
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
    out = ag_node(g, OP_CONV2D, 4, shape, x, w, b);
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
    if (!out->saved) out->saved = arena_alloc(g->arena, out->val.n);
    arg = (unsigned char *)out->saved;
    PAR_FOR((long)xt->n)
    for (t = 0; t < planes; t++) {
        const Scalar *xp = x + (size_t)t * H * W;
        size_t o = (size_t)t * Ho * Wo;
        int i, j, k;
        for (i = 0; i < Ho; i++)
            for (j = 0; j < Wo; j++, o++) {
                const Scalar *w0 = xp + (size_t)(2 * i) * W + 2 * j;
                Scalar v[4];
                int best = 0;
                v[0] = w0[0];
                v[1] = w0[1];
                v[2] = w0[W];
                v[3] = w0[W + 1];
                for (k = 1; k < 4; k++) /* strict >: the first max wins ties */
                    if (v[k] > v[best]) best = k;
                y[o] = v[best];
                arg[o] = (unsigned char)best;
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
    {OP_UPSAMPLE2, "N2 C3 3x5", gc_upsample},
    {OP_MAXPOOL2, "N2 C3 4x6, permutation", gc_maxpool},
    {OP_LEAF, NULL, NULL},
};
