/* lock.h - the one lock type snug uses: a small test-and-test-and-set spinlock
 * that yields to the scheduler under contention, alone on its cache line. No
 * allocation, fork-safe by re-initialisation in the child. */
#ifndef SNUG_LOCK_H
#define SNUG_LOCK_H
#include "config.h"
#include <stdatomic.h>
#include <sched.h>

static inline void snug_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

typedef struct { atomic_int v; } SNUG_OWN_LINE snug_lock_t;
#define SNUG_LOCK_INIT { 0 }

/* Returns 1 when the lock was held by someone else first (it had to wait). */
static inline int snug_lock(snug_lock_t *l)
{
    for (int waited = 0;; waited = 1) {
        if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire)) return waited;
        for (int spins = 0; atomic_load_explicit(&l->v, memory_order_relaxed); spins++) {
            if (spins > 64) { sched_yield(); spins = 0; }
            else snug_cpu_relax();
        }
    }
}
static inline void snug_unlock(snug_lock_t *l) { atomic_store_explicit(&l->v, 0, memory_order_release); }
static inline void snug_lock_reset(snug_lock_t *l) { atomic_store_explicit(&l->v, 0, memory_order_relaxed); }
#endif
