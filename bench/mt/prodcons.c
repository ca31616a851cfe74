/* prodcons.c - producer/consumer hand-off: one thread allocates, another frees.
 *
 * T threads form T/2 pairs.  In each pair the producer allocates blocks of mixed sizes
 * (mostly small, some up to 64 KiB), stamps them and hands them over in batches of
 * BATCH through a bounded queue of QCAP batches (a mutex and two condition variables);
 * the consumer checks and frees every block.  So every free is a remote free, and the
 * allocator has to move memory from the consumers back to the producers.  With one
 * thread the same thread produces a batch and then consumes it (no hand-off).
 *
 * Fixed work: BLOCKS * scale blocks in all, split evenly among the pairs.
 * ops = 2 * blocks.
 */
#include "mt.h"

#define NAME   "prodcons"
#define BLOCKS 3000000.0
#define BATCH  64
#define QCAP   16

struct batch {
    int n;
    void *p[BATCH];
    size_t size[BATCH];
    uint64_t tag[BATCH];
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    struct batch b[QCAP];
    unsigned head, tail;         /* head - tail = batches waiting */
    long batches;                /* how many batches the producer makes */
    int id;
};

static void produce(struct batch *b, struct mt_rng *r, uint64_t *serial)
{
    b->n = BATCH;
    for (int i = 0; i < BATCH; i++) {
        size_t sz = mt_mixed_size(r);
        b->size[i] = sz;
        b->tag[i] = mt_tag(++*serial, sz);
        b->p[i] = mt_xmalloc(NAME, sz);
        mt_stamp(b->p[i], sz, b->tag[i]);
    }
}

static void consume(struct batch *b)
{
    for (int i = 0; i < b->n; i++) {
        if (!mt_check(b->p[i], b->size[i], b->tag[i]))
            mt_fail(NAME, "before free", b->p[i], b->size[i]);
        free(b->p[i]);
    }
    b->n = 0;
}

static void *producer(void *arg)
{
    struct queue *q = arg;
    struct mt_rng r = mt_rng_seed(0x9c0 + (uint64_t)q->id);
    uint64_t serial = (uint64_t)q->id << 40;
    for (long k = 0; k < q->batches; k++) {
        pthread_mutex_lock(&q->mu);
        while (q->head - q->tail == QCAP)
            pthread_cond_wait(&q->nonfull, &q->mu);
        struct batch *b = &q->b[q->head % QCAP];
        pthread_mutex_unlock(&q->mu);
        produce(b, &r, &serial);         /* the slot is ours until head moves */
        pthread_mutex_lock(&q->mu);
        q->head++;
        pthread_cond_signal(&q->nonempty);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct queue *q = arg;
    for (long k = 0; k < q->batches; k++) {
        pthread_mutex_lock(&q->mu);
        while (q->head == q->tail)
            pthread_cond_wait(&q->nonempty, &q->mu);
        struct batch *b = &q->b[q->tail % QCAP];
        pthread_mutex_unlock(&q->mu);
        consume(b);
        pthread_mutex_lock(&q->mu);
        q->tail++;
        pthread_cond_signal(&q->nonfull);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct mt_opts o = mt_parse(argc, argv, "producer/consumer hand-off (T/2 pairs)");
    int pairs = o.threads / 2, T = o.threads;
    long total = (long)(BLOCKS * o.scale / BATCH);     /* batches in all */
    uint64_t blocks;
    double secs;
    if (pairs == 0) {
        struct batch *b = mt_xmalloc(NAME, sizeof *b);
        struct mt_rng r = mt_rng_seed(0x9c0);
        uint64_t serial = 0;
        double t0 = mt_now();
        for (long k = 0; k < total; k++) {
            produce(b, &r, &serial);
            consume(b);
        }
        secs = mt_now() - t0;
        blocks = (uint64_t)total * BATCH;
        free(b);
    } else {
        T = 2 * pairs;
        long per = total / pairs > 0 ? total / pairs : 1;
        struct queue *q = mt_xmalloc(NAME, (size_t)pairs * sizeof *q);
        pthread_t *th = mt_xmalloc(NAME, (size_t)T * sizeof *th);
        for (int i = 0; i < pairs; i++) {
            memset(&q[i], 0, sizeof q[i]);
            pthread_mutex_init(&q[i].mu, NULL);
            pthread_cond_init(&q[i].nonempty, NULL);
            pthread_cond_init(&q[i].nonfull, NULL);
            q[i].batches = per;
            q[i].id = i;
        }
        double t0 = mt_now();
        for (int i = 0; i < pairs; i++) {
            mt_pthread(pthread_create(&th[2 * i], NULL, producer, &q[i]), NAME, "create");
            mt_pthread(pthread_create(&th[2 * i + 1], NULL, consumer, &q[i]), NAME, "create");
        }
        for (int i = 0; i < T; i++)
            mt_pthread(pthread_join(th[i], NULL), NAME, "join");
        secs = mt_now() - t0;
        blocks = (uint64_t)per * pairs * BATCH;
        for (int i = 0; i < pairs; i++) {
            pthread_mutex_destroy(&q[i].mu);
            pthread_cond_destroy(&q[i].nonempty);
            pthread_cond_destroy(&q[i].nonfull);
        }
        free(q);
        free(th);
    }
    return mt_report(NAME, T, 2 * blocks, secs);
}
