/* config.h - compile-time constants shared by every layer of snug.
 * Everything here is a number; no layer's behaviour lives in this file. */
#ifndef SNUG_CONFIG_H
#define SNUG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SNUG_WORD       8u                        /* block head: 8 bytes on 32-bit too (room for its tag) */
#define SNUG_ALIGN      16u                       /* every payload is 16-aligned, 32-bit builds included */
#define SNUG_OSPAGE     4096u                     /* granularity of the page map */
#define SNUG_OSPAGE_SHIFT 12

#define SNUG_SMALL_MAX  1024u                     /* largest request served from small pages */
#define SNUG_NCLASSES   32                        /* small size classes */
#define SNUG_LARGE_MIN  (256u * 1024u)            /* default mmap threshold (options.c) */
#define SNUG_MMAP_REGION (64u * 1024u * 1024u)    /* size of a fallback region when brk is stuck */

#define SNUG_FREE_FILL  0xDF                      /* secure mode: freed memory holds this */

/* SNUG_CHECKS=0 (make CHECKS=0) compiles out the default-mode checks of the
 * fast paths, only to measure what they cost; never for use. */
#ifndef SNUG_CHECKS
#define SNUG_CHECKS 1
#endif
#define SNUG_CHECK(cond) (SNUG_CHECKS && (cond))

/* Data that threads write often sits alone on its cache line (aligned and
 * padded by its type), so no core's write evicts another core's copy of the
 * read-mostly globals every malloc and free read (snug_r0, snug_secret, snug_opt). */
#define SNUG_LINE        64
#define SNUG_OWN_LINE    __attribute__((aligned(SNUG_LINE)))

#define SNUG_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SNUG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SNUG_INTERNAL    __attribute__((visibility("hidden")))
#define SNUG_API         __attribute__((visibility("default")))

static inline size_t snug_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

#endif
