/* index.c - the index of GC blocks: page descriptors with start/end/atomic/mark bitmaps
 * found through a radix table keyed by 4 KiB page, cover entries for the inner pages of big
 * blocks.  Changes happen under the GC lock; every byte comes from sn_malloc (no static tables).
 *
 * Lookups (gc.h: gci_find, gci_end) are O(1) whatever the block size.  Memory: a descriptor is
 * 152 bytes (a 160-byte slot) per 4 KiB page holding GC block boundaries, under 4%; a leaf is
 * 4 KiB per 2 MiB chunk holding GC blocks (0.2%); the top level is 64 KiB and a mid node
 * 128 KiB per 32 GiB slice in use; a big block costs a 24-byte record. */
#include "gc.h"
#include "alloc.h"
#include "error.h"
#include <string.h>

/* The leaf holding page P's entry, made when missing; NULL when out of memory or when P is
 * above the range the table covers. */
static struct gc_leaf *leaf_get(struct gc_index *x, uintptr_t P)
{
    uint64_t t = (uint64_t)P >> GC_TOP_SHIFT;
    if (t >= GC_TOP_N) return NULL;
    if (!x->top) {
        x->top = sn_calloc(GC_TOP_N, sizeof *x->top);
        if (!x->top) return NULL;
    }
    struct gc_leaf **mid = x->top[t];
    if (!mid) {
        mid = x->top[t] = sn_calloc(GC_MID_N, sizeof *mid);
        if (!mid) return NULL;
    }
    struct gc_leaf **slot = &mid[(P >> GC_LEAF_SHIFT) & (GC_MID_N - 1)];
    if (!*slot) {
        *slot = sn_calloc(1, sizeof **slot);
        if (!*slot) return NULL;
        x->leaves++;
    }
    return *slot;
}

static inline uintptr_t *entry_of(struct gc_leaf *l, uintptr_t P) { return &l->e[(P >> GC_IPAGE_SHIFT) & (GC_LEAF_N - 1)]; }

/* Set the entry of P; its leaf exists (made by leaf_get before anything changed). */
static void tab_put(struct gc_index *x, uintptr_t P, uintptr_t val)
{
    struct gc_leaf *l = x->top[(uint64_t)P >> GC_TOP_SHIFT][(P >> GC_LEAF_SHIFT) & (GC_MID_N - 1)];
    uintptr_t *e = entry_of(l, P);
    if (!*e) l->used++;
    *e = val;
}

static void tab_del(struct gc_index *x, uintptr_t P)
{
    struct gc_leaf **slot = &x->top[(uint64_t)P >> GC_TOP_SHIFT][(P >> GC_LEAF_SHIFT) & (GC_MID_N - 1)];
    uintptr_t *e = entry_of(*slot, P);
    if (!*e) return;
    *e = 0;
    if (--(*slot)->used == 0) {             /* an empty leaf goes back at once */
        sn_free(*slot);
        *slot = NULL;
        x->leaves--;
    }
}

/* Make every leaf that pages [P0, P1] need: 0, or -1 with nothing else changed (leaves made
 * so far stay, empty; gci_compact returns them). */
static int leaves_reserve(struct gc_index *x, uintptr_t P0, uintptr_t P1)
{
    for (uintptr_t c = P0 >> GC_LEAF_SHIFT; c <= P1 >> GC_LEAF_SHIFT; c++)
        if (!leaf_get(x, c << GC_LEAF_SHIFT)) return -1;
    return 0;
}

static int pages_reserve(struct gc_index *x, size_t extra)
{
    if (x->npages + extra <= x->pcap) return 0;
    size_t ncap = x->pcap ? x->pcap * 2 : 256;
    while (ncap < x->npages + extra) ncap *= 2;
    struct gc_page **np = sn_realloc(x->pages, ncap * sizeof *np);
    if (!np) return -1;
    x->pages = np;
    x->pcap = ncap;
    return 0;
}

/* The descriptor of index page P, made when missing (its leaf and a pages slot are reserved). */
static struct gc_page *page_get(struct gc_index *x, uintptr_t P)
{
    if (x->last && x->last->base == P) return x->last;
    uintptr_t v = gc_tab_get(x, P);
    if (v & 1) snug_fatal("gc: index corrupted: new block inside a live GC block at", (void *)P, 0);
    struct gc_page *d = (struct gc_page *)v;
    if (!d) {
        d = sn_calloc(1, sizeof *d);
        if (!d) return NULL;
        d->base = P;
        d->vi = x->npages;
        x->pages[x->npages++] = d;
        tab_put(x, P, (uintptr_t)d);
    }
    x->last = d;
    return d;
}

static void page_drop(struct gc_index *x, struct gc_page *d)
{
    tab_del(x, d->base);
    struct gc_page *moved = x->pages[--x->npages];
    x->pages[d->vi] = moved;
    moved->vi = d->vi;
    if (x->last == d) x->last = NULL;
    sn_free(d);
}

static void drop_if_empty(struct gc_index *x, struct gc_page *d)
{
    if (d->nstart == 0 && d->nend == 0) page_drop(x, d);
}

int gci_insert_slow(struct gc_index *x, uintptr_t p, size_t ext, int atomic)
{
    uintptr_t last = p + ext - 1;
    uintptr_t P0 = p & ~(uintptr_t)(GC_IPAGE - 1), P1 = last & ~(uintptr_t)(GC_IPAGE - 1);
    if (leaves_reserve(x, P0, P1) != 0 || pages_reserve(x, 2) != 0) return -1;
    struct gc_big *b = NULL;
    if (P1 - P0 > GC_IPAGE) {
        b = sn_malloc(sizeof *b);
        if (!b) return -1;
    }
    struct gc_page *d0 = page_get(x, P0);
    struct gc_page *d1 = d0 && P1 != P0 ? page_get(x, P1) : d0;
    if (!d0 || !d1) {
        if (d0) drop_if_empty(x, d0);
        sn_free(b);
        return -1;
    }
    unsigned g0 = (unsigned)((p - P0) / GC_GRAN), g1 = (unsigned)((last - P1) / GC_GRAN);
    if (gc_test(d0, GC_START, g0) || gc_test(d1, GC_END, g1))
        snug_fatal("gc: index corrupted: block registered twice at", (void *)p, ext);
    gc_set(d0, GC_START, g0);
    d0->nstart++;
    if (atomic) gc_set(d0, GC_ATOMIC, g0);
    gc_set(d1, GC_END, g1);
    d1->nend++;
    if (b) {
        b->start = p;
        b->end = p + ext;
        b->sd = d0;
        for (uintptr_t P = P0 + GC_IPAGE; P < P1; P += GC_IPAGE) tab_put(x, P, (uintptr_t)b | 1);
    }
    if (!x->hi || P0 < x->lo) x->lo = P0;
    if (P1 + GC_IPAGE > x->hi) x->hi = P1 + GC_IPAGE;
    x->blocks++;
    return 0;
}

size_t gci_remove(struct gc_index *x, struct gc_page *d, unsigned gi, int keep_empty)
{
    uintptr_t start = gc_gran_addr(d, gi), end = gci_end(x, d, gi), last = end - 1;
    uintptr_t P1 = last & ~(uintptr_t)(GC_IPAGE - 1);
    struct gc_page *d1 = P1 == d->base ? d : (struct gc_page *)gc_tab_get(x, P1);
    if (!d1 || ((uintptr_t)d1 & 1)) snug_fatal("gc: index corrupted: no end page for", (void *)start, 0);
    if (P1 > d->base + GC_IPAGE) {                          /* a big block: drop its covers */
        uintptr_t v = gc_tab_get(x, d->base + GC_IPAGE);
        for (uintptr_t P = d->base + GC_IPAGE; P < P1; P += GC_IPAGE) tab_del(x, P);
        sn_free((void *)(v - 1));
    }
    gc_clr(d, GC_START, gi);
    gc_clr(d, GC_ATOMIC, gi);
    gc_clr(d, GC_MARK, gi);
    d->nstart--;
    gc_clr(d1, GC_END, (unsigned)((last - P1) / GC_GRAN));
    d1->nend--;
    x->blocks--;
    if (!keep_empty) {
        if (d1 != d) drop_if_empty(x, d1);
        drop_if_empty(x, d);
    }
    return (size_t)(end - start);
}

void gci_compact(struct gc_index *x)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (size_t i = x->npages; i-- > 0;) {
        struct gc_page *d = x->pages[i];
        if (d->nstart == 0 && d->nend == 0) { page_drop(x, d); continue; }
        if (d->base < lo) lo = d->base;
        if (d->base + GC_IPAGE > hi) hi = d->base + GC_IPAGE;
    }
    x->lo = x->npages ? lo : 0;
    x->hi = x->npages ? hi : 0;
    /* leaves left empty by a failed insert */
    for (size_t t = 0; x->top && t < GC_TOP_N; t++) {
        struct gc_leaf **mid = x->top[t];
        for (size_t m = 0; mid && m < GC_MID_N; m++)
            if (mid[m] && mid[m]->used == 0) { sn_free(mid[m]); mid[m] = NULL; x->leaves--; }
    }
    if (x->pcap > 1024 && x->npages * 4 < x->pcap) {
        struct gc_page **np = sn_realloc(x->pages, x->pcap / 2 * sizeof *np);
        if (np) { x->pages = np; x->pcap /= 2; }
    }
}
