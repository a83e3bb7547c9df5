/* cmad.h - Cooperative Multi-Agent Diffusion: the controlled rollout and its objective J.
 *
 * N agents, each with a full 28x28 state X^i, its own (frozen) score net, control net u_i
 * and noise.  One update of agent i at grid time t_k, step dt:
 *   X^i <- X^i + [ -f(X^i) + g^2 score_i(X^i) + g^m u_i ] dt + g sqrt(dt) xi^i
 *   (m = 1 for drift form "g", m = 2 for "g2"; no noise on the last update)
 *   u_i = ctrl_i([X^i, Y, G^i], t),  Y = phi(X^1..X^N) (not detached),
 *   G^i = d l_sample(phi(x0_hat^1..N); c) / d x0_hat^i at detached Tweedie estimates
 *         (a constant input; G = 0 when rho = 0).
 * Objective over the K - 1 updates (sums over the pre-update states t_0..t_{K-2}):
 *   J = lambda sum_k dt (1/N) sum_i mean(u_i^2)  +  l(Y_T; c)
 *       + rho sum_k dt l(phi(x0_hat^1_k..x0_hat^N_k); c)     (batch means; not detached)
 * IDO's J_p: agents other than p are simulated without gradient (constants) and only p's
 * energy term enters (still divided by N). */
#ifndef CMAD_CMAD_H
#define CMAD_CMAD_H

#include "../sde/sde.h"
#include "objective.h"

typedef enum DriftForm { DRIFT_G, DRIFT_G2 } DriftForm;

typedef struct CmadSpec {
    int agents, batch, K;
    double lambda, rho;
    DriftForm drift;
    PhiMode phi_mode;
    int overlap;
    int amortised;     /* control nets take the target label */
    int checkpointing; /* cmad_problem_init allocates cmad_objective_checkpointed's buffers */
} CmadSpec;

typedef struct CmadProblem {
    CmadSpec spec;
    Sde sde;
    UNet *score[PHI_MAX_AGENTS]; /* frozen (params.trainable = 0); may all be the same */
    UNet *ctrl[PHI_MAX_AGENTS];
    Classifier *cls; /* frozen objective classifier */
    Phi phi;
    Scalar *ck_work; /* states [K], G [K-1] and dX of the checkpointed objective, or NULL */
} CmadProblem;

typedef struct CmadTerms {
    double J, energy, terminal, running;
} CmadTerms;

/* Pre-sampled noise: x_init [N, B, P] and xi [K-2, N, B, P] (P = 784).
 * The guidance channel is a constant of the objective; to audit dJ/dparams by finite
 * differences it must stay the constant of the unperturbed rollout: g_record (when not
 * NULL) receives every G [K-1, N, B, P], and g_replay (when not NULL) is used instead of
 * computing G.  Likewise IDO's J_p treats the other agents' trajectories as constants:
 * x_record receives every agent's state at t_0..t_{K-1} [K, N, B, P], and with x_replay
 * the agents other than the player take their states from it. */
typedef struct CmadNoise {
    const Scalar *x_init;
    const Scalar *xi;
    Scalar *g_record, *x_record;
    const Scalar *g_replay, *x_replay;
} CmadNoise;

/* With spec->checkpointing the problem owns the checkpointed objective's buffers
 * (N B 784 (2K) scalars), so that its training loop allocates nothing; cmad_problem_free
 * gives them back. */
void cmad_problem_init(CmadProblem *pr, const CmadSpec *spec);
void cmad_problem_free(CmadProblem *pr);
/* Draws noise for one batch: sample b of agent i uses stream (seed, (first + b) * N + i). */
void cmad_noise_draw(const CmadSpec *s, const Sde *sde, uint64_t seed, long first, Scalar *x_init,
                     Scalar *xi);
/* The guidance channel: G[i] [B*P] = d sum_n l_n(phi(x0_hat^1..N); c) / d x0_hat^i at the
 * given (detached) Tweedie estimates x0[i], computed on the scratch graph gg. */
void cmad_guidance(Graph *gg, const CmadProblem *pr, Var *const *x0, const int *targets,
                   Scalar *const *G);
/* Builds the rollout on g (gg is a scratch graph for the guidance channel) and returns the
 * node of J (or of J_p with player p >= 0).  terms receives the parts; y_final [B*P]
 * the terminal Y when not NULL. */
Var *cmad_objective(Graph *g, Graph *gg, const CmadProblem *pr, const CmadNoise *nz,
                    const int *targets, int player, CmadTerms *terms, Scalar *y_final);

/* The same objective with gradient checkpointing: a forward pass without a tape keeps only
 * the states and G of every step; the backward pass recomputes one step at a time with a
 * tape, so peak memory does not grow with K.  Accumulates dJ/d(control params) into the
 * controls' gradients (no separate backward call) and returns J.  g's arena is reset at
 * every step.  Needs a problem made with spec->checkpointing. */
double cmad_objective_checkpointed(Graph *g, Graph *gg, const CmadProblem *pr, const CmadNoise *nz,
                                   const int *targets, int player, CmadTerms *terms,
                                   Scalar *y_final);

#endif
