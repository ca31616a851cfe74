/* guard.h - sampled guarded allocations: about one malloc in sample_rate goes
 * alone into a slot of the guard pool, against a PROT_NONE page, and its slot
 * stays PROT_NONE a while after free, so an overflow, underflow or use after
 * free of it stops the program with one line naming the block (guard.c). */
#ifndef SNUG_GUARD_H
#define SNUG_GUARD_H
#include "config.h"
#include "relaxed.h"
#include <stdatomic.h>

/* The pool's address range; both 0 until the pool is made.  (len is written
 * last, so a reader that sees it sees base.) */
extern struct guard_range { uintptr_t base; _Atomic uintptr_t len; } guard_range;

/* A countdown of allocations to the next sample, kept by its user (a thread
 * heap's for small blocks, the thread's for the rest): the allocation that
 * takes left to 0 calls guard_alloc.  armed: the value it started from, 0
 * before the first start (left is then 1). */
struct guard_countdown { unsigned left, armed; };
#define GUARD_COUNTDOWN_INIT { 1, 0 }
/* Allocations counted down since the countdown started (the one that took it to 0 included). */
static inline unsigned guard_counted(unsigned left, unsigned armed) { return (armed ? armed : 1) - left; }

/* Restarts *cd and returns the sampled block of n bytes aligned to align (up
 * to a page), its caller pc recorded; or NULL when this one is not sampled
 * after all (a countdown's first start, in which none of the next
 * sample_rate allocations is sampled; sampling off; too big; the pool full
 * or unavailable): the caller then allocates as usual. */
void *guard_alloc(size_t n, size_t align, const void *pc, struct guard_countdown *cd);

/* Is p in the pool?  A range compare, no lock. */
static inline int guard_has(const void *p)
{
    uintptr_t len = atomic_load_explicit(&guard_range.len, memory_order_acquire);   /* then base */
    return (uintptr_t)p - snug_rload(&guard_range.base) < len;
}
/* Free p, a pointer guard_has accepts (fatal unless it is a live sampled block). */
void   guard_free(void *p, const void *pc);
/* Usable size of a live sampled block (the request), fatal otherwise, with op
 * naming the call. */
size_t guard_usable(const void *p, const char *op);

/* Live sampled blocks and their bytes (as requested), read without the lock. */
void   guard_totals(size_t *blocks, size_t *bytes);
extern _Atomic size_t guard_live_bytes;
static inline size_t guard_bytes_now(void) { return atomic_load_explicit(&guard_live_bytes, memory_order_relaxed); }

/* The fork child puts right what other threads left halfway (no lock to take). */
void guard_fork_child(void);
#endif
