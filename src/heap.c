/* heap.c - per-thread heaps: page lists per size class, the slow paths of small
 * allocation and free, spare pages, and the frees other threads queued
 * (applied here; queued by remote.c).  A heap's life cycle (made, adopted,
 * parked, re-homed after fork) is threads.c's, which calls down into this file. */
#include "heap.h"
#include "tuning.h"
#include "pagelist.h"
#include "block.h"
#include "fit.h"
#include "lock.h"
#include "mcache.h"
#include "live.h"
#include "meter.h"
#include "options.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/single_threaded.h>

/* A thread without a heap compares page keys with heap_none's list head,
 * which init sets to a value no page key can match (the heap at address ~0). */
struct heap heap_none;
#if SNUG_REMOTE_KEYED
__thread struct snug_tl snug_tl __attribute__((tls_model("initial-exec"))) = { .remote = &heap_none.remote, .sample = GUARD_COUNTDOWN_INIT };
#else
__thread struct snug_tl snug_tl __attribute__((tls_model("initial-exec"))) = { .key = 0, .sample = GUARD_COUNTDOWN_INIT };
#endif

/* Kept pages.  A class's only page that empties stays where it is
 * (heap_free_slow, below); its next emptying would ask the same questions
 * and get the same answers until a second page joins its list or the heap
 * shrinks.  So it is kept (relist RELIST_KEEP), and its frees stay on the
 * fast path even when it empties: a malloc/free pair of a class, the
 * commonest temporary, then costs no slow call (20 instructions of 127).
 * A page pushed on a list puts the page there before it back to
 * RELIST_EMPTY (both are verified by the push), and a heap that lost pages
 * enough to shrink (heap_shrank) puts every kept page back, so the next
 * emptying asks whether it holds up a free heap top. */
void avail_push(struct heap *h, struct spage *pg)
{
    list_push(&h->avail[pg->cls], pg);
    if (pg->next) pg->next->relist = RELIST_EMPTY;
}
static void avail_push_tail(struct heap *h, struct spage *pg)
{
    list_push_tail(&h->avail[pg->cls], pg);
    h->avail[pg->cls]->relist = RELIST_EMPTY;   /* (the head: pg itself when it is alone) */
}
static __attribute__((noinline, cold)) void keep_none(struct heap *h)
{
    for (unsigned c = 0; c < SNUG_NCLASSES; c++)
        if (h->avail[c]) h->avail[c]->relist = RELIST_EMPTY;
    h->kept = 0;
}
static void avail_remove(struct heap *h, struct spage *pg) { list_remove(&h->avail[pg->cls], pg); }

/* A full page leaves its avail list and is on no list (only its in_full flag
 * says where it is): the trip costs no other page's header.  It comes back
 * when a sixteenth of it (at least one slot) is free: freed slots of a full
 * page wait for reuse, but never more than that share of the page.  It comes
 * back at the tail: the head page goes on filling, and pages are refilled in
 * the order they came back, each having gathered frees the longest (perl's
 * trace: 13% of its peak heap was free slots when they came back at the
 * head, 7% at the tail). */
void page_to_full(struct heap *h, struct spage *pg, unsigned c)
{
    list_remove(&h->avail[c], pg);
    pg->in_full = 1;
    unsigned n = pg->nslots;
    pg->relist = (int16_t)(n - (n / RELIST_SHARE ? n / RELIST_SHARE : 1));
    SNUG_ASSERT(pg->relist < pg->used, "P5 (a full page's relist below its used count)", pg);
}

/* Pages per class, counted in 16 bits (the heap record stays small: its size
 * moves every block after it).  A class that passes UINT16_MAX pages (256 MiB
 * or more) loses the increments past it, and its count falls short from then
 * on, never below 0: when it counts as busy (BUSY_CLASS_PAGES) or idle (its
 * last dense page) is then approximate, and a heap that lost a count is not
 * held to the checker's sum (H2).  Counts that stuck at UINT16_MAX instead kept a
 * 1 GiB burst's last dense page, and the pages stacked above it, for good. */
void cls_count_up(struct heap *h, unsigned c)
{
    if (h->cls_pages[c] != UINT16_MAX) h->cls_pages[c]++;
    else h->cls_lossy = 1;
}

/* An emptied page leaves its class (its avail list and count): released, or spare. */
static void page_leave_class(struct heap *h, struct spage *pg)
{
    avail_remove(h, pg);
    if (h->cls_pages[pg->cls]) h->cls_pages[pg->cls]--;
    if (!h->cls_pages[pg->cls]) h->busy &= ~((uint32_t)1 << pg->cls);
}

/* pg, on no list and in no class, back to the fit allocator: first to the
 * page stash of the calling thread's arena when `stash` and it is the
 * thread's own heap in a process with threads (pages.c), owned there by heap_none, whose key no thread holds, so a
 * stray free into it is a double free (its bitmap is clear) and a fork child
 * leaves it alone. */
static inline int stash_ok(const struct heap *h) { return h == snug_tl_heap && !__libc_single_threaded; }
/* pg leaves h's count; when it may be stashed (the return), ownerless. */
static int heap_shrank(const struct heap *h);
static inline int page_leave_heap(struct heap *h, struct spage *pg, int stash)
{
    snug_own_sub(&h->pages, 1);
    if (h->kept && heap_shrank(h)) keep_none(h);
    stash = stash && stash_ok(h);
    if (stash) {
        pg->owner = &heap_none;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        pg->key = pg->front_key = page_key(pg, heap_key_of(&heap_none));
    }
    return stash;
}
static void page_to_fit(struct heap *h, struct spage *pg, int stash)
{
    size_t bytes = (size_t)pg->npages * SNUG_OSPAGE;
    if (page_leave_heap(h, pg, stash)) snug_fit_page_stash(pg, bytes);
    else snug_fit_page_free(pg, bytes);
    live_publish_over(h, METER_SLACK);
}

static void page_release_to(struct heap *h, struct spage *pg, int stash)
{
    page_leave_class(h, pg);
    page_to_fit(h, pg, stash);
}
static void page_release(struct heap *h, struct spage *pg) { page_release_to(h, pg, 0); }

/* A clear bit is a double free only in an intact header: an overflow from
 * the block before the page that reached the bitmap (and not the key, which
 * the fast path compares) is named as what it is.  The caller owns pg, so its
 * bitmap and count hold still (P1). */
void heap_free_fault(struct spage *pg, void *p)
{
    unsigned pop = 0;
    for (unsigned w = 0; w < 4; w++) pop += (unsigned)__builtin_popcountll(pg->bits[w]);
    if (!page_guards_ok(pg) || pg->nslots > SPAGE_MAXSLOTS || pop != pg->used + (SPAGE_MAXSLOTS - pg->nslots))
        snug_fatal("small page header overwritten (overflow?) at", pg, 0);
    long i = page_slot(pg, (uintptr_t)p);
    if (i < 0) snug_fatal("free(): invalid pointer", p, 0);
    snug_fatal("double free of", p, pg->bsize);     /* bit clear, or queued by another thread */
}

/* Spare pages.  In a process with threads, pages empty in bursts (a drain of
 * the frees other threads queued) while the heap goes on filling others: the
 * producer/consumer benchmark gave back and took again one page per 22
 * mallocs, each round trip through the fit allocator (its lock, a split and a
 * merge) costing over a thousand instructions.  So an emptied page waits on
 * the heap's spare list (up to SPARE_MAX, and half the most pages the heap
 * has owned since it last shrank: a producer whose consumer's batch empties
 * most of its pages at once keeps them for its next round), and a class that
 * needs a new page of its size takes it, its header set up again.
 * A single-threaded process keeps up to SPARE_ST (tuning.h), whatever its
 * peak: a program that makes and frees a batch of blocks over and over (a
 * request's records, a parse tree) gave back and took again every page of
 * the batch but one (64 blocks of 512 bytes: 9 pages a round), and the fit
 * blocks around pages given back became holes (heap_alloc_refill) the next
 * round took, a fit malloc and free each.  Its fit allocator is the only
 * other user of those pages, so when a class needs a page no spare is the
 * size of, the spares go back first, to be carved from (heap_page_new): a
 * tree of one pair of sizes cut down, then one of another pair, lost 0.9-2.6
 * points of utilization to spares of the first pair's page sizes kept
 * through the second. */

/* A spare page of npages OS pages (any, for 0), off the list, its guards checked; or NULL. */
static struct spage *spare_take(struct heap *h, unsigned npages)
{
    for (struct spage **at = &h->spare; *at; at = &(*at)->next) {
        struct spage *pg = *at;
        page_verify(pg);
        if (!npages || pg->npages == npages) {
            *at = pg->next;
            h->nspare--;
            return pg;
        }
    }
    return NULL;
}

/* Pages going back to arena 0 together, in one hold of its lock per
 * PAGE_BACK_N: a heap that shrinks lets go of up to SPARE_MAX spares at
 * once, and one that settles (the reclaimer's collection of parked heaps,
 * malloc_trim) of every class's empty page; each took the global lock
 * (churn at 32 threads: 150-830 acquisitions in 3 M calls). */
#define PAGE_BACK_N 64
struct page_back { unsigned n; void *pg[PAGE_BACK_N]; size_t bytes[PAGE_BACK_N]; };
static void back_flush(struct page_back *b)
{
    if (b->n) snug_fit_pages_free(b->pg, b->bytes, b->n);
    b->n = 0;
}
static void back_add(struct page_back *b, struct spage *pg, size_t bytes)
{
    if (b->n == PAGE_BACK_N) back_flush(b);
    b->pg[b->n] = pg;
    b->bytes[b->n++] = bytes;
}

/* The spares to the stashes, or back to arena 0 (b). */
static void spares_to(struct heap *h, struct page_back *b)
{
    for (struct spage *pg; (pg = spare_take(h, 0)) != NULL;) {
        size_t sz = (size_t)pg->npages * SNUG_OSPAGE;
        if (!(page_leave_heap(h, pg, 1) && snug_fit_page_stash_try(pg, sz))) back_add(b, pg, sz);
    }
}
void spares_release(struct heap *h)
{
    struct page_back b = { .n = 0 };
    spares_to(h, &b);
    back_flush(&b);
    live_publish_over(h, METER_SLACK);
}

void heap_give_empty(struct heap *h)
{
    struct page_back b = { .n = 0 };
    spares_to(h, &b);
    for (unsigned c = 0; c < SNUG_NCLASSES; c++)
        for (struct spage *pg = h->avail[c], *nx; pg; pg = nx) {
            page_verify(pg);
            nx = pg->next;
            if (pg->used) continue;
            page_leave_class(h, pg);
            page_leave_heap(h, pg, 0);
            back_add(&b, pg, (size_t)pg->npages * SNUG_OSPAGE);
        }
    back_flush(&b);
    live_publish_over(h, METER_SLACK);
}

/* The end of a burst.  Kept pages (a class's last, against thrashing; the
 * spares) must not outlive the work that filled the heap: scattered through
 * memory freed since, they would keep its free top from the kernel.  Once the
 * heap has let go of more pages than the trim threshold holds since it last
 * looked, the spares go back, no page waits again until the heap grows, and a
 * class's last page goes too when it holds up a free heap top (asked of the
 * fit allocator for every class, since such a page may have been kept while
 * the heap was full: the FILE of an fopen during a burst).  A class that
 * thrashes asks rarely.  Kept pages of several classes can lie stacked at the
 * top, holding it up together where none of them alone is what the fit
 * allocator sees at the top (1 GiB of 64-byte blocks freed in allocation
 * order: the burst class's last page under the pages of an fopen's FILE and
 * buffer).  So when a busy class (one that took dense pages) frees its last
 * block, its burst is over for certain, and every kept page above its last
 * page goes as well (`above`; 0: only the pages that hold up a top alone).
 * malloc_trim and thread exit give every empty page back. */
static int heap_shrank(const struct heap *h)
{
    return h->pages_peak >= h->pages + snug_opt.trim_threshold / SNUG_OSPAGE;
}

_Static_assert(SNUG_NCLASSES <= 64, "a class's last page is one bit of snug_fit_pages_pin_top's answer");
_Static_assert(SNUG_NCLASSES <= 32, "a class is one bit of a heap's busy mask");

static __attribute__((noinline)) void heap_shrinking(struct heap *h, uintptr_t above)
{
    spares_release(h);
    h->spare_off = 1;
    /* The classes' last pages, empty: those above `above` go; the others are
     * asked about all at once (one hold of the fit lock, not one per class:
     * larson's cycling heaps at 8 threads took it 500 times in 2 M calls).
     * Asked again after those went, pages below them that then reached the
     * top went too, and a heap cycled through lost more of its top: regrow
     * 37,000 -> 41,400 page faults. */
    void *ask[SNUG_NCLASSES];
    unsigned n = 0;
    for (unsigned c = 0; c < SNUG_NCLASSES; c++) {
        struct spage *pg = h->avail[c];
        if (!pg || pg->used || pg->next) continue;
        if (above && (uintptr_t)pg > above) {
            page_verify(pg);
            page_release(h, pg);
        } else {
            ask[n++] = pg;
        }
    }
    uint64_t pins = n ? snug_fit_pages_pin_top(ask, n) : 0;
    for (unsigned i = 0; i < n; i++) {
        if (!(pins >> i & 1)) continue;
        struct spage *pg = ask[i];
        page_verify(pg);
        page_release(h, pg);
    }
    h->pages_peak = h->pages;
}

/* Room for one more spare ("Spare pages", above).  A single-threaded heap:
 * up to SPARE_ST whatever its peak (a batch's pages all empty at once at its
 * end).  A parked heap drained by another thread (the reclaimer's
 * collection) keeps what the drain empties, up to what their count holds:
 * given back one at a time they took arena 0's lock each (churn x32: up to
 * 990 holds in 3 M calls), and held here they go back together when the
 * heap is given back idle (heap_give_empty), or serve the thread that adopts
 * it. */
static int spare_room(const struct heap *h)
{
    if (__libc_single_threaded) return h == snug_tl_heap && !h->spare_off && h->nspare < SPARE_ST;
    if (h != snug_tl_heap) return h->nspare < UINT8_MAX;
    return !h->spare_off && h->nspare < SPARE_MAX && h->nspare < h->pages_peak / 2;
}

/* pg emptied and the heap does not keep it as its class's last page. */
static void page_spare_or_release(struct heap *h, struct spage *pg)
{
    if (spare_room(h)) {
        page_leave_class(h, pg);
        pg->next = h->spare;
        h->spare = pg;
        h->nspare++;
        return;
    }
    page_release_to(h, pg, 1);
    if (heap_shrank(h)) heap_shrinking(h, 0);
}

/* A class's last dense page emptied: it goes, and when the class was busy
 * (it filled BUSY_CLASS_PAGES since it last had none) so do the kept pages
 * above it. */
static __attribute__((noinline)) void class_idle(struct heap *h, struct spage *pg)
{
    int busy = (h->busy >> pg->cls) & 1;
    page_spare_or_release(h, pg);       /* (which clears the class's busy bit) */
    if (busy) heap_shrinking(h, (uintptr_t)pg);
}

void heap_free_slow(struct heap *h, struct spage *pg)
{
    /* A full page whose used count came down to its relist threshold (or to
     * nothing, for a one-slot page): back on its avail list, at the tail. */
    if (pg->in_full) {
        page_verify(pg);
        pg->in_full = 0;
        pg->relist = RELIST_EMPTY;
        avail_push_tail(h, pg);
        SNUG_ASSERT(!pg->next && pg->used <= pg->nslots, "P5 (relisted at its list's tail)", pg);
        if (pg->used) return;
    }
    /* The page emptied.  The class's only page stays, touching no list (the
     * common case of a malloc/free pair), unless it pins a free heap top, or
     * it is a dense page (DENSE_CLASS_PAGES, below) and the class's last: the
     * class filled dense pages and is now idle, its next page will be of the usual size
     * (binary's trace: 1.2 points). */
    int only = h->avail[pg->cls] == pg && pg->next == NULL;     /* (then pg->prev == pg) */
    if (only && !heap_idle_dense(h, pg)) {
        if (heap_shrank(h)) {
            heap_shrinking(h, 0);       /* (which may let pg go) */
        } else {
            pg->relist = RELIST_KEEP;   /* (kept: the next emptying stays on the fast path) */
            h->kept = 1;
        }
        return;
    }
    page_verify(pg);
    if (only) class_idle(h, pg);
    else page_spare_or_release(h, pg);
}

static struct spage *page_of(uintptr_t p)
{
    uintptr_t pg = addr_page(p);
    return pg > ADDR_MEDIUM ? (struct spage *)pg : NULL;
}

/* Apply the frees other threads queued on h. */
/* A queued slot is one of h's, allocated, and carries the remote mark (a write
 * after free into its link breaks the mark or the link). */
static inline __attribute__((always_inline)) struct spage *queued_slot(struct heap *h, uintptr_t b, long *i,
                                                                     const struct spage **checked)
{
    struct spage *pg = page_of(b);
    if (pg && pg != *checked) {         /* (a run of slots of one page: its header checked once) */
        page_verify(pg);
        *checked = pg;
    }
    *i = pg && pg->owner == h ? page_slot(pg, b) : -1;
    if (*i < 0 || !bit_get(pg, (unsigned)*i) || !remote_pending(b)) return NULL;
    return pg;
}

/* A queued slot x failed queued_slot: named by what broke.  x is one of h's
 * allocated slots whose mark was overwritten (a write after free into x), or
 * no such slot: the link that led to it, in block `from`, was overwritten, or
 * (from 0: x is the list head, which no program writes) the heap record was. */
static __attribute__((noreturn, cold)) void remote_fault(struct heap *h, uintptr_t x, uintptr_t from, size_t from_size)
{
    struct spage *pg = page_of(x);
    long i = pg && pg->owner == h ? page_slot(pg, x) : -1;
    if (i >= 0 && bit_get(pg, (unsigned)i))
        snug_fatal("write after free: the remote-free mark in block overwritten, block", (void *)x, pg->bsize);
    if (from)
        snug_fatal("write after free: the remote-free link in block overwritten, block", (void *)from, from_size);
    snug_fatal("remote free list head corrupted (heap record overwritten?) at", (void *)x, 0);
}

void drain_remote(struct heap *h)
{
    const uintptr_t end = remote_empty(h), held = remote_held(h);
    /* Nothing queued while another thread's batch is open: the list stays as it is. */
    if (atomic_load_explicit(&h->remote, memory_order_relaxed) == held &&
        atomic_load_explicit(&h->batches, memory_order_relaxed))
        return;
    SNUG_COUNT(SNUG_C_RMW_REMOTE);
    uintptr_t b = atomic_exchange_explicit(&h->remote, end, memory_order_seq_cst);
    /* A batch still open (or opened since: its thread's count came before its
     * look at the list, this exchange before this look at the count, both in
     * one total order) keeps the list from reading empty (R1). */
    if (atomic_load_explicit(&h->batches, memory_order_seq_cst)) {
        uintptr_t e = end;
        SNUG_COUNT(SNUG_C_RMW_REMOTE);
        atomic_compare_exchange_strong_explicit(&h->remote, &e, held, memory_order_relaxed, memory_order_relaxed);
    }
    if (b == held) b = end;
    long i;
    const struct spage *checked = NULL;
    struct spage *pg = b != end ? queued_slot(h, b, &i, &checked) : NULL;
    if (b != end && !pg) remote_fault(h, b, 0, 0);
    while (b != end) {
        /* Check the next slot before following the link to it. */
        uintptr_t next = *(uintptr_t *)b ^ (uintptr_t)snug_secret;
        if (next == held) next = end;
        long ni = 0;
        struct spage *npg = next != end ? queued_slot(h, next, &ni, &checked) : NULL;
        if (next != end && !npg) remote_fault(h, next, b, pg->bsize);
        ((uintptr_t *)b)[1] = 0;                /* no longer pending */
        heap_slot_freed(h, pg, (uint32_t)i);
        b = next;
        pg = npg;
        i = ni;
    }
}

/* A threaded heap that takes a page from arena 0 because no stash held one
 * takes PAGE_BATCH - 1 more of its size for the stashes in the same hold of
 * arena 0's lock, so a heap that grows takes that lock once per PAGE_BATCH
 * pages (larson and churn at 128 threads: 1.2 and 3.3 acquisitions per 1000
 * calls, their heaps still growing), once heaps have waited for that lock
 * (tuning.h).  Each gets an ownerless header (heap_none's, as a stashed page
 * has: page_to_fit); until then the heap's page_setup tells a fork child how
 * many headers may not be valid yet. */
static size_t stash_batch(const struct heap *h)
{
    return stash_ok(h) && atomic_load_explicit(&snug_os_reclaimer, memory_order_relaxed) == SNUG_RECLAIMER_RUNS &&
                   snug_fit_pages_contended()
               ? PAGE_BATCH - 1
               : 0;
}
/* The page for class c (k OS pages, or least bytes), and `batch` more of its
 * size stashed; the heap's page_setup is 1 again when it returns. */
static __attribute__((noinline)) struct spage *page_new_batch(struct heap *h, unsigned c, size_t *bytes, size_t least,
                                                              size_t batch)
{
    void *more[PAGE_BATCH - 1];
    size_t n = 0;
    h->page_setup = (uint8_t)(1 + batch);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    struct spage *np = snug_fit_page_alloc_batch(bytes, least, more, batch, &n);
    unsigned k = (unsigned)(*bytes >> SNUG_OSPAGE_SHIFT);
    for (size_t i = 0; i < n; i++) page_init(more[i], &heap_none, c, k);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    h->page_setup = 1;
    for (size_t i = 0; i < n; i++) snug_fit_page_stash(more[i], *bytes);
    return np;
}

/* The smallest page (in OS pages, at most `usual`) that still holds
 * SMALL_HEAP_SLOTS slots of bsize bytes. */
static unsigned pages_least(size_t bsize, unsigned usual)
{
    unsigned k = usual;
    while (k > 1 && page_slots_for(k / 2, bsize) >= SMALL_HEAP_SLOTS) k /= 2;
    return k;
}

/* No page of class c has a free slot: a fresh one on its list, 0 when there
 * is no memory (out of line: it calls into the fit allocator). */
static __attribute__((noinline)) int heap_page_new(struct heap *h, unsigned c)
{
    /* A small heap takes the smallest pages that still hold SMALL_HEAP_SLOTS
     * slots, whatever their waste: a class used a few times should not hold
     * 16 KiB, nor a busy one change pages every third malloc. */
    size_t bsize = class_size(c);
    unsigned usual = page_pages_for(bsize), k = usual, least = pages_least(bsize, usual);
    if (h->pages < SMALL_HEAP_PAGES)
        k = least;
    else if (h->cls_pages[c] >= DENSE_CLASS_PAGES)      /* (its header and tail paid once per 2-4 OS pages) */
        k = page_pages_dense(bsize);
    if (h->cls_pages[c] >= BUSY_CLASS_PAGES) h->busy |= (uint32_t)1 << c;
    struct spage *np = h->spare ? spare_take(h, k) : NULL;     /* (a spare is owned and counted) */
    if (!np && h->spare && __libc_single_threaded) spares_release(h);     /* (none of size k: see "Spare pages") */
    int fresh = !np;
    h->page_setup = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (fresh) {
        /* A page of k OS pages that would grow the heap while a smaller one
         * (the smallest holding SMALL_HEAP_SLOTS slots) fits below the break:
         * the smaller one (binary's trace: 1.2 points, binary-alt's 1.5). */
        if (least > k) least = k;
        size_t bytes = (size_t)k * SNUG_OSPAGE, batch;
        if (stash_ok(h) && (np = snug_fit_page_take(&bytes, (size_t)least * SNUG_OSPAGE)) != NULL) {
            fresh = 2;                  /* (from a stash) */
        } else if (!(np = (batch = stash_batch(h)) != 0
                              ? page_new_batch(h, c, &bytes, (size_t)least * SNUG_OSPAGE, batch)
                              : snug_fit_page_alloc(&bytes, (size_t)least * SNUG_OSPAGE))) {
            h->page_setup = 0;
            return 0;
        }
        k = (unsigned)(bytes >> SNUG_OSPAGE_SHIFT);
    }
    page_init(np, h, c, k);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    h->page_setup = 0;
    np->dense = k > usual;
    if (SNUG_UNLIKELY(snug_opt.secure))     /* secure mode verifies the fill when a slot is handed out */
        memset((void *)page_start(np), SNUG_FREE_FILL, (size_t)np->nslots * np->bsize);
    avail_push(h, np);
    cls_count_up(h, c);
    if (fresh) {
        snug_own_add(&h->pages, 1);
        if (h->pages > h->pages_peak) h->pages_peak = h->pages;
        h->spare_off = 0;
        live_sample(h);
    }
    return 1;
}

_Static_assert(16 * (SPARSE_CLASS0 + 1) == SPARSE_MIN, "SPARSE_CLASS0 is the first class of SPARSE_MIN bytes");

/* Sparse classes.  A page holds a class's slots whether one is used or all
 * are, so a small heap whose requests spread over many classes is mostly the
 * free tails of their pages (the short trace: 32 classes, a page each, a third
 * of the heap free slots).  While the process has one thread and the heap
 * holds fewer than SMALL_HEAP_PAGES pages, a request of a class of SPARSE_MIN
 * bytes or more that finds no free slot goes to the fit allocator (8 bytes of
 * head, 16-byte steps) instead of opening a page, for the class's first
 * SPARSE_MAX such requests.  The bound keeps the cost (a fit malloc and free
 * is about ten times a page's) a one-off: a class in steady use soon has its
 * own pages.  Threads never take this path: the fit allocator has one lock;
 * nor does secure mode, whose small slots are verified again when handed out.
 * Past that, such a class still takes a hole (a free block under HOLE_MAX
 * bytes, which no page fits in) instead of a page that would grow the heap. */

/* A block of class c's request from the fit allocator: any block (sparse), or
 * a hole only (NULL when there is none); counted, and the live peak sampled as
 * for medium blocks. */
static __attribute__((noinline)) void *sparse_alloc(struct heap *h, unsigned c, size_t n, int hole)
{
    void *p = hole ? snug_fit_malloc_hole(n) : snug_fit_malloc(n, SNUG_ALIGN);
    uint16_t *served = &h->sparse_served[c - SPARSE_CLASS0];
    if (p && *served != UINT16_MAX && !(++*served & 63)) live_sample(h);
    return p;
}

/* A slot of h's page pg, counted; NULL when pg has none free. */
static inline __attribute__((always_inline)) void *heap_take(struct heap *h, struct spage *pg)
{
    void *b = page_take_any(pg);
    if (b) {
        snug_own_add(&h->alloc_bytes, pg->bsize);
        snug_own_add(&h->alloc_count, 1);
    }
    return b;
}

/* The rest of heap_alloc_slow (below): remote frees applied, the next page
 * after moving full pages off the list, a sparse class's block from the fit
 * allocator, a fresh page when none is left. */
static __attribute__((noinline)) void *heap_alloc_refill(size_t n, struct heap *h, unsigned c)
{
    if (!remote_none(h, atomic_load_explicit(&h->remote, memory_order_relaxed))) drain_remote(h);
    do {
        struct spage *pg;
        while ((pg = h->avail[c]) != NULL) {
            void *b;
            page_verify(pg);
            if (pg->used < pg->nslots && (b = heap_take(h, pg)) != NULL)    /* (P1: then one is) */
                return b;
            page_to_full(h, pg, c);
        }
        if (class_size(c) >= SPARSE_MIN && __libc_single_threaded && !snug_opt.secure) {
            if (h->sparse_served[c - SPARSE_CLASS0] < SPARSE_MAX && h->pages < SMALL_HEAP_PAGES)
                return sparse_alloc(h, c, n, 0);
            void *p = sparse_alloc(h, c, n, 1);
            if (p) return p;
        }
    } while (heap_page_new(h, c));
    return NULL;
}

/* The head page of class c had no free slot in its hinted bitmap word (or
 * there was none).  Most often the page still has free slots in a later word:
 * that case is taken here, in a leaf that saves no registers; the rest is
 * heap_alloc_refill's. */
void *heap_alloc_slow(size_t n, struct heap *h, unsigned c)
{
    struct spage *pg = h->avail[c];
    void *b;
    if (pg) page_verify(pg);            /* (the fast path found a key broken, or the hinted word full) */
    if (pg && pg->used < pg->nslots && remote_none(h, atomic_load_explicit(&h->remote, memory_order_relaxed)) &&
        (b = heap_take(h, pg)) != NULL)
        return b;
    return heap_alloc_refill(n, h, c);
}

/* Sampled into the guard pool, else a slot as usual.  Reached by a tail call
 * from malloc's inlined fast path: the return address is malloc's caller. */
void *heap_alloc_sampled(size_t n, struct heap *h, unsigned c)
{
    void *p = guard_alloc(n, SNUG_ALIGN, __builtin_return_address(0), &h->sample);
    return p ? p : heap_alloc_slow(n, h, c);        /* (a sampled block is counted by the pool, not the heap) */
}

/* What a parked heap (its thread exited) holds for the next thread to adopt
 * it, which a program whose threads are gone never starts: frees queued on
 * it, and the empty pages its thread kept.  They are a wait like the others
 * (os.h): the reclaimer's round applies the frees and gives back the empty
 * pages once a round has passed since they began (heap_reclaim_parked).
 * 0: none; 1: begun since the last round; 2: seen by a round. */
_Atomic int heap_parked_frees;

__attribute__((noinline, cold)) void heap_parked_wait(void)
{
    int none = 0;
    SNUG_COUNT(SNUG_C_RMW_OTHER);
    if (atomic_compare_exchange_strong_explicit(&heap_parked_frees, &none, 1, memory_order_relaxed, memory_order_relaxed))
        snug_os_wait_begun();
}
