/* sha256.c - SHA-256 (see sha256.h for the formulas). */
#include "sha256.h"

#include <stdio.h>
#include <string.h>

/* K[t]: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Right rotation of a 32-bit word by n (0 < n < 32). */
static uint32_t rotr(uint32_t x, int n) { return (uint32_t)(x >> n | x << (32 - n)); }

/* One 64-byte block into the running hash h [8]. */
static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
    int t;
    for (t = 0; t < 16; t++) /* M[t]: big-endian, byte by byte */
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ w[t - 15] >> 3;
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ w[t - 2] >> 10;
        w[t] = (uint32_t)(s1 + w[t - 7] + s0 + w[t - 16]); /* W[t] = s1 + W[t-7] + s0 + W[t-16] */
    }
    a = h[0];
    b = h[1];
    c = h[2];
    d = h[3];
    e = h[4];
    f = h[5];
    g = h[6];
    hh = h[7];
    for (t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ ((uint32_t)~e & g);
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        t1 = (uint32_t)(hh + S1 + ch + sha256_k[t] + w[t]); /* T1 = h + S1(e) + Ch + K + W */
        t2 = (uint32_t)(S0 + maj);                          /* T2 = S0(a) + Maj(a, b, c) */
        hh = g;
        g = f;
        f = e;
        e = (uint32_t)(d + t1);
        d = c;
        c = b;
        b = a;
        a = (uint32_t)(t1 + t2);
    }
    h[0] = (uint32_t)(h[0] + a);
    h[1] = (uint32_t)(h[1] + b);
    h[2] = (uint32_t)(h[2] + c);
    h[3] = (uint32_t)(h[3] + d);
    h[4] = (uint32_t)(h[4] + e);
    h[5] = (uint32_t)(h[5] + f);
    h[6] = (uint32_t)(h[6] + g);
    h[7] = (uint32_t)(h[7] + hh);
}

void sha256_init(Sha256 *s)
{
    /* H(0): the first 32 bits of the fractional parts of the square roots of the first 8
     * primes */
    s->h[0] = 0x6a09e667;
    s->h[1] = 0xbb67ae85;
    s->h[2] = 0x3c6ef372;
    s->h[3] = 0xa54ff53a;
    s->h[4] = 0x510e527f;
    s->h[5] = 0x9b05688c;
    s->h[6] = 0x1f83d9ab;
    s->h[7] = 0x5be0cd19;
    s->nbuf = 0;
    s->nbytes = 0;
}

void sha256_update(Sha256 *s, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    s->nbytes += (uint64_t)n;
    if (s->nbuf > 0) { /* top up the partial block first */
        size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take;
        p += take;
        n -= take;
        if (s->nbuf < 64) return;
        sha256_block(s->h, s->buf);
        s->nbuf = 0;
    }
    for (; n >= 64; p += 64, n -= 64) sha256_block(s->h, p);
    if (n > 0) memcpy(s->buf, p, n);
    s->nbuf = n;
}

void sha256_final(Sha256 *s, unsigned char digest[SHA256_BYTES])
{
    uint64_t bits = s->nbytes * 8; /* length in bits, mod 2^64 as the standard says */
    int i;
    s->buf[s->nbuf++] = 0x80; /* the 1 bit, then zeros */
    if (s->nbuf > 56) {       /* no room for the length: one more block */
        memset(s->buf + s->nbuf, 0, 64 - s->nbuf);
        sha256_block(s->h, s->buf);
        s->nbuf = 0;
    }
    memset(s->buf + s->nbuf, 0, 56 - s->nbuf);
    for (i = 0; i < 8; i++) s->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i) & 0xff);
    sha256_block(s->h, s->buf);
    for (i = 0; i < 32; i++) digest[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)) & 0xff);
    s->nbuf = 0;
}

void sha256(const void *data, size_t n, unsigned char digest[SHA256_BYTES])
{
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, n);
    sha256_final(&s, digest);
}

void sha256_hex(const unsigned char digest[SHA256_BYTES], char hex[SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < SHA256_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[SHA256_HEX_LEN] = '\0';
}

int sha256_file_hex(const char *path, char hex[SHA256_HEX_LEN + 1], char *err, size_t errcap)
{
    unsigned char chunk[16384], digest[SHA256_BYTES];
    Sha256 s;
    size_t n;
    int bad;
    FILE *f = fopen(path, "rb");
    hex[0] = '\0';
    if (err && errcap) err[0] = '\0';
    if (!f) {
        if (err && errcap) snprintf(err, errcap, "%s: cannot open file for reading", path);
        return -1;
    }
    sha256_init(&s);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) sha256_update(&s, chunk, n);
    bad = ferror(f);
    fclose(f);
    if (bad) {
        if (err && errcap) snprintf(err, errcap, "%s: read error (a folder, or unreadable?)", path);
        return -1;
    }
    sha256_final(&s, digest);
    sha256_hex(digest, hex);
    return 0;
}
