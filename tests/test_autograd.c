/* test_autograd.c - tape, backward accumulation, frozen weights, no-grad mode. */
#include <string.h>

#include "../autograd/gradcheck.h"
#include "../autograd/ops.h"
#include "harness.h"

static void test_backward_twice_doubles(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int s[2] = {3, 4};
    Var *a, *b, *y;
    Scalar first[12];
    int i;
    ag_graph_init(&g, ar);
    rng_seed(&r, 1, 0);
    a = gc_normal(&g, &r, 2, s, 1, 0, 1, "a");
    b = gc_normal(&g, &r, 2, s, 1, 0, 1, "b");
    y = ag_sum(&g, ag_mul(&g, ag_silu(&g, a), b));
    ag_backward(&g, y);
    memcpy(first, a->grad, sizeof first);
    ag_backward(&g, y);
    for (i = 0; i < 12; i++) T_OK(a->grad[i] == 2 * first[i]);
    ag_zero_grad(a);
    for (i = 0; i < 12; i++) T_OK(a->grad[i] == 0);
    arena_free(ar);
}

static void test_frozen_weights_get_no_grad(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int s[2] = {3, 4};
    Var *x, *w, *y;
    ag_graph_init(&g, ar);
    rng_seed(&r, 2, 0);
    x = gc_normal(&g, &r, 2, s, 1, 0, 1, "x");
    w = gc_normal(&g, &r, 2, s, 1, 0, 0, "w"); /* frozen */
    y = ag_sum(&g, ag_mul(&g, x, w));
    ag_backward(&g, y);
    T_OK(w->grad == NULL);
    T_OK(x->grad != NULL && x->grad[5] == w->val.data[5]);
    arena_free(ar);
}

static void test_no_grad_records_nothing(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int s[1] = {5}, before;
    Var *x, *y;
    ag_graph_init(&g, ar);
    rng_seed(&r, 3, 0);
    x = gc_normal(&g, &r, 1, s, 1, 0, 1, "x");
    before = g.count;
    ag_set_grad_enabled(&g, 0);
    y = ag_exp(&g, x);
    ag_set_grad_enabled(&g, 1);
    T_EQ_INT(g.count, before);
    T_OK(!y->requires_grad);
    arena_free(ar);
}

/* What was printed to the temporary file f, into buf (NUL-terminated); closes f. */
static void read_back(FILE *f, char *buf, size_t cap)
{
    size_t n;
    rewind(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* g on ar, and a leaf x of 5 normals (seed 3) on it. */
static Var *five_normals(Graph *g, Arena *ar)
{
    Rng r;
    int s[1] = {5};
    ag_graph_init(g, ar);
    rng_seed(&r, 3, 0);
    return gc_normal(g, &r, 1, s, 1, 0, 1, "x");
}

static void test_print_graph_lists_nodes(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    char buf[4096];
    FILE *f = tmpfile();
    Var *x = five_normals(&g, ar);
    ag_name(ag_exp(&g, x), "ex");
    T_OK(f != NULL);
    if (!f) return;
    ag_print_graph(&g, f);
    read_back(f, buf, sizeof buf);
    T_OK(strstr(buf, "exp") != NULL && strstr(buf, "ex") != NULL && strstr(buf, "[5]") != NULL);
    arena_free(ar);
}

/* The op profile counts each op's forward and backward calls: exp twice forward, once
 * backward (the second exp is not on the path from the root), sum once each way; nothing
 * is counted while it is off, and the printed table names the ops. */
static void test_profile_counts_ops(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    char buf[4096];
    FILE *f = tmpfile();
    Var *x = five_normals(&g, ar), *y;
    const int was = ag_profile_on();
    ag_profile_reset();
    ag_profile_set(1);
    y = ag_sum(&g, ag_exp(&g, x));
    ag_exp(&g, x);
    ag_backward(&g, y);
    ag_profile_set(0);
    ag_backward(&g, y); /* not counted */
    ag_profile_set(was);
    T_OK(f != NULL);
    if (!f) return;
    ag_profile_print(f);
    read_back(f, buf, sizeof buf);
    /* rows are "op fwd-calls fwd-s bwd-calls bwd-s total-s share" */
    {
        const char *e = strstr(buf, "\nexp "), *m = strstr(buf, "\nsum ");
        long ef = -1, eb = -1, mf = -1, mb = -1;
        double t;
        T_OK(e != NULL && m != NULL);
        if (e) sscanf(e, " exp %ld %lf %ld", &ef, &t, &eb);
        if (m) sscanf(m, " sum %ld %lf %ld", &mf, &t, &mb);
        T_EQ_INT(ef, 2);
        T_EQ_INT(eb, 1);
        T_EQ_INT(mf, 1);
        T_EQ_INT(mb, 1);
    }
    ag_profile_reset();
    arena_free(ar);
}

/* The profile's conv2d table: one row per shape (x, O, kernel, stride, pad), its calls each
 * way, slowest first; a frozen kernel's backward counts dx alone in the GFLOP/s.  Two
 * convs of one shape (one twice) and one of another: rows of 3 + 2 and 1 + 1 calls. */
static void test_profile_conv_shapes(void)
{
    Arena *ar = arena_new(1 << 22);
    Graph g;
    char buf[8192];
    FILE *f = tmpfile();
    int xs[4] = {2, 3, 8, 8}, ws[4] = {4, 3, 3, 3}, w2s[4] = {5, 3, 1, 1};
    Var *x, *w, *w2, *y;
    const int was = ag_profile_on();
    ag_graph_init(&g, ar);
    x = ag_new(&g, 4, xs, 1, "x");
    w = ag_new(&g, 4, ws, 1, "w");
    w2 = ag_new(&g, 4, w2s, 0, "w2"); /* frozen */
    memset(x->val.data, 0, x->val.n * sizeof(Scalar));
    memset(w->val.data, 0, w->val.n * sizeof(Scalar));
    memset(w2->val.data, 0, w2->val.n * sizeof(Scalar));
    ag_profile_reset();
    ag_profile_set(1);
    y = ag_add(&g, ag_conv2d(&g, x, w, NULL, 1, 1), ag_conv2d(&g, x, w, NULL, 1, 1));
    ag_conv2d(&g, x, w, NULL, 1, 1); /* forward only: not on the path */
    y = ag_add(&g, ag_sum(&g, y), ag_sum(&g, ag_conv2d(&g, x, w2, NULL, 2, 0)));
    ag_backward(&g, y);
    ag_profile_set(was);
    T_OK(f != NULL);
    if (f) {
        const char *a, *b;
        long af = -1, ab = -1, bf = -1, bb = -1;
        double t;
        ag_profile_print(f);
        read_back(f, buf, sizeof buf);
        a = strstr(buf, "\n[2, 3, 8, 8] -> 4, 3x3, s1, p1 ");
        b = strstr(buf, "\n[2, 3, 8, 8] -> 5, 1x1, s2, p0 ");
        T_OK(strstr(buf, "conv2d by shape") != NULL && a != NULL && b != NULL);
        if (a) sscanf(a + 33, "%ld %lf %ld", &af, &t, &ab);
        if (b) sscanf(b + 33, "%ld %lf %ld", &bf, &t, &bb);
        T_EQ_INT(af, 3);
        T_EQ_INT(ab, 2);
        T_EQ_INT(bf, 1);
        T_EQ_INT(bb, 1);
    }
    ag_profile_reset();
    arena_free(ar);
}

/* x -> e = exp(x) -> t = 2 e + 1 -> u = silu(t) -> v = u + x, with or without a scope
 * around it; returns v. */
static Var *scoped_chain(Graph *g, Var *x, int scoped, Var **e, Var **t, Var **u)
{
    AgScope sc = ag_scope_begin(g);
    Var *v;
    *e = ag_exp(g, x);           /* exp reads its own output: kept */
    *t = ag_affine(g, *e, 2, 1); /* read by silu's backward: kept */
    *u = ag_silu(g, *t);         /* add reads nothing: given back */
    v = ag_add(g, *u, x);        /* the scope's result: kept */
    if (scoped) ag_scope_end(g, sc, v);
    return v;
}

static void test_scope_gives_back_unread_values(void)
{
    Arena *ar = arena_new(1 << 20), *ref_ar = arena_new(1 << 20);
    Graph g, ref;
    Rng r;
    int s[2] = {3, 4};
    Var *x, *e, *t, *u, *v, *y, *rx, *re, *rt, *ru, *rv, *ry;
    size_t live;
    ag_graph_init(&g, ar);
    ag_graph_init(&ref, ref_ar);
    rng_seed(&r, 4, 0);
    x = gc_normal(&g, &r, 2, s, 1, 0, 1, "x");
    rx = ag_new(&ref, 2, s, 1, "x");
    memcpy(rx->val.data, x->val.data, sizeof(Scalar) * 12);
    v = scoped_chain(&g, x, 1, &e, &t, &u);
    rv = scoped_chain(&ref, rx, 0, &re, &rt, &ru);
    T_OK(e->val.data != NULL && t->val.data != NULL && v->val.data != NULL);
    T_OK(u->val.data == NULL);
    T_OK(ru->val.data != NULL); /* no scope: everything stays */
    T_EQ_INT(u->val.n, 12);     /* the shape stays */
    y = ag_sum(&g, v);
    ry = ag_sum(&ref, rv);
    live = arena_block_live(ar);
    ag_backward(&g, y);
    ag_backward(&ref, ry);
    T_OK(memcmp(x->grad, rx->grad, sizeof(Scalar) * 12) == 0); /* the same bits */
    /* every op node's gradient went back to the pool; the leaf keeps its own */
    T_OK(e->grad == NULL && t->grad == NULL && u->grad == NULL && v->grad == NULL);
    T_OK(y->grad == NULL);
    T_EQ_INT(arena_block_live(ar), live);
    /* backward again accumulates as without the scope (twice: x has two paths, so the
       sum is (a + b) + a + b, not exactly 2 (a + b)) */
    ag_backward(&g, y);
    ag_backward(&ref, ry);
    T_OK(memcmp(x->grad, rx->grad, sizeof(Scalar) * 12) == 0);
    /* a replay makes the given-back value again */
    ag_replay(&g);
    T_OK(u->val.data != NULL);
    if (u->val.data) T_OK(memcmp(u->val.data, ru->val.data, sizeof(Scalar) * 12) == 0);
    arena_free(ar);
    arena_free(ref_ar);
}

static void test_scope_in_no_grad_mode(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int s[1] = {7};
    Var *x, *e, *t, *u, *v;
    ag_graph_init(&g, ar);
    rng_seed(&r, 5, 0);
    x = gc_normal(&g, &r, 1, s, 1, 0, 1, "x");
    ag_set_grad_enabled(&g, 0);
    v = scoped_chain(&g, x, 1, &e, &t, &u);
    ag_set_grad_enabled(&g, 1);
    /* nothing is recorded, so nothing is read later: all but the result go back */
    T_OK(e->val.data == NULL && t->val.data == NULL && u->val.data == NULL);
    T_OK(v->val.data != NULL);
    T_EQ_INT(arena_block_live(ar), 64); /* v's 7 scalars, in one 64-byte block */
    arena_free(ar);
}

/* A frozen conv keeps neither input; a trainable one keeps x for dW. */
static void test_frozen_conv_keeps_no_input(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int xs[4] = {2, 3, 5, 5}, ws[4] = {4, 3, 3, 3};
    Var *x, *w, *h, *y;
    int frozen;
    for (frozen = 0; frozen < 2; frozen++) {
        AgScope sc;
        ag_graph_init(&g, ar);
        ag_graph_reset(&g);
        rng_seed(&r, 6, 0);
        x = gc_normal(&g, &r, 4, xs, 1, 0, 1, "x");
        w = gc_normal(&g, &r, 4, ws, 1, 0, !frozen, "w");
        sc = ag_scope_begin(&g);
        h = ag_silu(&g, ag_affine(&g, x, 1, 0)); /* silu's input is kept either way */
        y = ag_sum(&g, ag_conv2d(&g, h, w, NULL, 1, 1));
        ag_scope_end(&g, sc, y);
        T_OK((h->val.data != NULL) == !frozen);
        ag_backward(&g, y);
        T_OK(x->grad != NULL);
    }
    arena_free(ar);
}

/* An add hands its gradient buffer to its first input (no copy) when that input is an op
 * node with no gradient yet; the second gets a copy; a + a still sums both parts; a leaf
 * or an input that already has a gradient is added to as before. */
static void test_add_hands_over_its_gradient(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int s[2] = {3, 4}, i;
    Var *x, *p, *q, *y, *z;
    Scalar *dy;
    ag_graph_init(&g, ar);
    rng_seed(&r, 7, 0);
    x = gc_normal(&g, &r, 2, s, 1, 0, 1, "x");
    p = ag_silu(&g, x);
    q = ag_exp(&g, x);
    y = ag_add(&g, p, q);
    dy = ag_grad(&g, y);
    for (i = 0; i < 12; i++) dy[i] = (Scalar)(i + 1);
    ag_ops[OP_ADD].backward(&g, y);
    T_OK(p->grad == dy && y->grad == NULL); /* taken over */
    T_OK(q->grad != NULL && q->grad != dy);
    for (i = 0; i < 12; i++) T_OK(p->grad[i] == (Scalar)(i + 1) && q->grad[i] == (Scalar)(i + 1));
    /* a + a: the second part finds the first's gradient and adds */
    z = ag_add(&g, q, q);
    dy = ag_grad(&g, z);
    for (i = 0; i < 12; i++) dy[i] = (Scalar)(i + 1);
    ag_ops[OP_ADD].backward(&g, z);
    for (i = 0; i < 12; i++) T_OK(q->grad[i] == (Scalar)(3 * (i + 1)));
    /* a leaf keeps its own buffer: added to, not taken over */
    y = ag_sub(&g, x, p);
    dy = ag_grad(&g, y);
    for (i = 0; i < 12; i++) dy[i] = 1;
    T_OK(ag_grad_take(y, x) == 0 && ag_grad_take(y, p) == 0); /* leaf; has a gradient */
    T_OK(y->grad == dy);
    arena_free(ar);
}

const TestCase autograd_tests[] = {
    {"backward_twice_doubles", test_backward_twice_doubles},
    {"frozen_weights_get_no_grad", test_frozen_weights_get_no_grad},
    {"no_grad_records_nothing", test_no_grad_records_nothing},
    {"print_graph_lists_nodes", test_print_graph_lists_nodes},
    {"profile_counts_ops", test_profile_counts_ops},
    {"profile_conv_shapes", test_profile_conv_shapes},
    {"scope_gives_back_unread_values", test_scope_gives_back_unread_values},
    {"scope_in_no_grad_mode", test_scope_in_no_grad_mode},
    {"frozen_conv_keeps_no_input", test_frozen_conv_keeps_no_input},
    {"add_hands_over_its_gradient", test_add_hands_over_its_gradient},
    {NULL, NULL},
};
