/* gradcheck.c - the finite-difference audit (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

Var *gc_normal(Graph *g, Rng *r, int ndim, const int *shape, double scale, double away,
               int requires_grad, const char *name)
{
    Var *v = ag_new(g, ndim, shape, requires_grad, name);
    size_t i;
    for (i = 0; i < v->val.n; i++) {
        double x = rng_normal(r) * scale;
        if (away > 0 && fabs(x) < away) x = x < 0 ? x - away : x + away;
        v->val.data[i] = (Scalar)x;
    }
    return v;
}

Var *gc_uniform(Graph *g, Rng *r, int ndim, const int *shape, double lo, double hi,
                int requires_grad, const char *name)
{
    Var *v = ag_new(g, ndim, shape, requires_grad, name);
    size_t i;
    for (i = 0; i < v->val.n; i++) v->val.data[i] = (Scalar)(lo + (hi - lo) * rng_uniform(r));
    return v;
}

/* Tape nodes oldest first (caller frees). */
static Var **tape_array(const Graph *g, int *n)
{
    Var **order = (Var **)xmalloc(sizeof(Var *) * (size_t)(g->count > 0 ? g->count : 1));
    Var *v;
    int k = 0, i;
    for (v = g->tail; v && k < g->count; v = v->prev) order[k++] = v;
    for (i = 0; i < k / 2; i++) {
        Var *t = order[i];
        order[i] = order[k - 1 - i];
        order[k - 1 - i] = t;
    }
    *n = k;
    return order;
}

void ag_replay(Graph *g)
{
    int n, i;
    Var **order = tape_array(g, &n);
    for (i = 0; i < n; i++)
        if (order[i]->op != OP_LEAF) ag_forward(g, order[i]);
    free(order);
}

/* sum_i r_i (plus_i - minus_i): differencing the outputs first keeps the elements that
 * the perturbation did not touch out of the rounding error. */
static double weighted_diff(const Scalar *plus, const Scalar *minus, const Scalar *r, size_t n)
{
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += ((double)plus[i] - (double)minus[i]) * (double)r[i];
    return s;
}

/* ---------------------------------------------------------------- one case */

GradResult gradcheck_case(const GradCase *c, Arena *arena, unsigned long seed, double h,
                          double floor, int max_elems_per_input)
{
    GradResult res;
    Graph g;
    Rng rng;
    Var *out, **order;
    Scalar *r, *plus;
    int n, i;
    size_t j;
    memset(&res, 0, sizeof res);
    ag_graph_init(&g, arena);
    ag_graph_reset(&g);
    rng_seed(&rng, seed, (uint64_t)c->op);
    out = c->build(&g, &rng);
    shape_str(out->val.ndim, out->val.shape, res.shape, sizeof res.shape);
    r = (Scalar *)arena_alloc(arena, out->val.n * sizeof(Scalar));
    for (j = 0; j < out->val.n; j++) r[j] = (Scalar)rng_normal(&rng);
    plus = (Scalar *)arena_alloc(arena, out->val.n * sizeof(Scalar));
    ag_backward_seed(&g, out, r);
    order = tape_array(&g, &n);
    for (i = 0; i < n; i++) {
        Var *x = order[i];
        size_t count, k;
        double amax = 0.0;
        if (x->op != OP_LEAF || !x->requires_grad) continue;
        CHECK(x->grad != NULL, "gradcheck %s: input %s got no gradient", ag_ops[c->op].name,
              x->name ? x->name : "?");
        for (j = 0; j < x->val.n; j++) {
            if (!isfinite((double)x->grad[j])) res.nonfinite = 1;
            if (fabs((double)x->grad[j]) > amax) amax = fabs((double)x->grad[j]);
        }
        if (amax == 0.0 && !res.nonfinite) res.zero_grad = 1;
        count = x->val.n < (size_t)max_elems_per_input ? x->val.n : (size_t)max_elems_per_input;
        for (k = 0; k < count; k++) {
            size_t e =
                count == x->val.n ? k : (size_t)((double)k * (double)x->val.n / (double)count);
            Scalar keep = x->val.data[e];
            double num, ana, den, err;
            x->val.data[e] = (Scalar)((double)keep + h);
            ag_replay(&g);
            memcpy(plus, out->val.data, out->val.n * sizeof(Scalar));
            x->val.data[e] = (Scalar)((double)keep - h);
            ag_replay(&g);
            x->val.data[e] = keep;
            num = weighted_diff(plus, out->val.data, r, out->val.n) / (2.0 * h);
            ana = (double)x->grad[e];
            den = fabs(num) > fabs(ana) ? fabs(num) : fabs(ana);
            if (den < floor) den = floor;
            err = fabs(num - ana) / den;
            if (err > res.max_rel_err || err != err) res.max_rel_err = err;
            res.checked++;
        }
    }
    ag_replay(&g);
    free(order);
    return res;
}

/* ---------------------------------------------------------------- the audit */

static const GradCase *const case_lists[] = {gc_elem_cases, gc_reduce_cases, gc_linalg_cases,
                                             gc_conv_cases, gc_norm_cases,   gc_shape_cases};

int gradcheck_all(FILE *f, double tol, const char *only_op)
{
    Arena *arena = arena_new((size_t)1 << 24);
    int covered[OP_COUNT];
    int failures = 0, ncases = 0, l, op;
    double h = sizeof(Scalar) == sizeof(double) ? 1e-6 : 1e-2;
    double floor = 1e-3;
    memset(covered, 0, sizeof covered);
    fprintf(f, "gradient audit: %s build, central differences h = %g, floor %g, tol %g\n",
            SCALAR_NAME, h, floor, tol);
    fprintf(f, "%-12s %-34s %-18s %8s %12s  %s\n", "op", "case", "shape", "checked", "max rel err",
            "verdict");
    for (l = 0; l < (int)(sizeof case_lists / sizeof case_lists[0]); l++) {
        const GradCase *c;
        for (c = case_lists[l]; c->build; c++) {
            GradResult res;
            int ok;
            covered[c->op]++;
            if (only_op && strcmp(only_op, ag_ops[c->op].name) != 0) continue;
            res = gradcheck_case(c, arena, 1234u, h, floor, 256);
            ok = res.max_rel_err < tol && !res.zero_grad && !res.nonfinite && res.checked > 0;
            fprintf(f, "%-12s %-34s %-18s %8d %12.3e  %s\n", ag_ops[c->op].name, c->label,
                    res.shape, res.checked, res.max_rel_err,
                    ok              ? "ok"
                    : res.nonfinite ? "FAIL (non-finite gradient)"
                    : res.zero_grad ? "FAIL (all-zero gradient)"
                                    : "FAIL");
            if (!ok) failures++;
            ncases++;
        }
    }
    for (op = 1; op < OP_COUNT; op++) {
        if (!covered[op]) {
            fprintf(f, "%-12s %-34s FAIL (no gradient check case)\n", ag_ops[op].name, "-");
            failures++;
        }
    }
    fprintf(f, "gradient audit: %d cases, %d ops, %d failures\n", ncases, OP_COUNT - 1, failures);
    arena_free(arena);
    return failures;
}
