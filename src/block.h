/* block.h - the block layout every heap region uses, and the region/page-map
 * records that let any pointer be classified without trusting user memory.
 *
 * A region is one contiguous piece of memory from the kernel (the sbrk heap is
 * region 0; mmap'd regions follow when brk cannot grow).  It is tiled by blocks:
 *
 *     block b:  [ head: tag | size | flags ][ payload ...................... ]
 *     free b:   [ head ][ next ][ prev ][ ...unused... ][ foot: size ]
 *
 * head and foot are 8 bytes (on 32-bit too).  b is 8 mod 16, so the payload
 * (b + 8) is 16-aligned; sizes are multiples of 16.  The top 16 bits of a head
 * are a tag: a keyed hash of the block's address, size and flags, so an
 * overflow into a head, or a pointer that is not a block, is caught when the
 * head is next read (blk_head, below).  PREV_INUSE in a head says
 * whether the block before is allocated; only free blocks carry a foot, so an
 * allocated block's payload runs to the next head.  A zero-size allocated
 * sentinel head closes every region.  Invariants (checked by fit_check.c):
 *   I1-I5: DESIGN.md, "Invariants".
 */
#ifndef SNUG_BLOCK_H
#define SNUG_BLOCK_H
#include "config.h"
#include "os.h"
#include "relaxed.h"
#include <stdatomic.h>

#define BLK_INUSE      ((uint64_t)1)
#define BLK_PREV_INUSE ((uint64_t)2)
#define BLK_PAGE       ((uint64_t)4)   /* block holds a small-object page */
#define BLK_FREED      ((uint64_t)8)   /* set in the head of a block when it is freed (with INUSE: parked, park.h) */
#define BLK_META       ((uint64_t)1 << 47)   /* allocated for snug's own records */
#define BLK_ROOMY      ((uint64_t)1 << 46)   /* sized by realloc with room to grow into */
#define BLK_FLAGS      ((uint64_t)(SNUG_ALIGN - 1) | BLK_META | BLK_ROOMY)
#define BLK_VALUE      (((uint64_t)1 << 48) - 1)
#define MIN_BLOCK      (4 * SNUG_WORD)
#define WORD           SNUG_WORD           /* a head, a foot, a link: 8 bytes */

static inline uint64_t blk_tag(uintptr_t b, uint64_t v)
{
    return (((uint64_t)b ^ v ^ snug_secret) * 0x9E3779B97F4A7C15ull) & ~BLK_VALUE;
}
/* A head is read in one of three ways, by name:
 *   blk_word(b)        the stored word, tag and all, unchecked: for validating
 *                      a pointer a program passes in (blk_tag_ok on it);
 *                      blk_word_relaxed the same without the fit lock;
 *   blk_head(b)        the head, its tag checked (fatal when wrong): the default;
 *   blk_head_known(b)  the head of a block this operation has already checked
 *                      or written under the fit lock: read once, checked once.
 * Heads are written under the fit lock, where they are read plainly; but the
 * head of a live block is also read without it (its own free into a thread
 * cache, size queries: fit.c) while a neighbour's free or carving rewrites its
 * PREV_INUSE bit: those writes and reads are relaxed accesses (relaxed.h). */
static inline uint64_t blk_word(uintptr_t b) { return *(uint64_t *)b; }
static inline uint64_t blk_word_relaxed(uintptr_t b) { return snug_load64((const uint64_t *)b); }
static inline int blk_tag_ok(uintptr_t b, uint64_t raw) { return (raw & ~BLK_VALUE) == blk_tag(b, raw & BLK_VALUE); }
__attribute__((noreturn, cold)) void blk_corrupt(uintptr_t b);
static inline uint64_t blk_head(uintptr_t b)
{
    uint64_t raw = blk_word(b);
    if (SNUG_UNLIKELY(SNUG_CHECK(!blk_tag_ok(b, raw)))) blk_corrupt(b);
    return raw & BLK_VALUE;
}
static inline uint64_t blk_head_known(uintptr_t b) { return blk_word(b) & BLK_VALUE; }
static inline void   blk_set_head(uintptr_t b, uint64_t v) { snug_store64_hot((uint64_t *)b, v | blk_tag(b, v)); }
/* A parked block's head (park.h): allocated in the layout, and freed. */
static inline int blk_parked(uint64_t h) { return (h & (BLK_INUSE | BLK_FREED)) == (BLK_INUSE | BLK_FREED); }
static inline size_t blk_size(uintptr_t b) { return (size_t)(blk_head(b) & ~BLK_FLAGS); }
/* The head of a live block is changed by others only in its PREV_INUSE bit (a
 * neighbour's free, under the fit lock), so on 64-bit, where a head is one
 * store and one load (relaxed: relaxed.h), it reads consistently without the
 * lock.  On 32-bit a head is two words, and a read racing a neighbour's
 * rewrite would see half of each: there such reads take the lock. */
#define BLK_HEADS_LOCK_FREE (sizeof(void *) == 8)
/* b's size, its tag checked, in one relaxed load: without the lock where
 * BLK_HEADS_LOCK_FREE, under it elsewhere. */
static inline size_t blk_size_unlocked(uintptr_t b)
{
    uint64_t raw = blk_word_relaxed(b);
    if (SNUG_UNLIKELY(SNUG_CHECK(!blk_tag_ok(b, raw)))) blk_corrupt(b);
    return (size_t)(raw & BLK_VALUE & ~BLK_FLAGS);
}
static inline void   blk_set_foot(uintptr_t b, size_t sz) { *(uint64_t *)(b + sz - WORD) = sz; }
static inline size_t blk_prev_foot(uintptr_t b) { return (size_t)*(uint64_t *)(b - WORD); }
static inline uintptr_t blk_of_payload(const void *p) { return (uintptr_t)p - WORD; }
/* Second payload word of a medium block a thread cache holds (mcache.h): any
 * free, realloc or size query of it is a use after free. */
static inline uint64_t blk_cache_mark(uintptr_t payload) { return ~(uint64_t)payload ^ snug_secret ^ 0x6d63616368ull; }
static inline int blk_cached(uintptr_t payload) { return ((const uint64_t *)payload)[1] == blk_cache_mark(payload); }
/* Block size that holds n payload bytes. */
static inline size_t blk_need(size_t n)
{
    size_t s = snug_align_up(n + WORD, SNUG_ALIGN);
    return s < MIN_BLOCK ? MIN_BLOCK : s;
}

/* One byte per 4 KiB page of a region; see I5. */
struct pmap {
    size_t cap;                 /* pages covered */
    uint8_t kind[];
};

struct region {
    uintptr_t start;            /* first byte held from the kernel */
    uintptr_t first;            /* first block */
    _Atomic uintptr_t end;      /* end of held memory; sentinel head at end - WORD */
    uintptr_t limit;            /* end of reserved address space (mmap regions; a trim lowers it); 0 on brk */
    struct pmap *_Atomic map;
    struct region *_Atomic next;
    struct fit_state *arena;    /* the arena whose blocks these are (fit_private.h) */
    /* The map byte of address a is at kindx + a / 4 KiB (the classifier's,
     * through the region table: the map covers every granule the region spans). */
    uintptr_t kindx;
};
/* (start is an OS page boundary, map index 0.  64 bytes: region 0's record is
 * at the start of the heap, and its size moves every block after it.) */
_Static_assert(sizeof(struct region) == 8 * sizeof(void *), "region record size");
/* Region 0 on brk is the one region without reserved address space beyond its end. */
static inline int region_is_brk(const struct region *r) { return r->limit == 0; }

extern SNUG_INTERNAL struct region *_Atomic snug_regions;   /* region 0 first */

/* Region 0 at a glance, for the classifier's fast path: its extent and map.
 * len changes under the fit lock (release); readers load it relaxed. */
struct region0_view {
    uintptr_t start, first;     /* start is an OS page boundary: map index 0 */
    const uint8_t *kind;
    _Atomic uintptr_t len;
};
extern SNUG_INTERNAL struct region0_view snug_r0;

/* The region table: every region after region 0 starts at a multiple of
 * SNUG_MMAP_REGION (a granule) and spans whole granules of address space, and
 * the table, indexed by address / granule, names the region of each granule it
 * covers (I6).  It is reserved at start-up (16 MiB of address space on 64-bit,
 * of which a page is touched per 32 GiB that regions cover); entries are set
 * once, under the fit allocator's lock, before the region is used, and never
 * cleared (regions are never unmapped whole).  A region mapped where no
 * aligned room was found is left out, and then region_of walks the list. */
#define RTAB_SHIFT 26
#define RTAB_N ((size_t)1 << (sizeof(void *) == 8 ? 47 - RTAB_SHIFT : 32 - RTAB_SHIFT))
_Static_assert(SNUG_MMAP_REGION == (1u << RTAB_SHIFT), "a granule is a region's usual size");
extern SNUG_INTERNAL struct region *_Atomic *snug_rtab;    /* NULL: none could be reserved */
extern SNUG_INTERNAL int snug_regions_unlisted;             /* some region is not in the table */

/* The region table's entry for address a's granule (NULL: none, or no table). */
static inline struct region *rtab_entry(uintptr_t a)
{
    struct region *_Atomic *t = snug_rtab;
    size_t i = a >> RTAB_SHIFT;
    return SNUG_LIKELY(t != NULL && i < RTAB_N) ? atomic_load_explicit(&t[i], memory_order_acquire) : NULL;
}

/* The region holding address a, or NULL.  Lock-free; a region's record and
 * map are never unmapped (a trim gives back only the free tail of an mmap one). */
static inline struct region *region_of(uintptr_t a)
{
    if (a - snug_r0.start < atomic_load_explicit(&snug_r0.len, memory_order_relaxed))
        return atomic_load_explicit(&snug_regions, memory_order_acquire);
    struct region *r = rtab_entry(a);
    if (r && a - r->start < atomic_load_explicit(&r->end, memory_order_relaxed) - r->start) return r;
    if (!__atomic_load_n(&snug_regions_unlisted, __ATOMIC_ACQUIRE)) return NULL;
    for (r = atomic_load_explicit(&snug_regions, memory_order_acquire); r;
         r = atomic_load_explicit(&r->next, memory_order_acquire)) {
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed);
        if (a - r->start < end - r->start) return r;
    }
    return NULL;
}

/* The small page holding address a, whose OS page has map byte k (1 + its
 * distance from the page's first OS page; I5). */
static inline uintptr_t page_of_kind(uintptr_t a, unsigned k)
{
    return (a & ~(uintptr_t)(SNUG_OSPAGE - 1)) - (uintptr_t)(k - 1) * SNUG_OSPAGE;
}

#define ADDR_NONE   ((uintptr_t)0)      /* in no region */
#define ADDR_MEDIUM ((uintptr_t)1)      /* in a region, not in a small page */
uintptr_t addr_page_slow(uintptr_t a);
/* addr_page outside region 0: through the region table, inline; the rest
 * (no table entry, a region left out of the table) out of line. */
static inline uintptr_t addr_page_other(uintptr_t a)
{
    struct region *r = rtab_entry(a);
    if (SNUG_LIKELY(r != NULL)) {
        /* A page is marked only inside the region's blocks; an unmarked
         * address is medium only below the region's end (beyond it, a
         * trimmed tail, it may be anyone's mapping). */
        unsigned k = *(const uint8_t *)(r->kindx + (a >> SNUG_OSPAGE_SHIFT));
        if (SNUG_LIKELY(k)) return page_of_kind(a, k);
        if (a - r->start < atomic_load_explicit(&r->end, memory_order_relaxed) - r->start) return ADDR_MEDIUM;
    } else if (snug_rtab && !__atomic_load_n(&snug_regions_unlisted, __ATOMIC_RELAXED)) {
        return ADDR_NONE;               /* (a large block, the guard pool, or no block of snug's) */
    }
    return addr_page_slow(a);
}
/* The small page holding address a, or ADDR_MEDIUM / ADDR_NONE.  Lock-free. */
static inline uintptr_t addr_page(uintptr_t a)
{
    if (SNUG_LIKELY(a - snug_r0.start < atomic_load_explicit(&snug_r0.len, memory_order_relaxed))) {
        unsigned k = snug_r0.kind[(a - snug_r0.start) >> SNUG_OSPAGE_SHIFT];
        return k ? page_of_kind(a, k) : ADDR_MEDIUM;
    }
    return addr_page_other(a);
}

/* Map byte for address a in region r (0 when outside the map). */
static inline unsigned region_kind(const struct region *r, uintptr_t a)
{
    const struct pmap *m = atomic_load_explicit(&((struct region *)r)->map, memory_order_acquire);
    size_t i = (a - r->start) >> SNUG_OSPAGE_SHIFT;
    return i < m->cap ? m->kind[i] : 0;
}
#endif
