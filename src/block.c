/* block.c - the records block.h declares: the list of regions, region 0's view,
 * and the classifier's and the head check's out-of-line halves.  Written by the
 * fit allocator (region.c) under its lock, read by anyone without it. */
#include "block.h"
#include "error.h"

struct region *_Atomic snug_regions;
struct region0_view snug_r0;
struct region *_Atomic *snug_rtab;
int snug_regions_unlisted;

uintptr_t addr_page_slow(uintptr_t a)
{
    struct region *r = region_of(a);
    if (!r) return ADDR_NONE;
    unsigned k = region_kind(r, a);
    return k ? page_of_kind(a, k) : ADDR_MEDIUM;
}

void blk_corrupt(uintptr_t b)
{
    snug_fatal("heap block head overwritten (overflow from the block before it?) at", (void *)(b + WORD), 0);
}
