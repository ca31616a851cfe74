/* counts.c - the statistics build's counters (counts.h): events summed over per-thread
 * shards, the locks named at their first acquisition, snapshots at 2^k operations, and at
 * exit one JSON line appended to $SNUG_COUNTS_OUT.  No allocation; empty without SNUG_COUNTS. */
#include "counts.h"
#ifdef SNUG_COUNTS
#include "error.h"
#include "lock.h"
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHARDS    64            /* threads share a shard beyond 64: relaxed adds stay exact */
#define MAX_LOCKS 300           /* the global locks and up to 256 arenas */
#define OPS_BATCH 256           /* a thread adds its operations to the coarse total this many at a time */
#define MILESTONES 48           /* snapshots at 2^k coarse operations, k < 48 */

static struct { atomic_ulong n[SNUG_C_NEVENTS]; } SNUG_OWN_LINE shards[SHARDS];
static atomic_uint next_shard;
static __thread int my_shard = -1;
static __thread unsigned long my_ops;
static atomic_ulong coarse_ops;

static snug_lock_t *locks[MAX_LOCKS];
static atomic_uint nlocks;

struct snap {
    unsigned long ev[SNUG_C_NEVENTS];
    unsigned long acquired[MAX_LOCKS], waited[MAX_LOCKS];
};
static struct snap milestones[MILESTONES];
static atomic_int milestone_taken[MILESTONES];

static void take(struct snap *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < SHARDS; i++)
        for (int e = 0; e < SNUG_C_NEVENTS; e++) s->ev[e] += atomic_load_explicit(&shards[i].n[e], memory_order_relaxed);
    unsigned n = atomic_load_explicit(&nlocks, memory_order_acquire);
    for (unsigned i = 0; i < n && i < MAX_LOCKS; i++) {
        snug_lock_t *l = __atomic_load_n(&locks[i], __ATOMIC_ACQUIRE);
        if (!l) continue;               /* (counted in, not yet stored) */
        s->acquired[i] = __atomic_load_n(&l->acquired, __ATOMIC_RELAXED);
        s->waited[i] = __atomic_load_n(&l->waited, __ATOMIC_RELAXED);
    }
}

void snug_count_add(enum snug_count_event e, unsigned long n)
{
    int s = my_shard;
    if (SNUG_UNLIKELY(s < 0)) s = my_shard = (int)(atomic_fetch_add(&next_shard, 1) % SHARDS);
    atomic_fetch_add_explicit(&shards[s].n[e], n, memory_order_relaxed);
    if (e != SNUG_C_OPS || ++my_ops < OPS_BATCH) return;
    my_ops = 0;
    unsigned long was = atomic_fetch_add_explicit(&coarse_ops, OPS_BATCH, memory_order_relaxed);
    unsigned long now = was + OPS_BATCH;
    int k = 63 - __builtin_clzl(now);            /* the power of two now passed, if was was below it */
    if (k < MILESTONES && was < (1ul << k) && !atomic_exchange(&milestone_taken[k], 1))
        take(&milestones[k]);
}

void snug_count_lock_seen(void *lock, const char *name)
{
    snug_lock_t *l = lock;
    if (name[0] == '&') name++;
    l->name = name;
    unsigned i = atomic_load_explicit(&nlocks, memory_order_relaxed);
    /* (with the lock held: each lock registers once; others may register at once) */
    while (i < MAX_LOCKS && !atomic_compare_exchange_weak(&nlocks, &i, i + 1)) {}
    if (i < MAX_LOCKS) __atomic_store_n(&locks[i], l, __ATOMIC_RELEASE);
}

/* ---- the report ---- */

struct out { char buf[4096]; size_t at; };

static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->at + n < sizeof o->buf) { memcpy(o->buf + o->at, s, n); o->at += n; }
}
static void put_u(struct out *o, unsigned long v) { char b[24]; put(o, snug_fmt_u(b, v)); }
static void put_kv(struct out *o, const char *k, unsigned long v, int comma)
{
    if (comma) put(o, ", ");
    put(o, "\""); put(o, k); put(o, "\": "); put_u(o, v);
}

static const char *const ev_names[SNUG_C_NEVENTS] = {
    "ops", "rmw_remote", "rmw_meter", "rmw_other", "mmap", "munmap", "mremap", "madvise", "brk"
};

/* Is lock i an arena's (arena.c names them all alike)?  Arena locks are not
 * shared by every thread: each thread takes its own arena's (and the arena of
 * a block it frees); they are counted apart from the global ones. */
static int is_arena(unsigned i) { return locks[i] && !strcmp(locks[i]->name, "arena lock"); }

/* The counts of now less those of base (NULL: since the start).  Locks of one
 * name are reported together (the arenas' locks). */
static void put_span(struct out *o, const struct snap *now, const struct snap *base, unsigned nl)
{
    unsigned long acq = 0, wait = 0, aacq = 0, await = 0;
    for (unsigned i = 0; i < nl; i++) {
        unsigned long a = now->acquired[i] - (base ? base->acquired[i] : 0);
        unsigned long w = now->waited[i] - (base ? base->waited[i] : 0);
        if (is_arena(i)) { aacq += a; await += w; }
        else { acq += a; wait += w; }
    }
    put(o, "{");
    for (int e = 0; e < SNUG_C_NEVENTS; e++) put_kv(o, ev_names[e], now->ev[e] - (base ? base->ev[e] : 0), e > 0);
    unsigned long rmw = 0;
    for (int e = SNUG_C_RMW_REMOTE; e <= SNUG_C_RMW_OTHER; e++) rmw += now->ev[e] - (base ? base->ev[e] : 0);
    put_kv(o, "shared_rmw", rmw, 1);
    put_kv(o, "lock_acquired", acq, 1);
    put_kv(o, "lock_waited", wait, 1);
    put_kv(o, "arena_acquired", aacq, 1);
    put_kv(o, "arena_waited", await, 1);
    put(o, ", \"locks\": {");
    int first = 1;
    for (unsigned i = 0; i < nl; i++) {
        const char *name = locks[i] ? locks[i]->name : "?";
        int seen = 0;
        for (unsigned j = 0; j < i && !seen; j++) seen = locks[j] && locks[i] && !strcmp(locks[j]->name, name);
        if (seen) continue;
        unsigned long a = 0, w = 0;
        for (unsigned j = i; j < nl; j++)
            if (j == i || (locks[j] && !strcmp(locks[j]->name, name))) {
                a += now->acquired[j] - (base ? base->acquired[j] : 0);
                w += now->waited[j] - (base ? base->waited[j] : 0);
            }
        if (!first) put(o, ", ");
        first = 0;
        put(o, "\""); put(o, name); put(o, "\": [");
        put_u(o, a);
        put(o, ", ");
        put_u(o, w);
        put(o, "]");
    }
    put(o, "}}");
}

/* At exit: {"total": {...}, "steady": {...}, "warm_ops": W} appended to $SNUG_COUNTS_OUT,
 * where steady counts from the last snapshot at or before a tenth of the operations
 * (the warm-up: between 5% and 10% of them). */
__attribute__((destructor)) static void counts_report(void)
{
    const char *path = getenv("SNUG_COUNTS_OUT");
    if (!path || !*path) return;
    static struct snap now;
    static struct out o;
    take(&now);
    unsigned nl = atomic_load(&nlocks);
    if (nl > MAX_LOCKS) nl = MAX_LOCKS;
    const struct snap *warm = NULL;
    for (int k = MILESTONES - 1; k >= 0; k--)
        if (atomic_load(&milestone_taken[k]) && (1ul << k) <= now.ev[SNUG_C_OPS] / 10) { warm = &milestones[k]; break; }
    o.at = 0;
    put(&o, "{\"warm_ops\": ");
    put_u(&o, warm ? warm->ev[SNUG_C_OPS] : 0);
    put(&o, ", \"total\": ");
    put_span(&o, &now, NULL, nl);
    put(&o, ", \"steady\": ");
    put_span(&o, &now, warm, nl);
    put(&o, "}\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    for (size_t done = 0; done < o.at;) {
        ssize_t w = write(fd, o.buf + done, o.at - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    close(fd);
}
#else
typedef int snug_counts_unused;     /* (ISO C wants something in a translation unit) */
#endif
