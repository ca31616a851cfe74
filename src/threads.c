/* threads.c - the thread heaps' life cycle: a heap made or adopted at a
 * thread's first small request, parked at its exit with what it still holds,
 * the fallback heap for threads whose heap is gone, giving back what parked
 * heaps hold, and re-homing every heap after fork.  Lock order: heaps_lock,
 * then fallback_lock, then the fit lock.  A thread's start and exit take no
 * lock once there are heaps to adopt: a heap is parked by a store and adopted
 * by a CAS of its parked flag (heap.h). */
#include "heap.h"
#include "tuning.h"
#include "block.h"
#include "counts.h"
#include "fit.h"
#include "lock.h"
#include "mcache.h"
#include "live.h"
#include "options.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>

#if SNUG_REMOTE_KEYED
static void tl_set(struct heap *h)
{
    snug_tl.heap = h;
    snug_tl.remote = h ? &h->remote : &heap_none.remote;
    snug_tl.key = heap_key_of(h);
}
#else
static void tl_set(struct heap *h) { snug_tl.heap = h; snug_tl.key = heap_key_of(h); }
#endif
static __thread int tl_exited __attribute__((tls_model("initial-exec")));

static snug_lock_t heaps_lock = SNUG_LOCK_INIT;
static struct heap *_Atomic all_heaps;
static struct heap *_Atomic parked_last;   /* a hint: the heap parked last (heap_get tries it first) */
static snug_lock_t fallback_lock = SNUG_LOCK_INIT;
static struct heap *fallback;          /* serves threads whose heap is gone (exited) */
static pthread_key_t heap_key;

/* Frees queued on parked heaps (remote.c's heap_free_remote sets heap_parked_frees). */
static int collect_parked(int idle_only);
int heap_reclaim_parked(void)
{
    int was = atomic_load_explicit(&heap_parked_frees, memory_order_relaxed);
    if (was == 1) {
        atomic_store_explicit(&heap_parked_frees, 2, memory_order_relaxed);
        return 1;
    }
    if (was == 2 && atomic_exchange_explicit(&heap_parked_frees, 0, memory_order_relaxed) == 2 && collect_parked(1))
        heap_parked_wait();             /* (heaps parked too lately to give back: a wait again) */
    return atomic_load_explicit(&heap_parked_frees, memory_order_relaxed) != 0;
}

/* h's thread cache flushed and the header of every page on its lists
 * checked; its empty pages (the spares, each class's last) given back unless
 * `keep` (a heap parked with them: an overflow into one is still named at its
 * thread's exit, not when another thread adopts it). */
static void heap_settle(struct heap *h, int keep)
{
    if (h->mc) mcache_flush(h->mc);
    if (!keep) heap_give_empty(h);
    for (struct spage *pg = h->spare; pg; pg = pg->next) page_verify(pg);
    for (unsigned c = 0; c < SNUG_NCLASSES; c++)
        for (struct spage *pg = h->avail[c]; pg; pg = pg->next) page_verify(pg);
}
void heap_release_empty(struct heap *h) { heap_settle(h, 0); }

static void thread_exit(void *arg)
{
    struct heap *h = arg;
    heap_remote_flush();
    drain_remote(h);
    /* Its empty pages (each class's last, the spares) stay with the heap while
     * the reclaimer runs: a program that starts a thread for each piece of work
     * gives them to the next thread, which adopts the heap, instead of giving
     * them to the fit allocator and taking them back (arena 0's lock, a merge
     * and a split each).  The reclaimer's next rounds give back what no
     * thread adopted (heap_parked_wait). */
    int keep = atomic_load_explicit(&snug_os_reclaimer, memory_order_relaxed) == SNUG_RECLAIMER_RUNS;
    heap_settle(h, keep);
    live_publish(h);                    /* (a parked heap holds nothing unpublished) */
    snug_fit_thread_exit();             /* (its arena, for the next thread) */
    tl_set(NULL);
    tl_exited = 1;
    h->parked_at = (uint32_t)snug_os_now_ms();
    /* (release: the thread that adopts it sees all of the above) */
    __atomic_store_n(&h->parked, HEAP_PARKED, __ATOMIC_RELEASE);
    atomic_store_explicit(&parked_last, h, memory_order_relaxed);
    if (keep) heap_parked_wait();
}

/* h's parked flag from `from` to `to`, by this thread alone. */
static int heap_claim(struct heap *h, uint8_t from, uint8_t to)
{
    uint8_t f = from;
    if (__atomic_load_n(&h->parked, __ATOMIC_RELAXED) != from) return 0;
    SNUG_COUNT(SNUG_C_RMW_OTHER);
    return __atomic_compare_exchange_n(&h->parked, &f, to, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* A parked heap, adopted by the calling thread, or NULL: the one parked last,
 * else the first on the list of every heap.  Lock-free: a heap stays on that
 * list for good, and its next_all never changes.  (Under heaps_lock a thread
 * start and exit took it twice: churn, 1.0 acquisitions per 1000 calls.) */
static struct heap *heap_adopt(void)
{
    struct heap *h = atomic_load_explicit(&parked_last, memory_order_relaxed);
    if (h && heap_claim(h, HEAP_PARKED, HEAP_LIVE)) return h;
    for (h = atomic_load_explicit(&all_heaps, memory_order_acquire); h; h = h->next_all)
        if (heap_claim(h, HEAP_PARKED, HEAP_LIVE)) return h;
    return NULL;
}

/* The first thread's heap record is made at start-up, beside the fallback
 * heap's, at the bottom of region 0: a record carved when that thread first
 * asks for a small block lies where the heap then ends, and after a burst of
 * medium blocks (a program whose first small request comes late) it would
 * hold the burst's memory from the kernel for good once it is freed.  Later
 * threads' records come from the fit allocator when they start. */
static struct heap *first_heap;

static struct heap *heap_new(void)
{
    snug_lock(&heaps_lock);
    struct heap *h = first_heap;
    first_heap = NULL;
    snug_unlock(&heaps_lock);
    if (!h) h = snug_fit_meta_alloc(sizeof *h);
    if (!h) return NULL;
    memset(h, 0, sizeof *h);
    h->sample = (struct guard_countdown)GUARD_COUNTDOWN_INIT;
    atomic_store_explicit(&h->remote, remote_empty(h), memory_order_relaxed);
    snug_lock(&heaps_lock);
    h->next_all = atomic_load_explicit(&all_heaps, memory_order_relaxed);
    atomic_store_explicit(&all_heaps, h, memory_order_release);
    snug_unlock(&heaps_lock);
    return h;
}

struct heap *heap_get(void)
{
    struct heap *h = snug_tl_heap;
    if (h || tl_exited) return h;
    if (!(h = heap_adopt()) && !(h = heap_new())) return NULL;
    tl_set(h);
    pthread_setspecific(heap_key, h);
    return h;
}

/* (The fit allocator gives back what snug keeps before it says no, but not
 * under fallback_lock, which that takes: here it is done after.) */
void *heap_fallback_alloc(size_t n)
{
    int saved = errno;
    for (int again = 0;; again = 1) {
        snug_os_give_back_hold(1);
        snug_lock(&fallback_lock);
        void *p = heap_alloc_small(fallback, n);
        snug_unlock(&fallback_lock);
        snug_os_give_back_hold(-1);
        if (p && again) errno = saved;
        if (p || again || !snug_os_give_back()) return p;
    }
}

int heap_init(void)
{
    atomic_store_explicit(&heap_none.remote, remote_empty((const struct heap *)~(uintptr_t)0), memory_order_relaxed);
    if (pthread_key_create(&heap_key, thread_exit) != 0) return -1;
    fallback = heap_new();
    first_heap = snug_fit_meta_alloc(sizeof *first_heap);
    return fallback ? 0 : -1;
}

void heap_give_back(void)
{
    struct heap *h = snug_tl_heap;
    heap_remote_flush();
    if (h) {
        drain_remote(h);
        heap_release_empty(h);
    }
    heap_collect_parked();
}

/* Every parked heap, held (no thread adopts it) while its queued frees are
 * applied and its empty pages go back; when `idle_only` (the reclaimer's
 * round), a heap parked within the last half decay_ms keeps its pages for
 * the next thread: a program that starts threads all the time gave each new
 * thread's pages back every second round and took them again from arena 0
 * (mt-churn at 128 threads: 4 global lock acquisitions per 1000 calls).
 * Whether such a heap was left. */
static int collect_parked(int idle_only)
{
    int young = 0;
    uint32_t now = (uint32_t)snug_os_now_ms();
    snug_lock(&heaps_lock);
    for (struct heap *h = atomic_load_explicit(&all_heaps, memory_order_acquire); h; h = h->next_all) {
        if (!heap_claim(h, HEAP_PARKED, HEAP_HELD)) continue;
        drain_remote(h);
        if (idle_only && now - h->parked_at < snug_opt.decay_ms / 2) young |= h->pages != 0;
        else heap_release_empty(h);
        __atomic_store_n(&h->parked, HEAP_PARKED, __ATOMIC_RELEASE);
    }
    snug_lock(&fallback_lock);
    drain_remote(fallback);
    heap_release_empty(fallback);
    snug_unlock(&fallback_lock);
    snug_unlock(&heaps_lock);
    return young;
}
void heap_collect_parked(void) { (void)collect_parked(0); }

/* The checker reads the pages of held heaps as their owner would: every heap
 * parked when it starts is held, so none is adopted or drained meanwhile
 * (heaps_lock, before the fit lock); a heap parked later is not read. */
void heap_hold_parked(int hold)
{
    if (hold) {
        snug_lock(&heaps_lock);
        for (struct heap *h = atomic_load_explicit(&all_heaps, memory_order_acquire); h; h = h->next_all)
            (void)heap_claim(h, HEAP_PARKED, HEAP_HELD);
        return;
    }
    for (struct heap *h = atomic_load_explicit(&all_heaps, memory_order_acquire); h; h = h->next_all)
        if (__atomic_load_n(&h->parked, __ATOMIC_RELAXED) == HEAP_HELD)
            __atomic_store_n(&h->parked, HEAP_PARKED, __ATOMIC_RELEASE);
    snug_unlock(&heaps_lock);
}

/* (The forking thread's batches of remote frees go first: the child keeps its
 * own thread's, but other threads' are lost there, and counted as such below.) */
void heap_fork_prepare(void)
{
    heap_remote_flush();
    snug_lock(&heaps_lock);
    snug_lock(&fallback_lock);
}
void heap_fork_parent(void) { snug_unlock(&fallback_lock); snug_unlock(&heaps_lock); }

/* Fork child: re-derive a page of another thread's heap from its bitmap (that
 * thread may have been half-way through a lock-free update) and relink it.  A
 * page another thread was still setting up (its header not yet valid) can hold
 * no block: it is collected, chained through its first word, and freed after
 * the walk.  Only a thread whose heap says page_setup can have left one: any
 * other invalid header was overwritten (its page may hold live blocks), and
 * is reported, not freed. */
struct orphans {
    uintptr_t list;
    unsigned allowed;           /* heaps that were setting up a page */
};

static void rebuild_page(uintptr_t page, void *arg)
{
    struct orphans *o = arg;
    struct spage *pg = (struct spage *)page;
    if (!page_guards_ok(pg)) {
        if (!o->allowed) page_verify(pg);
        o->allowed--;
        *(uintptr_t *)page = o->list;
        o->list = page;
        return;
    }
    struct heap *h = pg->owner;
    if (!h || !h->forked) return;
    unsigned pop = 0;
    for (unsigned w = 0; w < 4; w++) pop += (unsigned)__builtin_popcountll(pg->bits[w]);
    pg->used = (uint16_t)(pop - (SPAGE_MAXSLOTS - pg->nslots));
    pg->hint = 0;
    pg->in_full = 0;
    pg->relist = RELIST_EMPTY;
    avail_push(h, pg);
    if (pg->used == pg->nslots) page_to_full(h, pg, pg->cls);
    h->pages++;
    cls_count_up(h, pg->cls);
}

void heap_fork_child(void)
{
    snug_lock_reset(&fallback_lock);
    snug_lock_reset(&heaps_lock);
    /* Only the forking thread survives: every other live heap is parked, and
     * rebuilt from its pages, since its thread may have stopped mid-update. */
    int any = 0;
    struct orphans o = { 0, 0 };
    for (struct heap *h = atomic_load(&all_heaps); h; h = h->next_all) {
        atomic_store_explicit(&h->batches, 0, memory_order_relaxed);   /* other threads' batches: gone */
        if (h != snug_tl_heap && h != fallback && h->parked == HEAP_LIVE) {
            o.allowed += h->page_setup;
            h->page_setup = 0;
            h->parked = HEAP_PARKED;
            h->forked = 1;
            memset(h->avail, 0, sizeof h->avail);
            memset(h->cls_pages, 0, sizeof h->cls_pages);
            h->busy = 0;                /* (as its counts: from none) */
            h->cls_lossy = 0;
            h->pages = 0;
            h->spare = NULL;            /* (the walk finds its pages, and lists them by their class) */
            h->nspare = 0;
            any = 1;
        }
    }
    /* The child's sampling starts afresh, as in a new thread (guard.c). */
    struct heap *me = snug_tl_heap;
    if (me) me->sample = (struct guard_countdown)GUARD_COUNTDOWN_INIT;
    snug_tl.sample = (struct guard_countdown)GUARD_COUNTDOWN_INIT;
    if (any) snug_fit_each_page(rebuild_page, &o);
    while (o.list) {
        uintptr_t next = *(uintptr_t *)o.list;
        snug_fit_page_orphan((void *)o.list);
        o.list = next;
    }
    for (struct heap *h = atomic_load(&all_heaps); h; h = h->next_all) h->forked = 0;
}

struct heap *heap_list(void) { return atomic_load_explicit(&all_heaps, memory_order_acquire); }

size_t heap_small_pages(void)
{
    size_t n = 0;
    for (struct heap *h = heap_list(); h; h = h->next_all) n += __atomic_load_n(&h->pages, __ATOMIC_RELAXED);
    return n;
}
