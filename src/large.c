/* large.c - one mapping per large block.  Layout of a mapping:
 *     [ ... padding ... | struct lhead | payload ............ ]
 * The payload is at least 64 bytes in and aligned as asked.  The registry maps
 * payload address -> nothing (a set); it is what makes free() of a pointer snug
 * never returned, or a second free of a large block, a clean fatal error.
 * A freed mapping is kept a while for reuse (the cache, below). */
#include "large.h"
#include "tuning.h"
#include "config.h"
#include "error.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "retain.h"
#include "relaxed.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

struct lhead {
    uintptr_t check;        /* payload ^ secret; first, so an overflow from below hits it */
    uintptr_t map;          /* start of the mapping */
    size_t maplen;          /* its length */
    size_t usable;          /* payload bytes */
    size_t asked;           /* bytes last asked for (a reused mapping may hold more) */
    unsigned flags;         /* LH_GUARDED, LH_REUSED, LH_JOINED */
    uintptr_t check2;       /* ~check; last, so an underflow out of the payload hits it */
};
#define LARGE_OFF 64
#define LH_GUARDED 1u       /* secure mode's guard pages: never cached */
#define LH_REUSED  2u       /* the mapping came from the cache: not zero */
#define LH_JOINED  4u       /* the block's range may span two kernel mappings: never mremap'd (lcache_take) */

static snug_lock_t large_lock = SNUG_LOCK_INIT;
static uintptr_t *table;            /* open addressing: 0 empty, p live, p|1 freed (a tombstone) */
static size_t tcap, tcount, tdeleted;
static size_t nblocks, nbytes;     /* nbytes is read without the lock too (large_bytes_now) */

static size_t slot_of(uintptr_t p) { return (size_t)((p >> 12) * 0x9E3779B97F4A7C15ull) & (tcap - 1); }

/* 1: p is live at *at; 2: p was freed (tombstone at *at); 0: unknown. */
static int table_find(uintptr_t p, size_t *at)
{
    if (!tcap) return 0;
    for (size_t i = slot_of(p), n = 0; n < tcap; i = (i + 1) & (tcap - 1), n++) {
        if (table[i] == p) { *at = i; return 1; }
        if (table[i] == (p | 1)) { *at = i; return 2; }
        if (table[i] == 0) return 0;
    }
    return 0;
}

/* Make room for one more entry; -1 when the table cannot grow. */
static int table_reserve(void)
{
    if ((tcount + tdeleted + 1) * 4 <= tcap * 3) return 0;
    /* Tombstones (freed addresses) are kept so a late second free is named as
     * one, unless they outnumber the live blocks by far. */
    int keep = tdeleted <= 2 * tcount + 1024;
    size_t want = (tcount + (keep ? tdeleted : 0) + 1) * 2, ncap = 512;
    while (ncap < want) ncap *= 2;
    uintptr_t *nt = snug_os_map(ncap * sizeof *nt);
    if (!nt) return -1;
    uintptr_t *old = table;
    size_t ocap = tcap;
    table = nt; tcap = ncap; tdeleted = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i] > 1 && (keep || !(old[i] & 1))) {
            if (old[i] & 1) tdeleted++;
            size_t j = slot_of(old[i]);
            while (table[j]) j = (j + 1) & (tcap - 1);
            table[j] = old[i];
        }
    if (old) snug_os_unmap(old, ocap * sizeof *old, ocap * sizeof *old);
    return 0;
}

/* Insert p (room reserved); a tombstone of the same address is reused, so a
 * reused address is never reported as freed. */
static void table_insert(uintptr_t p)
{
    size_t j;
    if (table_find(p, &j) == 2) { table[j] = p; tcount++; tdeleted--; return; }
    j = slot_of(p);
    while (table[j]) j = (j + 1) & (tcap - 1);     /* other addresses' tombstones stay */
    table[j] = p;
    tcount++;
}

static struct lhead *head_of(uintptr_t p) { return (struct lhead *)(p - sizeof(struct lhead)); }
static int head_ok(uintptr_t p) { const struct lhead *h = head_of(p); return h->check == (p ^ (uintptr_t)snug_secret) && h->check2 == ~h->check; }

/* The cache: mappings of freed large blocks, kept up to decay_ms (and at most
 * LCACHE_N mappings, and as many bytes as large_retain allows: decay_max, more
 * for a program seen to map again soon after a mapping could not be kept) in
 * case a block of about that size is asked for again: a buffer grown and
 * dropped in a loop, or buffers of 5-25 MiB replaced one by one, get their
 * pages back without faulting them in anew.  The smallest that fits is
 * reused whole; when none fits, the largest grows to the request, its pages
 * kept (below, above or moved: lcache_take).  Checked on every large
 * call and every 64th medium malloc (large_cache_poll); malloc_trim drops
 * them all.  Lock held for all of these. */
static struct lcached { uintptr_t map; size_t len; uint64_t since; unsigned joined; } lcache[LCACHE_N];
static _Atomic unsigned lcache_n;      /* (read without the lock as a hint) */
static size_t lcache_bytes;
static struct retain large_retain;

/* Entry i taken out of the cache. */
static struct lcached lcache_remove(unsigned i)
{
    struct lcached c = lcache[i];
    lcache[i] = lcache[--lcache_n];
    lcache_bytes -= c.len;
    return c;
}

static void lcache_unmap(unsigned i)
{
    struct lcached c = lcache_remove(i);
    snug_os_unmap((void *)c.map, c.len, c.len);
}

static void lcache_expire(uint64_t now)
{
    int idle = 0;
    for (unsigned i = lcache_n; i-- > 0;)
        if (now - lcache[i].since >= snug_opt.decay_ms) {
            lcache_unmap(i);
            idle = 1;
        }
    if (idle) retain_idle(&large_retain);
}

/* Keep a freed mapping (joined: LH_JOINED's); 0 when it must be unmapped instead. */
static int lcache_put(uintptr_t map, size_t len, unsigned joined)
{
    if (!snug_opt.decay_ms) return 0;
    uint64_t now = snug_os_now_ms();
    size_t keep = retain_keep(&large_retain);
    if (len > keep) {
        retain_cut(&large_retain, len, now);
        return 0;
    }
    lcache_expire(now);
    while (lcache_n && (lcache_n == LCACHE_N || lcache_bytes + len > keep)) {
        unsigned old = 0;
        for (unsigned i = 1; i < lcache_n; i++) if (lcache[i].since < lcache[old].since) old = i;
        if (lcache_n < LCACHE_N) retain_cut(&large_retain, lcache[old].len, now);
        lcache_unmap(old);
    }
    lcache[lcache_n++] = (struct lcached){ map, len, now, joined };
    lcache_bytes += len;
    snug_os_wait_begun();
    return 1;
}

/* A kept mapping for a block of len bytes, taken out: the smallest that holds
 * it (whole); else the largest, grown to len (its pages kept); 0 when none is
 * kept or can grow.  *joined: whether the range may span two kernel mappings. */
static uintptr_t lcache_take(size_t len, size_t *got, unsigned *joined)
{
    lcache_expire(snug_os_now_ms());
    unsigned best = LCACHE_N, big = LCACHE_N, one = LCACHE_N;     /* (one: the largest that is one mapping) */
    for (unsigned i = 0; i < lcache_n; i++) {
        if (lcache[i].len >= len && (best == LCACHE_N || lcache[i].len < lcache[best].len)) best = i;
        if (big == LCACHE_N || lcache[i].len > lcache[big].len) big = i;
        if (!lcache[i].joined && (one == LCACHE_N || lcache[i].len > lcache[one].len)) one = i;
    }
    if (best != LCACHE_N) {
        struct lcached c = lcache_remove(best);
        *got = c.len;
        *joined = c.joined;
        return c.map;
    }
    if (big == LCACHE_N) return 0;
    /* Grown where the address space is free: below it (where the kernel puts
     * new mappings), else above it in place.  Moved by mremap only when
     * neither is: that keeps the pages but not the cost of reaching them
     * under a hypervisor that shadows page tables (each moved page faults
     * again there: about half a fresh page's cost, measured on the bench
     * machine).  A range grown below is two kernel mappings unless the
     * kernel merged them (it does when the upper one never moved): an mremap
     * of it fails, and qemu-user unmaps the range when an mremap that may
     * move fails, so such a range (LH_JOINED) is never mremap'd again: it
     * grows below, or the largest other range grows above or moves. */
    size_t more = len - lcache[big].len;
    uintptr_t at = lcache[big].map;
    if (at > more && snug_os_map_at((void *)(at - more), more)) {
        lcache_remove(big);
        *got = len;
        *joined = 1;
        return at - more;
    }
    if (one == LCACHE_N) return 0;
    struct lcached c = lcache_remove(one);
    *got = len;
    *joined = 0;
    if (snug_os_extend((void *)c.map, c.len, len) == 0) return c.map;
    void *m = snug_os_remap((void *)c.map, c.len, len);
    if (!m) {
        snug_os_unmap((void *)c.map, c.len, c.len);
        return 0;
    }
    return (uintptr_t)m;
}

int large_kept_any(void) { return atomic_load_explicit(&lcache_n, memory_order_relaxed) != 0; }

int large_kept_holds(size_t n)
{
    if (!atomic_load_explicit(&lcache_n, memory_order_relaxed)) return 0;
    size_t len = snug_align_up(n + LARGE_OFF, SNUG_OSPAGE);
    int any = 0;
    snug_lock(&large_lock);
    for (unsigned i = 0; i < lcache_n && !any; i++) any = lcache[i].len >= len;
    snug_unlock(&large_lock);
    return any;
}

int large_cache_poll(void)
{
    if (!atomic_load_explicit(&lcache_n, memory_order_relaxed)) return 0;
    snug_lock(&large_lock);
    lcache_expire(snug_os_now_ms());
    int any = lcache_n != 0;
    snug_unlock(&large_lock);
    return any;
}

int large_cache_drop(void)
{
    if (!atomic_load_explicit(&lcache_n, memory_order_relaxed)) return 0;
    snug_lock(&large_lock);
    int any = lcache_n != 0;
    while (lcache_n) lcache_unmap(lcache_n - 1);
    snug_unlock(&large_lock);
    return any;
}

int large_reused(const void *p) { return (head_of((uintptr_t)p)->flags & LH_REUSED) != 0; }

static void *large_place(size_t n, size_t align, int guarded, int reuse)
{
    if (align < SNUG_ALIGN) align = SNUG_ALIGN;
    size_t off = align > LARGE_OFF ? align : LARGE_OFF;
    if (n > (size_t)PTRDIFF_MAX - off - 3 * SNUG_OSPAGE || align > (size_t)PTRDIFF_MAX / 2) { errno = ENOMEM; return NULL; }
    size_t extra = align > SNUG_OSPAGE ? align : 0;      /* mmap gives only page alignment */
    size_t guard = guarded ? SNUG_OSPAGE : 0;
    size_t len = snug_align_up(n + off + extra, SNUG_OSPAGE) + 2 * guard;
    char *m = NULL;
    unsigned flags = guarded ? LH_GUARDED : 0;
    if (reuse) {
        size_t got = 0;
        unsigned joined = 0;
        if (!atomic_load_explicit(&lcache_n, memory_order_relaxed)) return NULL;
        snug_lock(&large_lock);
        m = (char *)lcache_take(len, &got, &joined);
        snug_unlock(&large_lock);
        if (!m) return NULL;
        len = got;
        flags |= LH_REUSED | (joined ? LH_JOINED : 0);
    } else {
        if (!guarded) {
            snug_lock(&large_lock);
            retain_regrow(&large_retain, snug_os_now_ms());
            snug_unlock(&large_lock);
        }
        m = snug_os_map(len);
        if (!m) return NULL;
    }
    uintptr_t p;
    if (guarded) {
        /* Inaccessible pages on both sides; the payload ends at the upper one. */
        if (mprotect(m, guard, PROT_NONE) != 0 || mprotect(m + len - guard, guard, PROT_NONE) != 0) {
            snug_os_unmap(m, len, len);
            errno = ENOMEM;
            return NULL;
        }
        p = ((uintptr_t)m + len - guard - n) & ~(uintptr_t)(align - 1);
    } else {
        p = snug_align_up((uintptr_t)m + off, align);
    }
    struct lhead *h = head_of(p);
    h->map = (uintptr_t)m;
    h->maplen = len;
    h->usable = (uintptr_t)m + len - guard - p;
    h->asked = n;
    h->flags = flags;
    h->check = p ^ (uintptr_t)snug_secret;
    h->check2 = ~h->check;
    snug_lock(&large_lock);
    if (table_reserve() != 0) {
        snug_unlock(&large_lock);
        snug_os_unmap(m, len, len);
        errno = ENOMEM;
        return NULL;
    }
    table_insert(p);
    nblocks++;
    snug_own_add(&nbytes, h->usable);
    snug_unlock(&large_lock);
    return (void *)p;
}

void *large_alloc(size_t n, size_t align, int guarded) { return large_place(n, align, guarded, 0); }
void *large_reuse(size_t n, size_t align) { return large_place(n, align, 0, 1); }

static void table_delete(size_t at) { table[at] |= 1; tcount--; tdeleted++; }

/* Lock held.  p's header must be intact, and so must the header of a large
 * block mapped right after p's mapping (where an overflow out of p lands). */
static void check_heads(uintptr_t p, const char *op)
{
    struct lhead *h = head_of(p);
    if (!head_ok(p)) snug_fatal(op, (void *)p, 0);
    uintptr_t q = h->map + h->maplen + LARGE_OFF;
    size_t at;
    if (table_find(q, &at) == 1 && !head_ok(q))
        snug_fatal("heap overflow: the header of the large block after this one is overwritten, block",
                   (void *)p, h->usable);
}

int large_free(void *p)
{
    size_t at;
    snug_lock(&large_lock);
    int state = table_find((uintptr_t)p, &at);
    if (state != 1) {
        snug_unlock(&large_lock);
        if (state == 2) snug_fatal("double free of large block", p, 0);
        return 0;
    }
    struct lhead *h = head_of((uintptr_t)p);
    check_heads((uintptr_t)p, "free(): large block header overwritten at");
    table_find((uintptr_t)p, &at);
    table_delete(at);
    nblocks--;
    snug_own_sub(&nbytes, h->usable);
    uintptr_t m = h->map;
    size_t len = h->maplen;
    int kept = !(h->flags & LH_GUARDED) && lcache_put(m, len, h->flags & LH_JOINED);
    snug_unlock(&large_lock);
    if (!kept) snug_os_unmap((void *)m, len, len);
    return 1;
}

size_t large_usable(const void *p, const char *op)
{
    size_t at, u = 0;
    snug_lock(&large_lock);
    int state = table_find((uintptr_t)p, &at);
    if (state == 1) u = head_of((uintptr_t)p)->usable;
    snug_unlock(&large_lock);
    if (state == 2) snug_fatal_freed(op, p, 0);
    return u;
}

size_t large_request(const void *p, const char *op, size_t *asked)
{
    size_t at, u = 0;
    snug_lock(&large_lock);
    int state = table_find((uintptr_t)p, &at);
    if (state == 1) {
        u = head_of((uintptr_t)p)->usable;
        *asked = head_of((uintptr_t)p)->asked;
    }
    snug_unlock(&large_lock);
    if (state == 2) snug_fatal_freed(op, p, 0);
    return u;
}

void *large_realloc(void *p, size_t n, int *refused)
{
    size_t at;
    *refused = 0;
    snug_lock(&large_lock);
    if (table_find((uintptr_t)p, &at) != 1) snug_fatal("realloc(): invalid pointer", p, 0);
    check_heads((uintptr_t)p, "realloc(): large block header overwritten at");
    struct lhead *h = head_of((uintptr_t)p);
    size_t off = (uintptr_t)p - h->map;
    if (n > (size_t)PTRDIFF_MAX - off - SNUG_OSPAGE) { snug_unlock(&large_lock); *refused = 1; return NULL; }
    size_t len = snug_align_up(n + off, SNUG_OSPAGE);
    /* The mapping holds n already (it may be a bigger one reused): a block
     * that grows keeps it; one that shrinks keeps it unless more than half of
     * it would go unused. */
    if (len <= h->maplen && (n >= h->asked || len * 2 > h->maplen)) {
        h->asked = n;
        snug_unlock(&large_lock);
        return p;
    }
    /* Only blocks whose payload offset keeps its alignment under any address
     * move, and never a range that may span two mappings (lcache_take): the
     * caller copies these. */
    if ((off > SNUG_OSPAGE && ((uintptr_t)p & (SNUG_OSPAGE - 1)) != 0) || (h->flags & LH_JOINED)) {
        snug_unlock(&large_lock);
        return NULL;
    }
    int saved = errno;
    char *m = NULL;
    if (table_reserve() == 0) {
        table_find((uintptr_t)p, &at);                  /* the table may have been rebuilt */
        m = snug_os_remap((void *)h->map, h->maplen, len);
    }
    if (!m) {
        snug_unlock(&large_lock);
        errno = saved;
        *refused = 1;
        return NULL;
    }
    uintptr_t q = (uintptr_t)m + off;
    if (q != (uintptr_t)p) table_delete(at);
    struct lhead *nh = head_of(q);
    snug_own_sub(&nbytes, nh->usable);
    nh->map = (uintptr_t)m;
    nh->maplen = len;
    nh->usable = len - off;
    nh->asked = n;
    nh->flags &= ~LH_REUSED;            /* realloc keeps contents, and calloc is done with it */
    nh->check = q ^ (uintptr_t)snug_secret;
    nh->check2 = ~nh->check;
    snug_own_add(&nbytes, nh->usable);
    if (q != (uintptr_t)p) table_insert(q);
    snug_unlock(&large_lock);
    return (void *)q;
}

void large_totals(size_t *blocks, size_t *bytes)
{
    snug_lock(&large_lock);
    *blocks = nblocks;
    *bytes = nbytes;
    snug_unlock(&large_lock);
}

size_t large_bytes_now(void) { return snug_rload(&nbytes); }

void large_fork_prepare(void) { snug_lock(&large_lock); }
void large_fork_parent(void) { snug_unlock(&large_lock); }
void large_fork_child(void) { snug_lock_reset(&large_lock); }
/* (the child keeps the parent's cache: the mappings were copied with it) */

int large_check(void)
{
    int rc = 0;
    size_t n = 0;
    snug_lock(&large_lock);
    for (size_t i = 0; i < tcap && !rc; i++) {
        if (!table[i] || (table[i] & 1)) continue;
        struct lhead *h = head_of(table[i]);
        n++;
        if (!head_ok(table[i]) || table[i] + h->usable > h->map + h->maplen)
            rc = snug_check_fail("large block header damaged (L1)", table[i]);
    }
    if (!rc && n != nblocks) rc = snug_check_fail("large block count differs (L1)", n);
    size_t kept = 0;
    for (unsigned i = 0; i < lcache_n && i < LCACHE_N; i++) kept += lcache[i].len;
    if (!rc && (lcache_n > LCACHE_N || kept != lcache_bytes || kept > retain_keep(&large_retain)))
        rc = snug_check_fail("kept large mappings miscounted (L2)", lcache_n);
    snug_unlock(&large_lock);
    return rc;
}

void large_each(void (*fn)(uintptr_t p, size_t usable, void *arg), void *arg)
{
    snug_lock(&large_lock);
    for (size_t i = 0; i < tcap; i++)
        if (table[i] && !(table[i] & 1)) fn(table[i], head_of(table[i])->usable, arg);
    snug_unlock(&large_lock);
}
