/* lock.h - the one lock type snug uses: a small test-and-test-and-set spinlock
 * that yields to the scheduler under contention, alone on its cache line. No
 * allocation, fork-safe by re-initialisation in the child. */
#ifndef SNUG_LOCK_H
#define SNUG_LOCK_H
#include "config.h"
#include "counts.h"
#include <stdatomic.h>
#include <sched.h>

static inline void snug_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#ifndef SNUG_COUNTS
typedef struct { atomic_int v; } SNUG_OWN_LINE snug_lock_t;
#else
/* The statistics build: each lock counts its acquisitions and the ones that had to
 * wait, on its own line and with the lock held (plain adds, exact); its name is the
 * text of its first snug_lock's argument ("&fit_lock"). */
typedef struct {
    atomic_int v;
    const char *name;
    unsigned long acquired, waited;
} SNUG_OWN_LINE snug_lock_t;
#endif
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

#ifdef SNUG_COUNTS
static inline int snug_lock_counted(snug_lock_t *l, const char *name)
{
    int waited = snug_lock(l);
    if (SNUG_UNLIKELY(!l->name)) snug_count_lock_seen(l, name);
    __atomic_store_n(&l->acquired, l->acquired + 1, __ATOMIC_RELAXED);
    if (waited) __atomic_store_n(&l->waited, l->waited + 1, __ATOMIC_RELAXED);
    return waited;
}
#define snug_lock(l) snug_lock_counted((l), #l)
#endif
#endif
