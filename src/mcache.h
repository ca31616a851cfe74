/* mcache.h - a per-thread cache of freed medium blocks (up to 8 KiB), switched
 * on only once threads have been seen waiting for the fit allocator's lock: a
 * single-threaded program never has one, so its blocks always coalesce at once
 * (SNUG_OPTIONS thread_cache_after=N: after N waits; 0: from the start).
 * A cached block stays allocated in the fit allocator's eyes and carries a
 * keyed mark, so a second free of it is caught (M1: DESIGN.md, "Invariants"). */
#ifndef SNUG_MCACHE_H
#define SNUG_MCACHE_H
#include "config.h"
#include "block.h"
#include "tuning.h"

#define MC_MIN      (SNUG_SMALL_MAX + 1)    /* smallest request served */
#define MC_CLASSES  ((MC_MAX - SNUG_SMALL_MAX) / 256)

struct mcache {
    void *slot[MC_CLASSES][MC_DEPTH];
    uint8_t n[MC_CLASSES];
    size_t bytes, blocks;                   /* owner writes (snug_own_add); statistics read relaxed */
    size_t metered;                         /* of bytes (less a head each), what the heap published (heap.c) */
};


/* A cached block for a request of n bytes (a medium size), or NULL. */
void *mcache_pop(struct mcache *mc, size_t n);
/* Keep the medium block p (validated here); 0 when it must go to the fit allocator. */
int   mcache_push(struct mcache *mc, void *p);
/* Give every cached block back to the fit allocator. */
void  mcache_flush(struct mcache *mc);
/* A cache for a thread, when the fit lock has been contended; NULL otherwise. */
struct mcache *mcache_new(void);
#endif
