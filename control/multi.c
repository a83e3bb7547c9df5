/* multi.c - the multi-agent samplers (see multi.h). */
#include "multi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"

#define P_PIX 784

MethodSpec method_spec_default(Method m)
{
    MethodSpec ms;
    memset(&ms, 0, sizeof ms);
    ms.method = m;
    ms.cdps.mode = CDPS_PARITY;
    ms.cdps.gamma = 100.0;
    ms.cdps.zeta = 1.0;
    ms.amdm_t_end = 0.4;
    ms.amdm_eta = 0.3;
    ms.amdm_w = 0.5;
    return ms;
}

const char *method_name(const MethodSpec *ms)
{
    switch (ms->method) {
    case METHOD_CMAD: return "cmad";
    case METHOD_CDPS: return ms->cdps.mode == CDPS_PARITY ? "cdps-parity" : "cdps-per-sample";
    case METHOD_AMDM: return "amdm";
    case METHOD_INDEPENDENT: return "independent";
    default: return "prior";
    }
}

int method_parse(const char *s, MethodSpec *ms)
{
    if (!strcmp(s, "cmad"))
        *ms = method_spec_default(METHOD_CMAD);
    else if (!strcmp(s, "cdps") || !strcmp(s, "cdps-parity"))
        *ms = method_spec_default(METHOD_CDPS);
    else if (!strcmp(s, "cdps-per-sample")) {
        *ms = method_spec_default(METHOD_CDPS);
        ms->cdps.mode = CDPS_PER_SAMPLE;
    } else if (!strcmp(s, "amdm"))
        *ms = method_spec_default(METHOD_AMDM);
    else if (!strcmp(s, "independent"))
        *ms = method_spec_default(METHOD_INDEPENDENT);
    else if (!strcmp(s, "prior"))
        *ms = method_spec_default(METHOD_PRIOR);
    else
        return -1;
    return 0;
}

/* score(x, t) of a net into sc [B*P] (no gradient). */
static void score_of(Graph *g, const Sde *sde, const UNet *net, const Scalar *x, int B,
                     const Scalar *tt, const int *labels, Scalar *sc)
{
    int xs[4] = {0, 1, 28, 28};
    Var *s;
    xs[0] = B;
    s = sde_score(g, sde, net, ag_leaf(g, (Scalar *)x, NULL, 0, 4, xs, "X"), tt, labels);
    memcpy(sc, s->val.data, sizeof(Scalar) * (size_t)B * P_PIX);
}

/* The control u_i [B*P] of agent i for the CMAD dynamics (no gradient on the states). */
static void control_of(Graph *g, Graph *gg, const CmadProblem *pr, Scalar *const *X,
                       Scalar *const *SC, int B, const Scalar *tt, const int *targets,
                       Scalar *const *U)
{
    int N = pr->spec.agents, i, xs[4] = {0, 1, 28, 28};
    Var *xv[PHI_MAX_AGENTS], *x0[PHI_MAX_AGENTS], *Y, *G[PHI_MAX_AGENTS];
    xs[0] = B;
    for (i = 0; i < N; i++) {
        Var *sv = ag_leaf(g, SC[i], NULL, 0, 4, xs, "score");
        xv[i] = ag_leaf(g, X[i], NULL, 0, 4, xs, "X");
        x0[i] = sde_tweedie(g, &pr->sde, xv[i], sv, tt);
        G[i] = ag_zeros(g, 4, xs, 0, "G");
    }
    if (pr->spec.rho != 0) {
        Scalar *gd[PHI_MAX_AGENTS];
        for (i = 0; i < N; i++) gd[i] = G[i]->val.data;
        cmad_guidance(gg, pr, x0, targets, gd);
    }
    Y = phi_apply(g, &pr->phi, xv);
    for (i = 0; i < N; i++) {
        Var *in = ag_concat(g, ag_concat(g, xv[i], Y), G[i]);
        Var *u = unet_forward(g, pr->ctrl[i], in, tt, pr->spec.amortised ? targets : NULL);
        memcpy(U[i], u->val.data, sizeof(Scalar) * (size_t)B * P_PIX);
    }
}

double multi_sample(const CmadProblem *pr, UNet *const *cond, const MethodSpec *ms, int K, int n,
                    const int *targets, uint64_t seed, long first_index, Scalar *y,
                    Scalar *const *xs_out)
{
    const Sde *sde = &pr->sde;
    int N = pr->spec.agents, Bmax = pr->spec.batch < n ? pr->spec.batch : n, i, b, k, p, b0;
    size_t per = (size_t)Bmax * P_PIX;
    Scalar *buf = (Scalar *)xmalloc(sizeof(Scalar) * per * (size_t)N * 6);
    Scalar *X[PHI_MAX_AGENTS], *XI[PHI_MAX_AGENTS], *SC[PHI_MAX_AGENTS], *U[PHI_MAX_AGENTS],
        *M[PHI_MAX_AGENTS], *XT[PHI_MAX_AGENTS];
    Scalar *tt = (Scalar *)xmalloc(sizeof(Scalar) * (size_t)Bmax), *xbar;
    Rng *rngs = (Rng *)xmalloc(sizeof(Rng) * (size_t)Bmax * N);
    Arena *a1 = arena_new((size_t)64 << 20), *a2 = arena_new((size_t)16 << 20);
    Graph g, gg;
    double nfe = 0;
    int batches = n > 0 ? (n + Bmax - 1) / Bmax : 1; /* ceil(n / Bmax) */
    int cond_labels = ms->method == METHOD_AMDM || ms->method == METHOD_INDEPENDENT;
    for (i = 0; i < N; i++) {
        X[i] = buf + per * (size_t)(6 * i);
        XI[i] = X[i] + per;
        SC[i] = XI[i] + per;
        U[i] = SC[i] + per;
        M[i] = U[i] + per;
        XT[i] = M[i] + per;
    }
    xbar = (Scalar *)xmalloc(sizeof(Scalar) * per);
    ag_graph_init(&g, a1);
    ag_graph_init(&gg, a2);
    for (b0 = 0; b0 < n; b0 += Bmax) {
        int B = n - b0 < Bmax ? n - b0 : Bmax;
        const int *tg = targets + b0;
        double s1 = sde_std(sde, 1.0);
        for (b = 0; b < B; b++)
            for (i = 0; i < N; i++) {
                Rng *r = &rngs[b * N + i];
                rng_seed(r, seed, (uint64_t)((first_index + b0 + b) * N + i));
                for (p = 0; p < P_PIX; p++)
                    X[i][(size_t)b * P_PIX + p] = (Scalar)(s1 * rng_normal(r));
            }
        for (k = 0; k + 1 < K; k++) {
            double t = sde_grid_t(sde, K, k), dt = t - sde_grid_t(sde, K, k + 1);
            double gt = sde_g(sde, t), g2 = gt * gt, fc = sde_fcoef(sde, t), sd = gt * sqrt(dt);
            int last = k + 2 == K;
            for (b = 0; b < B; b++) {
                tt[b] = (Scalar)t;
                for (i = 0; i < N; i++)
                    for (p = 0; p < P_PIX; p++)
                        XI[i][(size_t)b * P_PIX + p] =
                            last ? 0 : (Scalar)rng_normal(&rngs[b * N + i]);
            }
            ag_graph_reset(&g);
            ag_set_grad_enabled(&g, 0);
            if (ms->method == METHOD_CDPS) {
                ag_set_grad_enabled(&g, 1);
                cdps_step(&g, pr, &ms->cdps, X, B, t, dt, last ? NULL : (const Scalar *const *)XI,
                          tg, NULL, NULL);
                nfe += N;
                continue;
            }
            for (i = 0; i < N; i++)
                score_of(&g, sde, cond_labels ? cond[i] : pr->score[i], X[i], B, tt,
                         cond_labels ? tg : NULL, SC[i]);
            nfe += N;
            if (ms->method == METHOD_CMAD) {
                control_of(&g, &gg, pr, X, SC, B, tt, tg, U);
                nfe += N;
            }
            for (i = 0; i < N; i++) {
                double gu = pr->spec.drift == DRIFT_G ? gt : g2;
                size_t q, m = (size_t)B * P_PIX;
                for (q = 0; q < m; q++) {
                    /* mean m = X + [-f + g^2 score (+ g^m u)] dt; X <- m + g sqrt(dt) xi */
                    double xv = (double)X[i][q];
                    double mean = xv + (-fc * xv + g2 * (double)SC[i][q]) * dt;
                    if (ms->method == METHOD_CMAD) mean += gu * (double)U[i][q] * dt;
                    M[i][q] = (Scalar)mean;
                    XT[i][q] = (Scalar)(mean + sd * (double)XI[i][q]);
                }
            }
            if (ms->method == METHOD_AMDM && t > ms->amdm_t_end && N > 1) {
                amdm_aggregate((const Scalar *const *)XT, N, B, P_PIX, ms->amdm_w, xbar);
                for (i = 0; i < N; i++) amdm_deviate(xbar, M[i], B, P_PIX, sd, ms->amdm_eta, X[i]);
            } else {
                for (i = 0; i < N; i++) memcpy(X[i], XT[i], sizeof(Scalar) * (size_t)B * P_PIX);
            }
        }
        phi_apply_raw(&pr->phi, (const Scalar *const *)X, B, 28, y + (size_t)b0 * P_PIX);
        if (xs_out)
            for (i = 0; i < N; i++)
                memcpy(xs_out[i] + (size_t)b0 * P_PIX, X[i], sizeof(Scalar) * (size_t)B * P_PIX);
    }
    arena_free(a1);
    arena_free(a2);
    free(buf);
    free(xbar);
    free(tt);
    free(rngs);
    return nfe / (double)batches;
}
