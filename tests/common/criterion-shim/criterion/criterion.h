/* criterion/criterion.h - a minimal stand-in for Criterion, used by the 32-bit test run (M32=1):
 * Debian has no usable i386 Criterion without pulling libgit2-dev and friends for i386.  It
 * covers what the suites here use: Test(suite, name, .timeout/.signal/.exit_code/.init/.fini/
 * .disabled), TestSuite(suite, ...), cr_assert*, cr_expect*, cr_log_*.  The runner
 * (runner.c, built into $(B)/shim/libcriterion.a) forks one process per test, takes -jN and
 * --tap=FILE, and prints Criterion's "[====] Synthesis:" line, so tests/run.sh reads it the same
 * way as the real thing. */
#ifndef CRITERION_SHIM_CRITERION_H
#define CRITERION_SHIM_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cr_shim_opts {
    double timeout;            /* seconds; 0: the suite's, else none */
    int signal;                /* the test passes when killed by this signal */
    int exit_code;             /* the test passes when it exits with this status */
    void (*init)(void);
    void (*fini)(void);
    bool disabled;
    const char *description;
};

void cr_shim_register(const char *suite, const char *name, void (*fn)(void), const struct cr_shim_opts *o);
void cr_shim_register_suite(const char *suite, const struct cr_shim_opts *o);
/* (no format attribute: an assertion without a message passes an empty format) */
void cr_shim_fail(int fatal, const char *file, int line, const char *expr, const char *fmt, ...);
void cr_shim_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CR_SHIM_ID(suite, name, what) cr_shim_##suite##_##name##_##what

#define Test(suite, name, ...)                                                                   \
    static void CR_SHIM_ID(suite, name, fn)(void);                                               \
    static const struct cr_shim_opts CR_SHIM_ID(suite, name, opts) = { __VA_ARGS__ };            \
    __attribute__((constructor)) static void CR_SHIM_ID(suite, name, reg)(void)                  \
    {                                                                                            \
        cr_shim_register(#suite, #name, CR_SHIM_ID(suite, name, fn), &CR_SHIM_ID(suite, name, opts)); \
    }                                                                                            \
    static void CR_SHIM_ID(suite, name, fn)(void)

#define TestSuite(suite, ...)                                                                    \
    static const struct cr_shim_opts cr_shim_suite_##suite##_opts = { __VA_ARGS__ };             \
    __attribute__((constructor)) static void cr_shim_suite_##suite##_reg(void)                   \
    {                                                                                            \
        cr_shim_register_suite(#suite, &cr_shim_suite_##suite##_opts);                           \
    }

/* Messages are string literals here, as in Criterion's own usage: "" __VA_ARGS__ joins them. */
#define cr_shim_check(fatal, cond, text, ...)                                                    \
    do {                                                                                         \
        if (!(cond)) cr_shim_fail((fatal), __FILE__, __LINE__, (text), "" __VA_ARGS__);          \
    } while (0)

#define cr_assert(cond, ...) cr_shim_check(1, cond, #cond, __VA_ARGS__)
#define cr_expect(cond, ...) cr_shim_check(0, cond, #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...) cr_shim_check(1, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_expect_not(cond, ...) cr_shim_check(0, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_shim_check(1, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_shim_check(1, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_shim_check(1, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_shim_check(1, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_shim_check(1, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_shim_check(1, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) cr_shim_check(1, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_shim_check(1, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_eq(a, b, ...) cr_shim_check(0, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) cr_shim_check(0, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) cr_shim_check(0, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) cr_shim_check(0, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) cr_shim_check(0, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) cr_shim_check(0, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_null(p, ...) cr_shim_check(0, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) cr_shim_check(0, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_fail(...) cr_shim_fail(1, __FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_log_info(...) cr_shim_log("INFO", __VA_ARGS__)
#define cr_log_warn(...) cr_shim_log("WARN", __VA_ARGS__)
#define cr_log_error(...) cr_shim_log("ERR ", __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
