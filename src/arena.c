/* arena.c - what runs over every arena of the fit allocator (fit_private.h;
 * fit.c makes them and gives threads theirs): fork's locks, trim, the
 * reclaimer's round, statistics and the block walk, each arena under its own
 * lock, in one order (arenas_lock, then arena 0 first). */
#include "park.h"
#include <string.h>

/* ---- over every arena ----------------------------------------------- */

/* In a fixed order (arenas_lock, then arena 0 first), for fork and the walks. */
void snug_fit_lock_all(void)
{
    snug_lock(&arenas_lock);
    FOR_ARENAS(a) snug_lock(a->ext->lock);
}
void snug_fit_unlock_all(void)
{
    FOR_ARENAS(a) snug_unlock(a->ext->lock);
    snug_unlock(&arenas_lock);
}
/* Fork child: every lock free, and only the calling thread attached. */
void snug_fit_reset_locks(void)
{
    snug_lock_reset(&arenas_lock);
    FOR_ARENAS(a) {
        snug_lock_reset(a->ext->lock);
        atomic_store_explicit(&a->ext->users, a == fit_mine, memory_order_relaxed);
    }
}

void snug_fit_each_block(void (*fn)(uintptr_t b, size_t size, uint64_t flags, void *arg), void *arg)
{
    snug_fit_lock_all();
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next)) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
        fn(r->start, r->first - r->start, BLK_META | BLK_INUSE, arg);
        for (uintptr_t b = r->first; b < end - WORD; b += blk_size(b)) {
            uint64_t fl = blk_head(b) & BLK_FLAGS;
            if (blk_parked(fl)) fl &= ~BLK_INUSE;       /* parked: free */
            fn(b, blk_size(b), fl, arg);
        }
    }
    snug_fit_unlock_all();
}

void snug_fit_each_page(void (*fn)(uintptr_t page, void *arg), void *arg)
{
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next)) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
        for (uintptr_t b = r->first; b < end - WORD; b += blk_size(b))
            if ((blk_head(b) & (BLK_PAGE | BLK_INUSE)) == (BLK_PAGE | BLK_INUSE)) fn(b + WORD, arg);
    }
}

int snug_fit_trim(size_t pad)
{
    int released = 0;
    FOR_ARENAS(a) (void)stash_flush(a, 1);
    FOR_ARENAS(a) {
        arena_lock(a);
        if (fit->park_n) park_flush();
        released |= region_trim_all(pad);
        arena_unlock(a);
    }
    return released;
}

int snug_fit_reclaim(void)
{
    int any = 0;
    FOR_ARENAS(a) {
        arena_lock(a);
        any |= region_reclaim();
        arena_unlock(a);
        any |= stash_flush(a, 0);
    }
    return any;
}

void snug_fit_end_wait(void)
{
    FOR_ARENAS(a) {
        arena_lock(a);
        region_end_wait();
        arena_unlock(a);
    }
}

void snug_fit_totals(struct fit_totals *t)
{
    memset(t, 0, sizeof *t);
    FOR_ARENAS(a) {
        arena_lock(a);
        t->free_blocks += a->free_blocks + a->park_n;
        t->free_bytes += a->free_bytes + a->park_bytes;
        t->user_blocks += a->user_blocks;
        t->user_bytes += a->user_bytes;
        t->regions += a->ext->nregions;
        arena_unlock(a);
    }
}

size_t snug_fit_user_bytes_now(void)
{
    size_t n = 0;
    FOR_ARENAS(a) n += snug_rload(&a->user_bytes);
    return n;
}
