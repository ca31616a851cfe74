/* walk.c - snug_heap_walk(): the heap as a sequence of spans (free, used, free
 * slot, snug's own records, large mappings) for pictures of fragmentation.
 * Reads the layers under their locks; changes nothing. */
#include "fit.h"
#include "init.h"
#include "large.h"
#include "page.h"
#include "snug.h"

struct walk { snug_span_fn fn; void *arg; };

static void span(struct walk *w, uintptr_t a, size_t n, enum snug_span_kind k)
{
    if (n) w->fn((const void *)a, n, k, w->arg);
}

static void one_block(uintptr_t b, size_t size, uint64_t flags, void *arg)
{
    struct walk *w = arg;
    if (!(flags & BLK_INUSE)) {             /* head and links are ours, the rest free */
        span(w, b, WORD, SNUG_SPAN_META);
        span(w, b + WORD, size - WORD, SNUG_SPAN_FREE);
        return;
    }
    if ((flags & BLK_PAGE) && !(flags & BLK_META)) {
        const struct spage *pg = (const struct spage *)(b + WORD);
        page_verify(pg);
        span(w, b, WORD + SPAGE_HDR, SNUG_SPAN_META);
        uintptr_t s = page_start(pg);
        for (unsigned i = 0; i < pg->nslots; i++, s += pg->bsize)
            span(w, s, pg->bsize, bit_get(pg, i) ? SNUG_SPAN_USED : SNUG_SPAN_SLOT_FREE);
        span(w, s, b + size - s, SNUG_SPAN_META);
        return;
    }
    span(w, b, WORD, SNUG_SPAN_META);
    span(w, b + WORD, size - WORD, (flags & BLK_META) ? SNUG_SPAN_META : SNUG_SPAN_USED);
}

static void one_large(uintptr_t p, size_t usable, void *arg)
{
    span(arg, p, usable, SNUG_SPAN_LARGE);
}

SNUG_API int snug_heap_walk(snug_span_fn fn, void *arg)
{
    if (!fn || snug_ensure_init() != 0) return -1;
    struct walk w = { fn, arg };
    snug_fit_each_block(one_block, &w);
    large_each(one_large, &w);
    return 0;
}
