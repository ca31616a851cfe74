/* faults.c - issue 4, "hardened by default": heap misuse ends the program (SIGABRT) after ONE
 * line on stderr starting with "snug: " that names the fault and the address, never silent
 * corruption.  Death tests, one child process per case:
 *   df-*    double free (small/medium/large; immediate, delayed, across threads, after realloc)
 *   cache-* medium blocks freed into a thread cache (run.sh repeats df-, inv-, ovf-medium,
 *           udf-medium and cache- with the caches forced on)
 *   inv-*   free / realloc / malloc_usable_size of pointers snug never returned (stack, global,
 *           interior, unaligned, far outside the heap, garbage values)
 *   ovf-*   overflow from one block into the next block's metadata, udf-* underflow into a
 *           block's own header; each with the call that must catch it at the latest
 *   uaf-*   write after free into free-list links, caught before the link is followed
 *   sized-* free_sized / free_aligned_sized given a size the block cannot have been asked with
 *   atk-*   a small page's header overwritten by an overflow out of the page before it, aimed
 *           at every path that reads a page header (attacks.h; run.sh runs them in secure
 *           mode too)
 *   guard-* issue 17, sampled guarded allocations: overflows, underflows and uses after free
 *           of blocks in the guard pool, each caught at once (SIGSEGV turned into one line and
 *           SIGABRT) or at free; run only when named, with SNUG_OPTIONS=sample_rate=1 (run.sh),
 *           with guard-api (the API contract of sampled blocks, threads, fork, a full pool)
 * and plain checks that calloc / reallocarray / pvalloc overflows return NULL + ENOMEM.
 * Built twice: linked with -lsnug (faults-linked) and plain, run under LD_PRELOAD (faults-plain).
 *
 * A case tells the parent, through a pipe, what it expects: "arm" when the faulting call (or
 * the first call that must detect the fault) is next, the addresses that may be named (the
 * pointer involved, its neighbour, or the small page holding it), and the size when snug knows
 * it.  The parent then requires: killed by SIGABRT after "arm", stderr exactly one line, that
 * line starts with "snug: ", contains one of the case's words, names an accepted address as
 * 0x..., (where given) the size, and (where the case gives it: cases whose message text was once
 * wrong) is exactly the expected line. */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "harness.h"
#include "lines.h"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free" /* deliberate: the block must be intact */
#endif

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* ---- the child's side: telling the parent what to expect ---------------------------------- */

static int info_fd = -1;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && write(info_fd, buf, (size_t)n) < 0) { /* the parent then misses a line */ }
}
/* p (exactly) may be named. */
static void *expect(const void *p) { say("addr %lx\n", (unsigned long)(uintptr_t)p); return (void *)p; }
/* The small page holding p may be named: a 4 KiB-aligned address at most 4 OS pages below p. */
static void expect_page(const void *p) { say("page %lx\n", (unsigned long)(uintptr_t)p); }
/* The line must contain this size (as a decimal number). */
static void expect_size(size_t n) { say("size %zu\n", n); }
/* The line must be exactly this (printf format; a case whose message text is tested; a '#'
 * left in it stands for any number). */
__attribute__((format(printf, 1, 2))) static void expect_line(const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    say("line %s\n", buf);
}
#define PTR(p) ((unsigned long)(uintptr_t)(p))
/* From here on the program must be stopped. */
static void arm(void) { say("arm\n"); }
/* A setup step went wrong: the case cannot test what it means to (reported as FAIL). */
__attribute__((format(printf, 1, 2), noreturn)) static void setup_fail(const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    say("setup %s\n", buf);
    _exit(3);
}

static void *volatile sink;
/* Byte writes the compiler cannot see through or warn about (deliberate out-of-bounds). */
__attribute__((noinline)) static void scribble(void *dst, int c, size_t n)
{
    volatile unsigned char *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = (unsigned char)c;
}
static size_t usable(void *p) { return malloc_usable_size(p); }

/* ---- helpers for cases ---------------------------------------------------------------------- */

/* A helper thread, started (and with its own heap set up) before the first free, frees the
 * pointers it is handed: the blocks freed first cannot be reused by the thread's start-up. */
static int to_helper[2], from_helper[2];
static void *helper_main(void *arg)
{
    (void)arg;
    void *w[3] = { malloc(24), malloc(5000), malloc(4 * MiB) };
    for (int i = 0; i < 3; i++) free(w[i]);
    void *p = NULL;
    if (write(from_helper[1], &p, sizeof p) < 0) return NULL;
    while (read(to_helper[0], &p, sizeof p) == (ssize_t)sizeof p) {
        free(p);
        if (write(from_helper[1], &p, sizeof p) < 0) break;
    }
    return NULL;
}
static void start_helper(void)
{
    pthread_t t;
    void *p;
    if (pipe(to_helper) != 0 || pipe(from_helper) != 0) setup_fail("pipe");
    if (pthread_create(&t, NULL, helper_main, NULL) != 0) setup_fail("pthread_create");
    if (read(from_helper[0], &p, sizeof p) != (ssize_t)sizeof p) setup_fail("helper did not start");
}
static void free_in_thread(void *p)
{
    if (write(to_helper[1], &p, sizeof p) != (ssize_t)sizeof p) setup_fail("write to helper");
    if (read(from_helper[0], &p, sizeof p) != (ssize_t)sizeof p) setup_fail("helper did not answer");
}
/* A thread created between the two frees frees p. */
static void *thread_free(void *p) { free(p); return NULL; }
static void free_in_new_thread(void *p)
{
    pthread_t t;
    if (pthread_create(&t, NULL, thread_free, p) != 0) setup_fail("pthread_create");
    pthread_join(t, NULL);
}

/* Two consecutive slots a, a + size of one small size class (size a multiple of 16). */
static void small_pair(size_t size, char **a, char **b)
{
    char *prev = malloc(size);
    for (int i = 0; i < 64; i++) {
        char *next = malloc(size);
        if (next == prev + size) { *a = prev; *b = next; return; }
        prev = next;
    }
    setup_fail("no two consecutive %zu-byte slots in 64 allocations", size);
}

/* Slot 0 of a small page of the 16-byte class: the block right after the page header. */
static char *small_first_slot(void)
{
    enum { N = 600 };
    static char *p[N];
    for (int i = 0; i < N; i++) p[i] = malloc(16);
    /* the 4 KiB page with the most slots, and its lowest slot */
    for (int i = 0; i < N; i++) {
        uintptr_t pg = (uintptr_t)p[i] & ~(uintptr_t)4095;
        int count = 0;
        char *low = p[i];
        for (int j = 0; j < N; j++)
            if (((uintptr_t)p[j] & ~(uintptr_t)4095) == pg) {
                count++;
                if (p[j] < low) low = p[j];
            }
        if (count >= 200 && ((uintptr_t)low & 4095) <= 256 && ((uintptr_t)low & 4095) >= 32) return low;
    }
    setup_fail("no 4 KiB page holding 200 of 600 16-byte blocks");
}

/* Two medium blocks, b right after a (b's head in the 8 bytes after a's usable size). */
static void medium_pair(size_t size, char **a, char **b)
{
    char *prev = malloc(size);
    for (int i = 0; i < 16; i++) {
        char *next = malloc(size);
        if (next == prev + usable(prev) + 8) { *a = prev; *b = next; sink = malloc(size); return; }
        prev = next;
    }
    setup_fail("no two adjacent %zu-byte medium blocks in 16 allocations", size);
}

/* Two large blocks, a's mapping right below b's: a's usable end is b's mapping start. */
static void large_pair(size_t size, char **a, char **b, size_t *gap)
{
    char *hi = malloc(size);
    for (int i = 0; i < 16; i++) {
        char *lo = malloc(size);
        char *end = lo + usable(lo);
        char *hi_map = (char *)((uintptr_t)hi & ~(uintptr_t)4095); /* hi's mapping starts there */
        if (end == hi_map) { *a = lo; *b = hi; *gap = 0; return; }
        hi = lo;
    }
    setup_fail("no two adjacent %zu-byte large mappings in 16 allocations", size);
}

/* The fault went unnoticed: show that it damaged no allocator state.  n-byte blocks (the class
 * of the damaged slot) are allocated until well past the page, filled and checked: distinct,
 * not overlapping, intact; snug_heap_check passes before and after they are freed. */
static void prove_harmless(size_t n)
{
    enum { N = 3000 };
    static unsigned char *b[N];
    if (sd_heap_check() != 0) { say("harmful snug_heap_check failed after the fault\n"); _exit(4); }
    for (int i = 0; i < N; i++) {
        b[i] = malloc(n);
        if (!b[i]) { say("harmful malloc(%zu) returned NULL\n", n); _exit(4); }
        memset(b[i], (unsigned char)i, n);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < n; k++)
            if (b[i][k] != (unsigned char)i) { say("harmful block %p changed at byte %zu\n", (void *)b[i], k); _exit(4); }
    for (int i = 0; i < N; i++) /* no two overlap: sort by address (insertion sort is fine here) */
        for (int j = i; j > 0 && b[j - 1] > b[j]; j--) { unsigned char *t = b[j]; b[j] = b[j - 1]; b[j - 1] = t; }
    for (int i = 1; i < N; i++)
        if (b[i - 1] + n > b[i]) { say("harmful blocks %p and %p overlap\n", (void *)b[i - 1], (void *)b[i]); _exit(4); }
    if (sd_heap_check() != 0) { say("harmful snug_heap_check failed with the blocks live\n"); _exit(4); }
    for (int i = 0; i < N; i++) free(b[i]);
    if (sd_heap_check() != 0) { say("harmful snug_heap_check failed after freeing them\n"); _exit(4); }
    say("harmless\n");
}

/* ---- double free ---------------------------------------------------------------------------- */

static void df_small_immediate(void)
{
    char *p = malloc(24);
    expect_size(usable(p));
    free(p);
    arm();
    free(expect(p));
}
static void df_small_delayed(void)
{
    char *p = malloc(40), *q = malloc(40), *a = malloc(100), *b = malloc(3000), *c = malloc(600);
    sink = malloc(40);
    expect_size(usable(p));
    free(p);
    free(q);                   /* same class, after p */
    char *y = malloc(200), *z = malloc(7000), *w = malloc(900);
    free(a); free(c); free(y); free(b); free(z); free(w);
    arm();
    free(expect(p));
}
static void df_small_other_thread(void)
{
    start_helper();
    char *p = malloc(24);
    expect_size(usable(p));
    free(p);
    arm();
    free_in_thread(expect(p));
}
/* First free by another thread (a remote free to this thread's page), second by the owner. */
static void df_small_remote_then_owner(void)
{
    start_helper();
    char *p = malloc(24);
    sink = malloc(24);
    free_in_thread(p);
    arm();
    free(expect(p));
}
/* The first free by a thread that has freed to this heap before, which holds it in a batch
 * (heap.c) rather than queue it; the second by the owner, whose list of queued frees is empty. */
static void df_small_batched_then_owner(void)
{
    start_helper();
    char *q = malloc(24), *p = malloc(24);
    sink = malloc(24);
    free_in_thread(q);          /* queued at once: the helper's first free to this heap */
    static void *fill[1000];    /* new pages: the owner applies the queued free, its list empties */
    for (int i = 0; i < 1000; i++) fill[i] = malloc(24);
    for (int i = 0; i < 1000; i++) free(fill[i]);
    free_in_thread(p);          /* held in the helper's batch */
    arm();
    free(expect(p));
}
/* The same block twice by the thread that holds it in a batch. */
static void df_small_batched_twice(void)
{
    start_helper();
    char *q = malloc(24), *p = malloc(24);
    sink = malloc(24);
    free_in_thread(q);
    free_in_thread(p);
    arm();
    free_in_thread(expect(p));
}
/* Both frees by other threads. */
static void df_small_remote_twice(void)
{
    start_helper();
    char *p = malloc(24);
    sink = malloc(24);
    free_in_thread(p);
    arm();
    free_in_thread(expect(p));
}
static void df_medium_immediate(void)
{
    char *p = malloc(5000);
    sink = malloc(2000);
    expect_size(usable(p));
    free(p);
    arm();
    free(expect(p));
}
static void df_medium_delayed(void)
{
    char *p = malloc(5000), *n1 = malloc(7000), *n2 = malloc(3000);
    sink = malloc(2000);
    free(p);
    char *a = malloc(20000);
    free(n1);              /* merges with the free p */
    char *b = malloc(30000);
    free(a);
    free(n2);
    sink = b;
    arm();
    free(expect(p));
}
static void df_medium_other_thread(void)
{
    start_helper();
    char *p = malloc(5000);
    sink = malloc(2000);
    free(p);
    arm();
    free_in_thread(expect(p));
}
/* The second free comes from a thread created after the first one (its start-up allocates). */
static void df_medium_new_thread(void)
{
    char *p = malloc(5000);
    sink = malloc(2000);
    free(p);
    arm();
    free_in_new_thread(expect(p));
}
/* realloc moved p (backwards into a free block before it): p was freed by realloc. */
static void df_medium_after_realloc(void)
{
    char *q = malloc(20000), *p = malloc(5000);
    sink = malloc(2000);
    free(q);
    char *r = realloc(p, 9000);
    if (r == p) setup_fail("realloc(p, 9000) did not move the block");
    arm();
    free(expect(p));
}
static void df_large_immediate(void)
{
    char *p = malloc(4 * MiB);
    free(p);
    arm();
    free(expect(p));
}
static void df_large_delayed(void)
{
    char *p = malloc(300 * KiB);
    char *o[10];
    for (int i = 0; i < 10; i++) o[i] = malloc(600 * KiB + (size_t)i * 4096);
    free(p);
    for (int i = 0; i < 10; i += 2) free(o[i]);
    for (int i = 0; i < 10; i += 2) o[i] = malloc(700 * KiB);
    arm();
    free(expect(p));
}
/* Many large blocks come and go between the two frees. */
static void df_large_delayed_many(void)
{
    enum { N = 1000 };
    static char *o[N];
    char *p = malloc(300 * KiB);
    free(p);
    for (int i = 0; i < N; i++) o[i] = malloc(600 * KiB);
    for (int i = 0; i < N; i++) free(o[i]);
    arm();
    free(expect(p));
}
static void df_large_other_thread(void)
{
    start_helper();
    char *p = malloc(4 * MiB);
    free(p);
    arm();
    free_in_thread(expect(p));
}
static void df_aligned(void)
{
    char *p = aligned_alloc(4096, 10000);
    free(p);
    arm();
    free(expect(p));
}
/* realloc and malloc_usable_size of a freed block: a use after free, named as one (not a double free). */
static void after_free(size_t n, const char *call)
{
    char *p = malloc(n);
    sink = malloc(n < 2000 ? n : 2000);
    size_t u = usable(p);
    free(p);
    if (n >= 256 * KiB) expect_line("snug: use after free: %s of freed block 0x%lx", call, PTR(p));
    else expect_line("snug: use after free: %s of freed block 0x%lx (%zu bytes)", call, PTR(p), u);
    arm();
    expect(p);
    if (call[0] == 'r') sink = realloc(p, n * 2);
    else sink = (void *)(uintptr_t)usable(p);
}
static void df_realloc_after_free_small(void) { after_free(48, "realloc()"); }
static void df_realloc_after_free_medium(void) { after_free(5000, "realloc()"); }
static void df_realloc_after_free_large(void) { after_free(4 * MiB, "realloc()"); }
static void df_usable_after_free_small(void) { after_free(48, "malloc_usable_size()"); }
static void df_usable_after_free_medium(void) { after_free(5000, "malloc_usable_size()"); }
static void df_usable_after_free_large(void) { after_free(4 * MiB, "malloc_usable_size()"); }

/* ---- pointers snug never returned ----------------------------------------------------------- */

enum op { OP_FREE, OP_REALLOC, OP_USABLE };
static enum op the_op;
static void bad_call(void *p)
{
    arm();
    expect(p);
    switch (the_op) {
    case OP_FREE: free(p); break;
    case OP_REALLOC: sink = realloc(p, 100); break;
    default: sink = (void *)(uintptr_t)usable(p); break;
    }
}
static uint64_t garbage_seed;
static void t_stack(void) { char buf[64]; sink = buf; bad_call(buf + 16); }
static void t_global(void) { static char g[4096]; bad_call(g + 32); }
static void t_interior_small(void) { char *p = malloc(100); bad_call(p + 16); }
static void t_interior_small_8(void) { char *p = malloc(100); bad_call(p + 8); }
static void t_interior_medium(void) { char *p = malloc(5000); bad_call(p + 48); }
static void t_interior_large(void) { char *p = malloc(4 * MiB); bad_call(p + 4096); }
static void t_unaligned_small(void) { char *p = malloc(100); bad_call(p + 1); }
static void t_unaligned_medium(void) { char *p = malloc(5000); bad_call(p + 1); }
static void t_unaligned_large(void) { char *p = malloc(4 * MiB); bad_call(p + 1); }
static void t_page_header(void)
{
    char *p = small_first_slot();
    bad_call((char *)((uintptr_t)p & ~(uintptr_t)4095));
}
static void t_far_outside(void)
{
    /* an address in no mapping: reserve and release a range */
    char *m = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m, 1 << 20);
    bad_call(m + 4096);
}
static void t_foreign_mapping(void)
{
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bad_call(m + 64);
}
static void t_low(void) { bad_call((void *)(uintptr_t)0x1000); }
static void t_high(void) { bad_call((void *)~(uintptr_t)0xfff); }
/* uninitialized garbage: random words */
static void t_garbage(void)
{
    uint64_t s = garbage_seed;
    uintptr_t v = (uintptr_t)xrnd(&s);
    bad_call((void *)v);
}
/* garbage that lies inside snug's heap: 8 mod 16 (never a block) between two live blocks */
static void t_garbage_in_heap(void)
{
    char *lo = malloc(5000), *mid = malloc(100);
    for (int i = 0; i < 30; i++) sink = malloc(40 + (size_t)i * 300);
    char *hi = malloc(5000);
    sink = mid;
    if (hi < lo) { char *t = lo; lo = hi; hi = t; }
    uint64_t s = garbage_seed;
    uintptr_t span = (uintptr_t)(hi - lo);
    uintptr_t v = ((uintptr_t)lo + (uintptr_t)(xrnd(&s) % span)) & ~(uintptr_t)15;
    bad_call((void *)(v + 8));
}

/* ---- overflow and underflow ----------------------------------------------------------------- */

enum trig { TR_FREE_A, TR_FREE_B, TR_REALLOC_A, TR_REALLOC_A_SAME, TR_REALLOC_B, TR_MALLOC };
static enum trig the_trig;
static size_t trig_size;
/* The call that must find the damage (at the latest). */
static void trigger(char *a, char *b)
{
    arm();
    switch (the_trig) {
    case TR_FREE_A: free(a); break;
    case TR_FREE_B: free(b); break;
    case TR_REALLOC_A: sink = realloc(a, trig_size * 2 + 4096); break;
    case TR_REALLOC_A_SAME: sink = realloc(a, trig_size - 8); break;
    case TR_REALLOC_B: sink = realloc(b, trig_size * 2 + 4096); break;
    case TR_MALLOC:
        for (int i = 0; i < 4; i++) sink = malloc(trig_size);
        break;
    }
}

/* small: a overflows into the free-list link of the free slot b after it */
static void ovf_small_free_next(void)
{
    char *a, *b;
    trig_size = 48;
    small_pair(48, &a, &b);
    sink = malloc(48);
    free(b);
    expect(a); expect(b); expect_page(a);
    scribble(a, 'A', 48 + 8);
    trigger(a, NULL);
    prove_harmless(48);
}
/* small: 8 and 16 bytes before slot 0 of a page: the end of the page header */
static void udf_small_header(size_t n)
{
    char *p = small_first_slot();
    trig_size = 16;
    expect(p); expect_page(p);
    scribble(p - n, 'U', n);
    trigger(p, NULL);
}
static void udf_small_header_8(void) { udf_small_header(8); }
static void udf_small_header_16(void) { udf_small_header(16); }
static void udf_small_header_all(void)
{
    char *p = small_first_slot();
    udf_small_header((size_t)((uintptr_t)p & 4095));
}
/* small: the last slot of one page overflows (zeros) through the page's tail into the header
 * of the page after it, as far as its bitmap (not its key, which the free fast path compares):
 * a live slot of that page, freed, finds its bit clear.  Named an overwritten header, not a
 * double free. */
static void ovf_small_into_page_header(void)
{
    enum { N = 2000 };
    static char *p[N];
    for (int i = 0; i < N; i++) p[i] = malloc(16);
    for (int i = 0; i < N; i++) {
        uintptr_t next = ((uintptr_t)p[i] & ~(uintptr_t)4095) + 4096;
        char *last = NULL, *victim = NULL;
        for (int j = 0; j < N; j++) {
            if (((uintptr_t)p[j] & ~(uintptr_t)4095) == next - 4096 && p[j] > last) last = p[j];
            if (((uintptr_t)p[j] & ~(uintptr_t)4095) == next && (uintptr_t)p[j] - next >= 1024) victim = p[j];
        }
        if (!last || !victim || (next - (uintptr_t)last) > 64) continue;
        expect_line("snug: small page header overwritten (overflow?) at 0x%lx", (unsigned long)next);
        expect_page(victim);
        scribble(last, 0, (size_t)(next - (uintptr_t)last) + 96);   /* up to the end of the bitmap */
        arm();
        free(victim);
        return;
    }
    setup_fail("no two adjacent pages of 16-byte blocks");
}
/* medium: a overflows into b's 8-byte head; b allocated or free */
static void ovf_medium_next(void)
{
    char *a, *b;
    trig_size = 5000;
    medium_pair(5000, &a, &b);
    expect(a); expect(b);
    scribble(a, 'A', usable(a) + 8);
    trigger(a, b);
}
static void ovf_medium_free_next(void)
{
    char *a, *b;
    trig_size = 5000;
    medium_pair(5000, &a, &b);
    free(b);
    expect(a); expect(b);
    scribble(a, 'A', usable(a) + 8);
    trigger(a, NULL);
}
static void udf_medium_head(void)
{
    char *p = malloc(5000);
    sink = malloc(2000);
    trig_size = 5000;
    expect(p);
    scribble(p - 8, 'U', 8);
    trigger(p, NULL);
}
static void udf_medium_head_1(void)
{
    char *p = malloc(5000);
    sink = malloc(2000);
    trig_size = 5000;
    expect(p);
    p[-1] ^= 0x5a; /* one byte before the payload, changed */
    trigger(p, NULL);
}
/* large: a overflows into the mapping of b right above it: through all of b's header (up to b's
 * payload), or stopping 8 bytes short of the payload (the header's front, not its last word) */
static void ovf_large_next(size_t short_of_payload)
{
    char *a, *b;
    size_t gap;
    trig_size = MiB;
    large_pair(MiB, &a, &b, &gap);
    expect(a); expect(b);
    scribble(a, 'A', (size_t)(b - a) - short_of_payload);
    trigger(a, b);
}
static void ovf_large_next_whole(void) { ovf_large_next(0); }
static void ovf_large_next_front(void) { ovf_large_next(8); }
static void udf_large_head(void)
{
    char *p = malloc(MiB);
    trig_size = MiB;
    expect(p);
    scribble(p - 8, 'U', 8);
    trigger(p, NULL);
}
static void udf_large_head_32(void)
{
    char *p = malloc(MiB);
    trig_size = MiB;
    expect(p);
    scribble(p - 32, 'U', 32);
    trigger(p, NULL);
}

/* ---- write after free into free-list links ---------------------------------------------------- */

static void uaf_small(void)
{
    char *p = malloc(48);
    sink = malloc(48);
    free(p);
    expect(p); expect_page(p);
    scribble(p, 'W', 8);
    trig_size = 48;
    the_trig = TR_MALLOC;
    trigger(NULL, NULL);
    prove_harmless(48);
}
static void uaf_small_deeper(void)
{
    char *p = malloc(48), *q = malloc(48);
    sink = malloc(48);
    free(p);
    free(q);                   /* q above p on the free list */
    expect(p); expect_page(p);
    scribble(p, 'W', 16);
    trig_size = 48;
    the_trig = TR_MALLOC;
    trigger(NULL, NULL);
    prove_harmless(48);
}
/* p freed by another thread waits on the owner's remote list; its link is overwritten */
static void uaf_small_remote(void)
{
    start_helper();
    char *p = malloc(48);
    sink = malloc(48);
    free_in_thread(p);
    expect(p); expect_page(p);
    scribble(p, 'W', 8);
    arm();
    for (int i = 0; i < 2000; i++) sink = malloc(48); /* the owner applies remote frees */
}
/* The same, the write into p's second pointer-sized word (its remote-free mark): named a write after free
 * into p (in secure mode every free of a small block takes this way, after the quarantine). */
static void uaf_small_remote_mark(void)
{
    start_helper();
    char *p = malloc(48);
    sink = malloc(48);
    size_t u = usable(p);
    free_in_thread(p);
    expect(p);
    expect_line("snug: write after free: the remote-free mark in block overwritten, block 0x%lx (%zu bytes)", PTR(p), u);
    scribble(p + sizeof(void *), 'W', sizeof(void *));
    arm();
    for (int i = 0; i < 2000; i++) sink = malloc(48); /* the owner applies remote frees */
}
/* Blocks of these sizes are freed (and coalesced) at once: a medium block of up
 * to 64 KiB may instead be parked for reuse (fit.c), its own cases below. */
#define MED_A 70000
#define MED_B 80000
static void uaf_medium(void)
{
    char *prev = malloc(MED_A), *p = malloc(MED_B), *next = malloc(2000);
    sink = next;
    free(p);
    expect(p); expect(prev);
    scribble(p, 'W', 16);
    trig_size = MED_B;
    switch (the_trig) {
    case TR_FREE_A: arm(); free(prev); break;                 /* merges with the free p */
    case TR_REALLOC_A: arm(); sink = realloc(prev, MED_A + MED_B / 2); break; /* grows into p */
    default: arm(); sink = malloc(MED_B); sink = malloc(MED_B); break;
    }
}
/* the foot at the end of a free medium block, overwritten; the block after it is then freed */
static void uaf_medium_foot(void)
{
    char *p = malloc(MED_A), *n = malloc(MED_B);
    sink = malloc(2000);
    if (n != p + usable(p) + 8) setup_fail("medium blocks not adjacent");
    free(p);
    expect(p); expect(n);
    scribble(n - 16, 'W', 8);   /* the last word of p's block */
    arm();
    free(n);
}

/* the same, with a size-like value (1 GiB) in the foot: it must not be followed out of the heap */
static void uaf_medium_foot_size(void)
{
    char *p = malloc(MED_A), *n = malloc(MED_B);
    sink = malloc(2000);
    if (n != p + usable(p) + 8) setup_fail("medium blocks not adjacent");
    free(p);
    expect(p); expect(n);
    uint64_t gib = (uint64_t)1 << 30;
    memcpy(n - 16, &gib, 8);
    arm();
    free(n);
}

/* A parked medium block's link (its first word), overwritten after free: seen
 * when a malloc of its size takes it back (TR_MALLOC), or when a malloc of
 * another size makes every parked block rejoin the heap. */
static void uaf_parked(void)
{
    char *p = malloc(3000), *q = malloc(3000);
    sink = malloc(2000);
    free(q);
    free(p);                   /* p first on its list, q after it */
    expect(p);
    scribble(p, 'W', 8);
    arm();
    sink = malloc(the_trig == TR_MALLOC ? 3000 : 5000);
}

/* ---- medium blocks in a thread cache (run again with SNUG_OPTIONS=thread_cache=2) ----- */

/* A write after free wipes the block's cache mark; the second free is still seen. */
static void cache_df_after_wipe(void)
{
    char *p = malloc(3000);
    sink = malloc(2000);
    expect_size(usable(p));
    free(p);
    scribble(p, 'W', 16);
    arm();
    free(expect(p));
}
/* A write after free into a freed medium block, seen when the block is next handed out. */
static void cache_uaf_reuse(void)
{
    char *p = malloc(3000);
    sink = malloc(2000);
    free(p);
    expect(p);
    scribble(p, 'W', 16);
    arm();
    sink = malloc(3000);
}

/* ---- sized frees (C23 free_sized, free_aligned_sized): a size the block cannot have been asked
 * with.  Found with dlsym: the plain build links without snug, and glibc 2.36 has neither. ---- */

static void (*p_free_sized)(void *, size_t);
static void (*p_free_aligned_sized)(void *, size_t, size_t);
static void sized_syms(void)
{
    p_free_sized = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    p_free_aligned_sized = (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (!p_free_sized || !p_free_aligned_sized) setup_fail("free_sized / free_aligned_sized not found");
}
static void sized_wrong(size_t n, size_t given, const char *usable_lo_hi)
{
    sized_syms();
    char *p = malloc(n);
    sink = malloc(n);
    char fmt[160];
    snprintf(fmt, sizeof fmt, "snug: free_sized(): wrong size %zu for block 0x%%lx (%s)", given, usable_lo_hi);
    expect_line(fmt, PTR(p));
    arm();
    expect(p);
    p_free_sized(p, given);
}
static void sized_small_too_big(void) { sized_wrong(24, 100, "32 bytes; allocated with 16..32"); }
static void sized_small_too_small(void) { sized_wrong(100, 40, "112 bytes; allocated with 56..112"); }
static void sized_medium_too_small(void) { sized_wrong(5000, 4000, "5000 bytes; allocated with #..5000"); }
static void sized_medium_too_big(void) { sized_wrong(5000, 5001, "5000 bytes; allocated with #..5000"); }
static void sized_large(void) { sized_wrong(4 * MiB, 4 * MiB - 1, "# bytes; allocated with 4194304"); }
static void sized_aligned(void)
{
    sized_syms();
    char *p = aligned_alloc(64, 1000);
    expect_line("snug: free_aligned_sized(): wrong size 2000 for block 0x%lx (# bytes; allocated with #..#)", PTR(p));
    arm();
    expect(p);
    p_free_aligned_sized(p, 64, 2000);
}
static void sized_aligned_misaligned(void)
{
    sized_syms();
    char *p = malloc(48);
    expect_line("snug: free_aligned_sized(): wrong alignment for block 0x%lx", PTR(p));
    arm();
    expect(p);
    p_free_aligned_sized(p, 4096, 48);
}
static void df_sized(void)
{
    sized_syms();
    char *p = malloc(48);
    sink = malloc(48);
    p_free_sized(p, 48);
    expect_line("snug: double free of 0x%lx (48 bytes)", PTR(p));
    arm();
    expect(p);
    p_free_sized(p, 48);
}

/* Every size a block can have been asked with passes: malloc, calloc, realloc in place and
 * moved, aligned_alloc, and blocks of every kind. */
static void sized_right_sizes(void)
{
    sized_syms();
    for (size_t n = 0; n <= 5000; n++) {
        p_free_sized(malloc(n), n);
        p_free_sized(calloc(1, n), n);
        p_free_aligned_sized(aligned_alloc(64, n), 64, n);
        char *p = malloc(n + 100);
        p = realloc(p, n);                              /* shrunk: in place or moved */
        CHECK(p != NULL || n == 0, "realloc");
        if (p) p_free_sized(p, n);
        p = malloc(n / 2 + 1);
        p = realloc(p, n + 1);                          /* grown (roomy, when moved) */
        p_free_sized(p, n + 1);
    }
    for (size_t n = 200 * KiB; n < 3 * MiB; n += 77777) {
        p_free_sized(malloc(n), n);
        char *p = malloc(n);
        p = realloc(p, n - 5000);
        p_free_sized(p, n - 5000);
    }
    p_free_sized(NULL, 10);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* ---- sampled guarded allocations (issue 17; SNUG_OPTIONS=sample_rate=1) ----------------------- */

enum { BY_MALLOC, BY_CALLOC, BY_ALIGNED };
/* A sampled block of n bytes from `by`, placed as asked: at_end, ending at the page above it (n
 * rounded up to 16); else starting a page.  Samples alternate between the two, and with
 * sample_rate=1 every allocation is one, so one of four allocations is it. */
static char *guarded_by(int by, size_t n, int at_end)
{
    for (int i = 0; i < 4; i++) {
        char *p = by == BY_CALLOC ? calloc(1, n) : by == BY_ALIGNED ? aligned_alloc(64, n) : malloc(n);
        uintptr_t a = (uintptr_t)p, r = by == BY_ALIGNED ? 64 : 16;
        if (p && (at_end ? ((a + ((n + r - 1) & ~(r - 1))) & 4095) == 0 : (a & 4095) == 0)) return p;
        sink = p;
    }
    setup_fail("no sampled %zu-byte block %s a page in 4 allocations (is SNUG_OPTIONS=sample_rate=1 set?)", n,
               at_end ? "ending at" : "starting");
}
static char *guarded(size_t n, int at_end) { return guarded_by(BY_MALLOC, n, at_end); }
static unsigned char peek(const char *p) { return *(const volatile unsigned char *)p; }

static void gd_ovf(size_t n, size_t past, int by)
{
    char *p = guarded_by(by, n, 1);
    expect(p);
    expect_size(n);
    arm();
    scribble(p + n + past, 'O', 1);
}
static void gd_ovf_8(void) { gd_ovf(48, 8, BY_MALLOC); }
static void gd_ovf_1(void) { gd_ovf(48, 0, BY_MALLOC); }
static void gd_ovf_medium(void) { gd_ovf(3008, 0, BY_MALLOC); }   /* (a multiple of 16: no rounding) */
static void gd_ovf_multipage(void) { gd_ovf(10000, 100, BY_MALLOC); }
static void gd_ovf_calloc(void) { gd_ovf(480, 0, BY_CALLOC); }
static void gd_ovf_aligned(void) { gd_ovf(192, 0, BY_ALIGNED); }
static void gd_ovf_read(void)
{
    char *p = guarded(64, 1);
    expect(p);
    expect_size(64);
    arm();
    sink = (void *)(uintptr_t)peek(p + 64);
}
/* An overflow into the rounding below the guard page (45 bytes: 3 to spare), or into the rest
 * of a block's page when the block starts the page: found by the fill check at free. */
static void gd_ovf_slack(void)
{
    char *p = guarded(45, 1);
    expect(p);
    expect_size(45);
    scribble(p + 45, 'O', 2);
    arm();
    free(p);
}
static void gd_ovf_in_page(void)
{
    char *p = guarded(48, 0);
    expect(p);
    expect_size(48);
    scribble(p + 48, 'O', 16);
    arm();
    free(p);
}
static void gd_udf(void)
{
    char *p = guarded(48, 0);
    expect(p);
    expect_size(48);
    arm();
    scribble(p - 1, 'U', 1);
}
static void gd_udf_read(void)
{
    char *p = guarded(3000, 0);
    expect(p);
    expect_size(3000);
    arm();
    sink = (void *)(uintptr_t)peek(p - 8);
}
static void gd_udf_in_page(void)
{
    char *p = guarded(48, 1);
    expect(p);
    expect_size(48);
    scribble(p - 8, 'U', 8);
    arm();
    free(p);
}
static void gd_uaf(size_t n, int write, int churn)
{
    char *p = guarded(n, 1);
    expect(p);
    expect_size(n);
    free(p);
    for (int i = 0; i < churn; i++) free(malloc(100));   /* slots are reused oldest first */
    arm();
    if (write) scribble(p + 8, 'F', 1);
    else sink = (void *)(uintptr_t)peek(p + 8);
}
static void gd_uaf_write(void) { gd_uaf(48, 1, 0); }
static void gd_uaf_read(void) { gd_uaf(48, 0, 0); }
static void gd_uaf_medium(void) { gd_uaf(3000, 1, 0); }
static void gd_uaf_after_churn(void) { gd_uaf(48, 1, 100); }
static void gd_df(void)
{
    char *p = guarded(48, 1);
    expect(p);
    expect_size(48);
    free(p);
    arm();
    free(p);
}
static void gd_realloc_after_free(void)
{
    char *p = guarded(48, 0);
    expect(p);
    free(p);
    arm();
    sink = realloc(p, 100);
}
static void gd_usable_after_free(void)
{
    char *p = guarded(48, 1);
    expect(p);
    free(p);
    arm();
    sink = (void *)(uintptr_t)malloc_usable_size(p);
}
static void gd_interior(void)
{
    char *p = guarded(48, 0);
    arm();
    free(expect(p + 16));
}

/* The API on sampled blocks (not a death test). */
static void *gd_thread(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 5000;
        unsigned char *p = malloc(n);
        if (!p) return "malloc failed";
        memset(p, (int)(n & 255), n);
        unsigned char *q = realloc(p, n + 100);
        if (!q) return "realloc failed";
        for (size_t k = 0; k < n; k++)
            if (q[k] != (n & 255)) return "realloc lost contents";
        free(q);
    }
    return NULL;
}
static void guard_api(void)
{
    const size_t sizes[] = { 1, 16, 45, 48, 100, 1000, 3000, 4096, 10000, 16384 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int end = 0; end < 2; end++) {
            char *p = guarded(n, end);
            CHECK(usable(p) == n, "malloc_usable_size of a sampled %zu-byte block: %zu", n, usable(p));
            memset(p, 0x5a, n);
            char *q = realloc(p, 2 * n);
            CHECK(q != NULL, "realloc(%zu) of a sampled block", 2 * n);
            for (size_t k = 0; k < n; k++) CHECK(q[k] == 0x5a, "realloc lost byte %zu of %zu", k, n);
            free(q);
        }
    }
    /* calloc zeroes a slot that held data; a thread's blocks cycle through all the slots */
    for (int i = 0; i < 300; i++) { char *p = malloc(100); memset(p, 0xee, 100); free(p); }
    for (int i = 0; i < 8; i++) {
        unsigned char *p = calloc(25, 4);
        for (int k = 0; k < 100; k++) CHECK(p[k] == 0, "calloc byte %d of a sampled block is %d", k, p[k]);
        free(p);
    }
    for (size_t a = 32; a <= 4096; a *= 2) {
        void *p = aligned_alloc(a, 100), *q = NULL;
        CHECK(p && (uintptr_t)p % a == 0, "aligned_alloc(%zu, 100) = %p", a, p);
        CHECK(posix_memalign(&q, a, 3000) == 0 && (uintptr_t)q % a == 0, "posix_memalign(%zu, 3000) = %p", a, q);
        free(p);
        free(q);
    }
    void *big = NULL;   /* alignment over a page: the normal allocator */
    CHECK(posix_memalign(&big, 8192, 100) == 0 && (uintptr_t)big % 8192 == 0, "posix_memalign(8192, 100) = %p", big);
    free(big);
    void *z = malloc(0);
    CHECK(z != NULL, "malloc(0)");
    free(z);
    char *f = malloc(200);
    free(f);
    /* a full pool: the rest come from the heap */
    static char *live[400];
    for (int i = 0; i < 400; i++) {
        live[i] = malloc(64);
        CHECK(live[i] != NULL, "malloc %d with the pool full", i);
        memset(live[i], i & 255, 64);
    }
    for (int i = 0; i < 400; i++) {
        for (int k = 0; k < 64; k++) CHECK((unsigned char)live[i][k] == (i & 255), "block %d changed", i);
        free(live[i]);
    }
    /* threads */
    pthread_t t[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, gd_thread, (void *)(uintptr_t)(i + 1)) == 0, "pthread_create");
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK(r == NULL, "thread %d: %s", i, (const char *)r);
    }
    /* fork: the child's sampled blocks work, and a block allocated before the fork can be freed */
    char *before = guarded(48, 1);
    pid_t pid = fork();
    if (pid == 0) {
        free(before);
        char *c = guarded(48, 0);
        memset(c, 1, 48);
        free(c);
        _exit(0);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child: status %d", st);
    free(before);
}

/* ---- the table ------------------------------------------------------------------------------ */

#define W_DF "double free"
#define W_INV "invalid pointer"
#define W_DAMAGE "overwritten|overflow|corrupt"
#define W_UAF "use after free"
#define W_SIZE "wrong size"

#include "attacks.h"
#define W_GOVF "heap-buffer-overflow"
#define W_GUDF "heap-buffer-underflow"
#define W_GUAF "heap-use-after-free"

struct fcase {
    const char *name;
    void (*fn)(void);
    const char *words;     /* any of these, '|'-separated, case-insensitive */
    int op;                /* the_op / the_trig */
    uint64_t seed;
    int harmless_ok;       /* an unnoticed fault passes if prove_harmless() showed no damage:
                              free small slots hold no allocator state (bitmap pages) */
};

#pragma GCC diagnostic ignored "-Wmissing-field-initializers" /* harmless_ok defaults to 0 */
static const struct fcase cases[] = {
    { "df-small-immediate", df_small_immediate, W_DF, 0, 0 },
    { "df-small-delayed", df_small_delayed, W_DF, 0, 0 },
    { "df-small-second-in-other-thread", df_small_other_thread, W_DF, 0, 0 },
    { "df-small-first-in-other-thread", df_small_remote_then_owner, W_DF, 0, 0 },
    { "df-small-both-in-other-threads", df_small_remote_twice, W_DF, 0, 0 },
    { "df-small-batched-then-owner", df_small_batched_then_owner, W_DF, 0, 0 },
    { "df-small-batched-twice", df_small_batched_twice, W_DF, 0, 0 },
    { "df-medium-immediate", df_medium_immediate, W_DF, 0, 0 },
    { "df-medium-delayed", df_medium_delayed, W_DF, 0, 0 },
    { "df-medium-second-in-other-thread", df_medium_other_thread, W_DF, 0, 0 },
    { "df-medium-second-in-new-thread", df_medium_new_thread, W_DF "|" W_INV, 0, 0 },
    { "df-medium-after-realloc-moved", df_medium_after_realloc, W_DF, 0, 0 },
    { "df-large-immediate", df_large_immediate, W_DF, 0, 0 },
    { "df-large-delayed", df_large_delayed, W_DF, 0, 0 },
    { "df-large-delayed-1000-large", df_large_delayed_many, W_DF, 0, 0 },
    { "df-large-second-in-other-thread", df_large_other_thread, W_DF, 0, 0 },
    { "df-aligned-4096", df_aligned, W_DF, 0, 0 },
    { "df-realloc-after-free-small", df_realloc_after_free_small, W_UAF, 0, 0 },
    { "df-realloc-after-free-medium", df_realloc_after_free_medium, W_UAF, 0, 0 },
    { "df-realloc-after-free-large", df_realloc_after_free_large, W_UAF, 0, 0 },
    { "df-usable-size-after-free-small", df_usable_after_free_small, W_UAF, 0, 0 },
    { "df-usable-size-after-free-medium", df_usable_after_free_medium, W_UAF, 0, 0 },
    { "df-usable-size-after-free-large", df_usable_after_free_large, W_UAF, 0, 0 },
    { "df-sized-free-after-free", df_sized, W_DF, 0, 0 },
    { "cache-df-medium-after-write", cache_df_after_wipe, W_DF, 0, 0 },
    { "cache-uaf-medium-reuse", cache_uaf_reuse, W_DAMAGE, 0, 0 },

#define INV(what, fn, seed)                                                \
    { "inv-free-" what, fn, W_INV, OP_FREE, seed },                        \
    { "inv-realloc-" what, fn, W_INV, OP_REALLOC, seed },                  \
    { "inv-usable-size-" what, fn, W_INV, OP_USABLE, seed }
    INV("stack", t_stack, 0),
    INV("global", t_global, 0),
    INV("interior-small", t_interior_small, 0),
    INV("interior-small-8", t_interior_small_8, 0),
    INV("interior-medium", t_interior_medium, 0),
    INV("interior-large", t_interior_large, 0),
    INV("unaligned-small", t_unaligned_small, 0),
    INV("unaligned-medium", t_unaligned_medium, 0),
    INV("unaligned-large", t_unaligned_large, 0),
    INV("small-page-header", t_page_header, 0),
    INV("unmapped", t_far_outside, 0),
    INV("foreign-mapping", t_foreign_mapping, 0),
    INV("low-address", t_low, 0),
    INV("top-address", t_high, 0),
    INV("garbage-1", t_garbage, 0x1234567),
    INV("garbage-2", t_garbage, 0xfeedbeef),
    INV("garbage-3", t_garbage, 0x5eed5eed5eedull),
    INV("garbage-in-heap-1", t_garbage_in_heap, 0xabcdef),
    INV("garbage-in-heap-2", t_garbage_in_heap, 0x13579b),

    { "ovf-small-into-free-next/free", ovf_small_free_next, W_DAMAGE, TR_FREE_A, 0, 1 },
    { "ovf-small-into-free-next/realloc-grow", ovf_small_free_next, W_DAMAGE, TR_REALLOC_A, 0, 1 },
    { "ovf-small-into-free-next/realloc-same-class", ovf_small_free_next, W_DAMAGE, TR_REALLOC_A_SAME, 0, 1 },
    { "ovf-small-into-free-next/malloc", ovf_small_free_next, W_DAMAGE, TR_MALLOC, 0, 1 },
    { "ovf-small-into-next-page-header/free", ovf_small_into_page_header, W_DAMAGE, 0, 0 },
    { "udf-small-page-header-8/free", udf_small_header_8, W_DAMAGE, TR_FREE_A, 0 },
    { "udf-small-page-header-8/realloc", udf_small_header_8, W_DAMAGE, TR_REALLOC_A, 0 },
    { "udf-small-page-header-16/free", udf_small_header_16, W_DAMAGE, TR_FREE_A, 0 },
    { "udf-small-page-header-all/free", udf_small_header_all, W_DAMAGE, TR_FREE_A, 0 },
    { "udf-small-page-header-all/realloc", udf_small_header_all, W_DAMAGE, TR_REALLOC_A, 0 },
    { "ovf-medium-into-next-head/free-a", ovf_medium_next, W_DAMAGE, TR_FREE_A, 0 },
    { "ovf-medium-into-next-head/free-b", ovf_medium_next, W_DAMAGE, TR_FREE_B, 0 },
    { "ovf-medium-into-next-head/realloc-a", ovf_medium_next, W_DAMAGE, TR_REALLOC_A, 0 },
    { "ovf-medium-into-next-head/realloc-b", ovf_medium_next, W_DAMAGE, TR_REALLOC_B, 0 },
    { "ovf-medium-into-free-next/free", ovf_medium_free_next, W_DAMAGE, TR_FREE_A, 0 },
    { "ovf-medium-into-free-next/realloc", ovf_medium_free_next, W_DAMAGE, TR_REALLOC_A, 0 },
    { "ovf-medium-into-free-next/malloc", ovf_medium_free_next, W_DAMAGE, TR_MALLOC, 0 },
    { "udf-medium-head/free", udf_medium_head, W_DAMAGE, TR_FREE_A, 0 },
    { "udf-medium-head/realloc", udf_medium_head, W_DAMAGE, TR_REALLOC_A, 0 },
    { "udf-medium-head-1-byte/free", udf_medium_head_1, W_DAMAGE, TR_FREE_A, 0 },
    { "ovf-large-into-next-header/free-a", ovf_large_next_whole, W_DAMAGE, TR_FREE_A, 0 },
    { "ovf-large-into-next-header/free-b", ovf_large_next_whole, W_DAMAGE, TR_FREE_B, 0 },
    { "ovf-large-into-next-header/realloc-a", ovf_large_next_whole, W_DAMAGE, TR_REALLOC_A, 0 },
    { "ovf-large-into-next-header/realloc-b", ovf_large_next_whole, W_DAMAGE, TR_REALLOC_B, 0 },
    { "ovf-large-into-next-header-front/free-b", ovf_large_next_front, W_DAMAGE, TR_FREE_B, 0 },
    { "udf-large-header-8/free", udf_large_head, W_DAMAGE, TR_FREE_A, 0 },
    { "udf-large-header-8/realloc", udf_large_head, W_DAMAGE, TR_REALLOC_A, 0 },
    { "udf-large-header-32/free", udf_large_head_32, W_DAMAGE, TR_FREE_A, 0 },

    { "sized-free-small-too-big", sized_small_too_big, W_SIZE, 0, 0 },
    { "sized-free-small-too-small", sized_small_too_small, W_SIZE, 0, 0 },
    { "sized-free-medium-too-small", sized_medium_too_small, W_SIZE, 0, 0 },
    { "sized-free-medium-too-big", sized_medium_too_big, W_SIZE, 0, 0 },
    { "sized-free-large", sized_large, W_SIZE, 0, 0 },
    { "sized-free-aligned", sized_aligned, W_SIZE, 0, 0 },
    { "sized-free-aligned-wrong-alignment", sized_aligned_misaligned, "wrong alignment", 0, 0 },

    { "uaf-small-link/malloc", uaf_small, W_DAMAGE, 0, 0, 1 },
    { "uaf-small-link-second-on-list/malloc", uaf_small_deeper, W_DAMAGE, 0, 0, 1 },
    { "uaf-small-remote-link/owner-drains", uaf_small_remote, W_DAMAGE, 0, 0 },
    { "uaf-small-remote-mark/owner-drains", uaf_small_remote_mark, W_DAMAGE, 0, 0 },
    { "uaf-medium-links/malloc", uaf_medium, W_DAMAGE, TR_MALLOC, 0 },
    { "uaf-medium-links/free-prev", uaf_medium, W_DAMAGE, TR_FREE_A, 0 },
    { "uaf-medium-links/realloc-prev", uaf_medium, W_DAMAGE, TR_REALLOC_A, 0 },
    { "uaf-medium-foot/free-next", uaf_medium_foot, W_DAMAGE, 0, 0 },
    { "uaf-medium-foot-size/free-next", uaf_medium_foot_size, W_DAMAGE, 0, 0 },
    { "uaf-medium-parked-link/malloc-same-size", uaf_parked, W_DAMAGE, TR_MALLOC, 0 },
    { "uaf-medium-parked-link/malloc-other-size", uaf_parked, W_DAMAGE, 0, 0 },

    ATTACK_CASES,
    { "guard-overflow/8-bytes-past", gd_ovf_8, W_GOVF, 0, 0 },
    { "guard-overflow/1st-byte-past", gd_ovf_1, W_GOVF, 0, 0 },
    { "guard-overflow/medium", gd_ovf_medium, W_GOVF, 0, 0 },
    { "guard-overflow/10000-bytes", gd_ovf_multipage, W_GOVF, 0, 0 },
    { "guard-overflow/calloc", gd_ovf_calloc, W_GOVF, 0, 0 },
    { "guard-overflow/aligned-alloc-64", gd_ovf_aligned, W_GOVF, 0, 0 },
    { "guard-overflow/read", gd_ovf_read, W_GOVF, 0, 0 },
    { "guard-overflow/into-rounding/free", gd_ovf_slack, W_GOVF, 0, 0 },
    { "guard-overflow/within-page/free", gd_ovf_in_page, W_GOVF, 0, 0 },
    { "guard-underflow/1-byte", gd_udf, W_GUDF, 0, 0 },
    { "guard-underflow/read", gd_udf_read, W_GUDF, 0, 0 },
    { "guard-underflow/within-page/free", gd_udf_in_page, W_GUDF, 0, 0 },
    { "guard-use-after-free/write", gd_uaf_write, W_GUAF, 0, 0 },
    { "guard-use-after-free/read", gd_uaf_read, W_GUAF, 0, 0 },
    { "guard-use-after-free/medium", gd_uaf_medium, W_GUAF, 0, 0 },
    { "guard-use-after-free/after-100-more-samples", gd_uaf_after_churn, W_GUAF, 0, 0 },
    { "guard-double-free", gd_df, W_DF, 0, 0 },
    { "guard-realloc-after-free", gd_realloc_after_free, W_DF "|already freed", 0, 0 },
    { "guard-usable-size-after-free", gd_usable_after_free, "already freed", 0, 0 },
    { "guard-free-interior", gd_interior, W_INV, 0, 0 },
};

/* ---- the parent's side ---------------------------------------------------------------------- */

static int has_word(const char *line, const char *words)
{
    char w[64];
    for (const char *s = words; *s;) {
        size_t n = strcspn(s, "|");
        snprintf(w, sizeof w, "%.*s", (int)n, s);
        if (strcasestr(line, w)) return 1;
        s += n;
        if (*s == '|') s++;
    }
    return 0;
}

/* Does the line name one of the accepted addresses (0x...)? */
static int names_address(const char *line, const uintptr_t *addr, int na, const uintptr_t *page, int np)
{
    for (const char *s = line; (s = strstr(s, "0x")) != NULL; s += 2) {
        char *end;
        uintptr_t v = (uintptr_t)strtoull(s + 2, &end, 16);
        if (end == s + 2) continue;
        for (int i = 0; i < na; i++)
            if (v == addr[i]) return 1;
        for (int i = 0; i < np; i++)
            if ((v & 4095) == 0 && v <= page[i] && page[i] - v < 4 * 4096) return 1;
    }
    return 0;
}


static int names_size(const char *line, size_t n)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", n);
    size_t k = strlen(num);
    for (const char *s = line; (s = strstr(s, num)) != NULL; s++) {
        int before = s > line && s[-1] >= '0' && s[-1] <= '9';
        int after = s[k] >= '0' && s[k] <= '9';
        if (!before && !after && !(s > line + 1 && s[-1] == 'x' && s[-2] == '0')) return 1;
    }
    return 0;
}

static size_t slurp(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t r;
    lseek(fd, 0, SEEK_SET);
    while (got < cap - 1 && (r = read(fd, buf + got, cap - 1 - got)) > 0) got += (size_t)r;
    buf[got] = 0;
    close(fd);
    return got;
}

static void run_fault(const struct fcase *c)
{
    int efd = (int)syscall(SYS_memfd_create, "stderr", 0), ifd = (int)syscall(SYS_memfd_create, "info", 0);
    if (efd < 0 || ifd < 0) { printf("FAIL %s: memfd_create: %s\n", c->name, strerror(errno)); h_failures++; return; }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(efd, 2);
        info_fd = ifd;
        h_current = c->name;
        the_op = (enum op)c->op;
        the_trig = (enum trig)c->op;
        garbage_seed = c->seed;
        alarm(30);
        c->fn();
        say("survived\n");
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    static char err[8192], inf[8192];
    slurp(efd, err, sizeof err);
    slurp(ifd, inf, sizeof inf);

    uintptr_t addr[8], page[8];
    int na = 0, np = 0, armed = 0, survived = 0, want_size = 0, harmless = 0;
    char harmful[256] = "";
    size_t size = 0;
    char setup[256] = "", want_line[256] = "";
    for (char *l = strtok(inf, "\n"); l; l = strtok(NULL, "\n")) {
        unsigned long v;
        if (sscanf(l, "addr %lx", &v) == 1 && na < 8) addr[na++] = v;
        else if (sscanf(l, "page %lx", &v) == 1 && np < 8) page[np++] = v;
        else if (sscanf(l, "size %zu", &size) == 1) want_size = 1;
        else if (!strcmp(l, "arm")) armed = 1;
        else if (!strcmp(l, "survived")) survived = 1;
        else if (!strcmp(l, "harmless")) harmless = 1;
        else if (!strncmp(l, "harmful ", 8)) snprintf(harmful, sizeof harmful, "%s", l + 8);
        else if (!strncmp(l, "setup ", 6)) snprintf(setup, sizeof setup, "%s", l + 6);
        else if (!strncmp(l, "line ", 5)) snprintf(want_line, sizeof want_line, "%s", l + 5);
    }
    /* stderr: the lines, and the first one starting with "snug: " */
    int nlines = 0, nsnug = 0;
    char first[600] = "", snugline[600] = "";
    for (char *s = err; *s;) {
        size_t n = strcspn(s, "\n");
        if (!strncmp(s, "qemu: uncaught target signal", 28)) {   /* qemu-i386 reporting the abort */
            s += n + (s[n] != 0);
            continue;
        }
        if (nlines == 0) snprintf(first, sizeof first, "%.*s", (int)n, s);
        if (!strncmp(s, "snug: ", 6) && nsnug++ == 0) snprintf(snugline, sizeof snugline, "%.*s", (int)n, s);
        nlines++;
        s += n;
        if (*s) s++;
    }
    const char *why = NULL;
    char whybuf[900];
    if (setup[0]) {
        snprintf(whybuf, sizeof whybuf, "setup failed: %s", setup);
        why = whybuf;
    } else if (harmful[0]) {
        snprintf(whybuf, sizeof whybuf, "fault not detected, and it damaged the heap: %s", harmful);
        why = whybuf;
    } else if (c->harmless_ok && survived && harmless && WIFEXITED(st) && WEXITSTATUS(st) == 0 && nlines == 0) {
        printf("PASS %s\n# %s: not reported; no allocator state was damaged (3000 blocks of the class "
               "checked, heap check passes)\n", c->name, c->name);
        fflush(stdout);
        return;
    } else if (WIFEXITED(st) || survived) {
        snprintf(whybuf, sizeof whybuf, "fault not detected: the program went on (exit status %d)%s%s",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, nlines ? "; stderr: " : "", first);
        why = whybuf;
    } else if (!armed) {
        snprintf(whybuf, sizeof whybuf, "the program stopped during setup, before the fault (signal %d); stderr: %s",
                 WTERMSIG(st), first);
        why = whybuf;
    } else if (WTERMSIG(st) != SIGABRT) {
        snprintf(whybuf, sizeof whybuf, "killed by signal %d (%s), not SIGABRT; stderr: %s", WTERMSIG(st),
                 strsignal(WTERMSIG(st)), first);
        why = whybuf;
    } else if (nsnug == 0) {
        snprintf(whybuf, sizeof whybuf, "SIGABRT without a \"snug: \" line; stderr: %s", first);
        why = whybuf;
    } else if (nlines != 1) {
        snprintf(whybuf, sizeof whybuf, "stderr has %d lines (%d starting with \"snug: \"), want exactly one; first: %s",
                 nlines, nsnug, first);
        why = whybuf;
    } else if (!has_word(snugline, c->words)) {
        snprintf(whybuf, sizeof whybuf, "mis-reported: the line names none of \"%s\": %s", c->words, snugline);
        why = whybuf;
    } else if (!names_address(snugline, addr, na, page, np)) {
        char list[200] = "";
        size_t at = 0;
        for (int i = 0; i < na && at < sizeof list - 24; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, " 0x%lx", (unsigned long)addr[i]);
        for (int i = 0; i < np && at < sizeof list - 40; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, " (page of 0x%lx)", (unsigned long)page[i]);
        snprintf(whybuf, sizeof whybuf, "the line names none of the addresses%s: %s", list, snugline);
        why = whybuf;
    } else if (want_line[0] && !line_matches(snugline, want_line)) {
        snprintf(whybuf, sizeof whybuf, "mis-worded: want \"%s\", got \"%s\"", want_line, snugline);
        why = whybuf;
    } else if (want_size && !names_size(snugline, size)) {
        snprintf(whybuf, sizeof whybuf, "the line does not give the size %zu: %s", size, snugline);
        why = whybuf;
    }
    if (why) {
        h_failures++;
        printf("FAIL %s: %s\n", c->name, why);
    } else {
        printf("PASS %s\n", c->name);
        printf("# %s: %s\n", c->name, snugline);
    }
    fflush(stdout);
}

/* ---- size overflows: NULL + ENOMEM, no wrap-around ------------------------------------------ */

static void expect_enomem(void *p, const char *what)
{
    if (p != NULL) FAILF("%s returned %p, want NULL", what, p);
    if (errno != ENOMEM) FAILF("%s: errno %d (%s), want ENOMEM", what, errno, strerror(errno));
}
static void calloc_overflow(void)
{
    const size_t half = SIZE_MAX / 2 + 1, root = (size_t)1 << (sizeof(size_t) * 4);
    const size_t c[][2] = { { half, 2 }, { 2, half }, { SIZE_MAX, SIZE_MAX }, { root, root },
                            { root + 1, root - 1 }, { SIZE_MAX / 3 + 1, 3 }, { 3, SIZE_MAX / 3 + 1 },
                            { SIZE_MAX / 16 + 1, 16 }, { (size_t)PTRDIFF_MAX / 2 + 1, 2 } };
    char what[96];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        snprintf(what, sizeof what, "calloc(%zu, %zu)", c[i][0], c[i][1]);
        errno = 0;
        expect_enomem(calloc(c[i][0], c[i][1]), what);
    }
    void *p = calloc(1000, 16);
    CHECK(p != NULL, "calloc(1000, 16) after the overflows");
    for (int i = 0; i < 16000; i++) CHECK(((char *)p)[i] == 0, "calloc byte %d", i);
    free(p);
}
static void reallocarray_overflow(void)
{
    const size_t half = SIZE_MAX / 2 + 1;
    const size_t c[][2] = { { half, 2 }, { 2, half }, { SIZE_MAX, SIZE_MAX }, { SIZE_MAX / 5 + 1, 5 },
                            { (size_t)PTRDIFF_MAX / 4 + 1, 4 } };
    char *p = malloc(200);
    memset(p, 0x6b, 200);
    char what[96];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        snprintf(what, sizeof what, "reallocarray(p, %zu, %zu)", c[i][0], c[i][1]);
        errno = 0;
        expect_enomem(reallocarray(p, c[i][0], c[i][1]), what);
        for (int k = 0; k < 200; k++) CHECK(p[k] == 0x6b, "block changed by a failed %s", what);
        snprintf(what, sizeof what, "reallocarray(NULL, %zu, %zu)", c[i][0], c[i][1]);
        errno = 0;
        expect_enomem(reallocarray(NULL, c[i][0], c[i][1]), what);
    }
    free(p);
}
static void pvalloc_overflow(void)
{
    const size_t c[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX - 4096, SIZE_MAX - 8191,
                         (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1 };
    char what[64];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        snprintf(what, sizeof what, "pvalloc(%zu)", c[i]);
        errno = 0;
        expect_enomem(pvalloc(c[i]), what);
    }
    void *p = pvalloc(1);
    CHECK(p != NULL && ((uintptr_t)p & 4095) == 0, "pvalloc(1) = %p", p);
    free(p);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    snugdl_init();
    /* faults NAME-PREFIX...: only the cases whose name starts with one of them */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int run = argc < 2 && strncmp(cases[i].name, "guard-", 6) != 0;   /* (guard-: only when named) */
        for (int a = 1; a < argc; a++)
            if (!strncmp(cases[i].name, argv[a], strlen(argv[a]))) run = 1;
        if (run) run_fault(&cases[i]);
    }
    for (int a = 1; a < argc; a++)
        if (!strncmp("guard-api", argv[a], strlen(argv[a]))) run_check("guard-api", guard_api, 120);
    if (argc < 2) {
        run_check("size-overflow/calloc", calloc_overflow, 30);
        run_check("size-overflow/reallocarray", reallocarray_overflow, 30);
        run_check("size-overflow/pvalloc", pvalloc_overflow, 30);
        run_check("sized-free-right-sizes-pass", sized_right_sizes, 120);
    }
    return harness_done();
}
