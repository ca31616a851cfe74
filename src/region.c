/* region.c - the heap regions under the fit allocator: region 0 on brk (or a
 * mapping where brk cannot be used), mmap regions after it, their growth, and
 * giving their free memory back (trim at the top, decay, purge inside).  The
 * lowest of the fit allocator's files: it calls only bins.h's inline helpers. */
#include "bins.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "retain.h"
#include <errno.h>
#include <string.h>

__thread struct fit_state *fit __attribute__((tls_model("initial-exec")));
static struct arena_ext arena0_ext;
__thread struct fit_state *fit_mine __attribute__((tls_model("initial-exec")));
__thread int fit_grow_in_place __attribute__((tls_model("initial-exec")));
struct fit_state *fit_arena0;
snug_lock_t fit_lock = SNUG_LOCK_INIT;
struct snug_waits snug_fit_waits;

/* Every change of a region's end goes through here (region 0's view and the
 * last region's sentinel follow). */
static void region_set_end(struct region *r, uintptr_t end)
{
    atomic_store_explicit(&r->end, end, memory_order_release);
    if (r->start == snug_r0.start) atomic_store_explicit(&snug_r0.len, end - r->start, memory_order_release);
    if (r == fit->last) fit->last_sent = end - WORD;
}

static size_t map_bytes(size_t pages) { return sizeof(struct pmap) + snug_align_up(pages, SNUG_ALIGN); }

static void region_link(struct region *r)
{
    r->next = NULL;
    r->arena = fit;
    /* Arenas link their regions under their own locks, so two may append at
     * once: a compare-and-swap on the tail's link, or one of them is lost. */
    struct region *_Atomic *at = &snug_regions;
    for (struct region *seen = NULL; !atomic_compare_exchange_strong(at, &seen, r); seen = NULL)
        at = &seen->next;
    if (fit) {
        if (fit->top) {                           /* the old last region's top joins the bins */
            uintptr_t t = fit->top;
            size_t sz = blk_size(t);
            free_remove(t, sz);
            bin_insert(t, sz);
        }
        fit->last = r;
        fit->last_sent = atomic_load_explicit(&r->end, memory_order_relaxed) - WORD;
        fit->ext->nregions++;
    }
}

/* Lay out blocks in [first, end): one free block (or none) and the sentinel. */
static void region_format(struct region *r)
{
    uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
    size_t sz = end - WORD - r->first;
    blk_set_head(end - WORD, BLK_INUSE);       /* sentinel, previous block free */
    blk_set_head(r->first, sz | BLK_PREV_INUSE);
    blk_set_foot(r->first, sz);
}

/* Region 0's page map lives in its own reserved mapping (so it never pins the
 * heap top); the bytes of it that the heap's extent can reach count as held. */
#define BRK_MAP_RESERVE ((size_t)16 << 20)      /* one byte per 4 KiB: 64 GiB of heap */
static void account_map(struct region *r, uintptr_t end)
{
    if (!region_is_brk(r)) return;                     /* mmap regions carry their map inline */
    size_t need = snug_align_up(sizeof(struct pmap) + ((end - r->start) >> SNUG_OSPAGE_SHIFT), SNUG_OSPAGE);
    if (need > fit->ext->map_held) {
        snug_os_account((intptr_t)(need - fit->ext->map_held));
        fit->ext->map_held = need;
    }
}

/* An mmap region whose unused tail went back to the kernel (region_trim_top)
 * takes address space again, in place, up to what its map covers, else just
 * up to need_end.  Returns 0 on success. */
static int region_reserve(struct region *r, uintptr_t need_end)
{
    const struct pmap *m = atomic_load_explicit(&r->map, memory_order_relaxed);
    uintptr_t cap_end = r->start + (m->cap << SNUG_OSPAGE_SHIFT);
    if (need_end > cap_end) return -1;
    if (snug_os_reserve_at((void *)r->limit, cap_end - r->limit)) r->limit = cap_end;
    else if (need_end > r->limit && snug_os_reserve_at((void *)r->limit, need_end - r->limit)) r->limit = need_end;
    else return -1;
    return 0;
}

/* Grow region r by at least `more` bytes at its top; the new space joins the
 * block before the sentinel.  Returns 0 on success. */
int region_extend(struct region *r, size_t more)
{
    uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
    size_t held = end - r->start;
    /* A brk region grows by a little more than asked, to amortise the system
     * calls; a mapping's growth is only counted, so it takes what it needs. */
    size_t slack = region_is_brk(r) ? held >> GROW_SLACK_SHIFT : 0;
    if (slack > GROW_SLACK_MAX) slack = GROW_SLACK_MAX;
    if (more > (size_t)PTRDIFF_MAX / 2) { errno = ENOMEM; return -1; }
    size_t inc = snug_align_up(more + slack, SNUG_OSPAGE);
    struct pmap *m = atomic_load_explicit(&r->map, memory_order_relaxed);
    if ((end + inc - r->start) >> SNUG_OSPAGE_SHIFT > m->cap) { errno = ENOMEM; return -1; }
    if (region_is_brk(r)) {
        if (snug_os_brk_now() != end) { errno = ENOMEM; return -1; }   /* foreign sbrk */
        if (!snug_os_brk_grow(inc)) return -1;
    } else {
        if (inc > r->limit - end && region_reserve(r, end + inc) != 0) { errno = ENOMEM; return -1; }
        snug_os_account((intptr_t)inc);
    }
    account_map(r, end + inc);
    fit->wait.since.top = 0;
    /* The old sentinel becomes the head of the new space. */
    uintptr_t nb = end - WORD;
    blk_set_head(nb, inc | (blk_head(nb) & BLK_PREV_INUSE) | BLK_INUSE);
    blk_set_head(nb + inc, BLK_INUSE | BLK_PREV_INUSE);
    region_set_end(r, end + inc);
    release_cold(nb);
    return 0;
}

/* Region r, just mapped at a granule boundary (aligned) or not, goes in the
 * region table (I6; block.h), before any block of it is handed out: each
 * granule it spans names it.  The table's page that holds them is counted as
 * held (one per region, an upper bound). */
static void region_register(struct region *r, int aligned)
{
    int listed = aligned && snug_rtab;
    for (uintptr_t g = r->start; listed && g < r->limit; g += SNUG_MMAP_REGION)
        if ((g >> RTAB_SHIFT) >= RTAB_N) listed = 0;
    if (!listed) {
        __atomic_store_n(&snug_regions_unlisted, 1, __ATOMIC_RELEASE);
        return;
    }
    for (uintptr_t g = r->start; g < r->limit; g += SNUG_MMAP_REGION)
        atomic_store_explicit(&snug_rtab[g >> RTAB_SHIFT], r, memory_order_release);
    snug_os_account((intptr_t)SNUG_OSPAGE);
}

/* A fresh mmap'd region able to hold a block of `need` bytes: whole granules,
 * at a granule boundary where there is room for that (the region table). */
static struct region *region_new_mmap(size_t need)
{
    size_t len = SNUG_MMAP_REGION;
    if (need > (size_t)PTRDIFF_MAX / 4) { errno = ENOMEM; return NULL; }
    if (need > len / 2) len = snug_align_up(need * 2, SNUG_MMAP_REGION);
    size_t pages = len >> SNUG_OSPAGE_SHIFT;
    size_t hdr = snug_align_up(sizeof(struct region), SNUG_ALIGN) + map_bytes(pages);
    void *mem = snug_rtab ? snug_os_reserve_aligned(len, SNUG_MMAP_REGION) : NULL;
    int aligned = mem != NULL;
    if (!mem) mem = snug_os_reserve(len);
    if (!mem && len > SNUG_MMAP_REGION) {
        /* Short of address space: what the block needs, without the room to
         * grow (the map sized for the larger length still covers it). */
        len = snug_align_up(hdr + need + MIN_BLOCK + 2 * SNUG_ALIGN, SNUG_OSPAGE);
        mem = snug_os_reserve(len);
    }
    if (!mem) return NULL;
    struct region *r = mem;
    r->start = (uintptr_t)mem;
    r->limit = (uintptr_t)mem + len;
    struct pmap *m = (struct pmap *)(r->start + snug_align_up(sizeof(struct region), SNUG_ALIGN));
    m->cap = pages;
    atomic_store_explicit(&r->map, m, memory_order_relaxed);
    r->kindx = (uintptr_t)m->kind - (r->start >> SNUG_OSPAGE_SHIFT);
    r->first = snug_align_up(r->start + hdr + WORD, SNUG_ALIGN) - WORD;
    size_t used = snug_align_up(r->first + need + MIN_BLOCK + WORD - r->start, SNUG_OSPAGE);
    if (used > len) used = len;
    atomic_store_explicit(&r->end, r->start + used, memory_order_relaxed);
    snug_os_account((intptr_t)used);
    region_format(r);
    bin_insert(r->first, blk_size(r->first));
    region_register(r, aligned);
    region_link(r);
    return r;
}

int region_grow(size_t need)
{
    struct region *r = fit->last;         /* (none yet in a new arena) */
    /* Mappings kept for reuse would only add to what the heap holds. */
    large_cache_drop();
    retain_regrow(&fit->ext->top_retain, snug_os_now_ms());
    if (r) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
        size_t have = 0;
        if (!(blk_head(end - WORD) & BLK_PREV_INUSE)) have = blk_prev_foot(end - WORD);
        size_t more = need > have ? need - have : 0;
        if (region_extend(r, more + MIN_BLOCK) == 0) return 0;
    }
    if (fit_grow_in_place) { errno = ENOMEM; return -1; }
    return region_new_mmap(need + MIN_BLOCK) ? 0 : -1;
}


/* Region 0 starts with its records and one OS page of blocks, and grows with
 * use: a program that allocates little holds little (16 KiB at the first
 * malloc rather than 28: the region record and fit state take 5.4 KiB). */
int snug_fit_init(void)
{
    uintptr_t brk0 = snug_os_brk_now();
    size_t hdr = snug_align_up(sizeof(struct region), SNUG_ALIGN) + snug_align_up(sizeof(struct fit_state), SNUG_ALIGN);
    uintptr_t start = snug_align_up(brk0, SNUG_OSPAGE);     /* map index 0 at start (addr_page) */
    uintptr_t first = snug_align_up(start + hdr + WORD, SNUG_ALIGN) - WORD;
    uintptr_t end = snug_align_up(first + SNUG_OSPAGE, SNUG_OSPAGE);
    uintptr_t limit = 0;
    struct pmap *m = snug_os_reserve(BRK_MAP_RESERVE);
    if (!m) return -1;
    /* (without it, regions are found by walking their list) */
    snug_rtab = snug_os_reserve(snug_align_up(RTAB_N * sizeof *snug_rtab, SNUG_OSPAGE));
    m->cap = BRK_MAP_RESERVE - sizeof(struct pmap);
#ifdef SNUG_PREFIX_ONLY
    /* Beside another malloc, brk belongs to that allocator: use mappings only. */
    brk0 = (uintptr_t)-1;
#endif
    if (brk0 == (uintptr_t)-1 || !snug_os_brk_grow(end - brk0)) {
        /* No usable brk: region 0 is a mapping, with its map inline like the others. */
        snug_os_unmap(m, BRK_MAP_RESERVE, 0);
        size_t len = SNUG_MMAP_REGION, pages = len >> SNUG_OSPAGE_SHIFT;
        hdr += map_bytes(pages);
        void *mem = snug_os_reserve(len);
        if (!mem) return -1;
        start = (uintptr_t)mem;
        first = snug_align_up(start + hdr + WORD, SNUG_ALIGN) - WORD;
        end = snug_align_up(first + SNUG_OSPAGE, SNUG_OSPAGE);
        snug_os_account((intptr_t)(end - start));
        limit = start + len;
        m = (struct pmap *)(start + hdr - map_bytes(pages));
        m->cap = pages;
    }
    struct region *r = (struct region *)start;
    memset(r, 0, snug_align_up(sizeof(struct region), SNUG_ALIGN) + sizeof(struct fit_state));
    r->limit = limit;
    r->start = start;
    fit = fit_arena0 = fit_mine = (struct fit_state *)(start + snug_align_up(sizeof(struct region), SNUG_ALIGN));
    fit->ext = &arena0_ext;
    fit->ext->lock = &fit_lock;
#ifdef SNUG_COUNTS
    snug_count_lock_seen(&fit_lock, "fit_lock");  /* (arena 0's: the one every thread may take) */
#endif
    fit->ext->users = 1;                               /* (the thread that made it) */
    atomic_store_explicit(&r->map, m, memory_order_relaxed);
    r->kindx = (uintptr_t)m->kind - (r->start >> SNUG_OSPAGE_SHIFT);
    r->first = first;
    atomic_store_explicit(&r->end, end, memory_order_relaxed);
    account_map(r, end);
    region_format(r);
    bin_insert(r->first, blk_size(r->first));
    snug_r0.start = r->start;
    snug_r0.kind = m->kind;
    snug_r0.first = first;
    region_set_end(r, end);
    region_link(r);
    fit->ext->nregions = 1;                            /* (region_link made r the last) */
    return 0;
}

/* Decay: a free region top beyond the trim threshold is not trimmed at once
 * but after it has waited decay_ms (read on the next frees and fit calls, on
 * a coarse clock, every 16th event).  A program that frees its heap and
 * builds it again, phase after phase, keeps the pages and their faults are
 * not paid again; memory left free goes back once the wait is over, and a
 * top beyond what the region keeps (top_retain: decay_max, more for a program
 * seen to grow back into what was cut) is cut to that at once.  Region growth ends the wait
 * (the whole top was wanted again); a program that cycles without growing
 * pays one trim per decay_ms.  Lock held. */
/* Has a wait that began at `since` (0: none) lasted decay_ms at `now`? */
static int waited(uint32_t since, uint32_t now) { return since && (uint32_t)(now - since) >= snug_opt.decay_ms; }

/* Is the program cycling through what waits?  While a wait runs, every poll
 * (region_decay_check: each 16th fit call, and the reclaimer's rounds)
 * follows the arena's free bytes from their high point: a drop of more than
 * the trim threshold is the program taking its free space again, and is
 * noted with its time.  A wait that ends within decay_ms of such a drop
 * starts over, half a wait long, instead of giving memory back (regrow's
 * 48 MiB phases: a top that outlived one phase was trimmed whole every
 * decay_ms, and free space inside the heap discarded, each faulted in again
 * by the next phase: 54,200 faults in 200 phases, now 38,300).  Memory goes
 * back at most 1.5 decay_ms after the program stops taking it. */
static uint32_t free_kib(void) { return (uint32_t)(fit->free_bytes >> 10); }
static void waits_begin(void)
{
    if (fit->wait.any) return;          /* (the other wait's record serves both) */
    fit->wait_free[0] = free_kib();
    fit->wait_free[1] = 0;
}
static void waits_follow(uint32_t now)
{
    uint32_t f = free_kib();
    if (f > fit->wait_free[0]) {
        fit->wait_free[0] = f;
    } else if ((size_t)(fit->wait_free[0] - f) << 10 > snug_opt.trim_threshold) {
        fit->wait_free[0] = f;
        fit->wait_free[1] = now;
    }
}
/* Free bytes went back to the kernel: no drop the program made (the high point comes down with them). */
static void waits_gave_back(void)
{
    uint32_t f = free_kib();
    if (fit->wait_free[0] > f) fit->wait_free[0] = f;
}
/* A wait is over at `now`: did the program take its free space within decay_ms? */
static int waits_cycled(uint32_t now)
{
    waits_follow(now);
    uint32_t at = fit->wait_free[1];
    return at && (uint32_t)(now - at) < snug_opt.decay_ms;
}
/* The start of a wait that begins again after a cycled one: half a wait ago. */
static uint32_t wait_again(uint32_t now)
{
    uint32_t t = now - snug_opt.decay_ms / 2;
    return t ? t : 1;
}

/* Has the wait that began at *since run out at `now`?  One the program
 * cycled through starts again instead. */
static int wait_over(uint32_t *since, uint32_t now)
{
    if (!waited(*since, now)) return 0;
    if (!waits_cycled(now)) return 1;
    *since = wait_again(now);
    return 0;
}

/* A top waits: on every 16th call, is its wait over? */
static int decay_over(void)
{
    if (++fit->decay_tick & (DECAY_POLL_EVERY - 1)) return 0;
    return wait_over(&fit->wait.since.top, now_ms32());
}

static int decay_due(void)
{
    if (fit->wait.since.top) return decay_over();
    waits_begin();
    fit->wait.since.top = now_ms32();
    fit->decay_tick = 0;
    snug_os_wait_begun();
    return 0;
}

void region_top_waits(struct region *r, size_t sz)
{
    size_t keep = retain_keep(&fit->ext->top_retain);
    if (!snug_opt.decay_ms || decay_due()) {
        region_trim_top(r, snug_opt.top_pad);
        fit->wait.since.top = 0;
        retain_idle(&fit->ext->top_retain);
    } else if (sz > snug_opt.trim_threshold + keep) {
        region_trim_top(r, keep);
        retain_cut(&fit->ext->top_retain, sz - keep, snug_os_now_ms());
    }
}

/* Free bytes at r's top (0 when its last block is in use). */
static size_t region_top_free(const struct region *r)
{
    uintptr_t sent = atomic_load_explicit(&((struct region *)r)->end, memory_order_relaxed) - WORD;
    return blk_head(sent) & BLK_PREV_INUSE ? 0 : blk_prev_foot(sent);
}

static void decay_now(void);

/* Purge: free space inside a region (not at its top, so no trim can give it
 * back) goes back too once it has waited decay_ms: the pages inside every free
 * block beyond the trim threshold are discarded (MADV_DONTNEED: they stay
 * mapped and read as zero when the block is used again, each costing a page
 * fault then).  A burst freed below a block still in use (a buffer allocated
 * during the burst, the stdio buffer of a first printf) leaves such a block.
 * Its head, links, remembered size and foot stay (they are outside the pages
 * discarded); a stale head of a block that merged into it may not, so a double
 * free of that block is then reported as an invalid pointer.  The wait starts
 * when such a block forms (a free's merge), and a purge walks only the bins
 * that can hold one.  With decay_ms 0 the block's pages go at once.  Lock held. */
static int discard_inside(uintptr_t f, size_t sz)
{
    uintptr_t lo = snug_align_up(f + ORIG_AT + WORD, SNUG_OSPAGE);
    uintptr_t hi = (f + sz - WORD) & ~(uintptr_t)(SNUG_OSPAGE - 1);
    if (hi <= lo) return 0;
    snug_os_discard((void *)lo, hi - lo);
    return 1;
}

/* The pages inside every free block on the bins of min bytes or more; whether any went. */
static int discard_free(size_t min)
{
    int any = 0;
    for (unsigned i = bin_index(min); i < NBINS; i++)
        for (fblock *f = fit->bins[i]; f; f = fb_next(f)) {
            size_t sz = blk_size((uintptr_t)f);
            if (sz >= min && discard_inside((uintptr_t)f, sz)) any = 1;
        }
    return any;
}

void region_discard_block(uintptr_t b) { (void)discard_inside(b, blk_size(b)); }

static void purge_now(void)
{
    fit->wait.since.inside = 0;
    (void)discard_free(snug_opt.trim_threshold + 1);
}

/* b (sz bytes), free inside its region and beyond the trim threshold, was just made. */
void region_purge_wait(uintptr_t b, size_t sz)
{
    if (!snug_opt.decay_ms) {
        (void)discard_inside(b, sz);
    } else if (!fit->wait.since.inside) {
        waits_begin();
        fit->wait.since.inside = now_ms32();
        snug_os_wait_begun();
    }
}

/* The top's wait (decay, above) and the purge's, on one clock read. */
void region_decay_check(void)
{
    uint32_t now = now_ms32();
    waits_follow(now);
    if (wait_over(&fit->wait.since.top, now)) {
        decay_now();
        retain_idle(&fit->ext->top_retain);
    }
    if (wait_over(&fit->wait.since.inside, now)) purge_now();
}

static void decay_now(void)
{
    fit->wait.since.top = 0;
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next))
        if (r->arena == fit && region_top_free(r) > snug_opt.trim_threshold) region_trim_top(r, snug_opt.top_pad);
}

/* Fragments: free space inside the regions in blocks under the trim
 * threshold, which the purge (above) leaves.  Threads that exit after a churn
 * leave the heap mostly such blocks between the survivors (512 threads: 170
 * MiB free in blocks of 65 KiB on average, 5 MiB live).  The reclaimer's round
 * looks at them: when the regions hold more free bytes off the top than user
 * bytes plus the trim threshold, and more than at the last such purge plus
 * the threshold, on two rounds in a row (decay_ms / 2 apart: the program is not
 * cycling through them), the pages inside every free block of 4 OS pages or
 * more are discarded, as malloc_trim does.  Lock held. */
static int fragments_round(void)
{
    size_t inside = fit->free_bytes - (fit->top ? blk_size(fit->top) : 0);
    if (inside < fit->ext->frag_mark) fit->ext->frag_mark = inside;
    int many = inside > fit->user_bytes + snug_opt.trim_threshold && inside > fit->ext->frag_mark + snug_opt.trim_threshold;
    if (!many) return fit->ext->frag_seen = 0;
    if (!fit->ext->frag_seen) return fit->ext->frag_seen = 1;
    fit->ext->frag_seen = 0;
    fit->ext->frag_mark = inside;
    (void)discard_free(4 * SNUG_OSPAGE);
    return 0;
}

/* An arena's part of the reclaimer's round (reclaim.c, through arena.c):
 * trim and purge what has waited decay_ms, and the fragments; whether
 * anything still waits.  Lock held. */
int region_reclaim(void)
{
    if (fit->wait.any) region_decay_check();
    int any = fit->wait.any != 0;
    if (fit->park_n == 0) any |= fragments_round();
    return any;
}

/* A waiting top is trimmed now (lock held). */
void region_end_wait(void)
{
    if (fit->wait.since.top) decay_now();
}

/* ---- giving memory back ---------------------------------------------- */

/* The last block of r is free: shrink the region so about `keep` bytes remain. */
void region_trim_top(struct region *r, size_t keep)
{
    uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
    uintptr_t sent = end - WORD;
    if (blk_head(sent) & BLK_PREV_INUSE) return;
    size_t sz = blk_prev_foot(sent);
    uintptr_t b = sent - sz;
    if (sz < keep + MIN_BLOCK + SNUG_OSPAGE) return;
    size_t dec = (sz - keep - MIN_BLOCK) & ~(size_t)(SNUG_OSPAGE - 1);
    if (!dec) return;
    if (region_is_brk(r)) {
        if (snug_os_brk_now() != end) return;               /* someone else moved brk */
        free_remove(b, sz);
        if (snug_os_brk_shrink(dec) != 0) { free_insert(b, sz); return; }
    } else {
        /* The tail goes with the address space reserved beyond it (under
         * RLIMIT_AS or RLIMIT_DATA, reserved space counts as used); the
         * region record and its map stay, for lock-free readers. */
        free_remove(b, sz);
        snug_os_unmap((void *)(end - dec), r->limit - (end - dec), dec);
        r->limit = end - dec;
    }
    sz -= dec;
    end -= dec;
    region_set_end(r, end);
    blk_set_head(b, sz | (blk_head(b) & BLK_PREV_INUSE));
    blk_set_foot(b, sz);
    blk_set_head(end - WORD, BLK_INUSE);
    free_insert(b, sz);
    waits_gave_back();
}

/* (its arena's lock held) */
static int page_pins_top(void *page)
{
    uintptr_t b = blk_of_payload(page);
    uint64_t h = blk_head(b);
    size_t bytes = (size_t)(h & ~BLK_FLAGS);        /* the page's block (may be a little larger) */
    uintptr_t n = b + bytes;
    uint64_t nh = blk_head(n);
    size_t free_after = 0;
    if (!(nh & BLK_INUSE)) {                    /* a free block, then the sentinel? */
        free_after = (size_t)(nh & ~BLK_FLAGS);
        n += free_after;
        nh = blk_head(n);
    }
    struct region *r = region_of(b);
    int top = (nh & ~BLK_FLAGS) == 0 && n == atomic_load_explicit(&r->end, memory_order_relaxed) - WORD;
    size_t free_before = top && !(h & BLK_PREV_INUSE) ? b - prev_free_block(b) : 0;
    return top && free_before + bytes + free_after > snug_opt.trim_threshold;
}

uint64_t snug_fit_pages_pin_top(void *const *pages, unsigned n)
{
    uint64_t pins = 0;
    struct fit_state *held = NULL;
    for (unsigned i = 0; i < n && i < 64; i++) {
        arena_switch(&held, arena_of((uintptr_t)pages[i]));
        if (page_pins_top(pages[i])) pins |= (uint64_t)1 << i;
    }
    if (held) arena_unlock(held);
    return pins;
}

int region_trim_all(size_t pad)
{
    fit->wait.any = 0;                            /* (what both waits would give back goes now) */
    size_t before = snug_os_held();
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next))
        if (r->arena == fit) region_trim_top(r, pad < SNUG_OSPAGE ? 0 : pad);
    int released = snug_os_held() < before;
    /* Free pages inside large free blocks go back too (the range stays mapped). */
    if (discard_free(4 * SNUG_OSPAGE)) released = 1;
    return released;
}
