/* baselines.c - CDPS and AMDM steps (see baselines.h). */
#include "baselines.h"

#include <math.h>
#include <string.h>

#include "../autograd/ops.h"

#define P_PIX 784

void cdps_step(Graph *g, const CmadProblem *pr, const CdpsStep *cs, Scalar *const *X, int B,
               double t, double dt, const Scalar *const *xi, const int *targets, double *loss,
               Scalar *const *grad)
{
    const CmadSpec *s = &pr->spec;
    int N = s->agents, i, b, xs[4];
    Var *x[PHI_MAX_AGENTS], *score[PHI_MAX_AGENTS], *x0[PHI_MAX_AGENTS], *l, *L;
    Scalar *tt = (Scalar *)arena_alloc(g->arena, sizeof(Scalar) * (size_t)B);
    double gt = sde_g(&pr->sde, t), g2 = gt * gt, fc = sde_fcoef(&pr->sde, t),
           noise = gt * sqrt(dt);
    xs[0] = B;
    xs[1] = 1;
    xs[2] = xs[3] = 28;
    for (b = 0; b < B; b++) tt[b] = (Scalar)t;
    for (i = 0; i < N; i++) {
        x[i] = ag_leaf(g, X[i], NULL, 1, 4, xs, "X");
        score[i] = sde_score(g, &pr->sde, pr->score[i], x[i], tt, NULL);
        x0[i] = sde_tweedie(g, &pr->sde, x[i], score[i], tt);
    }
    l = task_loss(g, &pr->phi, pr->cls, phi_apply(g, &pr->phi, x0), targets, NULL, NULL);
    L = ag_mean(g, l);
    if (loss) *loss = (double)L->val.data[0];
    /* parity differentiates the batch mean; per-sample the sum (each sample its own L_n) */
    ag_backward(g, cs->mode == CDPS_PARITY ? L : ag_sum(g, l));
    for (i = 0; i < N; i++) {
        const Scalar *dx = x[i]->grad, *sc = score[i]->val.data;
        for (b = 0; b < B; b++) {
            double step =
                cs->mode == CDPS_PARITY ? 0.0 : cs->zeta / sqrt((double)l->val.data[b] + 1e-12);
            int p;
            for (p = 0; p < P_PIX; p++) {
                size_t q = (size_t)b * P_PIX + p;
                double xv = (double)X[i][q], d = (double)dx[q];
                /* X <- X + [-f + g^2 score - g^2 gamma grad] dt + g sqrt(dt) xi */
                double xn = xv + (-fc * xv + g2 * (double)sc[q]) * dt;
                if (cs->mode == CDPS_PARITY)
                    xn -= g2 * cs->gamma * d * dt;
                else
                    xn -= step * d;
                if (xi) xn += noise * (double)xi[i][q];
                if (grad) grad[i][q] = (Scalar)d;
                X[i][q] = (Scalar)xn;
            }
        }
    }
}

void amdm_slerp(const Scalar *a, const Scalar *b, int n, double w, Scalar *out)
{
    double ab = 0.0, aa = 0.0, bb = 0.0, c, th, st;
    int j;
    for (j = 0; j < n; j++) {
        ab += (double)a[j] * (double)b[j];
        aa += (double)a[j] * (double)a[j];
        bb += (double)b[j] * (double)b[j];
    }
    c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1.0;
    if (c > 1.0) c = 1.0;
    if (c < -1.0) c = -1.0;
    th = acos(c);
    st = sin(th);
    if (st < 1e-6) {
        for (j = 0; j < n; j++) out[j] = (Scalar)((1.0 - w) * (double)a[j] + w * (double)b[j]);
    } else {
        double ca = sin((1.0 - w) * th) / st, cb = sin(w * th) / st;
        for (j = 0; j < n; j++) out[j] = (Scalar)(ca * (double)a[j] + cb * (double)b[j]);
    }
}

void amdm_aggregate(const Scalar *const *x, int N, int B, int P, double w, Scalar *xbar)
{
    int b, i;
    for (b = 0; b < B; b++) {
        Scalar *o = xbar + (size_t)b * P;
        memcpy(o, x[0] + (size_t)b * P, sizeof(Scalar) * (size_t)P);
        for (i = 1; i < N; i++) amdm_slerp(o, x[i] + (size_t)b * P, P, w, o);
    }
}

void amdm_deviate(const Scalar *xbar, const Scalar *m, int B, int P, double sd, double eta,
                  Scalar *x_tilde)
{
    int b, j;
    for (b = 0; b < B; b++) {
        const Scalar *xb = xbar + (size_t)b * P, *mb = m + (size_t)b * P;
        Scalar *o = x_tilde + (size_t)b * P;
        double r = 0.0, f;
        for (j = 0; j < P; j++) {
            double d = (double)xb[j] - (double)mb[j];
            r += d * d;
        }
        r = sqrt(r);
        if (r < 1e-12) {
            memcpy(o, xb, sizeof(Scalar) * (size_t)P);
            continue;
        }
        f = eta * (r - sqrt((double)P) * sd) / r;
        for (j = 0; j < P; j++)
            o[j] = (Scalar)((double)xb[j] - f * ((double)xb[j] - (double)mb[j]));
    }
}
