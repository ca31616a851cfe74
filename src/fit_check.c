/* fit_check.c - the heap checker's walk of the fit allocator: for every arena,
 * every block of each of its regions (I1-I5) and the region table (I6), every bin (I4) and every park
 * list (K1), its page stash (K2), and the counts they keep, under the arena's lock.  It only
 * reads; check.c calls it. */
#include "park.h"

/* Arena fit (its lock held). */
static int arena_check(int (*page_check)(uintptr_t page, size_t bytes))
{
    int rc = 0;
    size_t nfree = 0, freebytes = 0, nparked = 0, parkedbytes = 0, nregions = 0;
    int seen_top = 0;
    for (struct region *r = atomic_load(&snug_regions); r && !rc; r = atomic_load(&r->next)) {
        if (r->arena != fit) continue;
        nregions++;
        /* I6: the table names r for every granule it spans (or has no entry
         * for r at all, when r found no aligned room). */
        if (r != atomic_load(&snug_regions) && snug_rtab) {
            uintptr_t lastg = (atomic_load_explicit(&r->end, memory_order_relaxed) - 1) >> RTAB_SHIFT;
            for (uintptr_t g = r->start >> RTAB_SHIFT; g <= lastg && g < RTAB_N && !rc; g++) {
                struct region *e = atomic_load(&snug_rtab[g]);
                if (e != r && !(e == NULL && __atomic_load_n(&snug_regions_unlisted, __ATOMIC_RELAXED)))
                    rc = snug_check_fail("region table names another region (I6)", g << RTAB_SHIFT);
            }
            if (rc) break;
        }
        uintptr_t end = atomic_load_explicit(&r->end, memory_order_relaxed), b = r->first;
        struct pmap *m = atomic_load(&r->map);
        int prev_inuse = 1;
        if ((end - r->start) >> SNUG_OSPAGE_SHIFT > m->cap) { rc = snug_check_fail("page map too small", end); break; }
        while (b < end - WORD) {
            if (!blk_tag_ok(b, blk_word(b))) { rc = snug_check_fail("block head tag wrong: overwritten head (I1)", b); break; }
            uint64_t h = blk_head(b);
            size_t sz = (size_t)(h & ~BLK_FLAGS);
            if (sz < MIN_BLOCK || (sz & BLK_FLAGS) || sz > end - WORD - b) { rc = snug_check_fail("bad block size (I1)", b); break; }
            if (!!(h & BLK_PREV_INUSE) != prev_inuse) { rc = snug_check_fail("PREV_INUSE disagrees (I2)", b); break; }
            if (!(h & BLK_INUSE)) {
                if (!prev_inuse) { rc = snug_check_fail("adjacent free blocks (I3)", b); break; }
                if (blk_prev_foot(b + sz) != sz) { rc = snug_check_fail("foot differs from head (I3)", b); break; }
                int found = 0;
                if (b == fit->top) {
                    found = r == fit->last && b + sz == end - WORD;
                    seen_top = 1;
                } else {
                    for (fblock *f = fit->bins[bin_index(sz)]; f; f = fb_next(f)) if ((uintptr_t)f == b) { found = 1; break; }
                }
                if (!found) { rc = snug_check_fail("free block missing from its bin, or a top that is not one (I4)", b); break; }
                nfree++; freebytes += sz;
            } else if (h & BLK_FREED) {        /* parked (K1) */
                int found = 0;
                for (fblock *f = fit->park[park_index(sz)]; f && !found; f = park_next(f)) found = (uintptr_t)f == b;
                if (!found) { rc = snug_check_fail("parked block missing from its list (K1)", b); break; }
                nparked++; parkedbytes += sz;
            }
            /* I5: map bytes of the OS pages whose start lies inside this payload. */
            uintptr_t pg = snug_align_up(b + WORD, SNUG_OSPAGE);
            size_t k = 0;
            for (; pg + SNUG_OSPAGE <= b + sz + WORD && pg < end; pg += SNUG_OSPAGE, k++) {
                unsigned v = m->kind[(pg - r->start) >> SNUG_OSPAGE_SHIFT];
                unsigned want = (h & BLK_PAGE) ? (unsigned)k + 1 : 0;
                if ((h & BLK_PAGE) && ((b + WORD) & (SNUG_OSPAGE - 1))) { rc = snug_check_fail("unaligned small page (I5)", b); break; }
                if (v != want) { rc = snug_check_fail("page map byte wrong (I5)", pg); break; }
            }
            if (rc) break;
            if ((h & BLK_PAGE) && page_check && page_check(b + WORD, sz) != 0) { rc = -1; break; }
            prev_inuse = !!(h & BLK_INUSE);
            b += sz;
        }
        if (!rc && b != end - WORD) rc = snug_check_fail("blocks overrun the region end (I1)", b);
        if (!rc && !blk_tag_ok(end - WORD, blk_word(end - WORD))) rc = snug_check_fail("sentinel head overwritten (I1)", end - WORD);
        if (!rc && !!(blk_head(end - WORD) & BLK_PREV_INUSE) != prev_inuse) rc = snug_check_fail("sentinel PREV_INUSE (I2)", end - WORD);
    }
    if (!rc && fit->top && !seen_top) rc = snug_check_fail("the top names no free block (I4)", fit->top);
    if (!rc) {
        size_t listed = fit->top ? 1 : 0;
        for (unsigned i = 0; i < NBINS && !rc; i++) {
            int bit = !!(fit->bits[i / 64] & ((uint64_t)1 << (i % 64)));
            if (bit != !!fit->bins[i]) rc = snug_check_fail("bin bitmap disagrees (I4)", i);
            fblock *prev = NULL;
            for (fblock *f = fit->bins[i]; f && !rc; prev = f, f = fb_next(f)) {
                if (prev && fb_prev(f) != prev) rc = snug_check_fail("bin list links broken (I4)", (uintptr_t)f);
                else if (!blk_tag_ok((uintptr_t)f, f->head) || bin_index(blk_size((uintptr_t)f)) != i || (f->head & BLK_INUSE)) rc = snug_check_fail("block on wrong bin (I4)", (uintptr_t)f);
                if (++listed > nfree) rc = snug_check_fail("bins hold blocks the heap walk did not see (I4)", (uintptr_t)f);
            }
        }
        if (!rc && (listed != nfree || fit->free_blocks != nfree || fit->free_bytes != freebytes))
            rc = snug_check_fail("free counts disagree (I4)", nfree);
    }
    if (!rc) {
        size_t listed = 0;
        for (unsigned q = 0; q < NPARK && !rc; q++) {
            if (!!(fit->park_bits[q / 64] & ((uint64_t)1 << (q % 64))) != !!fit->park[q])
                rc = snug_check_fail("parked list bitmap disagrees (K1)", q);
            for (fblock *f = fit->park[q]; f && !rc; f = park_next(f)) {
                uint64_t h = f->head;
                if (!blk_tag_ok((uintptr_t)f, h) || !blk_parked(h) ||
                    park_index((size_t)(h & (BLK_VALUE & ~BLK_FLAGS))) != q)
                    rc = snug_check_fail("block on a parked list is not parked there (K1)", (uintptr_t)f);
                else if (++listed > nparked) rc = snug_check_fail("parked lists hold blocks the heap walk did not see (K1)", (uintptr_t)f);
            }
        }
        if (!rc && (listed != nparked || fit->park_n != nparked || fit->park_bytes != parkedbytes))
            rc = snug_check_fail("parked counts disagree (K1)", nparked);
    }
    if (!rc && nregions != fit->ext->nregions) rc = snug_check_fail("arena's region count disagrees", nregions);
    /* The page stash (pages.c): pages of arena 0's regions, each an in-use page
     * block of its list's size, with intact links, as many bytes as counted. */
    size_t stashed = 0;
    for (int s = 0; s < 3 && !rc; s++)
        for (fblock *f = fit->ext->stash[s]; f && !rc; f = fb_link(f, f->next_enc, LINK_STASH)) {
            uintptr_t b = (uintptr_t)f - WORD;
            uint64_t h = blk_head(b);
            if ((h & (BLK_PAGE | BLK_INUSE)) != (BLK_PAGE | BLK_INUSE) || blk_size(b) < ((size_t)SNUG_OSPAGE << s) ||
                ((uintptr_t)f & (SNUG_OSPAGE - 1)) || region_of(b) == NULL || region_of(b)->arena != fit_arena0)
                rc = snug_check_fail("stashed page is not a page block of its size (K2)", (uintptr_t)f);
            else if ((stashed += (size_t)SNUG_OSPAGE << s) > fit->ext->stash_bytes)
                rc = snug_check_fail("page stash holds more than it counts (K2)", (uintptr_t)f);
        }
    if (!rc && stashed != fit->ext->stash_bytes) rc = snug_check_fail("page stash counts disagree (K2)", stashed);
    return rc;
}

int snug_fit_check(int (*page_check)(uintptr_t page, size_t bytes))
{
    int rc = 0;
    for (struct fit_state *a = fit_arena0; a && !rc; a = atomic_load(&a->ext->next_arena)) {
        arena_lock(a);
        rc = arena_check(page_check);
        arena_unlock(a);
    }
    return rc;
}
