/* alloc.h - the internal entry points behind both surfaces (snug_* and the
 * glibc names).  Hidden: the surfaces reach them with direct calls. */
#ifndef SNUG_ALLOC_H
#define SNUG_ALLOC_H
#include "config.h"

SNUG_INTERNAL void  *sn_malloc(size_t n);
SNUG_INTERNAL void   sn_free(void *p);
SNUG_INTERNAL void  *sn_calloc(size_t n, size_t size);
SNUG_INTERNAL void  *sn_realloc(void *p, size_t n);
SNUG_INTERNAL void  *sn_reallocarray(void *p, size_t n, size_t size);
SNUG_INTERNAL void  *sn_memalign(size_t align, size_t n);
SNUG_INTERNAL void  *sn_aligned_alloc(size_t align, size_t n);
SNUG_INTERNAL int    sn_posix_memalign(void **out, size_t align, size_t n);
SNUG_INTERNAL void  *sn_valloc(size_t n);
SNUG_INTERNAL void  *sn_pvalloc(size_t n);
SNUG_INTERNAL size_t sn_usable_size(const void *p);
SNUG_INTERNAL void   sn_free_sized(void *p, size_t n);
SNUG_INTERNAL void   sn_free_aligned_sized(void *p, size_t align, size_t n);
/* C++ sized delete (override_cxx.c): sn_free_sized's check, named for operator delete. */
SNUG_INTERNAL void   sn_delete_sized(void *p, size_t n);
SNUG_INTERNAL void   sn_delete_aligned_sized(void *p, size_t n, size_t align);
SNUG_INTERNAL int    sn_trim(size_t pad);
#endif
