/* args.c - the option parser (see args.h). */
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_default(const Opt *o)
{
    switch (o->kind) {
    case OPT_INT: printf("%d", *(int *)o->dst); break;
    case OPT_LONG: printf("%ld", *(long *)o->dst); break;
    case OPT_DOUBLE: printf("%g", *(double *)o->dst); break;
    case OPT_STR: printf("%s", *(const char **)o->dst ? *(const char **)o->dst : "(none)"); break;
    default: printf("%s", *(int *)o->dst ? "on" : "off"); break;
    }
}

static void print_help(const char *usage, const Opt *opts)
{
    const Opt *o;
    printf("%s\n\noptions (default in brackets):\n", usage);
    for (o = opts; o->name; o++) {
        printf("  %-20s %s [", o->name, o->help);
        print_default(o);
        printf("]\n");
    }
    printf("  %-20s %s\n", "--help", "print this help");
}

static int in_range(const Opt *o, double v) { return o->lo > o->hi || (v >= o->lo && v <= o->hi); }

int args_parse(const char *cmd, const char *usage, const Opt *opts, int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        const Opt *o;
        const char *arg = argv[i], *val;
        char *end;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            print_help(usage, opts);
            return 1;
        }
        for (o = opts; o->name; o++)
            if (!strcmp(arg, o->name)) break;
        if (!o->name) {
            fprintf(stderr, "cmad %s: unknown option '%s' (see cmad %s --help)\n", cmd, arg, cmd);
            return 2;
        }
        if (o->kind == OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cmad %s: option %s needs a value\n", cmd, arg);
            return 2;
        }
        val = argv[++i];
        errno = 0;
        if (o->kind == OPT_STR) {
            *(const char **)o->dst = val;
        } else if (o->kind == OPT_DOUBLE) {
            double v = strtod(val, &end);
            if (end == val || *end || errno || !in_range(o, v) || v != v) {
                fprintf(stderr, "cmad %s: option %s wants a number in [%g, %g], got '%s'\n", cmd,
                        arg, o->lo, o->hi, val);
                return 2;
            }
            *(double *)o->dst = v;
        } else {
            long v = strtol(val, &end, 10);
            if (end == val || *end || errno || !in_range(o, (double)v) ||
                (o->kind == OPT_INT && (v > INT_MAX || v < INT_MIN))) {
                fprintf(stderr, "cmad %s: option %s wants an integer in [%.0f, %.0f], got '%s'\n",
                        cmd, arg, o->lo, o->hi, val);
                return 2;
            }
            if (o->kind == OPT_INT)
                *(int *)o->dst = (int)v;
            else
                *(long *)o->dst = v;
        }
    }
    return 0;
}
