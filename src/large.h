/* large.h - blocks big enough to get their own mapping: mmap'd on malloc,
 * mremap'd on realloc, munmap'd on free (or kept a while for reuse).  A
 * registry of live large blocks (an open-addressing table in its own mapping)
 * validates every pointer. */
#ifndef SNUG_LARGE_H
#define SNUG_LARGE_H
#include <stddef.h>
#include <stdint.h>

/* A mapping of fresh zero pages; NULL + ENOMEM.  guarded: PROT_NONE pages on
 * both sides and the payload ends at the upper one (secure mode; such a
 * mapping is never kept for reuse). */
void  *large_alloc(size_t n, size_t align, int guarded);
/* A large block in a mapping a freed one left (not zeroed: large_reused(p) is
 * 1 until the block is reallocated); NULL when none is big enough. */
void  *large_reuse(size_t n, size_t align);
int    large_reused(const void *p);
/* Whether a kept mapping holds a block of n bytes without growing (a hint: another thread may take it). */
int    large_kept_holds(size_t n);
int    large_kept_any(void);               /* whether any freed mapping is kept (a hint, no lock) */
/* Unmap cached mappings older than decay_ms (whether any are still kept); all of them (1 if there were any). */
int    large_cache_poll(void);
int    large_cache_drop(void);
/* Free p if it is a large block: 1 when freed, 0 when p is not one. */
int    large_free(void *p);
/* Usable bytes of large block p, or 0 when p is not one; fatal when p was
 * freed (op: the call, as snug_fatal_freed takes it). */
size_t large_usable(const void *p, const char *op);
/* The bytes large block p was last asked for, in *asked, and its usable
 * size; 0 when p is not one; fatal when p was freed (op as for large_usable). */
size_t large_request(const void *p, const char *op, size_t *asked);
/* Resize large block p to n bytes, moving it if needed (mremap).  NULL with
 * *refused set when the memory was refused, NULL with it clear when p must be
 * copied instead (its alignment, or a range of two mappings); p is intact
 * then, and errno untouched. */
void  *large_realloc(void *p, size_t n, int *refused);
void   large_totals(size_t *blocks, size_t *bytes);
size_t large_bytes_now(void);           /* without the lock (see snug_fit_user_bytes_now) */
void   large_fork_prepare(void);
void   large_fork_parent(void);
void   large_fork_child(void);
int    large_check(void);               /* L1-L2 (DESIGN.md, "Invariants") */
/* fn(payload, usable) for every live large block, under the lock. */
void   large_each(void (*fn)(uintptr_t p, size_t usable, void *arg), void *arg);
#endif
