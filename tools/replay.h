/* replay.h - what the files of snug-replay share (private to tools/replay*.c): the
 * options, the allocator under test, the per-trace state and result, and each file's
 * entry points.  What the replayer measures and promises is told at the top of replay.c. */
#ifndef SNUG_REPLAY_H
#define SNUG_REPLAY_H

#include "snug.h"
#include "trace_format.h"
#include "replay_live.h"

#include <stddef.h>
#include <stdint.h>

#if UINTPTR_MAX > 0xffffffffu
#define MIN_ALIGN 16u
#else
#define MIN_ALIGN 8u
#endif

#define MAX_REPORTED_ERRORS 10

/* ---- the options (replay.c parses them) ---- */

extern int opt_reps, opt_system, opt_check, opt_json, opt_quiet, opt_nofork, opt_verbose;
extern int opt_gc;                      /* --gc: through snug's collector */
extern const char *opt_series;          /* --series FILE */
extern size_t opt_every;                /* --every N (0: about 1000 samples per trace) */
extern const char *opt_plot;            /* --plot FILE.svg */
extern size_t opt_plot_op;              /* --plot-op N: after N ops, not at the peak (0) */
extern int multi_trace;                 /* more than one trace on the command line */

/* ---- the allocator under test (replay_api.c) ---- */

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

extern const struct api snug_api, sys_api, gc_api;
extern const struct api *tested;        /* one of the three, set by main */
/* What was measured: "snug 1.1.0", "glibc 2.36", "libjemalloc.so.2" (see replay_api.c). */
const char *allocator_name(void);

/* The collector's granule: GC blocks are multiples of it and aligned to it (measured by
 * gc_probe_granule). */
extern size_t gc_gran;

/* The extent the collector gives a request of n bytes (snug_gc_heap_bytes counts these). */
static inline size_t gc_ext(size_t n)
{
    return n ? (n + gc_gran - 1) & ~(gc_gran - 1) : gc_gran;
}

/* An aligned request through api a: memalign for alignments below sizeof(void *). */
static inline void *do_aligned(const struct api *a, size_t align, size_t size)
{
    if (align < sizeof(void *))
        return a->memalign(align, size);
    void *p = NULL;
    return a->posix_memalign(&p, align, size) == 0 ? p : NULL;
}

/* ---- per-trace result (sent from the child to the parent) ---- */

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
    int      efrag_known;       /* snug's heap walk gave the next four (not with --system) */
    size_t   free_at_peak;      /* at the payload's peak: bytes in the fit allocator's free spans */
    size_t   largest_free_at_peak;  /* the largest of those spans */
    size_t   slot_free_at_peak; /* bytes in free small-page slots (not in free_at_peak) */
    double   efrag;             /* 1 - largest_free_at_peak / free_at_peak (0 when nothing is free) */
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

/* ---- replay state ---- */

struct state {
    const struct trace *t;
    const char *name;
    unsigned char **ptr;    /* per id: the block, NULL when dead (--gc: the root table) */
    uint32_t *off;          /* --gc: per id, payload offset in its block (aligned requests) */
    size_t *gcext;          /* --gc: per id, the collector's extent of its block */
    size_t *size;           /* per id: payload bytes */
    size_t *span;           /* per id: bytes the block covers (max(usable, size, 1)) */
    struct live live;       /* the live blocks by address (reads ptr and span) */
    unsigned long errors, warnings;
    size_t cur_op;
};

/* ---- series samples (--series, --plot) ---- */

struct sample {
    size_t op, payload, gc;
    long long heap;         /* snug: heap_bytes - heap_base; unused with --system */
    long long rss;          /* RssAnon - its base */
};

struct series {
    struct sample *v;
    size_t n, cap, every;
};

struct heapmap;             /* the heap picture (replay_map.c) */

/* replay_api.c: the collector's side of the allocator under test */
void *gc_calloc(size_t n, size_t size);
void gc_probe_granule(void);
unsigned char *gc_aligned(struct state *s, uint32_t id, size_t align, size_t size,
                          size_t *ext);
unsigned char *gc_resize(struct state *s, uint32_t id, unsigned char *p, size_t n);

/* replay_meter.c: the replayer's own memory (mmap'd, unseen by the allocator under test) */
void *map_realloc(void *p, size_t n);
void map_free(void *p);
void *xcalloc(size_t n, size_t size);       /* zeroed; exits on failure */
/* replay_meter.c: RSS, the series, the timing runs */
size_t rss_anon(void);
int series_start(void);                     /* --series: the file's header; -1 on failure */
void series_init(struct series *ser, size_t nops);
void series_write(struct state *s, const struct series *ser);
double timing_run(struct state *s);
double timing_run_gc(struct state *s);
/* Progress on stderr while a trace replays, only when stderr is a terminal and the trace
 * has run for a second; cleared when the trace is done. */
void progress_start(void);
void progress(const struct state *s, const char *what, size_t done, size_t total);
void progress_end(void);

/* replay_check.c: the checking run (fills in res; samples into ser; takes the picture) */
void check_run(struct state *s, struct result *res, struct series *ser, struct heapmap *hm);

/* replay_map.c: the heap picture and the SVG (--plot) */
struct heapmap *heapmap_new(struct state *s);
/* The first op after which the live payload is at its maximum (a pass over the ops). */
size_t find_peak_op(struct state *s);
void heapmap_at(struct heapmap *m, size_t i, size_t payload, size_t usable, size_t heap_base,
                size_t gc_bytes);
int heapmap_taken(const struct heapmap *m);
void heapmap_free(struct heapmap *m);
void plot_write(struct state *s, const struct heapmap *m, const struct series *ser,
                const struct result *res);

/* replay_out.c: messages, the raw output buffer, the table and the JSON */
__attribute__((format(printf, 2, 3)))
void error_at(struct state *s, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void warn_at(struct state *s, const char *fmt, ...);

struct out;                 /* buffered writes to a file without stdio (nor malloc) */
void out_touch(void);       /* maps the buffer now (before the RSS baseline) */
struct out *out_open(const char *path, int flags);  /* open(2) flags; NULL, errno set */
__attribute__((format(printf, 2, 3)))
void outf(struct out *o, const char *fmt, ...);
int out_close(struct out *o);   /* flushes and closes; -1 when a write failed */
const char *base_name(const char *p);

struct totals {
    double sum_util, sum_ifrag, sum_secs, sum_ops;
    int nok, failed;
    unsigned long errors;
};
void out_head(void);
void out_trace(int k, const char *path, const struct result *r);
void out_tail(const struct totals *tot, int ntr);

#endif
