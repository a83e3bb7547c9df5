/* cmad.c - the controlled rollout and J (see cmad.h). */
#include "cmad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"

#define P_PIX 784

void cmad_problem_init(CmadProblem *pr, const CmadSpec *spec)
{
    memset(pr, 0, sizeof *pr);
    pr->spec = *spec;
    pr->sde = sde_vp();
    phi_init(&pr->phi, spec->agents, 28, spec->phi_mode, spec->overlap);
    if (spec->checkpointing) {
        size_t per = size_mul(size_mul((size_t)spec->agents, (size_t)spec->batch), P_PIX);
        pr->ck_work =
            (Scalar *)xmalloc(size_mul(size_mul(per, 2 * (size_t)spec->K), sizeof(Scalar)));
    }
}

void cmad_problem_free(CmadProblem *pr)
{
    free(pr->ck_work);
    pr->ck_work = NULL;
}

void cmad_noise_draw(const CmadSpec *s, const Sde *sde, uint64_t seed, long first, Scalar *x_init,
                     Scalar *xi)
{
    int N = s->agents, B = s->batch, i, b, k, p;
    double s1 = sde_std(sde, 1.0);
    for (i = 0; i < N; i++)
        for (b = 0; b < B; b++) {
            Rng r;
            rng_seed(&r, seed, (uint64_t)((first + b) * N + i));
            for (p = 0; p < P_PIX; p++)
                x_init[((size_t)i * B + b) * P_PIX + p] = (Scalar)(s1 * rng_normal(&r));
            for (k = 0; k + 2 < s->K; k++)
                for (p = 0; p < P_PIX; p++)
                    xi[(((size_t)k * N + i) * B + b) * P_PIX + p] = (Scalar)rng_normal(&r);
        }
}

/* G^i for every agent: per-sample gradient of l(phi(x0_hat)) at detached estimates. */
/* Records the states of step k, or replaces the non-player states by recorded ones. */
static void record_states(Graph *g, const CmadNoise *nz, int k, int N, int B, int player, Var **X,
                          const int *xs)
{
    int i;
    for (i = 0; i < N; i++) {
        size_t off = (((size_t)k * N + i) * B) * P_PIX;
        if (nz->x_record) memcpy(nz->x_record + off, X[i]->val.data, X[i]->val.n * sizeof(Scalar));
        if (nz->x_replay && player >= 0 && i != player)
            X[i] = ag_leaf(g, (Scalar *)nz->x_replay + off, NULL, 0, 4, xs, "X (replayed)");
    }
}

void cmad_guidance(Graph *gg, const CmadProblem *pr, Var *const *x0, const int *targets,
                   Scalar *const *G)
{
    int N = pr->spec.agents, i;
    Var *leaves[PHI_MAX_AGENTS], *l;
    ag_graph_reset(gg);
    for (i = 0; i < N; i++) {
        Tensor t = tensor_new(gg->arena, 4, x0[i]->val.shape);
        memcpy(t.data, x0[i]->val.data, t.n * sizeof(Scalar));
        leaves[i] = ag_tensor(gg, t, 1, "x0_hat (detached)");
    }
    /* sum over samples of the per-sample loss: each sample's gradient is its own */
    l = ag_sum(
        gg, task_loss(gg, &pr->phi, pr->cls, phi_apply(gg, &pr->phi, leaves), targets, NULL, NULL));
    ag_backward(gg, l);
    for (i = 0; i < N; i++) memcpy(G[i], leaves[i]->grad, x0[i]->val.n * sizeof(Scalar));
}

/* 1 when every agent uses the same score net (the default). */
static int shared_score(const CmadProblem *pr)
{
    int i;
    for (i = 1; i < pr->spec.agents; i++)
        if (pr->score[i] != pr->score[0]) return 0;
    return 1;
}

/* The scores of all N agents at time t from one pass of their shared score net over a
 * batch of N B images (sample b of agent i at row b N + i: the states concatenated along
 * channels, seen as a batch), so that the net's convs see N times wider matrices; score[i]
 * is agent i's slice.  Every op of the net is per sample, so each score has the bits that
 * N separate passes give. */
static void score_batched(Graph *g, const CmadProblem *pr, Var *const *X, double t, Var **score)
{
    int N = pr->spec.agents, B = pr->spec.batch, i, shape[4];
    Scalar *tt = (Scalar *)arena_alloc(g->arena, sizeof(Scalar) * (size_t)N * B);
    Var *all = X[0], *sc;
    for (i = 0; i < N * B; i++) tt[i] = (Scalar)t;
    for (i = 1; i < N; i++) all = ag_concat(g, all, X[i]); /* [B, N, 28, 28] */
    shape[0] = N * B;
    shape[1] = 1;
    shape[2] = shape[3] = 28;
    sc = sde_score(g, &pr->sde, pr->score[0], ag_reshape(g, all, 4, shape), tt, NULL);
    shape[0] = B;
    shape[1] = N;
    sc = ag_reshape(g, sc, 4, shape);
    for (i = 0; i < N; i++) score[i] = ag_slice(g, sc, 1, i, 1);
}

/* One update of every agent at grid point k: X[i] (in) become the states at t_{k+1} (out).
 * energy and running receive this step's terms (already multiplied by dt, energy by 1/N;
 * running is NULL when rho = 0; energy is NULL when no agent contributes). */
static void cmad_step(Graph *g, Graph *gg, const CmadProblem *pr, const CmadNoise *nz,
                      const int *targets, int player, int k, Var **X, Scalar *const *G,
                      Var **energy, Var **running)
{
    const CmadSpec *s = &pr->spec;
    const Sde *sde = &pr->sde;
    int N = s->agents, B = s->batch, K = s->K, i, xs[4];
    double t = sde_grid_t(sde, K, k), dt = t - sde_grid_t(sde, K, k + 1);
    double gt = sde_g(sde, t), g2 = gt * gt, fc = sde_fcoef(sde, t);
    double gu = s->drift == DRIFT_G ? gt : g2, noise = gt * sqrt(dt);
    int last = k + 2 == K, grad_on = g->grad_enabled;
    Var *score[PHI_MAX_AGENTS], *x0[PHI_MAX_AGENTS], *Y;
    Scalar *tt = (Scalar *)arena_alloc(g->arena, sizeof(Scalar) * (size_t)B);
    xs[0] = B;
    xs[1] = 1;
    xs[2] = xs[3] = 28;
    *energy = *running = NULL;
    for (i = 0; i < B; i++) tt[i] = (Scalar)t;
    if (shared_score(pr) && player < 0 && N > 1) {
        score_batched(g, pr, X, t, score);
    } else {
        for (i = 0; i < N; i++) {
            ag_set_grad_enabled(g, grad_on && (player < 0 || player == i));
            score[i] = sde_score(g, sde, pr->score[i], X[i], tt, NULL);
        }
    }
    for (i = 0; i < N; i++) {
        ag_set_grad_enabled(g, grad_on && (player < 0 || player == i));
        x0[i] = sde_tweedie(g, sde, X[i], score[i], tt);
    }
    ag_set_grad_enabled(g, grad_on);
    Y = phi_apply(g, &pr->phi, X);
    if (s->rho != 0) {
        Var *lr = ag_mean(
            g, task_loss(g, &pr->phi, pr->cls, phi_apply(g, &pr->phi, x0), targets, NULL, NULL));
        *running = ag_scale(g, lr, (Scalar)dt);
        if (nz->g_replay) {
            for (i = 0; i < N; i++)
                memcpy(G[i], nz->g_replay + (((size_t)k * N + i) * B) * P_PIX,
                       sizeof(Scalar) * (size_t)B * P_PIX);
        } else {
            cmad_guidance(gg, pr, x0, targets, G);
        }
        if (nz->g_record)
            for (i = 0; i < N; i++)
                memcpy(nz->g_record + (((size_t)k * N + i) * B) * P_PIX, G[i],
                       sizeof(Scalar) * (size_t)B * P_PIX);
    }
    for (i = 0; i < N; i++) {
        Var *in, *u, *xn, *e;
        ag_set_grad_enabled(g, grad_on && (player < 0 || player == i));
        in = ag_concat(g, ag_concat(g, X[i], Y), ag_leaf(g, G[i], NULL, 0, 4, xs, "G"));
        u = unet_forward(g, pr->ctrl[i], in, tt, s->amortised ? targets : NULL);
        /* X <- X + [-f + g^2 score + g^m u] dt + g sqrt(dt) xi */
        xn = ag_add(g, ag_affine(g, X[i], (Scalar)(1.0 - fc * dt), 0),
                    ag_scale(g, score[i], (Scalar)(g2 * dt)));
        xn = ag_add(g, xn, ag_scale(g, u, (Scalar)(gu * dt)));
        if (!last) {
            Var *z = ag_new(g, 4, xs, 0, "noise");
            const Scalar *src = nz->xi + (((size_t)k * N + i) * B) * P_PIX;
            size_t q;
            for (q = 0; q < z->val.n; q++) z->val.data[q] = (Scalar)(noise * (double)src[q]);
            xn = ag_add(g, xn, z);
        }
        if (player < 0 || player == i) {
            e = ag_scale(g, ag_mean(g, ag_mul(g, u, u)), (Scalar)(dt / N));
            ag_set_grad_enabled(g, grad_on);
            *energy = *energy ? ag_add(g, *energy, e) : e;
        }
        X[i] = xn;
    }
    ag_set_grad_enabled(g, grad_on);
}

/* l(Y_T; c) batch mean of the final states; y_final receives Y_T when not NULL. */
static Var *terminal_cost(Graph *g, const CmadProblem *pr, Var *const *X, const int *targets,
                          Scalar *y_final)
{
    Var *yT = phi_apply(g, &pr->phi, X);
    if (y_final) memcpy(y_final, yT->val.data, yT->val.n * sizeof(Scalar));
    return ag_mean(g, task_loss(g, &pr->phi, pr->cls, yT, targets, NULL, NULL));
}

static void states_in(Graph *g, const CmadSpec *s, const Scalar *src, Var **X, int requires)
{
    int i, xs[4];
    xs[0] = s->batch;
    xs[1] = 1;
    xs[2] = xs[3] = 28;
    for (i = 0; i < s->agents; i++)
        X[i] = ag_leaf(g, (Scalar *)src + (size_t)i * s->batch * P_PIX, NULL, requires, 4, xs, "X");
}

Var *cmad_objective(Graph *g, Graph *gg, const CmadProblem *pr, const CmadNoise *nz,
                    const int *targets, int player, CmadTerms *terms, Scalar *y_final)
{
    const CmadSpec *s = &pr->spec;
    int N = s->agents, B = s->batch, K = s->K, i, k;
    int xs[4];
    Var *X[PHI_MAX_AGENTS], *energy = NULL, *running = NULL, *J, *term;
    Scalar *G[PHI_MAX_AGENTS];
    xs[0] = B;
    xs[1] = 1;
    xs[2] = xs[3] = 28;
    CHECK(N >= 1 && N <= PHI_MAX_AGENTS && K >= 2, "cmad: %d agents, K = %d", N, K);
    CHECK(player >= -1 && player < N, "cmad: player %d is not -1 (all) or one of %d agents", player,
          N);
    states_in(g, s, nz->x_init, X, 0);
    for (i = 0; i < N; i++)
        G[i] = (Scalar *)arena_calloc(g->arena, sizeof(Scalar) * (size_t)B * P_PIX);
    for (k = 0; k + 1 < K; k++) {
        Var *e, *r;
        record_states(g, nz, k, N, B, player, X, xs);
        cmad_step(g, gg, pr, nz, targets, player, k, X, G, &e, &r);
        energy = energy ? ag_add(g, energy, e) : e;
        if (r) running = running ? ag_add(g, running, r) : r;
    }
    record_states(g, nz, K - 1, N, B, player, X, xs);
    term = terminal_cost(g, pr, X, targets, y_final);
    J = ag_add(g, ag_scale(g, energy, (Scalar)s->lambda), term);
    if (running) J = ag_add(g, J, ag_scale(g, running, (Scalar)s->rho));
    if (terms) {
        terms->energy = (double)energy->val.data[0];
        terms->terminal = (double)term->val.data[0];
        terms->running = running ? (double)running->val.data[0] : 0.0;
        terms->J = (double)J->val.data[0];
    }
    return J;
}

double cmad_objective_checkpointed(Graph *g, Graph *gg, const CmadProblem *pr, const CmadNoise *nz,
                                   const int *targets, int player, CmadTerms *terms,
                                   Scalar *y_final)
{
    const CmadSpec *s = &pr->spec;
    int N = s->agents, B = s->batch, K = s->K, i, k;
    size_t per = (size_t)N * B * P_PIX;
    Scalar *states = pr->ck_work, *gbuf, *dX;
    Scalar *G[PHI_MAX_AGENTS];
    Var *X[PHI_MAX_AGENTS];
    CmadNoise fw = *nz, bw = *nz;
    double energy = 0, running = 0, term;
    CHECK(N >= 1 && N <= PHI_MAX_AGENTS && K >= 2, "cmad: %d agents, K = %d", N, K);
    CHECK(player >= -1 && player < N, "cmad: player %d is not -1 (all) or one of %d agents", player,
          N);
    CHECK(!nz->g_record && !nz->x_record, "cmad: the checkpointed objective records by itself");
    CHECK(states, "cmad: the problem was not made with spec.checkpointing");
    gbuf = states + per * (size_t)K;
    dX = gbuf + per * (size_t)(K - 1);
    memset(gbuf, 0, sizeof(Scalar) * per * (size_t)K); /* G [K-1] and dX */
    /* 1. forward without a tape, keeping the states at t_0..t_{K-1} and every G */
    fw.g_record = gbuf;
    fw.x_record = states;
    fw.g_replay = nz->g_replay;
    memcpy(states, nz->x_init, sizeof(Scalar) * per);
    for (k = 0; k + 1 < K; k++) {
        Var *e, *r;
        int was = ag_set_grad_enabled(g, 0);
        ag_graph_reset(g);
        for (i = 0; i < N; i++)
            G[i] = (Scalar *)arena_calloc(g->arena, sizeof(Scalar) * (size_t)B * P_PIX);
        states_in(g, s, states + per * (size_t)k, X, 0);
        if (nz->x_replay && player >= 0) { /* IDO constants */
            int xs[4] = {0, 1, 28, 28};
            xs[0] = B;
            record_states(g, &bw, k, N, B, player, X, xs);
        }
        cmad_step(g, gg, pr, &fw, targets, player, k, X, G, &e, &r);
        energy += (double)e->val.data[0];
        if (r) running += (double)r->val.data[0];
        for (i = 0; i < N; i++)
            memcpy(states + per * (size_t)(k + 1) + (size_t)i * B * P_PIX, X[i]->val.data,
                   sizeof(Scalar) * (size_t)B * P_PIX);
        ag_set_grad_enabled(g, was);
    }
    /* 2. the terminal cost and its gradient w.r.t. the final states */
    ag_graph_reset(g);
    states_in(g, s, states + per * (size_t)(K - 1), X, 1);
    {
        Var *t = terminal_cost(g, pr, X, targets, y_final);
        term = (double)t->val.data[0];
        ag_backward(g, t);
        for (i = 0; i < N; i++)
            if (player < 0 || player == i)
                memcpy(dX + (size_t)i * B * P_PIX, X[i]->grad, sizeof(Scalar) * (size_t)B * P_PIX);
    }
    /* 3. back through the steps: recompute step k with a tape, seed it with dX_{k+1} and
       the step's own energy and running terms, and carry dX_k down */
    bw.g_record = bw.x_record = NULL;
    bw.g_replay = gbuf;
    bw.x_replay = states;
    for (k = K - 2; k >= 0; k--) {
        Var *e, *r, *L, *Xk[PHI_MAX_AGENTS];
        int shape[4] = {0, 1, 28, 28};
        shape[0] = B;
        ag_graph_reset(g);
        for (i = 0; i < N; i++)
            G[i] = (Scalar *)arena_calloc(g->arena, sizeof(Scalar) * (size_t)B * P_PIX);
        states_in(g, s, states + per * (size_t)k, X, 0);
        for (i = 0; i < N; i++) {
            X[i]->requires_grad = player < 0 || player == i;
            Xk[i] = X[i];
        }
        cmad_step(g, gg, pr, &bw, targets, player, k, X, G, &e, &r);
        L = ag_scale(g, e, (Scalar)s->lambda);
        if (r) L = ag_add(g, L, ag_scale(g, r, (Scalar)s->rho));
        for (i = 0; i < N; i++)
            if (X[i]->requires_grad)
                L = ag_add(g, L,
                           ag_sum(g, ag_mul(g, X[i],
                                            ag_leaf(g, dX + (size_t)i * B * P_PIX, NULL, 0, 4,
                                                    shape, "dX"))));
        ag_backward(g, L);
        for (i = 0; i < N; i++)
            if (Xk[i]->requires_grad && Xk[i]->grad)
                memcpy(dX + (size_t)i * B * P_PIX, Xk[i]->grad, sizeof(Scalar) * (size_t)B * P_PIX);
    }
    if (terms) {
        terms->energy = energy;
        terms->terminal = term;
        terms->running = running;
        terms->J = s->lambda * energy + term + s->rho * running;
    }
    return s->lambda * energy + term + s->rho * running;
}
