/* check.c - snug_heap_check(): walks every region block by block (fit.c's I1-I5),
 * every small page (page.h's P1-P3, free lists of pages this thread may read),
 * this thread's page lists, and the large-block registry. */
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
    int mine = o == snug_tl_heap || (o && __atomic_load_n(&o->parked, __ATOMIC_RELAXED));
    if (o && o == snug_tl_heap && pg->in_full) {
        if (pg->relist == RELIST_EMPTY || pg->used <= pg->relist)
            return snug_check_fail("full page's relist threshold wrong", payload);
        own_full++;
    }
    return page_check(pg, mine);
}

SNUG_API int snug_heap_check(void)
{
    /* No heap yet (nothing allocated, or start-up could get no memory): consistent. */
    if (!atomic_load_explicit(&snug_ready, memory_order_acquire)) return 0;
    own_full = 0;
    if (snug_fit_check(check_page) != 0) return -1;
    if (heap_check_own(own_full) != 0) return -1;
    return large_check();
}
