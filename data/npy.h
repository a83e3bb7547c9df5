/* npy.h - write NumPy .npy files (format version 1.0) of float32, so that samples and
 * metrics can be opened with numpy.load.
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

/* Builds the complete header (magic to '\n') into buf; returns its length (a multiple of
 * 64), or 0 if it does not fit in cap or the shape is bad (ndim 0..8, dims >= 0). */
size_t npy_header(int ndim, const int *shape, unsigned char *buf, size_t cap);

/* Writes data [prod(shape)] as float32 through "<path>.tmp" and a rename. */
int npy_write_f32(const char *path, int ndim, const int *shape, const Scalar *data, char *err,
                  size_t errcap);

#endif
