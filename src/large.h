/* large.h - blocks big enough to get their own mapping: mmap'd on malloc,
 * mremap'd on realloc, munmap'd on free.  A registry of live large blocks
 * (an open-addressing table in its own mapping) validates every pointer. */
#ifndef SNUG_LARGE_H
#define SNUG_LARGE_H
#include <stddef.h>
#include <stdint.h>

/* Fresh zero pages; NULL + ENOMEM.  guarded: PROT_NONE pages on both sides and
 * the payload ends at the upper one (secure mode). */
void  *large_alloc(size_t n, size_t align, int guarded);
/* Free p if it is a large block: 1 when freed, 0 when p is not one. */
int    large_free(void *p);
/* Usable bytes of large block p, or 0 when p is not one. */
size_t large_usable(const void *p);
/* Resize large block p to n bytes, moving it if needed (mremap); NULL + ENOMEM. */
void  *large_realloc(void *p, size_t n);
void   large_totals(size_t *blocks, size_t *bytes);
void   large_fork_prepare(void);
void   large_fork_parent(void);
void   large_fork_child(void);
int    large_check(void);
/* fn(payload, usable) for every live large block, under the lock. */
void   large_each(void (*fn)(uintptr_t p, size_t usable, void *arg), void *arg);
#endif
