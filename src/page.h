/* page.h - small-object pages: a 4 KiB-aligned run of 1-4 OS pages holding
 * equal slots of one size class, with no per-object header.
 *
 *   [ struct spage | slot 0 | slot 1 | ... | slot n-1 | unused ]
 *
 * Invariants (checked by check.c):
 *   P1 bit i of bits is set exactly when slot i is allocated (or queued for a
 *      remote free); used == popcount(bits)
 *   P2 the local free list holds distinct slots below bump, all with bit clear;
 *      its links are stored encoded (link ^ slot ^ secret), so a stray write (an
 *      overflow out of the slot before, a write after free) is caught when the
 *      slot is popped, before its link is followed
 *   P3 slots at or above bump were never handed out; free + (end-bump)/bsize + used == nslots
 *   P4 owner never changes; only the owner thread touches free, bump, used, bits
 *   P5 check's guard half == page ^ secret (checked on every free); head_guard ==
 *      its value (checked before a slow path follows next/prev)
 */
#ifndef SNUG_PAGE_H
#define SNUG_PAGE_H
#include "config.h"
#include "error.h"
#include "os.h"
#include <stdatomic.h>

struct heap;
/* Two 64-byte lines.  The first holds what only slow paths use, behind a head
 * guard (an overflow from the block before the page, which first breaks the
 * page block's tagged head, is caught there).  The second holds everything
 * malloc and free touch and ends, next to slot 0, with the check word: guard
 * and reciprocal, so an underflow out of slot 0 is caught at the next free. */
struct spage {
    uint64_t head_guard;            /* page ^ secret ^ HEAD_SALT */
    struct spage *next, *prev;      /* owner's avail or full list for this class */
    uint16_t nslots;
    uint8_t cls, npages, in_full;
    uint8_t pad_a_[64 - 8 - 2 * sizeof(void *) - 5];
    uint64_t bits[4];               /* allocation bitmap, up to 256 slots */
    void *free;                     /* local free list (slot addresses, links encoded) */
    struct heap *owner;
    uint16_t bsize;                 /* slot size */
    uint16_t used;                  /* slots allocated or queued for a remote free */
    uint16_t relist;                /* a full page goes back on the avail list when used drops to this */
    uint16_t bump;                  /* offset of the first never-used slot from page_start */
    uint8_t pad_b_[64 - 32 - 2 * sizeof(void *) - 8 - 8];
    uint64_t check;                 /* low 32 bits: guard, (page ^ secret); high 32: inv */
};
#define SPAGE_HDR   snug_align_up(sizeof(struct spage), SNUG_ALIGN)
#define SPAGE_MAXSLOTS 256

static inline uintptr_t page_start(const struct spage *pg) { return (uintptr_t)pg + SPAGE_HDR; }
static inline uintptr_t page_bump(const struct spage *pg) { return page_start(pg) + pg->bump; }
static inline uintptr_t page_end(const struct spage *pg) { return page_start(pg) + (uintptr_t)pg->nslots * pg->bsize; }
static inline uint32_t page_inv(const struct spage *pg) { return (uint32_t)(pg->check >> 32); }
static inline uint32_t page_guard(const struct spage *pg) { return (uint32_t)((uintptr_t)pg ^ (uintptr_t)snug_secret); }
static inline int page_guard_ok(const struct spage *pg) { return (uint32_t)pg->check == page_guard(pg); }
static inline uint64_t page_head_guard(const struct spage *pg) { return (uint64_t)(uintptr_t)pg ^ snug_secret ^ 0x68656164u; }
/* Both guards: for slow paths, before they follow the page's list links. */
static inline int page_guards_ok(const struct spage *pg) { return page_guard_ok(pg) && pg->head_guard == page_head_guard(pg); }
static inline uintptr_t enc_link(uintptr_t next, uintptr_t slot) { return next ^ slot ^ (uintptr_t)snug_secret; }
/* Second word of a slot queued for a remote free: any free of it before the
 * owner applies the first one is a double free, seen at once. */
static inline uintptr_t remote_mark(uintptr_t slot) { return ~slot ^ (uintptr_t)snug_secret; }
static inline int remote_pending(uintptr_t slot) { return ((const uintptr_t *)slot)[1] == remote_mark(slot); }

/* Slot index of p, or -1 when p is not the start of a slot. */
static inline long page_slot(const struct spage *pg, uintptr_t p)
{
    uint64_t off = (uint64_t)(p - page_start(pg));
    uint32_t i = (uint32_t)((off * page_inv(pg)) >> 32);
    if (SNUG_UNLIKELY(i >= pg->nslots || (uint64_t)i * pg->bsize != off)) return -1;
    return (long)i;
}
static inline int  bit_get(const struct spage *pg, unsigned i) { return (int)((pg->bits[i >> 6] >> (i & 63)) & 1); }
static inline void bit_set(struct spage *pg, unsigned i) { pg->bits[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void bit_clear(struct spage *pg, unsigned i) { pg->bits[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

/* Pop one slot from the local free list (NULL when empty); fatal on a bad link.
 * A link is checked before it is followed: inside the touched part of the page
 * and marked free.  (A damaged link decodes to a random word: the range check
 * alone rejects it with near certainty.) */
static inline void *page_pop(struct spage *pg)
{
    uintptr_t b = (uintptr_t)pg->free;
    if (!b) return NULL;
    uintptr_t off = b - page_start(pg);
    uint32_t i = (uint32_t)(((uint64_t)off * page_inv(pg)) >> 32);
    if (SNUG_UNLIKELY(off >= pg->bump || bit_get(pg, i)))
        snug_fatal("corrupted free list (write after free?) in page", pg, pg->bsize);
    pg->free = (void *)enc_link(*(uintptr_t *)b, b);
    bit_set(pg, i);
    pg->used++;
    return (void *)b;
}

/* Slot i is being freed: if the slot after it is free, its link must still be a
 * link into the touched part of the page (an overflow out of slot i would have
 * replaced it with bytes that decode to a random word). */
static inline __attribute__((always_inline)) void page_check_neighbour(const struct spage *pg, uintptr_t p, uint32_t i)
{
    uintptr_t n = p + pg->bsize, start = page_start(pg);
    if (n - start >= pg->bump || bit_get(pg, i + 1)) return;
    uintptr_t link = enc_link(*(uintptr_t *)n, n);
    if (SNUG_UNLIKELY(link && link - start >= pg->bump))
        snug_fatal("heap overflow: free slot after this block overwritten, block", (void *)p, pg->bsize);
}

/* Number of OS pages a page of class c spans. */
unsigned page_pages_for(size_t bsize);
void  page_init(struct spage *pg, struct heap *owner, unsigned cls, unsigned npages);
/* Refill the free list from the bump area; 0 when the page has no unused slot. */
int   page_extend(struct spage *pg);
/* Checker for one page (P1-P3); free lists are walked only when walk_free. */
int   page_check(const struct spage *pg, int walk_free);
#endif
