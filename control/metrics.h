/* metrics.h - what EVAL.md reports per setting, from generated images Y [n, 28, 28].
 *   acc_obj   share of samples whose objective-classifier argmax is the target
 *   acc_eval  the same with the independent cnn-eval (never inside an objective)
 *   terminal  mean l(Y; c) = CE(objective classifier) + Seam
 *   seam      mean Seam(Y)
 * (fd, the Frechet distance of cnn-eval features, is computed by the evaluation app.) */
#ifndef CMAD_METRICS_H
#define CMAD_METRICS_H

#include "objective.h"

typedef struct Metrics {
    double acc_obj, acc_eval, terminal, seam;
    int n;
} Metrics;

/* evalc may be NULL (acc_eval is then -1). Classifiers are used without gradient. */
void metrics_compute(const Phi *phi, const Classifier *obj, const Classifier *evalc,
                     const Scalar *y, int n, const int *targets, Metrics *m);
/* argmax labels and max softmax probability of a classifier on images x [n, 28, 28];
 * feat (optional) receives the penultimate features [n, F]. */
void classify(const Classifier *c, const Scalar *x, int n, int *label, Scalar *conf, Scalar *feat);

#endif
