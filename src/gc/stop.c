/* stop.c - the registered threads: each record knows its thread's stack and queues the thread's
 * new small blocks, indexed from here in batches (index.c); and stopping them: a collection sends
 * SIGPWR to every other registered thread, which saves its registers and stack pointer,
 * acknowledges and waits in sigsuspend until SIGXCPU.  Calls only index.c and the allocator.
 *
 * Signal handlers use only async-signal-safe calls (sem_post, sigsuspend, sigaltstack) and
 * read only the thread's own record, which the collector does not change while the world is
 * stopped.  Records come from sn_malloc and are freed only outside a stop. */
#include "gc.h"
#include "alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SIG_SUSPEND SIGPWR
#define SIG_RESUME  SIGXCPU

SNUG_INTERNAL struct gc_state *snug_gc;
__thread struct gc_thread *snug_gc_self __attribute__((tls_model("initial-exec")));
static pthread_key_t thread_key;
static pthread_t main_tid;              /* the process's initial thread, when known */
static int main_known;
static struct gc_thread *main_rec;      /* its record when another thread registered it */

/* The initial thread runs the constructors of the program and of libraries it links or
 * preloads; this is how a collector first used by another thread still knows it. */
__attribute__((constructor)) static void note_main_thread(void)
{
    if (gettid() == getpid()) {
        main_tid = pthread_self();
        main_known = 1;
    }
}

static int is_main_thread(void)
{
    return main_known ? pthread_equal(pthread_self(), main_tid) : gettid() == getpid();
}

/* gc.h: every byte of the caller's frame lies above the address this returns */
__attribute__((noinline)) uintptr_t gc_below_caller(void)
{
    return (uintptr_t)__builtin_frame_address(0);
}

/* ---- stack bounds ------------------------------------------------------------------------ */
extern void *__libc_stack_end __attribute__((weak));   /* glibc: the stack pointer at start */

/* The top of the main thread's stack from /proc/self/maps, read without stdio or malloc. */
static uintptr_t maps_stack_top(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[4096], line[512];
    size_t ll = 0;
    uintptr_t top = 0;
    ssize_t n;
    while (!top && (n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n && !top; i++) {
            if (buf[i] != '\n') {
                if (ll < sizeof line - 1) line[ll++] = buf[i];
                continue;
            }
            line[ll] = 0;
            ll = 0;
            if (!strstr(line, "[stack]")) continue;
            const char *s = strchr(line, '-');
            for (s = s ? s + 1 : line; *s; s++) {
                unsigned v;
                if (*s >= '0' && *s <= '9') v = (unsigned)(*s - '0');
                else if (*s >= 'a' && *s <= 'f') v = (unsigned)(*s - 'a' + 10);
                else break;
                top = top * 16 + v;
            }
        }
    }
    close(fd);
    return top;
}

static int stack_bounds(uintptr_t *lo, uintptr_t *hi, int *is_main)
{
    *is_main = is_main_thread();
    if (*is_main) {
        uintptr_t top = 0;
        if (&__libc_stack_end && __libc_stack_end)
            top = ((uintptr_t)__libc_stack_end + sizeof(void *) - 1) & ~(uintptr_t)(sizeof(void *) - 1);
        if (!top) top = maps_stack_top();
        *lo = 0;
        *hi = top;
        return top ? 0 : -1;
    }
    /* glibc's pthread_getattr_np may allocate (realloc), so this runs under no lock of ours */
    pthread_attr_t a;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &a) != 0) return -1;
    int r = pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_destroy(&a);
    if (r != 0) return -1;
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
    return 0;
}

/* ---- the registry ------------------------------------------------------------------------ */
static void link_thread(struct gc_state *g, struct gc_thread *t)
{
    t->linked = 1;
    t->prev = NULL;
    t->next = g->threads;
    if (g->threads) g->threads->prev = t;
    g->threads = t;
    g->nthreads++;
}

static void unlink_thread(struct gc_state *g, struct gc_thread *t)
{
    if (!t->linked) return;
    t->linked = 0;
    if (t->prev) t->prev->next = t->next; else g->threads = t->next;
    if (t->next) t->next->prev = t->prev;
    t->next = t->prev = NULL;
    g->nthreads--;
    if (main_rec == t) main_rec = NULL;
}

/* ---- the pending queues ------------------------------------------------------------------ */
void gc_flush_pending(struct gc_state *g, struct gc_thread *t)
{
    size_t n = atomic_load_explicit(&t->npend, memory_order_acquire), keep = 0, kept = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        struct gc_pend e = t->pend[i];
        size_t ext = e.x & ~(size_t)1;
        if (e.p && gci_insert(&g->idx, e.p, ext, (int)(e.x & 1)) != 0) {
            t->pend[keep++] = e;            /* no memory for the index now: stays a root */
            kept += ext;
            continue;
        }
        moved += ext;   /* indexed, or freed while pending (snug_gc_free took it off heap_bytes) */
    }
    atomic_store_explicit(&t->npend, keep, memory_order_release);
    atomic_store_explicit(&t->pend_bytes, kept, memory_order_relaxed);
    g->heap_bytes += moved;
    gc_add_since(g, moved);
}

/* GC lock held, world running: index what the vanished threads left pending, then free them. */
static void free_dead(struct gc_state *g)
{
    while (g->dead) {
        struct gc_thread *t = g->dead;
        g->dead = t->next;
        gc_flush_pending(g, t);             /* anything left over leaks: never a dangling block */
        sn_free(t);
    }
}

static void thread_exit(void *v)
{
    struct gc_state *g = snug_gc;
    struct gc_thread *t = v;
    pthread_mutex_lock(&g->lock);
    gc_flush_pending(g, t);
    unlink_thread(g, t);
    snug_gc_self = NULL;
    pthread_mutex_unlock(&g->lock);
    sn_free(t);
}

int gc_thread_register_self(void)
{
    if (snug_gc_self) return 1;
    struct gc_state *g = snug_gc;
    uintptr_t lo, hi;
    int is_main;
    if (stack_bounds(&lo, &hi, &is_main) != 0) { errno = EAGAIN; return -1; }
    struct gc_thread *t = sn_calloc(1, sizeof *t);
    if (!t) { errno = ENOMEM; return -1; }
    t->tid = pthread_self();
    t->ktid = gettid();
    t->stack_lo = lo;
    t->stack_hi = hi;
    t->is_main = is_main;
    pthread_mutex_lock(&g->lock);
    if (is_main && main_rec) {              /* registered for us at start-up: take it over */
        unlink_thread(g, main_rec);
        sn_free(main_rec);                  /* sn_ under our lock: GC lock then snug's, as always */
    }
    link_thread(g, t);
    snug_gc_self = t;
    pthread_mutex_unlock(&g->lock);
    pthread_setspecific(thread_key, t);     /* unregisters at thread exit */
    return 0;
}

int gc_thread_unregister_self(void)
{
    struct gc_state *g = snug_gc;
    struct gc_thread *t = snug_gc_self;
    if (!t) {
        /* the main thread may have been registered by another thread at start-up */
        pthread_mutex_lock(&g->lock);
        t = is_main_thread() ? main_rec : NULL;
        if (t) unlink_thread(g, t);
        pthread_mutex_unlock(&g->lock);
        if (!t) return 1;
        sn_free(t);
        return 0;
    }
    pthread_mutex_lock(&g->lock);
    gc_flush_pending(g, t);
    unlink_thread(g, t);
    snug_gc_self = NULL;
    pthread_mutex_unlock(&g->lock);
    pthread_setspecific(thread_key, NULL);
    sn_free(t);
    return 0;
}

/* ---- signals ----------------------------------------------------------------------------- */
static void suspend_handler(int sig)
{
    (void)sig;
    int saved = errno;
    struct gc_state *g = snug_gc;
    struct gc_thread *t = snug_gc_self;
    if (!t && main_known && pthread_equal(pthread_self(), main_tid)) t = main_rec;
    unsigned gen = atomic_load_explicit(&g->stop_gen, memory_order_acquire);
    if (!t || atomic_load_explicit(&t->stop_gen, memory_order_acquire) != gen ||
        atomic_load_explicit(&t->acked_gen, memory_order_relaxed) == gen) {
        errno = saved;                      /* not a stop of ours (or a duplicate): ignore */
        return;
    }
    /* Registers: the kernel saved the interrupted context in the signal frame, above this
     * frame; __builtin_unwind_init also spills this frame's callee-saved registers. */
    __builtin_unwind_init();
    t->sp = gc_below_caller();
    stack_t ss;
    t->alt_lo = t->alt_hi = 0;
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
        t->alt_lo = (uintptr_t)ss.ss_sp;
        t->alt_hi = (uintptr_t)ss.ss_sp + ss.ss_size;
    }
    atomic_store_explicit(&t->acked_gen, gen, memory_order_release);
    sem_post(&g->ack);
    sigset_t wait;
    sigfillset(&wait);
    sigdelset(&wait, SIG_RESUME);
    while (atomic_load_explicit(&g->resume_gen, memory_order_acquire) != gen) sigsuspend(&wait);
    sem_post(&g->ack);
    errno = saved;
}

static void resume_handler(int sig) { (void)sig; }

int gc_threads_init(void)
{
    struct gc_state *g = snug_gc;
    if (pthread_key_create(&thread_key, thread_exit) != 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = suspend_handler;
    sigfillset(&sa.sa_mask);                /* resume is held pending until sigsuspend */
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    sigdelset(&sa.sa_mask, SIGILL);
    sigdelset(&sa.sa_mask, SIGFPE);
    if (sigaction(SIG_SUSPEND, &sa, NULL) != 0) return -1;
    sa.sa_handler = resume_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIG_RESUME, &sa, NULL) != 0) return -1;
    /* the main thread is registered by itself, whoever starts the collector */
    if (is_main_thread()) return gc_thread_register_self() < 0 ? -1 : 0;
    if (main_known) {
        uintptr_t top = 0;
        if (&__libc_stack_end && __libc_stack_end) top = (uintptr_t)__libc_stack_end;
        if (!top) top = maps_stack_top();
        struct gc_thread *t = top ? sn_calloc(1, sizeof *t) : NULL;
        if (t) {
            t->tid = main_tid;
            t->ktid = getpid();
            t->stack_hi = (top + sizeof(void *) - 1) & ~(uintptr_t)(sizeof(void *) - 1);
            t->is_main = 1;
            pthread_mutex_lock(&g->lock);
            link_thread(g, t);
            main_rec = t;
            pthread_mutex_unlock(&g->lock);
        }
    }
    return 0;
}

/* ---- stopping and starting --------------------------------------------------------------- */
/* Wait for n posts on the ack semaphore.  Every 100 ms, threads that have not answered are
 * looked at: a thread that no longer exists is given up (it exited without unregistering). */
static void wait_acks(struct gc_state *g, size_t n, int resuming)
{
    unsigned gen = atomic_load(&g->stop_gen);
    while (n) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        if (sem_timedwait(&g->ack, &ts) == 0) { n--; continue; }
        if (errno != ETIMEDOUT) continue;
        for (struct gc_thread *t = g->threads; t; t = t->next) {
            if (!t->signalled) continue;
            if (!resuming && atomic_load(&t->acked_gen) == gen) continue;
            /* glibc's pthread_kill answers 0 for a thread that exited and was not joined */
            if (!resuming && syscall(SYS_tgkill, getpid(), t->ktid, 0) != 0 && errno == ESRCH) {
                t->signalled = 0;
                n--;
                continue;
            }
            pthread_kill(t->tid, resuming ? SIG_RESUME : SIG_SUSPEND);   /* a re-send is harmless */
        }
    }
}

void gc_stop_world(void)
{
    struct gc_state *g = snug_gc;
    unsigned gen = atomic_load(&g->stop_gen) + 1;
    atomic_store_explicit(&g->stop_gen, gen, memory_order_release);
    size_t n = 0;
    pthread_t self = pthread_self();
    for (struct gc_thread *t = g->threads, *next; t; t = next) {
        next = t->next;
        t->signalled = 0;
        if (pthread_equal(t->tid, self)) continue;
        atomic_store_explicit(&t->stop_gen, gen, memory_order_release);
        int r = pthread_kill(t->tid, SIG_SUSPEND);
        if (r == 0) { t->signalled = 1; n++; continue; }
        unlink_thread(g, t);                /* gone without unregistering */
        t->next = g->dead;
        g->dead = t;
    }
    wait_acks(g, n, 0);
    g->stopped = 1;
}

void gc_start_world(void)
{
    struct gc_state *g = snug_gc;
    unsigned gen = atomic_load(&g->stop_gen);
    atomic_store_explicit(&g->resume_gen, gen, memory_order_release);
    size_t n = 0;
    for (struct gc_thread *t = g->threads; t; t = t->next)
        if (t->signalled && pthread_kill(t->tid, SIG_RESUME) == 0) n++;
    wait_acks(g, n, 1);
    g->stopped = 0;
    free_dead(g);
}

void gc_threads_fork_child(void)
{
    struct gc_state *g = snug_gc;
    struct gc_thread *keep = snug_gc_self;
    if (!keep && main_rec && is_main_thread()) keep = main_rec;
    for (struct gc_thread *t = g->threads, *next; t; t = next) {
        next = t->next;
        if (t == keep) continue;
        gc_flush_pending(g, t);             /* those threads are gone here; their blocks are not */
        unlink_thread(g, t);
        sn_free(t);
    }
    if (keep) { keep->tid = pthread_self(); keep->ktid = gettid(); }
    main_rec = keep && !snug_gc_self ? keep : NULL;
    free_dead(g);
    sem_destroy(&g->ack);
    sem_init(&g->ack, 0, 0);
    g->stopped = 0;
}
