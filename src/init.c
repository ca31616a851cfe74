/* init.c - start-up, fork handling and the exhaustion hook: what reaches every
 * layer below the entry points.  Start-up takes one lock and touches only sbrk/mmap,
 * getauxval and pthread key/atfork registration (none of which allocate).  Fork
 * takes every snug lock in the global order, so the child inherits a consistent
 * heap and can allocate at once. */
#include "init.h"
#include "fit.h"
#include "guard.h"
#include "heap.h"
#include "large.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "plain.h"
#include "reclaim.h"
#include "secure.h"
#include <pthread.h>

atomic_int snug_ready;
static snug_lock_t init_lock = SNUG_LOCK_INIT;

static void fork_prepare(void)
{
    secure_fork_prepare();        /* quarantine, zero-size addresses */
    heap_fork_prepare();          /* heaps_lock, fallback_lock */
    snug_fit_lock_all();          /* fit lock */
    large_fork_prepare();         /* large lock */
}
static void fork_parent(void)
{
    large_fork_parent();
    snug_fit_unlock_all();
    heap_fork_parent();
    secure_fork_parent();
}
static void fork_child(void)
{
    guard_fork_child();
    large_fork_child();
    snug_fit_reset_locks();
    heap_fork_child();
    secure_fork_child();
    snug_reclaim_fork_child();
}

/* Exhaustion (os.h): everything snug keeps for reuse goes back to the layers
 * below, and whatever of it lies at a region's top to the kernel: the quarantine
 * (secure mode), then what the plain allocator keeps (plain.c). */
static void give_back_all(void)
{
    if (snug_opt.secure) secure_flush();
    snug_plain_give_back();
}

int snug_init_slow(void)
{
    snug_lock(&init_lock);
    if (atomic_load(&snug_ready)) { snug_unlock(&init_lock); return 0; }
    snug_os_init_secret();
    snug_options_init();
    if (snug_fit_init() != 0 || heap_init() != 0) { snug_unlock(&init_lock); return -1; }
    snug_os_on_exhausted(give_back_all);
    atomic_store_explicit(&snug_ready, 1, memory_order_release);
    snug_unlock(&init_lock);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    return 0;
}
