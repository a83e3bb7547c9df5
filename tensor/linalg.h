/* linalg.h - small dense linear algebra in double: the symmetric eigen-solver behind the
 * Frechet distance (matrix square roots of covariance matrices).
 *
 * sym_eig: cyclic Jacobi rotations.  Each sweep visits every off-diagonal pair (p, q) and
 * applies the rotation that zeroes a[p][q]; it stops when the off-diagonal mass is below
 * 1e-24 of the total or after 100 sweeps.  Accurate to a few ulps of the largest
 * eigenvalue, O(n^3) per sweep, fine for n of a few hundred. */
#ifndef CMAD_LINALG_H
#define CMAD_LINALG_H

/* a [n, n] symmetric (overwritten); w [n] eigenvalues; v [n, n] (optional) eigenvectors as
 * columns, so a = v diag(w) v^T.  Returns the number of sweeps, -1 if it did not converge. */
int sym_eig(double *a, int n, double *w, double *v);

/* Frechet distance between Gaussians fitted to two feature sets x1 [n1, d], x2 [n2, d]
 * (means and unbiased covariances): |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2). */
double frechet_distance(const double *x1, int n1, const double *x2, int n2, int d);

#endif
