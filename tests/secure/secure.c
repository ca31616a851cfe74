/* secure.c (test) - secure mode (SNUG_OPTIONS=secure): overflows past the request are caught
 * by the canaries at free, writes after free by the fill check, large blocks sit between
 * inaccessible pages, malloc(0) faults on access, and ordinary use still works. */
#include "harness.h"
#include <malloc.h>
#include <stdarg.h>
#include <setjmp.h>
#include <sys/resource.h>
#include "lines.h"

/* The child's exact expected stderr line (want_line; '#': any number), sent to the parent through a pipe. */
static int line_fd = -1;
__attribute__((format(printf, 1, 2))) static void want_line(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(line_fd, buf, (size_t)n) < 0) { /* the parent then sees no line */ }
}
#define PTR(p) ((unsigned long)(uintptr_t)(p))

/* Runs fn in a child and expects SIGABRT with a "snug: ..." line containing `word`
 * on stderr (or `sig` when nonzero); when the child called want_line, stderr must be
 * exactly that line. */
static void expect_death(const char *word, int sig, void (*fn)(void))
{
    int pipefd[2], linefd[2];
    CHECK(pipe(pipefd) == 0 && pipe(linefd) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(pipefd[1], 2);
        close(linefd[0]);
        line_fd = linefd[1];
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    close(linefd[1]);
    char buf[1024] = { 0 }, line[256] = { 0 };
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(pipefd[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
    close(pipefd[0]);
    got = 0;
    while (got < sizeof line - 1 && (r = read(linefd[0], line + got, sizeof line - 1 - got)) > 0) got += (size_t)r;
    close(linefd[0]);
    int st;
    waitpid(pid, &st, 0);
    int want = sig ? sig : SIGABRT;
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == want, "expected signal %d, got status %#x; stderr: %s", want, st, buf);
    if (!sig) CHECK(strstr(buf, "snug: ") && strstr(buf, word), "stderr should name '%s': %s", word, buf);
    if (line[0]) CHECK(line_matches(buf, line), "stderr should be exactly \"%s\": %s", line, buf);
}

static void *volatile sink;
/* Byte writes the compiler cannot drop as stores to freed memory. */
__attribute__((noinline)) static void scribble(void *dst, int c, size_t n)
{
    volatile unsigned char *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = (unsigned char)c;
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

/* One thread: a small block leaves the quarantine (its fill gives way to the remote-free link
 * and mark every free of a small block takes in secure mode); a write after free into its
 * mark is named as one when the heap applies the frees. */
static void uaf_small_after_quarantine(void)
{
    enum { N = 6000 };
    static char *a[N];
    for (int i = 0; i < N; i++) a[i] = malloc(48);
    volatile unsigned char *p = malloc(48);
    free((void *)p);
    for (int i = 0; i < N && p[0] == 0xDF; i++) free(a[i]);
    if (p[0] == 0xDF) _exit(3);                 /* (never left the quarantine: the check fails) */
    want_line("snug: write after free: the remote-free mark in block overwritten, block 0x%lx (64 bytes)", PTR(p));
    scribble((void *)(p + sizeof(void *)), 'W', sizeof(void *));     /* the mark: its second word */
    for (int i = 0; i < 20000; i++) sink = malloc(48);
}
/* realloc and malloc_usable_size of a block in the quarantine: a use after free. */
static void realloc_after_free(void)
{
    char *p = malloc(100);
    free(p);
    want_line("snug: use after free: realloc() of freed block 0x%lx", PTR(p));
    sink = realloc(p, 200);
}
static void usable_after_free(void)
{
    char *p = malloc(5000);
    free(p);
    want_line("snug: use after free: malloc_usable_size() of freed block 0x%lx", PTR(p));
    sink = (void *)(uintptr_t)malloc_usable_size(p);
}

/* A write after free into a block still in the quarantine when the program exits: reported by
 * the check at exit (a large block of the quarantine, and a small one). */
static void uaf_at_exit(size_t n)
{
    char *p = malloc(n);
    free(p);
    scribble(p + n / 2, 'W', 1);
    want_line("snug: write after free detected in block 0x%lx (# bytes)", PTR(p));
    exit(0);                                    /* (exit handlers and destructors run) */
}
static void uaf_large_at_exit(void) { uaf_at_exit(300 * 1024); }
static void uaf_small_at_exit(void) { uaf_at_exit(100); }

/* A terminator one byte past the end, for every request size up to 80 (canaries of every
 * length, none included: the trailer's first byte is then the one written). */
static size_t nul_n;
static void overflow_nul(void) { char *p = malloc(nul_n); scribble(p + nul_n, 0, 1); free(p); }

/* Sized frees: in secure mode the size must be the request itself (the trailer keeps it). */
void free_sized(void *p, size_t n);     /* (C23; snug's, linked with -lsnug) */
static void sized_free_off_by_one(void)
{
    char *p = malloc(100);
    want_line("snug: free_sized(): wrong size 101 for block 0x%lx (100 bytes; allocated with 100)", PTR(p));
    free_sized(p, 101);
}
static void sized_free_off_by_one_medium(void)
{
    char *p = malloc(5000);
    want_line("snug: free_sized(): wrong size 5001 for block 0x%lx (5000 bytes; allocated with 5000)", PTR(p));
    free_sized(p, 5001);
}
static void check_sized_free(void)
{
    for (size_t n = 0; n < 3000; n += 7) free_sized(malloc(n), n);
    expect_death("wrong size", 0, sized_free_off_by_one);
    expect_death("wrong size", 0, sized_free_off_by_one_medium);
}

static void check_overflows(void)
{
    for (nul_n = 1; nul_n <= 80; nul_n++) expect_death("overflow", 0, overflow_nul);
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
static void check_write_after_free(void)
{
    expect_death("write after free", 0, uaf_small);
    expect_death("write after free", 0, uaf_small_after_quarantine);
    expect_death("use after free", 0, realloc_after_free);
    expect_death("use after free", 0, usable_after_free);
}
static void check_write_after_free_at_exit(void)
{
    expect_death("write after free", 0, uaf_large_at_exit);
    expect_death("write after free", 0, uaf_small_at_exit);
}

/* The bytes after a block hold a zero one or two bytes past its end: a string the program
 * forgot to terminate stops there (it once read 3920 bytes past a 16-byte block); and a
 * terminator written one byte past the end is still an overflow. */
static void check_canary_ends_strings(void)
{
    for (size_t n = 1; n <= 2100; n += (n < 300 ? 1 : 37)) {
        char *p = malloc(n);
        memset(p, 'x', n);
        size_t len = strlen(p);
        CHECK(len >= n && len <= n + 2, "strlen of an unterminated %zu-byte block read %zu bytes", n, len);
        free(p);
    }
}

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
    run_check("write-after-free-checked-at-exit", check_write_after_free_at_exit, 60);
    run_check("canary-ends-unterminated-strings", check_canary_ends_strings, 60);
    run_check("sized-free-exact", check_sized_free, 60);
    run_check("ordinary-use", check_ordinary_use, 120);
    return harness_done();
}
