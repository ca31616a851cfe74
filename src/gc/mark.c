/* mark.c - marking and the roots: the explicit mark stack (mapped memory, grown with mremap while
 * the world is stopped, overflow recovered by rescanning marked blocks), conservative scanning of
 * words; the roots it scans: one loaded object's writable data, the stopped threads' stacks and
 * pending blocks; and whether static data already points into a range (for a new big block).
 * Never recursive, never calls the allocator: everything here may run while other threads are
 * stopped.  Calls only what gc.h declares of index.c and stop.c. */
#include "gc.h"
#include "os.h"
#include <elf.h>
#include <link.h>
#include <stdlib.h>

#define MS_INITIAL  ((size_t)1 << 14)   /* entries: 256 KiB on 64-bit */
#define MS_MAX      ((size_t)1 << 22)   /* 64 MiB; past this the overflow path takes over */
#define SCAN_CHUNK  ((uintptr_t)4096)   /* big blocks are scanned in slices (bounded stack use) */

/* Scanning reads other threads' stacks and other objects' data, red zones included. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GC_NO_ASAN __attribute__((no_sanitize_address))
#endif
#endif
#if !defined(GC_NO_ASAN) && defined(__SANITIZE_ADDRESS__)
#define GC_NO_ASAN __attribute__((no_sanitize_address))
#endif
#ifndef GC_NO_ASAN
#define GC_NO_ASAN
#endif

int gc_mark_init(struct gc_markstack *m)
{
    size_t init = MS_INITIAL, max = MS_MAX;
    const char *env = getenv("SNUG_GC_MARKSTACK");      /* tests: a tiny fixed stack */
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1) init = max = (size_t)v;
    }
    m->e = snug_os_map(init * sizeof *m->e);
    if (!m->e) return -1;
    m->cap = init;
    m->max_cap = max;
    m->top = 0;
    m->overflowed = 0;
    return 0;
}

static int ms_grow(struct gc_markstack *m)
{
    if (m->cap >= m->max_cap) return -1;
    size_t ncap = m->cap * 2 < m->max_cap ? m->cap * 2 : m->max_cap;
    struct gc_range *n = snug_os_remap(m->e, m->cap * sizeof *m->e, ncap * sizeof *m->e);
    if (!n) return -1;
    m->e = n;
    m->cap = ncap;
    return 0;
}

static inline void ms_push(struct gc_markstack *m, uintptr_t lo, uintptr_t hi)
{
    if (SNUG_UNLIKELY(m->top == m->cap) && ms_grow(m) != 0) {
        m->overflowed = 1;          /* the block is marked: the rescan will reach its contents */
        m->overflows++;
        return;
    }
    m->e[m->top].lo = lo;
    m->e[m->top].hi = hi;
    m->top++;
}

/* w is a candidate pointer: mark the GC block it points into and queue its contents. */
static inline void mark_word(struct gc_state *g, uintptr_t w)
{
    struct gc_index *x = &g->idx;
    if (w - x->lo >= x->hi - x->lo) return;
    unsigned gi;
    struct gc_page *d = gci_find(x, w, &gi);
    if (!d) return;
    uint64_t bit = (uint64_t)1 << (gi & 63);
    uint64_t *bw = d->bits[gi >> 6];
    if (bw[GC_MARK] & bit) return;
    bw[GC_MARK] |= bit;
    if (bw[GC_ATOMIC] & bit) return;
    ms_push(&g->ms, gc_gran_addr(d, gi), gci_end(x, d, gi));
}

GC_NO_ASAN static void scan(struct gc_state *g, uintptr_t lo, uintptr_t hi)
{
    const uintptr_t W = sizeof(uintptr_t);
    lo = (lo + W - 1) & ~(W - 1);
    hi &= ~(W - 1);
    for (const uintptr_t *p = (const uintptr_t *)lo; (uintptr_t)p < hi; p++) mark_word(g, *p);
}

/* Scanning a block starts with a cache miss on its first line.  Popped ranges wait in a small
 * FIFO, prefetched as they enter it, so PREFETCH_Q misses overlap instead of coming one by one
 * (the mark order becomes slightly breadth-first; any order is correct). */
#define PREFETCH_Q 16

static void drain(struct gc_state *g)
{
    struct gc_markstack *m = &g->ms;
    struct gc_range q[PREFETCH_Q];
    unsigned head = 0, n = 0;
    for (;;) {
        while (n < PREFETCH_Q && m->top) {
            struct gc_range r = m->e[--m->top];
            if (r.hi - r.lo > SCAN_CHUNK) {     /* there is room: one entry was just popped */
                ms_push(m, r.lo + SCAN_CHUNK, r.hi);
                r.hi = r.lo + SCAN_CHUNK;
            }
            __builtin_prefetch((const void *)r.lo);
            q[(head + n++) % PREFETCH_Q] = r;
        }
        if (!n) return;
        struct gc_range r = q[head];
        head = (head + 1) % PREFETCH_Q;
        n--;
        scan(g, r.lo, r.hi);
    }
}

void gc_mark_range(uintptr_t lo, uintptr_t hi)
{
    struct gc_state *g = snug_gc;
    for (uintptr_t a = lo; a < hi;) {           /* drain between slices: a big root fills less */
        uintptr_t b = hi - a > 16 * SCAN_CHUNK ? a + 16 * SCAN_CHUNK : hi;
        scan(g, a, b);
        drain(g);
        a = b;
    }
}

/* After the roots: drain; while a push was dropped, rescan every marked scanned block. */
void gc_mark_finish(void)
{
    struct gc_state *g = snug_gc;
    struct gc_index *x = &g->idx;
    drain(g);
    while (g->ms.overflowed) {
        g->ms.overflowed = 0;
        for (size_t k = 0; k < x->npages; k++) {
            struct gc_page *d = x->pages[k];
            for (unsigned w = 0; w < GC_NW; w++) {
                uint64_t todo = d->bits[w][GC_MARK] & ~d->bits[w][GC_ATOMIC];
                while (todo) {
                    unsigned gi = w * 64 + (unsigned)__builtin_ctzll(todo);
                    todo &= todo - 1;
                    ms_push(&g->ms, gc_gran_addr(d, gi), gci_end(x, d, gi));
                    drain(g);
                }
            }
        }
    }
}

/* ---- roots: threads ---------------------------------------------------------------------- */
/* A thread's pending blocks are roots: they are not indexed, so nothing else scans them. */
static void mark_pending(const struct gc_thread *t)
{
    size_t n = atomic_load_explicit(&t->npend, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        struct gc_pend e = t->pend[i];
        if (e.p && !(e.x & 1)) gc_mark_range(e.p, e.p + e.x);
    }
}

/* Every registered thread's stack from its saved stack pointer to its base; the calling thread
 * (the collector) from here, after spilling its registers into this frame.  And every thread's
 * pending blocks, those of threads that vanished included. */
void gc_mark_thread_stacks(void)
{
    struct gc_state *g = snug_gc;
    __builtin_unwind_init();
    uintptr_t here = gc_below_caller();
    pthread_t self = pthread_self();
    for (struct gc_thread *t = g->dead; t; t = t->next) mark_pending(t);
    for (struct gc_thread *t = g->threads; t; t = t->next) {
        mark_pending(t);
        uintptr_t sp;
        if (pthread_equal(t->tid, self)) sp = here;
        else if (t->signalled) sp = t->sp;
        else continue;
        if (t->alt_hi && sp >= t->alt_lo && sp < t->alt_hi) {
            /* stopped on a signal stack: that stack from sp, and the whole thread stack */
            gc_mark_range(sp, t->alt_hi);
            if (t->stack_lo) gc_mark_range(t->stack_lo, t->stack_hi);
            continue;
        }
        if (sp > t->stack_hi || (t->stack_lo && sp < t->stack_lo)) {
            if (t->stack_lo) gc_mark_range(t->stack_lo, t->stack_hi);
            continue;
        }
        gc_mark_range(sp, t->stack_hi);
    }
}

/* ---- roots: static data ------------------------------------------------------------------ */
static int holds(const struct dl_phdr_info *info, uintptr_t a)
{
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && a - lo < ph->p_memsz) return 1;
    }
    return 0;
}

/* libsnug.so's own data holds no GC pointers (the collector's state is in a mapping); skip it.
 * When snug is linked into the program, its data is the program's (first): scan all. */
static int is_snug_so(const struct dl_phdr_info *info, int first)
{
    return !first && holds(info, (uintptr_t)&snug_gc);
}

void gc_mark_object_data(const struct dl_phdr_info *info, int first)
{
    if (is_snug_so(info, first)) return;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        gc_mark_range(lo, lo + ph->p_memsz);
    }
}

/* ---- does static data already point into [lo, hi)? --------------------------------------- */
struct probe_ctx { uintptr_t lo, hi; unsigned nobj; int hit; };

GC_NO_ASAN static int probe_range(uintptr_t a, uintptr_t b, uintptr_t lo, uintptr_t hi)
{
    const uintptr_t W = sizeof(uintptr_t);
    for (const uintptr_t *p = (const uintptr_t *)((a + W - 1) & ~(W - 1)); (uintptr_t)p < (b & ~(W - 1)); p++)
        if (*p - lo < hi - lo) return 1;
    return 0;
}

static int probe_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct probe_ctx *c = arg;
    (void)size;
    if (is_snug_so(info, c->nobj++ == 0)) return 0;
    for (unsigned i = 0; i < info->dlpi_phnum && !c->hit; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        c->hit = probe_range(a, a + ph->p_memsz, c->lo, c->hi);
    }
    return c->hit;
}

int gc_static_points_into(uintptr_t lo, uintptr_t hi)
{
    struct probe_ctx c = { lo, hi, 0, 0 };
    dl_iterate_phdr(probe_cb, &c);
    return c.hit;
}
