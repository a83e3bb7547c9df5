/* op_shape.c - channel concat, slicing along one dim, reshape.  Pure data movement:
 * the backward of each is the same movement in reverse, accumulated. */
#include <string.h>

#include "../tensor/parallel.h"
#include "gradcheck.h"
#include "ops.h"
#include "ops_internal.h"

/* A tensor seen as [outer, mid, inner] around dim `axis`. */
static void split_dims(const Tensor *t, int axis, size_t *outer, size_t *inner)
{
    int d;
    *outer = 1;
    *inner = 1;
    for (d = 0; d < axis; d++) *outer *= (size_t)t->shape[d];
    for (d = axis + 1; d < t->ndim; d++) *inner *= (size_t)t->shape[d];
}

/* ---------------------------------------------------------------- concat (dim 1) */

/* Both directions run in parallel over the outer index (each owns its rows of the output). */
void op_concat_forward(Graph *g, Var *out)
{
    const Var *a = out->in[0], *b = out->in[1];
    size_t outer, inner, ca, cb;
    long n, no;
    (void)g;
    split_dims(&a->val, 1, &outer, &inner);
    ca = (size_t)a->val.shape[1] * inner;
    cb = (size_t)b->val.shape[1] * inner;
    no = (long)outer;
    PAR_FOR((long)out->val.n)
    for (n = 0; n < no; n++) {
        Scalar *dst = out->val.data + (size_t)n * (ca + cb);
        memcpy(dst, a->val.data + (size_t)n * ca, ca * sizeof(Scalar));
        memcpy(dst + ca, b->val.data + (size_t)n * cb, cb * sizeof(Scalar));
    }
}

/* d[i] = (fresh ? 0 : d[i]) + s[i], i < len: one row of one part of the concatenation's
 * gradient. */
static void concat_grad_row(Scalar *d, int fresh, const Scalar *s, size_t len)
{
    size_t i;
    if (fresh) {
        for (i = 0; i < len; i++) d[i] = (Scalar)0 + s[i];
    } else {
        for (i = 0; i < len; i++) d[i] = d[i] + s[i];
    }
}

void op_concat_backward(Graph *g, Var *out)
{
    Var *a = out->in[0], *b = out->in[1];
    size_t outer, inner, ca, cb;
    Scalar *da = NULL, *db = NULL;
    int fa = 0, fb = 0;
    long n, no;
    split_dims(&a->val, 1, &outer, &inner);
    ca = (size_t)a->val.shape[1] * inner;
    cb = (size_t)b->val.shape[1] * inner;
    no = (long)outer;
    /* a fresh gradient (ag_grad_fresh) is written, not added to: 0 + v, the same bits.  Both
     * parts in one parallel loop (row n: a's part, then b's; when a is b, b's finds a's
     * written and adds to it, as two loops would) */
    if (ag_needs(out, 0)) da = ag_grad_fresh(g, a, &fa);
    if (ag_needs(out, 1)) db = ag_grad_fresh(g, b, &fb);
    PAR_FOR((long)out->val.n)
    for (n = 0; n < no; n++) {
        const Scalar *src = out->grad + (size_t)n * (ca + cb);
        if (da) concat_grad_row(da + (size_t)n * ca, fa, src, ca);
        if (db) concat_grad_row(db + (size_t)n * cb, fb, src + ca, cb);
    }
}

Var *ag_concat(Graph *g, Var *a, Var *b)
{
    int shape[TENSOR_MAX_DIM], d;
    Var *out;
    if (a->val.ndim != b->val.ndim || a->val.ndim < 2)
        ag_shape_error("concat", &a->val, &b->val, "ranks differ or are below 2");
    for (d = 0; d < a->val.ndim; d++) {
        if (d != 1 && a->val.shape[d] != b->val.shape[d])
            ag_shape_error("concat", &a->val, &b->val, "dims other than 1 differ");
        shape[d] = a->val.shape[d];
    }
    shape[1] = a->val.shape[1] + b->val.shape[1];
    out = ag_node(g, OP_CONCAT, a->val.ndim, shape, a, b, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- slice */

/* ip: [0] axis, [1] start, [2] len */
void op_slice_forward(Graph *g, Var *out)
{
    const Var *a = out->in[0];
    int axis = out->ip[0], start = out->ip[1], len = out->ip[2];
    size_t outer, inner, n, full = (size_t)a->val.shape[axis];
    (void)g;
    split_dims(&a->val, axis, &outer, &inner);
    for (n = 0; n < outer; n++)
        memcpy(out->val.data + n * len * inner, a->val.data + (n * full + (size_t)start) * inner,
               (size_t)len * inner * sizeof(Scalar));
}

void op_slice_backward(Graph *g, Var *out)
{
    Var *a = out->in[0];
    int axis = out->ip[0], start = out->ip[1], len = out->ip[2];
    size_t outer, inner, n, i, full = (size_t)a->val.shape[axis], span;
    Scalar *da;
    if (!ag_needs(out, 0)) return;
    da = ag_grad(g, a);
    split_dims(&a->val, axis, &outer, &inner);
    span = (size_t)len * inner;
    for (n = 0; n < outer; n++)
        for (i = 0; i < span; i++)
            da[(n * full + (size_t)start) * inner + i] += out->grad[n * span + i];
}

Var *ag_slice(Graph *g, Var *a, int axis, int start, int len)
{
    int shape[TENSOR_MAX_DIM], d;
    Var *out;
    if (axis < 0 || axis >= a->val.ndim || start < 0 || len < 1 || start > a->val.shape[axis] - len)
        ag_shape_error("slice", &a->val, NULL, "axis, start or length out of range");
    for (d = 0; d < a->val.ndim; d++) shape[d] = a->val.shape[d];
    shape[axis] = len;
    out = ag_node(g, OP_SLICE, a->val.ndim, shape, a, NULL, NULL);
    out->ip[0] = axis;
    out->ip[1] = start;
    out->ip[2] = len;
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- reshape */

void op_reshape_forward(Graph *g, Var *out)
{
    (void)g;
    memcpy(out->val.data, out->in[0]->val.data, out->val.n * sizeof(Scalar));
}

void op_reshape_backward(Graph *g, Var *out)
{
    Scalar *da;
    size_t i;
    if (!ag_needs(out, 0)) return;
    da = ag_grad(g, out->in[0]);
    for (i = 0; i < out->val.n; i++) da[i] += out->grad[i];
}

Var *ag_reshape(Graph *g, Var *a, int ndim, const int *shape)
{
    Var *out;
    if (shape_numel(ndim, shape) != a->val.n)
        ag_shape_error("reshape", &a->val, NULL, "element count changes");
    out = ag_node(g, OP_RESHAPE, ndim, shape, a, NULL, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- gradient checks */

static const int gc_sa[4] = {2, 3, 4, 5}, gc_sb[4] = {2, 2, 4, 5};

static Var *gc_concat(Graph *g, Rng *r)
{
    return ag_concat(g, gc_normal(g, r, 4, gc_sa, 1, 0, 1, "a"),
                     gc_normal(g, r, 4, gc_sb, 1, 0, 1, "b"));
}

/* inputs through an op first: their gradients are written fresh (ag_grad_fresh) */
static Var *gc_concat_on_op(Graph *g, Rng *r)
{
    Var *a = ag_scale(g, gc_normal(g, r, 4, gc_sa, 1, 0, 1, "a"), (Scalar)0.5);
    return ag_concat(g, a, ag_scale(g, gc_normal(g, r, 4, gc_sb, 1, 0, 1, "b"), (Scalar)0.5));
}

/* one op node twice: the second part adds to the gradient the first wrote fresh */
static Var *gc_concat_self(Graph *g, Rng *r)
{
    Var *a = ag_scale(g, gc_normal(g, r, 4, gc_sa, 1, 0, 1, "a"), (Scalar)0.5);
    return ag_concat(g, a, a);
}

static Var *gc_slice_rows(Graph *g, Rng *r)
{
    return ag_slice(g, gc_normal(g, r, 4, gc_sa, 1, 0, 1, "a"), 2, 1, 2);
}

static Var *gc_slice_chan(Graph *g, Rng *r)
{
    return ag_slice(g, gc_normal(g, r, 4, gc_sa, 1, 0, 1, "a"), 1, 2, 1);
}

static Var *gc_reshape(Graph *g, Rng *r)
{
    static const int to[2] = {6, 20};
    return ag_reshape(g, gc_normal(g, r, 4, gc_sa, 1, 0, 1, "a"), 2, to);
}

const GradCase gc_shape_cases[] = {
    {OP_CONCAT, "channels 3 + 2", gc_concat},
    {OP_CONCAT, "channels 3 + 2, inputs op nodes", gc_concat_on_op},
    {OP_CONCAT, "channels 3 + 3, one op node twice", gc_concat_self},
    {OP_SLICE, "rows 1..2 (dim 2)", gc_slice_rows},
    {OP_SLICE, "channel 2 (dim 1)", gc_slice_chan},
    {OP_RESHAPE, "[2,3,4,5] -> [6,20]", gc_reshape},
    {OP_LEAF, NULL, NULL},
};
