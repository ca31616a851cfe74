/* replay_check.c - snug-replay's checking run: every payload byte filled with a pattern
 * of (id, offset) and checked before it is freed or moved, alignment, usable size, calloc
 * zeroes, overlaps; and, in the same run, the utilization, the RSS and the series. */
#include "replay.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- payload pattern: a function of (id, offset) only ---------------- */

static inline uint64_t pat_word(uint32_t id, size_t word)
{
    uint64_t x = ((uint64_t)id + 1) * 0x9E3779B97F4A7C15ull;
    return x ^ ((uint64_t)word * 0xD6E8FEB86659FD93ull) ^ (x >> 29);
}

static inline unsigned char pat_byte(uint32_t id, size_t off)
{
    uint64_t w = pat_word(id, off / 8);
    return (unsigned char)(w >> (8 * (off % 8)));
}

/* Fill [from, to) of block id with its pattern. */
static void fill(unsigned char *p, uint32_t id, size_t from, size_t to)
{
    size_t i = from;
    for (; i < to && (i % 8); i++)
        p[i] = pat_byte(id, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = pat_word(id, i / 8);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++)
        p[i] = pat_byte(id, i);
}

/* Returns the first offset in [0, n) that differs from the pattern, or n. */
static size_t check(const unsigned char *p, uint32_t id, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != pat_word(id, i / 8))
            break;
    }
    for (; i < n; i++)
        if (p[i] != pat_byte(id, i))
            return i;
    return n;
}

static void verify(struct state *s, uint32_t id, size_t n, const char *when)
{
    size_t bad = check(s->ptr[id], id, n);
    if (bad < n)
        error_at(s, "block %u (%p, %zu bytes) corrupted at offset %zu %s", id,
                 (void *)s->ptr[id], s->size[id], bad, when);
}

/* ---------------- the live blocks ---------------- */

/* Insert id (ptr/span set) into the live set; reports an overlap instead of inserting. */
static void tree_insert(struct state *s, uint32_t id)
{
    uint32_t o = live_insert(&s->live, id, s->cur_op);
    if (o != NIL)
        error_at(s, "block %u [%p, +%zu) overlaps live block %u [%p, +%zu)", id,
                 (void *)s->ptr[id], s->span[id], o, (void *)s->ptr[o], s->span[o]);
}

/* What the checking run keeps between ops. */
struct run {
    struct state *s;
    struct series *ser;         /* NULL without --series and --plot */
    struct heapmap *hm;         /* NULL without --plot */
    size_t payload, usable_sum; /* live now: requested bytes, usable bytes */
    size_t peak, usable_at_peak, peak_op;
    size_t rss_base, rss_max, heap_base, last_sample, sampled_peak;
    size_t gc_now, gc_peak, gc_collections;
    long long gc_delta;         /* --gc: how snug_gc_heap_bytes() moves without a collection */
    size_t frag_op;             /* the payload's peak (find_peak_op); SIZE_MAX with --system */
    size_t free_at_peak, largest_free_at_peak, slot_free_at_peak;
};

static size_t need_align(size_t size)
{
    if (!opt_system)
        return MIN_ALIGN;
    size_t a = 1;                    /* largest power of two <= size, capped */
    while (a * 2 <= size && a < MIN_ALIGN)
        a *= 2;
    return a;
}

/* The block for an op on a dead id; *bytes is its payload.  --gc: sets off and gcext. */
static unsigned char *new_block(struct state *s, const struct trace_op *op, size_t *bytes)
{
    uint32_t id = op->id;
    unsigned char *p;
    *bytes = trace_op_bytes(op);
    if (opt_gc) {
        size_t ext = gc_ext(*bytes);
        s->off[id] = 0;
        if (op->kind == TOP_ALIGNED)
            p = gc_aligned(s, id, op->arg, op->size, &ext);
        else if (op->kind == TOP_CALLOC)
            p = gc_calloc(op->arg, op->size);
        else
            p = snug_gc_malloc_atomic(op->size);
        s->gcext[id] = p ? ext : 0;
        return p;
    }
    switch (op->kind) {
    case TOP_CALLOC:  return tested->calloc(op->arg, op->size);
    case TOP_ALIGNED: return do_aligned(tested, op->arg, op->size);
    case TOP_REALLOC: return tested->realloc(NULL, op->size);
    default:          return tested->malloc(op->size);
    }
}

static size_t usable_of(struct state *s, uint32_t id, unsigned char *p)
{
    if (opt_gc)
        return snug_usable_size(p - s->off[id]) - s->off[id];
    return tested->usable(p);
}

/* A new block arrived for op (id dead before). */
static void took(struct run *r, const struct trace_op *op, unsigned char *p, size_t bytes)
{
    struct state *s = r->s;
    uint32_t id = op->id;
    if (!p) {
        error_at(s, "%c of %zu bytes for id %u returned NULL", op->kind, bytes, id);
        return;
    }
    size_t align = op->kind == TOP_ALIGNED && op->arg > need_align(bytes) ? op->arg
                                                                          : need_align(bytes);
    if ((uintptr_t)p % align)
        error_at(s, "block %u at %p is not %zu-aligned", id, (void *)p, align);
    size_t u = usable_of(s, id, p);
    if (u < bytes)
        error_at(s, "block %u: usable size %zu < requested %zu", id, u, bytes);
    if (op->kind == TOP_CALLOC) {
        for (size_t i = 0; i < bytes; i++)
            if (p[i]) {
                error_at(s, "calloc block %u (%p, %zu bytes) not zero at offset %zu", id,
                         (void *)p, bytes, i);
                break;
            }
    }
    s->ptr[id] = p;
    s->size[id] = bytes;
    s->span[id] = u > bytes ? u : bytes ? bytes : 1;
    fill(p, id, 0, bytes);
    tree_insert(s, id);
    r->payload += bytes;
    r->usable_sum += u;
}

static void gone(struct run *r, uint32_t id)
{
    struct state *s = r->s;
    live_remove(&s->live, id);
    r->payload -= s->size[id];
    r->usable_sum -= usable_of(s, id, s->ptr[id]);
    s->ptr[id] = NULL;
}

/* ---------------- one op ---------------- */

/* An allocation, or a realloc of a dead id. */
static void op_new(struct run *r, const struct trace_op *op)
{
    size_t bytes;
    unsigned char *p = new_block(r->s, op, &bytes);
    if (opt_gc && p)
        r->gc_delta = (long long)r->s->gcext[op->id];
    took(r, op, p, bytes);
}

static void op_free(struct run *r, uint32_t id)
{
    struct state *s = r->s;
    if (!s->ptr[id])
        return;                         /* its allocation failed (reported) */
    verify(s, id, s->size[id], "before free");
    unsigned char *p = s->ptr[id];
    gone(r, id);
    tested->free(p);                    /* --gc: nothing; the slot is clear */
}

/* The realloc of live block id to n bytes returned q (not NULL): check what it kept. */
static void realloc_done(struct run *r, uint32_t id, unsigned char *p, unsigned char *q,
                          size_t n)
{
    struct state *s = r->s;
    size_t old = s->size[id];
    s->ptr[id] = q;
    size_t keep = old < n ? old : n;
    size_t bad = check(q, id, keep);
    if (bad < keep)
        error_at(s, "realloc of block %u (%zu -> %zu bytes, %p -> %p) lost its "
                 "contents at offset %zu", id, old, n, (void *)p, (void *)q, bad);
    size_t u = usable_of(s, id, q);
    if ((uintptr_t)q % need_align(n))
        error_at(s, "block %u at %p is not %zu-aligned", id, (void *)q, need_align(n));
    if (u < n)
        error_at(s, "block %u: usable size %zu < requested %zu", id, u, n);
    fill(q, id, keep, n);
    s->size[id] = n;
    s->span[id] = u > n ? u : n;
    tree_insert(s, id);
    r->payload += n;
    r->usable_sum += u;
}

/* A realloc of a live id (its contents checked first). */
static void op_realloc(struct run *r, const struct trace_op *op)
{
    struct state *s = r->s;
    uint32_t id = op->id;
    verify(s, id, s->size[id], "before realloc");
    unsigned char *p = s->ptr[id];
    size_t old = s->size[id];
    size_t old_usable = usable_of(s, id, p);
    size_t old_ext = opt_gc ? s->gcext[id] : 0;
    live_remove(&s->live, id);
    if (op->size == 0) {                /* --gc: dropped like a free */
        if (!opt_gc) {
            unsigned char *q = tested->realloc(p, 0);
            if (q)
                tested->free(q);
        }
        r->payload -= old;
        r->usable_sum -= old_usable;
        s->ptr[id] = NULL;
        return;
    }
    unsigned char *q = opt_gc ? gc_resize(s, id, p, op->size) : tested->realloc(p, op->size);
    if (!q) {
        error_at(s, "realloc of block %u to %zu bytes returned NULL", id, op->size);
        tree_insert(s, id);              /* the old block stays valid */
        return;
    }
    if (opt_gc)
        r->gc_delta = (long long)s->gcext[id] - (long long)old_ext;
    r->payload -= old;
    r->usable_sum -= old_usable;
    realloc_done(r, id, p, q, op->size);
}

static void run_op(struct run *r, const struct trace_op *op)
{
    switch (op->kind) {
    case TOP_ALLOC:
    case TOP_CALLOC:
    case TOP_ALIGNED:
        op_new(r, op);
        break;
    case TOP_FREE:
        op_free(r, op->id);
        break;
    case TOP_REALLOC:
        if (!r->s->ptr[op->id])
            op_new(r, op);
        else
            op_realloc(r, op);
        break;
    }
}

/* ---------------- measuring along the way ---------------- */

/* The heap and RSS baselines, after trimming (and collecting) what came before. */
static void run_baseline(struct run *r)
{
    struct snug_stats st;
    if (opt_system) {
        malloc_trim(0);
    } else {
        if (opt_gc)
            snug_gc_collect();
        snug_trim(0);
        snug_stats_reset_peak();
        if (snug_stats(&st) == 0)
            r->heap_base = st.heap_bytes;
        else
            warn_at(r->s, "snug_stats failed");
        if (opt_gc)
            r->gc_now = r->gc_peak = snug_gc_heap_bytes();
    }
    r->rss_base = r->rss_max = rss_anon();
}

/* --gc: snug_gc_heap_bytes() after op; a drop beyond what the op gave back is a collection. */
static void count_collections(struct run *r)
{
    size_t g = snug_gc_heap_bytes();
    if ((long long)g < (long long)r->gc_now + r->gc_delta)
        r->gc_collections++;            /* only a collection gives bytes back */
    r->gc_now = g;
    if (g > r->gc_peak)
        r->gc_peak = g;
}

static void add_sample(struct run *r, size_t i, size_t rss)
{
    struct snug_stats st;
    struct sample *x = &r->ser->v[r->ser->n++];
    x->op = i + 1;
    x->payload = r->payload;
    x->rss = (long long)rss - (long long)r->rss_base;
    x->gc = r->gc_now;
    x->heap = 0;
    if (!opt_system && snug_stats(&st) == 0)
        x->heap = (long long)st.heap_bytes - (long long)r->heap_base;
}

/* Samples RssAnon every 256 ops and at new payload peaks (see replay.c), and the series. */
static void sample_op(struct run *r, size_t i)
{
    struct series *ser = r->ser;
    int sample = (i % 256) == 0;
    if (r->payload > r->peak) {
        r->peak = r->payload;
        r->usable_at_peak = r->usable_sum;
        r->peak_op = i;
        if (i - r->last_sample >= 16 || r->payload - r->sampled_peak > r->sampled_peak / 64)
            sample = 1;
    }
    int series_point = ser && (i % ser->every == 0 || i + 1 == r->s->t->nops)
                       && ser->n < ser->cap;
    if (sample || series_point) {
        size_t rss = rss_anon();
        if (rss > r->rss_max)
            r->rss_max = rss;
        r->last_sample = i;
        if (r->peak > r->sampled_peak)
            r->sampled_peak = r->peak;
        if (series_point)
            add_sample(r, i, rss);
    }
}

/* External fragmentation at the payload's peak, from snug's heap walk: the free spans of
 * the fit allocator (free blocks and region tops; each span is one block: free blocks
 * never touch, their heads lie between) and, apart, the free slots of small pages, which
 * serve only their size class. */
static void free_span(const void *start, size_t bytes, enum snug_span_kind kind, void *arg)
{
    struct run *r = arg;
    (void)start;
    if (kind == SNUG_SPAN_FREE) {
        r->free_at_peak += bytes;
        if (bytes > r->largest_free_at_peak)
            r->largest_free_at_peak = bytes;
    } else if (kind == SNUG_SPAN_SLOT_FREE) {
        r->slot_free_at_peak += bytes;
    }
}

static void after_op(struct run *r, size_t i, const struct trace_op *op)
{
    if (i == r->frag_op)
        snug_heap_walk(free_span, r);
    if (opt_check && !opt_system && snug_heap_check() != 0) {
        fprintf(stderr, "snug-replay: %s: snug_heap_check failed after op %zu (%c %u)\n",
                r->s->name, i, op->kind, op->id);
        abort();
    }
    if (opt_gc)
        count_collections(r);
    sample_op(r, i);
    if (r->hm)
        heapmap_at(r->hm, i, r->payload, r->usable_sum, r->heap_base, r->gc_now);
}

/* ---------------- the end of the run ---------------- */

/* Utilization and fragmentation from what the run saw; snug's own counts cross-checked. */
static void run_results(struct run *r, struct result *res)
{
    struct state *s = r->s;
    struct snug_stats st;
    res->peak_payload = r->peak;
    res->peak_op = r->peak_op;
    res->usable_at_peak = r->usable_at_peak;
    res->heap_rss = r->rss_max - r->rss_base;
    res->heap_base = r->heap_base;
    res->gc_collections = r->gc_collections;
    res->gc_heap_peak = r->gc_peak;
    if (opt_system) {
        res->heap = res->heap_rss;
    } else if (snug_stats(&st) == 0) {
        res->heap = st.heap_peak >= r->heap_base ? st.heap_peak - r->heap_base : 0;
        if (!opt_gc && (st.live_bytes != r->usable_sum || st.live_blocks != s->t->live_at_end))
            warn_at(s, "snug_stats after the last op: live_bytes %zu, live_blocks %zu; "
                    "the replayer counts %zu usable bytes in %zu blocks",
                    st.live_bytes, st.live_blocks, r->usable_sum, s->t->live_at_end);
        if (st.heap_peak < st.heap_bytes)
            warn_at(s, "snug_stats: heap_peak %zu < heap_bytes %zu", st.heap_peak,
                    st.heap_bytes);
    }
    res->efrag_known = r->frag_op != SIZE_MAX;
    res->free_at_peak = r->free_at_peak;
    res->largest_free_at_peak = r->largest_free_at_peak;
    res->slot_free_at_peak = r->slot_free_at_peak;
    res->efrag = r->free_at_peak ? 1 - (double)r->largest_free_at_peak / (double)r->free_at_peak : 0;
    res->util = res->heap ? (double)r->peak / (double)res->heap : 0;
    res->ifrag = res->heap ? (double)(r->usable_at_peak - r->peak) / (double)res->heap : 0;
}

/* Check and free (--gc: drop) what the trace left live. */
static void run_drain(struct run *r, struct result *res)
{
    struct state *s = r->s;
    struct snug_stats st;
    s->cur_op = s->t->nops;
    for (size_t id = 0; id < s->t->num_ids; id++) {
        if (!s->ptr[id])
            continue;
        verify(s, (uint32_t)id, s->size[id], "at the end of the trace");
        unsigned char *p = s->ptr[id];
        gone(r, (uint32_t)id);
        tested->free(p);
    }
    if (opt_gc) {
        snug_gc_collect();
        res->gc_retained = snug_gc_heap_bytes();
    } else if (!opt_system && snug_stats(&st) == 0 && (st.live_blocks || st.live_bytes)) {
        warn_at(s, "snug_stats after freeing everything: live_blocks %zu, live_bytes %zu",
                st.live_blocks, st.live_bytes);
    }
}

void check_run(struct state *s, struct result *res, struct series *ser, struct heapmap *hm)
{
    const struct trace *t = s->t;
    struct run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.ser = ser;
    r.hm = hm;
    r.frag_op = opt_system || !t->nops ? SIZE_MAX : find_peak_op(s);
    run_baseline(&r);
    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        s->cur_op = i;
        r.gc_delta = 0;
        run_op(&r, op);
        after_op(&r, i, op);
        if (!(i & 0xffff))
            progress(s, "checking run, op", i, t->nops);
    }
    size_t rss = rss_anon();
    if (rss > r.rss_max)
        r.rss_max = rss;
    run_results(&r, res);
    run_drain(&r, res);
}
