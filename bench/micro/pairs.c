/* pairs.c - the fast path: instructions per malloc/free for a few sizes.
 *
 *   pairs [-n N] SIZE...
 *
 * For every size, two patterns, each warmed up with N rounds first:
 *   pair   N times: p = malloc(size); write one byte; free(p)
 *   batch  N/64 times: 64 mallocs of size, then the 64 frees in allocation order
 * plus empty loops of the same shapes (no malloc/free: `empty`, `empty_batch`), whose
 * cost bench/bench.py subtracts.
 *
 * Under `valgrind --tool=callgrind --collect-atstart=no` the measured loops are the
 * only code collected (CALLGRIND_TOGGLE_COLLECT) and each ends with
 * CALLGRIND_DUMP_STATS_AT("<pattern>-<size>"), so every dump file holds the
 * instruction count of exactly one loop; bench/bench.py reads them.  Run natively it
 * prints nanoseconds per operation instead (much noisier; not used by the tables).
 * Output: one JSON line per (pattern, size).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_TOGGLE_COLLECT do { } while (0)
#define CALLGRIND_DUMP_STATS_AT(s) do { (void)(s); } while (0)
#define RUNNING_ON_VALGRIND 0
#endif

#define BATCH 64

static inline void escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noinline)) static void loop_empty(long n, size_t size)
{
    char local[16];
    for (long i = 0; i < n; i++) {
        void *p = local + (size & 1);
        escape(p);
        *(volatile char *)p = 0;
        escape(p);
    }
}

__attribute__((noinline)) static void loop_empty_batch(long n, size_t size)
{
    char local[BATCH];
    void *p[BATCH];
    for (long i = 0; i < n / BATCH; i++) {
        for (int k = 0; k < BATCH; k++) {
            p[k] = local + k + (size & 1) - (size & 1);
            escape(p[k]);
            *(volatile char *)p[k] = 0;
        }
        for (int k = 0; k < BATCH; k++)
            escape(p[k]);
    }
}

__attribute__((noinline)) static void loop_pair(long n, size_t size)
{
    for (long i = 0; i < n; i++) {
        void *p = malloc(size);
        escape(p);
        *(volatile char *)p = 0;
        free(p);
    }
}

__attribute__((noinline)) static void loop_batch(long n, size_t size)
{
    void *p[BATCH];
    for (long i = 0; i < n / BATCH; i++) {
        for (int k = 0; k < BATCH; k++) {
            p[k] = malloc(size);
            escape(p[k]);
            *(volatile char *)p[k] = 0;
        }
        for (int k = 0; k < BATCH; k++)
            free(p[k]);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void measure(const char *pattern, void (*fn)(long, size_t), long n, size_t size)
{
    char label[64];
    snprintf(label, sizeof label, "%s-%zu", pattern, size);
    fn(n, size);                    /* warm-up: pages, caches, thread state */
    double t0 = now();
    CALLGRIND_TOGGLE_COLLECT;
    fn(n, size);
    CALLGRIND_TOGGLE_COLLECT;
    double dt = now() - t0;
    CALLGRIND_DUMP_STATS_AT(label);
    long ops = (fn == loop_batch || fn == loop_empty_batch) ? n / BATCH * BATCH : n;
    printf("{\"label\": \"%s\", \"pattern\": \"%s\", \"size\": %zu, \"n\": %ld, "
           "\"ns_per_op\": %.2f, \"valgrind\": %d}\n",
           label, pattern, size, ops, ops ? dt * 1e9 / (double)ops : 0.0,
           (int)RUNNING_ON_VALGRIND);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long n = 100000;
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "-n")) {
        n = strtol(argv[i + 1], NULL, 10);
        i += 2;
    }
    if (n < BATCH || i >= argc) {
        fprintf(stderr, "usage: pairs [-n N>=%d] SIZE...\n", BATCH);
        return 2;
    }
    for (; i < argc; i++) {
        size_t size = (size_t)strtoul(argv[i], NULL, 10);
        measure("empty", loop_empty, n, size);
        measure("pair", loop_pair, n, size);
        measure("empty_batch", loop_empty_batch, n, size);
        measure("batch", loop_batch, n, size);
    }
    return 0;
}
