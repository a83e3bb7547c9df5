/* fuzz_npy.c - libFuzzer harness of the .npy reader (data/npy.c), which `cmad score` runs on
 * a file the user names.
 *
 * Input: the file's bytes.  A success must keep npy.h's promises (ndim 0..NPY_MAX_DIM,
 * numel the product of the shape and at most NPY_MAX_ELEMS, numel readable elements, a data
 * pointer even when numel is 0); and writing the array back as float32 and reading that
 * must give the same shape and, for the values that are floats, the same bits; a failure
 * must leave a message and no data.  Build and run: fuzz/run.sh. */
#include "fuzz_util.h"

#include <stdint.h>

#include "../data/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_tmp_path("in.npy"), *q = fuzz_tmp_path("back.npy");
    char err[512];
    NpyArray a, b;
    size_t n = 1, i;
    int d, shape[NPY_MAX_DIM];
    fuzz_write(p, data, size);
    memset(err, 'x', sizeof err);
    if (npy_read(p, &a, err, sizeof err) != 0) {
        fuzz_check_err(err, sizeof err, "npy_read");
        FUZZ_CHECK(a.data == NULL && a.numel == 0, "a failed read left data");
        return 0;
    }
    FUZZ_CHECK(err[0] == '\0', "npy_read succeeded with a message");
    FUZZ_CHECK(a.ndim >= 0 && a.ndim <= NPY_MAX_DIM, "ndim %d", a.ndim);
    FUZZ_CHECK(a.data != NULL, "no data pointer");
    for (d = 0; d < a.ndim; d++) {
        FUZZ_CHECK(a.shape[d] >= 0 && (size_t)a.shape[d] <= NPY_MAX_ELEMS, "dim %d is %ld", d,
                   a.shape[d]);
        n *= (size_t)a.shape[d];
        shape[d] = (int)a.shape[d];
    }
    FUZZ_CHECK(n == a.numel && n <= NPY_MAX_ELEMS, "numel %lu, shape says %lu",
               (unsigned long)a.numel, (unsigned long)n);
    /* back through the writer (float32, as Scalar is in this build) */
    if (npy_write_f32(q, a.ndim, shape, a.data, err, sizeof err) == 0) {
        FUZZ_CHECK(npy_read(q, &b, err, sizeof err) == 0, "our own file refused: %s", err);
        FUZZ_CHECK(b.ndim == a.ndim && b.numel == a.numel, "round trip changed the shape");
        for (i = 0; i < a.numel; i++) {
            float x = (float)a.data[i], y = (float)b.data[i];
            FUZZ_CHECK(x != x ? y != y : memcmp(&x, &y, sizeof x) == 0,
                       "round trip changed element %lu", (unsigned long)i);
        }
        npy_free(&b);
    }
    npy_free(&a);
    FUZZ_CHECK(a.data == NULL && a.numel == 0, "npy_free left data");
    return 0;
}
