/* safetensors.h - read and write the safetensors format (checkpoints, golden values).
 *
 * File layout (https://github.com/huggingface/safetensors, format section):
 *   bytes 0..7   n, the header length, unsigned 64-bit little-endian
 *   bytes 8..    n bytes of UTF-8 JSON: one object whose members are
 *                  "<tensor name>": {"dtype": "F32", "shape": [d0, d1, ...],
 *                                    "data_offsets": [begin, end]}
 *                and optionally "__metadata__": {"key": "value", ...} (strings only);
 *                the writer pads the JSON with spaces so that n is a multiple of 8
 *   bytes 8+n..  the data area: each tensor's elements, row-major, little-endian, at
 *                [begin, end) relative to the start of the data area.
 *
 * Supported dtypes: F32, F64 (read into Scalar or double), I32, I64, U64 (read as integers;
 * checkpoints keep step counters and RNG state words in I64/U64).  Any other dtype is
 * rejected with a message that names it.
 *
 * Everything is read and written byte by byte, so files are identical on little- and
 * big-endian machines.  The reader validates the whole file when it opens it: header
 * length against the file size, strict JSON, known dtypes, shapes (0..8 dims, each >= 0,
 * product overflow-checked), offsets inside the data area, end - begin = numel * size,
 * duplicate names, and no bytes after the last tensor.  Errors are returned, never fatal:
 * a function that fails returns NULL or -1 and writes one line into err (it names the file
 * and what is wrong).  Writers go through "<path>.tmp" and a rename, so a failed write
 * leaves no partial file. */
#ifndef CMAD_SAFETENSORS_H
#define CMAD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

#define ST_MAX_DIM 8
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)        /* bytes of JSON header */
#define ST_MAX_FILE ((uint64_t)2 * 1024 * 1024 * 1024 - 1) /* bytes of a whole file */

typedef enum StDtype {
    ST_DTYPE_F32,
    ST_DTYPE_F64,
    ST_DTYPE_I32,
    ST_DTYPE_I64,
    ST_DTYPE_U64
} StDtype;

const char *st_dtype_name(StDtype d); /* "F32", ... */
size_t st_dtype_size(StDtype d);      /* bytes per element */

typedef struct SafeEntry {
    const char *name;
    StDtype dtype;
    int ndim; /* 0 (a scalar) .. ST_MAX_DIM */
    int64_t shape[ST_MAX_DIM];
    size_t numel;      /* product of the shape (1 for ndim 0) */
    size_t begin, end; /* byte range in the data area */
} SafeEntry;

typedef struct SafeFile SafeFile;
typedef struct SafeWriter SafeWriter;

/* ---------------------------------------------------------------- reader */

/* Reads and validates the whole file.  NULL on error (message in err). */
SafeFile *st_open(const char *path, char *err, size_t errcap);
void st_close(SafeFile *f);
const char *st_path(const SafeFile *f);
int st_count(const SafeFile *f);                               /* tensors, metadata excluded */
const SafeEntry *st_entry(const SafeFile *f, int i);           /* in header order, 0..count-1 */
const SafeEntry *st_find(const SafeFile *f, const char *name); /* NULL when absent */
/* Elements of all tensors together (each tensor lies inside the file, so this is bounded). */
size_t st_total_numel(const SafeFile *f);
int st_meta_count(const SafeFile *f);
const char *st_meta_key(const SafeFile *f, int i);
const char *st_meta(const SafeFile *f, const char *key); /* NULL when absent */

/* Copies the elements of e into dst [n], converting F32/F64 to Scalar (or to double);
 * n must equal e->numel.  0 on success, -1 with a message otherwise. */
int st_read_scalar(const SafeFile *f, const SafeEntry *e, Scalar *dst, size_t n, char *err,
                   size_t errcap);
int st_read_f64(const SafeFile *f, const SafeEntry *e, double *dst, size_t n, char *err,
                size_t errcap);
/* Integers: I64 and I32 into int64_t, U64 into uint64_t. */
int st_read_i64(const SafeFile *f, const SafeEntry *e, int64_t *dst, size_t n, char *err,
                size_t errcap);
int st_read_u64(const SafeFile *f, const SafeEntry *e, uint64_t *dst, size_t n, char *err,
                size_t errcap);

/* The usual checkpoint step in one call: finds `name`, checks that it is a float tensor of
 * exactly this shape, and reads it into dst.  The message names the file, the tensor, and
 * both shapes on a mismatch. */
int st_load_scalar(const SafeFile *f, const char *name, int ndim, const int *shape, Scalar *dst,
                   char *err, size_t errcap);

/* ---------------------------------------------------------------- writer */

/* A writer collects tensors (copied, converted to little-endian bytes at once) and
 * metadata, then writes them in insertion order.  The st_add* calls return 0, or -1 for a
 * bad argument (empty or duplicate name, ndim outside 0..8, negative dim, dtype that does
 * not fit the data); the first such error is kept and st_write reports it, so a caller may
 * check only st_write. */
SafeWriter *st_writer_new(void);
void st_writer_free(SafeWriter *w);
/* dtype ST_DTYPE_F32 or ST_DTYPE_F64; data [numel] */
int st_add(SafeWriter *w, const char *name, StDtype dtype, int ndim, const int *shape,
           const Scalar *data);
int st_add_f64(SafeWriter *w, const char *name, int ndim, const int *shape, const double *data);
int st_add_i64(SafeWriter *w, const char *name, int ndim, const int *shape, const int64_t *data);
int st_add_u64(SafeWriter *w, const char *name, int ndim, const int *shape, const uint64_t *data);
int st_add_meta(SafeWriter *w, const char *key, const char *value);
/* st_add_meta of a printf-formatted value (at most 511 bytes; a longer one is an error). */
int st_add_metaf(SafeWriter *w, const char *key, const char *fmt, ...)
#if defined(__GNUC__) && !defined(__TINYC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Writes "<path>.tmp" and renames it to path.  0 on success, -1 with a message. */
int st_write(SafeWriter *w, const char *path, char *err, size_t errcap);

#endif
