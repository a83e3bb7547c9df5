/* sampler.c - reverse-time samplers: Euler-Maruyama on the reverse SDE, the same with a
 * Langevin corrector before each step (PC), and Heun on the probability-flow ODE.  One
 * loop, the scheme picked per step.  Sample j draws its initial state and its Brownian
 * increments from its own stream (seed, first_index + j), and the corrector's noise from
 * stream (seed, SDE_PC_STREAM + first_index + j), so a sample does not depend on the batch it
 * was drawn in. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"
#include "sde.h"

SampleOpts sample_opts_default(void)
{
    SampleOpts o;
    o.kind = SAMPLER_EM;
    o.snr = 0.16;
    o.K = 500;
    o.batch = 64;
    o.seed = 0;
    o.first_index = 0;
    o.use_ema = 1;
    return o;
}

/* score(x, t) for the whole batch into sc [B * P]. */
static void eval_score(Graph *g, const Sde *s, const UNet *net, const Scalar *x, int B, double t,
                       const int *labels, Scalar *tt, Scalar *sc)
{
    int shape[4], i;
    ArenaMark m = arena_mark(g->arena);
    Var *xv, *score;
    shape[0] = B;
    shape[1] = 1;
    shape[2] = shape[3] = 28;
    for (i = 0; i < B; i++) tt[i] = (Scalar)t;
    xv = ag_leaf(g, (Scalar *)x, NULL, 0, 4, shape, "x");
    score = sde_score(g, s, net, xv, tt, labels);
    memcpy(sc, score->val.data, score->val.n * sizeof(Scalar));
    arena_release(g->arena, m);
}

/* The Langevin corrector on x [nb * P] with sc = score(x, t): one step per sample. */
static void langevin_step(Scalar *x, const Scalar *sc, Scalar *z, int nb, double alpha, double snr,
                          Rng *crngs)
{
    const int P = 28 * 28;
    int i, p;
    for (i = 0; i < nb; i++) {
        Scalar *xi = x + (size_t)i * P, *zi = z + (size_t)i * P;
        const Scalar *gi = sc + (size_t)i * P;
        double zn = 0.0, gn = 0.0, eps, r;
        for (p = 0; p < P; p++) {
            zi[p] = (Scalar)rng_normal(&crngs[i]);
            zn += (double)zi[p] * zi[p];
            gn += (double)gi[p] * gi[p];
        }
        if (!(gn > 0.0)) continue; /* no gradient to follow: the noise is drawn all the same */
        r = snr * sqrt(zn) / sqrt(gn);
        eps = 2.0 * alpha * r * r;
        for (p = 0; p < P; p++)
            xi[p] = (Scalar)((double)xi[p] + eps * gi[p] + sqrt(2.0 * eps) * zi[p]);
    }
}

void sde_sample(const Sde *s, UNet *net, int n, const int *labels, const SampleOpts *o, Scalar *out)
{
    const int P = 28 * 28;
    int B = o->batch < n ? o->batch : n, b0, i, k;
    size_t bytes = sizeof(Scalar) * (size_t)B * P;
    Scalar *x = (Scalar *)xmalloc(bytes), *sc = (Scalar *)xmalloc(bytes);
    Scalar *x2 = (Scalar *)xmalloc(bytes), *sc2 = (Scalar *)xmalloc(bytes);
    Scalar *tt = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)B);
    Rng *rngs = (Rng *)xmalloc(sizeof(Rng) * (size_t)B),
        *crngs = (Rng *)xmalloc(sizeof(Rng) * (size_t)B);
    Arena *arena = arena_new((size_t)64 << 20);
    Graph g;
    Scalar *keep = net->params.data;
    CHECK(o->K >= 2, "sampler: K = %d grid points (need >= 2)", o->K);
    ag_graph_init(&g, arena);
    ag_set_grad_enabled(&g, 0);
    if (o->use_ema) net->params.data = net->params.ema;
    for (b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        const int *lb = labels ? labels + b0 : NULL;
        double s1 = sde_std(s, 1.0);
        for (i = 0; i < nb; i++) {
            int p;
            rng_seed(&rngs[i], o->seed, (uint64_t)(o->first_index + b0 + i));
            rng_seed(&crngs[i], o->seed, SDE_PC_STREAM + (uint64_t)(o->first_index + b0 + i));
            for (p = 0; p < P; p++) x[(size_t)i * P + p] = (Scalar)(s1 * rng_normal(&rngs[i]));
        }
        for (k = 0; k + 1 < o->K; k++) {
            double t = sde_grid_t(s, o->K, k), tn = sde_grid_t(s, o->K, k + 1), dt = t - tn;
            double g2 = sde_g(s, t) * sde_g(s, t), fc = sde_fcoef(s, t);
            int last = k + 2 == o->K;
            size_t j, m = (size_t)nb * P;
            arena_reset(arena);
            eval_score(&g, s, net, x, nb, t, lb, tt, sc);
            if (o->kind == SAMPLER_PC) { /* correct at t, then predict from the new x */
                langevin_step(x, sc, x2, nb, exp(2.0 * fc * dt), o->snr, crngs);
                eval_score(&g, s, net, x, nb, t, lb, tt, sc);
            }
            if (o->kind != SAMPLER_HEUN) {
                double gs = sde_g(s, t) * sqrt(dt);
                for (i = 0; i < nb; i++) {
                    int p;
                    for (p = 0; p < P; p++) {
                        size_t q = (size_t)i * P + p;
                        /* x <- x + [-f + g^2 score] dt + g sqrt(dt) xi */
                        double xn = (double)x[q] + (-fc * (double)x[q] + g2 * (double)sc[q]) * dt;
                        /* the increment is rounded to Scalar, as every sampler stores it */
                        if (!last) xn += gs * (double)(Scalar)rng_normal(&rngs[i]);
                        x[q] = (Scalar)xn;
                    }
                }
            } else {
                double g2n = sde_g(s, tn) * sde_g(s, tn), fcn = sde_fcoef(s, tn);
                /* v(x, t) = f - g^2 score / 2;  x' = x - v dt;  x <- x - (v + v') dt / 2 */
                for (j = 0; j < m; j++)
                    x2[j] = (Scalar)((double)x[j] - (fc * x[j] - 0.5 * g2 * sc[j]) * dt);
                eval_score(&g, s, net, x2, nb, tn, lb, tt, sc2);
                for (j = 0; j < m; j++)
                    x[j] = (Scalar)((double)x[j] - 0.5 * dt *
                                                       ((fc * x[j] - 0.5 * g2 * sc[j]) +
                                                        (fcn * x2[j] - 0.5 * g2n * sc2[j])));
            }
        }
        memcpy(out + (size_t)b0 * P, x, sizeof(Scalar) * (size_t)nb * P);
    }
    net->params.data = keep;
    arena_free(arena);
    free(x);
    free(sc);
    free(x2);
    free(sc2);
    free(tt);
    free(rngs);
    free(crngs);
}
