/* idx.c - IDX reader, MNIST loader, batches and shuffled epochs.  See idx.h. */
#include "idx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void idx_fail(char *err, size_t errcap, const char *path, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (!err || errcap == 0) return;
    k = snprintf(err, errcap, "%s: ", path);
    if (k < 0 || (size_t)k >= errcap) return;
    va_start(ap, fmt);
    vsnprintf(err + k, errcap - (size_t)k, fmt, ap);
    va_end(ap);
}

static unsigned long be32(const unsigned char *b)
{
    return ((unsigned long)b[0] << 24) | ((unsigned long)b[1] << 16) | ((unsigned long)b[2] << 8) |
           (unsigned long)b[3];
}

/* ---------------------------------------------------------------- IDX */

int idx_read_u8(const char *path, int ndim, IdxArray *out, char *err, size_t errcap)
{
    unsigned char head[4 + 4 * IDX_MAX_NDIM];
    unsigned char *buf = NULL;
    size_t n = 1, got = 0, cap = 0;
    FILE *fp;
    int d;
    memset(out, 0, sizeof *out);
    if (err && errcap) err[0] = '\0';
    CHECK(ndim >= 1 && ndim <= IDX_MAX_NDIM, "idx_read_u8: ndim %d", ndim);
    fp = fopen(path, "rb");
    if (!fp) {
        idx_fail(err, errcap, path,
                 "cannot open file for reading (run `make data`, or set "
                 "MNIST_DIR)");
        return -1;
    }
    if (fread(head, 1, 4, fp) != 4) {
        idx_fail(err, errcap, path, "truncated: shorter than the 4-byte IDX magic");
        goto fail;
    }
    if (head[0] == 0x1f && head[1] == 0x8b) {
        idx_fail(err, errcap, path,
                 "file is gzip-compressed; unpack it first (`make data` "
                 "does)");
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0 || head[3] != (unsigned char)ndim) {
        idx_fail(err, errcap, path,
                 "bad magic 0x%08lx, expected 0x%08x (an IDX file of "
                 "unsigned bytes with %d dimension%s)",
                 be32(head), 0x800 + ndim, ndim, ndim == 1 ? "" : "s");
        goto fail;
    }
    if (head[2] != 0x08) {
        idx_fail(err, errcap, path,
                 "element type 0x%02x is not supported (only 0x08, "
                 "unsigned byte)",
                 head[2]);
        goto fail;
    }
    if (fread(head + 4, 1, 4 * (size_t)ndim, fp) != 4 * (size_t)ndim) {
        idx_fail(err, errcap, path, "truncated: the header needs %d bytes", 4 + 4 * ndim);
        goto fail;
    }
    for (d = 0; d < ndim; d++) {
        unsigned long v = be32(head + 4 + 4 * d);
        unsigned long lim = d == 0 ? (unsigned long)IDX_MAX_COUNT : (unsigned long)IDX_MAX_DIM;
        if (v > lim) {
            idx_fail(err, errcap, path, "%s %lu exceeds the limit of %lu (corrupt header?)",
                     d == 0 ? "item count" : "dimension", v, lim);
            goto fail;
        }
        out->dims[d] = (long)v;
        if (v && n > IDX_MAX_BYTES / v) {
            idx_fail(err, errcap, path, "header promises more than %lu bytes of data",
                     (unsigned long)IDX_MAX_BYTES);
            goto fail;
        }
        n *= (size_t)v;
    }
    out->ndim = ndim;
    /* read in growing chunks, so that a lying header costs no more memory than the file */
    while (got < n) {
        size_t want, r;
        if (got == cap) {
            size_t nc = cap ? cap * 2 : (size_t)1 << 20;
            unsigned char *nb;
            if (nc > n) nc = n;
            nb = (unsigned char *)realloc(buf, nc);
            if (!nb) {
                idx_fail(err, errcap, path, "out of memory for %lu bytes", (unsigned long)nc);
                goto fail;
            }
            buf = nb;
            cap = nc;
        }
        want = cap - got;
        r = fread(buf + got, 1, want, fp);
        got += r;
        if (r < want) break;
    }
    if (ferror(fp)) {
        idx_fail(err, errcap, path, "read error");
        goto fail;
    }
    if (got < n) {
        idx_fail(err, errcap, path,
                 "truncated: the header promises %lu bytes of data, the file "
                 "has %lu",
                 (unsigned long)n, (unsigned long)got);
        goto fail;
    }
    if (fgetc(fp) != EOF) {
        idx_fail(err, errcap, path,
                 "extra bytes after the %lu bytes of data the header "
                 "promises",
                 (unsigned long)n);
        goto fail;
    }
    fclose(fp);
    if (!buf) buf = (unsigned char *)malloc(1); /* n == 0: still a valid pointer */
    CHECK(buf, "out of memory");
    out->n = n;
    out->data = buf;
    return 0;
fail:
    fclose(fp);
    free(buf);
    memset(out, 0, sizeof *out);
    return -1;
}

void idx_free(IdxArray *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- MNIST */

int mnist_load_files(const char *images_path, const char *labels_path, Mnist *out, char *err,
                     size_t errcap)
{
    IdxArray im, lb;
    long i;
    memset(out, 0, sizeof *out);
    if (idx_read_u8(images_path, 3, &im, err, errcap) < 0) return -1;
    if (im.dims[1] != MNIST_SIDE || im.dims[2] != MNIST_SIDE) {
        idx_fail(err, errcap, images_path, "images are %ldx%ld, MNIST needs 28x28", im.dims[1],
                 im.dims[2]);
        idx_free(&im);
        return -1;
    }
    if (idx_read_u8(labels_path, 1, &lb, err, errcap) < 0) {
        idx_free(&im);
        return -1;
    }
    if (lb.dims[0] != im.dims[0]) {
        idx_fail(err, errcap, labels_path, "has %ld labels but %s has %ld images", lb.dims[0],
                 images_path, im.dims[0]);
        goto fail;
    }
    for (i = 0; i < lb.dims[0]; i++)
        if (lb.data[i] > 9) {
            idx_fail(err, errcap, labels_path, "label %d at index %ld is outside 0..9", lb.data[i],
                     i);
            goto fail;
        }
    out->n = (int)im.dims[0];
    out->pixels = im.data;
    out->labels = lb.data;
    return 0;
fail:
    idx_free(&im);
    idx_free(&lb);
    return -1;
}

int mnist_load(const char *dir, const char *split, Mnist *out, char *err, size_t errcap)
{
    size_t dn = strlen(dir), cap = dn + 64;
    char *ip, *lp;
    int rc;
    memset(out, 0, sizeof *out);
    if (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0) {
        if (err && errcap)
            snprintf(err, errcap, "%s: MNIST split \"%s\" is neither \"train\" nor \"t10k\"", dir,
                     split);
        return -1;
    }
    ip = (char *)malloc(cap);
    lp = (char *)malloc(cap);
    CHECK(ip && lp, "out of memory");
    {
        const char *sep = dn && (dir[dn - 1] == '/' || dir[dn - 1] == '\\') ? "" : "/";
        snprintf(ip, cap, "%s%s%s-images-idx3-ubyte", dir, sep, split);
        snprintf(lp, cap, "%s%s%s-labels-idx1-ubyte", dir, sep, split);
    }
    rc = mnist_load_files(ip, lp, out, err, errcap);
    free(ip);
    free(lp);
    return rc;
}

void mnist_free(Mnist *m)
{
    if (!m) return;
    free(m->pixels);
    free(m->labels);
    memset(m, 0, sizeof *m);
}

void mnist_batch(const Mnist *m, const int *idx, int n, Scalar *x, int *labels)
{
    int b, p;
    for (b = 0; b < n; b++) {
        const unsigned char *src;
        CHECK(idx[b] >= 0 && idx[b] < m->n, "mnist_batch: index %d outside 0..%d", idx[b],
              m->n - 1);
        src = m->pixels + (size_t)idx[b] * MNIST_PIXELS;
        for (p = 0; p < MNIST_PIXELS; p++)
            x[(size_t)b * MNIST_PIXELS + p] = (Scalar)src[p] / (Scalar)255;
        if (labels) labels[b] = m->labels[idx[b]];
    }
}

void mnist_shift(const Scalar *src, Scalar *dst, int dx, int dy)
{
    int r, c;
    CHECK(dx > -MNIST_SIDE && dx < MNIST_SIDE && dy > -MNIST_SIDE && dy < MNIST_SIDE,
          "mnist_shift: shift (%d, %d) out of range", dx, dy);
    for (r = 0; r < MNIST_SIDE; r++)
        for (c = 0; c < MNIST_SIDE; c++) {
            int sr = r - dy, sc = c - dx;
            int in = sr >= 0 && sr < MNIST_SIDE && sc >= 0 && sc < MNIST_SIDE;
            dst[r * MNIST_SIDE + c] = in ? src[sr * MNIST_SIDE + sc] : (Scalar)0;
        }
}

void mnist_shuffle(Rng *r, int *order, int n)
{
    int i;
    for (i = 0; i < n; i++) order[i] = i;
    rng_shuffle(r, order, n);
}

void mnist_sampler_init(MnistSampler *s, int n)
{
    CHECK(n >= 1, "mnist_sampler_init: n = %d", n);
    s->n = n;
    s->pos = n; /* the first call starts an epoch */
    s->epoch = 0;
    s->order = (int *)xmalloc((size_t)n * sizeof(int));
}

void mnist_sampler_free(MnistSampler *s)
{
    free(s->order);
    s->order = NULL;
}

long mnist_sampler_next(MnistSampler *s, Rng *r, int batch, int *idx)
{
    CHECK(batch >= 1 && batch <= s->n, "mnist_sampler_next: batch %d for %d items", batch, s->n);
    if (s->pos + batch > s->n) {
        mnist_shuffle(r, s->order, s->n);
        s->pos = 0;
        s->epoch++;
    }
    memcpy(idx, s->order + s->pos, (size_t)batch * sizeof(int));
    s->pos += batch;
    return s->epoch - 1;
}
