/* forkrace.c - fork while other threads are inside the lock-free small-object paths: every
 * child must find a consistent heap (snug_heap_check) and be able to allocate and free.
 * With SNUG_OPTIONS=sample_rate=N (run.sh) the threads also take and give back slots of
 * the guard pool, which has no lock: a child must still find every slot not live free
 * for its own samples, and its count of sampled blocks exact. */
#include "harness.h"
#include <pthread.h>

static volatile int stop;

static void *churn(void *arg)
{
    void *p[64] = { 0 };
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    while (!stop) {
        uint64_t r = xrnd(&s);
        int k = (int)(r & 63);
        free(p[k]);
        p[k] = malloc((size_t)((r >> 16) % 1500));
    }
    for (int k = 0; k < 64; k++) free(p[k]);
    return NULL;
}

/* The guard pool's slots (src/tuning.h's GUARD_SLOTS). */
#define GUARD_POOL_SLOTS 128
static int sampled;

static size_t guard_blocks(void)
{
    struct snug_stats st;
    memset(&st, 0, sizeof st);
    CHECK(snug_stats(&st) == 0, "snug_stats");
    return st.guard_blocks;
}

/* Small blocks kept until every slot of the guard pool holds one: 0 when the
 * count of sampled blocks reaches the pool's size and stays there (a slot lost
 * by a fork, or a count gone wrong, fails). */
static int fill_guard_pool(void)
{
    enum { MAX = 40000 };
    static void *keep[MAX];
    size_t n = 0, full_at = 0;
    for (; n < MAX; n++) {
        keep[n] = malloc(48);
        if (!keep[n]) break;
        size_t g = guard_blocks();
        if (g > GUARD_POOL_SLOTS) break;
        if (g == GUARD_POOL_SLOTS && !full_at) full_at = n;
        if (full_at && n > full_at + 1000) break;
    }
    size_t g = guard_blocks();
    for (size_t j = 0; j <= n && j < MAX; j++) free(keep[j]);
    if (g != GUARD_POOL_SLOTS) note("%zu sampled blocks live after %zu allocations, want %d", g, n, GUARD_POOL_SLOTS);
    return g != GUARD_POOL_SLOTS;
}

static void check_fork_during_churn(void)
{
    SKIP_IF(getenv("SNUG_TEST_QEMU"), "qemu-i386 7.2 aborts in a child forked while other threads run");
    enum { THREADS = 3, FORKS = 200 };
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0, "thread");
    int bad = 0, pool_bad = 0;
    for (int i = 0; i < FORKS; i++) {
        pid_t c = fork();
        CHECK(c >= 0, "fork");
        if (c == 0) {
            int rc = sd_heap_check();
            void *x[200];
            for (int j = 0; j < 200; j++) x[j] = malloc((size_t)j * 13);
            for (int j = 0; j < 200; j++) free(x[j]);
            rc |= sd_heap_check();
            if (sampled && i % 20 == 0) rc |= fill_guard_pool() << 1;
            _exit(rc);
        }
        int st;
        waitpid(c, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            if (WIFEXITED(st) && WEXITSTATUS(st) & 2) pool_bad++;
            bad++;
        }
    }
    stop = 1;
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(pool_bad == 0, "%d of %d children could not fill the guard pool's %d slots, or miscounted them", pool_bad,
          FORKS / 20, GUARD_POOL_SLOTS);
    CHECK(bad == 0, "%d of %d children found an inconsistent heap or failed", bad, FORKS);
    /* (not a count of zero: glibc's threads keep a calloc'd block with their cached stacks) */
    if (sampled) CHECK(fill_guard_pool() == 0, "the parent could not fill the guard pool after the churn");
}

int main(void)
{
    snugdl_init();
    const char *o = getenv("SNUG_OPTIONS");
    sampled = o && strstr(o, "sample_rate=") && !strstr(o, "sample_rate=0");
    run_check("fork-during-small-churn", check_fork_during_churn, 120);
    return harness_done();
}
