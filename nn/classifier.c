/* classifier.c - the objective MLP and cnn-eval (see classifier.h). */
#include "classifier.h"

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
