/* page.c - setting up small pages and refilling their free lists lazily, so a
 * fresh page touches only the memory it hands out. */
#include "page.h"
#include "sizeclass.h"
#include <string.h>

unsigned page_pages_for(size_t bsize)
{
    for (unsigned k = 1; k < 4; k *= 2) {
        size_t area = k * SNUG_OSPAGE - SNUG_WORD - SPAGE_HDR;
        size_t n = area / bsize;
        if (n > SPAGE_MAXSLOTS) n = SPAGE_MAXSLOTS;
        if ((k * SNUG_OSPAGE - n * bsize) * 8 <= k * SNUG_OSPAGE) return k;
    }
    return 4;
}

void page_init(struct spage *pg, struct heap *owner, unsigned cls, unsigned npages)
{
    size_t bsize = class_size(cls);
    size_t n = (npages * SNUG_OSPAGE - SNUG_WORD - SPAGE_HDR) / bsize;
    if (n > SPAGE_MAXSLOTS) n = SPAGE_MAXSLOTS;
    memset(pg, 0, sizeof *pg);
    uint64_t inv = (((uint64_t)1 << 32) + bsize - 1) / bsize;
    pg->check = (inv << 32) | page_guard(pg);
    pg->head_guard = page_head_guard(pg);
    pg->bsize = (uint16_t)bsize;
    pg->nslots = (uint16_t)n;
    pg->relist = (uint16_t)(n - (n / 8 ? n / 8 : 1));      /* an eighth free before reuse */
    pg->cls = (uint8_t)cls;
    pg->npages = (uint8_t)npages;
    pg->owner = owner;
}

int page_extend(struct spage *pg)
{
    uintptr_t bump = page_bump(pg), end = page_end(pg);
    if (bump >= end) return 0;
    /* Thread up to one OS page worth of fresh slots (at least one). */
    uintptr_t stop = bump + SNUG_OSPAGE;
    if (stop > end) stop = end;
    uintptr_t head = (uintptr_t)pg->free;
    uintptr_t last = bump;
    for (uintptr_t s = bump; s < stop; s += pg->bsize) last = s;
    /* Link in address order: bump, bump+bsize, ... last, then the old list. */
    for (uintptr_t s = last;; s -= pg->bsize) {
        *(uintptr_t *)s = enc_link(head, s);
        head = s;
        if (s == bump) break;
    }
    pg->bump = (uint16_t)(last + pg->bsize - page_start(pg));
    pg->free = (void *)head;
    return 1;
}

int page_check(const struct spage *pg, int walk_free)
{
    if (!page_guards_ok(pg)) return snug_check_fail("page guard overwritten (P5)", (uintptr_t)pg);
    if (pg->bsize != class_size(pg->cls) || pg->nslots == 0 || pg->nslots > SPAGE_MAXSLOTS)
        return snug_check_fail("bad page header", (uintptr_t)pg);
    if (page_inv(pg) != (uint32_t)((((uint64_t)1 << 32) + pg->bsize - 1) / pg->bsize))
        return snug_check_fail("page reciprocal damaged", (uintptr_t)pg);
    if (page_end(pg) > (uintptr_t)pg + pg->npages * SNUG_OSPAGE - SNUG_WORD)
        return snug_check_fail("page slot area out of bounds", (uintptr_t)pg);
    if (page_bump(pg) > page_end(pg) || pg->bump % pg->bsize)
        return snug_check_fail("bump pointer off a slot boundary (P3)", (uintptr_t)pg);
    unsigned pop = 0;
    for (unsigned w = 0; w < 4; w++) pop += (unsigned)__builtin_popcountll(pg->bits[w]);
    if (pop != pg->used) return snug_check_fail("used count differs from bitmap (P1)", (uintptr_t)pg);
    unsigned below = (unsigned)(pg->bump / pg->bsize);
    for (unsigned i = below; i < pg->nslots; i++)
        if (bit_get(pg, i)) return snug_check_fail("slot above bump marked allocated (P3)", (uintptr_t)pg);
    if (!walk_free) return 0;
    unsigned nfree = 0;
    for (uintptr_t b = (uintptr_t)pg->free; b; b = enc_link(*(uintptr_t *)b, b)) {
        long i = page_slot(pg, b);
        if (i < 0 || b >= page_bump(pg)) return snug_check_fail("free list link outside the page (P2)", (uintptr_t)pg);
        if (bit_get(pg, (unsigned)i)) return snug_check_fail("allocated slot on the free list (P1/P2)", (uintptr_t)pg);
        if (++nfree > below) return snug_check_fail("free list has a cycle (P2)", (uintptr_t)pg);
    }
    if (nfree + pg->used != below) return snug_check_fail("slots lost: free + used != touched (P3)", (uintptr_t)pg);
    return 0;
}
