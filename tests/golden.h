/* golden.h - helpers for tests that reproduce ../shared/golden. */
#ifndef CMAD_TEST_GOLDEN_H
#define CMAD_TEST_GOLDEN_H

#include "../nn/params.h"
#include "../tensor/safetensors.h"

/* Opens golden/<name>.safetensors; records a failure and returns NULL when it can't. */
SafeFile *golden_open(const char *name);
/* The tolerance the golden README gives: 1e-10 (double build) or 1e-4 (float build),
 * relative to the largest absolute value of the expected tensor. */
double golden_tol(void);
/* Compares got [n] with the F64 tensor `name`; records a failure naming it. Returns the
 * error relative to max |expected|. */
double golden_compare(SafeFile *f, const char *name, const Scalar *got, size_t n);
/* Reads a float tensor of n elements into a fresh malloc'd array (NULL + failure if absent). */
Scalar *golden_read(SafeFile *f, const char *name, size_t n);
/* Loads every parameter of p from tensors named prefix + name. */
int golden_load_params(SafeFile *f, Params *p, const char *prefix);

#endif
