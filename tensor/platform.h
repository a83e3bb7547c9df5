/* platform.h - everything beyond C99 lives behind these few calls: wall clock, thread
 * count, peak resident memory, large blocks on huge pages.  platform.c has one
 * implementation per platform family (POSIX, Windows) and a plain-C99 fallback. */
#ifndef CMAD_PLATFORM_H
#define CMAD_PLATFORM_H

#include <stddef.h>

double plat_now(void);        /* seconds from an arbitrary start, monotonic */
int plat_threads(void);       /* threads that parallel loops will use (1 without OpenMP) */
void plat_set_threads(int n); /* n >= 1; no effect without OpenMP */
int plat_thread_num(void);    /* this thread's number in its parallel team, 0 .. threads - 1 */
int plat_have_openmp(void);
size_t plat_peak_rss(void); /* peak resident set in bytes, 0 where unknown */
/* A block for an arena chunk: like malloc (NULL when out of memory), but on Linux a block of
 * 4 MB or more is aligned to 2 MB and advised onto transparent huge pages, which spares
 * the first touch of a many-GB rollout most of its page faults and the steady state its
 * TLB misses.  Free it with plat_free_big. */
void *plat_alloc_big(size_t bytes);
void plat_free_big(void *p);
/* Makes a folder and its parents (like mkdir -p); 0 on success or if it exists. */
int plat_mkdirs(const char *path);
/* Atomically replaces `to` with `from` (rename that overwrites on every platform). */
int plat_rename(const char *from, const char *to);
/* 1 where commands run through cmd.exe (Windows), 0 where through a POSIX shell: how an
 * argument with spaces or quotes is quoted when a run records its command line. */
int plat_shell_is_cmd(void);

/* A static function that the compiler must inline: kernels written once with constant
 * parameters (block sizes, row lengths) and called with different constants, which gcc
 * otherwise may keep as one copy taking them at run time.  Plain static elsewhere. */
#if defined(__GNUC__)
#define PLAT_INLINE static inline __attribute__((always_inline))
#else
#define PLAT_INLINE static
#endif

/* Placed before a loop of a fixed trip count: unroll it completely (gcc; clang unrolls such
 * loops without being asked, and other compilers may ignore it).  Register blocks held in
 * arrays stay in registers only when every loop over them is unrolled. */
#if defined(__GNUC__) && !defined(__clang__) && !defined(__TINYC__)
#define PLAT_UNROLL _Pragma("GCC unroll 64")
#else
#define PLAT_UNROLL
#endif

/* A hint to fetch the cache line at p for reading; nothing where the compiler has none. */
#if defined(__GNUC__)
#define PLAT_PREFETCH(p) __builtin_prefetch(p)
#else
#define PLAT_PREFETCH(p) ((void)(p))
#endif

#endif
