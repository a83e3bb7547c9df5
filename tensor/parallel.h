/* parallel.h - OpenMP loop annotations that vanish without OpenMP.
 *
 * Rule of the project: a parallel loop runs over the index that owns its writes, and any
 * reduction is summed in a fixed order that does not depend on the thread count, so one
 * thread and many threads give the same bits.  PAR_MIN is the work below which a loop
 * stays serial (threads cost more than they save). */
#ifndef CMAD_PARALLEL_H
#define CMAD_PARALLEL_H

#define PAR_MIN 32768

/* The stride, in elements of elem bytes, from one thread's scratch to the next when a
 * parallel loop carves per elements for each thread out of one block: per rounded up to a
 * 64-byte line, then 64 KB that no thread touches.  Threads whose regions lay back to back
 * slowed each other down (Zen 5, 2 threads: unet-s's stem, which rewrites its 32 KB per
 * sample, took 0.40 ms on two threads as on one; 16 KB apart 0.31, 64 KB 0.20).  Probably
 * each core's prefetchers fetch lines ahead into the other's region, and every write there
 * takes them back; that was not measured directly. */
#define PAR_GAP_BYTES 65536
#define PAR_SPAN(per, elem) ((((per) * (elem) + 63) / 64 * 64 + PAR_GAP_BYTES) / (elem))

#ifdef _OPENMP
#define CMAD_PRAGMA(x) _Pragma(#x)
/* A parallel for over the next loop when `work` (elements touched) is large enough. */
#define PAR_FOR(work) CMAD_PRAGMA(omp parallel for schedule(static) if ((work) > PAR_MIN))
#else
#define PAR_FOR(work)
#endif

#endif
