/* fit_query.c - what a medium block a program hands back is: its checked
 * size, usable size and the requests it can have served (the size queries,
 * sized frees), and the fault a pointer that is no block names.  The check
 * itself is fit_private.h's checked_block_at, which free and realloc inline.
 * Reads blocks; changes none. */
#include "park.h"
#include "fit_checked.h"

int caches_made;

__attribute__((noinline, noreturn, cold)) void not_a_block(const void *p, const char *op)
{
    char msg[96];
    size_t n = 0;
    for (const char *s = op; *s && n < 60; s++) msg[n++] = *s;
    for (const char *s = " (not a block, or its head was overwritten)"; *s && n + 1 < sizeof msg; s++) msg[n++] = *s;
    msg[n] = 0;
    snug_fatal(msg, p, 0);
}

/* (Set once, under arena 0's lock; a thread that sees it set takes no lock:
 * every thread's first medium free made a cache and took it, 0.01 per 1000
 * calls of mt-local at 128 threads.) */
void snug_fit_caches_on(void)
{
    if (snug_rload(&caches_made)) return;
    arena_lock(fit_arena0);
    snug_rstore(&caches_made, 1);
    arena_unlock(fit_arena0);
}

/* (Heads are read without the lock where BLK_HEADS_LOCK_FREE: block.h.) */
size_t snug_fit_checked_size(const void *p, const char *op)
{
    struct fit_state *a = BLK_HEADS_LOCK_FREE ? NULL : arena_of((uintptr_t)p);
    if (!BLK_HEADS_LOCK_FREE) arena_lock(a);
    uintptr_t b = checked_block_in(p, op, BLK_HEADS_LOCK_FREE);
    uint64_t raw = blk_word_relaxed(b);     /* (its size is the block's own; PREV_INUSE may change) */
    size_t sz = (size_t)(raw & BLK_VALUE & ~BLK_FLAGS);
    (void)blk_size_unlocked(b + sz);    /* an overflow into the next head is caught here, as at free */
    if (!BLK_HEADS_LOCK_FREE) arena_unlock(a);
    return sz;
}

/* A malloc of n gets a block of need = blk_need(n) bytes, or up to 16 more
 * (a split leaves no block under MIN_BLOCK).  Others are bigger than asked:
 * a roomy block by up to a quarter (realloc keeps it while the request stays
 * within its last quarter), and once thread caches exist, a cached block by
 * less than a third of its size (mcache_pop takes one of the next two classes).  A request below what
 * the largest of these slacks allows cannot have been given this block. */
size_t snug_fit_request_range(const void *p, const char *op, size_t *lo)
{
    struct fit_state *a = BLK_HEADS_LOCK_FREE ? NULL : arena_of((uintptr_t)p);
    if (!BLK_HEADS_LOCK_FREE) arena_lock(a);
    uint64_t h = blk_word_relaxed(checked_block_in(p, op, BLK_HEADS_LOCK_FREE)) & BLK_VALUE;
    if (!BLK_HEADS_LOCK_FREE) arena_unlock(a);
    size_t sz = (size_t)(h & ~BLK_FLAGS), slack = SNUG_ALIGN;
    if (h & BLK_ROOMY) slack += sz / ROOMY_SHARE;
    if (snug_rload(&caches_made)) {
        size_t mc = sz / 3;
        if (slack < mc + SNUG_ALIGN) slack = mc + SNUG_ALIGN;
    }
    /* need >= sz - slack, and need = align_up(n + WORD, 16), or MIN_BLOCK for
     * the smallest requests (a block realloc shrank in place: the smallest
     * aligned block holds MIN_BLOCK + 16) */
    *lo = sz > slack + MIN_BLOCK ? sz - slack - WORD - (SNUG_ALIGN - 1) : 0;
    return sz - WORD;
}

size_t snug_fit_cached_size(const void *p)
{
    if (BLK_HEADS_LOCK_FREE) return blk_size_unlocked(blk_of_payload(p));
    struct fit_state *a = arena_of((uintptr_t)p);
    arena_lock(a);
    size_t sz = blk_size(blk_of_payload(p));
    arena_unlock(a);
    return sz;
}

/* (It touches no arena's state: only its lock, when the process has threads.) */
size_t snug_fit_validate(const void *p, const char *op)
{
    struct fit_state *a = __libc_single_threaded ? NULL : arena_of((uintptr_t)p);
    if (a) arena_lock(a);
    uintptr_t b = checked_block(p, op);
    /* An overflow into the next block is seen here too, as at free. */
    size_t sz = (size_t)(blk_head_known(b) & ~BLK_FLAGS);
    if (!(blk_head(b + sz) & BLK_PREV_INUSE)) blk_corrupt(b + sz);
    if (a) arena_unlock(a);
    return sz - WORD;
}

/* p was validated by snug_fit_validate. */
size_t snug_fit_usable(const void *p) { return (size_t)(blk_word_relaxed(blk_of_payload(p)) & BLK_VALUE & ~BLK_FLAGS) - WORD; }
