/* fit.c - the fit allocator proper: medium blocks (malloc, free, realloc,
 * aligned), the blocks small pages (pages.c) and snug's own records are
 * carved from; the checks on every pointer a program hands back are
 * fit_checked.h's and fit_query.c's.  The design is in
 * DESIGN.md; the free blocks are bins.h's, parked ones park.h's, the regions
 * region.c's.  Frees coalesce at once, except that a single-threaded process
 * parks a freed block for a malloc of its exact size (park.h). */
#include "park.h"
#include "fit_checked.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include <errno.h>
#include <sched.h>
#include <string.h>


/* b is free and off the bins, its head h already checked: make it allocated
 * with size need, freeing the rest. */
static inline __attribute__((always_inline)) void take(uintptr_t b, uint64_t h, size_t need)
{
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    uint64_t pflag = h & BLK_PREV_INUSE;
    if (sz - need >= MIN_BLOCK) {
        blk_set_head(b, need | BLK_INUSE | pflag);
        uintptr_t r = b + need;
        blk_set_head(r, (sz - need) | BLK_PREV_INUSE);
        blk_set_foot(r, sz - need);
        free_insert(r, sz - need);
    } else {
        blk_set_head(b, sz | BLK_INUSE | pflag);
        uintptr_t n = b + sz;
        blk_set_head(n, blk_head(n) | BLK_PREV_INUSE);
    }
}

/* Shrink allocated block b to need bytes, returning the tail to the bins. */
static void shrink_to(uintptr_t b, size_t need)
{
    uint64_t h = blk_head(b);
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    if (sz - need < MIN_BLOCK) return;
    blk_set_head(b, need | (h & BLK_FLAGS));
    uintptr_t t = b + need;
    blk_set_head(t, (sz - need) | BLK_INUSE | BLK_PREV_INUSE);
    release_cold(t);
}

/* Cut allocated block b of `room` bytes for a realloc to need bytes (more
 * than the old size sz): a quarter more than sz when the room holds it, with
 * BLK_ROOMY (realloc keeps that while the block grows into it), so a block
 * growing in small steps is resized rarely; else need exactly. */
static inline void shrink_roomy(uintptr_t b, size_t sz, size_t need, size_t room)
{
    size_t roomy = snug_align_up(sz + sz / ROOMY_SHARE, SNUG_ALIGN);
    if (roomy > need && roomy <= room) {
        shrink_to(b, roomy);
        blk_set_head(b, blk_head_known(b) | BLK_ROOMY);
    } else {
        shrink_to(b, need);
    }
}


/* Take `need` bytes (a found free block's size or less) from free block b,
 * the top or on bin `bin`.  Carved from the top, once what is left of it is
 * below the trim threshold, no top waits (decay, below). */
static inline __attribute__((always_inline)) void carve_at(uintptr_t b, size_t need, unsigned bin)
{
    int from_top = b == fit->top;
    uint64_t h = blk_head(b);
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    if (from_top) free_remove(b, sz);
    else bin_remove_at(b, sz, bin);
    take(b, h, need);
    SNUG_ASSERT((blk_head(b) & BLK_INUSE) && (blk_head(b + blk_size(b)) & BLK_PREV_INUSE), "I2 (carved)", b);
    if (from_top && fit->wait.since.top && (!fit->top || blk_size(fit->top) <= snug_opt.trim_threshold))
        fit->wait.since.top = 0;
}

/* b was handed out as a user block: the counts. */
static inline void user_taken(uintptr_t b)
{
    fit->user_blocks++;
    snug_rstore_hot(&fit->user_bytes, fit->user_bytes + ((size_t)(blk_head_known(b) & ~BLK_FLAGS) - WORD));
}

/* The kernel refused: snug gives back what it keeps for reuse (os.h:
 * snug_os_give_back: kept pages and mappings, the quarantine, region tops),
 * with the fit lock dropped for it if this thread holds it.  Every path to
 * here holds it when the process has threads (fit_lock_user), and no other
 * thread can take it while it has none, so the lock word says.  Then 0 when
 * the request fits in what came back or the heap grows after all. */
static __attribute__((noinline, cold)) int grow_after_give_back(size_t need)
{
    struct fit_state *a = fit;          /* (giving back enters every arena) */
    int held = atomic_load_explicit(&a->ext->lock->v, memory_order_relaxed) != 0;
    if (held) snug_unlock(a->ext->lock);
    int again = snug_os_give_back();
    if (held) snug_lock(a->ext->lock);
    fit = a;
    if (!again) return -1;
    if (fit->park_n) park_flush();
    unsigned bin;
    if (find_fit(need, &bin)) return 0;
    return region_grow(need);
}

/* Set while arena_new, holding arenas_lock, asks for an arena's record: giving
 * back then would take heaps_lock, which fork takes before arenas_lock (a
 * thread that cannot have its arena shares one). */
static __thread int fit_no_give_back __attribute__((tls_model("initial-exec")));

static int grow(size_t need)
{
    int saved = errno;                  /* (a success after the retry leaves it as it was) */
    if (region_grow(need) == 0) return 0;
    if (fit_grow_in_place || fit_no_give_back) return -1;   /* (the request goes to a mapping of its own) */
    if (grow_after_give_back(need) != 0) return -1;
    errno = saved;
    return 0;
}

/* Every search starts from the heap immediate coalescing would have left:
 * parked blocks rejoin it first. */
static inline __attribute__((always_inline)) uintptr_t alloc_locked(size_t need)
{
    if (fit->park_n) park_flush();
    unsigned bin;
    uintptr_t b = find_fit(need, &bin);
    if (!b) {
        if (grow(need) != 0) return 0;
        b = find_fit(need, &bin);
        if (!b) { errno = ENOMEM; return 0; }
    }
    carve_at(b, need, bin);
    return b;
}

static __attribute__((noinline)) uintptr_t alloc_locked_cold(size_t need) { return alloc_locked(need); }

uintptr_t alloc_aligned_locked(size_t need, size_t align)
{
    if (align <= SNUG_ALIGN) return alloc_locked_cold(need);
    if (need > SIZE_MAX / 2 - align) { errno = ENOMEM; return 0; }
    if (fit->park_n) park_flush();
    uintptr_t b = find_aligned(need, align);
    if (b) {
        size_t sz = blk_size(b);
        carve_at(b, sz, bin_index(sz));
    } else if (!(b = alloc_locked_cold(need + align + MIN_BLOCK))) {
        return 0;
    }
    size_t lead0 = aligned_lead(b, align);
    if (lead0) {
        uintptr_t nb = b + lead0;
        size_t lead = nb - b, total = blk_size(b);
        blk_set_head(b, lead | BLK_INUSE | (blk_head(b) & BLK_PREV_INUSE));
        blk_set_head(nb, (total - lead) | BLK_INUSE | BLK_PREV_INUSE);
        release_cold(b);
        b = nb;
    }
    shrink_to(b, need);
    return b;
}

/* A user block from arena a; `flags` (BLK_ROOMY or 0) go into its head. */
static inline __attribute__((always_inline)) void *fit_malloc_in(struct fit_state *a, size_t n, size_t align, uint64_t flags)
{
    if (n > (size_t)PTRDIFF_MAX - 2 * SNUG_OSPAGE) { errno = ENOMEM; return NULL; }
    size_t need = blk_need(n);
    int locked = fit_lock_user(a);
    /* A parked block of the size (while the process has one thread), else a search. */
    uintptr_t b = !locked && align <= SNUG_ALIGN ? park_take(need) : 0;
    if (!b) b = align <= SNUG_ALIGN ? alloc_locked(need) : alloc_aligned_locked(need, align);
    if (b) {
        if (flags) blk_set_head(b, blk_head_known(b) | flags);     /* just written */
        user_taken(b);
    }
    decay_poll();
    fit_unlock_user(locked);
    return b ? (void *)(b + WORD) : NULL;
}

/* A thread's own arena that cannot grow (its address space refused, say)
 * leaves the request to arena 0, which holds what the process freed while
 * it had one thread. */
static __attribute__((noinline, cold)) void *fit_malloc_retry(size_t n, size_t align, uint64_t flags)
{
    int saved = errno;
    void *p = fit_malloc_in(fit_arena0, n, align, flags);
    if (!p) errno = saved;
    return p;
}

static inline __attribute__((always_inline)) void *fit_malloc_flags(size_t n, size_t align, uint64_t flags)
{
    struct fit_state *a = arena_mine();
    void *p = fit_malloc_in(a, n, align, flags);
    if (SNUG_UNLIKELY(!p) && a != fit_arena0) p = fit_malloc_retry(n, align, flags);
    return p;
}

/* While the process has one thread, a medium malloc or free that takes a
 * parked block back or parks one calls nothing: the rest of the work (a
 * search, a release, a poll of the waits) is a call at the end, so the quick
 * case saves no registers.  Through the general path a 4000-byte malloc and
 * free cost 331 instructions (bench/micro), the full checks included. */
static __attribute__((noinline)) void *fit_malloc_search(size_t need)
{
    uintptr_t b = alloc_locked(need);
    if (b) user_taken(b);
    decay_poll();
    return b ? (void *)(b + WORD) : NULL;
}
static __attribute__((noinline)) void *fit_malloc_polled(uintptr_t b)
{
    region_decay_check();
    return (void *)(b + WORD);
}

static __attribute__((noinline)) void *fit_malloc_any(size_t n, size_t align) { return fit_malloc_flags(n, align, 0); }

void *snug_fit_malloc(size_t n, size_t align)
{
    if (!__libc_single_threaded || align > SNUG_ALIGN || n > (size_t)PTRDIFF_MAX - 2 * SNUG_OSPAGE)
        return fit_malloc_any(n, align);
    size_t need = blk_need(n);
    fit = fit_arena0;                   /* (no lock: fit_lock_user) */
    uintptr_t b = park_take(need);
    if (!b) return fit_malloc_search(need);
    user_taken(b);
    if (SNUG_UNLIKELY(fit->wait.any != 0) && !(++fit->decay_tick & (DECAY_POLL_EVERY - 1))) return fit_malloc_polled(b);
    return (void *)(b + WORD);
}

/* No small page fits in a free block under HOLE_MAX bytes, so in a program of
 * small requests such a block stays free for good (DESIGN.md, "Holes").  It is
 * taken only when a page would grow the heap: when neither the top nor the bins
 * hold a block a 4 KiB-aligned page surely fits in (2 * HOLE_MAX bytes). */
void *snug_fit_malloc_hole(size_t n)
{
    size_t need = blk_need(n);
    unsigned bin;
    int locked = fit_lock_user(arena_mine());
    uintptr_t b = 0;
    if ((fit->top && blk_size(fit->top) >= 2 * HOLE_MAX) || bin_next(bin_index(2 * HOLE_MAX)) >= 0) goto out;
    b = find_fit(need, &bin);
    if (b && b != fit->top && blk_size(b) < HOLE_MAX) {
        carve_at(b, need, bin);
        user_taken(b);
    } else {
        b = 0;
    }
out:
    fit_unlock_user(locked);
    return b ? (void *)(b + WORD) : NULL;
}
void *snug_fit_malloc_roomy(size_t n) { return fit_malloc_flags(n, SNUG_ALIGN, BLK_ROOMY); }


/* snug's own records come from arena 0. */
void *fit_meta_alloc_aligned(size_t n, size_t align)
{
    arena_lock(fit_arena0);
    uintptr_t b = alloc_aligned_locked(blk_need(n), align);
    if (b) blk_set_head(b, blk_head_known(b) | BLK_META);
    arena_unlock(fit_arena0);
    return b ? (void *)(b + WORD) : NULL;
}
void *snug_fit_meta_alloc(size_t n) { return fit_meta_alloc_aligned(n, SNUG_ALIGN); }




void *snug_fit_from_top(size_t n)
{
    if (n > (size_t)PTRDIFF_MAX - 2 * SNUG_OSPAGE) return NULL;
    size_t need = blk_need(n);
    uintptr_t b = 0;
    struct fit_state *a = arena_mine();
    arena_lock(a);
    /* The top is the last region's: grown if need be, the block costs the
     * heap no more than a trim and a new mapping would.  A top that does not
     * wait is used when it holds a quarter of the request or more. */
    int saved = errno;                  /* a failure here leaves the request to a mapping */
    if (fit->park_n) park_flush();
    /* (in place: a new region for it would hold more than its own mapping) */
    fit_grow_in_place = 1;
    if (fit->top && (fit->wait.since.top || blk_size(fit->top) >= need / 4) &&
        (b = alloc_locked_cold(need)) != 0)
        user_taken(b);
    fit_grow_in_place = 0;
    errno = saved;
    arena_unlock(a);
    return b ? (void *)(b + WORD) : NULL;
}

/* Block b, checked, counted as freed by the program; its head. */
static inline __attribute__((always_inline)) uint64_t free_counted(uintptr_t b)
{
    uint64_t h = blk_head_known(b);
    fit->user_blocks--;
    snug_rstore_hot(&fit->user_bytes, fit->user_bytes - ((size_t)(h & ~BLK_FLAGS) - WORD));
    return h;
}

/* The block of p, which the program frees, checked and counted as freed, in
 * its arena (locked: whether its lock was taken); its head in *h. */
static inline __attribute__((always_inline)) uintptr_t free_taken(void *p, int *locked, uint64_t *h)
{
    /* Its region looked up once, for its arena and bounds; read again under
     * the lock when others may move the region's end meanwhile. */
    struct fit_state *a;
    uintptr_t end, first = region_bounds_in((uintptr_t)p, &end, &a);
    *locked = fit_lock_user(a);
    if (*locked) first = region_bounds((uintptr_t)p, &end);
    uintptr_t b = checked_block_at(p, "free(): invalid pointer", 0, first, end);
    *h = free_counted(b);
    return b;
}

static __attribute__((noinline)) void fit_free_any(void *p)
{
    int locked;
    uint64_t h;
    uintptr_t b = free_taken(p, &locked, &h);
    if (!locked && park_put(b, h)) return;
    trim_after(release(b));
    fit_unlock_user(locked);
}

static __attribute__((noinline)) void fit_free_release(uintptr_t b) { trim_after(release(b)); }

/* A free whose block's pages go back to the kernel at once (those inside the
 * free block it becomes, as a purge takes them), for realloc (alloc.c). */
void snug_fit_free_discard(void *p)
{
    int locked;
    uint64_t h;
    uintptr_t b = release_cold(free_taken(p, &locked, &h));
    region_discard_block(b);
    trim_after(b);
    fit_unlock_user(locked);
}

/* (A block of region 0 while the process has one thread: the quick case above.) */
void snug_fit_free(void *p)
{
    size_t len0 = atomic_load_explicit(&snug_r0.len, memory_order_relaxed);
    if (!__libc_single_threaded || (uintptr_t)p - snug_r0.start >= len0) {
        fit_free_any(p);
        return;
    }
    fit = fit_arena0;
    uintptr_t b = checked_block_at(p, "free(): invalid pointer", 0, snug_r0.first, snug_r0.start + len0);
    uint64_t h = free_counted(b);
    if (park_put(b, h)) return;
    fit_free_release(b);
}

/* Resize without a fresh block: shrink in place; grow into a free next block or
 * the region top; else grow backwards into a free previous block (together with
 * a free next one), moving the payload down.  Returns the payload's address, or
 * NULL when the neighbours cannot make room (nothing changed then). */
void *snug_fit_realloc(void *p, size_t n)
{
    if (n > (size_t)PTRDIFF_MAX - 2 * SNUG_OSPAGE) return NULL;
    size_t need = blk_need(n);
    int locked = fit_lock_user(arena_of((uintptr_t)p));
    uintptr_t b = checked_block(p, "realloc(): invalid pointer");
    size_t sz = (size_t)(blk_head_known(b) & ~BLK_FLAGS);
    uintptr_t result = 0;
    snug_rstore_hot(&fit->user_bytes, fit->user_bytes - (sz - WORD));
    if (need <= sz) {
        if (!(blk_head(b + sz) & BLK_PREV_INUSE)) blk_corrupt(b + sz);   /* as growing would */
        /* A block realloc gave room to grow keeps it while it grows into it
         * (within a quarter of its size); any other block is cut to size. */
        uint64_t h = blk_head_known(b);
        if (!(h & BLK_ROOMY) || need < sz - sz / ROOMY_SHARE) {
            blk_set_head(b, h & ~BLK_ROOMY);
            shrink_to(b, need);
        }
        result = b;
    } else {
        struct region *r = region_of(b);
        /* A parked block after b rejoins the heap first: b may grow into it. */
        if (fit->park_n && blk_parked(blk_head(b + sz))) park_flush();
        for (int tries = 0; tries < 2 && !result; tries++) {
            uintptr_t n2 = b + sz;
            uint64_t nh = blk_head(n2);
            size_t nfree = (nh & BLK_INUSE) ? 0 : (size_t)(nh & ~BLK_FLAGS);
            if (sz + nfree >= need) {
                if (nfree) free_remove(n2, nfree);
                blk_set_head(b, (sz + nfree) | (blk_head(b) & BLK_FLAGS & ~BLK_ROOMY));
                blk_set_head(b + sz + nfree, blk_head(b + sz + nfree) | BLK_PREV_INUSE);
                shrink_roomy(b, sz, need, sz + nfree);   /* (room from memory already held) */
                result = b;
            } else if (tries == 0 && r == fit->last &&
                       n2 + nfree == atomic_load_explicit(&r->end, memory_order_relaxed) - WORD) {
                /* The block ends at (or next to a free block at) the region top: grow it. */
                if (region_extend(r, need - sz + MIN_BLOCK) != 0) break;
            } else if (!(blk_head(b) & BLK_PREV_INUSE)) {
                uintptr_t pb = prev_free_block(b);
                size_t psz = b - pb;
                if (psz + sz + nfree < need) break;
                free_remove(pb, psz);
                if (nfree) free_remove(n2, nfree);
                size_t total = psz + sz + nfree;
                uint64_t pflag = blk_head(pb) & BLK_PREV_INUSE;
                memmove((void *)(pb + WORD), (void *)(b + WORD), sz - WORD);
                blk_set_head(pb, total | BLK_INUSE | pflag);
                blk_set_head(pb + total, blk_head(pb + total) | BLK_PREV_INUSE);
                shrink_roomy(pb, sz, need, total);       /* (the payload moved, as in a copy) */
                /* Leave a FREED head where the block was, when that spot is now
                 * plain free space: a later free of the old pointer is a double free. */
                uintptr_t tail = pb + blk_size(pb);
                if (b >= tail + 3 * WORD && b + 2 * WORD <= pb + total - WORD)
                    blk_set_head(b, sz | BLK_FREED);
                result = pb;
            } else {
                break;
            }
        }
    }
    snug_rstore_hot(&fit->user_bytes, fit->user_bytes + (blk_size(result ? result : b) - WORD));
    fit_unlock_user(locked);
    return result ? (void *)(result + WORD) : NULL;
}


/* ---- arenas: which one a thread allocates from ----------------------
 * Made as threads ask for them, up to the `arenas` option (one per CPU);
 * never freed: an exiting thread's arena goes to the next thread that asks.
 * What runs over every arena is arena.c's. */


/* Makes arenas one at a time (so there are never more than the bound);
 * taken before any arena's lock (fork: snug_fit_lock_all).  A thread that
 * attaches takes it only while there are fewer arenas than the bound. */
snug_lock_t arenas_lock = SNUG_LOCK_INIT;
static _Atomic unsigned narenas = 1;

/* The most arenas: the option, else arena 0 and one per CPU the process may
 * run on (at most 16 on 32-bit, where each takes 64 MiB of address space). */
static unsigned arena_bound(void)
{
    if (snug_opt.arenas) return snug_opt.arenas > 1024 ? 1024 : (unsigned)snug_opt.arenas;
    static unsigned cpus;
    unsigned n = __atomic_load_n(&cpus, __ATOMIC_RELAXED);
    if (!n) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;
        if (!n) n = 1;
        __atomic_store_n(&cpus, n, __ATOMIC_RELAXED);
    }
    n += 1;
    unsigned most = sizeof(void *) == 8 ? 257 : 16;
    return n < 2 ? 2 : n > most ? most : n;
}

/* A new arena, used by the calling thread: its lock on its own line, then
 * its other records, then its state (arenas_lock held); NULL when arena 0
 * has no room for them. */
static struct fit_state *arena_new(unsigned id)
{
    size_t lk = snug_align_up(sizeof(snug_lock_t), 64), ex = snug_align_up(sizeof(struct arena_ext), 64);
    size_t total = lk + ex + sizeof(struct fit_state);
    fit_no_give_back = 1;
    char *m = fit_meta_alloc_aligned(total, 64);
    fit_no_give_back = 0;
    if (!m) return NULL;
    memset(m, 0, total);
    struct arena_ext *e = (struct arena_ext *)(m + lk);
    struct fit_state *a = (struct fit_state *)(m + lk + ex);
    a->ext = e;
    e->lock = (snug_lock_t *)m;
    atomic_store_explicit(&e->users, 1, memory_order_relaxed);
#ifdef SNUG_COUNTS
    snug_count_lock_seen(a->ext->lock, "arena lock");
#endif
    struct fit_state *last = fit_arena0;
    while (atomic_load_explicit(&last->ext->next_arena, memory_order_relaxed)) last = atomic_load_explicit(&last->ext->next_arena, memory_order_relaxed);
    atomic_store_explicit(&last->ext->next_arena, a, memory_order_release);
    atomic_store_explicit(&narenas, id + 1, memory_order_release);
    return a;
}

/* An arena no thread uses, claimed for the calling thread (its users 0 -> 1,
 * so two threads never claim one), arena 0 first; NULL when every arena has
 * users.  Lock-free: the list only grows. */
static struct fit_state *arena_claim_unused(void)
{
    FOR_ARENAS(a) {
        unsigned u = 0;
        if (atomic_load_explicit(&a->ext->users, memory_order_relaxed) != 0) continue;
        SNUG_COUNT(SNUG_C_RMW_OTHER);
        if (atomic_compare_exchange_strong_explicit(&a->ext->users, &u, 1, memory_order_relaxed, memory_order_relaxed))
            return a;
    }
    return NULL;
}

/* The arena with the fewest threads, not arena 0 (which also serves snug's
 * own records and every small page) unless it is the only one. */
static struct fit_state *arena_least_used(void)
{
    struct fit_state *pick = NULL;
    FOR_ARENAS(a) {
        if (a != fit_arena0 && (!pick || atomic_load_explicit(&a->ext->users, memory_order_relaxed) <
                                             atomic_load_explicit(&pick->ext->users, memory_order_relaxed)))
            pick = a;
    }
    return pick ? pick : fit_arena0;
}

/* Once the bound is reached, the arena of the CPU numbered cpu: arenas 1 and
 * on in turn, so threads running on different CPUs at once are in different
 * arenas (there is one per CPU; arena 0 only when it is the only one).  The
 * list only grows, and is read without arenas_lock. */
static struct fit_state *arena_of_cpu(unsigned cpu)
{
    unsigned n = atomic_load_explicit(&narenas, memory_order_acquire);
    struct fit_state *a = fit_arena0;
    if (n < 2) return a;
    for (unsigned k = cpu % (n - 1) + 1; k && a; k--) a = atomic_load_explicit(&a->ext->next_arena, memory_order_acquire);
    return a ? a : fit_arena0;
}

/* The calling thread's first medium request in a process with threads, or
 * its first since it left its arena: an arena no thread uses (an exited
 * thread's: its free space is reused), else a new one while there are fewer
 * than the bound, else the arena of the CPU it runs on (where the kernel
 * tells, os.h), else the one with the fewest threads.  The thread keeps it
 * (its next requests reuse its blocks' free space) until it meets another
 * thread there (arena_contended).  Once the arenas reach their bound no lock
 * is taken: a program that starts a thread for each piece of work took
 * arenas_lock at every start (churn: 0.5 acquisitions per 1000 calls). */
struct fit_state *arena_attach(void)
{
    struct fit_state *a = arena_claim_unused();
    if (!a && atomic_load_explicit(&narenas, memory_order_acquire) < arena_bound()) {
        snug_lock(&arenas_lock);
        unsigned n = atomic_load_explicit(&narenas, memory_order_relaxed);
        if (!(a = arena_claim_unused()) && n < arena_bound()) a = arena_new(n);
        snug_unlock(&arenas_lock);
    }
    if (!a) {
        int cpu = snug_os_cpu();
        a = cpu >= 0 ? arena_of_cpu((unsigned)cpu) : arena_least_used();
        SNUG_COUNT(SNUG_C_RMW_OTHER);
        atomic_fetch_add_explicit(&a->ext->users, 1, memory_order_relaxed);
    }
    fit_mine = a;
    return a;
}

/* The calling thread waited for its own arena's lock (a held, the wait
 * counted).  When other threads use that arena too and the kernel tells
 * CPUs, it leaves for the arena of the CPU it runs on at its next request,
 * so threads running at once end up in different arenas, however they
 * started.  Alone in it, it met other threads' frees of its blocks, which
 * would follow the blocks anywhere: it stays. */
void arena_contended(struct fit_state *a)
{
    if (a != fit_mine || atomic_load_explicit(&a->ext->users, memory_order_relaxed) < 2) return;
    int cpu = snug_os_cpu();
    if (cpu < 0 || arena_of_cpu((unsigned)cpu) == a) return;
    fit_mine = NULL;
    atomic_fetch_sub_explicit(&a->ext->users, 1, memory_order_relaxed);
}

/* The calling thread exits: its arena is free for the next thread. */
void snug_fit_thread_exit(void)
{
    struct fit_state *a = fit_mine;
    if (!a) return;
    fit_mine = NULL;
    SNUG_COUNT(SNUG_C_RMW_OTHER);
    atomic_fetch_sub_explicit(&a->ext->users, 1, memory_order_relaxed);
}

