/* park.h - parked blocks: while the process has one thread, a freed medium
 * block of up to PARK_MAX bytes waits on a LIFO list for a malloc of its exact
 * size instead of coalescing at once.  Inline (the malloc and free paths);
 * park.c makes every parked block rejoin the heap.  Lock held (fit_private.h).
 *
 * Neither the free nor the malloc that takes a parked block back pays for
 * bins, splits and merges, and the block is likely still in the cache.  Any
 * other malloc (and an aligned or page request, a metadata block, a trim, a
 * realloc growing into a parked neighbour) first makes every parked block
 * rejoin the heap, freed and coalesced as usual, so every search sees the heap
 * immediate coalescing would have left and the heap grows no sooner; at most
 * PARK_CAP blocks and PARK_BYTES wait (tuning.h).  A list whose parked blocks
 * rejoin unused loses credit (a taken one gains it); below zero its frees are
 * not parked, one more each time, until it is back at zero: sizes that do not
 * recur (the coalescing trace) stop paying for parking.
 * A parked block stays allocated in the layout's eyes (INUSE, with FREED: a
 * second free of it is seen), so its neighbours do not merge with it, and it
 * links through its first payload word (a hashed link, checked when followed).
 * Invariant K1 (DESIGN.md): a block is parked exactly when its head has INUSE
 * and FREED, and it is then once on list park_index(size); park_bits, park_n
 * and park_bytes agree with the lists. */
#ifndef SNUG_PARK_H
#define SNUG_PARK_H
#include "bins.h"

static inline fblock *park_next(const fblock *f) { return fb_link(f, f->next_enc, LINK_PARK); }
static inline unsigned park_index(size_t sz) { return (unsigned)(sz >> 4) % NPARK; }
static inline int blk_parked(uint64_t h) { return (h & (BLK_INUSE | BLK_FREED)) == (BLK_INUSE | BLK_FREED); }

/* Park allocated block b (head h, just checked): 0 when it must be freed now
 * (it is too big; it would join the top, where parked it would keep the free
 * space below it from the top and from the kernel; its list's parked blocks
 * went unused lately; or the lists are full). */
static inline __attribute__((always_inline)) int park_put(uintptr_t b, uint64_t h)
{
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    unsigned q = park_index(sz);
    uintptr_t n = b + sz;
    if (sz > PARK_MAX || n == fit->top || n == fit->last_sent) return 0;   /* (release reads n's head) */
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
    if (!fit->park[q] || (size_t)(blk_known((uintptr_t)fit->park[q]) & ~BLK_FLAGS) != need) return 0;
    uint64_t h = blk_head((uintptr_t)fit->park[q]);      /* (checked: it is taken) */
    if (fit->park_credit[q] < PARK_CREDIT_MAX) fit->park_credit[q] += PARK_GAIN;
    return park_pop(q, h);
}
#endif
