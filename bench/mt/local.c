/* local.c - per-thread allocate/free loops of mixed sizes, nothing shared.
 *
 * Every thread keeps a window of WINDOW live blocks and works in steps of STEP
 * requests.  Most steps replace random blocks of the window (free one, allocate one
 * of a new mixed size: 60% up to 128 bytes, 30% up to 1 KiB, 9% up to 8 KiB, 1% up to
 * 64 KiB); every fourth step instead frees the whole window in allocation order and
 * refills it (the bulk pattern of a request or a parse tree going away), and every
 * eighth step allocates and immediately frees STEP short-lived temporaries.  This is
 * the scalability baseline: an allocator with per-thread caches should scale with the
 * cores here; one with a global lock will not.
 *
 * Fixed work: PAIRS * scale malloc/free pairs in all, split evenly among the threads.
 * ops = 2 * pairs.
 */
#include "mt.h"

#define NAME   "local"
#define WINDOW 1000
#define STEP   1000
#define PAIRS  6000000.0

struct slot { void *p; size_t size; uint64_t tag; };

static long per_thread;            /* pairs per thread */

static void put(struct slot *s, struct mt_rng *r, uint64_t *serial)
{
    s->size = mt_mixed_size(r);
    s->tag = mt_tag(++*serial, s->size);
    s->p = mt_xmalloc(NAME, s->size);
    mt_stamp(s->p, s->size, s->tag);
}

static void drop(struct slot *s)
{
    if (!mt_check(s->p, s->size, s->tag))
        mt_fail(NAME, "before free", s->p, s->size);
    free(s->p);
    s->p = NULL;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    struct mt_rng r = mt_rng_seed(0x10ca1 + (uint64_t)me);
    uint64_t serial = (uint64_t)me << 40;
    struct slot *win = mt_xmalloc(NAME, WINDOW * sizeof *win);
    for (int i = 0; i < WINDOW; i++)
        put(&win[i], &r, &serial);
    long done = WINDOW;             /* the fill counts (its frees come at the end) */
    for (long step = 0; done < per_thread; step++) {
        long n = per_thread - done < STEP ? per_thread - done : STEP;
        if (step % 8 == 7) {
            for (long k = 0; k < n; k++) {
                struct slot t;
                put(&t, &r, &serial);
                drop(&t);
            }
        } else if (step % 4 == 3) {
            long m = n < WINDOW ? n : WINDOW;
            for (long k = 0; k < m; k++)
                drop(&win[k]);
            for (long k = 0; k < m; k++)
                put(&win[k], &r, &serial);
            n = m;
        } else {
            for (long k = 0; k < n; k++) {
                struct slot *s = &win[mt_below(&r, WINDOW)];
                drop(s);
                put(s, &r, &serial);
            }
        }
        done += n;
    }
    for (int i = 0; i < WINDOW; i++)
        drop(&win[i]);
    free(win);
    return NULL;
}

int main(int argc, char **argv)
{
    struct mt_opts o = mt_parse(argc, argv, "per-thread allocate/free loops of mixed sizes");
    int T = o.threads;
    per_thread = (long)(PAIRS * o.scale / T);
    if (per_thread < WINDOW)
        per_thread = WINDOW;
    double secs = mt_run_threads(NAME, T, worker);
    return mt_report(NAME, T, 2ull * (uint64_t)per_thread * (uint64_t)T, secs);
}
