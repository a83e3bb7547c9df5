/* op_linalg.c - matmul, linear, batched matmul and embedding, all through gemm().
 * Formulas in ops.h.  With Y = A' C' (A' = op(a), C' = op(c)):
 *   dA' = dY C'^T,  dC' = A'^T dY,
 * and a transposed operand takes the transpose of its gradient. */
#include "../tensor/gemm.h"
#include "../tensor/parallel.h"
#include "gradcheck.h"
#include "ops.h"
#include "ops_internal.h"

/* ---------------------------------------------------------------- matmul */

void op_matmul_forward(Graph *g, Var *out)
{
    const Var *a = out->in[0], *b = out->in[1];
    int M = a->val.shape[0], K = a->val.shape[1], N = b->val.shape[1];
    (void)g;
    gemm(0, 0, M, N, K, 1, a->val.data, K, b->val.data, N, 0, out->val.data, N);
}

void op_matmul_backward(Graph *g, Var *out)
{
    Var *a = out->in[0], *b = out->in[1];
    int M = a->val.shape[0], K = a->val.shape[1], N = b->val.shape[1];
    if (ag_needs(out, 0)) /* da [M,K] += dy [M,N] b^T */
        gemm(0, 1, M, K, N, 1, out->grad, N, b->val.data, N, 1, ag_grad(g, a), K);
    if (ag_needs(out, 1)) /* db [K,N] += a^T dy */
        gemm(1, 0, K, N, M, 1, a->val.data, K, out->grad, N, 1, ag_grad(g, b), N);
}

Var *ag_matmul(Graph *g, Var *a, Var *b)
{
    int shape[2];
    Var *out;
    if (a->val.ndim != 2 || b->val.ndim != 2 || a->val.shape[1] != b->val.shape[0])
        ag_shape_error("matmul", &a->val, &b->val, "want [M, K] x [K, N]");
    shape[0] = a->val.shape[0];
    shape[1] = b->val.shape[1];
    out = ag_node(g, OP_MATMUL, 2, shape, a, b, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- linear */

void op_linear_forward(Graph *g, Var *out)
{
    const Var *x = out->in[0], *w = out->in[1], *b = out->in[2];
    int N = x->val.shape[0], I = x->val.shape[1], O = w->val.shape[0];
    (void)g;
    gemm(0, 1, N, O, I, 1, x->val.data, I, w->val.data, I, 0, out->val.data, O); /* y = x W^T */
    if (b) {
        int n, o;
        for (n = 0; n < N; n++)
            for (o = 0; o < O; o++) out->val.data[(size_t)n * O + o] += b->val.data[o];
    }
}

void op_linear_backward(Graph *g, Var *out)
{
    Var *x = out->in[0], *w = out->in[1], *b = out->in[2];
    int N = x->val.shape[0], I = x->val.shape[1], O = w->val.shape[0];
    const Scalar *dy = out->grad;
    if (ag_needs(out, 0)) /* dx [N,I] += dy [N,O] W [O,I] */
        gemm(0, 0, N, I, O, 1, dy, O, w->val.data, I, 1, ag_grad(g, x), I);
    if (ag_needs(out, 1)) /* dW [O,I] += dy^T x */
        gemm(1, 0, O, I, N, 1, dy, O, x->val.data, I, 1, ag_grad(g, w), I);
    if (ag_needs(out, 2)) { /* db [O] += sum_n dy */
        Scalar *db = ag_grad(g, b);
        int n, o;
        for (o = 0; o < O; o++) {
            double s = 0.0;
            for (n = 0; n < N; n++) s += (double)dy[(size_t)n * O + o];
            db[o] += (Scalar)s;
        }
    }
}

Var *ag_linear(Graph *g, Var *x, Var *w, Var *bias)
{
    int shape[2];
    Var *out;
    if (x->val.ndim != 2 || w->val.ndim != 2 || x->val.shape[1] != w->val.shape[1])
        ag_shape_error("linear", &x->val, &w->val, "want x [N, I] and W [O, I]");
    if (bias && (bias->val.ndim != 1 || bias->val.shape[0] != w->val.shape[0]))
        ag_shape_error("linear", &w->val, &bias->val, "bias must be [O]");
    shape[0] = x->val.shape[0];
    shape[1] = w->val.shape[0];
    out = ag_node(g, OP_LINEAR, 2, shape, x, w, bias);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- batched matmul */

/* ip: [0] ta, [1] tc, [2] M, [3] K, [4] N */
void op_bmm_forward(Graph *g, Var *out)
{
    const Var *a = out->in[0], *c = out->in[1];
    int ta = out->ip[0], tc = out->ip[1], M = out->ip[2], K = out->ip[3], N = out->ip[4];
    long B = a->val.shape[0], b;
    size_t sa = (size_t)M * K, sc = (size_t)K * N, sy = (size_t)M * N;
    (void)g;
    PAR_FOR(B * (long)(sa + sc + sy))
    for (b = 0; b < B; b++)
        gemm(ta, tc, M, N, K, 1, a->val.data + b * sa, ta ? M : K, c->val.data + b * sc, tc ? K : N,
             0, out->val.data + b * sy, N);
}

void op_bmm_backward(Graph *g, Var *out)
{
    Var *a = out->in[0], *c = out->in[1];
    int ta = out->ip[0], tc = out->ip[1], M = out->ip[2], K = out->ip[3], N = out->ip[4];
    long B = a->val.shape[0], b;
    size_t sa = (size_t)M * K, sc = (size_t)K * N, sy = (size_t)M * N;
    Scalar *da = ag_needs(out, 0) ? ag_grad(g, a) : NULL;
    Scalar *dc = ag_needs(out, 1) ? ag_grad(g, c) : NULL;
    PAR_FOR(B * (long)(sa + sc + sy))
    for (b = 0; b < B; b++) {
        /* a is read only for dc and c only for da: the other may have been given back */
        const Scalar *dy = out->grad + b * sy, *av = dc ? a->val.data + b * sa : NULL,
                     *cv = da ? c->val.data + b * sc : NULL;
        if (da && !ta) /* da [M,K] += dY C'^T */
            gemm(0, !tc, M, K, N, 1, dy, N, cv, tc ? K : N, 1, da + b * sa, K);
        if (da && ta) /* da [K,M] += C' dY^T */
            gemm(tc, 1, K, M, N, 1, cv, tc ? K : N, dy, N, 1, da + b * sa, M);
        if (dc && !tc) /* dc [K,N] += A'^T dY */
            gemm(!ta, 0, K, N, M, 1, av, ta ? M : K, dy, N, 1, dc + b * sc, N);
        if (dc && tc) /* dc [N,K] += dY^T A' */
            gemm(1, ta, N, K, M, 1, dy, N, av, ta ? M : K, 1, dc + b * sc, K);
    }
}

Var *ag_bmm(Graph *g, Var *a, Var *c, int ta, int tc)
{
    int shape[3], M, K, K2, N;
    Var *out;
    if (a->val.ndim != 3 || c->val.ndim != 3 || a->val.shape[0] != c->val.shape[0])
        ag_shape_error("bmm", &a->val, &c->val, "want two rank-3 tensors with equal batch");
    M = ta ? a->val.shape[2] : a->val.shape[1];
    K = ta ? a->val.shape[1] : a->val.shape[2];
    K2 = tc ? c->val.shape[2] : c->val.shape[1];
    N = tc ? c->val.shape[1] : c->val.shape[2];
    if (K != K2) ag_shape_error("bmm", &a->val, &c->val, "inner dimensions differ");
    shape[0] = a->val.shape[0];
    shape[1] = M;
    shape[2] = N;
    out = ag_node(g, OP_BMM, 3, shape, a, c, NULL);
    out->ip[0] = ta != 0;
    out->ip[1] = tc != 0;
    out->ip[2] = M;
    out->ip[3] = K;
    out->ip[4] = N;
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- embedding */

void op_embedding_forward(Graph *g, Var *out)
{
    const Var *t = out->in[0];
    int n = out->val.shape[0], D = t->val.shape[1], i, j;
    (void)g;
    for (i = 0; i < n; i++)
        for (j = 0; j < D; j++)
            out->val.data[(size_t)i * D + j] = t->val.data[(size_t)out->ids[i] * D + j];
}

void op_embedding_backward(Graph *g, Var *out)
{
    Var *t = out->in[0];
    int n = out->val.shape[0], D = t->val.shape[1], i, j;
    Scalar *dt;
    if (!ag_needs(out, 0)) return;
    dt = ag_grad(g, t);
    for (i = 0; i < n; i++) /* serial: two samples may share a row */
        for (j = 0; j < D; j++) dt[(size_t)out->ids[i] * D + j] += out->grad[(size_t)i * D + j];
}

Var *ag_embedding(Graph *g, Var *table, const int *ids, int n)
{
    int shape[2], i;
    Var *out;
    if (table->val.ndim != 2)
        ag_shape_error("embedding", &table->val, NULL, "table must be [V, D]");
    for (i = 0; i < n; i++)
        CHECK(ids[i] >= 0 && ids[i] < table->val.shape[0],
              "embedding: id %d of row %d is outside 0..%d", ids[i], i, table->val.shape[0] - 1);
    shape[0] = n;
    shape[1] = table->val.shape[1];
    out = ag_node(g, OP_EMBEDDING, 2, shape, table, NULL, NULL);
    out->ids = ids;
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- gradient checks */

static Var *gc_matmul(Graph *g, Rng *r)
{
    static const int sa[2] = {3, 5}, sb[2] = {5, 4};
    return ag_matmul(g, gc_normal(g, r, 2, sa, 1, 0, 1, "a"), gc_normal(g, r, 2, sb, 1, 0, 1, "b"));
}

static Var *gc_linear(Graph *g, Rng *r)
{
    static const int sx[2] = {3, 6}, sw[2] = {4, 6}, sb[1] = {4};
    return ag_linear(g, gc_normal(g, r, 2, sx, 1, 0, 1, "x"), gc_normal(g, r, 2, sw, 1, 0, 1, "W"),
                     gc_normal(g, r, 1, sb, 1, 0, 1, "b"));
}

static Var *gc_bmm_flags(Graph *g, Rng *r, int ta, int tc)
{
    int sa[3], sc[3];
    const int B = 2, M = 3, K = 4, N = 5;
    sa[0] = sc[0] = B;
    sa[1] = ta ? K : M;
    sa[2] = ta ? M : K;
    sc[1] = tc ? N : K;
    sc[2] = tc ? K : N;
    return ag_bmm(g, gc_normal(g, r, 3, sa, 1, 0, 1, "a"), gc_normal(g, r, 3, sc, 1, 0, 1, "c"), ta,
                  tc);
}

static Var *gc_bmm_nn(Graph *g, Rng *r) { return gc_bmm_flags(g, r, 0, 0); }
static Var *gc_bmm_tn(Graph *g, Rng *r) { return gc_bmm_flags(g, r, 1, 0); }
static Var *gc_bmm_nt(Graph *g, Rng *r) { return gc_bmm_flags(g, r, 0, 1); }
static Var *gc_bmm_tt(Graph *g, Rng *r) { return gc_bmm_flags(g, r, 1, 1); }

static Var *gc_embedding(Graph *g, Rng *r)
{
    static const int st[2] = {5, 3};
    static const int ids[4] = {4, 1, 4, 0}; /* a repeated row accumulates */
    return ag_embedding(g, gc_normal(g, r, 2, st, 1, 0, 1, "table"), ids, 4);
}

const GradCase gc_linalg_cases[] = {
    {OP_MATMUL, "[3,5] x [5,4]", gc_matmul},
    {OP_LINEAR, "x [3,6], W [4,6], b [4]", gc_linear},
    {OP_BMM, "a c", gc_bmm_nn},
    {OP_BMM, "a^T c", gc_bmm_tn},
    {OP_BMM, "a c^T", gc_bmm_nt},
    {OP_BMM, "a^T c^T", gc_bmm_tt},
    {OP_EMBEDDING, "[5,3], ids with a repeat", gc_embedding},
    {OP_LEAF, NULL, NULL},
};
