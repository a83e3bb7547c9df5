/* sha256.h - SHA-256 (FIPS 180-4, section 6.2) for checkpoint fingerprints in run reports.
 *
 * Message: padded with one 1 bit, zeros, then its length in bits as a big-endian 64-bit
 * integer, to a multiple of 512 bits; each 64-byte block is read as 16 big-endian 32-bit
 * words M[0..15] (byte by byte, so the host's endianness never matters).
 * Schedule: W[t] = M[t] for t < 16, else s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], with
 *   s0(x) = ROTR7(x) ^ ROTR18(x) ^ SHR3(x),  s1(x) = ROTR17(x) ^ ROTR19(x) ^ SHR10(x).
 * Round t = 0..63 on a..h:
 *   T1 = h + S1(e) + Ch(e, f, g) + K[t] + W[t],  T2 = S0(a) + Maj(a, b, c),
 *   S0(x) = ROTR2 ^ ROTR13 ^ ROTR22,  S1(x) = ROTR6 ^ ROTR11 ^ ROTR25,
 *   Ch(x, y, z) = (x & y) ^ (~x & z),  Maj(x, y, z) = (x & y) ^ (x & z) ^ (y & z),
 *   then h = g, g = f, f = e, e = d + T1, d = c, c = b, b = a, a = T1 + T2;
 * after 64 rounds H[i] += a..h.  All sums are mod 2^32.  The digest is H[0..7], each
 * big-endian: 32 bytes, printed as 64 lowercase hex digits. */
#ifndef CMAD_SHA256_H
#define CMAD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32
#define SHA256_HEX_LEN 64 /* hex digits; buffers want SHA256_HEX_LEN + 1 */

typedef struct Sha256 {
    uint32_t h[8];         /* running hash H[0..7] */
    unsigned char buf[64]; /* the block being filled */
    size_t nbuf;           /* bytes in buf, 0..63 */
    uint64_t nbytes;       /* message length so far */
} Sha256;

/* Streaming: init, then update with the message in any pieces, then final (which leaves
 * the state spent: init again to reuse it). */
void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, unsigned char digest[SHA256_BYTES]);

/* One call over a buffer [n]. */
void sha256(const void *data, size_t n, unsigned char digest[SHA256_BYTES]);

/* digest [32] -> 64 lowercase hex digits and a NUL in hex [65]. */
void sha256_hex(const unsigned char digest[SHA256_BYTES], char hex[SHA256_HEX_LEN + 1]);

/* Hashes a whole file into hex [65]; 0, or -1 with "<path>: <what went wrong>" in err (file
 * missing or unreadable, read error) and hex set to "". */
int sha256_file_hex(const char *path, char hex[SHA256_HEX_LEN + 1], char *err, size_t errcap);

#endif
