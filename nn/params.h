/* params.h - a model's parameters in flat parallel arrays.
 *
 * A model first declares its tensors (name and shape, in a fixed order); params_finalize()
 * then allocates five flat arrays of `total` scalars each:
 *   data  the weights           grad  dL/dweights (accumulated by backward)
 *   m, v  Adam's moments         ema   exponential moving average of the weights
 * Layers keep the index of each tensor and take pointers at forward time, so the optimiser
 * is one loop, NaN checks are one scan and a checkpoint is one walk over the list.
 * Names follow the equivalent PyTorch module ("down.2.conv1.weight"). */
#ifndef CMAD_PARAMS_H
#define CMAD_PARAMS_H

#include "../autograd/autograd.h"
#include "../tensor/rng.h"

#define PARAM_NAME_MAX 64

typedef enum ParamInit {
    INIT_UNIFORM_FAN_IN, /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's conv/linear default */
    INIT_NORMAL,         /* N(0, 1), PyTorch's embedding default */
    INIT_ONES,
    INIT_ZEROS
} ParamInit;

typedef struct ParamInfo {
    char name[PARAM_NAME_MAX];
    int ndim;
    int shape[TENSOR_MAX_DIM];
    size_t offset, n;
    ParamInit init;
    int fan_in;
} ParamInfo;

typedef struct Params {
    int count, cap;
    ParamInfo *info;
    size_t total;
    Scalar *data, *grad, *m, *v, *ema; /* NULL until params_finalize */
    int trainable;                     /* 0: leaves are made without requires_grad */
} Params;

void params_init(Params *p);
void params_free(Params *p);
/* Declares a tensor; the name is prefix + "." + suffix (or suffix alone). Returns its index. */
int params_add(Params *p, const char *prefix, const char *suffix, int ndim, const int *shape,
               ParamInit init, int fan_in);
void params_finalize(Params *p);
/* Fills data by each tensor's init rule, from the rng, in declaration order; ema = data. */
void params_initialise(Params *p, Rng *rng);
int params_find(const Params *p, const char *name); /* -1 when absent */
Scalar *params_data(const Params *p, int idx);
/* A leaf Var over tensor idx (gradient into the flat grad array when trainable). */
Var *params_leaf(Graph *g, const Params *p, int idx);
void params_zero_grad(Params *p);
/* Copies the EMA into the weights (for sampling and evaluation with the EMA). */
void params_use_ema(Params *p);
/* Global L2 norm of the gradient, summed in double in declaration order. */
double params_grad_norm(const Params *p);

#endif
