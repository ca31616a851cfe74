/* counts.h - the statistics build's event counts (make COUNTS=1 or build/libsnug-counts.so,
 * -DSNUG_COUNTS): operations, lock acquisitions and waits, atomic RMWs on shared lines and
 * OS calls, for issue 21's model of scaling.  Without SNUG_COUNTS every macro here is empty. */
#ifndef SNUG_COUNTS_H
#define SNUG_COUNTS_H
#include "config.h"

/* The events counted outside the locks (a lock counts its own, lock.h). */
enum snug_count_event {
    SNUG_C_OPS,         /* malloc, calloc, realloc, memalign and free calls (alloc.c) */
    /* atomic RMWs on words more than one thread writes: */
    SNUG_C_RMW_REMOTE,  /* a remote free's CAS, the owner's exchange that drains them */
    SNUG_C_RMW_METER,   /* the live-bytes meter's publishes and peak (meter.h, live.c) */
    SNUG_C_RMW_OTHER,   /* the OS byte count, parked frees, the reclaimer's wake, a thread's
                         * claims of a parked heap and of an arena */
    SNUG_C_MMAP,
    SNUG_C_MUNMAP,
    SNUG_C_MREMAP,
    SNUG_C_MADVISE,
    SNUG_C_BRK,         /* sbrk calls that move the break */
    SNUG_C_NEVENTS
};

#ifdef SNUG_COUNTS
/* Adds n to event e: a relaxed add on the calling thread's shard (one line per shard). */
SNUG_INTERNAL void snug_count_add(enum snug_count_event e, unsigned long n);
/* A lock's first acquisition names it (lock.h; called with the lock held). */
SNUG_INTERNAL void snug_count_lock_seen(void *lock, const char *name);
#define SNUG_COUNT(e)      snug_count_add((e), 1)
#define SNUG_COUNT_N(e, n) snug_count_add((e), (n))
#else
#define SNUG_COUNT(e)      ((void)0)
#define SNUG_COUNT_N(e, n) ((void)0)
#endif
#endif
