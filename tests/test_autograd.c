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

static void test_print_graph_lists_nodes(void)
{
    Arena *ar = arena_new(1 << 20);
    Graph g;
    Rng r;
    int s[1] = {5};
    char buf[4096];
    FILE *f = tmpfile();
    size_t n;
    Var *x;
    ag_graph_init(&g, ar);
    rng_seed(&r, 3, 0);
    x = gc_normal(&g, &r, 1, s, 1, 0, 1, "x");
    ag_name(ag_exp(&g, x), "ex");
    T_OK(f != NULL);
    if (!f) return;
    ag_print_graph(&g, f);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    T_OK(strstr(buf, "exp") != NULL && strstr(buf, "ex") != NULL && strstr(buf, "[5]") != NULL);
    arena_free(ar);
}

const TestCase autograd_tests[] = {
    {"backward_twice_doubles", test_backward_twice_doubles},
    {"frozen_weights_get_no_grad", test_frozen_weights_get_no_grad},
    {"no_grad_records_nothing", test_no_grad_records_nothing},
    {"print_graph_lists_nodes", test_print_graph_lists_nodes},
    {NULL, NULL},
};
