/* secure.c (test) - secure mode (SNUG_OPTIONS=secure): overflows past the request are caught
 * by the canaries at free, writes after free by the fill check, large blocks sit between
 * inaccessible pages, malloc(0) faults on access, and ordinary use still works. */
#include "harness.h"
#include <malloc.h>
#include <setjmp.h>
#include <sys/resource.h>

/* Runs fn in a child and expects SIGABRT with a "snug: ..." line containing `word`
 * on stderr (or `sig` when nonzero). */
static void expect_death(const char *word, int sig, void (*fn)(void))
{
    int pipefd[2];
    CHECK(pipe(pipefd) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(pipefd[1], 2);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    char buf[1024] = { 0 };
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(pipefd[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
    close(pipefd[0]);
    int st;
    waitpid(pid, &st, 0);
    int want = sig ? sig : SIGABRT;
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == want, "expected signal %d, got status %#x; stderr: %s", want, st, buf);
    if (!sig) CHECK(strstr(buf, "snug: ") && strstr(buf, word), "stderr should name '%s': %s", word, buf);
}

static void overflow_small(void) { char *p = malloc(20); memset(p, 'x', 21); free(p); }
static void overflow_small_one(void) { char *p = malloc(13); p[13] = 0; free(p); }
static void overflow_medium(void) { char *p = malloc(3000); p[3000] = 1; free(p); }
static void overflow_large_guard(void) { volatile char *p = malloc(1 << 20); for (size_t i = 0; i < (1u << 20) + 4096; i++) p[i] = 1; }
/* a linear underflow, byte by byte down from the payload, reaches the lower guard page within
 * two pages (writing at p - 8192 directly could land in a mapping placed below the guard) */
static void underflow_large_guard(void) { volatile char *p = malloc(1 << 20); for (int i = 1; i <= 8192; i++) p[-i] = 1; }
static void zero_faults(void) { volatile char *p = malloc(0); p[0] = 1; }
static void double_free_small(void) { void *p = malloc(40); free(p); free(p); }
static void double_free_medium(void) { void *p = malloc(4000); free(p); free(p); }
static void uaf_small(void)
{
    char *p = malloc(48);
    free(p);
    p[20] = 7;                                  /* write after free, while in quarantine */
    for (int i = 0; i < 5000; i++) free(malloc(48));   /* push it out of the quarantine */
}

static void check_overflows(void)
{
    expect_death("overflow", 0, overflow_small);
    expect_death("overflow", 0, overflow_small_one);
    expect_death("overflow", 0, overflow_medium);
}
static void check_guard_pages(void)
{
    expect_death("", SIGSEGV, overflow_large_guard);
    expect_death("", SIGSEGV, underflow_large_guard);
}
static void check_zero_size(void)
{
    void *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b, "malloc(0) returns unique pointers");
    free(a);
    free(b);
    expect_death("", SIGSEGV, zero_faults);
}
static void check_double_free(void)
{
    expect_death("double free", 0, double_free_small);
    expect_death("double free", 0, double_free_medium);
}
static void check_write_after_free(void) { expect_death("write after free", 0, uaf_small); }

/* Ordinary use: contents survive, realloc keeps them, usable size is the request. */
static void check_ordinary_use(void)
{
    enum { N = 2000 };
    static unsigned char *p[N];
    static size_t n[N];
    uint64_t s = 99;
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < N; i++) {
            if (p[i]) {
                for (size_t k = 0; k < n[i]; k++) CHECK(p[i][k] == (unsigned char)(i + k), "block %d byte %zu", i, k);
                if (xrnd(&s) % 2) {
                    size_t m = xrnd(&s) % 5000 + 1;
                    unsigned char *q = realloc(p[i], m);
                    CHECK(q != NULL, "realloc");
                    for (size_t k = 0; k < (m < n[i] ? m : n[i]); k++) CHECK(q[k] == (unsigned char)(i + k), "realloc kept byte %zu", k);
                    p[i] = q;
                    n[i] = m;
                } else {
                    free(p[i]);
                    p[i] = NULL;
                    continue;
                }
            } else {
                n[i] = xrnd(&s) % 3000 + 1;
                p[i] = (xrnd(&s) % 4) ? malloc(n[i]) : calloc(1, n[i]);
                CHECK(p[i] != NULL, "malloc");
                CHECK(((uintptr_t)p[i] & 15) == 0, "alignment");
            }
            CHECK(malloc_usable_size(p[i]) == n[i], "usable size %zu is the request %zu", malloc_usable_size(p[i]), n[i]);
            for (size_t k = 0; k < n[i]; k++) p[i][k] = (unsigned char)(i + k);
        }
    void *a = aligned_alloc(4096, 100);
    CHECK(a && ((uintptr_t)a & 4095) == 0, "aligned_alloc in secure mode");
    free(a);
    CHECK(sd_heap_check() == 0, "heap check");
}

int main(void)
{
    const char *o = getenv("SNUG_OPTIONS");
    if (!o || !strstr(o, "secure")) {
        printf("FAIL setup: run with SNUG_OPTIONS=secure\nDONE 1 failed\n");
        return 1;
    }
    snugdl_init();
    run_check("canaries-catch-overflow", check_overflows, 60);
    run_check("guard-pages-around-large", check_guard_pages, 60);
    run_check("zero-size-faults", check_zero_size, 60);
    run_check("double-free", check_double_free, 60);
    run_check("write-after-free", check_write_after_free, 60);
    run_check("ordinary-use", check_ordinary_use, 120);
    return harness_done();
}
