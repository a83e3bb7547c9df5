/* op_reduce.c - reductions and the softmax family: sum, mean, per-sample sum, softmax
 * over the last dim, and fused log-softmax + cross-entropy.  Formulas in ops.h.
 * Every sum is accumulated in double in a fixed order, so the thread count never
 * changes a result. */
#include <math.h>

#include "../tensor/parallel.h"
#include "gradcheck.h"
#include "ops.h"
#include "ops_internal.h"

static const int shape_one[1] = {1};

/* ---------------------------------------------------------------- sum, mean */

/* lanes [SUM_LANES] combined as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) */
static double lanes_total(const double *l)
{
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

double sum_lanes(const Scalar *x, size_t n)
{
    double l[SUM_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i, k;
    for (i = 0; i + SUM_LANES <= n; i += SUM_LANES)
        for (k = 0; k < SUM_LANES; k++) l[k] += (double)x[i + k];
    for (k = 0; i < n; i++, k++) l[k] += (double)x[i];
    return lanes_total(l);
}

/* Two passes rather than one loop with both sums: GCC vectorises each lane loop on its own
 * but not the pair (2.7x on one group in isolation; in a training step the loop waits on
 * memory and its share did not fall).  Same order per lane, so the same bits. */
double sum_lanes2(const Scalar *a, const Scalar *b, double mu, size_t n, double *sab)
{
    double la[SUM_LANES] = {0, 0, 0, 0, 0, 0, 0, 0}, lb[SUM_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i, k;
    for (i = 0; i + SUM_LANES <= n; i += SUM_LANES)
        for (k = 0; k < SUM_LANES; k++) la[k] += (double)a[i + k];
    for (k = 0; i < n; i++, k++) la[k] += (double)a[i];
    for (i = 0; i + SUM_LANES <= n; i += SUM_LANES)
        for (k = 0; k < SUM_LANES; k++) lb[k] += (double)a[i + k] * ((double)b[i + k] - mu);
    for (k = 0; i < n; i++, k++) lb[k] += (double)a[i] * ((double)b[i] - mu);
    *sab = lanes_total(lb);
    return lanes_total(la);
}

double sum_lanes_sqdev(const Scalar *x, double mu, size_t n)
{
    double l[SUM_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i, k;
    for (i = 0; i + SUM_LANES <= n; i += SUM_LANES)
        for (k = 0; k < SUM_LANES; k++) {
            double d = (double)x[i + k] - mu;
            l[k] += d * d;
        }
    for (k = 0; i < n; i++, k++) {
        double d = (double)x[i] - mu;
        l[k] += d * d;
    }
    return lanes_total(l);
}

static double sum_all(const Scalar *x, size_t n) { return sum_lanes(x, n); }

void op_sum_forward(Graph *g, Var *out)
{
    (void)g;
    out->val.data[0] = (Scalar)sum_all(out->in[0]->val.data, out->in[0]->val.n);
}

void op_mean_forward(Graph *g, Var *out)
{
    const Var *a = out->in[0];
    (void)g;
    out->val.data[0] = (Scalar)(sum_all(a->val.data, a->val.n) / (double)a->val.n);
}

/* dx += dy[0] * scale everywhere */
static void spread_backward(Graph *g, Var *out, double scale)
{
    Var *a = out->in[0];
    Scalar *dx, d;
    long n = (long)a->val.n, i;
    if (!ag_needs(out, 0)) return;
    dx = ag_grad(g, a);
    d = (Scalar)((double)out->grad[0] * scale);
    PAR_FOR(n)
    for (i = 0; i < n; i++) dx[i] += d;
}

void op_sum_backward(Graph *g, Var *out) { spread_backward(g, out, 1.0); }
void op_mean_backward(Graph *g, Var *out)
{
    spread_backward(g, out, 1.0 / (double)out->in[0]->val.n);
}

Var *ag_sum(Graph *g, Var *a)
{
    Var *out = ag_node(g, OP_SUM, 1, shape_one, a, NULL, NULL);
    ag_forward(g, out);
    return out;
}

Var *ag_mean(Graph *g, Var *a)
{
    Var *out = ag_node(g, OP_MEAN, 1, shape_one, a, NULL, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- per-sample sum */

void op_sum_sample_forward(Graph *g, Var *out)
{
    const Var *a = out->in[0];
    long N = a->val.shape[0], n;
    size_t per = a->val.n / (size_t)N;
    (void)g;
    PAR_FOR(a->val.n)
    for (n = 0; n < N; n++) out->val.data[n] = (Scalar)sum_all(a->val.data + (size_t)n * per, per);
}

void op_sum_sample_backward(Graph *g, Var *out)
{
    Var *a = out->in[0];
    long N = a->val.shape[0], n;
    size_t per = a->val.n / (size_t)N;
    Scalar *dx;
    if (!ag_needs(out, 0)) return;
    dx = ag_grad(g, a);
    PAR_FOR(a->val.n)
    for (n = 0; n < N; n++) {
        size_t i;
        Scalar d = out->grad[n];
        for (i = 0; i < per; i++) dx[(size_t)n * per + i] += d;
    }
}

Var *ag_sum_sample(Graph *g, Var *a)
{
    int shape[1];
    Var *out;
    shape[0] = a->val.shape[0];
    out = ag_node(g, OP_SUM_SAMPLE, 1, shape, a, NULL, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- softmax */

/* y[r, :] = exp(x[r, :] - max) / sum, for rows of length D. */
static void softmax_rows(const Scalar *x, Scalar *y, long rows, int D)
{
    long r;
    PAR_FOR((long)rows * D)
    for (r = 0; r < rows; r++) {
        const Scalar *xr = x + (size_t)r * D;
        Scalar *yr = y + (size_t)r * D;
        double mx = (double)xr[0], s = 0.0;
        int j;
        for (j = 1; j < D; j++)
            if ((double)xr[j] > mx) mx = (double)xr[j];
        for (j = 0; j < D; j++) {
            double e = exp((double)xr[j] - mx);
            yr[j] = (Scalar)e;
            s += e;
        }
        for (j = 0; j < D; j++) yr[j] = (Scalar)((double)yr[j] / s);
    }
}

void op_softmax_forward(Graph *g, Var *out)
{
    const Var *a = out->in[0];
    int D = a->val.shape[a->val.ndim - 1];
    (void)g;
    softmax_rows(a->val.data, out->val.data, (long)(a->val.n / (size_t)D), D);
}

void op_softmax_backward(Graph *g, Var *out)
{
    Var *a = out->in[0];
    int D = a->val.shape[a->val.ndim - 1];
    long rows = (long)(a->val.n / (size_t)D), r;
    const Scalar *y = out->val.data, *dy = out->grad;
    Scalar *dx;
    if (!ag_needs(out, 0)) return;
    dx = ag_grad(g, a);
    PAR_FOR((long)a->val.n)
    for (r = 0; r < rows; r++) {
        size_t o = (size_t)r * D;
        double dot = 0.0;
        int j;
        for (j = 0; j < D; j++) dot += (double)dy[o + j] * (double)y[o + j];
        for (j = 0; j < D; j++) dx[o + j] += (Scalar)((double)y[o + j] * ((double)dy[o + j] - dot));
    }
}

Var *ag_softmax(Graph *g, Var *a)
{
    Var *out = ag_node(g, OP_SOFTMAX, a->val.ndim, a->val.shape, a, NULL, NULL);
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- softmax + CE */

/* saved: softmax probabilities [N, C] */
void op_softmax_ce_forward(Graph *g, Var *out)
{
    const Var *z = out->in[0];
    int N = z->val.shape[0], C = z->val.shape[1], n;
    Scalar *p;
    p = (Scalar *)ag_saved(g, out, z->val.n * sizeof(Scalar));
    softmax_rows(z->val.data, p, N, C);
    for (n = 0; n < N; n++) {
        const Scalar *zr = z->val.data + (size_t)n * C;
        double mx = (double)zr[0], s;
        int j, c = out->ids[n];
        for (j = 1; j < C; j++)
            if ((double)zr[j] > mx) mx = (double)zr[j];
        s = exp((double)zr[0] - mx); /* >= the largest term's 1 once the loop is done */
        for (j = 1; j < C; j++) s += exp((double)zr[j] - mx);
        out->val.data[n] = (Scalar)(mx + log(s) - (double)zr[c]); /* logsumexp - z_c */
    }
}

void op_softmax_ce_backward(Graph *g, Var *out)
{
    Var *z = out->in[0];
    int N = z->val.shape[0], C = z->val.shape[1], n, j;
    const Scalar *p = (const Scalar *)out->saved;
    Scalar *dz;
    if (!ag_needs(out, 0)) return;
    dz = ag_grad(g, z);
    for (n = 0; n < N; n++)
        for (j = 0; j < C; j++)
            dz[(size_t)n * C + j] +=
                out->grad[n] * (p[(size_t)n * C + j] - (j == out->ids[n] ? (Scalar)1 : (Scalar)0));
}

Var *ag_softmax_ce(Graph *g, Var *logits, const int *labels)
{
    Var *out;
    int shape[1], n;
    if (logits->val.ndim != 2)
        ag_shape_error("softmax_ce", &logits->val, NULL, "logits must be [N, C]");
    for (n = 0; n < logits->val.shape[0]; n++)
        CHECK(labels[n] >= 0 && labels[n] < logits->val.shape[1],
              "softmax_ce: label %d of sample %d is outside 0..%d", labels[n], n,
              logits->val.shape[1] - 1);
    shape[0] = logits->val.shape[0];
    out = ag_node(g, OP_SOFTMAX_CE, 1, shape, logits, NULL, NULL);
    out->ids = labels;
    ag_forward(g, out);
    return out;
}

/* ---------------------------------------------------------------- gradient checks */

static const int gc_s4[4] = {2, 3, 4, 5}, gc_s2[2] = {4, 7};
static const int gc_labels[4] = {3, 0, 6, 2};

static Var *gc_sum(Graph *g, Rng *r) { return ag_sum(g, gc_normal(g, r, 4, gc_s4, 1, 0, 1, "a")); }
static Var *gc_mean(Graph *g, Rng *r)
{
    return ag_mean(g, gc_normal(g, r, 4, gc_s4, 1, 0, 1, "a"));
}
static Var *gc_sum_sample(Graph *g, Rng *r)
{
    return ag_sum_sample(g, gc_normal(g, r, 4, gc_s4, 1, 0, 1, "a"));
}
static Var *gc_softmax(Graph *g, Rng *r)
{
    return ag_softmax(g, gc_normal(g, r, 4, gc_s4, 2, 0, 1, "a"));
}
static Var *gc_softmax_ce(Graph *g, Rng *r)
{
    return ag_softmax_ce(g, gc_normal(g, r, 2, gc_s2, 2, 0, 1, "logits"), gc_labels);
}

const GradCase gc_reduce_cases[] = {
    {OP_SUM, "all elements", gc_sum},
    {OP_MEAN, "all elements", gc_mean},
    {OP_SUM_SAMPLE, "per sample", gc_sum_sample},
    {OP_SOFTMAX, "last dim, rank 4", gc_softmax},
    {OP_SOFTMAX_CE, "N=4, C=7", gc_softmax_ce},
    {OP_LEAF, NULL, NULL},
};
