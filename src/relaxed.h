/* relaxed.h - accessors for words one thread writes while others read them without
 * its lock: relaxed atomic loads and stores, single accesses that the compiler may
 * not tear, merge or cache (a plain access racing another is undefined in C11),
 * and that ThreadSanitizer knows are meant.  Their cost on x86 is nil (below). */
#ifndef SNUG_RELAXED_H
#define SNUG_RELAXED_H
#include "config.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SNUG_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SNUG_TSAN 1
#endif
/* gcc treats an __atomic builtin as a barrier to its other memory optimizations
 * and never fuses it with arithmetic: a relaxed store in the fast paths, or an
 * owner's `count += n` as a relaxed load, add and store, costs instructions a
 * plain access does not.  On x86 with gcc, those stores and adds are therefore
 * written out as the single instruction a relaxed access compiles to there (a
 * mov, an unlocked add to memory: each one access), in asm whose only output is
 * the word it writes (gcc never drops an asm's store to memory others can read),
 * or as a volatile store (snug_rstore_hot).  ThreadSanitizer cannot see into asm
 * or take volatile for atomic, and clang lacks gcc's %z: under TSan and with
 * clang the __atomic forms are used.  Loads stay __atomic everywhere. */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__) && !defined(SNUG_TSAN)
#define SNUG_RELAXED_GCC_X86 1
#endif

/* A word (at most pointer-sized) read or written in one access. */
#define snug_rload(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define snug_rstore(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* The same store, for words stored often inside long functions (the fit
 * allocator's block heads and byte count, under its lock): there gcc keeps
 * values in registers across a volatile store, the single access the Linux
 * kernel's WRITE_ONCE relies on, better than across asm or an __atomic, and
 * those paths stay as short as with plain stores. */
#ifdef SNUG_RELAXED_GCC_X86
#define snug_rstore_hot(p, v) ((void)(*(volatile __typeof__(*(p)) *)(p) = (v)))
#else
#define snug_rstore_hot(p, v) snug_rstore(p, v)
#endif

/* A counter only its owner thread (or the holder of its lock) writes and others
 * read: the owner reads its own value plainly and stores the sum relaxed.  Never
 * an atomic read-modify-write (a locked instruction): one writer needs none. */
#ifdef SNUG_RELAXED_GCC_X86
#define snug_own_add(p, v) __asm__("add%z0 %1, %0" : "+m"(*(p)) : "er"((__typeof__(*(p)))(v)))
#define snug_own_sub(p, v) __asm__("sub%z0 %1, %0" : "+m"(*(p)) : "er"((__typeof__(*(p)))(v)))
#else
#define snug_own_add(p, v) __atomic_store_n((p), *(p) + (v), __ATOMIC_RELAXED)
#define snug_own_sub(p, v) __atomic_store_n((p), *(p) - (v), __ATOMIC_RELAXED)
#endif

/* 64-bit words (block heads, page bitmaps).  On 64-bit one relaxed access.  On
 * 32-bit a 64-bit access is two 32-bit moves anyway (one atomic move would go
 * through the x87 unit or a library call): there it is two relaxed halves, low
 * first, and a reader racing a writer may see half of each value.  The readers
 * there either want one bit (of one half) or take the lock the writer holds.
 * snug_store64_hot: snug_rstore_hot's store of a 64-bit word. */
#if UINTPTR_MAX == UINT64_MAX
static inline uint64_t snug_load64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void snug_store64(uint64_t *p, uint64_t v)
{
#ifdef SNUG_RELAXED_GCC_X86
    __asm__("movq %1, %0" : "=m"(*p) : "er"(v));
#else
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
#endif
}
static inline void snug_store64_hot(uint64_t *p, uint64_t v) { snug_rstore_hot(p, v); }
#else
static inline uint64_t snug_load64(const uint64_t *p)
{
    const uint32_t *h = (const uint32_t *)p;
    return __atomic_load_n(&h[0], __ATOMIC_RELAXED) | (uint64_t)__atomic_load_n(&h[1], __ATOMIC_RELAXED) << 32;
}
static inline void snug_store64(uint64_t *p, uint64_t v)
{
#ifdef SNUG_RELAXED_GCC_X86
    __asm__("movl %1, %0" : "=m"(((uint32_t *)p)[0]) : "ri"((uint32_t)v));
    __asm__("movl %1, %0" : "=m"(((uint32_t *)p)[1]) : "ri"((uint32_t)(v >> 32)));
#else
    uint32_t *h = (uint32_t *)p;
    __atomic_store_n(&h[0], (uint32_t)v, __ATOMIC_RELAXED);
    __atomic_store_n(&h[1], (uint32_t)(v >> 32), __ATOMIC_RELAXED);
#endif
}
static inline void snug_store64_hot(uint64_t *p, uint64_t v) { snug_store64(p, v); }
#endif
#endif
