/* gc.h - the collector's private interface, one section per file in their one-way order (each
 * calls only the files above it here): the block index (index.c), the registered threads, their
 * pending blocks and stopping them (stop.c), marking and the roots (mark.c); gc.c, the collection
 * and the snug_gc_* entry points, uses them all.  Below the collector: alloc.h, os.h, error.h.
 * Their shared state lives in one mapping, so that no data segment ever holds a GC address. */
#ifndef SNUG_GC_H
#define SNUG_GC_H
#include "config.h"
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/types.h>

/* ---- the block index (index.c) ---------------------------------------------------------- */
/* Address space is cut into 4 KiB index pages and each page into granules of SNUG_ALIGN bytes
 * (every snug payload starts on a granule).  A GC block covers the granules [start, start+ext)
 * where ext is its extent (the request rounded up to a granule).  The page holding a block's
 * first granule has its start bit set (plus the atomic and, during a collection, the mark bit);
 * the page holding its last granule has its end bit set.  Pages strictly inside a block (blocks
 * of 4 KiB and more) have no descriptor but a cover entry naming the block.
 *
 * Pages are found through a three-level radix table: top (2^35-byte slices) -> mid (2 MiB
 * chunks) -> leaf (512 entries, one per page of a chunk).  Neighbouring pages share leaf cache
 * lines, and a lookup never probes. */
#define GC_IPAGE        4096u
#define GC_IPAGE_SHIFT  12
#define GC_GRAN         SNUG_ALIGN
#define GC_NGRAN        (GC_IPAGE / GC_GRAN)          /* 256 on 64-bit, 512 on 32-bit */
#define GC_NW           (GC_NGRAN / 64)               /* bitmap words per page */

#define GC_LEAF_SHIFT   21                            /* a leaf covers 2 MiB */
#define GC_LEAF_N       ((size_t)1 << (GC_LEAF_SHIFT - GC_IPAGE_SHIFT))
#if UINTPTR_MAX > 0xffffffffu
#define GC_TOP_SHIFT    35                            /* a mid node covers 32 GiB */
#define GC_TOP_N        ((size_t)1 << (48 - GC_TOP_SHIFT))   /* user addresses below 2^48 */
#else
#define GC_TOP_SHIFT    32
#define GC_TOP_N        ((size_t)1)
#endif
#define GC_MID_N        ((size_t)1 << (GC_TOP_SHIFT - GC_LEAF_SHIFT))

/* the four bitmaps of 64 granules sit together: a lookup touches one or two cache lines */
enum { GC_START, GC_END, GC_ATOMIC, GC_MARK };

struct gc_page {
    uintptr_t base;                 /* address of the index page */
    uint64_t bits[GC_NW][4];        /* [word][GC_START..GC_MARK] */
    uint32_t nstart, nend;          /* set start / end bits: the page is dropped at 0/0 */
    size_t vi;                      /* position in gc_index.pages */
};

/* A block of 3 or more index pages: the record its inner pages' cover entries point to. */
struct gc_big {
    uintptr_t start, end;           /* end: one past the last byte of the extent */
    struct gc_page *sd;             /* descriptor of the start page */
};

struct gc_leaf {
    uintptr_t e[GC_LEAF_N];         /* 0, a gc_page*, or a gc_big* | 1 */
    size_t used;                    /* non-zero entries */
};

struct gc_index {
    struct gc_leaf ***top;          /* GC_TOP_N mid nodes of GC_MID_N leaves; made at first use */
    size_t leaves;
    struct gc_page **pages;         /* every descriptor, for sweeping and rescans */
    size_t npages, pcap;
    uintptr_t lo, hi;               /* every GC block lies in [lo, hi) */
    struct gc_page *last;           /* descriptor used by the previous insert (a cache) */
    size_t blocks;                  /* GC blocks indexed */
};

/* Index a block of extent ext at p: 0, or -1 (ENOMEM) with nothing changed. */
SNUG_INTERNAL int       gci_insert_slow(struct gc_index *x, uintptr_t p, size_t ext, int atomic);
/* Remove the block at (d, gi); returns its extent.  With keep_empty, descriptors left without
 * bits stay in place (a sweep is walking them) until gci_compact drops them. */
SNUG_INTERNAL size_t    gci_remove(struct gc_index *x, struct gc_page *d, unsigned gi, int keep_empty);
/* After a sweep: drop empty descriptors and leaves, recompute lo/hi. */
SNUG_INTERNAL void      gci_compact(struct gc_index *x);

static inline uintptr_t gc_gran_addr(const struct gc_page *d, unsigned gi) { return d->base + (uintptr_t)gi * GC_GRAN; }
static inline int gc_test(const struct gc_page *d, int f, unsigned i) { return (int)((d->bits[i >> 6][f] >> (i & 63)) & 1); }
static inline void gc_set(struct gc_page *d, int f, unsigned i) { d->bits[i >> 6][f] |= (uint64_t)1 << (i & 63); }
static inline void gc_clr(struct gc_page *d, int f, unsigned i) { d->bits[i >> 6][f] &= ~((uint64_t)1 << (i & 63)); }

/* Highest bit of bitmap f set at or below g, or -1. */
static inline int gc_last_le(const struct gc_page *d, int f, unsigned g)
{
    unsigned w = g >> 6;
    uint64_t m = d->bits[w][f] & (~(uint64_t)0 >> (63 - (g & 63)));
    for (;;) {
        if (m) return (int)(w * 64 + 63 - (unsigned)__builtin_clzll(m));
        if (w == 0) return -1;
        m = d->bits[--w][f];
    }
}
/* Lowest bit of bitmap f set at or above g, or -1. */
static inline int gc_first_ge(const struct gc_page *d, int f, unsigned g)
{
    unsigned w = g >> 6;
    uint64_t m = d->bits[w][f] & (~(uint64_t)0 << (g & 63));
    for (;;) {
        if (m) return (int)(w * 64 + (unsigned)__builtin_ctzll(m));
        if (++w == GC_NW) return -1;
        m = d->bits[w][f];
    }
}

/* The entry of an index page: 0 (none), a gc_page*, or a gc_big* | 1 (inside a block). */
__attribute__((always_inline))
static inline uintptr_t gc_tab_get(const struct gc_index *x, uintptr_t page)
{
    uint64_t t = (uint64_t)page >> GC_TOP_SHIFT;
    if (SNUG_UNLIKELY(t >= GC_TOP_N || !x->top)) return 0;
    struct gc_leaf **mid = x->top[t];
    if (SNUG_UNLIKELY(!mid)) return 0;
    const struct gc_leaf *leaf = mid[(page >> GC_LEAF_SHIFT) & (GC_MID_N - 1)];
    if (!leaf) return 0;
    return leaf->e[(page >> GC_IPAGE_SHIFT) & (GC_LEAF_N - 1)];
}

/* The block containing address a (its start or any byte of its extent): the descriptor of its
 * start page and its start granule there, or NULL.  O(1): one or two table lookups and a few
 * bit scans, whatever the block's size. */
__attribute__((always_inline))
static inline struct gc_page *gci_find(const struct gc_index *x, uintptr_t a, unsigned *gi)
{
    uintptr_t P = a & ~(uintptr_t)(GC_IPAGE - 1);
    uintptr_t v = gc_tab_get(x, P);
    if (!v) return NULL;
    if (v & 1) {                                        /* inside a big block */
        const struct gc_big *b = (const struct gc_big *)(v - 1);
        *gi = (unsigned)((b->start - b->sd->base) / GC_GRAN);
        return b->sd;
    }
    struct gc_page *d = (struct gc_page *)v;
    unsigned g = (unsigned)((a - P) / GC_GRAN);
    int s = gc_last_le(d, GC_START, g);
    if (s >= 0) {                   /* the block starting at s, unless it ended before g */
        int e = gc_first_ge(d, GC_END, (unsigned)s);
        if (e < 0 || (unsigned)e >= g) { *gi = (unsigned)s; return d; }
        return NULL;
    }
    /* No start at or below g: a may be in a block that began on an earlier page and ends here;
     * its end is then the lowest end bit, below every start bit of this page. */
    int e = gc_first_ge(d, GC_END, 0);
    if (e < 0 || (unsigned)e < g) return NULL;
    int s1 = gc_first_ge(d, GC_START, 0);
    if (s1 >= 0 && s1 <= e) return NULL;
    uintptr_t v2 = gc_tab_get(x, P - GC_IPAGE);
    if (!v2) return NULL;
    if (v2 & 1) {
        const struct gc_big *b = (const struct gc_big *)(v2 - 1);
        *gi = (unsigned)((b->start - b->sd->base) / GC_GRAN);
        return b->sd;
    }
    struct gc_page *d2 = (struct gc_page *)v2;
    s = gc_last_le(d2, GC_START, GC_NGRAN - 1);
    if (s < 0 || gc_first_ge(d2, GC_END, (unsigned)s) >= 0) return NULL;
    *gi = (unsigned)s;
    return d2;
}

/* One past the last byte of the extent of the block starting at (d, gi). */
__attribute__((always_inline))
static inline uintptr_t gci_end(const struct gc_index *x, const struct gc_page *d, unsigned gi)
{
    int e = gc_first_ge(d, GC_END, gi);
    if (e >= 0) return d->base + (uintptr_t)(e + 1) * GC_GRAN;
    uintptr_t v = gc_tab_get(x, d->base + GC_IPAGE);
    if (v & 1) return ((const struct gc_big *)(v - 1))->end;
    const struct gc_page *d2 = (const struct gc_page *)v;
    e = gc_first_ge(d2, GC_END, 0);
    return d2->base + (uintptr_t)(e + 1) * GC_GRAN;
}

/* Fast path: the block lies within the page of the previous insert (consecutive small blocks). */
static inline int gci_insert(struct gc_index *x, uintptr_t p, size_t ext, int atomic)
{
    struct gc_page *d = x->last;
    uintptr_t P = p & ~(uintptr_t)(GC_IPAGE - 1);
    if (SNUG_LIKELY(d != NULL && d->base == P && ((p + ext - 1) & ~(uintptr_t)(GC_IPAGE - 1)) == P)) {
        unsigned g0 = (unsigned)((p - P) / GC_GRAN), g1 = (unsigned)((p + ext - 1 - P) / GC_GRAN);
        if (SNUG_LIKELY(!gc_test(d, GC_START, g0) && !gc_test(d, GC_END, g1))) {
            gc_set(d, GC_START, g0);
            if (atomic) gc_set(d, GC_ATOMIC, g0);
            gc_set(d, GC_END, g1);
            d->nstart++;
            d->nend++;
            x->blocks++;
            return 0;
        }
    }
    return gci_insert_slow(x, p, ext, atomic);
}

/* ---- shared state ----------------------------------------------------------------------- */
struct gc_range { uintptr_t lo, hi; };

struct gc_markstack {
    struct gc_range *e;             /* mmap'd; grown with mremap, never with the allocator */
    size_t top, cap, max_cap;
    int overflowed;                 /* a marked block could not be pushed: rescan marked blocks */
    size_t overflows;               /* times that happened (statistics, tests) */
};

/* A small block handed out but not yet indexed: its owner queues it without the GC lock and
 * indexes a batch at once.  Until then the collector scans it as a root (it can neither be
 * marked nor swept). */
#define GC_PEND      64
#define GC_PEND_MAX  SNUG_SMALL_MAX          /* bigger blocks are indexed at once */
struct gc_pend {
    uintptr_t p;                    /* 0: freed (snug_gc_free) while pending */
    size_t x;                       /* extent | 1 when atomic */
};

struct gc_thread {
    pthread_t tid;
    pid_t ktid;                     /* kernel thread id: tells whether the thread still exists */
    uintptr_t stack_lo, stack_hi;   /* stack_lo 0: unknown (the main thread's stack grows) */
    uintptr_t sp;                   /* saved by the thread itself when stopped */
    uintptr_t alt_lo, alt_hi;       /* the signal stack it was running on when stopped, if any */
    atomic_uint stop_gen;           /* the stop this thread is asked to answer */
    atomic_uint acked_gen;          /* the last stop it answered */
    int is_main, signalled, linked;
    struct gc_thread *next, *prev;
    /* the owner appends without the lock (entry first, then npend); everything else that
     * touches these holds the GC lock */
    atomic_size_t npend;
    atomic_size_t pend_bytes;       /* extents of pend[0..npend), counted in snug_gc_heap_bytes */
    struct gc_pend pend[GC_PEND];
};

struct gc_state {
    pthread_mutex_t lock;           /* every field below, the index and the thread list */
    struct gc_index idx;
    struct gc_markstack ms;
    size_t heap_bytes;              /* extents of the indexed blocks */
    atomic_size_t since;            /* bytes allocated since the last collection */
    atomic_size_t trigger;          /* collect when since reaches this */
    size_t min_trigger;
    size_t collections, last_freed, last_kept;
    /* threads */
    struct gc_thread *threads;
    size_t nthreads;
    struct gc_thread *dead;         /* threads found gone during a stop: freed after it */
    sem_t ack;                      /* stopped and resumed threads post here */
    atomic_uint stop_gen, resume_gen;
    int stopped;                    /* the world is stopped now */
    /* roots added by the program */
    struct gc_range *roots;
    size_t nroots, roots_cap;
};

/* Defined in stop.c (its signal handlers read it), set once by gc.c's start-up. */
extern SNUG_INTERNAL struct gc_state *snug_gc;

/* Count bytes towards the next collection (GC lock held: only the count's readers are lock-free). */
static inline void gc_add_since(struct gc_state *g, size_t bytes)
{
    atomic_store_explicit(&g->since, atomic_load_explicit(&g->since, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
}

/* ---- threads (stop.c) ------------------------------------------------------------------- */
SNUG_INTERNAL int  gc_threads_init(void);                          /* handlers; main thread */
SNUG_INTERNAL int  gc_thread_register_self(void);                  /* 0 new, 1 already, -1 error */
SNUG_INTERNAL int  gc_thread_unregister_self(void);                /* 0 done, 1 was not registered */
extern SNUG_INTERNAL __thread struct gc_thread *snug_gc_self;   /* NULL: not registered */
/* Index t's pending blocks (GC lock held); entries that cannot be indexed stay pending. */
SNUG_INTERNAL void gc_flush_pending(struct gc_state *g, struct gc_thread *t);
SNUG_INTERNAL void gc_stop_world(void);                            /* caller holds the GC lock */
SNUG_INTERNAL void gc_start_world(void);                           /* then frees the dead records */
SNUG_INTERNAL void gc_threads_fork_child(void);
/* The stack pointer of the caller, or a little below it: every byte of the caller's frame
 * (its saved registers included) lies above the returned address.  Never inlined. */
SNUG_INTERNAL uintptr_t gc_below_caller(void);

/* ---- marking and roots (mark.c) --------------------------------------------------------- */
struct dl_phdr_info;
SNUG_INTERNAL int  gc_mark_init(struct gc_markstack *m);
SNUG_INTERNAL void gc_mark_range(uintptr_t lo, uintptr_t hi);      /* a root range: scan and drain */
SNUG_INTERNAL void gc_mark_finish(void);                           /* drain, then recover from overflow */
/* The writable segments of one loaded object (first: the program); world stopped. */
SNUG_INTERNAL void gc_mark_object_data(const struct dl_phdr_info *info, int first);
/* Every thread's stack from its saved stack pointer, the caller's from its own frame, and every
 * thread's pending blocks; world stopped. */
SNUG_INTERNAL void gc_mark_thread_stacks(void);
/* 1 when a word of the static roots points into [lo, hi) (a new block there would be retained) */
SNUG_INTERNAL int  gc_static_points_into(uintptr_t lo, uintptr_t hi);
#endif
