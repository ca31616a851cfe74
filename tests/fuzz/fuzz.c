/* fuzz.c - libFuzzer harness for the snug_* API.  The input is a program: a sequence of
 * operations (malloc, calloc, realloc, reallocarray, aligned_alloc / memalign / posix_memalign /
 * valloc / pvalloc at various alignments, free, free_sized, free_aligned_sized, usable_size,
 * trim, and injected kernel-memory failures) over a table of 64 slots.  A model of every live
 * block is kept and checked:
 *   - contents: each block is filled with its own pattern over its whole usable size and checked
 *     before free and realloc (realloc keeps the first min(old, new) requested bytes), calloc
 *     memory is zero, a failed realloc leaves the block intact;
 *   - alignment (16, or the requested power of two; page for valloc/pvalloc);
 *   - usable_size >= request, and stable while the block lives;
 *   - no two live blocks overlap (over their usable sizes);
 *   - NULL only with errno ENOMEM, and only while failures are injected or for sizes that overflow;
 *   - snug_heap_check() == 0 after every operation; at the end of the input every block is freed
 *     and live_blocks is back to where it was.
 * Any violation prints "fuzz: ..." and aborts, which libFuzzer records as a crash.
 * Built by tests/fuzz/fuzz.mk against a fuzz variant of the library (clang, ASan + UBSan,
 * coverage of the library itself), see there. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snug.h"
#include "snug_debug.h"

#define NSLOT 64
#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define LIVE_CAP (96 * MiB)       /* requests that would exceed this are skipped */
#define FULL_CHECK (64 * KiB)     /* blocks up to this are filled and checked byte by byte */

struct slot {
    unsigned char *p;
    size_t req, usable, align;
    size_t sized;           /* what free_sized is given: the request, pvalloc's rounded to a page */
    uint32_t seed;
};
static struct slot slots[NSLOT];
static size_t live_total;
static int failing;               /* kernel-memory failures are being injected */
static size_t step_no;
static size_t base_blocks;

__attribute__((format(printf, 1, 2), noreturn)) static void bug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: step %zu: ", step_no);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* ---- input ---------------------------------------------------------------------------------- */
static const uint8_t *in;
static size_t in_len, in_at;
static unsigned get8(void) { return in_at < in_len ? in[in_at++] : 0; }
static unsigned get16(void) { unsigned a = get8(); return a | get8() << 8; }

static size_t get_size(void)
{
    unsigned k = get8();
    switch (k & 7) {
    case 0: case 1: case 2: return get8() % 257;                 /* tiny */
    case 3: return get16() % 1025;                               /* small classes */
    case 4: return 900 + get16() % 8000;                         /* around the small/medium line */
    case 5: return (size_t)get16() * 4;                          /* medium, up to 256 KiB */
    case 6: return 200 * KiB + (size_t)get16() * 2;              /* around the mmap threshold */
    default: return (1 + (k >> 3) % 6) * MiB + get16();          /* large */
    }
}
static size_t get_align(void)
{
    unsigned a = get8() % 24;
    return a < 20 ? (size_t)1 << a : (size_t)1 << (4 + a % 4);   /* 1 .. 512 KiB, small ones twice */
}

/* ---- the model ------------------------------------------------------------------------------ */
static unsigned char pat(uint32_t seed, size_t i) { return (unsigned char)(seed + i * 131u + (i >> 8) * 7u); }

static void fill(struct slot *s)
{
    size_t n = s->usable;
    if (n <= FULL_CHECK) {
        for (size_t i = 0; i < n; i++) s->p[i] = pat(s->seed, i);
        return;
    }
    for (size_t i = 0; i < 4096; i++) s->p[i] = pat(s->seed, i);
    for (size_t i = 4096; i < n - 4096; i += 4096) s->p[i] = pat(s->seed, i);
    for (size_t i = n - 4096; i < n; i++) s->p[i] = pat(s->seed, i);
}

/* The first n bytes hold the pattern of `seed` (sparsely for big blocks). */
static void check_pattern(const unsigned char *p, size_t n, size_t usable, uint32_t seed, const char *what, int slot)
{
    if (usable <= FULL_CHECK) {
        for (size_t i = 0; i < n; i++)
            if (p[i] != pat(seed, i)) bug("%s: slot %d block %p byte %zu of %zu is %#x, want %#x", what, slot, (void *)p, i, n, p[i], pat(seed, i));
        return;
    }
    for (size_t i = 0; i < n; i += (i < 4096 || i >= usable - 4096) ? 1 : 4096 - (i & 4095))
        if (p[i] != pat(seed, i)) bug("%s: slot %d block %p byte %zu of %zu is %#x, want %#x", what, slot, (void *)p, i, n, p[i], pat(seed, i));
}
static void check_slot(int i, const char *what)
{
    struct slot *s = &slots[i];
    if (s->p) check_pattern(s->p, s->usable, s->usable, s->seed, what, i);
}

static void check_new(int i, void *p, size_t req, size_t align, const char *what)
{
    uintptr_t a = (uintptr_t)p;
    size_t want = align < 16 ? 16 : align;
    if (a & (want - 1)) bug("%s(%zu) = %p not aligned to %zu", what, req, p, want);
    size_t us = snug_usable_size(p);
    if (us < req) bug("%s(%zu) = %p: usable size %zu < request", what, req, p, us);
    for (int j = 0; j < NSLOT; j++) {
        if (j == i || !slots[j].p) continue;
        uintptr_t b = (uintptr_t)slots[j].p;
        if (a < b + slots[j].usable && b < a + us)
            bug("%s(%zu) = %p (usable %zu) overlaps live slot %d %p (usable %zu)", what, req, p, us, j,
                (void *)slots[j].p, slots[j].usable);
    }
}

static void set_slot(int i, void *p, size_t req, size_t align)
{
    struct slot *s = &slots[i];
    s->p = p;
    s->req = req;
    s->sized = req;
    s->align = align;
    s->usable = snug_usable_size(p);
    s->seed = (uint32_t)(step_no * 2654435761u);
    live_total += s->usable;
    fill(s);
}

static void drop(int i)
{
    live_total -= slots[i].usable;
    slots[i].p = NULL;
}

static void release(int i, unsigned how)
{
    struct slot *s = &slots[i];
    if (!s->p) return;
    check_slot(i, "before free");
    switch (how % 3) {
    case 0: snug_free(s->p); break;
    case 1: snug_free_sized(s->p, s->sized); break;
    default: snug_free_aligned_sized(s->p, s->align, s->sized); break;
    }
    drop(i);
}

/* NULL from an allocation: only with ENOMEM, and only while failures are injected. */
static void null_ok(const char *what, size_t n)
{
    if (errno != ENOMEM) bug("%s(%zu) returned NULL with errno %d, want ENOMEM", what, n, errno);
    if (!failing) bug("%s(%zu) returned NULL (ENOMEM) without injected failures", what, n);
}

static int room(size_t n) { return n <= LIVE_CAP && live_total + n <= LIVE_CAP; }

/* ---- operations ----------------------------------------------------------------------------- */
static void op_alloc(int i, unsigned kind)
{
    size_t n = get_size(), align = 16;
    if (!room(n)) return;
    release(i, get8());
    void *p = NULL;
    const char *what = "malloc";
    errno = 0;
    switch (kind) {
    case 0: p = snug_malloc(n); break;
    case 1: {
        size_t k = 1 + get8() % 16;
        n = n / k * k;
        what = "calloc";
        p = snug_calloc(k, n / k);
        if (p)
            for (size_t j = 0; j < n; j += n > FULL_CHECK && j >= 4096 ? 4093 : 1)
                if (((unsigned char *)p)[j]) bug("calloc(%zu, %zu) = %p: byte %zu is %#x", k, n / k, p, j, ((unsigned char *)p)[j]);
        break;
    }
    case 2: align = get_align(); what = "aligned_alloc"; p = snug_aligned_alloc(align, n); break;
    case 3: align = get_align(); what = "memalign"; p = snug_memalign(align, n); break;
    case 4: {
        align = get_align();
        if (align < sizeof(void *)) align = sizeof(void *);
        what = "posix_memalign";
        int r = snug_posix_memalign(&p, align, n);
        if (r != 0) { p = NULL; errno = r; }
        break;
    }
    case 5: align = 4096; what = "valloc"; p = snug_valloc(n); break;
    default: {
        align = 4096;
        what = "pvalloc";
        p = snug_pvalloc(n);
        size_t round = n ? (n + 4095) / 4096 * 4096 : 4096;
        if (p && snug_usable_size(p) < round) bug("pvalloc(%zu) = %p: usable %zu < %zu", n, p, snug_usable_size(p), round);
        break;
    }
    }
    if (!p) { null_ok(what, n); return; }
    check_new(i, p, n, align, what);
    set_slot(i, p, n, align);
    if (kind > 5) slots[i].sized = n ? (n + 4095) / 4096 * 4096 : 4096;   /* pvalloc allocates whole pages */
}

static void op_realloc(int i, int array)
{
    struct slot *s = &slots[i];
    size_t n = get_size();
    if (!room(n)) return;
    size_t k = 1;
    int overflow = 0;
    if (array) {
        k = 1 + get8() % 8;
        if (get8() % 8 == 0) { overflow = 1; k = SIZE_MAX / 2 + 1 + get8(); n = 2 + get8() % 16; }
        else n = n / k;
    }
    check_slot(i, "before realloc");
    errno = 0;
    void *q = array ? snug_reallocarray(s->p, k, n) : snug_realloc(s->p, n);
    size_t total = overflow ? SIZE_MAX : k * n;
    if (overflow) {
        if (q || errno != ENOMEM) bug("reallocarray(%p, %zu, %zu) = %p errno %d, want NULL + ENOMEM", (void *)s->p, k, n, q, errno);
        check_slot(i, "after failed reallocarray");
        return;
    }
    if (!q) {
        if (s->p && total == 0) { drop(i); return; }           /* realloc(p, 0) frees */
        null_ok(array ? "reallocarray" : "realloc", total);
        check_slot(i, "after failed realloc");
        return;
    }
    if (s->p) {
        size_t keep = s->req < total ? s->req : total;
        check_pattern(q, keep, s->usable, s->seed, "realloc keeps contents", i);
        live_total -= s->usable;
        s->p = NULL;
    }
    check_new(i, q, total, 16, array ? "reallocarray" : "realloc");
    set_slot(i, q, total, 16);
}

static void op_usable(int i)
{
    struct slot *s = &slots[i];
    if (!s->p) {
        if (snug_usable_size(NULL) != 0) bug("usable_size(NULL) != 0");
        return;
    }
    size_t us = snug_usable_size(s->p);
    if (us != s->usable) bug("usable_size(%p) changed from %zu to %zu", (void *)s->p, s->usable, us);
    check_slot(i, "usable_size");
}

static void op_special(void)
{
    unsigned k = get8();
    switch (k % 6) {
    case 0: snug_trim((size_t)get16() * 64); break;
    case 1: case 2:
        snug_debug_fail_after((long)(get8() % 6));
        failing = 1;
        break;
    case 3: snug_debug_fail_after(-1); failing = 0; break;
    case 4: {
        struct snug_stats st;
        if (snug_stats(&st) != 0) bug("snug_stats failed");
        if (st.heap_bytes < st.live_bytes) bug("heap_bytes %zu < live_bytes %zu", st.heap_bytes, st.live_bytes);
        break;
    }
    default:
        for (int i = 0; i < NSLOT; i++) check_slot(i, "full check");
        break;
    }
}

static void finish_input(void)
{
    snug_debug_fail_after(-1);
    failing = 0;
    for (int i = 0; i < NSLOT; i++) release(i, (unsigned)i);
    if (snug_heap_check() != 0) bug("snug_heap_check failed after freeing everything");
    struct snug_stats st;
    snug_stats(&st);
    if (st.live_blocks != base_blocks) bug("live_blocks %zu after freeing everything, %zu at start", st.live_blocks, base_blocks);
    if (live_total != 0) bug("model: live_total %zu", live_total);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    void *p = snug_malloc(1);     /* set snug up outside the first input */
    snug_free(p);
    struct snug_stats st;
    snug_stats(&st);
    base_blocks = st.live_blocks;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    in = data;
    in_len = size;
    in_at = 0;
    step_no = 0;
    while (in_at < in_len) {
        unsigned op = get8();
        int i = (int)(get8() % NSLOT);
        step_no++;
        switch (op % 16) {
        case 0: case 1: case 2: op_alloc(i, 0); break;
        case 3: op_alloc(i, 1); break;
        case 4: op_alloc(i, 2); break;
        case 5: op_alloc(i, 3 + (op >> 4) % 4); break;
        case 6: case 7: case 8: op_realloc(i, 0); break;
        case 9: op_realloc(i, 1); break;
        case 10: case 11: case 12: release(i, op >> 4); break;
        case 13: op_usable(i); break;
        default: op_special(); break;
        }
        if (snug_heap_check() != 0) bug("snug_heap_check failed after operation %u on slot %d", op % 16, i);
    }
    finish_input();
    return 0;
}
