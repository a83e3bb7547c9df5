/* classifier.h - the two MNIST classifiers.
 *   mlp       objective classifier: flatten (y*28 + x) -> fc1 784->256, ReLU -> fc2 256->256,
 *             ReLU -> fc3 256->10; 269,322 parameters.  Used inside CMAD's objective.
 *   cnn-eval  independent evaluation classifier: conv1 3x3 1->32 pad 1, ReLU, MaxPool2 (14) |
 *             conv2 3x3 32->64 pad 1, ReLU, MaxPool2 (7) | flatten channel-major
 *             (c*49 + y*7 + x) -> fc1 3136->128, ReLU -> fc2 128->10; 421,642 parameters.
 *             Its 128-d penultimate features (after the ReLU) feed the realism metric. */
#ifndef CMAD_CLASSIFIER_H
#define CMAD_CLASSIFIER_H

#include "layers.h"

typedef enum ClassifierArch { ARCH_MLP, ARCH_CNN } ClassifierArch;

typedef struct Classifier {
    ClassifierArch arch;
    Params params;
    Linear fc1, fc2, fc3;
    Conv conv1, conv2;
} Classifier;

void classifier_build(Classifier *c, ClassifierArch arch);
void classifier_free(Classifier *c);
/* x [N, 1, 28, 28] -> logits [N, 10]; when feat is not NULL it receives the penultimate
 * features ([N, 256] for mlp, [N, 128] for cnn-eval). */
Var *classifier_forward(Graph *g, const Classifier *c, Var *x, Var **feat);
const char *classifier_name(ClassifierArch arch); /* "mlp" or "cnn-eval" */
/* The predicted class of one row of 10 logits or probabilities: the first index of the
 * largest value (ties go to the lower class). */
int classifier_argmax(const Scalar *row);

/* An L2 PGD attack on x [n, 784] (pixels in [0, 1]) with its labels: out = clamp(x + d, 0, 1)
 * with |d|_2 <= eps per image, found by `steps` steps of normalised gradient ascent on the
 * cross-entropy from d = 0, each of length 2.5 eps / steps, projected back onto the ball.
 * Deterministic (no random start).  delta and out are [n, 784] buffers of the caller; the
 * weights get no gradient (c's parameters are frozen while it runs, then thawed); g is
 * reset before each step and on return, with gradients on while it runs (g's setting is
 * restored, so a no-grad graph may be passed). */
void classifier_pgd_l2(Graph *g, Classifier *c, const Scalar *x, const int *labels, int n,
                       double eps, int steps, Scalar *delta, Scalar *out);

#endif
