/* override.c - the glibc surface: malloc, free, ... and the __libc_ aliases, so
 * LD_PRELOAD or -lsnug replaces the system allocator completely (a missing name
 * would let glibc serve a block that snug's free then rejects).  Also the
 * introspection calls: mallinfo, mallinfo2, malloc_stats, mallopt, malloc_trim. */
#include "alloc.h"
#include "error.h"
#include "fit.h"
#include "options.h"
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

static void stat_line(const char *label, size_t v)
{
    char line[96], num[24];
    size_t n = 0;
    for (const char *s = label; *s; s++) line[n++] = *s;
    snug_fmt_u(num, v);
    for (const char *s = num; *s && n + 2 < sizeof line; s++) line[n++] = *s;
    line[n++] = '\n';
    line[n] = 0;
    snug_write_line(line);
}

API void malloc_stats(void)
{
    struct snug_stats s;
    if (snug_stats(&s) != 0) return;
    snug_write_line("snug heap:\n");
    stat_line("system bytes     = ", s.heap_bytes);
    stat_line("max system bytes = ", s.heap_peak);
    stat_line("in use bytes     = ", s.live_bytes);
    stat_line("in use blocks    = ", s.live_blocks);
    stat_line("small pages      = ", s.small_pages);
    stat_line("free blocks      = ", s.free_blocks);
    stat_line("free bytes       = ", s.free_bytes);
    stat_line("mmap regions     = ", s.large_blocks);
    stat_line("mmap bytes       = ", s.large_bytes);
    stat_line("heap regions     = ", s.regions);
}

/* glibc's options: the thresholds set snug's own (see options.c); the rest are
 * accepted and have no effect.  Unknown ones are reported once and accepted
 * (returning 1), as glibc accepts them. */
API int mallopt(int param, int value)
{
    switch (param) {
    case M_TRIM_THRESHOLD:
        if (value < 0) return 0;
        snug_opt.trim_threshold = (size_t)value;
        return 1;
    case M_TOP_PAD:
        if (value < 0) return 0;
        snug_opt.top_pad = (size_t)value;
        return 1;
    case M_MMAP_THRESHOLD:
        if (value < 0) return 0;
        snug_opt.mmap_threshold = (size_t)value > SNUG_SMALL_MAX ? (size_t)value : SNUG_SMALL_MAX + 1;
        return 1;
    case M_MMAP_MAX:
    case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST: case M_ARENA_MAX:
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
