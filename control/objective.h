/* objective.h - the aggregator phi and the task loss l(Y; c) of CMAD (DESIGN.md section 4).
 *
 *   phi      Y = sum_i m_i X^i / max(sum_i m_i, 1e-6), masks m_i constant per row:
 *            "split": horizontal bands of H // N rows, the first H mod N bands one row
 *            taller (N=2: 0-13 | 14-27; N=3: 0-9 | 10-18 | 19-27); "split" with k rows of
 *            overlap (each band also covers up to k rows of its neighbours, averaged);
 *            "average": every mask 1/N.
 *   loss     l(Y; c) = CE(classifier(Y), c) + Seam(Y),
 *            Seam = sum over band boundaries (a = last row of a band, b = first of the next)
 *                   1.0  mean_cols charb(Y[a] - Y[b])
 *                 + 0.05 mean_cols charb((Y[a] - Y[a-1]) - (Y[b+1] - Y[b])),
 *            charb(x) = sqrt(x^2 + 1e-6); the second term is skipped where row a-1 or
 *            b+1 does not exist.  Boundaries are those of "split" without overlap. */
#ifndef CMAD_OBJECTIVE_H
#define CMAD_OBJECTIVE_H

#include "../nn/classifier.h"

#define PHI_MAX_AGENTS 8

typedef enum PhiMode { PHI_SPLIT, PHI_AVERAGE } PhiMode;

typedef struct Phi {
    int agents, rows, overlap;
    PhiMode mode;
    Scalar w[PHI_MAX_AGENTS][28]; /* normalised row weights m_i / max(sum m, 1e-6) */
    int nbound;
    int bound_a[PHI_MAX_AGENTS]; /* last row of band j, first row of band j+1 = a + 1 */
} Phi;

/* The aggregator's name ("split", "average") and back: 0, or -1 for an unknown name. */
const char *phi_mode_name(PhiMode mode);
int phi_mode_parse(const char *name, PhiMode *mode);
/* rows = image height (28). overlap = k rows (split only). */
void phi_init(Phi *p, int agents, int rows, PhiMode mode, int overlap);
/* First row and row count of agent i's band under plain split. */
void phi_band(int agents, int rows, int i, int *start, int *count);
/* Y [B, 1, H, W] from the agents' states xs[i] [B, 1, H, W]. */
Var *phi_apply(Graph *g, const Phi *p, Var *const *xs);
/* Plain-array version (no graph): y [B*H*W] from xs[i] [B*H*W]. */
void phi_apply_raw(const Phi *p, const Scalar *const *xs, int B, int W, Scalar *y);

/* Per-sample loss parts of Y [B, 1, H, W] for targets c[B]: returns l [B]; ce and seam
 * [B] receive the parts when not NULL. */
Var *task_loss(Graph *g, const Phi *p, const Classifier *cls, Var *y, const int *c, Var **ce,
               Var **seam);
/* Seam(Y) per sample [B]. */
Var *seam_loss(Graph *g, const Phi *p, Var *y);

#endif
