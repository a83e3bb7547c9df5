/* main.c - the test runner: runs every test (or those whose names contain one of the args)
 * and ends with "N passed, N failed". */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

int t_fail_count;
const char *t_skip_reason;

void t_skip(const char *reason) { t_skip_reason = reason; }

void t_report(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    t_fail_count++;
}

const char *t_shared_dir(void)
{
    static char buf[1024];
    const char *env = getenv("CMAD_SHARED");
    size_t n;
    if (!env || !*env) env = "../shared";
    n = strlen(env);
    if (n + 2 > sizeof buf) n = sizeof buf - 2;
    memcpy(buf, env, n);
    if (n == 0 || buf[n - 1] != '/') buf[n++] = '/';
    buf[n] = '\0';
    return buf;
}

static const char *t_argv0 = "build/run_tests";

/* The command that runs the cmad program: CMAD_TEST_APP when set (say "qemu-s390x
 * build-s390x/cmad" for a cross build under an emulator), else "cmad" beside the test runner,
 * whose folder ends at the last '/' or, on Windows, '\\'. */
const char *t_app_path(void)
{
    static char buf[1024];
    const char *env = getenv("CMAD_TEST_APP");
    const char *slash = strrchr(t_argv0, '/');
    const char *back = strrchr(t_argv0, '\\');
    size_t n;
    if (env && *env) return env;
    if (back && (!slash || back > slash)) slash = back;
    n = slash ? (size_t)(slash - t_argv0) + 1 : 0;
    if (n + 5 >= sizeof buf) n = 0;
    memcpy(buf, t_argv0, n);
    memcpy(buf + n, "cmad", 5);
    return buf;
}

int t_quick(void)
{
    const char *q = getenv("CMAD_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* 1 when the test's full name contains one of the filters (or there are none). */
static int selected(const char *full, int argc, char **argv)
{
    int i;
    if (argc < 2) return 1;
    for (i = 1; i < argc; i++)
        if (strstr(full, argv[i])) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0, s;
    t_argv0 = argv[0];
    for (s = 0; all_suites[s].tests; s++) {
        const TestCase *t;
        for (t = all_suites[s].tests; t->name; t++) {
            char full[256];
            snprintf(full, sizeof full, "%s.%s", all_suites[s].name, t->name);
            if (!selected(full, argc, argv)) continue;
            t_fail_count = 0;
            t_skip_reason = NULL;
            t->fn();
            if (t_fail_count == 0 && t_skip_reason) {
                printf("skip  %s (%s)\n", full, t_skip_reason);
                skipped++;
            } else if (t_fail_count == 0) {
                printf("ok    %s\n", full);
                passed++;
            } else {
                printf("FAIL  %s (%d)\n", full, t_fail_count);
                failed++;
            }
            fflush(stdout);
        }
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
