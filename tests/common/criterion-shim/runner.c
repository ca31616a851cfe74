/* runner.c - the main() of the Criterion stand-in (see criterion/criterion.h): runs every
 * registered test in its own child process, -jN at a time, with its timeout as an alarm; prints
 * "[PASS]/[FAIL] suite::name", assertion messages as "[----] file:line: ...", a TAP report with
 * --tap=FILE ("ok - suite::name  (0.12s)"), and "[====] Synthesis: Tested: N | Passing: P |
 * Failing: F | Crashing: C".  Exit status 0 when every test passed. */
#define _GNU_SOURCE
#include "criterion/criterion.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXT 1024
#define MAXS 64
struct test {
    const char *suite, *name;
    void (*fn)(void);
    const struct cr_shim_opts *o;
    pid_t pid;
    double start, secs;
    int status, done;
};
static struct test tests[MAXT];
static int ntests;
static struct { const char *name; const struct cr_shim_opts *o; } suites[MAXS];
static int nsuites;
static int child_failed;

void cr_shim_register(const char *suite, const char *name, void (*fn)(void), const struct cr_shim_opts *o)
{
    if (ntests < MAXT) tests[ntests++] = (struct test){ suite, name, fn, o, 0, 0, 0, 0, 0 };
}
void cr_shim_register_suite(const char *suite, const struct cr_shim_opts *o)
{
    if (nsuites < MAXS) { suites[nsuites].name = suite; suites[nsuites].o = o; nsuites++; }
}

void cr_shim_fail(int fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n", file, line, msg[0] ? msg : expr);
    fflush(stderr);
    child_failed = 1;
    if (fatal) _exit(1);
}

void cr_shim_log(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%s] ", level);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct cr_shim_opts *suite_opts(const char *suite)
{
    for (int i = 0; i < nsuites; i++)
        if (!strcmp(suites[i].name, suite)) return suites[i].o;
    return NULL;
}

static void start(struct test *t)
{
    double tmo = t->o->timeout;
    const struct cr_shim_opts *so = suite_opts(t->suite);
    if (tmo <= 0 && so) tmo = so->timeout;
    fflush(stdout);
    fflush(stderr);
    t->start = now();
    t->pid = fork();
    if (t->pid == 0) {
        if (tmo > 0) alarm((unsigned)tmo + 1);
        if (so && so->init) so->init();
        if (t->o->init) t->o->init();
        t->fn();
        if (t->o->fini) t->o->fini();
        if (so && so->fini) so->fini();
        fflush(stdout);
        _exit(child_failed ? 1 : 0);
    }
    if (t->pid < 0) { t->done = 1; t->status = -1; }
}

/* 0 passed, 1 failed, 2 crashed */
static int verdict(const struct test *t)
{
    int st = t->status;
    if (t->o->disabled) return 0;
    if (t->pid < 0) return 2;
    if (t->o->signal) return WIFSIGNALED(st) && WTERMSIG(st) == t->o->signal ? 0 : WIFSIGNALED(st) ? 2 : 1;
    if (WIFSIGNALED(st)) return 2;
    return WEXITSTATUS(st) == t->o->exit_code ? 0 : 1;
}

int main(int argc, char **argv)
{
    int jobs = 1;
    const char *tap = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "-j", 2)) jobs = atoi(argv[i] + 2);
        else if (!strncmp(argv[i], "--jobs=", 7)) jobs = atoi(argv[i] + 7);
        else if (!strncmp(argv[i], "--tap=", 6)) tap = argv[i] + 6;
    }
    if (jobs < 1) jobs = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("[====] Running %d tests (criterion shim, %d at a time)\n", ntests, jobs);
    int next = 0, running = 0, finished = 0;
    while (finished < ntests) {
        while (running < jobs && next < ntests) {
            struct test *t = &tests[next++];
            if (t->o->disabled) { t->done = 1; finished++; continue; }
            start(t);
            if (t->done) { finished++; continue; }
            running++;
        }
        if (!running) continue;
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < ntests; i++)
            if (tests[i].pid == pid && !tests[i].done) {
                tests[i].status = st;
                tests[i].secs = now() - tests[i].start;
                tests[i].done = 1;
                running--;
                finished++;
                int v = verdict(&tests[i]);
                if (v == 0) printf("[PASS] %s::%s: (%.2fs)\n", tests[i].suite, tests[i].name, tests[i].secs);
                else if (v == 1) printf("[FAIL] %s::%s: (%.2fs)\n", tests[i].suite, tests[i].name, tests[i].secs);
                else printf("[FAIL] %s::%s: CRASH! (signal %d, %s)\n", tests[i].suite, tests[i].name,
                            WIFSIGNALED(st) ? WTERMSIG(st) : 0, WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "?");
                break;
            }
    }
    int pass = 0, failing = 0, crash = 0;
    FILE *f = tap ? fopen(tap, "w") : NULL;
    if (f) fprintf(f, "TAP version 13\n1..%d\n# criterion shim\n", ntests);
    for (int i = 0; i < ntests; i++) {
        int v = verdict(&tests[i]);
        if (v == 0) pass++;
        else if (v == 1) failing++;
        else crash++;
        if (f) fprintf(f, "%s - %s::%s  (%.2fs)\n", v == 0 ? "ok" : "not ok", tests[i].suite, tests[i].name, tests[i].secs);
    }
    if (f) fclose(f);
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n", ntests, pass, failing, crash);
    return failing || crash ? 1 : 0;
}
