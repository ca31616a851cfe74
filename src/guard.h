/* guard.h - sampled guarded allocations: about one malloc in sample_rate goes
 * alone into a slot of the guard pool, against a PROT_NONE page, and its slot
 * stays PROT_NONE a while after free, so an overflow, underflow or use after
 * free of it stops the program with one line naming the block (guard.c). */
#ifndef SNUG_GUARD_H
#define SNUG_GUARD_H
#include "config.h"
#include <stdatomic.h>

/* The pool's address range; both 0 until the pool is made.  (len is written
 * last, so a reader that sees it sees base.) */
extern struct guard_range { uintptr_t base; _Atomic uintptr_t len; } guard_range;

/* The caller counts allocations down in *left (a thread-local counter, 1 in
 * a new thread) and calls this when it reaches 0.  Sets *left to the
 * allocations until the next sample and returns the sampled block of n bytes
 * aligned to align (up to a page), its caller pc recorded; or NULL when this
 * one is not sampled after all (a thread's first call, which only sets the
 * countdown; sampling off; too big; the pool full or unavailable): the caller
 * then allocates as usual. */
void *guard_alloc(size_t n, size_t align, const void *pc, unsigned *left);

/* Is p in the pool?  A range compare, no lock. */
static inline int guard_has(const void *p)
{
    return (uintptr_t)p - guard_range.base < atomic_load_explicit(&guard_range.len, memory_order_relaxed);
}
/* Free p, a pointer guard_has accepts (fatal unless it is a live sampled block). */
void   guard_free(void *p, const void *pc);
/* Usable size of a live sampled block (the request), fatal otherwise, with op
 * naming the call. */
size_t guard_usable(const void *p, const char *op);

/* Live sampled blocks and their bytes (as requested), read without the lock. */
void   guard_totals(size_t *blocks, size_t *bytes);

void guard_fork_prepare(void);
void guard_fork_parent(void);
void guard_fork_child(void);     /* (the caller sets the thread's countdown back to 1) */
#endif
