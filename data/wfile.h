/* wfile.h - write a whole file atomically: the bytes go to "<path>.tmp", which is then
 * renamed over path (plat_rename); on any failure the tmp file is removed, so a failed
 * write leaves neither a partial file nor a stray tmp.  The PNG and NPY writers use it. */
#ifndef CMAD_WFILE_H
#define CMAD_WFILE_H

#include <stddef.h>

/* bytes [n]; 0 on success, -1 with "<path>: <what went wrong>" in err. */
int data_write_file(const char *path, const unsigned char *bytes, size_t n, char *err,
                    size_t errcap);

#endif
