/* heap.h - per-thread heaps: each thread allocates small objects from pages it
 * owns without any lock; other threads' frees to those pages go on the owner's
 * lock-free remote list and are applied by the owner.  Heaps are never freed:
 * a thread's heap is parked at exit and adopted whole by the next new thread. */
#ifndef SNUG_HEAP_H
#define SNUG_HEAP_H
#include "config.h"
#include "guard.h"
#include "page.h"
#include "sizeclass.h"

struct heap {
    struct spage *avail[SNUG_NCLASSES];     /* pages with free slots; head is current */
    _Atomic uintptr_t remote;               /* slots freed by other threads (links encoded) */
    size_t alloc_bytes, freed_bytes;        /* owner writes; others read relaxed */
    size_t alloc_count, freed_count;        /* (alloc_count: and the calls sample counted, heap_allocs) */
    struct guard_countdown sample;          /* small allocations to the next one sampled (guard.c) */
    size_t pages;                           /* small pages owned */
    uint16_t cls_pages[SNUG_NCLASSES];      /* of them, per class (short once cls_lossy: heap.c) */
    uint16_t sparse_served[SNUG_NCLASSES];  /* requests of the class the fit allocator took (heap.c) */
    size_t pages_peak;                      /* most pages owned since the heap last looked for a burst's end */
    struct spage *spare;                    /* emptied pages kept for any class (heap.c), */
    unsigned nspare;                        /* linked by next; counted in pages, not cls_pages */
    uint8_t spare_off;                      /* none kept until the heap next grows */
    uint8_t cls_lossy;                      /* a cls_pages count passed UINT16_MAX */
    uint8_t parked;
    uint8_t forked;                         /* fork child: another thread's heap, being rebuilt */
    struct mcache *mc;                      /* medium-block cache, once the fit lock is contended */
    struct heap *next_all;                  /* every heap ever made */
    struct heap *next_parked;               /* parked (its thread exited) */
};
/* (Its size moves every block carved after it, the trace suite's utilization with them:
 * sample fitted in without growing it.) */
_Static_assert(sizeof(struct heap) == (UINTPTR_MAX == UINT64_MAX ? 488 : 316), "heap record size");

/* The remote list's empty value.  On 64-bit it is the heap's key (odd, so
 * never a slot's address): then one compare of a page's key with the list
 * head tells the free fast path "my page, header intact, and no remote free
 * pending that this free could repeat" (SNUG_REMOTE_KEYED).  On 32-bit the
 * list head is narrower than a key; there the empty list is 0 and free looks
 * at it separately. */
#define SNUG_REMOTE_KEYED (UINTPTR_MAX == UINT64_MAX)
static inline uintptr_t remote_empty(const struct heap *h) { return SNUG_REMOTE_KEYED ? (uintptr_t)heap_key_of(h) : 0; }

/* The calling thread's heap, and what free compares page keys with, set
 * together, in one thread-local record so both are read from one
 * thread-pointer offset: the address of the heap's remote list head (on
 * 64-bit), or heap_key_of(the heap).  A thread without a heap points at
 * heap_none's list, whose head matches no page.  medium_count: the thread's
 * medium mallocs (alloc.c samples statistics on every 64th).  sample: the
 * thread's allocations other than small ones from its heap, to the next one
 * sampled into the guard pool (alloc.c, guard.c). */
struct snug_tl {
    struct heap *heap;
#if SNUG_REMOTE_KEYED
    _Atomic uintptr_t *remote;
#else
    uint64_t key;
#endif
    unsigned medium_count;
    struct guard_countdown sample;
};
extern __thread struct snug_tl snug_tl __attribute__((tls_model("initial-exec")));
#define snug_tl_heap (snug_tl.heap)

void *heap_alloc_slow(size_t n, struct heap *h, unsigned cls);  /* NULL + ENOMEM (n first: it stays in its register) */
void *heap_alloc_sampled(size_t n, struct heap *h, unsigned cls);   /* h's sample countdown reached 0 */
/* Small allocations of h: each call of heap_alloc_small counts down h->sample
 * (counted in alloc_count when the countdown restarts), less the calls that
 * did not end with a slot (fixed up in alloc_count). */
static inline size_t heap_allocs(const struct heap *h)
{
    return __atomic_load_n(&h->alloc_count, __ATOMIC_RELAXED) +
           guard_counted(__atomic_load_n(&h->sample.left, __ATOMIC_RELAXED), __atomic_load_n(&h->sample.armed, __ATOMIC_RELAXED));
}
void  heap_free_slow(struct heap *h, struct spage *pg);   /* page emptied or was full */
void  heap_free_remote(struct spage *pg, void *p);
/* The calling thread's heap, creating or adopting one; NULL when the thread has
 * exited (then callers use heap_fallback_* under its lock). */
struct heap *heap_get(void);
void *heap_fallback_alloc(size_t n);

int   heap_init(void);
void  heap_collect_parked(void);        /* malloc_trim: drain parked heaps */
void  heap_release_empty(struct heap *h);
void  heap_fork_prepare(void);
void  heap_fork_parent(void);
void  heap_fork_child(void);
/* Walk heaps for statistics and checks. */
struct heap *heap_list(void);
size_t heap_small_pages(void);
/* The calling thread's avail lists; full_pages: its pages the walk found full. */
int   heap_check_own(size_t full_pages);

/* Fast paths: a handful of instructions each; the slow paths are out of line.
 * The sample countdown also counts the allocations (for heap_allocs). */
static inline __attribute__((always_inline)) void *heap_alloc_small(struct heap *h, size_t n)
{
    unsigned c = size_class(n);
    if (SNUG_UNLIKELY(--h->sample.left == 0)) return heap_alloc_sampled(n, h, c);
    struct spage *pg = h->avail[c];
    if (SNUG_LIKELY(pg != NULL)) {
        unsigned k = pg->hint;
        uint64_t w = pg->bits[k];
        if (SNUG_LIKELY(w != ~(uint64_t)0)) {     /* (page_take_any, its first word only) */
            size_t bsize = pg->bsize;
            h->alloc_bytes += bsize;
            return page_take_in(pg, k, w, bsize);
        }
    }
    return heap_alloc_slow(n, h, c);
}

/* w without bit i % 64.  x86's btr takes the bit number modulo 64 by itself,
 * but gcc masks it first anyway: there the instruction is written out. */
static inline uint64_t bit_cleared(uint64_t w, uint32_t i)
{
#if defined(__x86_64__)
    __asm__("btr %1, %0" : "+r"(w) : "r"((uint64_t)i) : "cc");
    return w;
#else
    return w & ~((uint64_t)1 << (i & 63));
#endif
}

/* Slot i of h's page pg is free again; its bitmap word *wp becomes nw (the
 * word without the slot's bit). */
static inline __attribute__((always_inline)) void heap_slot_freed_in(struct heap *h, struct spage *pg, uint32_t i,
                                                                    uint64_t *wp, uint64_t nw)
{
    *wp = nw;
    if ((i >> 6) < pg->hint) pg->hint = (uint8_t)(i >> 6);
    /* Slow path when the page empties or may come back from being full. */
    if (SNUG_UNLIKELY(--pg->used <= pg->relist)) heap_free_slow(h, pg);
}
/* (local free, or a remote free applied) */
static inline __attribute__((always_inline)) void heap_slot_freed(struct heap *h, struct spage *pg, uint32_t i)
{
    heap_slot_freed_in(h, pg, i, &pg->bits[i >> 6], bit_cleared(pg->bits[i >> 6], i));
}

/* Out of line: the faults heap_free_local reports (never return). */
__attribute__((noreturn, cold)) void heap_free_fault(struct spage *pg, void *p);

/* Does the calling thread's heap (*hp) own pg, with pg's key intact and (on
 * 64-bit) no other thread's free queued on the heap? */
static inline __attribute__((always_inline)) int heap_owns_quiet(const struct spage *pg, struct heap **hp)
{
    if (!SNUG_CHECKS) return pg->owner == (*hp = snug_tl_heap);
#if SNUG_REMOTE_KEYED
    _Atomic uintptr_t *r = snug_tl.remote;
    *hp = (struct heap *)((char *)r - offsetof(struct heap, remote));
    return pg->key == (atomic_load_explicit(r, memory_order_relaxed) ^ (uintptr_t)pg);
#else
    *hp = snug_tl_heap;
    return pg->key == page_key(pg, snug_tl.key);
#endif
}

/* Free p, a slot of h's page pg.  quiet: heap_owns_quiet found h's remote list
 * empty (on 64-bit), so no slot is queued for a remote free. */
static inline __attribute__((always_inline)) void heap_free_local(struct heap *h, struct spage *pg, void *p, int quiet)
{
    uint32_t i = page_quot(pg, page_off(pg, (uintptr_t)p));
    /* Not a slot start (one compare: see page_quot; it also keeps the bitmap
     * read in range), or not allocated.  A slot can be queued for a remote
     * free only while h's remote list is not empty: look at the slot's own
     * memory only then (on 64-bit, heap_owns_quiet has seen it empty).
     * Separate branches cost fewer instructions than one folded test. */
    if (SNUG_UNLIKELY(SNUG_CHECK(i >= pg->nslots))) heap_free_fault(pg, p);
    /* The bitmap word is read once: tested, then written back without the bit. */
    uint64_t *wp = &pg->bits[i >> 6], w = *wp;
    if (SNUG_UNLIKELY(SNUG_CHECK(!((w >> (i & 63)) & 1)))) heap_free_fault(pg, p);   /* (one bt) */
    if (!(quiet && SNUG_REMOTE_KEYED) &&
        SNUG_UNLIKELY(SNUG_CHECK(atomic_load_explicit(&h->remote, memory_order_relaxed) != remote_empty(h))) &&
        remote_pending((uintptr_t)p))
        heap_free_fault(pg, p);
    h->freed_bytes += pg->bsize;
    h->freed_count++;
    heap_slot_freed_in(h, pg, i, wp, bit_cleared(w, i));
}
#endif
