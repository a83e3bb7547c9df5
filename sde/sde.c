/* sde.c - schedules, score, Tweedie, DSM loss (see sde.h). */
#include "sde.h"

#include <math.h>

#include "../autograd/ops.h"

Sde sde_vp(void)
{
    Sde s;
    s.kind = SDE_VP;
    s.beta_min = 0.1;
    s.beta_max = 20.0;
    s.sigma = 25.0;
    s.eps = 1e-3;
    return s;
}

Sde sde_ve(void)
{
    Sde s = sde_vp();
    s.kind = SDE_VE;
    return s;
}

double sde_beta(const Sde *s, double t) { return s->beta_min + t * (s->beta_max - s->beta_min); }

double sde_g(const Sde *s, double t)
{
    return s->kind == SDE_VP ? sqrt(sde_beta(s, t)) : pow(s->sigma, t);
}

static double log_a(const Sde *s, double t)
{
    return -0.25 * (s->beta_max - s->beta_min) * t * t - 0.5 * s->beta_min * t;
}

double sde_a(const Sde *s, double t) { return s->kind == SDE_VP ? exp(log_a(s, t)) : 1.0; }

double sde_std(const Sde *s, double t)
{
    if (s->kind == SDE_VP) return sqrt(-expm1(2.0 * log_a(s, t)));
    return sqrt((pow(s->sigma, 2.0 * t) - 1.0) / (2.0 * log(s->sigma)));
}

double sde_fcoef(const Sde *s, double t) { return s->kind == SDE_VP ? -0.5 * sde_beta(s, t) : 0.0; }

double sde_grid_t(const Sde *s, int K, int k)
{
    return 1.0 - (double)k * (1.0 - s->eps) / (double)(K - 1);
}

static double inv_std(const Sde *s, double t) { return 1.0 / sde_std(s, t); }
static double var_of(const Sde *s, double t)
{
    double v = sde_std(s, t);
    return v * v;
}
static double inv_a(const Sde *s, double t) { return 1.0 / sde_a(s, t); }

Var *sde_per_sample(Graph *g, const Scalar *t, int n, double (*f)(const Sde *, double),
                    const Sde *s)
{
    int shape[4], i;
    Var *v;
    shape[0] = n;
    shape[1] = shape[2] = shape[3] = 1;
    v = ag_new(g, 4, shape, 0, "per-sample");
    for (i = 0; i < n; i++) v->val.data[i] = (Scalar)f(s, (double)t[i]);
    return v;
}

Var *sde_score(Graph *g, const Sde *s, const UNet *net, Var *x, const Scalar *t, const int *labels)
{
    Var *out = unet_forward(g, net, x, t, labels);
    return ag_mul(g, out, sde_per_sample(g, t, x->val.shape[0], inv_std, s));
}

Var *sde_tweedie(Graph *g, const Sde *s, Var *x, Var *score, const Scalar *t)
{
    int n = x->val.shape[0];
    Var *u = ag_add(g, x, ag_mul(g, score, sde_per_sample(g, t, n, var_of, s)));
    return ag_mul(g, u, sde_per_sample(g, t, n, inv_a, s));
}

double sde_dsm_time(Rng *rng, int i, int n, int stratified)
{
    double u = rng_uniform(rng);
    if (stratified) u = ((double)i + u) / (double)n;
    return 1e-5 + (1.0 - 1e-5) * u;
}

Var *sde_dsm_loss(Graph *g, const Sde *s, const UNet *net, Var *x0, const int *labels, Rng *rng,
                  int stratified)
{
    int N = x0->val.shape[0], i;
    size_t per = x0->val.n / (size_t)N, j;
    Scalar *t = (Scalar *)arena_alloc(g->arena, sizeof(Scalar) * (size_t)N);
    Var *z = ag_new(g, x0->val.ndim, x0->val.shape, 0, "z");
    Var *xt = ag_new(g, x0->val.ndim, x0->val.shape, 0, "x_t");
    Var *out, *r;
    for (i = 0; i < N; i++) {
        double ti = sde_dsm_time(rng, i, N, stratified);
        double a = sde_a(s, ti), sd = sde_std(s, ti);
        t[i] = (Scalar)ti;
        for (j = 0; j < per; j++) {
            size_t k = (size_t)i * per + j;
            z->val.data[k] = (Scalar)rng_normal(rng);
            xt->val.data[k] = (Scalar)(a * (double)x0->val.data[k] + sd * (double)z->val.data[k]);
        }
    }
    out = unet_forward(g, net, xt, t, labels); /* s(t) score = conv_out */
    r = ag_add(g, out, z);
    return ag_scale(g, ag_sum(g, ag_mul(g, r, r)), (Scalar)(1.0 / N));
}
