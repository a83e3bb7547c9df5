/* wfile.c - atomic whole-file writes (see wfile.h). */
#include "wfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/platform.h"

int data_write_file(const char *path, const unsigned char *bytes, size_t n, char *err,
                    size_t errcap)
{
    size_t pn = strlen(path);
    char *tmp = (char *)malloc(pn + 5);
    FILE *fp;
    int ok;
    if (err && errcap) err[0] = '\0';
    if (!tmp) {
        if (err && errcap) snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, pn);
    memcpy(tmp + pn, ".tmp", 5);
    fp = fopen(tmp, "wb");
    if (!fp) {
        if (err && errcap) snprintf(err, errcap, "%s: cannot create %s for writing", path, tmp);
        free(tmp);
        return -1;
    }
    ok = fwrite(bytes, 1, n, fp) == n;
    if (fclose(fp) != 0) ok = 0;
    if (!ok) {
        if (err && errcap) snprintf(err, errcap, "%s: write error on %s (disk full?)", path, tmp);
    } else if (plat_rename(tmp, path) != 0) {
        if (err && errcap) snprintf(err, errcap, "%s: cannot rename %s to it", path, tmp);
        ok = 0;
    }
    if (!ok) remove(tmp);
    free(tmp);
    return ok ? 0 : -1;
}
