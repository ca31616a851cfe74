/* override_cxx.c - C++ operator delete, written in C under its mangled names, so
 * a sized delete checks its size as free_sized does (alloc.c); operator new
 * stays libstdc++'s, which calls malloc.  Every one is weak (a program's own
 * definition wins, also in a static link) and, as libstdc++'s do, goes to the
 * unsized delete whenever the program replaced it: a program whose own
 * operator new/delete pair hands out its own blocks never reaches snug's free. */
#ifndef SNUG_PREFIX_ONLY
#include "alloc.h"

/* size_t and std::align_val_t (an enum of size_t) mangle as m on LP64, j on 32-bit. */
#if __SIZEOF_SIZE_T__ == 8
#define SZ(pre, post) pre##m##post
#else
#define SZ(pre, post) pre##j##post
#endif
#define DELETE_API __attribute__((weak, visibility("default")))

DELETE_API void _ZdlPv(void *p);                                 /* operator delete(void*) */
DELETE_API void _ZdaPv(void *p);                                 /* operator delete[](void*) */
DELETE_API void _ZdlPvSt11align_val_t(void *p, size_t al);       /* (void*, align_val_t) */
DELETE_API void _ZdaPvSt11align_val_t(void *p, size_t al);
DELETE_API void SZ(_ZdlPv, )(void *p, size_t n);                 /* (void*, size_t) */
DELETE_API void SZ(_ZdaPv, )(void *p, size_t n);
DELETE_API void SZ(_ZdlPv, St11align_val_t)(void *p, size_t n, size_t al);
DELETE_API void SZ(_ZdaPv, St11align_val_t)(void *p, size_t n, size_t al);

/* snug's own unsized deletes, by addresses that bind locally; the exported
 * names are reached through the GOT, so `x != own_x` says a program replaced x. */
static void own_delete(void *p) { sn_free(p); }
static void own_delete_array(void *p)
{
    if (&_ZdlPv != own_delete) { _ZdlPv(p); return; }
    sn_free(p);
}
static void own_delete_aligned(void *p, size_t al) { (void)al; sn_free(p); }
static void own_delete_array_aligned(void *p, size_t al)
{
    if (&_ZdlPvSt11align_val_t != own_delete_aligned) { _ZdlPvSt11align_val_t(p, al); return; }
    sn_free(p);
}

void _ZdlPv(void *p) __attribute__((alias("own_delete")));
void _ZdaPv(void *p) __attribute__((alias("own_delete_array")));
void _ZdlPvSt11align_val_t(void *p, size_t al) __attribute__((alias("own_delete_aligned")));
void _ZdaPvSt11align_val_t(void *p, size_t al) __attribute__((alias("own_delete_array_aligned")));

void SZ(_ZdlPv, )(void *p, size_t n)
{
    if (__builtin_expect(&_ZdlPv != own_delete, 0)) { _ZdlPv(p); return; }
    sn_delete_sized(p, n);
}
void SZ(_ZdaPv, )(void *p, size_t n)
{
    if (__builtin_expect(&_ZdaPv != own_delete_array || &_ZdlPv != own_delete, 0)) { _ZdaPv(p); return; }
    sn_delete_sized(p, n);
}
void SZ(_ZdlPv, St11align_val_t)(void *p, size_t n, size_t al)
{
    if (__builtin_expect(&_ZdlPvSt11align_val_t != own_delete_aligned, 0)) { _ZdlPvSt11align_val_t(p, al); return; }
    sn_delete_aligned_sized(p, n, al);
}
void SZ(_ZdaPv, St11align_val_t)(void *p, size_t n, size_t al)
{
    if (__builtin_expect(&_ZdaPvSt11align_val_t != own_delete_array_aligned ||
                         &_ZdlPvSt11align_val_t != own_delete_aligned, 0)) {
        _ZdaPvSt11align_val_t(p, al);
        return;
    }
    sn_delete_aligned_sized(p, n, al);
}
#endif
