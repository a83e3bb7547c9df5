/* fuzz_idx.c - libFuzzer harness of the IDX reader and the MNIST loader (data/idx.c).
 *
 * Input: [k, 4 bytes little-endian][images file, k bytes][labels file, the rest]; a k past
 * the end gives the whole input to the images file and none to the labels.  The images
 * part is read by idx_read_u8 with every ndim 1..IDX_MAX_NDIM; then mnist_load_files reads
 * the pair.  A success must keep idx.h's promises (dims within the caps, n their product,
 * n readable bytes; MNIST: 28x28 images, labels 0..9, equal counts); a failure must leave
 * a message.  Build and run: fuzz/run.sh. */
#include "fuzz_util.h"

#include <stdint.h>

#include "../data/idx.h"

static void check_array(const IdxArray *a, int ndim)
{
    size_t n = 1, i;
    unsigned sum = 0;
    int d;
    FUZZ_CHECK(a->ndim == ndim, "ndim %d, asked for %d", a->ndim, ndim);
    FUZZ_CHECK(a->data != NULL, "no data pointer");
    for (d = 0; d < ndim; d++) {
        FUZZ_CHECK(a->dims[d] >= 0 && a->dims[d] <= (d ? IDX_MAX_DIM : IDX_MAX_COUNT),
                   "dim %d is %ld", d, a->dims[d]);
        n *= (size_t)a->dims[d];
    }
    FUZZ_CHECK(n == a->n && n <= IDX_MAX_BYTES, "n %lu, dims say %lu", (unsigned long)a->n,
               (unsigned long)n);
    for (i = 0; i < n; i++) sum += a->data[i]; /* every promised byte is there */
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ip = fuzz_tmp_path("images.idx"), *lp = fuzz_tmp_path("labels.idx");
    char err[512];
    size_t k = 0;
    IdxArray a;
    Mnist m;
    int nd;
    volatile unsigned char last = 0;
    if (size >= 4) {
        k = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
        data += 4;
        size -= 4;
    }
    if (k > size) k = size;
    fuzz_write(ip, data, k);
    fuzz_write(lp, data + k, size - k);

    for (nd = 1; nd <= IDX_MAX_NDIM; nd++) {
        memset(err, 'x', sizeof err);
        if (idx_read_u8(ip, nd, &a, err, sizeof err) == 0) {
            FUZZ_CHECK(err[0] == '\0', "idx_read_u8 succeeded with a message");
            check_array(&a, nd);
            idx_free(&a);
            FUZZ_CHECK(a.data == NULL && a.n == 0, "idx_free left data");
        } else {
            fuzz_check_err(err, sizeof err, "idx_read_u8");
            FUZZ_CHECK(a.data == NULL && a.n == 0, "a failed read left data");
        }
    }

    memset(err, 'x', sizeof err);
    if (mnist_load_files(ip, lp, &m, err, sizeof err) == 0) {
        int i;
        FUZZ_CHECK(m.n >= 0 && m.pixels && m.labels, "mnist: n %d", m.n);
        for (i = 0; i < m.n; i++) FUZZ_CHECK(m.labels[i] <= 9, "label %d", m.labels[i]);
        if (m.n > 0) last = m.pixels[(size_t)m.n * MNIST_PIXELS - 1]; /* the last pixel */
        mnist_free(&m);
        (void)last;
    } else {
        fuzz_check_err(err, sizeof err, "mnist_load_files");
        FUZZ_CHECK(m.pixels == NULL && m.labels == NULL, "a failed load left data");
    }
    return 0;
}
