/* tmp_path.h - unique scratch file names for tests that write files (plain C99: no mkdir).
 * Names are "<TMPDIR, TEMP, TMP or /tmp>/cmadtest_<time>_<clock>_<counter>_<name>"; each
 * test removes what it made. */
#ifndef CMAD_TMP_PATH_H
#define CMAD_TMP_PATH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void t_tmp_path(char *buf, size_t cap, const char *name)
{
    static unsigned long counter;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = getenv("TEMP");
    if (!dir || !*dir) dir = getenv("TMP");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, cap, "%s/cmadtest_%lx_%lx_%lu_%s", dir, (unsigned long)time(NULL),
             (unsigned long)clock(), ++counter, name);
}

/* 1 when the file exists (can be opened for reading). */
static int t_file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Writes n raw bytes; 0 on success. */
static int t_write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f) return -1;
    ok = fwrite(bytes, 1, n, f) == n;
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : -1;
}

#endif
