/* stats.c - snug_stats(): bytes held from the kernel (exact, from os.c), live
 * bytes (the meter and the heaps' counters plus the medium and large totals) and
 * the counts of pages, blocks and regions.  Reads the layers; changes nothing in
 * them but the meter's peak; nothing below calls it. */
#include "fit.h"
#include "guard.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "mcache.h"
#include "meter.h"
#include "os.h"
#include "snug.h"
#include <stdatomic.h>

/* Live bytes and blocks across the layers: thread heaps, the fit allocator, large blocks
 * (and the guard pool's sampled blocks, counted in bytes and blocks only). */
struct live { size_t bytes, blocks; struct fit_totals fit; size_t large_blocks, large_bytes; };

/* The thread heaps' part: small bytes and blocks allocated less freed, and the
 * medium blocks the thread caches hold (freed, though the fit allocator counts
 * them as in use).  Bytes: what the heaps published to the meter and what each
 * still holds unpublished, read again when a publish overlapped the reads (at
 * most a few times: a publish is a handful of instructions). */
struct heaps_part { size_t bytes, blocks, cached, ncached; };
static void heaps_now(struct heaps_part *s)
{
    for (unsigned tries = 0;; tries++) {
        size_t seen = meter_read_begin();
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
        if (meter_read_ok(seen) || tries == 16) return;
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
}

static size_t live_bytes(void)
{
    struct live l;
    live_now(&l);
    return l.bytes;
}

SNUG_API int snug_stats(struct snug_stats *out)
{
    if (!out) return -1;
    if (snug_ensure_init() != 0) return -1;
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
    return 0;
}

SNUG_API void snug_stats_reset_peak(void)
{
    if (snug_ensure_init() != 0) return;
    snug_os_reset_peak();
    atomic_store(&snug_meter.live_peak, live_bytes());
}
