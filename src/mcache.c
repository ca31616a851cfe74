/* mcache.c - the per-thread medium-block cache (see mcache.h): LIFO stacks by
 * size class, bounded per class and in bytes; blocks go in and out without the
 * fit lock, their heads checked each way. */
#include "mcache.h"
#include "error.h"
#include "fit.h"
#include "os.h"
#include <errno.h>

/* The most blocks class c holds: MC_CLASS_BYTES worth, 2 to MC_DEPTH. */
static unsigned mc_limit(unsigned c)
{
    unsigned k = (MC_CLASS_BYTES >> 10) >> (c / 8);      /* (the octave's base is 1 KiB << c / 8) */
    return k < 2 ? 2 : k > MC_DEPTH ? MC_DEPTH : k;
}

/* The most bytes the cache holds: a share of what the thread has taken and
 * not given back (its own medium footprint), between MC_FLOOR and MC_BUDGET. */
static inline size_t mc_budget(const struct mcache *mc)
{
    int64_t share = mc->flow / MC_SHARE;
    return share < (int64_t)MC_FLOOR ? MC_FLOOR : share > (int64_t)MC_BUDGET ? MC_BUDGET : (size_t)share;
}

/* Class c's last block, taken off its slots (which stay NULL past n[c]: M1). */
static inline void *mc_take(struct mcache *mc, unsigned c)
{
    void *p = mc->slot[c][--mc->n[c]];
    mc->slot[c][mc->n[c]] = NULL;
    return p;
}

/* The size in cached block p's head, checked: an overflow into it while
 * cached.  Inline where heads are read without the lock (block.h). */
static inline size_t cached_size(void *p)
{
    return BLK_HEADS_LOCK_FREE ? blk_size_unlocked(blk_of_payload(p)) : snug_fit_cached_size(p);
}

void *mcache_pop(struct mcache *mc, size_t n)
{
    size_t need = blk_need(n), sz;
    if (need - 16 >= MC_MAX) return NULL;
    unsigned f = mc_floor(need - 16);           /* the class a block of need bytes goes to */
    void *p;
    /* That class's last block when it holds need (a block of the size just
     * freed), else the last of the next two classes, whose blocks all do (up
     * to a third larger than asked). */
    if (mc->n[f] && (sz = cached_size(p = mc->slot[f][mc->n[f] - 1])) >= need) {
        (void)mc_take(mc, f);
        goto take;
    }
    for (unsigned c = f + 1; c <= f + 2 && c < MC_CLASSES; c++)
        if (mc->n[c]) {
            sz = cached_size(p = mc_take(mc, c));
            goto take;
        }
    /* A class the thread asks for and finds empty may hold one block more
     * (tcmalloc's slow start): a thread that only frees (a consumer) keeps
     * one block per class, one that cycles through a size keeps more. */
    if (mc->more[f] + 1u < mc_limit(f)) mc->more[f]++;
    mc->flow += (int64_t)need;                    /* (the fit allocator's block: about need) */
    return NULL;
take:
    if (SNUG_UNLIKELY(!blk_cached((uintptr_t)p)))   /* its mark is gone: written after free */
        snug_fatal("freed block overwritten (write after free):", p, sz - SNUG_WORD);
    ((uint64_t *)p)[1] = 0;
    snug_own_sub(&mc->bytes, sz);
    snug_own_sub(&mc->blocks, 1);
    mc->flow += (int64_t)sz;
    return p;
}

/* The size of medium block p handed back by the program, checked as the fit
 * allocator's free would check it: inline for an intact block in use, else
 * snug_fit_checked_size, which names the fault. */
static inline size_t push_size(void *p)
{
    if (BLK_HEADS_LOCK_FREE && !((uintptr_t)p & (SNUG_ALIGN - 1))) {
        uintptr_t b = blk_of_payload(p);
        uint64_t raw = blk_word_relaxed(b), h = raw & BLK_VALUE;
        size_t sz = (size_t)(h & ~BLK_FLAGS);
        /* An intact head (its keyed tag vouches for its size), in use, not
         * cached already; then the next head, where an overflow shows. */
        if (SNUG_LIKELY(blk_tag_ok(b, raw) && (h & (BLK_INUSE | BLK_FREED | BLK_META | BLK_PAGE)) == BLK_INUSE &&
                        sz >= MIN_BLOCK && !blk_cached((uintptr_t)p))) {
            (void)blk_size_unlocked(b + sz);
            return sz;
        }
    }
    return snug_fit_checked_size(p, "free(): invalid pointer");   /* fatal on a marked block */
}

int mcache_push(struct mcache *mc, void *p)
{
    size_t sz = push_size(p);
    if (sz - MC_MIN >= MC_MAX + 16 - MC_MIN) return 0;
    mc->flow -= (int64_t)sz;
    unsigned c = mc_floor(sz - 16);
    /* A second free after a write wiped its mark: the block is still here.
     * All MC_DEPTH slots are compared, without a branch (slots past n[c] are
     * NULL): a loop to n[c] mispredicted its exit on about every push
     * (mixed: 0.45 million of its 2.25 million mispredictions a million steps). */
    int dup = 0;
#pragma GCC unroll 8
    for (unsigned k = 0; k < MC_DEPTH; k++) dup |= mc->slot[c][k] == p;
    if (SNUG_UNLIKELY(dup)) snug_fatal("double free of", p, sz - SNUG_WORD);
    if (mc->n[c] > mc->more[c] || mc->bytes + sz > mc_budget(mc)) return 0;
    ((uint64_t *)p)[1] = blk_cache_mark((uintptr_t)p);
    mc->slot[c][mc->n[c]++] = p;
    snug_own_add(&mc->bytes, sz);
    snug_own_add(&mc->blocks, 1);
    return 1;
}

void mcache_flush(struct mcache *mc)
{
    for (unsigned c = 0; c < MC_CLASSES; c++)
        while (mc->n[c]) {
            void *p = mc_take(mc, c);
            size_t sz = cached_size(p);
            if (!blk_cached((uintptr_t)p)) snug_fatal("freed block overwritten (write after free):", p, sz - SNUG_WORD);
            ((uint64_t *)p)[1] = 0;
            snug_own_sub(&mc->bytes, sz);
            snug_own_sub(&mc->blocks, 1);
            snug_fit_free(p);
        }
}

/* A cache's record is a mapping of its own, not a block of arena 0: made at
 * a thread's first medium free, such a block lands wherever the heap's top is
 * then, and a program that frees everything below it could not give its heap
 * back.  (Kept with its heap when the thread exits, as the heap's record is.) */
struct mcache *mcache_new(void)
{
    int saved = errno;
    snug_fit_caches_on();
    struct mcache *mc = snug_os_map(sizeof *mc);    /* (zero-filled) */
    errno = saved;
    return mc;
}
