/* gc.c - Criterion tests of the implicit allocator (snug_gc_*), one process per test: reachable
 * structures survive collections intact, dropped ones (cycles too) are reclaimed, atomic blocks
 * are not scanned, interior pointers keep blocks, realloc, bounded memory under churn, threads
 * (stacks, registers, blocks still queued for indexing), added roots, mark-stack overflow, fork.  Built against libsnug-prefix.a and libsnug-asan.a.
 *
 * Conservative collection can retain a dropped block through a stale word on the stack, so
 * structures are built and dropped in separate functions, the stack below is zeroed before a
 * reclaim is asserted, and reclaim is asserted with slack (most of the bytes, not all). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snug.h"
#include "gc/gc.h"                  /* white box, one use: the mark stack's overflow counter */

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define NOINLINE __attribute__((noinline))

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

struct node {
    struct node *next, *prev;       /* list / ring links */
    struct node *kid[2];            /* tree */
    size_t id, check;
};
static size_t ck(size_t id) { return id * 0x9E3779B97F4A7C15ull ^ 0x5bd1e995u; }

static struct node *new_node(size_t id)
{
    struct node *n = snug_gc_malloc(sizeof *n);
    cr_assert_not_null(n, "snug_gc_malloc(%zu) failed", sizeof(struct node));
    n->id = id;
    n->check = ck(id);
    return n;
}

/* Zero a good part of the stack below the caller, so stale copies of dropped pointers in dead
 * frames do not keep them.  Not instrumented: ASan would put red zones around buf, words that
 * the memset never reaches. */
#if UNDER_ASAN
#define NO_ASAN __attribute__((no_sanitize("address")))
#else
#define NO_ASAN
#endif
NOINLINE NO_ASAN static void clear_stack(void)
{
    char buf[128 * 1024];
    memset(buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

NOINLINE static void collect_clean(void)
{
    clear_stack();
    snug_gc_collect();
}

/* a byte pattern per block and offset */
static unsigned char pat(size_t seed, size_t i) { return (unsigned char)(seed * 131u + i * 7u + (i >> 9) + 1u); }
static void fill(void *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++) ((unsigned char *)p)[i] = pat(seed, i);
}
static size_t bad_at(const void *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != pat(seed, i)) return i;
    return (size_t)-1;
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

/* Short-lived garbage of mixed sizes, some of it pointing at other garbage. */
NOINLINE static void garbage(size_t bytes)
{
    void *prev = NULL;
    for (size_t done = 0; done < bytes;) {
        size_t n = 16 + rnd() % (rnd() % 8 == 0 ? 16 * KiB : 512);
        void **p = snug_gc_malloc(n);
        cr_assert_not_null(p);
        p[0] = prev;
        prev = rnd() % 4 ? p : NULL;
        done += n;
    }
}

static void heap_ok(void) { cr_assert_eq(snug_heap_check(), 0, "snug_heap_check failed"); }

/* ---- structures ------------------------------------------------------------------------- */
NOINLINE static struct node *make_list(size_t n, size_t base)
{
    struct node *head = NULL;
    for (size_t i = n; i-- > 0;) {
        struct node *x = new_node(base + i);
        x->next = head;
        head = x;
    }
    return head;
}
static void check_list(const struct node *l, size_t n, size_t base)
{
    size_t i = 0;
    for (; l; l = l->next, i++) {
        cr_assert_eq(l->id, base + i, "list node %zu has id %zu", i, l->id);
        cr_assert_eq(l->check, ck(l->id), "list node %zu corrupted", i);
    }
    cr_assert_eq(i, n, "list has %zu nodes, expected %zu", i, n);
}

NOINLINE static struct node *make_tree(int depth, size_t id)
{
    struct node *t = new_node(id);
    if (depth > 0) {
        t->kid[0] = make_tree(depth - 1, 2 * id);
        t->kid[1] = make_tree(depth - 1, 2 * id + 1);
    }
    return t;
}
static size_t check_tree(const struct node *t, int depth, size_t id)
{
    cr_assert_not_null(t, "tree node %zu missing", id);
    cr_assert_eq(t->id, id, "tree node %zu has id %zu", id, t->id);
    cr_assert_eq(t->check, ck(id), "tree node %zu corrupted", id);
    if (depth == 0) return 1;
    return 1 + check_tree(t->kid[0], depth - 1, 2 * id) + check_tree(t->kid[1], depth - 1, 2 * id + 1);
}

/* A ring of n nodes, doubly linked: every node is reachable from every other. */
NOINLINE static struct node *make_ring(size_t n, size_t base)
{
    struct node *first = new_node(base), *last = first;
    for (size_t i = 1; i < n; i++) {
        struct node *x = new_node(base + i);
        x->prev = last;
        last->next = x;
        last = x;
    }
    last->next = first;
    first->prev = last;
    first->kid[0] = first;          /* and a self-reference */
    return first;
}
static void check_ring(const struct node *r, size_t n, size_t base)
{
    const struct node *x = r;
    for (size_t i = 0; i < n; i++, x = x->next) {
        cr_assert_eq(x->id, base + i);
        cr_assert_eq(x->check, ck(base + i));
        cr_assert_eq(x->next->prev, x, "ring link broken at %zu", i);
    }
    cr_assert_eq(x, r, "ring does not close");
}

/* ---- reachable structures survive --------------------------------------------------------- */
static struct node *g_list;          /* data segment roots */
static struct node *g_tree;

Test(gc, reachable_structures_survive_many_collections, .timeout = 300)
{
    g_list = make_list(20000, 1000);
    g_tree = make_tree(13, 1);
    struct node *ring = make_ring(5000, 77);        /* stack root */
    for (int round = 0; round < 40; round++) {
        garbage(2 * MiB);
        if (round % 3 == 0) snug_gc_collect();
        if (round % 8 == 0) {
            check_list(g_list, 20000, 1000);
            cr_assert_eq(check_tree(g_tree, 13, 1), (size_t)(1 << 14) - 1);
            check_ring(ring, 5000, 77);
        }
    }
    collect_clean();
    check_list(g_list, 20000, 1000);
    cr_assert_eq(check_tree(g_tree, 13, 1), (size_t)(1 << 14) - 1);
    check_ring(ring, 5000, 77);
    size_t kept = 20000 + (1 << 14) - 1 + 5000;
    cr_assert_geq(snug_gc_heap_bytes(), kept * sizeof(struct node), "kept %zu bytes, the live structures need %zu",
                  snug_gc_heap_bytes(), kept * sizeof(struct node));
    heap_ok();
}

/* ---- dropped structures are reclaimed ----------------------------------------------------- */
NOINLINE static void build_and_drop_everything(void)
{
    g_list = make_list(30000, 0);
    g_tree = make_tree(14, 1);
    for (int i = 0; i < 500; i++) make_ring(40, 0);     /* cycles, never referenced from roots */
    struct node *self = new_node(5);
    self->next = self;
    g_list = NULL;
    g_tree = NULL;
}

Test(gc, dropped_lists_trees_and_cycles_are_reclaimed)
{
    collect_clean();
    size_t b0 = snug_gc_heap_bytes();
    build_and_drop_everything();
    size_t b1 = snug_gc_heap_bytes();
    size_t made = (30000 + (1 << 15) - 1 + 500 * 40 + 1) * sizeof(struct node);
    cr_assert_geq(b1 - b0, made / 2, "heap_bytes grew by %zu only, %zu were allocated", b1 - b0, made);
    collect_clean();
    size_t b2 = snug_gc_heap_bytes();
    cr_assert_lt(b2, b0 + made / 20, "after dropping %zu bytes of lists/trees/cycles, %zu bytes are still kept (before: %zu)",
                 made, b2, b0);
    heap_ok();
}

Test(gc, cycles_alone_are_reclaimed)
{
    collect_clean();
    size_t b0 = snug_gc_heap_bytes();
    for (int i = 0; i < 2000; i++) make_ring(50, 0);
    collect_clean();
    size_t b2 = snug_gc_heap_bytes();
    cr_assert_lt(b2, b0 + 2000 * 50 * sizeof(struct node) / 20, "rings kept: %zu bytes", b2 - b0);
}

/* ---- atomic blocks are not scanned --------------------------------------------------------- */
static void **g_holder;

NOINLINE static void holder_points_to_big_block(int atomic)
{
    g_holder = atomic ? snug_gc_malloc_atomic(64) : snug_gc_malloc(64);
    cr_assert_not_null(g_holder);
    memset(g_holder, 0, 64);
    void *big = snug_gc_malloc(MiB);
    cr_assert_not_null(big);
    fill(big, MiB, 9);
    g_holder[3] = big;              /* the only reference */
}

Test(gc, atomic_block_is_not_scanned)
{
    holder_points_to_big_block(1);
    collect_clean();
    size_t b = snug_gc_heap_bytes();
    cr_assert_lt(b, MiB, "a pointer stored only in an atomic block kept its target (%zu bytes kept)", b);
    cr_assert_geq(b, 64, "the atomic block itself was reclaimed although a global points to it");
    size_t before = snug_gc_heap_bytes();
    snug_gc_free(g_holder);         /* fatal if it were not a live GC block */
    cr_assert_eq(snug_gc_heap_bytes(), before - 64);
}

Test(gc, scanned_block_keeps_its_target)
{
    holder_points_to_big_block(0);
    for (int i = 0; i < 3; i++) {
        garbage(3 * MiB);
        collect_clean();
    }
    cr_assert_geq(snug_gc_heap_bytes(), MiB + 64);
    cr_assert_eq(bad_at(g_holder[3], MiB, 9), (size_t)-1, "the target was corrupted");
}

Test(gc, atomic_block_contents_are_not_zeroed_or_touched)
{
    unsigned char *a = snug_gc_malloc_atomic(1000);
    cr_assert_not_null(a);
    fill(a, 1000, 4);
    garbage(2 * MiB);
    collect_clean();
    cr_assert_eq(bad_at(a, 1000, 4), (size_t)-1);
}

/* ---- interior pointers ----------------------------------------------------------------------- */
#define NSIZES 9
static const size_t isizes[NSIZES] = { 16, 24, 100, 1000, 5000, 60000, 300000, 3 * MiB, 9 * MiB + 8 };
static unsigned char *g_inner[NSIZES][3];   /* first byte + 1, middle, last byte */

NOINLINE static void make_interior_refs(void)
{
    for (int i = 0; i < NSIZES; i++) {
        unsigned char *p = snug_gc_malloc(isizes[i]);
        cr_assert_not_null(p);
        fill(p, isizes[i], (size_t)i);
        g_inner[i][0] = p + 1;
        g_inner[i][1] = p + isizes[i] / 2;
        g_inner[i][2] = p + isizes[i] - 1;
    }
}

/* Where the other kinds wait during the collection: an atomic block (not scanned). */
static unsigned char *(*saved_somewhere_else)[3];

/* Keep only interior pointers of kind `which`, collect, check, restore. */
NOINLINE static void keep_only_kind(int which, size_t total)
{
    unsigned char *saved[NSIZES][3];
    memcpy(saved, g_inner, sizeof saved);
    for (int i = 0; i < NSIZES; i++)
        for (int w = 0; w < 3; w++)
            if (w != which) g_inner[i][w] = NULL;
    saved_somewhere_else = snug_gc_malloc_atomic(sizeof saved);
    memcpy(saved_somewhere_else, saved, sizeof saved);
    memset(saved, 0, sizeof saved);
    garbage(4 * MiB);
    collect_clean();
    cr_assert_geq(snug_gc_heap_bytes(), total, "interior pointers of kind %d kept only %zu of %zu bytes",
                  which, snug_gc_heap_bytes(), total);
    memcpy(g_inner, saved_somewhere_else, sizeof g_inner);
    snug_gc_free(saved_somewhere_else);
    saved_somewhere_else = NULL;
    for (int i = 0; i < NSIZES; i++) {
        unsigned char *start = g_inner[i][0] - 1;
        cr_assert_eq(bad_at(start, isizes[i], (size_t)i), (size_t)-1, "block of %zu bytes corrupted", isizes[i]);
    }
}

Test(gc, interior_pointers_keep_blocks, .timeout = 300)
{
    make_interior_refs();
    size_t total = 0;
    for (int i = 0; i < NSIZES; i++) total += isizes[i];
    /* each kind of interior pointer alone must keep its block */
    for (int which = 0; which < 3; which++) keep_only_kind(which, total);
    memset(g_inner, 0, sizeof g_inner);
    collect_clean();
    cr_assert_lt(snug_gc_heap_bytes(), total / 10, "blocks kept after their interior pointers were dropped: %zu bytes",
                 snug_gc_heap_bytes());
    heap_ok();
}

Test(gc, interior_pointers_into_many_small_blocks)
{
    /* a list linked through pointers to the middle of each node */
    enum { N = 50000 };
    static size_t *mid[N];
    for (size_t i = 0; i < N; i++) {
        size_t sz = 16 + 16 * (i % 70);
        size_t *p = snug_gc_malloc(sz);
        cr_assert_not_null(p);
        for (size_t k = 0; k < sz / sizeof(size_t); k++) p[k] = i ^ k;
        mid[i] = p + (sz / sizeof(size_t)) / 2;
    }
    garbage(8 * MiB);
    collect_clean();
    for (size_t i = 0; i < N; i++) {
        size_t sz = 16 + 16 * (i % 70), half = (sz / sizeof(size_t)) / 2;
        size_t *p = mid[i] - half;
        for (size_t k = 0; k < sz / sizeof(size_t); k++) cr_assert_eq(p[k], i ^ k, "block %zu word %zu", i, k);
    }
}

/* ---- realloc ------------------------------------------------------------------------------- */
Test(gc, realloc_keeps_contents)
{
    static const size_t steps[] = { 10, 100, 1000, 10000, 100000, 300000, 2 * MiB, 5000, 50, 7 };
    unsigned char *p = snug_gc_realloc(NULL, 1);
    cr_assert_not_null(p);
    p[0] = pat(1, 0);
    size_t have = 1;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        size_t n = steps[i];
        unsigned char *q = snug_gc_realloc(p, n);
        cr_assert_not_null(q, "realloc to %zu failed", n);
        size_t keep = have < n ? have : n;
        cr_assert_eq(bad_at(q, keep, 1), (size_t)-1, "realloc %zu -> %zu lost contents", have, n);
        fill(q, n, 1);
        p = q;
        have = n;
        garbage(MiB);
        collect_clean();
        cr_assert_eq(bad_at(p, have, 1), (size_t)-1, "contents lost across a collection after realloc to %zu", n);
    }
    cr_assert_null(snug_gc_realloc(p, 0), "realloc(p, 0) frees and returns NULL");
}

Test(gc, realloc_of_pointer_array_keeps_targets)
{
    struct node **arr = snug_gc_malloc(4 * sizeof *arr);
    for (size_t n = 4; n <= 65536; n *= 2) {
        for (size_t i = n / 2; i < n; i++) arr[i] = new_node(i);
        if (n == 4) { arr[0] = new_node(0); arr[1] = new_node(1); }
        garbage(512 * KiB);
        collect_clean();
        for (size_t i = 0; i < n; i++) {
            cr_assert_not_null(arr[i]);
            cr_assert_eq(arr[i]->check, ck(i), "node %zu reached through a realloc'd array corrupted", i);
        }
        struct node **grown = snug_gc_realloc(arr, 2 * n * sizeof *arr);
        cr_assert_not_null(grown);
        for (size_t i = n; i < 2 * n; i++) cr_assert_null(grown[i], "grown part of a scanned block is not zero");
        arr = grown;
    }
}

Test(gc, realloc_failure_leaves_block_intact)
{
    unsigned char *p = snug_gc_malloc(100);
    fill(p, 100, 3);
    errno = 0;
    cr_assert_null(snug_gc_realloc(p, (size_t)PTRDIFF_MAX));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(bad_at(p, 100, 3), (size_t)-1);
    collect_clean();
    cr_assert_eq(bad_at(p, 100, 3), (size_t)-1);
}

/* ---- allocation contract ------------------------------------------------------------------- */
Test(gc, gc_malloc_is_zeroed_even_on_reused_memory)
{
    static const size_t sizes[] = { 1, 16, 24, 200, 1000, 4000, 40000, 200000, 400000 };
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            void *dirty = snug_malloc(sizes[i]);
            memset(dirty, 0xab, sizes[i]);
            snug_free(dirty);
            unsigned char *p = snug_gc_malloc(sizes[i]);
            cr_assert_not_null(p);
            for (size_t k = 0; k < sizes[i]; k++) cr_assert_eq(p[k], 0, "byte %zu of a %zu-byte GC block is not zero", k, sizes[i]);
            memset(p, 0xcd, sizes[i]);
        }
        collect_clean();            /* the 0xcd blocks go back to snug and come again */
    }
}

Test(gc, errors_and_zero_sizes)
{
    errno = 0;
    cr_assert_null(snug_gc_malloc((size_t)PTRDIFF_MAX + 1));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(snug_gc_malloc_atomic(SIZE_MAX));
    cr_assert_eq(errno, ENOMEM);
    void *a = snug_gc_malloc(0), *b = snug_gc_malloc(0);
    cr_assert(a && b && a != b, "gc_malloc(0) returns distinct blocks");
    cr_assert_eq((uintptr_t)a % (2 * sizeof(void *)), 0, "alignment");
    snug_gc_free(NULL);
    size_t before = snug_gc_heap_bytes();
    snug_gc_free(a);
    cr_assert_lt(snug_gc_heap_bytes(), before, "snug_gc_free lowers heap_bytes at once");
}

/* (On 32-bit, arguments go on the stack: a pointer passed from a test body would stay in the
 * body's live frame, so blocks that must be reclaimed are made and passed around in helpers.) */
NOINLINE static void hang_block_on(void **plain)
{
    void *big = snug_gc_malloc(2 * MiB);
    fill(big, 2 * MiB, 5);
    plain[1] = big;                 /* snug_malloc memory is not a root */
}

Test(gc, explicit_free_and_explicit_blocks_are_independent)
{
    /* explicit blocks are never collected and are not roots */
    void **plain = snug_malloc(64);
    memset(plain, 0, 64);
    hang_block_on(plain);
    size_t before = snug_gc_heap_bytes();
    collect_clean();
    cr_assert_lt(snug_gc_heap_bytes(), before - MiB, "a block referenced only from snug_malloc memory was kept");
    memset(plain, 0x5a, 64);
    garbage(4 * MiB);
    collect_clean();
    for (int i = 0; i < 64; i++) cr_assert_eq(((unsigned char *)plain)[i], 0x5a, "an explicit block changed");
    snug_free(plain);
    /* explicit snug_gc_free */
    void *p = snug_gc_malloc(3 * MiB);
    size_t with = snug_gc_heap_bytes();
    snug_gc_free(p);
    cr_assert_leq(snug_gc_heap_bytes() + 3 * MiB, with);
    heap_ok();
}

/* ---- bounded memory under churn ------------------------------------------------------------ */
#define LIVE_SLOTS 4096             /* x ~1 KiB = ~4 MiB live */

Test(gc, bounded_memory_under_churn, .timeout = 600)
{
    static unsigned char *slot[LIVE_SLOTS];
    static size_t slot_size[LIVE_SLOTS], slot_seed[LIVE_SLOTS];
    size_t live = 0;
    for (size_t i = 0; i < LIVE_SLOTS; i++) {
        slot_size[i] = 16 + rnd() % 2032;
        slot_seed[i] = i;
        slot[i] = snug_gc_malloc(slot_size[i]);
        fill(slot[i], slot_size[i], i);
        live += slot_size[i];
    }
    const size_t total = UNDER_ASAN ? 512 * MiB : 2048 * MiB;
    const size_t bound = 64 * MiB;
    size_t max_gc = 0, max_held = 0, seed = LIVE_SLOTS;
    void *chain = NULL;
    for (size_t done = 0, next_check = 0; done < total;) {
        /* mostly garbage (some of it chained), now and then replace a live slot */
        size_t n = 16 + rnd() % (rnd() % 16 == 0 ? 64 * KiB : 1024);
        void **g = snug_gc_malloc(n);
        cr_assert_not_null(g, "allocation failed after %zu MiB", done >> 20);
        g[0] = chain;
        chain = rnd() % 8 ? g : NULL;
        done += n;
        if (rnd() % 64 == 0) {
            size_t i = rnd() % LIVE_SLOTS;
            cr_assert_eq(bad_at(slot[i], slot_size[i], slot_seed[i]), (size_t)-1, "live slot %zu corrupted", i);
            live -= slot_size[i];
            slot_size[i] = 16 + rnd() % 2032;
            slot_seed[i] = seed++;
            slot[i] = snug_gc_malloc(slot_size[i]);
            fill(slot[i], slot_size[i], slot_seed[i]);
            live += slot_size[i];
        }
        if (done >= next_check) {
            next_check = done + 16 * MiB;
            size_t gcb = snug_gc_heap_bytes();
            struct snug_stats st;
            cr_assert_eq(snug_stats(&st), 0);
            if (gcb > max_gc) max_gc = gcb;
            if (st.heap_bytes > max_held) max_held = st.heap_bytes;
            cr_assert_lt(gcb, bound, "snug_gc_heap_bytes %zu MiB after %zu MiB allocated (%zu KiB live)",
                         gcb >> 20, done >> 20, live >> 10);
            cr_assert_lt(st.heap_bytes, bound, "snug holds %zu MiB from the kernel after %zu MiB allocated",
                         st.heap_bytes >> 20, done >> 20);
        }
    }
    for (size_t i = 0; i < LIVE_SLOTS; i++)
        cr_assert_eq(bad_at(slot[i], slot_size[i], slot_seed[i]), (size_t)-1, "live slot %zu corrupted at the end", i);
    cr_log_info("churned %zu MiB with %zu KiB live: max gc heap %zu KiB, max held %zu KiB",
                total >> 20, live >> 10, max_gc >> 10, max_held >> 10);
    heap_ok();
}

/* ---- threads ------------------------------------------------------------------------------- */
#define NTHREADS 4
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct node *shared_list;     /* appended by every thread */
static size_t shared_count;

static void *mutator(void *arg)
{
    size_t t = (size_t)arg;
    cr_assert_eq(snug_gc_register_thread(), 0, "register_thread");
    cr_assert_eq(snug_gc_register_thread(), 1, "second register_thread says 'already'");
    struct node *mine = make_list(3000, t * 100000);        /* on this thread's stack only */
    struct node *tree = make_tree(10, 1);
    uint64_t r = 0x9E3779B97F4A7C15ull * (t + 1);
    for (int round = 0; round < 60; round++) {
        void *prev = NULL;
        for (size_t done = 0; done < (UNDER_ASAN ? MiB : 2 * MiB);) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            size_t n = 16 + r % 700;
            void **g = snug_gc_malloc(n);
            cr_assert_not_null(g);
            g[0] = prev;
            prev = g;
            done += n;
        }
        struct node *s = new_node(t * 1000 + (size_t)round);
        pthread_mutex_lock(&shared_mu);
        s->next = shared_list;
        shared_list = s;
        shared_count++;
        pthread_mutex_unlock(&shared_mu);
        if (round % 10 == (int)t) snug_gc_collect();
        if (round % 7 == 0) {
            check_list(mine, 3000, t * 100000);
            cr_assert_eq(check_tree(tree, 10, 1), (size_t)2047);
        }
    }
    check_list(mine, 3000, t * 100000);
    cr_assert_eq(check_tree(tree, 10, 1), (size_t)2047);
    cr_assert_eq(snug_gc_unregister_thread(), 0);
    cr_assert_eq(snug_gc_unregister_thread(), 1);
    return NULL;
}

Test(gc, registered_threads_allocate_and_collect_concurrently, .timeout = 600)
{
    pthread_t th[NTHREADS];
    for (size_t i = 0; i < NTHREADS; i++) cr_assert_eq(pthread_create(&th[i], NULL, mutator, (void *)i), 0);
    struct node *mine = make_list(1000, 7);
    for (int i = 0; i < 20; i++) {
        garbage(MiB);
        snug_gc_collect();
    }
    for (size_t i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    check_list(mine, 1000, 7);
    size_t n = 0;
    for (struct node *s = shared_list; s; s = s->next, n++) cr_assert_eq(s->check, ck(s->id), "shared node corrupted");
    cr_assert_eq(n, shared_count);
    cr_assert_eq(n, (size_t)NTHREADS * 60);
    heap_ok();
}

/* A pointer held only by another thread: on its stack, or only in a register while it spins. */
static void *volatile handoff;
static atomic_int phase;

static void *stack_holder(void *arg)
{
    (void)arg;
    snug_gc_register_thread();
    unsigned char *volatile mine = handoff;     /* a stack slot */
    handoff = NULL;
    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2) usleep(1000);
    return (void *)(uintptr_t)(bad_at(mine, MiB, 11) == (size_t)-1);
}

static void *register_holder(void *arg)
{
    (void)arg;
    snug_gc_register_thread();
    uintptr_t p = (uintptr_t)handoff;
    handoff = NULL;
    atomic_store(&phase, 1);
    /* keep p in a register only, spinning without calls until the main thread is done */
    while (atomic_load_explicit(&phase, memory_order_relaxed) != 2) __asm__ volatile("" : "+r"(p));
    return (void *)(uintptr_t)(bad_at((void *)p, MiB, 11) == (size_t)-1);
}

NOINLINE static void hand_over_big_block(void)
{
    void *b = snug_gc_malloc(MiB);
    fill(b, MiB, 11);
    handoff = b;
}

static void only_other_thread_holds(void *(*fn)(void *))
{
    pthread_t th;
    atomic_store(&phase, 0);
    hand_over_big_block();
    cr_assert_eq(pthread_create(&th, NULL, fn, NULL), 0);
    while (atomic_load(&phase) != 1) usleep(1000);
    for (int i = 0; i < 3; i++) {
        garbage(2 * MiB);
        collect_clean();
        cr_assert_geq(snug_gc_heap_bytes(), MiB, "a block held only by another registered thread was reclaimed");
    }
    atomic_store(&phase, 2);
    void *ok = NULL;
    pthread_join(th, &ok);
    cr_assert(ok != NULL, "the other thread's block was corrupted");
}

Test(gc, block_held_only_on_another_threads_stack) { only_other_thread_holds(stack_holder); }
Test(gc, block_held_only_in_another_threads_register) { only_other_thread_holds(register_holder); }

/* A block referenced only from another thread's newest small block, which is still pending
 * (queued, not yet indexed): the collector must scan pending blocks as roots. */
static void *pending_holder(void *arg)
{
    (void)arg;
    snug_gc_register_thread();
    void **n = snug_gc_malloc(32);          /* this thread's first small block: still pending */
    n[1] = handoff;                         /* the only reference to the big block */
    handoff = NULL;
    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2) usleep(1000);
    return (void *)(uintptr_t)(bad_at(n[1], MiB, 11) == (size_t)-1);
}

Test(gc, pending_blocks_of_other_threads_are_roots) { only_other_thread_holds(pending_holder); }

/* Blocks still pending in the queue of the thread that made them, freed and realloc'd by another. */
static void *make_three(void *arg)
{
    void **out = arg;
    snug_gc_register_thread();
    for (int i = 0; i < 3; i++) {
        out[i] = snug_gc_malloc(48);
        fill(out[i], 48, (size_t)i + 30);
    }
    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2) usleep(1000);
    for (int i = 0; i < 200; i++) snug_gc_malloc(40);   /* its queue fills and is indexed */
    snug_gc_collect();
    return NULL;
}

Test(gc, free_and_realloc_of_blocks_pending_in_another_thread)
{
    static void *blocks[3];
    pthread_t th;
    atomic_store(&phase, 0);
    cr_assert_eq(pthread_create(&th, NULL, make_three, blocks), 0);
    while (atomic_load(&phase) != 1) usleep(1000);
    size_t before = snug_gc_heap_bytes();
    snug_gc_free(blocks[0]);                /* fatal if it were not found */
    cr_assert_eq(snug_gc_heap_bytes(), before - 48, "heap_bytes %zu -> %zu", before, snug_gc_heap_bytes());
    unsigned char *q = snug_gc_realloc(blocks[1], 5000);
    cr_assert_not_null(q);
    cr_assert_eq(bad_at(q, 48, 31), (size_t)-1, "realloc of a pending block lost its contents");
    blocks[1] = q;
    atomic_store(&phase, 2);
    pthread_join(th, NULL);
    garbage(MiB);
    collect_clean();
    cr_assert_eq(bad_at(blocks[1], 48, 31), (size_t)-1);
    cr_assert_eq(bad_at(blocks[2], 48, 32), (size_t)-1);
    snug_gc_free(blocks[2]);
    heap_ok();
}

static void *exits_registered(void *arg)
{
    (void)arg;
    snug_gc_malloc(100);            /* auto-registers; exits without unregistering */
    return NULL;
}

Test(gc, threads_that_exit_registered_do_not_block_collections, .timeout = 120)
{
    for (int i = 0; i < 50; i++) {
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, exits_registered, NULL), 0);
        if (i % 2) pthread_join(th, NULL); else pthread_detach(th);
        snug_gc_collect();
    }
    usleep(20000);
    snug_gc_collect();
}

/* ---- roots ------------------------------------------------------------------------------ */
NOINLINE static void store_only_in(void **where)
{
    void *b = snug_gc_malloc(2 * MiB);
    fill(b, 2 * MiB, 21);
    *where = b;
}

Test(gc, added_roots_keep_blocks_until_removed)
{
    void **area = calloc(512, sizeof *area);        /* plain malloc memory: not a root by itself */
    cr_assert_not_null(area);
    store_only_in(&area[100]);
    collect_clean();
    cr_assert_lt(snug_gc_heap_bytes(), MiB, "plain malloc memory acted as a root");
    area[100] = NULL;               /* dangling now: its address may come back below */

    store_only_in(&area[200]);
    snug_gc_add_roots(area, area + 512);
    for (int i = 0; i < 3; i++) {
        garbage(2 * MiB);
        collect_clean();
        cr_assert_geq(snug_gc_heap_bytes(), 2 * MiB, "a block referenced from an added root was reclaimed");
        cr_assert_eq(bad_at(area[200], 2 * MiB, 21), (size_t)-1);
    }
    /* removing a part that does not cover the pointer keeps it; removing around it drops it */
    snug_gc_remove_roots(area, area + 100);
    collect_clean();
    cr_assert_geq(snug_gc_heap_bytes(), 2 * MiB, "trimming an added root dropped the rest of it");
    snug_gc_remove_roots(area + 150, area + 250);
    collect_clean();
    cr_assert_lt(snug_gc_heap_bytes(), MiB, "a block referenced only from a removed root was kept");
    free(area);
}

/* program_invocation_name is a writable variable in libc's data segment */
NOINLINE static void point_libc_data_at_new_block(void)
{
    char *s = snug_gc_malloc(2 * MiB);
    fill(s, 2 * MiB, 13);
    program_invocation_name = s;
}
NOINLINE static int libc_data_block_intact(void) { return bad_at(program_invocation_name, 2 * MiB, 13) == (size_t)-1; }

Test(gc, shared_library_data_is_a_root)
{
    char *saved = program_invocation_name;
    point_libc_data_at_new_block();
    garbage(2 * MiB);
    collect_clean();
    cr_assert_geq(snug_gc_heap_bytes(), 2 * MiB, "a block referenced from libc's data was reclaimed");
    cr_assert(libc_data_block_intact(), "the block libc's data points to was corrupted");
    program_invocation_name = saved;
    collect_clean();
    cr_assert_lt(snug_gc_heap_bytes(), MiB);
}

/* ---- mark stack overflow ---------------------------------------------------------------------- */
NOINLINE static struct node *wide_tree(int depth, size_t id)
{
    struct node *t = new_node(id);
    if (depth) {
        /* four children per node: two in kid[], two through next/prev */
        t->kid[0] = wide_tree(depth - 1, 4 * id);
        t->kid[1] = wide_tree(depth - 1, 4 * id + 1);
        t->next = wide_tree(depth - 1, 4 * id + 2);
        t->prev = wide_tree(depth - 1, 4 * id + 3);
    }
    return t;
}
static size_t check_wide(const struct node *t, int depth, size_t id)
{
    cr_assert_eq(t->check, ck(id), "wide tree node %zu corrupted", id);
    if (!depth) return 1;
    return 1 + check_wide(t->kid[0], depth - 1, 4 * id) + check_wide(t->kid[1], depth - 1, 4 * id + 1) +
           check_wide(t->next, depth - 1, 4 * id + 2) + check_wide(t->prev, depth - 1, 4 * id + 3);
}

static struct node **g_many;

Test(gc, tiny_mark_stack_overflows_and_recovers, .timeout = 300)
{
    setenv("SNUG_GC_MARKSTACK", "3", 1);         /* read when the collector starts */
    g_tree = wide_tree(7, 1);                     /* 21845 nodes */
    g_list = make_list(50000, 3);
    g_many = snug_gc_malloc(20000 * sizeof *g_many);   /* one block, many children */
    for (size_t i = 0; i < 20000; i++) g_many[i] = new_node(i);
    for (int i = 0; i < 3; i++) {
        garbage(2 * MiB);
        collect_clean();
        cr_assert_eq(check_wide(g_tree, 7, 1), (size_t)21845);
        check_list(g_list, 50000, 3);
        for (size_t k = 0; k < 20000; k++) cr_assert_eq(g_many[k]->check, ck(k));
    }
    cr_assert_gt(snug_gc->ms.overflows, 0, "the 3-entry mark stack never overflowed: the test tests nothing");
    cr_assert_eq(snug_gc->ms.cap, 3, "SNUG_GC_MARKSTACK=3 was not honoured");
    g_tree = NULL;
    g_list = NULL;
    g_many = NULL;
    collect_clean();
    cr_assert_lt(snug_gc_heap_bytes(), 200 * KiB, "%zu bytes kept after dropping everything", snug_gc_heap_bytes());
}

/* ---- fork ------------------------------------------------------------------------------------ */
static atomic_int spin_stop;
static void *spinner(void *arg)
{
    (void)arg;
    snug_gc_register_thread();
    while (!atomic_load(&spin_stop)) garbage(64 * KiB);
    return NULL;
}

Test(gc, fork_child_keeps_using_the_collector, .timeout = 300)
{
    pthread_t th;
    atomic_store(&spin_stop, 0);
    cr_assert_eq(pthread_create(&th, NULL, spinner, NULL), 0);  /* collects while we fork */
    g_list = make_list(10000, 42);
    for (int k = 0; k < 3; k++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            /* the spinner does not exist here: collections must not wait for it */
            for (int i = 0; i < 10; i++) {
                garbage(4 * MiB);
                snug_gc_collect();
            }
            size_t n = 0;
            int ok = 1;
            for (struct node *x = g_list; x; x = x->next, n++) ok &= x->check == ck(x->id);
            if (!ok || n != 10000) _exit(2);
            if (snug_gc_heap_bytes() >= 32 * MiB) _exit(3);
            if (snug_heap_check() != 0) _exit(4);
            _exit(0);
        }
        int st = 0;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        static const char *why[] = { "", "?", "the list was corrupted", "the gc heap was not bounded",
                                     "snug_heap_check failed (the page the other thread was allocating from?)" };
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child: %s (status %#x)",
                  WIFEXITED(st) && WEXITSTATUS(st) <= 4 ? why[WEXITSTATUS(st)] : "crashed", st);
        garbage(2 * MiB);
        snug_gc_collect();
    }
    atomic_store(&spin_stop, 1);
    pthread_join(th, NULL);
    check_list(g_list, 10000, 42);
}
