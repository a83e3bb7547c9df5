/* classifier.c - the objective MLP and cnn-eval (see classifier.h). */
#include "classifier.h"

#include <math.h>
#include <string.h>

#include "../autograd/ops.h"

void classifier_build(Classifier *c, ClassifierArch arch)
{
    Params *p = &c->params;
    memset(c, 0, sizeof *c);
    c->arch = arch;
    params_init(p);
    if (arch == ARCH_MLP) {
        c->fc1 = linear_declare(p, "fc1", 784, 256, 0);
        c->fc2 = linear_declare(p, "fc2", 256, 256, 0);
        c->fc3 = linear_declare(p, "fc3", 256, 10, 0);
    } else {
        c->conv1 = conv_declare(p, "conv1", 1, 32, 3, 1, 1, 0);
        c->conv2 = conv_declare(p, "conv2", 32, 64, 3, 1, 1, 0);
        c->fc1 = linear_declare(p, "fc1", 3136, 128, 0);
        c->fc2 = linear_declare(p, "fc2", 128, 10, 0);
    }
    params_finalize(p);
}

void classifier_free(Classifier *c) { params_free(&c->params); }

const char *classifier_name(ClassifierArch arch) { return arch == ARCH_MLP ? "mlp" : "cnn-eval"; }

int classifier_argmax(const Scalar *row)
{
    int j, best = 0;
    for (j = 1; j < 10; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

Var *classifier_forward(Graph *g, const Classifier *c, Var *x, Var **feat)
{
    const Params *p = &c->params;
    int N = x->val.shape[0], s[2];
    Var *h;
    s[0] = N;
    if (c->arch == ARCH_MLP) {
        s[1] = 784;
        h = ag_reshape(g, x, 2, s);
        h = ag_relu(g, linear_forward(g, p, &c->fc1, h));
        h = ag_relu(g, linear_forward(g, p, &c->fc2, h));
        if (feat) *feat = h;
        return linear_forward(g, p, &c->fc3, h);
    }
    h = ag_maxpool2(g, ag_relu(g, conv_forward(g, p, &c->conv1, x)));
    h = ag_maxpool2(g, ag_relu(g, conv_forward(g, p, &c->conv2, h)));
    s[1] = 3136;
    h = ag_reshape(g, h, 2, s);
    h = ag_relu(g, linear_forward(g, p, &c->fc1, h));
    if (feat) *feat = h;
    return linear_forward(g, p, &c->fc2, h);
}

/* out = clamp(x + d, 0, 1) over m scalars */
static void perturb(const Scalar *x, const Scalar *d, size_t m, Scalar *out)
{
    size_t q;
    for (q = 0; q < m; q++) {
        Scalar v = x[q] + d[q];
        out[q] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

void classifier_pgd_l2(Graph *g, Classifier *c, const Scalar *x, const int *labels, int n,
                       double eps, int steps, Scalar *delta, Scalar *out)
{
    const size_t P = 784, m = (size_t)n * P;
    const double alpha = 2.5 * eps / steps;
    int shape[4] = {0, 1, 28, 28}, s, i, was = c->params.trainable;
    int grad_was = ag_set_grad_enabled(g, 1); /* the attack needs the input gradient */
    shape[0] = n;
    memset(delta, 0, sizeof(Scalar) * m);
    c->params.trainable = 0;
    for (s = 0; s < steps; s++) {
        Var *xv, *loss;
        perturb(x, delta, m, out);
        ag_graph_reset(g);
        xv = ag_leaf(g, out, NULL, 1, 4, shape, "x");
        loss = ag_mean(g, ag_softmax_ce(g, classifier_forward(g, c, xv, NULL), labels));
        ag_backward(g, loss);
        for (i = 0; i < n; i++) { /* d += alpha grad / |grad|, then back into the ball */
            const Scalar *gr = xv->grad + (size_t)i * P;
            Scalar *d = delta + (size_t)i * P;
            double gn = 0, dn = 0;
            size_t q;
            for (q = 0; q < P; q++) gn += (double)gr[q] * gr[q];
            if (!(gn > 0)) continue;
            gn = alpha / sqrt(gn);
            for (q = 0; q < P; q++) {
                d[q] += (Scalar)(gn * gr[q]);
                dn += (double)d[q] * d[q];
            }
            if (dn > eps * eps) {
                double sc = eps / sqrt(dn);
                for (q = 0; q < P; q++) d[q] = (Scalar)(sc * d[q]);
            }
        }
    }
    perturb(x, delta, m, out);
    c->params.trainable = was;
    ag_graph_reset(g);
    ag_set_grad_enabled(g, grad_was);
}
