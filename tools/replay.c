/* replay.c - snug-replay: replays traces against snug (snug_* API) or, with --system,
 * the process's malloc; reports peak utilization, internal fragmentation, throughput,
 * and counts every correctness error (exit status 1 when there is any).
 *
 * Per trace (each in a fresh child process unless --no-fork):
 *  1. A checking run.  Every payload byte is filled with a pattern made from the
 *     block's id and the byte's offset, and checked before free/realloc; realloc
 *     must keep min(old,new) bytes; calloc memory must be zero; every pointer must
 *     be 16-aligned (8 on 32-bit) -- for --system only as far as the size needs
 *     (malloc(8) may be 8-aligned there); aligned requests must honour their
 *     alignment; usable size >= request; no two live blocks [p, p+max(usable,size,1))
 *     may overlap (exact: live blocks are kept in a treap ordered by address).
 *     Blocks still live after the last op are checked and freed.
 *  2. Utilization, measured in that run: U = max_i P_i / H, P_i = live payload
 *     (requested bytes) after op i, H = the heap high-water during the trace:
 *       snug:    snug_stats().heap_peak - heap_bytes at the start, after
 *                snug_trim(0) and snug_stats_reset_peak() in the fresh child.  The
 *                replayer's own memory is mmap'd directly (map_realloc), so H is
 *                what snug took from the kernel for this trace, metadata included;
 *                its start-up footprint (heap_base) is not charged to the trace.
 *       system:  growth of RssAnon (/proc/self/status) over its value just before
 *                the first op, when the trace and all bookkeeping are loaded and
 *                touched and malloc_trim(0) has run.  Sampled every 256 ops, at new
 *                payload peaks (at most every 16 ops unless the peak grew by 1/64),
 *                and after the last op.  The kernel's RSS counters are batched per
 *                CPU, so small heaps (< ~1 MiB) carry a visible error.
 *     The RSS growth is reported for snug too (heap_rss), for an even comparison.
 *     Internal fragmentation: sum of usable sizes minus payload at the op where the
 *     payload peaked, as bytes and as a share of H.
 *  3. Throughput: -n N timing runs (default 3), each touching only the first and
 *     last byte of each block; ops/second of the fastest.  Leftover blocks are freed
 *     after the clock stops.
 * `r ID 0` on a live id calls realloc(p, 0) (a block it might return is freed);
 * `m` uses posix_memalign (memalign for alignments below sizeof(void *)).
 *
 * --gc replays through snug's collector (snug_gc_*): every allocation is
 * snug_gc_malloc_atomic (payloads hold no pointers), calloc is that plus memset, realloc
 * is snug_gc_realloc, and a free -- `f ID` or `r ID 0` -- only clears the id's slot: the
 * block becomes garbage for the collector.  The id -> pointer table is an mmap'd array
 * registered with snug_gc_add_roots, so exactly the blocks the trace still holds are
 * reachable; nothing else of the replayer's (trace, sizes, treap: mmap'd, not roots)
 * points into the GC heap.  An aligned request (`m`, alignment above 16) over-allocates
 * and keeps an interior pointer in the table (interior pointers keep blocks alive); its
 * offset is kept in a side table for realloc.  Every check above still applies, so a
 * block collected while still referenced shows up as a payload or overlap error.  H is
 * snug_stats().heap_peak as in the explicit mode: it includes the garbage not collected
 * yet and the collector's index.  Collections are counted exactly: the replayer predicts
 * snug_gc_heap_bytes() after every op of the checking run, and a smaller value means the
 * op ran a collection.
 *
 * --series FILE writes, every N ops (--every N) of the checking run, a line
 * `trace op payload heap rss gc`: the live payload, snug_stats().heap_bytes minus the
 * base (`-` with --system), the RssAnon growth, and snug_gc_heap_bytes() (`-` unless
 * --gc).  --plot FILE.svg draws snug's heap (snug_heap_walk) at the op where the live
 * payload first reaches its peak, and the series.  Samples, the heap map's cells and the
 * output buffer are mmap'd and touched before the baseline, so they are not measured.
 */
#include "snug.h"
#include "trace_format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if UINTPTR_MAX > 0xffffffffu
#define MIN_ALIGN 16u
#else
#define MIN_ALIGN 8u
#endif

#define MAX_REPORTED_ERRORS 10

/* ---------------- options ---------------- */

static int opt_reps = 3, opt_system, opt_check, opt_json, opt_quiet, opt_nofork, opt_verbose;
static int opt_gc;                      /* --gc: through snug's collector */
static const char *opt_series;          /* --series FILE */
static size_t opt_every;                /* --every N (0: about 1000 samples per trace) */
static const char *opt_plot;            /* --plot FILE.svg */
static size_t opt_plot_op;              /* --plot-op N: after N ops, not at the peak (0) */
static int multi_trace;                 /* more than one trace on the command line */

/* ---------------- the allocator under test ---------------- */

static size_t sys_usable(const void *p) { return malloc_usable_size((void *)p); }

struct api {
    const char *name;
    void *(*malloc)(size_t);
    void  (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int   (*posix_memalign)(void **, size_t, size_t);
    void *(*memalign)(size_t, size_t);
    size_t (*usable)(const void *);
};

static const struct api snug_api = {
    "snug", snug_malloc, snug_free, snug_calloc, snug_realloc,
    snug_posix_memalign, snug_memalign, snug_usable_size,
};
static const struct api sys_api = {
    "system", malloc, free, calloc, realloc, posix_memalign, memalign, sys_usable,
};
/* --gc: a free drops the reference (the caller clears the id's slot); calloc zeroes an
 * atomic block itself (snug_gc_malloc zeroes too, but its blocks are scanned). */
static void gc_drop(void *p) { (void)p; }
static void *gc_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = snug_gc_malloc_atomic(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}
static const struct api gc_api = {
    "snug-gc", snug_gc_malloc_atomic, gc_drop, gc_calloc, snug_gc_realloc,
    NULL, NULL, snug_usable_size,
};
static const struct api *A;

/* The collector's granule: GC blocks are multiples of it and aligned to it.  Measured
 * once (replay_one) as what a 1-byte block adds to snug_gc_heap_bytes(). */
static size_t gc_gran = 16;

/* The extent the collector gives a request of n bytes (snug_gc_heap_bytes counts these). */
static inline size_t gc_ext(size_t n)
{
    return n ? (n + gc_gran - 1) & ~(gc_gran - 1) : gc_gran;
}

static void gc_probe_granule(void)
{
    size_t g0 = snug_gc_heap_bytes();
    void *volatile p = snug_gc_malloc_atomic(1);
    size_t g = snug_gc_heap_bytes() - g0;
    if (p && g >= sizeof(void *) && !(g & (g - 1)))
        gc_gran = g;
    p = NULL;
}

static void *do_aligned(size_t align, size_t size)
{
    if (align < sizeof(void *))
        return A->memalign(align, size);
    void *p = NULL;
    return A->posix_memalign(&p, align, size) == 0 ? p : NULL;
}

/* ---------------- per-trace result (sent from the child to the parent) ---------------- */

struct result {
    int      ok;                /* 1 when the replay ran to the end */
    size_t   nops, num_ids;
    size_t   peak_payload;      /* max_i P_i */
    size_t   heap;              /* H */
    size_t   heap_base;         /* snug: heap_bytes before the first op */
    size_t   heap_rss;          /* RssAnon growth (both modes) */
    size_t   usable_at_peak;    /* sum of usable sizes when P peaked */
    double   util;              /* peak_payload / heap */
    double   ifrag;             /* (usable_at_peak - peak_payload) / heap */
    double   best_secs;         /* fastest timing run, 0 when none */
    double   ops_per_sec;
    unsigned long errors, warnings;
    size_t   peak_op;           /* first op after which the payload was at its peak */
    size_t   gc_collections;    /* --gc: collections during the checking run */
    size_t   gc_heap_peak;      /* --gc: max snug_gc_heap_bytes() during the checking run */
    size_t   gc_retained;       /* --gc: snug_gc_heap_bytes() after dropping every block and
                                   collecting (conservatively retained) */
    char     msg[200];          /* why it failed to load, when !ok */
};

/* ---------------- replay state ---------------- */

struct state {
    const struct trace *t;
    const char *name;
    unsigned char **ptr;    /* per id: the block, NULL when dead (--gc: the root table) */
    uint32_t *off;          /* --gc: per id, payload offset in its block (aligned requests) */
    size_t *gcext;          /* --gc: per id, the collector's extent of its block */
    size_t *size;           /* per id: payload bytes */
    size_t *span;           /* per id: bytes the block covers (max(usable, size, 1)) */
    uint32_t *left, *right, *prio;   /* treap by address, nodes = ids */
    unsigned char *intree;
    uint32_t root;
    unsigned long errors, warnings;
    size_t cur_op;
};

#define NIL UINT32_MAX

__attribute__((format(printf, 2, 3)))
static void error_at(struct state *s, const char *fmt, ...)
{
    s->errors++;
    if (s->errors > MAX_REPORTED_ERRORS && !opt_verbose) {
        if (s->errors == MAX_REPORTED_ERRORS + 1)
            fprintf(stderr, "%s: more errors follow, not shown (-v shows all)\n", s->name);
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: op %zu: error: %s\n", s->name, s->cur_op, msg);
}

__attribute__((format(printf, 2, 3)))
static void warn_at(struct state *s, const char *fmt, ...)
{
    s->warnings++;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: warning: %s\n", s->name, msg);
}

/* ---- treap of live blocks ordered by address ---- */

static uint32_t treap_merge(struct state *s, uint32_t a, uint32_t b)
{
    if (a == NIL)
        return b;
    if (b == NIL)
        return a;
    if (s->prio[a] > s->prio[b]) {
        s->right[a] = treap_merge(s, s->right[a], b);
        return a;
    }
    s->left[b] = treap_merge(s, a, s->left[b]);
    return b;
}

/* Split t into keys < key (*l) and keys >= key (*r). */
static void treap_split(struct state *s, uint32_t t, uintptr_t key, uint32_t *l, uint32_t *r)
{
    if (t == NIL) {
        *l = *r = NIL;
        return;
    }
    if ((uintptr_t)s->ptr[t] < key) {
        treap_split(s, s->right[t], key, &s->right[t], r);
        *l = t;
    } else {
        treap_split(s, s->left[t], key, l, &s->left[t]);
        *r = t;
    }
}

static uint32_t prio_of(uint32_t id, size_t op)
{
    uint64_t x = ((uint64_t)id << 32) ^ (uint64_t)op;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* Insert id (ptr/span set); reports an overlap instead of inserting. */
static void tree_insert(struct state *s, uint32_t id)
{
    uintptr_t lo = (uintptr_t)s->ptr[id], hi = lo + s->span[id];
    /* predecessor: greatest start <= lo; successor: least start > lo */
    uint32_t pred = NIL, succ = NIL, t = s->root;
    while (t != NIL) {
        if ((uintptr_t)s->ptr[t] <= lo) {
            pred = t;
            t = s->right[t];
        } else {
            succ = t;
            t = s->left[t];
        }
    }
    if (pred != NIL && (uintptr_t)s->ptr[pred] + s->span[pred] > lo) {
        error_at(s, "block %u [%p, +%zu) overlaps live block %u [%p, +%zu)", id,
                 (void *)s->ptr[id], s->span[id], pred, (void *)s->ptr[pred], s->span[pred]);
        return;
    }
    if (succ != NIL && hi > (uintptr_t)s->ptr[succ]) {
        error_at(s, "block %u [%p, +%zu) overlaps live block %u [%p, +%zu)", id,
                 (void *)s->ptr[id], s->span[id], succ, (void *)s->ptr[succ], s->span[succ]);
        return;
    }
    uint32_t l, r;
    treap_split(s, s->root, lo, &l, &r);
    s->left[id] = s->right[id] = NIL;
    s->prio[id] = prio_of(id, s->cur_op);
    s->root = treap_merge(s, treap_merge(s, l, id), r);
    s->intree[id] = 1;
}

static uint32_t treap_remove_rec(struct state *s, uint32_t t, uint32_t id)
{
    if (t == NIL)
        return NIL;                  /* not found: cannot happen */
    if (t == id)
        return treap_merge(s, s->left[t], s->right[t]);
    if ((uintptr_t)s->ptr[id] < (uintptr_t)s->ptr[t])
        s->left[t] = treap_remove_rec(s, s->left[t], id);
    else
        s->right[t] = treap_remove_rec(s, s->right[t], id);
    return t;
}

static void tree_remove(struct state *s, uint32_t id)
{
    if (!s->intree[id])
        return;
    s->root = treap_remove_rec(s, s->root, id);
    s->intree[id] = 0;
}

/* ---- payload pattern: a function of (id, offset) only ---- */

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

/* ---------------- measuring RSS ---------------- */

static int status_fd = -1;

static size_t rss_anon(void)
{
    char buf[4096];
    if (status_fd < 0)
        status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (status_fd < 0)
        return 0;
    ssize_t n = pread(status_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strstr(buf, "RssAnon:");
    if (!p)
        return 0;
    return (size_t)strtoull(p + 8, NULL, 10) * 1024;
}

/* ---------------- the replayer's own memory ---------------- */

/* Every block is its own mapping, so the allocator under test (snug, or with
 * --system the process's malloc) sees none of the replayer's work: no memory it
 * freed before the baseline can be reused by the trace and hide heap growth. */
#define MAP_HDR 16
static void *map_realloc(void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - MAP_HDR - page)
        return NULL;
    size_t len = (n + MAP_HDR + page - 1) & ~(page - 1);
    char *m;
    if (!p) {
        m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    } else {
        char *old = (char *)p - MAP_HDR;
        size_t oldlen;
        memcpy(&oldlen, old, sizeof oldlen);
        if (len <= oldlen)
            return p;
        m = mremap(old, oldlen, len, MREMAP_MAYMOVE);
    }
    if (m == MAP_FAILED)
        return NULL;
    memcpy(m, &len, sizeof len);
    return m + MAP_HDR;
}

static void map_free(void *p)
{
    if (!p)
        return;
    char *m = (char *)p - MAP_HDR;
    size_t len;
    memcpy(&len, m, sizeof len);
    munmap(m, len);
}

/* Zeroed (fresh mappings are). */
static void *xcalloc(size_t n, size_t size)
{
    if (n && size > SIZE_MAX / n)
        n = SIZE_MAX;
    void *p = map_realloc(NULL, n * size);
    if (!p) {
        fprintf(stderr, "snug-replay: out of memory\n");
        exit(2);
    }
    return p;
}

/* ---------------- series samples (--series, --plot) ---------------- */

struct sample {
    size_t op, payload, gc;
    long long heap;         /* snug: heap_bytes - heap_base; unused with --system */
    long long rss;          /* RssAnon - its base */
};

struct series {
    struct sample *v;
    size_t n, cap, every;
};

static size_t series_every(size_t nops)
{
    if (opt_every)
        return opt_every;
    return nops >= 2000 ? nops / 1000 : 1;
}

/* Raw output through a buffer, without stdio (whose buffers come from malloc). */
struct out {
    int fd, err;
    size_t n;
    char buf[1 << 15];
};

static void out_flush(struct out *o)
{
    size_t done = 0;
    while (done < o->n && !o->err) {
        ssize_t w = write(o->fd, o->buf + done, o->n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            o->err = 1;
        else
            done += (size_t)w;
    }
    o->n = 0;
}

__attribute__((format(printf, 2, 3)))
static void outf(struct out *o, const char *fmt, ...)
{
    if (sizeof o->buf - o->n < 1024)
        out_flush(o);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->n, sizeof o->buf - o->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->n += (size_t)k < sizeof o->buf - o->n ? (size_t)k : sizeof o->buf - o->n - 1;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static struct out *out_buffer(void)
{
    static struct out *o;
    if (!o)
        o = xcalloc(1, sizeof *o);
    return o;
}

/* Appends the trace's samples to the --series file (its header was written by main). */
static void series_write(struct state *s, const struct series *ser)
{
    struct out *o = out_buffer();
    o->fd = open(opt_series, O_WRONLY | O_APPEND | O_CLOEXEC);
    o->err = 0;
    o->n = 0;
    if (o->fd < 0) {
        warn_at(s, "--series %s: %s", opt_series, strerror(errno));
        return;
    }
    const char *name = base_name(s->name);
    for (size_t k = 0; k < ser->n; k++) {
        const struct sample *x = &ser->v[k];
        char heap[32] = "-", gc[32] = "-";
        if (!opt_system)
            snprintf(heap, sizeof heap, "%lld", x->heap);
        if (opt_gc)
            snprintf(gc, sizeof gc, "%zu", x->gc);
        outf(o, "%s\t%zu\t%zu\t%s\t%lld\t%s\n", name, x->op, x->payload, heap, x->rss, gc);
    }
    out_flush(o);
    if (o->err)
        warn_at(s, "--series %s: write failed", opt_series);
    close(o->fd);
}

/* ---------------- the heap picture (--plot) ---------------- */

/* Kinds as drawn: snug's span kinds, plus the free top of each region ("untouched"). */
enum { K_USED, K_FREE, K_SLOT, K_META, K_LARGE, K_TOP, NKINDS };
static const char *const kind_name[NKINDS] = {
    "allocated", "free (fit)", "free small slots", "metadata", "large mappings",
    "free region top",
};
static const char *const kind_color[NKINDS] = {
    "#3b6fb6", "#f2b134", "#9fd49a", "#444444", "#9467bd", "#e8e8e8",
};

#define MAP_COLS  1024          /* cells per row at the finest resolution */
#define MAP_ROWS  64            /* at most */
#define MAP_SEGS  256           /* region / mapping boundaries remembered */
#define MAP_RECTS 4000          /* the SVG's rectangles at most (beside one per row) */

struct heapmap {
    uint32_t (*cell)[NKINDS];   /* MAP_COLS * MAP_ROWS cells: bytes of each kind */
    size_t want_op;             /* take the picture after this op */
    int taken;
    /* the walk */
    int pass;
    uintptr_t prev_end;
    size_t logical;             /* bytes walked so far (gaps between mappings skipped) */
    size_t total, cell_bytes, ncells;
    size_t kind_bytes[NKINDS];
    size_t nseg, seg_at[MAP_SEGS];      /* logical offsets where a new mapping begins */
    size_t ntop, top_at[MAP_SEGS];      /* logical starts of free region tops */
    size_t top_next;
    int last_free;              /* pass 1: the current segment's last span is free */
    size_t last_free_at;
    int in_large;
    /* the moment */
    size_t op, payload, usable, heap_bytes, heap_base, gc_bytes;
};

static void walk_span(const void *start, size_t bytes, enum snug_span_kind kind, void *arg)
{
    struct heapmap *m = arg;
    uintptr_t a = (uintptr_t)start;
    int newseg = m->logical && a != m->prev_end;
    m->prev_end = a + bytes;
    if (m->pass == 1) {
        if (newseg && m->nseg < MAP_SEGS)
            m->seg_at[m->nseg++] = m->logical;
        if (newseg && m->last_free && m->ntop < MAP_SEGS)
            m->top_at[m->ntop++] = m->last_free_at;
        m->last_free = kind == SNUG_SPAN_FREE;
        m->last_free_at = m->logical;
        m->logical += bytes;
        return;
    }
    int k;
    switch (kind) {
    case SNUG_SPAN_USED:      k = K_USED; break;
    case SNUG_SPAN_FREE:      k = K_FREE; break;
    case SNUG_SPAN_SLOT_FREE: k = K_SLOT; break;
    case SNUG_SPAN_LARGE:     k = K_LARGE; break;
    default:                  k = K_META; break;
    }
    while (m->top_next < m->ntop && m->top_at[m->top_next] < m->logical)
        m->top_next++;
    if (k == K_FREE && m->top_next < m->ntop && m->top_at[m->top_next] == m->logical)
        k = K_TOP;
    m->kind_bytes[k] += bytes;
    size_t off = m->logical;
    m->logical += bytes;
    while (bytes) {
        size_t c = off / m->cell_bytes;
        size_t take = (c + 1) * m->cell_bytes - off;
        if (take > bytes)
            take = bytes;
        if (c < m->ncells)
            m->cell[c][k] += (uint32_t)take;
        off += take;
        bytes -= take;
    }
}

/* Walks the heap twice: once to size the map (and find the region tops), once to fill it. */
static void heapmap_take(struct heapmap *m)
{
    m->pass = 1;
    m->logical = 0;
    m->prev_end = 0;
    m->nseg = m->ntop = 0;
    m->last_free = 0;
    snug_heap_walk(walk_span, m);
    if (m->last_free && m->ntop < MAP_SEGS)
        m->top_at[m->ntop++] = m->last_free_at;
    m->total = m->logical;
    size_t cells = (size_t)MAP_COLS * MAP_ROWS;
    size_t cb = (m->total + cells - 1) / cells;
    cb = (cb + MIN_ALIGN - 1) & ~(size_t)(MIN_ALIGN - 1);
    m->cell_bytes = cb < MIN_ALIGN ? MIN_ALIGN : cb;
    m->ncells = (m->total + m->cell_bytes - 1) / m->cell_bytes;
    if (m->ncells > cells)
        m->ncells = cells;
    m->pass = 2;
    m->logical = 0;
    m->prev_end = 0;
    m->top_next = 0;
    memset(m->kind_bytes, 0, sizeof m->kind_bytes);
    snug_heap_walk(walk_span, m);
    m->taken = 1;
}

static void svg_escape(struct out *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': outf(o, "&lt;"); break;
        case '>': outf(o, "&gt;"); break;
        case '&': outf(o, "&amp;"); break;
        case '"': outf(o, "&quot;"); break;
        default: outf(o, "%c", *s);
        }
    }
}

static void human(char *buf, size_t len, double bytes)
{
    if (bytes >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= 1024.0 * 1024)
        snprintf(buf, len, "%.2f MiB", bytes / (1024.0 * 1024));
    else if (bytes >= 1024.0)
        snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
    else
        snprintf(buf, len, "%.0f B", bytes);
}

/* The dominant kind of cells [c, c + f) at the finest resolution, -1 when past the end. */
static int cell_kind(const struct heapmap *m, size_t c, size_t f)
{
    if (c >= m->ncells)
        return -1;
    uint64_t sum[NKINDS] = {0};
    for (size_t j = c; j < c + f && j < m->ncells; j++)
        for (int k = 0; k < NKINDS; k++)
            sum[k] += m->cell[j][k];
    int best = 0;
    for (int k = 1; k < NKINDS; k++)
        if (sum[k] > sum[best])
            best = k;
    return best;
}

/* Rectangles the map needs with f finest cells per drawn cell (a background per row). */
static size_t map_rects(const struct heapmap *m, size_t f, int emit, struct out *o, int kind,
                        double x0, double y0, double cw, double rh)
{
    size_t cols = MAP_COLS / f, rects = 0;
    size_t rows = (m->ncells + MAP_COLS - 1) / MAP_COLS;
    for (size_t r = 0; r < rows; r++) {
        /* background: the most frequent kind of the row */
        size_t count[NKINDS] = {0};
        size_t used = 0;
        for (size_t c = 0; c < cols; c++) {
            int k = cell_kind(m, r * MAP_COLS + c * f, f);
            if (k < 0)
                break;
            count[k]++;
            used++;
        }
        int bg = 0;
        for (int k = 1; k < NKINDS; k++)
            if (count[k] > count[bg])
                bg = k;
        if (emit && bg == kind && used)
            outf(o, "M%.1f %.1fh%.1fv%.1fh-%.1fz", x0, y0 + r * rh, used * cw, rh - 1,
                 used * cw);
        for (size_t c = 0; c < used;) {
            int k = cell_kind(m, r * MAP_COLS + c * f, f);
            size_t e = c + 1;
            while (e < used && cell_kind(m, r * MAP_COLS + e * f, f) == k)
                e++;
            if (k != bg) {
                rects++;
                if (emit && k == kind)
                    outf(o, "M%.1f %.1fh%.1fv%.1fh-%.1fz", x0 + c * cw, y0 + r * rh,
                         (e - c) * cw, rh - 1, (e - c) * cw);
            }
            c = e;
        }
    }
    return rects;
}

static void plot_path(char *buf, size_t len, const char *tmpl, const char *trace)
{
    if (!multi_trace) {
        snprintf(buf, len, "%s", tmpl);
        return;
    }
    /* several traces: FILE.svg -> FILE-TRACE.svg (TRACE without .rep) */
    char tn[256];
    snprintf(tn, sizeof tn, "%s", base_name(trace));
    char *dot = strstr(tn, ".rep");
    if (dot)
        *dot = 0;
    size_t n = strlen(tmpl);
    if (n > 4 && !strcmp(tmpl + n - 4, ".svg"))
        snprintf(buf, len, "%.*s-%s.svg", (int)(n - 4), tmpl, tn);
    else
        snprintf(buf, len, "%s-%s.svg", tmpl, tn);
}

static void svg_polyline(struct out *o, const struct series *ser, int which, double x0,
                         double y0, double w, double h, double xmax, double ymax,
                         const char *color, const char *dash)
{
    outf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s%s%s points=\"", color,
         dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    for (size_t k = 0; k < ser->n; k++) {
        const struct sample *x = &ser->v[k];
        double v = which == 0 ? (double)x->payload : which == 1 ? (double)x->heap
                 : which == 2 ? (double)x->rss : (double)x->gc;
        if (v < 0)
            v = 0;
        outf(o, "%.1f,%.1f ", x0 + (double)x->op / xmax * w, y0 + h - v / ymax * h);
    }
    outf(o, "\"/>\n");
}

static void plot_write(struct state *s, const struct heapmap *m, const struct series *ser,
                       const struct result *res)
{
    char path[4096], b1[32], b2[32], b3[32];
    plot_path(path, sizeof path, opt_plot, s->name);
    struct out *o = out_buffer();
    o->err = 0;
    o->n = 0;
    o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        warn_at(s, "--plot %s: %s", path, strerror(errno));
        return;
    }
    const double W = 1000, X0 = 96, MW = 872;
    size_t f = 1;
    while (f < MAP_COLS / 64 && map_rects(m, f, 0, NULL, 0, 0, 0, 0, 0) > MAP_RECTS)
        f *= 2;
    size_t rows = (m->ncells + MAP_COLS - 1) / MAP_COLS;
    if (rows == 0)
        rows = 1;
    double rh = 400.0 / (double)rows;
    rh = rh > 14 ? 14 : rh < 5 ? 5 : (double)(int)rh;
    double cw = MW / (double)(MAP_COLS / f);
    double y0 = 104, mh = rows * rh;
    double ly = y0 + mh + 26;                   /* legend */
    double py = ly + 3 * 22 + 40, ph = 230;     /* series panel */
    double H = ser->n ? py + ph + 60 : ly + 3 * 22 + 10;
    const char *font = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

    outf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
         "viewBox=\"0 0 %.0f %.0f\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
         W, H, W, H);
    outf(o, "<g %s fill=\"#222\">\n<text x=\"%.0f\" y=\"26\" font-size=\"16\" "
         "font-weight=\"bold\" text-anchor=\"middle\">", font, W / 2);
    if (opt_plot_op)
        outf(o, "%s heap after op %zu: ", A->name, m->op);
    else
        outf(o, "%s heap at the peak of live payload: ", A->name);
    svg_escape(o, base_name(s->name));
    outf(o, "</text>\n");
    human(b1, sizeof b1, (double)m->payload);
    human(b2, sizeof b2, (double)(m->heap_bytes - m->heap_base));
    human(b3, sizeof b3, (double)m->heap_base);
    outf(o, "<text x=\"%.0f\" y=\"46\" font-size=\"12\" text-anchor=\"middle\" fill=\"#444\">"
         "after op %zu of %zu: live payload %s, heap %s held for the trace "
         "(U here %.1f%%) + %s start-up footprint</text>\n", W / 2, m->op, s->t->nops, b1, b2,
         m->heap_bytes > m->heap_base ? 100.0 * (double)m->payload /
         (double)(m->heap_bytes - m->heap_base) : 0.0, b3);
    human(b1, sizeof b1, (double)m->total);
    human(b2, sizeof b2, (double)m->cell_bytes * (double)f);
    human(b3, sizeof b3, (double)m->cell_bytes * MAP_COLS);
    outf(o, "<text x=\"%.0f\" y=\"62\" font-size=\"12\" text-anchor=\"middle\" fill=\"#444\">"
         "snug_heap_walk: %s in address order, mappings laid end to end (black ticks: a new "
         "region or mapping)</text>\n", W / 2, b1);
    outf(o, "<text x=\"%.0f\" y=\"78\" font-size=\"12\" text-anchor=\"middle\" fill=\"#444\">"
         "one row = %s, one cell = %s, coloured by the kind that fills most of it%s</text>\n",
         W / 2, b3, b2, opt_gc ? "; allocated includes garbage not collected yet" : "");
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">"
         "offset</text>\n", X0 - 6, y0 - 6);
    size_t every = rh >= 10 ? 1 : (size_t)(12 / rh) + 1;
    for (size_t r = 0; r < rows; r += every) {
        human(b1, sizeof b1, (double)r * (double)m->cell_bytes * MAP_COLS);
        outf(o, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%s</text>\n",
             X0 - 6, y0 + r * rh + rh - 2, b1);
    }
    outf(o, "</g>\n");
    for (int k = 0; k < NKINDS; k++) {
        outf(o, "<path fill=\"%s\" d=\"", kind_color[k]);
        map_rects(m, f, 1, o, k, X0, y0, cw, rh);
        outf(o, "\"/>\n");
    }
    /* boundaries between mappings */
    double fcw = MW / (double)MAP_COLS;
    outf(o, "<path stroke=\"#000\" stroke-width=\"2\" d=\"");
    for (size_t i = 0; i < m->nseg; i++) {
        size_t c = m->seg_at[i] / m->cell_bytes;
        outf(o, "M%.1f %.1fv%.1f", X0 + (double)(c % MAP_COLS) * fcw,
             y0 + (double)(c / MAP_COLS) * rh - 2, rh + 3);
    }
    outf(o, "\"/>\n");
    /* legend */
    outf(o, "<g %s font-size=\"12\" fill=\"#222\">\n", font);
    for (int k = 0; k < NKINDS; k++) {
        double lx = X0 + (k % 3) * 300, yy = ly + (k / 3) * 22;
        human(b1, sizeof b1, (double)m->kind_bytes[k]);
        outf(o, "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\" "
             "stroke=\"#999\"/><text x=\"%.0f\" y=\"%.0f\">%s: %s (%.1f%%)</text>\n", lx,
             yy - 11, kind_color[k], lx + 20, yy, kind_name[k], b1,
             m->total ? 100.0 * (double)m->kind_bytes[k] / (double)m->total : 0.0);
    }
    human(b1, sizeof b1, (double)m->payload);
    human(b2, sizeof b2, (double)(m->usable));
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#555\">the trace's live blocks here: %s "
         "requested, %s usable%s</text>\n</g>\n", X0, ly + 2 * 22, b1, b2,
         opt_gc ? "; the rest of \"allocated\" is garbage not collected yet and the "
         "collector's index" : "");
    if (!ser->n)
        goto done;
    /* the series: live payload and heap size over the run */
    {
        double ymax = 1, xmax = (double)(s->t->nops ? s->t->nops : 1);
        for (size_t k = 0; k < ser->n; k++) {
            const struct sample *x = &ser->v[k];
            double v[4] = {(double)x->payload, (double)x->heap, (double)x->rss, (double)x->gc};
            for (int j = 0; j < 4; j++)
                if (v[j] > ymax)
                    ymax = v[j];
        }
        double unit = ymax >= 2.0 * 1024 * 1024 ? 1024.0 * 1024 : 1024.0;
        const char *uname = unit > 1024 ? "MiB" : "KiB";
        double raw = ymax / unit / 5, mag = 1;
        while (mag * 10 <= raw)
            mag *= 10;
        while (mag > raw && mag > 1e-3)
            mag /= 10;
        double step = mag;
        for (int j = 0; j < 4 && step < raw; j++)
            step = mag * (double[]){1, 2, 2.5, 5, 10}[j + 1];
        double ytop = step * (double)(long)(ymax / unit / step + 0.999);
        if (ytop <= 0)
            ytop = 1;
        double PW = MW, PX = X0;
        outf(o, "<g %s font-size=\"11\" fill=\"#222\">\n", font);
        outf(o, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" font-weight=\"bold\">live payload "
             "and heap over the run</text>\n", PX, py - 14);
        outf(o, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
             "stroke=\"#bbb\"/>\n", PX, py, PW, ph);
        for (double v = 0; v <= ytop + step * 1e-6; v += step) {
            double yy = py + ph - v / ytop * ph;
            outf(o, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                 "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", PX, PX + PW, yy,
                 yy, PX - 6, yy + 4, v);
        }
        outf(o, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 %.0f "
             "%.0f)\">%s</text>\n", PX - 52, py + ph / 2, PX - 52, py + ph / 2, uname);
        for (int j = 0; j <= 4; j++) {
            double xx = PX + PW * j / 4;
            outf(o, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", xx,
                 py + ph + 15, xmax * j / 4);
        }
        outf(o, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">op</text>\n", PX + PW / 2,
             py + ph + 32);
        double xp = PX + (double)m->op / xmax * PW;
        outf(o, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#3b6fb6\" "
             "stroke-dasharray=\"4,3\"/><text x=\"%.1f\" y=\"%.0f\" fill=\"#3b6fb6\">"
             "map above</text>\n", xp, xp, py, py + ph, xp + 4, py + 12);
        outf(o, "</g>\n");
        double ys = ytop * unit;
        svg_polyline(o, ser, 2, PX, py, PW, ph, xmax, ys, "#999999", "5,3");
        if (opt_gc)
            svg_polyline(o, ser, 3, PX, py, PW, ph, xmax, ys, "#2ca02c", NULL);
        svg_polyline(o, ser, 1, PX, py, PW, ph, xmax, ys, "#d62728", NULL);
        svg_polyline(o, ser, 0, PX, py, PW, ph, xmax, ys, "#222222", NULL);
        const char *names[4] = {"live payload", "heap (snug_stats, minus start-up)",
                                "RSS growth", "GC heap bytes (snug_gc_heap_bytes)"};
        const char *cols[4] = {"#222222", "#d62728", "#999999", "#2ca02c"};
        double lx = PX;
        outf(o, "<g %s font-size=\"11\" fill=\"#222\">\n", font);
        for (int j = 0; j < 4; j++) {
            if (j == 3 && !opt_gc)
                continue;
            outf(o, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
                 "stroke-width=\"3\"%s/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n", lx, lx + 22,
                 py + ph + 46, py + ph + 46, cols[j], j == 2 ? " stroke-dasharray=\"5,3\"" : "",
                 lx + 27, py + ph + 50, names[j]);
            lx += 40 + 6.2 * (double)strlen(names[j]);
        }
        human(b1, sizeof b1, (double)res->peak_payload);
        human(b2, sizeof b2, (double)res->heap);
        outf(o, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"#555\">peak payload %s, "
             "H %s, U %.1f%%</text>\n</g>\n", PX + PW, py - 14, b1, b2, 100 * res->util);
    }
done:
    outf(o, "</svg>\n");
    out_flush(o);
    if (o->err)
        warn_at(s, "--plot %s: write failed", path);
    close(o->fd);
}

/* The first op after which the live payload (as the checking run counts it) is at its
 * maximum; uses s->span and s->intree as scratch and clears them again. */
static size_t find_peak_op(struct state *s)
{
    const struct trace *t = s->t;
    size_t payload = 0, best = 0, at = 0;
    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        uint32_t id = op->id;
        int live = s->intree[id];
        if (live && (op->kind == TOP_FREE || op->kind == TOP_REALLOC)) {
            payload -= s->span[id];
            s->intree[id] = 0;
        }
        if (op->kind != TOP_FREE && !(op->kind == TOP_REALLOC && live && op->size == 0)) {
            s->span[id] = trace_op_bytes(op);
            s->intree[id] = 1;
            payload += s->span[id];
        }
        if (payload > best) {
            best = payload;
            at = i;
        }
    }
    memset(s->span, 0, t->num_ids * sizeof *s->span);
    memset(s->intree, 0, t->num_ids);
    return at;
}

/* ---------------- the checking run ---------------- */

static size_t need_align(size_t size)
{
    if (!opt_system)
        return MIN_ALIGN;
    size_t a = 1;                    /* largest power of two <= size, capped */
    while (a * 2 <= size && a < MIN_ALIGN)
        a *= 2;
    return a;
}

/* --gc: an alignment above the collector's granule is served from a bigger block; the table
 * keeps the aligned interior pointer, which keeps the block alive. */
static unsigned char *gc_aligned(struct state *s, uint32_t id, size_t align, size_t size,
                                 size_t *ext)
{
    if (align <= gc_gran) {
        s->off[id] = 0;
        *ext = gc_ext(size);
        return snug_gc_malloc_atomic(size);
    }
    if (size > SIZE_MAX - align || align > UINT32_MAX)
        return NULL;
    unsigned char *b = snug_gc_malloc_atomic(size + align - gc_gran);
    if (!b)
        return NULL;
    unsigned char *p = (unsigned char *)(((uintptr_t)b + align - 1) & ~(uintptr_t)(align - 1));
    s->off[id] = (uint32_t)(p - b);
    *ext = gc_ext(size + align - gc_gran);
    return p;
}

/* --gc: resize id's block; the offset of an aligned block is kept. */
static unsigned char *gc_resize(struct state *s, uint32_t id, unsigned char *p, size_t n)
{
    size_t off = s->off[id];
    if (n > SIZE_MAX - off)
        return NULL;
    unsigned char *b = snug_gc_realloc(p - off, off + n);
    if (!b)
        return NULL;
    if (b != p - off)
        s->gcext[id] = gc_ext(off + n);     /* moved; otherwise its extent stays */
    return b + off;
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
    case TOP_CALLOC:  return A->calloc(op->arg, op->size);
    case TOP_ALIGNED: return do_aligned(op->arg, op->size);
    case TOP_REALLOC: return A->realloc(NULL, op->size);
    default:          return A->malloc(op->size);
    }
}

static size_t usable_of(struct state *s, uint32_t id, unsigned char *p)
{
    if (opt_gc)
        return snug_usable_size(p - s->off[id]) - s->off[id];
    return A->usable(p);
}

/* A new block arrived for op (id dead before). */
static void took(struct state *s, const struct trace_op *op, unsigned char *p, size_t bytes,
                 size_t *payload, size_t *usable_sum)
{
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
    *payload += bytes;
    *usable_sum += u;
}

static void gone(struct state *s, uint32_t id, size_t *payload, size_t *usable_sum)
{
    tree_remove(s, id);
    *payload -= s->size[id];
    *usable_sum -= usable_of(s, id, s->ptr[id]);
    s->ptr[id] = NULL;
}

static void check_run(struct state *s, struct result *res, struct series *ser,
                      struct heapmap *hm)
{
    const struct trace *t = s->t;
    size_t payload = 0, usable_sum = 0, peak = 0, usable_at_peak = 0, peak_op = 0;
    size_t rss_base = 0, rss_max = 0, heap_base = 0, last_sample = 0, sampled_peak = 0;
    size_t gc_now = 0, gc_peak = 0, gc_collections = 0;
    struct snug_stats st;

    if (opt_system) {
        malloc_trim(0);
    } else {
        if (opt_gc)
            snug_gc_collect();
        snug_trim(0);
        snug_stats_reset_peak();
        if (snug_stats(&st) == 0)
            heap_base = st.heap_bytes;
        else
            warn_at(s, "snug_stats failed");
        if (opt_gc)
            gc_now = gc_peak = snug_gc_heap_bytes();
    }
    rss_base = rss_max = rss_anon();

    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        uint32_t id = op->id;
        long long gc_delta = 0;     /* --gc: how snug_gc_heap_bytes() moves without a collection */
        size_t bytes;
        unsigned char *p;
        s->cur_op = i;
        switch (op->kind) {
        case TOP_ALLOC:
        case TOP_CALLOC:
        case TOP_ALIGNED:
            p = new_block(s, op, &bytes);
            if (opt_gc && p)
                gc_delta = (long long)s->gcext[id];
            took(s, op, p, bytes, &payload, &usable_sum);
            break;
        case TOP_FREE:
            if (!s->ptr[id])
                break;                      /* its allocation failed (reported) */
            verify(s, id, s->size[id], "before free");
            p = s->ptr[id];
            gone(s, id, &payload, &usable_sum);
            A->free(p);                     /* --gc: nothing; the slot is clear */
            break;
        case TOP_REALLOC:
            if (!s->ptr[id]) {
                p = new_block(s, op, &bytes);
                if (opt_gc && p)
                    gc_delta = (long long)s->gcext[id];
                took(s, op, p, bytes, &payload, &usable_sum);
                break;
            }
            verify(s, id, s->size[id], "before realloc");
            {
                p = s->ptr[id];
                size_t old = s->size[id];
                size_t old_usable = usable_of(s, id, p);
                size_t old_ext = opt_gc ? s->gcext[id] : 0;
                tree_remove(s, id);
                if (op->size == 0) {        /* --gc: dropped like a free */
                    if (!opt_gc) {
                        unsigned char *q = A->realloc(p, 0);
                        if (q)
                            A->free(q);
                    }
                    payload -= old;
                    usable_sum -= old_usable;
                    s->ptr[id] = NULL;
                    break;
                }
                unsigned char *q = opt_gc ? gc_resize(s, id, p, op->size)
                                          : A->realloc(p, op->size);
                if (!q) {
                    error_at(s, "realloc of block %u to %zu bytes returned NULL", id, op->size);
                    tree_insert(s, id);      /* the old block stays valid */
                    break;
                }
                if (opt_gc)
                    gc_delta = (long long)s->gcext[id] - (long long)old_ext;
                payload -= old;
                usable_sum -= old_usable;
                s->ptr[id] = q;
                size_t keep = old < op->size ? old : op->size;
                size_t bad = check(q, id, keep);
                if (bad < keep)
                    error_at(s, "realloc of block %u (%zu -> %zu bytes, %p -> %p) lost its "
                             "contents at offset %zu", id, old, op->size, (void *)p,
                             (void *)q, bad);
                size_t u = usable_of(s, id, q);
                if ((uintptr_t)q % need_align(op->size))
                    error_at(s, "block %u at %p is not %zu-aligned", id, (void *)q,
                             need_align(op->size));
                if (u < op->size)
                    error_at(s, "block %u: usable size %zu < requested %zu", id, u, op->size);
                fill(q, id, keep, op->size);
                s->size[id] = op->size;
                s->span[id] = u > op->size ? u : op->size;
                tree_insert(s, id);
                payload += op->size;
                usable_sum += u;
            }
            break;
        }
        if (opt_check && !opt_system && snug_heap_check() != 0) {
            fprintf(stderr, "snug-replay: %s: snug_heap_check failed after op %zu (%c %u)\n",
                    s->name, i, op->kind, id);
            abort();
        }
        if (opt_gc) {
            size_t g = snug_gc_heap_bytes();
            if ((long long)g < (long long)gc_now + gc_delta)
                gc_collections++;           /* only a collection gives bytes back */
            gc_now = g;
            if (g > gc_peak)
                gc_peak = g;
        }
        int sample = (i % 256) == 0;
        if (payload > peak) {
            peak = payload;
            usable_at_peak = usable_sum;
            peak_op = i;
            if (i - last_sample >= 16 || payload - sampled_peak > sampled_peak / 64)
                sample = 1;
        }
        int series_point = ser && (i % ser->every == 0 || i + 1 == t->nops) && ser->n < ser->cap;
        if (sample || series_point) {
            size_t r = rss_anon();
            if (r > rss_max)
                rss_max = r;
            last_sample = i;
            if (peak > sampled_peak)
                sampled_peak = peak;
            if (series_point) {
                struct sample *x = &ser->v[ser->n++];
                x->op = i + 1;
                x->payload = payload;
                x->rss = (long long)r - (long long)rss_base;
                x->gc = gc_now;
                x->heap = 0;
                if (!opt_system && snug_stats(&st) == 0)
                    x->heap = (long long)st.heap_bytes - (long long)heap_base;
            }
        }
        if (hm && i == hm->want_op) {
            hm->op = i + 1;
            hm->payload = payload;
            hm->usable = usable_sum;
            hm->heap_base = heap_base;
            hm->gc_bytes = gc_now;
            if (snug_stats(&st) == 0)
                hm->heap_bytes = st.heap_bytes;
            heapmap_take(hm);
        }
    }
    size_t r = rss_anon();
    if (r > rss_max)
        rss_max = r;

    res->peak_payload = peak;
    res->peak_op = peak_op;
    res->usable_at_peak = usable_at_peak;
    res->heap_rss = rss_max - rss_base;
    res->heap_base = heap_base;
    res->gc_collections = gc_collections;
    res->gc_heap_peak = gc_peak;
    if (opt_system) {
        res->heap = res->heap_rss;
    } else if (snug_stats(&st) == 0) {
        res->heap = st.heap_peak >= heap_base ? st.heap_peak - heap_base : 0;
        if (!opt_gc && (st.live_bytes != usable_sum || st.live_blocks != t->live_at_end))
            warn_at(s, "snug_stats after the last op: live_bytes %zu, live_blocks %zu; "
                    "the replayer counts %zu usable bytes in %zu blocks",
                    st.live_bytes, st.live_blocks, usable_sum, t->live_at_end);
        if (st.heap_peak < st.heap_bytes)
            warn_at(s, "snug_stats: heap_peak %zu < heap_bytes %zu", st.heap_peak,
                    st.heap_bytes);
    }
    res->util = res->heap ? (double)peak / (double)res->heap : 0;
    res->ifrag = res->heap ? (double)(usable_at_peak - peak) / (double)res->heap : 0;

    /* Check and free (--gc: drop) what the trace left live. */
    s->cur_op = t->nops;
    for (size_t id = 0; id < t->num_ids; id++) {
        if (!s->ptr[id])
            continue;
        verify(s, (uint32_t)id, s->size[id], "at the end of the trace");
        unsigned char *p = s->ptr[id];
        gone(s, (uint32_t)id, &payload, &usable_sum);
        A->free(p);
    }
    if (opt_gc) {
        snug_gc_collect();
        res->gc_retained = snug_gc_heap_bytes();
    } else if (!opt_system && snug_stats(&st) == 0 && (st.live_blocks || st.live_bytes)) {
        warn_at(s, "snug_stats after freeing everything: live_blocks %zu, live_bytes %zu",
                st.live_blocks, st.live_bytes);
    }
}

/* ---------------- timing runs ---------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void touch(unsigned char *p, size_t n)
{
    if (p && n) {
        p[0] = 1;
        p[n - 1] = 1;
    }
}

static double timing_run(struct state *s)
{
    const struct trace *t = s->t;
    unsigned char **ptr = s->ptr;
    double t0 = now();
    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        uint32_t id = op->id;
        switch (op->kind) {
        case TOP_ALLOC:
            ptr[id] = A->malloc(op->size);
            touch(ptr[id], op->size);
            break;
        case TOP_CALLOC:
            ptr[id] = A->calloc(op->arg, op->size);
            touch(ptr[id], op->arg * op->size);
            break;
        case TOP_ALIGNED:
            ptr[id] = do_aligned(op->arg, op->size);
            touch(ptr[id], op->size);
            break;
        case TOP_FREE:
            A->free(ptr[id]);
            ptr[id] = NULL;
            break;
        case TOP_REALLOC:
            if (!ptr[id] || op->size) {
                unsigned char *q = A->realloc(ptr[id], op->size);
                if (q || !op->size)
                    ptr[id] = q;
                touch(ptr[id], op->size);
            } else {
                unsigned char *q = A->realloc(ptr[id], 0);
                if (q)
                    A->free(q);
                ptr[id] = NULL;
            }
            break;
        }
    }
    double dt = now() - t0;
    for (size_t id = 0; id < t->num_ids; id++) {
        A->free(ptr[id]);
        ptr[id] = NULL;
    }
    return dt;
}

/* --gc: the same ops through the collector; a free clears the slot.  The garbage of the
 * run is collected after the clock stops. */
static double timing_run_gc(struct state *s)
{
    const struct trace *t = s->t;
    unsigned char **ptr = s->ptr;
    uint32_t *off = s->off;
    size_t ext;
    double t0 = now();
    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        uint32_t id = op->id;
        switch (op->kind) {
        case TOP_ALLOC:
            off[id] = 0;
            ptr[id] = snug_gc_malloc_atomic(op->size);
            touch(ptr[id], op->size);
            break;
        case TOP_CALLOC:
            off[id] = 0;
            ptr[id] = gc_calloc(op->arg, op->size);
            touch(ptr[id], op->arg * op->size);
            break;
        case TOP_ALIGNED:
            ptr[id] = gc_aligned(s, id, op->arg, op->size, &ext);
            touch(ptr[id], op->size);
            break;
        case TOP_FREE:
            ptr[id] = NULL;
            break;
        case TOP_REALLOC:
            if (!ptr[id]) {
                off[id] = 0;
                ptr[id] = snug_gc_malloc_atomic(op->size);
            } else if (op->size) {
                unsigned char *q = snug_gc_realloc(ptr[id] - off[id], off[id] + op->size);
                if (q)
                    ptr[id] = q + off[id];
            } else {
                ptr[id] = NULL;
            }
            touch(ptr[id], op->size);
            break;
        }
    }
    double dt = now() - t0;
    memset(ptr, 0, t->num_ids * sizeof *ptr);
    snug_gc_collect();
    return dt;
}

/* ---------------- one trace ---------------- */

static void replay_one(const char *path, struct result *res)
{
    struct trace t;
    char err[512];
    memset(res, 0, sizeof *res);
    if (trace_load(path, &t, err, sizeof err)) {
        memcpy(res->msg, err, sizeof res->msg - 1);   /* err is NUL-terminated */
        res->msg[sizeof res->msg - 1] = 0;
        fprintf(stderr, "snug-replay: %s\n", err);
        return;
    }
    struct state s;
    memset(&s, 0, sizeof s);
    s.t = &t;
    s.name = path;
    if (t.warning[0])
        warn_at(&s, "%s", t.warning);
    size_t n = t.num_ids;
    s.ptr = xcalloc(n, sizeof *s.ptr);
    s.size = xcalloc(n, sizeof *s.size);
    s.span = xcalloc(n, sizeof *s.span);
    s.left = xcalloc(n, sizeof *s.left);
    s.right = xcalloc(n, sizeof *s.right);
    s.prio = xcalloc(n, sizeof *s.prio);
    s.intree = xcalloc(n, 1);
    s.root = NIL;
    /* Touch everything now so that it is in the RSS baseline. */
    memset(s.left, 0xff, n * sizeof *s.left);
    memset(s.right, 0xff, n * sizeof *s.right);
    memset(s.prio, 0, n * sizeof *s.prio);
    memset(s.span, 0, n * sizeof *s.span);
    memset(s.size, 0, n * sizeof *s.size);
    memset(s.ptr, 0, n * sizeof *s.ptr);
    memset(s.intree, 0, n);
    if (opt_gc) {
        s.off = xcalloc(n, sizeof *s.off);
        s.gcext = xcalloc(n, sizeof *s.gcext);
        memset(s.off, 0, n * sizeof *s.off);
        memset(s.gcext, 0, n * sizeof *s.gcext);
        /* The table is the replay's only reference to its blocks: it must be a root. */
        snug_gc_register_thread();
        snug_gc_add_roots(s.ptr, s.ptr + n);
        gc_probe_granule();
    }
    /* Samples and the heap map, touched now so that they are in the RSS baseline. */
    struct series ser = {0};
    struct heapmap *hm = NULL;
    if (opt_series || opt_plot) {
        ser.every = series_every(t.nops);
        ser.cap = t.nops / ser.every + 2;
        ser.v = xcalloc(ser.cap, sizeof *ser.v);
        memset(ser.v, 0, ser.cap * sizeof *ser.v);
    }
    if (opt_plot) {
        hm = xcalloc(1, sizeof *hm);
        hm->cell = xcalloc((size_t)MAP_COLS * MAP_ROWS, sizeof *hm->cell);
        memset(hm->cell, 0, (size_t)MAP_COLS * MAP_ROWS * sizeof *hm->cell);
        hm->want_op = opt_plot_op ? (opt_plot_op < t.nops ? opt_plot_op : t.nops) - 1
                                  : find_peak_op(&s);
    }
    out_buffer()->n = 0;
    rss_anon();

    res->nops = t.nops;
    res->num_ids = t.num_ids;
    check_run(&s, res, opt_series || opt_plot ? &ser : NULL, hm);
    if (opt_series)
        series_write(&s, &ser);
    if (hm && hm->taken)
        plot_write(&s, hm, &ser, res);
    double best = 0;
    for (int r = 0; r < opt_reps; r++) {
        double dt = opt_gc ? timing_run_gc(&s) : timing_run(&s);
        if (r == 0 || dt < best)
            best = dt;
    }
    if (opt_gc) {
        snug_gc_remove_roots(s.ptr, s.ptr + n);
        map_free(s.off);
        map_free(s.gcext);
        snug_gc_collect();
    }
    if (hm) {
        map_free(hm->cell);
        map_free(hm);
    }
    map_free(ser.v);
    res->best_secs = best;
    res->ops_per_sec = best > 0 ? (double)t.nops / best : 0;
    res->errors = s.errors;
    res->warnings = s.warnings;
    res->ok = 1;
    map_free(s.ptr);
    map_free(s.size);
    map_free(s.span);
    map_free(s.left);
    map_free(s.right);
    map_free(s.prio);
    map_free(s.intree);
    trace_destroy(&t);
}

/* Run replay_one in a fresh child; a crash becomes an error in the result. */
static void replay_forked(const char *path, struct result *res)
{
    int fd[2];
    memset(res, 0, sizeof *res);
    fflush(NULL);
    if (pipe(fd)) {
        snprintf(res->msg, sizeof res->msg, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(res->msg, sizeof res->msg, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        struct result r;
        replay_one(path, &r);
        fflush(stderr);
        ssize_t w = write(fd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 3);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *res) {
        ssize_t n = read(fd[0], (char *)res + got, sizeof *res - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof *res) {
        memset(res, 0, sizeof *res);
        if (WIFSIGNALED(st))
            snprintf(res->msg, sizeof res->msg, "replay crashed: %s", strsignal(WTERMSIG(st)));
        else
            snprintf(res->msg, sizeof res->msg, "replay exited with status %d",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        fprintf(stderr, "snug-replay: %s: %s\n", path, res->msg);
    }
}

/* ---------------- output ---------------- */


static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: snug-replay [options] TRACE...\n"
        "Replays malloc traces (see tools/trace_format.h; .gz/.xz are decompressed)\n"
        "and reports peak utilization, internal fragmentation and throughput.\n"
        "  -n N        timing runs per trace, the fastest counts (default 3; 0: none)\n"
        "  --system    measure the process's malloc (e.g. under LD_PRELOAD) instead of snug\n"
        "  --check     call snug_heap_check() after every request; abort on failure\n"
        "  --json      machine-readable output (one trace object per line)\n"
        "  --quiet     print nothing but errors; the exit status tells\n"
        "  --no-fork   replay every trace in this process (a less clean baseline)\n"
        "  -v          report every error, not only the first %d per trace\n"
        "  --gc        replay through snug's garbage collector: snug_gc_malloc_atomic,\n"
        "              snug_gc_realloc; a free only drops the reference\n"
        "  --series FILE  write `trace op payload heap rss gc` every N ops of the\n"
        "              checking run (tab-separated; all traces in one file)\n"
        "  --every N   sample every N ops (default: about 1000 samples per trace)\n"
        "  --plot FILE.svg  draw snug's heap at the peak of live payload, and payload\n"
        "              and heap over the run (several traces: FILE-TRACE.svg each)\n"
        "  --plot-op N draw the heap after op N instead (the last op if N is larger)\n"
        "  --version   print the version of snug-replay and exit\n"
        "Exit status: 0 no errors, 1 errors found (or a trace failed), 2 bad usage.\n",
        MAX_REPORTED_ERRORS);
}

/* A positive whole-number option value; -1 (after a message) when it is not one. */
static int positive_arg(const char *opt, const char *val, size_t *out)
{
    char *end;
    long long v = strtoll(val, &end, 10);
    if (*end || end == val || v < 1) {
        fprintf(stderr, "snug-replay: bad %s value\n", opt);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    int first = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-n") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 1000) {
                fprintf(stderr, "snug-replay: bad -n value\n");
                return 2;
            }
            opt_reps = (int)v;
        } else if (!strcmp(a, "--system")) {
            opt_system = 1;
        } else if (!strcmp(a, "--check")) {
            opt_check = 1;
        } else if (!strcmp(a, "--json")) {
            opt_json = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            opt_quiet = 1;
        } else if (!strcmp(a, "--no-fork")) {
            opt_nofork = 1;
        } else if (!strcmp(a, "-v")) {
            opt_verbose = 1;
        } else if (!strcmp(a, "--gc")) {
            opt_gc = 1;
        } else if (!strcmp(a, "--series") && i + 1 < argc) {
            opt_series = argv[++i];
        } else if (!strcmp(a, "--plot") && i + 1 < argc) {
            opt_plot = argv[++i];
        } else if (!strcmp(a, "--plot-op") && i + 1 < argc) {
            if (positive_arg(a, argv[++i], &opt_plot_op) != 0) return 2;
        } else if (!strcmp(a, "--every") && i + 1 < argc) {
            if (positive_arg(a, argv[++i], &opt_every) != 0) return 2;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("snug-replay %s\n", snug_version());
            return 0;
        } else if (!strcmp(a, "--")) {
            first = i + 1;
            break;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "snug-replay: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    if (opt_check && opt_system)
        fprintf(stderr, "snug-replay: --check needs snug; ignored with --system\n");
    if (opt_gc && opt_system) {
        fprintf(stderr, "snug-replay: --gc and --system exclude each other\n");
        return 2;
    }
    if (opt_plot && opt_system) {
        fprintf(stderr, "snug-replay: --plot needs snug's heap walk; not with --system\n");
        return 2;
    }
    A = opt_system ? &sys_api : opt_gc ? &gc_api : &snug_api;
    int ntr = argc - first;
    multi_trace = ntr > 1;
    if (opt_series) {
        int fd = open(opt_series, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        char head[256];
        int len = snprintf(head, sizeof head, "# snug-replay --series, allocator %s: bytes "
                           "after op; heap: %s; rss: RssAnon growth; gc: %s\n"
                           "trace\top\tpayload\theap\trss\tgc\n", A->name,
                           opt_system ? "- (no accounting)" : "snug_stats heap_bytes - base",
                           opt_gc ? "snug_gc_heap_bytes" : "-");
        if (fd < 0 || write(fd, head, (size_t)len) != len) {
            fprintf(stderr, "snug-replay: --series %s: %s\n", opt_series, strerror(errno));
            return 2;
        }
        close(fd);
    }
    trace_set_allocator(map_realloc, map_free);
    struct result *res = xcalloc((size_t)ntr, sizeof *res);
    unsigned long total_errors = 0;
    int failed = 0;

    if (!opt_quiet && !opt_json)
        printf("%-28s %9s %7s %11s %11s %6s %6s %10s %6s%s\n", "trace", "ops", "ids",
               "payload-KiB", "heap-KiB", "util%", "ifrag%", "Kops/s", "errors",
               opt_gc ? "    GCs" : "");
    if (opt_json)
        printf("{\"allocator\": \"%s\", \"traces\": [\n", A->name);
    double sum_util = 0, sum_ifrag = 0, sum_secs = 0, sum_ops = 0;
    int nok = 0;
    for (int k = 0; k < ntr; k++) {
        const char *path = argv[first + k];
        struct result *r = &res[k];
        if (opt_nofork)
            replay_one(path, r);
        else
            replay_forked(path, r);
        if (!r->ok) {
            failed++;
        } else {
            total_errors += r->errors;
            nok++;
            sum_util += r->util;
            sum_ifrag += r->ifrag;
            sum_secs += r->best_secs;
            sum_ops += (double)r->nops;
        }
        if (opt_json) {
            printf("%s{\"trace\": ", k ? ",\n" : "");
            json_string(base_name(path));
            printf(", \"path\": ");
            json_string(path);
            if (!r->ok) {
                printf(", \"ok\": false, \"message\": ");
                json_string(r->msg);
                printf("}");
            } else {
                printf(", \"ok\": true, \"ops\": %zu, \"ids\": %zu, \"peak_payload\": %zu, "
                       "\"heap\": %zu, \"heap_base\": %zu, \"heap_rss\": %zu, "
                       "\"usable_at_peak\": %zu, "
                       "\"util\": %.4f, \"ifrag\": %.4f, \"best_secs\": %.6f, "
                       "\"ops_per_sec\": %.0f, \"errors\": %lu, \"warnings\": %lu, "
                       "\"peak_op\": %zu",
                       r->nops, r->num_ids, r->peak_payload, r->heap, r->heap_base, r->heap_rss,
                       r->usable_at_peak, r->util, r->ifrag, r->best_secs, r->ops_per_sec,
                       r->errors, r->warnings, r->peak_op);
                if (opt_gc)
                    printf(", \"gc_collections\": %zu, \"gc_heap_peak\": %zu, "
                           "\"gc_retained\": %zu", r->gc_collections, r->gc_heap_peak,
                           r->gc_retained);
                printf("}");
            }
        } else if (!opt_quiet) {
            char tput[32] = "-", gcs[32] = "";
            if (opt_reps)
                snprintf(tput, sizeof tput, "%.1f", r->ops_per_sec / 1e3);
            if (opt_gc)
                snprintf(gcs, sizeof gcs, " %6zu", r->gc_collections);
            if (!r->ok)
                printf("%-28.28s FAILED: %s\n", base_name(path), r->msg);
            else
                printf("%-28.28s %9zu %7zu %11.1f %11.1f %6.1f %6.1f %10s %6lu%s\n",
                       base_name(path), r->nops, r->num_ids, r->peak_payload / 1024.0,
                       r->heap / 1024.0, 100 * r->util, 100 * r->ifrag, tput, r->errors, gcs);
        }
        fflush(stdout);
    }
    if (opt_json) {
        printf("\n], \"mean_util\": %.4f, \"mean_ifrag\": %.4f, \"ops_per_sec\": %.0f, "
               "\"errors\": %lu, \"failed\": %d}\n",
               nok ? sum_util / nok : 0, nok ? sum_ifrag / nok : 0,
               sum_secs > 0 ? sum_ops / sum_secs : 0, total_errors, failed);
    } else if (!opt_quiet && ntr > 1) {
        char tput[32] = "-";
        if (opt_reps && sum_secs > 0)
            snprintf(tput, sizeof tput, "%.1f", sum_ops / sum_secs / 1e3);
        printf("%-28s %9.0f %7s %11s %11s %6.1f %6.1f %10s %6lu\n",
               "average (throughput: total)", sum_ops, "", "", "",
               nok ? 100 * sum_util / nok : 0, nok ? 100 * sum_ifrag / nok : 0, tput,
               total_errors);
    }
    map_free(res);
    return (total_errors || failed) ? 1 : 0;
}
