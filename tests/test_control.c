/* test_control.c - phi, the task loss and the CMAD objective against ../shared/golden. */
#include <stdlib.h>
#include <string.h>

#include "../autograd/ops.h"
#include "../control/objective.h"
#include "golden.h"
#include "harness.h"

static void test_phi_bands(void)
{
    Phi p;
    int s, n;
    phi_band(3, 28, 0, &s, &n);
    T_OK(s == 0 && n == 10);
    phi_band(3, 28, 1, &s, &n);
    T_OK(s == 10 && n == 9);
    phi_band(3, 28, 2, &s, &n);
    T_OK(s == 19 && n == 9);
    phi_init(&p, 2, 28, PHI_SPLIT, 0);
    T_OK(p.nbound == 1 && p.bound_a[0] == 13);
    T_OK(p.w[0][13] == 1 && p.w[1][13] == 0 && p.w[1][14] == 1);
    phi_init(&p, 2, 28, PHI_SPLIT, 2); /* rows 12..15 are shared and averaged */
    T_NEAR(p.w[0][12], 0.5, 0);
    T_NEAR(p.w[1][15], 0.5, 0);
    T_NEAR(p.w[0][11], 1, 0);
    phi_init(&p, 3, 28, PHI_AVERAGE, 0);
    T_NEAR(p.w[2][27], 1.0 / 3.0, 1e-7);
}

static void check_objective(const char *file, int agents)
{
    SafeFile *f = golden_open(file);
    Classifier cls;
    Phi phi;
    Arena *ar;
    Graph g;
    Scalar *yin;
    Var *y, *l, *ce, *seam, *mean;
    int ys[4] = {3, 1, 28, 28}, c[3] = {3, 3, 3};
    if (!f) return;
    classifier_build(&cls, ARCH_MLP);
    ar = arena_new(1 << 24);
    ag_graph_init(&g, ar);
    phi_init(&phi, agents, 28, PHI_SPLIT, 0);
    yin = golden_read(f, "input.y", 3 * 784);
    if (!yin || golden_load_params(f, &cls.params, "classifier.")) goto done;
    cls.params.trainable = 0;
    y = ag_leaf(&g, yin, NULL, 1, 4, ys, "y");
    l = task_loss(&g, &phi, &cls, y, c, &ce, &seam);
    mean = ag_mean(&g, l);
    golden_compare(f, "output.loss_per_sample", l->val.data, 3);
    golden_compare(f, "output.ce_per_sample", ce->val.data, 3);
    golden_compare(f, "output.seam_per_sample", seam->val.data, 3);
    golden_compare(f, "output.loss", mean->val.data, 1);
    ag_backward(&g, mean);
    golden_compare(f, "grad.input.y", y->grad, 3 * 784);
done:
    free(yin);
    arena_free(ar);
    classifier_free(&cls);
    st_close(f);
}

static void test_objective_n2(void) { check_objective("objective_n2", 2); }
static void test_objective_n3(void) { check_objective("objective_n3", 3); }

const TestCase control_tests[] = {
    {"phi_bands", test_phi_bands},
    {"objective_n2", test_objective_n2},
    {"objective_n3", test_objective_n3},
    {NULL, NULL},
};
