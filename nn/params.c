/* params.c - flat parameter storage (see params.h). */
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void params_init(Params *p)
{
    memset(p, 0, sizeof *p);
    p->trainable = 1;
}

void params_free(Params *p)
{
    free(p->info);
    free(p->data);
    free(p->grad);
    free(p->m);
    free(p->v);
    free(p->ema);
    memset(p, 0, sizeof *p);
}

int params_add(Params *p, const char *prefix, const char *suffix, int ndim, const int *shape,
               ParamInit init, int fan_in)
{
    ParamInfo *pi;
    int d;
    CHECK(p->data == NULL, "params_add after params_finalize");
    if (p->count == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        ParamInfo *grown = (ParamInfo *)realloc(p->info, sizeof(ParamInfo) * (size_t)cap);
        CHECK(grown != NULL, "out of memory declaring parameters");
        p->info = grown;
        p->cap = cap;
    }
    pi = &p->info[p->count];
    memset(pi, 0, sizeof *pi);
    if (prefix && *prefix)
        d = snprintf(pi->name, sizeof pi->name, "%s.%s", prefix, suffix);
    else
        d = snprintf(pi->name, sizeof pi->name, "%s", suffix);
    CHECK(d > 0 && d < (int)sizeof pi->name, "parameter name too long: %s.%s", prefix, suffix);
    pi->ndim = ndim;
    for (d = 0; d < TENSOR_MAX_DIM; d++) pi->shape[d] = d < ndim ? shape[d] : 1;
    pi->n = shape_numel(ndim, shape);
    pi->offset = p->total;
    pi->init = init;
    pi->fan_in = fan_in;
    p->total += pi->n;
    return p->count++;
}

void params_finalize(Params *p)
{
    size_t n = p->total ? p->total : 1;
    p->data = (Scalar *)xcalloc(n, sizeof(Scalar));
    p->grad = (Scalar *)xcalloc(n, sizeof(Scalar));
    p->m = (Scalar *)xcalloc(n, sizeof(Scalar));
    p->v = (Scalar *)xcalloc(n, sizeof(Scalar));
    p->ema = (Scalar *)xcalloc(n, sizeof(Scalar));
}

void params_initialise(Params *p, Rng *rng)
{
    int i;
    size_t j;
    for (i = 0; i < p->count; i++) {
        const ParamInfo *pi = &p->info[i];
        Scalar *x = p->data + pi->offset;
        double bound = pi->fan_in > 0 ? 1.0 / sqrt((double)pi->fan_in) : 0.0;
        for (j = 0; j < pi->n; j++) {
            switch (pi->init) {
            case INIT_UNIFORM_FAN_IN:
                x[j] = (Scalar)(bound * (2.0 * rng_uniform(rng) - 1.0));
                break;
            case INIT_NORMAL: x[j] = (Scalar)rng_normal(rng); break;
            case INIT_ONES: x[j] = 1; break;
            default: x[j] = 0; break;
            }
        }
    }
    memcpy(p->ema, p->data, p->total * sizeof(Scalar));
    memset(p->m, 0, p->total * sizeof(Scalar));
    memset(p->v, 0, p->total * sizeof(Scalar));
    memset(p->grad, 0, p->total * sizeof(Scalar));
}

int params_find(const Params *p, const char *name)
{
    int i;
    for (i = 0; i < p->count; i++)
        if (!strcmp(p->info[i].name, name)) return i;
    return -1;
}

Scalar *params_data(const Params *p, int idx) { return p->data + p->info[idx].offset; }

Var *params_leaf(Graph *g, const Params *p, int idx)
{
    const ParamInfo *pi = &p->info[idx];
    return ag_leaf(g, p->data + pi->offset, p->trainable ? p->grad + pi->offset : NULL,
                   p->trainable, pi->ndim, pi->shape, pi->name);
}

void params_use_ema(Params *p) { memcpy(p->data, p->ema, p->total * sizeof(Scalar)); }

void params_zero_grad(Params *p) { memset(p->grad, 0, p->total * sizeof(Scalar)); }

double params_grad_norm(const Params *p)
{
    double s = 0.0;
    size_t i;
    for (i = 0; i < p->total; i++) s += (double)p->grad[i] * (double)p->grad[i];
    return sqrt(s);
}
