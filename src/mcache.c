/* mcache.c - the per-thread medium-block cache (see mcache.h): LIFO stacks by
 * 256-byte size class, bounded in depth and in bytes; blocks go in and out
 * without the fit lock, their heads checked each way. */
#include "mcache.h"
#include "error.h"
#include "fit.h"
#include <string.h>

static unsigned mc_class(size_t block) { return (unsigned)((block - MC_MIN) / 256); }

void *mcache_pop(struct mcache *mc, size_t n)
{
    size_t need = blk_need(n);
    if (need > MC_MAX) return NULL;
    /* The request's own class may hold a block a little too small; the
     * classes above hold blocks that fit.  A block up to a quarter (at least
     * 496 bytes) larger than asked is taken: in a thread's mix of sizes the
     * exact class is often empty, and every miss takes the fit lock. */
    unsigned c = mc_class(need);
    size_t over = need / MC_OVER_SHARE > MC_OVER_MIN ? need / MC_OVER_SHARE : MC_OVER_MIN;
    unsigned last = need + over > MC_MAX ? MC_CLASSES - 1 : mc_class(need + over);
    void *p = NULL;
    size_t sz = 0;
    for (unsigned k = c; k <= last && !p; k++) {
        if (!mc->n[k]) continue;
        p = mc->slot[k][mc->n[k] - 1];
        sz = snug_fit_cached_size(p);           /* checks the head: an overflow while cached */
        if (sz < need) p = NULL;
        else c = k;
    }
    if (!p) return NULL;
    if (!blk_cached((uintptr_t)p))              /* its mark is gone: written after free */
        snug_fatal("freed block overwritten (write after free):", p, sz - SNUG_WORD);
    mc->n[c]--;
    ((uint64_t *)p)[1] = 0;
    snug_own_sub(&mc->bytes, sz);
    snug_own_sub(&mc->blocks, 1);
    return p;
}

int mcache_push(struct mcache *mc, void *p)
{
    size_t sz = snug_fit_checked_size(p, "free(): invalid pointer");   /* fatal on a marked block */
    if (sz > MC_MAX || sz < MC_MIN) return 0;
    unsigned c = mc_class(sz);
    /* A second free after a write wiped its mark: the block is still here. */
    for (unsigned k = 0; k < mc->n[c]; k++)
        if (mc->slot[c][k] == p) snug_fatal("double free of", p, sz - SNUG_WORD);
    if (mc->n[c] == MC_DEPTH || mc->bytes + sz > MC_BUDGET) return 0;
    ((uint64_t *)p)[1] = blk_cache_mark((uintptr_t)p);
    mc->slot[c][mc->n[c]++] = p;
    snug_own_add(&mc->bytes, sz);
    snug_own_add(&mc->blocks, 1);
    return 1;
}

void mcache_flush(struct mcache *mc)
{
    for (unsigned c = 0; c < MC_CLASSES; c++)
        while (mc->n[c]) {
            void *p = mc->slot[c][--mc->n[c]];
            size_t sz = snug_fit_cached_size(p);
            if (!blk_cached((uintptr_t)p)) snug_fatal("freed block overwritten (write after free):", p, sz - SNUG_WORD);
            ((uint64_t *)p)[1] = 0;
            snug_own_sub(&mc->bytes, sz);
            snug_own_sub(&mc->blocks, 1);
            snug_fit_free(p);
        }
}

struct mcache *mcache_new(void)
{
    snug_fit_caches_on();
    struct mcache *mc = snug_fit_meta_alloc(sizeof *mc);
    if (mc) memset(mc, 0, sizeof *mc);
    return mc;
}
