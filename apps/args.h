/* args.h - command-line options: one table per subcommand, `--help` generated from it
 * with every default, and a one-line error naming the flag for a bad value. */
#ifndef CMAD_ARGS_H
#define CMAD_ARGS_H

typedef enum OptKind { OPT_INT, OPT_LONG, OPT_DOUBLE, OPT_STR, OPT_FLAG } OptKind;

typedef struct Opt {
    const char *name; /* "--steps" */
    OptKind kind;
    void *dst; /* int*, long*, double*, const char**, int* (flag) */
    const char *help;
    double lo, hi; /* numeric range (inclusive); lo > hi means unchecked */
} Opt;

/* Returns 0 to run, 1 when --help was printed (exit 0), 2 on a bad option (message on
 * stderr, exit 2).  `usage` is the one-line synopsis printed at the top of --help. */
int args_parse(const char *cmd, const char *usage, const Opt *opts, int argc, char **argv);

#endif
