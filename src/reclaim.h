/* reclaim.h - the reclaimer: in a process with threads, memory waiting to go
 * back to the kernel goes back after decay_ms even when no thread calls the
 * allocator again (an idle server after a burst). */
#ifndef SNUG_RECLAIM_H
#define SNUG_RECLAIM_H

/* A wait began and no reclaimer runs: start one if the process has threads
 * (and the option allows).  Call with no snug lock held: it creates a thread,
 * and pthread_create allocates. */
void snug_reclaim_start(void);
void snug_reclaim_fork_child(void);     /* the child has no reclaimer */
#endif
