/* gc.c - the implicit allocator: a conservative mark-sweep collector on snug's own heap, the
 * snug_gc_* API and the collection itself (collect_locked: every step, in order, from here).
 * GC blocks are ordinary snug blocks (sn_malloc/sn_calloc) that the collector also indexes; a
 * swept block goes straight back to snug with sn_free.
 *
 * DESIGN
 *
 * Files, each calling only those before it: index.c (the block index), stop.c (registered
 * threads, their pending blocks, stopping the world), mark.c (marking, the roots), gc.c (this
 * one).  Below them, only the allocator's entry points (alloc.h), os.h's mappings and error.h.
 *
 * Blocks.  snug_gc_malloc(n) asks snug for ext = n rounded up to a granule (16 bytes on
 * 64-bit), zeroed (sn_calloc: fresh pages of large blocks are not touched again), and records
 * the block in the index (index.c).  No header is added: a 24-byte GC object costs what a
 * 24-byte malloc costs.  Explicit and GC blocks share snug's pages and free lists.
 *
 * Pending blocks.  Taking the GC lock for every small allocation made two allocating threads
 * spend most of their time in futex calls, so a block of up to 1 KiB is first queued in its
 * thread's record (64 entries, written entry first, count second, without any lock) and the
 * queue is indexed as a batch under the lock when full, when the thread collects, unregisters
 * or exits.  A queued block is not indexed, hence never marked nor swept; so that what it points
 * to survives, the collector scans every thread's queued blocks as roots.  snug_gc_free and
 * snug_gc_realloc find a block still queued by another thread (under the lock, while the owner
 * can only append) and tombstone it.  snug_gc_heap_bytes adds the queued bytes.
 *
 * Index.  A three-level radix table keyed by 4 KiB address page (2 MiB leaves of 512 entries)
 * gives, for a page holding GC block boundaries, a descriptor with four bitmaps over its 16-byte
 * granules: start, end (last granule), atomic, mark, interleaved per 64 granules so a lookup
 * touches one or two cache lines.  Pages wholly inside a block of 3+ pages hold a "cover" entry
 * pointing at a small record {start, end}.  So any word is resolved in O(1): after a range
 * check against [lo, hi), one table walk (two for a block that began on the previous page),
 * then bit scans: the highest start at or below the word's granule, and the first end at or
 * after that start, say whether the word lies in a block and where the block begins.
 * Interior pointers therefore cost the same as pointers to the start.  (A hash table keyed by
 * page was tried first: its probes missed the cache on large heaps.)
 *
 * Roots.  (1) the writable PT_LOAD segments of the program and of every loaded library
 * (dl_iterate_phdr), except libsnug.so's own - the collector's state lives in a mapping, so no
 * data segment holds a GC address of ours, and snug's own statics point only at metadata;
 * (2) every registered thread's stack, from the stack pointer it saved when stopped (or the
 * collector's own, taken after __builtin_unwind_init spilled its registers) up to its base:
 * pthread_getattr_np for threads, __libc_stack_end (else /proc/self/maps read with open/read)
 * for the main thread, so the main thread costs no malloc; the stopped threads' registers are
 * in the signal frame the kernel pushed above the handler's frame, which that range covers;
 * (3) ranges given to snug_gc_add_roots.  Memory from plain malloc is not a root.
 * A thread is registered by snug_gc_register_thread or by its first snug_gc_* call; the main
 * thread is registered when the collector starts (its pthread_t is noted by a constructor);
 * a thread-specific key unregisters a thread when it exits.
 *
 * Marking.  Conservative: every aligned word of a root or of a scanned block that points into
 * a live GC block marks it; atomic blocks are marked but never scanned.  No recursion: marked
 * blocks go on an explicit stack of (lo, hi) ranges in mapped memory, scanned in 4 KiB slices;
 * popped ranges pass through a 16-entry queue that prefetches them, so the cache misses on the
 * blocks being scanned overlap (2x faster marking on large trees).
 * The stack doubles with mremap (a system call: safe while the world is stopped) up to 64 MiB;
 * if it cannot, the block stays marked but unpushed, an overflow flag is set, and when the stack
 * is empty every marked non-atomic block is rescanned until no push was dropped.
 *
 * Stopping the world and why it cannot deadlock.  The collector holds the GC lock (a mutex
 * around the index, counters, thread list and roots) from before the stop until after the sweep.
 * Mutators take the GC lock only in snug_gc_* calls and never while inside sn_malloc & co, so
 * the lock order is always GC lock -> snug's locks (fork's prepare handlers keep that order:
 * ours, registered after snug's, run first).  The stop happens inside the first callback of
 * collect_locked's dl_iterate_phdr, which then scans each object's data, so the loader's lock is
 * held: no thread is half-way through dlopen or dlclose and the segments stay mapped while they
 * are scanned (stopping first could stop a thread holding that lock, and dl_iterate_phdr would
 * wait for it for ever: C++ exception unwinding takes it, for one).  Each other registered thread
 * gets SIGPWR; its handler records its stack pointer, posts a semaphore and waits in sigsuspend
 * (everything but SIGXCPU blocked) until the resume generation changes; SIGXCPU wakes it, it
 * posts again.  A stopped thread may hold any snug lock, or be waiting for the GC lock; the
 * mark phase needs neither: it reads only the index, roots and blocks, and allocates nothing
 * (the mark stack is mapped memory).  The world is resumed BEFORE the sweep, and only the sweep
 * calls sn_free, so every thread that holds a snug lock is running again and releases it; a
 * thread waiting for the GC lock waits for the sweep to finish, holding no snug lock.  A block
 * a stopped thread got from sn_malloc but had not queued yet is unknown to this collection (not
 * marked, not swept) and still zero, since the program has not seen it; a queued block is a
 * root (see Pending blocks).  A thread that vanished without unregistering is noticed
 * (tgkill probe) and given up instead of waited for.
 *
 * Sweep.  With the GC lock still held and the world running: every start bit without a mark
 * bit is a dead block: it leaves the index, then goes back with sn_free (snug routes a small
 * block owned by another thread through that thread's lock-free remote list).  Empty descriptors
 * are dropped, the table shrinks when mostly empty.  heap_bytes is then what the collection kept.
 *
 * Triggering.  Every GC allocation adds its extent to `since`; when since reaches
 * max(8 MiB, bytes kept by the last collection) the allocating thread collects first.  A
 * program churning through gigabytes of garbage with L bytes live thus stays near
 * 2 * max(8 MiB, L) of GC data.  An allocation snug cannot serve triggers a collection and one
 * retry before NULL + ENOMEM.
 *
 * fork.  pthread_atfork: prepare takes the GC lock (after which snug's prepare takes its own);
 * the child reinitialises the lock and the semaphore and forgets every thread but itself.
 *
 * Limits.  Pointers hidden from the collector (xor-ed, stored only in unregistered threads'
 * stacks, in plain malloc memory not added as a root, or in thread-local storage of the main
 * thread) do not keep blocks.  A GC block must be released only by the collector or by
 * snug_gc_free, never by free().  SIGPWR and SIGXCPU belong to the collector once it started.
 * A dl_iterate_phdr callback must not call snug_gc_* (the collector would wait for the loader
 * lock that callback's thread holds, and that thread for the GC lock).  Stacks made by the
 * program itself (makecontext, coroutines) are not scanned unless added as roots.  Being
 * conservative, a non-pointer word (on 32-bit, e.g. a constant in libc's random() table) can
 * keep a block alive: bdwgc's blacklisting of such addresses would need a say in placement.
 */
#include "gc.h"
#include "alloc.h"
#include "error.h"
#include "os.h"
#include "snug.h"
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#define MIN_TRIGGER ((size_t)8 << 20)

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int gc_ready;

/* ---- start-up and fork ------------------------------------------------------------------- */
static void fork_prepare(void) { pthread_mutex_lock(&snug_gc->lock); }
static void fork_parent(void) { pthread_mutex_unlock(&snug_gc->lock); }
static void fork_child(void)
{
    pthread_mutex_init(&snug_gc->lock, NULL);
    gc_threads_fork_child();
}

static int init_slow(void)
{
    pthread_mutex_lock(&init_lock);
    if (atomic_load(&gc_ready)) { pthread_mutex_unlock(&init_lock); return 0; }
    /* snug first: its fork handlers must be registered before ours (see DESIGN) */
    void *probe = sn_malloc(1);
    if (!probe) goto fail;
    sn_free(probe);
    struct gc_state *g = snug_os_map(snug_align_up(sizeof *g, SNUG_OSPAGE));
    if (!g) goto fail;
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->lock, NULL);
    sem_init(&g->ack, 0, 0);
    g->min_trigger = MIN_TRIGGER;
    atomic_store(&g->trigger, g->min_trigger);
    if (gc_mark_init(&g->ms) != 0) goto fail;
    snug_gc = g;
    if (gc_threads_init() != 0) goto fail;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atomic_store_explicit(&gc_ready, 1, memory_order_release);
    pthread_mutex_unlock(&init_lock);
    return 0;
fail:
    pthread_mutex_unlock(&init_lock);
    errno = ENOMEM;
    return -1;
}

static inline int gc_init(void)
{
    return SNUG_LIKELY(atomic_load_explicit(&gc_ready, memory_order_acquire)) ? 0 : init_slow();
}

/* Started, and the calling thread registered (its stack and registers will be roots). */
static inline int gc_enter(void)
{
    if (SNUG_UNLIKELY(gc_init() != 0)) return -1;
    if (SNUG_LIKELY(snug_gc_self != NULL)) return 0;
    return gc_thread_register_self() < 0 ? -1 : 0;
}

/* ---- collection -------------------------------------------------------------------------- */
static void sweep(struct gc_state *g)
{
    struct gc_index *x = &g->idx;
    size_t freed = 0;
    for (size_t k = 0; k < x->npages; k++) {
        struct gc_page *d = x->pages[k];
        for (unsigned w = 0; w < GC_NW; w++) {
            uint64_t dead = d->bits[w][GC_START] & ~d->bits[w][GC_MARK];
            d->bits[w][GC_MARK] = 0;
            while (dead) {
                unsigned gi = w * 64 + (unsigned)__builtin_ctzll(dead);
                dead &= dead - 1;
                void *p = (void *)gc_gran_addr(d, gi);
                /* out of the index first, then to snug; a block within this page inline */
                int e = gc_first_ge(d, GC_END, gi);
                if (SNUG_LIKELY(e >= 0)) {
                    gc_clr(d, GC_START, gi);
                    gc_clr(d, GC_ATOMIC, gi);
                    gc_clr(d, GC_END, (unsigned)e);
                    d->nstart--;
                    d->nend--;
                    x->blocks--;
                    freed += (size_t)((unsigned)e + 1 - gi) * GC_GRAN;
                } else {
                    freed += gci_remove(x, d, gi, 1);
                }
                sn_free(p);
            }
        }
    }
    gci_compact(x);
    g->heap_bytes -= freed;
    g->last_freed = freed;
    g->last_kept = g->heap_bytes;
}

/* Called by dl_iterate_phdr for each loaded object, the program first, with the loader's lock
 * held throughout: the world is stopped in the first call (see DESIGN, Stopping the world). */
static int stop_and_mark_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned *nobj = arg;
    (void)size;
    if (!snug_gc->stopped) gc_stop_world();
    gc_mark_object_data(info, (*nobj)++ == 0);
    return 0;
}

/* One collection, every step of it; the caller holds the GC lock. */
static void collect_locked(struct gc_state *g)
{
    if (!snug_gc_self) return;              /* our own stack would not be scanned */
    gc_flush_pending(g, snug_gc_self);      /* ours can be indexed now; others' are roots */
    g->ms.top = 0;
    g->ms.overflowed = 0;
    unsigned nobj = 0;
    dl_iterate_phdr(stop_and_mark_object, &nobj);   /* stop, then the static data */
    if (!g->stopped) gc_stop_world();
    gc_mark_thread_stacks();                /* stacks, registers, pending blocks */
    for (size_t i = 0; i < g->nroots; i++) gc_mark_range(g->roots[i].lo, g->roots[i].hi);
    gc_mark_finish();
    gc_start_world();
    sweep(g);                               /* with the world running: sn_free may take locks */
    g->collections++;
    size_t t = g->heap_bytes > g->min_trigger ? g->heap_bytes : g->min_trigger;
    atomic_store(&g->trigger, t);
    atomic_store(&g->since, 0);
}

static void collect_if_due(struct gc_state *g)
{
    pthread_mutex_lock(&g->lock);
    if (atomic_load(&g->since) >= atomic_load(&g->trigger)) collect_locked(g);
    pthread_mutex_unlock(&g->lock);
}

/* ---- allocation ---------------------------------------------------------------------------- */
/* Big blocks are large targets for words that only look like pointers; on 32-bit, constants in
 * libc's data (random()'s table) land in the very range where large mappings go.  As bdwgc
 * blacklists such addresses, a new big block that static data already points into is set aside
 * and another one taken (static data cannot hold a real pointer to a block not yet made). */
#define SHUN_MIN   (sizeof(void *) == 4 ? (size_t)64 << 10 : (size_t)1 << 20)
#define SHUN_TRIES 8

static void *shun_false_refs(void *p, size_t ext, int atomic)
{
    void *held[SHUN_TRIES];
    int n = 0;
    while (p && n < SHUN_TRIES && gc_static_points_into((uintptr_t)p, (uintptr_t)p + ext)) {
        held[n++] = p;                      /* keep it, so the next one lands elsewhere */
        p = atomic ? sn_malloc(ext) : sn_calloc(1, ext);
    }
    if (!p && n) p = held[--n];             /* no memory for another: use the last one */
    while (n) sn_free(held[--n]);
    return p;
}

static void *gc_alloc(size_t n, int atomic)
{
    if (SNUG_UNLIKELY(gc_enter() != 0)) { errno = ENOMEM; return NULL; }
    if (SNUG_UNLIKELY(n > (size_t)PTRDIFF_MAX - GC_GRAN)) { errno = ENOMEM; return NULL; }
    struct gc_state *g = snug_gc;
    size_t ext = n ? snug_align_up(n, GC_GRAN) : GC_GRAN;
    if (SNUG_UNLIKELY(atomic_load_explicit(&g->since, memory_order_relaxed) >=
                      atomic_load_explicit(&g->trigger, memory_order_relaxed)))
        collect_if_due(g);
    void *p = atomic ? sn_malloc(ext) : sn_calloc(1, ext);
    if (SNUG_UNLIKELY(!p)) {                /* collect, then try once more */
        pthread_mutex_lock(&g->lock);
        collect_locked(g);
        pthread_mutex_unlock(&g->lock);
        p = atomic ? sn_malloc(ext) : sn_calloc(1, ext);
        if (!p) { errno = ENOMEM; return NULL; }
    }
    if (SNUG_UNLIKELY(ext >= SHUN_MIN)) p = shun_false_refs(p, ext, atomic);
    struct gc_thread *t = snug_gc_self;
    if (SNUG_LIKELY(ext <= GC_PEND_MAX)) {  /* small: queue it, index a batch later */
        size_t k = atomic_load_explicit(&t->npend, memory_order_relaxed);
        if (SNUG_UNLIKELY(k == GC_PEND)) {
            pthread_mutex_lock(&g->lock);
            gc_flush_pending(g, t);
            pthread_mutex_unlock(&g->lock);
            k = atomic_load_explicit(&t->npend, memory_order_relaxed);
        }
        if (SNUG_LIKELY(k < GC_PEND)) {
            t->pend[k].p = (uintptr_t)p;
            t->pend[k].x = ext | (size_t)atomic;
            /* the entry is complete before it counts: a collector stopping us sees either */
            atomic_store_explicit(&t->npend, k + 1, memory_order_release);
            atomic_store_explicit(&t->pend_bytes,
                                  atomic_load_explicit(&t->pend_bytes, memory_order_relaxed) + ext,
                                  memory_order_relaxed);
            return p;
        }
    }
    pthread_mutex_lock(&g->lock);
    if (SNUG_UNLIKELY(gci_insert(&g->idx, (uintptr_t)p, ext, atomic) != 0)) {
        pthread_mutex_unlock(&g->lock);
        sn_free(p);
        errno = ENOMEM;
        return NULL;
    }
    g->heap_bytes += ext;
    gc_add_since(g, ext);
    pthread_mutex_unlock(&g->lock);
    return p;
}

SNUG_API void *snug_gc_malloc(size_t n) { return gc_alloc(n, 0); }
SNUG_API void *snug_gc_malloc_atomic(size_t n) { return gc_alloc(n, 1); }

/* A pending entry for p in any thread's queue, or NULL (GC lock held: owners only append). */
static struct gc_pend *pending_entry(struct gc_state *g, uintptr_t p)
{
    for (struct gc_thread *t = g->threads; t; t = t->next) {
        size_t n = atomic_load_explicit(&t->npend, memory_order_acquire);
        for (size_t i = n; i-- > 0;)
            if (t->pend[i].p == p) return &t->pend[i];
    }
    return NULL;
}

/* Extent and kind of the GC block starting at p, indexed or pending, under the lock; removes it
 * when `take`.  Fatal (after unlocking) when p is not the start of a GC block. */
static size_t block_info(struct gc_state *g, void *p, int *atomic, int take, const char *op)
{
    unsigned gi;
    struct gc_page *d = gci_find(&g->idx, (uintptr_t)p, &gi);
    if (d && gc_gran_addr(d, gi) == (uintptr_t)p) {
        *atomic = gc_test(d, GC_ATOMIC, gi);
        if (!take) return (size_t)(gci_end(&g->idx, d, gi) - (uintptr_t)p);
        size_t ext = gci_remove(&g->idx, d, gi, 0);
        g->heap_bytes -= ext;
        return ext;
    }
    struct gc_pend *e = p ? pending_entry(g, (uintptr_t)p) : NULL;
    if (!e) {
        pthread_mutex_unlock(&g->lock);
        snug_fatal(op, p, 0);
    }
    *atomic = (int)(e->x & 1);
    size_t ext = e->x & ~(size_t)1;
    if (take) {
        e->p = 0;                           /* its owner's next flush drops it */
        g->heap_bytes -= ext;               /* (its owner still counts it in pend_bytes) */
    }
    return ext;
}

SNUG_API void snug_gc_free(void *p)
{
    if (!p) return;
    if (gc_init() != 0) snug_fatal("snug_gc_free(): not a GC block", p, 0);
    struct gc_state *g = snug_gc;
    int atomic;
    pthread_mutex_lock(&g->lock);
    size_t ext = block_info(g, p, &atomic, 1, "snug_gc_free(): not a GC block");
    /* Freed explicitly (also by a moving realloc): no longer counts towards the
     * next collection, or realloc-heavy programs would collect far too often. */
    size_t since = atomic_load_explicit(&g->since, memory_order_relaxed);
    atomic_store_explicit(&g->since, since > ext ? since - ext : 0, memory_order_relaxed);
    pthread_mutex_unlock(&g->lock);
    sn_free(p);
}

SNUG_API void *snug_gc_realloc(void *p, size_t n)
{
    if (!p) return snug_gc_malloc(n);
    if (n == 0) { snug_gc_free(p); return NULL; }
    if (gc_enter() != 0) { errno = ENOMEM; return NULL; }
    if (n > (size_t)PTRDIFF_MAX - GC_GRAN) { errno = ENOMEM; return NULL; }
    struct gc_state *g = snug_gc;
    int atomic;
    pthread_mutex_lock(&g->lock);
    size_t old = block_info(g, p, &atomic, 0, "snug_gc_realloc(): not a GC block");
    pthread_mutex_unlock(&g->lock);
    size_t ext = snug_align_up(n, GC_GRAN);
    if (ext <= old && ext >= old / 2) {     /* still fits well: keep it */
        if (!atomic) memset((char *)p + n, 0, old - n);     /* no stale pointers past the end */
        return p;
    }
    /* p stays reachable from this frame while it is copied, so a collection keeps it */
    void *q = gc_alloc(n, atomic);
    if (!q) return NULL;
    memcpy(q, p, old < ext ? old : ext);
    snug_gc_free(p);
    return q;
}

SNUG_API void snug_gc_collect(void)
{
    if (gc_enter() != 0) return;
    struct gc_state *g = snug_gc;
    pthread_mutex_lock(&g->lock);
    collect_locked(g);
    pthread_mutex_unlock(&g->lock);
}

SNUG_API size_t snug_gc_heap_bytes(void)
{
    if (gc_init() != 0) return 0;
    struct gc_state *g = snug_gc;
    pthread_mutex_lock(&g->lock);
    size_t b = g->heap_bytes;               /* indexed, plus what each thread has pending */
    for (struct gc_thread *t = g->threads; t; t = t->next)
        b += atomic_load_explicit(&t->pend_bytes, memory_order_relaxed);
    pthread_mutex_unlock(&g->lock);
    return b;
}

/* ---- roots and threads ------------------------------------------------------------------- */
static int roots_reserve(struct gc_state *g, size_t extra)
{
    if (g->nroots + extra <= g->roots_cap) return 0;
    size_t ncap = g->roots_cap ? g->roots_cap * 2 : 16;
    while (ncap < g->nroots + extra) ncap *= 2;
    struct gc_range *r = sn_realloc(g->roots, ncap * sizeof *r);
    if (!r) return -1;
    g->roots = r;
    g->roots_cap = ncap;
    return 0;
}

SNUG_API void snug_gc_add_roots(void *lo, void *hi)
{
    if (gc_init() != 0 || (uintptr_t)lo >= (uintptr_t)hi) return;
    struct gc_state *g = snug_gc;
    pthread_mutex_lock(&g->lock);
    if (roots_reserve(g, 1) == 0) {
        g->roots[g->nroots].lo = (uintptr_t)lo;
        g->roots[g->nroots].hi = (uintptr_t)hi;
        g->nroots++;
    }
    pthread_mutex_unlock(&g->lock);
}

/* Afterwards no byte of [lo, hi) belongs to an added root: ranges inside it go, ranges
 * overlapping it are trimmed (a range around it is split in two). */
SNUG_API void snug_gc_remove_roots(void *lo, void *hi)
{
    uintptr_t a = (uintptr_t)lo, b = (uintptr_t)hi;
    if (gc_init() != 0 || a >= b) return;
    struct gc_state *g = snug_gc;
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < g->nroots;) {
        struct gc_range *r = &g->roots[i];
        if (r->hi <= a || r->lo >= b) { i++; continue; }
        if (r->lo >= a && r->hi <= b) {             /* inside: remove */
            g->roots[i] = g->roots[--g->nroots];
            continue;
        }
        if (r->lo < a && r->hi > b) {               /* around: split */
            if (roots_reserve(g, 1) != 0) { i++; continue; }   /* keep it whole: safe */
            r = &g->roots[i];
            g->roots[g->nroots].lo = b;
            g->roots[g->nroots].hi = r->hi;
            g->nroots++;
            r->hi = a;
        } else if (r->lo < a) {
            r->hi = a;
        } else {
            r->lo = b;
        }
        i++;
    }
    pthread_mutex_unlock(&g->lock);
}

SNUG_API int snug_gc_register_thread(void)
{
    if (gc_init() != 0) return -1;
    return gc_thread_register_self();
}

SNUG_API int snug_gc_unregister_thread(void)
{
    if (gc_init() != 0) return -1;
    return gc_thread_unregister_self();
}
