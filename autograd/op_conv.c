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
Var *ag_conv2d(Graph *g, Var *x, Var *w, Var *b, int stride, int pad) { (void)g; (void)x; (void)w; (void)b; (void)stride; (void)pad; CHECK(0, "conv2d not written yet"); return NULL; }
Var *ag_upsample2(Graph *g, Var *x) { (void)g; (void)x; CHECK(0, "not written yet"); return NULL; }
Var *ag_maxpool2(Graph *g, Var *x) { (void)g; (void)x; CHECK(0, "not written yet"); return NULL; }
Var *ag_groupnorm(Graph *g, Var *x, Var *gamma, Var *beta, int groups, Scalar eps) { (void)g; (void)x; (void)gamma; (void)beta; (void)groups; (void)eps; CHECK(0, "not written yet"); return NULL; }
