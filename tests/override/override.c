/* override.c - the override surface of libsnug.so: plain malloc & co. (and glibc's own
 * internal allocations) reach snug, mallopt/malloc_stats/mallinfo2/malloc_trim behave.
 * Built twice: linked with -lsnug, and plain (run with LD_PRELOAD=build/libsnug.so). */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MiB ((size_t)1 << 20)

/* glibc 2.36 declares these (exported by glibc too); snug must interpose them. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* Allocation through `how` must add one live block of at least n bytes; freeing removes it. */
#define EXPECT_BLOCK(what, n, alloc_expr, free_stmt)                                                 \
    do {                                                                                             \
        struct snug_stats a_ = get_stats();                                                          \
        void *p_ = (alloc_expr);                                                                     \
        h_sink = p_;                                                                                 \
        CHECK(p_ != NULL, "%s returned NULL", what);                                                 \
        struct snug_stats b_ = get_stats();                                                          \
        CHECK(b_.live_blocks == a_.live_blocks + 1, "%s: snug live_blocks %zu -> %zu (not snug's block?)", \
              what, a_.live_blocks, b_.live_blocks);                                                 \
        CHECK(b_.live_bytes >= a_.live_bytes + (n), "%s: snug live_bytes %zu -> %zu, want +%zu", what, \
              a_.live_bytes, b_.live_bytes, (size_t)(n));                                            \
        CHECK(sd_usable(p_) >= (size_t)(n), "%s: snug_usable_size %zu < %zu", what, sd_usable(p_),    \
              (size_t)(n));                                                                          \
        memset(p_, 0x5c, (n));                                                                       \
        { void *P = p_; free_stmt; }                                                                 \
        struct snug_stats c_ = get_stats();                                                          \
        CHECK(c_.live_blocks == a_.live_blocks, "%s: freeing left live_blocks %zu (was %zu)", what,   \
              c_.live_blocks, a_.live_blocks);                                                       \
    } while (0)

static void check_malloc_is_snug(void)
{
    EXPECT_BLOCK("malloc(100)", 100, malloc(100), free(P));
    EXPECT_BLOCK("malloc(1 MiB)", MiB, malloc(MiB), free(P));
    EXPECT_BLOCK("malloc(6 MiB)", 6 * MiB, malloc(6 * MiB), free(P));
    void *p = malloc(777);
    CHECK(p != NULL, "malloc");
    CHECK(malloc_usable_size(p) == sd_usable(p), "malloc_usable_size %zu != snug_usable_size %zu",
          malloc_usable_size(p), sd_usable(p));
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");
    free(p);
    CHECK(sd_heap_check() == 0, "snug_heap_check");
}

static void check_entry_points(void)
{
    void (*f_sized)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*f_asized)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    CHECK(f_sized && f_asized, "free_sized/free_aligned_sized not found");
    void *m;
    EXPECT_BLOCK("calloc", 3000, calloc(3, 1000), free(P));
    EXPECT_BLOCK("realloc(NULL)", 5000, realloc(NULL, 5000), free(P));
    EXPECT_BLOCK("realloc(grow)", 90000, realloc(malloc(10), 90000), free(P));
    EXPECT_BLOCK("reallocarray", 8000, reallocarray(NULL, 1000, 8), free(P));
    EXPECT_BLOCK("posix_memalign", 300, (posix_memalign(&m, 256, 300) == 0 ? m : NULL), free(P));
    EXPECT_BLOCK("aligned_alloc", 4096, aligned_alloc(4096, 4096), free(P));
    EXPECT_BLOCK("memalign", 100, memalign(64, 100), free(P));
    EXPECT_BLOCK("valloc", 100, valloc(100), free(P));
    EXPECT_BLOCK("pvalloc", 4096, pvalloc(100), free(P));
    EXPECT_BLOCK("free_sized", 200, malloc(200), f_sized(P, 200));
    EXPECT_BLOCK("free_aligned_sized", 200, aligned_alloc(128, 256), f_asized(P, 128, 256));
    EXPECT_BLOCK("__libc_malloc", 100, __libc_malloc(100), __libc_free(P));
    EXPECT_BLOCK("__libc_calloc", 100, __libc_calloc(10, 10), __libc_free(P));
    EXPECT_BLOCK("__libc_realloc", 20000, __libc_realloc(__libc_malloc(16), 20000), __libc_free(P));
    EXPECT_BLOCK("__libc_memalign", 100, __libc_memalign(1024, 100), free(P));
    EXPECT_BLOCK("malloc + __libc_free", 100, malloc(100), __libc_free(P));
    CHECK(sd_heap_check() == 0, "snug_heap_check");
}

/* glibc's own allocations (strdup, stdio buffers, getline) go through malloc, so snug. */
static void check_glibc_internal(void)
{
    EXPECT_BLOCK("strdup", 30, strdup("a string that is 30 bytes long"), free(P));
    char *line = NULL;
    size_t cap = 0;
    struct snug_stats a = get_stats();
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL, "fopen");
    CHECK(getline(&line, &cap, f) > 0, "getline");
    struct snug_stats b = get_stats();
    CHECK(b.live_blocks >= a.live_blocks + 2, "fopen + getline added %zu snug blocks, want >= 2",
          b.live_blocks - a.live_blocks);
    CHECK(sd_usable(line) >= cap, "getline buffer is not a snug block of %zu bytes", cap);
    fclose(f);
    free(line);
    struct snug_stats c = get_stats();
    CHECK(c.live_blocks == a.live_blocks, "fclose + free left %zu blocks", c.live_blocks - a.live_blocks);
    char *s = NULL;
    CHECK(asprintf(&s, "%0*d", 5000, 7) == 5000, "asprintf");
    CHECK(sd_usable(s) >= 5001, "asprintf buffer not from snug");
    free(s);
    /* dlopen/dlclose allocate inside the loader and libc */
    for (int i = 0; i < 3; i++) {
        void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        CHECK(h != NULL, "dlopen libm: %s", dlerror());
        CHECK(dlsym(h, "cos") != NULL, "dlsym cos");
        dlclose(h);
        CHECK(dlopen("libdoesnotexist-snug.so", RTLD_NOW) == NULL, "dlopen of a missing lib");
        CHECK(dlerror() != NULL, "dlerror");
    }
    CHECK(sd_heap_check() == 0, "snug_heap_check");
}

static void check_mallopt(void)
{
    static const struct { int opt; int val; const char *name; } known[] = {
        { M_MXFAST, 64, "M_MXFAST" },
        { M_TRIM_THRESHOLD, 256 * 1024, "M_TRIM_THRESHOLD" },
        { M_TOP_PAD, 64 * 1024, "M_TOP_PAD" },
        { M_MMAP_THRESHOLD, 256 * 1024, "M_MMAP_THRESHOLD" },
        { M_MMAP_MAX, 65536, "M_MMAP_MAX" },
        { M_CHECK_ACTION, 3, "M_CHECK_ACTION" },
        { M_PERTURB, 0, "M_PERTURB" },
        { M_ARENA_TEST, 8, "M_ARENA_TEST" },
        { M_ARENA_MAX, 4, "M_ARENA_MAX" },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        int r = mallopt(known[i].opt, known[i].val);
        CHECK(r == 1, "mallopt(%s, %d) returned %d, want 1", known[i].name, known[i].val, r);
    }
    /* Unknown options are accepted (1, as glibc) and reported once on stderr. */
    static const int unknown[] = { 12345, -12345, 100, -100, 42 };
    char tmpl[] = "/tmp/snug-mallopt-XXXXXX";
    int fd = mkstemp(tmpl), saved = dup(2);
    CHECK(fd >= 0 && saved >= 0, "temp file for stderr");
    unlink(tmpl);
    dup2(fd, 2);
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        int r = mallopt(unknown[i], 1);
        CHECK(r == 1, "mallopt(unknown option %d) returned %d, want 1", unknown[i], r);
    }
    dup2(saved, 2);
    close(saved);
    char out[512] = { 0 };
    ssize_t got = pread(fd, out, sizeof out - 1, 0);
    close(fd);
    CHECK(got > 0 && strstr(out, "snug: mallopt: unknown option 12345") != NULL,
          "unknown mallopt option reported on stderr (got: %s)", got > 0 ? out : "nothing");
    CHECK(strstr(strstr(out, "unknown option") + 1, "unknown option") == NULL,
          "unknown mallopt options reported once, not every time (got: %s)", out);
    /* and the heap works after the options were set */
    void *p = malloc(300000), *q = malloc(50);
    CHECK(p && q, "malloc after mallopt");
    memset(p, 1, 300000);
    free(p);
    free(q);
    CHECK(sd_heap_check() == 0, "snug_heap_check");
}

static void check_malloc_stats(void)
{
    char path[] = "/tmp/snug-malloc-stats-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    unlink(path);
    void *p = malloc(100000);
    h_sink = p;
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fd, 2) == 2, "dup2");
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat");
    CHECK(st.st_size > 0, "malloc_stats printed nothing on stderr");
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(n > 0, "read back");
    buf[n] = 0;
    note("malloc_stats printed %lld bytes; first line: %.*s", (long long)st.st_size,
           (int)strcspn(buf, "\n"), buf);
    /* the labels say what the figures are: large blocks (not "mmap regions"), the live peak */
    CHECK(strstr(buf, "heap statistics (malloc_stats, pid ") != NULL, "malloc_stats' first line: %s", buf);
    const char *label[] = { "\nheld bytes ", "\nheld peak ", "\nlive bytes ", "\nlive peak ", "\nutilization ",
                            "\nlarge blocks ", "\nlarge bytes ", "\nheap regions " };
    for (size_t i = 0; i < sizeof label / sizeof label[0]; i++)
        CHECK(strstr(buf, label[i]) != NULL, "malloc_stats has no line '%s': %s", label[i] + 1, buf);
    CHECK(strstr(buf, "mmap regions") == NULL, "malloc_stats still says 'mmap regions'");
    free(p);
}

static void check_mallinfo(void)
{
    enum { N = 60 };
    void *p[N];
    struct mallinfo2 a = mallinfo2();
    for (int i = 0; i < N; i++) {
        p[i] = malloc(200000);
        CHECK(p[i] != NULL, "malloc");
        memset(p[i], 1, 200000);
    }
    struct mallinfo2 b = mallinfo2();
    size_t used_a = a.uordblks + a.hblkhd, used_b = b.uordblks + b.hblkhd;
    CHECK(used_b >= used_a + N * 200000, "mallinfo2 uordblks+hblkhd %zu -> %zu after %d x 200000 bytes",
          used_a, used_b, N);
    CHECK(b.arena + b.hblkhd >= b.uordblks, "mallinfo2: arena %zu + hblkhd %zu < uordblks %zu", b.arena,
          b.hblkhd, b.uordblks);
    /* "absurd": more than a quarter of the address space (an underflowed counter) */
    const size_t absurd = SIZE_MAX / 4;
    CHECK(b.uordblks < absurd && b.fordblks < absurd && b.arena < absurd,
          "mallinfo2 fields absurd: arena %zu uordblks %zu fordblks %zu", b.arena, b.uordblks, b.fordblks);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"      /* (the old call is what is tested) */
    struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
    struct mallinfo2 now = mallinfo2();
    CHECK(old.uordblks >= 0 && old.arena >= 0 && old.hblkhd >= 0, "mallinfo negative fields");
    CHECK((size_t)old.uordblks == (now.uordblks & 0xffffffffu) || now.uordblks > INT32_MAX,
          "mallinfo uordblks %d vs mallinfo2 %zu", old.uordblks, now.uordblks);
    for (int i = 0; i < N; i++) free(p[i]);
    struct mallinfo2 c = mallinfo2();
    size_t used_c = c.uordblks + c.hblkhd;
    CHECK(used_c + N * 200000 <= used_b, "mallinfo2 in-use %zu -> %zu after freeing %d x 200000 bytes",
          used_b, used_c, N);
}

static void check_malloc_trim(void)
{
    enum { N = 6000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(i % 2 ? 30000 : 700); /* ~92 MiB of medium and small blocks */
        CHECK(p[i] != NULL, "malloc");
        memset(p[i], 7, i % 2 ? 30000 : 700);
    }
    struct snug_stats full = get_stats();
    size_t rss_full = rss_bytes();
    for (int i = 0; i < N; i++) free(p[i]);
    int r = malloc_trim(0);
    struct snug_stats after = get_stats();
    size_t rss_after = rss_bytes();
    CHECK(r == 0 || r == 1, "malloc_trim returned %d", r);
    CHECK(after.heap_bytes + 60 * MiB < full.heap_bytes, "heap_bytes %zu MiB live, %zu MiB after free + malloc_trim",
          full.heap_bytes / MiB, after.heap_bytes / MiB);
    /* under qemu-i386 (tests/qemu32.sh) the RSS is the emulator's, which keeps madvised pages */
    if (!getenv("SNUG_TEST_QEMU"))
        CHECK(rss_after + 60 * MiB < rss_full, "RSS %zu MiB live, %zu MiB after free + malloc_trim",
              rss_full / MiB, rss_after / MiB);
    CHECK(sd_heap_check() == 0, "snug_heap_check");
}

int main(void)
{
    snugdl_init();
    run_check("malloc-is-snug", check_malloc_is_snug, 60);
    run_check("entry-points", check_entry_points, 60);
    run_check("glibc-internal-allocations", check_glibc_internal, 60);
    run_check("mallopt", check_mallopt, 60);
    run_check("malloc_stats", check_malloc_stats, 60);
    run_check("mallinfo2", check_mallinfo, 60);
    run_check("malloc_trim", check_malloc_trim, 60);
    return harness_done();
}
