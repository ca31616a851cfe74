/* live.c - the live-bytes meter's writers (live.h).  A heap publishes at page-level
 * events, never per malloc: a fresh page, a page back to the fit allocator, thread
 * exit, a sample; the sample reads published counters only, with no lock. */
#include "live.h"
#include "fit.h"
#include "guard.h"
#include "heap.h"
#include "large.h"
#include "mcache.h"
#include "meter.h"

void live_publish(struct heap *h)
{
    struct mcache *mc = h->mc;
    meter_begin();
    SNUG_COUNT_N(SNUG_C_RMW_METER, h->mc ? 2 : 1);
    atomic_fetch_add_explicit(&snug_meter.small, h->alloc_bytes - h->freed_bytes, memory_order_relaxed);
    snug_rstore(&h->alloc_bytes, 0);
    snug_rstore(&h->freed_bytes, 0);
    if (mc) {
        size_t held = mc->bytes - mc->blocks * SNUG_WORD;
        atomic_fetch_add_explicit(&snug_meter.cached, held - mc->metered, memory_order_relaxed);
        snug_rstore(&mc->metered, held);
    }
    meter_end();
}

/* The fit allocator's and the large blocks' byte counts are read without their
 * locks, so a sample never waits for, or makes wait, either of them.  The thread
 * caches' blocks are in use to the fit allocator, free to the program. */
void live_sample(struct heap *h)
{
    if (h) live_publish(h);
    size_t fit = snug_fit_user_bytes_now();
    size_t cached = atomic_load_explicit(&snug_meter.cached, memory_order_relaxed);
    meter_fold(atomic_load_explicit(&snug_meter.small, memory_order_relaxed) + (fit - (cached < fit ? cached : fit)) +
               large_bytes_now() + guard_bytes_now());
}
