/* regions.c - memory from the kernel: the heap shrinks with a negative sbrk when its top is
 * free, continues in mmap'd regions when brk cannot grow (a mapping in the way), and never
 * moves or shrinks the break past memory somebody else took with sbrk; a small heap spends
 * no page per rarely used size class, fills holes no page fits in before it opens one, and a
 * class whose burst is over keeps no big page; free
 * space inside the heap, below a block in use, goes back after a wait; freed
 * medium blocks parked for reuse still count as free and rejoin the heap before it grows; a
 * program cycling through tens of MiB of heap or of large buffers keeps them while it cycles
 * (no page faulted in anew each round) and gives them back once it stops.
 * Linked with -lsnug; each check runs in a forked child of a process that never made a
 * thread, so the process is single-threaded unless the check makes a thread itself. */
#include "harness.h"
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/wait.h>
#include <sys/resource.h>

#define NBLK 12000
#define BSZ 5000            /* medium blocks: they live in the heap regions */

static unsigned char *blk[NBLK];

static void fill_all(void)
{
    for (int i = 0; i < NBLK; i++) {
        blk[i] = malloc(BSZ);
        CHECK(blk[i] != NULL, "malloc(%d) #%d", BSZ, i);
        memset(blk[i], (unsigned char)(i * 7 + 1), BSZ);
    }
}

static void check_all(void)
{
    for (int i = 0; i < NBLK; i++)
        for (int k = 0; k < BSZ; k += 61)
            CHECK(blk[i][k] == (unsigned char)(i * 7 + 1), "block %d byte %d changed", i, k);
}

static void free_all(void)
{
    for (int i = 0; i < NBLK; i++) free(blk[i]);
}

static uintptr_t page_up(uintptr_t a) { return (a + 4095) & ~(uintptr_t)4095; }

/* Everything above `before` was just freed, the heap's top included: all but
 * decay_max (16 MiB) has gone back; the rest goes once the top has waited
 * decay_ms (500 ms) and the program calls again. */
static void check_top_returned(uintptr_t before)
{
    uintptr_t after = (uintptr_t)sbrk(0);
    note("brk +%lu KiB after the frees", (unsigned long)((after - before) >> 10));
    CHECK(after < before + (17u << 20), "freed heap top beyond 16 MiB returned at the frees (brk still %lu KiB up)",
          (unsigned long)((after - before) >> 10));
    usleep(700 * 1000);
    for (int i = 0; i < 64; i++) free(malloc(8000));
    uintptr_t later = (uintptr_t)sbrk(0);
    note("brk +%lu KiB 0.7 s later", (unsigned long)((later - before) >> 10));
    CHECK(later < before + (1u << 20), "freed heap top returned to the kernel after the wait (brk still %lu KiB up)",
          (unsigned long)((later - before) >> 10));
    CHECK(sd_heap_check() == 0, "heap check");
}

/* Freeing everything at the heap top gives it back with a negative sbrk. */
static void check_brk_shrinks(void)
{
    free(malloc(100));
    uintptr_t before = (uintptr_t)sbrk(0);
    fill_all();
    uintptr_t grown = (uintptr_t)sbrk(0);
    CHECK(grown >= before + (uintptr_t)NBLK * BSZ, "the heap grew with brk (%#lx -> %#lx)",
          (unsigned long)before, (unsigned long)grown);
    check_all();
    free_all();
    check_top_returned(before);
}

/* The same, freed from the top down: the first frees, next to the free top, are parked for
 * reuse (fit.c), and the free space the later ones leave below them still goes back. */
static void check_brk_shrinks_top_down(void)
{
    free(malloc(100));
    uintptr_t before = (uintptr_t)sbrk(0);
    fill_all();
    check_all();
    for (int i = NBLK - 1; i >= 0; i--) free(blk[i]);
    check_top_returned(before);
}

/* A mapping right at the break: brk cannot grow, snug continues in mmap'd regions. */
static void check_brk_blocked(void)
{
    free(malloc(100));
    uintptr_t at = page_up((uintptr_t)sbrk(0));
    void *wall = mmap((void *)at, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(wall == (void *)at, "mmap a page at the break");
    CHECK(sbrk(4096) == (void *)-1, "the break cannot grow past the wall");
    fill_all();
    struct snug_stats s = get_stats();
    CHECK(s.regions >= 2, "allocation went on in a mapped region (regions = %zu)", s.regions);
    check_all();
    CHECK(sd_heap_check() == 0, "heap check with several regions");
    free_all();
    CHECK(sd_heap_check() == 0, "heap check after freeing");
    fill_all();             /* the freed space serves again */
    check_all();
    free_all();
}

/* Somebody else moves the break: snug keeps its hands off that memory. */
static void check_foreign_sbrk(void)
{
    free(malloc(100));
    for (int i = 0; i < NBLK / 2; i++) {
        blk[i] = malloc(BSZ);
        CHECK(blk[i] != NULL, "malloc");
    }
    unsigned char *mine = sbrk(65536);
    CHECK(mine != (void *)-1, "foreign sbrk");
    memset(mine, 0x5a, 65536);
    for (int i = NBLK / 2; i < NBLK; i++) {
        blk[i] = malloc(BSZ);
        CHECK(blk[i] != NULL, "malloc after a foreign sbrk");
        memset(blk[i], 0x33, BSZ);
    }
    for (int i = 0; i < NBLK; i++) free(blk[i]);
    malloc_trim(0);
    CHECK((uintptr_t)sbrk(0) >= (uintptr_t)mine + 65536, "the break stays above the foreign memory");
    for (int k = 0; k < 65536; k++) CHECK(mine[k] == 0x5a, "foreign memory byte %d changed", k);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* snug_heap_walk: spans in address order inside the heap, every live block inside a
 * USED (or LARGE) span of at least its size, and the spans cover the heap. */
struct walk_state { uintptr_t last; size_t total[5]; int disorder; unsigned char *probe[3]; int found[3]; };
static void walk_cb(const void *start, size_t bytes, enum snug_span_kind kind, void *arg)
{
    struct walk_state *w = arg;
    uintptr_t a = (uintptr_t)start;
    if (kind != SNUG_SPAN_LARGE && a < w->last && kind != SNUG_SPAN_META) w->disorder++;
    if (kind != SNUG_SPAN_LARGE) w->last = a + bytes;
    w->total[kind] += bytes;
    for (int i = 0; i < 3; i++)
        if ((kind == SNUG_SPAN_USED || kind == SNUG_SPAN_LARGE) && (uintptr_t)w->probe[i] == a) w->found[i] = 1;
}
static void check_heap_walk(void)
{
    int (*walk)(snug_span_fn, void *) = (int (*)(snug_span_fn, void *))dlsym(RTLD_DEFAULT, "snug_heap_walk");
    CHECK(walk != NULL, "snug_heap_walk exported");
    struct walk_state w;
    memset(&w, 0, sizeof w);
    w.probe[0] = malloc(24);
    w.probe[1] = malloc(3000);
    w.probe[2] = malloc(2 << 20);
    CHECK(w.probe[0] && w.probe[1] && w.probe[2], "malloc");
    CHECK(walk(walk_cb, &w) == 0, "walk returns 0");
    for (int i = 0; i < 3; i++) CHECK(w.found[i], "live block %d reported as a used span", i);
    CHECK(w.disorder == 0, "%d spans out of address order", w.disorder);
    struct snug_stats s = get_stats();
    size_t heap = w.total[SNUG_SPAN_FREE] + w.total[SNUG_SPAN_USED] + w.total[SNUG_SPAN_SLOT_FREE] + w.total[SNUG_SPAN_META];
    CHECK(heap <= s.heap_bytes && heap + s.large_bytes + (1u << 20) >= s.heap_bytes,
          "spans cover the heap: %zu in spans, %zu held, %zu large", heap, s.heap_bytes, s.large_bytes);
    CHECK(w.total[SNUG_SPAN_LARGE] == s.large_bytes, "large spans %zu, stats %zu", w.total[SNUG_SPAN_LARGE], s.large_bytes);
    for (int i = 0; i < 3; i++) free(w.probe[i]);
}

/* A small heap whose requests spread over many size classes does not pay a page of free
 * slots per class: one block in each class from 128 bytes up leaves (almost) no free small
 * slot behind (a page each would leave over 80 KiB).  Those blocks behave like any other
 * (contents, realloc both ways, free); a class asked for often (600 times here) gets its own pages after all.
 * (Only while the process has one thread: hence here, not in the Criterion suite.) */
static void add_free_slots(const void *start, size_t bytes, enum snug_span_kind kind, void *arg)
{
    (void)start;
    if (kind == SNUG_SPAN_SLOT_FREE) *(size_t *)arg += bytes;
}
static size_t free_slot_bytes(void)
{
    int (*walk)(snug_span_fn, void *) = (int (*)(snug_span_fn, void *))dlsym(RTLD_DEFAULT, "snug_heap_walk");
    CHECK(walk != NULL, "snug_heap_walk exported");
    size_t n = 0;
    CHECK(walk(add_free_slots, &n) == 0, "walk returns 0");
    return n;
}
static void check_sparse_classes(void)
{
    enum { NC = 25, MANY = 600 };
    unsigned char *p[NC];
    size_t before = free_slot_bytes();
    for (int c = 0; c < NC; c++) {      /* 125, 141, ..., 1021: one in each class of 128-1024 bytes */
        size_t n = c < 9 ? 128 + 16 * (size_t)c - 3 : c < 17 ? 256 + 32 * (size_t)(c - 8) - 3 : 512 + 64 * (size_t)(c - 16) - 3;
        p[c] = malloc(n);
        CHECK(p[c] != NULL, "malloc(%zu)", n);
        CHECK(((uintptr_t)p[c] & 15) == 0, "malloc(%zu) = %p aligned", n, (void *)p[c]);
        CHECK(sd_usable(p[c]) >= n, "usable size of malloc(%zu): %zu", n, sd_usable(p[c]));
        memset(p[c], c + 1, n);
    }
    size_t after = free_slot_bytes();
    note("free small slots: %zu bytes before, %zu after one block in each of %d classes", before, after, NC);
    CHECK(after < before + 4096, "%zu bytes of free slots for one block in each of %d classes", after - before, NC);
    for (int c = 0; c < NC; c++) {
        size_t n = sd_usable(p[c]);
        p[c] = realloc(p[c], 2 * n);
        CHECK(p[c] != NULL, "realloc up");
        for (int k = 0; k < 125; k++) CHECK(p[c][k] == c + 1, "class %d byte %d after growing", c, k);
        p[c] = realloc(p[c], 100);
        CHECK(p[c] != NULL, "realloc down");
        for (int k = 0; k < 100; k++) CHECK(p[c][k] == c + 1, "class %d byte %d after shrinking", c, k);
    }
    for (int c = 0; c < NC; c++) free(p[c]);
    CHECK(sd_heap_check() == 0, "heap check");
    static unsigned char *q[MANY];
    size_t pages0 = get_stats().small_pages;
    for (int i = 0; i < MANY; i++) {
        q[i] = malloc(200);
        CHECK(q[i] != NULL, "malloc(200)");
        memset(q[i], i & 0xff, 200);
    }
    CHECK(get_stats().small_pages > pages0, "%d blocks of 200 bytes and no page of their class", MANY);
    for (int i = 0; i < MANY; i++) {
        for (int k = 0; k < 200; k += 7) CHECK(q[i][k] == (unsigned char)(i & 0xff), "block %d byte %d", i, k);
        free(q[i]);
    }
    CHECK(sd_heap_check() == 0, "heap check");
}

/* Holes: once the heap is past its sparse start, a class of 128 bytes or more
 * with no free slot and no room for a page below the break takes a free block
 * under 4 KiB (which no page fits in) rather than grow the heap, and the block
 * goes back to the hole when freed. */
static void check_holes(void)
{
    enum { NSMALL = 20000 };
    static unsigned char *s[NSMALL];
    for (int i = 0; i < NSMALL; i++) {        /* 80 pages of 16-byte slots: past the sparse start */
        s[i] = malloc(16);
        CHECK(s[i] != NULL, "malloc(16)");
        memset(s[i], 0x33, 16);
    }
    unsigned char *a = malloc(2000), *sep = malloc(2000);
    CHECK(a && sep, "two medium blocks");
    memset(sep, 0x44, 2000);
    free(a);                                  /* parked, then on the bins at the next other request: */
    unsigned char *m = malloc(3000);
    CHECK(m != NULL, "malloc(3000)");
    /* Free space beside the hole taken until no page fits in it (the top and
     * the bins under 8 KiB): a page now would grow the heap. */
    enum { NFILL = 24 };
    void *fill[NFILL] = { 0 };
    for (int i = 0; i < NFILL; i++) {
        size_t fb = get_stats().free_bytes;
        if (fb < 2016 + 8192) break;
        fill[i] = malloc((fb - 2016) / 2);
        CHECK(fill[i] != NULL, "malloc(%zu)", (fb - 2016) / 2);
    }
    struct snug_stats st = get_stats();
    CHECK(st.free_bytes < 2016 + 8192, "free space beside the hole: %zu bytes", st.free_bytes);
    size_t pages0 = st.small_pages, held0 = st.heap_bytes;
    unsigned char *p = malloc(200);           /* the first of its class */
    CHECK(p != NULL, "malloc(200)");
    memset(p, 0x55, 200);
    CHECK(get_stats().small_pages == pages0, "malloc(200) with a 2000-byte hole opened a page (%zu -> %zu pages)",
          pages0, get_stats().small_pages);
    CHECK(get_stats().heap_bytes == held0, "malloc(200) with a hole grew the heap (%zu -> %zu bytes)", held0,
          get_stats().heap_bytes);
    CHECK(sd_heap_check() == 0, "heap check with a block in a hole");
    /* More of the class fill the holes, then open a page. */
    enum { NMID = 64 };
    unsigned char *q[NMID];
    for (int i = 0; i < NMID; i++) {
        q[i] = malloc(200);
        CHECK(q[i] != NULL, "malloc(200) #%d", i);
        memset(q[i], i + 1, 200);
    }
    CHECK(get_stats().small_pages > pages0, "%d blocks of 200 bytes took no page", NMID + 1);
    for (int i = 0; i < NMID; i++)
        for (int k = 0; k < 200; k += 7) CHECK(q[i][k] == i + 1, "block %d byte %d", i, k);
    for (int k = 0; k < 2000; k += 7) CHECK(sep[k] == 0x44, "neighbour byte %d", k);
    size_t free0 = get_stats().free_bytes;
    free(p);
    free(malloc(5000));                       /* (another size: parked blocks rejoin the bins) */
    CHECK(get_stats().free_bytes >= free0 + 200, "the hole's block freed (free bytes %zu -> %zu)", free0,
          get_stats().free_bytes);
    for (int i = 0; i < NMID; i++) free(q[i]);
    for (int i = 0; i < NFILL; i++) free(fill[i]);
    free(m);
    free(sep);
    for (int i = 0; i < NSMALL; i++) free(s[i]);
    CHECK(sd_heap_check() == 0, "heap check at the end");
}

/* A medium block grown by realloc to half the mmap threshold or more, while a
 * freed large block's mapping is kept, moves into that mapping: the heap does
 * not grow for it, and the contents move with it. */
static void check_realloc_into_kept_mapping(void)
{
    unsigned char *p = malloc(100 << 10);
    CHECK(p != NULL, "malloc(100 KiB)");
    for (int k = 0; k < (100 << 10); k++) p[k] = (unsigned char)(k * 13);
    unsigned char *big = malloc(600 << 10);              /* a large block: its own mapping */
    CHECK(big != NULL, "malloc(600 KiB)");
    memset(big, 1, 600 << 10);
    free(big);                                           /* its mapping is kept for reuse */
    uintptr_t brk0 = (uintptr_t)sbrk(0);
    unsigned char *q = realloc(p, 200 << 10);
    CHECK(q != NULL, "realloc to 200 KiB");
    CHECK((uintptr_t)q >= (uintptr_t)big && (uintptr_t)q < (uintptr_t)big + (600 << 10),
          "realloc of a medium block to 200 KiB used the kept mapping at %p: %p", (void *)big, (void *)q);
    CHECK((uintptr_t)sbrk(0) == brk0, "the heap grew for it");
    for (int k = 0; k < (100 << 10); k++) CHECK(q[k] == (unsigned char)(k * 13), "byte %d after the move", k);
    memset(q, 7, 200 << 10);
    q = realloc(q, 240 << 10);
    CHECK(q != NULL && q[0] == 7 && q[(200 << 10) - 1] == 7, "realloc to 240 KiB keeps the contents");
    free(q);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* A buffer grown by realloc past the mmap threshold moves from the heap into a
 * mapping of its own; its old pages, free inside the heap below a live block,
 * go back at once (not after the purge's wait: the program will not cycle
 * through them again), and the heap's free memory serves later requests. */
static void check_realloc_out_of_heap_returns_old_pages(void)
{
    const size_t old = 200u << 10;                      /* medium: under the 256 KiB threshold */
    unsigned char *p = malloc(old);
    CHECK(p != NULL, "malloc(200 KiB)");
    for (size_t k = 0; k < old; k++) p[k] = (unsigned char)(k * 29 + 3);
    unsigned char *fence = malloc(BSZ);                 /* keeps the old block off the heap's top */
    CHECK(fence != NULL, "malloc(%d)", BSZ);
    if ((uintptr_t)fence < (uintptr_t)p + old) {
        note("the fence landed below the block (%p, %p): nothing to check", (void *)fence, (void *)p);
        return;
    }
    memset(fence, 0x5a, BSZ);
    uintptr_t lo = page_up((uintptr_t)p + 64), hi = ((uintptr_t)p + old - 64) & ~(uintptr_t)4095;
    static unsigned char vec[(200u << 10) / 4096];
    size_t npages = (hi - lo) / 4096, resident = 0;
    CHECK(mincore((void *)lo, hi - lo, vec) == 0, "mincore before");
    for (size_t i = 0; i < npages; i++) resident += vec[i] & 1;
    CHECK(resident == npages, "the block's pages are resident before the move (%zu of %zu)", resident, npages);
    uintptr_t brk0 = (uintptr_t)sbrk(0);
    unsigned char *q = realloc(p, 2 * old);
    CHECK(q != NULL, "realloc to 400 KiB");
    CHECK((uintptr_t)q >= brk0 || (uintptr_t)q + 2 * old <= (uintptr_t)fence - old, "moved out of the heap (%p)", (void *)q);
    for (size_t k = 0; k < old; k += 7) CHECK(q[k] == (unsigned char)(k * 29 + 3), "byte %zu after the move", k);
    CHECK(mincore((void *)lo, hi - lo, vec) == 0, "mincore after");
    resident = 0;
    for (size_t i = 0; i < npages; i++) resident += vec[i] & 1;
    note("%zu of the old block's %zu pages resident after the move", resident, npages);
    CHECK(resident == 0, "the old block's pages went back at the move (%zu of %zu still resident)", resident, npages);
    for (int k = 0; k < BSZ; k += 97) CHECK(fence[k] == 0x5a, "the live block above kept its bytes");
    unsigned char *r = malloc(old / 2);                 /* the freed space serves again */
    CHECK(r != NULL, "malloc(100 KiB)");
    memset(r, 0x3c, old / 2);
    CHECK(sd_heap_check() == 0, "heap check");
    free(r);
    free(q);
    free(fence);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* A small block freed while a burst of small blocks is live leaves its class's
 * page kept at the heap's top (the FILE of an fopen and fclose, say).  Once the
 * burst is freed, that page goes too: the heap still returns to the kernel.
 * The same in a process with threads, whose heaps keep emptied pages as spares
 * for a while: those go back too. */
#define SMALL_BURST (1 << 20)
static void *thread_noop(void *arg) { return arg; }
static void small_burst(int threaded)
{
    static void *q[SMALL_BURST];
    if (threaded) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, thread_noop, NULL) == 0 && pthread_join(t, NULL) == 0, "a thread");
    }
    free(malloc(100));
    uintptr_t before = (uintptr_t)sbrk(0);
    for (int i = 0; i < SMALL_BURST; i++) {
        q[i] = malloc(64);
        CHECK(q[i] != NULL, "malloc(64) #%d", i);
        memset(q[i], 0x5a, 64);
    }
    void *lone = malloc(470);                   /* its class's only page: at the top */
    CHECK(lone != NULL, "malloc(470)");
    free(lone);
    uintptr_t grown = (uintptr_t)sbrk(0);
    CHECK(grown >= before + ((uintptr_t)SMALL_BURST << 6), "the heap grew with brk");
    for (int s = 0; s < 7; s++)                 /* the top's pages empty first */
        for (int i = s; i < SMALL_BURST; i += 7) free(q[SMALL_BURST - 1 - i]);
    check_top_returned(before);
}
static void check_small_burst_kept_page(void) { small_burst(0); }
static void check_small_burst_threaded(void) { small_burst(1); }

/* When a busy class (one that took dense pages) frees its last block, the kept
 * empty pages above its last page go, whether or not each holds up a free top
 * alone: kept pages stacked at the heap's top hold it up together (1 GiB of
 * 64-byte blocks freed in allocation order stayed with the program, the burst's
 * last page under the pages of an fopen's FILE and buffer). */
#define IDLE_BURST 200000
static void check_burst_end_releases_kept(void)
{
    static void *q[IDLE_BURST];
    size_t pages0 = get_stats().small_pages;
    uintptr_t before = (uintptr_t)sbrk(0);
    for (int i = 0; i < IDLE_BURST; i++) {
        q[i] = malloc(64);
        CHECK(q[i] != NULL, "malloc(64) #%d", i);
        memset(q[i], 0x3c, 64);
    }
    static const size_t lone[] = { 48, 80, 112 };
    for (int k = 0; k < 3; k++) {               /* their classes' kept pages, above the burst's */
        void *p = malloc(lone[k]);
        CHECK((uintptr_t)p > (uintptr_t)q[IDLE_BURST - 1], "malloc(%zu) above the burst", lone[k]);
        free(p);
    }
    size_t kept = get_stats().small_pages;
    for (int i = 0; i < IDLE_BURST; i++) free(q[i]);
    size_t after = get_stats().small_pages;
    note("small pages %zu -> %zu -> %zu after the burst", pages0, kept, after);
    check_top_returned(before);
    CHECK(after <= pages0, "kept pages released at the burst's end (%zu pages, %zu before it)", after, pages0);
}

/* A burst freed below a block still in use (the buffer a first printf makes, say)
 * cannot be trimmed off the heap's top, but its pages go back once the free space
 * has waited decay_ms (500 ms) and the program calls again: discarded, still
 * mapped, and usable again at once. */
#define PURGE_BURST (1 << 20)
static void check_burst_under_live_block_purged(void)
{
    static unsigned char *q[PURGE_BURST];
    for (int i = 0; i < PURGE_BURST; i++) {
        q[i] = malloc(64);
        CHECK(q[i] != NULL, "malloc(64) #%d", i);
        memset(q[i], 0x6b, 64);
    }
    unsigned char *fence = malloc(BSZ);         /* above the burst: the top is not free */
    CHECK(fence != NULL && (uintptr_t)fence > (uintptr_t)q[PURGE_BURST - 1], "malloc(%d) above the burst", BSZ);
    memset(fence, 0x11, BSZ);
    size_t full = rss_bytes();
    for (int i = 0; i < PURGE_BURST; i++) free(q[i]);
    usleep(700 * 1000);
    for (int i = 0; i < 64; i++) free(malloc(8000));
    size_t later = rss_bytes();
    note("RSS %zu KiB with the burst, %zu KiB 0.7 s after its free", full >> 10, later >> 10);
    CHECK(later + (48u << 20) < full, "the freed burst's pages went back (RSS %zu -> %zu KiB)", full >> 10, later >> 10);
    for (int k = 0; k < BSZ; k += 97) CHECK(fence[k] == 0x11, "the live block above kept its bytes");
    for (int i = 0; i < 1000; i++) {           /* the discarded memory serves again */
        q[i] = malloc(64);
        CHECK(q[i] != NULL, "malloc(64) again");
        memset(q[i], 0x22, 64);
    }
    for (int i = 0; i < 1000; i++) free(q[i]);
    free(fence);
    CHECK(sd_heap_check() == 0, "heap check");
}

static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

/* A heap freed and built again, phase after phase, 40 MiB each time: after the first few
 * phases the freed top is kept for the next (its pages are not faulted in anew: before, all
 * but 16 MiB of it went back at each phase's end); once the program stops cycling, it goes
 * back after the wait. */
#define CYCLE_BLK 8000
static void check_heap_cycling_kept(void)
{
    static unsigned char *q[CYCLE_BLK];
    uintptr_t before = (uintptr_t)sbrk(0);
    long pages_per_phase = (long)CYCLE_BLK * BSZ / 4096, late = 0;
    for (int ph = 0; ph < 8; ph++) {
        long f0 = minor_faults();
        for (int i = 0; i < CYCLE_BLK; i++) {
            q[i] = malloc(BSZ);
            CHECK(q[i] != NULL, "malloc(%d)", BSZ);
            memset(q[i], ph, BSZ);
        }
        for (int i = 0; i < CYCLE_BLK; i++) free(q[i]);
        if (ph >= 4) late += minor_faults() - f0;
    }
    note("%ld page faults in the last 4 phases of 8 (a phase touches %ld pages)", late, pages_per_phase);
    CHECK(late < pages_per_phase / 2, "a heap cycled through keeps its pages: %ld faults in 4 phases of %ld pages",
          late, pages_per_phase);
    usleep(700 * 1000);
    for (int i = 0; i < 64; i++) free(malloc(8000));
    uintptr_t later = (uintptr_t)sbrk(0);
    note("brk +%lu KiB 0.7 s after the last phase", (unsigned long)((later - before) >> 10));
    CHECK(later < before + (1u << 20), "the kept top went back once the program stopped cycling (brk still %lu KiB up)",
          (unsigned long)((later - before) >> 10));
    CHECK(sd_heap_check() == 0, "heap check");
}

/* The same heap freed in a shuffled order, as programs free: its free top grows a piece
 * at a time, and each piece beyond the bound was cut on its own; the bound then grew by the
 * last piece only, so the next phase was cut (and faulted in) again.  The cuts of one phase
 * now add up: from the second phase on, the top is kept. */
static void *shuffled_phase_fenced(unsigned char **q, int n, size_t bsz, int ph, uint64_t *s, size_t fence)
{
    static int order[2 * CYCLE_BLK];
    for (int i = 0; i < n; i++) {
        q[i] = malloc(bsz);
        CHECK(q[i] != NULL, "malloc(%zu)", bsz);
        memset(q[i], ph, bsz);
        order[i] = i;
    }
    void *f = fence ? malloc(fence) : NULL;     /* (above the phase's blocks) */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(xrnd(s) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < n; i++) {
        CHECK(q[order[i]][bsz - 1] == (unsigned char)ph, "block %d kept its bytes", order[i]);
        free(q[order[i]]);
    }
    return f;
}
static void shuffled_phase(unsigned char **q, int n, size_t bsz, int ph, uint64_t *s)
{
    shuffled_phase_fenced(q, n, bsz, ph, s, 0);
}

#define SHUF_BSZ 12000         /* 96 MiB a phase: six times decay_max */
static void check_heap_cycling_shuffled_kept(void)
{
    static unsigned char *q[CYCLE_BLK];
    uint64_t s = 99;
    long pages_per_phase = (long)CYCLE_BLK * SHUF_BSZ / 4096, late = 0;
    for (int ph = 0; ph < 8; ph++) {
        long f0 = minor_faults();
        shuffled_phase(q, CYCLE_BLK, SHUF_BSZ, ph, &s);
        if (ph >= 2) late += minor_faults() - f0;
    }
    /* (the second phase faults in what the first cut: the bound adapts at that regrowth) */
    note("%ld page faults in the last 6 phases of 8 (a phase touches %ld pages)", late, pages_per_phase);
    CHECK(late < pages_per_phase / 8, "a heap cycled through in a shuffled order keeps its pages from the third "
          "phase on: %ld faults in 6 phases of %ld pages", late, pages_per_phase);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* Phases that grow by an eighth each: the top a phase frees is larger than the last one.
 * The bound grew by what the first cut gave back, so the second phase's end was cut again by
 * about its growth, and the third phase faulted that in besides its own growth (20,400
 * faults in the last six phases where their growth is 17,600); it now grows by twice the cut
 * (retain.h), and from the third phase on a phase faults in its growth only. */
static void check_heap_cycling_growing_kept(void)
{
    static unsigned char *q[2 * CYCLE_BLK];
    uint64_t s = 7;
    long growth_pages = (long)(CYCLE_BLK / 8) * SHUF_BSZ / 4096, late = 0;
    for (int ph = 0; ph < 8; ph++) {
        long f0 = minor_faults();
        shuffled_phase(q, CYCLE_BLK + ph * (CYCLE_BLK / 8), SHUF_BSZ, ph, &s);
        if (ph >= 2) late += minor_faults() - f0;
    }
    note("%ld page faults in the last 6 phases of 8 (each grows by %ld pages)", late, growth_pages);
    CHECK(late < 6 * growth_pages + growth_pages / 2, "a heap cycled through in growing phases faults in only the "
          "growth from the third phase on: %ld faults in 6 phases that grow by %ld pages each", late, growth_pages);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* Free space inside the heap (below a live block) waits decay_ms (500 ms) before its pages
 * are discarded; a program that builds into it and frees it again, phase after phase, is
 * cycling through it, and it stays (before: every 500 ms the space between phases was
 * discarded and the next phase faulted all of it in again).  Once the program stops, the
 * purge comes (check_burst_under_live_block_purged). */
static void check_inside_cycling_not_purged(void)
{
    static unsigned char *q[CYCLE_BLK];
    uint64_t s = 7;
    long pages_per_phase = (long)CYCLE_BLK * BSZ / 4096, late = 0;
    shuffled_phase(q, CYCLE_BLK, BSZ, 0, &s);
    unsigned char *fence = shuffled_phase_fenced(q, CYCLE_BLK, BSZ, 1, &s, 64 * 1024);
    CHECK(fence != NULL, "malloc");                 /* above the cycled space: it is inside the heap now */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int phases = 0;
    long f0 = minor_faults();
    do {                                        /* three waits of decay_ms */
        shuffled_phase(q, CYCLE_BLK, BSZ, 2 + phases % 200, &s);
        phases++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1600 || phases < 4);
    late = minor_faults() - f0;
    note("%ld page faults in %d phases after the fence (a phase touches %ld pages)", late, phases, pages_per_phase);
    CHECK(late < pages_per_phase / 4, "free space cycled through inside the heap keeps its pages: %ld faults in %d "
          "phases of %ld pages", late, phases, pages_per_phase);
    free(fence);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* A free top larger than what each phase takes again: the phases never carve it below the
 * trim threshold, so its wait ran out while the program was using it, and every decay_ms
 * the whole top went back and the next phase faulted it in again.  The wait now starts
 * over when the program took that much of its free space during it. */
static void check_top_partly_cycled_kept(void)
{
    static unsigned char *q[2 * CYCLE_BLK];
    uint64_t s = 5;
    long pages_per_phase = (long)CYCLE_BLK * BSZ / 4096;
    shuffled_phase(q, 2 * CYCLE_BLK, BSZ, 0, &s);          /* an 80 MiB top */
    shuffled_phase(q, 2 * CYCLE_BLK, BSZ, 1, &s);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int phases = 0;
    long f0 = minor_faults();
    do {                                                    /* 40 MiB phases, for three waits */
        shuffled_phase(q, CYCLE_BLK, BSZ, 2 + phases % 200, &s);
        phases++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1600 || phases < 4);
    long late = minor_faults() - f0;
    note("%ld page faults in %d phases of %ld pages under an 80 MiB top", late, phases, pages_per_phase);
    CHECK(late < pages_per_phase / 8, "a top the program keeps taking half of stays: %ld faults in %d phases of %ld "
          "pages", late, phases, pages_per_phase);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* Large buffers (5-25 MiB) replaced one at a time, each zero-filled by the program: once
 * warm, a new buffer gets the pages of freed ones (before: every buffer beyond 16 MiB of
 * kept mappings was mapped and faulted in anew); once the program stops, they go back. */
static void check_large_cycling_kept(void)
{
    enum { LIVE = 6, ROUNDS = 80 };
    static unsigned char *buf[LIVE];
    static size_t len[LIVE];
    uint64_t s = 12345;
    long touched = 0, faults = 0;
    size_t rss0 = rss_bytes();
    for (int r = 0; r < ROUNDS; r++) {
        unsigned i = (unsigned)(xrnd(&s) % LIVE);
        size_t n = (5u << 20) + (size_t)(xrnd(&s) % (20u << 20));
        long f0 = minor_faults();
        unsigned char *b = malloc(n);
        CHECK(b != NULL, "malloc(%zu)", n);
        memset(b, 0, n);
        b[n - 1] = (unsigned char)r;
        if (buf[i]) {
            CHECK(buf[i][len[i] - 1] == (unsigned char)(buf[i][len[i] - 1]), "buffer intact");
            free(buf[i]);
        }
        buf[i] = b;
        len[i] = n;
        if (r >= ROUNDS / 2) {
            faults += minor_faults() - f0;
            touched += (long)(n / 4096);
        }
    }
    note("%ld page faults for %ld pages zero-filled in the last %d rounds", faults, touched, ROUNDS / 2);
    CHECK(faults < touched / 3, "freed large buffers are reused while the program cycles: %ld faults for %ld pages",
          faults, touched);
    for (int i = 0; i < LIVE; i++) free(buf[i]);
    usleep(700 * 1000);
    for (int i = 0; i < 64; i++) free(malloc(300000));    /* a large call after the wait */
    size_t later = rss_bytes();
    note("RSS %zu KiB before, %zu KiB 0.7 s after the last free", rss0 >> 10, later >> 10);
    CHECK(later < rss0 + (8u << 20), "kept large mappings went back after the wait (RSS %zu -> %zu KiB)",
          rss0 >> 10, later >> 10);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* RSS from /proc/self/statm without allocating (fopen would call malloc, and so end the
 * waits itself). */
static size_t rss_quiet(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long size = 0, res = 0;
    if (sscanf(buf, "%lu %lu", &size, &res) != 2) return 0;
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

/* A process with threads that frees a burst and then makes no call at all (an idle server
 * after deleting most of its keys) gets its memory back after the wait anyway: the
 * reclaimer thread ends the waits of the heap top and of kept large mappings. */
static void check_idle_threaded_returns(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_noop, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    static unsigned char *q[CYCLE_BLK];
    unsigned char *big[4];
    uintptr_t before = (uintptr_t)sbrk(0);
    for (int i = 0; i < CYCLE_BLK; i++) {
        q[i] = malloc(BSZ);
        CHECK(q[i] != NULL, "malloc(%d)", BSZ);
        memset(q[i], 0x5a, BSZ);
    }
    for (int i = 0; i < 4; i++) {
        big[i] = malloc(3u << 20);
        CHECK(big[i] != NULL, "malloc(3 MiB)");
        memset(big[i], 0x33, 3u << 20);
    }
    size_t full = rss_quiet();
    for (int i = 0; i < CYCLE_BLK; i++) free(q[i]);
    for (int i = 0; i < 4; i++) free(big[i]);
    uintptr_t at_free = (uintptr_t)sbrk(0);
    size_t rss_at_free = rss_quiet();
    usleep(1500 * 1000);                       /* no allocator call from here on */
    uintptr_t later = (uintptr_t)sbrk(0);
    size_t rss_later = rss_quiet();
    note("brk +%lu KiB at the frees, +%lu KiB 1.5 s later with no call; RSS %zu, %zu, %zu KiB",
         (unsigned long)((at_free - before) >> 10), (unsigned long)((later - before) >> 10),
         full >> 10, rss_at_free >> 10, rss_later >> 10);
    CHECK(later < before + (1u << 20), "an idle threaded process's free heap top went back (brk still %lu KiB up)",
          (unsigned long)((later - before) >> 10));
    /* (under qemu-i386 RSS is the emulator's, which ignores MADV_DONTNEED: brk above says it) */
    if (!getenv("SNUG_TEST_QEMU"))
        CHECK(rss_later + (20u << 20) < rss_at_free, "its kept memory left RSS (%zu -> %zu KiB)", rss_at_free >> 10,
              rss_later >> 10);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* A thread that exits leaves its empty small pages with its heap, for the next thread
 * to adopt (a program that starts a thread per piece of work does not give them to the
 * fit allocator and take them back each time); the reclaimer gives them back once no
 * thread has adopted them for a round or two. */
#define XP_N 3000
static void *xp_work(void *arg)
{
    static void *v[XP_N];
    for (int i = 0; i < XP_N; i++) CHECK((v[i] = malloc(16 + (size_t)(i % 24) * 16)) != NULL, "malloc");
    for (int i = 0; i < XP_N; i++) free(v[i]);
    return arg;
}
static void check_exited_thread_pages_wait(void)
{
    pthread_t t;
    free(malloc(5000));                 /* (a medium malloc with threads starts the reclaimer) */
    CHECK(pthread_create(&t, NULL, thread_noop, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    for (int i = 0; i < 20; i++) free(malloc(5000));
    size_t p0 = get_stats().small_pages;
    CHECK(pthread_create(&t, NULL, xp_work, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    size_t p1 = get_stats().small_pages;
    CHECK(pthread_create(&t, NULL, xp_work, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    size_t p2 = get_stats().small_pages;
    size_t p3 = p2;
    for (int i = 0; i < 40 && p3 > p0; i++) {
        usleep(100 * 1000);
        p3 = get_stats().small_pages;
    }
    note("small pages %zu before, %zu after a thread, %zu after the next, %zu later", p0, p1, p2, p3);
    CHECK(p1 > p0, "the exited thread's heap kept its empty pages (%zu, %zu before)", p1, p0);
    CHECK(p2 <= p1, "the next thread used them and took no more (%zu after it, %zu before it)", p2, p1);
    CHECK(p3 <= p0, "the reclaimer gave them back with no thread to adopt them (%zu pages 4 s later, %zu at first)", p3, p0);
    CHECK(sd_heap_check() == 0, "heap check");
}

/* A class that filled many pages takes its densest page size (4 OS pages for 800-byte
 * blocks); once the program has freed all of its blocks, no such page is kept for it (a
 * class's last empty page is kept only when it is of the usual size). */
#define BUSY 3000
static void check_busy_class_idle(void)
{
    static unsigned char *q[BUSY];
    size_t pages0 = get_stats().small_pages, slots0 = free_slot_bytes();
    for (int i = 0; i < BUSY; i++) {
        q[i] = malloc(800);
        CHECK(q[i] != NULL, "malloc(800)");
        memset(q[i], i & 0xff, 800);
    }
    void *fence = malloc(BSZ);          /* above the pages: they are not the heap's top */
    CHECK(fence != NULL, "malloc(%d)", BSZ);
    size_t busy = get_stats().small_pages;
    CHECK(busy >= pages0 + 64, "%d blocks of 800 bytes on %zu pages", BUSY, busy - pages0);
    for (int i = 0; i < BUSY; i++) {
        for (int k = 0; k < 800; k += 13) CHECK(q[i][k] == (unsigned char)(i & 0xff), "block %d byte %d", i, k);
        free(q[i]);
    }
    size_t pages1 = get_stats().small_pages, slots1 = free_slot_bytes();
    note("small pages %zu -> %zu -> %zu; free slot bytes %zu -> %zu", pages0, busy, pages1, slots0, slots1);
    CHECK(pages1 <= pages0, "%zu small pages kept after the class went idle", pages1 - pages0);
    CHECK(slots1 <= slots0, "%zu bytes of free slots kept after the class went idle", slots1 - slots0);
    CHECK(sd_heap_check() == 0, "heap check");
    free(fence);
}

/* A freed medium block (up to 64 KiB) may be parked for reuse instead of coalesced at once:
 * a malloc of its size takes back the last one freed; it counts as free (statistics, heap
 * walk, heap check) and a second free of it is a double free (faults.c); and parked blocks
 * rejoin the heap before anything else is used, so a request for the union of freed
 * neighbours gets their space, not new memory.  (Only while the process has one thread.) */
struct find_span { uintptr_t at; int kind; };
static void find_span_cb(const void *start, size_t bytes, enum snug_span_kind kind, void *arg)
{
    struct find_span *f = arg;
    if (f->at >= (uintptr_t)start && f->at < (uintptr_t)start + bytes) f->kind = (int)kind;
}
/* The kind of the heap-walk span holding p (-1: none). */
static int span_kind_at(const void *p)
{
    int (*walk)(snug_span_fn, void *) = (int (*)(snug_span_fn, void *))dlsym(RTLD_DEFAULT, "snug_heap_walk");
    CHECK(walk != NULL, "snug_heap_walk exported");
    struct find_span f = { (uintptr_t)p, -1 };
    CHECK(walk(find_span_cb, &f) == 0, "walk returns 0");
    return f.kind;
}
static void check_parked(void)
{
    enum { N = 3000, M = 8 };
    unsigned char *a[M];
    for (int i = 0; i < M; i++) {
        a[i] = malloc(N);
        CHECK(a[i] != NULL, "malloc(%d)", N);
        memset(a[i], i + 1, N);
    }
    void *guard = malloc(2000);           /* the blocks do not end at the heap top */
    CHECK(guard != NULL, "malloc");
    struct snug_stats s0 = get_stats();
    free(a[1]);
    free(a[2]);                           /* neighbours */
    struct snug_stats s1 = get_stats();
    CHECK(s1.live_bytes + 2 * sd_usable(a[0]) == s0.live_bytes, "freed blocks leave live bytes: %zu -> %zu",
          s0.live_bytes, s1.live_bytes);
    CHECK(s1.free_bytes >= s0.free_bytes + 2 * N, "freed blocks count as free bytes: %zu -> %zu",
          s0.free_bytes, s1.free_bytes);
    int k = span_kind_at(a[2] + 100);
    CHECK(k == SNUG_SPAN_FREE, "the heap walk shows a freed block as free (kind %d)", k);
    CHECK(sd_heap_check() == 0, "heap check with freed blocks waiting");
    unsigned char *b = malloc(N);
    CHECK(b == a[2], "malloc(%d) after freeing %p then %p: %p (the last freed, still warm)", N,
          (void *)a[1], (void *)a[2], (void *)b);
    for (int i = 3; i < M; i++)
        for (int j = 0; j < N; j += 13) CHECK(a[i][j] == i + 1, "block %d byte %d", i, j);
    /* Four neighbours freed, then their union asked for: it is their space. */
    for (int i = 2; i < 6; i++) free(a[i]);
    uintptr_t brk0 = (uintptr_t)sbrk(0);
    size_t span = (size_t)(a[6] - a[2]);
    unsigned char *u = malloc(span - 64);
    CHECK(u != NULL, "malloc(%zu)", span - 64);
    CHECK(u >= a[1] && u < a[6], "the union of freed neighbours (%p..%p) serves a request for it: %p",
          (void *)a[1], (void *)a[6], (void *)u);
    CHECK((uintptr_t)sbrk(0) == brk0, "no heap growth for it");
    CHECK(sd_heap_check() == 0, "heap check");
    memset(u, 0x77, span - 64);
    for (int j = 0; j < N; j += 13) CHECK(a[6][j] == 7 && a[0][j] == 1, "neighbours unchanged at byte %d", j);
    free(u);
    free(a[0]);
    free(a[6]);
    free(a[7]);
    free(guard);
    CHECK(sd_heap_check() == 0, "heap check at the end");
}

/* Small blocks freed by another thread: that thread gathers its frees to one heap in a
 * batch (heap.c) before it queues them on the owner.  Whatever it holds comes back when
 * it exits, or when it calls malloc_trim; the owner's malloc_trim then applies what was
 * queued and gives back every page it empties. */
#define XN 6000
static void *xblk[XN];
static pthread_barrier_t xbar;
static void *free_all_then_trim_and_wait(void *arg)
{
    free(malloc(16));                       /* (a thread of its own heap, as workers are) */
    for (int i = 0; i < XN; i++) free(xblk[i]);
    if (arg) malloc_trim(0);                /* (the batches this thread holds) */
    pthread_barrier_wait(&xbar);            /* freed */
    pthread_barrier_wait(&xbar);            /* the owner looked */
    return NULL;
}
static void cross_thread_frees_round(int trim_in_thread)
{
    malloc_trim(0);
    size_t pages0 = get_stats().small_pages;
    for (int i = 0; i < XN; i++) {
        xblk[i] = malloc(48 + (size_t)(i % 4) * 64);
        CHECK(xblk[i] != NULL, "malloc");
    }
    size_t full = get_stats().small_pages;
    CHECK(full > pages0 + 50, "the blocks fill pages (%zu -> %zu)", pages0, full);
    pthread_t t;
    CHECK(pthread_barrier_init(&xbar, NULL, 2) == 0, "barrier");
    CHECK(pthread_create(&t, NULL, free_all_then_trim_and_wait, trim_in_thread ? &t : NULL) == 0, "pthread_create");
    pthread_barrier_wait(&xbar);
    if (trim_in_thread) {               /* the freeing thread lives on (with its own page): it gave back what it held */
        malloc_trim(0);
        size_t now = get_stats().small_pages;
        CHECK(now <= pages0 + 1, "pages after another thread freed every block and both trimmed: %zu (%zu before, %zu full)",
              now, pages0, full);
    }
    pthread_barrier_wait(&xbar);
    pthread_join(t, NULL);
    malloc_trim(0);                     /* (+1: the C library's record of the thread, made by pthread_create) */
    size_t after = get_stats().small_pages;
    CHECK(after <= pages0 + 1, "pages after another thread freed every block and exited: %zu (%zu before, %zu full)",
          after, pages0, full);
    CHECK(sd_heap_check() == 0, "heap check");
    pthread_barrier_destroy(&xbar);
}
static void *malloc_once(void *arg) { free(malloc(16)); return arg; }
static void check_cross_thread_frees_return(void)
{
    pthread_t t;                        /* (snug's reclaimer thread, and its TLS, start now, not in the count) */
    CHECK(pthread_create(&t, NULL, malloc_once, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    cross_thread_frees_round(1);
    cross_thread_frees_round(0);
}

/* glibc frees a joined thread's TLS while it holds its lock on the cache of thread stacks,
 * once that cache is past 40 MiB.  A free there that started snug's reclaimer thread waited
 * for that lock for good (mt-larson at 128 threads).  Here: threads that do nothing fill the
 * cache; thread b frees blocks of thread a and of the main thread, in batches it still holds
 * when a exits and the main thread joins a; b's exit queues them (on a's parked heap: a wait
 * begins; on the main thread's heap: its next free of its own leaves the fast path), and the
 * main thread, which has not called snug since, joins b. */
#define RJ_N 200
static void *rj_a[RJ_N], *rj_m[RJ_N];
static pthread_barrier_t rj_ab, rj_mb;
static pthread_barrier_t rj_all;
static void *rj_noop(void *arg) { pthread_barrier_wait(&rj_all); return arg; }
static void *rj_owner(void *arg)
{
    (void)arg;
    for (int i = 0; i < RJ_N; i++) rj_a[i] = malloc(64);
    pthread_barrier_wait(&rj_ab);       /* made */
    pthread_barrier_wait(&rj_ab);       /* freed by b */
    return NULL;
}
static void *rj_freer(void *arg)
{
    (void)arg;
    free(malloc(16));
    pthread_barrier_wait(&rj_ab);
    for (int i = 0; i < RJ_N; i++) free(rj_a[i]);
    for (int i = 0; i < RJ_N; i++) free(rj_m[i]);
    pthread_barrier_wait(&rj_ab);
    pthread_barrier_wait(&rj_mb);       /* a has been joined: its heap is parked */
    return NULL;
}
static void check_join_after_queued_frees(void)
{
    /* 8 threads at once, then joined: glibc's cache keeps as many of their 8 MiB stacks as 40 MiB
     * holds, and a and b, with larger stacks, take none of them: their joins pass the limit. */
    pthread_t t[8];
    CHECK(pthread_barrier_init(&rj_all, NULL, 9) == 0, "barrier");
    for (int i = 0; i < 8; i++) CHECK(pthread_create(&t[i], NULL, rj_noop, NULL) == 0, "pthread_create");
    pthread_barrier_wait(&rj_all);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < RJ_N; i++) rj_m[i] = malloc(64);
    CHECK(pthread_barrier_init(&rj_ab, NULL, 2) == 0 && pthread_barrier_init(&rj_mb, NULL, 2) == 0, "barriers");
    pthread_attr_t big;
    pthread_attr_init(&big);
    pthread_attr_setstacksize(&big, 12u << 20);
    pthread_t a, b;
    CHECK(pthread_create(&a, &big, rj_owner, NULL) == 0, "pthread_create");
    CHECK(pthread_create(&b, &big, rj_freer, NULL) == 0, "pthread_create");
    pthread_join(a, NULL);
    pthread_barrier_wait(&rj_mb);
    pthread_join(b, NULL);              /* (hung here) */
    free(malloc(100));
    CHECK(sd_heap_check() == 0, "heap check");
}

/* A fork child of a threaded process (often about to exec) starts no thread of snug's on
 * its own: its reclaimer waits for memory to wait (qemu-user's fork children could not
 * start one at all). */
static int tasks_now(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}
static void check_fork_child_no_eager_reclaimer(void)
{
    int base = tasks_now();             /* (1; under qemu-user its own threads count too) */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, malloc_once, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    for (int i = 0; i < 200; i++) free(malloc(5000));      /* (medium mallocs: the reclaimer starts) */
    /* A joined thread can stay listed in /proc for a moment: the kernel clears its tid (which
     * ends the join) before it reaps the task.  Wait up to 2 s for it to go. */
    for (int i = 0; i < 2000 && tasks_now() > base + 1; i++) usleep(1000);
    CHECK(tasks_now() == base + 1, "the threaded parent runs snug's reclaimer (%d tasks, %d before)", tasks_now(), base);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int at_fork = tasks_now();
        for (int i = 0; i < 200; i++) free(malloc(5000));
        void *p = malloc(100);
        free(p);
        _exit(tasks_now() == at_fork ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the fork child made no thread of its own (status %#x)", st);
}

/* Arenas (src/arena.c): in a process with threads each thread takes its medium blocks from
 * an arena of its own, which grows its own mapped region, so threads do not meet on one lock.
 * Two threads' blocks add regions; the main thread frees them all (each into its block's
 * arena), the heap check walks every arena, and malloc_trim then gives the arenas' memory
 * back.  With mallopt(M_ARENA_MAX, 1) every thread shares arena 0 and no region is added. */
#define AR_N 2000
static void *ar_blk[2][AR_N];
static pthread_barrier_t ar_both;
static void *ar_alloc(void *arg)
{
    void **v = arg;
    for (int i = 0; i < AR_N; i++) {
        if ((v[i] = malloc(5000)) != NULL) memset(v[i], 0x5a, 5000);
        if (i == 0) pthread_barrier_wait(&ar_both);     /* (both attached before either exits) */
    }
    return NULL;
}
static void arena_round(int one_arena)
{
    void *mine = malloc(5000);
    CHECK(mine != NULL, "malloc");
    struct snug_stats s0 = get_stats();
    pthread_t t[2];
    CHECK(pthread_barrier_init(&ar_both, NULL, 2) == 0, "barrier");
    for (int k = 0; k < 2; k++) CHECK(pthread_create(&t[k], NULL, ar_alloc, ar_blk[k]) == 0, "pthread_create");
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    struct snug_stats s1 = get_stats();
    note("regions %zu -> %zu, heap %zu -> %zu KiB", s0.regions, s1.regions, s0.heap_bytes >> 10, s1.heap_bytes >> 10);
    if (one_arena)
        CHECK(s1.regions == s0.regions, "with one arena the threads' blocks come from region 0 (%zu regions, %zu before)",
              s1.regions, s0.regions);
    else
        CHECK(s1.regions >= s0.regions + 2, "each thread's medium blocks come from its own arena's region (%zu regions, %zu before)",
              s1.regions, s0.regions);
    CHECK(sd_heap_check() == 0, "heap check with the threads' blocks live");
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < AR_N; i++) {
            unsigned char *b = ar_blk[k][i];
            CHECK(b != NULL, "thread %d's malloc #%d", k, i);
            if (!b) continue;
            CHECK(b[0] == 0x5a && b[4999] == 0x5a, "block %d of thread %d changed", i, k);
            free(b);
        }
    free(mine);
    CHECK(sd_heap_check() == 0, "heap check after the main thread freed the threads' blocks");
    malloc_trim(0);
    struct snug_stats s2 = get_stats();
    note("after malloc_trim: heap %zu KiB", s2.heap_bytes >> 10);
    CHECK(s2.heap_bytes < s0.heap_bytes + (1u << 20), "malloc_trim gave the arenas' memory back (%zu KiB held, %zu before the threads)",
          s2.heap_bytes >> 10, s0.heap_bytes >> 10);
}
static void check_threads_own_arenas(void)
{
    CHECK(mallopt(M_ARENA_MAX, 3) == 1, "mallopt(M_ARENA_MAX, 3)");     /* (two besides arena 0, whatever the CPUs) */
    arena_round(0);
}

/* By default there are no more arenas than CPUs the process may run on (and
 * arena 0): threads beyond that share them, so their free space is shared too.
 * 24 threads, all attached at once, add at most one region per CPU. */
#define AB_T 24
static pthread_barrier_t ab_all;
static void *ab_alloc(void *arg)
{
    void *v[64];
    for (int i = 0; i < 64; i++) CHECK((v[i] = malloc(5000)) != NULL, "malloc");
    pthread_barrier_wait(&ab_all);
    for (int i = 0; i < 64; i++) free(v[i]);
    return arg;
}
static void check_arenas_bounded_by_cpus(void)
{
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
    size_t cpus = (size_t)CPU_COUNT(&set);
    free(malloc(5000));
    struct snug_stats s0 = get_stats();
    CHECK(pthread_barrier_init(&ab_all, NULL, AB_T) == 0, "barrier");
    pthread_t t[AB_T];
    for (int k = 0; k < AB_T; k++) CHECK(pthread_create(&t[k], NULL, ab_alloc, NULL) == 0, "pthread_create");
    for (int k = 0; k < AB_T; k++) pthread_join(t[k], NULL);
    struct snug_stats s1 = get_stats();
    note("%zu CPUs: regions %zu -> %zu", cpus, s0.regions, s1.regions);
    CHECK(s1.regions > s0.regions, "threads took medium blocks from arenas of their own (%zu regions, %zu before)", s1.regions, s0.regions);
    if (cpus < AB_T)
        CHECK(s1.regions <= s0.regions + cpus, "%d threads on %zu CPUs made no more arenas than CPUs (%zu regions, %zu before)",
              AB_T, cpus, s1.regions, s0.regions);
    CHECK(sd_heap_check() == 0, "heap check");
}
static void check_one_arena(void)
{
    CHECK(mallopt(M_ARENA_MAX, 1) == 1, "mallopt(M_ARENA_MAX, 1)");
    arena_round(1);
}

/* A thread whose new arena cannot map its region (the address space limit leaves no room
 * for the reservation) still gets its block: from arena 0, which has room. */
static void *ar_one(void *arg)
{
    *(void **)arg = malloc(5000);
    return NULL;
}
static void check_arena_without_room_uses_arena0(void)
{
    void *room = malloc(1 << 20);       /* (room in arena 0 for the thread's block, once freed) */
    CHECK(room != NULL, "malloc");
    free(room);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    CHECK(f && fscanf(f, "%lu", &pages) == 1, "statm");
    if (f) fclose(f);
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    lim = old;
    lim.rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + (24u << 20);    /* a thread's stack fits, a 64 MiB region does not */
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit");
    void *p = NULL;
    pthread_t t;
    int rc = pthread_create(&t, NULL, ar_one, &p);
    CHECK(rc == 0, "pthread_create under the limit (%d)", rc);
    if (rc == 0) pthread_join(t, NULL);
    CHECK(p != NULL, "the thread's malloc(5000) succeeded although its arena could not map a region");
    setrlimit(RLIMIT_AS, &old);
    free(p);
    CHECK(sd_heap_check() == 0, "heap check");
}

int main(void)
{
    snugdl_init();
    run_check("brk-shrinks", check_brk_shrinks, 60);
    run_check("brk-shrinks-freed-top-down", check_brk_shrinks_top_down, 60);
    run_check("brk-blocked-mmap-regions", check_brk_blocked, 60);
    run_check("foreign-sbrk-respected", check_foreign_sbrk, 60);
    run_check("heap-walk", check_heap_walk, 60);
    run_check("sparse-classes-no-page-each", check_sparse_classes, 60);
    run_check("holes-before-pages", check_holes, 60);
    run_check("realloc-into-kept-mapping", check_realloc_into_kept_mapping, 60);
    run_check("realloc-out-of-heap-returns-old-pages", check_realloc_out_of_heap_returns_old_pages, 60);
    run_check("parked-medium-blocks", check_parked, 60);
    run_check("busy-class-idle-no-dense-page", check_busy_class_idle, 60);
    run_check("small-burst-kept-page-no-pin", check_small_burst_kept_page, 60);
    run_check("burst-end-releases-kept-pages", check_burst_end_releases_kept, 60);
    run_check("small-burst-threaded-spares-no-pin", check_small_burst_threaded, 60);
    run_check("burst-under-live-block-purged", check_burst_under_live_block_purged, 60);
    run_check("heap-cycling-keeps-its-top", check_heap_cycling_kept, 60);
    run_check("heap-cycling-shuffled-keeps-its-top", check_heap_cycling_shuffled_kept, 60);
    run_check("heap-cycling-growing-keeps-its-top", check_heap_cycling_growing_kept, 60);
    run_check("inside-cycling-not-purged", check_inside_cycling_not_purged, 60);
    run_check("top-partly-cycled-kept", check_top_partly_cycled_kept, 60);
    run_check("large-buffer-cycling-reuses-mappings", check_large_cycling_kept, 60);
    run_check("idle-threaded-process-gives-memory-back", check_idle_threaded_returns, 60);
    run_check("exited-thread-pages-wait-for-next-thread", check_exited_thread_pages_wait, 60);
    run_check("cross-thread-frees-come-back", check_cross_thread_frees_return, 60);
    run_check("join-after-queued-frees-no-hang", check_join_after_queued_frees, 30);
    run_check("fork-child-no-eager-reclaimer", check_fork_child_no_eager_reclaimer, 30);
    run_check("threads-take-medium-blocks-from-own-arenas", check_threads_own_arenas, 60);
    run_check("one-arena-when-asked", check_one_arena, 60);
    run_check("arenas-bounded-by-cpus", check_arenas_bounded_by_cpus, 60);
    run_check("arena-without-room-uses-arena-0", check_arena_without_room_uses_arena0, 60);
    return harness_done();
}
