/* fuzz_sha256.c - libFuzzer harness of sha256_file_hex (data/sha256.c), which hashes every
 * checkpoint a run report names.
 *
 * Input: the bytes of one file.  The file's hash must equal the one-call hash of the same
 * bytes, and the streaming hash of them fed in pieces whose lengths come from the input
 * itself (so block boundaries fall everywhere); the hex must be 64 lowercase hex digits.
 * Build and run: fuzz/run.sh. */
#include "fuzz_util.h"

#include <stdint.h>

#include "../data/sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path("sha.bin");
    char hex[SHA256_HEX_LEN + 1], hex1[SHA256_HEX_LEN + 1], hex2[SHA256_HEX_LEN + 1], err[512];
    unsigned char d1[SHA256_BYTES], d2[SHA256_BYTES];
    Sha256 s;
    size_t pos = 0, i = 0;
    int k;
    fuzz_write(path, data, size);
    memset(err, 'x', sizeof err);
    FUZZ_CHECK(sha256_file_hex(path, hex, err, sizeof err) == 0, "sha256_file_hex: %.200s", err);
    for (k = 0; k < SHA256_HEX_LEN; k++)
        FUZZ_CHECK((hex[k] >= '0' && hex[k] <= '9') || (hex[k] >= 'a' && hex[k] <= 'f'),
                   "hex digit %d is '%c'", k, hex[k]);
    FUZZ_CHECK(hex[SHA256_HEX_LEN] == '\0', "hex not terminated");

    sha256(data, size, d1);
    sha256_hex(d1, hex1);
    FUZZ_CHECK(!strcmp(hex, hex1), "file %s, buffer %s", hex, hex1);

    sha256_init(&s);
    while (pos < size) { /* piece lengths 0..128 read from the data, then the rest */
        size_t n = i < size ? data[i] % 129u : size - pos;
        i++;
        if (n > size - pos) n = size - pos;
        sha256_update(&s, data + pos, n);
        pos += n;
    }
    sha256_final(&s, d2);
    sha256_hex(d2, hex2);
    FUZZ_CHECK(!strcmp(hex, hex2), "file %s, streamed %s", hex, hex2);
    return 0;
}
