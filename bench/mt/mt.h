/* mt.h - shared helpers of the multi-threaded benchmarks in bench/mt/: options, clock,
 * PRNG, size distributions, payload stamps, and the one-line JSON report.
 *
 * Every benchmark is plain C11 + pthreads calling malloc/free, so the allocator under
 * test is whatever the process links (glibc) or gets through LD_PRELOAD.  Each does a
 * fixed amount of work that does not depend on the thread count (the work is split
 * among the threads), checks every payload it wrote before freeing it, and prints
 *   {"bench": NAME, "threads": T, "ops": N, "secs": S, "ops_per_sec": R,
 *    "maxrss_kib": K, "errors": E}
 * An op is one malloc or one free.  Exit status 1 when any payload check failed.
 */
#ifndef SNUG_BENCH_MT_H
#define SNUG_BENCH_MT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---------------- options ---------------- */

struct mt_opts {
    int threads;            /* -t N (default 1) */
    double scale;           /* -s X: work multiplier (default 1.0) */
};

static inline void mt_usage(const char *prog, const char *what)
{
    fprintf(stderr, "usage: %s [-t THREADS] [-s SCALE]\n  %s\n", prog, what);
    exit(2);
}

static inline struct mt_opts mt_parse(int argc, char **argv, const char *what)
{
    struct mt_opts o = { 1, 1.0 };
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1024)
                mt_usage(argv[0], what);
            o.threads = (int)v;
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            double v = strtod(argv[++i], &end);
            if (*end || !(v > 0) || v > 1000)
                mt_usage(argv[0], what);
            o.scale = v;
        } else {
            mt_usage(argv[0], what);
        }
    }
    return o;
}

/* ---------------- clock ---------------- */

static inline double mt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------- PRNG (splitmix64 seeding a xorshift64*) ---------------- */

struct mt_rng { uint64_t s; };

static inline struct mt_rng mt_rng_seed(uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    struct mt_rng r = { z ? z : 1 };
    return r;
}

static inline uint64_t mt_next(struct mt_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* uniform in [0, n) */
static inline size_t mt_below(struct mt_rng *r, size_t n)
{
    return (size_t)((mt_next(r) >> 11) % n);
}

/* Mixed sizes, skewed small as real programs are: 60% 8..128 bytes, 30% 129..1024,
 * 9% 1 KiB..8 KiB, 1% 8 KiB..64 KiB. */
static inline size_t mt_mixed_size(struct mt_rng *r)
{
    unsigned k = (unsigned)mt_below(r, 100);
    if (k < 60)
        return 8 + mt_below(r, 121);
    if (k < 90)
        return 129 + mt_below(r, 896);
    if (k < 99)
        return 1025 + mt_below(r, 7168);
    return 8193 + mt_below(r, 57344);
}

/* Small sizes only (larson's classic range), 16..512 bytes. */
static inline size_t mt_small_size(struct mt_rng *r)
{
    return 16 + mt_below(r, 497);
}

/* ---------------- payload stamps ---------------- */

/* A block of `size` bytes carries `tag` in its first 8 bytes and tag ^ size in its last
 * 8 (blocks under 16 bytes: the first min(size, 8) bytes of tag).  Checking both ends
 * catches a block handed out twice, overlapping blocks and lost contents, at a cost
 * that does not drown the allocator's. */
static inline void mt_stamp(void *p, size_t size, uint64_t tag)
{
    unsigned char *c = p;
    if (size >= 16) {
        uint64_t e = tag ^ size;
        memcpy(c, &tag, 8);
        memcpy(c + size - 8, &e, 8);
    } else {
        memcpy(c, &tag, size < 8 ? size : 8);
    }
}

static inline int mt_check(const void *p, size_t size, uint64_t tag)
{
    const unsigned char *c = p;
    if (size >= 16) {
        uint64_t a, e;
        memcpy(&a, c, 8);
        memcpy(&e, c + size - 8, 8);
        return a == tag && e == (tag ^ size);
    }
    return memcmp(c, &tag, size < 8 ? size : 8) == 0;
}

static inline uint64_t mt_tag(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    z = (z ^ (z >> 29)) * 0xbf58476d1ce4e5b9ull;
    return z ^ (z >> 32);
}

/* ---------------- errors and the report ---------------- */

static atomic_ulong mt_errors;

static inline void mt_fail(const char *bench, const char *what, const void *p, size_t size)
{
    if (atomic_fetch_add(&mt_errors, 1) < 10)
        fprintf(stderr, "%s: payload check failed (%s) at %p, %zu bytes\n", bench, what, p,
                size);
}

static inline void *mt_xmalloc(const char *bench, size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "%s: malloc(%zu) returned NULL\n", bench, n);
        exit(3);
    }
    return p;
}

static inline void mt_pthread(int rc, const char *bench, const char *what)
{
    if (rc) {
        fprintf(stderr, "%s: %s: %s\n", bench, what, strerror(rc));
        exit(3);
    }
}

/* Runs worker(i) on threads i = 0..T-1 and joins them; returns the wall time in seconds. */
static inline double mt_run_threads(const char *bench, int T, void *(*worker)(void *))
{
    pthread_t *th = mt_xmalloc(bench, (size_t)T * sizeof *th);
    double t0 = mt_now();
    for (int i = 0; i < T; i++)
        mt_pthread(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), bench, "create");
    for (int i = 0; i < T; i++)
        mt_pthread(pthread_join(th[i], NULL), bench, "join");
    double secs = mt_now() - t0;
    free(th);
    return secs;
}

/* Peak RSS in KiB: VmHWM from /proc/self/status, else ru_maxrss. */
static inline long mt_maxrss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    long v = -1;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) {
                v = strtol(line + 6, NULL, 10);
                break;
            }
        fclose(f);
    }
    if (v < 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            v = ru.ru_maxrss;
    }
    return v;
}

static inline int mt_report(const char *bench, int threads, uint64_t ops, double secs)
{
    unsigned long e = atomic_load(&mt_errors);
    printf("{\"bench\": \"%s\", \"threads\": %d, \"ops\": %llu, \"secs\": %.6f, "
           "\"ops_per_sec\": %.0f, \"maxrss_kib\": %ld, \"errors\": %lu}\n",
           bench, threads, (unsigned long long)ops, secs, secs > 0 ? (double)ops / secs : 0,
           mt_maxrss_kib(), e);
    fflush(stdout);
    return e ? 1 : 0;
}

#endif
