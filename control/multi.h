/* multi.h - the multi-agent samplers compared in the evaluation, on shared noise.
 *
 * Sample j of every method draws agent i's initial state and Brownian increments from the
 * stream (seed, j * N + i): first the 784 values of X(1) ~ N(0, s(1)^2 I), then 784 per
 * update in time order.  So sample j starts from the same noise in every method and the
 * differences come from the method alone (EVAL.md).
 *   cmad         unconditional score nets + learned controls (cmad.h dynamics, no gradient)
 *   cdps         unconditional score nets + per-step guidance (baselines.h)
 *   amdm         class-conditional score nets + spherical aggregation while t > t_end
 *   independent  class-conditional score nets, each agent alone
 *   prior        unconditional score nets, no guidance (the floor)
 * The output is Y = phi(X^1..X^N) at t = eps. */
#ifndef CMAD_MULTI_H
#define CMAD_MULTI_H

#include "baselines.h"

typedef enum Method {
    METHOD_CMAD,
    METHOD_CDPS,
    METHOD_AMDM,
    METHOD_INDEPENDENT,
    METHOD_PRIOR
} Method;

typedef struct MethodSpec {
    Method method;
    CdpsStep cdps;
    double amdm_t_end, amdm_eta, amdm_w;
} MethodSpec;

MethodSpec method_spec_default(Method m);
const char *method_name(const MethodSpec *ms); /* "cmad", "cdps-parity", "amdm", ... */
/* Parses "cmad", "cdps", "cdps-parity", "cdps-per-sample", "amdm", "independent", "prior". */
int method_parse(const char *s, MethodSpec *ms);

/* Draws n samples on the K-point grid into y [n, 28, 28] (and each agent's final state into
 * xs_out [N][n * 784] when not NULL).  pr->score holds the unconditional nets (cmad, cdps,
 * prior), cond[i] the class-conditional ones (amdm, independent); pr->spec.batch is the
 * batch size.  Returns network evaluations per sample (score and control nets, per agent). */
double multi_sample(const CmadProblem *pr, UNet *const *cond, const MethodSpec *ms, int K, int n,
                    const int *targets, uint64_t seed, long first_index, Scalar *y,
                    Scalar *const *xs_out);

#endif
