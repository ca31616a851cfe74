/* forkrace.c - fork while other threads are inside the lock-free small-object paths: every
 * child must find a consistent heap (snug_heap_check) and be able to allocate and free. */
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

static void check_fork_during_churn(void)
{
    SKIP_IF(getenv("SNUG_TEST_QEMU"), "qemu-i386 7.2 aborts in a child forked while other threads run");
    enum { THREADS = 3, FORKS = 200 };
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0, "thread");
    int bad = 0;
    for (int i = 0; i < FORKS; i++) {
        pid_t c = fork();
        CHECK(c >= 0, "fork");
        if (c == 0) {
            int rc = sd_heap_check();
            void *x[200];
            for (int j = 0; j < 200; j++) x[j] = malloc((size_t)j * 13);
            for (int j = 0; j < 200; j++) free(x[j]);
            rc |= sd_heap_check();
            _exit(rc ? 1 : 0);
        }
        int st;
        waitpid(c, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) bad++;
    }
    stop = 1;
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(bad == 0, "%d of %d children found an inconsistent heap or failed", bad, FORKS);
}

int main(void)
{
    snugdl_init();
    run_check("fork-during-small-churn", check_fork_during_churn, 120);
    return harness_done();
}
