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
 *
 * The files: replay.c (this one) the command line and the run of each trace, in a child;
 * replay_check.c the checking run; replay_live.c the live-block set; replay_meter.c RSS,
 * the replayer's own memory, the series and the timing runs; replay_map.c --plot;
 * replay_api.c the allocators under test; replay_out.c the output; replay.h what they share.
 */
#include "replay.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------- options ---------------- */

int opt_reps = 3, opt_system, opt_check, opt_json, opt_quiet, opt_nofork, opt_verbose;
int opt_gc;
const char *opt_series;
size_t opt_every;
const char *opt_plot;
size_t opt_plot_op;
int multi_trace;

/* ---------------- one trace ---------------- */

/* The per-id arrays, touched now so that they are in the RSS baseline; --gc: the pointer
 * table becomes the collector's root. */
static void state_init(struct state *s, const struct trace *t, const char *path)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->name = path;
    if (t->warning[0])
        warn_at(s, "%s", t->warning);
    size_t n = t->num_ids;
    s->ptr = xcalloc(n, sizeof *s->ptr);
    s->size = xcalloc(n, sizeof *s->size);
    s->span = xcalloc(n, sizeof *s->span);
    live_init(&s->live, n, s->ptr, s->span);
    memset(s->span, 0, n * sizeof *s->span);
    memset(s->size, 0, n * sizeof *s->size);
    memset(s->ptr, 0, n * sizeof *s->ptr);
    if (opt_gc) {
        s->off = xcalloc(n, sizeof *s->off);
        s->gcext = xcalloc(n, sizeof *s->gcext);
        memset(s->off, 0, n * sizeof *s->off);
        memset(s->gcext, 0, n * sizeof *s->gcext);
        /* The table is the replay's only reference to its blocks: it must be a root. */
        snug_gc_register_thread();
        snug_gc_add_roots(s->ptr, s->ptr + n);
        gc_probe_granule();
    }
}

/* --gc: the table is no root any more; what it held is collected. */
static void state_gc_done(struct state *s)
{
    snug_gc_remove_roots(s->ptr, s->ptr + s->t->num_ids);
    map_free(s->off);
    map_free(s->gcext);
    snug_gc_collect();
}

static void state_free(struct state *s)
{
    map_free(s->ptr);
    map_free(s->size);
    map_free(s->span);
    live_free(&s->live);
}

/* The fastest of -n timing runs (0 when none). */
static double best_time(struct state *s)
{
    double best = 0;
    for (int r = 0; r < opt_reps; r++) {
        progress(s, "timing run", (size_t)r, (size_t)opt_reps);
        double dt = opt_gc ? timing_run_gc(s) : timing_run(s);
        if (r == 0 || dt < best)
            best = dt;
    }
    return best;
}

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
    state_init(&s, &t, path);
    /* Samples and the heap map, touched now so that they are in the RSS baseline. */
    struct series ser = {0};
    struct heapmap *hm = NULL;
    if (opt_series || opt_plot)
        series_init(&ser, t.nops);
    if (opt_plot)
        hm = heapmap_new(&s);
    out_touch();
    rss_anon();

    res->nops = t.nops;
    res->num_ids = t.num_ids;
    progress_start();
    check_run(&s, res, opt_series || opt_plot ? &ser : NULL, hm);
    if (opt_series)
        series_write(&s, &ser);
    if (hm && heapmap_taken(hm))
        plot_write(&s, hm, &ser, res);
    double best = best_time(&s);
    progress_end();
    if (opt_gc)
        state_gc_done(&s);
    if (hm)
        heapmap_free(hm);
    map_free(ser.v);
    res->best_secs = best;
    res->ops_per_sec = best > 0 ? (double)t.nops / best : 0;
    res->errors = s.errors;
    res->warnings = s.warnings;
    res->ok = 1;
    state_free(&s);
    trace_destroy(&t);
}

/* The parent's side of replay_forked: the child's result, or why there is none. */
static void replay_wait(const char *path, pid_t pid, int fd, struct result *res)
{
    size_t got = 0;
    while (got < sizeof *res) {
        ssize_t n = read(fd, (char *)res + got, sizeof *res - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
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
    replay_wait(path, pid, fd[0], res);
}

/* ---------------- the command line ---------------- */

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

/* -n N: 0 to 1000 timing runs. */
static int reps_arg(const char *val)
{
    char *end;
    long v = strtol(val, &end, 10);
    if (*end || v < 0 || v > 1000) {
        fprintf(stderr, "snug-replay: bad -n value\n");
        return -1;
    }
    opt_reps = (int)v;
    return 0;
}

/* The long options without a short one. */
enum { O_SYSTEM = 256, O_CHECK, O_JSON, O_NOFORK, O_GC, O_SERIES, O_EVERY, O_PLOT, O_PLOTOP,
       O_VERSION };

static const struct option long_options[] = {
    {"system",  no_argument,       NULL, O_SYSTEM},
    {"check",   no_argument,       NULL, O_CHECK},
    {"json",    no_argument,       NULL, O_JSON},
    {"quiet",   no_argument,       NULL, 'q'},
    {"no-fork", no_argument,       NULL, O_NOFORK},
    {"gc",      no_argument,       NULL, O_GC},
    {"series",  required_argument, NULL, O_SERIES},
    {"every",   required_argument, NULL, O_EVERY},
    {"plot",    required_argument, NULL, O_PLOT},
    {"plot-op", required_argument, NULL, O_PLOTOP},
    {"help",    no_argument,       NULL, 'h'},
    {"version", no_argument,       NULL, O_VERSION},
    {NULL, 0, NULL, 0},
};

/* An option getopt_long did not take: unknown, or its value missing. */
static int bad_option(char **argv, int c)
{
    if (c == '?' && optopt > 0 && optopt < 256)
        fprintf(stderr, "snug-replay: unknown option -%c\n", optopt);
    else
        fprintf(stderr, "snug-replay: unknown option %s\n", argv[optind - 1]);
    usage(stderr);
    return 2;
}

/* One option; -1 to go on, otherwise the exit status. */
static int take_option(int c, char **argv)
{
    switch (c) {
    case 'n':       return reps_arg(optarg) ? 2 : -1;
    case O_SYSTEM:  opt_system = 1; return -1;
    case O_CHECK:   opt_check = 1; return -1;
    case O_JSON:    opt_json = 1; return -1;
    case 'q':       opt_quiet = 1; return -1;
    case O_NOFORK:  opt_nofork = 1; return -1;
    case 'v':       opt_verbose = 1; return -1;
    case O_GC:      opt_gc = 1; return -1;
    case O_SERIES:  opt_series = optarg; return -1;
    case O_PLOT:    opt_plot = optarg; return -1;
    case O_PLOTOP:  return positive_arg("--plot-op", optarg, &opt_plot_op) ? 2 : -1;
    case O_EVERY:   return positive_arg("--every", optarg, &opt_every) ? 2 : -1;
    case 'h':       usage(stdout); return 0;
    case O_VERSION: printf("snug-replay %s\n", snug_version()); return 0;
    default:        return bad_option(argv, c);
    }
}

/* Options come first ('+': the first trace ends them, as does "--"); *first is the index
 * of the first trace.  -1 to go on, otherwise the exit status. */
static int parse_args(int argc, char **argv, int *first)
{
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:n:qvh", long_options, NULL)) != -1) {
        int st = take_option(c, argv);
        if (st >= 0)
            return st;
    }
    *first = optind;
    if (optind >= argc) {
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
    return -1;
}

int main(int argc, char **argv)
{
    int first;
    int st = parse_args(argc, argv, &first);
    if (st >= 0)
        return st;
    tested = opt_system ? &sys_api : opt_gc ? &gc_api : &snug_api;
    int ntr = argc - first;
    multi_trace = ntr > 1;
    if (opt_series && series_start() != 0)
        return 2;
    trace_set_allocator(map_realloc, map_free);
    struct result *res = xcalloc((size_t)ntr, sizeof *res);
    struct totals tot;
    memset(&tot, 0, sizeof tot);
    out_head();
    for (int k = 0; k < ntr; k++) {
        const char *path = argv[first + k];
        struct result *r = &res[k];
        if (opt_nofork)
            replay_one(path, r);
        else
            replay_forked(path, r);
        if (!r->ok) {
            tot.failed++;
        } else {
            tot.errors += r->errors;
            tot.nok++;
            tot.sum_util += r->util;
            tot.sum_ifrag += r->ifrag;
            tot.sum_secs += r->best_secs;
            tot.sum_ops += (double)r->nops;
        }
        out_trace(k, path, r);
    }
    out_tail(&tot, ntr);
    map_free(res);
    return (tot.errors || tot.failed) ? 1 : 0;
}
