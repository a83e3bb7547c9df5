/* golden.c - helpers for the golden tests (golden.h). */
#include "golden.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

SafeFile *golden_open(const char *name)
{
    char path[1024], err[512];
    SafeFile *f;
    snprintf(path, sizeof path, "%sgolden/%s.safetensors", t_shared_dir(), name);
    f = st_open(path, err, sizeof err);
    if (!f) t_report(__FILE__, __LINE__, "cannot open golden file: %s", err);
    return f;
}

double golden_tol(void) { return sizeof(Scalar) == sizeof(double) ? 1e-10 : 1e-4; }

double golden_compare(SafeFile *f, const char *name, const Scalar *got, size_t n)
{
    const SafeEntry *e = st_find(f, name);
    double *want, mx = 0.0, err = 0.0;
    char msg[512];
    size_t i;
    if (!e || e->numel != n) {
        t_report(__FILE__, __LINE__, "golden tensor %s missing or of size %lu, not %lu", name,
                 e ? (unsigned long)e->numel : 0ul, (unsigned long)n);
        return INFINITY;
    }
    want = (double *)malloc(sizeof(double) * (n ? n : 1));
    if (!want || st_read_f64(f, e, want, n, msg, sizeof msg)) {
        t_report(__FILE__, __LINE__, "golden tensor %s unreadable", name);
        free(want);
        return INFINITY;
    }
    for (i = 0; i < n; i++)
        if (fabs(want[i]) > mx) mx = fabs(want[i]);
    for (i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > err || d != d) err = d;
    }
    err = mx > 0 ? err / mx : err;
    if (!(err <= golden_tol()))
        t_report(__FILE__, __LINE__, "%s: relative error %.3e > %.0e", name, err, golden_tol());
    free(want);
    return err;
}

Scalar *golden_read(SafeFile *f, const char *name, size_t n)
{
    const SafeEntry *e = st_find(f, name);
    Scalar *x;
    char msg[512];
    if (!e || e->numel != n) {
        t_report(__FILE__, __LINE__, "golden tensor %s missing or wrong size", name);
        return NULL;
    }
    x = (Scalar *)malloc(sizeof(Scalar) * n);
    if (!x || st_read_scalar(f, e, x, n, msg, sizeof msg)) {
        t_report(__FILE__, __LINE__, "golden tensor %s: %s", name, msg);
        free(x);
        return NULL;
    }
    return x;
}

int golden_load_params(SafeFile *f, Params *p, const char *prefix)
{
    char nm[256], msg[512];
    int i;
    for (i = 0; i < p->count; i++) {
        const ParamInfo *pi = &p->info[i];
        snprintf(nm, sizeof nm, "%s%s", prefix, pi->name);
        if (st_load_scalar(f, nm, pi->ndim, pi->shape, p->data + pi->offset, msg, sizeof msg)) {
            t_report(__FILE__, __LINE__, "%s", msg);
            return -1;
        }
    }
    return 0;
}
