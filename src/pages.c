/* pages.c - small pages for the thread heaps: carved from arena 0 (on brk
 * where it can) and marked in their region's map, given back, and in a
 * process with threads kept in each arena's page stash between a heap that
 * empties one and a heap that needs one.  Below the heaps; the carving is
 * fit.c's. */
#include "park.h"
#include <errno.h>
#include <string.h>

static void mark_pages(uintptr_t page, size_t bytes, int on)
{
    struct region *r = region_of(page);
    if (!r) snug_fatal("page outside every region", (void *)page, bytes);
    struct pmap *m = atomic_load_explicit(&r->map, memory_order_relaxed);
    size_t i = (page - r->start) >> SNUG_OSPAGE_SHIFT, k = bytes >> SNUG_OSPAGE_SHIFT;
    for (size_t j = 0; j < k; j++) m->kind[i + j] = on ? (uint8_t)(j + 1) : 0;
}

/* A page block of `bytes` carved from arena 0 (lock held) and marked in the map; 0: no memory. */
static uintptr_t page_carve(size_t bytes)
{
    uintptr_t b = alloc_aligned_locked(bytes, SNUG_OSPAGE);
    if (b) {
        blk_set_head(b, blk_head_known(b) | BLK_PAGE);
        mark_pages(b + WORD, bytes, 1);
    }
    return b;
}

/* Times a heap waited for arena 0's lock to carve a page (pages_contended). */
static _Atomic unsigned page_waits;
int snug_fit_pages_contended(void) { return atomic_load_explicit(&page_waits, memory_order_relaxed) >= PAGE_BATCH_AFTER; }

/* Small pages come from arena 0, on brk where it can: a free finds a slot's
 * page there from region 0's view in a few instructions.  With each thread's
 * pages in its own arena, page events took no global lock (larson at 8-32
 * threads: 5 -> 0.1 per 1000 calls), but a small free outside region 0 costs
 * about eight instructions more through the region table (mt-local +7%), and
 * pages kept by live threads pinned their arenas' reserved regions (2-thread
 * exhaust/recover under RLIMIT_AS failed). */
static inline __attribute__((always_inline)) void *page_alloc_in(size_t *bytes, size_t least, void **more, size_t nmore,
                                                                 size_t *got)
{
    struct fit_state *a = fit_arena0;
    if (snug_lock(a->ext->lock) && atomic_load_explicit(&page_waits, memory_order_relaxed) < PAGE_BATCH_AFTER)
        atomic_fetch_add_explicit(&page_waits, 1, memory_order_relaxed);
    fit = a;
    if (least < *bytes) {
        if (fit->park_n) park_flush();
        if (!find_aligned(*bytes, SNUG_OSPAGE) && find_aligned(least, SNUG_OSPAGE)) *bytes = least;
    }
    uintptr_t b = page_carve(*bytes);
    *got = 0;
    if (b && nmore) {
        /* The pages for the stashes, beyond the one asked for: carved from
         * what arena 0 holds or by growing its last region in place, never by
         * mapping a region or giving back what is kept (grow_after_give_back
         * walks the whole heap; near exhaustion every page a heap took then
         * paid that walk again for pages nobody asked for: 2-thread
         * exhaust/recover hung).  Fewer is no failure. */
        int saved = errno;
        fit_grow_in_place = 1;
        for (uintptr_t m; *got < nmore && (m = page_carve(*bytes)) != 0; (*got)++) more[*got] = (void *)(m + WORD);
        fit_grow_in_place = 0;
        errno = saved;
    }
    arena_unlock(a);
    return b ? (void *)(b + WORD) : NULL;
}
void *snug_fit_page_alloc(size_t *bytes, size_t least)
{
    size_t got;
    return page_alloc_in(bytes, least, NULL, 0, &got);
}
void *snug_fit_page_alloc_batch(size_t *bytes, size_t least, void **more, size_t nmore, size_t *got)
{
    return page_alloc_in(bytes, least, more, nmore, got);
}

/* A page's block free again (its arena's lock held). */
static void page_give(void *page, size_t bytes)
{
    uintptr_t b = blk_of_payload(page);
    mark_pages((uintptr_t)page, bytes, 0);
    blk_set_head(b, blk_head(b) & ~BLK_PAGE);
    trim_after(release_cold(b));
}

void snug_fit_page_free(void *page, size_t bytes)
{
    struct fit_state *a = arena_of((uintptr_t)page);
    arena_lock(a);
    page_give(page, bytes);
    arena_unlock(a);
}

void snug_fit_pages_free(void *const *pages, const size_t *bytes, unsigned n)
{
    struct fit_state *held = NULL;
    for (unsigned i = 0; i < n; i++) {
        arena_switch(&held, arena_of((uintptr_t)pages[i]));
        page_give(pages[i], bytes[i]);
    }
    if (held) arena_unlock(held);
}

/* The page stash.  In a process with threads, a page a thread's heap empties
 * beyond what it keeps for itself (its spares) waits in the thread's arena
 * (the one of its CPU, mostly) for the next page a thread of that arena
 * needs, instead of going back to arena 0, whose lock every thread takes:
 * page events then take arenas' locks (mt-local at 8 threads: 1.0 -> 0.03
 * acquisitions of arena 0's per 1000 calls, larson 4.3 -> 1.2).  An arena
 * keeps up to twice the trim threshold of pages, more when the program
 * cycles through more (below).  Pages flow between CPUs
 * (a thread that frees what others allocated empties more pages than it
 * fills), so a page finds room in another arena's stash when its own is
 * full, and a thread whose arena has none takes one from another's.  The
 * stash is a wait (os.h): the reclaimer gives back a stash unused for
 * decay_ms, malloc_trim and running out any at once; without a reclaimer
 * (background=0, decay_ms=0) pages are not stashed.  A stashed page keeps
 * its block (in use, a page in the map) and the header the heap left,
 * ownerless (a stray free into it is a double free); its second word links
 * it, encoded.  A stash is read and written under its arena's lock (K2). */
static int stash_index(size_t bytes)
{
    return bytes == SNUG_OSPAGE ? 0 : bytes == 2 * SNUG_OSPAGE ? 1 : bytes == 4 * SNUG_OSPAGE ? 2 : -1;
}

/* An arena's stash holds up to stash_bound() bytes: twice the trim threshold
 * at first.  A program that cycles through more pages than the stashes hold
 * (a page found every stash full, and within decay_ms a heap found every
 * stash empty and took one from arena 0: larson's bursts at 8-32 threads)
 * doubles it, up to decay_max; a stash the reclaimer gives back unused halves
 * it, at most once per decay_ms.  The heap top's bound works so too
 * (retain.h).  Racy updates lose a doubling or a halving, nothing else. */
static _Atomic size_t stash_grown;          /* the bound, once grown past the base */
static _Atomic uint32_t stash_full_at;      /* when a page last found every stash full (ms; 0: not lately) */
static _Atomic uint32_t stash_halved_at;
static size_t stash_base(void) { return 2 * snug_opt.trim_threshold; }
static size_t stash_bound(void)
{
    size_t g = atomic_load_explicit(&stash_grown, memory_order_relaxed);
    return g > stash_base() ? g : stash_base();
}
/* A heap found every stash empty: grow the bound when a page found them full lately. */
static void stash_missed(void)
{
    uint32_t full = atomic_load_explicit(&stash_full_at, memory_order_relaxed);
    if (!full) return;
    atomic_store_explicit(&stash_full_at, 0, memory_order_relaxed);
    if (now_ms32() - full >= snug_opt.decay_ms) return;
    size_t b = stash_bound(), max = snug_opt.decay_max;
    if (b < max) atomic_store_explicit(&stash_grown, b <= max / 2 ? 2 * b : max, memory_order_relaxed);
}
static void stash_idle(void)
{
    uint32_t now = now_ms32();
    if (!atomic_load_explicit(&stash_grown, memory_order_relaxed) ||
        now - atomic_load_explicit(&stash_halved_at, memory_order_relaxed) < snug_opt.decay_ms)
        return;
    atomic_store_explicit(&stash_halved_at, now, memory_order_relaxed);
    size_t half = stash_bound() / 2;
    atomic_store_explicit(&stash_grown, half > stash_base() ? half : 0, memory_order_relaxed);
}
/* The first page of list s, off it (lock held). */
static void *stash_pop(struct arena_ext *e, int s)
{
    fblock *f = e->stash[s];
    e->stash[s] = fb_link(f, f->next_enc, LINK_STASH);
    __atomic_store_n(&e->stash_bytes, e->stash_bytes - (SNUG_OSPAGE << s), __ATOMIC_RELAXED);
    return f;
}

/* Page of `bytes` onto list s of stash e (its arena's lock held). */
static void stash_push(struct arena_ext *e, void *page, size_t bytes, int s)
{
    fblock *f = page;
    int was_empty = e->stash_bytes == 0;
    f->next_enc = link_enc(f, e->stash[s], LINK_STASH);
    e->stash[s] = f;
    __atomic_store_n(&e->stash_bytes, e->stash_bytes + bytes, __ATOMIC_RELAXED);
    e->stash_used = now_ms32();
    if (was_empty) snug_os_wait_begun();
}

/* Page of `bytes` (list s) into arena a's stash, if it has room. */
static int stash_put(struct fit_state *a, void *page, size_t bytes, int s)
{
    struct arena_ext *e = a->ext;
    size_t bound = stash_bound();
    if (__atomic_load_n(&e->stash_bytes, __ATOMIC_RELAXED) + bytes > bound) return 0;
    arena_lock(a);
    int kept = e->stash_bytes + bytes <= bound;
    if (kept) stash_push(e, page, bytes, s);
    arena_unlock(a);
    return kept;
}

/* Every stash was full: the page goes onto arena a's all the same, and once
 * that stash is SPILL_N pages of the size over its bound, SPILL_N of them go
 * back to arena 0 together, in one hold of its lock instead of one hold
 * each (larson at 32 threads: 2,000 pages through arena 0 after warm-up). */
#define SPILL_N 8
static void stash_spill(struct fit_state *a, void *page, size_t bytes, int s)
{
    struct arena_ext *e = a->ext;
    void *out[SPILL_N];
    size_t outb[SPILL_N];
    unsigned n = 0;
    size_t bound = stash_bound();
    arena_lock(a);
    stash_push(e, page, bytes, s);
    if (e->stash_bytes > bound + SPILL_N * bytes)
        while (n < SPILL_N && e->stash[s] && e->stash_bytes > bound) {
            outb[n] = bytes;
            out[n++] = stash_pop(e, s);
        }
    arena_unlock(a);
    if (n) snug_fit_pages_free(out, outb, n);
}

/* A page of *bytes (or of least bytes, *bytes set to it) from arena a's stash, or NULL. */
static void *stash_take(struct fit_state *a, size_t *bytes, size_t least)
{
    struct arena_ext *e = a->ext;
    if (!__atomic_load_n(&e->stash_bytes, __ATOMIC_RELAXED)) return NULL;
    int s = stash_index(*bytes), t = least < *bytes ? stash_index(least) : -1;
    void *p = NULL;
    arena_lock(a);
    if (s >= 0 && e->stash[s]) {
        p = stash_pop(e, s);
    } else if (t >= 0 && e->stash[t]) {
        p = stash_pop(e, t);
        *bytes = least;
    }
    if (p) e->stash_used = now_ms32();
    arena_unlock(a);
    return p;
}

/* Whether a page of list s may be stashed at all (a process with threads and a reclaimer). */
static int stashable(int s)
{
    return s >= 0 && !__libc_single_threaded &&
           atomic_load_explicit(&snug_os_reclaimer, memory_order_relaxed) == SNUG_RECLAIMER_RUNS;
}

/* The calling thread's arena's stash, else another arena's with room (pages
 * flow between CPUs: a thread may empty more pages than it fills).  Arena 0
 * has no stash, but a thread that uses it stashes in the others: a worker
 * that claimed arena 0 (the first unused one) gave every page it emptied
 * back under the global lock, and the three extra pages carved with its own
 * under contention (heap.c: page_new_batch) straight after them.  With every
 * stash full, snug_fit_page_stash spills into one (stash_spill). */
int snug_fit_page_stash_try(void *page, size_t bytes)
{
    int s = stash_index(bytes);
    if (!stashable(s)) return 0;
    struct fit_state *a = arena_mine();
    if (a != fit_arena0 && stash_put(a, page, bytes, s)) return 1;
    FOR_ARENAS(b) if (b != a && b != fit_arena0 && stash_put(b, page, bytes, s)) return 1;
    atomic_store_explicit(&stash_full_at, now_ms32(), memory_order_relaxed);
    return 0;
}
void snug_fit_page_stash(void *page, size_t bytes)
{
    if (snug_fit_page_stash_try(page, bytes)) return;
    int s = stash_index(bytes);
    struct fit_state *a = NULL;
    if (stashable(s) && (a = arena_mine()) == fit_arena0)   /* (a thread of arena 0: the next one's) */
        a = atomic_load_explicit(&fit_arena0->ext->next_arena, memory_order_acquire);
    if (a) stash_spill(a, page, bytes, s);
    else snug_fit_page_free(page, bytes);
}

void *snug_fit_page_take(size_t *bytes, size_t least)
{
    if (__libc_single_threaded) return NULL;
    struct fit_state *a = arena_mine();
    void *p = a != fit_arena0 ? stash_take(a, bytes, least) : NULL;
    if (p) return p;
    FOR_ARENAS(b) if (b != a && b != fit_arena0 && (p = stash_take(b, bytes, least)) != NULL) return p;
    stash_missed();
    return NULL;
}

/* Arena a's stash back to arena 0 (no lock held): all of it, or when it has
 * not been used for decay_ms; whether pages still wait in it. */
int stash_flush(struct fit_state *a, int all)
{
    struct arena_ext *e = a->ext;
    if (a == fit_arena0 || !__atomic_load_n(&e->stash_bytes, __ATOMIC_RELAXED)) return 0;
    fblock *lists[3];
    arena_lock(a);
    int go = all || (uint32_t)(now_ms32() - e->stash_used) >= snug_opt.decay_ms;
    if (go) {                           /* (the lists are this call's from here) */
        memcpy(lists, e->stash, sizeof lists);
        memset(e->stash, 0, sizeof e->stash);
        __atomic_store_n(&e->stash_bytes, 0, __ATOMIC_RELAXED);
    }
    arena_unlock(a);
    if (!go) return 1;
    if (!all) stash_idle();
    struct fit_state *held = NULL;      /* (the pages are arena 0's: one hold for them all) */
    for (int s = 0; s < 3; s++)
        for (fblock *f = lists[s], *next; f; f = next) {
            next = fb_link(f, f->next_enc, LINK_STASH);
            arena_switch(&held, arena_of((uintptr_t)f));
            page_give(f, (size_t)SNUG_OSPAGE << s);
        }
    if (held) arena_unlock(held);
    return 0;
}

void snug_fit_page_orphan(void *page)
{
    size_t bytes;
    struct fit_state *a = arena_of((uintptr_t)page);
    arena_lock(a);
    bytes = (size_t)(blk_head(blk_of_payload(page)) & ~BLK_FLAGS) & ~(size_t)(SNUG_OSPAGE - 1);
    arena_unlock(a);
    snug_fit_page_free(page, bytes);
}
