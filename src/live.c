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
#include "tuning.h"

/* The bytes a thread cache holds, less a head each (what it publishes). */
static size_t cache_held(const struct mcache *mc) { return mc->bytes - mc->blocks * SNUG_WORD; }

/* |x| > slack, for a difference of two counters that may read "negative" */
static int beyond(size_t x, size_t slack) { return x + slack > 2 * slack; }

/* A publish moves the heap's counts into the meter, between two stores of its
 * sequence number (odd, then even: a seqlock only its owner writes), so the one
 * atomic operation on the meter's shared line is the add itself (two with a
 * thread cache).  Only when a count moved by more than slack since the last. */
void live_publish_over(struct heap *h, size_t slack)
{
    struct mcache *mc = h->mc;
    size_t d = h->alloc_bytes - h->freed_bytes, held = mc ? cache_held(mc) : 0;
    int small = beyond(d, slack), cached = mc && beyond(held - mc->metered, slack);
    if (!small && !cached) return;
    uint32_t seq = h->pub_seq;
    __atomic_store_n(&h->pub_seq, seq + 1, __ATOMIC_RELAXED);
    atomic_thread_fence(memory_order_release);
    if (small) {
        SNUG_COUNT(SNUG_C_RMW_METER);
        atomic_fetch_add_explicit(&snug_meter.small, d, memory_order_relaxed);
        snug_rstore(&h->alloc_bytes, 0);
        snug_rstore(&h->freed_bytes, 0);
    }
    if (cached) {
        SNUG_COUNT(SNUG_C_RMW_METER);
        atomic_fetch_add_explicit(&snug_meter.cached, held - mc->metered, memory_order_relaxed);
        snug_rstore(&mc->metered, held);
    }
    __atomic_store_n(&h->pub_seq, seq + 2, __ATOMIC_RELEASE);
}

void live_publish(struct heap *h) { live_publish_over(h, 0); }

/* The fit allocator's and the large blocks' byte counts are read without their
 * locks, so a sample never waits for, or makes wait, either of them.  The thread
 * caches' blocks are in use to the fit allocator, free to the program.  The
 * calling heap's own counts are added as they are, published or not: a lone
 * thread's sample is exact, and other threads' samples miss at most
 * METER_SLACK bytes of each heap. */
void live_sample(struct heap *h)
{
    size_t own = 0, own_cached = 0;
    if (h) {
        live_publish_over(h, METER_SLACK);
        own = h->alloc_bytes - h->freed_bytes;
        if (h->mc) own_cached = cache_held(h->mc) - h->mc->metered;
    }
    size_t fit = snug_fit_user_bytes_now();
    size_t cached = atomic_load_explicit(&snug_meter.cached, memory_order_relaxed) + own_cached;
    meter_fold(atomic_load_explicit(&snug_meter.small, memory_order_relaxed) + own + (fit - (cached < fit ? cached : fit)) +
               large_bytes_now() + guard_bytes_now());
}
