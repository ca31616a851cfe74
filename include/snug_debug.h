/* snug_debug.h - hooks for testing snug itself, exported only by the debug
 * build (build/libsnug-debug.a, compiled with -DSNUG_DEBUG). */
#ifndef SNUG_DEBUG_H
#define SNUG_DEBUG_H

#ifdef __cplusplus
extern "C" {
#endif

/* Fault injection: the next `after` requests for memory from the kernel (sbrk,
 * mmap, mremap growth) succeed, then every one fails with ENOMEM until this is
 * called again with -1.  snug must answer NULL + ENOMEM and keep its heap intact. */
void snug_debug_fail_after(long after);

#ifdef __cplusplus
}
#endif
#endif
