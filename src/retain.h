/* retain.h - how much freed memory a layer may keep at once while the program
 * cycles through it (the heap top's trim, the kept large mappings).  It starts
 * at decay_max; a program that asks for memory again within decay_ms of a cut
 * that gave some back raises it by twice what was cut, and at least doubles
 * it (it was cycling through that memory, not done with it), up to
 * RETAIN_MAX; a wait that ends with nothing reused halves it.
 * What is kept still goes back after decay_ms unused.  The caller's lock
 * guards the record. */
#ifndef SNUG_RETAIN_H
#define SNUG_RETAIN_H
#include "options.h"
#include "tuning.h"
#include <stdint.h>


struct retain {
    size_t keep;            /* the bound, once it has grown past decay_max */
    size_t cut;             /* bytes the last cuts gave back (or refused to keep) */
    uint64_t cut_at;        /* when the last one was, in ms (0: no cut lately) */
};

static inline size_t retain_keep(const struct retain *r)
{
    return r->keep > snug_opt.decay_max ? r->keep : snug_opt.decay_max;
}
/* bytes went back to the kernel at `now` because of the bound.  Cuts less
 * than decay_ms apart add up: a heap freed in a shuffled order reaches its
 * top a piece at a time, and each piece beyond the bound was a cut of its
 * own (regrow's 48 MiB phases: 13 cuts of 1-16 MiB), so the bound grew by
 * the last piece only and the next phase was cut again, and faulted in. */
static inline void retain_cut(struct retain *r, size_t bytes, uint64_t now)
{
    r->cut = r->cut_at && now - r->cut_at < snug_opt.decay_ms ? r->cut + bytes : bytes;
    r->cut_at = now ? now : 1;
}
/* The layer needs new memory from the kernel at `now`.  Twice the cut: the
 * next cycle's free top is rarely the last one's (a heap rebuilt after a
 * shuffled free fragments differently), and one cut too few costs a cycle's
 * faults again (regrow, 40 phases of 48 MiB: with the cut once, its second
 * phase was cut by 28 MiB more; 37,070 minor faults, 30,260 with it twice,
 * 0.76 -> 0.58 s on this machine, where a fault costs about 10 us). */
static inline void retain_regrow(struct retain *r, uint64_t now)
{
    if (!r->cut_at || now - r->cut_at >= snug_opt.decay_ms) return;
    size_t k = retain_keep(r), more = k + (r->cut < RETAIN_MAX ? 2 * r->cut : RETAIN_MAX);   /* (no wrap on 32-bit) */
    if (more < 2 * k) more = 2 * k;
    r->keep = more < RETAIN_MAX ? more : RETAIN_MAX;
    r->cut_at = 0;
}
/* A wait ended with nothing reused. */
static inline void retain_idle(struct retain *r) { r->keep = retain_keep(r) / 2; }
#endif
