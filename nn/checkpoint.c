/* checkpoint.c - save and load the training state (see checkpoint.h). */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/safetensors.h"

#define CKPT_FORMAT "cmad-c/1"

/* Weights, EMA and Adam's moments in the precision they are computed in: F32, or F64 in the
 * double build, whose resumed run would otherwise restart from rounded values (any build
 * reads either). */
#ifdef CMAD_DOUBLE
#define CKPT_DTYPE ST_DTYPE_F64
#else
#define CKPT_DTYPE ST_DTYPE_F32
#endif

static void prefixed(char *buf, size_t cap, const char *prefix, const char *name)
{
    snprintf(buf, cap, "%s%s", prefix, name);
}

int ckpt_save(const char *path, const Params *p, const char *model, const char *config,
              const TrainState *ts, const char *const *meta, char *err, size_t errcap)
{
    SafeWriter *w = st_writer_new();
    char nm[PARAM_NAME_MAX + 16];
    int i, rc;
    for (i = 0; i < p->count; i++)
        st_add(w, p->info[i].name, CKPT_DTYPE, p->info[i].ndim, p->info[i].shape,
               p->data + p->info[i].offset);
    for (i = 0; i < p->count; i++) {
        prefixed(nm, sizeof nm, "ema.", p->info[i].name);
        st_add(w, nm, CKPT_DTYPE, p->info[i].ndim, p->info[i].shape, p->ema + p->info[i].offset);
    }
    if (ts && ts->opt) {
        int one[1] = {1}, four[1] = {4};
        int64_t step = ts->step, has = ts->rng ? ts->rng->has_spare : 0;
        uint64_t words[4] = {0, 0, 0, 0};
        double spare = ts->rng ? ts->rng->spare : 0.0;
        for (i = 0; i < p->count; i++) {
            prefixed(nm, sizeof nm, "adam.m.", p->info[i].name);
            st_add(w, nm, CKPT_DTYPE, p->info[i].ndim, p->info[i].shape, p->m + p->info[i].offset);
            prefixed(nm, sizeof nm, "adam.v.", p->info[i].name);
            st_add(w, nm, CKPT_DTYPE, p->info[i].ndim, p->info[i].shape, p->v + p->info[i].offset);
        }
        if (ts->rng) memcpy(words, ts->rng->s, sizeof words);
        st_add_i64(w, "train.step", 1, one, &step);
        st_add_i64(w, "train.adam_step", 1, one, (int64_t[]){ts->opt->step});
        st_add_u64(w, "train.rng", 1, four, words);
        st_add_f64(w, "train.rng_spare", 1, one, &spare);
        st_add_i64(w, "train.rng_has_spare", 1, one, &has);
        st_add_metaf(w, "adam", "lr=%.17g;beta1=%.17g;beta2=%.17g;eps=%.17g;wd=%.17g", ts->opt->lr,
                     ts->opt->beta1, ts->opt->beta2, ts->opt->eps, ts->opt->weight_decay);
    }
    st_add_meta(w, "format", CKPT_FORMAT);
    st_add_meta(w, "model", model);
    st_add_meta(w, "config", config ? config : "");
    st_add_metaf(w, "params", "%lu", (unsigned long)p->total);
    for (i = 0; meta && meta[i] && meta[i + 1]; i += 2) st_add_meta(w, meta[i], meta[i + 1]);
    rc = st_write(w, path, err, errcap);
    st_writer_free(w);
    return rc;
}

int ckpt_peek(const char *path, char *model, size_t mcap, char *config, size_t ccap, size_t *values,
              char *err, size_t errcap)
{
    SafeFile *f = st_open(path, err, errcap);
    const char *m, *c, *fmt;
    if (!f) return -1;
    fmt = st_meta(f, "format");
    m = st_meta(f, "model");
    c = st_meta(f, "config");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0 || !m || !c) {
        snprintf(err, errcap, "%s: not a cmad-c checkpoint (metadata format/model/config missing)",
                 path);
        st_close(f);
        return -1;
    }
    snprintf(model, mcap, "%s", m);
    snprintf(config, ccap, "%s", c);
    if (values) *values = st_total_numel(f);
    st_close(f);
    return 0;
}

/* 1 when `name` is one of the tensors a checkpoint of p may hold. */
static int known_tensor(const Params *p, const char *name)
{
    static const char *const train[] = {"train.step", "train.adam_step", "train.rng",
                                        "train.rng_spare", "train.rng_has_spare"};
    static const char *const prefixes[] = {"ema.", "adam.m.", "adam.v."};
    size_t k;
    if (params_find(p, name) >= 0) return 1;
    for (k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
        size_t n = strlen(prefixes[k]);
        if (!strncmp(name, prefixes[k], n) && params_find(p, name + n) >= 0) return 1;
    }
    for (k = 0; k < sizeof train / sizeof train[0]; k++)
        if (!strcmp(name, train[k])) return 1;
    return 0;
}

/* One integer of the training state, refused outside [0, hi] (hi fits a long everywhere). */
static int read_int(SafeFile *f, const char *name, int64_t hi, int64_t *dst, char *err,
                    size_t errcap)
{
    const SafeEntry *e = st_find(f, name);
    if (!e || e->numel != 1) {
        snprintf(err, errcap, "%s: training state tensor '%s' is missing", st_path(f), name);
        return -1;
    }
    if (st_read_i64(f, e, dst, 1, err, errcap)) return -1;
    if (*dst < 0 || *dst > hi) {
        snprintf(err, errcap, "%s: training state tensor '%s' holds %lld, outside [0, %lld]",
                 st_path(f), name, (long long)*dst, (long long)hi);
        return -1;
    }
    return 0;
}

int ckpt_load(const char *path, Params *p, const char *model, TrainState *ts, char *err,
              size_t errcap)
{
    SafeFile *f = st_open(path, err, errcap);
    const char *m, *fmt;
    char nm[PARAM_NAME_MAX + 16];
    int i, rc = -1;
    if (!f) return -1;
    fmt = st_meta(f, "format");
    m = st_meta(f, "model");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0 || !m) {
        snprintf(err, errcap, "%s: not a cmad-c checkpoint (metadata 'format' is not %s)", path,
                 CKPT_FORMAT);
        goto done;
    }
    if (strcmp(m, model) != 0) {
        snprintf(err, errcap, "%s: holds a '%s' model, expected '%s'", path, m, model);
        goto done;
    }
    for (i = 0; i < st_count(f); i++)
        if (!known_tensor(p, st_entry(f, i)->name)) {
            snprintf(err, errcap, "%s: tensor '%s' does not belong to a %s model", path,
                     st_entry(f, i)->name, model);
            goto done;
        }
    for (i = 0; i < p->count; i++) {
        const ParamInfo *pi = &p->info[i];
        if (st_load_scalar(f, pi->name, pi->ndim, pi->shape, p->data + pi->offset, err, errcap))
            goto done;
        prefixed(nm, sizeof nm, "ema.", pi->name);
        if (st_find(f, nm)) {
            if (st_load_scalar(f, nm, pi->ndim, pi->shape, p->ema + pi->offset, err, errcap))
                goto done;
        } else {
            memcpy(p->ema + pi->offset, p->data + pi->offset, pi->n * sizeof(Scalar));
        }
    }
    if (ts && ts->opt) {
        int64_t step, astep, has;
        const SafeEntry *e;
        for (i = 0; i < p->count; i++) {
            const ParamInfo *pi = &p->info[i];
            prefixed(nm, sizeof nm, "adam.m.", pi->name);
            if (st_load_scalar(f, nm, pi->ndim, pi->shape, p->m + pi->offset, err, errcap))
                goto done;
            prefixed(nm, sizeof nm, "adam.v.", pi->name);
            if (st_load_scalar(f, nm, pi->ndim, pi->shape, p->v + pi->offset, err, errcap))
                goto done;
        }
        if (read_int(f, "train.step", 2147483647, &step, err, errcap) ||
            read_int(f, "train.adam_step", 2147483647, &astep, err, errcap) ||
            read_int(f, "train.rng_has_spare", 1, &has, err, errcap))
            goto done;
        ts->step = (long)step;
        ts->opt->step = (long)astep;
        if (ts->rng) {
            e = st_find(f, "train.rng");
            if (!e || e->numel != 4 || st_read_u64(f, e, ts->rng->s, 4, err, errcap)) {
                if (!e || e->numel != 4)
                    snprintf(err, errcap, "%s: training state tensor 'train.rng' is missing", path);
                goto done;
            }
            if ((ts->rng->s[0] | ts->rng->s[1] | ts->rng->s[2] | ts->rng->s[3]) == 0) {
                snprintf(err, errcap, "%s: training state tensor 'train.rng' is all zeros", path);
                goto done;
            }
            e = st_find(f, "train.rng_spare");
            if (!e || e->numel != 1 || st_read_f64(f, e, &ts->rng->spare, 1, err, errcap)) {
                if (!e || e->numel != 1)
                    snprintf(err, errcap, "%s: training state tensor 'train.rng_spare' is missing",
                             path);
                goto done;
            }
            ts->rng->has_spare = has != 0;
        }
    }
    rc = 0;
done:
    st_close(f);
    return rc;
}

/* The value of `key` in a recipe string into buf ("(none)" when absent), with bytes
 * outside printable ASCII shown as '?' so that a message stays one line. */
static void recipe_value(const char *recipe, const char *key, char *buf, size_t cap)
{
    size_t kl = strlen(key), i;
    const char *s = recipe;
    snprintf(buf, cap, "(none)");
    while (*s) {
        const char *end = strchr(s, ';');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len > kl && !strncmp(s, key, kl) && s[kl] == '=') {
            snprintf(buf, cap, "%.*s", (int)(len - kl - 1), s + kl + 1);
            break;
        }
        s += len + (end != NULL);
    }
    for (i = 0; buf[i]; i++)
        if (buf[i] < 32 || buf[i] > 126) buf[i] = '?';
}

int ckpt_recipe_diff(const char *there, const char *here, char *err, size_t errcap)
{
    const char *pass[2];
    int k;
    pass[0] = there; /* first, so that a malformed record is called so */
    pass[1] = here;
    for (k = 0; k < 2; k++) {
        const char *s = pass[k];
        while (*s) {
            const char *end = strchr(s, ';'), *eq = strchr(s, '=');
            size_t len = end ? (size_t)(end - s) : strlen(s), i;
            char key[64], a[96], b[96];
            if (!eq || eq > s + len || eq == s || (size_t)(eq - s) >= sizeof key) {
                snprintf(err, errcap, "its recorded options are malformed");
                return -1;
            }
            snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
            recipe_value(there, key, a, sizeof a);
            recipe_value(here, key, b, sizeof b);
            if (strcmp(a, b) != 0) {
                for (i = 0; key[i]; i++)
                    if (key[i] < 32 || key[i] > 126) key[i] = '?';
                snprintf(err, errcap, "--%s was %s there, %s here", key, a, b);
                return -1;
            }
            s += len + (end != NULL);
        }
    }
    if (strcmp(there, here) != 0) { /* a repeated key, or a difference past the buffers */
        snprintf(err, errcap, "its recorded options differ from these in a long or repeated value");
        return -1;
    }
    return 0;
}
