/* fuzz_args.c - libFuzzer harness of the command-line parsers: args_parse (apps/args.c, the
 * number parsing of every --flag), method_parse (control/multi.c, --methods items) and
 * phi_mode_parse (control/objective.c, --phi and controls metadata).
 *
 * Input: argv[1..] as NUL-separated strings (at most FUZZ_MAX_ARGS; argv[0] is "cmad").
 * args_parse runs over a table with one option of each kind, ranged and unranged; when it
 * returns 0 every value must be inside its range (and a double not NaN), and a string
 * option must point at one of the arguments.  Every argument also goes through
 * method_parse and phi_mode_parse.  args_parse prints (help, errors): run with
 * -close_fd_mask=3.  Build and run: fuzz/run.sh. */
#include "fuzz_util.h"

#include <math.h>
#include <stdint.h>

#include "../apps/args.h"
#include "../control/multi.h"
#include "../control/objective.h"

#define FUZZ_MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = (char *)malloc(size + 1), *argv[FUZZ_MAX_ARGS + 2];
    int argc = 1, i, rc, steps = 10, seed = 0, flag = 0;
    long big = 5;
    double lr = 1e-3, any = 0;
    const char *out = NULL;
    const Opt opts[] = {
        {"--steps", OPT_INT, &steps, "steps", 1, 1e9},
        {"--seed", OPT_INT, &seed, "seed (any int)", 1, 0},
        {"--big", OPT_LONG, &big, "a long", -1e12, 1e12},
        {"--lr", OPT_DOUBLE, &lr, "learning rate", 0, 1},
        {"--any", OPT_DOUBLE, &any, "any number", 1, 0},
        {"--out", OPT_STR, &out, "output", 0, 0},
        {"--flag", OPT_FLAG, &flag, "a flag", 0, 0},
        {NULL, OPT_INT, NULL, NULL, 0, 0},
    };
    size_t k = 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[0] = (char *)"cmad";
    while (k <= size && argc <= FUZZ_MAX_ARGS) { /* the last string ends at buf[size] */
        argv[argc++] = buf + k;
        k += strlen(buf + k) + 1;
    }
    argv[argc] = NULL;

    rc = args_parse("fuzz", "usage: fuzz", opts, argc, argv);
    FUZZ_CHECK(rc >= 0 && rc <= 2, "args_parse returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(steps >= 1 && steps <= 1000000000, "--steps %d", steps);
        FUZZ_CHECK(big >= -1000000000000L && big <= 1000000000000L, "--big %ld", big);
        FUZZ_CHECK(lr >= 0 && lr <= 1, "--lr %g", lr);
        FUZZ_CHECK(!isnan(any), "--any is NaN");
        FUZZ_CHECK(flag == 0 || flag == 1, "--flag %d", flag);
        if (out) {
            for (i = 1; i < argc; i++)
                if (argv[i] == out) break;
            FUZZ_CHECK(i < argc, "--out points outside argv");
        }
    }
    for (i = 1; i < argc; i++) {
        MethodSpec ms;
        PhiMode pm;
        if (method_parse(argv[i], &ms) == 0) (void)method_name(&ms);
        (void)phi_mode_parse(argv[i], &pm);
    }
    free(buf);
    return 0;
}
