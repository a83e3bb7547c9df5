/* baselines.h - the methods CMAD is compared with (DESIGN.md section 5).
 *
 * CDPS (no training).  At each step of the sampler, with gradients w.r.t. the states:
 *   x0_hat^i = Tweedie(X^i) through the score net, L = l(phi(x0_hat^1..N); c),
 *   grad_i = dL/dX^i (through the score network), then
 *   parity:      X^i <- X^i + [ -f + g^2 score_i - g^2 gamma grad_i ] dt + g sqrt(dt) xi
 *                (L the batch mean, gamma = 100, as the reference)
 *   per-sample:  X^i <- X^i + [ -f + g^2 score_i ] dt + g sqrt(dt) xi - zeta grad_i / sqrt(L_n)
 *                (L_n the sample's own loss, DPS's step normalised by the residual norm)
 * AMDM (no training; class-conditional agents for digit c).  While t > t_end:
 *   1. each agent takes its own Euler-Maruyama step: x^i, mean m^i = X^i + b dt, sd = g sqrt(dt);
 *   2. xbar = left fold of slerp(a, b; w) = [sin((1-w) th) a + sin(w th) b] / sin th over the
 *      agents (per sample over all pixels; linear when sin th < 1e-6), w = 0.5;
 *   3. per agent d = xbar - m^i, r = ||d||, x~^i = xbar - eta (r - sqrt(n) sd) d / r
 *      (x~^i = xbar when r ~ 0), eta = 0.3, n = 784; the agent continues from x~^i.
 * Afterwards every agent continues alone; the output is phi of the final states.
 * independent: each agent samples alone from its class-conditional model, then phi.
 * prior: unconditional agents, no guidance, then phi (the floor). */
#ifndef CMAD_BASELINES_H
#define CMAD_BASELINES_H

#include "cmad.h"

typedef enum CdpsMode { CDPS_PARITY, CDPS_PER_SAMPLE } CdpsMode;

typedef struct CdpsStep {
    CdpsMode mode;
    double gamma; /* parity */
    double zeta;  /* per-sample */
} CdpsStep;

/* One CDPS update of the N states X[i] [B*P] in place at time t with step dt (B may be
 * less than pr->spec.batch: a last, partial batch); xi[i] [B*P] standard normals (NULL on
 * the last update: no noise).  loss receives L (mean over the B samples); grad[i] [B*P]
 * (optional) receives dL/dX^i. */
void cdps_step(Graph *g, const CmadProblem *pr, const CdpsStep *cs, Scalar *const *X, int B,
               double t, double dt, const Scalar *const *xi, const int *targets, double *loss,
               Scalar *const *grad);

/* slerp of a and b [n] with weight w into out (out may alias a). */
void amdm_slerp(const Scalar *a, const Scalar *b, int n, double w, Scalar *out);
/* xbar [B*P] = left fold of slerp over x[0..N-1] [B*P], per sample. */
void amdm_aggregate(const Scalar *const *x, int N, int B, int P, double w, Scalar *xbar);
/* x_tilde [B*P] = xbar - eta (r - sqrt(P) sd) d / r, d = xbar - m, per sample. */
void amdm_deviate(const Scalar *xbar, const Scalar *m, int B, int P, double sd, double eta,
                  Scalar *x_tilde);

#endif
