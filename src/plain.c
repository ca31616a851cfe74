/* plain.c - the plain allocator (plain.h): small requests to the thread's heap,
 * medium ones to the fit allocator, large ones to their own mapping, and the frees
 * the entry points' fast path leaves.  Any pointer is classified by the region it
 * lies in and that region's page map, never by bytes the program could have
 * overwritten.  Calls only down (heaps, fit allocator, large blocks, guard pool). */
#include "plain.h"
#include "tuning.h"
#include "error.h"
#include "guard.h"
#include "large.h"
#include "live.h"
#include "mcache.h"
#include "options.h"
#include <errno.h>


/* The small and large cases of snug_plain_alloc, out of line so the medium path
 * keeps no registers it does not use. */
static __attribute__((noinline)) void *small_alloc(size_t n, int secure)
{
    plain_reclaim_poll();               /* (a thread's first small malloc: the process has threads) */
    struct heap *h = secure ? NULL : heap_get();
    return h ? heap_alloc_small(h, n) : heap_fallback_alloc(n);
}

static __attribute__((noinline)) void *large_alloc_any(size_t n, size_t align, int secure)
{
    /* Memory already held first: a mapping a freed large block left, a free
     * heap top; a new mapping last.  When the kernel refuses it: once more
     * after snug gave back what it keeps, then a block from the heap's free
     * memory (or its growth), as a medium one (in secure mode too, without
     * guard pages: its trailer and canaries are still checked at free). */
    int saved = errno;
    void *p = secure ? NULL : large_reuse(n, align);
    if (!p && !secure && align <= SNUG_ALIGN) p = snug_fit_from_top(n);
    if (!p) p = large_alloc(n, align, secure);
    if (!p && snug_os_give_back() && !(p = large_alloc(n, align, secure)))
        p = snug_fit_malloc(n, align);
    if (p) errno = saved;               /* (a success after a refusal leaves it as it was) */
    if (p) live_sample(snug_tl_heap);
    plain_reclaim_poll();
    return p;
}

__attribute__((noinline)) void *snug_plain_medium_sampled(size_t n, size_t align)
{
    void *p = snug_fit_malloc(n, align);
    live_sample(snug_tl_heap);
    large_cache_poll();
    plain_reclaim_poll();
    return p;
}

/* Everything but the small fast path.  `secure` allocations (the secure layer's)
 * never use a thread heap, so in secure mode the fast paths are never taken. */
void *snug_plain_alloc(size_t n, size_t align, int secure)
{
    if (n > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    if (n <= SNUG_SMALL_MAX && align <= SNUG_ALIGN) return small_alloc(n, secure);
    if (n >= snug_opt.mmap_threshold || align > ALIGN_TO_LARGE) return large_alloc_any(n, align, secure);
    struct heap *h = snug_tl_heap;
    if (SNUG_UNLIKELY(h && h->mc) && align <= SNUG_ALIGN && !secure) {
        void *c = mcache_pop(h->mc, n);
        if (c) return c;
    }
    return plain_medium(n, align);
}

int snug_plain_is_small(const void *p) { return addr_page((uintptr_t)p) > ADDR_MEDIUM; }

/* A small block, off the fast path: the page header checked in full, then a
 * free of the calling thread's own page (remote frees may be pending on it)
 * or a remote free to its owner. */
static void small_free_checked(struct spage *pg, void *p)
{
    page_verify(pg);
    struct heap *h = snug_tl_heap;
    if (h && pg->owner == h) {
        heap_free_local(h, pg, p, 0);
        return;
    }
    /* A thread that frees other threads' blocks without allocating any (a
     * consumer) gets a heap too: its frees then go in batches, and its byte
     * counts stay its own until it publishes (a heapless free costs two
     * atomics on the meter's line and one on the owner's list). */
    if (!h && !snug_opt.secure) (void)heap_get();
    heap_free_remote(pg, p);
}

void snug_plain_free(void *p)
{
    uintptr_t a = addr_page((uintptr_t)p);
    if (SNUG_LIKELY(a > ADDR_MEDIUM)) {
        small_free_checked((struct spage *)a, p);
        return;
    }
    if (a == ADDR_MEDIUM) snug_fit_free(p);          /* the secure layer's blocks: no cache */
    else if (!large_free(p)) snug_fatal("free(): invalid pointer", p, 0);
}

/* A thread cache for h, made now.  Statistics read h->mc from other threads
 * (with acquire): the zeroed cache is published with release. */
static struct mcache *cache_make(struct heap *h)
{
    struct mcache *mc = mcache_new();
    if (mc) __atomic_store_n(&h->mc, mc, __ATOMIC_RELEASE);
    return mc;
}

/* A medium block goes to the thread's cache when it has or should have one,
 * else straight back to the fit allocator. */
static void medium_free(void *p)
{
    struct heap *h = snug_tl_heap;
    if (h && h->mc) {
        if (mcache_push(h->mc, p)) return;
    } else if (h && plain_cache_wanted() && cache_make(h) != NULL && mcache_push(h->mc, p)) {
        return;                         /* (a thread with no heap gets none for this: an exiting thread's frees) */
    }
    snug_fit_free(p);
}

__attribute__((noinline)) void snug_plain_free_other(void *p, uintptr_t a)
{
    if (SNUG_LIKELY(a == ADDR_MEDIUM)) {
        medium_free(p);
        return;
    }
    if (a > ADDR_MEDIUM) {
        small_free_checked((struct spage *)a, p);
        return;
    }
    if (!p) return;
    if (guard_has(p)) guard_free(p, __builtin_return_address(0));   /* (reached by tail calls) */
    else if (!large_free(p)) snug_fatal("free(): invalid pointer", p, 0);
}

/* Usable size of p, fatal when p is not a live block snug handed out. */
size_t snug_plain_usable(const void *p, const char *op)
{
    uintptr_t a = addr_page((uintptr_t)p);
    if (a > ADDR_MEDIUM) {
        struct spage *pg = (struct spage *)a;
        page_verify(pg);
        long i = page_slot(pg, (uintptr_t)p);
        if (i < 0) snug_fatal(op, p, 0);
        uint64_t word = snug_load64(&pg->bits[i >> 6]);
        if (!((word >> (i & 63)) & 1)) snug_fatal_freed(op, p, pg->bsize);
        return pg->bsize;
    }
    if (a == ADDR_MEDIUM) return snug_fit_validate(p, op);
    if (guard_has(p)) return guard_usable(p, op);
    size_t u = large_usable(p, op);
    if (!u) snug_fatal(op, p, 0);
    return u;
}

int snug_plain_trim(size_t pad)
{
    struct heap *h = snug_tl_heap;
    heap_remote_flush();                /* (the frees this thread holds back for other heaps) */
    if (h) {                            /* the frees other threads queued, then the pages they emptied: */
        drain_remote(h);                /* empty pages may free a top that trims at once */
        heap_release_empty(h);
    }
    heap_collect_parked();
    int released = large_cache_drop();
    released |= snug_fit_trim(pad);
    return released;
}

/* The calling thread's empty pages and cached blocks, parked heaps' pages, kept
 * large mappings, parked blocks, waiting tops.  (Other live threads' kept pages
 * stay theirs: each gives them back at its own next failure.) */
void snug_plain_give_back(void)
{
    heap_give_back();
    large_cache_drop();
    snug_fit_trim(0);
}
