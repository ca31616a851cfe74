/* fit.h - the fit allocator: boundary-tag blocks in the heap regions, found with
 * two-level segregated bins (TLSF-style) and coalesced at once (or parked for a
 * request of the same size first, while the process has one thread).  It
 * serves medium requests, small-object pages and snug's own metadata.  Arena 0
 * serves a process with one thread; with threads, each thread takes its medium
 * blocks from an arena of its own (arena.c), each with its own lock. */
#ifndef SNUG_FIT_H
#define SNUG_FIT_H
#include "block.h"

int    snug_fit_init(void);                 /* 0 on success; creates region 0 */
void  *snug_fit_malloc(size_t n, size_t align);   /* user block; NULL + ENOMEM */
void   snug_fit_free(void *p);              /* validates; fatal on misuse */
void   snug_fit_free_discard(void *p);      /* the same, and the free block's pages go back at once */
/* A block realloc moves a growing block to, with room to grow: later reallocs
 * that stay within its last quarter keep it whole. */
void  *snug_fit_malloc_roomy(size_t n);
/* A user block carved from a free block of the bins under HOLE_MAX bytes
 * (a hole no small page fits in), never from the top nor by growing, and only
 * when a small page could not be had without growing the heap: NULL
 * otherwise (errno unchanged). */
void  *snug_fit_malloc_hole(size_t n);
/* Resize using only the block's neighbours (may move the payload down into a
 * free previous block): the new payload, or NULL when that cannot make room. */
void  *snug_fit_realloc(void *p, size_t n);
/* Without the lock (for the thread caches): the size of the live medium block
 * p, fatal when p is not one; and the size of a block a cache holds, its head
 * checked.  snug_fit_waits.n counts the times the lock made a thread wait
 * (written under contention: alone on its line). */
size_t snug_fit_checked_size(const void *p, const char *op);
/* Usable bytes of live block p (fatal when it is not one, as free would be),
 * and in *lo the least request that can have been given this block (free_sized). */
size_t snug_fit_request_range(const void *p, const char *op, size_t *lo);
size_t snug_fit_cached_size(const void *p);
struct snug_waits { _Atomic unsigned n; } SNUG_OWN_LINE;
extern SNUG_INTERNAL struct snug_waits snug_fit_waits;
/* Before the first thread cache is made: from then on free looks for cache marks. */
void   snug_fit_caches_on(void);
size_t snug_fit_usable(const void *p);      /* payload bytes of a live medium block (read without the lock) */
/* Validate a pointer as a live medium block, fatal otherwise; its payload bytes. */
size_t snug_fit_validate(const void *p, const char *op);

/* Small pages: a 4 KiB-aligned run of *bytes (a multiple of 4 KiB) marked in the
 * map; or of `least` bytes (*bytes set to it) when only that fits without
 * growing the heap. */
void  *snug_fit_page_alloc(size_t *bytes, size_t least);
/* The same, and in the same hold of arena 0's lock up to nmore more of the
 * same size for the page stashes, in more[0 .. *got - 1] (fewer when they do
 * not fit without a new mapping); their headers are the caller's to write. */
void  *snug_fit_page_alloc_batch(size_t *bytes, size_t least, void **more, size_t nmore, size_t *got);
void   snug_fit_page_free(void *page, size_t bytes);
/* Whether heaps have waited for arena 0's lock to carve pages PAGE_BATCH_AFTER times. */
int    snug_fit_pages_contended(void);
/* A process with threads: an emptied page (its header left as the heap layer
 * makes it: its second word is the stash's while there) kept in the calling
 * thread's arena for the next page one of its threads asks for
 * (snug_fit_page_take, before snug_fit_page_alloc), else given back to arena
 * 0 as snug_fit_page_free does. */
void   snug_fit_page_stash(void *page, size_t bytes);
void  *snug_fit_page_take(size_t *bytes, size_t least);
/* The same without the fallback: whether a stash kept the page. */
int    snug_fit_page_stash_try(void *page, size_t bytes);
/* n pages (pages[i] of bytes[i] bytes) back as snug_fit_page_free does, in
 * one lock hold per arena met. */
void   snug_fit_pages_free(void *const *pages, const size_t *bytes, unsigned n);
/* Fork child: free a page whose header was never completed (its size from its block). */
void   snug_fit_page_orphan(void *page);
/* Internal metadata blocks (heaps, tables): plain blocks, not counted as user data. */
void  *snug_fit_meta_alloc(size_t n);

int    snug_fit_trim(size_t pad);           /* 1 if memory went back to the kernel */
/* A request of the large range while the growing region has a free top that
 * waits to be trimmed, or that holds a quarter of the request: carved from
 * that top, grown if need be (not zeroed), so a new mapping does not add to
 * memory the heap holds free.  NULL when there is no such top, or the heap
 * cannot grow (errno unchanged: the caller maps the block). */
void  *snug_fit_from_top(size_t n);
/* Trim a waiting top now (before a large block grows). */
void   snug_fit_end_wait(void);
/* Which of these n (at most 64) small pages would, freed, leave more than the
 * trim threshold free at their region's top (so that keeping them cached would
 * pin that memory): bit i for pages[i].  One lock hold per arena met. */
uint64_t snug_fit_pages_pin_top(void *const *pages, unsigned n);
/* The calling thread exits: its arena goes to the next thread that asks (fit.c). */
void   snug_fit_thread_exit(void);
int    snug_fit_reclaim(void);              /* the reclaimer's round: whether anything still waits */
void   snug_fit_lock_all(void);             /* fork: take / release / reset */
void   snug_fit_unlock_all(void);
void   snug_fit_reset_locks(void);

struct fit_totals { size_t free_blocks, free_bytes, user_blocks, user_bytes, regions; };
void   snug_fit_totals(struct fit_totals *t);
/* Bytes in user blocks, read without the lock (the live-peak sampler's: as
 * of some recent moment, not a snapshot consistent with the other counts). */
size_t snug_fit_user_bytes_now(void);
/* Checker: walk everything under the lock; returns 0 or prints and returns -1.
 * page_check is called for every small page block. */
int    snug_fit_check(int (*page_check)(uintptr_t page, size_t bytes));
/* Call fn for every small page (its first byte).  No lock: for the fork child,
 * where only the calling thread runs. */
/* Under the lock: fn(block, size, head flags) for every block of every region,
 * region record first as (start, first - start, BLK_META|BLK_INUSE). */
void   snug_fit_each_block(void (*fn)(uintptr_t b, size_t size, uint64_t flags, void *arg), void *arg);
void   snug_fit_each_page(void (*fn)(uintptr_t page, void *arg), void *arg);
#endif
