/* larson.c - server churn with frees by other threads (the pattern of Larson and
 * Krishnan's server benchmark, written from scratch).
 *
 * Every thread owns a table of SLOTS live blocks of 16..512 bytes.  The run is cut into
 * rounds; in each round a thread repeatedly picks a random slot of a table, checks and
 * frees the block there and puts a freshly allocated block of a new random size in its
 * place.  Between rounds the tables rotate (thread i works on table (i + round) mod T),
 * so nearly every block is freed by a different thread than the one that allocated it,
 * as in a server whose connections migrate between worker threads.  With one thread
 * there is no rotation and no remote free.
 *
 * Fixed work: PAIRS * scale malloc/free pairs in all, split evenly among the threads
 * and rounds; the tables (T * SLOTS blocks) are filled before and emptied after the
 * clock.  ops = 2 * pairs.
 */
#include "mt.h"

#define NAME   "larson"
#define SLOTS  2000
#define ROUNDS 40
#define PAIRS  6000000.0

struct slot { void *p; size_t size; uint64_t tag; };

static int T;
static long per_round;                 /* pairs per thread per round */
static struct slot **tables;
static pthread_barrier_t barrier;

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    struct mt_rng r = mt_rng_seed(0x1a2500 + (uint64_t)me);
    uint64_t serial = (uint64_t)me << 40;
    for (int round = 0; round < ROUNDS; round++) {
        struct slot *tab = tables[(me + round) % T];
        for (long k = 0; k < per_round; k++) {
            struct slot *s = &tab[mt_below(&r, SLOTS)];
            if (!mt_check(s->p, s->size, s->tag))
                mt_fail(NAME, "before free", s->p, s->size);
            free(s->p);
            s->size = mt_small_size(&r);
            s->tag = mt_tag(++serial, s->size);
            s->p = mt_xmalloc(NAME, s->size);
            mt_stamp(s->p, s->size, s->tag);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct mt_opts o = mt_parse(argc, argv, "server churn; blocks freed by other threads");
    T = o.threads;
    per_round = (long)(PAIRS * o.scale / T / ROUNDS);
    if (per_round < 1)
        per_round = 1;
    tables = mt_xmalloc(NAME, (size_t)T * sizeof *tables);
    struct mt_rng r = mt_rng_seed(7);
    for (int i = 0; i < T; i++) {
        tables[i] = mt_xmalloc(NAME, SLOTS * sizeof **tables);
        for (int j = 0; j < SLOTS; j++) {
            struct slot *s = &tables[i][j];
            s->size = mt_small_size(&r);
            s->tag = mt_tag((uint64_t)i << 32 | (uint64_t)j, 1);
            s->p = mt_xmalloc(NAME, s->size);
            mt_stamp(s->p, s->size, s->tag);
        }
    }
    mt_pthread(pthread_barrier_init(&barrier, NULL, (unsigned)T), NAME, "barrier");
    double secs = mt_run_threads(NAME, T, worker);
    for (int i = 0; i < T; i++) {
        for (int j = 0; j < SLOTS; j++) {
            struct slot *s = &tables[i][j];
            if (!mt_check(s->p, s->size, s->tag))
                mt_fail(NAME, "at the end", s->p, s->size);
            free(s->p);
        }
        free(tables[i]);
    }
    free(tables);
    pthread_barrier_destroy(&barrier);
    return mt_report(NAME, T, 2ull * (uint64_t)per_round * ROUNDS * (uint64_t)T, secs);
}
