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

/* kind, name, then what backward reads (AG_READ_*): inputs 0, 1, 2 and the output; input
 * 3 (conv2d's shift z, only added) is never read */
#define OP_ENTRY(kind, nm, r0, r1, r2, ro)                                                         \
    [kind] = {#nm,                                                                                 \
              op_##nm##_forward,                                                                   \
              op_##nm##_backward,                                                                  \
              {AG_READ_##r0, AG_READ_##r1, AG_READ_##r2, AG_READ_NO},                              \
              AG_READ_##ro}

const OpInfo ag_ops[OP_COUNT] = {
    [OP_LEAF] = {"leaf",
                 leaf_forward,
                 leaf_backward,
                 {AG_READ_NO, AG_READ_NO, AG_READ_NO, AG_READ_NO},
                 AG_READ_NO},
    OP_ENTRY(OP_ADD, add, NO, NO, NO, NO),
    OP_ENTRY(OP_SUB, sub, NO, NO, NO, NO),
    OP_ENTRY(OP_MUL, mul, OTHER, OTHER, NO, NO),
    OP_ENTRY(OP_AFFINE, affine, NO, NO, NO, NO),
    OP_ENTRY(OP_SILU, silu, YES, NO, NO, NO),
    OP_ENTRY(OP_RELU, relu, YES, NO, NO, NO),
    OP_ENTRY(OP_EXP, exp, NO, NO, NO, YES),
    OP_ENTRY(OP_LOG, log, YES, NO, NO, NO),
    OP_ENTRY(OP_SQRT, sqrt, NO, NO, NO, YES),
    OP_ENTRY(OP_SUM, sum, NO, NO, NO, NO),
    OP_ENTRY(OP_MEAN, mean, NO, NO, NO, NO),
    OP_ENTRY(OP_SUM_SAMPLE, sum_sample, NO, NO, NO, NO),
    OP_ENTRY(OP_SOFTMAX, softmax, NO, NO, NO, YES),
    OP_ENTRY(OP_SOFTMAX_CE, softmax_ce, NO, NO, NO, NO),
    OP_ENTRY(OP_MATMUL, matmul, OTHER, OTHER, NO, NO),
    OP_ENTRY(OP_LINEAR, linear, OTHER, OTHER, NO, NO),
    OP_ENTRY(OP_BMM, bmm, OTHER, OTHER, NO, NO),
    OP_ENTRY(OP_CONV2D, conv2d, OTHER, OTHER, NO, NO),
    OP_ENTRY(OP_UPSAMPLE2, upsample2, NO, NO, NO, NO),
    OP_ENTRY(OP_MAXPOOL2, maxpool2, NO, NO, NO, NO),
    OP_ENTRY(OP_GROUPNORM, groupnorm, YES, OTHER, NO, NO),
    OP_ENTRY(OP_GN_SILU, gn_silu, YES, YES, YES, NO),
    OP_ENTRY(OP_CONCAT, concat, NO, NO, NO, NO),
    OP_ENTRY(OP_SLICE, slice, NO, NO, NO, NO),
    OP_ENTRY(OP_RESHAPE, reshape, NO, NO, NO, NO),
    OP_ENTRY(OP_EMBEDDING, embedding, NO, NO, NO, NO),
};
