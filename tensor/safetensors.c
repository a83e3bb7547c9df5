/* safetensors.c - the safetensors reader (with its own strict JSON parser) and writer.
 * Format and guarantees: see safetensors.h. */
#include "safetensors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

/* memcpy between uint32_t/uint64_t and float/double is how bits become a float here. */
typedef char st_float_is_32_bits[sizeof(float) == 4 ? 1 : -1];
typedef char st_double_is_64_bits[sizeof(double) == 8 ? 1 : -1];

/* ---------------------------------------------------------------- helpers */

/* Writes "<path>: <message>" into err (always terminated when errcap > 0). */
static void st_fail(char *err, size_t errcap, const char *path, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (!err || errcap == 0) return;
    k = snprintf(err, errcap, "%s: ", path ? path : "(safetensors)");
    if (k < 0 || (size_t)k >= errcap) return;
    va_start(ap, fmt);
    vsnprintf(err + k, errcap - (size_t)k, fmt, ap);
    va_end(ap);
}

static char *st_strdup(const char *s, size_t n)
{
    char *d = (char *)malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    [ST_DTYPE_F32] = {"F32", 4}, [ST_DTYPE_F64] = {"F64", 8}, [ST_DTYPE_I32] = {"I32", 4},
    [ST_DTYPE_I64] = {"I64", 8}, [ST_DTYPE_U64] = {"U64", 8},
};
#define ST_NDTYPE ((int)(sizeof st_dtypes / sizeof st_dtypes[0]))

const char *st_dtype_name(StDtype d)
{
    return (int)d >= 0 && (int)d < ST_NDTYPE ? st_dtypes[d].name : "?";
}

size_t st_dtype_size(StDtype d)
{
    return (int)d >= 0 && (int)d < ST_NDTYPE ? st_dtypes[d].size : 0;
}

static uint64_t get_le(const unsigned char *b, int nbytes)
{
    uint64_t v = 0;
    int i;
    for (i = nbytes - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static void put_le(unsigned char *b, uint64_t v, int nbytes)
{
    int i;
    for (i = 0; i < nbytes; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* ---------------------------------------------------------------- reader state */

struct SafeFile {
    char *path;
    unsigned char *buf; /* the whole file */
    size_t size;
    size_t data_start; /* 8 + header length */
    SafeEntry *entries;
    int count, cap;
    struct StName *sorted; /* names sorted for st_find and the duplicate check */
    char **meta_keys, **meta_vals;
    int meta_count, meta_cap;
};

/* Reads the whole file, refusing more than ST_MAX_FILE bytes. */
static int read_all(const char *path, unsigned char **out, size_t *size, char *err, size_t errcap)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *size = 0;
    if (!fp) {
        st_fail(err, errcap, path, "cannot open file for reading");
        return -1;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *nb;
            if (cap >= (size_t)ST_MAX_FILE || ncap < cap) {
                /* one more byte means the file is over the cap */
                if (fgetc(fp) == EOF && !ferror(fp)) break;
                st_fail(err, errcap, path, "file larger than the %lu-byte limit",
                        (unsigned long)ST_MAX_FILE);
                goto fail;
            }
            if (ncap > (size_t)ST_MAX_FILE) ncap = (size_t)ST_MAX_FILE;
            nb = (unsigned char *)realloc(buf, ncap);
            if (!nb) {
                st_fail(err, errcap, path, "out of memory reading %lu bytes", (unsigned long)ncap);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        st_fail(err, errcap, path, "read error");
        goto fail;
    }
    fclose(fp);
    *out = buf;
    *size = n;
    return 0;
fail:
    fclose(fp);
    free(buf);
    return -1;
}

/* ---------------------------------------------------------------- strict JSON */

typedef struct Parser {
    const unsigned char *start, *p, *end;
    const char *path;
    char *err;
    size_t errcap;
    int failed;
} Parser;

/* Records the first parse error; perr(P, fmt, ...) also evaluates to -1.  It is a macro so
 * that the -1 is visible at every call site, to readers and to the static analyser (which
 * does not follow calls into variadic functions). */
static void perr_msg(Parser *P, const char *fmt, ...)
{
    va_list ap;
    char msg[256];
    if (P->failed) return;
    P->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    st_fail(P->err, P->errcap, P->path, "bad JSON header at byte %lu of the header: %s",
            (unsigned long)(P->p - P->start), msg);
}
#define perr(P, ...) (perr_msg((P), __VA_ARGS__), -1)

static void skip_ws(Parser *P)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
        P->p++;
}

/* Expects the character c after optional white space. */
static int expect(Parser *P, char c, const char *what)
{
    skip_ws(P);
    if (P->p >= P->end) return perr(P, "header ends where %s was expected", what);
    if (*P->p != (unsigned char)c) return perr(P, "expected %s, found '%c'", what, *P->p);
    P->p++;
    return 0;
}

static int hex4(Parser *P, unsigned *v)
{
    int i;
    *v = 0;
    if (P->end - P->p < 4) return perr(P, "truncated \\u escape");
    for (i = 0; i < 4; i++) {
        unsigned c = *P->p++, d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return perr(P, "bad hex digit in \\u escape");
        *v = *v * 16 + d;
    }
    return 0;
}

/* Length of a valid UTF-8 sequence starting at p (1..4), 0 if invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], cp;
    int n, i;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (end - p < n) return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string into a new NUL-terminated buffer *out (free() it).  Escapes:
 * \" \\ \/ \b \f \n \r \t \uXXXX with surrogate pairs.  A string that would contain NUL
 * is refused, since names and metadata are C strings. */
static int parse_string(Parser *P, char **out)
{
    const unsigned char *q;
    unsigned char *buf, *o;
    *out = NULL;
    if (expect(P, '"', "a string") < 0) return -1;
    /* find the closing quote; decoding never makes the text longer */
    for (q = P->p; q < P->end && *q != '"'; q++)
        if (*q == '\\' && q + 1 < P->end) q++;
    if (q >= P->end) return perr(P, "unterminated string");
    buf = (unsigned char *)malloc((size_t)(q - P->p) + 1);
    if (!buf) return perr(P, "out of memory");
    o = buf;
    while (*P->p != '"') {
        unsigned c = *P->p;
        if (c < 0x20) {
            free(buf);
            return perr(P, "control character 0x%02x inside a string", c);
        }
        if (c == '\\') {
            unsigned e = P->p[1], cp;
            P->p += 2;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(P, &cp) < 0) {
                    free(buf);
                    return -1;
                }
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    free(buf);
                    return perr(P, "unpaired low surrogate \\u%04x", cp);
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (P->end - P->p < 2 || P->p[0] != '\\' || P->p[1] != 'u') {
                        free(buf);
                        return perr(P, "high surrogate \\u%04x without its low half", cp);
                    }
                    P->p += 2;
                    if (hex4(P, &lo) < 0) {
                        free(buf);
                        return -1;
                    }
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        free(buf);
                        return perr(P, "high surrogate \\u%04x without its low half", cp);
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) {
                    free(buf);
                    return perr(P, "\\u0000 inside a string is not supported");
                }
                break;
            default: free(buf); return perr(P, "unknown escape \\%c", e);
            }
            o += put_utf8(o, cp);
        } else {
            int n = utf8_len(P->p, P->end);
            if (n == 0) {
                free(buf);
                return perr(P, "invalid UTF-8 inside a string");
            }
            memcpy(o, P->p, (size_t)n);
            o += n;
            P->p += n;
        }
        if (P->p >= P->end) { /* only after a bad escape at the very end */
            free(buf);
            return perr(P, "unterminated string");
        }
    }
    P->p++; /* closing quote */
    *o = '\0';
    *out = (char *)buf;
    return 0;
}

/* Integers only (safetensors headers hold shapes and offsets); |v| <= 2^62. */
static int parse_int(Parser *P, int64_t *v, const char *what)
{
    int neg = 0;
    int64_t x = 0;
    skip_ws(P);
    if (P->p < P->end && *P->p == '-') neg = 1, P->p++;
    if (P->p >= P->end || *P->p < '0' || *P->p > '9')
        return perr(P, "expected an integer for %s", what);
    if (*P->p == '0' && P->p + 1 < P->end && P->p[1] >= '0' && P->p[1] <= '9')
        return perr(P, "number with a leading zero in %s", what);
    while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
        if (x > ((int64_t)1 << 62) / 10) return perr(P, "number too large in %s", what);
        x = x * 10 + (*P->p++ - '0');
    }
    if (P->p < P->end && (*P->p == '.' || *P->p == 'e' || *P->p == 'E'))
        return perr(P, "non-integer number in %s", what);
    *v = neg ? -x : x;
    return 0;
}

/* '[' int (',' int)* ']' with at most maxn items; returns the count in *n. */
static int parse_int_array(Parser *P, int64_t *v, int maxn, int *n, const char *what)
{
    *n = 0;
    if (expect(P, '[', "'['") < 0) return -1;
    skip_ws(P);
    if (P->p < P->end && *P->p == ']') {
        P->p++;
        return 0;
    }
    for (;;) {
        int64_t x = 0;
        if (parse_int(P, &x, what) < 0) return -1;
        if (*n >= maxn) return perr(P, "%s has more than %d entries", what, maxn);
        v[(*n)++] = x;
        skip_ws(P);
        if (P->p < P->end && *P->p == ',') {
            P->p++;
            continue;
        }
        return expect(P, ']', "',' or ']'");
    }
}

/* ---------------------------------------------------------------- header */

static int add_meta(SafeFile *f, Parser *P, char *k, char *v)
{
    if (f->meta_count == f->meta_cap) {
        int nc = f->meta_cap ? f->meta_cap * 2 : 8;
        char **nk = (char **)realloc(f->meta_keys, (size_t)nc * sizeof *nk), **nv;
        if (!nk) return perr(P, "out of memory");
        f->meta_keys = nk;
        nv = (char **)realloc(f->meta_vals, (size_t)nc * sizeof *nv);
        if (!nv) return perr(P, "out of memory");
        f->meta_vals = nv;
        f->meta_cap = nc;
    }
    f->meta_keys[f->meta_count] = k;
    f->meta_vals[f->meta_count] = v;
    f->meta_count++;
    return 0;
}

static int parse_metadata(SafeFile *f, Parser *P)
{
    if (expect(P, '{', "'{' opening __metadata__") < 0) return -1;
    skip_ws(P);
    if (P->p < P->end && *P->p == '}') {
        P->p++;
        return 0;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        if (parse_string(P, &k) < 0) return -1;
        if (expect(P, ':', "':'") < 0) {
            free(k);
            return -1;
        }
        skip_ws(P);
        if (P->p < P->end && *P->p != '"') {
            perr_msg(P, "__metadata__ value of \"%.60s\" is not a string", k);
            free(k);
            return -1;
        }
        if (parse_string(P, &v) < 0 || add_meta(f, P, k, v) < 0) {
            free(k);
            free(v);
            return -1;
        }
        skip_ws(P);
        if (P->p < P->end && *P->p == ',') {
            P->p++;
            continue;
        }
        return expect(P, '}', "',' or '}'");
    }
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order, nothing else. */
static int parse_entry(Parser *P, SafeEntry *e)
{
    int have_dtype = 0, have_shape = 0, have_off = 0;
    int64_t off[2];
    if (expect(P, '{', "'{' opening a tensor entry") < 0) return -1;
    for (;;) {
        char *k = NULL;
        if (parse_string(P, &k) < 0) return -1;
        if (expect(P, ':', "':'") < 0) {
            free(k);
            return -1;
        }
        if (strcmp(k, "dtype") == 0 && !have_dtype) {
            char *d = NULL;
            int i;
            free(k);
            if (parse_string(P, &d) < 0) return -1;
            for (i = 0; i < ST_NDTYPE; i++)
                if (strcmp(d, st_dtypes[i].name) == 0) break;
            if (i == ST_NDTYPE) {
                st_fail(P->err, P->errcap, P->path,
                        "tensor \"%.100s\" has dtype \"%.20s\", which this reader does not "
                        "support (F32, F64, I32, I64, U64)",
                        e->name, d);
                P->failed = 1;
                free(d);
                return -1;
            }
            free(d);
            e->dtype = (StDtype)i;
            have_dtype = 1;
        } else if (strcmp(k, "shape") == 0 && !have_shape) {
            free(k);
            if (parse_int_array(P, e->shape, ST_MAX_DIM, &e->ndim, "shape") < 0) return -1;
            have_shape = 1;
        } else if (strcmp(k, "data_offsets") == 0 && !have_off) {
            int n;
            free(k);
            if (parse_int_array(P, off, 2, &n, "data_offsets") < 0) return -1;
            if (n != 2) return perr(P, "data_offsets needs 2 numbers, has %d", n);
            have_off = 1;
        } else {
            perr_msg(P, "tensor \"%.100s\": unexpected or repeated field \"%.40s\"", e->name, k);
            free(k);
            return -1;
        }
        skip_ws(P);
        if (P->p < P->end && *P->p == ',') {
            P->p++;
            continue;
        }
        if (expect(P, '}', "',' or '}'") < 0) return -1;
        break;
    }
    if (!have_dtype || !have_shape || !have_off)
        return perr(P, "tensor \"%.100s\" lacks \"%s\"", e->name,
                    !have_dtype   ? "dtype"
                    : !have_shape ? "shape"
                                  : "data_offsets");
    if (off[0] < 0 || off[1] < 0) return perr(P, "negative data_offsets");
    e->begin = (size_t)off[0];
    e->end = (size_t)off[1];
    if ((int64_t)e->begin != off[0] || (int64_t)e->end != off[1])
        return perr(P, "data_offsets do not fit this machine");
    return 0;
}

static int parse_header(SafeFile *f, Parser *P)
{
    int have_meta = 0;
    if (expect(P, '{', "'{' at the start of the header") < 0) return -1;
    skip_ws(P);
    if (P->p < P->end && *P->p == '}') {
        P->p++;
    } else {
        for (;;) {
            char *name = NULL;
            if (parse_string(P, &name) < 0) return -1;
            if (expect(P, ':', "':'") < 0) {
                free(name);
                return -1;
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (have_meta) return perr(P, "two __metadata__ objects");
                have_meta = 1;
                if (parse_metadata(f, P) < 0) return -1;
            } else {
                SafeEntry *e;
                if (f->count == f->cap) {
                    int nc = f->cap ? f->cap * 2 : 64;
                    SafeEntry *ne = (SafeEntry *)realloc(f->entries, (size_t)nc * sizeof *ne);
                    if (!ne) {
                        free(name);
                        return perr(P, "out of memory");
                    }
                    f->entries = ne;
                    f->cap = nc;
                }
                e = &f->entries[f->count++];
                memset(e, 0, sizeof *e);
                e->name = name;
                if (parse_entry(P, e) < 0) return -1;
            }
            skip_ws(P);
            if (P->p < P->end && *P->p == ',') {
                P->p++;
                continue;
            }
            if (expect(P, '}', "',' or '}'") < 0) return -1;
            break;
        }
    }
    skip_ws(P);
    if (P->p != P->end) return perr(P, "unexpected bytes after the closing '}'");
    return 0;
}

/* ---------------------------------------------------------------- validation */

struct StName {
    const char *name;
    int index;
};

static int cmp_by_name(const void *a, const void *b)
{
    return strcmp(((const struct StName *)a)->name, ((const struct StName *)b)->name);
}

static int validate(SafeFile *f, char *err, size_t errcap)
{
    size_t data_size = f->size - f->data_start, max_end = 0;
    int i;
    for (i = 0; i < f->count; i++) {
        SafeEntry *e = &f->entries[i];
        size_t numel = 1, es = st_dtype_size(e->dtype), bytes;
        int d;
        for (d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0) {
                st_fail(err, errcap, f->path, "tensor \"%.100s\": dimension %d is negative (%lld)",
                        e->name, d, (long long)e->shape[d]);
                return -1;
            }
            if (e->shape[d] != 0 && numel > (size_t)(ST_MAX_FILE / es / (uint64_t)e->shape[d])) {
                st_fail(err, errcap, f->path, "tensor \"%.100s\": shape too large", e->name);
                return -1;
            }
            numel *= (size_t)e->shape[d];
        }
        e->numel = numel;
        bytes = numel * es; /* <= ST_MAX_FILE: no overflow, even with a 32-bit size_t */
        if (e->end < e->begin) {
            st_fail(err, errcap, f->path,
                    "tensor \"%.100s\": data_offsets [%lu, %lu] end "
                    "before they begin",
                    e->name, (unsigned long)e->begin, (unsigned long)e->end);
            return -1;
        }
        if (e->end > data_size) {
            st_fail(err, errcap, f->path,
                    "tensor \"%.100s\": data_offsets [%lu, %lu] outside the data area of %lu "
                    "bytes (file truncated?)",
                    e->name, (unsigned long)e->begin, (unsigned long)e->end,
                    (unsigned long)data_size);
            return -1;
        }
        if (e->end - e->begin != bytes) {
            st_fail(err, errcap, f->path,
                    "tensor \"%.100s\": data_offsets span %lu bytes but %s shape needs "
                    "%lu",
                    e->name, (unsigned long)(e->end - e->begin), st_dtype_name(e->dtype),
                    (unsigned long)bytes);
            return -1;
        }
        if (e->end > max_end) max_end = e->end;
    }
    if (max_end != data_size) {
        st_fail(err, errcap, f->path,
                "%lu bytes after the last tensor's data (data area "
                "%lu bytes, tensors end at %lu)",
                (unsigned long)(data_size - max_end), (unsigned long)data_size,
                (unsigned long)max_end);
        return -1;
    }
    f->sorted = (struct StName *)malloc((f->count > 0 ? (size_t)f->count : 1) * sizeof *f->sorted);
    if (!f->sorted) {
        st_fail(err, errcap, f->path, "out of memory");
        return -1;
    }
    for (i = 0; i < f->count; i++) {
        f->sorted[i].name = f->entries[i].name;
        f->sorted[i].index = i;
    }
    qsort(f->sorted, (size_t)f->count, sizeof *f->sorted, cmp_by_name);
    for (i = 1; i < f->count; i++)
        if (strcmp(f->sorted[i].name, f->sorted[i - 1].name) == 0) {
            st_fail(err, errcap, f->path, "tensor name \"%.100s\" appears twice",
                    f->sorted[i].name);
            return -1;
        }
    if (f->meta_count > 4096) {
        st_fail(err, errcap, f->path, "more than 4096 __metadata__ entries");
        return -1;
    }
    for (i = 0; i < f->meta_count; i++) {
        int j;
        for (j = 0; j < i; j++)
            if (strcmp(f->meta_keys[i], f->meta_keys[j]) == 0) {
                st_fail(err, errcap, f->path, "__metadata__ key \"%.100s\" appears twice",
                        f->meta_keys[i]);
                return -1;
            }
    }
    return 0;
}

SafeFile *st_open(const char *path, char *err, size_t errcap)
{
    SafeFile *f = (SafeFile *)calloc(1, sizeof *f);
    uint64_t hlen;
    Parser P;
    if (err && errcap) err[0] = '\0';
    if (!f || !(f->path = st_strdup(path, strlen(path)))) {
        st_fail(err, errcap, path, "out of memory");
        free(f);
        return NULL;
    }
    if (read_all(path, &f->buf, &f->size, err, errcap) < 0) goto fail;
    if (f->size < 8) {
        st_fail(err, errcap, path,
                "only %lu bytes, too short for the 8-byte header length "
                "(not a safetensors file?)",
                (unsigned long)f->size);
        goto fail;
    }
    hlen = get_le(f->buf, 8);
    if (hlen > ST_MAX_HEADER) {
        st_fail(err, errcap, path,
                "header length %.0f exceeds the %lu-byte limit (not a "
                "safetensors file?)",
                (double)hlen, (unsigned long)ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > f->size - 8) {
        st_fail(err, errcap, path,
                "header length %lu is larger than the %lu bytes that "
                "follow it (file truncated?)",
                (unsigned long)hlen, (unsigned long)(f->size - 8));
        goto fail;
    }
    f->data_start = 8 + (size_t)hlen;
    P.start = P.p = f->buf + 8;
    P.end = f->buf + f->data_start;
    P.path = path;
    P.err = err;
    P.errcap = errcap;
    P.failed = 0;
    if (parse_header(f, &P) < 0) goto fail;
    if (validate(f, err, errcap) < 0) goto fail;
    return f;
fail:
    st_close(f);
    return NULL;
}

void st_close(SafeFile *f)
{
    int i;
    if (!f) return;
    for (i = 0; i < f->count; i++) free((char *)f->entries[i].name);
    for (i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->entries);
    free(f->sorted);
    free(f->buf);
    free(f->path);
    free(f);
}

const char *st_path(const SafeFile *f) { return f->path; }
int st_count(const SafeFile *f) { return f->count; }

size_t st_total_numel(const SafeFile *f)
{
    size_t n = 0;
    int i;
    for (i = 0; i < f->count; i++) n += f->entries[i].numel;
    return n;
}
int st_meta_count(const SafeFile *f) { return f->meta_count; }

const SafeEntry *st_entry(const SafeFile *f, int i)
{
    return i >= 0 && i < f->count ? &f->entries[i] : NULL;
}

const char *st_meta_key(const SafeFile *f, int i)
{
    return i >= 0 && i < f->meta_count ? f->meta_keys[i] : NULL;
}

const SafeEntry *st_find(const SafeFile *f, const char *name)
{
    int lo = 0, hi = f->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->sorted[mid].name);
        if (c == 0) return &f->entries[f->sorted[mid].index];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *st_meta(const SafeFile *f, const char *key)
{
    int i;
    for (i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

/* ---------------------------------------------------------------- element reads */

static int check_read(const SafeFile *f, const SafeEntry *e, size_t n, int want_float, char *err,
                      size_t errcap)
{
    int is_float = e->dtype == ST_DTYPE_F32 || e->dtype == ST_DTYPE_F64;
    if (n != e->numel) {
        st_fail(err, errcap, f->path, "tensor \"%.100s\" has %lu elements, caller expects %lu",
                e->name, (unsigned long)e->numel, (unsigned long)n);
        return -1;
    }
    if (want_float != is_float) {
        st_fail(err, errcap, f->path, "tensor \"%.100s\" has dtype %s, expected %s", e->name,
                st_dtype_name(e->dtype), want_float ? "F32 or F64" : "an integer dtype");
        return -1;
    }
    return 0;
}

static double elem_f(const unsigned char *b, StDtype d)
{
    if (d == ST_DTYPE_F32) {
        uint32_t u = (uint32_t)get_le(b, 4);
        float x;
        memcpy(&x, &u, 4);
        return x;
    } else {
        uint64_t u = get_le(b, 8);
        double x;
        memcpy(&x, &u, 8);
        return x;
    }
}

int st_read_scalar(const SafeFile *f, const SafeEntry *e, Scalar *dst, size_t n, char *err,
                   size_t errcap)
{
    const unsigned char *b = f->buf + f->data_start + e->begin;
    size_t i, es = st_dtype_size(e->dtype);
    if (check_read(f, e, n, 1, err, errcap) < 0) return -1;
    for (i = 0; i < n; i++) dst[i] = (Scalar)elem_f(b + i * es, e->dtype);
    return 0;
}

int st_read_f64(const SafeFile *f, const SafeEntry *e, double *dst, size_t n, char *err,
                size_t errcap)
{
    const unsigned char *b = f->buf + f->data_start + e->begin;
    size_t i, es = st_dtype_size(e->dtype);
    if (check_read(f, e, n, 1, err, errcap) < 0) return -1;
    for (i = 0; i < n; i++) dst[i] = elem_f(b + i * es, e->dtype);
    return 0;
}

/* Two's complement without relying on implementation-defined unsigned->signed casts. */
static int64_t to_signed(uint64_t u, int bits)
{
    uint64_t sign = (uint64_t)1 << (bits - 1);
    if (u & sign) return -(int64_t)((~u & (sign - 1))) - 1;
    return (int64_t)u;
}

int st_read_i64(const SafeFile *f, const SafeEntry *e, int64_t *dst, size_t n, char *err,
                size_t errcap)
{
    const unsigned char *b = f->buf + f->data_start + e->begin;
    size_t i;
    if (check_read(f, e, n, 0, err, errcap) < 0) return -1;
    if (e->dtype != ST_DTYPE_I64 && e->dtype != ST_DTYPE_I32) {
        st_fail(err, errcap, f->path, "tensor \"%.100s\" has dtype %s, expected I64 or I32",
                e->name, st_dtype_name(e->dtype));
        return -1;
    }
    for (i = 0; i < n; i++)
        dst[i] = e->dtype == ST_DTYPE_I64 ? to_signed(get_le(b + 8 * i, 8), 64)
                                          : to_signed(get_le(b + 4 * i, 4), 32);
    return 0;
}

int st_read_u64(const SafeFile *f, const SafeEntry *e, uint64_t *dst, size_t n, char *err,
                size_t errcap)
{
    const unsigned char *b = f->buf + f->data_start + e->begin;
    size_t i;
    if (check_read(f, e, n, 0, err, errcap) < 0) return -1;
    if (e->dtype != ST_DTYPE_U64) {
        st_fail(err, errcap, f->path, "tensor \"%.100s\" has dtype %s, expected U64", e->name,
                st_dtype_name(e->dtype));
        return -1;
    }
    for (i = 0; i < n; i++) dst[i] = get_le(b + 8 * i, 8);
    return 0;
}

static void shape64_str(int ndim, const int64_t *s, char *buf, size_t cap)
{
    size_t k = 0;
    int i;
    k += (size_t)snprintf(buf, cap, "[");
    for (i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)s[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

int st_load_scalar(const SafeFile *f, const char *name, int ndim, const int *shape, Scalar *dst,
                   char *err, size_t errcap)
{
    const SafeEntry *e = st_find(f, name);
    int64_t want[ST_MAX_DIM];
    int i, same;
    if (!e) {
        st_fail(err, errcap, f->path, "no tensor named \"%.100s\" (wrong model or config?)", name);
        return -1;
    }
    same = ndim == e->ndim && ndim >= 0 && ndim <= ST_MAX_DIM;
    for (i = 0; i < ndim && i < ST_MAX_DIM; i++) {
        want[i] = shape[i];
        if (same && e->shape[i] != want[i]) same = 0;
    }
    if (!same) {
        char a[128], b[128];
        shape64_str(e->ndim, e->shape, a, sizeof a);
        shape64_str(ndim < ST_MAX_DIM ? ndim : ST_MAX_DIM, want, b, sizeof b);
        st_fail(err, errcap, f->path,
                "tensor \"%.100s\" has shape %s, expected %s "
                "(checkpoint of another model size?)",
                name, a, b);
        return -1;
    }
    return st_read_scalar(f, e, dst, e->numel, err, errcap);
}

/* ---------------------------------------------------------------- writer */

typedef struct WEntry {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIM];
    size_t bytes;
    unsigned char *data;
} WEntry;

struct SafeWriter {
    WEntry *e;
    int count, cap;
    char **mk, **mv;
    int mcount, mcap;
    char first_err[256];
};

SafeWriter *st_writer_new(void)
{
    SafeWriter *w = (SafeWriter *)calloc(1, sizeof *w);
    CHECK(w, "out of memory");
    return w;
}

void st_writer_free(SafeWriter *w)
{
    int i;
    if (!w) return;
    for (i = 0; i < w->count; i++) {
        free(w->e[i].name);
        free(w->e[i].data);
    }
    for (i = 0; i < w->mcount; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->e);
    free(w->mk);
    free(w->mv);
    free(w);
}

static int werr(SafeWriter *w, const char *fmt, ...)
{
    va_list ap;
    if (w->first_err[0]) return -1;
    va_start(ap, fmt);
    vsnprintf(w->first_err, sizeof w->first_err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Checks name and shape and appends an entry with an allocated byte buffer. */
static WEntry *w_new_entry(SafeWriter *w, const char *name, StDtype dtype, int ndim,
                           const int *shape)
{
    WEntry *e;
    size_t numel = 1;
    int i;
    if (!name || !*name || strcmp(name, "__metadata__") == 0) {
        werr(w, "bad tensor name \"%s\"", name ? name : "(null)");
        return NULL;
    }
    for (i = 0; i < w->count; i++)
        if (strcmp(w->e[i].name, name) == 0) {
            werr(w, "tensor \"%.100s\" added twice", name);
            return NULL;
        }
    if (ndim < 0 || ndim > ST_MAX_DIM) {
        werr(w, "tensor \"%.100s\": %d dims (0..%d allowed)", name, ndim, ST_MAX_DIM);
        return NULL;
    }
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            werr(w, "tensor \"%.100s\": negative dimension %d", name, shape[i]);
            return NULL;
        }
        if (shape[i] && numel > (size_t)(ST_MAX_FILE / 8) / (size_t)shape[i]) {
            werr(w, "tensor \"%.100s\": too large", name);
            return NULL;
        }
        numel *= (size_t)shape[i];
    }
    if (w->count == w->cap) {
        int nc = w->cap ? w->cap * 2 : 32;
        WEntry *ne = (WEntry *)realloc(w->e, (size_t)nc * sizeof *ne);
        CHECK(ne, "out of memory");
        w->e = ne;
        w->cap = nc;
    }
    e = &w->e[w->count];
    memset(e, 0, sizeof *e);
    e->name = st_strdup(name, strlen(name));
    e->dtype = dtype;
    e->ndim = ndim;
    for (i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->bytes = numel * st_dtype_size(dtype);
    e->data = (unsigned char *)malloc(e->bytes ? e->bytes : 1);
    CHECK(e->name && e->data, "out of memory");
    w->count++;
    return e;
}

static void put_f32(unsigned char *b, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    put_le(b, u, 4);
}

static void put_f64(unsigned char *b, double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    put_le(b, u, 8);
}

int st_add(SafeWriter *w, const char *name, StDtype dtype, int ndim, const int *shape,
           const Scalar *data)
{
    WEntry *e;
    size_t i, n;
    if (dtype != ST_DTYPE_F32 && dtype != ST_DTYPE_F64)
        return werr(w, "tensor \"%.100s\": st_add takes F32 or F64, not %s", name ? name : "",
                    st_dtype_name(dtype));
    if (!(e = w_new_entry(w, name, dtype, ndim, shape))) return -1;
    n = e->bytes / st_dtype_size(dtype);
    for (i = 0; i < n; i++) {
        if (dtype == ST_DTYPE_F32)
            put_f32(e->data + 4 * i, (float)data[i]);
        else
            put_f64(e->data + 8 * i, (double)data[i]);
    }
    return 0;
}

int st_add_f64(SafeWriter *w, const char *name, int ndim, const int *shape, const double *data)
{
    WEntry *e = w_new_entry(w, name, ST_DTYPE_F64, ndim, shape);
    size_t i;
    if (!e) return -1;
    for (i = 0; i < e->bytes / 8; i++) put_f64(e->data + 8 * i, data[i]);
    return 0;
}

int st_add_i64(SafeWriter *w, const char *name, int ndim, const int *shape, const int64_t *data)
{
    WEntry *e = w_new_entry(w, name, ST_DTYPE_I64, ndim, shape);
    size_t i;
    if (!e) return -1;
    for (i = 0; i < e->bytes / 8; i++) {
        /* two's complement bits of data[i], computed without a signed->unsigned trap */
        uint64_t u = data[i] >= 0 ? (uint64_t)data[i] : ~(uint64_t)(-(data[i] + 1));
        put_le(e->data + 8 * i, u, 8);
    }
    return 0;
}

int st_add_u64(SafeWriter *w, const char *name, int ndim, const int *shape, const uint64_t *data)
{
    WEntry *e = w_new_entry(w, name, ST_DTYPE_U64, ndim, shape);
    size_t i;
    if (!e) return -1;
    for (i = 0; i < e->bytes / 8; i++) put_le(e->data + 8 * i, data[i], 8);
    return 0;
}

int st_add_meta(SafeWriter *w, const char *key, const char *value)
{
    int i;
    if (!key || !value) return werr(w, "metadata key or value is NULL");
    for (i = 0; i < w->mcount; i++)
        if (strcmp(w->mk[i], key) == 0) return werr(w, "metadata key \"%.100s\" added twice", key);
    if (w->mcount == w->mcap) {
        int nc = w->mcap ? w->mcap * 2 : 16;
        char **nk = (char **)realloc(w->mk, (size_t)nc * sizeof *nk), **nv;
        CHECK(nk, "out of memory");
        w->mk = nk;
        nv = (char **)realloc(w->mv, (size_t)nc * sizeof *nv);
        CHECK(nv, "out of memory");
        w->mv = nv;
        w->mcap = nc;
    }
    w->mk[w->mcount] = st_strdup(key, strlen(key));
    w->mv[w->mcount] = st_strdup(value, strlen(value));
    CHECK(w->mk[w->mcount] && w->mv[w->mcount], "out of memory");
    w->mcount++;
    return 0;
}

int st_add_metaf(SafeWriter *w, const char *key, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return werr(w, "metadata value of \"%.100s\" too long", key ? key : "(null)");
    return st_add_meta(w, key, buf);
}

/* A growing text buffer for the JSON header. */
typedef struct Buf {
    char *p;
    size_t n, cap;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        char *np;
        while (nc < b->n + n + 1) nc *= 2;
        np = (char *)realloc(b->p, nc);
        CHECK(np, "out of memory");
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_u64(Buf *b, uint64_t v)
{
    char tmp[24];
    int k = 23;
    tmp[k] = '\0';
    do {
        tmp[--k] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    buf_str(b, tmp + k);
}

/* A JSON string literal: quotes, \" \\ and control characters escaped, UTF-8 kept. */
static void buf_json_string(Buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            buf_put(b, "\\\"", 2);
        else if (c == '\\')
            buf_put(b, "\\\\", 2);
        else if (c == '\n')
            buf_put(b, "\\n", 2);
        else if (c == '\r')
            buf_put(b, "\\r", 2);
        else if (c == '\t')
            buf_put(b, "\\t", 2);
        else if (c < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_put(b, u, 6);
        } else
            buf_put(b, (const char *)&c, 1);
    }
    buf_put(b, "\"", 1);
}

int st_write(SafeWriter *w, const char *path, char *err, size_t errcap)
{
    Buf h = {NULL, 0, 0};
    char *tmp = NULL;
    FILE *fp = NULL;
    unsigned char len8[8];
    uint64_t off = 0;
    int i, d, ok;
    if (err && errcap) err[0] = '\0';
    if (w->first_err[0]) {
        st_fail(err, errcap, path, "not written: %s", w->first_err);
        return -1;
    }
    /* header: __metadata__ first (as the reference writer does), then tensors in order */
    buf_str(&h, "{");
    if (w->mcount) {
        buf_str(&h, "\"__metadata__\":{");
        for (i = 0; i < w->mcount; i++) {
            if (i) buf_str(&h, ",");
            buf_json_string(&h, w->mk[i]);
            buf_str(&h, ":");
            buf_json_string(&h, w->mv[i]);
        }
        buf_str(&h, "}");
    }
    for (i = 0; i < w->count; i++) {
        const WEntry *e = &w->e[i];
        if (i || w->mcount) buf_str(&h, ",");
        buf_json_string(&h, e->name);
        buf_str(&h, ":{\"dtype\":\"");
        buf_str(&h, st_dtype_name(e->dtype));
        buf_str(&h, "\",\"shape\":[");
        for (d = 0; d < e->ndim; d++) {
            if (d) buf_str(&h, ",");
            buf_u64(&h, (uint64_t)e->shape[d]);
        }
        buf_str(&h, "],\"data_offsets\":[");
        buf_u64(&h, off);
        buf_str(&h, ",");
        off += e->bytes;
        buf_u64(&h, off);
        buf_str(&h, "]}");
    }
    buf_str(&h, "}");
    while (h.n % 8) buf_put(&h, " ", 1);
    if ((uint64_t)h.n > ST_MAX_HEADER || off > ST_MAX_FILE - 8 - (uint64_t)h.n) {
        st_fail(err, errcap, path, "not written: %lu tensors make a file over the size limit",
                (unsigned long)w->count);
        free(h.p);
        return -1;
    }
    put_le(len8, (uint64_t)h.n, 8);

    tmp = (char *)malloc(strlen(path) + 5);
    if (!tmp) {
        st_fail(err, errcap, path, "out of memory");
        free(h.p);
        return -1;
    }
    memcpy(tmp, path, strlen(path));
    memcpy(tmp + strlen(path), ".tmp", 5);
    fp = fopen(tmp, "wb");
    if (!fp) {
        st_fail(err, errcap, path, "cannot create %s for writing", tmp);
        free(h.p);
        free(tmp);
        return -1;
    }
    ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(h.p, 1, h.n, fp) == h.n;
    for (i = 0; ok && i < w->count; i++)
        ok = fwrite(w->e[i].data, 1, w->e[i].bytes, fp) == w->e[i].bytes;
    if (fclose(fp) != 0) ok = 0;
    if (!ok) {
        st_fail(err, errcap, path, "write error on %s (disk full?)", tmp);
        remove(tmp);
    } else if (plat_rename(tmp, path) != 0) {
        st_fail(err, errcap, path, "cannot rename %s to it", tmp);
        remove(tmp);
        ok = 0;
    }
    free(h.p);
    free(tmp);
    return ok ? 0 : -1;
}
