/* tsan.c - threads on the snug_ API for ThreadSanitizer (built with clang -fsanitize=thread
 * against libsnug-tsan.a): blocks of 1 B - 300 KiB handed between threads through
 * mutex-protected mailboxes, reallocs, remote frees, thread exit and heap adoption, while
 * another thread samples snug_stats() and one calls snug_trim().  Any TSan report fails it. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* --- blocks: a size and a seed; the first and last bytes carry a pattern ----- */
struct item {
    unsigned char *p;
    size_t size;
    uint64_t seed;
};
enum { EDGE = 48 };     /* bytes patterned at each end (the middle is left alone: speed) */

static unsigned char pat(uint64_t seed, size_t i) { return (unsigned char)(seed * 131 + i * 29 + 7); }

static void fill(struct item *it)
{
    size_t n = it->size, a = n < EDGE ? n : EDGE;
    for (size_t i = 0; i < a; i++) it->p[i] = pat(it->seed, i);
    for (size_t i = n > EDGE ? n - EDGE : a; i < n; i++) it->p[i] = pat(it->seed, i);
}

static void verify(const struct item *it, const char *where)
{
    size_t n = it->size, a = n < EDGE ? n : EDGE;
    for (size_t i = 0; i < a; i++)
        if (it->p[i] != pat(it->seed, i)) FAILF("%s: block %p (%zu bytes) changed at byte %zu", where, (void *)it->p, n, i);
    for (size_t i = n > EDGE ? n - EDGE : a; i < n; i++)
        if (it->p[i] != pat(it->seed, i)) FAILF("%s: block %p (%zu bytes) changed at byte %zu", where, (void *)it->p, n, i);
    if (snug_usable_size(it->p) < n) FAILF("%s: snug_usable_size(%p) = %zu < %zu", where, (void *)it->p,
                                            snug_usable_size(it->p), n);
}

/* 1 B - 300 KiB: mostly small, a quarter medium, a few large (mapped: 256 KiB and up). */
static size_t pick_size(uint64_t *r)
{
    uint64_t x = xrnd(r) % 100;
    if (x < 70) return 1 + xrnd(r) % 1024;
    if (x < 95) return 1025 + xrnd(r) % (64 * 1024);
    return 64 * 1024 + xrnd(r) % (236 * 1024 + 1);
}

/* From snug_malloc mostly; now and then snug_calloc or an aligned allocation. */
static struct item make(uint64_t *r)
{
    struct item it = { NULL, pick_size(r), xrnd(r) };
    unsigned how = (unsigned)(xrnd(r) % 16);
    size_t align = (size_t)16 << (xrnd(r) % 9);     /* 16 B - 4 KiB */
    if (how == 0) {
        it.p = snug_calloc(1, it.size);
        if (it.p && (it.p[0] || it.p[it.size - 1])) FAILF("snug_calloc(1, %zu): not zero", it.size);
    } else if (how == 1) {
        it.p = snug_aligned_alloc(align, it.size);
        if ((uintptr_t)it.p % align) FAILF("snug_aligned_alloc(%zu, %zu) = %p", align, it.size, (void *)it.p);
    } else {
        it.p = snug_malloc(it.size);
    }
    if (!it.p) FAILF("allocation of %zu bytes returned NULL", it.size);
    fill(&it);
    return it;
}

/* Grow or shrink: the kept bytes at the front are checked, then the block re-patterned. */
static void resize(struct item *it, uint64_t *r)
{
    size_t n = pick_size(r), keep = (n < it->size ? n : it->size);
    keep = keep < EDGE ? keep : EDGE;
    unsigned char *q = snug_realloc(it->p, n);
    if (!q) FAILF("snug_realloc(%zu -> %zu) returned NULL", it->size, n);
    for (size_t i = 0; i < keep; i++)
        if (q[i] != pat(it->seed, i)) FAILF("snug_realloc %zu -> %zu: kept byte %zu changed", it->size, n, i);
    it->p = q;
    it->size = n;
    fill(it);
}

/* --- mailboxes: one per worker, a mutex each -------------------------------- */
enum { WORKERS = 4, BOXCAP = 64, KEEP = 24 };
struct mailbox {
    pthread_mutex_t mu;
    struct item items[BOXCAP];
    unsigned head, count;
};
static struct mailbox boxes[WORKERS];
static atomic_int running, stop_samplers;
static atomic_size_t samples, trims;

static int box_put(struct mailbox *m, struct item it)
{
    pthread_mutex_lock(&m->mu);
    int ok = m->count < BOXCAP;
    if (ok) m->items[(m->head + m->count++) % BOXCAP] = it;
    pthread_mutex_unlock(&m->mu);
    return ok;
}
static int box_take(struct mailbox *m, struct item *it)
{
    pthread_mutex_lock(&m->mu);
    int ok = m->count > 0;
    if (ok) {
        *it = m->items[m->head];
        m->head = (m->head + 1) % BOXCAP;
        m->count--;
    }
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* A block from another thread: checked, sometimes realloc'd here, freed here (a remote free). */
static void receive(struct item it, uint64_t *r)
{
    verify(&it, "received block");
    if (xrnd(r) % 4 == 0) {
        resize(&it, r);
        verify(&it, "received block after realloc");
    }
    if (xrnd(r) % 8 == 0) snug_free_sized(it.p, it.size);
    else snug_free(it.p);
}

static void drain_all(uint64_t *r)
{
    struct item it;
    for (int i = 0; i < WORKERS; i++)
        while (box_take(&boxes[i], &it)) receive(it, r);
}

struct work { unsigned me, ops; };

/* Keeps KEEP blocks of its own (freed, reallocated, replaced), sends one block per op to a
 * random mailbox, drains its own. */
static void *worker(void *arg)
{
    const struct work *w = arg;
    uint64_t r = 0x9e3779b97f4a7c15ull * (w->me + 1) + (uint64_t)atomic_load(&running) * 7919;
    struct item mine[KEEP];
    memset(mine, 0, sizeof mine);
    for (unsigned op = 0; op < w->ops; op++) {
        unsigned k = (unsigned)(xrnd(&r) % KEEP);
        if (mine[k].p) {
            verify(&mine[k], "own block");
            if (xrnd(&r) % 2) { snug_free(mine[k].p); mine[k].p = NULL; }
            else resize(&mine[k], &r);
        } else {
            mine[k] = make(&r);
        }
        struct item out = make(&r);
        if (!box_put(&boxes[xrnd(&r) % WORKERS], out)) receive(out, &r);
        struct item in;
        for (int i = 0; i < 2 && box_take(&boxes[w->me % WORKERS], &in); i++) receive(in, &r);
    }
    /* Half the time the thread exits with some of its blocks still live: they go in the
     * mailboxes, for others to free after its heap is parked. */
    for (unsigned k = 0; k < KEEP; k++)
        if (mine[k].p && (xrnd(&r) % 2 || !box_put(&boxes[xrnd(&r) % WORKERS], mine[k]))) {
            verify(&mine[k], "own block at exit");
            snug_free(mine[k].p);
        }
    return NULL;
}

/* Statistics from a thread of their own while the others allocate. */
static void *sampler(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_samplers)) {
        struct snug_stats s;
        if (snug_stats(&s) != 0) FAILF("snug_stats did not return 0");
        atomic_fetch_add(&samples, 1);
        sched_yield();
    }
    return NULL;
}

/* malloc_trim from a thread of its own while the others allocate. */
static void *trimmer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_samplers)) {
        snug_trim(0);
        atomic_fetch_add(&trims, 1);
        usleep(2000);
    }
    return NULL;
}

static void start_samplers(pthread_t *t)
{
    atomic_store(&stop_samplers, 0);
    CHECK(pthread_create(&t[0], NULL, sampler, NULL) == 0, "pthread_create");
    CHECK(pthread_create(&t[1], NULL, trimmer, NULL) == 0, "pthread_create");
}
static void stop(pthread_t *t)
{
    atomic_store(&stop_samplers, 1);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    note("%zu statistics samples, %zu trims", atomic_load(&samples), atomic_load(&trims));
}

static void check_end(void)
{
    uint64_t r = 1;
    drain_all(&r);
    CHECK(snug_heap_check() == 0, "snug_heap_check after the threads");
    struct snug_stats s;
    CHECK(snug_stats(&s) == 0, "snug_stats");
}

/* --- check 1: four workers trading blocks, with the samplers --------------------- */
static void check_mailboxes(void)
{
    pthread_t t[WORKERS], smp[2];
    struct work w[WORKERS];
    for (int i = 0; i < WORKERS; i++) pthread_mutex_init(&boxes[i].mu, NULL);
    start_samplers(smp);
    for (unsigned i = 0; i < WORKERS; i++) {
        w[i] = (struct work){ i, 6000 };
        CHECK(pthread_create(&t[i], NULL, worker, &w[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    stop(smp);
    check_end();
}

/* --- check 2: threads come and go; new ones adopt the heaps of exited ones and free
 * their blocks, while the samplers run ----------------------------------------- */
static void check_thread_exit(void)
{
    pthread_t smp[2];
    for (int i = 0; i < WORKERS; i++) pthread_mutex_init(&boxes[i].mu, NULL);
    start_samplers(smp);
    for (unsigned round = 0; round < 12; round++) {
        pthread_t t[WORKERS];
        struct work w[WORKERS];
        atomic_store(&running, (int)round);
        for (unsigned i = 0; i < WORKERS; i++) {
            w[i] = (struct work){ i, 400 };
            CHECK(pthread_create(&t[i], NULL, worker, &w[i]) == 0, "pthread_create");
        }
        for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
        /* the blocks left in the mailboxes are freed by the next round's threads */
    }
    stop(smp);
    check_end();
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_check("mailboxes", check_mailboxes, 300);
    run_check("thread-exit-adoption", check_thread_exit, 300);
    return harness_done();
}
