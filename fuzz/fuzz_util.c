/* fuzz_util.c - scratch files and error checks shared by the fuzz harnesses (see
 * fuzz_util.h). */
#define _POSIX_C_SOURCE 200809L /* getpid under -std=c99 */

#include "fuzz_util.h"

#include <sys/types.h>
#include <unistd.h>

static char fuzz_paths[FUZZ_MAX_FILES][FUZZ_PATH_MAX];
static const char *fuzz_names[FUZZ_MAX_FILES];
static int fuzz_npaths;

static void fuzz_remove_files(void)
{
    int i;
    for (i = 0; i < fuzz_npaths; i++) remove(fuzz_paths[i]);
}

/* The scratch path of `name` for this process (made once, removed at exit). */
const char *fuzz_tmp_path(const char *name)
{
    const char *dir = getenv("TMPDIR");
    FILE *probe;
    int i;
    for (i = 0; i < fuzz_npaths; i++)
        if (!strcmp(fuzz_names[i], name)) return fuzz_paths[i];
    FUZZ_CHECK(fuzz_npaths < FUZZ_MAX_FILES, "more than %d scratch files", FUZZ_MAX_FILES);
    if (!dir || !*dir) {
        dir = "/tmp";
        if ((probe = fopen("/dev/shm/.", "rb")) != NULL) { /* a folder opens on Linux */
            fclose(probe);
            dir = "/dev/shm";
        }
    }
    if (fuzz_npaths == 0) atexit(fuzz_remove_files);
    snprintf(fuzz_paths[fuzz_npaths], FUZZ_PATH_MAX, "%s/cmad-fuzz-%ld-%s", dir, (long)getpid(),
             name);
    fuzz_names[fuzz_npaths] = name;
    return fuzz_paths[fuzz_npaths++];
}

/* Writes bytes [n] to path (replacing it); aborts when the scratch file cannot be written,
 * since every later result would be meaningless. */
void fuzz_write(const char *path, const unsigned char *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    FUZZ_CHECK(fp != NULL, "cannot write the scratch file %s", path);
    FUZZ_CHECK(n == 0 || fwrite(bytes, 1, n, fp) == n, "short write to %s", path);
    FUZZ_CHECK(fclose(fp) == 0, "cannot close %s", path);
}

/* A failed reader must leave one terminated, non-empty message in err [cap]. */
void fuzz_check_err(const char *err, size_t cap, const char *who)
{
    FUZZ_CHECK(memchr(err, '\0', cap) != NULL, "%s: error message not terminated", who);
    FUZZ_CHECK(err[0] != '\0', "%s failed without a message", who);
}
