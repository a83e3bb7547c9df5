/* seeds.c - writes the seed corpus of the fuzz harnesses (fuzz/run.sh runs it).
 *
 * Usage: seeds DIR, where DIR/{safetensors,ckpt,idx,config,args,sha256,npy}/ exist.  Each folder
 * gets a few small valid inputs (and a few near misses) in the input format of its harness:
 *   safetensors  every dtype, a scalar, an empty tensor, metadata with escapes; an empty
 *                header; a shape whose bytes overflow a 32-bit size_t
 *   ckpt         the tiny UNet (FUZZ_TINY_UNET) as training and as weights-only checkpoint,
 *                and variants one edit away from each refusal of ckpt_load (a tensor
 *                dropped, retyped or flattened)
 *   idx          [k, LE32][images k bytes][labels]: a 2-image MNIST pair, an empty pair,
 *                a 4-d file, a gzip magic
 *   config       the config strings of unet-s, unet-s-cond, ctrl-s, ctrl-s-label, tiny
 *   args         NUL-separated command lines
 *   sha256       a few byte strings
 *   npy          our writer's (2, 3) and 1-d files; version 2 float64, big-endian, 0-d. */
#include "fuzz_util.h"

#include <stdint.h>

#include "../data/npy.h"
#include "../nn/checkpoint.h"
#include "../nn/unet.h"
#include "../tensor/safetensors.h"

static const char *dir;

static void put(const char *sub, const char *name, const void *bytes, size_t n)
{
    char path[FUZZ_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    fuzz_write(path, (const unsigned char *)bytes, n);
}

static void put_str(const char *sub, const char *name, const char *s)
{
    put(sub, name, s, strlen(s));
}

/* ---------------------------------------------------------------- safetensors */

/* safetensors/<name>: the 8-byte length, the JSON header, then ndata bytes of data. */
static void put_header(const char *name, const char *json, size_t ndata)
{
    unsigned char buf[1024];
    size_t i, hl = strlen(json);
    FUZZ_CHECK(8 + hl + ndata <= sizeof buf, "seed %s too long", name);
    for (i = 0; i < 8; i++) buf[i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + 8, json, hl);
    for (i = 0; i < ndata; i++) buf[8 + hl + i] = (unsigned char)(i * 37 + 200);
    put("safetensors", name, buf, 8 + hl + ndata);
}

static void seed_safetensors(void)
{
    char path[FUZZ_PATH_MAX], err[512];
    SafeWriter *w = st_writer_new();
    Scalar a[6] = {1.5f, -2.25f, 0, 3e-8f, -1e30f, 7}, s0 = 42;
    double b[4] = {0.1, -1e-300, 12345.678901234567, 1.0 / 3.0};
    int64_t iv[3] = {0, -1, INT64_MIN};
    uint64_t uv[2] = {UINT64_MAX, 0x0123456789abcdefULL};
    int sa[2] = {2, 3}, sb[1] = {4}, sz[2] = {0, 5}, si[1] = {3}, su[1] = {2};
    /* I32 (no writer for it), escapes incl. a surrogate pair, white space, out-of-order keys */
    static const char hdr[] = "{ \"i\\u00e9\\/\\ud83d\\ude00\" : "
                              "{\"shape\":[2],\"dtype\":\"I32\",\"data_offsets\":[0,8]},"
                              "\n\t\"__metadata__\":{\"k\\n\":\"v\\\"\\\\\\b\\f\\r\\t\"} }";

    st_add(w, "a", ST_DTYPE_F32, 2, sa, a);
    st_add_f64(w, "b", 1, sb, b);
    st_add(w, "scalar", ST_DTYPE_F64, 0, NULL, &s0);
    st_add(w, "empty", ST_DTYPE_F32, 2, sz, a);
    st_add_i64(w, "step.i", 1, si, iv);
    st_add_u64(w, "rng.s", 1, su, uv);
    st_add_meta(w, "format", "cmad-c/1");
    st_add_meta(w, "model", "unet");
    st_add_meta(w, "quote\" back\\ nl\n utf8 \xc3\xa9", "x");
    snprintf(path, sizeof path, "%s/safetensors/all.safetensors", dir);
    FUZZ_CHECK(st_write(w, path, err, sizeof err) == 0, "%s", err);
    st_writer_free(w);

    put_header("i32.safetensors", hdr, 8);
    put_header("empty.safetensors", "{}      ", 0);
    put_header("huge-shape.safetensors",
               "{\"h\":{\"dtype\":\"F64\",\"shape\":[536870913],\"data_offsets\":[0,8]}}", 8);
}

/* ---------------------------------------------------------------- checkpoints */

/* The one change a checkpoint variant makes to its victims (the tensor of that name; every
 * tensor whose name starts with it when it ends in '.'; every tensor when it is ""): drop
 * them, store them as F64, as I64, or flattened to one dimension. */
typedef enum Edit { EDIT_DROP, EDIT_F64, EDIT_I64, EDIT_FLAT } Edit;

/* Copies the checkpoint ckpt/<src> to ckpt/<dst> (tensors in order, then the metadata) with
 * the edit applied, so that each refusal of ckpt_load has a seed one step away. */
static void ckpt_variant(const char *src, const char *dst, const char *victim, Edit edit)
{
    char path[FUZZ_PATH_MAX], err[512];
    SafeFile *f;
    SafeWriter *w = st_writer_new();
    int i, j;
    snprintf(path, sizeof path, "%s/ckpt/%s", dir, src);
    f = st_open(path, err, sizeof err);
    FUZZ_CHECK(f != NULL, "%s", err);
    for (i = 0; i < st_count(f); i++) {
        const SafeEntry *e = st_entry(f, i);
        size_t vn = strlen(victim);
        int hit = vn == 0 || (victim[vn - 1] == '.' ? !strncmp(e->name, victim, vn)
                                                    : !strcmp(e->name, victim));
        int ndim = e->ndim, shape[ST_MAX_DIM];
        size_t n = e->numel ? e->numel : 1;
        double *d = (double *)malloc(n * sizeof *d);
        int64_t *iv = (int64_t *)malloc(n * sizeof *iv);
        uint64_t *uv = (uint64_t *)malloc(n * sizeof *uv);
        FUZZ_CHECK(d && iv && uv, "out of memory");
        for (j = 0; j < ndim; j++) shape[j] = (int)e->shape[j];
        if (hit && edit == EDIT_FLAT) {
            ndim = 1;
            shape[0] = (int)e->numel;
        }
        /* every tensor as double and as int64 (U64 words halved to fit) */
        if (e->dtype == ST_DTYPE_U64) {
            st_read_u64(f, e, uv, e->numel, err, sizeof err);
            for (j = 0; j < (int)e->numel; j++) iv[j] = (int64_t)(uv[j] >> 1);
        } else if (e->dtype == ST_DTYPE_I64 || e->dtype == ST_DTYPE_I32) {
            st_read_i64(f, e, iv, e->numel, err, sizeof err);
        } else {
            st_read_f64(f, e, d, e->numel, err, sizeof err);
            for (j = 0; j < (int)e->numel; j++) iv[j] = (int64_t)d[j];
        }
        if (e->dtype != ST_DTYPE_F32 && e->dtype != ST_DTYPE_F64)
            for (j = 0; j < (int)e->numel; j++) d[j] = (double)iv[j];
        if (hit && edit == EDIT_DROP) {
            /* left out */
        } else if (hit && edit == EDIT_F64) {
            st_add_f64(w, e->name, ndim, shape, d);
        } else if (hit && edit == EDIT_I64) {
            st_add_i64(w, e->name, ndim, shape, iv);
        } else if (e->dtype == ST_DTYPE_U64) {
            st_add_u64(w, e->name, ndim, shape, uv);
        } else if (e->dtype == ST_DTYPE_I64 || e->dtype == ST_DTYPE_I32) {
            st_add_i64(w, e->name, ndim, shape, iv);
        } else if (e->dtype == ST_DTYPE_F64) {
            st_add_f64(w, e->name, ndim, shape, d);
        } else {
            Scalar *sv = (Scalar *)malloc(n * sizeof *sv);
            FUZZ_CHECK(sv != NULL, "out of memory");
            for (j = 0; j < (int)e->numel; j++) sv[j] = (Scalar)d[j];
            st_add(w, e->name, ST_DTYPE_F32, ndim, shape, sv);
            free(sv);
        }
        free(d);
        free(iv);
        free(uv);
    }
    for (i = 0; i < st_meta_count(f); i++)
        st_add_meta(w, st_meta_key(f, i), st_meta(f, st_meta_key(f, i)));
    st_close(f);
    snprintf(path, sizeof path, "%s/ckpt/%s", dir, dst);
    FUZZ_CHECK(st_write(w, path, err, sizeof err) == 0, "%s", err);
    st_writer_free(w);
}

static void seed_ckpt(void)
{
    static const char *const meta[] = {"agents", "2", "rho", "1.0", NULL};
    static const char *const train_meta[] = {
        "seed", "1", "train_seconds", "12.5", "train", "cond=0;stratified-t=0;batch=64;lr=0.001",
        NULL};
    char path[FUZZ_PATH_MAX], err[512];
    UNetConfig cfg;
    UNet net;
    Adam opt = adam_default(1e-3);
    Rng rng;
    TrainState ts;
    size_t i;
    FUZZ_CHECK(unet_config_parse(FUZZ_TINY_UNET, &cfg, err, sizeof err) == 0, "%s", err);
    unet_build(&net, &cfg);
    rng_seed(&rng, 7, 0);
    params_initialise(&net.params, &rng);
    for (i = 0; i < net.params.total; i++) {
        net.params.m[i] = (Scalar)(0.01 * (double)i);
        net.params.v[i] = (Scalar)(0.001 * (double)i);
    }
    (void)rng_normal(&rng); /* a cached spare normal in the state */
    opt.step = 12;
    ts.opt = &opt;
    ts.rng = &rng;
    ts.step = 34;
    snprintf(path, sizeof path, "%s/ckpt/tiny-train.safetensors", dir);
    FUZZ_CHECK(
        ckpt_save(path, &net.params, "unet", FUZZ_TINY_UNET, &ts, train_meta, err, sizeof err) == 0,
        "%s", err);
    snprintf(path, sizeof path, "%s/ckpt/tiny-weights.safetensors", dir);
    FUZZ_CHECK(ckpt_save(path, &net.params, "unet", FUZZ_TINY_UNET, NULL, meta, err, sizeof err) ==
                   0,
               "%s", err);
    snprintf(path, sizeof path, "%s/ckpt/tiny-as-mlp.safetensors", dir);
    FUZZ_CHECK(ckpt_save(path, &net.params, "mlp", "", NULL, NULL, err, sizeof err) == 0, "%s",
               err);
    unet_free(&net);

    {
        /* source, variant, tensor (a prefix for EDIT_DROP), edit */
        static const struct {
            const char *src, *dst, *name;
            Edit edit;
        } v[] = {
            {"tiny-weights.safetensors", "no-ema.safetensors", "ema.", EDIT_DROP},
            {"tiny-weights.safetensors", "flat-weight.safetensors", "conv_in.weight", EDIT_FLAT},
            {"tiny-weights.safetensors", "flat-ema.safetensors", "ema.conv_in.weight", EDIT_FLAT},
            {"tiny-weights.safetensors", "i64-weight.safetensors", "conv_out.bias", EDIT_I64},
            {"tiny-train.safetensors", "no-adam-v.safetensors", "adam.v.conv_out.bias", EDIT_DROP},
            {"tiny-train.safetensors", "no-step.safetensors", "train.step", EDIT_DROP},
            {"tiny-train.safetensors", "f64-step.safetensors", "train.step", EDIT_F64},
            {"tiny-train.safetensors", "no-adam-step.safetensors", "train.adam_step", EDIT_DROP},
            {"tiny-train.safetensors", "no-spare-flag.safetensors", "train.rng_has_spare",
             EDIT_DROP},
            {"tiny-train.safetensors", "no-rng.safetensors", "train.rng", EDIT_DROP},
            {"tiny-train.safetensors", "i64-rng.safetensors", "train.rng", EDIT_I64},
            {"tiny-train.safetensors", "no-spare.safetensors", "train.rng_spare", EDIT_DROP},
            {"tiny-train.safetensors", "i64-spare.safetensors", "train.rng_spare", EDIT_I64},
            {"tiny-train.safetensors", "f64-all.safetensors", "", EDIT_F64},
        };
        size_t i;
        for (i = 0; i < sizeof v / sizeof v[0]; i++)
            ckpt_variant(v[i].src, v[i].dst, v[i].name, v[i].edit);
    }
}

/* ---------------------------------------------------------------- IDX */

/* An IDX file of unsigned bytes: header of ndim BE32 dims, then prod(dims) bytes (i * 7). */
static size_t idx_file(unsigned char *o, int ndim, const unsigned long *dims, int label_mod)
{
    size_t n = 1, k = 0, i;
    int d;
    o[k++] = 0;
    o[k++] = 0;
    o[k++] = 8;
    o[k++] = (unsigned char)ndim;
    for (d = 0; d < ndim; d++) {
        o[k++] = (unsigned char)(dims[d] >> 24);
        o[k++] = (unsigned char)(dims[d] >> 16);
        o[k++] = (unsigned char)(dims[d] >> 8);
        o[k++] = (unsigned char)dims[d];
        n *= dims[d];
    }
    for (i = 0; i < n; i++) o[k++] = (unsigned char)(label_mod ? i % 10 : i * 7);
    return k;
}

/* [k LE32][images][labels] */
static void put_pair(const char *name, unsigned long count, int label_ndim)
{
    static unsigned char buf[4 + 16 + 2 * 784 + 64];
    unsigned long di[3] = {0, 28, 28}, dl[3] = {0, 2, 2};
    size_t k;
    di[0] = dl[0] = count;
    k = idx_file(buf + 4, 3, di, 0);
    buf[0] = (unsigned char)k;
    buf[1] = (unsigned char)(k >> 8);
    buf[2] = buf[3] = 0;
    k += 4;
    k += idx_file(buf + k, label_ndim, dl, 1);
    put("idx", name, buf, k);
}

static void seed_idx(void)
{
    static const unsigned char gz[8] = {4, 0, 0, 0, 0x1f, 0x8b, 8, 0}; /* k = 4 */
    unsigned char buf[64];
    unsigned long d4[4] = {2, 1, 2, 3};
    size_t k;
    put_pair("mnist2", 2, 1);
    put_pair("mnist0", 0, 1);
    put_pair("labels2d", 2, 2);
    k = idx_file(buf + 4, 4, d4, 0);
    buf[0] = (unsigned char)k;
    buf[1] = buf[2] = buf[3] = 0;
    put("idx", "dims4", buf, k + 4);
    put("idx", "gzip", gz, sizeof gz);
}

/* ---------------------------------------------------------------- strings */

static void seed_config(void)
{
    static const char *names[] = {"unet-s", "unet-s-cond", "ctrl-s", "ctrl-s-label"};
    char text[512];
    int i;
    for (i = 0; i < 4; i++) {
        UNetConfig c = i < 2 ? unet_s_config(i) : ctrl_s_config(i - 2);
        unet_config_str(&c, text, sizeof text);
        put_str("config", names[i], text);
    }
    put_str("config", "tiny", FUZZ_TINY_UNET);
}

static void seed_args(void)
{
    static const char a1[] = "--steps\0"
                             "100\0--lr\0"
                             "0.5\0--out\0x.safetensors\0--flag";
    static const char a2[] = "--big\0-123456789012\0--any\0"
                             "1e-300\0--seed\0-7";
    static const char a3[] = "--steps\0"
                             "0x10\0cmad\0cdps-per-sample\0split";
    static const char a4[] = "--lr\0nan\0--help";
    put("args", "a1", a1, sizeof a1 - 1);
    put("args", "a2", a2, sizeof a2 - 1);
    put("args", "a3", a3, sizeof a3 - 1);
    put("args", "a4", a4, sizeof a4 - 1);
}

static void seed_sha256(void)
{
    unsigned char b[200];
    size_t i;
    for (i = 0; i < sizeof b; i++) b[i] = (unsigned char)(i * 31 + 5);
    put_str("sha256", "abc", "abc");
    put("sha256", "empty", b, 0);
    put("sha256", "b200", b, sizeof b);
}

/* A version-ver .npy of header text dict (padded to 64 with its '\n') and data bytes. */
static void npy_seed(const char *name, int ver, const char *dict, const void *bytes, size_t nd)
{
    unsigned char buf[512];
    size_t pre = ver == 1 ? 10 : 12, k = strlen(dict), total = (pre + k + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)ver;
    buf[7] = 0;
    buf[8] = (unsigned char)((total - pre) & 0xff);
    buf[9] = (unsigned char)((total - pre) >> 8);
    buf[10] = buf[11] = 0; /* version 1: the first two header bytes, overwritten below */
    memcpy(buf + pre, dict, k);
    memset(buf + pre + k, ' ', total - pre - k - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, bytes, nd);
    put("npy", name, buf, total + nd);
}

static void seed_npy(void)
{
    static const unsigned char f64[16] = {0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 4, 0xc0};
    static const unsigned char be[4] = {0x3f, 0x80, 0, 0};
    char path[FUZZ_PATH_MAX], err[256];
    int s2[2] = {2, 3}, s1[1] = {4};
    Scalar x[6] = {0, 1, -2, 0.5f, 1e-3f, 3};
    snprintf(path, sizeof path, "%s/npy/ours23", dir);
    if (npy_write_f32(path, 2, s2, x, err, sizeof err)) fprintf(stderr, "%s\n", err);
    snprintf(path, sizeof path, "%s/npy/ours4", dir);
    if (npy_write_f32(path, 1, s1, x, err, sizeof err)) fprintf(stderr, "%s\n", err);
    npy_seed("v2f8", 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f64, 16);
    npy_seed("be0d", 1, "{\"descr\": \">f4\", \"shape\": (), \"fortran_order\": False}", be, 4);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    seed_safetensors();
    seed_ckpt();
    seed_idx();
    seed_config();
    seed_args();
    seed_sha256();
    seed_npy();
    return 0;
}
