/* fit_private.h - what the fit allocator's files share (bins.h, region.c, park.c,
 * fit_query.c, fit.c, pages.c, arena.c, fit_check.c, fit_checked.h; no other file includes it): its state, its
 * lock, and the calls between its files, which go one way: region.c, then
 * park.c, then fit_query.c, then fit.c, then pages.c, then arena.c. */
#ifndef SNUG_FIT_PRIVATE_H
#define SNUG_FIT_PRIVATE_H
#include "fit.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "retain.h"
#include "tuning.h"
#include <sys/single_threaded.h>

/* Bins: 16 exact ones below 256 bytes, then 8 per power of two (bins.h). */
#define NSMALLBINS 16
#define FL_MIN     8            /* first log2 class above the exact bins */
#define FL_MAX     40
#define SL_BITS    3
#define NBINS      (NSMALLBINS + (FL_MAX - FL_MIN + 1) * (1 << SL_BITS))
#define NWORDS     ((NBINS + 63) / 64)
#define NPARK      256u                 /* park lists, by size / 16 modulo NPARK (park.h) */
#define NPWORDS    (NPARK / 64)

/* A free block's links are stored encoded (bins.h). */
typedef struct fblock { uint64_t head; uint64_t next_enc, prev_enc; } fblock;

/* An arena: one fit allocator's state, its regions and its lock.  Arena 0
 * lives at the start of region 0 (brk), like everything else snug keeps, and
 * serves a process while it has one thread, snug's own records and every
 * small page.  A process with threads gives each thread an arena of its own
 * for its medium blocks, up to the `arenas` option (arena.c), each growing
 * its own mapped regions; a free goes to the arena of the block's region. */
struct fit_state {
    uint64_t summary;
    uint64_t bits[NWORDS];
    fblock *bins[NBINS];
    size_t free_bytes, free_blocks, user_blocks, user_bytes;   /* user_bytes: read without the lock too */
    struct arena_ext *ext;      /* the arena's other records (below) */
    uint32_t wait_free[2];      /* while a wait runs: free KiB at their high point, and when (ms)
                                 * they last dropped from it by the trim threshold (region.c) */
    struct region *last;        /* region that grows */
    uintptr_t top;              /* free block before last's sentinel (off the bins), or 0 */
    uintptr_t last_sent;        /* last's sentinel head (last->end - WORD) */
    /* When (ms, low 32 bits, never 0; 0: none waits) a free top first waited to be
     * trimmed (decay, region.c), and free space inside a region to be purged
     * (region.c); read together by every fit call, as `any`. */
    union { struct { uint32_t top, inside; } since; uint64_t any; } wait;
    uint16_t decay_tick;        /* events since the clock was last read */
    /* Parked blocks (park.h): LIFO lists by size, a bit per non-empty list, a credit per list. */
    uint16_t park_n;
    size_t park_bytes;
    uint64_t park_bits[NPWORDS];
    fblock *park[NPARK];
    int16_t park_credit[NPARK];
};
/* (Its size, with region 0's record, moves every block after them: the
 * trace suite's utilization moved by up to 4 points with 80 bytes more.) */
_Static_assert(sizeof(struct fit_state) == (UINTPTR_MAX == UINT64_MAX ? 4976 : 2792), "fit state size");

/* An arena's records off the hot state: arena 0's are static data (region.c),
 * another's lie just before its state, after its lock. */
struct arena_ext {
    snug_lock_t *lock;                      /* arena 0's is fit_lock; others' is on the line before */
    struct fit_state *_Atomic next_arena;   /* every arena, arena 0 first */
    _Atomic unsigned users;                 /* threads attached (fit.c) */
    size_t nregions;
    size_t map_held;                        /* bytes of region 0's map counted as held (arena 0) */
    /* How much free top the growing region keeps waiting (retain.h; region.c's
     * decay): a top beyond it is cut to it at once; a program that grows again
     * soon after such a cut makes it larger (the sqlite shape: tens of MiB
     * freed and built again, phase after phase). */
    struct retain top_retain;
    /* Free space off the top at the reclaimer's last purge of fragments (region.c). */
    size_t frag_mark;
    int frag_seen;
    /* The page stash (pages.c): small pages the arena's threads' heaps emptied,
     * by size (1, 2, 4 OS pages), linked through each page's second word;
     * their bytes; when it was last used (ms, never 0; 0: empty). */
    fblock *stash[3];
    size_t stash_bytes;
    uint32_t stash_used;
};
/* The arena the calling thread works in: set by every entry of the fit
 * allocator (lock held, or the process has one thread) before it touches
 * anything, so the inline helpers below read one thread-local pointer. */
extern SNUG_INTERNAL __thread struct fit_state *fit __attribute__((tls_model("initial-exec")));
extern SNUG_INTERNAL struct fit_state *fit_arena0;

/* Arena 0's lock (defined in region.c, the lowest of the fit allocator's
 * files), and the one that makes arenas (fit.c), taken before any arena's. */
extern SNUG_INTERNAL snug_lock_t fit_lock;
extern SNUG_INTERNAL snug_lock_t arenas_lock;

/* The clock of the waits (decay, purge, the page stash): ms, low 32 bits
 * (differences are taken modulo 2^32), never 0 (0: no wait). */
static inline uint32_t now_ms32(void)
{
    uint32_t t = (uint32_t)snug_os_now_ms();
    return t ? t : 1;
}

/* Every arena (the list only grows: read without arenas_lock). */
#define FOR_ARENAS(a) for (struct fit_state *a = fit_arena0; a; a = atomic_load_explicit(&a->ext->next_arena, memory_order_acquire))

/* The arena holding block or page address a: region 0's, or its region's
 * (arena 0 for an address in no region: the caller's checks then report it). */
static inline struct fit_state *arena_of(uintptr_t a)
{
    struct region *r = region_of(a);
    return r ? r->arena : fit_arena0;
}
/* Enter arena a with its lock held. */
static inline void arena_lock(struct fit_state *a)
{
    snug_lock(a->ext->lock);
    fit = a;
}
static inline void arena_unlock(struct fit_state *a) { snug_unlock(a->ext->lock); }
/* For walks over blocks of several arenas: a's lock held, *held's let go first
 * when they differ (*held: the one held, NULL at first; the walk unlocks it). */
static inline void arena_switch(struct fit_state **held, struct fit_state *a)
{
    if (*held == a) return;
    if (*held) arena_unlock(*held);
    arena_lock(a);
    *held = a;
}

/* A thread that waited for its own arena's lock may leave it (fit.c). */
void arena_contended(struct fit_state *a);

/* The lock on the paths user requests take (malloc, free, realloc), counting
 * the waits (mcache.h).  While the process has one thread (glibc's
 * __libc_single_threaded, which only that thread's pthread_create clears) no
 * one else can enter, and the lock is not taken: its atomic exchange would
 * wait for every store still pending (a realloc's copy, the program's writes)
 * to drain.  Returns whether it was taken, for fit_unlock_user; the choice is
 * made once per call, so a thread created later finds the lock consistent. */
static inline int fit_lock_user(struct fit_state *a)
{
    fit = a;
    if (__libc_single_threaded) return 0;
    if (SNUG_UNLIKELY(snug_lock(a->ext->lock))) {
        atomic_fetch_add_explicit(&snug_fit_waits.n, 1, memory_order_relaxed);
        arena_contended(a);
    }
    return 1;
}
static inline void fit_unlock_user(int locked) { if (locked) snug_unlock(fit->ext->lock); }

/* The calling thread's arena for a new block: arena 0 while the process has
 * one thread, else the thread's own (attached at its first medium request,
 * left when it meets another thread there; fit.c). */
extern SNUG_INTERNAL __thread struct fit_state *fit_mine __attribute__((tls_model("initial-exec")));
struct fit_state *arena_attach(void);
static inline struct fit_state *arena_mine(void)
{
    if (__libc_single_threaded) return fit_arena0;
    struct fit_state *a = fit_mine;
    return SNUG_LIKELY(a != NULL) ? a : arena_attach();
}

/* Where a freed block's own size is remembered after it merged with the free
 * block after it (the word after the links; bigger blocks only): bins.h
 * writes it, fit.c reads it to name a double free. */
#define ORIG_AT (3 * WORD)
static inline uint64_t orig_key(uintptr_t b) { return ((uint64_t)b ^ snug_secret) << 1 | 1; }

/* ---- region.c: regions, growth, and giving memory back (lock held) ---- */
/* Make room for a block of `need` bytes: grow the last region or map a new one; 0 on success. */
int  region_grow(size_t need);
/* While set (the calling thread's), region_grow only extends the growing
 * region in place and maps no new one (snug_fit_from_top). */
extern SNUG_INTERNAL __thread int fit_grow_in_place __attribute__((tls_model("initial-exec")));
/* Grow region r by at least `more` bytes at its top; 0 on success. */
int  region_extend(struct region *r, size_t more);
/* Free bytes at a region's top or inside a region, and the waits before they
 * go back (trim_after and decay_poll below). */
void region_top_waits(struct region *r, size_t sz);
void region_trim_top(struct region *r, size_t keep);
void region_purge_wait(uintptr_t b, size_t sz);
/* The pages inside free block b back to the kernel now, as a purge gives them. */
void region_discard_block(uintptr_t b);
void region_decay_check(void);
/* An arena's part of the reclaimer's round (whether anything still waits), and
 * a waiting top trimmed now. */
int  region_reclaim(void);
/* Arena a's page stash back to arena 0 (pages.c; no lock held): all of it, or
 * when unused for decay_ms; whether pages still wait in it. */
int  stash_flush(struct fit_state *a, int all);
void region_end_wait(void);
/* Trim every region of the arena's free top to pad and discard the free pages
 * inside large free blocks; whether any memory went back. */
int  region_trim_all(size_t pad);

/* A fit call while a top or a purge waits: on every DECAY_POLL_EVERY-th, trim
 * or purge once the wait is over (region.c's decay).  Lock held. */
static inline __attribute__((always_inline)) void decay_poll(void)
{
    if (SNUG_UNLIKELY(fit->wait.any != 0) && !(++fit->decay_tick & (DECAY_POLL_EVERY - 1))) region_decay_check();
}
/* The free block b was just made by a free: a free top beyond the trim
 * threshold left by that waits to be trimmed, or is trimmed at once when it is
 * not the growing region's; a free block inside a region waits to be purged.
 * Lock held. */
void park_flush(void);              /* every parked block rejoins the heap (park.c) */
/* fit.c, for arena.c: a record of snug's own from arena 0 (its lock taken here), aligned. */
void *fit_meta_alloc_aligned(size_t n, size_t align);
/* A block of `need` bytes (the head included) at a multiple of align, carved
 * from arena fit, its lock held: 0 when the heap cannot grow (fit.c). */
uintptr_t alloc_aligned_locked(size_t need, size_t align);
static inline __attribute__((always_inline)) void trim_after(uintptr_t b)
{
    size_t sz = (size_t)(blk_head_known(b) & ~BLK_FLAGS);
    if (sz <= snug_opt.trim_threshold) { decay_poll(); return; }
    if (b + sz == fit->last_sent) { region_top_waits(fit->last, sz); return; }   /* only the growing region's top waits */
    /* Parked blocks above it would keep it from the top, and the heap from
     * shrinking, until the next malloc: they rejoin the heap now (their frees
     * merge b into what follows, and come back here for it). */
    if (fit->park_n && blk_parked(blk_head(b + sz))) {
        park_flush();
        return;
    }
    struct region *r = region_of(b);
    if (b + sz == atomic_load_explicit(&r->end, memory_order_relaxed) - WORD) {
        region_trim_top(r, snug_opt.top_pad);
    } else {
        region_purge_wait(b, sz);
        decay_poll();
    }
}

#endif
