/* test_tensor.c - arena, tensor constructors, shapes. */
#include <string.h>

#include "../tensor/platform.h"
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

static void test_block_reuse_and_alignment(void)
{
    Arena *a = arena_new(1 << 16);
    char *p = (char *)arena_block_get(a, 1000), *q, *r;
    size_t cut;
    T_EQ_INT((size_t)p % 64, 0);
    memset(p, 7, 1000);
    cut = arena_block_bytes(a);
    T_OK(cut >= 1000);
    T_EQ_INT(arena_block_live(a), 1024); /* rounded up to 64-byte multiples */
    arena_block_put(a, p);
    T_EQ_INT(arena_block_live(a), 0);
    T_EQ_INT(arena_block_bytes(a), cut); /* a free block stays held */
    q = (char *)arena_block_get(a, 1000);
    T_OK(q == p);                         /* same size: the same block back */
    r = (char *)arena_block_get(a, 1000); /* the list is empty again: a new block */
    T_OK(r != q && (size_t)r % 64 == 0);
    T_OK(r >= q + 1000 || r + 1000 <= q);
    T_OK(arena_block_bytes(a) > cut);
    arena_block_put(a, q);
    q = (char *)arena_block_get(a, 2000); /* another size never takes it */
    T_OK(q != p && (size_t)q % 64 == 0);
    T_OK((char *)arena_block_get(a, 1000) == p);
    arena_block_put(a, NULL);               /* ignored */
    q = (char *)arena_block_get(a, 200000); /* larger than a chunk */
    T_EQ_INT((size_t)q % 64, 0);
    memset(q, 1, 200000);
    arena_free(a);
}

static void test_block_high_water_and_reset(void)
{
    Arena *a = arena_new(1 << 16);
    ArenaMark m;
    void *b[8];
    char *bump, *blk;
    size_t used, chunks, high, i;
    arena_alloc(a, 640);
    used = arena_used(a);
    for (i = 0; i < 8; i++) b[i] = arena_block_get(a, 6400);
    /* in use: the bump bytes plus every byte cut for blocks (headers included) */
    T_OK(arena_used(a) >= used + 8 * 6400);
    T_EQ_INT(arena_used(a), used + arena_block_bytes(a));
    high = arena_high_water(a);
    T_EQ_INT(high, arena_used(a));
    for (i = 0; i < 8; i++) arena_block_put(a, b[i]);
    for (i = 0; i < 8; i++) b[i] = arena_block_get(a, 6400);
    T_EQ_INT(arena_high_water(a), high); /* reuse: no new bytes */
    /* blocks are outside mark/release */
    m = arena_mark(a);
    blk = (char *)arena_block_get(a, 3000);
    memset(blk, 5, 3000);
    arena_release(a, m);
    bump = (char *)arena_alloc(a, 3000);
    memset(bump, 9, 3000);
    T_OK(blk[0] == 5 && blk[2999] == 5);
    /* the reset returns every block; the same work again mallocs nothing */
    chunks = arena_chunk_count(a);
    arena_reset(a);
    T_EQ_INT(arena_used(a), 0);
    T_EQ_INT(arena_block_live(a), 0);
    arena_alloc(a, 640);
    for (i = 0; i < 8; i++) b[i] = arena_block_get(a, 6400);
    T_EQ_INT(arena_chunk_count(a), chunks);
    T_EQ_INT(arena_high_water(a), high + 3072 + 3008); /* + the block and bump of the mark test */
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

/* A big block is usable end to end (on Linux it starts on a 2 MB boundary, the huge-page
 * advice's unit); a small one is plain malloc; an arena of big chunks still resets and
 * reuses them. */
static void test_big_blocks(void)
{
    const size_t big = (size_t)5 << 20;
    unsigned char *p = (unsigned char *)plat_alloc_big(big),
                  *q = (unsigned char *)plat_alloc_big(100);
    Arena *a = arena_new((size_t)8 << 20);
    size_t chunks;
    T_OK(p != NULL && q != NULL);
    memset(p, 0xa5, big);
    T_EQ_INT(p[0], 0xa5);
    T_EQ_INT(p[big - 1], 0xa5);
#if defined(__linux__)
    T_EQ_INT((size_t)p % ((size_t)2 << 20), 0);
#endif
    memset(q, 1, 100);
    plat_free_big(p);
    plat_free_big(q);
    memset(arena_alloc(a, (size_t)6 << 20), 0, (size_t)6 << 20);
    memset(arena_alloc(a, (size_t)6 << 20), 0, (size_t)6 << 20); /* a second chunk */
    chunks = arena_chunk_count(a);
    arena_reset(a);
    arena_alloc(a, (size_t)6 << 20);
    arena_alloc(a, (size_t)6 << 20);
    T_EQ_INT(arena_chunk_count(a), chunks);
    arena_free(a);
}

const TestCase tensor_tests[] = {
    {"big_blocks", test_big_blocks},
    {"arena_reset_reuses", test_arena_reset_reuses},
    {"arena_alignment_and_mark", test_arena_alignment_and_mark},
    {"block_reuse_and_alignment", test_block_reuse_and_alignment},
    {"block_high_water_and_reset", test_block_high_water_and_reset},
    {"tensor_shapes", test_tensor_shapes},
    {NULL, NULL},
};
