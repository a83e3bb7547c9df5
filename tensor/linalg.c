/* linalg.c - Jacobi eigen-solver and the Frechet distance (see linalg.h). */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

int sym_eig(double *a, int n, double *w, double *v)
{
    int sweep, p, q, k;
    if (v) {
        memset(v, 0, sizeof(double) * (size_t)n * n);
        for (k = 0; k < n; k++) v[(size_t)k * n + k] = 1.0;
    }
    for (sweep = 1; sweep <= 100; sweep++) {
        double off = 0.0, tot = 0.0;
        for (p = 0; p < n; p++)
            for (q = 0; q < n; q++) {
                double x = a[(size_t)p * n + q] * a[(size_t)p * n + q];
                tot += x;
                if (p != q) off += x;
            }
        if (off <= 1e-24 * tot || off == 0.0) {
            for (k = 0; k < n; k++) w[k] = a[(size_t)k * n + k];
            return sweep;
        }
        for (p = 0; p < n - 1; p++)
            for (q = p + 1; q < n; q++) {
                double apq = a[(size_t)p * n + q], app, aqq, theta, t, c, s;
                if (apq == 0.0) continue;
                app = a[(size_t)p * n + p];
                aqq = a[(size_t)q * n + q];
                /* the rotation angle that zeroes a[p][q]: t = tan, |t| <= 1 */
                theta = (aqq - app) / (2.0 * apq);
                t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                c = 1.0 / sqrt(t * t + 1.0);
                s = t * c;
                for (k = 0; k < n; k++) { /* columns p and q */
                    double akp = a[(size_t)k * n + p], akq = a[(size_t)k * n + q];
                    a[(size_t)k * n + p] = c * akp - s * akq;
                    a[(size_t)k * n + q] = s * akp + c * akq;
                }
                for (k = 0; k < n; k++) { /* rows p and q */
                    double apk = a[(size_t)p * n + k], aqk = a[(size_t)q * n + k];
                    a[(size_t)p * n + k] = c * apk - s * aqk;
                    a[(size_t)q * n + k] = s * apk + c * aqk;
                }
                if (v)
                    for (k = 0; k < n; k++) {
                        double vkp = v[(size_t)k * n + p], vkq = v[(size_t)k * n + q];
                        v[(size_t)k * n + p] = c * vkp - s * vkq;
                        v[(size_t)k * n + q] = s * vkp + c * vkq;
                    }
            }
    }
    for (k = 0; k < n; k++) w[k] = a[(size_t)k * n + k];
    return -1;
}

static void mean_cov(const double *x, int n, int d, double *mu, double *cov)
{
    int i, j, k;
    memset(mu, 0, sizeof(double) * (size_t)d);
    memset(cov, 0, sizeof(double) * (size_t)d * d);
    for (i = 0; i < n; i++)
        for (j = 0; j < d; j++) mu[j] += x[(size_t)i * d + j];
    for (j = 0; j < d; j++) mu[j] /= n;
    for (i = 0; i < n; i++)
        for (j = 0; j < d; j++) {
            double dj = x[(size_t)i * d + j] - mu[j];
            for (k = 0; k <= j; k++) cov[(size_t)j * d + k] += dj * (x[(size_t)i * d + k] - mu[k]);
        }
    for (j = 0; j < d; j++)
        for (k = 0; k <= j; k++) {
            double c = cov[(size_t)j * d + k] / (n > 1 ? n - 1 : 1);
            cov[(size_t)j * d + k] = cov[(size_t)k * d + j] = c;
        }
}

double frechet_distance(const double *x1, int n1, const double *x2, int n2, int d)
{
    size_t dd = (size_t)d * d;
    double *buf = (double *)xmalloc(sizeof(double) * (6 * dd + 4 * (size_t)d));
    double *c1 = buf, *c2 = c1 + dd, *v = c2 + dd, *s = v + dd, *m = s + dd, *t = m + dd;
    double *mu1 = t + dd, *mu2 = mu1 + d, *w = mu2 + d, *w2 = w + d;
    double fd = 0.0, tr = 0.0;
    int i, j, k;
    mean_cov(x1, n1, d, mu1, c1);
    mean_cov(x2, n2, d, mu2, c2);
    for (j = 0; j < d; j++)
        fd += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]) + c1[(size_t)j * d + j] + c2[(size_t)j * d + j];
    /* s = C1^1/2 = V diag(sqrt(max(w, 0))) V^T */
    memcpy(m, c1, sizeof(double) * dd);
    sym_eig(m, d, w, v);
    for (i = 0; i < d; i++)
        for (j = 0; j < d; j++) {
            double acc = 0.0;
            for (k = 0; k < d; k++)
                acc += v[(size_t)i * d + k] * sqrt(w[k] > 0 ? w[k] : 0) * v[(size_t)j * d + k];
            s[(size_t)i * d + j] = acc;
        }
    /* m = s C2 s (symmetric, positive semi-definite); tr sqrt(m) = sum sqrt(eig) */
    for (i = 0; i < d; i++)
        for (j = 0; j < d; j++) {
            double acc = 0.0;
            for (k = 0; k < d; k++) acc += s[(size_t)i * d + k] * c2[(size_t)k * d + j];
            t[(size_t)i * d + j] = acc;
        }
    for (i = 0; i < d; i++)
        for (j = 0; j < d; j++) {
            double acc = 0.0;
            for (k = 0; k < d; k++) acc += t[(size_t)i * d + k] * s[(size_t)k * d + j];
            m[(size_t)i * d + j] = acc;
        }
    for (i = 0; i < d; i++) /* symmetrise the rounding */
        for (j = 0; j < i; j++)
            m[(size_t)i * d + j] = m[(size_t)j * d + i] =
                0.5 * (m[(size_t)i * d + j] + m[(size_t)j * d + i]);
    sym_eig(m, d, w2, NULL);
    for (j = 0; j < d; j++) tr += sqrt(w2[j] > 0 ? w2[j] : 0);
    fd -= 2.0 * tr;
    free(buf);
    return fd;
}
