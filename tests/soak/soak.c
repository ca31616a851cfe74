/* soak.c - a server-like run of SOAK_SECONDS (default 300) on the full library (linked with
 * -lsnug): SOAK_THREADS workers (default 4) create requests of mixed sizes (mostly small, some
 * medium, a few large), hand them to each other through bounded queues, check their payloads,
 * realloc them into responses, forward or free them, and keep a per-thread set of longer-lived
 * "session" blocks; a churn thread keeps starting short-lived threads that allocate, hand blocks
 * to the workers and exit.  The main thread samples RSS and snug_stats every few seconds and
 * prints a table.  Fails (harness lines, read by tests/run.sh) when:
 *   - any payload check fails (a block's contents changed while it was live, or realloc lost them),
 *   - RSS keeps growing: after warm-up (the first fifth of the samples), the largest RSS of the
 *     last third of the samples is more than 25% above the largest of the first third,
 *   - snug_heap_check() fails after the workers have stopped.
 * Used by `make soak` (tests/tests.mk) and, 10 seconds long, by `make test`.  SOAK_LEAK=1 leaks a
 * quarter of the responses on purpose: the run must then fail rss-bounded. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "harness.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define QCAP 1024
#define SESSION 64
#define MAGIC 0x50a4c0deu

struct msg {
    uint32_t magic, seed;
    size_t len;
    unsigned hops;
    unsigned char data[];
};

struct queue {
    pthread_mutex_t mu;
    struct msg *item[QCAP];
    unsigned head, count;
};

static struct queue *queues;
static int nworkers = 4;
static int leak;
static atomic_int stop;
static atomic_ulong ops, bad_payloads, threads_started;
static char first_bad[300];
static pthread_mutex_t bad_mu = PTHREAD_MUTEX_INITIALIZER;

static unsigned char pat(uint32_t seed, size_t i) { return (unsigned char)(seed + i * 29u + (i >> 7)); }

static void report_bad(const char *fmt, ...)
{
    atomic_fetch_add(&bad_payloads, 1);
    pthread_mutex_lock(&bad_mu);
    if (!first_bad[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_bad, sizeof first_bad, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&bad_mu);
}

/* Payloads: every byte up to 4 KiB, then every 61st, and the last. */
static void fill(struct msg *m)
{
    for (size_t i = 0; i < m->len; i += i < 4096 ? 1 : 61) m->data[i] = pat(m->seed, i);
    if (m->len) m->data[m->len - 1] = pat(m->seed, m->len - 1);
}
static int check(const struct msg *m, size_t upto, const char *where)
{
    if (m->magic != MAGIC) { report_bad("%s: block %p lost its header (magic %#x)", where, (void *)m, m->magic); return 0; }
    size_t n = upto < m->len ? upto : m->len;
    for (size_t i = 0; i < n; i += i < 4096 ? 1 : 61)
        if (m->data[i] != pat(m->seed, i)) {
            report_bad("%s: block %p (%zu bytes) byte %zu changed", where, (void *)m, m->len, i);
            return 0;
        }
    if (n == m->len && n && m->data[n - 1] != pat(m->seed, n - 1)) {
        report_bad("%s: block %p last byte changed", where, (void *)m);
        return 0;
    }
    return 1;
}

static size_t pick_size(uint64_t *r)
{
    uint64_t x = xrnd(r) % 1000;
    if (x < 700) return 8 + xrnd(r) % 505;                 /* small */
    if (x < 950) return 512 + xrnd(r) % (32 * KiB);        /* medium */
    if (x < 995) return 32 * KiB + xrnd(r) % (224 * KiB);  /* big medium */
    return 256 * KiB + xrnd(r) % (2 * MiB);                /* large: own mapping */
}

static struct msg *make_msg(uint64_t *r)
{
    size_t n = pick_size(r);
    struct msg *m = (xrnd(r) & 7) == 0 ? calloc(1, sizeof *m + n) : malloc(sizeof *m + n);
    if (!m) { report_bad("malloc(%zu) returned NULL", sizeof *m + n); return NULL; }
    m->magic = MAGIC;
    m->seed = (uint32_t)xrnd(r);
    m->len = n;
    m->hops = 0;
    fill(m);
    return m;
}

static void drop_msg(struct msg *m, const char *where)
{
    check(m, m->len, where);
    m->magic = 0;
    free(m);
}

static int push(int q, struct msg *m)
{
    struct queue *Q = &queues[q];
    pthread_mutex_lock(&Q->mu);
    int ok = Q->count < QCAP;
    if (ok) Q->item[(Q->head + Q->count++) % QCAP] = m;
    pthread_mutex_unlock(&Q->mu);
    return ok;
}
static struct msg *pop(int q)
{
    struct queue *Q = &queues[q];
    struct msg *m = NULL;
    pthread_mutex_lock(&Q->mu);
    if (Q->count) { m = Q->item[Q->head]; Q->head = (Q->head + 1) % QCAP; Q->count--; }
    pthread_mutex_unlock(&Q->mu);
    return m;
}

/* A request becomes a response: realloc to another size, contents kept up to the smaller. */
static struct msg *respond(struct msg *m, uint64_t *r)
{
    size_t n = (xrnd(r) & 1) ? m->len / 2 + xrnd(r) % 64 : m->len + xrnd(r) % (m->len + 256);
    if (n > 3 * MiB) n = 3 * MiB;
    struct msg *q = realloc(m, sizeof *q + n);
    if (!q) { report_bad("realloc to %zu returned NULL", n); return m; }
    check(q, n, "after realloc (kept part)");
    q->len = n;
    q->seed = (uint32_t)xrnd(r);
    q->hops++;
    fill(q);
    return q;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint64_t r = 0x1234567ull * (uint64_t)(me + 1);
    struct msg *session[SESSION] = { 0 };
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        /* new request to someone */
        struct msg *m = make_msg(&r);
        if (m && !push((int)(xrnd(&r) % (uint64_t)nworkers), m)) drop_msg(m, "queue full");
        /* serve up to two from the own queue */
        for (int k = 0; k < 2; k++) {
            struct msg *in = pop(me);
            if (!in) break;
            if (!check(in, in->len, "request from the queue")) { free(in); continue; }
            struct msg *out = respond(in, &r);
            if (out->hops < 3 && push((int)(xrnd(&r) % (uint64_t)nworkers), out)) continue;
            /* keep some as session state for a while, free the rest */
            unsigned s = (unsigned)(xrnd(&r) % SESSION);
            if (xrnd(&r) & 1) {
                if (session[s]) drop_msg(session[s], "session block");
                session[s] = out;
            } else if (leak && (xrnd(&r) & 3) == 0) {
                out->magic = 0;          /* SOAK_LEAK=1: forget it (checks that the RSS check fails) */
            } else {
                drop_msg(out, "response");
            }
        }
        if ((++n & 255) == 0) {
            atomic_fetch_add_explicit(&ops, 256, memory_order_relaxed);
            unsigned s = (unsigned)(xrnd(&r) % SESSION);
            if (session[s]) check(session[s], session[s]->len, "session block");
        }
    }
    for (int s = 0; s < SESSION; s++)
        if (session[s]) drop_msg(session[s], "session block at the end");
    return NULL;
}

/* A short-lived thread: some work, a few blocks handed to the workers, then exit. */
static void *ephemeral(void *arg)
{
    uint64_t r = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    struct msg *mine[200];
    int k = 0;
    for (int i = 0; i < 200; i++) mine[k++] = make_msg(&r);
    for (int i = 0; i < k; i++) {
        if (!mine[i]) continue;
        if ((i & 3) == 0 && push((int)(xrnd(&r) % (uint64_t)nworkers), mine[i])) continue;
        drop_msg(mine[i], "ephemeral thread");
    }
    atomic_fetch_add(&threads_started, 1);
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    uintptr_t i = 0;
    while (!atomic_load(&stop)) {
        pthread_t t;
        if (pthread_create(&t, NULL, ephemeral, (void *)++i) == 0) pthread_join(t, NULL);
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MAXSAMPLES 4096
static size_t rss[MAXSAMPLES];

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *e = getenv("SOAK_SECONDS");
    double secs = e ? atof(e) : 300;
    if (secs < 3) secs = 3;
    leak = getenv("SOAK_LEAK") && atoi(getenv("SOAK_LEAK")) > 0;
    e = getenv("SOAK_THREADS");
    if (e && atoi(e) > 0) nworkers = atoi(e);
    double every = secs / 40 < 0.25 ? 0.25 : secs / 40 > 5 ? 5 : secs / 40;
    queues = calloc((size_t)nworkers, sizeof *queues);
    for (int i = 0; i < nworkers; i++) pthread_mutex_init(&queues[i].mu, NULL);

    printf("# soak: %.0f s, %d workers + thread churn, a sample every %.2f s\n", secs, nworkers, every);
    printf("#   %6s %9s %9s %9s %9s %10s %8s\n", "t(s)", "rss MiB", "heap MiB", "live MiB", "blocks", "ops/s", "threads");
    pthread_t w[64], ch;
    if (nworkers > 64) nworkers = 64;
    for (int i = 0; i < nworkers; i++) pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i);
    pthread_create(&ch, NULL, churn, NULL);

    double t0 = now_s(), last = t0;
    unsigned long last_ops = 0;
    int ns = 0;
    while (now_s() - t0 < secs && ns < MAXSAMPLES) {
        struct timespec ts = { (time_t)every, (long)((every - (double)(time_t)every) * 1e9) };
        nanosleep(&ts, NULL);
        double t = now_s();
        struct snug_stats s;
        snug_stats(&s);
        unsigned long o = atomic_load(&ops);
        rss[ns++] = rss_bytes();
        printf("#   %6.1f %9.1f %9.1f %9.1f %9zu %10.0f %8lu\n", t - t0, (double)rss[ns - 1] / MiB,
               (double)s.heap_bytes / MiB, (double)s.live_bytes / MiB, s.live_blocks,
               (double)(o - last_ops) / (t - last), atomic_load(&threads_started));
        last = t;
        last_ops = o;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nworkers; i++) pthread_join(w[i], NULL);
    pthread_join(ch, NULL);
    for (int q = 0; q < nworkers; q++)
        for (struct msg *m; (m = pop(q)) != NULL;) drop_msg(m, "queued at the end");

    h_current = "payloads";
    unsigned long bad = atomic_load(&bad_payloads);
    if (bad) { h_failures++; printf("FAIL payloads: %lu checks failed; first: %s\n", bad, first_bad); }
    else printf("PASS payloads\n");

    /* RSS after warm-up: the first fifth of the samples are warm-up; compare thirds of the rest */
    int w0 = ns / 5, rest = ns - w0;
    if (rest < 3) {
        h_failures++;
        printf("FAIL rss-bounded: only %d samples after warm-up\n", rest);
    } else {
        size_t first = 0, lastmax = 0;
        for (int i = w0; i < w0 + rest / 3; i++) if (rss[i] > first) first = rss[i];
        for (int i = ns - rest / 3; i < ns; i++) if (rss[i] > lastmax) lastmax = rss[i];
        printf("# rss-bounded: max RSS %.1f MiB in the first third after warm-up, %.1f MiB in the last third\n",
               (double)first / MiB, (double)lastmax / MiB);
        if ((double)lastmax > 1.25 * (double)first) {
            h_failures++;
            printf("FAIL rss-bounded: RSS keeps growing: %.1f MiB at the end vs %.1f MiB after warm-up (> +25%%)\n",
                   (double)lastmax / MiB, (double)first / MiB);
        } else {
            printf("PASS rss-bounded\n");
        }
    }
    if (snug_heap_check() != 0) { h_failures++; printf("FAIL heap-check: snug_heap_check failed after the run\n"); }
    else printf("PASS heap-check\n");
    struct snug_stats s;
    snug_stats(&s);
    printf("# end: %lu operations, %lu short-lived threads, heap %.1f MiB, live %.1f MiB in %zu blocks\n",
           atomic_load(&ops), atomic_load(&threads_started), (double)s.heap_bytes / MiB, (double)s.live_bytes / MiB,
           s.live_blocks);
    return harness_done();
}
