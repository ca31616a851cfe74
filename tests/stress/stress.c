/* stress.c - multi-threaded stress of malloc/free/realloc through the override: blocks handed
 * between 12 threads via queues and freed (or realloc'd) by the receiver, thread create/exit
 * churn with blocks freed by others, and fork() while threads allocate.  Bounded by op counts. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* --- payload: a header naming the block, then a byte pattern derived from it ---- */
struct blk {
    uint64_t magic;
    uint64_t size; /* bytes of the whole block, header included */
    uint64_t seed;
    uint64_t owner;
};
#define MAGIC 0x736e7567626c6b21ull

static unsigned char bpat(uint64_t seed, size_t i) { return (unsigned char)(seed + i * 29 + (i >> 9)); }

static struct blk *make_block(size_t size, uint64_t seed, uint64_t owner)
{
    if (size < sizeof(struct blk)) size = sizeof(struct blk);
    struct blk *b = malloc(size);
    if (!b) FAILF("malloc(%zu) returned NULL", size);
    if ((uintptr_t)b % 16) FAILF("malloc(%zu) = %p misaligned", size, (void *)b);
    b->magic = MAGIC;
    b->size = size;
    b->seed = seed;
    b->owner = owner;
    unsigned char *c = (unsigned char *)(b + 1);
    for (size_t i = 0; i < size - sizeof *b; i++) c[i] = bpat(seed, i);
    return b;
}

static void verify_block(const struct blk *b, const char *where)
{
    if (b->magic != MAGIC) FAILF("%s: block %p header smashed (magic %llx)", where, (void *)b,
                                 (unsigned long long)b->magic);
    const unsigned char *c = (const unsigned char *)(b + 1);
    for (size_t i = 0; i < b->size - sizeof *b; i++)
        if (c[i] != bpat(b->seed, i))
            FAILF("%s: block %p (%llu bytes, from thread %llu) corrupted at byte %zu", where, (void *)b,
                  (unsigned long long)b->size, (unsigned long long)b->owner, i + sizeof *b);
}

/* Grow or shrink a received block with realloc, check what was kept, re-pattern the rest. */
static struct blk *realloc_block(struct blk *b, size_t nsize)
{
    if (nsize < sizeof(struct blk)) nsize = sizeof(struct blk);
    size_t old = b->size;
    uint64_t seed = b->seed;
    struct blk *n = realloc(b, nsize);
    if (!n) FAILF("realloc(%zu -> %zu) returned NULL", old, nsize);
    if (n->magic != MAGIC || n->seed != seed) FAILF("realloc %zu -> %zu lost the header", old, nsize);
    const unsigned char *c = (const unsigned char *)(n + 1);
    size_t keep = (old < nsize ? old : nsize) - sizeof *n;
    for (size_t i = 0; i < keep; i++)
        if (c[i] != bpat(seed, i)) FAILF("realloc %zu -> %zu: kept byte %zu changed", old, nsize, i);
    n->size = nsize;
    unsigned char *w = (unsigned char *)(n + 1);
    for (size_t i = keep; i < nsize - sizeof *n; i++) w[i] = bpat(seed, i);
    return n;
}

static size_t pick_size(uint64_t *r)
{
    uint64_t x = xrnd(r);
    switch (x % 64) {
    case 0: return 100000 + xrnd(r) % 400000;          /* occasionally large-ish */
    case 1: case 2: case 3: return 2000 + xrnd(r) % 30000; /* medium */
    default: return 16 + xrnd(r) % 480;                /* small */
    }
}

/* --- check 1: producer/consumer queues between threads ------------------------ */
enum { QTHREADS = 12, QCAP = 256, QOPS = 40000 };
struct queue {
    pthread_mutex_t mu;
    struct blk *items[QCAP];
    unsigned head, count;
};
static struct queue queues[QTHREADS];
static atomic_int q_finished;

static int q_push(struct queue *q, struct blk *b)
{
    pthread_mutex_lock(&q->mu);
    int ok = q->count < QCAP;
    if (ok) {
        q->items[(q->head + q->count) % QCAP] = b;
        q->count++;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}
static struct blk *q_pop(struct queue *q)
{
    struct blk *b = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->count) {
        b = q->items[q->head];
        q->head = (q->head + 1) % QCAP;
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    return b;
}

static void consume(struct blk *b, uint64_t *r, unsigned me)
{
    verify_block(b, "received block");
    if (xrnd(r) % 4 == 0) {
        b = realloc_block(b, pick_size(r)); /* realloc a block another thread allocated */
        verify_block(b, "received block after realloc");
    }
    free(b);
    (void)me;
}

static void *queue_worker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    uint64_t r = 0x1234567ull * (me + 1) + 99;
    struct blk *mine[16] = { 0 };
    for (int op = 0; op < QOPS; op++) {
        /* keep a few blocks of our own, reallocating them now and then */
        unsigned k = (unsigned)(xrnd(&r) % 16);
        if (mine[k]) {
            verify_block(mine[k], "own block");
            if (xrnd(&r) % 2) { free(mine[k]); mine[k] = NULL; }
            else mine[k] = realloc_block(mine[k], pick_size(&r));
        } else {
            mine[k] = make_block(pick_size(&r), xrnd(&r), me);
        }
        /* send one block to another thread */
        unsigned to = (unsigned)(xrnd(&r) % QTHREADS);
        struct blk *b = make_block(pick_size(&r), xrnd(&r), me);
        if (!q_push(&queues[to], b)) consume(b, &r, me); /* queue full: free it ourselves */
        /* drain some of our inbox */
        for (int i = 0; i < 2; i++) {
            struct blk *in = q_pop(&queues[me]);
            if (!in) break;
            consume(in, &r, me);
        }
    }
    for (int k = 0; k < 16; k++)
        if (mine[k]) { verify_block(mine[k], "own block at exit"); free(mine[k]); }
    atomic_fetch_add(&q_finished, 1);
    /* keep draining until everyone is done so no queue stays full */
    while (atomic_load(&q_finished) < QTHREADS) {
        struct blk *in = q_pop(&queues[me]);
        if (in) consume(in, &r, me);
        else sched_yield();
    }
    return NULL;
}

static void check_queues(void)
{
    struct snug_stats s0 = get_stats();
    pthread_t t[QTHREADS];
    for (int i = 0; i < QTHREADS; i++) pthread_mutex_init(&queues[i].mu, NULL);
    for (int i = 0; i < QTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, queue_worker, (void *)(uintptr_t)i) == 0, "pthread_create");
    for (int i = 0; i < QTHREADS; i++) pthread_join(t[i], NULL);
    uint64_t r = 5;
    for (int i = 0; i < QTHREADS; i++) {
        struct blk *b;
        while ((b = q_pop(&queues[i]))) consume(b, &r, 99);
    }
    CHECK(sd_heap_check() == 0, "snug_heap_check after the queue stress");
    struct snug_stats s1 = get_stats();
    /* all blocks of the test were freed; the threads' own bookkeeping may stay, be generous */
    CHECK(s1.live_blocks <= s0.live_blocks + 2 * QTHREADS, "live_blocks %zu before, %zu after all frees",
          s0.live_blocks, s1.live_blocks);
}

/* --- check 2: thread creation/exit churn ------------------------------------- */
enum { CHURN_ROUNDS = 60, CHURN_THREADS = 16, CHURN_BLOCKS = 64 };
static struct blk *churn_slots[CHURN_THREADS][CHURN_BLOCKS];
static struct blk *churn_prev[CHURN_THREADS][CHURN_BLOCKS];
static int churn_round;

static void *churn_alloc(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    uint64_t r = 0xabcdefull + me * 7919 + (uint64_t)churn_round * 104729;
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        churn_slots[me][i] = make_block(pick_size(&r), xrnd(&r), me);
        if (i % 5 == 0) { /* some short-lived ones too */
            struct blk *tmp = make_block(pick_size(&r), xrnd(&r), me);
            free(tmp);
        }
    }
    return NULL; /* thread exits while its blocks are still live */
}

static void *churn_free(void *arg)
{
    unsigned who = (unsigned)(uintptr_t)arg;
    /* frees blocks of a thread of the previous round, which has exited */
    for (int i = 0; i < CHURN_BLOCKS; i++)
        if (churn_prev[who][i]) {
            verify_block(churn_prev[who][i], "block of an exited thread");
            free(churn_prev[who][i]);
            churn_prev[who][i] = NULL;
        }
    return NULL;
}

static void check_thread_churn(void)
{
    for (int round = 0; round < CHURN_ROUNDS; round++) {
        churn_round = round;
        pthread_t a[CHURN_THREADS], f[CHURN_THREADS];
        /* allocating threads and freeing threads run at the same time */
        for (int i = 0; i < CHURN_THREADS; i++) {
            CHECK(pthread_create(&a[i], NULL, churn_alloc, (void *)(uintptr_t)i) == 0, "pthread_create");
            CHECK(pthread_create(&f[i], NULL, churn_free, (void *)(uintptr_t)i) == 0, "pthread_create");
        }
        for (int i = 0; i < CHURN_THREADS; i++) {
            pthread_join(a[i], NULL);
            pthread_join(f[i], NULL);
        }
        memcpy(churn_prev, churn_slots, sizeof churn_prev);
        memset(churn_slots, 0, sizeof churn_slots);
        if (round % 10 == 0) CHECK(sd_heap_check() == 0, "snug_heap_check after churn round %d", round);
    }
    for (int i = 0; i < CHURN_THREADS; i++) churn_free((void *)(uintptr_t)i); /* main frees the last */
    CHECK(sd_heap_check() == 0, "snug_heap_check after the churn");
}

/* --- check 3: fork while other threads allocate -------------------------------- */
enum { FORK_THREADS = 6, FORKS = 12 };
static atomic_int fork_stop;

static void *fork_busy(void *arg)
{
    uint64_t r = 777 + (uintptr_t)arg;
    struct blk *slot[32] = { 0 };
    while (!atomic_load(&fork_stop)) {
        unsigned k = (unsigned)(xrnd(&r) % 32);
        if (slot[k]) {
            verify_block(slot[k], "busy thread block");
            if (xrnd(&r) % 3 == 0) slot[k] = realloc_block(slot[k], pick_size(&r));
            else { free(slot[k]); slot[k] = NULL; }
        } else {
            slot[k] = make_block(pick_size(&r), xrnd(&r), 1000 + (uintptr_t)arg);
        }
    }
    for (int k = 0; k < 32; k++) free(slot[k]);
    return NULL;
}

static void *child_thread(void *arg)
{
    uint64_t r = 4242;
    for (int i = 0; i < 2000; i++) {
        struct blk *b = make_block(pick_size(&r), xrnd(&r), 7);
        b = realloc_block(b, pick_size(&r));
        verify_block(b, "child thread block");
        free(b);
    }
    return arg;
}

static void fork_child_work(void)
{
    alarm(20); /* a deadlocked child dies of SIGALRM and the parent sees it */
    uint64_t r = 31337;
    struct blk *keep[64];
    for (int i = 0; i < 64; i++) keep[i] = make_block(pick_size(&r), xrnd(&r), 5);
    for (int i = 0; i < 64; i++) {
        keep[i] = realloc_block(keep[i], pick_size(&r));
        verify_block(keep[i], "child block");
    }
    void *c = calloc(1000, 10);
    if (!c) _exit(3);
    for (int i = 0; i < 10000; i++)
        if (((unsigned char *)c)[i]) _exit(4);
    free(c);
    for (int i = 0; i < 64; i++) free(keep[i]);
    pthread_t t; /* the child can start threads that allocate */
    if (pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(5);
    pthread_join(t, NULL);
    void *big = malloc(8 << 20);
    if (!big) _exit(6);
    memset(big, 1, 8 << 20);
    free(big);
    _exit(0);
}

static void check_fork(void)
{
    SKIP_IF(getenv("SNUG_TEST_QEMU"), "qemu-i386 7.2 aborts in a child forked while other threads run");
    pthread_t t[FORK_THREADS];
    atomic_store(&fork_stop, 0);
    for (int i = 0; i < FORK_THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, fork_busy, (void *)(uintptr_t)i) == 0, "pthread_create");
    for (int i = 0; i < FORKS; i++) {
        usleep(20000); /* let the threads get busy; not a timing assertion */
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) fork_child_work();
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
        if (WIFSIGNALED(st))
            FAILF("fork #%d: child killed by signal %d%s", i, WTERMSIG(st),
                  WTERMSIG(st) == SIGALRM ? " (deadlocked in malloc after fork?)" : "");
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork #%d: child exit status %d", i, WEXITSTATUS(st));
    }
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < FORK_THREADS; i++) pthread_join(t[i], NULL);
    CHECK(sd_heap_check() == 0, "snug_heap_check in the parent after the forks");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    snugdl_init();
    run_check("queues-cross-thread-free", check_queues, 240);
    run_check("thread-churn", check_thread_churn, 240);
    run_check("fork-while-allocating", check_fork, 240);
    return harness_done();
}
