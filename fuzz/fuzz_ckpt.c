/* fuzz_ckpt.c - libFuzzer harness of the checkpoint reader (nn/checkpoint.c).
 *
 * Input: the bytes of one checkpoint file.  Each input goes through
 *   ckpt_peek (with roomy and with tiny caller buffers, then unet_config_parse of the
 *             config it found, as apps/common.c does before it builds a UNet),
 *   ckpt_load into a tiny real UNet (FUZZ_TINY_UNET, model "unet") with the whole training
 *             state, with Adam but no RNG, and weights only,
 *   ckpt_load into the MLP classifier (model "mlp") with the training state,
 *   ckpt_recipe_diff of the file's recorded training options ("train") against a recipe
 *             and against themselves (which must agree).
 * The tiny UNet makes the success paths reachable with inputs of a few kilobytes; the MLP's
 * 2 MB weights are out of reach, but its names and shapes drive the refusals.  Every
 * failure must leave a message.  Build and run: fuzz/run.sh. */
#include "fuzz_util.h"

#include <stdint.h>

#include "../nn/checkpoint.h"
#include "../nn/classifier.h"
#include "../nn/unet.h"
#include "../tensor/safetensors.h"

static UNet tiny;
static Classifier mlp;
static Adam opt;
static Rng rng;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    UNetConfig cfg;
    char err[256];
    (void)argc;
    (void)argv;
    FUZZ_CHECK(unet_config_parse(FUZZ_TINY_UNET, &cfg, err, sizeof err) == 0, "%s", err);
    unet_build(&tiny, &cfg);
    classifier_build(&mlp, ARCH_MLP);
    opt = adam_default(1e-3);
    rng_seed(&rng, 1, 0);
    return 0;
}

static void load(const char *path, Params *p, const char *model, TrainState *ts)
{
    char err[512];
    memset(err, 'x', sizeof err);
    if (ckpt_load(path, p, model, ts, err, sizeof err) == 0) {
        if (ts && ts->rng) FUZZ_CHECK(ts->rng->has_spare == 0 || ts->rng->has_spare == 1, "spare");
    } else {
        fuzz_check_err(err, sizeof err, "ckpt_load");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path("ckpt.safetensors");
    char model[64], config[512], err[512], small[4];
    size_t values;
    TrainState ts;
    UNetConfig cfg;
    fuzz_write(path, data, size);

    memset(err, 'x', sizeof err);
    if (ckpt_peek(path, model, sizeof model, config, sizeof config, &values, err, sizeof err) ==
        0) {
        FUZZ_CHECK(memchr(model, '\0', sizeof model) && memchr(config, '\0', sizeof config),
                   "ckpt_peek: unterminated model or config");
        if (unet_config_parse(config, &cfg, err, sizeof err))
            fuzz_check_err(err, sizeof err, "unet_config_parse");
        FUZZ_CHECK(
            ckpt_peek(path, small, sizeof small, small, sizeof small, NULL, err, sizeof err) == 0,
            "ckpt_peek with small buffers failed: %.200s", err);
        FUZZ_CHECK(memchr(small, '\0', sizeof small), "ckpt_peek overran a small buffer");
    } else {
        fuzz_check_err(err, sizeof err, "ckpt_peek");
    }

    {
        SafeFile *f = st_open(path, err, sizeof err);
        const char *train = f ? st_meta(f, "train") : NULL;
        if (train) {
            memset(err, 'x', sizeof err);
            if (ckpt_recipe_diff(train, "cond=0;stratified-t=0;batch=64;lr=0.001", err, sizeof err))
                fuzz_check_err(err, sizeof err, "ckpt_recipe_diff");
            memset(err, 'x', sizeof err);
            FUZZ_CHECK(ckpt_recipe_diff(train, train, err, sizeof err) == 0 ||
                           strstr(err, "malformed"),
                       "ckpt_recipe_diff: a recipe differs from itself: %.200s", err);
            memset(small, 'x', sizeof small);
            if (ckpt_recipe_diff(train, "lr=1", small, sizeof small))
                FUZZ_CHECK(memchr(small, '\0', sizeof small), "ckpt_recipe_diff overran");
        }
        if (f) st_close(f);
    }

    ts.opt = &opt;
    ts.rng = &rng;
    ts.step = 0;
    load(path, &tiny.params, "unet", &ts);
    ts.rng = NULL;
    load(path, &tiny.params, "unet", &ts);
    load(path, &tiny.params, "unet", NULL);
    ts.rng = &rng;
    load(path, &mlp.params, "mlp", &ts);
    return 0;
}
