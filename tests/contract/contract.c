/* contract.c - Criterion contract tests for the prefixed snug_* API, one test per
 * contract (alignment, zero sizes, overflow -> ENOMEM, realloc, calloc zeroing, stats, ...).
 * Built twice by tests/tests.mk: against libsnug-prefix.a (gcc) and libsnug-asan.a (clang ASan+UBSan). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snug.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
/* The minimum alignment every pointer must have. */
#define MIN_ALIGN (sizeof(void *) == 8 ? (size_t)16 : (size_t)8)
#define HUGE_SIZE ((size_t)PTRDIFF_MAX + 1)

static int aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* A byte pattern that differs per block (seed) and per offset. */
static unsigned char pat(size_t seed, size_t i)
{
    return (unsigned char)((seed * 131u + i * 7u + (i >> 8) * 3u + 1u) & 0xff);
}
static void fill(void *p, size_t n, size_t seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++) c[i] = pat(seed, i);
}
/* Returns the first bad offset, or (size_t)-1 when the pattern is intact. */
static size_t bad_at(const void *p, size_t n, size_t seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != pat(seed, i)) return i;
    return (size_t)-1;
}
#define assert_pattern(p, n, seed, what)                                                    \
    do {                                                                                    \
        size_t bad_ = bad_at((p), (n), (seed));                                             \
        cr_assert(bad_ == (size_t)-1, "%s: byte %zu of %zu corrupted", (what), bad_, (size_t)(n)); \
    } while (0)

static struct snug_stats stats(void)
{
    struct snug_stats s;
    memset(&s, 0xff, sizeof s);
    cr_assert_eq(snug_stats(&s), 0, "snug_stats did not return 0");
    return s;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return rng_state = x;
}

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Every test ends with a consistent heap: CONTRACT(name) runs the body, then the checker
 * (inside the test: Criterion does not count failures in a .fini hook). */
static void heap_ok(void)
{
    cr_assert_eq(snug_heap_check(), 0, "snug_heap_check() failed at the end of the test");
}
#define CONTRACT(name)                     \
    static void name##_body(void);         \
    Test(contract, name) { name##_body(); heap_ok(); } \
    static void name##_body(void)
TestSuite(contract, .timeout = 120);

/* Sizes above 4096 exercised by several tests. */
static const size_t big_sizes[] = {
    4097, 5000, 8191, 8192, 8193, 12345, 16384, 32768, 65535, 65536, 65537, 100000,
    131072, 131073, 262144, 300000, 524288, 1048575, 1048576, 1048577, 2 * 1048576 + 3,
    3 * 1048576, 5 * 1048576, 8 * 1048576 + 1, 16 * 1048576, 33 * 1048576 + 4095,
};
#define NBIG (sizeof big_sizes / sizeof big_sizes[0])

CONTRACT(alignment_every_size)
{
    enum { N = 4097 };
    static void *p[N];
    for (size_t s = 0; s < N; s++) {
        p[s] = snug_malloc(s);
        cr_assert_not_null(p[s], "malloc(%zu) returned NULL", s);
        cr_assert(aligned(p[s], MIN_ALIGN), "malloc(%zu) = %p not %zu-aligned", s, p[s], MIN_ALIGN);
        memset(p[s], 0x5a, s);
    }
    for (size_t s = 0; s < N; s += 2) snug_free(p[s]);
    /* Recycled blocks, calloc and realloc results must be aligned too. */
    for (size_t s = 0; s < N; s += 2) {
        p[s] = snug_calloc(1, s);
        cr_assert_not_null(p[s], "calloc(1, %zu) returned NULL", s);
        cr_assert(aligned(p[s], MIN_ALIGN), "calloc(1, %zu) = %p not aligned", s, p[s]);
    }
    for (size_t s = 1; s < N; s += 2) {
        p[s] = snug_realloc(p[s], s * 3 + 1);
        cr_assert_not_null(p[s], "realloc to %zu returned NULL", s * 3 + 1);
        cr_assert(aligned(p[s], MIN_ALIGN), "realloc to %zu = %p not aligned", s * 3 + 1, p[s]);
    }
    for (size_t s = 0; s < N; s++) snug_free(p[s]);

    void *q[NBIG];
    for (size_t i = 0; i < NBIG; i++) {
        q[i] = snug_malloc(big_sizes[i]);
        cr_assert_not_null(q[i], "malloc(%zu) returned NULL", big_sizes[i]);
        cr_assert(aligned(q[i], MIN_ALIGN), "malloc(%zu) = %p not aligned", big_sizes[i], q[i]);
        memset(q[i], 0xa5, big_sizes[i]);
    }
    for (size_t i = 0; i < NBIG; i++) snug_free(q[i]);
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

CONTRACT(malloc_zero_unique)
{
    enum { N = 2000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        switch (i % 3) {
        case 0: p[i] = snug_malloc(0); break;
        case 1: p[i] = snug_calloc(0, 16); break;
        default: p[i] = snug_calloc(16, 0); break;
        }
        cr_assert_not_null(p[i], "zero-size allocation #%d returned NULL", i);
        cr_assert(aligned(p[i], MIN_ALIGN), "zero-size allocation %p not aligned", p[i]);
    }
    void *sorted[N];
    memcpy(sorted, p, sizeof sorted);
    qsort(sorted, N, sizeof sorted[0], cmp_ptr);
    for (int i = 1; i < N; i++)
        cr_assert_neq(sorted[i - 1], sorted[i], "zero-size allocations returned %p twice", sorted[i]);
    for (int i = 0; i < N; i++) snug_free(p[i]);
}

CONTRACT(free_null_is_noop)
{
    struct snug_stats a = stats();
    errno = 0;
    for (int i = 0; i < 100; i++) {
        snug_free(NULL);
        snug_free_sized(NULL, 0);
        snug_free_sized(NULL, 100);
        snug_free_aligned_sized(NULL, 64, 0);
    }
    cr_assert_eq(errno, 0, "free(NULL) changed errno to %d", errno);
    struct snug_stats b = stats();
    cr_assert_eq(a.live_blocks, b.live_blocks, "free(NULL) changed live_blocks");
    cr_assert_eq(a.live_bytes, b.live_bytes, "free(NULL) changed live_bytes");
    void *p = snug_malloc(10);
    cr_assert_not_null(p);
    snug_free(p);
}

CONTRACT(huge_malloc_enomem)
{
    const size_t sizes[] = { HUGE_SIZE, HUGE_SIZE + 1, SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15,
                             SIZE_MAX - 4095, SIZE_MAX - (1u << 20), SIZE_MAX / 2 + 4096,
                             (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 4095 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        void *p = snug_malloc(sizes[i]);
        cr_assert_null(p, "malloc(%zu) returned %p", sizes[i], p);
        cr_assert_eq(errno, ENOMEM, "malloc(%zu): errno %d, want ENOMEM", sizes[i], errno);
    }
    void *p = snug_malloc(100);
    cr_assert_not_null(p, "malloc(100) fails after huge requests");
    snug_free(p);
}

CONTRACT(huge_other_allocators_enomem)
{
    const size_t sizes[] = { HUGE_SIZE, SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 4095 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t s = sizes[i];
        void *p;
        errno = 0; p = snug_calloc(1, s);
        cr_assert(p == NULL && errno == ENOMEM, "calloc(1, %zu): %p errno %d", s, p, errno);
        errno = 0; p = snug_aligned_alloc(64, s);
        cr_assert(p == NULL && errno == ENOMEM, "aligned_alloc(64, %zu): %p errno %d", s, p, errno);
        errno = 0; p = snug_memalign(4096, s);
        cr_assert(p == NULL && errno == ENOMEM, "memalign(4096, %zu): %p errno %d", s, p, errno);
        errno = 0; p = snug_valloc(s);
        cr_assert(p == NULL && errno == ENOMEM, "valloc(%zu): %p errno %d", s, p, errno);
        errno = 0; p = snug_pvalloc(s);
        cr_assert(p == NULL && errno == ENOMEM, "pvalloc(%zu): %p errno %d", s, p, errno);
        errno = 0; p = snug_realloc(NULL, s);
        cr_assert(p == NULL && errno == ENOMEM, "realloc(NULL, %zu): %p errno %d", s, p, errno);
        void *m = (void *)0x1234;
        int r = snug_posix_memalign(&m, 64, s);
        cr_assert_eq(r, ENOMEM, "posix_memalign(64, %zu) returned %d, want ENOMEM", s, r);
    }
}

CONTRACT(calloc_overflow_enomem)
{
    const size_t half = SIZE_MAX / 2 + 1;
    const size_t cases[][2] = {
        { half, 2 }, { 2, half }, { SIZE_MAX, SIZE_MAX }, { SIZE_MAX, 2 },
        { (size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4) },
        { ((size_t)1 << (sizeof(size_t) * 4)) + 1, ((size_t)1 << (sizeof(size_t) * 4)) + 1 },
        { SIZE_MAX / 3 + 1, 3 }, { 3, SIZE_MAX / 3 + 1 },
        /* no overflow, but the product is above PTRDIFF_MAX */
        { (size_t)PTRDIFF_MAX / 2 + 1, 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        void *p = snug_calloc(cases[i][0], cases[i][1]);
        cr_assert_null(p, "calloc(%zu, %zu) returned %p", cases[i][0], cases[i][1], p);
        cr_assert_eq(errno, ENOMEM, "calloc(%zu, %zu): errno %d, want ENOMEM",
                     cases[i][0], cases[i][1], errno);
    }
}

CONTRACT(reallocarray_overflow_enomem)
{
    const size_t half = SIZE_MAX / 2 + 1;
    void *p = snug_malloc(200);
    cr_assert_not_null(p);
    fill(p, 200, 7);
    const size_t cases[][2] = { { half, 2 }, { 2, half }, { SIZE_MAX, SIZE_MAX },
                                { SIZE_MAX / 5 + 1, 5 }, { (size_t)PTRDIFF_MAX / 4 + 1, 4 } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        void *q = snug_reallocarray(p, cases[i][0], cases[i][1]);
        cr_assert_null(q, "reallocarray(p, %zu, %zu) returned %p", cases[i][0], cases[i][1], q);
        cr_assert_eq(errno, ENOMEM, "reallocarray(p, %zu, %zu): errno %d", cases[i][0], cases[i][1], errno);
        assert_pattern(p, 200, 7, "block after failed reallocarray");
        errno = 0;
        q = snug_reallocarray(NULL, cases[i][0], cases[i][1]);
        cr_assert(q == NULL && errno == ENOMEM, "reallocarray(NULL, %zu, %zu): %p errno %d",
                  cases[i][0], cases[i][1], q, errno);
    }
    /* A product that fits works like realloc. */
    void *q = snug_reallocarray(p, 100, 8);
    cr_assert_not_null(q);
    assert_pattern(q, 200, 7, "block after reallocarray(p, 100, 8)");
    cr_assert_geq(snug_usable_size(q), 800);
    memset(q, 1, 800);
    snug_free(q);
}

CONTRACT(failed_realloc_keeps_block)
{
    const size_t sizes[] = { 1, 24, 500, 4096, 20000, 200000, 3 * MiB };
    const size_t huge[] = { HUGE_SIZE, SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 4095 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = snug_malloc(n);
        cr_assert_not_null(p);
        fill(p, n, i + 11);
        size_t us = snug_usable_size(p);
        for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
            errno = 0;
            void *q = snug_realloc(p, huge[h]);
            cr_assert_null(q, "realloc(%zu-byte block, %zu) returned %p", n, huge[h], q);
            cr_assert_eq(errno, ENOMEM, "realloc(.., %zu): errno %d", huge[h], errno);
            assert_pattern(p, n, i + 11, "block after failed realloc");
            cr_assert_eq(snug_usable_size(p), us, "usable size of the old block changed");
        }
        /* The old block is still a live, reallocatable block. */
        void *q = snug_realloc(p, n * 2 + 100);
        cr_assert_not_null(q);
        assert_pattern(q, n, i + 11, "block grown after failed realloc");
        snug_free(q);
    }
}

CONTRACT(realloc_null_is_malloc)
{
    const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 1000, 5000, 70000, 300000, 5 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        struct snug_stats a = stats();
        void *p = snug_realloc(NULL, n);
        cr_assert_not_null(p, "realloc(NULL, %zu) returned NULL", n);
        cr_assert(aligned(p, MIN_ALIGN), "realloc(NULL, %zu) = %p not aligned", n, p);
        cr_assert_geq(snug_usable_size(p), n, "realloc(NULL, %zu): usable size too small", n);
        struct snug_stats b = stats();
        cr_assert_eq(b.live_blocks, a.live_blocks + 1, "realloc(NULL, %zu) did not add one live block", n);
        fill(p, n, n);
        assert_pattern(p, n, n, "realloc(NULL, n) block");
        snug_free(p);
        struct snug_stats c = stats();
        cr_assert_eq(c.live_blocks, a.live_blocks);
    }
}

CONTRACT(realloc_zero_frees)
{
    const size_t sizes[] = { 1, 100, 5000, 70000, 5 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct snug_stats a = stats();
        void *p = snug_malloc(sizes[i]);
        cr_assert_not_null(p);
        memset(p, 3, sizes[i]);
        void *q = snug_realloc(p, 0);
        cr_assert_null(q, "realloc(p, 0) returned %p, want NULL (block freed)", q);
        struct snug_stats b = stats();
        cr_assert_eq(b.live_blocks, a.live_blocks, "realloc(p, 0) of a %zu-byte block left it live", sizes[i]);
        cr_assert_eq(b.live_bytes, a.live_bytes, "realloc(p, 0): live_bytes %zu, before malloc %zu",
                     b.live_bytes, a.live_bytes);
    }
}

static void calloc_recycled(size_t n, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        void *d[4];
        for (int k = 0; k < 4; k++) {
            d[k] = snug_malloc(n);
            cr_assert_not_null(d[k], "malloc(%zu)", n);
            memset(d[k], 0xEE, snug_usable_size(d[k]));
        }
        for (int k = 0; k < 4; k++) snug_free(d[k]);
        for (int k = 0; k < 4; k++) {
            /* Mix the shapes: (1, n) and (n/8, 8) when n allows it. */
            unsigned char *c = (k & 1) && n % 8 == 0 ? snug_calloc(n / 8, 8) : snug_calloc(1, n);
            cr_assert_not_null(c, "calloc of %zu bytes", n);
            for (size_t i = 0; i < n; i++)
                cr_assert(c[i] == 0, "calloc(%zu): byte %zu is 0x%02x after recycling a dirty block",
                          n, i, c[i]);
            d[k] = c;
        }
        for (int k = 0; k < 4; k++) snug_free(d[k]);
    }
}

CONTRACT(calloc_zero_when_recycled)
{
    for (size_t n = 1; n <= 1024; n += (n < 64 ? 1 : 37)) calloc_recycled(n, 2);
    const size_t sizes[] = { 2048, 4096, 5000, 16384, 70000, 131072, 300000, 1 * MiB,
                             5 * MiB, 16 * MiB + 24 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) calloc_recycled(sizes[i], 3);

    /* Tails left dirty by shrinking realloc must not leak into calloc either. */
    for (int r = 0; r < 50; r++) {
        unsigned char *p = snug_malloc(10000);
        cr_assert_not_null(p);
        memset(p, 0xCC, 10000);
        p = snug_realloc(p, 100);
        cr_assert_not_null(p);
        unsigned char *c = snug_calloc(1, 5000);
        cr_assert_not_null(c);
        for (size_t i = 0; i < 5000; i++) cr_assert(c[i] == 0, "calloc byte %zu dirty after realloc shrink", i);
        snug_free(p);
        snug_free(c);
    }
}

CONTRACT(posix_memalign_einval)
{
    const size_t bad[] = { 0, 1, 2, 3, 4, sizeof(void *) / 2, sizeof(void *) + 1,
                           3 * sizeof(void *), 5 * sizeof(void *), 24, 48, 96, 100, 4095, 4097, 12288,
                           (1u << 20) + 16, SIZE_MAX, SIZE_MAX - 7, HUGE_SIZE + 8 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t a = bad[i];
        if (a >= sizeof(void *) && (a & (a - 1)) == 0 && a % sizeof(void *) == 0) continue; /* valid */
        void *sentinel = (void *)(uintptr_t)0xDEADBEE0u;
        void *m = sentinel;
        errno = 0;
        int r = snug_posix_memalign(&m, a, 64);
        cr_assert_eq(r, EINVAL, "posix_memalign(alignment %zu) returned %d, want EINVAL", a, r);
        cr_assert_eq(m, sentinel, "posix_memalign(alignment %zu) wrote *memptr = %p", a, m);
    }
    /* Valid small alignments work: sizeof(void *) itself. */
    void *m = NULL;
    cr_assert_eq(snug_posix_memalign(&m, sizeof(void *), 10), 0);
    cr_assert_not_null(m);
    cr_assert(aligned(m, sizeof(void *)));
    snug_free(m);
}

enum { AL_ALIGNED_ALLOC, AL_MEMALIGN, AL_POSIX };
static void check_alignments(int how)
{
    static const char *names[] = { "aligned_alloc", "memalign", "posix_memalign" };
    for (size_t a = 16; a <= MiB; a *= 2) {
        const size_t sizes[] = { 1, 8, 100, a - 1, a, a + 1, 3 * a, 70000, 300000 };
        void *keep[sizeof sizes / sizeof sizes[0]];
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *p = NULL;
            switch (how) {
            case AL_ALIGNED_ALLOC: p = snug_aligned_alloc(a, n); break;
            case AL_MEMALIGN: p = snug_memalign(a, n); break;
            default: {
                int r = snug_posix_memalign(&p, a, n);
                cr_assert_eq(r, 0, "posix_memalign(%zu, %zu) returned %d", a, n, r);
            }
            }
            cr_assert_not_null(p, "%s(%zu, %zu) returned NULL", names[how], a, n);
            cr_assert(aligned(p, a), "%s(%zu, %zu) = %p is misaligned", names[how], a, n, p);
            cr_assert_geq(snug_usable_size(p), n, "%s(%zu, %zu): usable size %zu", names[how], a, n,
                          snug_usable_size(p));
            fill(p, snug_usable_size(p), a + n); /* all of the usable size is ours */
            keep[i] = p;
        }
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            assert_pattern(keep[i], snug_usable_size(keep[i]), a + sizes[i], names[how]);
            if (i & 1) snug_free_aligned_sized(keep[i], a, sizes[i]);
            else snug_free(keep[i]);
        }
    }
    if (how != AL_POSIX) {
        /* Alignments below the minimum are valid and give at least the minimum. */
        for (size_t a = 1; a < 16; a *= 2) {
            void *p = how == AL_MEMALIGN ? snug_memalign(a, 40) : snug_aligned_alloc(a, 40);
            cr_assert_not_null(p, "%s(%zu, 40) returned NULL", names[how], a);
            cr_assert(aligned(p, a));
            memset(p, 1, 40);
            snug_free(p);
        }
    }
}
CONTRACT(aligned_alloc_alignments) { check_alignments(AL_ALIGNED_ALLOC); }
CONTRACT(memalign_alignments) { check_alignments(AL_MEMALIGN); }
CONTRACT(posix_memalign_alignments) { check_alignments(AL_POSIX); }

CONTRACT(valloc_pvalloc_pages)
{
    const size_t pg = page_size();
    const size_t sizes[] = { 1, 100, pg - 1, pg, pg + 1, 3 * pg + 5, 70000, 300000, 5 * MiB + 1 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *before = snug_malloc(64), *v = snug_valloc(n), *after = snug_malloc(64);
        cr_assert_not_null(v, "valloc(%zu) returned NULL", n);
        cr_assert(aligned(v, pg), "valloc(%zu) = %p not page-aligned", n, (void *)v);
        cr_assert_geq(snug_usable_size(v), n);
        fill(before, 64, 1); fill(after, 64, 2);
        memset(v, 0x77, n);
        snug_free(v);

        size_t round = (n + pg - 1) / pg * pg;
        unsigned char *pv = snug_pvalloc(n);
        cr_assert_not_null(pv, "pvalloc(%zu) returned NULL", n);
        cr_assert(aligned(pv, pg), "pvalloc(%zu) = %p not page-aligned", n, (void *)pv);
        cr_assert_geq(snug_usable_size(pv), round, "pvalloc(%zu): usable %zu < rounded size %zu", n,
                      snug_usable_size(pv), round);
        memset(pv, 0x66, round); /* all of the rounded size is ours */
        assert_pattern(before, 64, 1, "neighbour block before pvalloc block");
        assert_pattern(after, 64, 2, "neighbour block after pvalloc block");
        snug_free(pv);
        snug_free(before);
        snug_free(after);
    }
    void *z = snug_valloc(0);
    cr_assert_not_null(z, "valloc(0) returned NULL");
    cr_assert(aligned(z, pg));
    snug_free(z);
    z = snug_pvalloc(0);
    cr_assert_not_null(z, "pvalloc(0) returned NULL");
    cr_assert(aligned(z, pg));
    snug_free(z);
}

CONTRACT(free_preserves_errno)
{
    const size_t sizes[] = { 0, 1, 100, 1000, 5000, 70000, 300000, 5 * MiB, 64 * MiB };
    enum { NS = sizeof sizes / sizeof sizes[0], REP = 40 };
    static void *p[NS][REP];
    for (size_t i = 0; i < NS; i++)
        for (int r = 0; r < REP; r++) {
            p[i][r] = snug_malloc(sizes[i] >= MiB ? sizes[i] : sizes[i] * (1 + r % 3));
            cr_assert_not_null(p[i][r]);
            memset(p[i][r], 1, sizes[i] >= MiB ? 4096 : sizes[i]);
            if (sizes[i] >= 64 * MiB && r > 1) { snug_free(p[i][r]); p[i][r] = NULL; }
        }
    for (size_t i = 0; i < NS; i++)
        for (int r = 0; r < REP; r++) {
            errno = EDOM;
            switch (r % 3) {
            case 0: snug_free(p[i][r]); break;
            case 1: snug_free_sized(p[i][r], sizes[i] >= MiB ? sizes[i] : sizes[i] * (1 + r % 3)); break;
            default:
                snug_free(p[i][r]);
                snug_trim(0);
                break;
            }
            cr_assert_eq(errno, EDOM, "free of a %zu-byte block changed errno to %d", sizes[i], errno);
        }
    void *a = snug_aligned_alloc(4096, 100000);
    cr_assert_not_null(a);
    errno = ERANGE;
    snug_free_aligned_sized(a, 4096, 100000);
    cr_assert_eq(errno, ERANGE, "free_aligned_sized changed errno to %d", errno);
}

CONTRACT(usable_size_all_writable)
{
    cr_assert_eq(snug_usable_size(NULL), 0, "usable_size(NULL) must be 0");
    size_t sizes[200];
    size_t ns = 0;
    for (size_t s = 0; s <= 600; s += 7) sizes[ns++] = s;
    for (size_t i = 0; i < NBIG && ns < 200; i++) sizes[ns++] = big_sizes[i];
    for (size_t i = 0; i < ns; i++) {
        size_t n = sizes[i];
        /* three in a row so that the middle one has neighbours on both sides */
        unsigned char *a = snug_malloc(n), *m = snug_malloc(n), *b = snug_malloc(n);
        cr_assert(a && m && b, "malloc(%zu) returned NULL", n);
        size_t ua = snug_usable_size(a), um = snug_usable_size(m), ub = snug_usable_size(b);
        cr_assert_geq(um, n, "usable_size %zu < request %zu", um, n);
        cr_assert_geq(ua, n); cr_assert_geq(ub, n);
        fill(a, ua, 1000 + n);
        fill(b, ub, 2000 + n);
        memset(m, 0xAB, um);
        assert_pattern(a, ua, 1000 + n, "block before one filled to its usable size");
        assert_pattern(b, ub, 2000 + n, "block after one filled to its usable size");
        for (size_t k = 0; k < um; k++) cr_assert(m[k] == 0xAB, "usable byte %zu of %zu lost", k, um);
        snug_free(m);
        assert_pattern(a, ua, 1000 + n, "neighbour after free");
        assert_pattern(b, ub, 2000 + n, "neighbour after free");
        snug_free(a);
        snug_free(b);
    }
}

static const size_t rs_sizes[] = { 1, 16, 100, 1000, 5000, 70000, 300000, 5 * MiB };
#define NRS (sizeof rs_sizes / sizeof rs_sizes[0])

static void *realloc_checked(void *p, size_t from, size_t to, size_t seed)
{
    /* A neighbour allocated after p: realloc in place must not grow into it. */
    unsigned char *nb = snug_malloc(from);
    cr_assert_not_null(nb);
    fill(nb, from, seed + 99);
    void *q = snug_realloc(p, to);
    cr_assert_not_null(q, "realloc %zu -> %zu returned NULL", from, to);
    cr_assert(aligned(q, MIN_ALIGN));
    cr_assert_geq(snug_usable_size(q), to, "realloc %zu -> %zu: usable %zu", from, to, snug_usable_size(q));
    size_t keep = from < to ? from : to;
    size_t bad = bad_at(q, keep, seed);
    cr_assert(bad == (size_t)-1, "realloc %zu -> %zu: byte %zu of the kept %zu changed", from, to, bad, keep);
    assert_pattern(nb, from, seed + 99, "neighbour of a reallocated block");
    snug_free(nb);
    return q;
}

CONTRACT(realloc_keeps_contents)
{
    /* every ordered pair of sizes, there and back */
    for (size_t i = 0; i < NRS; i++)
        for (size_t j = 0; j < NRS; j++) {
            if (i == j) continue;
            size_t a = rs_sizes[i], b = rs_sizes[j], seed = i * 16 + j;
            void *p = snug_malloc(a);
            cr_assert_not_null(p);
            fill(p, a, seed);
            p = realloc_checked(p, a, b, seed);
            fill(p, b, seed + 1);
            p = realloc_checked(p, b, a, seed + 1);
            snug_free(p);
        }
    /* one chain through every transition (an Euler circuit of the complete digraph),
     * also with the block growing/shrinking by small steps within a size class */
    void *p = snug_malloc(rs_sizes[0]);
    size_t cur = 0, seed = 5000;
    fill(p, rs_sizes[0], seed);
    int used[NRS][NRS] = { { 0 } };
    for (;;) {
        size_t nx = NRS;
        for (size_t j = 0; j < NRS; j++)
            if (j != cur && !used[cur][j]) { nx = j; break; }
        if (nx == NRS) break;
        used[cur][nx] = 1;
        p = realloc_checked(p, rs_sizes[cur], rs_sizes[nx], seed);
        fill(p, rs_sizes[nx], ++seed);
        size_t s2 = rs_sizes[nx] + 1 + rs_sizes[nx] / 10;
        p = realloc_checked(p, rs_sizes[nx], s2, seed);
        p = realloc_checked(p, s2, rs_sizes[nx], seed);
        cur = nx;
    }
    snug_free(p);
}

CONTRACT(free_sized_and_aligned_sized)
{
    struct snug_stats a = stats();
    const size_t sizes[] = { 0, 1, 16, 100, 1000, 5000, 70000, 300000, 5 * MiB };
    for (int round = 0; round < 20; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = snug_malloc(sizes[i]);
            cr_assert_not_null(p);
            memset(p, 9, sizes[i]);
            snug_free_sized(p, sizes[i]);
            p = snug_calloc(1, sizes[i]);
            cr_assert_not_null(p);
            snug_free_sized(p, sizes[i]);
            for (size_t al = 16; al <= 64 * KiB; al *= 4) {
                void *q = snug_aligned_alloc(al, sizes[i]);
                cr_assert_not_null(q);
                cr_assert(aligned(q, al));
                memset(q, 8, sizes[i]);
                snug_free_aligned_sized(q, al, sizes[i]);
            }
        }
    struct snug_stats b = stats();
    cr_assert_eq(b.live_blocks, a.live_blocks, "free_sized/free_aligned_sized left %zd blocks live",
                 (ptrdiff_t)(b.live_blocks - a.live_blocks));
    cr_assert_eq(b.live_bytes, a.live_bytes);
}

/* A block realloc shrinks in place (too small to split) is freed with the
 * size realloc was last asked for: a page-aligned block of a few bytes shrunk
 * to 1-16 bytes keeps its 48-byte block (the fuzzer's find: free_sized ended
 * the program as a wrong size). */
CONTRACT(free_sized_after_realloc_shrink)
{
    const size_t first[] = { 1, 5, 24, 40, 100, 1000, 3000, 70000 };
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++)
        for (size_t n = 1; n <= 48; n += 1) {
            void *p = snug_valloc(first[i]);
            cr_assert_not_null(p);
            memset(p, 3, first[i]);
            void *q = snug_realloc(p, n);
            cr_assert_not_null(q);
            if (n & 1) snug_free_sized(q, n);
            else snug_free_aligned_sized(q, 16, n);
            p = snug_malloc(first[i]);
            cr_assert_not_null(p);
            q = snug_realloc(p, n);
            cr_assert_not_null(q);
            snug_free_sized(q, n);
        }
}

CONTRACT(stats_move_sensibly)
{
    void *warm = snug_malloc(32);
    cr_assert_not_null(warm);
    struct snug_stats s0 = stats();
    cr_assert_gt(s0.heap_bytes, 0, "heap_bytes is 0 with a live block");
    cr_assert_geq(s0.heap_peak, s0.heap_bytes);
    cr_assert_geq(s0.heap_bytes, s0.live_bytes, "heap_bytes %zu < live_bytes %zu", s0.heap_bytes, s0.live_bytes);
    cr_assert_geq(s0.live_blocks, 1);
    const size_t sizes[] = { 24, 3000, 70000, 300000, 5 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        struct snug_stats a = stats();
        void *p = snug_malloc(n);
        cr_assert_not_null(p);
        memset(p, 1, n);
        struct snug_stats b = stats();
        cr_assert_eq(b.live_bytes, a.live_bytes + snug_usable_size(p),
                     "malloc(%zu): live_bytes %zu -> %zu, usable size %zu", n, a.live_bytes,
                     b.live_bytes, snug_usable_size(p));
        cr_assert_eq(b.live_blocks, a.live_blocks + 1, "malloc(%zu): live_blocks %zu -> %zu", n,
                     a.live_blocks, b.live_blocks);
        cr_assert_geq(b.heap_bytes, b.live_bytes);
        cr_assert_geq(b.heap_peak, b.heap_bytes);
        snug_free(p);
        struct snug_stats c = stats();
        cr_assert_eq(c.live_bytes, a.live_bytes, "free of %zu: live_bytes %zu, before malloc %zu", n,
                     c.live_bytes, a.live_bytes);
        cr_assert_eq(c.live_blocks, a.live_blocks);
        cr_assert_geq(c.heap_peak, b.heap_bytes, "heap_peak fell below an earlier heap_bytes");
    }
    /* peak reset: the peaks become the current values */
    void *big = snug_malloc(20 * MiB);
    cr_assert_not_null(big);
    memset(big, 1, 20 * MiB);
    snug_free(big);
    snug_trim(0);
    snug_stats_reset_peak();
    struct snug_stats r = stats();
    cr_assert_eq(r.heap_peak, r.heap_bytes, "after reset_peak: heap_peak %zu, heap_bytes %zu",
                 r.heap_peak, r.heap_bytes);
    cr_assert_eq(r.live_peak, r.live_bytes, "after reset_peak: live_peak %zu, live_bytes %zu",
                 r.live_peak, r.live_bytes);
    snug_free(warm);
}

CONTRACT(heap_check_after_random_ops)
{
    enum { SLOTS = 3000, OPS = 60000 };
    static unsigned char *p[SLOTS];
    static size_t sz[SLOTS], sd[SLOTS];
    cr_assert_eq(snug_heap_check(), 0, "heap_check fails on a fresh heap");
    struct snug_stats s0 = stats();
    for (int op = 0; op < OPS; op++) {
        size_t i = rnd() % SLOTS;
        if (p[i]) {
            size_t bad = bad_at(p[i], sz[i], sd[i]);
            cr_assert(bad == (size_t)-1, "op %d: block %zu (%zu bytes) corrupted at %zu", op, i, sz[i], bad);
        }
        uint64_t r = rnd();
        size_t n;
        switch (r % 16) {
        case 0: n = rnd() % 300000; break;
        case 1: case 2: n = rnd() % 20000; break;
        case 3: n = (r >> 8) % 3 == 0 ? rnd() % MiB + 1 : rnd() % 2000; break;
        default: n = rnd() % 512; break;
        }
        size_t op_kind = (r >> 4) % 8;
        if (p[i] && op_kind < 4) {
            if (op_kind == 0) snug_free_sized(p[i], sz[i]);
            else snug_free(p[i]);
            p[i] = NULL;
            continue;
        }
        if (p[i] && op_kind < 6) {
            unsigned char *q = snug_realloc(p[i], n ? n : 1);
            cr_assert_not_null(q);
            size_t keep = sz[i] < n ? sz[i] : n;
            cr_assert(bad_at(q, keep, sd[i]) == (size_t)-1, "realloc %zu -> %zu lost contents", sz[i], n);
            p[i] = q;
        } else {
            if (p[i]) snug_free(p[i]);
            switch (op_kind) {
            case 6: p[i] = snug_calloc(1, n);
                cr_assert_not_null(p[i]);
                for (size_t k = 0; k < n; k++) cr_assert(p[i][k] == 0, "calloc(%zu) byte %zu dirty", n, k);
                break;
            case 7: p[i] = snug_memalign((size_t)1 << (4 + rnd() % 9), n); break;
            default: p[i] = snug_malloc(n); break;
            }
            cr_assert_not_null(p[i]);
        }
        sz[i] = n ? n : 1;
        sd[i] = rnd();
        fill(p[i], sz[i], sd[i]);
        if (op % 5000 == 4999) cr_assert_eq(snug_heap_check(), 0, "heap_check failed after %d ops", op + 1);
    }
    cr_assert_eq(snug_heap_check(), 0, "heap_check failed after all ops");
    for (size_t i = 0; i < SLOTS; i++)
        if (p[i]) {
            cr_assert(bad_at(p[i], sz[i], sd[i]) == (size_t)-1, "block %zu corrupted at the end", i);
            snug_free(p[i]);
        }
    cr_assert_eq(snug_heap_check(), 0, "heap_check failed after freeing everything");
    struct snug_stats s1 = stats();
    cr_assert_eq(s1.live_blocks, s0.live_blocks, "live_blocks %zu after freeing all, %zu before",
                 s1.live_blocks, s0.live_blocks);
    cr_assert_eq(s1.live_bytes, s0.live_bytes);
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * page_size();
}

CONTRACT(trim_returns_memory)
{
    enum { NSMALL = 200000, NMED = 4000 };
    static void *sm[NSMALL], *md[NMED];
    for (int i = 0; i < NSMALL; i++) {   /* ~100 MiB of small blocks */
        sm[i] = snug_malloc(500);
        cr_assert_not_null(sm[i]);
        memset(sm[i], 0x11, 500);
    }
    for (int i = 0; i < NMED; i++) {     /* ~100 MiB of medium blocks */
        md[i] = snug_malloc(25000 + (size_t)i % 7 * 100);
        cr_assert_not_null(md[i]);
        memset(md[i], 0x22, 25000);
    }
    struct snug_stats full = stats();
    size_t rss_full = rss_bytes();
    cr_assert_geq(full.heap_bytes, 190 * MiB, "heap_bytes %zu with ~200 MiB live", full.heap_bytes);
    for (int i = 0; i < NSMALL; i++) snug_free(sm[i]);
    for (int i = 0; i < NMED; i++) snug_free(md[i]);
    struct snug_stats freed = stats();
    int r = snug_trim(0);
    struct snug_stats trimmed = stats();
    size_t rss_trimmed = rss_bytes();
    cr_assert(r == 0 || r == 1, "snug_trim returned %d", r);
    if (trimmed.heap_bytes < freed.heap_bytes)
        cr_assert_eq(r, 1, "snug_trim released memory (heap_bytes %zu -> %zu) but returned 0",
                     freed.heap_bytes, trimmed.heap_bytes);
    cr_assert_lt(trimmed.heap_bytes, full.heap_bytes - 150 * MiB,
                 "heap_bytes %zu with everything live, %zu after free + trim", full.heap_bytes,
                 trimmed.heap_bytes);
    cr_assert_lt(rss_trimmed + 150 * MiB, rss_full, "RSS %zu MiB with everything live, %zu MiB after free + trim",
                 rss_full / MiB, rss_trimmed / MiB);
    /* and the heap is usable afterwards */
    void *p = snug_malloc(25000), *q = snug_malloc(500);
    cr_assert(p && q);
    memset(p, 1, 25000);
    memset(q, 1, 500);
    snug_free(p);
    snug_free(q);
}

/* A burst of small blocks freed in full goes back to the kernel at the frees,
 * with no malloc_trim: no page kept for reuse may pin the heap's top. */
/* A burst freed in full: what exceeds decay_max (16 MiB) goes back at the
 * frees; the rest once the top has waited decay_ms (500 ms) and the program
 * calls again, or at once at malloc_trim. */
static void **burst_alloc_order(size_t n, size_t *before, int top_down)
{
    void **v = snug_malloc(n * sizeof *v);
    cr_assert_not_null(v);
    memset(v, 0, n * sizeof *v);
    *before = rss_bytes();
    for (size_t i = 0; i < n; i++) {
        v[i] = snug_malloc(64);
        cr_assert_not_null(v[i]);
        memset(v[i], 0x5a, 64);
    }
    size_t full = rss_bytes();
    cr_assert_geq(full, *before + 100 * MiB, "RSS %zu MiB before, %zu MiB with 128 MiB live", *before / MiB, full / MiB);
    for (size_t s = 0; s < 7; s++)                /* an order that empties pages late */
        for (size_t i = s; i < n; i += 7) snug_free(v[top_down ? n - 1 - i : i]);
    size_t after = rss_bytes();
    cr_assert_lt(after, *before + 24 * MiB, "RSS %zu MiB before the burst, %zu MiB after it was freed",
                 *before / MiB, after / MiB);
    return v;
}
static void **burst_alloc(size_t n, size_t *before) { return burst_alloc_order(n, before, 0); }

CONTRACT(small_burst_returns_memory_at_trim)
{
    size_t before;
    void **v = burst_alloc(2 * 1024 * 1024, &before);        /* 128 MiB of 64-byte blocks */
    snug_trim(0);
    size_t after = rss_bytes();
    cr_assert_lt(after, before + 4 * MiB, "RSS %zu MiB before the burst, %zu MiB after malloc_trim",
                 before / MiB, after / MiB);
    snug_free(v);
}

static void burst_then_decay(int top_down)
{
    size_t before;
    void **v = burst_alloc_order(2 * 1024 * 1024, &before, top_down);
    usleep(700 * 1000);                             /* past decay_ms */
    for (int i = 0; i < 64; i++) snug_free(snug_malloc(8000));
    size_t after = rss_bytes();
    cr_assert_lt(after, before + 8 * MiB, "RSS %zu MiB before the burst, %zu MiB 0.7 s after it was freed",
                 before / MiB, after / MiB);
    snug_free(v);
}

CONTRACT(small_burst_returns_memory_after_decay) { burst_then_decay(0); }

/* Freed large blocks: their mappings are kept a while for reuse (at most
 * decay_max bytes), handed out again for a later large request without new
 * mappings, and go back to the kernel at malloc_trim or once they have waited
 * decay_ms and the program calls again. */
static size_t free_large_burst(void **v, int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        v[i] = snug_malloc(size);
        cr_assert_not_null(v[i]);
        memset(v[i], 0x6b, size);
    }
    size_t held_live = stats().heap_bytes;
    for (int i = 0; i < n; i++) snug_free(v[i]);
    return held_live;
}

CONTRACT(large_mappings_reused_then_returned)
{
    enum { N = 6 };
    const size_t size = 2 * MiB;
    void *v[N];
    size_t base = stats().heap_bytes;
    size_t held_live = free_large_burst(v, N, size);
    cr_assert_geq(held_live, base + N * size, "heap_bytes %zu with %d x 2 MiB live (base %zu)", held_live, N, base);
    size_t kept = stats().heap_bytes;
    cr_assert_leq(kept, base + 16 * MiB + 2 * MiB, "heap_bytes %zu after the frees: more than decay_max kept", kept);
    /* A new large block of that size comes from what is kept: nothing new is held. */
    void *p = snug_malloc(size);
    cr_assert_not_null(p);
    cr_assert_leq(stats().heap_bytes, kept, "a large malloc after large frees mapped new memory");
    memset(p, 0x11, size);
    snug_free(p);
    snug_trim(0);
    size_t trimmed = stats().heap_bytes;
    cr_assert_lt(trimmed, base + MiB, "heap_bytes %zu after malloc_trim (base %zu)", trimmed, base);

    free_large_burst(v, N, size);
    usleep(700 * 1000);                             /* past decay_ms */
    for (int i = 0; i < 64; i++) snug_free(snug_malloc(8000));
    size_t decayed = stats().heap_bytes;
    cr_assert_lt(decayed, base + MiB, "heap_bytes %zu 0.7 s after the frees (base %zu)", decayed, base);
}

/* A request larger than every kept mapping grows the largest one (into the
 * address space below or above it, else moved): only the difference is new
 * memory.  The grown block may span two kernel mappings; it works as one
 * (written, grown and shrunk by realloc with its contents kept, freed and
 * reused, given back at malloc_trim). */
CONTRACT(kept_mapping_grows_to_a_larger_request)
{
    const size_t small = 6 * MiB, big = 9 * MiB;
    size_t base = stats().heap_bytes;
    void *a = snug_malloc(small);
    cr_assert_not_null(a);
    memset(a, 0x5a, small);
    snug_free(a);
    size_t kept = stats().heap_bytes;
    void *b = snug_malloc(big);
    cr_assert_not_null(b);
    cr_assert_leq(stats().heap_bytes, kept + (big - small) + MiB,
                  "heap_bytes %zu: the %zu-byte block did not grow the kept %zu bytes (%zu held before)",
                  stats().heap_bytes, big, small, kept);
    fill(b, big, 21);
    void *c = snug_realloc(b, big + 3 * MiB);
    cr_assert_not_null(c);
    assert_pattern(c, big, 21, "a grown kept mapping after realloc up");
    void *d = snug_realloc(c, 2 * MiB);
    cr_assert_not_null(d);
    assert_pattern(d, 2 * MiB, 21, "a grown kept mapping after realloc down");
    snug_free(d);
    void *e = snug_malloc(big);
    cr_assert_not_null(e);
    fill(e, big, 22);
    assert_pattern(e, big, 22, "a block from the kept grown mapping");
    snug_free(e);
    snug_trim(0);
    cr_assert_lt(stats().heap_bytes, base + MiB, "heap_bytes %zu after malloc_trim (base %zu)", stats().heap_bytes, base);
}

/* A small block freed by another thread waits on the owner's remote list until
 * the owner next needs a page.  Meanwhile the owner's own frees of its other
 * blocks (same page, same class, other classes) are ordinary frees: they
 * succeed, the counts stay true, and every slot comes back once. */
#include <pthread.h>
static void *free_in_thread(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 8; i++) snug_free(v[i * 4]);
    return NULL;
}
CONTRACT(own_frees_while_remote_frees_wait)
{
    enum { N = 64 };
    void *a[N], *b[N];
    struct snug_stats s0 = stats();
    for (int i = 0; i < N; i++) {
        a[i] = snug_malloc(48);
        b[i] = snug_malloc(200);
        cr_assert(a[i] && b[i]);
        fill(a[i], 48, (size_t)i);
    }
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_in_thread, a), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    for (int i = 0; i < N; i++) {                   /* the rest of a, all of b: this thread's frees */
        if (i % 4 && i < 32) assert_pattern(a[i], 48, (size_t)i, "a block another thread's free left alone");
        if (i % 4 || i >= 32) snug_free(a[i]);
        snug_free(b[i]);
    }
    cr_assert_eq(snug_heap_check(), 0);
    /* Reuse applies the queued frees: every slot is handed out again once. */
    void *c[2 * N];
    for (int i = 0; i < 2 * N; i++) {
        c[i] = snug_malloc(48);
        cr_assert(c[i]);
        for (int j = 0; j < i; j++) cr_assert_neq(c[i], c[j], "slot handed out twice");
    }
    for (int i = 0; i < 2 * N; i++) snug_free(c[i]);
    struct snug_stats s1 = stats();
    cr_assert_eq(s1.live_blocks, s0.live_blocks, "live blocks %zu, was %zu", s1.live_blocks, s0.live_blocks);
    cr_assert_eq(s1.live_bytes, s0.live_bytes, "live bytes %zu, was %zu", s1.live_bytes, s0.live_bytes);
}

/* In a process with threads, a heap keeps pages that empty (beyond a class's
 * last one) as spares, and a class that needs a page takes one: 40 blocks of
 * 440 bytes after 84 of 500 bytes were freed take no page more; malloc_trim
 * gives them back.  A burst freed
 * in full still goes back to the kernel: spares do not pin the heap's top. */
static void *thread_noop(void *arg) { return arg; }
static void make_threaded(void)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, thread_noop, NULL), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
}
CONTRACT(threaded_spare_pages_reused)
{
    make_threaded();
    enum { NA = 7 * 12, NB = 8 * 5 };               /* 12 pages of 7 slots; 5 pages of 8 slots */
    void *a[NA], *b[NB];
    size_t p_start = stats().small_pages;
    for (int i = 0; i < NA; i++) {
        a[i] = snug_malloc(500);
        cr_assert(a[i]);
        fill(a[i], 500, (size_t)i);
    }
    size_t p0 = stats().small_pages;
    for (int i = 0; i < NA; i++) {
        assert_pattern(a[i], 500, (size_t)i, "a block before its free");
        snug_free(a[i]);
    }
    cr_assert_eq(snug_heap_check(), 0);
    size_t p1 = stats().small_pages;
    cr_assert_geq(p1 + 5, p0, "%zu small pages with 84 blocks of 500 bytes live, %zu after their frees", p0, p1);
    for (int i = 0; i < NB; i++) {
        b[i] = snug_malloc(440);
        cr_assert(b[i]);
        fill(b[i], 440, (size_t)i + 1000);
    }
    size_t p2 = stats().small_pages;
    cr_assert_eq(p2, p1, "%zu small pages after the frees, %zu after 40 blocks of 440 bytes", p1, p2);
    for (int i = 0; i < NB; i++) {
        assert_pattern(b[i], 440, (size_t)i + 1000, "a block on a page reused");
        snug_free(b[i]);
    }
    snug_trim(0);                                   /* every empty page goes back, spares too */
    size_t p3 = stats().small_pages;
    cr_assert_leq(p3, p_start, "%zu small pages before the test, %zu after its frees and malloc_trim", p_start, p3);
}

CONTRACT(threaded_small_burst_returns_memory_after_decay)
{
    make_threaded();
    burst_then_decay(1);                            /* the top's pages empty first */
}

/* White-box: the small-page free path finds a slot's index with one multiply
 * and one rotate (page_quot), and tells a slot start from everything else in
 * the page by one compare with the slot count.  Every class, every offset a
 * page can have (header, slot area, unused tail), full and part-full counts. */
#include "../../src/page.h"
#include "../../src/sizeclass.h"
Test(pages, slot_index_by_inverse)
{
    for (unsigned c = 0; c < SNUG_NCLASSES; c++) {
        struct spage pg;
        memset(&pg, 0, sizeof pg);
        size_t bsize = class_size(c);
        unsigned shift;
        pg.bsize = (uint16_t)bsize;
        pg.inv = page_inv_for(bsize, &shift);
        pg.shift = (uint8_t)shift;
        uintptr_t base = page_start(&pg);
        for (uint32_t n = 1; n <= 256; n = n < 8 ? n + 1 : n * 2) {
            pg.nslots = n;
            for (uint32_t k = 1; k <= SPAGE_HDR; k++)       /* header offsets: never a slot */
                cr_assert_eq(page_slot(&pg, base - k), -1, "class %u, %u slots, offset -%u", c, n, k);
            for (uint32_t off = 0; off < 4 * 4096; off++) {
                long want = off % bsize == 0 && off / bsize < n ? (long)(off / bsize) : -1;
                cr_assert_eq(page_slot(&pg, base + off), want, "class %u (%zu bytes), %u slots, offset %u",
                             c, bsize, n, off);
            }
        }
    }
}
