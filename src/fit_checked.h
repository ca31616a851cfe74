/* fit_checked.h - the check on a pointer a program hands back as a medium
 * block (free, realloc, the size queries), inline for free and realloc
 * (fit.c) and the queries (fit_query.c, which also names the faults). */
#ifndef SNUG_FIT_CHECKED_H
#define SNUG_FIT_CHECKED_H
#include "bins.h"
#include "error.h"

/* Set when the first thread cache is made: only then can a block carry a
 * cache mark (mcache.h), so only then is the mark looked for.  Read without
 * arena 0's lock (relaxed: a thread sees its own cache's store, and another
 * thread's only matters for a double free). */
extern SNUG_INTERNAL int caches_made;
__attribute__((noreturn, cold)) void not_a_block(const void *p, const char *op);
/* Fatal unless p is the payload of an allocated medium block.  Lock held,
 * unless `unlocked` (then the head is read as others may be rewriting it). */
static inline __attribute__((always_inline)) uintptr_t checked_block_at(const void *p, const char *op, int unlocked,
                                                                       uintptr_t first, uintptr_t end)
{
    uintptr_t b = blk_of_payload(p);
    if (((uintptr_t)p & (SNUG_ALIGN - 1)) || !first || b < first)
        snug_fatal(op, p, 0);
    uint64_t raw = unlocked ? blk_word_relaxed(b) : blk_word(b);
    if (!blk_tag_ok(b, raw)) not_a_block(p, op);
    uint64_t h = raw & BLK_VALUE;
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    if (!(h & BLK_INUSE)) {          /* a free head (maybe merged away): freed before */
        size_t orig = 0;
        uint64_t e = sz >= ORIG_AT + 3 * WORD ? *(uint64_t *)(b + ORIG_AT) ^ orig_key(b) : 0;
        if ((h & BLK_FREED) && e >= MIN_BLOCK && e <= sz && !(e & BLK_FLAGS)) orig = (size_t)e - WORD;
        else if ((h & BLK_FREED) && sz < ORIG_AT + 3 * WORD) orig = sz - WORD;
        snug_fatal_freed(op, p, orig);
    }
    if (h & (BLK_META | BLK_FREED)) {
        if (h & BLK_FREED) snug_fatal_freed(op, p, sz - WORD);     /* parked (below) */
        snug_fatal("free(): pointer to a block snug uses for itself (freed before: a double free?)", p, 0);
    }
    if (snug_rload(&caches_made) && sz >= 3 * WORD && blk_cached((uintptr_t)p))      /* freed into a thread cache */
        snug_fatal_freed(op, p, sz - WORD);
    if ((h & BLK_PAGE) || sz < MIN_BLOCK || sz > end - WORD - b)
        snug_fatal(op, p, 0);
    return b;           /* free and realloc go on to read (and check) the next head */
}
static inline __attribute__((always_inline)) uintptr_t checked_block_in(const void *p, const char *op, int unlocked)
{
    uintptr_t end, first = region_bounds((uintptr_t)p, &end);
    return checked_block_at(p, op, unlocked, first, end);
}
static inline __attribute__((always_inline)) uintptr_t checked_block(const void *p, const char *op)
{
    return checked_block_in(p, op, 0);
}
#endif
