/* gc_index.c - the index of GC blocks: page descriptors with start/end/atomic/mark bitmaps in a
 * hash table keyed by 4 KiB page, cover entries for the inner pages of big blocks.  Changes
 * happen under the GC lock; every byte of it comes from sn_malloc (none from static tables).
 *
 * Lookups (gc.h: gci_find, gci_end) are O(1) whatever the block size.  Memory: a descriptor is
 * 168 bytes per 4 KiB page that holds GC block boundaries (about 4%), plus 16-32 bytes of table
 * per indexed page; a big block costs one 24-byte record and one table entry per inner page. */
#include "gc.h"
#include "alloc.h"
#include "error.h"
#include <string.h>

#define MIN_CAP 1024u

static void tab_put_raw(struct gc_slot *tab, size_t cap, uintptr_t key, uintptr_t val)
{
    struct gc_index tmp = { .cap = cap };
    size_t i = gc_slot_of(&tmp, key);
    while (tab[i].key && tab[i].key != key) i = (i + 1) & (cap - 1);
    tab[i].key = key;
    tab[i].val = val;
}

/* Rebuild the table with ncap slots; -1 when the memory is not there (old table kept). */
static int tab_resize(struct gc_index *x, size_t ncap)
{
    struct gc_slot *nt = sn_calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    for (size_t i = 0; i < x->cap; i++)
        if (x->tab[i].key) tab_put_raw(nt, ncap, x->tab[i].key, x->tab[i].val);
    sn_free(x->tab);
    x->tab = nt;
    x->cap = ncap;
    return 0;
}

/* Room for `extra` more entries at a load factor of at most 1/2. */
static int tab_reserve(struct gc_index *x, size_t extra)
{
    size_t need = x->count + extra;
    if (need <= x->cap / 2) return 0;
    size_t ncap = x->cap ? x->cap : MIN_CAP;
    while (ncap / 2 < need) {
        if (ncap > SIZE_MAX / 4 / sizeof(struct gc_slot)) return -1;
        ncap *= 2;
    }
    return tab_resize(x, ncap);
}

/* Insert or overwrite; room must have been reserved. */
static void tab_put(struct gc_index *x, uintptr_t key, uintptr_t val)
{
    size_t i = gc_slot_of(x, key);
    while (x->tab[i].key && x->tab[i].key != key) i = (i + 1) & (x->cap - 1);
    if (!x->tab[i].key) x->count++;
    x->tab[i].key = key;
    x->tab[i].val = val;
}

/* Delete with backward shift (linear probing keeps no tombstones). */
static void tab_del(struct gc_index *x, uintptr_t key)
{
    size_t mask = x->cap - 1, i = gc_slot_of(x, key);
    while (x->tab[i].key != key) {
        if (!x->tab[i].key) return;
        i = (i + 1) & mask;
    }
    x->count--;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!x->tab[j].key) break;
        size_t k = gc_slot_of(x, x->tab[j].key);
        /* the entry at j may move to i unless its home k lies cyclically in (i, j] */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        x->tab[i] = x->tab[j];
        i = j;
    }
    x->tab[i].key = 0;
    x->tab[i].val = 0;
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

/* The descriptor of index page P, made when missing (room reserved by the caller). */
static struct gc_page *page_get(struct gc_index *x, uintptr_t P)
{
    if (x->last && x->last->base == P) return x->last;
    uintptr_t v = gc_tab_get(x, P);
    if (v & 1) snug_fatal("snug gc: index corrupted: new block inside a live GC block at", (void *)P, 0);
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

int gci_insert(struct gc_index *x, uintptr_t p, size_t ext, int atomic)
{
    uintptr_t last = p + ext - 1;
    uintptr_t P0 = p & ~(uintptr_t)(GC_IPAGE - 1), P1 = last & ~(uintptr_t)(GC_IPAGE - 1);
    size_t span = (size_t)((P1 - P0) >> GC_IPAGE_SHIFT);      /* pages after the first */
    size_t inner = span > 1 ? span - 1 : 0;
    if (tab_reserve(x, 2 + inner) != 0 || pages_reserve(x, 2) != 0) return -1;
    struct gc_big *b = NULL;
    if (inner) {
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
    if (gc_bit(d0->start, g0) || gc_bit(d1->end, g1))
        snug_fatal("snug gc: index corrupted: block registered twice at", (void *)p, ext);
    gc_bit_set(d0->start, g0);
    d0->nstart++;
    if (atomic) gc_bit_set(d0->atomic, g0);
    gc_bit_set(d1->end, g1);
    d1->nend++;
    if (b) {
        b->start = p;
        b->end = p + ext;
        b->sd = d0;
        for (uintptr_t P = P0 + GC_IPAGE; P < P1; P += GC_IPAGE) tab_put(x, P, (uintptr_t)b | 1);
    }
    if (!x->blocks || P0 < x->lo) x->lo = P0;
    if (!x->blocks || P1 + GC_IPAGE > x->hi) x->hi = P1 + GC_IPAGE;
    x->blocks++;
    return 0;
}

size_t gci_remove(struct gc_index *x, struct gc_page *d, unsigned gi, int keep_empty)
{
    uintptr_t start = gc_gran_addr(d, gi), end = gci_end(x, d, gi), last = end - 1;
    uintptr_t P1 = last & ~(uintptr_t)(GC_IPAGE - 1);
    struct gc_page *d1 = P1 == d->base ? d : (struct gc_page *)gc_tab_get(x, P1);
    if (!d1 || ((uintptr_t)d1 & 1)) snug_fatal("snug gc: index corrupted: no end page for", (void *)start, 0);
    if (P1 > d->base + GC_IPAGE) {                          /* a big block: drop its covers */
        uintptr_t v = gc_tab_get(x, d->base + GC_IPAGE);
        for (uintptr_t P = d->base + GC_IPAGE; P < P1; P += GC_IPAGE) tab_del(x, P);
        sn_free((void *)(v - 1));
    }
    gc_bit_clear(d->start, gi);
    gc_bit_clear(d->atomic, gi);
    gc_bit_clear(d->mark, gi);
    d->nstart--;
    gc_bit_clear(d1->end, (unsigned)((last - P1) / GC_GRAN));
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
    /* give back a table that is mostly empty (the heap shrank) */
    if (x->cap > MIN_CAP && x->count * 8 < x->cap) {
        size_t ncap = x->cap;
        while (ncap > MIN_CAP && x->count * 8 < ncap) ncap /= 2;
        tab_resize(x, ncap);            /* on failure the big table simply stays */
    }
    if (x->pcap > 1024 && x->npages * 4 < x->pcap) {
        struct gc_page **np = sn_realloc(x->pages, x->pcap / 2 * sizeof *np);
        if (np) { x->pages = np; x->pcap /= 2; }
    }
}
