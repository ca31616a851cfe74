/* exhaust.c - address-space exhaustion: each check runs in a child with RLIMIT_AS (or
 * RLIMIT_DATA) set to its current size + 256 MiB and allocates (small, medium, large, mixed
 * sizes) until NULL: errno must be ENOMEM, earlier blocks intact, snug_heap_check() == 0, and
 * allocation works again after frees; once everything is freed, 1 MiB and 64 MiB requests
 * succeed (also with two threads at once, and with brk blocked), and malloc_trim gives the
 * address space back.  tests/run.sh runs it in the default mode and with SNUG_OPTIONS=secure. */
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "harness.h"

#define MiB ((size_t)1 << 20)
#define HEADROOM (256 * MiB)
#define MAXBLOCKS ((size_t)8 << 20)

static void **blk;   /* block pointers; mapped before the limit is set */
static size_t *bsz;  /* their sizes */

static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (!f || fscanf(f, "%lu", &size) != 1) FAILF("cannot read /proc/self/statm");
    fclose(f);
    return size * (size_t)sysconf(_SC_PAGESIZE);
}

/* VmData of /proc/self/status: what RLIMIT_DATA counts (brk and private writable mappings). */
static size_t vm_data(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kb = 0;
    int found = 0;
    if (!f) FAILF("cannot read /proc/self/status");
    while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "VmData: %lu kB", &kb) == 1;
    fclose(f);
    if (!found) FAILF("no VmData in /proc/self/status");
    return (size_t)kb << 10;
}

/* What the limit of `res` counts now, plus `headroom`. */
static void set_limit(int res, size_t headroom)
{
    size_t now = res == RLIMIT_DATA ? vm_data() : vm_size();
    note("limit: %s %zu MiB + %zu MiB", res == RLIMIT_DATA ? "VmData" : "VmSize", now / MiB, headroom / MiB);
    fflush(stdout);
    struct rlimit rl = { now + headroom, now + headroom };
    CHECK(setrlimit(res, &rl) == 0, "setrlimit: %s", strerror(errno));
}

static void setup_limit(void)
{
    blk = mmap(NULL, MAXBLOCKS * sizeof *blk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bsz = mmap(NULL, MAXBLOCKS * sizeof *bsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(blk != MAP_FAILED && bsz != MAP_FAILED, "mmap of the bookkeeping arrays");
    /* let snug set itself up before measuring */
    void *w = malloc(100), *w2 = malloc(50000), *w3 = malloc(4 * MiB);
    CHECK(w && w2 && w3, "warm-up malloc");
    free(w); free(w2); free(w3);
    note("limit: VmSize %zu MiB + %zu MiB", vm_size() / MiB, HEADROOM / MiB);
    fflush(stdout);
    size_t lim = vm_size() + HEADROOM;
    struct rlimit rl = { lim, lim };
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS): %s", strerror(errno));
}

/* Pattern: full for blocks up to 64 KiB, every 512th byte plus both ends above. */
static unsigned char xp(size_t i, size_t k) { return (unsigned char)(i * 13 + k * 7 + 1); }
static void mark(size_t i)
{
    unsigned char *c = blk[i];
    size_t n = bsz[i];
    if (n <= 65536) { for (size_t k = 0; k < n; k++) c[k] = xp(i, k); return; }
    for (size_t k = 0; k < n; k += 512) c[k] = xp(i, k);
    c[n - 1] = xp(i, n - 1);
}
static void verify(size_t i, const char *when)
{
    const unsigned char *c = blk[i];
    size_t n = bsz[i];
    size_t step = n <= 65536 ? 1 : 512;
    for (size_t k = 0; k < n; k += step)
        if (c[k] != xp(i, k)) FAILF("%s: block %zu (%zu bytes) corrupted at byte %zu", when, i, n, k);
    if (n && c[n - 1] != xp(i, n - 1)) FAILF("%s: block %zu (%zu bytes) last byte corrupted", when, i, n);
}

typedef size_t (*size_fn)(size_t i, uint64_t *r);

/* Allocates until NULL; returns the count. */
static size_t fill_until_null(size_fn sz, uint64_t *r)
{
    size_t n = 0;
    for (;;) {
        CHECK(n < MAXBLOCKS, "%zu blocks allocated under a 256 MiB headroom and no NULL yet", n);
        size_t s = sz(n, r);
        errno = 0;
        void *p = malloc(s);
        if (!p) {
            CHECK(errno == ENOMEM, "malloc(%zu) returned NULL with errno %d (%s), want ENOMEM", s, errno,
                  strerror(errno));
            note("NULL after %zu blocks (malloc(%zu))", n, s);
            return n;
        }
        blk[n] = p;
        bsz[n] = s;
        mark(n);
        n++;
    }
}

static void exhaust(size_fn sz)
{
    uint64_t r = 0x5eed;
    setup_limit();
    size_t n = fill_until_null(sz, &r);
    CHECK(n > 0, "not a single allocation succeeded");
    /* other requests fail cleanly too while memory is exhausted */
    errno = 0;
    void *q = malloc(64 * MiB);
    CHECK(q == NULL && errno == ENOMEM, "malloc(64 MiB) at exhaustion: %p errno %d", q, errno);
    errno = 0;
    q = calloc(1, 64 * MiB);
    CHECK(q == NULL && errno == ENOMEM, "calloc(1, 64 MiB) at exhaustion: %p errno %d", q, errno);
    errno = 0;
    q = realloc(blk[0], bsz[0] + 64 * MiB);
    CHECK(q == NULL && errno == ENOMEM, "realloc(+64 MiB) at exhaustion: %p errno %d", q, errno);
    for (size_t i = 0; i < n; i++) verify(i, "after exhaustion");
    CHECK(sd_heap_check() == 0, "snug_heap_check at exhaustion");
    /* free every other block; allocation of the same sizes works again */
    for (size_t i = 0; i < n; i += 2) free(blk[i]);
    size_t again = 0;
    for (size_t i = 0; i < n; i += 2) {
        errno = 0;
        void *p = malloc(bsz[i]);
        if (!p) {
            CHECK(errno == ENOMEM, "errno %d", errno);
            break;
        }
        blk[i] = p;
        mark(i);
        again++;
    }
    note("freed %zu blocks, re-allocated %zu of them", (n + 1) / 2, again);
    CHECK(again >= 1, "nothing can be allocated after freeing half of %zu blocks", n);
    CHECK(again * 4 >= (n + 1) / 2, "only %zu of %zu freed blocks could be re-allocated at the same sizes",
          again, (n + 1) / 2);
    for (size_t i = 0; i < n; i++)
        if (i % 2 == 1 || i / 2 < again) verify(i, "after re-allocation");
    CHECK(sd_heap_check() == 0, "snug_heap_check after re-allocation");
    for (size_t i = 0; i < n; i++)
        if (i % 2 == 1 || i / 2 < again) free(blk[i]);
    CHECK(sd_heap_check() == 0, "snug_heap_check after freeing everything");
    void *p = malloc(1000);
    CHECK(p != NULL, "malloc(1000) after freeing everything");
    free(p);
}

static size_t sz_small(size_t i, uint64_t *r) { (void)r; return 16 + (i % 8) * 8; }
static size_t sz_small_var(size_t i, uint64_t *r) { (void)i; return 1 + xrnd(r) % 1024; }
static size_t sz_medium(size_t i, uint64_t *r) { (void)r; return 20000 + (i % 4) * 1000; }
static size_t sz_medium_var(size_t i, uint64_t *r) { (void)i; return 2000 + xrnd(r) % 120000; }
static size_t sz_large(size_t i, uint64_t *r) { (void)r; return 3 * MiB + (i % 3) * 4096; }
static size_t sz_mixed(size_t i, uint64_t *r)
{
    (void)i;
    uint64_t x = xrnd(r);
    if (x % 50 == 0) return MiB + xrnd(r) % (4 * MiB);
    if (x % 5 == 0) return 1000 + xrnd(r) % 100000;
    return 1 + xrnd(r) % 700;
}

static void check_small(void) { exhaust(sz_small); }
static void check_small_var(void) { exhaust(sz_small_var); }
static void check_medium(void) { exhaust(sz_medium); }
static void check_medium_var(void) { exhaust(sz_medium_var); }
static void check_large(void) { exhaust(sz_large); }
static void check_mixed(void) { exhaust(sz_mixed); }

/* Memory freed from one size class is usable by another (after snug_trim). */
static void check_other_class_after_free(void)
{
    uint64_t r = 1;
    setup_limit();
    size_t n = fill_until_null(sz_small, &r);
    for (size_t i = 0; i < n; i++) free(blk[i]);
    sd_trim(0);
    size_t total = 0, m = 0;
    while (total < 160 * MiB) {
        errno = 0;
        void *p = malloc(100000);
        if (!p) break;
        memset(p, 1, 100000);
        blk[m++] = p;
        total += 100000;
    }
    CHECK(total >= 160 * MiB, "after freeing %zu small blocks (all of a 256 MiB headroom) and snug_trim, "
          "only %zu MiB of 100000-byte blocks could be allocated (errno %d)", n, total / MiB, errno);
    for (size_t i = 0; i < m; i++) free(blk[i]);
    total = 0;
    m = 0;
    while (total < 160 * MiB) {
        void *p = malloc(4 * MiB);
        if (!p) break;
        blk[m++] = p;
        total += 4 * MiB;
    }
    CHECK(total >= 160 * MiB, "after freeing the medium blocks, only %zu MiB of 4 MiB blocks", total / MiB);
    for (size_t i = 0; i < m; i++) free(blk[i]);
    CHECK(sd_heap_check() == 0, "snug_heap_check");
}

/* ---- recovery: memory freed after exhaustion serves what comes next (issue 17) ----
 * A program fills the heap until malloc returns NULL, makes a few small requests in that
 * state (as stdio does; half of them stay allocated, as a stdio buffer would), frees
 * everything else, then asks for 1 MiB and 64 MiB: snug must find them in what it holds,
 * or give that back to the kernel and map them, as glibc does. */
#define FEW 8
#define REC_THREADS 2
struct rec_arg { size_t base, cap; size_fn sz; uint64_t seed; };
static pthread_barrier_t rec_start, rec_freed;
static int rec_nthreads;

static void *recover_one(void *v)
{
    struct rec_arg *a = v;
    uint64_t r = a->seed;
    if (rec_nthreads > 1) pthread_barrier_wait(&rec_start);     /* the limit is set */
    size_t n = 0;
    for (;; n++) {
        CHECK(n < a->cap, "%zu blocks allocated under a 256 MiB headroom and no NULL yet", n);
        size_t i = a->base + n, sz = a->sz(n, &r);
        errno = 0;
        void *p = malloc(sz);
        if (!p) {
            CHECK(errno == ENOMEM, "malloc(%zu) returned NULL with errno %d, want ENOMEM", sz, errno);
            break;
        }
        blk[i] = p;
        bsz[i] = sz;
        mark(i);
    }
    CHECK(n > 0, "not a single allocation succeeded");
    void *few[FEW];
    for (int k = 0; k < FEW; k++) {
        few[k] = malloc(16 + 100 * (size_t)k);
        if (few[k]) memset(few[k], 0x5a, 16 + 100 * (size_t)k);
    }
    for (size_t i = 0; i < n; i++) verify(a->base + i, "at exhaustion");
    for (size_t i = 0; i < n; i++) free(blk[a->base + i]);
    for (int k = 0; k < FEW; k += 2) free(few[k]);
    if (rec_nthreads > 1) pthread_barrier_wait(&rec_freed);     /* every thread has freed its blocks */
    errno = 0;
    char *m1 = malloc(MiB);
    int e1 = errno;
    errno = 0;
    char *m64 = malloc(64 * MiB);
    CHECK(m1 && m64, "all %zu blocks of the fill freed: malloc(1 MiB) %s (errno %d), malloc(64 MiB) %s (errno %d)",
          n, m1 ? "served" : "NULL", e1, m64 ? "served" : "NULL", errno);
    memset(m1, 1, MiB);
    for (size_t k = 0; k < 64 * MiB; k += 4096) m64[k] = 1;
    m64[64 * MiB - 1] = 1;
    void *s1 = malloc(1000), *s2 = malloc(65536), *s3 = calloc(1, 300000);
    CHECK(s1 && s2 && s3, "malloc(1000) %p, malloc(65536) %p, calloc(1, 300000) %p after recovery", s1, s2, s3);
    free(s1); free(s2); free(s3);
    free(m1); free(m64);
    for (int k = 1; k < FEW; k += 2) {
        if (!few[k]) continue;
        for (size_t j = 0; j < 16 + 100 * (size_t)k; j++)
            if (((unsigned char *)few[k])[j] != 0x5a) FAILF("small block %d made while full corrupted", k);
        free(few[k]);
    }
    note("thread %zu: %zu blocks until NULL", a->base / a->cap, n);
    return NULL;
}

static void recover(int res, size_fn sz, int nthreads)
{
    pthread_t t[REC_THREADS];
    struct rec_arg a[REC_THREADS];
    rec_nthreads = nthreads;
    CHECK(pthread_barrier_init(&rec_start, NULL, (unsigned)nthreads + 1) == 0 &&
          pthread_barrier_init(&rec_freed, NULL, (unsigned)nthreads) == 0, "barriers");
    blk = mmap(NULL, MAXBLOCKS * sizeof *blk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bsz = mmap(NULL, MAXBLOCKS * sizeof *bsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(blk != MAP_FAILED && bsz != MAP_FAILED, "mmap of the bookkeeping arrays");
    void *w = malloc(100), *w2 = malloc(50000), *w3 = malloc(4 * MiB);
    CHECK(w && w2 && w3, "warm-up malloc");
    free(w); free(w2); free(w3);
    for (int k = 0; k < nthreads; k++) {
        a[k] = (struct rec_arg){ (size_t)k * (MAXBLOCKS / REC_THREADS), MAXBLOCKS / REC_THREADS, sz, 0x5eed + (uint64_t)k };
        if (nthreads > 1) CHECK(pthread_create(&t[k], NULL, recover_one, &a[k]) == 0, "pthread_create");
    }
    set_limit(res, HEADROOM);
    if (nthreads == 1) {
        recover_one(&a[0]);
    } else {
        pthread_barrier_wait(&rec_start);
        for (int k = 0; k < nthreads; k++) pthread_join(t[k], NULL);
    }
    CHECK(sd_heap_check() == 0, "snug_heap_check after recovery");
}

static size_t sz_issue(size_t i, uint64_t *r) { (void)r; return i % 2 ? 65536 : 1000; }
static size_t sz_large_medium(size_t i, uint64_t *r) { (void)r; return i % 2 ? 65536 : 300000; }

#define RECOVER(name, res, sz, nthreads) \
    static void check_##name(void) { recover(res, sz, nthreads); }
RECOVER(as_1000_64k, RLIMIT_AS, sz_issue, 1)
RECOVER(as_small, RLIMIT_AS, sz_small_var, 1)
RECOVER(as_medium, RLIMIT_AS, sz_medium_var, 1)
RECOVER(as_large, RLIMIT_AS, sz_large_medium, 1)
RECOVER(data_1000_64k, RLIMIT_DATA, sz_issue, 1)
RECOVER(data_small, RLIMIT_DATA, sz_small_var, 1)
RECOVER(data_medium, RLIMIT_DATA, sz_medium_var, 1)
RECOVER(data_large, RLIMIT_DATA, sz_large_medium, 1)
RECOVER(as_1000_64k_2t, RLIMIT_AS, sz_issue, 2)
RECOVER(as_small_2t, RLIMIT_AS, sz_small_var, 2)
RECOVER(as_large_2t, RLIMIT_AS, sz_large_medium, 2)
RECOVER(data_1000_64k_2t, RLIMIT_DATA, sz_issue, 2)
RECOVER(data_large_2t, RLIMIT_DATA, sz_large_medium, 2)

/* brk blocked by a mapping: the heap goes on in 64 MiB mmap'd regions, whose reserved
 * address space counts against RLIMIT_AS; once they are free they must give it back. */
static void check_as_brk_blocked(void)
{
    free(malloc(100));
    uintptr_t at = ((uintptr_t)sbrk(0) + 4095) & ~(uintptr_t)4095;
    void *wall = mmap((void *)at, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(wall == (void *)at, "mmap a page at the break");
    recover(RLIMIT_AS, sz_issue, 1);
    struct snug_stats st = get_stats();
    note("%zu regions, %zu MiB held", st.regions, st.heap_bytes / MiB);
    CHECK(st.regions >= 2, "the heap went on in mmap'd regions (regions = %zu)", st.regions);
}

/* Mass frees of medium blocks, then malloc_trim(0): the address space goes back (also in
 * secure mode, whose quarantine holds the last blocks freed, at the heap's top); and without
 * malloc_trim, a request the limit would refuse gets it back first. */
#define TRIM_BLOCKS 100000
#define TRIM_SIZE 3000
static size_t fill_3000(void)
{
    blk = mmap(NULL, TRIM_BLOCKS * sizeof *blk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(blk != MAP_FAILED, "mmap of the bookkeeping array");
    size_t before = vm_size();
    for (size_t i = 0; i < TRIM_BLOCKS; i++) {
        blk[i] = malloc(TRIM_SIZE);
        CHECK(blk[i] != NULL, "malloc(%d) number %zu", TRIM_SIZE, i);
        memset(blk[i], 1, 64);
    }
    size_t full = vm_size();
    for (size_t i = 0; i < TRIM_BLOCKS; i++) free(blk[i]);
    note("VmSize %zu MiB, full %zu MiB, freed %zu MiB", before / MiB, full / MiB, vm_size() / MiB);
    return before;
}

static void check_trim_gives_address_space_back(void)
{
    size_t before = fill_3000();
    malloc_trim(0);
    size_t after = vm_size();
    note("after malloc_trim(0): VmSize %zu MiB", after / MiB);
    CHECK(after < before + 16 * MiB, "%d blocks of %d bytes freed and malloc_trim(0): VmSize %zu MiB, %zu MiB before",
          TRIM_BLOCKS, TRIM_SIZE, after / MiB, before / MiB);
    set_limit(RLIMIT_AS, 200 * MiB);
    void *p = malloc(128 * MiB);
    CHECK(p != NULL, "malloc(128 MiB) under VmSize + 200 MiB after malloc_trim: errno %d", errno);
    free(p);
}

static void check_request_reclaims_without_trim(void)
{
    size_t before = fill_3000();
    struct rlimit rl = { before + 200 * MiB, before + 200 * MiB };
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit: %s", strerror(errno));
    errno = 0;
    void *p = malloc(128 * MiB);
    CHECK(p != NULL, "malloc(128 MiB) under the VmSize before the fill + 200 MiB, all freed, no malloc_trim: errno %d",
          errno);
    free(p);
    void *q = malloc(1000), *q2 = malloc(100000);
    CHECK(q && q2, "small and medium requests after that");
    free(q); free(q2);
    CHECK(sd_heap_check() == 0, "snug_heap_check");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    snugdl_init();
    run_check("small-16..72", check_small, 120);
    run_check("small-random-1..1024", check_small_var, 120);
    run_check("medium-20000", check_medium, 120);
    run_check("medium-random-2000..122000", check_medium_var, 120);
    run_check("large-3MiB", check_large, 120);
    run_check("mixed", check_mixed, 120);
    run_check("other-size-class-after-free", check_other_class_after_free, 120);
    run_check("recover/as/1000-and-64KiB", check_as_1000_64k, 120);
    run_check("recover/as/small-random", check_as_small, 120);
    run_check("recover/as/medium-random", check_as_medium, 120);
    run_check("recover/as/300KiB-and-64KiB", check_as_large, 120);
    run_check("recover/data/1000-and-64KiB", check_data_1000_64k, 120);
    run_check("recover/data/small-random", check_data_small, 120);
    run_check("recover/data/medium-random", check_data_medium, 120);
    run_check("recover/data/300KiB-and-64KiB", check_data_large, 120);
    run_check("recover/as/1000-and-64KiB/2-threads", check_as_1000_64k_2t, 120);
    run_check("recover/as/small-random/2-threads", check_as_small_2t, 120);
    run_check("recover/as/300KiB-and-64KiB/2-threads", check_as_large_2t, 120);
    run_check("recover/data/1000-and-64KiB/2-threads", check_data_1000_64k_2t, 120);
    run_check("recover/data/300KiB-and-64KiB/2-threads", check_data_large_2t, 120);
    run_check("recover/as/brk-blocked-mmap-regions", check_as_brk_blocked, 120);
    run_check("trim-gives-address-space-back", check_trim_gives_address_space_back, 120);
    run_check("request-reclaims-without-trim", check_request_reclaims_without_trim, 120);
    return harness_done();
}
