/* replay_meter.c - what snug-replay measures with: the process's RssAnon, its own memory
 * (mmap'd, so that the allocator under test never sees it), the --series samples and
 * file, and the timing runs (only the clock and the requests, nothing checked). */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---------------- measuring RSS ---------------- */

static int status_fd = -1;

size_t rss_anon(void)
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
void *map_realloc(void *p, size_t n)
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

void map_free(void *p)
{
    if (!p)
        return;
    char *m = (char *)p - MAP_HDR;
    size_t len;
    memcpy(&len, m, sizeof len);
    munmap(m, len);
}

/* Zeroed (fresh mappings are). */
void *xcalloc(size_t n, size_t size)
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

static size_t series_every(size_t nops)
{
    if (opt_every)
        return opt_every;
    return nops >= 2000 ? nops / 1000 : 1;
}

/* Creates the --series file with its header (the traces append their samples). */
int series_start(void)
{
    int fd = open(opt_series, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char head[256];
    int len = snprintf(head, sizeof head, "# snug-replay --series, allocator %s: bytes "
                       "after op; heap: %s; rss: RssAnon growth; gc: %s\n"
                       "trace\top\tpayload\theap\trss\tgc\n", tested->name,
                       opt_system ? "- (no accounting)" : "snug_stats heap_bytes - base",
                       opt_gc ? "snug_gc_heap_bytes" : "-");
    if (fd < 0 || write(fd, head, (size_t)len) != len) {
        fprintf(stderr, "snug-replay: --series %s: %s\n", opt_series, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* Room for the samples of a trace of nops ops, touched now (so in the RSS baseline). */
void series_init(struct series *ser, size_t nops)
{
    ser->every = series_every(nops);
    ser->cap = nops / ser->every + 2;
    ser->v = xcalloc(ser->cap, sizeof *ser->v);
    memset(ser->v, 0, ser->cap * sizeof *ser->v);
}

/* Appends the trace's samples to the --series file (its header was written by main). */
void series_write(struct state *s, const struct series *ser)
{
    struct out *o = out_open(opt_series, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (!o) {
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
    if (out_close(o) != 0)
        warn_at(s, "--series %s: write failed", opt_series);
}

/* ---------------- timing runs ---------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------- progress ---------------- */

static int progress_tty = -1;           /* stderr is a terminal (asked once) */
static int progress_shown;
static double progress_t0, progress_last;
static double progress_after = 1;       /* seconds before the first line (SNUG_REPLAY_PROGRESS_AFTER) */

void progress_start(void)
{
    if (progress_tty < 0) {
        progress_tty = isatty(2);
        const char *e = getenv("SNUG_REPLAY_PROGRESS_AFTER");     /* (getenv allocates nothing) */
        if (e && *e) {
            char *end;
            double v = strtod(e, &end);
            if (!*end && v >= 0) progress_after = v;
        }
    }
    progress_t0 = now();
    progress_last = progress_t0 - 1;
    progress_shown = 0;
}

/* Formatted on the stack and written with write(2): stdio could allocate, and the
 * allocator under test would count it. */
void progress(const struct state *s, const char *what, size_t done, size_t total)
{
    if (progress_tty != 1)
        return;
    double t = now();
    if (t - progress_t0 < progress_after || t - progress_last < 0.25)
        return;
    progress_last = t;
    char line[256];
    int n = snprintf(line, sizeof line, "\r%s: %s %zu/%zu (%.0f%%, %.0f s)\033[K", base_name(s->name), what,
                     done, total, total ? 100.0 * (double)done / (double)total : 100.0, t - progress_t0);
    if (n > 0 && write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) > 0)
        progress_shown = 1;
}

void progress_end(void)
{
    if (progress_shown && write(2, "\r\033[K", 4) > 0)
        progress_shown = 0;
}

static inline void touch(unsigned char *p, size_t n)
{
    if (p && n) {
        p[0] = 1;
        p[n - 1] = 1;
    }
}

double timing_run(struct state *s)
{
    const struct trace *t = s->t;
    unsigned char **ptr = s->ptr;
    const struct api *a = tested;   /* read once: the calls below cannot change it */
    double t0 = now();
    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        uint32_t id = op->id;
        switch (op->kind) {
        case TOP_ALLOC:
            ptr[id] = a->malloc(op->size);
            touch(ptr[id], op->size);
            break;
        case TOP_CALLOC:
            ptr[id] = a->calloc(op->arg, op->size);
            touch(ptr[id], op->arg * op->size);
            break;
        case TOP_ALIGNED:
            ptr[id] = do_aligned(a, op->arg, op->size);
            touch(ptr[id], op->size);
            break;
        case TOP_FREE:
            a->free(ptr[id]);
            ptr[id] = NULL;
            break;
        case TOP_REALLOC:
            if (!ptr[id] || op->size) {
                unsigned char *q = a->realloc(ptr[id], op->size);
                if (q || !op->size)
                    ptr[id] = q;
                touch(ptr[id], op->size);
            } else {
                unsigned char *q = a->realloc(ptr[id], 0);
                if (q)
                    a->free(q);
                ptr[id] = NULL;
            }
            break;
        }
    }
    double dt = now() - t0;
    for (size_t id = 0; id < t->num_ids; id++) {
        a->free(ptr[id]);
        ptr[id] = NULL;
    }
    return dt;
}

/* --gc: the same ops through the collector; a free clears the slot.  The garbage of the
 * run is collected after the clock stops. */
double timing_run_gc(struct state *s)
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
