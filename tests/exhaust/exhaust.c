/* exhaust.c - address-space exhaustion: each check runs in a child with RLIMIT_AS set to its
 * current size + 256 MiB and allocates (small, medium, large, mixed sizes) until NULL: errno must
 * be ENOMEM, earlier blocks intact, snug_heap_check() == 0, and allocation works again after frees. */
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
    return harness_done();
}
