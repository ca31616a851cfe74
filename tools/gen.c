/* gen.c - snug-gen: writes synthetic allocation traces (tools/trace_format.h) for
 * named patterns; options by getopt_long.  Output depends only on (pattern, --seed,
 * --scale): the PRNG is our own splitmix64, no libc randomness.  Scale 1 gives ~20k-110k ops per trace. */
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

/* ---- the shapes of issue 20: small heaps where free space held per size class
 * weighs most.  Written from the one-line descriptions, not from any trace. ---- */

/* A string length skewed small: mostly words (1-16), some phrases, a few lines. */
static size_t string_len(void)
{
    double k = unit();
    if (k < 0.55)
        return urange(1, 16);
    if (k < 0.85)
        return urange(17, 64);
    return logrange(65, 255);
}

/* strings: 40,000 strings of 1-255 bytes, skewed small; a quarter live to the end,
 * the rest die after a log-uniform number of later requests (random lifetimes).
 * Peak live payload about 0.9 MiB. */
static void pat_strings(size_t scale)
{
    size_t n = 40000 * scale;
    for (uint64_t t = 0; t < n; t++) {
        reap(t);
        uint32_t id = g_malloc(string_len());
        if (!chance(0.54))
            schedule(id, t + logrange(1, 4 * n));
    }
    reap(UINT64_MAX);
    free_all_random();
}

/* structs: records of 8-248 bytes in steps of 8, the step drawn with weight 1/k
 * (skewed small), made in groups of 1-8 (an object and its parts); groups are
 * freed whole, at random, once the live set is about 0.85 MiB, then all at the end. */
static void pat_structs(size_t scale)
{
    enum { MAXG = 8 };
    size_t ngroups = 12000 * scale, cap = 3200 * scale, nlive_g = 0;
    uint32_t (*grp)[MAXG] = xrealloc(NULL, cap * sizeof *grp);
    size_t *grpn = xrealloc(NULL, cap * sizeof *grpn);
    double hsum = 0;                    /* harmonic weights 1/k, k = 1..31 */
    for (int k = 1; k <= 31; k++)
        hsum += 1.0 / k;
    for (size_t g = 0; g < ngroups; g++) {
        if (nlive_g == cap || (nlive_g > cap / 2 && chance(0.45))) {
            size_t x = (size_t)(rnd() % nlive_g);
            for (size_t j = grpn[x]; j > 0; j--)
                g_free(grp[x][j - 1]);
            nlive_g--;
            memcpy(grp[x], grp[nlive_g], sizeof grp[x]);
            grpn[x] = grpn[nlive_g];
        }
        size_t m = urange(1, MAXG);
        for (size_t j = 0; j < m; j++) {
            double u = unit() * hsum;
            int k = 1;
            while (k < 31 && (u -= 1.0 / k) > 0)
                k++;
            grp[nlive_g][j] = chance(0.1) ? g_calloc(1, (size_t)8 * k) : g_malloc((size_t)8 * k);
        }
        grpn[nlive_g++] = m;
    }
    free_all_random();
    free(grp);
    free(grpn);
}

/* bitvec: a bit-vector program: sets of 1, 8 and 56 bytes (8, 64 and 448 bits) make
 * most requests, a few larger vectors among them; long-lived sets per node and
 * short-lived temporaries (unions, differences) freed a few requests later.  Peak
 * live payload about 0.43 MiB. */
static size_t bitvec_size(void)
{
    double k = unit();
    return k < 0.35 ? 1 : k < 0.68 ? 8 : k < 0.94 ? 56 : logrange(2, 2048);
}

static void pat_bitvec(size_t scale)
{
    size_t n = 50000 * scale, keep = 13000 * scale, nkept = 0;
    uint32_t *kept = xrealloc(NULL, keep * sizeof *kept);
    for (uint64_t t = 0; t < n; t++) {
        reap(t);
        uint32_t id = g_malloc(bitvec_size());
        if (chance(0.6)) {
            schedule(id, t + urange(1, 8));                 /* a temporary */
        } else if (nkept < keep) {
            kept[nkept++] = id;                             /* a node's set */
        } else {
            size_t k = (size_t)(rnd() % keep);              /* a node's set replaced */
            g_free(kept[k]);
            kept[k] = id;
        }
    }
    reap(UINT64_MAX);
    free_all_random();
    free(kept);
}

/* mix3000: 3,000 distinct sizes of 32 B-7.6 KiB (log-uniform, drawn once), each
 * request one of them at random; the live set climbs to 25 MiB (one free in eight),
 * churns there, then is freed in a random order.  Few operations for its size: the
 * heap checker after every one is what it costs the traces test group. */
static void pat_mix3000(size_t scale)
{
    enum { NSIZES = 3000, LO = 32, HI = 7782 };
    static unsigned char used[HI + 1];
    size_t sizes[NSIZES];
    memset(used, 0, sizeof used);
    for (size_t i = 0; i < NSIZES; i++) {
        size_t s;
        do
            s = logrange(LO, HI);
        while (used[s]);
        used[s] = 1;
        sizes[i] = s;
    }
    size_t churn = 8000 * scale, peak = ((size_t)25 << 20) * scale;
    while (live_bytes < peak) {                 /* the climb, one free in eight */
        if (nlive == 0 || chance(0.88))
            g_malloc(sizes[rnd() % NSIZES]);
        else
            g_free(random_live());
    }
    for (size_t i = 0; i < churn; i++) {        /* churn at the top */
        if (chance(live_bytes < peak ? 0.52 : 0.48))
            g_malloc(sizes[rnd() % NSIZES]);
        else
            g_free(random_live());
    }
    free_all_random();
}

/* realloc-buffer: one buffer grown by realloc in steps of 1-128 bytes (text appended
 * a line at a time) while small blocks (16-128 bytes, up to 3,000 live) are made and
 * freed between the steps, so the buffer's neighbours are taken; three rounds, each
 * buffer freed at its target of 256-448 KiB.  Peak live payload about 0.6 MiB. */
static void pat_realloc_buffer(size_t scale)
{
    size_t pool = 3000 * scale;
    for (int round = 0; round < 3; round++) {
        uint32_t buf = g_malloc(urange(64, 256));
        size_t target = urange(256 << 10, 448 << 10) * scale;
        while (id_size[buf] < target) {
            g_realloc(buf, id_size[buf] + urange(1, 128));
            if (chance(0.5)) {
                if (nlive > pool || (nlive > pool / 2 && chance(0.4))) {
                    uint32_t id;
                    do
                        id = random_live();
                    while (id == buf);
                    g_free(id);
                }
                g_malloc(urange(16, 128));
            }
        }
        g_free(buf);
    }
    free_all_random();
}

/* binary-alt: binary trees of two sizes, a node (A bytes) and its data (B bytes)
 * allocated one after the other in preorder, so the two sizes alternate in memory;
 * random subtrees are cut (postorder) and grown again; three trees with different
 * pairs, one after another. */
static uint32_t *bt_node, *bt_data;

static void bt_grow(size_t i, size_t n, size_t a, size_t b)
{
    if (i >= n)
        return;
    bt_node[i] = g_malloc(a);
    bt_data[i] = g_malloc(b);
    bt_grow(2 * i + 1, n, a, b);
    bt_grow(2 * i + 2, n, a, b);
}

static void bt_cut(size_t i, size_t n)
{
    if (i >= n)
        return;
    bt_cut(2 * i + 1, n);
    bt_cut(2 * i + 2, n);
    g_free(bt_data[i]);
    g_free(bt_node[i]);
}

static void pat_binary_alt(size_t scale)
{
    static const size_t pairs[][2] = { { 40, 120 }, { 24, 72 }, { 96, 200 } };
    size_t depth = 12, n = ((size_t)1 << depth) - 1;
    while (scale > 1 && depth < 22) {
        depth++;
        n = n * 2 + 1;
        scale /= 2;
    }
    bt_node = xrealloc(NULL, n * sizeof *bt_node);
    bt_data = xrealloc(NULL, n * sizeof *bt_data);
    for (size_t r = 0; r < sizeof pairs / sizeof pairs[0]; r++) {
        bt_grow(0, n, pairs[r][0], pairs[r][1]);
        for (int cut = 0; cut < 24; cut++) {
            size_t d = urange(4, depth - 3), root = ((size_t)1 << d) - 1 + urange(0, ((size_t)1 << d) - 1);
            bt_cut(root, n);
            bt_grow(root, n, pairs[r][0], pairs[r][1]);
        }
        bt_cut(0, n);
    }
    free(bt_node);
    free(bt_data);
}

/* tiny: a small program, under 64 KiB of live payload: mostly 8-256 bytes, a few of
 * 1-4 KiB, some calloc and a few reallocs; the live set stays near 300 blocks while
 * 20,000 requests churn it. */
static void pat_tiny(size_t scale)
{
    size_t n = 20000 * scale;
    for (size_t i = 0; i < n; i++) {
        if (nlive < 150 || (nlive < 300 && chance(0.5))) {
            size_t size = chance(0.02) ? logrange(1024, 4096) : logrange(8, 256);
            if (chance(0.1))
                g_calloc(1, size);
            else
                g_malloc(size);
        } else if (chance(0.05)) {
            uint32_t id = random_live();
            size_t s = id_size[id] * 2;
            g_realloc(id, s > 4096 ? urange(8, 64) : s);
        } else {
            g_free(random_live());
        }
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
    { "strings", pat_strings, "40k strings of 1-255 bytes, skewed small, random lifetimes (~0.9 MiB)" },
    { "structs", pat_structs, "structs of 8-248 bytes by 8, skewed small, freed in groups (~0.85 MiB)" },
    { "bitvec", pat_bitvec, "bit vectors: 1, 8 and 56 bytes dominate, temporaries (~0.43 MiB)" },
    { "mix3000", pat_mix3000, "3,000 distinct sizes of 32 B-7.6 KiB (~25 MiB)" },
    { "realloc-buffer", pat_realloc_buffer, "one buffer grown by realloc among small blocks (~0.6 MiB)" },
    { "binary-alt", pat_binary_alt, "binary trees: two sizes alternating, subtrees cut and regrown" },
    { "tiny", pat_tiny, "a small program: under 64 KiB of live payload, churn" },
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
                printf("%-15s %s\n", patterns[k].name, patterns[k].what);
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
