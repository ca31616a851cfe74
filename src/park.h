/* park.h - parked blocks: while the process has one thread, a freed medium
 * block of up to PARK_MAX bytes waits on a LIFO list for a malloc of its exact
 * size instead of coalescing at once.  Inline (the malloc and free paths);
 * park.c makes every parked block rejoin the heap.  Lock held (fit_private.h).
 * Why, and what makes parked blocks rejoin: DESIGN.md, "Parked blocks";
 * invariant K1 there. */
#ifndef SNUG_PARK_H
#define SNUG_PARK_H
#include "bins.h"

static inline fblock *park_next(const fblock *f) { return fb_link(f, f->next_enc, LINK_PARK); }
static inline unsigned park_index(size_t sz) { return (unsigned)(sz >> 4) % NPARK; }

/* Park allocated block b (head h, just checked): 0 when it must be freed now
 * (it is too big; its list's parked blocks went unused lately; or the lists
 * are full).  A block next to the top is parked too (a malloc and free of one
 * size at the top of the heap no longer carve and merge the top each time):
 * a large free block that a parked block keeps from the top makes the parked
 * blocks rejoin the heap at once (trim_after, fit_private.h). */
static inline __attribute__((always_inline)) int park_put(uintptr_t b, uint64_t h)
{
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    unsigned q = park_index(sz);
    uintptr_t n = b + sz;
    if (sz > PARK_MAX) return 0;
    if (fit->park_credit[q] < 0) {
        fit->park_credit[q]++;
        return 0;
    }
    if (fit->park_n >= PARK_CAP || fit->park_bytes + sz > PARK_BYTES) return 0;
    (void)blk_head(n);                  /* an overflow into the next head is caught here, as at free */
    fblock *f = (fblock *)b;
    f->next_enc = link_enc(f, fit->park[q], LINK_PARK);
    blk_set_head(b, (h & ~BLK_ROOMY) | BLK_FREED);
    fit->park[q] = f;
    fit->park_bits[q / 64] |= (uint64_t)1 << (q % 64);
    fit->park_n++;
    fit->park_bytes += sz;
    SNUG_ASSERT(blk_parked(blk_head(b)), "K1 (parked)", b);
    return 1;
}

/* Unpark the first block of non-empty list q, allocated again (its head checked). */
static inline __attribute__((always_inline)) uintptr_t park_pop(unsigned q, uint64_t h)
{
    fblock *f = fit->park[q];
    uintptr_t b = (uintptr_t)f;
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    if (SNUG_UNLIKELY(!blk_parked(h) || park_index(sz) != q))
        blk_corrupt(b);
    if (!(fit->park[q] = park_next(f))) fit->park_bits[q / 64] &= ~((uint64_t)1 << (q % 64));
    blk_set_head(b, h & ~BLK_FREED);
    fit->park_n--;
    fit->park_bytes -= sz;
    return b;
}

/* A parked block of exactly `need` bytes, taken back; 0 when its list's first is not one. */
static inline __attribute__((always_inline)) uintptr_t park_take(size_t need)
{
    unsigned q = park_index(need);
    if (!fit->park[q] || (size_t)(blk_head_known((uintptr_t)fit->park[q]) & ~BLK_FLAGS) != need) return 0;
    uint64_t h = blk_head((uintptr_t)fit->park[q]);      /* (checked: it is taken) */
    if (fit->park_credit[q] < PARK_CREDIT_MAX) fit->park_credit[q] += PARK_GAIN;
    return park_pop(q, h);
}
#endif
