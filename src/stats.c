/* stats.c - snug_stats(): bytes held from the kernel (exact, from os.c), live
 * bytes (per-heap counters plus the medium and large totals) and the counts of
 * pages, blocks and regions.  Reads the layers; changes nothing in them. */
#include "stats.h"
#include "fit.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "os.h"
#include "snug.h"
#include <stdatomic.h>

static atomic_size_t live_peak;
static atomic_size_t heapless_freed, heapless_freed_blocks;

void snug_stats_note_free(size_t bytes, size_t blocks)
{
    atomic_fetch_add_explicit(&heapless_freed, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&heapless_freed_blocks, blocks, memory_order_relaxed);
}

size_t snug_live_bytes(void)
{
    size_t a = 0, f = atomic_load_explicit(&heapless_freed, memory_order_relaxed);
    for (struct heap *h = heap_list(); h; h = h->next_all) {
        a += __atomic_load_n(&h->alloc_bytes, __ATOMIC_RELAXED);
        f += __atomic_load_n(&h->freed_bytes, __ATOMIC_RELAXED);
    }
    struct fit_totals t;
    size_t lb, lbytes;
    snug_fit_totals(&t);
    large_totals(&lb, &lbytes);
    return a - f + t.user_bytes + lbytes;
}

void snug_stats_sample(void)
{
    size_t now = snug_live_bytes();
    size_t peak = atomic_load_explicit(&live_peak, memory_order_relaxed);
    while (now > peak && !atomic_compare_exchange_weak(&live_peak, &peak, now)) {}
}

SNUG_API int snug_stats(struct snug_stats *out)
{
    if (!out) return -1;
    if (snug_ensure_init() != 0) return -1;
    struct fit_totals t;
    snug_fit_totals(&t);
    size_t lb, lbytes, a = 0, f = atomic_load(&heapless_freed), na = 0, nf = atomic_load(&heapless_freed_blocks);
    large_totals(&lb, &lbytes);
    for (struct heap *h = heap_list(); h; h = h->next_all) {
        a += __atomic_load_n(&h->alloc_bytes, __ATOMIC_RELAXED);
        f += __atomic_load_n(&h->freed_bytes, __ATOMIC_RELAXED);
        na += __atomic_load_n(&h->alloc_count, __ATOMIC_RELAXED);
        nf += __atomic_load_n(&h->freed_count, __ATOMIC_RELAXED);
    }
    out->heap_bytes = snug_os_held();
    out->heap_peak = snug_os_peak();
    out->live_bytes = a - f + t.user_bytes + lbytes;
    snug_stats_sample();
    out->live_peak = atomic_load(&live_peak);
    if (out->live_peak < out->live_bytes) out->live_peak = out->live_bytes;
    out->live_blocks = na - nf + t.user_blocks + lb;
    out->small_pages = heap_small_pages();
    out->medium_blocks = t.user_blocks;
    out->free_blocks = t.free_blocks;
    out->free_bytes = t.free_bytes;
    out->large_blocks = lb;
    out->large_bytes = lbytes;
    out->regions = t.regions;
    return 0;
}

SNUG_API void snug_stats_reset_peak(void)
{
    if (snug_ensure_init() != 0) return;
    snug_os_reset_peak();
    atomic_store(&live_peak, snug_live_bytes());
}
