/* op_conv.c - STUB, being written: conv2d, upsample2, maxpool2, groupnorm. */
#include "ops.h"
#include "ops_internal.h"
#include "gradcheck.h"

void op_conv2d_forward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "conv2d not written yet"); }
void op_conv2d_backward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "conv2d not written yet"); }
void op_upsample2_forward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "not written yet"); }
void op_upsample2_backward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "not written yet"); }
void op_maxpool2_forward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "not written yet"); }
void op_maxpool2_backward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "not written yet"); }
void op_groupnorm_forward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "not written yet"); }
void op_groupnorm_backward(Graph *g, Var *out) { (void)g; (void)out; CHECK(0, "not written yet"); }
const GradCase gc_conv_cases[] = {{OP_LEAF, NULL, NULL}};
