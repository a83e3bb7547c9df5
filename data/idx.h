/* idx.h - the IDX format of MNIST, a loader that pairs images with labels, and batches.
 *
 * IDX layout (http://yann.lecun.com/exdb/mnist/, bottom of the page), all big-endian:
 *   bytes 0..3   magic 0x00 0x00 <type> <ndim>; type 0x08 = unsigned byte (the only type
 *                read here); MNIST images are 0x00000803 (3 dims), labels 0x00000801 (1 dim)
 *   then ndim    uint32 sizes, the first being the item count
 *   then         prod(sizes) bytes, row-major.
 * The reader checks the magic, the type, the number of dims, caps every size (count
 * <= IDX_MAX_COUNT, other dims <= IDX_MAX_DIM, total <= IDX_MAX_BYTES), and that the file
 * holds exactly the promised bytes.  Errors are returned (-1) with one line in err that
 * names the file; nothing exits.
 *
 * Shapes: N images, H = W = 28 rows and columns, pixels 0..255 stored as bytes and
 * converted to Scalar in [0, 1] (x / 255) only when a batch is made. */
#ifndef CMAD_IDX_H
#define CMAD_IDX_H

#include <stddef.h>

#include "../tensor/rng.h"
#include "../tensor/tensor.h"

#define IDX_MAX_NDIM 4
#define IDX_MAX_COUNT 10000000L         /* items (first dimension) */
#define IDX_MAX_DIM 65536L              /* any other dimension */
#define IDX_MAX_BYTES ((size_t)1 << 30) /* data bytes of one file */

typedef struct IdxArray {
    int ndim;
    long dims[IDX_MAX_NDIM];
    size_t n;            /* product of dims */
    unsigned char *data; /* [dims...] */
} IdxArray;

/* Reads an unsigned-byte IDX file that must have exactly `ndim` dimensions. */
int idx_read_u8(const char *path, int ndim, IdxArray *out, char *err, size_t errcap);
void idx_free(IdxArray *a);

/* ---------------------------------------------------------------- MNIST */

#define MNIST_SIDE 28
#define MNIST_PIXELS (MNIST_SIDE * MNIST_SIDE)

typedef struct Mnist {
    int n;                 /* N */
    unsigned char *pixels; /* [N, 28, 28], 0..255 */
    unsigned char *labels; /* [N], 0..9 */
} Mnist;

/* Loads <dir>/<split>-images-idx3-ubyte and <dir>/<split>-labels-idx1-ubyte, split being
 * "train" or "t10k".  Checks 28x28 images, labels 0..9 and equal counts. */
int mnist_load(const char *dir, const char *split, Mnist *out, char *err, size_t errcap);
/* The same from two explicit file names. */
int mnist_load_files(const char *images_path, const char *labels_path, Mnist *out, char *err,
                     size_t errcap);
void mnist_free(Mnist *m);

/* x [n, 1, 28, 28] = pixels / 255 of the images idx [n]; labels [n] (may be NULL).
 * Indices out of range are a programming error (CHECK). */
void mnist_batch(const Mnist *m, const int *idx, int n, Scalar *x, int *labels);

/* dst = src (one 28x28 image) moved dx pixels right and dy pixels down, zero where it
 * came from outside; |dx|, |dy| < 28.  src and dst must not overlap. */
void mnist_shift(const Scalar *src, Scalar *dst, int dx, int dy);

/* order [n] = a random permutation of 0..n-1 (identity, then rng_shuffle). */
void mnist_shuffle(Rng *r, int *order, int n);

/* Epochs of shuffled mini-batches: each epoch is a fresh permutation cut into batches of
 * the requested size; a final partial batch is dropped, so every batch is full. */
typedef struct MnistSampler {
    int n;      /* dataset size */
    int pos;    /* next position in order */
    long epoch; /* epochs started so far */
    int *order; /* [n] */
} MnistSampler;

void mnist_sampler_init(MnistSampler *s, int n);
void mnist_sampler_free(MnistSampler *s);
/* Fills idx [batch] (1 <= batch <= n) and returns the 0-based epoch of this batch. */
long mnist_sampler_next(MnistSampler *s, Rng *r, int batch, int *idx);

#endif
