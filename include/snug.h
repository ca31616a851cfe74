/* snug.h - the public API of the snug allocator.
 * Every function here is also reachable as the standard name (malloc, free, ...)
 * when the full library is used; the snug_ names always reach snug itself. */
#ifndef SNUG_H
#define SNUG_H

#include <stddef.h>

/* The version of this header.  snug_version() returns the library's: the soname is
 * libsnug.so.SNUG_VERSION_MAJOR, and a minor release only adds to the API. */
#define SNUG_VERSION_MAJOR 1
#define SNUG_VERSION_MINOR 1
#define SNUG_VERSION_PATCH 0
#define SNUG_VERSION_STRING "1.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library in use, "MAJOR.MINOR.PATCH" (SNUG_VERSION_STRING when the
 * header and the library match). */
const char *snug_version(void);

/* The explicit allocator: same contracts as the glibc functions of the same name. */
void  *snug_malloc(size_t size);
void   snug_free(void *p);
void  *snug_calloc(size_t n, size_t size);
void  *snug_realloc(void *p, size_t size);
void  *snug_reallocarray(void *p, size_t n, size_t size);
void  *snug_aligned_alloc(size_t alignment, size_t size);
int    snug_posix_memalign(void **memptr, size_t alignment, size_t size);
void  *snug_memalign(size_t alignment, size_t size);
void  *snug_valloc(size_t size);
void  *snug_pvalloc(size_t size);
size_t snug_usable_size(const void *p);
void   snug_free_sized(void *p, size_t size);
void   snug_free_aligned_sized(void *p, size_t alignment, size_t size);
/* Give free memory back to the kernel; keeps `pad` bytes at the heap top.
 * Returns 1 when memory was released, 0 otherwise (like malloc_trim). */
int    snug_trim(size_t pad);

/* What the heap holds.  Byte counts are exact at the moment of the call.
 * The struct only grows at its end: snug_stats_v fills the first `size` bytes (the
 * caller's sizeof, so a program built against an older header gets the fields it
 * knows and a newer one gets zeros beyond snug's), and snug_stats(out) below passes
 * sizeof *out for you.  Programs built before snug_stats_v existed call the
 * function snug_stats, which fills the twelve fields up to `regions`. */
struct snug_stats {
    size_t heap_bytes;      /* bytes held from the kernel now (sbrk + mmap, metadata included) */
    size_t heap_peak;       /* high-water mark of heap_bytes */
    size_t live_bytes;      /* bytes in allocated blocks (usable sizes) now */
    size_t live_peak;       /* high-water mark of live_bytes (sampled, see README) */
    size_t live_blocks;     /* allocated blocks now */
    size_t small_pages;     /* small-object pages in use */
    size_t medium_blocks;   /* allocated medium blocks */
    size_t free_blocks;     /* blocks on the medium free lists */
    size_t free_bytes;      /* bytes in those free blocks */
    size_t large_blocks;    /* blocks served by their own mapping */
    size_t large_bytes;     /* bytes in those mappings */
    size_t regions;         /* contiguous heap regions (the sbrk heap is region 0) */
    /* since 1.1.0, through snug_stats_v */
    size_t cached_blocks;   /* freed medium blocks the thread caches hold for reuse */
    size_t cached_bytes;    /* bytes in those blocks */
    size_t guard_blocks;    /* sampled blocks in the guard pool (counted in live_blocks) */
    size_t guard_bytes;     /* bytes in those blocks (counted in live_bytes) */
};
/* 0 on success; -1 when out is NULL or size is 0. */
int    snug_stats_v(struct snug_stats *out, size_t size);
int    snug_stats(struct snug_stats *out);   /* the fields up to `regions` */
#define snug_stats(out) snug_stats_v((out), sizeof *(out))
/* Start a new high-water period: heap_peak and live_peak become the current values. */
void   snug_stats_reset_peak(void);

/* A map of the heap: fn is called for every span of every heap region in
 * address order (regions one after another), then for every large block.
 * Small pages are reported slot by slot.  Takes the allocator's locks: fn must
 * not allocate through snug.  Returns 0. */
enum snug_span_kind {
    SNUG_SPAN_FREE,         /* free space in the heap */
    SNUG_SPAN_USED,         /* an allocated block (medium, or a small slot) */
    SNUG_SPAN_SLOT_FREE,    /* a free slot of a small page */
    SNUG_SPAN_META,         /* snug's own records: block heads, page headers, region records */
    SNUG_SPAN_LARGE,        /* a large block's own mapping */
};
typedef void (*snug_span_fn)(const void *start, size_t bytes, enum snug_span_kind kind, void *arg);
int    snug_heap_walk(snug_span_fn fn, void *arg);

/* Walk every block, page and free list and check every invariant.
 * Returns 0 when the heap is consistent; otherwise prints one line naming the
 * first broken invariant to stderr and returns -1.  Pages owned by other threads
 * are checked only when those threads are not allocating at the same time. */
int    snug_heap_check(void);

/* The implicit allocator: a conservative mark-sweep garbage collector on the same heap.
 * A GC block stays alive while an aligned word in a root or in a live scanned GC block points
 * to its start or inside it.  Roots: the data and bss of the program and of loaded libraries,
 * the stacks and registers of registered threads, and ranges added with snug_gc_add_roots
 * (memory from plain malloc is not a root unless added).  The main thread is registered when
 * the collector starts (at the first call); any thread is registered by its first snug_gc_
 * call or by snug_gc_register_thread, and unregistered when it exits.  Collections run when
 * the bytes allocated since the last one exceed max(8 MiB, what the last one kept), or on
 * snug_gc_collect.  Never pass a GC block to free(); SIGPWR and SIGXCPU are used to stop
 * threads during a collection.  Errors: NULL and errno = ENOMEM, like malloc. */
void  *snug_gc_malloc(size_t n);          /* zeroed; scanned for pointers */
void  *snug_gc_malloc_atomic(size_t n);   /* never scanned (no pointers inside); not zeroed */
void  *snug_gc_realloc(void *p, size_t n);/* keeps contents; NULL p allocates; n 0 frees */
void   snug_gc_free(void *p);             /* optional explicit free of a GC block */
void   snug_gc_collect(void);             /* full collection now */
size_t snug_gc_heap_bytes(void);          /* bytes in GC blocks allocated and not reclaimed
                                             (after a collection: what it kept) */
void   snug_gc_add_roots(void *lo, void *hi);    /* [lo, hi) is scanned at every collection */
void   snug_gc_remove_roots(void *lo, void *hi); /* no byte of [lo, hi) is an added root after */
int    snug_gc_register_thread(void);     /* 0 registered, 1 already was, -1 error (errno) */
int    snug_gc_unregister_thread(void);   /* 0 unregistered, 1 was not registered */

#ifdef __cplusplus
}
#endif
#endif
