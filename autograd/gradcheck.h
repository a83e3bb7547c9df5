/* gradcheck.h - the finite-difference audit of every op in the table.
 *
 * A case builds a small graph around one op: leaf inputs that require grad (values kept
 * away from kinks and domain edges), the op, and returns its output.  The checker
 *   1. draws a random upstream gradient r (normal, not all ones) and runs backward with
 *      it, so the analytic gradient of L = sum(out * r) lands in every input;
 *   2. for each checked element x_j of each input, perturbs it by +-h, replays the whole
 *      tape forward, and forms the central difference (L(x+h) - L(x-h)) / 2h;
 *   3. reports max_j |a_j - n_j| / max(|a_j|, |n_j|, floor) per case, and fails a case
 *      whose analytic gradient is all zero for some input (it would pass vacuously).
 * The audit fails when any case fails or when any op in the table has no case.
 * Run it in the double build (make check-grad), where the target is < 1e-6. */
#ifndef CMAD_GRADCHECK_H
#define CMAD_GRADCHECK_H

#include <stdio.h>

#include "../tensor/rng.h"
#include "autograd.h"

typedef struct GradCase {
    OpKind op;         /* the op this case audits */
    const char *label; /* e.g. "per-channel broadcast" */
    /* Builds the inputs (leaves with requires_grad = 1) and the graph; returns the output. */
    Var *(*build)(Graph *g, Rng *r);
} GradCase;

typedef struct GradResult {
    double max_rel_err;
    int zero_grad;  /* some input's analytic gradient was all zero */
    int nonfinite;  /* some input's analytic gradient holds a NaN or an infinity */
    int checked;    /* elements checked */
    char shape[64]; /* output shape */
} GradResult;

/* Runs one case; h is the finite-difference step, floor the absolute floor. */
GradResult gradcheck_case(const GradCase *c, Arena *arena, unsigned long seed, double h,
                          double floor, int max_elems_per_input);
/* Runs every case, prints one line per case and a per-op coverage list to f, returns the
 * number of failures (cases over tol, all-zero gradients, ops without a case). */
int gradcheck_all(FILE *f, double tol, const char *only_op);

/* Replays the forward of every non-leaf node on the tape, oldest first. */
void ag_replay(Graph *g);

/* Helpers for case builders: a leaf with normal(0, scale) values (optionally kept at
 * least `away` from zero), or uniform values in [lo, hi]. */
Var *gc_normal(Graph *g, Rng *r, int ndim, const int *shape, double scale, double away,
               int requires_grad, const char *name);
Var *gc_uniform(Graph *g, Rng *r, int ndim, const int *shape, double lo, double hi,
                int requires_grad, const char *name);

/* Case lists, one per op file, each ended by an entry with build == NULL. */
extern const GradCase gc_elem_cases[];
extern const GradCase gc_reduce_cases[];
extern const GradCase gc_linalg_cases[];
extern const GradCase gc_conv_cases[];
extern const GradCase gc_norm_cases[];
extern const GradCase gc_shape_cases[];

#endif
