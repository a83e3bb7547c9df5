/* test_data.c - IDX/MNIST reading (crafted good and bad files, the real t10k when present),
 * batches and epochs, the PNG encoder (checksums, exact bytes, a stored-block inflater that
 * reads our files back) and the .npy header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../data/idx.h"
#include "../data/npy.h"
#include "../data/png.h"
#include "harness.h"
#include "tmp_path.h"

static char err[1024];

/* ---------------------------------------------------------------- IDX files */

/* Writes an IDX file: magic (4 bytes BE), ndim dims (BE32), then ndata bytes from data. */
static void write_idx(const char *path, uint32_t magic, int ndim, const uint32_t *dims,
                      const unsigned char *data, size_t ndata)
{
    size_t n = 4 + 4 * (size_t)ndim + ndata, i;
    unsigned char *b = (unsigned char *)malloc(n);
    int d;
    for (i = 0; i < 4; i++) b[i] = (unsigned char)(magic >> (24 - 8 * i));
    for (d = 0; d < ndim; d++)
        for (i = 0; i < 4; i++) b[4 + 4 * d + i] = (unsigned char)(dims[d] >> (24 - 8 * i));
    if (ndata) memcpy(b + 4 + 4 * ndim, data, ndata);
    T_EQ_INT(t_write_bytes(path, b, n), 0);
    free(b);
}

typedef struct Pair {
    char im[512], lb[512];
} Pair;

/* n images 28x28 (pixel p of image i = (i + p) % 256) and the given labels. */
static void write_pair(Pair *p, int n_img, int n_lab, const unsigned char *labels)
{
    unsigned char *pix = (unsigned char *)malloc((size_t)n_img * 784 + 1);
    uint32_t di[3], dl[1];
    int i;
    for (i = 0; i < n_img * 784; i++) pix[i] = (unsigned char)((i / 784 + i % 784) % 256);
    di[0] = (uint32_t)n_img;
    di[1] = di[2] = 28;
    dl[0] = (uint32_t)n_lab;
    t_tmp_path(p->im, sizeof p->im, "images-idx3-ubyte");
    t_tmp_path(p->lb, sizeof p->lb, "labels-idx1-ubyte");
    write_idx(p->im, 0x803, 3, di, pix, (size_t)n_img * 784);
    write_idx(p->lb, 0x801, 1, dl, labels, (size_t)n_lab);
    free(pix);
}

static void remove_pair(const Pair *p)
{
    remove(p->im);
    remove(p->lb);
}

/* The load must fail with a message containing the file `who` and `needle`. */
static void expect_fail(const Pair *p, const char *who, const char *needle, int line)
{
    Mnist m;
    err[0] = '\0';
    if (mnist_load_files(p->im, p->lb, &m, err, sizeof err) == 0) {
        t_report(__FILE__, line, "accepted a bad pair (%s)", needle);
        mnist_free(&m);
    } else if (!strstr(err, who) || !strstr(err, needle)) {
        t_report(__FILE__, line, "message \"%s\" lacks \"%s\" or \"%s\"", err, who, needle);
    }
    T_OK(m.pixels == NULL && m.labels == NULL && m.n == 0);
}

static void test_idx_good_file(void)
{
    static const unsigned char labels[3] = {7, 0, 9};
    Pair p;
    Mnist m;
    Scalar x[2 * 784];
    int idx[2] = {2, 0}, lab[2];
    write_pair(&p, 3, 3, labels);
    T_EQ_INT(mnist_load_files(p.im, p.lb, &m, err, sizeof err), 0);
    T_EQ_INT(m.n, 3);
    T_EQ_INT(m.labels[0], 7);
    T_EQ_INT(m.pixels[784 + 5], 6);
    mnist_batch(&m, idx, 2, x, lab);
    T_EQ_INT(lab[0], 9);
    T_EQ_INT(lab[1], 7);
    T_NEAR(x[0], 2.0 / 255, 1e-7);
    T_NEAR(x[783], (double)((2 + 783) % 256) / 255, 1e-7);
    T_NEAR(x[784 + 255], 1.0, 0);
    T_NEAR(x[784 + 256], 0.0, 0);
    mnist_free(&m);
    remove_pair(&p);
}

static void test_idx_bad_files(void)
{
    static const unsigned char labels[3] = {7, 0, 9}, bad_labels[3] = {7, 10, 9};
    unsigned char pix[784 * 3];
    uint32_t d3[3] = {3, 28, 28};
    Pair p;
    memset(pix, 0, sizeof pix);

    write_pair(&p, 3, 3, bad_labels); /* label 10 */
    expect_fail(&p, p.lb, "label 10 at index 1", __LINE__);
    remove_pair(&p);

    write_pair(&p, 3, 2, labels); /* count mismatch */
    expect_fail(&p, p.lb, "2 labels", __LINE__);
    remove_pair(&p);

    write_pair(&p, 3, 3, labels); /* wrong magic: a label file where images belong */
    write_idx(p.im, 0x801, 1, d3, labels, 3);
    expect_fail(&p, p.im, "bad magic 0x00000801", __LINE__);
    write_idx(p.im, 0x0d03, 3, d3, pix, sizeof pix); /* float elements */
    expect_fail(&p, p.im, "element type 0x0d", __LINE__);
    T_EQ_INT(t_write_bytes(p.im, "\x1f\x8b\x08\x00", 4), 0); /* still gzipped */
    expect_fail(&p, p.im, "gzip", __LINE__);
    T_EQ_INT(t_write_bytes(p.im, "\x00\x00", 2), 0);
    expect_fail(&p, p.im, "truncated", __LINE__);
    T_EQ_INT(t_write_bytes(p.im, "\x00\x00\x08\x03\x00\x00", 6), 0); /* header cut short */
    expect_fail(&p, p.im, "truncated", __LINE__);
    write_idx(p.im, 0x803, 3, d3, pix, sizeof pix - 100); /* short data */
    expect_fail(&p, p.im, "truncated", __LINE__);
    write_idx(p.im, 0x803, 3, d3, pix, sizeof pix); /* fine again ... */
    {
        Mnist m;
        T_EQ_INT(mnist_load_files(p.im, p.lb, &m, err, sizeof err), 0);
        mnist_free(&m);
    }
    {
        unsigned char more[784 * 3 + 1];
        memset(more, 0, sizeof more);
        write_idx(p.im, 0x803, 3, d3, more, sizeof more); /* ... one byte too many */
        expect_fail(&p, p.im, "extra bytes", __LINE__);
    }
    {
        uint32_t huge[3] = {0x80000000u, 28, 28}, wide[3] = {3, 32, 32};
        write_idx(p.im, 0x803, 3, huge, pix, 16); /* claims 2^31 images */
        expect_fail(&p, p.im, "item count 2147483648 exceeds", __LINE__);
        huge[0] = 10000000; /* within the count cap, but 7.8 GB of pixels */
        write_idx(p.im, 0x803, 3, huge, pix, 16);
        expect_fail(&p, p.im, "more than", __LINE__);
        huge[0] = 3;
        huge[1] = 100000;
        write_idx(p.im, 0x803, 3, huge, pix, 16);
        expect_fail(&p, p.im, "dimension 100000 exceeds", __LINE__);
        write_idx(p.im, 0x803, 3, wide, pix, 16);
        expect_fail(&p, p.im, "truncated", __LINE__); /* read first, then the size check */
    }
    remove_pair(&p);
    expect_fail(&p, p.im, "cannot open", __LINE__);
}

static void test_idx_general_reader(void)
{
    char path[512];
    unsigned char data[3 * 32 * 32];
    uint32_t d3[3] = {3, 32, 32};
    IdxArray a;
    Pair p;
    Mnist m;
    memset(data, 5, sizeof data);
    t_tmp_path(path, sizeof path, "wide-idx3-ubyte");
    write_idx(path, 0x803, 3, d3, data, sizeof data);
    T_EQ_INT(idx_read_u8(path, 3, &a, err, sizeof err), 0);
    T_EQ_INT(a.dims[1], 32);
    T_EQ_INT(a.n, sizeof data);
    T_EQ_INT(a.data[100], 5);
    idx_free(&a);
    T_OK(idx_read_u8(path, 1, &a, err, sizeof err) < 0 && strstr(err, "0x00000801"));
    /* the MNIST loader insists on 28x28 */
    write_pair(&p, 3, 3, (const unsigned char *)"\1\2\3");
    remove(p.im);
    strcpy(p.im, path);
    expect_fail(&p, path, "32x32", __LINE__);
    remove_pair(&p);
    /* mnist_load: split name and folder */
    T_OK(mnist_load("/nonexistent_cmad", "valid", &m, err, sizeof err) < 0 && strstr(err, "valid"));
    T_OK(mnist_load("/nonexistent_cmad/", "t10k", &m, err, sizeof err) < 0 &&
         strstr(err, "/nonexistent_cmad/t10k-images-idx3-ubyte"));
}

static void test_mnist_real_t10k(void)
{
    const char *dirs[2];
    char probe[1024];
    int i, nd = 0;
    Mnist m;
    dirs[nd] = getenv("MNIST_DIR");
    if (dirs[nd] && *dirs[nd]) nd++;
    dirs[nd++] = "data/mnist";
    for (i = 0; i < nd; i++) {
        snprintf(probe, sizeof probe, "%s/t10k-images-idx3-ubyte", dirs[i]);
        if (t_file_exists(probe)) break;
    }
    if (i == nd) {
        fprintf(stderr, "    (skipped: no raw MNIST in $MNIST_DIR or data/mnist; `make data`)\n");
        return;
    }
    T_EQ_INT(mnist_load(dirs[i], "t10k", &m, err, sizeof err), 0);
    if (!m.pixels) {
        fprintf(stderr, "    %s\n", err);
        return;
    }
    T_EQ_INT(m.n, 10000);
    T_EQ_INT(m.labels[0], 7);
    T_EQ_INT(m.labels[1], 2);
    T_EQ_INT(m.labels[9999], 6);
    mnist_free(&m);
}

static void test_mnist_sampler_epochs(void)
{
    MnistSampler s;
    Rng r, r2;
    int idx[4], seen[10], order[10], order2[10], b, i;
    rng_seed(&r, 7, 0);
    mnist_sampler_init(&s, 10);
    for (i = 0; i < 10; i++) seen[i] = 0;
    /* batch 4 of 10 items: 2 batches per epoch, the last 2 items of each epoch dropped */
    for (b = 0; b < 2; b++) {
        T_EQ_INT(mnist_sampler_next(&s, &r, 4, idx), 0);
        for (i = 0; i < 4; i++) seen[idx[i]]++;
    }
    for (i = 0; i < 10; i++) T_OK(seen[i] <= 1);
    T_EQ_INT(mnist_sampler_next(&s, &r, 4, idx), 1);
    mnist_sampler_free(&s);
    /* mnist_shuffle is a permutation and repeats with the seed */
    rng_seed(&r, 3, 1);
    rng_seed(&r2, 3, 1);
    mnist_shuffle(&r, order, 10);
    mnist_shuffle(&r2, order2, 10);
    for (i = 0; i < 10; i++) seen[i] = 0;
    for (i = 0; i < 10; i++) {
        seen[order[i]]++;
        T_EQ_INT(order[i], order2[i]);
    }
    for (i = 0; i < 10; i++) T_EQ_INT(seen[i], 1);
}

/* ---------------------------------------------------------------- PNG */

static uint32_t rd_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Reads a whole file into a new buffer. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    size_t cap = 0;
    *n = 0;
    if (!f) return NULL;
    for (;;) {
        size_t got;
        if (*n == cap) {
            cap = cap ? 2 * cap : 4096;
            b = (unsigned char *)realloc(b, cap);
        }
        got = fread(b + *n, 1, cap - *n, f);
        *n += got;
        if (got == 0) break;
    }
    fclose(f);
    return b;
}

/* Parses a PNG written by png.c: checks signature, chunk CRCs, IHDR, and inflates the
 * stored blocks of IDAT; returns the pixels [h, w, ch] (filter bytes removed) or NULL. */
static unsigned char *decode_png(const unsigned char *f, size_t n, int *w, int *h, int *ch,
                                 int *nblocks)
{
    size_t pos = 8, zn = 0, raw_n = 0, rp;
    unsigned char *z = NULL, *raw = NULL, *pix = NULL;
    int seen_end = 0, y, final = 0;
    *nblocks = 0;
    *w = *h = *ch = 0;
    if (n < 8 || memcmp(f, "\x89PNG\r\n\x1a\n", 8) != 0) return NULL;
    while (pos + 12 <= n && !seen_end) {
        uint32_t len = rd_be32(f + pos);
        const unsigned char *type = f + pos + 4, *data = f + pos + 8;
        if (pos + 12 + len > n) goto bad;
        if (png_crc32(0, type, 4 + (size_t)len) != rd_be32(data + len)) goto bad;
        if (memcmp(type, "IHDR", 4) == 0) {
            if (len != 13 || data[8] != 8 || data[10] || data[11] || data[12]) goto bad;
            *w = (int)rd_be32(data);
            *h = (int)rd_be32(data + 4);
            *ch = data[9] == 0 ? 1 : data[9] == 2 ? 3 : 0;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            z = (unsigned char *)realloc(z, zn + len + 1);
            memcpy(z + zn, data, len);
            zn += len;
        } else if (memcmp(type, "IEND", 4) == 0) {
            seen_end = 1;
        }
        pos += 12 + (size_t)len;
    }
    if (!seen_end || pos != n || !*ch || zn < 6) goto bad;
    if (((unsigned)z[0] * 256 + z[1]) % 31 != 0 || (z[0] & 15) != 8) goto bad;
    raw = (unsigned char *)malloc(zn);
    rp = 2;
    while (!final) {
        unsigned len, nlen;
        if (rp + 5 > zn) goto bad;
        if ((z[rp] & 6) != 0) goto bad; /* BTYPE must be 00 (stored) */
        final = z[rp] & 1;
        len = z[rp + 1] | (unsigned)z[rp + 2] << 8;
        nlen = z[rp + 3] | (unsigned)z[rp + 4] << 8;
        if ((len ^ 0xffff) != nlen || rp + 5 + len > zn) goto bad;
        memcpy(raw + raw_n, z + rp + 5, len);
        raw_n += len;
        rp += 5 + len;
        (*nblocks)++;
    }
    if (rp + 4 != zn || rd_be32(z + rp) != png_adler32(1, raw, raw_n)) goto bad;
    if (raw_n != (size_t)*h * ((size_t)*w * (size_t)*ch + 1)) goto bad;
    pix = (unsigned char *)malloc((size_t)*h * (size_t)*w * (size_t)*ch);
    for (y = 0; y < *h; y++) {
        const unsigned char *r = raw + (size_t)y * ((size_t)*w * (size_t)*ch + 1);
        if (r[0] != 0) goto bad; /* filter type None */
        memcpy(pix + (size_t)y * (size_t)*w * (size_t)*ch, r + 1, (size_t)*w * (size_t)*ch);
    }
    free(z);
    free(raw);
    return pix;
bad:
    free(z);
    free(raw);
    free(pix);
    return NULL;
}

static void test_png_checksums(void)
{
    const unsigned char *s = (const unsigned char *)"123456789";
    T_OK(png_crc32(0, s, 9) == 0xCBF43926u);
    T_OK(png_crc32(png_crc32(0, s, 4), s + 4, 5) == 0xCBF43926u);
    T_OK(png_crc32(0, s, 0) == 0);
    T_OK(png_adler32(1, (const unsigned char *)"Wikipedia", 9) == 0x11E60398u);
    {
        /* long input: exercises the deferred modulo */
        unsigned char *b = (unsigned char *)malloc(100000);
        uint32_t s1 = 1, s2 = 0;
        int i;
        for (i = 0; i < 100000; i++) {
            b[i] = 255;
            s1 = (s1 + 255) % 65521;
            s2 = (s2 + s1) % 65521;
        }
        T_OK(png_adler32(1, b, 100000) == ((s2 << 16) | s1));
        free(b);
    }
}

static void test_png_exact_small(void)
{
    static const unsigned char want[8 + 25] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',                           /* signature */
        0,    0,   0,   13,  'I',  'H',  'D',  'R',  0,   0, 0, 2, 0, 0, 0, 2, /* IHDR 2 x 2 */
        8,    0,   0,   0,   0,    0x57, 0xdd, 0x52, 0xf8};                    /* 8-bit gray, CRC */
    static const unsigned char pix[4] = {0, 255, 128, 7};
    char path[512];
    unsigned char *f, *back;
    size_t n;
    int w, h, ch, nb;
    t_tmp_path(path, sizeof path, "small.png");
    T_EQ_INT(png_write_gray(path, 2, 2, pix, err, sizeof err), 0);
    f = slurp(path, &n);
    T_OK(f && n > sizeof want && memcmp(f, want, sizeof want) == 0);
    /* IDAT: length 2 + 5 + 6 + 4 = 17, zlib 78 01, one final stored block of 6 bytes */
    T_OK(f && n == 8 + 25 + 12 + 17 + 12);
    T_OK(f &&
         memcmp(f + 33, "\0\0\0\x11IDAT\x78\x01\x01\x06\x00\xf9\xff\0\0\xff\0\x80\x07", 21) == 0);
    back = f ? decode_png(f, n, &w, &h, &ch, &nb) : NULL;
    T_OK(back && w == 2 && h == 2 && ch == 1 && nb == 1 && memcmp(back, pix, 4) == 0);
    free(back);
    free(f);
    remove(path);
}

static void test_png_two_blocks_and_rgb(void)
{
    int W = 300, H = 300, w, h, ch, nb, i;
    unsigned char *pix = (unsigned char *)malloc((size_t)W * H * 3), *f, *back;
    char path[512];
    size_t n;
    for (i = 0; i < W * H * 3; i++) pix[i] = (unsigned char)(i * 7 + i / 300);
    t_tmp_path(path, sizeof path, "big.png");
    /* gray: 300 * 301 = 90300 raw bytes -> 2 stored blocks */
    T_EQ_INT(png_write_gray(path, W, H, pix, err, sizeof err), 0);
    f = slurp(path, &n);
    back = f ? decode_png(f, n, &w, &h, &ch, &nb) : NULL;
    T_OK(back && w == W && h == H && ch == 1 && nb == 2 && memcmp(back, pix, (size_t)W * H) == 0);
    free(back);
    free(f);
    /* RGB: 300 * 901 bytes -> 5 blocks */
    T_EQ_INT(png_write_rgb(path, W, H, pix, err, sizeof err), 0);
    f = slurp(path, &n);
    back = f ? decode_png(f, n, &w, &h, &ch, &nb) : NULL;
    T_OK(back && ch == 3 && nb == 5 && memcmp(back, pix, (size_t)W * H * 3) == 0);
    free(back);
    free(f);
    remove(path);
    free(pix);
}

static void test_png_grid_and_errors(void)
{
    /* 5 tiles of 3x4, 2 columns, pad 1: 11 x 13 pixels */
    Scalar imgs[5 * 12];
    volatile double zero = 0.0;
    char path[512], tmp[600];
    unsigned char *f, *back;
    size_t n;
    int w, h, ch, nb, i;
    for (i = 0; i < 60; i++) imgs[i] = (Scalar)0.5;
    imgs[0] = 2;                     /* clamps to 255 */
    imgs[1] = -1;                    /* clamps to 0 */
    imgs[2] = (Scalar)(zero / zero); /* NaN -> 0 */
    imgs[12] = 1;                    /* tile 1, pixel (0, 0) */
    imgs[59] = 0;                    /* tile 4, pixel (2, 3) */
    t_tmp_path(path, sizeof path, "grid.png");
    T_EQ_INT(png_write_grid(path, imgs, 5, 3, 4, 2, 1, err, sizeof err), 0);
    f = slurp(path, &n);
    back = f ? decode_png(f, n, &w, &h, &ch, &nb) : NULL;
    T_OK(back && w == 11 && h == 13 && ch == 1);
    if (back) {
        T_EQ_INT(back[0], PNG_GRID_PAD_VALUE);
        T_EQ_INT(back[1 * 11 + 1], 255);
        T_EQ_INT(back[1 * 11 + 2], 0);
        T_EQ_INT(back[1 * 11 + 3], 0);
        T_EQ_INT(back[1 * 11 + 4], 128);                      /* 0.5 * 255 rounds to 128 */
        T_EQ_INT(back[1 * 11 + 6], 255);                      /* tile 1 starts at x = 1 + 4 + 1 */
        T_EQ_INT(back[(9 + 2) * 11 + 1 + 3], 0);              /* tile 4: row 2, y = 1 + 2 * 4 */
        T_EQ_INT(back[(9 + 2) * 11 + 6], PNG_GRID_PAD_VALUE); /* empty sixth tile */
    }
    free(back);
    free(f);
    remove(path);
    /* bad sizes: an error naming the file, nothing written */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_OK(png_write_gray(path, 0, 2, (const unsigned char *)"", err, sizeof err) < 0 &&
         strstr(err, path));
    T_OK(png_write_grid(path, imgs, 5, 3, 4, 0, 1, err, sizeof err) < 0 && strstr(err, path));
    T_OK(!t_file_exists(path) && !t_file_exists(tmp));
    T_OK(png_write_gray("no_such_dir_cmad/x.png", 1, 1, (const unsigned char *)"a", err,
                        sizeof err) < 0 &&
         strstr(err, "no_such_dir_cmad/x.png"));
}

/* ---------------------------------------------------------------- NPY */

static void test_npy_header_and_data(void)
{
    static const char dict3[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 28, 28), }";
    static const char dict1[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }";
    unsigned char h[256], *f;
    int s3[3] = {3, 28, 28}, s1[1] = {5}, s2[2] = {2, 1};
    Scalar data[2] = {1.0f, -2.0f};
    char path[512];
    size_t n, i;
    /* 10 + 64 + spaces + '\n' = 128 */
    T_EQ_INT(npy_header(3, s3, h, sizeof h), 128);
    T_OK(memcmp(h, "\x93NUMPY\x01\x00\x76\x00", 10) == 0); /* HLEN 118 little-endian */
    T_OK(memcmp(h + 10, dict3, 64) == 0);
    for (i = 74; i < 127; i++) T_EQ_INT(h[i], ' ');
    T_EQ_INT(h[127], '\n');
    T_EQ_INT(npy_header(1, s1, h, sizeof h), 128);
    T_OK(memcmp(h + 10, dict1, strlen(dict1)) == 0);
    T_EQ_INT(npy_header(0, NULL, h, sizeof h), 128);
    T_OK(memcmp(h + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 55) == 0);
    T_EQ_INT(npy_header(3, s3, h, 100), 0);

    t_tmp_path(path, sizeof path, "a.npy");
    T_EQ_INT(npy_write_f32(path, 2, s2, data, err, sizeof err), 0);
    f = slurp(path, &n);
    T_EQ_INT(n, 128 + 8);
    T_OK(f && memcmp(f + 128, "\x00\x00\x80\x3f\x00\x00\x00\xc0", 8) == 0);
    T_OK(f &&
         memcmp(f + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", 59) == 0);
    free(f);
    remove(path);
}

/* A .npy file of header version ver (1 or 2) with dict text (padded and ended by '\n' unless
 * raw) and nd data bytes. */
static void npy_craft(const char *path, int ver, const char *dict, int raw,
                      const unsigned char *data, size_t nd)
{
    unsigned char buf[1024];
    size_t pre = ver == 1 ? 10 : 12, k = strlen(dict),
           total = raw ? pre + k : (pre + k + 1 + 63) / 64 * 64, hl = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)ver;
    buf[7] = 0;
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    if (ver != 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, k);
    if (!raw) {
        memset(buf + pre + k, ' ', total - pre - k - 1);
        buf[total - 1] = '\n';
    }
    memcpy(buf + total, data, nd);
    T_EQ_INT(t_write_bytes(path, buf, total + nd), 0);
}

/* npy_read: our own files back bit for bit; numpy's other layouts (version 2, float64,
 * big-endian, 0-d and 1-d shapes); every malformed header, a lying shape and a file of the
 * wrong length refused with one line naming the file and the fault. */
static void test_npy_read(void)
{
    static const unsigned char f64[16] = {0, 0, 0, 0, 0, 0, 0xf8, 0x3f,     /* 1.5 */
                                          0, 0, 0, 0, 0, 0, 0x04, 0xc0};    /* -2.5 */
    static const unsigned char f4be[8] = {0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0}; /* 1, -2 */
    static const struct {
        const char *dict;
        int raw;
        size_t nd; /* data bytes (zeros) */
        const char *want;
    } bad[] = {
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 0, 8, "dtype"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 0, 4, "dtype"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 0, 8, "Fortran"},
        {"{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }", 0, 8, "fortran_order"},
        {"{'descr': '<f4', 'shape': (2,), }", 0, 8, "lacks"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 0, 8,
         "repeats 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 0, 8, "other than"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,,), }", 0, 8, "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 0, 8, "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 0, 4,
         "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0, 8,
         "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }", 0, 8,
         "more than"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 0, 8, "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 0, 8, "extra bytes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, 8, "newline"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 0, 8, "after the"},
        {"['descr']", 0, 8, "not a dict"},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (2,), }", 0, 8, "header"},
        {"{'descr': '<f4\x01', 'fortran_order': False, 'shape': (2,), }", 0, 8, "control"},
    };
    static const unsigned char zeros[64] = {0};
    char path[512];
    NpyArray a;
    int s3[3] = {2, 3, 4};
    Scalar data[24];
    size_t i;
    t_tmp_path(path, sizeof path, "r.npy");
    /* our writer's file back, bit for bit */
    for (i = 0; i < 24; i++) data[i] = (Scalar)((double)i * 0.37 - 3.1);
    T_EQ_INT(npy_write_f32(path, 3, s3, data, err, sizeof err), 0);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), 0);
    T_EQ_INT(a.ndim, 3);
    T_OK(a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 4 && a.numel == 24);
    for (i = 0; i < 24 && a.data; i++) T_NEAR(a.data[i], (Scalar)(float)data[i], 0);
    npy_free(&a);
    /* version 2 header, float64 */
    npy_craft(path, 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 0, f64, 16);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), 0);
    T_OK(a.ndim == 1 && a.numel == 2 && a.data[0] == (Scalar)1.5 && a.data[1] == (Scalar)-2.5);
    npy_free(&a);
    /* big-endian float32, double quotes, no trailing comma, 2-d */
    npy_craft(path, 1, "{\"descr\": \">f4\", \"shape\": (1, 2), \"fortran_order\": False}", 0, f4be,
              8);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), 0);
    T_OK(a.ndim == 2 && a.shape[1] == 2 && a.data[0] == 1 && a.data[1] == -2);
    npy_free(&a);
    /* 0-d: one element */
    npy_craft(path, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (), }", 0, f4be, 4);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), 0);
    T_OK(a.ndim == 0 && a.numel == 1 && a.data[0] == 1);
    npy_free(&a);
    /* empty array */
    npy_craft(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 28), }", 0, f4be, 0);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), 0);
    T_OK(a.ndim == 2 && a.numel == 0 && a.data != NULL);
    npy_free(&a);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        npy_craft(path, 1, bad[i].dict, bad[i].raw, zeros, bad[i].nd);
        T_EQ_INT(npy_read(path, &a, err, sizeof err), -1);
        if (!strstr(err, path) || !strstr(err, bad[i].want))
            fprintf(stderr, "    case %d: %s\n", (int)i, err);
        T_OK(strstr(err, path) != NULL && strstr(err, bad[i].want) != NULL);
        T_OK(a.data == NULL && a.numel == 0);
    }
    /* not .npy at all, a version we do not know, a header that claims too much, a short file */
    T_EQ_INT(t_write_bytes(path, "PK\x03\x04 zip file", 14), 0);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), -1);
    T_OK(strstr(err, "magic") != NULL);
    T_EQ_INT(t_write_bytes(path, "\x93NUMPY\x04\x00\x10\x00{}", 12), 0);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), -1);
    T_OK(strstr(err, "version 4.0") != NULL);
    T_EQ_INT(t_write_bytes(path, "\x93NUMPY\x02\x00\x00\x00\x00\x01", 12), 0); /* 16 MB */
    T_EQ_INT(npy_read(path, &a, err, sizeof err), -1);
    T_OK(strstr(err, "exceeds the limit") != NULL);
    T_EQ_INT(t_write_bytes(path, "\x93NUMPY\x01\x00\x40\x00{'de", 14), 0);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), -1);
    T_OK(strstr(err, "truncated in the header") != NULL);
    remove(path);
    T_EQ_INT(npy_read(path, &a, err, sizeof err), -1);
    T_OK(strstr(err, "cannot open") != NULL);
}

/* mnist_shift moves the image and fills with zeros; a move and its inverse restore the
 * pixels that stayed inside. */
static void test_mnist_shift(void)
{
    Scalar a[MNIST_PIXELS], b[MNIST_PIXELS], c[MNIST_PIXELS];
    int i, r, col;
    for (i = 0; i < MNIST_PIXELS; i++) a[i] = (Scalar)(i + 1);
    mnist_shift(a, b, 0, 0);
    T_OK(memcmp(a, b, sizeof a) == 0);
    mnist_shift(a, b, 2, -1); /* two right, one up */
    T_NEAR(b[0 * 28 + 2], a[1 * 28 + 0], 0);
    T_NEAR(b[5 * 28 + 9], a[6 * 28 + 7], 0);
    for (r = 0; r < 28; r++) T_NEAR(b[r * 28 + 0] + b[r * 28 + 1], 0, 0); /* left columns */
    for (col = 0; col < 28; col++) T_NEAR(b[27 * 28 + col], 0, 0);        /* bottom row */
    mnist_shift(b, c, -2, 1);
    for (r = 1; r < 28; r++)
        for (col = 0; col < 26; col++) T_NEAR(c[r * 28 + col], a[r * 28 + col], 0);
    mnist_shift(a, b, 27, 27); /* only a[0] survives, in the last corner */
    T_NEAR(b[MNIST_PIXELS - 1], a[0], 0);
    T_NEAR(b[MNIST_PIXELS - 2], 0, 0);
}

const TestCase data_tests[] = {
    {"idx_good_file", test_idx_good_file},
    {"idx_bad_files", test_idx_bad_files},
    {"idx_general_reader", test_idx_general_reader},
    {"mnist_real_t10k", test_mnist_real_t10k},
    {"mnist_sampler_epochs", test_mnist_sampler_epochs},
    {"mnist_shift", test_mnist_shift},
    {"png_checksums", test_png_checksums},
    {"png_exact_small", test_png_exact_small},
    {"png_two_blocks_and_rgb", test_png_two_blocks_and_rgb},
    {"png_grid_and_errors", test_png_grid_and_errors},
    {"npy_header_and_data", test_npy_header_and_data},
    {"npy_read", test_npy_read},
    {NULL, NULL},
};
