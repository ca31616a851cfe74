/* stats.c - snug_stats(): bytes held from the kernel (exact, from os.c), live
 * bytes (per-heap counters plus the medium and large totals) and the counts of
 * pages, blocks and regions.  Reads the layers; changes nothing in them. */
#include "stats.h"
#include "fit.h"
#include "guard.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "mcache.h"
#include "os.h"
#include "snug.h"
#include <stdatomic.h>

/* The live peak, and frees by threads without a heap (any thread may write them). */
static struct { atomic_size_t live_peak, heapless_freed, heapless_freed_blocks; } SNUG_OWN_LINE sc;

void snug_stats_note_free(size_t bytes, size_t blocks)
{
    atomic_fetch_add_explicit(&sc.heapless_freed, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&sc.heapless_freed_blocks, blocks, memory_order_relaxed);
}

/* Live bytes and blocks across the layers: thread heaps, the fit allocator, large blocks
 * (and the guard pool's sampled blocks, counted in bytes and blocks only). */
struct live { size_t bytes, blocks; struct fit_totals fit; size_t large_blocks, large_bytes; };

/* The thread heaps' part: small bytes and blocks allocated minus freed, and
 * the medium blocks the thread caches hold (freed, though the fit allocator
 * counts them as in use). */
struct heaps_part { size_t a, f, na, nf, cached, ncached; };
static void heaps_now(struct heaps_part *s)
{
    size_t a = 0, f = atomic_load_explicit(&sc.heapless_freed, memory_order_relaxed);
    size_t na = 0, nf = atomic_load_explicit(&sc.heapless_freed_blocks, memory_order_relaxed);
    size_t cached = 0, ncached = 0;
    for (struct heap *h = heap_list(); h; h = h->next_all) {
        a += __atomic_load_n(&h->alloc_bytes, __ATOMIC_RELAXED);
        f += __atomic_load_n(&h->freed_bytes, __ATOMIC_RELAXED);
        na += heap_allocs(h);
        nf += __atomic_load_n(&h->freed_count, __ATOMIC_RELAXED);
        struct mcache *mc = __atomic_load_n(&h->mc, __ATOMIC_ACQUIRE);
        if (mc) {
            size_t n = __atomic_load_n(&mc->blocks, __ATOMIC_RELAXED);
            cached += __atomic_load_n(&mc->bytes, __ATOMIC_RELAXED) - n * SNUG_WORD;
            ncached += n;
        }
    }
    *s = (struct heaps_part){ a, f, na, nf, cached, ncached };
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
    l->bytes = s.a - s.f + l->fit.user_bytes + l->large_bytes + gb;
    l->blocks = s.na - s.nf + l->fit.user_blocks + l->large_blocks + gn;
}

size_t snug_live_bytes(void)
{
    struct live l;
    live_now(&l);
    return l.bytes;
}

/* Sampled on the allocation paths (every 64th medium malloc of a thread, every
 * small page and large block): live bytes read without taking any lock, so a
 * sample never waits for, or makes wait, the fit and large allocators. */
void snug_stats_sample(void)
{
    struct heaps_part s;
    heaps_now(&s);
    size_t now = s.a - s.f + less_cached(snug_fit_user_bytes_now(), s.cached) + large_bytes_now() + guard_bytes_now();
    size_t peak = atomic_load_explicit(&sc.live_peak, memory_order_relaxed);
    while (now > peak && !atomic_compare_exchange_weak(&sc.live_peak, &peak, now)) {}
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
    snug_stats_sample();
    out->live_peak = atomic_load(&sc.live_peak);
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
    atomic_store(&sc.live_peak, snug_live_bytes());
}
