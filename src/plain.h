/* plain.h - the plain allocator: small requests to the thread's heap, medium ones to
 * the fit allocator (or the thread's cache), large ones to their own mappings, and
 * every free but the fast path's.  The secure layer (secure.c) wraps it and calls
 * down into it; the entry points (alloc.c) choose secure or plain once per call. */
#ifndef SNUG_PLAIN_H
#define SNUG_PLAIN_H
#include "config.h"
#include "fit.h"
#include "heap.h"
#include "os.h"
#include "reclaim.h"
#include "options.h"
#include <sys/single_threaded.h>

/* A block of n bytes aligned to align, or NULL with errno.  secure: a request of
 * the secure layer's, which never uses a thread heap, a kept mapping or a free
 * heap top, and whose large blocks get guard pages. */
void  *snug_plain_alloc(size_t n, size_t align, int secure);
/* Free p, any block snug handed out; for the secure layer (its blocks skip the thread cache). */
void   snug_plain_free(void *p);
/* Every free but a small block of the calling thread's own heap; a = addr_page(p).
 * Reached by tail calls from free: the return address is free's caller (guard.c's report). */
void   snug_plain_free_other(void *p, uintptr_t a);
/* Usable size of p, fatal (naming op) when p is not a live block snug handed out. */
size_t snug_plain_usable(const void *p, const char *op);
int    snug_plain_is_small(const void *p);
/* Empty pages, parked heaps, kept mappings, free tops: back to the kernel where they
 * can go (malloc_trim); 1 when something went back. */
int    snug_plain_trim(size_t pad);
/* Exhaustion: everything the plain allocator keeps for reuse goes back (os.h). */
void   snug_plain_give_back(void);
void  *snug_plain_medium_sampled(size_t n, size_t align);

/* Start the reclaimer (reclaim.c) when a wait began (a free top, free space
 * inside the heap, a kept mapping) and none runs yet, or at once when the
 * process has threads (not in a fork child, which waits for a wait): a wait
 * that begins in a free is then ended on time by it.  Polled on malloc's
 * slower paths only, never in a free: glibc frees a thread's TLS while it
 * holds its thread-stack lock (pthread_join), and a thread created there
 * waits for that lock for good. */
static inline void plain_reclaim_poll(void)
{
    if (SNUG_UNLIKELY(atomic_load_explicit(&snug_os_wait_new, memory_order_relaxed) ||
                      (!__libc_single_threaded && snug_opt.background && snug_opt.decay_ms &&
                       atomic_load_explicit(&snug_os_reclaimer, memory_order_relaxed) == SNUG_RECLAIMER_NONE)))
        snug_reclaim_start();
}

/* Whether the calling thread, which has no medium-block cache, should make one
 * (mcache.h): options thread_cache and thread_cache_after. */
static inline int plain_cache_wanted(void)
{
    size_t mode = snug_opt.thread_cache;       /* (0, 1, 2: options.h) */
    return mode > (size_t)__libc_single_threaded &&
           atomic_load_explicit(&snug_fit_waits.n, memory_order_relaxed) >= snug_opt.thread_cache_after;
}

/* A medium block from the fit allocator.  The live-bytes peak is sampled on
 * every 64th medium malloc of a thread (and on every small page and large
 * block): exact enough, and off the medium path, which is then a tail call. */
static inline __attribute__((always_inline)) void *plain_medium(size_t n, size_t align)
{
    if (SNUG_LIKELY(snug_tl.medium_count++ & 63)) return snug_fit_malloc(n, align);
    return snug_plain_medium_sampled(n, align);
}
#endif
