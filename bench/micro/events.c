/* events.c - what each kind of event the statistics build counts (src/counts.h) costs on
 * this machine, for bench/README.md's model of scaling: an uncontended lock pair (snug's
 * own lock.h), a contended acquisition, a CAS on a line another core writes, mmap+munmap. */
#include "lock.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static snug_lock_t lock = SNUG_LOCK_INIT;
static _Alignas(64) atomic_ulong shared_word;
static _Alignas(64) unsigned long in_lock;
static long iters;
static int mode;                        /* 0: lock pairs, 1: shared CAS */

static void *hammer(void *arg)
{
    (void)arg;
    for (long i = 0; i < iters; i++) {
        if (mode == 0) {
            snug_lock(&lock);
            in_lock++;
            snug_unlock(&lock);
        } else {
            unsigned long v = atomic_load_explicit(&shared_word, memory_order_relaxed);
            while (!atomic_compare_exchange_weak_explicit(&shared_word, &v, v + 1, memory_order_release,
                                                          memory_order_relaxed)) {}
        }
    }
    return NULL;
}

/* ns per operation with T threads doing iters each */
static double run(int m, int T, long n)
{
    pthread_t th[8];
    mode = m;
    iters = n;
    double t0 = now();
    for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    return (now() - t0) * 1e9 / ((double)n * T);
}

static double map_pair(size_t len, int touch, int n)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) abort();
        if (touch) for (size_t o = 0; o < len; o += 4096) p[o] = 1;
        munmap(p, len);
    }
    return (now() - t0) * 1e9 / n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    unsigned long w = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) atomic_compare_exchange_strong(&shared_word, &w, w + 1);
    double own_cas = (now() - t0) * 1e9 / (double)n;
    printf("{\"lock_pair_1thread_ns\": %.1f, ", run(0, 1, n));
    printf("\"lock_pair_2threads_ns\": %.1f, ", run(0, 2, n / 4));
    printf("\"lock_pair_8threads_ns\": %.1f, ", run(0, 8, n / 16));
    printf("\"cas_own_line_ns\": %.1f, ", own_cas);
    printf("\"cas_shared_2threads_ns\": %.1f, ", run(1, 2, n / 4));
    printf("\"mmap_munmap_64k_ns\": %.0f, ", map_pair(65536, 0, 20000));
    printf("\"mmap_munmap_1m_ns\": %.0f, ", map_pair(1 << 20, 0, 20000));
    printf("\"mmap_touch_munmap_64k_ns\": %.0f, ", map_pair(65536, 1, 5000));
    printf("\"mmap_touch_munmap_1m_ns\": %.0f, ", map_pair(1 << 20, 1, 1000));
    printf("\"contended_acquisitions\": %lu}\n", in_lock);
    return 0;
}
