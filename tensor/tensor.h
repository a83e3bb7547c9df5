/* tensor.h - the scalar type, dense tensors, the bump arena and the CHECK macro.
 *
 * A Tensor is a contiguous row-major array of up to 4 dimensions (NCHW for images).
 * It owns nothing: its data lives in an Arena (per-step graph memory) or in a flat
 * parameter array (see nn/params.h).  Shapes are ints; element counts are size_t and
 * every product is overflow-checked when a tensor is made.
 *
 * Dimension legend used in shape comments across the project:
 *   N batch, C channels, H height, W width, G groups, K time steps, A agents, P pixels.
 *
 * The scalar type is one typedef.  The default build uses float; `make check-grad` builds
 * the whole library a second time with -DCMAD_DOUBLE so that finite differences are tight.
 */
#ifndef CMAD_TENSOR_H
#define CMAD_TENSOR_H

#include <stddef.h>

#ifdef CMAD_DOUBLE
typedef double Scalar;
#define SCALAR_NAME "double"
#define SCALAR_EXP(x) exp(x) /* needs <math.h> at the point of use */
#else
typedef float Scalar;
#define SCALAR_NAME "float"
#define SCALAR_EXP(x) expf(x) /* single-precision libm: the float build's elementwise maps */
#endif

#define TENSOR_MAX_DIM 4

/* ---------------------------------------------------------------- errors */

/* Always-on assertion: prints file:line and the message, then exits with status 1. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) cmad_fatal(__FILE__, __LINE__, __VA_ARGS__);                                  \
    } while (0)

#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 3, 4)))
#endif
void cmad_fatal(const char *file, int line, const char *fmt, ...);

/* malloc/calloc that CHECK their result (for set-up, never in a hot loop). */
void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t size);

/* a * b with an overflow CHECK. */
size_t size_mul(size_t a, size_t b);

/* ---------------------------------------------------------------- arena */

/* A chunked bump allocator.  Allocations are 64-byte aligned; arena_reset() keeps the
 * chunks, so a loop that does the same work every step stops calling malloc after its
 * first step.
 *
 * Beside the bump stack an arena keeps a pool of reusable blocks (arena_block_get/put):
 * memory whose lifetime does not nest (autograd's gradients and values).  A block is cut
 * from the pool's own chunks the first time a size is asked for; arena_block_put() puts
 * it on the free list of its size (64-byte multiples, exact size) and the next get of that
 * size takes it back, so blocks never move and are never split.  Blocks are outside
 * mark/release; arena_reset() returns every block at once.
 *
 * arena_used() counts the bump bytes in use plus every byte cut for blocks (a free block
 * is still held); the high-water mark is the most that count ever reached. */
typedef struct Arena Arena;
typedef struct {
    void *chunk;
    size_t used, done;
} ArenaMark;

Arena *arena_new(size_t chunk_bytes);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t bytes);  /* uninitialised */
void *arena_calloc(Arena *a, size_t bytes); /* zeroed */
void arena_reset(Arena *a);
/* How many times a has been reset: memory taken from it since (block or bump) is valid
 * while this is unchanged, which lets a memo kept in the arena tell that it is stale. */
unsigned long arena_resets(const Arena *a);
ArenaMark arena_mark(const Arena *a);
void arena_release(Arena *a, ArenaMark m); /* free everything allocated after m */
size_t arena_used(const Arena *a);
size_t arena_high_water(const Arena *a);
size_t arena_reserved(const Arena *a); /* bytes obtained from malloc */
size_t arena_chunk_count(const Arena *a);
/* A 64-byte aligned block of at least `bytes` (uninitialised), reused when one of that
 * size was put back. */
void *arena_block_get(Arena *a, size_t bytes);
/* Gives a block back for reuse (NULL is ignored). */
void arena_block_put(Arena *a, void *block);
size_t arena_block_bytes(const Arena *a); /* bytes cut for blocks so far (since the reset) */
size_t arena_block_live(const Arena *a);  /* of those, bytes in blocks not put back */

/* ---------------------------------------------------------------- tensors */

typedef struct Tensor {
    int ndim;
    int shape[TENSOR_MAX_DIM];
    size_t n; /* number of elements */
    Scalar *data;
} Tensor;

/* Makes a tensor of the given shape with data from the arena (uninitialised / zeroed). */
Tensor tensor_new(Arena *a, int ndim, const int *shape);
Tensor tensor_zeros(Arena *a, int ndim, const int *shape);
/* Wraps existing memory; CHECKs the shape. */
Tensor tensor_view(Scalar *data, int ndim, const int *shape);
/* Shape helpers. */
size_t shape_numel(int ndim, const int *shape); /* CHECKs 1 <= ndim <= 4, dims >= 1 */
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* Writes "[2, 3, 28, 28]" into buf (always terminated). */
void shape_str(int ndim, const int *shape, char *buf, size_t cap);

#endif
