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

/* ---------------------------------------------------------------- reader */

static int npy_fail(char *err, size_t errcap, const char *path, const char *what)
{
    if (err && errcap) snprintf(err, errcap, "%s: %s", path, what);
    return -1;
}

/* A cursor over the header text [p, end). */
typedef struct NpyText {
    const char *p, *end;
} NpyText;

static void npy_skip_ws(NpyText *t)
{
    while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r'))
        t->p++;
}

static int npy_eat(NpyText *t, char c)
{
    npy_skip_ws(t);
    if (t->p < t->end && *t->p == c) {
        t->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") without escapes into buf; 0 when malformed or too long. */
static int npy_string(NpyText *t, char *buf, size_t cap)
{
    char q;
    size_t k = 0;
    npy_skip_ws(t);
    if (t->p >= t->end || (*t->p != '\'' && *t->p != '"')) return 0;
    q = *t->p++;
    while (t->p < t->end && *t->p != q) {
        if (*t->p == '\\' || k + 1 >= cap) return 0;
        buf[k++] = *t->p++;
    }
    if (t->p >= t->end) return 0;
    t->p++;
    buf[k] = '\0';
    return 1;
}

/* "(d0, d1, ...)" with an optional trailing comma; 0 when malformed, too deep or a
 * dimension above NPY_MAX_ELEMS. */
static int npy_shape(NpyText *t, NpyArray *a)
{
    if (!npy_eat(t, '(')) return 0;
    a->ndim = 0;
    if (npy_eat(t, ')')) return 1;
    for (;;) {
        long v = 0;
        int digits = 0;
        npy_skip_ws(t);
        while (t->p < t->end && *t->p >= '0' && *t->p <= '9') {
            v = v * 10 + (*t->p++ - '0');
            if ((size_t)v > NPY_MAX_ELEMS) return 0;
            digits++;
        }
        if (!digits || a->ndim == NPY_MAX_DIM) return 0;
        a->shape[a->ndim++] = v;
        if (npy_eat(t, ')')) return 1;
        if (!npy_eat(t, ',')) return 0;
        if (npy_eat(t, ')')) return 1;
    }
}

/* Parses the header dict into a (ndim, shape) and *bytes (4 or 8), *big (byte order);
 * returns NULL or what is wrong. */
static const char *npy_parse_header(const char *h, size_t n, NpyArray *a, int *bytes, int *big)
{
    NpyText t;
    char key[32], val[32];
    int seen = 0; /* bit 1 descr, 2 fortran_order, 4 shape */
    t.p = h;
    t.end = h + n;
    if (n == 0 || h[n - 1] != '\n') return "header does not end with a newline";
    if (!npy_eat(&t, '{')) return "header is not a dict";
    while (!npy_eat(&t, '}')) {
        if (!npy_string(&t, key, sizeof key) || !npy_eat(&t, ':')) return "malformed header dict";
        if (!strcmp(key, "descr")) {
            if (seen & 1) return "header repeats 'descr'";
            seen |= 1;
            if (!npy_string(&t, val, sizeof val)) return "malformed 'descr'";
            if ((val[0] != '<' && val[0] != '>') || val[1] != 'f' ||
                (strcmp(val + 2, "4") != 0 && strcmp(val + 2, "8") != 0))
                return "dtype is not supported (only float32 or float64: '<f4', '>f4', '<f8', "
                       "'>f8')";
            *big = val[0] == '>';
            *bytes = val[2] - '0';
        } else if (!strcmp(key, "fortran_order")) {
            if (seen & 2) return "header repeats 'fortran_order'";
            seen |= 2;
            npy_skip_ws(&t);
            if ((size_t)(t.end - t.p) >= 5 && !memcmp(t.p, "False", 5))
                t.p += 5;
            else if ((size_t)(t.end - t.p) >= 4 && !memcmp(t.p, "True", 4))
                return "Fortran-order arrays are not supported";
            else
                return "malformed 'fortran_order'";
        } else if (!strcmp(key, "shape")) {
            if (seen & 4) return "header repeats 'shape'";
            seen |= 4;
            if (!npy_shape(&t, a)) return "malformed or too large 'shape'";
        } else {
            return "header has a key other than 'descr', 'fortran_order' and 'shape'";
        }
        if (npy_eat(&t, '}')) break;
        if (!npy_eat(&t, ',')) return "malformed header dict";
    }
    if (seen != 7) return "header lacks 'descr', 'fortran_order' or 'shape'";
    npy_skip_ws(&t);
    if (t.p != t.end) return "text after the header dict";
    return NULL;
}

/* The element at p (bytes 4 or 8, big-endian or not) as a Scalar. */
static Scalar npy_elem(const unsigned char *p, int bytes, int big)
{
    int i;
    if (bytes == 4) {
        uint32_t u = 0;
        float f;
        for (i = 0; i < 4; i++) u |= (uint32_t)p[big ? 3 - i : i] << (8 * i);
        memcpy(&f, &u, 4);
        return (Scalar)f;
    } else {
        uint64_t u = 0;
        double d;
        for (i = 0; i < 8; i++) u |= (uint64_t)p[big ? 7 - i : i] << (8 * i);
        memcpy(&d, &u, 8);
        return (Scalar)d;
    }
}

typedef char npy_double_is_64_bits[sizeof(double) == 8 ? 1 : -1];

int npy_read(const char *path, NpyArray *out, char *err, size_t errcap)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    unsigned char pre[12], chunk[4096];
    char *head = NULL, msg[160];
    const char *bad;
    size_t hlen, numel = 1, i = 0, k, cap = 0;
    int d, bytes = 4, big = 0;
    FILE *fp;
    memset(out, 0, sizeof *out);
    if (err && errcap) err[0] = '\0';
    fp = fopen(path, "rb");
    if (!fp) return npy_fail(err, errcap, path, "cannot open file for reading");
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, magic, 6) != 0) {
        bad = "not a .npy file (no \\x93NUMPY magic)";
        goto fail;
    }
    if (pre[6] < 1 || pre[6] > 3) {
        snprintf(msg, sizeof msg, ".npy format version %d.%d is not supported (1.0 to 3.0)", pre[6],
                 pre[7]);
        bad = msg;
        goto fail;
    }
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            bad = "truncated in the header length";
            goto fail;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    if (hlen > NPY_MAX_HEADER) {
        snprintf(msg, sizeof msg, "header of %lu bytes exceeds the limit of %d (corrupt?)",
                 (unsigned long)hlen, NPY_MAX_HEADER);
        bad = msg;
        goto fail;
    }
    head = (char *)malloc(hlen + 1);
    if (!head) {
        bad = "out of memory for the header";
        goto fail;
    }
    if (fread(head, 1, hlen, fp) != hlen) {
        bad = "truncated in the header";
        goto fail;
    }
    for (k = 0; k < hlen; k++)
        if ((unsigned char)head[k] < 0x20 && head[k] != '\n' && head[k] != '\t' &&
            head[k] != '\r') {
            bad = "header has control bytes";
            goto fail;
        }
    bad = npy_parse_header(head, hlen, out, &bytes, &big);
    if (bad) goto fail;
    for (d = 0; d < out->ndim; d++) {
        if (out->shape[d] && numel > NPY_MAX_ELEMS / (size_t)out->shape[d]) {
            snprintf(msg, sizeof msg, "shape holds more than the %lu elements allowed",
                     (unsigned long)NPY_MAX_ELEMS);
            bad = msg;
            goto fail;
        }
        numel *= (size_t)out->shape[d];
    }
    /* the buffer grows with the elements actually read, so a lying shape costs no more
     * memory than the file; a chunk is a whole number of elements */
    while (i < numel) {
        size_t want = (numel - i) * (size_t)bytes, r, cnt;
        if (want > sizeof chunk) want = sizeof chunk;
        r = fread(chunk, 1, want, fp);
        cnt = r / (size_t)bytes;
        if (i + cnt > cap) {
            Scalar *nd;
            cap = cap ? cap * 2 : 1024;
            if (cap < i + cnt) cap = i + cnt;
            if (cap > numel) cap = numel;
            nd = (Scalar *)realloc(out->data, sizeof(Scalar) * cap);
            if (!nd) {
                bad = "out of memory for the data";
                goto fail;
            }
            out->data = nd;
        }
        for (k = 0; k < cnt; k++)
            out->data[i + k] = npy_elem(chunk + k * (size_t)bytes, bytes, big);
        i += cnt;
        if (r < want) {
            snprintf(msg, sizeof msg,
                     "truncated: the shape promises %lu elements of %d bytes, the file holds %lu",
                     (unsigned long)numel, bytes, (unsigned long)i);
            bad = msg;
            goto fail;
        }
    }
    if (ferror(fp)) {
        bad = "read error";
        goto fail;
    }
    if (fgetc(fp) != EOF) {
        bad = "extra bytes after the data the shape promises";
        goto fail;
    }
    fclose(fp);
    free(head);
    if (!out->data) out->data = (Scalar *)malloc(sizeof(Scalar)); /* numel 0 */
    if (!out->data) {
        memset(out, 0, sizeof *out);
        return npy_fail(err, errcap, path, "out of memory");
    }
    out->numel = numel;
    return 0;
fail:
    fclose(fp);
    free(head);
    npy_fail(err, errcap, path, bad);
    npy_free(out);
    return -1;
}

void npy_free(NpyArray *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}
