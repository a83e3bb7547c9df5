/* objective.c - phi and l(Y; c) (see objective.h). */
#include "objective.h"

#include <string.h>

#include "../autograd/ops.h"

void phi_band(int agents, int rows, int i, int *start, int *count)
{
    int base = rows / agents, extra = rows % agents, j, s = 0;
    for (j = 0; j < i; j++) s += base + (j < extra);
    *start = s;
    *count = base + (i < extra);
}

const char *phi_mode_name(PhiMode mode) { return mode == PHI_AVERAGE ? "average" : "split"; }

int phi_mode_parse(const char *name, PhiMode *mode)
{
    if (!strcmp(name, "split"))
        *mode = PHI_SPLIT;
    else if (!strcmp(name, "average"))
        *mode = PHI_AVERAGE;
    else
        return -1;
    return 0;
}

void phi_init(Phi *p, int agents, int rows, PhiMode mode, int overlap)
{
    Scalar m[PHI_MAX_AGENTS][28];
    int i, r;
    CHECK(agents >= 1 && agents <= PHI_MAX_AGENTS, "phi: %d agents (1..%d)", agents,
          PHI_MAX_AGENTS);
    CHECK(rows >= 2 && rows <= 28, "phi: %d rows", rows);
    CHECK(overlap >= 0 && overlap < rows, "phi: overlap %d", overlap);
    memset(p, 0, sizeof *p);
    p->agents = agents;
    p->rows = rows;
    p->mode = mode;
    p->overlap = overlap;
    for (i = 0; i < agents; i++) {
        int s, n;
        phi_band(agents, rows, i, &s, &n);
        for (r = 0; r < rows; r++) {
            if (mode == PHI_AVERAGE)
                m[i][r] = (Scalar)(1.0 / agents);
            else
                m[i][r] = (r >= s - overlap && r < s + n + overlap) ? (Scalar)1 : (Scalar)0;
        }
        if (i + 1 < agents) p->bound_a[p->nbound++] = s + n - 1;
    }
    for (r = 0; r < rows; r++) {
        double sum = 0.0;
        for (i = 0; i < agents; i++) sum += (double)m[i][r];
        if (sum < 1e-6) sum = 1e-6;
        for (i = 0; i < agents; i++) p->w[i][r] = (Scalar)((double)m[i][r] / sum);
    }
}

Var *phi_apply(Graph *g, const Phi *p, Var *const *xs)
{
    int ws[4], i;
    Var *y = NULL;
    ws[0] = ws[1] = ws[3] = 1;
    ws[2] = p->rows;
    for (i = 0; i < p->agents; i++) {
        Var *w = ag_leaf(g, (Scalar *)p->w[i], NULL, 0, 4, ws, "phi mask");
        Var *term = ag_mul(g, xs[i], w);
        y = y ? ag_add(g, y, term) : term;
    }
    return y;
}

void phi_apply_raw(const Phi *p, const Scalar *const *xs, int B, int W, Scalar *y)
{
    int b, r, c, i;
    for (b = 0; b < B; b++)
        for (r = 0; r < p->rows; r++)
            for (c = 0; c < W; c++) {
                size_t q = ((size_t)b * p->rows + r) * W + c;
                Scalar acc = 0;
                for (i = 0; i < p->agents; i++) acc += xs[i][q] * p->w[i][r];
                y[q] = acc;
            }
}

/* mean over columns of charb(v), per sample: v [B, 1, 1, W] -> [B] */
static Var *charb_mean(Graph *g, Var *v)
{
    Var *c = ag_sqrt(g, ag_affine(g, ag_mul(g, v, v), 1, (Scalar)1e-6));
    return ag_scale(g, ag_sum_sample(g, c), (Scalar)(1.0 / v->val.shape[3]));
}

Var *seam_loss(Graph *g, const Phi *p, Var *y)
{
    int H = y->val.shape[2], j;
    Var *total = NULL;
    for (j = 0; j < p->nbound; j++) {
        int a = p->bound_a[j], b = a + 1;
        Var *ya = ag_slice(g, y, 2, a, 1), *yb = ag_slice(g, y, 2, b, 1);
        Var *term = charb_mean(g, ag_sub(g, ya, yb));
        if (a - 1 >= 0 && b + 1 < H) {
            Var *da = ag_sub(g, ya, ag_slice(g, y, 2, a - 1, 1));
            Var *db = ag_sub(g, ag_slice(g, y, 2, b + 1, 1), yb);
            term = ag_add(g, term, ag_scale(g, charb_mean(g, ag_sub(g, da, db)), (Scalar)0.05));
        }
        total = total ? ag_add(g, total, term) : term;
    }
    if (!total) { /* one agent: no boundary */
        int s[1];
        s[0] = y->val.shape[0];
        total = ag_zeros(g, 1, s, 0, "seam");
    }
    return total;
}

Var *task_loss(Graph *g, const Phi *p, const Classifier *cls, Var *y, const int *c, Var **ce,
               Var **seam)
{
    Var *lce = ag_softmax_ce(g, classifier_forward(g, cls, y, NULL), c);
    Var *ls = seam_loss(g, p, y);
    if (ce) *ce = lce;
    if (seam) *seam = ls;
    return ag_add(g, lce, ls);
}
