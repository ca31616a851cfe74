/* reclaim.c - the reclaimer thread.  Waits end on the allocator's own calls
 * (region.c's decay and purge, large.c's kept mappings, frees queued on an
 * exited thread's heap), so a program that stops
 * calling it keeps what waits.  In a process with threads (where every fit call
 * takes the fit lock anyway) one more thread ends the waits on time: it is
 * started by one of malloc's slower paths once the process has threads,
 * outside every lock of snug's, and never by a free (plain.h: glibc frees a
 * joined thread's TLS under its own thread-stack lock); it sleeps on a futex while
 * nothing waits, and otherwise wakes twice per decay_ms to take the fit and
 * large locks for one round.  It never allocates, holds no lock while it
 * sleeps, and has all signals blocked.  A single-threaded process never gets
 * one: a thread of snug's would make glibc take every process for threaded
 * (__libc_single_threaded) and cost its lock-free fit paths. */
#include "reclaim.h"
#include "config.h"
#include "fit.h"
#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RECLAIM_STACK (64u * 1024u)

static void nap_ms(size_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void *reclaimer(void *arg)
{
    (void)arg;
    for (;;) {
        int any = heap_reclaim_parked();          /* (first: the pages it empties go to the fit allocator) */
        any |= snug_fit_reclaim();
        any |= large_cache_poll();
        if (any) {
            atomic_store_explicit(&snug_os_waiting, 0, memory_order_relaxed);
            size_t ms = snug_opt.decay_ms / 2;
            nap_ms(ms ? ms : 1);
            continue;
        }
        /* Nothing waits: sleep until a wait begins (snug_os_wait_begun wakes
         * a sleeper it finds at 2; a wait that began since the round is 1). */
        if (atomic_exchange_explicit(&snug_os_waiting, 2, memory_order_acq_rel) == 1) continue;
        syscall(SYS_futex, &snug_os_waiting, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    }
    return NULL;
}

void snug_reclaim_start(void)
{
    atomic_store_explicit(&snug_os_wait_new, 0, memory_order_relaxed);
    if (__libc_single_threaded || !snug_opt.background || !snug_opt.decay_ms ||
        atomic_load_explicit(&snug_os_reclaimer, memory_order_relaxed) == SNUG_RECLAIMER_RUNS ||
        atomic_exchange_explicit(&snug_os_reclaimer, SNUG_RECLAIMER_RUNS, memory_order_acq_rel) == SNUG_RECLAIMER_RUNS)
        return;
    int saved = errno;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, RECLAIM_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);       /* the thread starts with every signal blocked */
    int rc = pthread_create(&t, &attr, reclaimer, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0) pthread_setname_np(t, "snug-reclaim");
    /* (on failure the reclaimer stays marked as started: waits end on calls, as before) */
    errno = saved;
}

void snug_reclaim_fork_child(void)
{
    /* The child of a process with threads (often about to exec) starts one only
     * when a wait begins; a single-threaded process's child is any process. */
    atomic_store_explicit(&snug_os_reclaimer, __libc_single_threaded ? SNUG_RECLAIMER_NONE : SNUG_RECLAIMER_ON_WAIT,
                          memory_order_relaxed);
    atomic_store_explicit(&snug_os_waiting, 0, memory_order_relaxed);
    atomic_store_explicit(&snug_os_wait_new, 0, memory_order_relaxed);
}
