/* override.c - the glibc surface: malloc, free, ... and the __libc_ aliases, so
 * LD_PRELOAD or -lsnug replaces the system allocator completely (a missing name
 * would let glibc serve a block that snug's free then rejects).  Also the
 * introspection calls: mallinfo, mallinfo2, malloc_stats, mallopt, malloc_trim. */
#include "alloc.h"
#include "error.h"
#include "fit.h"
#include "options.h"
#include "stats.h"
#include "snug.h"
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

#define API SNUG_API

API void *malloc(size_t n) { return sn_malloc(n); }
API void free(void *p) { sn_free(p); }
API void *calloc(size_t n, size_t s) { return sn_calloc(n, s); }
API void *realloc(void *p, size_t n) { return sn_realloc(p, n); }
API void *reallocarray(void *p, size_t n, size_t s) { return sn_reallocarray(p, n, s); }
API int posix_memalign(void **out, size_t a, size_t n) { return sn_posix_memalign(out, a, n); }
API void *aligned_alloc(size_t a, size_t n) { return sn_aligned_alloc(a, n); }
API void *memalign(size_t a, size_t n) { return sn_memalign(a, n); }
API void *valloc(size_t n) { return sn_valloc(n); }
API void *pvalloc(size_t n) { return sn_pvalloc(n); }
API size_t malloc_usable_size(void *p) { return sn_usable_size(p); }
API void free_sized(void *p, size_t n) { sn_free_sized(p, n); }
API void free_aligned_sized(void *p, size_t a, size_t n) { sn_free_aligned_sized(p, a, n); }
API int malloc_trim(size_t pad) { return sn_trim(pad); }

API void *__libc_malloc(size_t n) { return sn_malloc(n); }
API void __libc_free(void *p) { sn_free(p); }
API void *__libc_calloc(size_t n, size_t s) { return sn_calloc(n, s); }
API void *__libc_realloc(void *p, size_t n) { return sn_realloc(p, n); }
API void *__libc_memalign(size_t a, size_t n) { return sn_memalign(a, n); }
API void *__libc_valloc(size_t n) { return sn_valloc(n); }
API void *__libc_pvalloc(size_t n) { return sn_pvalloc(n); }

API struct mallinfo2 mallinfo2(void)
{
    struct mallinfo2 mi = { 0 };
    struct snug_stats s;
    if (snug_stats(&s) != 0) return mi;
    mi.arena = s.heap_bytes - s.large_bytes;
    mi.ordblks = s.free_blocks;
    mi.hblks = s.large_blocks;
    mi.hblkhd = s.large_bytes;
    mi.usmblks = s.heap_peak;
    mi.uordblks = s.live_bytes;
    mi.fordblks = s.free_bytes;
    mi.keepcost = 0;
    return mi;
}

API struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi = { 0 };
    mi.arena = (int)m2.arena;
    mi.ordblks = (int)m2.ordblks;
    mi.hblks = (int)m2.hblks;
    mi.hblkhd = (int)m2.hblkhd;
    mi.usmblks = (int)m2.usmblks;
    mi.uordblks = (int)m2.uordblks;
    mi.fordblks = (int)m2.fordblks;
    mi.keepcost = (int)m2.keepcost;
    return mi;
}

/* What snug_stats says, with glibc's malloc_stats as the model (stats.c; the same
 * lines SNUG_OPTIONS=stats prints at exit). */
API void malloc_stats(void) { snug_stats_print("malloc_stats"); }

/* glibc's options: the thresholds set snug's own (options.h's table); the rest are
 * accepted and have no effect.  Unknown ones are reported once and accepted
 * (returning 1), as glibc accepts them. */
_Static_assert(SNUG_M_TRIM_THRESHOLD == M_TRIM_THRESHOLD && SNUG_M_TOP_PAD == M_TOP_PAD &&
               SNUG_M_MMAP_THRESHOLD == M_MMAP_THRESHOLD && SNUG_M_ARENA_MAX == M_ARENA_MAX,
               "options.h's mallopt parameters are glibc's");

API int mallopt(int param, int value)
{
    switch (param) {
    case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_THRESHOLD: case M_ARENA_MAX:
        return value < 0 ? 0 : snug_options_mallopt(param, (size_t)value);
    case M_MMAP_MAX:
    case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
    case M_MXFAST:
        return 1;
    default: {
        static atomic_int warned;
        if (!atomic_exchange(&warned, 1)) {
            char line[80], num[24];
            size_t n = 0;
            const char *a = "snug: mallopt: unknown option ";
            for (; *a; a++) line[n++] = *a;
            if (param < 0) { line[n++] = '-'; param = -param; }
            for (const char *s = snug_fmt_u(num, (size_t)param); *s; s++) line[n++] = *s;
            line[n++] = '\n';
            line[n] = 0;
            snug_write_line(line);
        }
        return 1;
    }
    }
}
