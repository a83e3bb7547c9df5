/* cmd_gradcheck.c - `cmad gradcheck`: the finite-difference audit of every op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/gradcheck.h"
#include "apps.h"

int cmd_gradcheck(int argc, char **argv)
{
    double tol = sizeof(Scalar) == sizeof(double) ? 1e-6 : 5e-2;
    const char *only = NULL;
    int i, failures;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: cmad gradcheck [--op NAME] [--tol X]\n"
                   "  Finite-difference check of every autograd op (central differences, random\n"
                   "  upstream gradient).  Exits 1 if any op fails or has no check case.\n"
                   "  --op NAME   check only this op (default: all)\n"
                   "  --tol X     max relative error (default: 1e-6 in the double build,\n"
                   "              5e-2 in the float build)\n");
            return 0;
        } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--tol") && i + 1 < argc) {
            char *end;
            tol = strtod(argv[++i], &end);
            if (*end || !(tol > 0)) {
                fprintf(stderr, "cmad gradcheck: --tol wants a positive number, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "cmad gradcheck: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    failures = gradcheck_all(stdout, tol, only);
    return failures ? 1 : 0;
}
