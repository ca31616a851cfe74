/* counts.c - a workload for the statistics build's test group (tests/run.sh counts): run under
 * LD_PRELOAD of build/libsnug-counts.so with SNUG_COUNTS_OUT set, it does a known number of
 * calls of one kind, so run.sh can check the counts written at exit against it.
 *   counts small|medium|remote|consumer|pages|bigpages|starts|large THREADS ROUNDS   prints "calls N" (malloc and free calls) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP 64
static const char *mode;
static long rounds;
static int threads;
/* remote: each thread allocates ROUNDS blocks, then (after a barrier) frees the previous
 * thread's: exactly ROUNDS x THREADS frees by a thread other than the block's */
static void **made[256];
static pthread_barrier_t all_made;
/* consumer (2 threads): thread 0 allocates ROUNDS small blocks, thread 1, which never
 * allocates, frees them all while thread 0 waits */

/* pages: each thread fills PAGES_BATCH 64-byte blocks (about 34 pages) and frees them
 * all, again and again: the pages its heap does not keep go to its arena's page stash
 * and come back from it, not from arena 0 (ROUNDS: a multiple of PAGES_BATCH).
 * bigpages: the same with BIGPAGES_BATCH blocks (1.5 MiB, about 400 pages, per thread):
 * more than the stashes hold at first, so their bound must grow */
#define PAGES_BATCH 2048
#define BIGPAGES_BATCH 24576
static long batch = PAGES_BATCH;

/* starts: ROUNDS threads in waves of THREADS, each making and freeing STARTS_EACH small
 * and as many medium blocks: thread start and exit take no global lock once the
 * arenas are made and a parked heap waits for each new thread */
#define STARTS_EACH 16
static void *starter(void *arg)
{
    (void)arg;
    void *v[2 * STARTS_EACH];
    for (int k = 0; k < 2 * STARTS_EACH; k++)
        if (!(v[k] = malloc(k & 1 ? 2000 + (size_t)k * 16 : 48))) abort();
    for (int k = 0; k < 2 * STARTS_EACH; k++) free(v[k]);
    return NULL;
}

static size_t size_of(long i)
{
    if (!strcmp(mode, "medium")) return 1024 + (size_t)(i * 97 % 7000);
    if (!strcmp(mode, "large")) return (size_t)(1 << 20) + (size_t)(i % 7) * 4096;
    return 16 + (size_t)(i * 37 % 497);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    void *keep[KEEP] = { 0 };
    if (!strcmp(mode, "consumer")) {
        if (me == 0)
            for (long i = 0; i < rounds; i++)
                if (!(made[0][i] = malloc(size_of(i)))) abort();
        pthread_barrier_wait(&all_made);
        if (me == 1)
            for (long i = 0; i < rounds; i++) free(made[0][i]);
        pthread_barrier_wait(&all_made);            /* (the producer lives on meanwhile) */
        return NULL;
    }
    if (!strcmp(mode, "pages") || !strcmp(mode, "bigpages")) {
        void **v = calloc((size_t)batch, sizeof *v);
        if (!v) abort();
        for (long i = 0; i < rounds; i += batch) {
            for (long k = 0; k < batch; k++)
                if (!(v[k] = malloc(64))) abort();
            for (long k = 0; k < batch; k++) free(v[k]);
        }
        free(v);
        return NULL;
    }
    if (!strcmp(mode, "remote")) {
        for (long i = 0; i < rounds; i++)
            if (!(made[me][i] = malloc(size_of(i)))) abort();
        pthread_barrier_wait(&all_made);
        void **theirs = made[(me + threads - 1) % threads];
        for (long i = 0; i < rounds; i++) free(theirs[i]);
        return NULL;
    }
    for (long i = 0; i < rounds; i++) {
        int k = (int)(i % KEEP);
        free(keep[k]);
        keep[k] = malloc(size_of(i));
        if (!keep[k]) abort();
        memset(keep[k], me, 16);
    }
    for (int k = 0; k < KEEP; k++) free(keep[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: counts small|medium|remote|consumer|pages|bigpages|starts|large THREADS ROUNDS\n"); return 2; }
    mode = argv[1];
    threads = atoi(argv[2]);
    rounds = atol(argv[3]);
    if (threads < 1 || threads > 256 || rounds < 1) return 2;
    int pages = !strcmp(mode, "pages") || !strcmp(mode, "bigpages");
    if (!strcmp(mode, "bigpages")) batch = BIGPAGES_BATCH;
    if (pages) rounds -= rounds % batch;
    pthread_t th[256];
    if (!strcmp(mode, "starts")) {
        for (long done = 0; done < rounds; done += threads) {
            int n = rounds - done < threads ? (int)(rounds - done) : threads;
            for (int i = 0; i < n; i++)
                if (pthread_create(&th[i], NULL, starter, NULL)) return 3;
            for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
        }
        printf("calls %ld\n", rounds * 4 * STARTS_EACH);
        return 0;
    }
    int consumer = !strcmp(mode, "consumer");
    if (consumer) threads = 2;
    int remote = !strcmp(mode, "remote") || consumer;
    if (remote) {
        for (int i = 0; i < threads; i++)
            if (!(made[i] = calloc((size_t)rounds, sizeof(void *)))) return 3;
        pthread_barrier_init(&all_made, NULL, (unsigned)threads);
    }
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i)) return 3;
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    if (remote)
        for (int i = 0; i < threads; i++) free(made[i]);
    /* each round: one malloc and one free; then the KEEP frees of each worker, or when
     * remote or pages the arrays' calloc and free (free(NULL) included: snug counts it) */
    long calls = consumer ? rounds * 2 + 4 : (long)threads * (rounds * 2 + (remote ? 2 : pages ? 2 : KEEP));
    printf("calls %ld\n", calls);
    return 0;
}
