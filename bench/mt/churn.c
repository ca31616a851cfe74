/* churn.c - thread churn: short-lived threads that allocate, and blocks that outlive
 * the thread that allocated them.
 *
 * The run is a sequence of generations of T threads each (created together, joined
 * together).  Worker i of a generation first checks and frees the KEEP blocks that
 * worker i of the previous generation left behind (their allocating thread has
 * exited), then allocates PER blocks of mixed sizes, frees a random half of them and
 * leaves the other half to the next generation.  The allocator has to set up and tear
 * down per-thread state at thread speed and must not lose the memory of dead threads.
 *
 * Fixed work: BLOCKS * scale blocks in all = BLOCKS * scale / PER thread lifetimes,
 * however many run at once.  ops = mallocs + frees inside the clock, about 2 * blocks
 * (the last generation's leftovers are freed after the clock stops and not counted).
 */
#include "mt.h"

#define NAME   "churn"
#define PER    1000
#define KEEP   (PER / 2)
#define BLOCKS 2000000.0

struct slot { void *p; size_t size; uint64_t tag; };

struct work {
    int id;
    long gen;
    struct slot left[KEEP];     /* handed from generation gen-1 to gen */
    int nleft;
};

static void *worker(void *arg)
{
    struct work *w = arg;
    struct mt_rng r = mt_rng_seed(((uint64_t)w->gen << 16) ^ (uint64_t)w->id ^ 0xc4u);
    uint64_t serial = ((uint64_t)w->gen << 24 | (uint64_t)w->id) << 20;
    for (int k = 0; k < w->nleft; k++) {
        struct slot *s = &w->left[k];
        if (!mt_check(s->p, s->size, s->tag))
            mt_fail(NAME, "left by a dead thread", s->p, s->size);
        free(s->p);
    }
    struct slot mine[PER];
    for (int k = 0; k < PER; k++) {
        mine[k].size = mt_mixed_size(&r);
        mine[k].tag = mt_tag(++serial, mine[k].size);
        mine[k].p = mt_xmalloc(NAME, mine[k].size);
        mt_stamp(mine[k].p, mine[k].size, mine[k].tag);
    }
    /* shuffle, free the first half, keep the second */
    for (int k = PER - 1; k > 0; k--) {
        int j = (int)mt_below(&r, (size_t)k + 1);
        struct slot t = mine[k];
        mine[k] = mine[j];
        mine[j] = t;
    }
    for (int k = 0; k < PER - KEEP; k++) {
        if (!mt_check(mine[k].p, mine[k].size, mine[k].tag))
            mt_fail(NAME, "before free", mine[k].p, mine[k].size);
        free(mine[k].p);
    }
    memcpy(w->left, mine + (PER - KEEP), KEEP * sizeof *mine);
    w->nleft = KEEP;
    return NULL;
}

int main(int argc, char **argv)
{
    struct mt_opts o = mt_parse(argc, argv, "thread churn: threads that allocate and exit");
    int T = o.threads;
    long lifetimes = (long)(BLOCKS * o.scale / PER);
    long gens = lifetimes / T > 0 ? lifetimes / T : 1;
    struct work *w = mt_xmalloc(NAME, (size_t)T * sizeof *w);
    pthread_t *th = mt_xmalloc(NAME, (size_t)T * sizeof *th);
    for (int i = 0; i < T; i++) {
        w[i].id = i;
        w[i].nleft = 0;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    double t0 = mt_now();
    for (long g = 0; g < gens; g++) {
        for (int i = 0; i < T; i++) {
            w[i].gen = g;
            mt_pthread(pthread_create(&th[i], &attr, worker, &w[i]), NAME, "create");
        }
        for (int i = 0; i < T; i++)
            mt_pthread(pthread_join(th[i], NULL), NAME, "join");
    }
    double secs = mt_now() - t0;
    for (int i = 0; i < T; i++)
        for (int k = 0; k < w[i].nleft; k++) {
            struct slot *s = &w[i].left[k];
            if (!mt_check(s->p, s->size, s->tag))
                mt_fail(NAME, "at the end", s->p, s->size);
            free(s->p);
        }
    pthread_attr_destroy(&attr);
    free(w);
    free(th);
    /* every generation: PER mallocs and PER - KEEP frees, and all but the first free
     * the KEEP blocks of the one before */
    return mt_report(NAME, T, (uint64_t)T * (2ull * (uint64_t)gens * PER - KEEP), secs);
}
