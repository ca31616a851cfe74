/* gcb.h - the thin layer that lets one benchmark source run on two collectors:
 * snug's (include/snug.h, the default) and bdwgc (compile with -DGCB_BDWGC, link -lgc).
 *
 *   GCB_INIT()                 start the collector (bdwgc: GC_INIT; snug: nothing)
 *   GCB_MALLOC(n)              zeroed, scanned for pointers
 *   GCB_MALLOC_ATOMIC(n)       never scanned, not zeroed
 *   GCB_COLLECT()              a full collection now
 *   GCB_ADD_ROOTS(lo, hi)      [lo, hi) is scanned at every collection
 *   GCB_REMOVE_ROOTS(lo, hi)
 *   XMALLOC(n), XFREE(p)       explicit memory (snug: snug_malloc/snug_free, which is the
 *                              process's malloc when libsnug.so is linked; bdwgc: glibc)
 *
 * Every benchmark checks what it computed (node counts, checksums) and prints one line
 *   {"bench": NAME, "gc": "snug"|"bdwgc", "param": P, "secs": S, "maxrss_kib": K,
 *    "errors": E, "check": C}
 * secs is the wall time of the work (after start-up), maxrss_kib the process's VmHWM,
 * check a number both collectors must agree on; bdwgc adds "collections" (GC_get_gc_no)
 * and "parallel" (GC_get_parallel: marker helper threads).
 * Exit status 1 when a check failed.
 */
#ifndef SNUG_BENCH_GCB_H
#define SNUG_BENCH_GCB_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GCB_BDWGC
#define GC_THREADS
#include <gc.h>
#define GCB_NAME                "bdwgc"
#define GCB_INIT()              GC_INIT()
#define GCB_MALLOC(n)           GC_MALLOC(n)
#define GCB_MALLOC_ATOMIC(n)    GC_MALLOC_ATOMIC(n)
#define GCB_COLLECT()           GC_gcollect()
#define GCB_ADD_ROOTS(lo, hi)   GC_add_roots((void *)(lo), (void *)(hi))
#define GCB_REMOVE_ROOTS(lo, hi) GC_remove_roots((void *)(lo), (void *)(hi))
#define XMALLOC(n)              malloc(n)
#define XFREE(p)                free(p)
#else
#include "snug.h"
#define GCB_NAME                "snug"
#define GCB_INIT()              ((void)0)
#define GCB_MALLOC(n)           snug_gc_malloc(n)
#define GCB_MALLOC_ATOMIC(n)    snug_gc_malloc_atomic(n)
#define GCB_COLLECT()           snug_gc_collect()
#define GCB_ADD_ROOTS(lo, hi)   snug_gc_add_roots((void *)(lo), (void *)(hi))
#define GCB_REMOVE_ROOTS(lo, hi) snug_gc_remove_roots((void *)(lo), (void *)(hi))
#define XMALLOC(n)              snug_malloc(n)
#define XFREE(p)                snug_free(p)
#endif

static unsigned long gcb_errors;

static inline double gcb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* -s N: the benchmark's size parameter (each says what it means). */
static inline long gcb_param(int argc, char **argv, long dflt, long lo, long hi,
                             const char *what)
{
    if (argc == 1)
        return dflt;
    char *end = NULL;
    long v = argc == 3 && !strcmp(argv[1], "-s") ? strtol(argv[2], &end, 10) : -1;
    if (!end || *end || v < lo || v > hi) {
        fprintf(stderr, "usage: %s [-s N]\n  %s (%ld..%ld, default %ld)\n", argv[0], what, lo,
                hi, dflt);
        exit(2);
    }
    return v;
}

static inline void *gcb_check_alloc(void *p, size_t n)
{
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

#define GCB_NEW(n)        gcb_check_alloc(GCB_MALLOC(n), (n))
#define GCB_NEW_ATOMIC(n) gcb_check_alloc(GCB_MALLOC_ATOMIC(n), (n))

__attribute__((format(printf, 1, 2)))
static inline void gcb_fail(const char *fmt, ...)
{
    if (++gcb_errors > 10)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "check failed: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static inline long gcb_vmhwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static inline int gcb_report(const char *bench, long param, double secs, uint64_t check)
{
    printf("{\"bench\": \"%s\", \"gc\": \"%s\", \"param\": %ld, \"secs\": %.6f, "
           "\"maxrss_kib\": %ld, \"errors\": %lu, \"check\": %llu", bench, GCB_NAME, param,
           secs, gcb_vmhwm_kib(), gcb_errors, (unsigned long long)check);
#ifdef GCB_BDWGC
    printf(", \"collections\": %lu, \"parallel\": %d", (unsigned long)GC_get_gc_no(),
           GC_get_parallel());
#endif
    printf("}\n");
    return gcb_errors ? 1 : 0;
}

/* splitmix64: a small deterministic generator */
static inline uint64_t gcb_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
