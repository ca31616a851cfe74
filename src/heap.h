/* heap.h - per-thread heaps: each thread allocates small objects from pages it
 * owns without any lock; other threads' frees to those pages go on the owner's
 * lock-free remote list and are applied by the owner.  Heaps are never freed:
 * a thread's heap is parked at exit and adopted whole by the next new thread
 * (heap.c: pages and slow paths; threads.c: the life cycle). */
#ifndef SNUG_HEAP_H
#define SNUG_HEAP_H
#include "config.h"
#include "guard.h"
#include "page.h"
#include "sizeclass.h"

/* The first size class of SPARSE_MIN (tuning.h) bytes: 128 = 16 * (7 + 1). */
#define SPARSE_CLASS0 7

/* Invariants H1-H2 (where a heap's pages are, and its counts of them) and P5
 * (its avail lists): DESIGN.md, "Invariants"; check.c checks them. */
struct heap {
    struct spage *avail[SNUG_NCLASSES];     /* pages with free slots; head is current */
    _Atomic uintptr_t remote;               /* slots freed by other threads (links encoded) */
    size_t alloc_bytes, freed_bytes;        /* since the heap last published to the meter (heap.c); owner
                                             * writes (snug_own_add); others read relaxed */
    size_t alloc_count, freed_count;
    struct guard_countdown sample;          /* small allocations to the next one sampled (guard.c; owner only) */
    size_t pages;                           /* small pages owned (the same) */
    uint16_t cls_pages[SNUG_NCLASSES];      /* of them, per class (short once cls_lossy: heap.c) */
    uint16_t sparse_served[SNUG_NCLASSES - SPARSE_CLASS0];  /* requests of class c (from c = SPARSE_CLASS0,
                                             * the first of SPARSE_MIN bytes) the fit allocator took (heap.c) */
    uint32_t pub_seq;                       /* odd while the heap publishes to the meter (live.c) */
    uint8_t kept;                           /* some class's only page may be kept (RELIST_KEEP: heap.c) */
    uint8_t room_[3];                       /* (unused: keeps the record's size, below) */
    uint32_t busy;                          /* bit c: class c filled BUSY_CLASS_PAGES pages since it last
                                             * had none (heap.c: class_idle) */
    size_t pages_peak;                      /* most pages owned since the heap last looked for a burst's end */
    struct spage *spare;                    /* emptied pages kept for any class (heap.c), */
    uint8_t nspare;                         /* linked by next; counted in pages, not cls_pages (at most SPARE_MAX,
                                             * UINT8_MAX in a parked heap: heap.c, spare_room) */
    uint8_t spare_off;                      /* none kept until the heap next grows */
    uint8_t cls_lossy;                      /* a cls_pages count passed UINT16_MAX */
    uint8_t parked;                         /* HEAP_LIVE, HEAP_PARKED or HEAP_HELD (threads.c) */
    uint8_t forked;                         /* fork child: another thread's heap, being rebuilt */
    uint8_t page_setup;                     /* between taking a page and its header being valid
                                             * (a fork child then expects one invalid header) */
    _Atomic uint16_t batches;               /* other threads' open batches of frees to this heap (heap.c) */
    struct mcache *mc;                      /* medium-block cache, once the fit lock is contended
                                             * (stored with release: statistics read it) */
    struct heap *next_all;                  /* every heap ever made */
    union { uint32_t parked_at; void *room2_; };  /* when it was parked (ms, low 32 bits); the
                                             * union keeps the record's size (below) */
};
/* A heap's parked flag: its thread's (live); parked (its thread exited: the
 * next new thread claims it with a CAS to live); held by the holder of
 * heaps_lock (collecting or checking it: no thread adopts it meanwhile). */
enum { HEAP_LIVE = 0, HEAP_PARKED = 1, HEAP_HELD = 2 };
/* (Its size moves every block carved after it, the trace suite's utilization with them:
 * sample fitted in without growing it.) */
_Static_assert(sizeof(struct heap) == (UINTPTR_MAX == UINT64_MAX ? 488 : 316), "heap record size");

/* h->f += v, for the statistics counters only h's thread writes (relaxed.h).
 * The counter is addressed from &h->remote: the free fast path knows h only
 * as its remote list head minus an offset (heap_owns_quiet), which a compiler
 * folds into a plain access's address but not into an asm operand's. */
#define heap_count(h, f, v) \
    snug_own_add((__typeof__(&(h)->f))((char *)&(h)->remote + (offsetof(struct heap, f) - offsetof(struct heap, remote))), v)

/* The remote list's empty value.  On 64-bit it is the heap's key (odd, so
 * never a slot's address): then one compare of a page's key with the list
 * head tells the free fast path "my page, header intact, and no remote free
 * pending that this free could repeat" (SNUG_REMOTE_KEYED).  On 32-bit the
 * list head is narrower than a key; there the empty list is 0 and free looks
 * at it separately. */
#define SNUG_REMOTE_KEYED (UINTPTR_MAX == UINT64_MAX)
static inline uintptr_t remote_empty(const struct heap *h) { return SNUG_REMOTE_KEYED ? (uintptr_t)heap_key_of(h) : 0; }
/* The remote list's other empty value: nothing queued, but another thread
 * holds a batch of frees for the heap (remote.c, "Batched remote frees"), so
 * the free fast path must not take the list for empty.  Odd, and not the key. */
#define REMOTE_HELD ((uintptr_t)2 | !SNUG_REMOTE_KEYED)
static inline uintptr_t remote_held(const struct heap *h) { return remote_empty(h) ^ REMOTE_HELD; }
/* Nothing queued on h's remote list (r: its value)? */
static inline int remote_none(const struct heap *h, uintptr_t r) { return r == remote_empty(h) || r == remote_held(h); }

/* The calling thread's heap, and what free compares page keys with, set
 * together, in one thread-local record so both are read from one
 * thread-pointer offset: the address of the heap's remote list head (on
 * 64-bit), or heap_key_of(the heap).  A thread without a heap points at
 * heap_none's list, whose head matches no page.  key: the heap's key, which
 * malloc compares page front keys with.  medium_count: the thread's
 * medium mallocs (plain.h samples the live bytes on every 64th: live.h).  sample: the
 * thread's allocations other than small ones from its heap, to the next one
 * sampled into the guard pool (alloc.c, guard.c). */
struct snug_tl {
    struct heap *heap;
#if SNUG_REMOTE_KEYED
    _Atomic uintptr_t *remote;
#endif
    uint64_t key;                   /* heap_key_of(heap): malloc compares front keys with it */
    unsigned medium_count;
    struct guard_countdown sample;
};
extern __thread struct snug_tl snug_tl __attribute__((tls_model("initial-exec")));
#define snug_tl_heap (snug_tl.heap)

void *heap_alloc_slow(size_t n, struct heap *h, unsigned cls);  /* NULL + ENOMEM (n first: it stays in its register) */
void *heap_alloc_sampled(size_t n, struct heap *h, unsigned cls);   /* h's sample countdown reached 0 */
/* Small allocations of h (slots taken, and blocks sampled into the guard pool). */
static inline size_t heap_allocs(const struct heap *h) { return __atomic_load_n(&h->alloc_count, __ATOMIC_RELAXED); }
void  heap_free_slow(struct heap *h, struct spage *pg);   /* page emptied or was full */
void  heap_free_remote(struct spage *pg, void *p);
/* The calling thread's batches of remote frees, queued on their owners now
 * (thread exit, fork, malloc_trim, exhaustion). */
void  heap_remote_flush(void);
/* heap.c's own steps that threads.c (the life cycle, above it) also takes: the
 * frees other threads queued on h applied; h's spares, or a page, back to the fit
 * allocator; a page marked full, a page counted in its class, a page on its class's
 * list; the sentinel heap of threads without one; frees queued on parked heaps
 * (0 none, 1 since the reclaimer's last round, 2 seen by a round). */
void  drain_remote(struct heap *h);
void  spares_release(struct heap *h);
/* h's spares (to the stashes or arena 0) and every class's empty page (to
 * arena 0) given back, those for arena 0 in one lock hold. */
void  heap_give_empty(struct heap *h);
/* Is pg a dense page (DENSE_CLASS_PAGES) and its class's last?  Such a page
 * goes when it empties (the class that filled it is idle), where the class's only page
 * is otherwise kept, and marked RELIST_KEEP (heap.c, check.c: P5). */
static inline int heap_idle_dense(const struct heap *h, const struct spage *pg)
{
    return pg->dense && h->cls_pages[pg->cls] <= 1;
}
void  page_to_full(struct heap *h, struct spage *pg, unsigned c);
void  cls_count_up(struct heap *h, unsigned c);
void  avail_push(struct heap *h, struct spage *pg);
extern struct heap heap_none;
extern _Atomic int heap_parked_frees;
void  heap_parked_wait(void);         /* a parked heap holds what waits (heap.c) */
/* The calling thread's heap, creating or adopting one; NULL when the thread has
 * exited (then callers use heap_fallback_* under its lock). */
struct heap *heap_get(void);
void *heap_fallback_alloc(size_t n);

int   heap_init(void);
void  heap_collect_parked(void);        /* malloc_trim: drain parked heaps */
/* The reclaimer's round: frees queued on parked heaps for a round are applied; whether any wait. */
int   heap_reclaim_parked(void);
/* Exhaustion: the calling thread's empty pages and thread cache, and the parked heaps'. */
void  heap_give_back(void);
void  heap_release_empty(struct heap *h);
/* 1: hold every parked heap still (no adoption, parking or draining), 0: let go; the checker. */
void  heap_hold_parked(int hold);
void  heap_fork_prepare(void);
void  heap_fork_parent(void);
void  heap_fork_child(void);
/* Walk heaps for statistics and checks. */
struct heap *heap_list(void);
size_t heap_small_pages(void);

/* Fast paths: a handful of instructions each; the slow paths are out of line. */
/* Are both of pg's keys what the page of a heap whose key is hkey must carry
 * (P4)?  Every malloc and free asks, in two compares with one value, before
 * it trusts anything else in the header's second line: a linear overflow
 * into the header breaks front_key before it reaches the bitmap and counts,
 * an underflow out of slot 0 breaks key first. */
static inline __attribute__((always_inline)) int page_keys_ok(const struct spage *pg, uint64_t hkey)
{
    uint64_t k = page_key(pg, hkey);
    return pg->key == k && pg->front_key == k;
}

/* (No when h is not the thread's heap, the fallback: heap_alloc_slow then
 * compares with h's own key.) */
static inline __attribute__((always_inline)) void *heap_alloc_small(struct heap *h, size_t n)
{
    unsigned c = size_class(n);
    if (SNUG_UNLIKELY(--h->sample.left == 0)) return heap_alloc_sampled(n, h, c);
    struct spage *pg = h->avail[c];
    if (SNUG_LIKELY(pg != NULL && (!SNUG_CHECKS || page_keys_ok(pg, snug_tl.key)))) {
        unsigned k = pg->hint;
        uint64_t w = snug_load64(&pg->bits[k]);   /* (as page_take_in stores it: gcc then */
        if (SNUG_LIKELY(w != ~(uint64_t)0)) {     /* forms its address once; page_take_any, first word only) */
            size_t bsize = pg->bsize;
            heap_count(h, alloc_bytes, bsize);
            heap_count(h, alloc_count, 1);
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
    snug_store64(wp, nw);
    if ((i >> 6) < pg->hint) pg->hint = (uint8_t)(i >> 6);
    /* Slow path when the page empties or may come back from being full. */
    if (SNUG_UNLIKELY((int16_t)--pg->used <= pg->relist)) heap_free_slow(h, pg);
}
/* (local free, or a remote free applied) */
static inline __attribute__((always_inline)) void heap_slot_freed(struct heap *h, struct spage *pg, uint32_t i)
{
    heap_slot_freed_in(h, pg, i, &pg->bits[i >> 6], bit_cleared(pg->bits[i >> 6], i));
}

/* Out of line: the faults heap_free_local reports (never return). */
__attribute__((noreturn, cold)) void heap_free_fault(struct spage *pg, void *p);

/* Does the calling thread's heap (*hp) own pg, with pg's keys intact and (on
 * 64-bit) no other thread's free queued on the heap? */
static inline __attribute__((always_inline)) int heap_owns_quiet(const struct spage *pg, struct heap **hp)
{
    if (!SNUG_CHECKS) {
        *hp = snug_tl_heap;
        return pg->key == page_key(pg, snug_tl.key);
    }
#if SNUG_REMOTE_KEYED
    _Atomic uintptr_t *r = snug_tl.remote;
    *hp = (struct heap *)((char *)r - offsetof(struct heap, remote));
    return page_keys_ok(pg, atomic_load_explicit(r, memory_order_relaxed));
#else
    *hp = snug_tl_heap;
    return page_keys_ok(pg, snug_tl.key);
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
    uint64_t *wp = &pg->bits[i >> 6], w = snug_load64(wp);
    if (SNUG_UNLIKELY(SNUG_CHECK(!((w >> (i & 63)) & 1)))) heap_free_fault(pg, p);   /* (one bt) */
    if (!(quiet && SNUG_REMOTE_KEYED) &&
        SNUG_UNLIKELY(SNUG_CHECK(atomic_load_explicit(&h->remote, memory_order_relaxed) != remote_empty(h))) &&
        remote_pending((uintptr_t)p))
        heap_free_fault(pg, p);
    heap_count(h, freed_bytes, pg->bsize);
    heap_count(h, freed_count, 1);
    heap_slot_freed_in(h, pg, i, wp, bit_cleared(w, i));
}
#endif
