/* test_safetensors.c - the safetensors writer and reader: round trip, exact bytes, the
 * golden files, and one crafted bad file per kind of damage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/safetensors.h"
#include "harness.h"
#include "tmp_path.h"

static char err[512];

/* ---------------------------------------------------------------- round trip */

static void test_st_round_trip(void)
{
    char path[512], tmp[600];
    SafeWriter *w = st_writer_new();
    SafeFile *f;
    const SafeEntry *e;
    Scalar a[6] = {1.5f, -2.25f, 0, 3e-8f, -1e30f, 7};
    double b[4] = {0.1, -1e-300, 12345.678901234567, 1.0 / 3.0}, b2[4];
    Scalar s0 = 42, out[6];
    int64_t iv[3] = {0, -1, INT64_MIN}, iv2[3];
    uint64_t uv[2] = {UINT64_MAX, 0x0123456789abcdefULL}, uv2[2];
    int sa[2] = {2, 3}, sb[1] = {4}, sz[2] = {0, 5}, si[1] = {3}, su[1] = {2};
    const char *odd = "quote\" back\\ nl\n tab\t ctl\001 utf8 \xc3\xa9";
    int i;
    FILE *fp;
    unsigned char len8[8];

    t_tmp_path(path, sizeof path, "rt.safetensors");
    T_EQ_INT(st_add(w, "a", ST_DTYPE_F32, 2, sa, a), 0);
    T_EQ_INT(st_add_f64(w, "b", 1, sb, b), 0);
    T_EQ_INT(st_add(w, "scalar", ST_DTYPE_F64, 0, NULL, &s0), 0);
    T_EQ_INT(st_add(w, "empty", ST_DTYPE_F32, 2, sz, a), 0);
    T_EQ_INT(st_add_i64(w, "step.i", 1, si, iv), 0);
    T_EQ_INT(st_add_u64(w, "rng.s", 1, su, uv), 0);
    T_EQ_INT(st_add_meta(w, "model", "unet-s"), 0);
    T_EQ_INT(st_add_meta(w, odd, odd), 0);
    T_EQ_INT(st_add_metaf(w, "lr", "%.17g;%d", 1.5e-3, 7), 0);
    T_EQ_INT(st_write(w, path, err, sizeof err), 0);
    st_writer_free(w);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_OK(!t_file_exists(tmp));

    /* header length is a multiple of 8 */
    fp = fopen(path, "rb");
    T_OK(fp != NULL);
    if (fp) {
        T_EQ_INT(fread(len8, 1, 8, fp), 8);
        T_EQ_INT(len8[0] % 8, 0);
        fclose(fp);
    }

    f = st_open(path, err, sizeof err);
    T_OK(f != NULL);
    if (!f) {
        fprintf(stderr, "    %s\n", err);
        remove(path);
        return;
    }
    T_EQ_INT(st_count(f), 6);
    T_OK(strcmp(st_entry(f, 0)->name, "a") == 0);
    T_OK(strcmp(st_entry(f, 5)->name, "rng.s") == 0);
    e = st_find(f, "a");
    T_OK(e && e->dtype == ST_DTYPE_F32 && e->ndim == 2 && e->shape[0] == 2 && e->shape[1] == 3);
    T_OK(e && st_read_scalar(f, e, out, 6, err, sizeof err) == 0);
    for (i = 0; i < 6; i++) T_EQ_INT(out[i] == a[i], 1);
    e = st_find(f, "b");
    T_OK(e && e->dtype == ST_DTYPE_F64 && e->numel == 4);
    T_OK(e && st_read_f64(f, e, b2, 4, err, sizeof err) == 0);
    for (i = 0; i < 4; i++) T_EQ_INT(b2[i] == b[i], 1);
    e = st_find(f, "scalar");
    T_OK(e && e->ndim == 0 && e->numel == 1);
    T_OK(e && st_read_scalar(f, e, out, 1, err, sizeof err) == 0 && out[0] == 42);
    e = st_find(f, "empty");
    T_OK(e && e->numel == 0 && e->begin == e->end);
    e = st_find(f, "step.i");
    T_OK(e && e->dtype == ST_DTYPE_I64);
    T_OK(e && st_read_i64(f, e, iv2, 3, err, sizeof err) == 0);
    for (i = 0; i < 3; i++) T_OK(iv2[i] == iv[i]);
    e = st_find(f, "rng.s");
    T_OK(e && st_read_u64(f, e, uv2, 2, err, sizeof err) == 0);
    T_OK(uv2[0] == uv[0] && uv2[1] == uv[1]);
    T_OK(st_find(f, "nope") == NULL);
    T_EQ_INT(st_meta_count(f), 3);
    T_OK(st_meta(f, "lr") && strcmp(st_meta(f, "lr"), "0.0015;7") == 0);
    T_OK(st_meta(f, "model") && strcmp(st_meta(f, "model"), "unet-s") == 0);
    T_OK(st_meta(f, odd) && strcmp(st_meta(f, odd), odd) == 0);
    T_OK(st_meta(f, "absent") == NULL);

    /* wrong-kind reads are errors that name the file and the tensor */
    e = st_find(f, "a");
    T_OK(st_read_i64(f, e, iv2, 6, err, sizeof err) < 0 && strstr(err, path) &&
         strstr(err, "\"a\""));
    T_OK(st_read_scalar(f, e, out, 5, err, sizeof err) < 0 && strstr(err, path));
    T_OK(st_read_scalar(f, st_find(f, "step.i"), out, 3, err, sizeof err) < 0);
    {
        int want[2] = {3, 2};
        T_OK(st_load_scalar(f, "a", 2, want, out, err, sizeof err) < 0 && strstr(err, "[2, 3]") &&
             strstr(err, "[3, 2]") && strstr(err, path));
        T_OK(st_load_scalar(f, "missing", 2, want, out, err, sizeof err) < 0 &&
             strstr(err, "missing"));
        T_EQ_INT(st_load_scalar(f, "a", 2, sa, out, err, sizeof err), 0);
    }
    st_close(f);
    remove(path);
}

/* ---------------------------------------------------------------- exact bytes */

static void test_st_exact_bytes(void)
{
    static const char json[] =
        "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]}} ";
    unsigned char want[8 + 80 + 8], got[200];
    char path[512];
    Scalar a[2] = {1.0f, -2.0f};
    int shape[1] = {2};
    SafeWriter *w = st_writer_new();
    FILE *fp;
    size_t n = 0;

    T_EQ_INT(strlen(json), 80);
    memset(want, 0, 8);
    want[0] = 80;
    memcpy(want + 8, json, 80);
    memcpy(want + 88, "\x00\x00\x80\x3f\x00\x00\x00\xc0", 8); /* 1.0f, -2.0f little-endian */

    t_tmp_path(path, sizeof path, "exact.safetensors");
    st_add_meta(w, "k", "v");
    st_add(w, "a", ST_DTYPE_F32, 1, shape, a);
    T_EQ_INT(st_write(w, path, err, sizeof err), 0);
    st_writer_free(w);
    fp = fopen(path, "rb");
    T_OK(fp != NULL);
    if (fp) {
        n = fread(got, 1, sizeof got, fp);
        fclose(fp);
    }
    T_EQ_INT(n, sizeof want);
    T_OK(n == sizeof want && memcmp(got, want, n) == 0);
    remove(path);
}

/* ---------------------------------------------------------------- golden files */

static SafeFile *open_golden(const char *name)
{
    char path[1024];
    SafeFile *f;
    snprintf(path, sizeof path, "%sgolden/%s", t_shared_dir(), name);
    f = st_open(path, err, sizeof err);
    if (!f) t_report(__FILE__, __LINE__, "%s", err);
    return f;
}

static void test_st_golden_schedule(void)
{
    SafeFile *f = open_golden("schedule.safetensors");
    const SafeEntry *e;
    Scalar t[8];
    double beta[8];
    if (!f) return;
    T_EQ_INT(st_count(f), 7);
    e = st_find(f, "t");
    T_OK(e && e->dtype == ST_DTYPE_F32 && e->ndim == 1 && e->shape[0] == 8);
    T_OK(e && st_read_scalar(f, e, t, 8, err, sizeof err) == 0);
    T_NEAR(t[0], 1e-5, 1e-12);
    T_NEAR(t[7], 1.0, 0);
    e = st_find(f, "beta");
    T_OK(e && e->dtype == ST_DTYPE_F64 && e->ndim == 1 && e->shape[0] == 8);
    T_OK(e && st_read_f64(f, e, beta, 8, err, sizeof err) == 0);
    T_NEAR(beta[7], 20.0, 0);
    T_NEAR(beta[0], 0.1 + 19.9 * (double)t[0], 1e-15);
    e = st_find(f, "emb32");
    T_OK(e && e->ndim == 2 && e->shape[0] == 8 && e->shape[1] == 32);
    T_OK(st_meta(f, "beta_max") && strcmp(st_meta(f, "beta_max"), "20.0") == 0);
    st_close(f);
}

static void test_st_golden_unet(void)
{
    SafeFile *f = open_golden("unet_s.safetensors");
    const SafeEntry *e;
    Scalar w[32 * 9];
    int shape[4] = {32, 1, 3, 3};
    if (!f) return;
    T_EQ_INT(st_count(f), 302);
    e = st_find(f, "conv_in.weight");
    T_OK(e && e->dtype == ST_DTYPE_F32 && e->ndim == 4 && e->shape[0] == 32 && e->shape[1] == 1 &&
         e->shape[2] == 3 && e->shape[3] == 3);
    T_OK(st_meta(f, "params") && strcmp(st_meta(f, "params"), "1062497") == 0);
    T_EQ_INT(st_load_scalar(f, "conv_in.weight", 4, shape, w, err, sizeof err), 0);
    T_NEAR(w[0], -0.1894615739583969, 1e-7);
    T_NEAR(w[1], -0.21240651607513428, 1e-7);
    st_close(f);
}

static void test_st_golden_all_open(void)
{
    static const char *const names[] = {
        "amdm_step.safetensors", "cdps_step.safetensors",    "cmad_objective.safetensors",
        "cnn_eval.safetensors",  "ctrl_s.safetensors",       "ctrl_s_label.safetensors",
        "mlp.safetensors",       "objective_n2.safetensors", "objective_n3.safetensors",
        "schedule.safetensors",  "unet_s.safetensors",       "unet_s_cond.safetensors"};
    int i, j;
    for (i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        SafeFile *f = open_golden(names[i]);
        if (!f) continue;
        T_OK(st_count(f) > 0);
        T_OK(st_meta_count(f) > 0);
        for (j = 0; j < st_count(f); j++) {
            const SafeEntry *e = st_entry(f, j);
            T_OK(st_find(f, e->name) == e);
        }
        st_close(f);
    }
}

/* ---------------------------------------------------------------- bad files */

/* Writes an 8-byte length (hlen, or strlen(json) when hlen < 0), json and ndata data
 * bytes, opens it, and checks that it fails with a message naming the file and
 * containing `needle`. */
static void expect_bad(const char *json, int64_t hlen, size_t ndata, const char *needle, int line)
{
    char path[512];
    size_t jn = strlen(json), i;
    unsigned char *buf = (unsigned char *)malloc(8 + jn + ndata + 1);
    uint64_t h = hlen < 0 ? (uint64_t)jn : (uint64_t)hlen;
    SafeFile *f;
    for (i = 0; i < 8; i++) buf[i] = (unsigned char)(h >> (8 * i));
    memcpy(buf + 8, json, jn);
    for (i = 0; i < ndata; i++) buf[8 + jn + i] = (unsigned char)i;
    t_tmp_path(path, sizeof path, "bad.safetensors");
    if (t_write_bytes(path, buf, 8 + jn + ndata) != 0)
        t_report(__FILE__, line, "cannot write %s", path);
    free(buf);
    err[0] = '\0';
    f = st_open(path, err, sizeof err);
    if (f) {
        t_report(__FILE__, line, "accepted a bad file (%s)", needle);
        st_close(f);
    } else if (!strstr(err, path) || !strstr(err, needle)) {
        t_report(__FILE__, line, "message \"%s\" lacks the path or \"%s\"", err, needle);
    }
    remove(path);
}

#define BAD(json, hlen, ndata, needle) expect_bad(json, hlen, ndata, needle, __LINE__)
#define T1(shape, offs) "{\"x\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static void test_st_rejects_bad_files(void)
{
    char path[512];
    /* the good file the variations start from */
    {
        SafeFile *f;
        static const char good[] = T1("[2]", "[0,8]");
        unsigned char buf[8 + sizeof good + 8];
        size_t jn = strlen(good);
        memset(buf, 0, sizeof buf);
        buf[0] = (unsigned char)jn;
        memcpy(buf + 8, good, jn);
        t_tmp_path(path, sizeof path, "good.safetensors");
        T_EQ_INT(t_write_bytes(path, buf, 8 + jn + 8), 0);
        f = st_open(path, err, sizeof err);
        T_OK(f != NULL);
        st_close(f);
        remove(path);
    }
    /* missing file, too short, header longer than the file, absurd header length */
    t_tmp_path(path, sizeof path, "does_not_exist.safetensors");
    T_OK(st_open(path, err, sizeof err) == NULL && strstr(err, path) && strstr(err, "open"));
    t_tmp_path(path, sizeof path, "short.safetensors");
    T_EQ_INT(t_write_bytes(path, "\x10\0\0", 3), 0);
    T_OK(st_open(path, err, sizeof err) == NULL && strstr(err, path) && strstr(err, "short"));
    remove(path);
    BAD(T1("[2]", "[0,8]"), 500, 8, "larger than");
    BAD(T1("[2]", "[0,8]"), INT64_C(0x7fffffffffff), 8, "limit");
    BAD("{\"x\":{\"dtype\":\"F32\",\"sha", -1, 0, "bad JSON"); /* truncated header */
    /* JSON syntax */
    BAD("", -1, 0, "bad JSON");
    BAD("[1,2]", -1, 0, "bad JSON");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", -1, 8, "bad JSON");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", -1, 8, "after");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,08]}}", -1, 8, "leading zero");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", -1, 8, "integer");
    BAD("{\"x\\q\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8, "escape");
    BAD("{\"x\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8,
        "surrogate");
    BAD("{\"x\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8, "UTF-8");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", -1, 8,
        "extra");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", -1, 8, "data_offsets");
    BAD("{\"__metadata__\":{\"a\":1},\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]}}",
        -1, 8, "not a string");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", -1, 8,
        "more than 8");
    /* semantics */
    BAD(T1("[2]", "[0,16]"), -1, 8, "outside the data area");
    BAD(T1("[2]", "[8,0]"), -1, 8, "end before");
    BAD(T1("[3]", "[0,8]"), -1, 8, "needs 12");
    BAD(T1("[-2]", "[0,8]"), -1, 8, "negative");
    BAD(T1("[2]", "[0,8]"), -1, 12, "after the last tensor");
    BAD(T1("[4611686018427387904,4611686018427387904]", "[0,8]"), -1, 8, "too large");
    /* 536870913 x 4 bytes wraps a 32-bit size_t to 4: refused by the byte count, not the
     * element count */
    BAD(T1("[536870913]", "[0,8]"), -1, 8, "too large");
    BAD("{\"x\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4, "BF16");
    BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        -1, 8, "twice");
    BAD("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", -1, 0, "twice");
}

static void test_st_writer_errors(void)
{
    char path[512], tmp[600];
    Scalar x[2] = {1, 2};
    int shape[1] = {2}, neg[1] = {-1};
    SafeWriter *w = st_writer_new();
    t_tmp_path(path, sizeof path, "werr.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_EQ_INT(st_add(w, "x", ST_DTYPE_F32, 1, shape, x), 0);
    T_EQ_INT(st_add(w, "x", ST_DTYPE_F32, 1, shape, x), -1);
    T_EQ_INT(st_add(w, "y", ST_DTYPE_F32, 1, neg, x), -1);
    T_EQ_INT(st_add(w, "z", ST_DTYPE_I64, 1, shape, x), -1);
    T_OK(st_write(w, path, err, sizeof err) < 0 && strstr(err, path) && strstr(err, "twice"));
    T_OK(!t_file_exists(path) && !t_file_exists(tmp));
    st_writer_free(w);
    /* a formatted metadata value past 511 bytes is an error naming its key */
    w = st_writer_new();
    T_EQ_INT(st_add_metaf(w, "ok", "%511d", 1), 0);
    T_EQ_INT(st_add_metaf(w, "long", "%512d", 1), -1);
    T_OK(st_write(w, path, err, sizeof err) < 0 && strstr(err, "\"long\"") &&
         strstr(err, "too long"));
    T_OK(!t_file_exists(path) && !t_file_exists(tmp));
    st_writer_free(w);
    /* a folder that does not exist: error, nothing left behind */
    w = st_writer_new();
    st_add(w, "x", ST_DTYPE_F32, 1, shape, x);
    snprintf(path, sizeof path, "%s", "no_such_dir_cmad/x.safetensors");
    T_OK(st_write(w, path, err, sizeof err) < 0 && strstr(err, path));
    st_writer_free(w);
}

const TestCase safetensors_tests[] = {
    {"round_trip", test_st_round_trip},           {"exact_bytes", test_st_exact_bytes},
    {"golden_schedule", test_st_golden_schedule}, {"golden_unet", test_st_golden_unet},
    {"golden_all_open", test_st_golden_all_open}, {"rejects_bad_files", test_st_rejects_bad_files},
    {"writer_errors", test_st_writer_errors},     {NULL, NULL},
};
