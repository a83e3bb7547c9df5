/* tensor.c - CHECK support, checked allocation, the arena and tensor constructors. */
#include "tensor.h"
#include "platform.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */

void cmad_fatal(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "cmad: error (%s:%d): ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    CHECK(p != NULL, "out of memory allocating %lu bytes", (unsigned long)bytes);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    CHECK(p != NULL, "out of memory allocating %lu x %lu bytes", (unsigned long)count,
          (unsigned long)size);
    return p;
}

size_t size_mul(size_t a, size_t b)
{
    CHECK(b == 0 || a <= SIZE_MAX / b, "size overflow: %lu x %lu", (unsigned long)a,
          (unsigned long)b);
    return a * b;
}

/* ---------------------------------------------------------------- arena */

#define ARENA_ALIGN 64

typedef struct Chunk {
    struct Chunk *next;
    size_t cap; /* usable bytes after the aligned start */
    unsigned char *base;
    void *raw; /* what plat_alloc_big returned */
} Chunk;

/* A block of the pool: this header, then the caller's bytes (both 64-byte aligned). */
typedef struct BlockHead {
    struct BlockHead *next; /* on its free list */
    size_t cap;             /* usable bytes, a multiple of ARENA_ALIGN */
} BlockHead;
#define BLOCK_HEAD ARENA_ALIGN /* header bytes, keeping the payload aligned */

/* Free lists by exact size in an open-addressing table; when it is full, blocks of a new
 * size are simply not reused (they come back at the reset).  (Taking the smallest larger
 * free block on a miss was tried: it lowered no peak, since a network's sizes repeat.) */
#define POOL_SLOTS 512

struct Arena {
    Chunk *first, *cur;
    size_t used; /* bytes used in cur */
    size_t done; /* bytes used in the chunks before cur */
    size_t high; /* high-water mark of done + used + pool bytes */
    size_t chunk_bytes;
    size_t reserved;
    size_t nchunks;
    /* the block pool: its own chunks, cut front to back like the bump stack */
    Chunk *pfirst, *pcur;
    size_t pused, pdone; /* bytes cut in pcur, in the chunks before it */
    size_t plive;        /* bytes in blocks handed out and not put back */
    size_t slot_cap[POOL_SLOTS];
    BlockHead *slot_head[POOL_SLOTS];
    unsigned long resets; /* arena_reset calls so far (arena_resets) */
};

static Chunk *chunk_new(size_t cap)
{
    Chunk *c = (Chunk *)xmalloc(sizeof(Chunk));
    size_t raw_bytes = cap + ARENA_ALIGN;
    uintptr_t p;
    CHECK(raw_bytes > cap, "arena chunk size overflow");
    c->raw = plat_alloc_big(raw_bytes);
    CHECK(c->raw != NULL, "out of memory allocating %lu bytes", (unsigned long)raw_bytes);
    p = (uintptr_t)c->raw;
    p = (p + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
    c->base = (unsigned char *)p;
    c->cap = cap;
    c->next = NULL;
    return c;
}

Arena *arena_new(size_t chunk_bytes)
{
    Arena *a = (Arena *)xcalloc(1, sizeof(Arena));
    if (chunk_bytes < (1u << 16)) chunk_bytes = 1u << 16;
    a->chunk_bytes = chunk_bytes;
    a->first = a->cur = chunk_new(chunk_bytes);
    a->reserved = chunk_bytes;
    a->nchunks = 1;
    return a;
}

static void chunks_free(Chunk *c)
{
    while (c) {
        Chunk *next = c->next;
        plat_free_big(c->raw);
        free(c);
        c = next;
    }
}

void arena_free(Arena *a)
{
    if (!a) return;
    chunks_free(a->first);
    chunks_free(a->pfirst);
    free(a);
}

static void note_high(Arena *a)
{
    size_t now = a->done + a->used + a->pdone + a->pused;
    if (now > a->high) a->high = now;
}

/* One bump list (the arena's own, or the pool's) moves on to its next chunk, making one when
 * none is kept or the kept one is smaller than need; the bytes cut so far go to *done. */
static void chunk_advance(Arena *a, Chunk **cur, size_t *used, size_t *done, size_t need)
{
    Chunk *next = (*cur)->next;
    *done += *used;
    *used = 0;
    if (!next || next->cap < need) {
        size_t cap = need > a->chunk_bytes ? need : a->chunk_bytes;
        Chunk *fresh = chunk_new(cap);
        fresh->next = next;
        (*cur)->next = fresh;
        a->reserved += cap;
        a->nchunks++;
        next = fresh;
    }
    *cur = next;
}

void *arena_alloc(Arena *a, size_t bytes)
{
    size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    void *p;
    CHECK(need >= bytes, "arena allocation overflow (%lu bytes)", (unsigned long)bytes);
    if (need == 0) need = ARENA_ALIGN;
    while (a->used + need > a->cur->cap) chunk_advance(a, &a->cur, &a->used, &a->done, need);
    p = a->cur->base + a->used;
    a->used += need;
    note_high(a);
    return p;
}

void *arena_calloc(Arena *a, size_t bytes)
{
    void *p = arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

void arena_reset(Arena *a)
{
    a->cur = a->first;
    a->used = 0;
    a->done = 0;
    a->pcur = a->pfirst;
    a->pused = a->pdone = a->plive = 0;
    memset(a->slot_cap, 0, sizeof a->slot_cap);
    memset(a->slot_head, 0, sizeof a->slot_head);
    a->resets++;
}

unsigned long arena_resets(const Arena *a) { return a->resets; }

ArenaMark arena_mark(const Arena *a)
{
    ArenaMark m;
    m.chunk = a->cur;
    m.used = a->used;
    m.done = a->done;
    return m;
}

void arena_release(Arena *a, ArenaMark m)
{
    a->cur = (Chunk *)m.chunk;
    a->used = m.used;
    a->done = m.done;
}

/* ---------------------------------------------------------------- block pool */

/* The table slot of size cap: its own, or the empty one where it goes; -1 when full. */
static int pool_slot(const Arena *a, size_t cap)
{
    size_t h = (cap / ARENA_ALIGN) * (size_t)2654435761u, k;
    for (k = 0; k < POOL_SLOTS; k++) {
        int s = (int)((h + k) % POOL_SLOTS);
        if (a->slot_cap[s] == cap || a->slot_cap[s] == 0) return s;
    }
    return -1;
}

/* Cuts bytes (a multiple of ARENA_ALIGN) from the pool's chunks. */
static unsigned char *pool_cut(Arena *a, size_t bytes)
{
    unsigned char *p;
    if (!a->pcur) {
        size_t cap = bytes > a->chunk_bytes ? bytes : a->chunk_bytes;
        a->pfirst = a->pcur = chunk_new(cap);
        a->reserved += cap;
        a->nchunks++;
    }
    while (a->pused + bytes > a->pcur->cap) chunk_advance(a, &a->pcur, &a->pused, &a->pdone, bytes);
    p = a->pcur->base + a->pused;
    a->pused += bytes;
    note_high(a);
    return p;
}

void *arena_block_get(Arena *a, size_t bytes)
{
    size_t cap = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    int s;
    BlockHead *b;
    CHECK(cap >= bytes && cap + BLOCK_HEAD > cap, "arena block overflow (%lu bytes)",
          (unsigned long)bytes);
    if (cap == 0) cap = ARENA_ALIGN;
    s = pool_slot(a, cap);
    if (s >= 0 && a->slot_head[s]) {
        b = a->slot_head[s];
        a->slot_head[s] = b->next;
    } else {
        b = (BlockHead *)pool_cut(a, BLOCK_HEAD + cap);
        b->cap = cap;
    }
    b->next = NULL;
    a->plive += cap;
    return (unsigned char *)b + BLOCK_HEAD;
}

void arena_block_put(Arena *a, void *block)
{
    BlockHead *b;
    int s;
    if (!block) return;
    b = (BlockHead *)(void *)((unsigned char *)block - BLOCK_HEAD);
    CHECK(a->plive >= b->cap, "arena_block_put: block not from this arena or put twice");
    a->plive -= b->cap;
    s = pool_slot(a, b->cap);
    if (s < 0) return; /* table full: this block waits for the reset */
    a->slot_cap[s] = b->cap;
    b->next = a->slot_head[s];
    a->slot_head[s] = b;
}

size_t arena_block_bytes(const Arena *a) { return a->pdone + a->pused; }
size_t arena_block_live(const Arena *a) { return a->plive; }

size_t arena_used(const Arena *a) { return a->done + a->used + a->pdone + a->pused; }
size_t arena_high_water(const Arena *a) { return a->high; }
size_t arena_reserved(const Arena *a) { return a->reserved; }
size_t arena_chunk_count(const Arena *a) { return a->nchunks; }

/* ---------------------------------------------------------------- tensors */

size_t shape_numel(int ndim, const int *shape)
{
    size_t n = 1;
    int i;
    CHECK(ndim >= 1 && ndim <= TENSOR_MAX_DIM, "tensor rank %d is outside 1..%d", ndim,
          TENSOR_MAX_DIM);
    for (i = 0; i < ndim; i++) {
        CHECK(shape[i] >= 1, "tensor dimension %d is %d (must be >= 1)", i, shape[i]);
        n = size_mul(n, (size_t)shape[i]);
    }
    return n;
}

Tensor tensor_view(Scalar *data, int ndim, const int *shape)
{
    Tensor t;
    int i;
    t.n = shape_numel(ndim, shape);
    t.ndim = ndim;
    for (i = 0; i < TENSOR_MAX_DIM; i++) t.shape[i] = i < ndim ? shape[i] : 1;
    t.data = data;
    return t;
}

Tensor tensor_new(Arena *a, int ndim, const int *shape)
{
    size_t n = shape_numel(ndim, shape);
    return tensor_view((Scalar *)arena_alloc(a, size_mul(n, sizeof(Scalar))), ndim, shape);
}

Tensor tensor_zeros(Arena *a, int ndim, const int *shape)
{
    size_t n = shape_numel(ndim, shape);
    return tensor_view((Scalar *)arena_calloc(a, size_mul(n, sizeof(Scalar))), ndim, shape);
}

int tensor_same_shape(const Tensor *a, const Tensor *b)
{
    int i;
    if (a->ndim != b->ndim) return 0;
    for (i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

void shape_str(int ndim, const int *shape, char *buf, size_t cap)
{
    size_t len = 0;
    int i;
    if (cap == 0) return;
    buf[0] = '\0';
    for (i = 0; i < ndim && len + 1 < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s%d", i ? ", " : "[", shape[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (len + 1 < cap) snprintf(buf + len, cap - len, "]");
}
