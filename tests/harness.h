/* harness.h - the in-tree test harness.  A suite is an array of {name, function} ended by
 * {NULL, NULL}; tests/main.c runs every suite listed in its table and ends with the line
 * "N passed, N failed", exiting non-zero on any failure.  Assertions record a failure
 * with file:line and let the test continue. */
#ifndef CMAD_HARNESS_H
#define CMAD_HARNESS_H

#include <math.h>
#include <stdio.h>

typedef struct TestCase {
    const char *name;
    void (*fn)(void);
} TestCase;

extern int t_fail_count;          /* failures recorded in the running test */
extern const char *t_skip_reason; /* set by t_skip: the test did not run here */

/* Marks the running test as skipped (counted apart from passed and failed). */
void t_skip(const char *reason);

void t_report(const char *file, int line, const char *fmt, ...);
/* Folder of ../shared beside the repo (or $CMAD_SHARED), with a trailing slash. */
const char *t_shared_dir(void);
/* Path of the cmad program built beside the test runner ("<runner's folder>/cmad"). */
const char *t_app_path(void);
/* 1 when CMAD_TEST_QUICK is set (sanitizer runs skip the slowest cases). */
int t_quick(void);

#define T_OK(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) t_report(__FILE__, __LINE__, "%s", #cond);                                    \
    } while (0)

#define T_EQ_INT(a, b)                                                                             \
    do {                                                                                           \
        long t_a_ = (long)(a), t_b_ = (long)(b);                                                   \
        if (t_a_ != t_b_)                                                                          \
            t_report(__FILE__, __LINE__, "%s == %s: %ld != %ld", #a, #b, t_a_, t_b_);              \
    } while (0)

#define T_NEAR(a, b, tol)                                                                          \
    do {                                                                                           \
        double t_a_ = (double)(a), t_b_ = (double)(b);                                             \
        if (!(fabs(t_a_ - t_b_) <= (tol)))                                                         \
            t_report(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, t_a_, t_b_,     \
                     (double)(tol));                                                               \
    } while (0)

#endif
