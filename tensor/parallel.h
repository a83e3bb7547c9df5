/* parallel.h - OpenMP loop annotations that vanish without OpenMP.
 *
 * Rule of the project: a parallel loop runs over the index that owns its writes, and any
 * reduction is summed in a fixed order that does not depend on the thread count, so one
 * thread and many threads give the same bits.  PAR_MIN is the work below which a loop
 * stays serial (threads cost more than they save). */
#ifndef CMAD_PARALLEL_H
#define CMAD_PARALLEL_H

#define PAR_MIN 32768

#ifdef _OPENMP
#define CMAD_PRAGMA(x) _Pragma(#x)
/* A parallel for over the next loop when `work` (elements touched) is large enough. */
#define PAR_FOR(work) CMAD_PRAGMA(omp parallel for schedule(static) if ((work) > PAR_MIN))
#else
#define PAR_FOR(work)
#endif

#endif
