/* fuzz_safetensors.c - libFuzzer harness of the safetensors reader (tensor/safetensors.c).
 *
 * Input: the bytes of one file.  st_open must either fail with a message or return a file
 * whose every entry keeps the promises of safetensors.h: ndim 0..8, dims >= 0, numel the
 * product of the shape, [begin, end) inside the data area and numel * dtype size long,
 * st_find finding each name and nothing else, st_meta finding each key.  Each entry is then
 * read through every reader: the one of its dtype must succeed, the others must refuse it
 * with a message.  Build and run: fuzz/run.sh. */
#include "fuzz_util.h"

#include <limits.h>
#include <stdint.h>

#include "../tensor/safetensors.h"

/* Reads entry e every way: the matching reader succeeds, the others fail with a message. */
static void read_entry(const SafeFile *f, const SafeEntry *e)
{
    char err[512];
    size_t n = e->numel, k = n ? n : 1;
    int is_float = e->dtype == ST_DTYPE_F32 || e->dtype == ST_DTYPE_F64;
    int is_int = e->dtype == ST_DTYPE_I32 || e->dtype == ST_DTYPE_I64;
    Scalar *s = (Scalar *)malloc(k * sizeof *s);
    double *d = (double *)malloc(k * sizeof *d);
    int64_t *i64 = (int64_t *)malloc(k * sizeof *i64);
    uint64_t *u64 = (uint64_t *)malloc(k * sizeof *u64);
    int rc;
    FUZZ_CHECK(s && d && i64 && u64, "out of memory for %lu elements", (unsigned long)n);

    rc = st_read_scalar(f, e, s, n, err, sizeof err);
    FUZZ_CHECK((rc == 0) == is_float, "st_read_scalar of a %s tensor returned %d",
               st_dtype_name(e->dtype), rc);
    if (rc) fuzz_check_err(err, sizeof err, "st_read_scalar");
    rc = st_read_f64(f, e, d, n, err, sizeof err);
    FUZZ_CHECK((rc == 0) == is_float, "st_read_f64 of a %s tensor returned %d",
               st_dtype_name(e->dtype), rc);
    if (rc) fuzz_check_err(err, sizeof err, "st_read_f64");
    rc = st_read_i64(f, e, i64, n, err, sizeof err);
    FUZZ_CHECK((rc == 0) == is_int, "st_read_i64 of a %s tensor returned %d",
               st_dtype_name(e->dtype), rc);
    if (rc) fuzz_check_err(err, sizeof err, "st_read_i64");
    rc = st_read_u64(f, e, u64, n, err, sizeof err);
    FUZZ_CHECK((rc == 0) == (e->dtype == ST_DTYPE_U64), "st_read_u64 of a %s tensor returned %d",
               st_dtype_name(e->dtype), rc);
    if (rc) fuzz_check_err(err, sizeof err, "st_read_u64");
    /* a count that differs from numel is refused */
    if (st_read_f64(f, e, d, n + 1, err, sizeof err) == 0) FUZZ_CHECK(0, "numel + 1 accepted");
    fuzz_check_err(err, sizeof err, "st_read_f64 (wrong count)");

    /* the one-call loader with the entry's own shape (when every dim fits an int) */
    if (e->ndim <= ST_MAX_DIM) {
        int shape[ST_MAX_DIM], j, fits = 1;
        for (j = 0; j < e->ndim; j++) {
            if (e->shape[j] > INT_MAX) fits = 0;
            shape[j] = fits ? (int)e->shape[j] : 0;
        }
        if (fits) {
            rc = st_load_scalar(f, e->name, e->ndim, shape, s, err, sizeof err);
            FUZZ_CHECK((rc == 0) == is_float, "st_load_scalar of a %s tensor returned %d",
                       st_dtype_name(e->dtype), rc);
            if (rc) fuzz_check_err(err, sizeof err, "st_load_scalar");
            if (e->ndim > 0) {
                shape[0] = shape[0] == INT_MAX ? 0 : shape[0] + 1;
                rc = st_load_scalar(f, e->name, e->ndim, shape, s, err, sizeof err);
                FUZZ_CHECK(rc != 0, "st_load_scalar accepted a wrong shape");
                fuzz_check_err(err, sizeof err, "st_load_scalar (wrong shape)");
            }
        }
    }
    free(s);
    free(d);
    free(i64);
    free(u64);
}

static void check_file(const SafeFile *f)
{
    static const char *const probe[] = {"", "a", "model", "weight", "\x01"};
    int i, j, count = st_count(f), nmeta = st_meta_count(f);
    FUZZ_CHECK(count >= 0 && nmeta >= 0, "counts %d, %d", count, nmeta);
    FUZZ_CHECK(st_entry(f, -1) == NULL && st_entry(f, count) == NULL, "st_entry out of range");
    FUZZ_CHECK(st_meta_key(f, -1) == NULL && st_meta_key(f, nmeta) == NULL,
               "st_meta_key out of range");
    for (i = 0; i < count; i++) {
        const SafeEntry *e = st_entry(f, i);
        size_t numel = 1;
        FUZZ_CHECK(e && e->name, "entry %d missing", i);
        FUZZ_CHECK(st_find(f, e->name) == e, "st_find(\"%.100s\") is not entry %d", e->name, i);
        FUZZ_CHECK(e->ndim >= 0 && e->ndim <= ST_MAX_DIM, "ndim %d", e->ndim);
        for (j = 0; j < e->ndim; j++) {
            FUZZ_CHECK(e->shape[j] >= 0, "negative dim");
            numel *= (size_t)e->shape[j];
        }
        FUZZ_CHECK(numel == e->numel, "numel %lu, shape says %lu", (unsigned long)e->numel,
                   (unsigned long)numel);
        FUZZ_CHECK(e->begin <= e->end && e->end - e->begin == numel * st_dtype_size(e->dtype),
                   "byte range [%lu, %lu) for %lu elements", (unsigned long)e->begin,
                   (unsigned long)e->end, (unsigned long)numel);
        read_entry(f, e);
    }
    for (i = 0; i < (int)(sizeof probe / sizeof probe[0]); i++) { /* names that may be absent */
        const SafeEntry *e = st_find(f, probe[i]);
        char err[512];
        int one = 1;
        Scalar x;
        if (e) {
            FUZZ_CHECK(!strcmp(e->name, probe[i]), "st_find(\"%s\") found \"%.100s\"", probe[i],
                       e->name);
        } else {
            FUZZ_CHECK(st_load_scalar(f, probe[i], 1, &one, &x, err, sizeof err) != 0,
                       "st_load_scalar of an absent tensor succeeded");
            fuzz_check_err(err, sizeof err, "st_load_scalar (absent tensor)");
        }
    }
    for (i = 0; i < nmeta; i++) {
        const char *k = st_meta_key(f, i), *v;
        FUZZ_CHECK(k != NULL, "metadata key %d missing", i);
        v = st_meta(f, k);
        FUZZ_CHECK(v != NULL, "st_meta(\"%.100s\") not found", k);
        (void)strlen(v);
    }
    (void)st_meta(f, "model");
    (void)st_meta(f, "format");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path("st.safetensors");
    char err[512];
    SafeFile *f;
    fuzz_write(path, data, size);
    memset(err, 'x', sizeof err);
    f = st_open(path, err, sizeof err);
    if (!f) {
        fuzz_check_err(err, sizeof err, "st_open");
        return 0;
    }
    FUZZ_CHECK(err[0] == '\0', "st_open succeeded with a message: %.200s", err);
    FUZZ_CHECK(!strcmp(st_path(f), path), "st_path");
    check_file(f);
    st_close(f);
    return 0;
}
