/* guard.c - the guard pool: about one allocation in sample_rate is placed alone
 * in a slot of one PROT_NONE reservation, so a bug in the program that touches
 * memory beyond it, before it, or after its free faults at once, and a
 * SIGSEGV handler names the block, its size and where it was allocated and freed.
 *
 *   reservation: | guard | slot 0: GUARD_PAGES pages | guard | slot 1 | ... | guard |
 *
 * Only the pages a live block covers are accessible.  Samples alternate
 * between the slot's end (the block ends at the page above it, rounded to the
 * alignment: an overflow faults at once, unless it stays in the < 16 bytes of
 * rounding) and its start (an underflow faults at once).  The rest of the
 * accessible pages is filled with GUARD_FILL and checked at free, so an
 * overflow or underflow that did not reach a PROT_NONE page is reported then.
 * A freed slot goes PROT_NONE and to the tail of a FIFO of free slots: it is
 * reused after every other free slot, so a use after free faults for a long
 * while.  Its pages go back to the kernel then: the pool holds the pages of
 * its live blocks (counted as held), at most GUARD_SLOTS * GUARD_PAGES.
 *
 * The decision is a countdown its callers keep (guard.h): a small malloc's
 * is the thread heap's, decremented in place of the heap's allocation count
 * (one more instruction on that path: the branch), the rest's a thread-local
 * one.  The rest is here, without a lock: the free slots wait in a bounded
 * queue of sequence-numbered cells (a CAS to take one, a CAS to put one back),
 * and a slot's state word says who has it.  Return addresses: the caller of
 * malloc/free only (no unwinder, nothing that may allocate or fault).  Nothing
 * here allocates. */
#include "guard.h"
#include "tuning.h"
#include "error.h"
#include "counts.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define GUARD_MAX    (GUARD_PAGES * SNUG_OSPAGE)
#define GUARD_STRIDE ((GUARD_PAGES + 1) * SNUG_OSPAGE)
#define GUARD_LEN    (GUARD_SLOTS * GUARD_STRIDE + SNUG_OSPAGE)
#define GUARD_FILL   0xB7u                            /* accessible bytes around a block */
#define RATE_MAX     ((size_t)1 << 30)
/* Every thread's sampler starts from the same seed: a program that allocates
 * the same way samples the same allocations in every run, so measurements and
 * tests repeat exactly.  (Programs whose allocations vary with input, timing
 * or threads sample different ones from run to run.) */
#define GUARD_SEED   0x6775617264706f6full

/* A slot's state.  NEVER and FREED slots wait in the queue; a thread that
 * takes one marks it CLAIMED while it maps and fills it, then LIVE; a free
 * wins the slot with a CAS of LIVE to FREEING, so two frees of one block
 * cannot both pass.  (A fork child puts CLAIMED and FREEING slots right:
 * guard_fork_child.) */
enum { SLOT_NEVER, SLOT_CLAIMED, SLOT_LIVE, SLOT_FREEING, SLOT_FREED };
struct gslot {
    _Atomic uintptr_t hidden;       /* the block's address ^ the secret (blk()), 0 before the first:
                                     * the collector scans snug's globals, and must not find the block here */
    _Atomic size_t size;            /* as requested */
    const void *alloc_pc, *free_pc;
    _Atomic unsigned char state;
};

static __thread uint64_t tl_rand __attribute__((tls_model("initial-exec")));   /* 0: not seeded */

struct guard_range guard_range;
static struct gslot slots[GUARD_SLOTS];
static _Atomic unsigned flip;       /* alternates end- and start-aligned samples */
enum { POOL_NONE, POOL_MAKING, POOL_MADE, POOL_FAILED };
static _Atomic int pool_state;
static _Atomic size_t live_blocks;
_Atomic size_t guard_live_bytes;
static struct sigaction old_segv;

static uintptr_t blk(const struct gslot *s)
{
    return atomic_load_explicit(&s->hidden, memory_order_relaxed) ^ (uintptr_t)snug_secret;
}
static size_t slot_size(const struct gslot *s) { return atomic_load_explicit(&s->size, memory_order_relaxed); }
static unsigned slot_state(const struct gslot *s) { return atomic_load_explicit(&s->state, memory_order_acquire); }
static uintptr_t slot_data(unsigned i) { return guard_range.base + SNUG_OSPAGE + (uintptr_t)i * GUARD_STRIDE; }

/* ---- the free slots, oldest first: a bounded queue without a lock ----------
 * Cell pos % Q_CELLS is free for a put at position pos when its seq is pos,
 * and holds a slot for a take at pos when its seq is pos + 1; a take leaves
 * seq at pos + Q_CELLS, the cell's next put.  A CAS on the tail or the head
 * claims a position.  Twice as many cells as slots: the queue never holds
 * more than GUARD_SLOTS, so a put finds its cell still being emptied only
 * after GUARD_SLOTS takes passed a take that has not finished (it waits). */
#define Q_CELLS (2 * GUARD_SLOTS)
_Static_assert((Q_CELLS & (Q_CELLS - 1)) == 0, "Q_CELLS is a power of two");
struct qcell { _Atomic unsigned seq; unsigned slot; };
static struct qcell queue[Q_CELLS];
static _Alignas(64) _Atomic unsigned q_tail;
static _Alignas(64) _Atomic unsigned q_head;

static void q_reset(void)
{
    for (unsigned i = 0; i < Q_CELLS; i++) atomic_store_explicit(&queue[i].seq, i, memory_order_relaxed);
    atomic_store_explicit(&q_head, 0, memory_order_relaxed);
    atomic_store_explicit(&q_tail, 0, memory_order_relaxed);
}

static void q_put(unsigned slot)
{
    unsigned pos = atomic_load_explicit(&q_tail, memory_order_relaxed);
    for (;;) {
        struct qcell *c = &queue[pos % Q_CELLS];
        int d = (int)(atomic_load_explicit(&c->seq, memory_order_acquire) - pos);
        if (d == 0) {
            SNUG_COUNT(SNUG_C_RMW_OTHER);
            if (atomic_compare_exchange_weak_explicit(&q_tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->slot = slot;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return;
            }
        } else {
            if (d < 0) snug_cpu_relax();            /* (a take of this cell not finished yet) */
            pos = atomic_load_explicit(&q_tail, memory_order_relaxed);
        }
    }
}

/* The oldest free slot into *slot; 0 when none (or a put of it not finished). */
static int q_take(unsigned *slot)
{
    unsigned pos = atomic_load_explicit(&q_head, memory_order_relaxed);
    for (;;) {
        struct qcell *c = &queue[pos % Q_CELLS];
        int d = (int)(atomic_load_explicit(&c->seq, memory_order_acquire) - (pos + 1));
        if (d < 0) return 0;
        if (d > 0) {
            pos = atomic_load_explicit(&q_head, memory_order_relaxed);
            continue;
        }
        SNUG_COUNT(SNUG_C_RMW_OTHER);
        if (atomic_compare_exchange_weak_explicit(&q_head, &pos, pos + 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *slot = c->slot;
            atomic_store_explicit(&c->seq, pos + Q_CELLS, memory_order_release);
            return 1;
        }
    }
}

static uint64_t next_rand(void)
{
    uint64_t z = (tl_rand += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Allocations until the next sample, this one counted: uniform in [1, 2N-1]
 * (one in N on average); a countdown's first (a new thread's, a fork
 * child's) is [N, 2N-1], so none of a thread's first N allocations is
 * sampled and short programs and test cases behave the same in every run. */
static unsigned next_countdown(size_t rate, int first)
{
    if (!rate) return ~0u;
    uint64_t r = rate > RATE_MAX ? RATE_MAX : rate;
    return (unsigned)(first ? r + next_rand() % r : 1 + next_rand() % (2 * r - 1));
}

/* ---- reports: one line, no allocation -------------------------------------- */

struct line { char s[320]; size_t n; };
static void add(struct line *l, const char *s) { while (*s && l->n + 2 < sizeof l->s) l->s[l->n++] = *s++; l->s[l->n] = 0; }
static void add_hex(struct line *l, uintptr_t v) { char b[24]; add(l, snug_fmt_hex(b, v)); }
static void add_u(struct line *l, size_t v) { char b[24]; add(l, snug_fmt_u(b, v)); }

static __attribute__((noreturn)) void die(struct line *l)
{
    add(l, "\n");
    snug_write_line(l->s);
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    abort();
}

/* A block no longer live: freed, or its slot taken since by the next sample. */
static int slot_freed(unsigned st) { return st == SLOT_FREED || st == SLOT_CLAIMED; }

/* "snug: <kind>[ (<access>)] at <a>: <N> bytes past|before|into the <size>-byte
 * block <b> allocated at <pc>[ freed at <pc>]" and SIGABRT. */
static __attribute__((noreturn)) void report(const char *kind, const char *access, uintptr_t a, const struct gslot *s,
                                             const char *tail)
{
    struct line l = { .n = 0 };
    uintptr_t b = blk(s), e = b + slot_size(s);
    add(&l, "snug: ");
    add(&l, kind);
    if (access) { add(&l, " ("); add(&l, access); add(&l, ")"); }
    add(&l, " at ");
    add_hex(&l, a);
    add(&l, ": ");
    if (a >= e) { add_u(&l, a - e); add(&l, " bytes past the "); }
    else if (a < b) { add_u(&l, b - a); add(&l, " bytes before the "); }
    else { add_u(&l, a - b); add(&l, " bytes into the "); }
    add_u(&l, slot_size(s));
    add(&l, "-byte block ");
    add_hex(&l, b);
    add(&l, " allocated at ");
    add_hex(&l, (uintptr_t)s->alloc_pc);
    if (slot_freed(slot_state(s))) { add(&l, " freed at "); add_hex(&l, (uintptr_t)s->free_pc); }
    if (tail) add(&l, tail);
    die(&l);
}

/* The slot whose block (live or freed) is nearest to pool address a; NULL when
 * no slot around a was ever used. */
static const struct gslot *slot_near(uintptr_t a)
{
    uintptr_t pg = (a - guard_range.base) / SNUG_OSPAGE;
    unsigned i = (unsigned)(pg / (GUARD_PAGES + 1)), r = (unsigned)(pg % (GUARD_PAGES + 1));
    const struct gslot *best = NULL;
    uintptr_t bestd = UINTPTR_MAX;
    for (unsigned k = r == 0 && i > 0 ? i - 1 : i; k <= i && k < GUARD_SLOTS; k++) {
        const struct gslot *s = &slots[k];
        if (!atomic_load_explicit(&s->hidden, memory_order_relaxed)) continue;     /* (never used) */
        uintptr_t b = blk(s), e = b + (slot_size(s) ? slot_size(s) : 1);
        uintptr_t d = a < b ? b - a : a >= e ? a - e + 1 : 0;
        if (d < bestd) { bestd = d; best = s; }
    }
    return best;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    if (si->si_code > 0 && guard_has((void *)a)) {
        const char *access = NULL;
#if defined(REG_ERR)
        if (uc) access = (((ucontext_t *)uc)->uc_mcontext.gregs[REG_ERR] & 2) ? "write" : "read";
#endif
        const struct gslot *s = slot_near(a);
        if (!s) {
            struct line l = { .n = 0 };
            add(&l, "snug: access to the guard pool, near no block (wild pointer?) at ");
            add_hex(&l, a);
            die(&l);
        }
        const char *kind = slot_freed(slot_state(s)) ? "heap-use-after-free"
                         : a < blk(s) ? "heap-buffer-underflow" : "heap-buffer-overflow";
        report(kind, access, a, s, NULL);
    }
    /* Not ours: what was there before us. */
    if (old_segv.sa_flags & SA_SIGINFO) {
        if (old_segv.sa_sigaction) { old_segv.sa_sigaction(sig, si, uc); return; }
    } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
        return;
    }
    /* The default action: the faulting access runs again and kills the
     * process as it would have without us (a SIGSEGV sent by kill is resent). */
    signal(SIGSEGV, SIG_DFL);
    if (si->si_code <= 0) raise(SIGSEGV);
}

/* The reservation and the handler, made once by the first sample; a sample
 * that comes while another thread makes them is served as usual. */
static int pool_ready(void)
{
    int st = atomic_load_explicit(&pool_state, memory_order_acquire);
    if (st != POOL_NONE) return st == POOL_MADE;
    if (!atomic_compare_exchange_strong_explicit(&pool_state, &st, POOL_MAKING, memory_order_acquire,
                                                 memory_order_relaxed))
        return 0;
    void *m = mmap(NULL, GUARD_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (m == MAP_FAILED || sigaction(SIGSEGV, &sa, &old_segv) != 0) {
        if (m != MAP_FAILED) munmap(m, GUARD_LEN);
        atomic_store_explicit(&pool_state, POOL_FAILED, memory_order_release);
        return 0;
    }
    q_reset();
    for (unsigned i = 0; i < GUARD_SLOTS; i++) q_put(i);
    snug_rstore(&guard_range.base, (uintptr_t)m);       /* (guard_has reads it racing, while len is 0) */
    atomic_store_explicit(&guard_range.len, GUARD_LEN, memory_order_release);
    atomic_store_explicit(&pool_state, POOL_MADE, memory_order_release);
    return 1;
}

/* The accessible pages around block b of n bytes. */
static uintptr_t span_lo(uintptr_t b) { return b & ~(uintptr_t)(SNUG_OSPAGE - 1); }
static uintptr_t span_hi(uintptr_t b, size_t n) { return snug_align_up(b + (n ? n : 1), SNUG_OSPAGE); }

void *guard_alloc(size_t n, size_t align, const void *pc, struct guard_countdown *cd)
{
    size_t rate = snug_opt.secure ? 0 : snug_opt.sample_rate;   /* secure mode has its own guards */
    int first = cd->armed == 0;
    if (tl_rand == 0) tl_rand = GUARD_SEED;
    cd->left = cd->armed = next_countdown(rate, first);
    if (!rate || (first && rate != 1) || n > GUARD_MAX || align > SNUG_OSPAGE) return NULL;
    if (align < SNUG_ALIGN) align = SNUG_ALIGN;
    int saved = errno;              /* a failed system call here is no failure of malloc */
    unsigned i;
    if (!pool_ready() || !q_take(&i)) { errno = saved; return NULL; }
    struct gslot *s = &slots[i];
    unsigned was = atomic_load_explicit(&s->state, memory_order_relaxed);
    atomic_store_explicit(&s->state, SLOT_CLAIMED, memory_order_relaxed);
    uintptr_t data = slot_data(i), b;
    SNUG_COUNT(SNUG_C_RMW_OTHER);
    if (atomic_fetch_add_explicit(&flip, 1, memory_order_relaxed) & 1) b = data;   /* underflows fault */
    else b = (data + GUARD_MAX - (n ? n : 1)) & ~(uintptr_t)(align - 1);        /* overflows fault */
    uintptr_t lo = span_lo(b), hi = span_hi(b, n);
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) != 0) {
        atomic_store_explicit(&s->state, was, memory_order_relaxed);
        q_put(i);
        errno = saved;
        return NULL;
    }
    snug_os_account((intptr_t)(hi - lo));
    memset((void *)lo, GUARD_FILL, b - lo);
    memset((void *)(b + n), GUARD_FILL, hi - (b + n));
    atomic_store_explicit(&s->hidden, b ^ (uintptr_t)snug_secret, memory_order_relaxed);
    atomic_store_explicit(&s->size, n, memory_order_relaxed);
    s->alloc_pc = pc;
    s->free_pc = NULL;
    SNUG_COUNT_N(SNUG_C_RMW_OTHER, 2);
    atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&guard_live_bytes, n, memory_order_relaxed);
    atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
    return (void *)b;
}

/* The slot of block p: 1 live, 2 freed or being freed (*out set), 0 not a block's start. */
static int find_slot(const void *p, struct gslot **out)
{
    uintptr_t off = (uintptr_t)p - guard_range.base;
    if (off % GUARD_STRIDE < SNUG_OSPAGE || off / GUARD_STRIDE >= GUARD_SLOTS) return 0;
    struct gslot *s = &slots[off / GUARD_STRIDE];
    unsigned st = slot_state(s);
    if (st == SLOT_NEVER || blk(s) != (uintptr_t)p) return 0;
    *out = s;
    return st == SLOT_LIVE ? 1 : 2;
}

/* The first byte around s's block that lost its fill: overflows (nearest the
 * block's end first), then underflows; 0 when all are intact. */
static uintptr_t fill_broken(const struct gslot *s)
{
    const uintptr_t w = (uintptr_t)0x0101010101010101ull * GUARD_FILL;
    uintptr_t b = blk(s), e = b + slot_size(s), hi = span_hi(b, slot_size(s)), lo = span_lo(b), q = e;
    for (; q < hi && q % sizeof w; q++)
        if (*(const unsigned char *)q != GUARD_FILL) return q;
    for (; q < hi && *(const uintptr_t *)q == w; q += sizeof w) {}       /* (hi, b, lo: word-aligned) */
    for (; q < hi; q++)
        if (*(const unsigned char *)q != GUARD_FILL) return q;
    for (q = b; q > lo && ((const uintptr_t *)q)[-1] == w; q -= sizeof w) {}
    for (; q-- > lo;)
        if (*(const unsigned char *)q != GUARD_FILL) return q;
    return 0;
}

void guard_free(void *p, const void *pc)
{
    struct gslot *s = NULL;
    int st = find_slot(p, &s);
    unsigned char live = SLOT_LIVE;
    SNUG_COUNT(SNUG_C_RMW_OTHER);
    if (st != 1 || !atomic_compare_exchange_strong_explicit(&s->state, &live, SLOT_FREEING, memory_order_acquire,
                                                            memory_order_relaxed)) {
        if (!st) snug_fatal("free(): invalid pointer", p, 0);
        size_t n = slot_size(s);
        snug_fatal("double free of", p, n ? n : 1);
    }
    uintptr_t bad = fill_broken(s);
    if (bad) report(bad < blk(s) ? "heap-buffer-underflow" : "heap-buffer-overflow", "write", bad, s, ", found at free");
    size_t n = slot_size(s);
    uintptr_t lo = span_lo(blk(s)), hi = span_hi(blk(s), n);
    int saved = errno;
    /* Inaccessible, and its pages back to the kernel, in one call. */
    if (mmap((void *)lo, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
        /* (no memory to split the mapping) the slot stays live: never reused */
        atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
        errno = saved;
        return;
    }
    snug_os_account(-(intptr_t)(hi - lo));
    s->free_pc = pc;
    SNUG_COUNT_N(SNUG_C_RMW_OTHER, 2);
    atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&guard_live_bytes, n, memory_order_relaxed);
    atomic_store_explicit(&s->state, SLOT_FREED, memory_order_release);
    q_put((unsigned)(s - slots));
}

size_t guard_usable(const void *p, const char *op)
{
    struct gslot *s = NULL;
    int st = find_slot(p, &s);
    size_t n = s ? slot_size(s) : 0;
    if (!st) snug_fatal(op, p, 0);
    if (st == 2) snug_fatal("block already freed (double free or use after free):", p, n ? n : 1);
    return n;
}

void guard_totals(size_t *blocks, size_t *bytes)
{
    *blocks = atomic_load_explicit(&live_blocks, memory_order_relaxed);
    *bytes = atomic_load_explicit(&guard_live_bytes, memory_order_relaxed);
}

/* The fork child has only the forking thread: a sample another thread was
 * making or freeing stopped halfway.  Its slot is put right (one being freed
 * is live again, the child's to free; one being filled goes inaccessible and
 * waits: its pages may stay counted as held), the queue is rebuilt with the
 * free slots in their order, and the totals are counted again from the slots. */
void guard_fork_child(void)
{
    if (atomic_load_explicit(&pool_state, memory_order_relaxed) != POOL_MADE) {
        atomic_store_explicit(&pool_state, POOL_NONE, memory_order_relaxed);   /* (one being made) */
        return;
    }
    unsigned order[GUARD_SLOTS], n = 0;
    unsigned char queued[GUARD_SLOTS] = { 0 };
    unsigned head = atomic_load_explicit(&q_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit(&q_tail, memory_order_relaxed);
    for (unsigned pos = head; pos != tail && n < GUARD_SLOTS; pos++) {
        struct qcell *c = &queue[pos % Q_CELLS];
        if (atomic_load_explicit(&c->seq, memory_order_relaxed) != pos + 1 || c->slot >= GUARD_SLOTS ||
            queued[c->slot])
            continue;                   /* (a put or a take cut short) */
        queued[c->slot] = 1;
        order[n++] = c->slot;
    }
    size_t blocks = 0, bytes = 0;
    for (unsigned i = 0; i < GUARD_SLOTS; i++) {
        struct gslot *s = &slots[i];
        unsigned st = atomic_load_explicit(&s->state, memory_order_relaxed);
        if (st == SLOT_FREEING) atomic_store_explicit(&s->state, st = SLOT_LIVE, memory_order_relaxed);
        if (st == SLOT_CLAIMED) {
            mmap((void *)slot_data(i), GUARD_MAX, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
            atomic_store_explicit(&s->state, st = SLOT_FREED, memory_order_relaxed);
        }
        if (st == SLOT_LIVE) {
            blocks++;
            bytes += slot_size(s);
        } else if (!queued[i]) {
            queued[i] = 1;
            order[n++] = i;
        }
    }
    q_reset();
    for (unsigned k = 0; k < n; k++) q_put(order[k]);
    atomic_store_explicit(&live_blocks, blocks, memory_order_relaxed);
    atomic_store_explicit(&guard_live_bytes, bytes, memory_order_relaxed);
}
