/* page.h - small-object pages: a 4 KiB-aligned run of 1-4 OS pages holding
 * equal slots of one size class, with no per-object header.
 *
 *   [ struct spage | slot 0 | slot 1 | ... | slot n-1 | unused ]
 *
 * A slot's state lives only in the page header's allocation bitmap: there is
 * no free list inside free slots, so an overflow or a write after free cannot
 * reach allocator metadata in a neighbouring slot.  malloc takes the lowest
 * clear bit (pages fill in address order, so untouched memory stays untouched);
 * free checks the slot start (one multiply, rotate and compare) and clears its
 * bit.
 *
 * Invariants P1 (bitmap and used count), P2 (hint), P3 (the owner alone
 * writes), P4 (keys and head guard) and P5 (avail lists): DESIGN.md,
 * "Invariants".  page_check checks P1, P2 and P4, check.c P5.
 */
#ifndef SNUG_PAGE_H
#define SNUG_PAGE_H
#include "config.h"
#include "error.h"
#include "os.h"
#include "relaxed.h"
#include <stdatomic.h>

struct heap;
/* Two 64-byte lines.  The first holds what only slow paths use, behind a head
 * guard (an overflow from the block before the page, which first breaks the
 * page block's tagged head, is caught there).  The second holds everything
 * malloc and free touch, between two copies of the key (the owner keyed with
 * the page address and the secret): a linear overflow from before the page
 * breaks the head guard and then front_key before it reaches the bitmap,
 * and malloc's fast path compares front_key; an underflow out of slot 0
 * breaks key first, and free's fast path compares key.  Slow paths check
 * all three before they follow a link or trust a count (P4). */
struct spage {
    uint64_t head_guard;            /* page ^ secret ^ HEAD_SALT */
    struct spage *next, *prev;      /* owner's avail list for this class (none when full) */
    struct heap *owner;
    uint16_t area;                  /* nslots * bsize */
    uint8_t cls, npages, in_full;
    uint8_t dense;                  /* larger than its class's usual page (set by heap.c) */
    uint8_t pad_a_[64 - 8 - 3 * sizeof(void *) - 6];
    uint64_t front_key;             /* owner ^ page ^ secret, as key */
    uint64_t bits[4] __attribute__((aligned(8)));  /* allocation bitmap, up to 256 slots */
    uint16_t bsize;                 /* slot size */
    uint16_t used;                  /* slots allocated or queued for a remote free */
    int16_t relist;                 /* a free leaves the fast path when used drops to this: when full,
                                     * the count that puts it back on its list; else 0 (emptied), or
                                     * RELIST_KEEP (-1: never) for a class's only page the heap keeps */
    uint8_t hint;                   /* first bitmap word that may have a clear bit */
    uint8_t shift;                  /* bsize = odd part << shift */
    uint32_t nslots;                /* (32 bits: free compares a slot index with it in one instruction) */
    uint32_t inv;                   /* slot index by multiplication (page_quot) */
    uint64_t key;                   /* owner ^ page ^ secret */
};
_Static_assert(sizeof(struct spage) == 128 && offsetof(struct spage, front_key) == 64, "page header: two lines");
#define SPAGE_HDR   snug_align_up(sizeof(struct spage), SNUG_ALIGN)
#define SPAGE_MAXSLOTS 256
#define RELIST_EMPTY   0                /* relist of a page on its avail list: slow path when it empties */
#define RELIST_KEEP    (-1)             /* ... or not even then: the class's only page, kept (heap.c) */

static inline uintptr_t page_start(const struct spage *pg) { return (uintptr_t)pg + SPAGE_HDR; }
static inline uintptr_t page_end(const struct spage *pg) { return page_start(pg) + pg->area; }
/* The key of a page owned by heap h (h's thread keeps h ^ secret at hand). */
static inline uint64_t page_key(const struct spage *pg, uint64_t hkey) { return hkey ^ (uintptr_t)pg; }
static inline uint64_t heap_key_of(const void *h) { return (uint64_t)(uintptr_t)h ^ snug_secret; }
static inline uint64_t page_head_guard(const struct spage *pg) { return (uint64_t)(uintptr_t)pg ^ snug_secret ^ 0x68656164u; }
/* All three guards, and with them the owner (P4): for every path but the
 * two fast ones, before it follows the page's list links or trusts its owner,
 * bitmap or counts. */
static inline int page_guards_ok(const struct spage *pg)
{
    return !SNUG_CHECKS || (pg->key == page_key(pg, heap_key_of(pg->owner)) && pg->front_key == pg->key &&
                            pg->head_guard == page_head_guard(pg));
}
static inline void page_verify(const struct spage *pg)
{
    if (SNUG_UNLIKELY(!page_guards_ok(pg))) snug_fatal("small page header overwritten (overflow?) at", pg, 0);
}

/* Second word of a slot queued for a remote free: any free of it before the
 * owner applies the first one is a double free, seen at once. */
static inline uintptr_t remote_mark(uintptr_t slot) { return ~slot ^ (uintptr_t)snug_secret; }
static inline int remote_pending(uintptr_t slot) { return ((const uintptr_t *)slot)[1] == remote_mark(slot); }

/* Offset of p (an address in the page's OS pages) from slot 0, in 32 bits:
 * below 2^16 in the slot area, above 2^32 - 2^8 in the header. */
static inline uint32_t page_off(const struct spage *pg, uintptr_t p) { return (uint32_t)(p - page_start(pg)); }
#if SNUG_CHECKS
/* inv is the inverse of bsize's odd part modulo 2^32.  off * inv, rotated
 * right by shift, is off / bsize when bsize divides off, and at least 2^22
 * when it does not, for every 32-bit off (an exact-division test: Hacker's
 * Delight, 10-17).  So one compare with nslots tells a slot start from an
 * interior pointer, a header offset and the page's unused tail. */
static inline uint32_t page_inv_for(size_t bsize, unsigned *shift)
{
    *shift = (unsigned)__builtin_ctzll(bsize);
    uint32_t d = (uint32_t)(bsize >> *shift), x = d;       /* x: d's inverse to 3 bits */
    for (int k = 0; k < 4; k++) x *= 2 - d * x;             /* each step doubles them */
    return x;
}
static inline uint32_t page_quot(const struct spage *pg, uint32_t off)
{
    uint32_t x = off * pg->inv;
    unsigned s = pg->shift;                                 /* (4 or more: slots are 16-byte multiples) */
    return x >> s | x << (32 - s);
}
/* Slot index of p, or -1 when p is not the start of a slot. */
static inline long page_slot(const struct spage *pg, uintptr_t p)
{
    uint32_t q = page_quot(pg, page_off(pg, p));
    return SNUG_LIKELY(q < pg->nslots) ? (long)q : -1;
}
#else
/* Unchecked builds (a benchmark baseline) take a slot start's index from the
 * high half of off * ceil(2^32 / bsize); the low half is below inv exactly
 * when bsize divides off (off < 2^16 and bsize <= 1024 keep the rounding
 * error under one step). */
static inline uint32_t page_inv_for(size_t bsize, unsigned *shift)
{
    *shift = 0;
    return (uint32_t)((((uint64_t)1 << 32) + bsize - 1) / bsize);
}
static inline uint32_t page_quot(const struct spage *pg, uint32_t off) { return (uint32_t)((uint64_t)off * pg->inv >> 32); }
static inline long page_slot(const struct spage *pg, uintptr_t p)
{
    uint64_t q = (uint64_t)page_off(pg, p) * pg->inv;
    if (SNUG_UNLIKELY((uint32_t)(q >> 32) >= pg->nslots || (uint32_t)q >= pg->inv)) return -1;
    return (long)(q >> 32);
}
#endif
static inline int  bit_get(const struct spage *pg, unsigned i) { return (int)((pg->bits[i >> 6] >> (i & 63)) & 1); }

/* Take the lowest free slot of bitmap word k, whose value w is not full
 * (bsize: the page's, read before the stores). */
static inline void *page_take_in(struct spage *pg, unsigned k, uint64_t w, size_t bsize)
{
    unsigned b = (unsigned)__builtin_ctzll(~w);
    snug_store64(&pg->bits[k], w | ((uint64_t)1 << b));
    pg->used++;
    return (void *)(page_start(pg) + (uintptr_t)(k * 64 + b) * bsize);
}
/* Take the lowest free slot at or after the hinted word (the words before it
 * are full: P2), moving the hint to its word; NULL when none is free. */
static inline void *page_take_any(struct spage *pg)
{
    for (unsigned k = pg->hint; k < 4; k++) {
        uint64_t w = pg->bits[k];
        if (w != ~(uint64_t)0) {
            pg->hint = (uint8_t)k;
            return page_take_in(pg, k, w, pg->bsize);
        }
    }
    return NULL;
}

/* Number of OS pages a page of class c spans; slots a page of npages holds. */
unsigned page_pages_for(size_t bsize);
unsigned page_pages_dense(size_t bsize);    /* the page size (1, 2, 4) that wastes least */
unsigned page_slots_for(unsigned npages, size_t bsize);
void  page_init(struct spage *pg, struct heap *owner, unsigned cls, unsigned npages);
/* Checker for one page (P1, P2, P4); the bitmap is read only when mine (owned by
 * the calling thread or parked), since its owner may be changing it. */
int   page_check(const struct spage *pg, int mine);
#endif
