/* main.c - the `cmad` program: one binary, one subcommand per job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/autograd.h"

#include "apps.h"
#include "common.h"

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"train-score", cmd_train_score, "train the score network unet-s (DSM, VP SDE)"},
    {"train-classifier", cmd_train_classifier, "train the objective MLP or cnn-eval"},
    {"test-classifier", cmd_test_classifier,
     "a classifier's test accuracy, clean and under an L2 attack"},
    {"sample", cmd_sample,
     "draw images from a trained score net (PNG grid, .npy, cnn-eval report)"},
    {"score", cmd_score, "the cnn-eval report (confident share, classes, fd) on saved samples"},
    {"control", cmd_control,
     "CMAD: train learned controls (control train) or sample (control sample)"},
    {"eval", cmd_eval,
     "compare methods on the same noise: metrics.json, table.md, grids, report.html"},
    {"gradcheck", cmd_gradcheck, "finite-difference audit of every autograd op"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    const Command *c;
    fprintf(f, "usage: cmad <command> [options]   (cmad <command> --help for its options)\n\n");
    for (c = commands; c->name; c++) fprintf(f, "  %-18s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    const Command *c;
    app_set_argv(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) {
            /* CMAD_PROFILE (any value but empty or 0): the op profile on stderr at the end */
            const char *p = getenv("CMAD_PROFILE");
            int rc, prof = p && p[0] && strcmp(p, "0") != 0;
            ag_profile_set(prof);
            rc = c->run(argc - 1, argv + 1);
            if (prof) ag_profile_print(stderr);
            return rc;
        }
    fprintf(stderr, "cmad: unknown command '%s' (cmad --help lists them)\n", argv[1]);
    return 2;
}
