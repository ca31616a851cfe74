/* block.h - the block layout every heap region uses, and the region/page-map
 * records that let any pointer be classified without trusting user memory.
 *
 * A region is one contiguous piece of memory from the kernel (the sbrk heap is
 * region 0; mmap'd regions follow when brk cannot grow).  It is tiled by blocks:
 *
 *     block b:  [ head: size | flags ][ payload ............................ ]
 *     free b:   [ head ][ next ][ prev ][ ...unused... ][ foot: size ]
 *
 * head and foot are one word (8 bytes on 64-bit).  b is 8 mod 16, so the payload
 * (b + 8) is 16-aligned; sizes are multiples of 16.  PREV_INUSE in a head says
 * whether the block before is allocated; only free blocks carry a foot, so an
 * allocated block's payload runs to the next head.  A zero-size allocated
 * sentinel head closes every region.  Invariants (checked by check.c):
 *   I1 blocks tile [first, end - W) exactly; sizes >= MIN_BLOCK, multiples of ALIGN
 *   I2 PREV_INUSE of every head equals INUSE of the block before it
 *   I3 no two free blocks are adjacent; every free block's foot equals its size
 *   I4 every free block is on exactly the bin list its size maps to
 *   I5 page map: the OS pages of a small page (a block with BLK_PAGE) carry
 *      1..k (1 + distance to the page start); every other map byte is 0.
 */
#ifndef SNUG_BLOCK_H
#define SNUG_BLOCK_H
#include "config.h"
#include <stdatomic.h>

#define BLK_INUSE      ((size_t)1)
#define BLK_PREV_INUSE ((size_t)2)
#define BLK_PAGE       ((size_t)4)   /* block holds a small-object page */
#define BLK_FLAGS      ((size_t)(SNUG_ALIGN - 1))
#define MIN_BLOCK      (4 * SNUG_WORD)
#define W              SNUG_WORD

static inline size_t blk_head(uintptr_t b) { return *(size_t *)b; }
static inline void   blk_set_head(uintptr_t b, size_t h) { *(size_t *)b = h; }
static inline size_t blk_size(uintptr_t b) { return blk_head(b) & ~BLK_FLAGS; }
static inline void   blk_set_foot(uintptr_t b, size_t sz) { *(size_t *)(b + sz - W) = sz; }
static inline size_t blk_prev_foot(uintptr_t b) { return *(size_t *)(b - W); }
static inline uintptr_t blk_of_payload(const void *p) { return (uintptr_t)p - W; }
/* Block size that holds n payload bytes. */
static inline size_t blk_need(size_t n)
{
    size_t s = snug_align_up(n + W, SNUG_ALIGN);
    return s < MIN_BLOCK ? MIN_BLOCK : s;
}

/* One byte per 4 KiB page of a region; see I5. */
struct pmap {
    size_t cap;                 /* pages covered */
    uint8_t kind[];
};

struct region {
    uintptr_t start;            /* first byte held from the kernel */
    uintptr_t mapbase;          /* start rounded down to an OS page: map index 0 */
    uintptr_t first;            /* first block */
    _Atomic uintptr_t end;      /* end of held memory; sentinel head at end - W */
    uintptr_t limit;            /* end of reserved address space (mmap regions) */
    struct pmap *_Atomic map;
    struct region *_Atomic next;
    int is_brk;
};

extern struct region *_Atomic snug_regions;   /* region 0 first */

/* The region holding address a, or NULL.  Lock-free; regions are never unmapped. */
static inline struct region *region_of(uintptr_t a)
{
    for (struct region *r = atomic_load_explicit(&snug_regions, memory_order_acquire); r;
         r = atomic_load_explicit(&r->next, memory_order_acquire)) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
        if (a - r->start < end - r->start) return r;
    }
    return NULL;
}

/* Map byte for address a in region r (0 when outside the map). */
static inline unsigned region_kind(const struct region *r, uintptr_t a)
{
    const struct pmap *m = atomic_load_explicit(&((struct region *)r)->map, memory_order_acquire);
    size_t i = (a - r->mapbase) >> SNUG_OSPAGE_SHIFT;
    return i < m->cap ? m->kind[i] : 0;
}
#endif
