/* optable.c - the one table of ops: {name, forward, backward}, indexed by OpKind. */
#include "ops_internal.h"

static void leaf_forward(Graph *g, Var *out)
{
    (void)g;
    (void)out;
}
static void leaf_backward(Graph *g, Var *out)
{
    (void)g;
    (void)out;
}

#define OP_ENTRY(kind, nm) [kind] = {#nm, op_##nm##_forward, op_##nm##_backward}

const OpInfo ag_ops[OP_COUNT] = {
    [OP_LEAF] = {"leaf", leaf_forward, leaf_backward},
    OP_ENTRY(OP_ADD, add),
    OP_ENTRY(OP_SUB, sub),
    OP_ENTRY(OP_MUL, mul),
    OP_ENTRY(OP_AFFINE, affine),
    OP_ENTRY(OP_SILU, silu),
    OP_ENTRY(OP_RELU, relu),
    OP_ENTRY(OP_EXP, exp),
    OP_ENTRY(OP_LOG, log),
    OP_ENTRY(OP_SQRT, sqrt),
    OP_ENTRY(OP_SUM, sum),
    OP_ENTRY(OP_MEAN, mean),
    OP_ENTRY(OP_SUM_SAMPLE, sum_sample),
    OP_ENTRY(OP_SOFTMAX, softmax),
    OP_ENTRY(OP_SOFTMAX_CE, softmax_ce),
    OP_ENTRY(OP_MATMUL, matmul),
    OP_ENTRY(OP_LINEAR, linear),
    OP_ENTRY(OP_BMM, bmm),
    OP_ENTRY(OP_CONV2D, conv2d),
    OP_ENTRY(OP_UPSAMPLE2, upsample2),
    OP_ENTRY(OP_MAXPOOL2, maxpool2),
    OP_ENTRY(OP_GROUPNORM, groupnorm),
    OP_ENTRY(OP_CONCAT, concat),
    OP_ENTRY(OP_SLICE, slice),
    OP_ENTRY(OP_RESHAPE, reshape),
    OP_ENTRY(OP_EMBEDDING, embedding),
};
