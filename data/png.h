/* png.h - a minimal PNG encoder for sample grids (no compression, no dependencies).
 *
 * File (PNG spec, ISO/IEC 15948): the 8-byte signature 89 50 4E 47 0D 0A 1A 0A, then chunks
 * [length BE32][type 4 bytes][data][CRC-32 BE32 of type + data]:
 *   IHDR  width, height (BE32), bit depth 8, colour type 0 (gray) or 2 (RGB), compression 0,
 *         filter 0, interlace 0
 *   IDAT  a zlib stream (RFC 1950): CMF 0x78, FLG 0x01, then deflate (RFC 1951) STORED
 *         blocks, each [BFINAL|BTYPE=00 byte][LEN LE16][~LEN LE16][LEN <= 65535 raw bytes],
 *         then Adler-32 (BE32) of the raw bytes; raw = per row a filter byte 0 + the row
 *   IEND  empty.
 * CRC-32: reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF (a 16-entry
 * table, two look-ups per byte).  Adler-32: s1 = 1 + sum bytes, s2 = sum of s1, mod 65521,
 * result s2 << 16 | s1. */
#ifndef CMAD_PNG_H
#define CMAD_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "../tensor/tensor.h"

#define PNG_MAX_SIDE 32768     /* width and height cap */
#define PNG_GRID_PAD_VALUE 128 /* gray of the gaps between grid tiles */

/* Running checksums: start with crc = 0, adler = 1, feed the bytes in any pieces. */
uint32_t png_crc32(uint32_t crc, const unsigned char *buf, size_t n);
uint32_t png_adler32(uint32_t adler, const unsigned char *buf, size_t n);

/* Encodes pix [H, W, channels] (channels 1 = gray, 3 = RGB) into a new buffer *out
 * (free() it) of *outlen bytes.  0, or -1 with a message for a bad size. */
int png_encode(int w, int h, int channels, const unsigned char *pix, unsigned char **out,
               size_t *outlen, char *err, size_t errcap);

/* Writes a PNG through "<path>.tmp" and a rename.  pix [H, W] or [H, W, 3]. */
int png_write_gray(const char *path, int w, int h, const unsigned char *pix, char *err,
                   size_t errcap);
int png_write_rgb(const char *path, int w, int h, const unsigned char *pix, char *err,
                  size_t errcap);

/* Tiles n images imgs [n, h, w] (values in [0, 1], clamped; NaN shows as 0) into a grid of
 * `cols` columns and ceil(n / cols) rows with `pad` pixels of PNG_GRID_PAD_VALUE around
 * and between tiles, and writes it as gray PNG. */
int png_write_grid(const char *path, const Scalar *imgs, int n, int h, int w, int cols, int pad,
                   char *err, size_t errcap);

#endif
