/* stats.c - snug_stats(): bytes held from the kernel (exact, from os.c), live
 * bytes (the meter and the heaps' counters plus the medium and large totals) and
 * the counts of pages, blocks and regions; their printed form (malloc_stats, and
 * SNUG_OPTIONS=stats at exit).  Reads the layers; changes nothing in them but the
 * meter's peak; nothing below calls it. */
#include "fit.h"
#include "guard.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "mcache.h"
#include "meter.h"
#include "options.h"
#include "os.h"
#include "snug.h"
#include "stats.h"
#include "error.h"
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* Live bytes and blocks across the layers: thread heaps, the fit allocator, large blocks
 * (and the guard pool's sampled blocks, counted in bytes and blocks only). */
struct live { size_t bytes, blocks; struct fit_totals fit; size_t large_blocks, large_bytes;
              size_t cached_blocks, cached_bytes, guard_blocks, guard_bytes; };

/* The thread heaps' part: small bytes and blocks allocated less freed, and the
 * medium blocks the thread caches hold (freed, though the fit allocator counts
 * them as in use).  Bytes: what the heaps published to the meter and what each
 * still holds unpublished.  Each heap's sequence number is odd while it
 * publishes and grows by two with every publish (live.c): the meter and the
 * heaps' counts are read between two sums of them, and read again when a heap
 * was publishing or published meanwhile (equal sums of numbers that only grow:
 * none moved).  At most a few times: a publish is a handful of instructions. */
struct heaps_part { size_t bytes, blocks, cached, ncached; };
static uint32_t heaps_seq(int *busy)
{
    uint32_t sum = 0;
    for (struct heap *h = heap_list(); h; h = h->next_all) {
        uint32_t q = __atomic_load_n(&h->pub_seq, __ATOMIC_ACQUIRE);
        *busy |= (int)(q & 1);
        sum += q;
    }
    return sum;
}
static void heaps_now(struct heaps_part *s)
{
    for (unsigned tries = 0;; tries++) {
        int busy = 0;
        uint32_t seen = heaps_seq(&busy);
        size_t b = atomic_load_explicit(&snug_meter.small, memory_order_relaxed);
        size_t cached = atomic_load_explicit(&snug_meter.cached, memory_order_relaxed);
        size_t na = 0, nf = atomic_load_explicit(&snug_meter.heapless_blocks, memory_order_relaxed), ncached = 0;
        for (struct heap *h = heap_list(); h; h = h->next_all) {
            b += __atomic_load_n(&h->alloc_bytes, __ATOMIC_RELAXED) - __atomic_load_n(&h->freed_bytes, __ATOMIC_RELAXED);
            na += heap_allocs(h);
            nf += __atomic_load_n(&h->freed_count, __ATOMIC_RELAXED);
            struct mcache *mc = __atomic_load_n(&h->mc, __ATOMIC_ACQUIRE);
            if (mc) {
                size_t n = __atomic_load_n(&mc->blocks, __ATOMIC_RELAXED);
                cached += __atomic_load_n(&mc->bytes, __ATOMIC_RELAXED) - n * SNUG_WORD -
                          __atomic_load_n(&mc->metered, __ATOMIC_RELAXED);
                ncached += n;
            }
        }
        *s = (struct heaps_part){ b, na - nf, cached, ncached };
        atomic_thread_fence(memory_order_acquire);
        if ((!busy && heaps_seq(&busy) == seen) || tries == 16) return;
    }
}

/* x less the part of it the thread caches hold (read at another moment, so possibly more). */
static size_t less_cached(size_t x, size_t cached) { return x - (cached < x ? cached : x); }

static void live_now(struct live *l)
{
    struct heaps_part s;
    heaps_now(&s);
    snug_fit_totals(&l->fit);
    l->fit.user_bytes = less_cached(l->fit.user_bytes, s.cached);
    l->fit.user_blocks = less_cached(l->fit.user_blocks, s.ncached);
    large_totals(&l->large_blocks, &l->large_bytes);
    size_t gb, gn;
    guard_totals(&gn, &gb);
    l->bytes = s.bytes + l->fit.user_bytes + l->large_bytes + gb;
    l->blocks = s.blocks + l->fit.user_blocks + l->large_blocks + gn;
    l->cached_blocks = s.ncached;
    l->cached_bytes = s.cached;
    l->guard_blocks = gn;
    l->guard_bytes = gb;
}

static size_t live_bytes(void)
{
    struct live l;
    live_now(&l);
    return l.bytes;
}

static void stats_now(struct snug_stats *out)
{
    struct live l;
    live_now(&l);
    out->heap_bytes = snug_os_held();
    out->heap_peak = snug_os_peak();
    out->live_bytes = l.bytes;
    meter_fold(l.bytes);
    out->live_peak = atomic_load(&snug_meter.live_peak);
    if (out->live_peak < out->live_bytes) out->live_peak = out->live_bytes;
    out->live_blocks = l.blocks;
    out->small_pages = heap_small_pages();
    out->medium_blocks = l.fit.user_blocks;
    out->free_blocks = l.fit.free_blocks;
    out->free_bytes = l.fit.free_bytes;
    out->large_blocks = l.large_blocks;
    out->large_bytes = l.large_bytes;
    out->regions = l.fit.regions;
    out->cached_blocks = l.cached_blocks;
    out->cached_bytes = l.cached_bytes;
    out->guard_blocks = l.guard_blocks;
    out->guard_bytes = l.guard_bytes;
}

/* The caller's struct is `size` bytes: what snug knows of it is filled, the rest
 * (a newer header's fields) zeroed; nothing past it is written. */
SNUG_API int snug_stats_v(struct snug_stats *out, size_t size)
{
    if (!out || !size) return -1;
    if (snug_ensure_init() != 0) return -1;
    struct snug_stats now;
    stats_now(&now);
    size_t n = size < sizeof now ? size : sizeof now;
    memcpy(out, &now, n);
    if (size > n) memset((char *)out + n, 0, size - n);
    return 0;
}

/* The first entry point, kept for programs built against the twelve-field struct. */
#undef snug_stats
SNUG_API int snug_stats(struct snug_stats *out)
{
    return snug_stats_v(out, offsetof(struct snug_stats, regions) + sizeof out->regions);
}

SNUG_API void snug_stats_reset_peak(void)
{
    if (snug_ensure_init() != 0) return;
    snug_os_reset_peak();
    atomic_store(&snug_meter.live_peak, live_bytes());
}

/* ---- printed: malloc_stats() and SNUG_OPTIONS=stats ---- */
static void line(const char *label, size_t v, int bytes)
{
    struct snug_line l = { .n = 0 };
    char num[32];
    snug_line_put(&l, label);
    snug_line_pad(&l, 24);
    snug_line_put(&l, "= ");
    snug_line_put(&l, snug_fmt_u(num, v));
    if (bytes && v >= 1024) {
        snug_line_put(&l, " (");
        snug_line_put(&l, snug_fmt_bytes(num, v));
        snug_line_put(&l, ")");
    }
    snug_line_end(&l);
}

void snug_stats_print(const char *when)
{
    struct snug_stats s = { 0 };
    char num[32];
    /* a program that never allocated has nothing to count: snug is not started for it */
    if (atomic_load_explicit(&snug_ready, memory_order_acquire)) (void)snug_stats_v(&s, sizeof s);
    struct snug_line l = { .n = 0 };
    snug_line_put(&l, "snug " SNUG_VERSION_STRING " heap statistics (");
    snug_line_put(&l, when);
    snug_line_put(&l, ", pid ");
    snug_line_put(&l, snug_fmt_u(num, (size_t)getpid()));
    snug_line_put(&l, "):");
    snug_line_end(&l);
    line("held bytes", s.heap_bytes, 1);
    line("held peak", s.heap_peak, 1);
    line("live bytes", s.live_bytes, 1);
    line("live peak", s.live_peak, 1);
    /* utilization = live peak / held peak, to a tenth of a percent */
    l.n = 0;
    snug_line_put(&l, "utilization");
    snug_line_pad(&l, 24);
    snug_line_put(&l, "= ");
    if (s.heap_peak) {
        unsigned long long t = (unsigned long long)s.live_peak * 1000u / s.heap_peak;
        char tenth[3] = { '.', (char)('0' + t % 10), 0 };
        snug_line_put(&l, snug_fmt_u(num, (size_t)(t / 10)));
        snug_line_put(&l, tenth);
        snug_line_put(&l, "%");
    } else {
        snug_line_put(&l, "n/a");
    }
    snug_line_put(&l, " (live peak / held peak)");
    snug_line_end(&l);
    line("live blocks", s.live_blocks, 0);
    line("small pages", s.small_pages, 0);
    line("medium blocks", s.medium_blocks, 0);
    line("free medium blocks", s.free_blocks, 0);
    line("free medium bytes", s.free_bytes, 1);
    line("thread-cached blocks", s.cached_blocks, 0);
    line("thread-cached bytes", s.cached_bytes, 1);
    line("large blocks", s.large_blocks, 0);
    line("large bytes", s.large_bytes, 1);
    line("sampled guard blocks", s.guard_blocks, 0);
    line("heap regions", s.regions, 0);
}

/* SNUG_OPTIONS=stats: at exit (the destructors run after the program's own; for a
 * preloaded libsnug.so, after every library that depends on it). */
__attribute__((destructor)) static void stats_at_exit(void)
{
    if (snug_opt.stats) snug_stats_print("at exit");
}
