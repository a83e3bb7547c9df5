/* optim.h - Adam, gradient-norm clipping and the EMA of weights, over flat Params.
 *
 *   clip      if ||g|| > max_norm: g *= max_norm / (||g|| + 1e-6)   (one global L2 norm)
 *   Adam      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *             w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)  [+ lr * wd * w]
 *   EMA       ema = d ema + (1 - d) w   (no bias correction; starts as a copy of w)
 * The step counter t lives in the Adam struct and is saved in checkpoints. */
#ifndef CMAD_OPTIM_H
#define CMAD_OPTIM_H

#include "params.h"

typedef struct Adam {
    double lr, beta1, beta2, eps, weight_decay;
    long step;
} Adam;

Adam adam_default(double lr);
/* Returns the gradient norm before clipping (max_norm <= 0: no clipping). */
double params_clip_grad(Params *p, double max_norm);
void adam_step(Adam *opt, Params *p);
/* Resets the moments and the step counter (IDO restarts each outer iteration). */
void adam_reset(Adam *opt, Params *p);
void params_ema_update(Params *p, double decay);
/* Learning rate of step `step` (0-based) of `total`: linear warm-up over the first `warmup`
 * steps to lr, then a cosine from lr down to lr_end at the last step; lr_end < 0 keeps lr. */
double lr_schedule(double lr, double lr_end, long warmup, long step, long total);

#endif
