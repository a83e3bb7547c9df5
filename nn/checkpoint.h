/* checkpoint.h - a model's whole training state in one safetensors file.
 *
 * Tensors (F32, little-endian, names as golden/README.md):
 *   <param name>           the weights                 e.g. "down.2.conv1.weight"
 *   ema.<param name>       the EMA of the weights
 *   adam.m.<name>, adam.v.<name>   Adam's moments      (training checkpoints only)
 *   train.step (I64 [1]), train.rng (U64 [4]), train.rng_spare (F64 [1]),
 *   train.rng_has_spare (I64 [1])                      (training checkpoints only)
 * __metadata__: format "cmad-c/1", model (e.g. "unet-s", "mlp"), config (the model's
 * config string), params (count), plus any caller-supplied key/value pairs.
 * A resumed run restores weights, moments, EMA, step and RNG, so it continues bit for bit.
 * Loading refuses a file whose model kind differs or whose tensors do not match the
 * model (missing, extra, wrong shape or dtype), naming the file and the tensor. */
#ifndef CMAD_CHECKPOINT_H
#define CMAD_CHECKPOINT_H

#include "../tensor/rng.h"
#include "optim.h"
#include "params.h"

typedef struct TrainState {
    Adam *opt; /* NULL: weights and EMA only */
    Rng *rng;
    long step;
} TrainState;

/* meta: NULL or pairs {key, value, key, value, ..., NULL}. */
int ckpt_save(const char *path, const Params *p, const char *model, const char *config,
              const TrainState *ts, const char *const *meta, char *err, size_t errcap);
/* Reads the metadata "model" and "config" of a checkpoint (into caller buffers) and, when
 * values is not NULL, the element count of all its tensors together. */
int ckpt_peek(const char *path, char *model, size_t mcap, char *config, size_t ccap, size_t *values,
              char *err, size_t errcap);
/* Loads into p (already built for the expected model).  ts may be NULL (weights and EMA
 * only; training tensors in the file are then ignored); when ts is given, the file must
 * hold the training state. */
int ckpt_load(const char *path, Params *p, const char *model, TrainState *ts, char *err,
              size_t errcap);

/* A run's recipe is "key=value;..." over the options that shaped it (metadata "train").
 * 0 when `there` (read from a file: any bytes) and `here` are the same string; otherwise
 * -1 with err naming the first key, of either, whose values differ, or saying that `there`
 * is malformed. */
int ckpt_recipe_diff(const char *there, const char *here, char *err, size_t errcap);

#endif
