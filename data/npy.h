/* npy.h - NumPy .npy files: float32 arrays written (format version 1.0) so that samples can
 * be opened with numpy.load, and read back (cmad score re-scores saved samples).
 *
 * Layout (numpy.lib.format): magic "\x93NUMPY", version bytes 1 0, header length HLEN as
 * little-endian uint16, then HLEN bytes of ASCII: a Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }
 * padded with spaces and ended by '\n' so that 10 + HLEN is a multiple of 64; then the
 * elements row-major as little-endian IEEE float32.  A 1-d shape is written "(n,)", a
 * 0-d one "()". */
#ifndef CMAD_NPY_H
#define CMAD_NPY_H

#include <stddef.h>

#include "../tensor/tensor.h"

#define NPY_MAX_DIM 8
#define NPY_MAX_HEADER 65536            /* bytes of header text the reader accepts */
#define NPY_MAX_ELEMS ((size_t)1 << 27) /* elements the reader accepts */

/* Builds the complete header (magic to '\n') into buf; returns its length (a multiple of
 * 64), or 0 if it does not fit in cap or the shape is bad (ndim 0..8, dims >= 0). */
size_t npy_header(int ndim, const int *shape, unsigned char *buf, size_t cap);

/* Writes data [prod(shape)] as float32 through "<path>.tmp" and a rename. */
int npy_write_f32(const char *path, int ndim, const int *shape, const Scalar *data, char *err,
                  size_t errcap);

/* What npy_read gives back: data [numel] row-major, converted to Scalar. */
typedef struct NpyArray {
    int ndim;
    long shape[NPY_MAX_DIM];
    size_t numel;
    Scalar *data;
} NpyArray;

/* Reads a .npy file of version 1.0, 2.0 or 3.0 whose header is a dict of exactly 'descr',
 * 'fortran_order' and 'shape' (as numpy writes it): descr '<f4', '>f4', '<f8' or '>f8',
 * fortran_order False, shape a tuple of 0..NPY_MAX_DIM non-negative ints.  The header is
 * parsed as text and the elements assembled byte by byte; the header length is capped at
 * NPY_MAX_HEADER, the element count at NPY_MAX_ELEMS, and the file must hold exactly the
 * promised bytes.  0 on success; -1 with one line "<path>: <what is wrong>" in err. */
int npy_read(const char *path, NpyArray *out, char *err, size_t errcap);
void npy_free(NpyArray *a);

#endif
