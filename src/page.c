/* page.c - setting up small pages (allocation bitmap, guards, slot divisor) and the
 * slow half of taking a slot; a fresh page is filled in address order, so it
 * touches only the memory it hands out. */
#include "page.h"
#include "tuning.h"
#include "sizeclass.h"
#include <string.h>

unsigned page_slots_for(unsigned npages, size_t bsize)
{
    size_t n = (npages * SNUG_OSPAGE - SNUG_WORD - SPAGE_HDR) / bsize;
    return n > SPAGE_MAXSLOTS ? SPAGE_MAXSLOTS : (unsigned)n;
}

unsigned page_pages_for(size_t bsize)
{
    for (unsigned k = 1; k < 4; k *= 2)
        if ((k * SNUG_OSPAGE - page_slots_for(k, bsize) * bsize) * PAGE_WASTE_SHARE <= k * SNUG_OSPAGE) return k;
    return 4;
}

unsigned page_pages_dense(size_t bsize)
{
    unsigned best = 1;
    for (unsigned k = 2; k <= 4; k *= 2)          /* n/k slots per OS page: the most wins, ties the smaller */
        if (page_slots_for(k, bsize) * best > page_slots_for(best, bsize) * k) best = k;
    return best;
}

void page_init(struct spage *pg, struct heap *owner, unsigned cls, unsigned npages)
{
    size_t bsize = class_size(cls);
    size_t n = page_slots_for(npages, bsize);
    memset(pg, 0, sizeof *pg);
    unsigned shift;
    pg->inv = page_inv_for(bsize, &shift);
    pg->shift = (uint8_t)shift;
    pg->head_guard = page_head_guard(pg);
    pg->bsize = (uint16_t)bsize;
    pg->nslots = (uint32_t)n;
    pg->area = (uint16_t)(n * bsize);
    pg->relist = RELIST_EMPTY;                              /* set when the page fills */
    pg->cls = (uint8_t)cls;
    pg->npages = (uint8_t)npages;
    for (unsigned w = 0; w < 4; w++) {                      /* no such slots: never free */
        size_t lo = (size_t)w * 64;
        pg->bits[w] = n <= lo ? ~(uint64_t)0 : n >= lo + 64 ? 0 : ~(uint64_t)0 << (n - lo);
    }
    pg->key = pg->front_key = page_key(pg, heap_key_of(owner));
    /* The owner last: a fork child rebuilds only pages whose owner is set. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pg->owner = owner;
}

int page_check(const struct spage *pg, int mine)
{
    if (!page_guards_ok(pg)) return snug_check_fail("page guard overwritten (P4)", (uintptr_t)pg);
    if (pg->bsize != class_size(pg->cls) || pg->nslots == 0 || pg->nslots > SPAGE_MAXSLOTS ||
        pg->area != pg->nslots * pg->bsize)
        return snug_check_fail("bad page header", (uintptr_t)pg);
    unsigned shift;
    if (pg->inv != page_inv_for(pg->bsize, &shift) || pg->shift != shift)
        return snug_check_fail("page slot divisor damaged", (uintptr_t)pg);
    if (page_end(pg) > (uintptr_t)pg + pg->npages * SNUG_OSPAGE - SNUG_WORD)
        return snug_check_fail("page slot area out of bounds", (uintptr_t)pg);
    if (!mine) return 0;
    unsigned pop = 0;
    for (unsigned w = 0; w < 4; w++) pop += (unsigned)__builtin_popcountll(pg->bits[w]);
    if (pop != (unsigned)pg->used + SPAGE_MAXSLOTS - pg->nslots) return snug_check_fail("used count differs from bitmap (P1)", (uintptr_t)pg);
    for (unsigned i = pg->nslots; i < SPAGE_MAXSLOTS; i++)
        if (!bit_get(pg, i)) return snug_check_fail("a slot past the end is marked free (P1)", (uintptr_t)pg);
    if (pg->hint >= 4) return snug_check_fail("bitmap hint out of range (P2)", (uintptr_t)pg);
    for (unsigned k = 0; k < pg->hint; k++)
        if (pg->bits[k] != ~(uint64_t)0) return snug_check_fail("free slot before the bitmap hint (P2)", (uintptr_t)pg);
    return 0;
}
