/* suites.h - every test suite, one line each (add yours here). */
#ifndef CMAD_SUITES_H
#define CMAD_SUITES_H

#include "harness.h"

typedef struct Suite {
    const char *name;
    const TestCase *tests;
} Suite;

extern const TestCase tensor_tests[];
extern const TestCase rng_tests[];
extern const TestCase autograd_tests[];
extern const TestCase conv_tests[];
extern const TestCase gemm_tests[];
extern const TestCase safetensors_tests[];
extern const TestCase data_tests[];
extern const TestCase sha256_tests[];
extern const TestCase nn_tests[];
extern const TestCase apps_tests[];
extern const TestCase linalg_tests[];
extern const TestCase fused_tests[];
extern const TestCase golden_tests[];
extern const TestCase control_tests[];
extern const TestCase cmad_tests[];
extern const TestCase rollout_fd_tests[];
extern const TestCase memory_tests[];

static const Suite all_suites[] = {
    {"tensor", tensor_tests},   {"rng", rng_tests},       {"autograd", autograd_tests},
    {"conv", conv_tests},       {"gemm", gemm_tests},     {"safetensors", safetensors_tests},
    {"data", data_tests},       {"sha256", sha256_tests}, {"fused", fused_tests},
    {"linalg", linalg_tests},   {"nn", nn_tests},         {"golden", golden_tests},
    {"control", control_tests}, {"cmad", cmad_tests},     {"rollout_fd", rollout_fd_tests},
    {"memory", memory_tests},   {"apps", apps_tests},     {NULL, NULL},
};

#endif
