/* metrics.c - per-setting metrics (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"

#define MB 256

void classify(const Classifier *c, const Scalar *x, int n, int *label, Scalar *conf, Scalar *feat)
{
    Arena *ar = arena_new((size_t)32 << 20);
    Graph g;
    int b0;
    ag_graph_init(&g, ar);
    ag_set_grad_enabled(&g, 0);
    for (b0 = 0; b0 < n; b0 += MB) {
        int B = n - b0 < MB ? n - b0 : MB, xs[4] = {0, 1, 28, 28}, i;
        Var *f, *logits, *p;
        xs[0] = B;
        ag_graph_reset(&g);
        logits = classifier_forward(
            &g, c, ag_leaf(&g, (Scalar *)x + (size_t)b0 * 784, NULL, 0, 4, xs, "x"), &f);
        p = ag_softmax(&g, logits);
        for (i = 0; i < B; i++) {
            int best = classifier_argmax(p->val.data + i * 10);
            if (label) label[b0 + i] = best;
            if (conf) conf[b0 + i] = p->val.data[i * 10 + best];
        }
        if (feat)
            memcpy(feat + (size_t)b0 * f->val.shape[1], f->val.data, f->val.n * sizeof(Scalar));
    }
    arena_free(ar);
}

void metrics_compute(const Phi *phi, const Classifier *obj, const Classifier *evalc,
                     const Scalar *y, int n, const int *targets, Metrics *m)
{
    Arena *ar = arena_new((size_t)32 << 20);
    Graph g;
    int b0, hit_obj = 0, hit_eval = 0;
    double term = 0, seam = 0;
    ag_graph_init(&g, ar);
    ag_set_grad_enabled(&g, 0);
    for (b0 = 0; b0 < n; b0 += MB) {
        int B = n - b0 < MB ? n - b0 : MB, xs[4] = {0, 1, 28, 28}, i;
        Var *yv, *l, *s;
        xs[0] = B;
        ag_graph_reset(&g);
        yv = ag_leaf(&g, (Scalar *)y + (size_t)b0 * 784, NULL, 0, 4, xs, "Y");
        l = task_loss(&g, phi, obj, yv, targets + b0, NULL, &s);
        for (i = 0; i < B; i++) {
            term += (double)l->val.data[i];
            seam += (double)s->val.data[i];
        }
    }
    {
        int *lab = (int *)xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), i;
        classify(obj, y, n, lab, NULL, NULL);
        for (i = 0; i < n; i++) hit_obj += lab[i] == targets[i];
        if (evalc) {
            classify(evalc, y, n, lab, NULL, NULL);
            for (i = 0; i < n; i++) hit_eval += lab[i] == targets[i];
        }
        free(lab);
    }
    m->n = n;
    m->acc_obj = n ? (double)hit_obj / n : 0;
    m->acc_eval = evalc && n ? (double)hit_eval / n : -1;
    m->terminal = n ? term / n : 0;
    m->seam = n ? seam / n : 0;
    arena_free(ar);
}
