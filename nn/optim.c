/* optim.c - Adam, clipping, EMA (see optim.h). */
#include "optim.h"

#include <math.h>
#include <string.h>

#include "../tensor/parallel.h"

Adam adam_default(double lr)
{
    Adam a;
    a.lr = lr;
    a.beta1 = 0.9;
    a.beta2 = 0.999;
    a.eps = 1e-8;
    a.weight_decay = 0.0;
    a.step = 0;
    return a;
}

double params_clip_grad(Params *p, double max_norm)
{
    double norm = params_grad_norm(p);
    if (max_norm > 0 && norm > max_norm) {
        Scalar f = (Scalar)(max_norm / (norm + 1e-6));
        long i, n = (long)p->total;
        PAR_FOR(n)
        for (i = 0; i < n; i++) p->grad[i] *= f;
    }
    return norm;
}

void adam_step(Adam *opt, Params *p)
{
    long i, n = (long)p->total;
    double bc1, bc2;
    Scalar b1 = (Scalar)opt->beta1, b2 = (Scalar)opt->beta2, lr, eps = (Scalar)opt->eps,
           wd = (Scalar)opt->weight_decay, rbc2;
    opt->step++;
    bc1 = 1.0 - pow(opt->beta1, (double)opt->step);
    bc2 = 1.0 - pow(opt->beta2, (double)opt->step);
    lr = (Scalar)(opt->lr / bc1);
    rbc2 = (Scalar)(1.0 / sqrt(bc2));
    PAR_FOR(n)
    for (i = 0; i < n; i++) {
        Scalar gi = p->grad[i];
        p->m[i] = b1 * p->m[i] + (1 - b1) * gi;
        p->v[i] = b2 * p->v[i] + (1 - b2) * gi * gi;
        p->data[i] -=
            lr * p->m[i] / ((Scalar)sqrt(p->v[i]) * rbc2 + eps) + (Scalar)opt->lr * wd * p->data[i];
    }
}

void adam_reset(Adam *opt, Params *p)
{
    opt->step = 0;
    memset(p->m, 0, p->total * sizeof(Scalar));
    memset(p->v, 0, p->total * sizeof(Scalar));
}

void params_ema_update(Params *p, double decay)
{
    long i, n = (long)p->total;
    Scalar d = (Scalar)decay, e = (Scalar)(1.0 - decay);
    PAR_FOR(n)
    for (i = 0; i < n; i++) p->ema[i] = d * p->ema[i] + e * p->data[i];
}

double lr_schedule(double lr, double lr_end, long warmup, long step, long total)
{
    double f;
    if (step < warmup) return lr * (double)(step + 1) / (double)warmup;
    if (lr_end < 0 || total - 1 <= warmup) return lr;
    f = (double)(step - warmup) / (double)(total - 1 - warmup);
    if (f > 1) f = 1;
    return lr_end + 0.5 * (lr - lr_end) * (1 + cos(3.14159265358979323846 * f));
}
