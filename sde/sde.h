/* sde.h - the forward diffusions, the score, the DSM loss and the samplers.
 *
 * VP (default): beta(t) = beta_min + t (beta_max - beta_min), f(x, t) = -beta x / 2,
 *   g = sqrt(beta), a(t) = exp(-(beta_max - beta_min) t^2 / 4 - beta_min t / 2),
 *   s(t) = sqrt(-expm1(2 log a))  (no cancellation near t = 0).
 * VE: f = 0, g = sigma^t, a = 1, s^2 = (sigma^(2t) - 1) / (2 ln sigma).
 * Perturbation x_t = a x0 + s z.  Score net: score = conv_out / s(t).
 * Tweedie: x0_hat = (x + s^2 score) / a.
 * DSM loss: t ~ U(1e-5, 1) (or stratified over the batch, sde_dsm_time),
 *   L = mean_batch || s score(x_t, t) + z ||^2 (sum over pixels).
 * Time grid of a K-point sampler: t_k = 1 - k (1 - eps) / (K - 1), k = 0..K-1, eps = 1e-3;
 * K - 1 updates evaluated at t_k, the last one landing on eps without noise. */
#ifndef CMAD_SDE_H
#define CMAD_SDE_H

#include <stdint.h>

#include "../nn/unet.h"
#include "../tensor/rng.h"

typedef enum SdeKind { SDE_VP, SDE_VE } SdeKind;

typedef struct Sde {
    SdeKind kind;
    double beta_min, beta_max; /* VP */
    double sigma;              /* VE */
    double eps;                /* end of the sampling grid */
} Sde;

Sde sde_vp(void);
Sde sde_ve(void);
double sde_beta(const Sde *s, double t);
double sde_g(const Sde *s, double t);
double sde_a(const Sde *s, double t);
double sde_std(const Sde *s, double t);
double sde_fcoef(const Sde *s, double t);      /* f(x, t) = fcoef * x */
double sde_grid_t(const Sde *s, int K, int k); /* t_k of the K-point grid */

/* score [N, 1, H, W] = unet(x, t) / s(t), per sample. */
Var *sde_score(Graph *g, const Sde *s, const UNet *net, Var *x, const Scalar *t, const int *labels);
/* x0_hat = (x + s^2 score) / a, per sample (t [N]). */
Var *sde_tweedie(Graph *g, const Sde *s, Var *x, Var *score, const Scalar *t);
/* A [N, 1, 1, 1] constant leaf holding f(t[n]) for each sample. */
Var *sde_per_sample(Graph *g, const Scalar *t, int n, double (*f)(const Sde *, double),
                    const Sde *s);

/* The DSM time of sample i of n from one uniform draw: U(1e-5, 1), or, stratified, uniform
 * on the i-th of n equal parts of [1e-5, 1].  The batch's samples are a random draw, so a
 * stratified batch has the same expected loss with less variance from t. */
double sde_dsm_time(Rng *rng, int i, int n, int stratified);
/* One DSM loss on a batch x0 [N, 1, 28, 28]: draws t (sde_dsm_time) and z from rng and
 * returns the scalar loss node.  labels may be NULL (unconditional). */
Var *sde_dsm_loss(Graph *g, const Sde *s, const UNet *net, Var *x0, const int *labels, Rng *rng,
                  int stratified);

/* EM: Euler-Maruyama on the reverse SDE; HEUN: the probability-flow ODE; PC: a Langevin
 * corrector step at t before each EM step (Song et al. 2021, predictor-corrector): with
 * g = score(x, t) and z ~ N(0, I) per sample, eps = 2 alpha (snr |z| / |g|)^2 where
 * alpha = exp(2 f(t) dt) (exp(-beta dt), about Song et al.'s 1 - beta dt, for VP; 1 for
 * VE), x <- x + eps g + sqrt(2 eps) z.
 * The norms are per sample, so a sample does not depend on its batch; z comes from the
 * sample's own second stream, so snr = 0 gives EM's bits at twice the evaluations. */
typedef enum SamplerKind { SAMPLER_EM, SAMPLER_HEUN, SAMPLER_PC } SamplerKind;
#define SDE_PC_STREAM ((uint64_t)1 << 48) /* + sample index: the corrector's noise streams */

typedef struct SampleOpts {
    SamplerKind kind;
    double snr;    /* PC: the corrector's signal-to-noise ratio (0.16) */
    int K;         /* grid points (500 by default) */
    int batch;     /* samples per network call */
    uint64_t seed; /* sample j draws from stream (seed, first_index + j) */
    long first_index;
    int use_ema; /* sample with the EMA weights */
} SampleOpts;

SampleOpts sample_opts_default(void);
/* Draws n samples into out [n, 1, 28, 28]; labels [n] or NULL. The network's weights
 * are swapped for its EMA copy while sampling when use_ema is set. */
void sde_sample(const Sde *s, UNet *net, int n, const int *labels, const SampleOpts *o,
                Scalar *out);

#endif
