/* many.c - 512 threads alive at once handing blocks of three shapes to each other through
 * lock-free mailboxes, exiting with their blocks still out while new ones start (2560 in all),
 * a fork from a worker mid-churn: every payload checked before its free, the heap checked at
 * quiescent points and in the fork child, and RSS after the churn bounded by the live payload.
 * Built twice: MANY_LINKED calls snug_malloc/snug_free (libsnug-prefix.a, beside glibc's
 * malloc); without it, plain malloc/free for LD_PRELOAD of libsnug.so. */
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---- the allocator under test: the prefixed API, or malloc as the loader binds it ---------- */
#ifdef MANY_LINKED
#define XMALLOC snug_malloc
#define XFREE snug_free
static int heap_check(void) { return snug_heap_check(); }
static int give_back(void) { return snug_trim(0); }
static struct snug_stats stats_now(void)
{
    struct snug_stats s;
    memset(&s, 0, sizeof s);
    if (snug_stats(&s) != 0) FAILF("snug_stats did not return 0");
    return s;
}
#define BUILD "linked (snug_malloc/snug_free)"
#else
#define XMALLOC malloc
#define XFREE free
static int heap_check(void) { return sd_heap_check(); }
static int give_back(void) { return malloc_trim(0); }
static struct snug_stats stats_now(void) { return get_stats(); }
#define BUILD "preloaded (malloc/free)"
#endif

/* ---- the run's shape ------------------------------------------------------------------------ */
enum {
    NSLOTS = 512,         /* threads alive at once at the peak (one per slot) */
    TOTAL = 2560,         /* threads created in all: 5 generations per slot */
    OPS = 3000,           /* a thread's operations: OPS/2 .. 3*OPS/2, so exits are spread */
    LOCAL = 16,           /* blocks a thread holds itself */
    MAILCAP = 24,         /* blocks waiting in one mailbox at most: bounds the live set */
    KEEP = 2048,          /* blocks that outlive the churn: the known live set at the end */
    STACK = 64 * 1024,    /* thread stacks: 512 x 64 KiB is 32 MiB of address space */
    FORKS = 2,            /* one fork in the middle of each half of the run */
};
#define MiB (1024.0 * 1024.0)
#define ALLOWANCE (32 * MiB)

/* What the churn measured, for the rss-bounded check (shared with the checks' processes). */
static struct measured {
    int done;
    double rss_before, rss, rss_trim, waited, kept, bound;
} *meas;

/* ---- blocks: a 16-byte head, then a pattern derived from address, size and owner ------------ *
 * head word 0: size (24 bits) | owner thread number (24 bits) | a 16-bit hash of all three and
 * the address (so a 16-byte block, all head, is checked too); word 1: the mailbox link. */
struct blk {
    uint64_t tag;
    _Atomic(uintptr_t) link;
};
#define SIZE_OF(t) ((size_t)((t) & 0xffffff))
#define OWNER_OF(t) ((unsigned)(((t) >> 24) & 0xffffff))

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dull;
    return x ^ (x >> 33);
}
static uint64_t seed_of(const void *b, size_t size, unsigned owner)
{
    return mix((uint64_t)(uintptr_t)b * 0x9e3779b97f4a7c15ull ^ (uint64_t)size << 40 ^ owner);
}
static uint64_t tag_of(const void *b, size_t size, unsigned owner)
{
    return (uint64_t)size | (uint64_t)owner << 24 | (seed_of(b, size, owner) & 0xffff) << 48;
}
static uint64_t word_pat(uint64_t seed, size_t i) { return seed + i * 0xd1b54a32d192ed03ull; }
static unsigned char byte_pat(uint64_t seed, size_t j) { return (unsigned char)(seed >> (j % 8 * 8) ^ j); }

static _Atomic(int64_t) live_bytes;   /* payload bytes of the test's blocks allocated now */
static _Atomic(int64_t) live_peak;

static struct blk *new_block(size_t size, unsigned owner)
{
    struct blk *b = XMALLOC(size);
    if (!b) FAILF("malloc(%zu) returned NULL", size);
    if ((uintptr_t)b % 8) FAILF("malloc(%zu) = %p misaligned", size, (void *)b);
    uint64_t seed = seed_of(b, size, owner);
    b->tag = tag_of(b, size, owner);
    atomic_store_explicit(&b->link, 0, memory_order_relaxed);
    uint64_t *w = (uint64_t *)b;
    size_t nw = size / 8;
    for (size_t i = 2; i < nw; i++) w[i] = word_pat(seed, i);
    unsigned char *c = (unsigned char *)b;
    for (size_t j = nw * 8; j < size; j++) c[j] = byte_pat(seed, j);
    int64_t now = atomic_fetch_add_explicit(&live_bytes, (int64_t)size, memory_order_relaxed) + (int64_t)size;
    int64_t peak = atomic_load_explicit(&live_peak, memory_order_relaxed);
    while (now > peak && !atomic_compare_exchange_weak(&live_peak, &peak, now)) {}
    return b;
}

/* Every byte of b as new_block wrote it; the link word is not part of the pattern. */
static void verify(const struct blk *b, const char *where)
{
    uint64_t t = b->tag;
    size_t size = SIZE_OF(t);
    unsigned owner = OWNER_OF(t);
    if (size < sizeof *b || t != tag_of(b, size, owner))
        FAILF("%s: block %p head smashed (tag %016llx)", where, (const void *)b, (unsigned long long)t);
    uint64_t seed = seed_of(b, size, owner);
    const uint64_t *w = (const uint64_t *)b;
    size_t nw = size / 8;
    for (size_t i = 2; i < nw; i++)
        if (w[i] != word_pat(seed, i))
            FAILF("%s: block %p (%zu bytes, of thread %u) corrupted at byte %zu", where, (const void *)b, size,
                  owner, i * 8);
    const unsigned char *c = (const unsigned char *)b;
    for (size_t j = nw * 8; j < size; j++)
        if (c[j] != byte_pat(seed, j))
            FAILF("%s: block %p (%zu bytes, of thread %u) corrupted at byte %zu", where, (const void *)b, size,
                  owner, j);
}

static void verify_free(struct blk *b, const char *where)
{
    verify(b, where);
    atomic_fetch_sub_explicit(&live_bytes, (int64_t)SIZE_OF(b->tag), memory_order_relaxed);
    XFREE(b);
}

/* Small 16 B - 1 KiB (88%), medium 1 KiB - 64 KiB (12%, log-uniform), large 256 KiB - 1 MiB
 * (1 in 2048; none for the kept set, whose bound is about the heap, not about mappings). */
static size_t pick_size(uint64_t *r, int large_ok)
{
    uint64_t x = xrnd(r) % 2048;
    if (x == 0 && large_ok) return (256u << 10) + 1 + (size_t)(xrnd(r) % (768u << 10));
    if (x < 246) {
        size_t lo = (size_t)1024 << (xrnd(r) % 6);
        return lo + 1 + (size_t)(xrnd(r) % (lo - 1));
    }
    return 16 + (size_t)(xrnd(r) % 1009);
}

/* ---- mailboxes: one per slot, a lock-free stack pushed by anyone and taken whole by the slot's
 * thread (take-all with one exchange, so a reused address cannot confuse a push) ------------- */
struct mailbox {
    _Atomic(uintptr_t) head;
    atomic_int count;
    char pad[64 - sizeof(uintptr_t) - sizeof(int)];
};
static struct mailbox mail[NSLOTS];

static int mail_push(unsigned to, struct blk *b)
{
    struct mailbox *m = &mail[to];
    if (atomic_fetch_add(&m->count, 1) >= MAILCAP) {
        atomic_fetch_sub(&m->count, 1);
        return 0;
    }
    uintptr_t old = atomic_load_explicit(&m->head, memory_order_relaxed);
    do atomic_store_explicit(&b->link, old, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&m->head, &old, (uintptr_t)b, memory_order_release,
                                                  memory_order_relaxed));
    return 1;
}

static struct blk *mail_take(unsigned me)
{
    struct mailbox *m = &mail[me];
    uintptr_t list = atomic_exchange_explicit(&m->head, 0, memory_order_acquire);
    int n = 0;
    for (uintptr_t p = list; p; p = atomic_load_explicit(&((struct blk *)p)->link, memory_order_relaxed)) n++;
    if (n) atomic_fetch_sub(&m->count, n);
    return (struct blk *)list;
}

static struct blk *next_of(struct blk *b) { return (struct blk *)atomic_load_explicit(&b->link, memory_order_relaxed); }

/* ---- the kept set: replaced now and then by any thread; what is in it at the end is live ------ */
static _Atomic(uintptr_t) keep[KEEP];

/* ---- threads ----------------------------------------------------------------------------------- */
struct slot {
    pthread_t tid;
    atomic_int state; /* 0 empty, 1 running, 2 finished (to be joined) */
};
static struct slot slots[NSLOTS];
static sem_t finished;
static pthread_barrier_t gate;
static atomic_int alive, alive_peak, forks_done;
static atomic_llong ops_done, handed, forwarded;
static int fork_at[FORKS];

static void fork_child(unsigned me)
{
    alarm(30); /* a child deadlocked in the allocator dies of SIGALRM; the parent sees it */
    /* blocks of threads that do not exist in the child, from their mailboxes and the kept set */
    for (unsigned s = 0; s < NSLOTS; s += 16)
        for (struct blk *b = mail_take(s), *n; b; b = n) {
            n = next_of(b);
            verify_free(b, "fork child: mailbox block");
        }
    for (unsigned k = 0; k < KEEP; k += 8) {
        struct blk *b = (struct blk *)atomic_exchange(&keep[k], 0);
        if (b) verify_free(b, "fork child: kept block");
    }
    uint64_t r = 0xc0ffee + me;
    struct blk *hold[64] = { 0 };
    for (int i = 0; i < 3000; i++) {
        unsigned k = (unsigned)(xrnd(&r) % 64);
        if (hold[k]) verify_free(hold[k], "fork child: own block");
        hold[k] = new_block(pick_size(&r, 1), 4000000 + (unsigned)i % 1000);
    }
    for (int k = 0; k < 64; k++)
        if (hold[k]) verify_free(hold[k], "fork child: own block at the end");
    if (heap_check() != 0) FAILF("fork child: snug_heap_check failed (message above)");
    _exit(0);
}

static void do_fork(unsigned me)
{
    pid_t pid = fork();
    if (pid < 0) FAILF("fork from thread %u failed", me);
    if (pid == 0) fork_child(me);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) FAILF("waitpid");
    if (WIFSIGNALED(st))
        FAILF("fork child of thread %u killed by signal %d%s", me, WTERMSIG(st),
              WTERMSIG(st) == SIGALRM ? " (deadlocked in the allocator after fork?)" : "");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) FAILF("fork child of thread %u: exit status %d", me, WEXITSTATUS(st));
    atomic_fetch_add(&forks_done, 1);
}

static void consume(struct blk *b, unsigned me, uint64_t *r, struct blk **local)
{
    uint64_t x = xrnd(r) % 8;
    if (x == 0) { /* hand it on: freed two threads away from its owner */
        verify(b, "received block");
        if (mail_push((unsigned)(xrnd(r) % NSLOTS), b)) { atomic_fetch_add_explicit(&forwarded, 1, memory_order_relaxed); return; }
    } else if (x == 1) { /* keep it a while */
        verify(b, "received block");
        unsigned k = (unsigned)(xrnd(r) % LOCAL);
        if (local[k]) verify_free(local[k], "held block");
        local[k] = b;
        return;
    }
    verify_free(b, "received block");
    (void)me;
}

static void *worker(void *arg)
{
    uintptr_t a = (uintptr_t)arg;
    unsigned me = (unsigned)(a % NSLOTS), num = (unsigned)(a / NSLOTS);
    int a1 = atomic_fetch_add(&alive, 1) + 1, pk = atomic_load(&alive_peak);
    while (a1 > pk && !atomic_compare_exchange_weak(&alive_peak, &pk, a1)) {}
    if (num < NSLOTS) pthread_barrier_wait(&gate); /* the first 512 start together */
    uint64_t r = mix(num + 1) | 1;
    struct blk *local[LOCAL] = { 0 };
    int ops = OPS / 2 + (int)(xrnd(&r) % OPS);
    int fork_here = -1;
    for (int f = 0; f < FORKS; f++)
        if (num == (unsigned)fork_at[f]) fork_here = ops / 2;
    for (int op = 0; op < ops; op++) {
        uint64_t x = xrnd(&r);
        if (x % 4 < 2) { /* make one and hand it to another thread */
            struct blk *b = new_block(pick_size(&r, 1), num);
            unsigned to = (unsigned)((me + 1 + xrnd(&r) % (NSLOTS - 1)) % NSLOTS);
            if (mail_push(to, b)) atomic_fetch_add_explicit(&handed, 1, memory_order_relaxed);
            else verify_free(b, "own block (mailbox full)");
        } else if (x % 4 == 2) { /* replace one of our own */
            unsigned k = (unsigned)(xrnd(&r) % LOCAL);
            if (local[k]) verify_free(local[k], "held block");
            local[k] = new_block(pick_size(&r, 1), num);
        } else if (x % 64 == 3) { /* renew one kept block: the old one may be any thread's */
            struct blk *b = new_block(pick_size(&r, 0), num);
            struct blk *old = (struct blk *)atomic_exchange(&keep[xrnd(&r) % KEEP], (uintptr_t)b);
            if (old) verify_free(old, "kept block");
        } else { /* free one of our own */
            unsigned k = (unsigned)(xrnd(&r) % LOCAL);
            if (local[k]) { verify_free(local[k], "held block"); local[k] = NULL; }
        }
        for (struct blk *b = mail_take(me), *n; b; b = n) {
            n = next_of(b);
            consume(b, me, &r, local);
        }
        if (op == fork_here) do_fork(num);
        /* on 2 cores two threads run at a time and a mailbox fills until its thread runs again:
         * stepping aside now and then lets the others run and take their mail */
        if (op % 32 == 31) sched_yield();
    }
    /* exit with blocks still out: what we hold goes to other threads' mailboxes (freed there
     * after we are gone); what waits in our own mailbox stays for the slot's next thread */
    for (int k = 0; k < LOCAL; k++)
        if (local[k] && !mail_push((unsigned)(xrnd(&r) % NSLOTS), local[k])) verify_free(local[k], "held block at exit");
    atomic_fetch_add_explicit(&ops_done, ops, memory_order_relaxed);
    atomic_fetch_sub(&alive, 1);
    atomic_store(&slots[me].state, 2);
    sem_post(&finished);
    return NULL;
}

static pthread_attr_t attr;
static unsigned created;

static void start(unsigned s)
{
    atomic_store(&slots[s].state, 1);
    int rc = pthread_create(&slots[s].tid, &attr, worker, (void *)((uintptr_t)created * NSLOTS + s));
    if (rc != 0) {
        struct rlimit rl = { 0, 0 };
        getrlimit(RLIMIT_NPROC, &rl);
        FAILF("pthread_create of thread %u (%d alive): %s (RLIMIT_NPROC %llu; see also "
              "/proc/sys/kernel/threads-max)", created, atomic_load(&alive), strerror(rc),
              (unsigned long long)rl.rlim_cur);
    }
    created++;
}

/* Joins finished threads and starts new ones in their slots until `upto` have been created,
 * then waits for all of them. */
static void churn_until(unsigned upto)
{
    unsigned running = 0;
    for (unsigned s = 0; s < NSLOTS; s++)
        if (created < upto) { start(s); running++; }
    while (running) {
        while (sem_wait(&finished) != 0) {}
        for (unsigned s = 0; s < NSLOTS; s++) {
            if (atomic_load(&slots[s].state) != 2) continue;
            pthread_join(slots[s].tid, NULL);
            atomic_store(&slots[s].state, 0);
            running--;
            if (created < upto) { start(s); running++; }
        }
    }
}

/* Every block waiting in a mailbox or kept, checked in place (no thread runs). */
static size_t verify_all(const char *when, size_t *kept_bytes)
{
    size_t n = 0, kb = 0;
    for (unsigned s = 0; s < NSLOTS; s++)
        for (struct blk *b = (struct blk *)atomic_load(&mail[s].head); b; b = next_of(b)) { verify(b, when); n++; }
    for (unsigned k = 0; k < KEEP; k++) {
        struct blk *b = (struct blk *)atomic_load(&keep[k]);
        if (b) { verify(b, when); n++; kb += SIZE_OF(b->tag); }
    }
    if (kept_bytes) *kept_bytes = kb;
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_many(void)
{
    SKIP_IF(getenv("SNUG_TEST_QEMU"), "qemu-i386 7.2 aborts in a child forked while other threads run");
    double t0 = now_s(), rss0 = (double)rss_bytes();
    note("%s; %d threads at once, %d in all, %d..%d operations each", BUILD, NSLOTS, TOTAL, OPS / 2, OPS * 3 / 2);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < NSLOTS + 64 &&
        rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < NSLOTS + 64 ? rl.rlim_max : NSLOTS + 64;
        setrlimit(RLIMIT_NPROC, &rl);
    }
    CHECK(sem_init(&finished, 0, 0) == 0, "sem_init");
    CHECK(pthread_barrier_init(&gate, NULL, NSLOTS) == 0, "pthread_barrier_init");
    pthread_attr_init(&attr);
    CHECK(pthread_attr_setstacksize(&attr, STACK) == 0, "pthread_attr_setstacksize(%d)", STACK);
    fork_at[0] = TOTAL / 4;
    fork_at[1] = TOTAL * 3 / 4;

    /* first half: the first 512 start together (the gate), finished ones are replaced */
    churn_until(TOTAL / 2);
    CHECK(atomic_load(&alive_peak) == NSLOTS, "%d threads alive at the peak, wanted %d", atomic_load(&alive_peak), NSLOTS);
    double t1 = now_s();
    /* quiescent: every thread gone, their blocks in mailboxes and the kept set */
    size_t n1 = verify_all("quiescent check", NULL);
    CHECK(heap_check() == 0, "snug_heap_check at the quiescent point (message above)");
    note("first half: %u threads, %.1f s, %zu blocks out at the quiescent point, heap check passed",
         created, t1 - t0, n1);

    /* second half: the same churn, not all at once */
    churn_until(TOTAL);
    double t2 = now_s();
    CHECK(created == TOTAL, "%u threads created, wanted %d", created, TOTAL);
    CHECK(atomic_load(&forks_done) == FORKS, "%d forks done, wanted %d", atomic_load(&forks_done), FORKS);
    CHECK(atomic_load(&alive) == 0, "%d threads still counted alive", atomic_load(&alive));
    note("second half: %.1f s; %lld operations, %lld blocks handed to other threads, %lld handed on, "
         "peak live payload %.1f MiB", t2 - t1, atomic_load(&ops_done), atomic_load(&handed),
         atomic_load(&forwarded), (double)atomic_load(&live_peak) / MiB);

    /* all but the kept set freed: mailbox blocks by this thread, whose owners have exited */
    size_t kept_bytes = 0;
    verify_all("end of churn", &kept_bytes);
    for (unsigned s = 0; s < NSLOTS; s++)
        for (struct blk *b = mail_take(s), *n; b; b = n) {
            n = next_of(b);
            verify_free(b, "mailbox block after the churn");
        }
    CHECK(heap_check() == 0, "snug_heap_check after the churn (message above)");
    CHECK(atomic_load(&live_bytes) == (int64_t)kept_bytes, "test payload %lld bytes live, the kept set holds %zu",
          (long long)atomic_load(&live_bytes), kept_bytes);

    /* Memory bound (judged by the rss-bounded check, from the numbers left in `meas`): RSS at
     * most twice the live payload plus 32 MiB, measured after snug's own give-back without a
     * trim (decay_ms, 500 ms by default, and the reclaimer's round; polled for up to 3 s).  The
     * allowance is for what 512 threads leave that is not payload.  Measured after a trim
     * (about 31-33 MiB of RSS for 4-5 MiB of payload): the small pages the kept set pins (its
     * ~1800 small blocks, spread over 512 heaps and 32 classes, hold ~1500 pages of 4-16 KiB,
     * ~20 MiB), the touched tops of 512 exited threads' stacks that glibc caches (~5 MiB), the
     * program and its libraries (~1.5 MiB before the churn). */
    meas->kept = (double)kept_bytes;
    meas->bound = 2.0 * meas->kept + ALLOWANCE;
    double tw = now_s();
    do {
        usleep(100 * 1000);
        meas->rss = (double)rss_bytes();
    } while (meas->rss > meas->bound && now_s() - tw < 3.0);
    meas->waited = now_s() - tw;
    struct snug_stats st = stats_now();
    give_back(); /* only to report what a trim would bring; the bound is judged without it */
    meas->rss_trim = (double)rss_bytes();
    meas->rss_before = rss0;
    meas->done = 1;
    note("after the churn: live payload %.1f MiB in %d kept blocks; RSS %.1f MiB after %.1f s; snug holds "
         "%.1f MiB, %.1f MiB live in %zu blocks, %zu small pages, %.1f MiB in %zu free medium blocks, %zu regions, "
         "%.1f MiB in %zu large; RSS after a trim %.1f MiB", meas->kept / MiB, KEEP, meas->rss / MiB, meas->waited,
         (double)st.heap_bytes / MiB, (double)st.live_bytes / MiB, st.live_blocks, st.small_pages,
         (double)st.free_bytes / MiB, st.free_blocks, st.regions, (double)st.large_bytes / MiB, st.large_blocks,
         meas->rss_trim / MiB);
    st = stats_now();
    note("after the trim: snug holds %.1f MiB, %zu small pages, %.1f MiB in %zu free medium blocks",
         (double)st.heap_bytes / MiB, st.small_pages, (double)st.free_bytes / MiB, st.free_blocks);

    for (unsigned k = 0; k < KEEP; k++) {
        struct blk *b = (struct blk *)atomic_exchange(&keep[k], 0);
        if (b) verify_free(b, "kept block at the end");
    }
    CHECK(atomic_load(&live_bytes) == 0, "%lld payload bytes unaccounted for", (long long)atomic_load(&live_bytes));
    CHECK(heap_check() == 0, "snug_heap_check at the end (message above)");
    note("done in %.1f s", now_s() - t0);
}

/* The memory bound, from the numbers the churn left (a check of its own, so a correct run
 * and a bounded one are told apart).  Note (issue 21; measured on ebaed0b): snug fails this check:
 * RSS stays at 130-160 MiB for ~5 MiB live, and a trim brings it to ~32 MiB.  Frees of an
 * exited thread's small blocks wait on its parked heap's remote list until a new thread
 * adopts the heap or a trim drains it, and the free space they fragment comes back as free
 * blocks under trim_threshold, which the purge leaves.  The bound is what users should get. */
static void check_rss(void)
{
    SKIP_IF(getenv("SNUG_TEST_QEMU"), "under qemu-i386 RSS is the emulator's, which ignores MADV_DONTNEED");
    CHECK(meas->done, "the churn did not get as far as measuring RSS");
    note("RSS %.1f MiB before the churn, %.1f MiB after it (%.1f s after the last free), %.1f MiB after a trim; "
         "live payload %.1f MiB; bound %.1f MiB = 2 x live + %.0f MiB", meas->rss_before / MiB, meas->rss / MiB,
         meas->waited, meas->rss_trim / MiB, meas->kept / MiB, meas->bound / MiB, ALLOWANCE / MiB);
    CHECK(meas->rss <= meas->bound, "RSS %.1f MiB after the churn exceeds 2 x live payload (%.1f MiB) + %.0f MiB = "
          "%.1f MiB (after a trim: %.1f MiB)", meas->rss / MiB, meas->kept / MiB, ALLOWANCE / MiB,
          meas->bound / MiB, meas->rss_trim / MiB);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifndef MANY_LINKED
    snugdl_init(); /* fails the run when malloc is not snug's */
#endif
    meas = mmap(NULL, sizeof *meas, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (meas == MAP_FAILED) {
        printf("FAIL mmap of the shared results page\nDONE 1 failed\n");
        return 1;
    }
    run_check("threads-512-churn-fork", check_many, 300);
    run_check("rss-bounded", check_rss, 10);
    return harness_done();
}
