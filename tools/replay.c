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
static const struct api *A;

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
    char     msg[200];          /* why it failed to load, when !ok */
};

/* ---------------- replay state ---------------- */

struct state {
    const struct trace *t;
    const char *name;
    unsigned char **ptr;    /* per id: the block, NULL when dead */
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
    size_t u = A->usable(p);
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
    *usable_sum -= A->usable(s->ptr[id]);
    s->ptr[id] = NULL;
}

static void check_run(struct state *s, struct result *res)
{
    const struct trace *t = s->t;
    size_t payload = 0, usable_sum = 0, peak = 0, usable_at_peak = 0;
    size_t rss_base = 0, rss_max = 0, heap_base = 0, last_sample = 0, sampled_peak = 0;
    struct snug_stats st;

    if (opt_system) {
        malloc_trim(0);
    } else {
        snug_trim(0);
        snug_stats_reset_peak();
        if (snug_stats(&st) == 0)
            heap_base = st.heap_bytes;
        else
            warn_at(s, "snug_stats failed");
    }
    rss_base = rss_max = rss_anon();

    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        uint32_t id = op->id;
        s->cur_op = i;
        switch (op->kind) {
        case TOP_ALLOC:
            took(s, op, A->malloc(op->size), op->size, &payload, &usable_sum);
            break;
        case TOP_CALLOC:
            took(s, op, A->calloc(op->arg, op->size), op->arg * op->size, &payload,
                 &usable_sum);
            break;
        case TOP_ALIGNED:
            took(s, op, do_aligned(op->arg, op->size), op->size, &payload, &usable_sum);
            break;
        case TOP_FREE:
            if (!s->ptr[id])
                break;                      /* its allocation failed (reported) */
            verify(s, id, s->size[id], "before free");
            {
                unsigned char *p = s->ptr[id];
                gone(s, id, &payload, &usable_sum);
                A->free(p);
            }
            break;
        case TOP_REALLOC:
            if (!s->ptr[id]) {
                took(s, op, A->realloc(NULL, op->size), op->size, &payload, &usable_sum);
                break;
            }
            verify(s, id, s->size[id], "before realloc");
            {
                unsigned char *p = s->ptr[id];
                size_t old = s->size[id];
                size_t old_usable = A->usable(p);
                tree_remove(s, id);
                unsigned char *q = A->realloc(p, op->size);
                if (op->size == 0) {
                    if (q)
                        A->free(q);
                    payload -= old;
                    usable_sum -= old_usable;
                    s->ptr[id] = NULL;
                    break;
                }
                if (!q) {
                    error_at(s, "realloc of block %u to %zu bytes returned NULL", id, op->size);
                    tree_insert(s, id);      /* the old block stays valid */
                    break;
                }
                payload -= old;
                usable_sum -= old_usable;
                s->ptr[id] = q;
                size_t keep = old < op->size ? old : op->size;
                size_t bad = check(q, id, keep);
                if (bad < keep)
                    error_at(s, "realloc of block %u (%zu -> %zu bytes, %p -> %p) lost its "
                             "contents at offset %zu", id, old, op->size, (void *)p,
                             (void *)q, bad);
                size_t u = A->usable(q);
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
        int sample = (i % 256) == 0;
        if (payload > peak) {
            peak = payload;
            usable_at_peak = usable_sum;
            if (i - last_sample >= 16 || payload - sampled_peak > sampled_peak / 64)
                sample = 1;
        }
        if (sample) {
            size_t r = rss_anon();
            if (r > rss_max)
                rss_max = r;
            last_sample = i;
            if (peak > sampled_peak)
                sampled_peak = peak;
        }
    }
    size_t r = rss_anon();
    if (r > rss_max)
        rss_max = r;

    res->peak_payload = peak;
    res->usable_at_peak = usable_at_peak;
    res->heap_rss = rss_max - rss_base;
    res->heap_base = heap_base;
    if (opt_system) {
        res->heap = res->heap_rss;
    } else if (snug_stats(&st) == 0) {
        res->heap = st.heap_peak >= heap_base ? st.heap_peak - heap_base : 0;
        if (st.live_bytes != usable_sum || st.live_blocks != t->live_at_end)
            warn_at(s, "snug_stats after the last op: live_bytes %zu, live_blocks %zu; "
                    "the replayer counts %zu usable bytes in %zu blocks",
                    st.live_bytes, st.live_blocks, usable_sum, t->live_at_end);
        if (st.heap_peak < st.heap_bytes)
            warn_at(s, "snug_stats: heap_peak %zu < heap_bytes %zu", st.heap_peak,
                    st.heap_bytes);
    }
    res->util = res->heap ? (double)peak / (double)res->heap : 0;
    res->ifrag = res->heap ? (double)(usable_at_peak - peak) / (double)res->heap : 0;

    /* Check and free what the trace left live. */
    s->cur_op = t->nops;
    for (size_t id = 0; id < t->num_ids; id++) {
        if (!s->ptr[id])
            continue;
        verify(s, (uint32_t)id, s->size[id], "at the end of the trace");
        unsigned char *p = s->ptr[id];
        gone(s, (uint32_t)id, &payload, &usable_sum);
        A->free(p);
    }
    if (!opt_system && snug_stats(&st) == 0 && (st.live_blocks || st.live_bytes))
        warn_at(s, "snug_stats after freeing everything: live_blocks %zu, live_bytes %zu",
                st.live_blocks, st.live_bytes);
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
    rss_anon();

    res->nops = t.nops;
    res->num_ids = t.num_ids;
    check_run(&s, res);
    double best = 0;
    for (int r = 0; r < opt_reps; r++) {
        double dt = timing_run(&s);
        if (r == 0 || dt < best)
            best = dt;
    }
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

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

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
        "Exit status: 0 no errors, 1 errors found (or a trace failed), 2 bad usage.\n",
        MAX_REPORTED_ERRORS);
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
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
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
    A = opt_system ? &sys_api : &snug_api;
    int ntr = argc - first;
    trace_set_allocator(map_realloc, map_free);
    struct result *res = xcalloc((size_t)ntr, sizeof *res);
    unsigned long total_errors = 0;
    int failed = 0;

    if (!opt_quiet && !opt_json)
        printf("%-28s %9s %7s %11s %11s %6s %6s %10s %6s\n", "trace", "ops", "ids",
               "payload-KiB", "heap-KiB", "util%", "ifrag%", "Kops/s", "errors");
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
                       "\"ops_per_sec\": %.0f, \"errors\": %lu, \"warnings\": %lu}",
                       r->nops, r->num_ids, r->peak_payload, r->heap, r->heap_base, r->heap_rss,
                       r->usable_at_peak, r->util, r->ifrag, r->best_secs, r->ops_per_sec,
                       r->errors, r->warnings);
            }
        } else if (!opt_quiet) {
            if (!r->ok)
                printf("%-28.28s FAILED: %s\n", base_name(path), r->msg);
            else if (opt_reps)
                printf("%-28.28s %9zu %7zu %11.1f %11.1f %6.1f %6.1f %10.1f %6lu\n",
                       base_name(path), r->nops, r->num_ids, r->peak_payload / 1024.0,
                       r->heap / 1024.0, 100 * r->util, 100 * r->ifrag,
                       r->ops_per_sec / 1e3, r->errors);
            else
                printf("%-28.28s %9zu %7zu %11.1f %11.1f %6.1f %6.1f %10s %6lu\n",
                       base_name(path), r->nops, r->num_ids, r->peak_payload / 1024.0,
                       r->heap / 1024.0, 100 * r->util, 100 * r->ifrag, "-", r->errors);
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
