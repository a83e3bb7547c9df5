/* test_sha256.c - SHA-256 against the FIPS 180-4 example messages (one block, two blocks, one
 * million 'a' fed in uneven pieces), the padding edges (55, 56 and 64 bytes), and whole files:
 * a small temp file, an empty one, and a missing one (error naming the path). */
#include <stdlib.h>
#include <string.h>

#include "../data/sha256.h"
#include "harness.h"
#include "tmp_path.h"

/* hex digest of a buffer in one call */
static const char *hex_of(const void *data, size_t n)
{
    static char hex[SHA256_HEX_LEN + 1];
    unsigned char d[SHA256_BYTES];
    sha256(data, n, d);
    sha256_hex(d, hex);
    return hex;
}

#define T_HEX(got, want)                                                                           \
    do {                                                                                           \
        const char *t_g_ = (got), *t_w_ = (want);                                                  \
        if (strcmp(t_g_, t_w_) != 0)                                                               \
            t_report(__FILE__, __LINE__, "%s:\n      got  %s\n      want %s", #got, t_g_, t_w_);   \
    } while (0)

static void test_fips_vectors(void)
{
    /* FIPS 180-4 / NIST example messages */
    T_HEX(hex_of("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    T_HEX(hex_of("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    T_HEX(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* Lengths where the padding changes shape: 55 bytes (1 bit + length fit in the block), 56
 * (they do not: an extra block), 64 (a full block, padding alone in the next). */
static void test_padding_edges(void)
{
    char a[64];
    memset(a, 'a', sizeof a);
    T_HEX(hex_of(a, 55), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    T_HEX(hex_of(a, 56), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    T_HEX(hex_of(a, 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

/* One million 'a' through the streaming API in pieces of 1, 7, 63, 64, 65, 1000 and 4099
 * bytes (cycled), so partial blocks are topped up from every offset. */
static void test_million_a_streamed(void)
{
    static const size_t pieces[] = {1, 7, 63, 64, 65, 1000, 4099};
    unsigned char *m = (unsigned char *)malloc(1000000), d[SHA256_BYTES];
    char hex[SHA256_HEX_LEN + 1];
    size_t off = 0, k = 0;
    Sha256 s;
    memset(m, 'a', 1000000);
    sha256_init(&s);
    while (off < 1000000) {
        size_t n = pieces[k++ % (sizeof pieces / sizeof pieces[0])];
        if (n > 1000000 - off) n = 1000000 - off;
        sha256_update(&s, m + off, n);
        off += n;
    }
    sha256_final(&s, d);
    sha256_hex(d, hex);
    T_HEX(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    T_HEX(hex_of(m, 1000000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(m);
}

static void test_file_hash(void)
{
    static const unsigned char pat[9] = {'c', 'm', 'a', 'd', '-', 'c', '\n', 0, 0xff};
    unsigned char b[900];
    char path[512], hex[SHA256_HEX_LEN + 1], err[1024];
    size_t i;
    for (i = 0; i < sizeof b; i++) b[i] = pat[i % 9];
    t_tmp_path(path, sizeof path, "sha256.bin");
    T_EQ_INT(t_write_bytes(path, b, sizeof b), 0);
    T_EQ_INT(sha256_file_hex(path, hex, err, sizeof err), 0);
    T_HEX(hex, "af3629e1ae59fa5ab87fb07926585fa58894e0e7b1b2fa1b87e4fd7a02ec4c0a");
    T_HEX(hex, hex_of(b, sizeof b));
    T_EQ_INT(t_write_bytes(path, b, 0), 0); /* empty file */
    T_EQ_INT(sha256_file_hex(path, hex, err, sizeof err), 0);
    T_HEX(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    remove(path);
    T_OK(!t_file_exists(path));
    /* missing file: -1, an empty digest, and the path in the message */
    T_EQ_INT(sha256_file_hex(path, hex, err, sizeof err), -1);
    T_EQ_INT(hex[0], '\0');
    T_OK(strstr(err, path) != NULL);
}

const TestCase sha256_tests[] = {
    {"fips_vectors", test_fips_vectors},
    {"padding_edges", test_padding_edges},
    {"million_a_streamed", test_million_a_streamed},
    {"file_hash", test_file_hash},
    {NULL, NULL},
};
