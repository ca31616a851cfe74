/* alloc.c - the entry points (sn_malloc, sn_free, ...; both surfaces reach them):
 * the fast paths of small and medium requests inlined, and for the rest the one
 * choice per call between the secure layer (secure.c) and the plain allocator
 * (plain.c), both below.  Also the sized frees' check and realloc's policy. */
#include "alloc.h"
#include "counts.h"
#include "tuning.h"
#include "error.h"
#include "guard.h"
#include "init.h"
#include "large.h"
#include "mcache.h"
#include "options.h"
#include "plain.h"
#include "secure.h"
#include "snug.h"
#include <errno.h>
#include <string.h>

static void *alloc_generic(size_t n, size_t align)
{
    if (SNUG_UNLIKELY(snug_ensure_init() != 0)) { errno = ENOMEM; return NULL; }
    if (SNUG_UNLIKELY(snug_opt.secure)) return secure_alloc(n, align);
    return snug_plain_alloc(n, align, 0);
}

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

/* A medium request of a thread with a cache: its block, else the fit
 * allocator's.  Out of line and reached by a tail call, so the small path of
 * sn_malloc keeps no frame for this call (+7 instructions a small pair when
 * it was inlined there). */
static __attribute__((noinline)) void *medium_cached(struct mcache *mc, size_t n)
{
    void *c = mcache_pop(mc, n);
    return c ? c : plain_medium(n, SNUG_ALIGN);
}

void *sn_malloc(size_t n)
{
    SNUG_COUNT(SNUG_C_OPS);
    struct heap *h = snug_tl_heap;
    if (SNUG_LIKELY(h != NULL)) {
        if (SNUG_LIKELY(n <= SNUG_SMALL_MAX)) return heap_alloc_small(h, n);
        if (SNUG_UNLIKELY(--snug_tl.sample.left == 0)) return sampled(n, SNUG_ALIGN, 0);
        /* A medium request straight to the thread's cache or the fit
         * allocator (a thread with a heap is past start-up and not in secure
         * mode): snug_plain_alloc's way, without its other cases. */
        if (n < snug_opt.mmap_threshold) return h->mc ? medium_cached(h->mc, n) : plain_medium(n, SNUG_ALIGN);
    } else if (SNUG_UNLIKELY(--snug_tl.sample.left == 0)) {
        return sampled(n, SNUG_ALIGN, 0);
    }
    return alloc_generic(n, SNUG_ALIGN);
}

/* Every free but a small block of the calling thread's own heap: secure or plain,
 * chosen here once.  (Tail calls: the plain allocator's return address is free's caller.) */
static inline __attribute__((always_inline)) void free_other(void *p, uintptr_t a)
{
    if (SNUG_UNLIKELY(snug_opt.secure)) secure_free(p);
    else snug_plain_free_other(p, a);
}

/* ---- sized frees -----------------------------------------------------------
 * free_sized, free_aligned_sized and C++ sized delete name the size the block
 * was asked with.  A size that cannot have been the request for p's block ends
 * the program (snug_fatal_size); any that can passes.  The sizes that can:
 *   small slot of bsize b: b/2 .. b (the 16-byte class: 0 .. 16): its class's
 *     requests, and the smaller ones realloc keeps in place (n * 2 >= b);
 *   medium block: up to its usable size, down to what its slack allows
 *     (snug_fit_request_range: 31 bytes, more for roomy and cached blocks;
 *     any size down to 1 for the smallest blocks, which realloc keeps whole);
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
    uint64_t raw = blk_word_relaxed(b);         /* (no fit lock: a neighbour's free may rewrite its PREV_INUSE bit) */
    uint64_t h = raw & BLK_VALUE;
    size_t u = (size_t)(h & ~BLK_FLAGS) - WORD;
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

/* A medium block straight to the fit allocator when no thread cache is or
 * should be made (plain.c's medium_free has the rest, out of line: the small
 * paths keep their registers); a thread with a heap is not in secure mode. */
static inline __attribute__((always_inline)) void medium_free_fast(void *p)
{
    struct heap *h = snug_tl_heap;
    if (h && !h->mc && !plain_cache_wanted())
        snug_fit_free(p);
    else
        free_other(p, ADDR_MEDIUM);
}

/* free, and the sized frees: op (a constant) names the sized call, NULL for
 * free itself, whose code has nothing of the check.  A sized free checks n
 * where the block's size is at hand: a small slot of the calling thread's
 * page here, every other block out of line (sized_check). */
static inline __attribute__((always_inline)) void free_impl(void *p, size_t n, size_t align, const char *op)
{
    SNUG_COUNT(SNUG_C_OPS);
    /* addr_page, with region 0's case spelled out: a small page there is
     * known by its map byte alone. */
    uintptr_t d = (uintptr_t)p - snug_r0.start;
    struct spage *pg;
    if (SNUG_LIKELY(d < atomic_load_explicit(&snug_r0.len, memory_order_relaxed))) {
        unsigned k = snug_r0.kind[d >> SNUG_OSPAGE_SHIFT];
        if (SNUG_UNLIKELY(!k)) {
            if (op && !(d >= WORD && align <= SNUG_ALIGN && !snug_opt.secure && medium_sized_ok(p, n))) {
                sized_slow(p, n, align, op);
                return;
            }
            medium_free_fast(p);
            return;
        }
        pg = (struct spage *)page_of_kind((uintptr_t)p, k);
    } else {
        if (!p) return;                 /* free(NULL), common enough to skip the region lookup */
        uintptr_t a = addr_page_other((uintptr_t)p);
        if (a == ADDR_MEDIUM && !op) {  /* (a thread's arena's block) */
            medium_free_fast(p);
            return;
        }
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
    SNUG_COUNT(SNUG_C_OPS);
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

/* Medium block p (old payload bytes) grown past the mmap threshold while no
 * freed mapping is kept (the program is not cycling through large buffers):
 * into a mapping of its own, and its old pages, free inside the heap, go
 * back at once rather than after the purge's wait (realloc-buffer, issue
 * 20).  A program that has freed such a buffer before and grows the next
 * keeps them: its next buffer grows through the same place (discarded each
 * time, realloc-buffer's replay faulted them in again every pass: 63 -> 22
 * Mops/s).  Apart from sn_realloc's shared tail, out of line: folded into
 * that tail, the test cost every other move (server's trace +0.13%). */
static __attribute__((noinline)) void *medium_out(void *p, size_t n, size_t old)
{
    void *q = sn_malloc(n);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    if (addr_page((uintptr_t)q) == ADDR_NONE) snug_fit_free_discard(p);
    else sn_free(p);                    /* (from the heap's top after all) */
    return q;
}

void *sn_realloc(void *p, size_t n)
{
    if (!p) return sn_malloc(n);
    if (n == 0) { sn_free(p); return NULL; }
    if (n > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    SNUG_COUNT(SNUG_C_OPS);
    if (SNUG_UNLIKELY(snug_opt.secure)) return secure_realloc(p, n);
    uintptr_t a = addr_page((uintptr_t)p);
    size_t old;
    /* A medium block growing to half the mmap threshold or more moves into a
     * mapping a freed large block left, when one holds it, rather than grow the
     * heap while that mapping waits to go back (from there it grows as large
     * blocks do, and stays a large block down to half the threshold). */
    if (a == ADDR_MEDIUM && n >= snug_opt.mmap_threshold / 2 && large_kept_holds(n)) {
        size_t u = snug_fit_validate(p, "realloc(): invalid pointer");
        void *m = n > u ? large_reuse(n, SNUG_ALIGN) : NULL;
        if (m) {
            memcpy(m, p, u);
            sn_free(p);
            return m;
        }
    }
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
            int refused;
            void *q = large_realloc(p, n, &refused);
            if (!q && refused && n > old && snug_os_give_back()) q = large_realloc(p, n, &refused);
            if (q) return q;                             /* NULL: old block intact; */
            /* copied below, growing into the heap's free memory, or shrinking */
        } else if (a == ADDR_MEDIUM && !large_kept_any()) {
            return medium_out(p, n, old);
        }
    }
    /* Moving a growing medium block: take a quarter more than asked, so a block
     * that keeps growing is copied O(log n) times, not once per call. */
    size_t want = n, roomy = old + old / ROOMY_SHARE;
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
    SNUG_COUNT(SNUG_C_OPS);
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

int sn_trim(size_t pad)
{
    if (snug_ensure_init() != 0) return 0;
    size_t before = snug_os_held();
    if (snug_opt.secure) secure_flush();    /* its blocks may hold up a top, or pages */
    int released = snug_plain_trim(pad);
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
