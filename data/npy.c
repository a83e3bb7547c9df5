/* npy.c - .npy version 1.0 writer for float32 arrays (see npy.h). */
#include "npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wfile.h"

typedef char npy_float_is_32_bits[sizeof(float) == 4 ? 1 : -1];

size_t npy_header(int ndim, const int *shape, unsigned char *buf, size_t cap)
{
    static const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    char dict[256];
    size_t k, total, hlen;
    int i;
    if (ndim < 0 || ndim > NPY_MAX_DIM) return 0;
    k = (size_t)snprintf(dict, sizeof dict,
                         "{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (");
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) return 0;
        k += (size_t)snprintf(dict + k, sizeof dict - k, i ? ", %d" : "%d", shape[i]);
    }
    k += (size_t)snprintf(dict + k, sizeof dict - k, ndim == 1 ? ",), }" : "), }");
    /* 10 bytes of preamble + dict + spaces + '\n', rounded up to 64 */
    total = (10 + k + 1 + 63) / 64 * 64;
    if (total > cap) return 0;
    hlen = total - 10;
    memcpy(buf, magic, sizeof magic); /* "\x93NUMPY", version 1.0 */
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, k);
    memset(buf + 10 + k, ' ', total - 10 - k - 1);
    buf[total - 1] = '\n';
    return total;
}

int npy_write_f32(const char *path, int ndim, const int *shape, const Scalar *data, char *err,
                  size_t errcap)
{
    unsigned char head[512], *buf;
    size_t hn = npy_header(ndim, shape, head, sizeof head), numel = 1, i;
    int d, rc;
    if (hn == 0) {
        if (err && errcap) snprintf(err, errcap, "%s: bad .npy shape (ndim %d)", path, ndim);
        return -1;
    }
    for (d = 0; d < ndim; d++) {
        if (shape[d] && numel > ((size_t)1 << 30) / (size_t)shape[d]) {
            if (err && errcap) snprintf(err, errcap, "%s: array too large for .npy", path);
            return -1;
        }
        numel *= (size_t)shape[d];
    }
    buf = (unsigned char *)malloc(hn + 4 * numel);
    if (!buf) {
        if (err && errcap) snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    memcpy(buf, head, hn);
    for (i = 0; i < numel; i++) {
        float x = (float)data[i];
        uint32_t u;
        unsigned char *p = buf + hn + 4 * i;
        memcpy(&u, &x, 4);
        p[0] = (unsigned char)u;
        p[1] = (unsigned char)(u >> 8);
        p[2] = (unsigned char)(u >> 16);
        p[3] = (unsigned char)(u >> 24);
    }
    rc = data_write_file(path, buf, hn + 4 * numel, err, errcap);
    free(buf);
    return rc;
}
