/* falseshare.c - false-sharing sensitivity: small objects allocated by one thread and
 * written by another (the pattern of the cache-scratch / cache-thrash benchmarks,
 * written from scratch).
 *
 * The main thread allocates one OBJ-byte object per worker, back to back, and hands
 * object i to worker i.  Each worker writes its object WRITES times, frees it (passive
 * false sharing: an allocator that gives that slot back to the freeing thread keeps
 * handing out memory whose cache line another thread writes), and then, ITERS / T
 * times, allocates an OBJ-byte object, writes every byte WRITES times, checks the
 * result and frees it (active false sharing: an allocator that hands neighbouring
 * slots of one cache line to different threads makes the cores fight over the line).
 * An allocator that keeps each thread's small objects on separate cache lines runs
 * this at the speed of the writes; one that does not can be many times slower.
 *
 * Fixed work: ITERS * scale objects in all.  ops = 2 * objects (malloc + free), but
 * the time is mostly the writes: the allocator shows through where it puts objects.
 */
#include "mt.h"

#define NAME   "falseshare"
#define OBJ    8
#define WRITES 64
#define ITERS  1500000.0

static long per_thread;
static unsigned char **given;

static int hammer(volatile unsigned char *p, unsigned seed)
{
    for (int w = 0; w < WRITES; w++)
        for (int b = 0; b < OBJ; b++)
            p[b] = (unsigned char)(p[b] + (unsigned)b + seed);
    /* each byte started at (b ^ seed) & 0xff and grew by (b + seed) WRITES times */
    for (int b = 0; b < OBJ; b++)
        if (p[b] != (unsigned char)(((unsigned)b ^ seed) + (unsigned)WRITES * ((unsigned)b + seed)))
            return 0;
    return 1;
}

static void init(unsigned char *p, unsigned seed)
{
    for (int b = 0; b < OBJ; b++)
        p[b] = (unsigned char)((unsigned)b ^ seed);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned char *p = given[me];
    init(p, (unsigned)me);
    if (!hammer(p, (unsigned)me))
        mt_fail(NAME, "handed-over object", p, OBJ);
    free(p);
    for (long k = 0; k < per_thread; k++) {
        unsigned seed = (unsigned)(k * 31 + me);
        p = mt_xmalloc(NAME, OBJ);
        init(p, seed);
        if (!hammer(p, seed))
            mt_fail(NAME, "after the writes", p, OBJ);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct mt_opts o = mt_parse(argc, argv, "false sharing: objects from one thread written by another");
    int T = o.threads;
    per_thread = (long)(ITERS * o.scale / T);
    if (per_thread < 1)
        per_thread = 1;
    given = mt_xmalloc(NAME, (size_t)T * sizeof *given);
    for (int i = 0; i < T; i++)
        given[i] = mt_xmalloc(NAME, OBJ);
    double secs = mt_run_threads(NAME, T, worker);
    free(given);
    return mt_report(NAME, T, 2ull * (uint64_t)(per_thread + 1) * (uint64_t)T, secs);
}
