/* harness.h - a tiny test harness for the non-Criterion test programs: every check runs
 * in its own forked child with an alarm as hang guard; prints "PASS name" / "FAIL name: why"
 * lines that tests/run.sh counts, and "# ..." lines with details.  Also finds snug via dlsym. */
#ifndef SNUG_TEST_HARNESS_H
#define SNUG_TEST_HARNESS_H

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snug.h"

static const char *h_current = "?";
static int h_failures;

/* Fails the current check (the child process) with a message: "what: why", where
 * what is plain text (a failed condition as written) or NULL. */
__attribute__((format(printf, 4, 5), noreturn, unused)) static void h_fail(const char *file, int line,
                                                                          const char *what, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* no stdio buffering games: one write of the whole line */
    char out[1400];
    int n = snprintf(out, sizeof out, "# %s: %s:%d: %s%s%s\n", h_current, file, line, what ? what : "",
                     what ? ": " : "", buf);
    if (n > 0) {
        fflush(stdout);
        if (write(1, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1) < 0) { /* nothing */ }
    }
    _exit(1);
}
/* (The condition's text is passed as data, not pasted into the format: it may hold a %.) */
#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) h_fail(__FILE__, __LINE__, "check failed: " #cond, __VA_ARGS__); \
    } while (0)
#define FAILF(...) h_fail(__FILE__, __LINE__, NULL, __VA_ARGS__)

/* An informative "# check: ..." line (shown by run.sh when the check fails). */
__attribute__((format(printf, 1, 2), unused)) static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# %s: ", h_current);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* Ends the current check as skipped: it cannot run here (exit status 77, the "SKIP" line says
 * why; run.sh counts it as a skip, not a pass). */
#define SKIP_IF(cond, why)                                                    \
    do {                                                                      \
        if (cond) {                                                           \
            printf("SKIP %s: %s\n", h_current, why);                          \
            fflush(stdout);                                                   \
            _exit(77);                                                        \
        }                                                                     \
    } while (0)

/* Runs fn in a child process; `timeout` seconds of alarm guard against hangs/deadlocks, and
 * the parent kills a child still there 5 s after that (a thread deadlocked with every
 * signal blocked never takes the alarm). */
__attribute__((unused)) static void run_check(const char *name, void (*fn)(void), unsigned timeout)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL %s: fork failed: %s\n", name, strerror(errno));
        h_failures++;
        return;
    }
    if (pid == 0) {
        h_current = name;
        alarm(timeout);
        fn();
        fflush(stdout);
        _exit(0);
    }
    int st = 0, hung = 0;
    for (unsigned waited_ms = 0;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (waited_ms >= (timeout + 5) * 1000u && !hung) {
            kill(pid, SIGKILL);
            hung = 1;
        }
        unsigned step = waited_ms < 200 ? 1 : 10;   /* (most checks end within milliseconds) */
        usleep(step * 1000);
        waited_ms += step;
    }
    if (hung) {
        h_failures++;
        printf("FAIL %s: still running %u s after its %u s alarm (signals blocked in a deadlock?): killed\n", name,
               5u, timeout);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("PASS %s\n", name);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        /* skipped: the child printed the SKIP line */
    } else {
        h_failures++;
        if (WIFSIGNALED(st))
            printf("FAIL %s: killed by signal %d (%s)%s\n", name, WTERMSIG(st), strsignal(WTERMSIG(st)),
                   WTERMSIG(st) == SIGALRM ? " - no progress within the hang guard, deadlock?" : "");
        else
            printf("FAIL %s: exit status %d\n", name, WEXITSTATUS(st));
    }
    fflush(stdout);
}

/* Finishes main: the line run.sh looks for to know the program ran to the end. */
__attribute__((unused)) static int harness_done(void)
{
    printf("DONE %d failed\n", h_failures);
    fflush(stdout);
    return h_failures ? 1 : 0;
}

/* snug's API found at run time, so the same source works linked (-lsnug) and under
 * LD_PRELOAD; a program whose malloc is not snug fails here. */
static int (*sd_stats)(struct snug_stats *);
static int (*sd_heap_check)(void);
static size_t (*sd_usable)(const void *);
static int (*sd_trim)(size_t);

__attribute__((unused)) static void snugdl_init(void)
{
    sd_stats = (int (*)(struct snug_stats *))dlsym(RTLD_DEFAULT, "snug_stats");
    sd_heap_check = (int (*)(void))dlsym(RTLD_DEFAULT, "snug_heap_check");
    sd_usable = (size_t(*)(const void *))dlsym(RTLD_DEFAULT, "snug_usable_size");
    sd_trim = (int (*)(size_t))dlsym(RTLD_DEFAULT, "snug_trim");
    if (!sd_stats || !sd_heap_check || !sd_usable || !sd_trim) {
        printf("FAIL snug-present: snug_stats/snug_heap_check/snug_usable_size/snug_trim not found "
               "with dlsym(RTLD_DEFAULT): this process does not run on snug\n");
        printf("DONE 1 failed\n");
        exit(1);
    }
}

__attribute__((unused)) static struct snug_stats get_stats(void)
{
    struct snug_stats s;
    memset(&s, 0, sizeof s);
    if (sd_stats(&s) != 0) FAILF("snug_stats did not return 0");
    return s;
}

__attribute__((unused)) static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

/* xorshift64 per caller-owned state */
static inline uint64_t xrnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

/* Sink that keeps the compiler from eliding allocations. */
static void *volatile h_sink;

#endif
