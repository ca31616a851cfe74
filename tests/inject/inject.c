/* inject.c - kernel-memory failures at chosen points (issue 4): with snug_debug_fail_after(n)
 * (build/libsnug-debug.a) the next n requests for memory from the kernel succeed and every one
 * after fails.  A mixed workload (small, medium, large, aligned, calloc, realloc growing across
 * the size ranges, frees, a new thread) runs through the failures; then:
 *   - every failing call returned NULL (posix_memalign: ENOMEM) with errno ENOMEM,
 *   - with n <= 200 some calls did fail (the workload needs more than n requests),
 *   - every block allocated before or during the failures is intact, a failed realloc left its
 *     block as it was, snug_heap_check() == 0 during and after the failures,
 *   - after snug_debug_fail_after(-1) every kind of allocation works again, and freeing
 *     everything brings live_blocks back to where it was.
 * "fresh" cases arm the failures before snug's first call (start-up itself fails), "warm" ones
 * after a warm-up set of blocks.  Each case is its own child process (tests/common/harness.h). */
#include <pthread.h>

#include "harness.h"
#include "snug_debug.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define MAXB 4096

struct blk { unsigned char *p; size_t n; unsigned seed; };
static struct blk b[MAXB];
static size_t nb;
static size_t fails, calls;
static long fail_n;

static unsigned char pat(unsigned seed, size_t i) { return (unsigned char)(seed * 31u + i * 7u + (i >> 9)); }
static void fill(struct blk *x)
{
    size_t step = x->n <= 65536 ? 1 : 509;
    for (size_t i = 0; i < x->n; i += step) x->p[i] = pat(x->seed, i);
    if (x->n) x->p[x->n - 1] = pat(x->seed, x->n - 1);
}
/* The first `upto` bytes of what fill() wrote into a block of n bytes are there. */
static void verify_upto(const struct blk *x, size_t upto, const char *when)
{
    size_t step = x->n <= 65536 ? 1 : 509;
    for (size_t i = 0; i < upto; i += step)
        if (x->p[i] != pat(x->seed, i)) FAILF("%s: block %p (%zu bytes) byte %zu changed", when, (void *)x->p, x->n, i);
    if (x->n && x->n <= upto && x->p[x->n - 1] != pat(x->seed, x->n - 1))
        FAILF("%s: block %p last byte changed", when, (void *)x->p);
}
static void verify(const struct blk *x, const char *when) { verify_upto(x, x->n, when); }
static void verify_all(const char *when)
{
    for (size_t i = 0; i < nb; i++) verify(&b[i], when);
}
static void heap_ok(const char *when)
{
    if (snug_heap_check() != 0) FAILF("snug_heap_check failed %s (fail_after(%ld), %zu of %zu calls failed)", when, fail_n, fails, calls);
}

static unsigned seed_ctr = 1;
static void keep(void *p, size_t n, size_t align, const char *what)
{
    CHECK(((uintptr_t)p & ((align < 16 ? 16 : align) - 1)) == 0, "%s(%zu) = %p misaligned (%zu)", what, n, p, align);
    CHECK(snug_usable_size(p) >= n, "%s(%zu): usable size %zu", what, n, snug_usable_size(p));
    CHECK(nb < MAXB, "too many blocks");
    b[nb] = (struct blk){ p, n, seed_ctr++ };
    fill(&b[nb]);
    nb++;
}
/* A NULL result: must be ENOMEM. */
static void failed(const char *what, size_t n, int err)
{
    if (err != ENOMEM) FAILF("%s(%zu) returned NULL with errno %d (%s), want ENOMEM", what, n, err, strerror(err));
    fails++;
}
static void drop(size_t i)
{
    verify(&b[i], "before free");
    snug_free(b[i].p);
    b[i] = b[--nb];
}

/* One step of the workload; r is the random state. */
static void step_once(uint64_t *r)
{
    uint64_t x = xrnd(r);
    unsigned kind = (unsigned)(x % 16);
    size_t n;
    void *p = NULL;
    if (nb > 600 || (nb > 0 && kind >= 13)) {            /* free one */
        drop((size_t)(xrnd(r) % nb));
        return;
    }
    calls++;
    errno = 0;
    switch (kind) {
    case 0: case 1: case 2: case 3:
        n = 1 + xrnd(r) % 1024;
        if (!(p = snug_malloc(n))) { failed("malloc", n, errno); return; }
        keep(p, n, 16, "malloc");
        return;
    case 4: case 5:
        n = 1025 + xrnd(r) % 200000;
        if (!(p = snug_malloc(n))) { failed("malloc", n, errno); return; }
        keep(p, n, 16, "malloc");
        return;
    case 6: case 7:
        n = 256 * KiB + xrnd(r) % (2 * MiB);             /* large: one mapping each */
        if (!(p = snug_malloc(n))) { failed("malloc", n, errno); return; }
        keep(p, n, 16, "malloc");
        return;
    case 8: {
        n = 1 + xrnd(r) % 300000;
        size_t k = 1 + xrnd(r) % 8;
        if (!(p = snug_calloc(k, n))) { failed("calloc", k * n, errno); return; }
        for (size_t i = 0; i < k * n; i += (k * n > 65536 ? 4093 : 1))
            CHECK(((unsigned char *)p)[i] == 0, "calloc(%zu, %zu) byte %zu not zero", k, n, i);
        keep(p, k * n, 16, "calloc");
        return;
    }
    case 9: case 10: {
        static const size_t al[] = { 32, 64, 4096, 65536, 1 << 20 };
        size_t a = al[xrnd(r) % 5];
        n = 1 + xrnd(r) % 100000;
        if (xrnd(r) & 1) {
            if (!(p = snug_aligned_alloc(a, n))) { failed("aligned_alloc", n, errno); return; }
        } else {
            void *q = (void *)(uintptr_t)0x1234;
            int e = snug_posix_memalign(&q, a, n);
            if (e) {
                CHECK(q == (void *)(uintptr_t)0x1234, "failed posix_memalign wrote *memptr");
                failed("posix_memalign", n, e);
                return;
            }
            p = q;
        }
        keep(p, n, a, "aligned");
        return;
    }
    default: {                                            /* realloc: grow or shrink one */
        if (!nb) { calls--; return; }
        size_t i = (size_t)(xrnd(r) % nb);
        size_t old = b[i].n;
        n = (xrnd(r) & 3) ? old * 2 + 1 + xrnd(r) % 70000 : old / 2 + 1;
        if (n > 8 * MiB) n = 8 * MiB;
        verify(&b[i], "before realloc");
        void *q = snug_realloc(b[i].p, n);
        if (!q) {
            failed("realloc", n, errno);
            verify(&b[i], "after a failed realloc");
            CHECK(snug_usable_size(b[i].p) >= old, "failed realloc shrank the block");
            return;
        }
        b[i].p = q;
        verify_upto(&b[i], old < n ? old : n, "after realloc (kept part)");
        b[i].n = n;
        b[i].seed = seed_ctr++;
        fill(&b[i]);
        return;
    }
    }
}

static size_t base_blocks;
static size_t live_blocks(void)
{
    struct snug_stats s;
    CHECK(snug_stats(&s) == 0, "snug_stats");
    return s.live_blocks;
}

static void *thread_work(void *arg)
{
    uint64_t r = (uintptr_t)arg;
    for (int i = 0; i < 300; i++) {
        size_t n = 1 + xrnd(&r) % 3000;
        errno = 0;
        calls++;
        void *p = snug_malloc(n);
        if (!p) { failed("malloc in a new thread", n, errno); continue; }
        memset(p, 0x3c, n);
        snug_free(p);
    }
    return NULL;
}

/* After the failures: every kind of request works again; everything freed. */
static void recover(void)
{
    snug_debug_fail_after(-1);
    static const size_t sizes[] = { 24, 1000, 5000, 100000, 300 * KiB, 8 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = snug_malloc(sizes[i]);
        CHECK(p != NULL, "malloc(%zu) after fail_after(-1): errno %d", sizes[i], errno);
        keep(p, sizes[i], 16, "malloc after recovery");
        p = snug_aligned_alloc(1 << 20, sizes[i]);
        CHECK(p != NULL, "aligned_alloc(1 MiB, %zu) after fail_after(-1)", sizes[i]);
        keep(p, sizes[i], 1 << 20, "aligned_alloc after recovery");
    }
    for (size_t i = 0; i < nb && i < 40; i++) {       /* grow some of the old blocks a lot */
        void *q = snug_realloc(b[i].p, b[i].n + 3 * MiB);
        CHECK(q != NULL, "realloc(+3 MiB) after fail_after(-1)");
        b[i].p = q;
        verify(&b[i], "realloc after recovery");
        b[i].n += 3 * MiB;
        fill(&b[i]);
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_work, (void *)(uintptr_t)99) == 0, "pthread_create");
    pthread_join(t, NULL);
    verify_all("after recovery");
    heap_ok("after recovery");
    while (nb) drop(nb - 1);
    heap_ok("after freeing everything");
    CHECK(live_blocks() == base_blocks, "live_blocks %zu after freeing everything, %zu before", live_blocks(), base_blocks);
}

static void run(long n, int warm, int with_thread)
{
    uint64_t r = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    fail_n = n;
    if (warm) {
        for (int i = 0; i < 300; i++) step_once(&r);
        base_blocks = live_blocks() - nb;
        CHECK(fails == 0, "%zu calls failed before any failure was injected", fails);
        calls = 0;
        heap_ok("after warm-up");
    }
    snug_debug_fail_after(n);
    if (with_thread) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, thread_work, (void *)(uintptr_t)n) == 0, "pthread_create");
        pthread_join(t, NULL);
    }
    for (int i = 0; i < 3000; i++) {
        step_once(&r);
        if (i % 250 == 0) heap_ok("while failing");
    }
    note("fail_after(%ld)%s%s: %zu of %zu calls failed, %zu blocks live", n, warm ? " after warm-up" : "",
         with_thread ? " with a new thread" : "", fails, calls, nb);
    if (n <= 200) CHECK(fails > 0, "fail_after(%ld): none of %zu calls failed", n, calls);
    verify_all("after the failures");
    heap_ok("after the failures");
    if (!warm) base_blocks = 0;
    recover();
}

#define CASE(name, n, warm, thr) static void name(void) { run(n, warm, thr); }
CASE(fresh_0, 0, 0, 0) CASE(fresh_1, 1, 0, 0) CASE(fresh_2, 2, 0, 0) CASE(fresh_3, 3, 0, 0)
CASE(fresh_5, 5, 0, 0) CASE(fresh_10, 10, 0, 0) CASE(fresh_50, 50, 0, 0)
CASE(warm_0, 0, 1, 0) CASE(warm_1, 1, 1, 0) CASE(warm_2, 2, 1, 0) CASE(warm_5, 5, 1, 0)
CASE(warm_10, 10, 1, 0) CASE(warm_20, 20, 1, 0) CASE(warm_50, 50, 1, 0) CASE(warm_100, 100, 1, 0)
CASE(warm_200, 200, 1, 0) CASE(warm_1000, 1000, 1, 0)
CASE(thread_0, 0, 1, 1) CASE(thread_1, 1, 1, 1) CASE(thread_3, 3, 1, 1)

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* no snug call in the parent: each child starts with an uninitialised snug */
    run_check("fresh/fail-after-0", fresh_0, 120);
    run_check("fresh/fail-after-1", fresh_1, 120);
    run_check("fresh/fail-after-2", fresh_2, 120);
    run_check("fresh/fail-after-3", fresh_3, 120);
    run_check("fresh/fail-after-5", fresh_5, 120);
    run_check("fresh/fail-after-10", fresh_10, 120);
    run_check("fresh/fail-after-50", fresh_50, 120);
    run_check("warm/fail-after-0", warm_0, 120);
    run_check("warm/fail-after-1", warm_1, 120);
    run_check("warm/fail-after-2", warm_2, 120);
    run_check("warm/fail-after-5", warm_5, 120);
    run_check("warm/fail-after-10", warm_10, 120);
    run_check("warm/fail-after-20", warm_20, 120);
    run_check("warm/fail-after-50", warm_50, 120);
    run_check("warm/fail-after-100", warm_100, 120);
    run_check("warm/fail-after-200", warm_200, 120);
    run_check("warm/fail-after-1000", warm_1000, 120);
    run_check("new-thread/fail-after-0", thread_0, 120);
    run_check("new-thread/fail-after-1", thread_1, 120);
    run_check("new-thread/fail-after-3", thread_3, 120);
    return harness_done();
}
