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
 * one.  The rest is here, under one lock taken only by sampled blocks.  Return
 * addresses: the caller of malloc/free only (no unwinder, nothing that may
 * allocate or fault).  Nothing here allocates. */
#include "guard.h"
#include "tuning.h"
#include "error.h"
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

enum { SLOT_NEVER, SLOT_LIVE, SLOT_FREED };
struct gslot {
    uintptr_t hidden;               /* the block's address ^ the secret (blk()): the collector
                                     * scans snug's globals, and must not find the block here */
    size_t size;                    /* as requested */
    const void *alloc_pc, *free_pc;
    uint8_t state;
};

static __thread uint64_t tl_rand __attribute__((tls_model("initial-exec")));   /* 0: not seeded */

struct guard_range guard_range;
static snug_lock_t guard_lock = SNUG_LOCK_INIT;
static struct gslot slots[GUARD_SLOTS];
static uint16_t fifo[GUARD_SLOTS];  /* free slots, oldest first */
static unsigned fifo_head, fifo_count;
static unsigned flip;               /* alternates end- and start-aligned samples */
static int pool_state;              /* 0 not made, 1 made, -1 could not be made */
static _Atomic size_t live_blocks;
_Atomic size_t guard_live_bytes;
static struct sigaction old_segv;

static uintptr_t blk(const struct gslot *s) { return s->hidden ^ (uintptr_t)snug_secret; }
static uintptr_t slot_data(unsigned i) { return guard_range.base + SNUG_OSPAGE + (uintptr_t)i * GUARD_STRIDE; }

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

/* "snug: <kind>[ (<access>)] at <a>: <N> bytes past|before|into the <size>-byte
 * block <b> allocated at <pc>[ freed at <pc>]" and SIGABRT. */
static __attribute__((noreturn)) void report(const char *kind, const char *access, uintptr_t a, const struct gslot *s,
                                             const char *tail)
{
    struct line l = { .n = 0 };
    uintptr_t b = blk(s), e = b + s->size;
    add(&l, "snug: ");
    add(&l, kind);
    if (access) { add(&l, " ("); add(&l, access); add(&l, ")"); }
    add(&l, " at ");
    add_hex(&l, a);
    add(&l, ": ");
    if (a >= e) { add_u(&l, a - e); add(&l, " bytes past the "); }
    else if (a < b) { add_u(&l, b - a); add(&l, " bytes before the "); }
    else { add_u(&l, a - b); add(&l, " bytes into the "); }
    add_u(&l, s->size);
    add(&l, "-byte block ");
    add_hex(&l, b);
    add(&l, " allocated at ");
    add_hex(&l, (uintptr_t)s->alloc_pc);
    if (s->state == SLOT_FREED) { add(&l, " freed at "); add_hex(&l, (uintptr_t)s->free_pc); }
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
        if (s->state == SLOT_NEVER) continue;
        uintptr_t b = blk(s), e = b + (s->size ? s->size : 1);
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
        const char *kind = s->state == SLOT_FREED ? "heap-use-after-free"
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

/* Under the lock: the reservation and the handler, once. */
static int pool_ready(void)
{
    if (pool_state) return pool_state > 0;
    pool_state = -1;
    void *m = mmap(NULL, GUARD_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old_segv) != 0) { munmap(m, GUARD_LEN); return 0; }
    for (unsigned i = 0; i < GUARD_SLOTS; i++) fifo[i] = (uint16_t)i;
    fifo_head = 0;
    fifo_count = GUARD_SLOTS;
    guard_range.base = (uintptr_t)m;
    atomic_store_explicit(&guard_range.len, GUARD_LEN, memory_order_release);
    pool_state = 1;
    return 1;
}

static void fifo_push(unsigned i)
{
    fifo[(fifo_head + fifo_count) % GUARD_SLOTS] = (uint16_t)i;
    fifo_count++;
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
    snug_lock(&guard_lock);
    if (!pool_ready() || !fifo_count) { snug_unlock(&guard_lock); errno = saved; return NULL; }
    unsigned i = fifo[fifo_head];
    uintptr_t data = slot_data(i), b;
    if (flip++ & 1) b = data;                                          /* underflows fault */
    else b = (data + GUARD_MAX - (n ? n : 1)) & ~(uintptr_t)(align - 1);  /* overflows fault */
    uintptr_t lo = span_lo(b), hi = span_hi(b, n);
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) != 0) { snug_unlock(&guard_lock); errno = saved; return NULL; }
    fifo_head = (fifo_head + 1) % GUARD_SLOTS;
    fifo_count--;
    struct gslot *s = &slots[i];
    snug_os_account((intptr_t)(hi - lo));
    memset((void *)lo, GUARD_FILL, b - lo);
    memset((void *)(b + n), GUARD_FILL, hi - (b + n));
    s->hidden = b ^ (uintptr_t)snug_secret;
    s->size = n;
    s->alloc_pc = pc;
    s->free_pc = NULL;
    s->state = SLOT_LIVE;
    atomic_store_explicit(&live_blocks, atomic_load_explicit(&live_blocks, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(&guard_live_bytes, atomic_load_explicit(&guard_live_bytes, memory_order_relaxed) + n, memory_order_relaxed);
    snug_unlock(&guard_lock);
    return (void *)b;
}

/* The slot of block p: 1 live, 2 freed (*out set), 0 not a block's start. */
static int find_slot(const void *p, struct gslot **out)
{
    uintptr_t off = (uintptr_t)p - guard_range.base;
    if (off % GUARD_STRIDE < SNUG_OSPAGE || off / GUARD_STRIDE >= GUARD_SLOTS) return 0;
    struct gslot *s = &slots[off / GUARD_STRIDE];
    if (s->state == SLOT_NEVER || blk(s) != (uintptr_t)p) return 0;
    *out = s;
    return s->state == SLOT_LIVE ? 1 : 2;
}

/* The first byte around s's block that lost its fill: overflows (nearest the
 * block's end first), then underflows; 0 when all are intact. */
static uintptr_t fill_broken(const struct gslot *s)
{
    const uintptr_t w = (uintptr_t)0x0101010101010101ull * GUARD_FILL;
    uintptr_t b = blk(s), e = b + s->size, hi = span_hi(b, s->size), lo = span_lo(b), q = e;
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
    snug_lock(&guard_lock);
    int st = find_slot(p, &s);
    if (st != 1) {
        size_t n = s ? s->size : 0;
        snug_unlock(&guard_lock);
        if (!st) snug_fatal("free(): invalid pointer", p, 0);
        snug_fatal("double free of", p, n ? n : 1);
    }
    uintptr_t bad = fill_broken(s);
    if (bad) {
        struct gslot copy = *s;
        snug_unlock(&guard_lock);
        report(bad < blk(&copy) ? "heap-buffer-underflow" : "heap-buffer-overflow", "write", bad, &copy, ", found at free");
    }
    uintptr_t lo = span_lo(blk(s)), hi = span_hi(blk(s), s->size);
    int saved = errno;
    /* Inaccessible, and its pages back to the kernel, in one call. */
    if (mmap((void *)lo, hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
        /* (no memory to split the mapping) the slot stays live: never reused */
        snug_unlock(&guard_lock);
        errno = saved;
        return;
    }
    snug_os_account(-(intptr_t)(hi - lo));
    s->state = SLOT_FREED;
    s->free_pc = pc;
    atomic_store_explicit(&live_blocks, atomic_load_explicit(&live_blocks, memory_order_relaxed) - 1, memory_order_relaxed);
    atomic_store_explicit(&guard_live_bytes, atomic_load_explicit(&guard_live_bytes, memory_order_relaxed) - s->size, memory_order_relaxed);
    fifo_push((unsigned)(s - slots));
    snug_unlock(&guard_lock);
}

size_t guard_usable(const void *p, const char *op)
{
    struct gslot *s = NULL;
    snug_lock(&guard_lock);
    int st = find_slot(p, &s);
    size_t n = s ? s->size : 0;
    snug_unlock(&guard_lock);
    if (!st) snug_fatal(op, p, 0);
    if (st == 2) snug_fatal("block already freed (double free or use after free):", p, n ? n : 1);
    return n;
}

void guard_totals(size_t *blocks, size_t *bytes)
{
    *blocks = atomic_load_explicit(&live_blocks, memory_order_relaxed);
    *bytes = atomic_load_explicit(&guard_live_bytes, memory_order_relaxed);
}

void guard_fork_prepare(void) { snug_lock(&guard_lock); }
void guard_fork_parent(void) { snug_unlock(&guard_lock); }
void guard_fork_child(void) { snug_lock_reset(&guard_lock); }
