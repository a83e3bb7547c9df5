/* fuzz_util.h - shared pieces of the libFuzzer harnesses in fuzz/ (see fuzz/run.sh).
 *
 * The readers under test take a path, so each harness writes the fuzz input to one scratch
 * file per process and names it to the reader:
 *   "<dir>/cmad-fuzz-<pid>-<name>", dir = $TMPDIR when set, else /dev/shm when it exists
 *   (no disk traffic), else /tmp; the files are removed at exit.
 * A property the harness checks (an error without a message, a value outside its documented
 * range, a round trip that differs) aborts with FUZZ_CHECK, which libFuzzer reports as a
 * crash with the input that caused it.  fuzz_util.c is linked into every harness; it is POSIX
 * only (getpid). */
#ifndef CMAD_FUZZ_UTIL_H
#define CMAD_FUZZ_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FILES 4
#define FUZZ_PATH_MAX 512

/* A real UNet small enough that a whole training checkpoint of it is a few kilobytes: the
 * checkpoint harness loads into it, the seed generator (fuzz/seeds.c) writes its files. */
#define FUZZ_TINY_UNET                                                                             \
    "in_ch=1;levels=1;ch=1,0,0,0;nres=1;attention=0;sin_dim=2;emb_dim=1;num_classes=0;groups=1"

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The scratch path of `name` for this process (made once, removed at exit). */
const char *fuzz_tmp_path(const char *name);
/* Writes bytes [n] to path (replacing it); aborts when the scratch file cannot be written,
 * since every later result would be meaningless. */
void fuzz_write(const char *path, const unsigned char *bytes, size_t n);
/* A failed reader must leave one terminated, non-empty message in err [cap]. */
void fuzz_check_err(const char *err, size_t cap, const char *who);

#endif
