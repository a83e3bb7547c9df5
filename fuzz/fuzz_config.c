/* fuzz_config.c - libFuzzer harness of unet_config_parse (nn/unet.c), the parser of the
 * "config" string a checkpoint's metadata carries.
 *
 * Input: any bytes, copied and NUL-terminated (a NUL inside ends the string early, as it
 * would in a C string from safetensors metadata).  An accepted config must be inside the
 * ranges the parser promises, print (unet_config_str) to text that parses back to the same
 * config, hold no number too long for an int, have a name, and - when it is small enough
 * to be cheap - build into a UNet without tripping the builder's CHECKs.  A refusal must
 * leave a message.
 * Build and run: fuzz/run.sh. */
#include "fuzz_util.h"

#include <stdint.h>

#include "../nn/unet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The ranges unet_config_parse checks (nn/unet.c). */
static void check_ranges(const UNetConfig *c)
{
    int L;
    FUZZ_CHECK(c->in_ch >= 1 && c->in_ch <= 64, "in_ch %d", c->in_ch);
    FUZZ_CHECK(c->nlevels >= 1 && c->nlevels <= UNET_IMAGE_LEVELS, "levels %d", c->nlevels);
    FUZZ_CHECK(c->nres >= 1 && c->nres <= 4, "nres %d", c->nres);
    FUZZ_CHECK(c->sin_dim >= 2 && c->sin_dim <= 4096 && c->sin_dim % 2 == 0, "sin_dim %d",
               c->sin_dim);
    FUZZ_CHECK(c->emb_dim >= 1 && c->emb_dim <= 4096, "emb_dim %d", c->emb_dim);
    FUZZ_CHECK(c->num_classes >= 0 && c->num_classes <= 1000, "num_classes %d", c->num_classes);
    FUZZ_CHECK(c->groups >= 1, "groups %d", c->groups);
    for (L = 0; L < c->nlevels; L++)
        FUZZ_CHECK(c->ch[L] >= 1 && c->ch[L] <= 4096 && c->ch[L] % c->groups == 0, "ch[%d] %d", L,
                   c->ch[L]);
}

/* The longest run of digits in s: an accepted config must have none that %d could
 * overflow (sscanf's behaviour there is undefined; glibc wraps 4294967297 to 1). */
static int longest_number(const char *s)
{
    int run = 0, longest = 0;
    for (; *s; s++) {
        run = *s >= '0' && *s <= '9' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    return longest;
}

/* 1 when building the net costs little (a few thousand parameters at most). */
static int is_small(const UNetConfig *c)
{
    int L, small = c->in_ch <= 4 && c->sin_dim <= 16 && c->emb_dim <= 16 && c->num_classes <= 16;
    for (L = 0; L < c->nlevels; L++)
        if (c->ch[L] > 8) small = 0;
    return small;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = (char *)malloc(size + 1), err[512], text[512];
    UNetConfig c, back;
    memcpy(s, data, size);
    s[size] = '\0';
    memset(err, 'x', sizeof err);
    if (unet_config_parse(s, &c, err, sizeof err) != 0) {
        fuzz_check_err(err, sizeof err, "unet_config_parse");
        free(s);
        return 0;
    }
    check_ranges(&c);
    FUZZ_CHECK(longest_number(s) <= 9, "accepted a number of %d digits", longest_number(s));
    unet_config_str(&c, text, sizeof text);
    FUZZ_CHECK(strlen(text) + 1 < sizeof text, "config text truncated");
    FUZZ_CHECK(unet_config_parse(text, &back, err, sizeof err) == 0,
               "the printed config \"%s\" does not parse: %s", text, err);
    FUZZ_CHECK(!memcmp(&c, &back, sizeof c), "\"%s\" parses to another config", text);
    FUZZ_CHECK(unet_name(&c) != NULL, "no name");
    if (is_small(&c)) {
        UNet net;
        unet_build(&net, &c);
        FUZZ_CHECK(net.params.total > 0, "a net without parameters");
        unet_free(&net);
    }
    free(s);
    return 0;
}
