/* alloc.c - dispatch: small requests to the thread's heap (lock-free fast path),
 * medium ones to the fit allocator, large ones to their own mapping.  Any
 * pointer is classified by the region it lies in and that region's page map,
 * never by bytes the program could have overwritten. */
#include "alloc.h"
#include "error.h"
#include "fit.h"
#include "guard.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "live.h"
#include "mcache.h"
#include "options.h"
#include "reclaim.h"
#include "secure.h"
#include "snug.h"
#include <errno.h>
#include <string.h>

#define ALIGN_TO_LARGE (64u * 1024u)     /* alignments above this get a mapping */

/* The small and large cases of plain_alloc, out of line so the medium path
 * keeps no registers it does not use. */
static __attribute__((noinline)) void *small_alloc(size_t n, int secure)
{
    struct heap *h = secure ? NULL : heap_get();
    return h ? heap_alloc_small(h, n) : heap_fallback_alloc(n);
}

/* A wait began (a free top, free space inside the heap, a kept mapping) and
 * no reclaimer runs yet: start one, if the process has threads.  Checked
 * where no snug lock is held: before frees, after the slow mallocs. */
static inline void reclaim_poll(void)
{
    if (SNUG_UNLIKELY(atomic_load_explicit(&snug_os_wait_new, memory_order_relaxed))) snug_reclaim_start();
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
    reclaim_poll();
    return p;
}

static __attribute__((noinline)) void *medium_sampled(size_t n, size_t align)
{
    void *p = snug_fit_malloc(n, align);
    live_sample(snug_tl_heap);
    large_cache_poll();
    reclaim_poll();
    return p;
}

/* A medium block from the fit allocator.  The live-bytes peak is sampled on
 * every 64th medium malloc of a thread (and on every small page and large
 * block): exact enough, and off the medium path, which is then a tail call. */
static inline __attribute__((always_inline)) void *medium_fit(size_t n, size_t align)
{
    if (SNUG_LIKELY(snug_tl.medium_count++ & 63)) return snug_fit_malloc(n, align);
    return medium_sampled(n, align);
}

/* Everything but the small fast path.  `secure` allocations (the secure layer's)
 * never use a thread heap, so in secure mode the fast paths are never taken. */
static void *plain_alloc(size_t n, size_t align, int secure)
{
    if (n > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    if (n <= SNUG_SMALL_MAX && align <= SNUG_ALIGN) return small_alloc(n, secure);
    if (n >= snug_opt.mmap_threshold || align > ALIGN_TO_LARGE) return large_alloc_any(n, align, secure);
    struct heap *h = snug_tl_heap;
    if (SNUG_UNLIKELY(h && h->mc) && align <= SNUG_ALIGN && !secure) {
        void *c = mcache_pop(h->mc, n);
        if (c) return c;
    }
    return medium_fit(n, align);
}

static void *alloc_generic(size_t n, size_t align)
{
    if (SNUG_UNLIKELY(snug_ensure_init() != 0)) { errno = ENOMEM; return NULL; }
    if (SNUG_UNLIKELY(snug_opt.secure)) return secure_alloc(n, align);
    return plain_alloc(n, align, 0);
}

void *snug_plain_alloc_secure(size_t n, size_t align) { return plain_alloc(n, align, 1); }

static void *calloc_body(size_t total);

/* The thread's sample (its countdown reached 0; small blocks from a heap have
 * the heap's, heap.h): a block of the guard pool, else as usual.  Reached by
 * tail calls, so the return address is the caller of malloc, calloc or memalign. */
static __attribute__((noinline)) void *sampled(size_t n, size_t align, int zero)
{
    void *p = snug_ensure_init() == 0 ? guard_alloc(n, align, __builtin_return_address(0), &snug_tl.sample) : NULL;
    if (p) return zero ? memset(p, 0, n) : p;
    return zero ? calloc_body(n) : alloc_generic(n, align);
}
int snug_plain_is_small(const void *p) { return addr_page((uintptr_t)p) > ADDR_MEDIUM; }

void *sn_malloc(size_t n)
{
    struct heap *h = snug_tl_heap;
    if (SNUG_LIKELY(h != NULL)) {
        if (SNUG_LIKELY(n <= SNUG_SMALL_MAX)) return heap_alloc_small(h, n);
        if (SNUG_UNLIKELY(--snug_tl.sample.left == 0)) return sampled(n, SNUG_ALIGN, 0);
        /* A medium request straight to the fit allocator (a thread with a
         * heap is past start-up and not in secure mode): plain_alloc's way,
         * without its other cases. */
        if (n < snug_opt.mmap_threshold && !h->mc) return medium_fit(n, SNUG_ALIGN);
    } else if (SNUG_UNLIKELY(--snug_tl.sample.left == 0)) {
        return sampled(n, SNUG_ALIGN, 0);
    }
    return alloc_generic(n, SNUG_ALIGN);
}

/* A small block, off the fast path: the page header checked in full, then a
 * free of the calling thread's own page (remote frees may be pending on it)
 * or a remote free to its owner. */
static void small_free_checked(struct spage *pg, void *p)
{
    page_verify(pg);
    struct heap *h = snug_tl_heap;
    if (h && pg->owner == h) heap_free_local(h, pg, p, 0);
    else heap_free_remote(pg, p);
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

/* A medium block goes to the thread's cache when it has one (threads have
 * been waiting for the fit lock), else straight back to the fit allocator. */
static void medium_free(void *p)
{
    struct heap *h = snug_tl_heap;
    if (SNUG_UNLIKELY(h && h->mc)) {
        if (mcache_push(h->mc, p)) return;
    } else if (SNUG_UNLIKELY(atomic_load_explicit(&snug_fit_waits.n, memory_order_relaxed) >= snug_opt.thread_cache_after) &&
               (h = heap_get()) != NULL && !h->mc && cache_make(h) != NULL && mcache_push(h->mc, p)) {
        return;
    }
    snug_fit_free(p);
}

/* Everything free does besides a small block of the calling thread's own heap. */
static __attribute__((noinline)) void free_other(void *p, uintptr_t a)
{
    reclaim_poll();
    if (SNUG_LIKELY(a == ADDR_MEDIUM && !snug_opt.secure)) {
        medium_free(p);
        return;
    }
    if (a > ADDR_MEDIUM) {
        struct spage *pg = (struct spage *)a;
        if (!snug_opt.secure) small_free_checked(pg, p);
        else {
            page_verify(pg);
            secure_free(p);                         /* secure mode has no thread heaps */
        }
        return;
    }
    if (!p) return;
    if (snug_opt.secure) secure_free(p);
    else if (guard_has(p)) guard_free(p, __builtin_return_address(0));   /* (reached by tail calls) */
    else if (!large_free(p)) snug_fatal("free(): invalid pointer", p, 0);
    reclaim_poll();                     /* (the mapping may be kept: a wait) */
}

/* ---- sized frees -----------------------------------------------------------
 * free_sized, free_aligned_sized and C++ sized delete name the size the block
 * was asked with.  A size that cannot have been the request for p's block ends
 * the program (snug_fatal_size); any that can passes.  The sizes that can:
 *   small slot of bsize b: b/2 .. b (the 16-byte class: 0 .. 16): its class's
 *     requests, and the smaller ones realloc keeps in place (n * 2 >= b);
 *   medium block: up to its usable size, down to what its slack allows
 *     (snug_fit_request_range: 31 bytes, more for roomy and cached blocks);
 *   large block: what it was last asked for (its header keeps it);
 *   secure mode: exactly the request (its trailer keeps it).
 * An aligned one (align > 16) may be smaller by align - 1: C++'s aligned new
 * rounds the size up to the alignment before it calls aligned_alloc; and p
 * must have that alignment.  For a small slot the test is two compares beside
 * free's own work; the rest is out of line, after the block is validated as
 * free would (a freed or foreign pointer is named as such, not as a size). */
static __attribute__((noinline, noreturn, cold)) void sized_wrong(const void *p, size_t n, size_t u, size_t lo,
                                                                  size_t hi, const char *op)
{
    snug_fatal_size(op, p, n, u, lo, hi);
}

static inline size_t small_lo(size_t bsize) { return bsize > SNUG_ALIGN ? bsize / 2 : 0; }
/* The same test, for the fast path: n fits a small slot of bsize b. */
static inline int small_sized_ok(size_t b, size_t n) { return !(n > b || (2 * n < b && b != SNUG_ALIGN)); }
/* A medium block's tight case, read without the lock before free validates
 * it: an intact head in use, and n within a plain malloc's slack of its size
 * (snug_fit_request_range has the rest; a torn read on 32-bit fails the tag). */
static inline int medium_sized_ok(const void *p, size_t n)
{
    uintptr_t b = blk_of_payload(p);
    uint64_t raw = blk_raw_unlocked(b);         /* (no fit lock: a neighbour's free may rewrite its PREV_INUSE bit) */
    uint64_t h = raw & BLK_VALUE;
    size_t u = (size_t)(h & ~BLK_FLAGS) - W;
    return blk_tag_ok(b, raw) && (h & (BLK_INUSE | BLK_FREED | BLK_META | BLK_PAGE)) == BLK_INUSE &&
           u - n <= 2 * SNUG_ALIGN - 1;
}

static void sized_check(const void *p, size_t n, size_t align, const char *op)
{
    if (align > 1 && !(align & (align - 1)) && ((uintptr_t)p & (align - 1))) {
        char msg[96];
        size_t k = 0;
        for (; op[k] && op[k] != ':' && k < 60; k++) msg[k] = op[k];
        for (const char *t = ": wrong alignment for block"; *t; t++) msg[k++] = *t;
        msg[k] = 0;
        snug_fatal(msg, p, 0);
    }
    size_t u, lo, hi;
    uintptr_t a = addr_page((uintptr_t)p);
    if (snug_opt.secure) {
        u = lo = hi = secure_usable(p, op);
    } else if (a > ADDR_MEDIUM) {
        u = hi = snug_plain_usable(p, op);
        if (remote_pending((uintptr_t)p)) snug_fatal_freed(op, p, u);      /* queued by another thread */
        lo = small_lo(u);
    } else if (a == ADDR_MEDIUM) {
        u = hi = snug_fit_request_range(p, op, &lo);
    } else if (guard_has(p)) {
        u = hi = guard_usable(p, op);                      /* (a sampled block's size is what the pool */
        lo = 0;                                            /* recorded: only a larger size is surely wrong) */
    } else {
        size_t asked = 0;
        u = large_request(p, op, &asked);
        if (!u) snug_fatal(op, p, 0);
        lo = hi = asked;
    }
    if (align > SNUG_ALIGN) lo = lo > align ? lo - (align - 1) : 0;    /* (a block of one unit: new of 0 bytes too) */
    if (n < lo || n > hi) sized_wrong(p, n, u, lo, hi, op);
}

/* Every sized free but the quick cases: checked, then freed as free does. */
static __attribute__((noinline)) void sized_slow(void *p, size_t n, size_t align, const char *op)
{
    sized_check(p, n, align, op);
    uintptr_t a = addr_page((uintptr_t)p);
    struct heap *h;
    if (a > ADDR_MEDIUM && heap_owns_quiet((struct spage *)a, &h)) heap_free_local(h, (struct spage *)a, p, 1);
    else free_other(p, a);
}

/* free, and the sized frees: op (a constant) names the sized call, NULL for
 * free itself, whose code has nothing of the check.  A sized free checks n
 * where the block's size is at hand: a small slot of the calling thread's
 * page here, every other block out of line (sized_check). */
static inline __attribute__((always_inline)) void free_impl(void *p, size_t n, size_t align, const char *op)
{
    /* addr_page, with region 0's case spelled out: a small page there is
     * known by its map byte alone. */
    uintptr_t d = (uintptr_t)p - snug_r0.start;
    struct spage *pg;
    if (SNUG_LIKELY(d < atomic_load_explicit(&snug_r0.len, memory_order_relaxed))) {
        unsigned k = snug_r0.kind[d >> SNUG_OSPAGE_SHIFT];
        if (SNUG_UNLIKELY(!k)) {
            if (op && !(d >= W && align <= SNUG_ALIGN && !snug_opt.secure && medium_sized_ok(p, n))) {
                sized_slow(p, n, align, op);
                return;
            }
            /* A medium block straight to the fit allocator when no thread
             * cache is or may be made (medium_free's other cases); a thread
             * with a heap is not in secure mode. */
            struct heap *h = snug_tl_heap;
            if (h && !h->mc &&
                atomic_load_explicit(&snug_fit_waits.n, memory_order_relaxed) < snug_opt.thread_cache_after &&
                !atomic_load_explicit(&snug_os_wait_new, memory_order_relaxed))     /* (else free_other's reclaim_poll) */
                snug_fit_free(p);
            else
                free_other(p, ADDR_MEDIUM);
            return;
        }
        pg = (struct spage *)page_of_kind((uintptr_t)p, k);
    } else {
        if (!p) return;                 /* free(NULL), common enough to skip the region walk */
        uintptr_t a = addr_page_slow((uintptr_t)p);
        if (a <= ADDR_MEDIUM) {
            if (op) sized_slow(p, n, align, op);
            else free_other(p, a);
            return;
        }
        pg = (struct spage *)a;
    }
    /* Owned by this thread, intact, nothing queued by other threads?
     * (free_other takes the rest; a thread with a heap is not in secure mode.) */
    struct heap *h;
    if (SNUG_LIKELY(heap_owns_quiet(pg, &h))) {
        if (op && (SNUG_UNLIKELY(!small_sized_ok(pg->bsize, n)) || SNUG_UNLIKELY(align > SNUG_ALIGN))) {
            sized_slow(p, n, align, op);
            return;
        }
        heap_free_local(h, pg, p, 1);
        return;
    }
    if (op) sized_slow(p, n, align, op);
    else free_other(p, (uintptr_t)pg);
}

void sn_free(void *p) { free_impl(p, 0, 0, NULL); }

void *sn_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    if (!(snug_tl_heap && total <= SNUG_SMALL_MAX) && SNUG_UNLIKELY(--snug_tl.sample.left == 0))
        return sampled(total, SNUG_ALIGN, 1);
    return calloc_body(total);
}

static void *calloc_body(size_t total)
{
    struct heap *h = snug_tl_heap;
    void *p;
    if (SNUG_LIKELY(h != NULL && total <= SNUG_SMALL_MAX)) p = heap_alloc_small(h, total);
    else if (total >= snug_opt.mmap_threshold && total <= (size_t)PTRDIFF_MAX && !snug_opt.secure) {
        p = alloc_generic(total, SNUG_ALIGN);   /* fresh zero pages, unless from the heap or reused */
        if (p && (addr_page((uintptr_t)p) == ADDR_MEDIUM || large_reused(p))) memset(p, 0, total);
        return p;
    } else p = alloc_generic(total, SNUG_ALIGN);
    if (p) memset(p, 0, total);
    return p;
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

void *sn_realloc(void *p, size_t n)
{
    if (!p) return sn_malloc(n);
    if (n == 0) { sn_free(p); return NULL; }
    if (n > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    if (SNUG_UNLIKELY(snug_opt.secure)) return secure_realloc(p, n);
    uintptr_t a = addr_page((uintptr_t)p);
    size_t old;
    if (a == ADDR_MEDIUM && n < snug_opt.mmap_threshold) {
        /* snug_fit_realloc validates p as free would; NULL: the block must move. */
        void *q = snug_fit_realloc(p, n);
        if (q) return q;
        old = snug_fit_usable(p);
    } else {
        old = snug_plain_usable(p, "realloc(): invalid pointer");
        if (a > ADDR_MEDIUM) {
            if (n <= old && n * 2 >= old) return p;      /* small block still fits well */
        } else if (a != ADDR_MEDIUM && n >= snug_opt.mmap_threshold / 2 && !guard_has(p)) {
            if (n > old) snug_fit_end_wait();            /* growth is not added to a waiting top */
            void *q = large_realloc(p, n);
            if (!q && n > old && snug_os_give_back()) q = large_realloc(p, n);
            if (q) return q;                             /* NULL: old block intact; */
            /* moved below, growing into the heap's free memory, or shrinking */
        }
    }
    /* Moving a growing medium block: take a quarter more than asked, so a block
     * that keeps growing is copied O(log n) times, not once per call. */
    size_t want = n, roomy = old + old / 4;
    if (n > old && n > SNUG_SMALL_MAX && roomy > n && roomy < snug_opt.mmap_threshold) want = roomy;
    void *q = want > n ? snug_fit_malloc_roomy(want) : sn_malloc(want);
    if (!q && want > n) q = sn_malloc(n);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    sn_free(p);
    return q;
}

void *sn_reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    return sn_realloc(p, total);
}

void *sn_memalign(size_t align, size_t n)
{
    if (align <= SNUG_ALIGN) return sn_malloc(n);
    if (align > SIZE_MAX / 2 + 1) { errno = EINVAL; return NULL; }
    if (align & (align - 1)) align = (size_t)1 << (8 * sizeof(size_t) - (size_t)__builtin_clzl((unsigned long)align));
    if (SNUG_UNLIKELY(--snug_tl.sample.left == 0)) return sampled(n, align, 0);
    return alloc_generic(n, align);
}

void *sn_aligned_alloc(size_t align, size_t n) { return sn_memalign(align, n); }

int sn_posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) || align % sizeof(void *)) return EINVAL;
    int saved = errno;
    void *p = sn_memalign(align, n);
    if (!p) { int e = errno; errno = saved; return e ? e : ENOMEM; }
    *out = p;
    return 0;
}

void *sn_valloc(size_t n) { return sn_memalign(SNUG_OSPAGE, n); }

void *sn_pvalloc(size_t n)
{
    if (n > SIZE_MAX - SNUG_OSPAGE) { errno = ENOMEM; return NULL; }
    return sn_memalign(SNUG_OSPAGE, n ? snug_align_up(n, SNUG_OSPAGE) : SNUG_OSPAGE);
}

size_t sn_usable_size(const void *p)
{
    if (!p) return 0;
    if (SNUG_UNLIKELY(snug_opt.secure)) return secure_usable(p, "malloc_usable_size(): invalid pointer");
    return snug_plain_usable(p, "malloc_usable_size(): invalid pointer");
}

void sn_free_sized(void *p, size_t n) { free_impl(p, n, 0, "free_sized(): invalid pointer"); }
void sn_free_aligned_sized(void *p, size_t align, size_t n)
{
    free_impl(p, n, align, "free_aligned_sized(): invalid pointer");
}
void sn_delete_sized(void *p, size_t n) { free_impl(p, n, 0, "operator delete(): invalid pointer"); }
void sn_delete_aligned_sized(void *p, size_t n, size_t align)
{
    free_impl(p, n, align, "operator delete(): invalid pointer");
}

/* Exhaustion (os.h): everything snug keeps for reuse goes back to the layers
 * below, and whatever of it lies at a region's top to the kernel: the
 * quarantine (secure mode), the calling thread's empty pages and cached
 * blocks, parked heaps' pages, kept large mappings, parked blocks, waiting
 * tops.  (Other live threads' kept pages stay theirs: each gives them back
 * at its own next failure.) */
void snug_give_back_all(void)
{
    if (snug_opt.secure) secure_flush();
    heap_give_back();
    large_cache_drop();
    snug_fit_trim(0);
}

int sn_trim(size_t pad)
{
    if (snug_ensure_init() != 0) return 0;
    size_t before = snug_os_held();
    if (snug_opt.secure) secure_flush();    /* its blocks may hold up a top, or pages */
    struct heap *h = snug_tl_heap;
    if (h) heap_release_empty(h);       /* empty pages may free a top that trims at once */
    heap_collect_parked();
    int released = large_cache_drop();
    released |= snug_fit_trim(pad);
    return released || snug_os_held() < before;
}

/* The prefixed API: the same functions under their snug_ names. */
#define SNUG_ALIAS(name, target) extern __typeof(target) name __attribute__((alias(#target), visibility("default")))
SNUG_ALIAS(snug_malloc, sn_malloc);
SNUG_ALIAS(snug_free, sn_free);
SNUG_ALIAS(snug_calloc, sn_calloc);
SNUG_ALIAS(snug_realloc, sn_realloc);
SNUG_ALIAS(snug_reallocarray, sn_reallocarray);
SNUG_ALIAS(snug_aligned_alloc, sn_aligned_alloc);
SNUG_ALIAS(snug_posix_memalign, sn_posix_memalign);
SNUG_ALIAS(snug_memalign, sn_memalign);
SNUG_ALIAS(snug_valloc, sn_valloc);
SNUG_ALIAS(snug_pvalloc, sn_pvalloc);
SNUG_ALIAS(snug_usable_size, sn_usable_size);
SNUG_ALIAS(snug_free_sized, sn_free_sized);
SNUG_ALIAS(snug_free_aligned_sized, sn_free_aligned_sized);
SNUG_ALIAS(snug_trim, sn_trim);
