/* op_elem.c - elementwise ops: add, sub, mul (with broadcasting), affine and the unary
 * maps silu, relu, exp, log, sqrt.  Formulas and VJPs are in ops.h. */
#include <math.h>
#include <string.h>

#include "../tensor/parallel.h"
#include "ops.h"
#include "ops_internal.h"

/* ---------------------------------------------------------------- broadcasting */

/* a's shape and b's aligned shape, both padded on the left to 4 dims. */
typedef struct {
    int as[4], bs[4];
    int same; /* b has a's shape */
} Bcast;

static Bcast bcast_make(const char *op, const Tensor *a, const Tensor *b)
{
    Bcast m;
    int d, off;
    for (d = 0; d < 4; d++) m.as[d] = m.bs[d] = 1;
    off = 4 - a->ndim;
    for (d = 0; d < a->ndim; d++) m.as[off + d] = a->shape[d];
    if (b->ndim > a->ndim) ag_shape_error(op, a, b, "b has a higher rank than a");
    for (d = 0; d < b->ndim; d++) m.bs[4 - b->ndim + d] = b->shape[d];
    m.same = 1;
    for (d = 0; d < 4; d++) {
        if (m.bs[d] != m.as[d] && m.bs[d] != 1)
            ag_shape_error(op, a, b, "b does not broadcast to a");
        if (m.bs[d] != m.as[d]) m.same = 0;
    }
    return m;
}

/* Offset in b of the element that pairs with a's element (i0, i1, i2, i3). */
static size_t bcast_off(const Bcast *m, int i0, int i1, int i2, int i3)
{
    int j0 = m->bs[0] == 1 ? 0 : i0, j1 = m->bs[1] == 1 ? 0 : i1;
    int j2 = m->bs[2] == 1 ? 0 : i2, j3 = m->bs[3] == 1 ? 0 : i3;
    return (((size_t)j0 * m->bs[1] + j1) * m->bs[2] + j2) * m->bs[3] + j3;
}

/* Scalar kinds of binary op, shared by forward and backward. */
enum { BIN_ADD, BIN_SUB, BIN_MUL };

/* z[p] = x[p] op v for p < len: b constant over a run (a broadcast over the trailing
 * dims), the kind chosen once per run so that each loop is a plain vector loop. */
static void run_const(int kind, const Scalar *x, Scalar v, Scalar *restrict z, size_t len)
{
    size_t p;
    if (kind == BIN_ADD)
        for (p = 0; p < len; p++) z[p] = x[p] + v;
    else if (kind == BIN_SUB)
        for (p = 0; p < len; p++) z[p] = x[p] - v;
    else
        for (p = 0; p < len; p++) z[p] = x[p] * v;
}

static void binary_forward(Var *out, int kind)
{
    const Var *a = out->in[0], *b = out->in[1];
    const Scalar *x = a->val.data, *y = b->val.data;
    Scalar *z = out->val.data;
    long n = (long)out->val.n, i;
    Bcast m = bcast_make(ag_ops[out->op].name, &a->val, &b->val);
    if (m.same) {
        if (kind == BIN_ADD) {
            PAR_FOR(n)
            for (i = 0; i < n; i++) z[i] = x[i] + y[i];
        } else if (kind == BIN_SUB) {
            PAR_FOR(n)
            for (i = 0; i < n; i++) z[i] = x[i] - y[i];
        } else {
            PAR_FOR(n)
            for (i = 0; i < n; i++) z[i] = x[i] * y[i];
        }
        return;
    }
    {
        long outer = (long)m.as[0] * m.as[1];
        const size_t plane = (size_t)m.as[2] * m.as[3];
        long o;
        PAR_FOR(n)
        for (o = 0; o < outer; o++) {
            int i0 = (int)(o / m.as[1]), i1 = (int)(o % m.as[1]), i2, i3;
            size_t p = (size_t)o * plane;
            if (m.bs[2] == 1 && m.bs[3] == 1) { /* per (i0, i1): one value for the plane */
                run_const(kind, x + p, y[bcast_off(&m, i0, i1, 0, 0)], z + p, plane);
                continue;
            }
            for (i2 = 0; i2 < m.as[2]; i2++)
                for (i3 = 0; i3 < m.as[3]; i3++, p++) {
                    Scalar v = y[bcast_off(&m, i0, i1, i2, i3)];
                    z[p] = kind == BIN_ADD ? x[p] + v : kind == BIN_SUB ? x[p] - v : x[p] * v;
                }
        }
    }
}

/* db[j] += sum over a's positions that map to b's element j of coef(p) dy[p], where
 * coef is 1 (add), -1 (sub) or a[p] (mul).  Parallel over j: each thread owns its j and
 * sums in a fixed order.  A plane that b broadcasts over (b [N, C, 1, 1] or [C, 1, 1], a
 * time embedding or a bias) is summed by sum_lanes and the planes added in order, as the
 * conv's bias and shift gradients are (op_conv.c): the same bits either way. */
static void reduce_to_b(const Bcast *m, const Scalar *dy, const Scalar *a, Scalar sign, Scalar *db)
{
    long nb = (long)m->bs[0] * m->bs[1] * m->bs[2] * m->bs[3], j;
    PAR_FOR((long)m->as[0] * m->as[1] * m->as[2] * m->as[3])
    for (j = 0; j < nb; j++) {
        int b3 = (int)(j % m->bs[3]), b2 = (int)(j / m->bs[3] % m->bs[2]);
        int b1 = (int)(j / ((long)m->bs[3] * m->bs[2]) % m->bs[1]);
        int b0 = (int)(j / ((long)m->bs[3] * m->bs[2] * m->bs[1]));
        int r0 = m->bs[0] == 1 ? m->as[0] : 1, r1 = m->bs[1] == 1 ? m->as[1] : 1;
        int r2 = m->bs[2] == 1 ? m->as[2] : 1, r3 = m->bs[3] == 1 ? m->as[3] : 1;
        int k0, k1, k2, k3;
        double acc = 0.0;
        if (m->bs[2] == 1 && m->bs[3] == 1) { /* the plane is one contiguous run, in order */
            const size_t plane = (size_t)m->as[2] * m->as[3];
            for (k0 = 0; k0 < r0; k0++)
                for (k1 = 0; k1 < r1; k1++) {
                    int i0 = m->bs[0] == 1 ? k0 : b0, i1 = m->bs[1] == 1 ? k1 : b1;
                    size_t q = ((size_t)i0 * m->as[1] + i1) * plane, e;
                    if (a) {
                        for (e = 0; e < plane; e++) acc += (double)(a[q + e] * dy[q + e]);
                    } else {
                        acc += sum_lanes(dy + q, plane);
                    }
                }
            db[j] += (Scalar)(sign * acc);
            continue;
        }
        for (k0 = 0; k0 < r0; k0++)
            for (k1 = 0; k1 < r1; k1++)
                for (k2 = 0; k2 < r2; k2++)
                    for (k3 = 0; k3 < r3; k3++) {
                        int i0 = m->bs[0] == 1 ? k0 : b0, i1 = m->bs[1] == 1 ? k1 : b1;
                        int i2 = m->bs[2] == 1 ? k2 : b2, i3 = m->bs[3] == 1 ? k3 : b3;
                        size_t p = (((size_t)i0 * m->as[1] + i1) * m->as[2] + i2) * m->as[3] + i3;
                        acc += (double)(a ? a[p] * dy[p] : dy[p]);
                    }
        db[j] += (Scalar)(sign * acc);
    }
}

static void binary_backward(Graph *g, Var *out, int kind)
{
    Var *a = out->in[0], *b = out->in[1];
    const Scalar *dy = out->grad;
    long n = (long)out->val.n, i;
    Bcast m = bcast_make(ag_ops[out->op].name, &a->val, &b->val);
    /* a fresh gradient (ag_grad_fresh) is written, not added to: 0 + v, the same bits.
     * b's part first: for an add, a may then take over dy's buffer itself (ag_grad_take),
     * where a fresh copy of it would have been written */
    if (ag_needs(out, 1)) {
        int fb = 0;
        Scalar *db = m.same ? ag_grad_fresh(g, b, &fb) : ag_grad(g, b);
        Scalar sign = kind == BIN_SUB ? (Scalar)-1 : (Scalar)1;
        const Scalar *x = kind == BIN_MUL ? a->val.data : NULL;
        if (m.same) {
            PAR_FOR(n)
            for (i = 0; i < n; i++)
                db[i] = (fb ? (Scalar)0 : db[i]) + sign * (x ? x[i] * dy[i] : dy[i]);
        } else {
            reduce_to_b(&m, dy, x, sign, db);
        }
    }
    if (ag_needs(out, 0) && (kind == BIN_MUL || !ag_grad_take(out, a))) {
        int fa = 0; /* the broadcast product below adds element by element: no fresh buffer */
        Scalar *da = kind != BIN_MUL || m.same ? ag_grad_fresh(g, a, &fa) : ag_grad(g, a);
        if (kind != BIN_MUL) {
            PAR_FOR(n)
            for (i = 0; i < n; i++) da[i] = (fa ? (Scalar)0 : da[i]) + dy[i];
        } else if (m.same) {
            const Scalar *y = b->val.data;
            PAR_FOR(n)
            for (i = 0; i < n; i++) da[i] = (fa ? (Scalar)0 : da[i]) + dy[i] * y[i];
        } else {
            long outer = (long)m.as[0] * m.as[1], o;
            const Scalar *y = b->val.data;
            PAR_FOR(n)
            for (o = 0; o < outer; o++) {
                int i0 = (int)(o / m.as[1]), i1 = (int)(o % m.as[1]), i2, i3;
                size_t p = (size_t)o * m.as[2] * m.as[3];
                for (i2 = 0; i2 < m.as[2]; i2++)
                    for (i3 = 0; i3 < m.as[3]; i3++, p++)
                        da[p] += dy[p] * y[bcast_off(&m, i0, i1, i2, i3)];
            }
        }
    }
}

static Var *binary(Graph *g, OpKind op, Var *a, Var *b)
{
    Var *out;
    (void)bcast_make(ag_ops[op].name, &a->val, &b->val); /* shape check before the node */
    out = ag_node(g, op, a->val.ndim, a->val.shape, a, b, NULL);
    ag_forward(g, out);
    return out;
}

void op_add_forward(Graph *g, Var *out)
{
    (void)g;
    binary_forward(out, BIN_ADD);
}
void op_add_backward(Graph *g, Var *out) { binary_backward(g, out, BIN_ADD); }
void op_sub_forward(Graph *g, Var *out)
{
    (void)g;
    binary_forward(out, BIN_SUB);
}
void op_sub_backward(Graph *g, Var *out) { binary_backward(g, out, BIN_SUB); }
void op_mul_forward(Graph *g, Var *out)
{
    (void)g;
    binary_forward(out, BIN_MUL);
}
void op_mul_backward(Graph *g, Var *out) { binary_backward(g, out, BIN_MUL); }

Var *ag_add(Graph *g, Var *a, Var *b) { return binary(g, OP_ADD, a, b); }
Var *ag_sub(Graph *g, Var *a, Var *b) { return binary(g, OP_SUB, a, b); }
Var *ag_mul(Graph *g, Var *a, Var *b) { return binary(g, OP_MUL, a, b); }

/* ---------------------------------------------------------------- affine */

void op_affine_forward(Graph *g, Var *out)
{
    const Scalar *x = out->in[0]->val.data;
    Scalar *y = out->val.data, alpha = out->sp[0], beta = out->sp[1];
    long n = (long)out->val.n, i;
    (void)g;
    PAR_FOR(n)
    for (i = 0; i < n; i++) y[i] = alpha * x[i] + beta;
}

void op_affine_backward(Graph *g, Var *out)
{
    Scalar *dx, alpha = out->sp[0];
    const Scalar *dy = out->grad;
    long n = (long)out->val.n, i;
    if (!ag_needs(out, 0)) return;
    dx = ag_grad(g, out->in[0]);
    PAR_FOR(n)
    for (i = 0; i < n; i++) dx[i] += alpha * dy[i];
}

Var *ag_affine(Graph *g, Var *a, Scalar alpha, Scalar beta)
{
    Var *out = ag_node(g, OP_AFFINE, a->val.ndim, a->val.shape, a, NULL, NULL);
    out->sp[0] = alpha;
    out->sp[1] = beta;
    ag_forward(g, out);
    return out;
}

Var *ag_scale(Graph *g, Var *a, Scalar alpha) { return ag_affine(g, a, alpha, 0); }

/* ---------------------------------------------------------------- unary maps */

enum { UN_SILU, UN_RELU, UN_EXP, UN_LOG, UN_SQRT };

/* SiLU's exp is elem_exp_poly (ops_internal.h). */

void elem_exp(const Scalar *x, Scalar *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] = elem_exp_poly(x[i]);
}

/* e = e^-x over m <= ELEM_BLOCK elements; the full block has its own loop of fixed length,
 * which gcc unrolls into four interleaved vectors. */
static void exp_neg_block(const Scalar *x, Scalar *e, size_t m)
{
    size_t k;
    if (m == ELEM_BLOCK)
        for (k = 0; k < ELEM_BLOCK; k++) e[k] = elem_exp_poly(-x[k]);
    else
        for (k = 0; k < m; k++) e[k] = elem_exp_poly(-x[k]);
}

/* y = x / (1 + e^-x) (silu) or 1 / (1 + e^-x), a block at a time: the block's exps, then
 * one of two division loops, chosen outside them so that both vectorise. */
static void silu_or_sigmoid(const Scalar *x, Scalar *y, size_t n, int silu)
{
    Scalar e[ELEM_BLOCK];
    size_t i, k;
    for (i = 0; i < n; i += ELEM_BLOCK) {
        const size_t m = n - i < ELEM_BLOCK ? n - i : ELEM_BLOCK;
        exp_neg_block(x + i, e, m);
        if (silu)
            for (k = 0; k < m; k++) y[i + k] = x[i + k] / ((Scalar)1 + e[k]);
        else
            for (k = 0; k < m; k++) y[i + k] = (Scalar)1 / ((Scalar)1 + e[k]);
    }
}

void elem_silu(const Scalar *x, Scalar *y, size_t n) { silu_or_sigmoid(x, y, n, 1); }
void elem_sigmoid(const Scalar *x, Scalar *s, size_t n) { silu_or_sigmoid(x, s, n, 0); }

void elem_silu_vjp(const Scalar *x, const Scalar *y, const Scalar *dy, Scalar *out, size_t n,
                   int acc)
{
    Scalar s[ELEM_BLOCK];
    size_t i, k;
    if (y) {
        for (i = 0; i < n; i++) { /* x read before out is written: out may be x */
            const Scalar xv = x[i], yv = y[i], base = acc ? out[i] : (Scalar)0;
            const Scalar sg = xv != 0 ? yv / xv : (Scalar)0.5;
            out[i] = base + dy[i] * (yv + sg * ((Scalar)1 - yv));
        }
        return;
    }
    for (i = 0; i < n; i += ELEM_BLOCK) {
        const size_t m = n - i < ELEM_BLOCK ? n - i : ELEM_BLOCK;
        elem_sigmoid(x + i, s, m);
        for (k = 0; k < m; k++) { /* x read before out is written: out may be x */
            const Scalar xk = x[i + k], base = acc ? out[i + k] : (Scalar)0;
            out[i + k] = base + dy[i + k] * s[k] * ((Scalar)1 + xk * ((Scalar)1 - s[k]));
        }
    }
}

static void unary_forward(Var *out, int kind)
{
    const Scalar *x = out->in[0]->val.data;
    Scalar *y = out->val.data;
    long n = (long)out->val.n, i, nb = (n + ELEM_BLOCK - 1) / ELEM_BLOCK;
    switch (kind) {
    case UN_SILU: /* x sigmoid(x) = x / (1 + e^-x), a block at a time */
        PAR_FOR(n)
        for (i = 0; i < nb; i++) {
            const long i0 = i * ELEM_BLOCK, m = n - i0 < ELEM_BLOCK ? n - i0 : ELEM_BLOCK;
            elem_silu(x + i0, y + i0, (size_t)m);
        }
        break;
    case UN_RELU:
        PAR_FOR(n)
        for (i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case UN_EXP:
        PAR_FOR(n)
        for (i = 0; i < n; i++) y[i] = SCALAR_EXP(x[i]);
        break;
    case UN_LOG:
        PAR_FOR(n)
        for (i = 0; i < n; i++) y[i] = (Scalar)log(x[i]);
        break;
    default:
        PAR_FOR(n)
        for (i = 0; i < n; i++) y[i] = (Scalar)sqrt(x[i]);
        break;
    }
}

static void unary_backward(Graph *g, Var *out, int kind)
{
    const Scalar *x = out->in[0]->val.data, *y = out->val.data, *dy = out->grad;
    Scalar *dx;
    long n = (long)out->val.n, i, nb = (n + ELEM_BLOCK - 1) / ELEM_BLOCK;
    if (!ag_needs(out, 0)) return;
    dx = ag_grad(g, out->in[0]);
    switch (kind) {
    case UN_SILU: /* dx += dy s (1 + x (1 - s)), s = sigmoid(x) (or y / x), a block at a time */
        PAR_FOR(n)
        for (i = 0; i < nb; i++) {
            const long i0 = i * ELEM_BLOCK, m = n - i0 < ELEM_BLOCK ? n - i0 : ELEM_BLOCK;
            elem_silu_vjp(x + i0, out->needed ? y + i0 : NULL, dy + i0, dx + i0, (size_t)m, 1);
        }
        break;
    case UN_RELU:
        PAR_FOR(n)
        for (i = 0; i < n; i++) dx[i] += x[i] > 0 ? dy[i] : 0;
        break;
    case UN_EXP:
        PAR_FOR(n)
        for (i = 0; i < n; i++) dx[i] += dy[i] * y[i];
        break;
    case UN_LOG:
        PAR_FOR(n)
        for (i = 0; i < n; i++) dx[i] += dy[i] / x[i];
        break;
    default:
        PAR_FOR(n)
        for (i = 0; i < n; i++) dx[i] += dy[i] / ((Scalar)2 * y[i]);
        break;
    }
}

static Var *unary(Graph *g, OpKind op, Var *a)
{
    Var *out = ag_node(g, op, a->val.ndim, a->val.shape, a, NULL, NULL);
    ag_forward(g, out);
    return out;
}

void op_silu_forward(Graph *g, Var *out)
{
    (void)g;
    unary_forward(out, UN_SILU);
}
void op_silu_backward(Graph *g, Var *out) { unary_backward(g, out, UN_SILU); }
void op_relu_forward(Graph *g, Var *out)
{
    (void)g;
    unary_forward(out, UN_RELU);
}
void op_relu_backward(Graph *g, Var *out) { unary_backward(g, out, UN_RELU); }
void op_exp_forward(Graph *g, Var *out)
{
    (void)g;
    unary_forward(out, UN_EXP);
}
void op_exp_backward(Graph *g, Var *out) { unary_backward(g, out, UN_EXP); }
void op_log_forward(Graph *g, Var *out)
{
    (void)g;
    unary_forward(out, UN_LOG);
}
void op_log_backward(Graph *g, Var *out) { unary_backward(g, out, UN_LOG); }
void op_sqrt_forward(Graph *g, Var *out)
{
    (void)g;
    unary_forward(out, UN_SQRT);
}
void op_sqrt_backward(Graph *g, Var *out) { unary_backward(g, out, UN_SQRT); }

Var *ag_silu(Graph *g, Var *a) { return unary(g, OP_SILU, a); }
Var *ag_relu(Graph *g, Var *a) { return unary(g, OP_RELU, a); }
Var *ag_exp(Graph *g, Var *a) { return unary(g, OP_EXP, a); }
Var *ag_log(Graph *g, Var *a) { return unary(g, OP_LOG, a); }
Var *ag_sqrt(Graph *g, Var *a) { return unary(g, OP_SQRT, a); }

/* ---------------------------------------------------------------- gradient checks */

#include "gradcheck.h"

static const int gc_shape4[4] = {2, 3, 4, 5};

static Var *gc_same(Graph *g, Rng *r, OpKind op)
{
    Var *a = gc_normal(g, r, 4, gc_shape4, 1.0, 0.0, 1, "a");
    Var *b = gc_normal(g, r, 4, gc_shape4, 1.0, 0.0, 1, "b");
    return op == OP_ADD ? ag_add(g, a, b) : op == OP_SUB ? ag_sub(g, a, b) : ag_mul(g, a, b);
}

static Var *gc_bcast(Graph *g, Rng *r, OpKind op, int nd, const int *bshape)
{
    Var *a = gc_normal(g, r, 4, gc_shape4, 1.0, 0.0, 1, "a");
    Var *b = gc_normal(g, r, nd, bshape, 1.0, 0.3, 1, "b");
    return op == OP_ADD ? ag_add(g, a, b) : op == OP_SUB ? ag_sub(g, a, b) : ag_mul(g, a, b);
}

static const int bs_chan[4] = {1, 3, 1, 1}, bs_nc[4] = {2, 3, 1, 1}, bs_sample[4] = {2, 1, 1, 1},
                 bs_mask[4] = {1, 1, 4, 5}, bs_one[1] = {1};

/* The inputs through an op first (a / 2, b / 2): their gradients are then written fresh
 * (ag_grad_fresh) rather than added; h * h reads one node twice, so its second gradient
 * term must be added to the first. */
static Var *gc_on_op(Graph *g, Rng *r, OpKind op, int nd, const int *bshape)
{
    Var *a = ag_scale(g, gc_normal(g, r, 4, gc_shape4, 1.0, 0.0, 1, "a"), (Scalar)0.5);
    Var *b = nd ? ag_scale(g, gc_normal(g, r, nd, bshape, 1.0, 0.3, 1, "b"), (Scalar)0.5) : a;
    return op == OP_ADD ? ag_add(g, a, b) : op == OP_SUB ? ag_sub(g, a, b) : ag_mul(g, a, b);
}

static Var *gc_add_same(Graph *g, Rng *r) { return gc_same(g, r, OP_ADD); }
static Var *gc_add_chan(Graph *g, Rng *r) { return gc_bcast(g, r, OP_ADD, 4, bs_chan); }
static Var *gc_add_nc(Graph *g, Rng *r) { return gc_bcast(g, r, OP_ADD, 4, bs_nc); }
static Var *gc_sub_same(Graph *g, Rng *r) { return gc_same(g, r, OP_SUB); }
static Var *gc_sub_mask(Graph *g, Rng *r) { return gc_bcast(g, r, OP_SUB, 4, bs_mask); }
static Var *gc_mul_same(Graph *g, Rng *r) { return gc_same(g, r, OP_MUL); }
static Var *gc_mul_sample(Graph *g, Rng *r) { return gc_bcast(g, r, OP_MUL, 4, bs_sample); }
static Var *gc_mul_chan(Graph *g, Rng *r) { return gc_bcast(g, r, OP_MUL, 4, bs_chan); }
static Var *gc_mul_scalar(Graph *g, Rng *r) { return gc_bcast(g, r, OP_MUL, 1, bs_one); }
static Var *gc_add_on_op(Graph *g, Rng *r) { return gc_on_op(g, r, OP_ADD, 4, gc_shape4); }
static Var *gc_sub_on_op(Graph *g, Rng *r) { return gc_on_op(g, r, OP_SUB, 4, gc_shape4); }
static Var *gc_mul_on_op(Graph *g, Rng *r) { return gc_on_op(g, r, OP_MUL, 4, gc_shape4); }
static Var *gc_mul_on_op_twice(Graph *g, Rng *r) { return gc_on_op(g, r, OP_MUL, 0, NULL); }

static Var *gc_affine(Graph *g, Rng *r)
{
    return ag_affine(g, gc_normal(g, r, 4, gc_shape4, 1.0, 0.0, 1, "a"), (Scalar)-1.7, (Scalar)0.3);
}

static Var *gc_silu(Graph *g, Rng *r)
{
    return ag_silu(g, gc_normal(g, r, 4, gc_shape4, 2.0, 0.0, 1, "a"));
}

/* The output read on (times a trainable w): the VJP takes the sigmoid as y / x */
static Var *gc_silu_read(Graph *g, Rng *r)
{
    Var *y = ag_silu(g, gc_normal(g, r, 4, gc_shape4, 2.0, 0.0, 1, "a"));
    return ag_mul(g, y, gc_normal(g, r, 4, gc_shape4, 1.0, 0.0, 1, "w"));
}

static Var *gc_relu(Graph *g, Rng *r)
{
    return ag_relu(g, gc_normal(g, r, 4, gc_shape4, 1.0, 0.05, 1, "a"));
}

static Var *gc_exp(Graph *g, Rng *r)
{
    return ag_exp(g, gc_normal(g, r, 4, gc_shape4, 1.0, 0.0, 1, "a"));
}

static Var *gc_log(Graph *g, Rng *r)
{
    return ag_log(g, gc_uniform(g, r, 4, gc_shape4, 0.2, 3.0, 1, "a"));
}

static Var *gc_sqrt(Graph *g, Rng *r)
{
    return ag_sqrt(g, gc_uniform(g, r, 4, gc_shape4, 0.2, 3.0, 1, "a"));
}

const GradCase gc_elem_cases[] = {
    {OP_ADD, "same shape", gc_add_same},
    {OP_ADD, "per-channel [1,C,1,1]", gc_add_chan},
    {OP_ADD, "per-sample-channel [N,C,1,1]", gc_add_nc},
    {OP_SUB, "same shape", gc_sub_same},
    {OP_SUB, "mask [1,1,H,W]", gc_sub_mask},
    {OP_MUL, "same shape", gc_mul_same},
    {OP_MUL, "per-sample [N,1,1,1]", gc_mul_sample},
    {OP_MUL, "per-channel [1,C,1,1]", gc_mul_chan},
    {OP_MUL, "scalar [1]", gc_mul_scalar},
    {OP_ADD, "same shape, inputs op nodes", gc_add_on_op},
    {OP_SUB, "same shape, inputs op nodes", gc_sub_on_op},
    {OP_MUL, "same shape, inputs op nodes", gc_mul_on_op},
    {OP_MUL, "h * h, h an op node", gc_mul_on_op_twice},
    {OP_AFFINE, "alpha -1.7, beta 0.3", gc_affine},
    {OP_SILU, "normal(0, 2)", gc_silu},
    {OP_SILU, "normal(0, 2), output read on", gc_silu_read},
    {OP_RELU, "|x| >= 0.05", gc_relu},
    {OP_EXP, "normal(0, 1)", gc_exp},
    {OP_LOG, "x in [0.2, 3]", gc_log},
    {OP_SQRT, "x in [0.2, 3]", gc_sqrt},
    {OP_LEAF, NULL, NULL},
};
