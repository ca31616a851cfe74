/* fit.c - the fit allocator over heap regions (see block.h for the layout).
 * Free blocks sit on segregated bins: 16 exact bins below 256 bytes, then 8 bins
 * per power of two; two bitmaps find the first non-empty bin in constant time.
 * A request takes the best fit among the first few blocks of its own bin, else
 * the first block of the next non-empty bin.  The free block at the top of the
 * growing region (the top) stays off the bins: carving from it and freeing
 * into it cost no list work, and it serves a request only when no bin can.
 * Frees coalesce at once, except that a single-threaded process parks a freed
 * block of up to 64 KiB for a malloc of its exact size (parked blocks, below);
 * a free region top beyond the trim threshold goes back to the kernel after a
 * wait (decay, below). */
#include "fit.h"
#include <sys/single_threaded.h>
#include "retain.h"
#include "error.h"
#include "large.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include <errno.h>
#include <string.h>

#define NSMALLBINS 16
#define FL_MIN     8            /* first log2 class above the exact bins */
#define FL_MAX     40
#define SL_BITS    3
#define NBINS      (NSMALLBINS + (FL_MAX - FL_MIN + 1) * (1 << SL_BITS))
#define NWORDS     ((NBINS + 63) / 64)
#define BEST_SCAN  16
#define QUICK_MAX  (64u * 1024u)       /* largest block size parked (below) */
#define NQUICK     256u                 /* lists, by size / 16 modulo NQUICK */
#define NQWORDS    (NQUICK / 64)
#define QUICK_CAP  64u                  /* blocks parked at once */
#define QUICK_BYTES (256u * 1024u)      /* and their bytes */
#define QUICK_GAIN 256                  /* a list's credit: + per hit, */
#define QUICK_LOSS 64                   /* - per block parked in vain, */
#define QUICK_CREDIT_MAX 2048           /* + 1 per free not parked */

/* A free block's links are stored encoded: the target address xor the secret
 * in the low 48 bits, and in the top 16 a keyed hash of the link's own block,
 * its direction and its target.  A decoded link is followed only when its hash
 * agrees, so a write after free into a free block's links, or a link copied
 * from another block, is caught before anything follows it. */
typedef struct fblock { uint64_t head; uint64_t next_enc, prev_enc; } fblock;

/* Fit state: lives at the start of region 0, like everything else snug keeps. */
struct fit_state {
    uint64_t summary;
    uint64_t bits[NWORDS];
    fblock *bins[NBINS];
    size_t free_bytes, free_blocks, user_blocks, user_bytes, nregions;   /* user_bytes: read without the lock too */
    size_t map_held;            /* bytes of region 0's map counted as held */
    struct region *last;        /* region that grows */
    uintptr_t top;              /* free block before last's sentinel (off the bins), or 0 */
    uintptr_t last_sent;        /* last's sentinel head (last->end - W) */
    /* When (ms, low 32 bits, never 0; 0: none waits) a free top first waited to be
     * trimmed (decay, below), and free space inside a region to be purged (below);
     * read together by every fit call, as `any`. */
    union { struct { uint32_t top, inside; } since; uint64_t any; } wait;
    uint16_t decay_tick;        /* events since the clock was last read */
    /* Parked blocks (below): LIFO lists by size, a bit per non-empty list, a credit per list. */
    uint16_t quick_n;
    size_t quick_bytes;
    uint64_t quick_bits[NQWORDS];
    fblock *quick[NQUICK];
    int16_t quick_credit[NQUICK];
};

struct region *_Atomic snug_regions;
struct region0_view snug_r0;

uintptr_t addr_page_slow(uintptr_t a)
{
    struct region *r = region_of(a);
    if (!r) return ADDR_NONE;
    unsigned k = region_kind(r, a);
    return k ? page_of_kind(a, k) : ADDR_MEDIUM;
}

static struct fit_state *F;
/* How much free top the growing region keeps waiting (retain.h; decay,
 * below): a top beyond it is cut to it at once; a program that grows again
 * soon after such a cut makes it larger (the sqlite shape: tens of MiB freed
 * and built again, phase after phase, each cut faulted in anew a moment later). */
static struct retain top_retain;
/* Every change of a region's end goes through here (region 0's view and the
 * last region's sentinel follow). */
static void region_set_end(struct region *r, uintptr_t end)
{
    atomic_store_explicit(&r->end, end, memory_order_release);
    if (r->start == snug_r0.start) atomic_store_explicit(&snug_r0.len, end - r->start, memory_order_release);
    if (r == F->last) F->last_sent = end - W;
}
/* Set when the first thread cache is made (under the lock): only then can a
 * block carry a cache mark (mcache.h), so only then is the mark looked for.
 * A thread cache's own frees read it without the lock (relaxed: a thread sees
 * its own cache's store, and another thread's only matters for a double free);
 * it is stored relaxed for them. */
static int caches_made;
static snug_lock_t fit_lock = SNUG_LOCK_INIT;
struct snug_waits snug_fit_waits;
/* The lock on the paths user requests take (malloc, free, realloc), counting
 * the waits (mcache.h).  While the process has one thread (glibc's
 * __libc_single_threaded, which only that thread's pthread_create clears) no
 * one else can enter, and the lock is not taken: its atomic exchange would
 * wait for every store still pending (a realloc's copy, the program's writes)
 * to drain.  Returns whether it was taken, for fit_unlock_user; the choice is
 * made once per call, so a thread created later finds the lock consistent. */
static inline int fit_lock_user(void)
{
    if (__libc_single_threaded) return 0;
    if (SNUG_UNLIKELY(snug_lock(&fit_lock))) atomic_fetch_add_explicit(&snug_fit_waits.n, 1, memory_order_relaxed);
    return 1;
}
static inline void fit_unlock_user(int locked) { if (locked) snug_unlock(&fit_lock); }

#define LINK_NEXT 0x6e657874u
#define LINK_PREV 0x70726576u
static uint64_t link_tag(const fblock *f, uint64_t to, uint64_t dir)
{
    uint64_t a = (uint64_t)(uintptr_t)f;
    return (((a << 17 | a >> 47) ^ to ^ dir ^ snug_secret) * 0x9E3779B97F4A7C15ull) & ~BLK_VALUE;
}
static uint64_t link_enc(const fblock *f, const fblock *to, uint64_t dir)
{
    uint64_t t = (uint64_t)(uintptr_t)to;
    return ((t ^ snug_secret) & BLK_VALUE) | link_tag(f, t, dir);
}
static fblock *fb_link(const fblock *f, uint64_t enc, uint64_t dir)
{
    uint64_t to = (enc ^ snug_secret) & BLK_VALUE;
    if (SNUG_UNLIKELY(SNUG_CHECK((enc & ~BLK_VALUE) != link_tag(f, to, dir))))
        snug_fatal("free block's links overwritten (write after free?) at", (const char *)f + W, 0);
    return (fblock *)(uintptr_t)to;
}
static fblock *fb_next(const fblock *f) { return fb_link(f, f->next_enc, LINK_NEXT); }
static fblock *fb_prev(const fblock *f) { return fb_link(f, f->prev_enc, LINK_PREV); }
/* The bounded scans of a bin only read the blocks they pass (a size, a next
 * link).  A link that decodes to an aligned place inside region 0 can be read
 * through without its hash: whatever block a scan picks is checked in full
 * before anything is written (its head by alloc_locked, its links by
 * bin_remove).  Anything else takes the full check. */
static __attribute__((noinline)) fblock *fb_next_cold(const fblock *f) { return fb_next(f); }
/* Region 0 as a scan sees it, read once per scan: x = to - base is a multiple
 * of 16 below 16 * lim for a place inside it (region 0 starts 16-aligned);
 * rotating x's low four bits to the top makes that one compare. */
struct scan_span { uintptr_t base, lim; };
static struct scan_span scan_span(void)
{
    uintptr_t len = atomic_load_explicit(&snug_r0.len, memory_order_relaxed);
    return (struct scan_span){ snug_r0.start + W, (len - 2 * W) >> 4 };
}
static inline __attribute__((always_inline)) fblock *fb_scan_next(const fblock *f, struct scan_span sp)
{
    uint64_t to = (f->next_enc ^ snug_secret) & BLK_VALUE;
    if (!SNUG_CHECKS) return (fblock *)(uintptr_t)to;
    uintptr_t x = (uintptr_t)to - sp.base;
    if (SNUG_LIKELY((x >> 4 | x << (8 * sizeof x - 4)) < sp.lim) || !to) return (fblock *)(uintptr_t)to;
    return fb_next_cold(f);
}
static void fb_set_next(fblock *f, fblock *to) { f->next_enc = link_enc(f, to, LINK_NEXT); }
static void fb_set_prev(fblock *f, fblock *to) { f->prev_enc = link_enc(f, to, LINK_PREV); }

static unsigned bin_index(size_t sz)
{
    if (sz < 256) return (unsigned)(sz >> 4);
    /* (xor, not subtraction: compilers see the bit scan in it) */
    unsigned fl = (unsigned)(8 * sizeof(long) - 1) ^ (unsigned)__builtin_clzl((unsigned long)sz);
    if (fl > FL_MAX) return NBINS - 1;
    /* sz >> (fl - SL_BITS) is 2^SL_BITS + the second-level index. */
    return (fl << SL_BITS) + (unsigned)(sz >> (fl - SL_BITS)) - ((FL_MIN + 1) << SL_BITS) + NSMALLBINS;
}

static inline __attribute__((always_inline)) void bin_insert(uintptr_t b, size_t sz)
{
    unsigned i = bin_index(sz);
    fblock *f = (fblock *)b;
    fb_set_next(f, F->bins[i]);         /* a bin's head has no prev link (never read) */
    if (F->bins[i]) fb_set_prev(F->bins[i], f);
    F->bins[i] = f;
    F->bits[i / 64] |= (uint64_t)1 << (i % 64);
    F->summary |= (uint64_t)1 << (i / 64);
    F->free_bytes += sz;
    F->free_blocks++;
}

/* Take b (of size sz) off bin i, the bin its size maps to. */
static inline __attribute__((always_inline)) void bin_remove_at(uintptr_t b, size_t sz, unsigned i)
{
    fblock *f = (fblock *)b;
    /* The hashes bind each link to its block, direction and target, so the
     * links read here are ones snug wrote for f; the heap checker (I4) also
     * walks both directions of every list.  The head's prev link is stale:
     * it is known to be the head by the bin, not by its link. */
    fblock *next = fb_next(f);
    if (F->bins[i] == f) {
        F->bins[i] = next;
    } else {
        fblock *prev = fb_prev(f);
        fb_set_next(prev, next);
        if (next) fb_set_prev(next, prev);
    }
    if (!F->bins[i]) {
        F->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
        if (!F->bits[i / 64]) F->summary &= ~((uint64_t)1 << (i / 64));
    }
    F->free_bytes -= sz;
    F->free_blocks--;
}

static inline __attribute__((always_inline)) void bin_remove(uintptr_t b, size_t sz) { bin_remove_at(b, sz, bin_index(sz)); }

/* Every free block is on its bin but the top, which F->top names (see above). */
static inline __attribute__((always_inline)) void free_insert(uintptr_t b, size_t sz)
{
    if (b + sz == F->last_sent) {
        F->top = b;
        F->free_bytes += sz;
        F->free_blocks++;
        return;
    }
    bin_insert(b, sz);
}

static inline __attribute__((always_inline)) void free_remove(uintptr_t b, size_t sz)
{
    if (b == F->top) {
        F->top = 0;
        F->free_bytes -= sz;
        F->free_blocks--;
        return;
    }
    bin_remove(b, sz);
}

/* First non-empty bin with index >= i, or -1. */
static inline __attribute__((always_inline)) int bin_next(unsigned i)
{
    unsigned w = i / 64;
    uint64_t m = F->bits[w] & (~(uint64_t)0 << (i % 64));
    if (m) return (int)(w * 64 + (unsigned)__builtin_ctzll(m));
    uint64_t s = w + 1 < 64 ? F->summary & (~(uint64_t)0 << (w + 1)) : 0;
    if (!s) return -1;
    w = (unsigned)__builtin_ctzll(s);
    return (int)(w * 64 + (unsigned)__builtin_ctzll(F->bits[w]));
}

/* A free block of `need` bytes or more, and the bin it is on (*bin; anything
 * for the top), or 0. */
static inline __attribute__((always_inline)) uintptr_t find_fit(size_t need, unsigned *bin)
{
    unsigned i = bin_index(need);
    *bin = i;
    fblock *best = NULL;
    size_t best_size = SIZE_MAX;
    int n = 0;
    struct scan_span sp = scan_span();
    /* Candidates' heads are read unchecked (alloc_locked checks the chosen one;
     * the others are checked when next taken, merged or walked); their links
     * are checked before they are followed. */
    for (fblock *f = F->bins[i]; f && n < BEST_SCAN; f = fb_scan_next(f, sp), n++) {
        size_t s = (size_t)(blk_known((uintptr_t)f) & ~BLK_FLAGS);
        if (s >= need && s < best_size) {
            best = f;
            best_size = s;
            if (s == need) break;
        }
    }
    if (best) return (uintptr_t)best;
    int j = bin_next(i + 1);
    *bin = (unsigned)j;
    if (j >= 0 && (unsigned)j < NBINS - 1) return (uintptr_t)F->bins[j];   /* any block fits */
    if (j >= 0)                         /* the open-ended last bin: sizes vary */
        for (fblock *f = F->bins[j]; f; f = fb_next(f))
            if (blk_size((uintptr_t)f) >= need) return (uintptr_t)f;
    /* (carve_at checks the head of the block it takes) */
    if (F->top && (blk_known(F->top) & ~BLK_FLAGS) >= need) return F->top;
    /* Nothing larger is free: the rest of the own bin before giving up. */
    *bin = i;
    for (fblock *f = F->bins[i]; f; f = fb_next(f))
        if (blk_size((uintptr_t)f) >= need) return (uintptr_t)f;
    return 0;
}

/* Offset from b's payload to the first payload position aligned to `align`
 * that leaves either nothing or a whole free block in front. */
static size_t aligned_lead(uintptr_t b, size_t align)
{
    uintptr_t p = b + W, ap = snug_align_up(p, align);
    while (ap != p && ap - p < MIN_BLOCK) ap += align;
    return ap - p;
}

/* A free block that holds `need` bytes at an `align`-aligned payload, found
 * among the first ALIGN_SCAN candidates of the bins from need's upward. */
#define ALIGN_SCAN 64
static uintptr_t find_aligned(size_t need, size_t align)
{
    int seen = 0;
    struct scan_span sp = scan_span();
    for (int j = bin_next(bin_index(need)); j >= 0 && seen < ALIGN_SCAN;
         j = (unsigned)j + 1 < NBINS ? bin_next((unsigned)j + 1) : -1)
        for (fblock *f = F->bins[j]; f && seen < ALIGN_SCAN; f = fb_scan_next(f, sp), seen++) {
            size_t s = (size_t)(blk_known((uintptr_t)f) & ~BLK_FLAGS);   /* the chosen one is checked */
            if (s >= need && aligned_lead((uintptr_t)f, align) + need <= s) return (uintptr_t)f;
        }
    if (F->top) {
        size_t s = blk_size(F->top);
        if (s >= need && aligned_lead(F->top, align) + need <= s) return F->top;
    }
    return 0;
}

void blk_corrupt(uintptr_t b)
{
    snug_fatal("heap block head overwritten (overflow from the block before it?) at", (void *)(b + W), 0);
}

/* First block and end of the region holding address a (region 0 read from its
 * view, without the walk); 0 when a is in none. */
static inline uintptr_t region_bounds(uintptr_t a, uintptr_t *end)
{
    size_t len0 = atomic_load_explicit(&snug_r0.len, memory_order_relaxed);
    if (a - snug_r0.start < len0) {
        *end = snug_r0.start + len0;
        return snug_r0.first;
    }
    struct region *r = region_of(a);
    if (!r) return 0;
    *end = atomic_load_explicit(&r->end, memory_order_relaxed);
    return r->first;
}

/* The free block before b (b's PREV_INUSE is clear), found through its foot.
 * A foot is a plain size: it is trusted only when it leads inside b's region to
 * a free block's head that agrees. */
static uintptr_t prev_free_block(uintptr_t b)
{
    size_t psz = blk_prev_foot(b);
    uintptr_t pb = b - psz, end, first = region_bounds(b, &end);
    uint64_t raw = psz < MIN_BLOCK || (psz & BLK_FLAGS) || !first || psz > b - first ? 0 : blk_raw(pb);
    if (!raw || !blk_tag_ok(pb, raw) || (raw & (~BLK_FLAGS & BLK_VALUE)) != psz || (raw & BLK_INUSE))
        snug_fatal("free block's foot overwritten (write after free?) before", (void *)(b + W), 0);
    return pb;
}

/* Where a freed block's own size is remembered after it merged with the free
 * block after it (the word after the links; bigger blocks only). */
#define ORIG_AT (3 * W)
static uint64_t orig_key(uintptr_t b) { return ((uint64_t)b ^ snug_secret) << 1 | 1; }

/* Free the allocated block b (not on a bin), coalescing; returns the result.
 * b's own head is marked FREED first, so a later free of the same pointer is
 * recognised even after b has merged into a neighbour.  Every caller has just
 * checked or written b's head. */
static inline __attribute__((always_inline)) uintptr_t release(uintptr_t b)
{
    uint64_t h = blk_known(b);
    size_t sz = (size_t)(h & ~BLK_FLAGS), sz0 = sz;
    uintptr_t b0 = b;
    if (!(h & BLK_PREV_INUSE)) {
        blk_set_head(b, sz | BLK_FREED);        /* stays behind, inside the merged block */
        uintptr_t pb = prev_free_block(b);
        size_t psz = b - pb;
        b = pb;
        free_remove(b, psz);
        sz += psz;
        h = blk_known(b);
    }
    uintptr_t n = b + sz;
    uint64_t nh = blk_head(n);
    int next_free = !(nh & BLK_INUSE);
    if (next_free) {
        size_t nsz = (size_t)(nh & ~BLK_FLAGS);
        free_remove(n, nsz);
        sz += nsz;
    }
    blk_set_head(b, sz | (h & BLK_PREV_INUSE) | (b == b0 ? BLK_FREED : 0));
    if (b == b0 && sz >= ORIG_AT + 3 * W) *(uint64_t *)(b + ORIG_AT) = sz0 ^ orig_key(b);
    blk_set_foot(b, sz);
    /* The block after: allocated (I3).  When b took in a free neighbour, the
     * block after that one already says its neighbour is free (I2). */
    if (!next_free) blk_set_head(n, nh & ~BLK_PREV_INUSE);
    free_insert(b, sz);
    return b;
}

/* The same, out of line, for the callers off the malloc and free paths (so
 * that only those two carry its inlined list work). */
static __attribute__((noinline)) uintptr_t release_cold(uintptr_t b) { return release(b); }

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
    size_t roomy = snug_align_up(sz + sz / 4, SNUG_ALIGN);
    if (roomy > need && roomy <= room) {
        shrink_to(b, roomy);
        blk_set_head(b, blk_known(b) | BLK_ROOMY);
    } else {
        shrink_to(b, need);
    }
}

/* ---- parked blocks ----------------------------------------------------
 * While the process has one thread, a freed block of up to QUICK_MAX bytes is
 * not coalesced at once but parked on a LIFO list (size / 16 modulo NQUICK),
 * and a malloc of exactly its size takes the list's first back: neither pays
 * for bins, splits and merges, and the block is likely still in the cache.
 * Any other malloc (and an aligned or page request, a metadata block, a trim,
 * a realloc growing into a parked neighbour) first makes every parked block
 * rejoin the heap, freed and coalesced as usual, so every search sees the heap
 * immediate coalescing would have left and the heap grows no sooner; at most
 * QUICK_CAP blocks and QUICK_BYTES wait.  A list whose parked blocks rejoin
 * unused loses credit (a taken one gains it); below zero its frees are not
 * parked, one more each time, until it is back at zero: sizes that do not
 * recur (the coalescing trace) stop paying for parking.
 * A parked block stays allocated in the layout's eyes (INUSE, with FREED: a
 * second free of it is seen), so its neighbours do not merge with it, and it
 * links through its first payload word (a hashed link, checked when followed).
 * Q1: a block is parked exactly when its head has INUSE and FREED, and it is
 * then on list quick_index(size) once; quick_bits, quick_n and quick_bytes
 * agree with the lists. */
#define LINK_QUICK 0x7175696bu
static fblock *quick_next(const fblock *f) { return fb_link(f, f->next_enc, LINK_QUICK); }
static inline unsigned quick_index(size_t sz) { return (unsigned)(sz >> 4) % NQUICK; }
static inline int blk_parked(uint64_t h) { return (h & (BLK_INUSE | BLK_FREED)) == (BLK_INUSE | BLK_FREED); }

/* Park allocated block b (head h, just checked): 0 when it must be freed now
 * (it is too big; it would join the top, where parked it would keep the free
 * space below it from the top and from the kernel; its list's parked blocks
 * went unused lately; or the lists are full). */
static inline __attribute__((always_inline)) int quick_park(uintptr_t b, uint64_t h)
{
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    unsigned q = quick_index(sz);
    uintptr_t n = b + sz;
    if (sz > QUICK_MAX || n == F->top || n == F->last_sent) return 0;   /* (release reads n's head) */
    if (F->quick_credit[q] < 0) {
        F->quick_credit[q]++;
        return 0;
    }
    if (F->quick_n >= QUICK_CAP || F->quick_bytes + sz > QUICK_BYTES) return 0;
    (void)blk_head(n);                  /* an overflow into the next head is caught here, as at free */
    fblock *f = (fblock *)b;
    f->next_enc = link_enc(f, F->quick[q], LINK_QUICK);
    blk_set_head(b, (h & ~BLK_ROOMY) | BLK_FREED);
    F->quick[q] = f;
    F->quick_bits[q / 64] |= (uint64_t)1 << (q % 64);
    F->quick_n++;
    F->quick_bytes += sz;
    return 1;
}

/* Unpark the first block of non-empty list q, allocated again (its head checked). */
static inline __attribute__((always_inline)) uintptr_t quick_pop(unsigned q, uint64_t h)
{
    fblock *f = F->quick[q];
    uintptr_t b = (uintptr_t)f;
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    if (SNUG_UNLIKELY(!blk_parked(h) || quick_index(sz) != q))
        blk_corrupt(b);
    if (!(F->quick[q] = quick_next(f))) F->quick_bits[q / 64] &= ~((uint64_t)1 << (q % 64));
    blk_set_head(b, h & ~BLK_FREED);
    F->quick_n--;
    F->quick_bytes -= sz;
    return b;
}

/* A parked block of exactly `need` bytes, taken back; 0 when its list's first is not one. */
static inline __attribute__((always_inline)) uintptr_t quick_take(size_t need)
{
    unsigned q = quick_index(need);
    if (!F->quick[q] || (size_t)(blk_known((uintptr_t)F->quick[q]) & ~BLK_FLAGS) != need) return 0;
    uint64_t h = blk_head((uintptr_t)F->quick[q]);      /* (checked: it is taken) */
    if (F->quick_credit[q] < QUICK_CREDIT_MAX) F->quick_credit[q] += QUICK_GAIN;
    return quick_pop(q, h);
}

/* ---- regions ---------------------------------------------------------- */

static size_t map_bytes(size_t pages) { return sizeof(struct pmap) + snug_align_up(pages, SNUG_ALIGN); }

static void region_link(struct region *r)
{
    r->next = NULL;
    struct region *_Atomic *at = &snug_regions;
    while (atomic_load(at)) at = &atomic_load(at)->next;
    atomic_store_explicit(at, r, memory_order_release);
    if (F) {
        if (F->top) {                           /* the old last region's top joins the bins */
            uintptr_t t = F->top;
            size_t sz = blk_size(t);
            free_remove(t, sz);
            bin_insert(t, sz);
        }
        F->last = r;
        F->last_sent = atomic_load_explicit(&r->end, memory_order_relaxed) - W;
        F->nregions++;
    }
}

/* Lay out blocks in [first, end): one free block (or none) and the sentinel. */
static void region_format(struct region *r)
{
    uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
    size_t sz = end - W - r->first;
    blk_set_head(end - W, BLK_INUSE);       /* sentinel, previous block free */
    blk_set_head(r->first, sz | BLK_PREV_INUSE);
    blk_set_foot(r->first, sz);
}

/* Region 0's page map lives in its own reserved mapping (so it never pins the
 * heap top); the bytes of it that the heap's extent can reach count as held. */
#define BRK_MAP_RESERVE ((size_t)16 << 20)      /* one byte per 4 KiB: 64 GiB of heap */
static void account_map(struct region *r, uintptr_t end)
{
    if (!r->is_brk) return;                     /* mmap regions carry their map inline */
    size_t need = snug_align_up(sizeof(struct pmap) + ((end - r->mapbase) >> SNUG_OSPAGE_SHIFT), SNUG_OSPAGE);
    if (need > F->map_held) {
        snug_os_account((intptr_t)(need - F->map_held));
        F->map_held = need;
    }
}

/* An mmap region whose unused tail went back to the kernel (trim_region_top)
 * takes address space again, in place, up to what its map covers, else just
 * up to need_end.  Returns 0 on success. */
static int region_reserve(struct region *r, uintptr_t need_end)
{
    const struct pmap *m = atomic_load_explicit(&r->map, memory_order_relaxed);
    uintptr_t cap_end = r->mapbase + (m->cap << SNUG_OSPAGE_SHIFT);
    if (need_end > cap_end) return -1;
    if (snug_os_reserve_at((void *)r->limit, cap_end - r->limit)) r->limit = cap_end;
    else if (need_end > r->limit && snug_os_reserve_at((void *)r->limit, need_end - r->limit)) r->limit = need_end;
    else return -1;
    return 0;
}

/* Grow region r by at least `more` bytes at its top; the new space joins the
 * block before the sentinel.  Returns 0 on success. */
static int region_extend(struct region *r, size_t more)
{
    uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
    size_t held = end - r->start;
    /* A brk region grows by a little more than asked, to amortise the system
     * calls; a mapping's growth is only counted, so it takes what it needs. */
    size_t slack = r->is_brk ? held / 64 : 0;
    if (slack > (size_t)1 << 20) slack = (size_t)1 << 20;
    if (more > (size_t)PTRDIFF_MAX / 2) { errno = ENOMEM; return -1; }
    size_t inc = snug_align_up(more + slack, SNUG_OSPAGE);
    struct pmap *m = atomic_load_explicit(&r->map, memory_order_relaxed);
    if ((end + inc - r->mapbase) >> SNUG_OSPAGE_SHIFT > m->cap) { errno = ENOMEM; return -1; }
    if (r->is_brk) {
        if (snug_os_brk_now() != end) { errno = ENOMEM; return -1; }   /* foreign sbrk */
        if (!snug_os_brk_grow(inc)) return -1;
    } else {
        if (inc > r->limit - end && region_reserve(r, end + inc) != 0) { errno = ENOMEM; return -1; }
        snug_os_account((intptr_t)inc);
    }
    account_map(r, end + inc);
    F->wait.since.top = 0;
    /* The old sentinel becomes the head of the new space. */
    uintptr_t nb = end - W;
    blk_set_head(nb, inc | (blk_head(nb) & BLK_PREV_INUSE) | BLK_INUSE);
    blk_set_head(nb + inc, BLK_INUSE | BLK_PREV_INUSE);
    region_set_end(r, end + inc);
    release_cold(nb);
    return 0;
}

/* A fresh mmap'd region able to hold a block of `need` bytes. */
static struct region *region_new_mmap(size_t need)
{
    size_t len = SNUG_MMAP_REGION;
    if (need > len / 2) len = snug_align_up(need * 2, SNUG_OSPAGE);
    size_t pages = len >> SNUG_OSPAGE_SHIFT;
    size_t hdr = snug_align_up(sizeof(struct region), SNUG_ALIGN) + map_bytes(pages);
    void *mem = snug_os_reserve(len);
    if (!mem) return NULL;
    struct region *r = mem;
    r->start = r->mapbase = (uintptr_t)mem;
    r->limit = (uintptr_t)mem + len;
    r->is_brk = 0;
    struct pmap *m = (struct pmap *)(r->start + snug_align_up(sizeof(struct region), SNUG_ALIGN));
    m->cap = pages;
    atomic_store_explicit(&r->map, m, memory_order_relaxed);
    r->first = snug_align_up(r->start + hdr + W, SNUG_ALIGN) - W;
    size_t used = snug_align_up(r->first + need + MIN_BLOCK + W - r->start, SNUG_OSPAGE);
    if (used > len) used = len;
    atomic_store_explicit(&r->end, r->start + used, memory_order_relaxed);
    snug_os_account((intptr_t)used);
    region_format(r);
    bin_insert(r->first, blk_size(r->first));
    region_link(r);
    return r;
}

/* Make room for a block of `need` bytes: grow the last region or start one. */
static int grow_once(size_t need)
{
    struct region *r = F->last;
    uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
    size_t have = 0;
    if (!(blk_head(end - W) & BLK_PREV_INUSE)) have = blk_prev_foot(end - W);
    size_t more = need > have ? need - have : 0;
    /* Mappings kept for reuse would only add to what the heap holds. */
    large_cache_drop();
    retain_regrow(&top_retain, snug_os_now_ms());
    if (region_extend(r, more + MIN_BLOCK) == 0) return 0;
    return region_new_mmap(need + MIN_BLOCK) ? 0 : -1;
}

static void quick_flush(void);

/* The kernel refused: snug gives back what it keeps for reuse (os.h:
 * snug_os_give_back: kept pages and mappings, the quarantine, region tops),
 * with the fit lock dropped for it if this thread holds it.  Every path to
 * here holds it when the process has threads (fit_lock_user), and no other
 * thread can take it while it has none, so the lock word says.  Then 0 when
 * the request fits in what came back or the heap grows after all. */
static __attribute__((noinline, cold)) int grow_after_give_back(size_t need)
{
    int held = atomic_load_explicit(&fit_lock.v, memory_order_relaxed) != 0;
    if (held) snug_unlock(&fit_lock);
    int again = snug_os_give_back();
    if (held) snug_lock(&fit_lock);
    if (!again) return -1;
    if (F->quick_n) quick_flush();
    unsigned bin;
    if (find_fit(need, &bin)) return 0;
    return grow_once(need);
}

static int grow(size_t need)
{
    int saved = errno;                  /* (a success after the retry leaves it as it was) */
    if (grow_once(need) == 0) return 0;
    if (grow_after_give_back(need) != 0) return -1;
    errno = saved;
    return 0;
}

int snug_fit_init(void)
{
    uintptr_t brk0 = snug_os_brk_now();
    size_t hdr = snug_align_up(sizeof(struct region), SNUG_ALIGN) + snug_align_up(sizeof(struct fit_state), SNUG_ALIGN);
    uintptr_t start = snug_align_up(brk0, SNUG_OSPAGE);     /* map index 0 at start (addr_page) */
    uintptr_t first = snug_align_up(start + hdr + W, SNUG_ALIGN) - W;
    uintptr_t end = snug_align_up(first + 4 * SNUG_OSPAGE, SNUG_OSPAGE);
    uintptr_t limit = 0;
    struct pmap *m = snug_os_reserve(BRK_MAP_RESERVE);
    if (!m) return -1;
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
        first = snug_align_up(start + hdr + W, SNUG_ALIGN) - W;
        end = snug_align_up(first + 4 * SNUG_OSPAGE, SNUG_OSPAGE);
        snug_os_account((intptr_t)(end - start));
        limit = start + len;
        m = (struct pmap *)(start + hdr - map_bytes(pages));
        m->cap = pages;
    }
    struct region *r = (struct region *)start;
    memset(r, 0, snug_align_up(sizeof(struct region), SNUG_ALIGN) + sizeof(struct fit_state));
    r->is_brk = limit == 0;
    r->limit = limit;
    r->start = start;
    r->mapbase = start & ~(uintptr_t)(SNUG_OSPAGE - 1);
    F = (struct fit_state *)(start + snug_align_up(sizeof(struct region), SNUG_ALIGN));
    atomic_store_explicit(&r->map, m, memory_order_relaxed);
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
    F->nregions = 1;                            /* (region_link made r the last) */
    return 0;
}

/* ---- allocation ------------------------------------------------------- */

/* Take `need` bytes (a found free block's size or less) from free block b,
 * the top or on bin `bin`.  Carved from the top, once what is left of it is
 * below the trim threshold, no top waits (decay, below). */
static inline __attribute__((always_inline)) void carve_at(uintptr_t b, size_t need, unsigned bin)
{
    int from_top = b == F->top;
    uint64_t h = blk_head(b);
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    if (from_top) free_remove(b, sz);
    else bin_remove_at(b, sz, bin);
    take(b, h, need);
    if (from_top && F->wait.since.top && (!F->top || blk_size(F->top) <= snug_opt.trim_threshold))
        F->wait.since.top = 0;
}

/* b was handed out as a user block: the counts. */
static void user_taken(uintptr_t b)
{
    F->user_blocks++;
    snug_rstore_hot(&F->user_bytes, F->user_bytes + ((size_t)(blk_known(b) & ~BLK_FLAGS) - W));
}

static void quick_flush(void);

/* Every search starts from the heap immediate coalescing would have left:
 * parked blocks rejoin it first. */
static inline __attribute__((always_inline)) uintptr_t alloc_locked(size_t need)
{
    if (F->quick_n) quick_flush();
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

static uintptr_t alloc_aligned_locked(size_t need, size_t align)
{
    if (align <= SNUG_ALIGN) return alloc_locked_cold(need);
    if (need > SIZE_MAX / 2 - align) { errno = ENOMEM; return 0; }
    if (F->quick_n) quick_flush();
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

static void decay_poll(void);

/* A user block; `flags` (BLK_ROOMY or 0) go into its head. */
static inline __attribute__((always_inline)) void *fit_malloc_flags(size_t n, size_t align, uint64_t flags)
{
    if (n > (size_t)PTRDIFF_MAX - 2 * SNUG_OSPAGE) { errno = ENOMEM; return NULL; }
    size_t need = blk_need(n);
    int locked = fit_lock_user();
    /* A parked block of the size (while the process has one thread), else a search. */
    uintptr_t b = !locked && align <= SNUG_ALIGN ? quick_take(need) : 0;
    if (!b) b = align <= SNUG_ALIGN ? alloc_locked(need) : alloc_aligned_locked(need, align);
    if (b) {
        if (flags) blk_set_head(b, blk_known(b) | flags);     /* just written */
        user_taken(b);
    }
    decay_poll();
    fit_unlock_user(locked);
    return b ? (void *)(b + W) : NULL;
}

void *snug_fit_malloc(size_t n, size_t align) { return fit_malloc_flags(n, align, 0); }
void *snug_fit_malloc_roomy(size_t n) { return fit_malloc_flags(n, SNUG_ALIGN, BLK_ROOMY); }

void snug_fit_caches_on(void)
{
    snug_lock(&fit_lock);
    snug_rstore(&caches_made, 1);
    snug_unlock(&fit_lock);
}

void *snug_fit_meta_alloc(size_t n)
{
    snug_lock(&fit_lock);
    uintptr_t b = alloc_locked_cold(blk_need(n));
    if (b) blk_set_head(b, blk_known(b) | BLK_META);
    snug_unlock(&fit_lock);
    return b ? (void *)(b + W) : NULL;
}

static __attribute__((noinline, noreturn, cold)) void not_a_block(const void *p, const char *op)
{
    char msg[96];
    size_t n = 0;
    for (const char *s = op; *s && n < 60; s++) msg[n++] = *s;
    for (const char *s = " (not a block, or its head was overwritten)"; *s && n + 1 < sizeof msg; s++) msg[n++] = *s;
    msg[n] = 0;
    snug_fatal(msg, p, 0);
}

/* Fatal unless p is the payload of an allocated medium block.  Lock held,
 * unless `unlocked` (then the head is read as others may be rewriting it). */
static inline __attribute__((always_inline)) uintptr_t checked_block_in(const void *p, const char *op, int unlocked)
{
    uintptr_t b = blk_of_payload(p), end, first = region_bounds((uintptr_t)p, &end);
    if (((uintptr_t)p & (SNUG_ALIGN - 1)) || !first || b < first)
        snug_fatal(op, p, 0);
    uint64_t raw = unlocked ? blk_raw_unlocked(b) : blk_raw(b);
    if (!blk_tag_ok(b, raw)) not_a_block(p, op);
    uint64_t h = raw & BLK_VALUE;
    size_t sz = (size_t)(h & ~BLK_FLAGS);
    if (!(h & BLK_INUSE)) {          /* a free head (maybe merged away): freed before */
        size_t orig = 0;
        uint64_t e = sz >= ORIG_AT + 3 * W ? *(uint64_t *)(b + ORIG_AT) ^ orig_key(b) : 0;
        if ((h & BLK_FREED) && e >= MIN_BLOCK && e <= sz && !(e & BLK_FLAGS)) orig = (size_t)e - W;
        else if ((h & BLK_FREED) && sz < ORIG_AT + 3 * W) orig = sz - W;
        snug_fatal_freed(op, p, orig);
    }
    if (h & (BLK_META | BLK_FREED)) {
        if (h & BLK_FREED) snug_fatal_freed(op, p, sz - W);     /* parked (below) */
        snug_fatal("free(): pointer to a block snug uses for itself (freed before: a double free?)", p, 0);
    }
    if ((unlocked ? snug_rload(&caches_made) : caches_made) && sz >= 3 * W && blk_cached((uintptr_t)p))      /* freed into a thread cache */
        snug_fatal_freed(op, p, sz - W);
    if ((h & BLK_PAGE) || sz < MIN_BLOCK || sz > end - W - b)
        snug_fatal(op, p, 0);
    return b;           /* free and realloc go on to read (and check) the next head */
}
static inline __attribute__((always_inline)) uintptr_t checked_block(const void *p, const char *op)
{
    return checked_block_in(p, op, 0);
}

/* The block head of a live medium block is changed by others only in its
 * PREV_INUSE bit (a neighbour's free, under the lock), so on 64-bit, where a
 * head is one store and one load (relaxed: relaxed.h), it reads consistently
 * without the lock.
 * On 32-bit a head is two words, and a read racing a neighbour's rewrite
 * would see half of each: there these reads take the lock. */
#define HEADS_LOCK_FREE (sizeof(void *) == 8)
size_t snug_fit_checked_size(const void *p, const char *op)
{
    if (!HEADS_LOCK_FREE) snug_lock(&fit_lock);
    uintptr_t b = checked_block_in(p, op, HEADS_LOCK_FREE);
    uint64_t raw = blk_raw_unlocked(b);     /* (its size is the block's own; PREV_INUSE may change) */
    size_t sz = (size_t)(raw & BLK_VALUE & ~BLK_FLAGS);
    raw = blk_raw_unlocked(b + sz);     /* an overflow into the next head is caught here, as at free */
    if (SNUG_UNLIKELY(SNUG_CHECK(!blk_tag_ok(b + sz, raw)))) blk_corrupt(b + sz);
    if (!HEADS_LOCK_FREE) snug_unlock(&fit_lock);
    return sz;
}

/* A malloc of n gets a block of need = blk_need(n) bytes, or up to 16 more
 * (a split leaves no block under MIN_BLOCK).  Others are bigger than asked:
 * a roomy block by up to a quarter (realloc keeps it while the request stays
 * within its last quarter), and once thread caches exist, a cached block by up
 * to a quarter or 496 bytes, plus its cache class's 256.  A request below what
 * the largest of these slacks allows cannot have been given this block. */
size_t snug_fit_request_range(const void *p, const char *op, size_t *lo)
{
    if (!HEADS_LOCK_FREE) snug_lock(&fit_lock);
    uint64_t h = blk_raw_unlocked(checked_block_in(p, op, HEADS_LOCK_FREE)) & BLK_VALUE;
    if (!HEADS_LOCK_FREE) snug_unlock(&fit_lock);
    size_t sz = (size_t)(h & ~BLK_FLAGS), slack = SNUG_ALIGN;
    if (h & BLK_ROOMY) slack += sz / 4;
    if (snug_rload(&caches_made)) {
        size_t mc = sz / 4 > 496 ? sz / 4 + 256 : 752;
        if (slack < mc + SNUG_ALIGN) slack = mc + SNUG_ALIGN;
    }
    /* need >= sz - slack, and need = align_up(n + W, 16) */
    *lo = sz > slack + W + SNUG_ALIGN ? sz - slack - W - (SNUG_ALIGN - 1) : 0;
    return sz - W;
}

size_t snug_fit_cached_size(const void *p)
{
    if (HEADS_LOCK_FREE) {
        uintptr_t b = blk_of_payload(p);
        uint64_t raw = blk_raw_unlocked(b);
        if (SNUG_UNLIKELY(SNUG_CHECK(!blk_tag_ok(b, raw)))) blk_corrupt(b);
        return (size_t)(raw & BLK_VALUE & ~BLK_FLAGS);
    }
    snug_lock(&fit_lock);
    size_t sz = blk_size(blk_of_payload(p));
    snug_unlock(&fit_lock);
    return sz;
}

size_t snug_fit_validate(const void *p, const char *op)
{
    snug_lock(&fit_lock);
    uintptr_t b = checked_block(p, op);
    /* An overflow into the next block is seen here too, as at free. */
    size_t sz = (size_t)(blk_known(b) & ~BLK_FLAGS);
    if (!(blk_head(b + sz) & BLK_PREV_INUSE)) blk_corrupt(b + sz);
    snug_unlock(&fit_lock);
    return sz - W;
}

static void trim_region_top(struct region *r, size_t keep);

/* Decay: a free region top beyond the trim threshold is not trimmed at once
 * but after it has waited decay_ms (read on the next frees and fit calls, on
 * a coarse clock, every 16th event).  A program that frees its heap and
 * builds it again, phase after phase, keeps the pages and their faults are
 * not paid again; memory left free goes back once the wait is over, and a
 * top beyond what the region keeps (top_retain: decay_max, more for a program
 * seen to grow back into what was cut) is cut to that at once.  Region growth ends the wait
 * (the whole top was wanted again); a program that cycles without growing
 * pays one trim per decay_ms.  Lock held. */
/* The clock of the waits: ms, low 32 bits (differences are taken modulo 2^32), never 0. */
static uint32_t now_ms32(void)
{
    uint32_t t = (uint32_t)snug_os_now_ms();
    return t ? t : 1;
}

/* Has a wait that began at `since` (0: none) lasted decay_ms at `now`? */
static int waited(uint32_t since, uint32_t now) { return since && (uint32_t)(now - since) >= snug_opt.decay_ms; }

/* A top waits: on every 16th call, has it waited decay_ms? */
static int decay_over(void)
{
    return !(++F->decay_tick & 15) && waited(F->wait.since.top, now_ms32());
}

static int decay_due(void)
{
    if (F->wait.since.top) return decay_over();
    F->wait.since.top = now_ms32();
    F->decay_tick = 0;
    snug_os_wait_begun();
    return 0;
}

static void top_waits(struct region *r, size_t sz)
{
    size_t keep = retain_keep(&top_retain);
    if (!snug_opt.decay_ms || decay_due()) {
        trim_region_top(r, snug_opt.top_pad);
        F->wait.since.top = 0;
        retain_idle(&top_retain);
    } else if (sz > snug_opt.trim_threshold + keep) {
        trim_region_top(r, keep);
        retain_cut(&top_retain, sz - keep, snug_os_now_ms());
    }
}

/* Free bytes at r's top (0 when its last block is in use). */
static size_t region_top_free(const struct region *r)
{
    uintptr_t sent = atomic_load_explicit(&((struct region *)r)->end, memory_order_relaxed) - W;
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
    uintptr_t lo = snug_align_up(f + ORIG_AT + W, SNUG_OSPAGE);
    uintptr_t hi = (f + sz - W) & ~(uintptr_t)(SNUG_OSPAGE - 1);
    if (hi <= lo) return 0;
    snug_os_discard((void *)lo, hi - lo);
    return 1;
}

/* The pages inside every free block on the bins of min bytes or more; whether any went. */
static int discard_free(size_t min)
{
    int any = 0;
    for (unsigned i = bin_index(min); i < NBINS; i++)
        for (fblock *f = F->bins[i]; f; f = fb_next(f)) {
            size_t sz = blk_size((uintptr_t)f);
            if (sz >= min && discard_inside((uintptr_t)f, sz)) any = 1;
        }
    return any;
}

static void purge_now(void)
{
    F->wait.since.inside = 0;
    (void)discard_free(snug_opt.trim_threshold + 1);
}

/* b (sz bytes), free inside its region and beyond the trim threshold, was just made. */
static void purge_wait(uintptr_t b, size_t sz)
{
    if (!snug_opt.decay_ms) {
        (void)discard_inside(b, sz);
    } else if (!F->wait.since.inside) {
        F->wait.since.inside = now_ms32();
        snug_os_wait_begun();
    }
}

/* The top's wait (decay, above) and the purge's, on one clock read. */
static __attribute__((noinline)) void decay_check(void)
{
    uint32_t now = now_ms32();
    if (waited(F->wait.since.top, now)) {
        decay_now();
        retain_idle(&top_retain);
    }
    if (waited(F->wait.since.inside, now)) purge_now();
}

/* A fit call while a top or a purge waits: on every 16th, trim or purge once the wait is over. */
static inline __attribute__((always_inline)) void decay_poll(void)
{
    if (SNUG_UNLIKELY(F->wait.any != 0) && !(++F->decay_tick & 15)) decay_check();
}

static void decay_now(void)
{
    F->wait.since.top = 0;
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next))
        if (region_top_free(r) > snug_opt.trim_threshold) trim_region_top(r, snug_opt.top_pad);
}

void *snug_fit_from_top(size_t n)
{
    if (n > (size_t)PTRDIFF_MAX - 2 * SNUG_OSPAGE) return NULL;
    size_t need = blk_need(n);
    uintptr_t b = 0;
    snug_lock(&fit_lock);
    /* The top is the last region's: grown if need be, the block costs the
     * heap no more than a trim and a new mapping would.  A top that does not
     * wait is used when it holds a quarter of the request or more. */
    int saved = errno;                  /* a failure here leaves the request to a mapping */
    if (F->quick_n) quick_flush();
    if (F->top && (F->wait.since.top || blk_size(F->top) >= need / 4) &&
        (b = alloc_locked_cold(need)) != 0)
        user_taken(b);
    errno = saved;
    snug_unlock(&fit_lock);
    return b ? (void *)(b + W) : NULL;
}

/* The reclaimer's round (reclaim.c): trim and purge what has waited decay_ms;
 * whether anything still waits. */
int snug_fit_reclaim(void)
{
    snug_lock(&fit_lock);
    if (F->wait.any) decay_check();
    int any = F->wait.any != 0;
    snug_unlock(&fit_lock);
    return any;
}

void snug_fit_end_wait(void)
{
    snug_lock(&fit_lock);
    if (F->wait.since.top) decay_now();
    snug_unlock(&fit_lock);
}

/* The free block b was just made by a free: a free top beyond the trim
 * threshold left by that waits to be trimmed (above).  Lock held. */
static inline __attribute__((always_inline)) void trim_after(uintptr_t b)
{
    size_t sz = (size_t)(blk_known(b) & ~BLK_FLAGS);
    if (sz <= snug_opt.trim_threshold) { decay_poll(); return; }
    if (b + sz == F->last_sent) { top_waits(F->last, sz); return; }   /* only the growing region's top waits */
    struct region *r = region_of(b);
    if (b + sz == atomic_load_explicit(&r->end, memory_order_relaxed) - W) {
        trim_region_top(r, snug_opt.top_pad);
    } else {
        purge_wait(b, sz);
        decay_poll();
    }
}

/* Every parked block rejoins the heap. */
static void quick_flush(void)
{
    for (unsigned w = 0; w < NQWORDS; w++)
        while (F->quick_bits[w]) {
            unsigned q = w * 64 + (unsigned)__builtin_ctzll(F->quick_bits[w]);
            while (F->quick[q]) {
                uintptr_t b = quick_pop(q, blk_head((uintptr_t)F->quick[q]));
                int c = F->quick_credit[q] - QUICK_LOSS;
                F->quick_credit[q] = (int16_t)(c < INT16_MIN ? INT16_MIN : c);
                trim_after(release_cold(b));
            }
        }
}

void snug_fit_free(void *p)
{
    int locked = fit_lock_user();
    uintptr_t b = checked_block(p, "free(): invalid pointer");
    uint64_t h = blk_known(b);
    F->user_blocks--;
    snug_rstore_hot(&F->user_bytes, F->user_bytes - ((size_t)(h & ~BLK_FLAGS) - W));
    if (!locked && quick_park(b, h)) return;
    trim_after(release(b));
    fit_unlock_user(locked);
}

/* Resize without a fresh block: shrink in place; grow into a free next block or
 * the region top; else grow backwards into a free previous block (together with
 * a free next one), moving the payload down.  Returns the payload's address, or
 * NULL when the neighbours cannot make room (nothing changed then). */
void *snug_fit_realloc(void *p, size_t n)
{
    if (n > (size_t)PTRDIFF_MAX - 2 * SNUG_OSPAGE) return NULL;
    size_t need = blk_need(n);
    int locked = fit_lock_user();
    uintptr_t b = checked_block(p, "realloc(): invalid pointer");
    size_t sz = (size_t)(blk_known(b) & ~BLK_FLAGS);
    uintptr_t result = 0;
    snug_rstore_hot(&F->user_bytes, F->user_bytes - (sz - W));
    if (need <= sz) {
        if (!(blk_head(b + sz) & BLK_PREV_INUSE)) blk_corrupt(b + sz);   /* as growing would */
        /* A block realloc gave room to grow keeps it while it grows into it
         * (within a quarter of its size); any other block is cut to size. */
        uint64_t h = blk_known(b);
        if (!(h & BLK_ROOMY) || need < sz - sz / 4) {
            blk_set_head(b, h & ~BLK_ROOMY);
            shrink_to(b, need);
        }
        result = b;
    } else {
        struct region *r = region_of(b);
        /* A parked block after b rejoins the heap first: b may grow into it. */
        if (F->quick_n && blk_parked(blk_head(b + sz))) quick_flush();
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
            } else if (tries == 0 && r == F->last &&
                       n2 + nfree == atomic_load_explicit(&r->end, memory_order_relaxed) - W) {
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
                memmove((void *)(pb + W), (void *)(b + W), sz - W);
                blk_set_head(pb, total | BLK_INUSE | pflag);
                blk_set_head(pb + total, blk_head(pb + total) | BLK_PREV_INUSE);
                shrink_roomy(pb, sz, need, total);       /* (the payload moved, as in a copy) */
                /* Leave a FREED head where the block was, when that spot is now
                 * plain free space: a later free of the old pointer is a double free. */
                uintptr_t tail = pb + blk_size(pb);
                if (b >= tail + 3 * W && b + 2 * W <= pb + total - W)
                    blk_set_head(b, sz | BLK_FREED);
                result = pb;
            } else {
                break;
            }
        }
    }
    snug_rstore_hot(&F->user_bytes, F->user_bytes + (blk_size(result ? result : b) - W));
    fit_unlock_user(locked);
    return result ? (void *)(result + W) : NULL;
}

/* p was validated by snug_fit_validate. */
size_t snug_fit_usable(const void *p) { return (size_t)(blk_raw_unlocked(blk_of_payload(p)) & BLK_VALUE & ~BLK_FLAGS) - W; }

/* ---- small pages ------------------------------------------------------ */

static void mark_pages(uintptr_t page, size_t bytes, int on)
{
    struct region *r = region_of(page);
    if (!r) snug_fatal("page outside every region", (void *)page, bytes);
    struct pmap *m = atomic_load_explicit(&r->map, memory_order_relaxed);
    size_t i = (page - r->mapbase) >> SNUG_OSPAGE_SHIFT, k = bytes >> SNUG_OSPAGE_SHIFT;
    for (size_t j = 0; j < k; j++) m->kind[i + j] = on ? (uint8_t)(j + 1) : 0;
}

void *snug_fit_page_alloc(size_t bytes)
{
    snug_lock(&fit_lock);
    uintptr_t b = alloc_aligned_locked(bytes, SNUG_OSPAGE);
    if (b) {
        blk_set_head(b, blk_known(b) | BLK_PAGE);
        mark_pages(b + W, bytes, 1);
    }
    snug_unlock(&fit_lock);
    return b ? (void *)(b + W) : NULL;
}

void snug_fit_page_free(void *page, size_t bytes)
{
    snug_lock(&fit_lock);
    uintptr_t b = blk_of_payload(page);
    mark_pages((uintptr_t)page, bytes, 0);
    blk_set_head(b, blk_head(b) & ~BLK_PAGE);
    trim_after(release_cold(b));
    snug_unlock(&fit_lock);
}

void snug_fit_page_orphan(void *page)
{
    size_t bytes;
    snug_lock(&fit_lock);
    bytes = (size_t)(blk_head(blk_of_payload(page)) & ~BLK_FLAGS) & ~(size_t)(SNUG_OSPAGE - 1);
    snug_unlock(&fit_lock);
    snug_fit_page_free(page, bytes);
}

/* ---- giving memory back ---------------------------------------------- */

/* The last block of r is free: shrink the region so about `keep` bytes remain. */
static void trim_region_top(struct region *r, size_t keep)
{
    uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
    uintptr_t sent = end - W;
    if (blk_head(sent) & BLK_PREV_INUSE) return;
    size_t sz = blk_prev_foot(sent);
    uintptr_t b = sent - sz;
    if (sz < keep + MIN_BLOCK + SNUG_OSPAGE) return;
    size_t dec = (sz - keep - MIN_BLOCK) & ~(size_t)(SNUG_OSPAGE - 1);
    if (!dec) return;
    if (r->is_brk) {
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
    blk_set_head(end - W, BLK_INUSE);
    free_insert(b, sz);
}

int snug_fit_page_pins_top(void *page)
{
    snug_lock(&fit_lock);
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
    int top = (nh & ~BLK_FLAGS) == 0 && n == atomic_load_explicit(&r->end, memory_order_relaxed) - W;
    size_t free_before = top && !(h & BLK_PREV_INUSE) ? b - prev_free_block(b) : 0;
    snug_unlock(&fit_lock);
    return top && free_before + bytes + free_after > snug_opt.trim_threshold;
}

int snug_fit_trim(size_t pad)
{
    snug_lock(&fit_lock);
    if (F->quick_n) quick_flush();
    F->wait.any = 0;                            /* (what both waits would give back goes now) */
    size_t before = snug_os_held();
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next))
        trim_region_top(r, pad < SNUG_OSPAGE ? 0 : pad);
    int released = snug_os_held() < before;
    /* Free pages inside large free blocks go back too (the range stays mapped). */
    if (discard_free(4 * SNUG_OSPAGE)) released = 1;
    snug_unlock(&fit_lock);
    return released;
}

/* ---- fork, statistics, checking -------------------------------------- */

void snug_fit_each_block(void (*fn)(uintptr_t b, size_t size, uint64_t flags, void *arg), void *arg)
{
    snug_lock(&fit_lock);
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next)) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
        fn(r->start, r->first - r->start, BLK_META | BLK_INUSE, arg);
        for (uintptr_t b = r->first; b < end - W; b += blk_size(b)) {
            uint64_t fl = blk_head(b) & BLK_FLAGS;
            if (blk_parked(fl)) fl &= ~BLK_INUSE;       /* parked: free */
            fn(b, blk_size(b), fl, arg);
        }
    }
    snug_unlock(&fit_lock);
}

void snug_fit_each_page(void (*fn)(uintptr_t page, void *arg), void *arg)
{
    for (struct region *r = atomic_load(&snug_regions); r; r = atomic_load(&r->next)) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
        for (uintptr_t b = r->first; b < end - W; b += blk_size(b))
            if ((blk_head(b) & (BLK_PAGE | BLK_INUSE)) == (BLK_PAGE | BLK_INUSE)) fn(b + W, arg);
    }
}

void snug_fit_lock_all(void) { snug_lock(&fit_lock); }
void snug_fit_unlock_all(void) { snug_unlock(&fit_lock); }
void snug_fit_reset_locks(void) { snug_lock_reset(&fit_lock); }

void snug_fit_totals(struct fit_totals *t)
{
    snug_lock(&fit_lock);
    t->free_blocks = F->free_blocks + F->quick_n;
    t->free_bytes = F->free_bytes + F->quick_bytes;
    t->user_blocks = F->user_blocks;
    t->user_bytes = F->user_bytes;
    t->regions = F->nregions;
    snug_unlock(&fit_lock);
}

size_t snug_fit_user_bytes_now(void) { return snug_rload(&F->user_bytes); }

int snug_fit_check(int (*page_check)(uintptr_t page, size_t bytes))
{
    int rc = 0;
    size_t nfree = 0, freebytes = 0, nparked = 0, parkedbytes = 0;
    int seen_top = 0;
    snug_lock(&fit_lock);
    for (struct region *r = atomic_load(&snug_regions); r && !rc; r = atomic_load(&r->next)) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed), b = r->first;
        struct pmap *m = atomic_load(&r->map);
        int prev_inuse = 1;
        if ((end - r->mapbase) >> SNUG_OSPAGE_SHIFT > m->cap) { rc = snug_check_fail("page map too small", end); break; }
        while (b < end - W) {
            if (!blk_tag_ok(b, blk_raw(b))) { rc = snug_check_fail("block head tag wrong: overwritten head (I1)", b); break; }
            uint64_t h = blk_head(b);
    size_t sz = (size_t)(h & ~BLK_FLAGS);
            if (sz < MIN_BLOCK || (sz & BLK_FLAGS) || sz > end - W - b) { rc = snug_check_fail("bad block size (I1)", b); break; }
            if (!!(h & BLK_PREV_INUSE) != prev_inuse) { rc = snug_check_fail("PREV_INUSE disagrees (I2)", b); break; }
            if (!(h & BLK_INUSE)) {
                if (!prev_inuse) { rc = snug_check_fail("adjacent free blocks (I3)", b); break; }
                if (blk_prev_foot(b + sz) != sz) { rc = snug_check_fail("foot differs from head (I3)", b); break; }
                int found = 0;
                if (b == F->top) {
                    found = r == F->last && b + sz == end - W;
                    seen_top = 1;
                } else {
                    for (fblock *f = F->bins[bin_index(sz)]; f; f = fb_next(f)) if ((uintptr_t)f == b) { found = 1; break; }
                }
                if (!found) { rc = snug_check_fail("free block missing from its bin, or a top that is not one (I4)", b); break; }
                nfree++; freebytes += sz;
            } else if (h & BLK_FREED) {        /* parked (Q1) */
                int found = 0;
                for (fblock *f = F->quick[quick_index(sz)]; f && !found; f = quick_next(f)) found = (uintptr_t)f == b;
                if (!found) { rc = snug_check_fail("parked block missing from its list (Q1)", b); break; }
                nparked++; parkedbytes += sz;
            }
            /* I5: map bytes of the OS pages whose start lies inside this payload. */
            uintptr_t pg = snug_align_up(b + W, SNUG_OSPAGE);
            size_t k = 0;
            for (; pg + SNUG_OSPAGE <= b + sz + W && pg < end; pg += SNUG_OSPAGE, k++) {
                unsigned v = m->kind[(pg - r->mapbase) >> SNUG_OSPAGE_SHIFT];
                unsigned want = (h & BLK_PAGE) ? (unsigned)k + 1 : 0;
                if ((h & BLK_PAGE) && ((b + W) & (SNUG_OSPAGE - 1))) { rc = snug_check_fail("unaligned small page (I5)", b); break; }
                if (v != want) { rc = snug_check_fail("page map byte wrong (I5)", pg); break; }
            }
            if (rc) break;
            if ((h & BLK_PAGE) && page_check && page_check(b + W, sz) != 0) { rc = -1; break; }
            prev_inuse = !!(h & BLK_INUSE);
            b += sz;
        }
        if (!rc && b != end - W) rc = snug_check_fail("blocks overrun the region end (I1)", b);
        if (!rc && !blk_tag_ok(end - W, blk_raw(end - W))) rc = snug_check_fail("sentinel head overwritten (I1)", end - W);
        if (!rc && !!(blk_head(end - W) & BLK_PREV_INUSE) != prev_inuse) rc = snug_check_fail("sentinel PREV_INUSE (I2)", end - W);
    }
    if (!rc && F->top && !seen_top) rc = snug_check_fail("the top names no free block (I4)", F->top);
    if (!rc) {
        size_t listed = F->top ? 1 : 0;
        for (unsigned i = 0; i < NBINS && !rc; i++) {
            int bit = !!(F->bits[i / 64] & ((uint64_t)1 << (i % 64)));
            if (bit != !!F->bins[i]) rc = snug_check_fail("bin bitmap disagrees (I4)", i);
            fblock *prev = NULL;
            for (fblock *f = F->bins[i]; f && !rc; prev = f, f = fb_next(f)) {
                if (prev && fb_prev(f) != prev) rc = snug_check_fail("bin list links broken (I4)", (uintptr_t)f);
                else if (!blk_tag_ok((uintptr_t)f, f->head) || bin_index(blk_size((uintptr_t)f)) != i || (f->head & BLK_INUSE)) rc = snug_check_fail("block on wrong bin (I4)", (uintptr_t)f);
                if (++listed > nfree) rc = snug_check_fail("bins hold blocks the heap walk did not see (I4)", (uintptr_t)f);
            }
        }
        if (!rc && (listed != nfree || F->free_blocks != nfree || F->free_bytes != freebytes))
            rc = snug_check_fail("free counts disagree (I4)", nfree);
    }
    if (!rc) {
        size_t listed = 0;
        for (unsigned q = 0; q < NQUICK && !rc; q++) {
            if (!!(F->quick_bits[q / 64] & ((uint64_t)1 << (q % 64))) != !!F->quick[q])
                rc = snug_check_fail("parked list bitmap disagrees (Q1)", q);
            for (fblock *f = F->quick[q]; f && !rc; f = quick_next(f)) {
                uint64_t h = f->head;
                if (!blk_tag_ok((uintptr_t)f, h) || !blk_parked(h) ||
                    quick_index((size_t)(h & (BLK_VALUE & ~BLK_FLAGS))) != q)
                    rc = snug_check_fail("block on a parked list is not parked there (Q1)", (uintptr_t)f);
                else if (++listed > nparked) rc = snug_check_fail("parked lists hold blocks the heap walk did not see (Q1)", (uintptr_t)f);
            }
        }
        if (!rc && (listed != nparked || F->quick_n != nparked || F->quick_bytes != parkedbytes))
            rc = snug_check_fail("parked counts disagree (Q1)", nparked);
    }
    snug_unlock(&fit_lock);
    return rc;
}
