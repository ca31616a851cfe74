/* replay_api.c - the allocators snug-replay can put under test: snug (snug_* API), the
 * process's malloc (--system) and snug's collector (--gc), behind one table of calls;
 * the name of the one measured (for --system, found from the library that provides
 * malloc); and the collector's extras: its granule, aligned requests, resizing. */
#include "replay.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t sys_usable(const void *p) { return malloc_usable_size((void *)p); }

const struct api snug_api = {
    "snug", snug_malloc, snug_free, snug_calloc, snug_realloc,
    snug_posix_memalign, snug_memalign, snug_usable_size,
};
const struct api sys_api = {
    "system", malloc, free, calloc, realloc, posix_memalign, memalign, sys_usable,
};
/* --gc: a free drops the reference (the caller clears the id's slot); calloc zeroes an
 * atomic block itself (snug_gc_malloc zeroes too, but its blocks are scanned). */
static void gc_drop(void *p) { (void)p; }
void *gc_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = snug_gc_malloc_atomic(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}
const struct api gc_api = {
    "snug-gc", snug_gc_malloc_atomic, gc_drop, gc_calloc, snug_gc_realloc,
    NULL, NULL, snug_usable_size,
};
const struct api *tested;

/* "snug 1.1.0", "snug-gc 1.1.0"; for --system the library malloc resolves to: "glibc 2.36"
 * for libc.so.6, "snug 1.1.0" for a preloaded libsnug, otherwise the library's file name
 * ("libjemalloc.so.2"), or "the program itself" when malloc is linked into it. */
const char *allocator_name(void)
{
    static char name[160];
    if (name[0])
        return name;
    if (tested != &sys_api) {
        snprintf(name, sizeof name, "%s %s", tested->name, snug_version());
        return name;
    }
    Dl_info info;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (!m || !dladdr(m, &info) || !info.dli_fname) {
        snprintf(name, sizeof name, "unknown");
        return name;
    }
    const char *file = base_name(info.dli_fname);
    if (!*file) {
        snprintf(name, sizeof name, "the program itself");
    } else if (!strncmp(file, "libc.so", 7) || !strncmp(file, "libc-", 5)) {
        snprintf(name, sizeof name, "glibc %s", gnu_get_libc_version());
    } else {
        /* a library of snug's says its version (looked up in it, not in this program) */
        void *h = !strncmp(file, "libsnug", 7) ? dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD) : NULL;
        const char *(*version)(void) = h ? (const char *(*)(void))dlsym(h, "snug_version") : NULL;
        if (version)
            snprintf(name, sizeof name, "snug %s", version());
        else
            snprintf(name, sizeof name, "%s", file);
        if (h)
            dlclose(h);
    }
    return name;
}

/* Measured once (replay_one) as what a 1-byte block adds to snug_gc_heap_bytes(). */
size_t gc_gran = 16;

void gc_probe_granule(void)
{
    size_t g0 = snug_gc_heap_bytes();
    void *volatile p = snug_gc_malloc_atomic(1);
    size_t g = snug_gc_heap_bytes() - g0;
    if (p && g >= sizeof(void *) && !(g & (g - 1)))
        gc_gran = g;
    p = NULL;
}

/* --gc: an alignment above the collector's granule is served from a bigger block; the table
 * keeps the aligned interior pointer, which keeps the block alive. */
unsigned char *gc_aligned(struct state *s, uint32_t id, size_t align, size_t size, size_t *ext)
{
    if (align <= gc_gran) {
        s->off[id] = 0;
        *ext = gc_ext(size);
        return snug_gc_malloc_atomic(size);
    }
    if (size > SIZE_MAX - align || align > UINT32_MAX)
        return NULL;
    unsigned char *b = snug_gc_malloc_atomic(size + align - gc_gran);
    if (!b)
        return NULL;
    unsigned char *p = (unsigned char *)(((uintptr_t)b + align - 1) & ~(uintptr_t)(align - 1));
    s->off[id] = (uint32_t)(p - b);
    *ext = gc_ext(size + align - gc_gran);
    return p;
}

/* --gc: resize id's block; the offset of an aligned block is kept. */
unsigned char *gc_resize(struct state *s, uint32_t id, unsigned char *p, size_t n)
{
    size_t off = s->off[id];
    if (n > SIZE_MAX - off)
        return NULL;
    unsigned char *b = snug_gc_realloc(p - off, off + n);
    if (!b)
        return NULL;
    if (b != p - off)
        s->gcext[id] = gc_ext(off + n);     /* moved; otherwise its extent stays */
    return b + off;
}
