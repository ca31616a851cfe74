/* check.c - snug_heap_check(): every region block by block (the fit checker: I1-I5, K1),
 * every small page (P1, P2, P4; bitmaps only of pages this thread may read), this thread's
 * page lists (P5, H1-H2) and the large-block registry (L1-L2): DESIGN.md, "Invariants". */
#include "fit.h"
#include "heap.h"
#include "init.h"
#include "large.h"
#include "snug.h"

/* Full pages of this thread's heap seen by the walk (they are on no list). */
static __thread size_t own_full __attribute__((tls_model("initial-exec")));

static int check_page(uintptr_t payload, size_t bytes)
{
    const struct spage *pg = (const struct spage *)payload;
    if ((size_t)pg->npages * SNUG_OSPAGE > bytes) return snug_check_fail("page larger than its block", payload);
    struct heap *o = pg->owner;
    int mine = o == snug_tl_heap || (o && __atomic_load_n(&o->parked, __ATOMIC_RELAXED) == HEAP_HELD);
    if (o && o == snug_tl_heap && pg->in_full) {
        if (pg->relist == RELIST_EMPTY || pg->used <= pg->relist)
            return snug_check_fail("full page's relist threshold wrong (P5)", payload);
        own_full++;
    }
    return page_check(pg, mine);
}

/* Lists of the calling thread's heap: every page on the avail list its state
 * says; with the full pages the page walk counted, as many as the heap owns. */
static int check_own_lists(size_t full_pages)
{
    struct heap *h = snug_tl_heap;
    if (!h) return 0;
    size_t n = full_pages;
    for (unsigned c = 0; c < SNUG_NCLASSES; c++) {
        struct spage *head = h->avail[c], *prev = NULL;
        for (struct spage *pg = head; pg; prev = pg, pg = pg->next) {
            if (pg->owner != h || pg->cls != c || pg->in_full || (pg != head && pg->prev != prev) ||
                (!pg->next && head->prev != pg) ||
                addr_page((uintptr_t)pg + SPAGE_HDR) != (uintptr_t)pg) {
                return snug_check_fail("page list broken (P5)", (uintptr_t)pg);
            }
            if (pg->relist != RELIST_EMPTY &&
                !(pg->relist == RELIST_KEEP && pg == head && !pg->next && h->kept && !heap_idle_dense(h, pg)))
                return snug_check_fail("page relist threshold set on an avail page (P5)", (uintptr_t)pg);
            if (++n > h->pages) return snug_check_fail("page lists longer than page count (H1)", (uintptr_t)h);
        }
    }
    unsigned nspare = 0;
    for (struct spage *pg = h->spare; pg; pg = pg->next) {
        if (pg->owner != h || pg->used != 0 || pg->in_full || !page_guards_ok(pg) ||
            addr_page((uintptr_t)pg + SPAGE_HDR) != (uintptr_t)pg)
            return snug_check_fail("spare page broken (H1)", (uintptr_t)pg);
        if (++nspare > h->nspare || ++n > h->pages) return snug_check_fail("spare list longer than its count (H1)", (uintptr_t)h);
    }
    if (nspare != h->nspare) return snug_check_fail("spare pages missing (H1)", (uintptr_t)h);
    if (n != h->pages) return snug_check_fail("pages missing from lists (H1)", (uintptr_t)h);
    size_t per_class = 0;
    for (unsigned c = 0; c < SNUG_NCLASSES; c++) per_class += h->cls_pages[c];
    if (!h->cls_lossy && per_class + h->nspare != h->pages) return snug_check_fail("page counts per class disagree with the total (H2)", (uintptr_t)h);
    return 0;
}

SNUG_API int snug_heap_check(void)
{
    /* No heap yet (nothing allocated, or start-up could get no memory): consistent. */
    if (!atomic_load_explicit(&snug_ready, memory_order_acquire)) return 0;
    own_full = 0;
    heap_hold_parked(1);            /* (check_page reads parked heaps' bitmaps) */
    int rc = snug_fit_check(check_page);
    heap_hold_parked(0);
    if (rc != 0) return -1;
    if (check_own_lists(own_full) != 0) return -1;
    return large_check();
}
