/* gen.c - snug-gen: writes synthetic allocation traces (tools/trace_format.h) for
 * named patterns; options by getopt_long.  Output depends only on (pattern, --seed,
 * --scale): the PRNG is our own splitmix64, no libc randomness.  Scale 1 gives ~20k-100k ops per trace. */
#include "snug.h"
#include "trace_format.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- PRNG ---------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static size_t urange(size_t lo, size_t hi)
{
    return lo + (size_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* Uniform in (0, 1]. */
static double unit(void)
{
    return ((double)(rnd() >> 11) + 1.0) / 9007199254740992.0;
}

static int chance(double p)
{
    return unit() <= p;
}

/* Log-uniform in [lo, hi]. */
static size_t logrange(size_t lo, size_t hi)
{
    double l = log((double)lo), h = log((double)hi + 1);
    size_t v = (size_t)exp(l + (h - l) * (unit() - 1e-12));
    return v < lo ? lo : v > hi ? hi : v;
}

/* Pareto with minimum xm and shape alpha, capped. */
static size_t pareto(double xm, double alpha, size_t cap)
{
    double v = xm * pow(unit(), -1.0 / alpha);
    return v >= (double)cap ? cap : (size_t)v;
}

/* ---------------- trace builder ---------------- */

static struct trace_op *ops;
static size_t nops, ops_cap;
static uint32_t *free_ids;
static size_t nfree, free_cap;
static uint32_t next_id;
static uint32_t *live;          /* live ids, unordered */
static size_t nlive, live_cap;
static size_t *live_pos;        /* per id: index in live[], SIZE_MAX when dead */
static size_t *id_size;         /* per id: payload */
static size_t id_cap;
static size_t live_bytes, peak_bytes;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "snug-gen: out of memory\n");
        exit(2);
    }
    return p;
}

static void push_op(char kind, uint32_t id, size_t size, size_t arg)
{
    if (nops == ops_cap) {
        ops_cap = ops_cap ? ops_cap * 2 : 65536;
        ops = xrealloc(ops, ops_cap * sizeof *ops);
    }
    ops[nops++] = (struct trace_op){ size, arg, id, kind };
}

static void mark_live(uint32_t id, size_t bytes)
{
    if (nlive == live_cap) {
        live_cap = live_cap ? live_cap * 2 : 4096;
        live = xrealloc(live, live_cap * sizeof *live);
    }
    live_pos[id] = nlive;
    live[nlive++] = id;
    id_size[id] = bytes;
    live_bytes += bytes;
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
}

static void mark_dead(uint32_t id)
{
    size_t i = live_pos[id];
    uint32_t last = live[--nlive];
    live[i] = last;
    live_pos[last] = i;
    live_pos[id] = SIZE_MAX;
    live_bytes -= id_size[id];
    if (nfree == free_cap) {
        free_cap = free_cap ? free_cap * 2 : 4096;
        free_ids = xrealloc(free_ids, free_cap * sizeof *free_ids);
    }
    free_ids[nfree++] = id;
}

static uint32_t take_id(void)
{
    if (nfree)
        return free_ids[--nfree];
    if (next_id == id_cap) {
        size_t ncap = id_cap ? id_cap * 2 : 4096;
        live_pos = xrealloc(live_pos, ncap * sizeof *live_pos);
        id_size = xrealloc(id_size, ncap * sizeof *id_size);
        for (size_t i = id_cap; i < ncap; i++)
            live_pos[i] = SIZE_MAX;
        id_cap = ncap;
    }
    return next_id++;
}

static uint32_t g_malloc(size_t size)
{
    uint32_t id = take_id();
    push_op(TOP_ALLOC, id, size, 0);
    mark_live(id, size);
    return id;
}

static uint32_t g_calloc(size_t n, size_t size)
{
    uint32_t id = take_id();
    push_op(TOP_CALLOC, id, size, n);
    mark_live(id, n * size);
    return id;
}

static uint32_t g_aligned(size_t align, size_t size)
{
    uint32_t id = take_id();
    push_op(TOP_ALIGNED, id, size, align);
    mark_live(id, size);
    return id;
}

static void g_free(uint32_t id)
{
    push_op(TOP_FREE, id, 0, 0);
    mark_dead(id);
}

static void g_realloc(uint32_t id, size_t size)
{
    push_op(TOP_REALLOC, id, size, 0);
    live_bytes = live_bytes - id_size[id] + size;
    id_size[id] = size;
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
}

static uint32_t random_live(void)
{
    return live[rnd() % nlive];
}

static void free_all_random(void)
{
    while (nlive)
        g_free(random_live());
}

/* Min-heap of (time, id) for scheduled frees. */
struct death {
    uint64_t when;
    uint32_t id;
};
static struct death *heap;
static size_t nheap, heap_cap;

static void schedule(uint32_t id, uint64_t when)
{
    if (nheap == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 4096;
        heap = xrealloc(heap, heap_cap * sizeof *heap);
    }
    size_t i = nheap++;
    while (i && heap[(i - 1) / 2].when > when) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = (struct death){ when, id };
}

/* Free everything due at or before `now`. */
static void reap(uint64_t now)
{
    while (nheap && heap[0].when <= now) {
        g_free(heap[0].id);
        struct death last = heap[--nheap];
        size_t i = 0;
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= nheap)
                break;
            if (c + 1 < nheap && heap[c + 1].when < heap[c].when)
                c++;
            if (heap[c].when >= last.when)
                break;
            heap[i] = heap[c];
            i = c;
        }
        if (nheap)
            heap[i] = last;
    }
}

/* ---------------- patterns ---------------- */

/* random: random sizes (log-uniform, a few large) and random lifetimes; the live set
 * grows over the first half and shrinks over the second; some calloc, memalign and
 * realloc. */
static void pat_random(size_t scale)
{
    size_t n = 40000 * scale;
    for (size_t i = 0; i < n; i++) {
        double p_alloc = i < n / 2 ? 0.58 : 0.42;
        if (nlive == 0 || chance(p_alloc)) {
            size_t size = chance(0.03) ? logrange(8192, 256 << 10) : logrange(1, 4096);
            double k = unit();
            if (k < 0.05)
                g_calloc(urange(1, 16), size / 8 + 1);
            else if (k < 0.08)
                g_aligned((size_t)32 << urange(0, 7), size);
            else if (k < 0.15 && nlive)
                g_realloc(random_live(), logrange(1, 8192));
            else
                g_malloc(size);
        } else {
            g_free(random_live());
        }
    }
    free_all_random();
}

/* binary: alternate small and large blocks, free all the large ones, then ask for
 * blocks a bit larger than the large ones (which fit in none of the holes). */
static void pat_binary(size_t scale)
{
    static const size_t rounds[][3] = { { 16, 112, 128 }, { 64, 448, 512 }, { 24, 200, 256 } };
    size_t n = 2000 * scale;
    uint32_t *small = xrealloc(NULL, n * sizeof *small);
    uint32_t *large = xrealloc(NULL, n * sizeof *large);
    for (size_t r = 0; r < sizeof rounds / sizeof rounds[0]; r++) {
        for (size_t i = 0; i < n; i++) {
            small[i] = g_malloc(rounds[r][0]);
            large[i] = g_malloc(rounds[r][1]);
        }
        for (size_t i = 0; i < n; i++)
            g_free(large[i]);
        for (size_t i = 0; i < n; i++)
            large[i] = g_malloc(rounds[r][2]);
        for (size_t i = 0; i < n; i++) {
            g_free(small[i]);
            g_free(large[i]);
        }
    }
    free(small);
    free(large);
}

/* coalescing: allocate 2-4 neighbours, free them, then ask for their union; a few
 * long-lived blocks and the unions (kept for a while) sit between the groups. */
static void pat_coalescing(size_t scale)
{
    size_t iters = 5000 * scale;
    uint32_t unions[64];
    size_t nunions = 0, next = 0;
    for (size_t it = 0; it < iters; it++) {
        size_t sz = logrange(32, 4096), k = urange(2, 4);
        uint32_t g[4];
        for (size_t j = 0; j < k; j++)
            g[j] = g_malloc(sz);
        if (chance(0.05))
            g_malloc(logrange(16, 256));          /* a long-lived fence */
        for (size_t j = k; j > 0; j--) {          /* free in a shuffled order */
            size_t x = urange(0, j - 1);
            g_free(g[x]);
            g[x] = g[j - 1];
        }
        uint32_t u = g_malloc(sz * k);
        if (nunions < 64) {
            unions[nunions++] = u;
        } else {
            g_free(unions[next]);
            unions[next] = u;
            next = (next + 1) % 64;
        }
    }
    free_all_random();
}

/* realloc: buffers grown in small steps by realloc while small objects come and go
 * between them; a buffer that reaches its target size is freed and restarted. */
static void pat_realloc(size_t scale)
{
    enum { NBUF = 16, FIFO = 256 };
    uint32_t buf[NBUF];
    size_t target[NBUF], fifo_n = 0, fifo_head = 0;
    uint32_t fifo[FIFO];
    for (int b = 0; b < NBUF; b++) {
        buf[b] = g_malloc(urange(16, 256));
        target[b] = logrange(4096, 256 << 10);
    }
    size_t steps = 40000 * scale;
    for (size_t i = 0; i < steps; i++) {
        int b = (int)(rnd() % NBUF);
        size_t cur = id_size[buf[b]];
        if (cur >= target[b]) {
            g_free(buf[b]);
            buf[b] = g_malloc(urange(16, 256));
            target[b] = logrange(4096, 256 << 10);
        } else {
            g_realloc(buf[b], cur + urange(8, 256));
        }
        if (chance(0.3)) {
            if (fifo_n == FIFO) {
                g_free(fifo[fifo_head]);
                fifo[fifo_head] = g_malloc(urange(16, 128));
                fifo_head = (fifo_head + 1) % FIFO;
            } else {
                fifo[fifo_n++] = g_malloc(urange(16, 128));
            }
        }
    }
    free_all_random();
}

/* short: many small objects living for a few allocations each, around a few hundred
 * long-lived ones that are occasionally replaced. */
static void pat_short(size_t scale)
{
    enum { LONG = 500 };
    uint32_t longl[LONG];
    for (int i = 0; i < LONG; i++)
        longl[i] = g_malloc(logrange(16, 1024));
    size_t n = 40000 * scale;
    for (uint64_t t = 0; t < n; t++) {
        reap(t);
        size_t size = chance(0.7) ? urange(8, 64) : logrange(64, 512);
        uint32_t id = chance(0.1) ? g_calloc(1, size) : g_malloc(size);
        schedule(id, t + urange(1, 16));
        if (chance(0.01)) {
            int k = (int)(rnd() % LONG);
            g_free(longl[k]);
            longl[k] = g_malloc(logrange(16, 1024));
        }
    }
    reap(UINT64_MAX);
    free_all_random();
}

/* powerlaw: sizes and lifetimes both drawn from power laws (Pareto). */
static void pat_powerlaw(size_t scale)
{
    size_t n = 25000 * scale;
    for (uint64_t t = 0; t < n; t++) {
        reap(t);
        uint32_t id = g_malloc(pareto(16, 1.2, 1 << 20));
        schedule(id, t + pareto(64, 0.8, n));
    }
    reap(UINT64_MAX);
}

/* server: a long-running server in steady state: sessions and a cache are kept,
 * requests (a few in flight at once) allocate buffers, small objects and a growing
 * response, then free them; now and then one object moves into the cache. */
static void pat_server(size_t scale)
{
    enum { SESSIONS = 1000, CACHE = 400, INFLIGHT = 4, PERREQ = 16 };
    uint32_t sess[SESSIONS], cache[CACHE];
    uint32_t req[INFLIGHT][PERREQ];
    size_t reqn[INFLIGHT] = { 0 }, ncache = 0;
    for (int i = 0; i < SESSIONS; i++)
        sess[i] = g_malloc(logrange(256, 2048));
    size_t nreq = 5000 * scale;
    for (size_t r = 0; r < nreq; r++) {
        int slot = (int)(r % INFLIGHT);
        /* finish the request that was in this slot */
        for (size_t j = reqn[slot]; j > 0; j--) {
            uint32_t id = req[slot][j - 1];
            if (j == 1 && chance(0.1)) {              /* its last object is cached */
                if (ncache < CACHE) {
                    cache[ncache++] = id;
                } else {
                    size_t k = (size_t)(rnd() % CACHE);
                    g_free(cache[k]);
                    cache[k] = id;
                }
            } else {
                g_free(id);
            }
        }
        reqn[slot] = 0;
        /* start a new one */
        uint32_t *q = req[slot];
        size_t *qn = &reqn[slot];
        q[(*qn)++] = g_malloc(chance(0.9) ? 4096 : chance(0.8) ? 16384 : 65536);
        size_t nsmall = urange(3, 10);
        for (size_t j = 0; j < nsmall; j++)
            q[(*qn)++] = chance(0.2) ? g_calloc(1, urange(16, 512)) : g_malloc(logrange(16, 512));
        uint32_t resp = g_malloc(urange(64, 256));
        q[(*qn)++] = resp;
        size_t grow = urange(0, 3);
        for (size_t j = 0; j < grow; j++)
            g_realloc(resp, id_size[resp] * 2 + urange(0, 100));
        if (chance(0.05)) {                           /* a session ends, another starts */
            int k = (int)(rnd() % SESSIONS);
            g_free(sess[k]);
            sess[k] = g_malloc(logrange(256, 2048));
        }
    }
    free_all_random();
}

/* small16: mostly 16-byte objects (90%), the rest 8-64 bytes; a large live set
 * with random churn. */
static void pat_small16(size_t scale)
{
    size_t n = 20000 * scale;
    for (size_t i = 0; i < n; i++)
        g_malloc(chance(0.9) ? 16 : urange(8, 64));
    for (size_t i = 0; i < n; i++) {
        g_free(random_live());
        g_malloc(chance(0.9) ? 16 : urange(8, 64));
    }
    free_all_random();
}

static const struct pattern {
    const char *name;
    void (*fn)(size_t);
    const char *what;
} patterns[] = {
    { "random", pat_random, "random sizes and lifetimes, some calloc/memalign/realloc" },
    { "binary", pat_binary, "small/large pairs, large freed, then larger requests" },
    { "coalescing", pat_coalescing, "free neighbours, then ask for their union" },
    { "realloc", pat_realloc, "buffers grown in small steps among other live blocks" },
    { "short", pat_short, "many short-lived small objects around long-lived ones" },
    { "powerlaw", pat_powerlaw, "power-law sizes and lifetimes" },
    { "server", pat_server, "steady-state server: sessions, cache, requests in flight" },
    { "small16", pat_small16, "mostly 16-byte objects, large live set, churn" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: snug-gen [OPTION...] PATTERN\n"
               "Writes a synthetic trace (stdout unless -o); same pattern, seed and scale, same trace.\n"
               "  -s, --seed=N     the generator's seed (default 1)\n"
               "  -x, --scale=N    multiply the trace's length, 1 to 10000 (default 1)\n"
               "  -o, --output=FILE  write to FILE\n"
               "  -v, --verbose    say on stderr what was written (operations, ids, peak bytes)\n"
               "  -l, --list       list the patterns and exit\n"
               "  -h, --help       this summary;  -V, --version  the version\n"
               "Short options bundle (-vx4 -s7), long ones take --opt=value or --opt value.\n");
}

static const struct option long_options[] = {
    {"seed",    required_argument, NULL, 's'},
    {"scale",   required_argument, NULL, 'x'},
    {"output",  required_argument, NULL, 'o'},
    {"verbose", no_argument,       NULL, 'v'},
    {"list",    no_argument,       NULL, 'l'},
    {"help",    no_argument,       NULL, 'h'},
    {"version", no_argument,       NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* A whole unsigned number in [lo, hi]; 0, or -1 after saying which option was wrong. */
static int number_arg(const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
                      unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (!*s || *end || s[0] == '-' || errno || v < lo || v > hi) {
        fprintf(stderr, "snug-gen: bad value '%s' for %s\n", s, opt);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *pattern = NULL, *out = NULL;
    uint64_t seed = 1;
    size_t scale = 1;
    int verbose = 0, opt;
    unsigned long long v;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":s:x:o:vlhV", long_options, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (number_arg("--seed", optarg, 0, UINT64_MAX, &v)) return 2;
            seed = v;
            break;
        case 'x':
            if (number_arg("--scale", optarg, 1, 10000, &v)) return 2;
            scale = (size_t)v;
            break;
        case 'o': out = optarg; break;
        case 'v': verbose = 1; break;
        case 'l':
            for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++)
                printf("%-12s %s\n", patterns[k].name, patterns[k].what);
            return 0;
        case 'h': usage(stdout); return 0;
        case 'V': printf("snug-gen %s\n", SNUG_VERSION_STRING); return 0;
        case ':':
            fprintf(stderr, "snug-gen: option %s needs a value\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            if (optopt > 0 && optopt < 256) fprintf(stderr, "snug-gen: unknown option -%c\n", optopt);
            else fprintf(stderr, "snug-gen: unknown option %s\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        if (optind + 1 < argc) fprintf(stderr, "snug-gen: one pattern only ('%s', then '%s')\n", argv[optind], argv[optind + 1]);
        usage(stderr);
        return 2;
    }
    pattern = argv[optind];
    const struct pattern *p = NULL;
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++)
        if (!strcmp(patterns[k].name, pattern))
            p = &patterns[k];
    if (!p) {
        fprintf(stderr, "snug-gen: unknown pattern '%s' (snug-gen --list)\n", pattern);
        return 2;
    }
    /* Mix the pattern name into the seed so patterns do not share a stream. */
    rng_state = seed * 0x9E3779B97F4A7C15ull;
    for (const char *c = p->name; *c; c++)
        rng_state = (rng_state ^ (unsigned char)*c) * 0x100000001B3ull;
    p->fn(scale);

    struct trace t;
    memset(&t, 0, sizeof t);
    t.heap_hint = peak_bytes;
    t.num_ids = next_id;
    t.weight = 1;
    t.ops = ops;
    t.nops = nops;
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        perror(out);
        return 1;
    }
    if (trace_write(f, &t) || (out && fclose(f))) {
        perror(out ? out : "stdout");
        return 1;
    }
    if (verbose)
        fprintf(stderr, "snug-gen: %s seed %llu scale %zu: %zu operations, %llu ids, peak %llu live bytes, to %s\n",
                p->name, (unsigned long long)seed, scale, (size_t)nops, (unsigned long long)next_id,
                (unsigned long long)peak_bytes, out ? out : "stdout");
    return 0;
}
