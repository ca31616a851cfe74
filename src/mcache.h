/* mcache.h - a per-thread cache of freed medium blocks (up to MC_MAX bytes), by
 * size class, eight per power of two: a request takes a block of its class or
 * the next two, so at most a third larger than asked.  On in a process with threads
 * (options thread_cache, thread_cache_after); bounded per class and by a share
 * of the thread's own medium footprint (tuning.h).  A cached block stays
 * allocated in the fit allocator's eyes and carries a keyed mark, so a second
 * free of it is caught (M1: DESIGN.md, "Invariants"). */
#ifndef SNUG_MCACHE_H
#define SNUG_MCACHE_H
#include "config.h"
#include "block.h"
#include "tuning.h"

#define MC_MIN      (SNUG_SMALL_MAX + 1)    /* smallest request served */
/* Classes by x = block size - 16 (so the smallest block, 1040, starts class 0):
 * eight per power of two from 1 KiB to MC_MAX. */
#define MC_CLASSES  (8u * (unsigned)(__builtin_ctz(MC_MAX) - 10))

struct mcache {
    void *slot[MC_CLASSES][MC_DEPTH];       /* class c's blocks in slot[c][0 .. n[c]-1]; NULL past them */
    uint8_t n[MC_CLASSES];
    uint8_t more[MC_CLASSES];               /* a class holds up to 1 + more[c] blocks (mcache_pop) */
    int64_t flow;                           /* medium bytes the thread took less those it freed (about; 64 bits
                                             * on every target: a consumer's frees of other threads' blocks add
                                             * up without end, and 2^63 bytes are decades of frees) */
    size_t bytes, blocks;                   /* owner writes (snug_own_add); statistics read relaxed */
    size_t metered;                         /* of bytes (less a head each), what the heap published (heap.c) */
};

/* Class of x >= 1024 (rounded down): blocks of class c have x >= its base. */
static inline unsigned mc_floor(size_t x)
{
    unsigned e = (unsigned)(8 * sizeof(size_t) - 1) - (unsigned)__builtin_clzl((unsigned long)x);
    return (e - 10) * 8 + (unsigned)((x >> (e - 3)) & 7);
}

/* A cached block for a request of n bytes (a medium size), or NULL. */
void *mcache_pop(struct mcache *mc, size_t n);
/* Keep the medium block p (validated here); 0 when it must go to the fit allocator. */
int   mcache_push(struct mcache *mc, void *p);
/* Give every cached block back to the fit allocator. */
void  mcache_flush(struct mcache *mc);
/* A cache for the calling thread (plain.h's plain_cache_wanted decides); NULL when out of memory. */
struct mcache *mcache_new(void);
#endif
