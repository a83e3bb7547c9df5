/* autograd.h - reverse-mode automatic differentiation on a tape.
 *
 * A Var is one node of the computation graph: a value tensor, its gradient dL/dvalue,
 * the op that made it, its inputs and the op's parameters.  Every op call made while
 * gradients are enabled appends its output Var to the tape of a Graph (a linked list in
 * the Graph's arena).  ag_backward() zeroes the gradients of the tape's nodes, seeds the
 * root and walks the tape in reverse, calling each op's backward, which ACCUMULATES (+=)
 * into the gradients of the inputs that require them.  Leaf gradients (parameters and
 * inputs) are never zeroed by backward: that is ag_zero_grad()'s job, so running
 * backward twice doubles them.
 *
 *   requires_grad  a leaf asks for its gradient; an op output requires grad when any
 *                  input does.  Frozen networks: make their parameters with
 *                  requires_grad = 0 and the input gradient still flows through them,
 *                  while their weight gradients are never computed.
 *   no-grad mode   ag_set_grad_enabled(g, 0): ops record nothing, outputs never require
 *                  grad (sampling, evaluation).
 *
 * Ops are an enum plus one table {name, forward, backward} (autograd/optable.c).  Each
 * op's user-facing constructor (ops.h) checks shapes, makes the output node and calls the
 * table's forward; backward is found through the same table.  The gradient audit
 * (gradcheck.c) has a finite-difference case for every entry and fails if one is missing.
 */
#ifndef CMAD_AUTOGRAD_H
#define CMAD_AUTOGRAD_H

#include "../tensor/tensor.h"

#define AG_MAX_IN 4
#define AG_MAX_IPARAM 8

typedef enum OpKind {
    OP_LEAF = 0,
    OP_ADD,    /* a + b, b broadcast to a (numpy rules, dims of 1) */
    OP_SUB,    /* a - b, broadcast as add */
    OP_MUL,    /* a * b, broadcast as add */
    OP_AFFINE, /* alpha * a + beta (scalars): scale, shift, negate */
    OP_SILU,   /* a * sigmoid(a) */
    OP_RELU,   /* max(a, 0) */
    OP_EXP,
    OP_LOG,
    OP_SQRT,
    OP_SUM,        /* sum of all elements -> [1] */
    OP_MEAN,       /* mean of all elements -> [1] */
    OP_SUM_SAMPLE, /* per-sample sum over all but the first dim -> [N] */
    OP_SOFTMAX,    /* softmax over the last dim */
    OP_SOFTMAX_CE, /* fused log-softmax + cross-entropy: logits [N, C], labels -> [N] */
    OP_MATMUL,     /* a [M, K] x b [K, N] */
    OP_LINEAR,     /* x [N, I] W^T [O, I] + b [O] */
    OP_BMM,        /* batched op(a)[B, M, K] op(b)[B, K, N], transposes by flag */
    OP_CONV2D,     /* x [N, C, H, W] * w [O, C, kh, kw] + b [O], stride, padding */
    OP_UPSAMPLE2,  /* nearest x2 */
    OP_MAXPOOL2,   /* 2x2, stride 2 */
    OP_GROUPNORM,  /* affine GroupNorm with G groups */
    OP_GN_SILU,    /* silu(GroupNorm(x)), fused: keeps x only */
    OP_CONCAT,     /* concat of two tensors along dim 1 (channels) */
    OP_SLICE,      /* a[..., start:start+len, ...] along one dim */
    OP_RESHAPE,    /* same elements, new shape */
    OP_EMBEDDING,  /* rows of a table [V, D] picked by integer ids -> [N, D] */
    OP_COUNT
} OpKind;

typedef struct Var Var;
typedef struct Graph Graph;

struct Var {
    Tensor val;
    Scalar *grad; /* dL/dval, val.n elements; NULL until needed */
    OpKind op;
    int requires_grad;
    int nin;
    Var *in[AG_MAX_IN];
    int ip[AG_MAX_IPARAM]; /* integer op parameters (stride, axis, groups, ...) */
    Scalar sp[2];          /* scalar op parameters (alpha, beta, eps) */
    const int *ids;        /* integer inputs (labels, embedding ids), not owned */
    void *saved;           /* data forward keeps for backward, in the arena (ag_saved) */
    size_t saved_bytes;    /* its size, for the memory report */
    const char *name;      /* short name for the printer and error messages */
    int needed;            /* a recorded backward reads val (see OpInfo) */
    Var *prev;             /* previous node on the tape */
    int id;                /* position on the tape */
};

struct Graph {
    Arena *arena; /* per-step memory: nodes, values, gradients, scratch */
    Var *tail;    /* last node recorded */
    Var *loose;   /* last op node made in no-grad mode (linked by prev, not on the tape) */
    int count;    /* nodes recorded since the last reset */
    int grad_enabled;
    int check_finite; /* NaN/Inf tripwire after every forward */
    /* op_conv.c's memo of transformed conv weights, kept in the arena: valid while the
     * arena's reset count is memo_resets (an arena_reset, by ag_graph_reset or directly,
     * drops it) */
    void *memo;
    unsigned long memo_resets;
};

/* Which values an op's backward reads: for each input and for the op's own output,
 *   AG_READ_NO     never (shapes only),
 *   AG_READ_YES    whenever the backward runs,
 *   AG_READ_OTHER  only when the other of inputs 0 and 1 needs its gradient (the
 *                  bilinear ops: conv2d reads x for dW and w for dx, so a frozen conv
 *                  keeps no input, whatever its bias or shift need).
 * A value that no recorded backward reads can be released once the forward that made it
 * is over (ag_scope_end). */
enum { AG_READ_NO = 0, AG_READ_YES = 1, AG_READ_OTHER = 2 };

typedef struct OpInfo {
    const char *name;
    void (*forward)(Graph *g, Var *out);
    void (*backward)(Graph *g, Var *out);
    unsigned char reads_in[AG_MAX_IN]; /* AG_READ_* per input */
    unsigned char reads_out;           /* AG_READ_NO or AG_READ_YES */
} OpInfo;

extern const OpInfo ag_ops[OP_COUNT];

/* ---------------------------------------------------------------- graph */

void ag_graph_init(Graph *g, Arena *arena);
void ag_graph_reset(Graph *g);             /* forget the tape, reset the arena */
int ag_set_grad_enabled(Graph *g, int on); /* returns the previous setting */

/* A leaf over existing memory.  grad may be NULL (allocated in the arena on first use)
 * or point into a flat gradient array.  The name is not copied. */
Var *ag_leaf(Graph *g, Scalar *data, Scalar *grad, int requires_grad, int ndim, const int *shape,
             const char *name);
/* A leaf with fresh arena memory (uninitialised / zeroed values). */
Var *ag_new(Graph *g, int ndim, const int *shape, int requires_grad, const char *name);
Var *ag_zeros(Graph *g, int ndim, const int *shape, int requires_grad, const char *name);
/* A leaf that wraps a Tensor's data. */
Var *ag_tensor(Graph *g, Tensor t, int requires_grad, const char *name);

/* Value lifetimes.  Op outputs live in the arena's block pool (tensor.h).  A forward
 * that builds many nodes nobody outside it can reach (a network's layers) runs between
 * ag_scope_begin() and ag_scope_end(): at the end, every op node made in between except
 * `keep` gives its value back unless a recorded backward reads it (OpInfo.reads_in,
 * reads_out).  Its Var stays on the tape with val.data = NULL; the shapes stay, and a
 * replay (ag_forward) makes a new value.  Nodes made in no-grad mode in between give
 * theirs back too.  Only values the caller cannot reach any more may be given back. */
typedef struct AgScope {
    Var *tail, *loose;
} AgScope;
AgScope ag_scope_begin(const Graph *g);
void ag_scope_end(Graph *g, AgScope scope, const Var *keep);

/* Backward from a root: seeds dL/droot = 1 everywhere (or the given seed of root->val.n
 * values), drops the gradients of non-leaf tape nodes first (they start at zero), then
 * accumulates.  A non-leaf node's gradient is dead once its own backward has run (its
 * consumers come later on the tape and ran before it), so it goes back to the block pool
 * there and then: after backward only leaves hold gradients. */
void ag_backward(Graph *g, Var *root);
void ag_backward_seed(Graph *g, Var *root, const Scalar *seed);
/* The gradient buffer of v, allocated zeroed if it has none yet: in the arena for a
 * leaf (it outlives backward), from the block pool for an op node. */
Scalar *ag_grad(Graph *g, Var *v);
/* For a backward that would compute its whole contribution to v's gradient anyway: when v
 * is an op node with no gradient yet, its buffer comes from the pool NOT zeroed and *fresh
 * is 1 - the caller must then write every element (the contribution, not a sum into it),
 * which spares zeroing the buffer and a pass adding into it.  Otherwise it is ag_grad and
 * *fresh is 0 (accumulate as usual). */
Scalar *ag_grad_fresh(Graph *g, Var *v, int *fresh);
/* For a backward whose contribution to input v is out's gradient itself (add's a, the
 * identity part of sub): when v is an op node with no gradient yet and as many elements
 * as out, v takes over out's gradient buffer (out's backward is its last reader; the
 * walk would give it back to the pool right after) and 1 is returned - no copy at all.
 * Otherwise 0, and the caller adds as usual.  After a take, v's gradient and out's are
 * one buffer: whatever else the backward reads from out->grad must be read before it
 * writes v's gradient again. */
int ag_grad_take(Var *out, Var *v);
/* Sets a leaf's gradient to zero (no-op when it has none). */
void ag_zero_grad(Var *v);
Var *ag_name(Var *v, const char *name);

/* Op profile.  While it is on, every op's forward (ag_forward) and backward (the backward
 * pass) is timed with plat_now and added to a tally per op kind: calls and seconds each
 * way; conv2d's also to one per shape (x, O, kernel, stride, padding; up to 47 shapes, the
 * rest in one row), with the direct conv's multiply-adds for a GFLOP/s figure.  For finding where a run's time goes; `cmad` turns it on when the environment sets
 * CMAD_PROFILE and prints the table when the command ends.  Off, it costs one branch per
 * op.  The tallies are process-wide and unlocked: graphs are driven from one thread (the
 * ops themselves may run parallel inside). */
void ag_profile_set(int on);
int ag_profile_on(void);
void ag_profile_reset(void);
/* The table, slowest op first: calls and seconds forward and backward, share of the total;
 * then conv2d's by shape, slowest first. */
void ag_profile_print(void *file /* FILE* */);

/* Prints the tape, oldest first: id, op, shape, name, inputs, requires_grad. */
void ag_print_graph(const Graph *g, void *file /* FILE* */);
/* Prints, per op kind, the nodes on the tape and the bytes their values, saved data and
 * gradients hold now (leaves excluded), and the arena's use and high-water mark. */
void ag_print_memory(const Graph *g, void *file /* FILE* */);

/* ---------------------------------------------------------------- for op files */

/* Makes an op's output node (value uninitialised), links it on the tape when grads are
 * enabled and sets requires_grad from the inputs (b and c may be NULL). */
Var *ag_node(Graph *g, OpKind op, int ndim, const int *shape, Var *a, Var *b, Var *c);
/* The same with the inputs in an array: ins[0 .. AG_MAX_IN - 1], any of them NULL. */
Var *ag_node_in(Graph *g, OpKind op, int ndim, const int *shape, Var *const *ins);
/* out->saved: bytes of arena memory the first time (forward may be replayed), the same
 * block afterwards. */
void *ag_saved(Graph *g, Var *out, size_t bytes);
/* Runs the table's forward for out (and the finite-value tripwire when enabled). */
void ag_forward(Graph *g, Var *out);
/* 1 when input i of out wants a gradient. */
int ag_needs(const Var *out, int i);
/* Shape mismatch error that names the op and both shapes. */
void ag_shape_error(const char *op, const Tensor *a, const Tensor *b, const char *what);

#endif
