/* meter.h - the counters the layers publish for the statistics, and the live-bytes
 * high-water mark.  A bottom layer: it calls no other file; the layers add to it at
 * their page-level events (heap.c), stats.c reads it.  Nothing here walks anything. */
#ifndef SNUG_METER_H
#define SNUG_METER_H
#include "config.h"
#include "counts.h"
#include <stdatomic.h>

/* small, cached: what the thread heaps have published so far of their small bytes
 * (allocated less freed, frees by threads without a heap included) and of the medium
 * bytes their thread caches hold; each heap keeps the part it has not yet published
 * (heap.h), and says by its own sequence number when it publishes (live.c), so a
 * reader that adds the heaps' unpublished parts sees each publish whole or not at all
 * (stats.c).  heapless_blocks: small blocks freed by threads without a heap.
 * live_peak: the largest live-bytes reading folded in (heap_sample_live, snug_stats). */
struct snug_meter {
    atomic_size_t small, cached, heapless_blocks, live_peak;
} SNUG_OWN_LINE;
extern struct snug_meter snug_meter;

/* Fold a live-bytes reading into the peak.  A reading above PTRDIFF_MAX is the
 * wrapped sum of counters read at different moments, not a size: dropped. */
static inline void meter_fold(size_t now)
{
    if (now > (size_t)PTRDIFF_MAX) return;
    size_t peak = atomic_load_explicit(&snug_meter.live_peak, memory_order_relaxed);
    while (now > peak && (SNUG_COUNT(SNUG_C_RMW_METER),
                          !atomic_compare_exchange_weak_explicit(&snug_meter.live_peak, &peak, now,
                                                                 memory_order_relaxed, memory_order_relaxed))) {}
}

/* Small frees by a thread without a heap (remote.c's remote free). */
static inline void meter_heapless_free(size_t bytes)
{
    SNUG_COUNT_N(SNUG_C_RMW_METER, 2);
    atomic_fetch_sub_explicit(&snug_meter.small, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&snug_meter.heapless_blocks, 1, memory_order_relaxed);
}
#endif
