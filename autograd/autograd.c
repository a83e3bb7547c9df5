/* autograd.c - the tape, leaves, backward and the graph printer. */
#include "autograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/platform.h"

void ag_graph_init(Graph *g, Arena *arena)
{
    g->arena = arena;
    g->tail = NULL;
    g->loose = NULL;
    g->count = 0;
    g->grad_enabled = 1;
    g->check_finite = 0;
    g->memo = NULL;
    g->memo_resets = arena_resets(arena);
}

void ag_graph_reset(Graph *g)
{
    arena_reset(g->arena);
    g->tail = NULL;
    g->loose = NULL;
    g->count = 0;
}

int ag_set_grad_enabled(Graph *g, int on)
{
    int old = g->grad_enabled;
    g->grad_enabled = on ? 1 : 0;
    return old;
}

static Var *var_alloc(Graph *g)
{
    Var *v = (Var *)arena_calloc(g->arena, sizeof(Var));
    return v;
}

static void tape_push(Graph *g, Var *v)
{
    v->prev = g->tail;
    v->id = g->count++;
    g->tail = v;
}

Var *ag_leaf(Graph *g, Scalar *data, Scalar *grad, int requires_grad, int ndim, const int *shape,
             const char *name)
{
    Var *v = var_alloc(g);
    v->val = tensor_view(data, ndim, shape);
    v->grad = grad;
    v->op = OP_LEAF;
    v->requires_grad = requires_grad && g->grad_enabled;
    v->name = name;
    if (g->grad_enabled) tape_push(g, v);
    return v;
}

Var *ag_new(Graph *g, int ndim, const int *shape, int requires_grad, const char *name)
{
    Tensor t = tensor_new(g->arena, ndim, shape);
    return ag_leaf(g, t.data, NULL, requires_grad, ndim, shape, name);
}

Var *ag_zeros(Graph *g, int ndim, const int *shape, int requires_grad, const char *name)
{
    Tensor t = tensor_zeros(g->arena, ndim, shape);
    return ag_leaf(g, t.data, NULL, requires_grad, ndim, shape, name);
}

Var *ag_tensor(Graph *g, Tensor t, int requires_grad, const char *name)
{
    return ag_leaf(g, t.data, NULL, requires_grad, t.ndim, t.shape, name);
}

/* Flags the values out's backward will read (OpInfo.reads_in, reads_out). */
static void mark_needed(Var *out)
{
    const OpInfo *op = &ag_ops[out->op];
    int i, j;
    if (op->reads_out == AG_READ_YES) out->needed = 1;
    for (i = 0; i < out->nin; i++) {
        int r = op->reads_in[i];
        if (!out->in[i] || r == AG_READ_NO) continue;
        if (r == AG_READ_OTHER) {
            r = AG_READ_NO;
            for (j = 0; j < 2 && j < out->nin; j++)
                if (j != i && ag_needs(out, j)) r = AG_READ_YES;
        }
        if (r == AG_READ_YES) out->in[i]->needed = 1;
    }
}

Var *ag_node(Graph *g, OpKind op, int ndim, const int *shape, Var *a, Var *b, Var *c)
{
    Var *ins[AG_MAX_IN];
    int i;
    ins[0] = a;
    ins[1] = b;
    ins[2] = c;
    for (i = 3; i < AG_MAX_IN; i++) ins[i] = NULL;
    return ag_node_in(g, op, ndim, shape, ins);
}

Var *ag_node_in(Graph *g, OpKind op, int ndim, const int *shape, Var *const *ins)
{
    Var *v = var_alloc(g);
    int i;
    v->val = tensor_view(
        (Scalar *)arena_block_get(g->arena, size_mul(shape_numel(ndim, shape), sizeof(Scalar))),
        ndim, shape);
    v->op = op;
    v->name = ag_ops[op].name;
    v->nin = 0;
    for (i = 0; i < AG_MAX_IN; i++) {
        v->in[i] = ins[i];
        if (ins[i]) {
            v->nin = i + 1;
            if (ins[i]->requires_grad) v->requires_grad = 1;
        }
    }
    if (!g->grad_enabled) {
        v->requires_grad = 0;
        v->prev = g->loose;
        g->loose = v;
    } else {
        tape_push(g, v);
    }
    if (v->requires_grad) mark_needed(v);
    return v;
}

void *ag_saved(Graph *g, Var *out, size_t bytes)
{
    if (!out->saved) {
        out->saved = arena_alloc(g->arena, bytes);
        out->saved_bytes = bytes;
    }
    return out->saved;
}

int ag_needs(const Var *out, int i) { return out->in[i] != NULL && out->in[i]->requires_grad; }

/* ---------------------------------------------------------------- op profile */

typedef struct OpTally {
    long calls[2]; /* forward, backward */
    double secs[2];
} OpTally;

/* conv2d's tally by shape: key x [N, C, H, W], O, kh, kw, stride, pad; the multiply-adds
 * of the direct conv each way (backward: one forward's worth for dx, one for dW, as the
 * node needs them).  Shapes past PROF_SHAPES go to the last row, keyed all -1. */
#define PROF_SHAPES 48
#define PROF_KEY 9
typedef struct ShapeTally {
    OpTally t;
    int key[PROF_KEY];
    double flops[2];
} ShapeTally;

static int prof_on;
static OpTally prof[OP_COUNT];
static ShapeTally prof_conv[PROF_SHAPES];
static int prof_nconv;

void ag_profile_set(int on) { prof_on = on != 0; }
int ag_profile_on(void) { return prof_on; }
void ag_profile_reset(void)
{
    memset(prof, 0, sizeof prof);
    memset(prof_conv, 0, sizeof prof_conv);
    prof_nconv = 0;
}

static void conv_tally(const Var *out, int dir, double secs)
{
    const Tensor *x = &out->in[0]->val, *w = &out->in[1]->val;
    const int key[PROF_KEY] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0],
                               w->shape[2], w->shape[3], out->ip[0],  out->ip[1]};
    const double fwd = 2.0 * (double)out->val.n * x->shape[1] * w->shape[2] * w->shape[3];
    ShapeTally *t = NULL;
    int i;
    for (i = 0; i < prof_nconv && !t; i++)
        if (!memcmp(prof_conv[i].key, key, sizeof key)) t = &prof_conv[i];
    if (!t && prof_nconv < PROF_SHAPES - 1) {
        t = &prof_conv[prof_nconv++];
        memcpy(t->key, key, sizeof key);
    }
    if (!t) { /* the last row: every other shape */
        t = &prof_conv[PROF_SHAPES - 1];
        for (i = 0; i < PROF_KEY; i++) t->key[i] = -1;
        if (prof_nconv < PROF_SHAPES) prof_nconv = PROF_SHAPES;
    }
    t->t.calls[dir]++;
    t->t.secs[dir] += secs;
    t->flops[dir] += dir ? fwd * (ag_needs(out, 0) + ag_needs(out, 1)) : fwd;
}

/* order[0 .. return) = the indices i < count of the tallies *tally(i) with a call,
 * slowest (seconds both ways) first; *total = their seconds. */
static int tally_order(const OpTally *(*tally)(int), int count, int *order, double *total)
{
    int n = 0, i, j;
    *total = 0;
    for (i = 0; i < count; i++) {
        const OpTally *ti = tally(i);
        if (ti->calls[0] || ti->calls[1]) {
            double t = ti->secs[0] + ti->secs[1];
            *total += t;
            for (j = n++; j > 0 && tally(order[j - 1])->secs[0] + tally(order[j - 1])->secs[1] < t;
                 j--)
                order[j] = order[j - 1]; /* insertion */
            order[j] = i;
        }
    }
    return n;
}

static const OpTally *op_tally(int i) { return &prof[i]; }
static const OpTally *conv_shape_tally(int i) { return &prof_conv[i].t; }

/* Runs op `out`'s forward (dir 0) or backward (dir 1), timed when the profile is on. */
static void run_op(Graph *g, Var *out, int dir)
{
    void (*fn)(Graph *, Var *) = dir ? ag_ops[out->op].backward : ag_ops[out->op].forward;
    double t0;
    if (!prof_on) {
        fn(g, out);
        return;
    }
    t0 = plat_now();
    fn(g, out);
    t0 = plat_now() - t0;
    prof[out->op].secs[dir] += t0;
    prof[out->op].calls[dir]++;
    if (out->op == OP_CONV2D) conv_tally(out, dir, t0);
}

/* The by-shape table of conv2d, slowest first (after the op table). */
static void conv_tally_print(FILE *f)
{
    int order[PROF_SHAPES], j;
    double total;
    const int n = tally_order(conv_shape_tally, prof_nconv, order, &total);
    if (!n) return;
    fprintf(f, "conv2d by shape (GFLOP/s of the direct conv: 2 N O Ho Wo C kh kw a pass; backward "
               "counts dx and dW as the node needs them)\n");
    fprintf(f, "%-38s %9s %9s %9s %9s %6s %8s %8s\n", "x [N, C, H, W] -> O, kh x kw, s, p",
            "fwd calls", "fwd s", "bwd calls", "bwd s", "share", "fwd GF/s", "bwd GF/s");
    for (j = 0; j < n; j++) {
        const ShapeTally *st = &prof_conv[order[j]];
        const OpTally *t = &st->t;
        const int *k = st->key;
        char name[64];
        double s = t->secs[0] + t->secs[1];
        if (k[0] < 0)
            snprintf(name, sizeof name, "(other shapes)");
        else
            snprintf(name, sizeof name, "[%d, %d, %d, %d] -> %d, %dx%d, s%d, p%d", k[0], k[1], k[2],
                     k[3], k[4], k[5], k[6], k[7], k[8]);
        fprintf(f, "%-38s %9ld %9.3f %9ld %9.3f %5.1f%% %8.1f %8.1f\n", name, t->calls[0],
                t->secs[0], t->calls[1], t->secs[1], total > 0 ? 100.0 * s / total : 0.0,
                t->secs[0] > 0 ? 1e-9 * st->flops[0] / t->secs[0] : 0.0,
                t->secs[1] > 0 ? 1e-9 * st->flops[1] / t->secs[1] : 0.0);
    }
}

void ag_profile_print(void *file)
{
    FILE *f = file ? (FILE *)file : stdout;
    int order[OP_COUNT], j;
    double total;
    const int n = tally_order(op_tally, OP_COUNT, order, &total);
    fprintf(f, "op profile: %.3f s in ops\n", total);
    fprintf(f, "%-14s %10s %10s %10s %10s %10s %6s\n", "op", "fwd calls", "fwd s", "bwd calls",
            "bwd s", "total s", "share");
    for (j = 0; j < n; j++) {
        const OpTally *t = &prof[order[j]];
        double s = t->secs[0] + t->secs[1];
        fprintf(f, "%-14s %10ld %10.3f %10ld %10.3f %10.3f %5.1f%%\n", ag_ops[order[j]].name,
                t->calls[0], t->secs[0], t->calls[1], t->secs[1], s,
                total > 0 ? 100.0 * s / total : 0.0);
    }
    conv_tally_print(f);
}

void ag_forward(Graph *g, Var *out)
{
    if (!out->val.data) /* given back by a scope: a replay makes it again */
        out->val.data = (Scalar *)arena_block_get(g->arena, size_mul(out->val.n, sizeof(Scalar)));
    run_op(g, out, 0);
    if (g->check_finite) {
        size_t i;
        for (i = 0; i < out->val.n; i++)
            CHECK(isfinite((double)out->val.data[i]),
                  "non-finite value %g at element %lu of op %s (%s)", (double)out->val.data[i],
                  (unsigned long)i, ag_ops[out->op].name, out->name ? out->name : "?");
    }
}

Scalar *ag_grad(Graph *g, Var *v)
{
    if (!v->grad) {
        size_t bytes = size_mul(v->val.n, sizeof(Scalar));
        if (v->op == OP_LEAF) {
            v->grad = (Scalar *)arena_calloc(g->arena, bytes);
        } else {
            v->grad = (Scalar *)arena_block_get(g->arena, bytes);
            memset(v->grad, 0, bytes);
        }
    }
    return v->grad;
}

Scalar *ag_grad_fresh(Graph *g, Var *v, int *fresh)
{
    *fresh = !v->grad && v->op != OP_LEAF;
    if (*fresh) {
        v->grad = (Scalar *)arena_block_get(g->arena, size_mul(v->val.n, sizeof(Scalar)));
#ifdef CMAD_DOUBLE
        { /* the audit build: an element the caller fails to write shows up as NaN */
            size_t i;
            for (i = 0; i < v->val.n; i++) v->grad[i] = (Scalar)NAN;
        }
#endif
    }
    return ag_grad(g, v);
}

int ag_grad_take(Var *out, Var *v)
{
    if (v->grad || v->op == OP_LEAF || !out->grad || v->val.n != out->val.n) return 0;
    v->grad = out->grad;
    out->grad = NULL; /* grad_drop after out's backward then has nothing to give back */
    return 1;
}

/* An op node's gradient back to the pool. */
static void grad_drop(Graph *g, Var *v)
{
    arena_block_put(g->arena, v->grad);
    v->grad = NULL;
}

AgScope ag_scope_begin(const Graph *g)
{
    AgScope s;
    s.tail = g->tail;
    s.loose = g->loose;
    return s;
}

void ag_scope_end(Graph *g, AgScope scope, const Var *keep)
{
    Var *v;
    for (v = g->tail; v && v != scope.tail; v = v->prev)
        if (v->op != OP_LEAF && v != keep && !v->needed && v->val.data) {
            arena_block_put(g->arena, v->val.data);
            v->val.data = NULL;
        }
    for (v = g->loose; v && v != scope.loose; v = v->prev)
        if (v != keep && v->val.data) {
            arena_block_put(g->arena, v->val.data);
            v->val.data = NULL;
        }
}

void ag_zero_grad(Var *v)
{
    if (v->grad) memset(v->grad, 0, v->val.n * sizeof(Scalar));
}

Var *ag_name(Var *v, const char *name)
{
    v->name = name;
    return v;
}

void ag_backward(Graph *g, Var *root) { ag_backward_seed(g, root, NULL); }

void ag_backward_seed(Graph *g, Var *root, const Scalar *seed)
{
    Var *v;
    Scalar *dr;
    size_t i;
    CHECK(root->requires_grad, "backward from '%s', which does not require grad",
          root->name ? root->name : ag_ops[root->op].name);
    /* Intermediate gradients belong to this backward pass: start them at zero. */
    for (v = g->tail; v; v = v->prev)
        if (v->op != OP_LEAF && v->grad) grad_drop(g, v);
    dr = ag_grad(g, root);
    for (i = 0; i < root->val.n; i++) dr[i] += seed ? seed[i] : (Scalar)1;
    /* Walk back from the root; nodes recorded after it cannot feed it.  Every consumer of
       v was recorded after v, so once v's backward has run its gradient is complete and
       used: it goes back to the pool. */
    for (v = root; v; v = v->prev) {
        if (v->op == OP_LEAF || !v->requires_grad || !v->grad) continue;
        run_op(g, v, 1);
        grad_drop(g, v);
    }
}

void ag_shape_error(const char *op, const Tensor *a, const Tensor *b, const char *what)
{
    char sa[64], sb[64];
    shape_str(a->ndim, a->shape, sa, sizeof sa);
    if (b)
        shape_str(b->ndim, b->shape, sb, sizeof sb);
    else
        sb[0] = '\0';
    cmad_fatal(__FILE__, __LINE__, "%s: %s (shapes %s%s%s)", op, what, sa, b ? " and " : "", sb);
}

void ag_print_graph(const Graph *g, void *file)
{
    FILE *f = file ? (FILE *)file : stdout;
    const Var *v;
    const Var **order;
    int n = 0, k, i;
    if (g->count == 0) {
        fprintf(f, "(empty graph)\n");
        return;
    }
    /* The tape is linked newest first; print oldest first. */
    order = (const Var **)xmalloc(sizeof(Var *) * (size_t)g->count);
    for (v = g->tail; v && n < g->count; v = v->prev) order[n++] = v;
    fprintf(f, "%5s  %-12s %-20s %-4s %-18s %s\n", "id", "op", "shape", "grad", "name", "inputs");
    for (k = n - 1; k >= 0; k--) {
        char s[64];
        v = order[k];
        shape_str(v->val.ndim, v->val.shape, s, sizeof s);
        fprintf(f, "%5d  %-12s %-20s %-4s %-18s", v->id, ag_ops[v->op].name, s,
                v->requires_grad ? "yes" : "no", v->name ? v->name : "");
        for (i = 0; i < v->nin; i++)
            if (v->in[i]) fprintf(f, " %%%d", v->in[i]->id);
        fputc('\n', f);
    }
    free((void *)order);
}

void ag_print_memory(const Graph *g, void *file)
{
    FILE *f = file ? (FILE *)file : stdout;
    double val[OP_COUNT], sav[OP_COUNT], grd[OP_COUNT], need[OP_COUNT], tv = 0, ts = 0, tg = 0,
                                                                        tn = 0;
    long cnt[OP_COUNT], nodes = 0;
    const Var *v;
    int k;
    const double mb = 1.0 / 1048576.0;
    for (k = 0; k < OP_COUNT; k++) {
        val[k] = sav[k] = grd[k] = need[k] = 0;
        cnt[k] = 0;
    }
    for (v = g->tail; v; v = v->prev) {
        double bytes = (double)v->val.n * sizeof(Scalar);
        nodes++;
        if (v->op == OP_LEAF) continue;
        cnt[v->op]++;
        if (v->val.data) val[v->op] += bytes;
        if (v->val.data && v->needed) need[v->op] += bytes;
        if (v->grad) grd[v->op] += bytes;
        sav[v->op] += (double)v->saved_bytes;
    }
    fprintf(f, "%-12s %8s %11s %11s %11s %11s\n", "op", "nodes", "values MB", "needed MB",
            "saved MB", "grads MB");
    for (k = 1; k < OP_COUNT; k++) {
        if (!cnt[k]) continue;
        fprintf(f, "%-12s %8ld %11.1f %11.1f %11.1f %11.1f\n", ag_ops[k].name, cnt[k], val[k] * mb,
                need[k] * mb, sav[k] * mb, grd[k] * mb);
        tn += need[k];
        tv += val[k];
        ts += sav[k];
        tg += grd[k];
    }
    fprintf(f, "%-12s %8ld %11.1f %11.1f %11.1f %11.1f\n", "total", nodes, tv * mb, tn * mb,
            ts * mb, tg * mb);
    fprintf(f, "arena: %.1f MB in use, high-water %.1f MB, %.1f MB reserved\n",
            (double)arena_used(g->arena) * mb, (double)arena_high_water(g->arena) * mb,
            (double)arena_reserved(g->arena) * mb);
}
