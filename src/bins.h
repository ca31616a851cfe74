/* bins.h - the fit allocator's free blocks: their encoded links, the segregated
 * bins with two bitmaps (first non-empty bin in constant time), the searches,
 * and merging a freed block with its free neighbours.  All inline: these run on
 * every medium malloc and free.  Lock held throughout (fit_private.h). */
#ifndef SNUG_BINS_H
#define SNUG_BINS_H
#include "fit_private.h"
#include "error.h"

/* A free block's links are stored encoded: the target address xor the secret
 * in the low 48 bits, and in the top 16 a keyed hash of the link's own block,
 * its direction and its target.  A decoded link is followed only when its hash
 * agrees, so a write after free into a free block's links, or a link copied
 * from another block, is caught before anything follows it. */
#define LINK_NEXT 0x6e657874u
#define LINK_PREV 0x70726576u
#define LINK_PARK 0x7175696bu
#define LINK_STASH 0x73746173u
static inline uint64_t link_tag(const fblock *f, uint64_t to, uint64_t dir)
{
    uint64_t a = (uint64_t)(uintptr_t)f;
    return (((a << 17 | a >> 47) ^ to ^ dir ^ snug_secret) * 0x9E3779B97F4A7C15ull) & ~BLK_VALUE;
}
static inline uint64_t link_enc(const fblock *f, const fblock *to, uint64_t dir)
{
    uint64_t t = (uint64_t)(uintptr_t)to;
    return ((t ^ snug_secret) & BLK_VALUE) | link_tag(f, t, dir);
}
static inline fblock *fb_link(const fblock *f, uint64_t enc, uint64_t dir)
{
    uint64_t to = (enc ^ snug_secret) & BLK_VALUE;
    if (SNUG_UNLIKELY(SNUG_CHECK((enc & ~BLK_VALUE) != link_tag(f, to, dir))))
        snug_fatal("free block's links overwritten (write after free?) at", (const char *)f + WORD, 0);
    return (fblock *)(uintptr_t)to;
}
static inline fblock *fb_next(const fblock *f) { return fb_link(f, f->next_enc, LINK_NEXT); }
static inline fblock *fb_prev(const fblock *f) { return fb_link(f, f->prev_enc, LINK_PREV); }
static inline void fb_set_next(fblock *f, fblock *to) { f->next_enc = link_enc(f, to, LINK_NEXT); }
static inline void fb_set_prev(fblock *f, fblock *to) { f->prev_enc = link_enc(f, to, LINK_PREV); }
/* The bounded scans of a bin only read the blocks they pass (a size, a next
 * link).  A link that decodes to an aligned place inside region 0 can be read
 * through without its hash: whatever block a scan picks is checked in full
 * before anything is written (its head by carve_at, its links by
 * bin_remove).  Anything else takes the full check, out of line. */
static __attribute__((noinline, unused)) fblock *fb_next_cold(const fblock *f) { return fb_next(f); }
/* Region 0 as a scan sees it, read once per scan: x = to - base is a multiple
 * of 16 below 16 * lim for a place inside it (region 0 starts 16-aligned);
 * rotating x's low four bits to the top makes that one compare. */
struct scan_span { uintptr_t base, lim; };
static inline struct scan_span scan_span(void)
{
    uintptr_t len = atomic_load_explicit(&snug_r0.len, memory_order_relaxed);
    return (struct scan_span){ snug_r0.start + WORD, (len - 2 * WORD) >> 4 };
}
static inline __attribute__((always_inline)) fblock *fb_scan_next(const fblock *f, struct scan_span sp)
{
    uint64_t to = (f->next_enc ^ snug_secret) & BLK_VALUE;
    if (!SNUG_CHECKS) return (fblock *)(uintptr_t)to;
    uintptr_t x = (uintptr_t)to - sp.base;
    if (SNUG_LIKELY((x >> 4 | x << (8 * sizeof x - 4)) < sp.lim) || !to) return (fblock *)(uintptr_t)to;
    return fb_next_cold(f);
}

static inline unsigned bin_index(size_t sz)
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
    fb_set_next(f, fit->bins[i]);         /* a bin's head has no prev link (never read) */
    if (fit->bins[i]) fb_set_prev(fit->bins[i], f);
    fit->bins[i] = f;
    fit->bits[i / 64] |= (uint64_t)1 << (i % 64);
    fit->summary |= (uint64_t)1 << (i / 64);
    fit->free_bytes += sz;
    fit->free_blocks++;
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
    if (fit->bins[i] == f) {
        fit->bins[i] = next;
    } else {
        fblock *prev = fb_prev(f);
        fb_set_next(prev, next);
        if (next) fb_set_prev(next, prev);
    }
    if (!fit->bins[i]) {
        fit->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
        if (!fit->bits[i / 64]) fit->summary &= ~((uint64_t)1 << (i / 64));
    }
    fit->free_bytes -= sz;
    fit->free_blocks--;
}

static inline __attribute__((always_inline)) void bin_remove(uintptr_t b, size_t sz) { bin_remove_at(b, sz, bin_index(sz)); }

/* Every free block is on its bin but the top, which fit->top names: the free
 * block before the growing region's sentinel.  Carving from it and freeing into
 * it cost no list work, and it serves a request only when no bin can. */
static inline __attribute__((always_inline)) void free_insert(uintptr_t b, size_t sz)
{
    if (b + sz == fit->last_sent) {
        fit->top = b;
        fit->free_bytes += sz;
        fit->free_blocks++;
        return;
    }
    bin_insert(b, sz);
}

static inline __attribute__((always_inline)) void free_remove(uintptr_t b, size_t sz)
{
    if (b == fit->top) {
        fit->top = 0;
        fit->free_bytes -= sz;
        fit->free_blocks--;
        return;
    }
    bin_remove(b, sz);
}

/* First non-empty bin with index >= i, or -1. */
static inline __attribute__((always_inline)) int bin_next(unsigned i)
{
    unsigned w = i / 64;
    uint64_t m = fit->bits[w] & (~(uint64_t)0 << (i % 64));
    if (m) return (int)(w * 64 + (unsigned)__builtin_ctzll(m));
    uint64_t s = w + 1 < 64 ? fit->summary & (~(uint64_t)0 << (w + 1)) : 0;
    if (!s) return -1;
    w = (unsigned)__builtin_ctzll(s);
    return (int)(w * 64 + (unsigned)__builtin_ctzll(fit->bits[w]));
}

/* A free block of `need` bytes or more, and the bin it is on (*bin; anything
 * for the top), or 0.  The best fit among the first BEST_SCAN blocks of
 * need's own bin, else the first block of the next non-empty bin. */
static inline __attribute__((always_inline)) uintptr_t find_fit(size_t need, unsigned *bin)
{
    unsigned i = bin_index(need);
    *bin = i;
    fblock *best = NULL;
    size_t best_size = SIZE_MAX;
    int n = 0;
    struct scan_span sp = scan_span();
    /* Candidates' heads are read unchecked (carve_at checks the chosen one;
     * the others are checked when next taken, merged or walked); their links
     * are checked before they are followed. */
    for (fblock *f = fit->bins[i]; f && n < BEST_SCAN; f = fb_scan_next(f, sp), n++) {
        size_t s = (size_t)(blk_head_known((uintptr_t)f) & ~BLK_FLAGS);
        if (s >= need && s < best_size) {
            best = f;
            best_size = s;
            if (s == need) break;
        }
    }
    if (best) return (uintptr_t)best;
    int j = bin_next(i + 1);
    *bin = (unsigned)j;
    if (j >= 0 && (unsigned)j < NBINS - 1) return (uintptr_t)fit->bins[j];   /* any block fits */
    if (j >= 0)                         /* the open-ended last bin: sizes vary */
        for (fblock *f = fit->bins[j]; f; f = fb_next(f))
            if (blk_size((uintptr_t)f) >= need) return (uintptr_t)f;
    /* (carve_at checks the head of the block it takes) */
    if (fit->top && (blk_head_known(fit->top) & ~BLK_FLAGS) >= need) return fit->top;
    /* Nothing larger is free: the rest of the own bin before giving up. */
    *bin = i;
    for (fblock *f = fit->bins[i]; f; f = fb_next(f))
        if (blk_size((uintptr_t)f) >= need) return (uintptr_t)f;
    return 0;
}

/* Offset from b's payload to the first payload position aligned to `align`
 * that leaves either nothing or a whole free block in front. */
static inline size_t aligned_lead(uintptr_t b, size_t align)
{
    uintptr_t p = b + WORD, ap = snug_align_up(p, align);
    while (ap != p && ap - p < MIN_BLOCK) ap += align;
    return ap - p;
}

/* A free block that holds `need` bytes at an `align`-aligned payload, found
 * among the first ALIGN_SCAN candidates of the bins from need's upward. */
static inline uintptr_t find_aligned(size_t need, size_t align)
{
    int seen = 0;
    struct scan_span sp = scan_span();
    for (int j = bin_next(bin_index(need)); j >= 0 && seen < ALIGN_SCAN;
         j = (unsigned)j + 1 < NBINS ? bin_next((unsigned)j + 1) : -1)
        for (fblock *f = fit->bins[j]; f && seen < ALIGN_SCAN; f = fb_scan_next(f, sp), seen++) {
            size_t s = (size_t)(blk_head_known((uintptr_t)f) & ~BLK_FLAGS);   /* the chosen one is checked */
            if (s >= need && aligned_lead((uintptr_t)f, align) + need <= s) return (uintptr_t)f;
        }
    if (fit->top) {
        size_t s = blk_size(fit->top);
        if (s >= need && aligned_lead(fit->top, align) + need <= s) return fit->top;
    }
    return 0;
}

/* First block and end of the region holding address a (region 0 read from its
 * view, without the lookup), and its arena in *arena; 0 when a is in none
 * (*arena then arena 0). */
static inline __attribute__((always_inline)) uintptr_t region_bounds_in(uintptr_t a, uintptr_t *end, struct fit_state **arena)
{
    size_t len0 = atomic_load_explicit(&snug_r0.len, memory_order_relaxed);
    *arena = fit_arena0;
    if (a - snug_r0.start < len0) {
        *end = snug_r0.start + len0;
        return snug_r0.first;
    }
    struct region *r = region_of(a);
    if (!r) { *end = 0; return 0; }
    *arena = r->arena;
    *end = atomic_load_explicit(&r->end, memory_order_relaxed);
    return r->first;
}
static inline uintptr_t region_bounds(uintptr_t a, uintptr_t *end)
{
    struct fit_state *arena;
    return region_bounds_in(a, end, &arena);
}

/* The free block before b (b's PREV_INUSE is clear), found through its foot.
 * A foot is a plain size: it is trusted only when it leads inside b's region to
 * a free block's head that agrees. */
static inline uintptr_t prev_free_block(uintptr_t b)
{
    size_t psz = blk_prev_foot(b);
    uintptr_t pb = b - psz, end, first = region_bounds(b, &end);
    uint64_t raw = psz < MIN_BLOCK || (psz & BLK_FLAGS) || !first || psz > b - first ? 0 : blk_word(pb);
    if (!raw || !blk_tag_ok(pb, raw) || (raw & (~BLK_FLAGS & BLK_VALUE)) != psz || (raw & BLK_INUSE))
        snug_fatal("free block's foot overwritten (write after free?) before", (void *)(b + WORD), 0);
    return pb;
}

/* Free the allocated block b (not on a bin), coalescing; returns the result.
 * b's own head is marked FREED first, so a later free of the same pointer is
 * recognised even after b has merged into a neighbour.  Every caller has just
 * checked or written b's head. */
static inline __attribute__((always_inline)) uintptr_t release(uintptr_t b)
{
    uint64_t h = blk_head_known(b);
    size_t sz = (size_t)(h & ~BLK_FLAGS), sz0 = sz;
    uintptr_t b0 = b;
    if (!(h & BLK_PREV_INUSE)) {
        blk_set_head(b, sz | BLK_FREED);        /* stays behind, inside the merged block */
        uintptr_t pb = prev_free_block(b);
        size_t psz = b - pb;
        b = pb;
        free_remove(b, psz);
        sz += psz;
        h = blk_head_known(b);
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
    if (b == b0 && sz >= ORIG_AT + 3 * WORD) *(uint64_t *)(b + ORIG_AT) = sz0 ^ orig_key(b);
    blk_set_foot(b, sz);
    /* The block after: allocated (I3).  When b took in a free neighbour, the
     * block after that one already says its neighbour is free (I2). */
    if (!next_free) blk_set_head(n, nh & ~BLK_PREV_INUSE);
    free_insert(b, sz);
    SNUG_ASSERT(!(blk_head(b + sz) & BLK_PREV_INUSE) && (blk_head(b + sz) & BLK_INUSE) &&
                (h & BLK_PREV_INUSE), "I2/I3 after a merge", b);
    return b;
}
/* The same, out of line, for the callers off the malloc and free paths (so
 * that only those two carry its inlined list work). */
static __attribute__((noinline, unused)) uintptr_t release_cold(uintptr_t b) { return release(b); }
#endif
