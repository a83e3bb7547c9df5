/* test_tensor.c - arena, tensor constructors, shapes. */
#include <string.h>

#include "../tensor/tensor.h"
#include "harness.h"

static void test_arena_reset_reuses(void)
{
    Arena *a = arena_new(1 << 16);
    size_t chunks, i;
    for (i = 0; i < 100; i++) arena_alloc(a, 5000);
    chunks = arena_chunk_count(a);
    T_OK(arena_high_water(a) >= 100 * 5000);
    arena_reset(a);
    T_EQ_INT(arena_used(a), 0);
    for (i = 0; i < 100; i++) arena_alloc(a, 5000);
    T_EQ_INT(arena_chunk_count(a), chunks); /* the second pass mallocs nothing */
    arena_free(a);
}

static void test_arena_alignment_and_mark(void)
{
    Arena *a = arena_new(1 << 16);
    ArenaMark m;
    char *p = (char *)arena_alloc(a, 3), *q;
    size_t used;
    T_EQ_INT((size_t)p % 64, 0);
    m = arena_mark(a);
    used = arena_used(a);
    q = (char *)arena_alloc(a, 100000); /* forces a new chunk */
    T_EQ_INT((size_t)q % 64, 0);
    T_OK(arena_used(a) > used);
    arena_release(a, m);
    T_EQ_INT(arena_used(a), used);
    T_OK(arena_high_water(a) >= used + 100000);
    arena_free(a);
}

static void test_tensor_shapes(void)
{
    Arena *a = arena_new(1 << 16);
    int s[4] = {2, 3, 4, 5};
    Tensor t = tensor_zeros(a, 4, s), u;
    char buf[64];
    T_EQ_INT(t.n, 120);
    T_EQ_INT(t.data[119], 0);
    u = tensor_view(t.data, 2, s);
    T_EQ_INT(u.n, 6);
    T_OK(!tensor_same_shape(&t, &u));
    shape_str(4, s, buf, sizeof buf);
    T_OK(strcmp(buf, "[2, 3, 4, 5]") == 0);
    T_EQ_INT(size_mul(3, 7), 21);
    arena_free(a);
}

const TestCase tensor_tests[] = {
    {"arena_reset_reuses", test_arena_reset_reuses},
    {"arena_alignment_and_mark", test_arena_alignment_and_mark},
    {"tensor_shapes", test_tensor_shapes},
    {NULL, NULL},
};
