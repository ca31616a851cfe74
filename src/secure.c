/* secure.c - the secure mode, a layer over the plain allocator: it calls down into
 * plain.c's snug_plain_*, and only the entry points and init.c, above, call it.
 * A block of n bytes is laid out as
 *
 *     [ payload: n bytes | canary: C5 00 C5 C5 ... | trailer: C5 00, n ^ key(p) in 6 bytes ]
 *                        ^ any overflow past n changes a canary or the trailer
 *
 * inside the plain block's usable size; free checks both.  The bytes after the
 * payload are C5 then 00 (from the canary, or the trailer when the canary is
 * shorter than two bytes): a string the program forgot to terminate ends one
 * or two bytes past the block (strlen, printf), and writing its terminator
 * past the end (the classic off-by-one) changes the nonzero byte and is caught.
 * Freed blocks are filled with 0xDF and parked in a quarantine; a random entry
 * leaves it when it is full, after its fill is verified (a write after free is
 * reported), so reuse is late and in random order; at exit every block still
 * in the quarantine is verified.  Small slots are verified again when handed out.
 * Large blocks get PROT_NONE pages on both sides, the payload ending at the upper
 * one.  malloc(0) returns unique addresses in a PROT_NONE reservation. */
#include "secure.h"
#include "tuning.h"
#include "error.h"
#include "lock.h"
#include "options.h"
#include "os.h"
#include "plain.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define CANARY      0xC5
#define FILL        SNUG_FREE_FILL
#define TRAILER     sizeof(uint64_t)
#define ZERO_SPAN   ((size_t)64 << 20)      /* malloc(0) addresses: 4 Mi of them */

struct qentry { void *p; size_t size; };
static snug_lock_t q_lock = SNUG_LOCK_INIT;
static struct qentry q[Q_SLOTS];            /* (static: a record carved from the heap could hold up its top) */
static size_t q_count, q_bytes;
static uint64_t q_rng = 0x2545F4914F6CDD1Dull;

static snug_lock_t z_lock = SNUG_LOCK_INIT;
static uintptr_t z_base, z_next;
static uint64_t *z_live;                    /* one bit per 16-byte address */

static uint64_t key_of(const void *p) { return ((uint64_t)(uintptr_t)p ^ snug_secret) * 0x9E3779B97F4A7C15ull; }

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    uint64_t w = 0x0101010101010101ull * v, acc = 0;
    size_t i = 0;
    for (; i < n && ((uintptr_t)(p + i) & 7); i++) if (p[i] != v) return 0;
    for (; i + 32 <= n; i += 32) {          /* four words per step, one branch */
        const uint64_t *x = (const uint64_t *)(const void *)(p + i);
        acc |= (x[0] ^ w) | (x[1] ^ w) | (x[2] ^ w) | (x[3] ^ w);
        if (acc) return 0;
    }
    for (; i + 8 <= n; i += 8) if (*(const uint64_t *)(const void *)(p + i) != w) return 0;
    for (; i < n; i++) if (p[i] != v) return 0;
    return 1;
}

/* ---- malloc(0): addresses that fault ------------------------------------ */

int secure_owns_zero(const void *p)
{
    return z_base && (uintptr_t)p - z_base < ZERO_SPAN;
}

static void *zero_alloc(void)
{
    void *p = NULL;
    snug_lock(&z_lock);
    if (!z_base) {
        void *r = mmap(NULL, ZERO_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        void *bits = snug_os_reserve(ZERO_SPAN / 16 / 8);
        if (r != MAP_FAILED && bits) { z_base = z_next = (uintptr_t)r; z_live = bits; }
    }
    if (z_base && z_next < z_base + ZERO_SPAN) {
        p = (void *)z_next;
        size_t i = (z_next - z_base) / 16;
        z_live[i / 64] |= (uint64_t)1 << (i % 64);
        z_next += 16;
    }
    snug_unlock(&z_lock);
    return p;
}

static void zero_free(void *p)
{
    size_t i = ((uintptr_t)p - z_base) / 16;
    snug_lock(&z_lock);
    int live = ((uintptr_t)p & 15) == 0 && ((z_live[i / 64] >> (i % 64)) & 1);
    if (live) z_live[i / 64] &= ~((uint64_t)1 << (i % 64));
    snug_unlock(&z_lock);
    if (!live) snug_fatal("double free or invalid pointer (zero-size block)", p, 0);
}

/* ---- trailer and canaries ----------------------------------------------- */

#define SIZE_BITS 48                        /* the trailer's 6 bytes of size */

static void *finish(void *p, size_t n)
{
    size_t u = snug_plain_usable(p, "secure: internal");
    unsigned char *b = p, *t = b + u - TRAILER;
    size_t c = u - TRAILER - n;             /* canary bytes */
    memset(b + n, CANARY, c);
    if (c >= 2) b[n + 1] = 0;
    uint64_t e = (uint64_t)n ^ key_of(p);
    t[0] = CANARY;
    t[1] = 0;
    for (int i = 0; i < 6; i++) t[2 + i] = (unsigned char)(e >> (8 * i));
    return p;
}

/* The request size of p from its trailer; fatal when trailer or canaries moved. */
static size_t checked_size(const void *p, size_t u, const char *op)
{
    const unsigned char *b = p, *t = b + u - TRAILER;
    if (all_bytes(t, TRAILER, FILL)) snug_fatal_freed(op, p, 0);
    uint64_t e = 0;
    for (int i = 0; i < 6; i++) e |= (uint64_t)t[2 + i] << (8 * i);
    uint64_t n = (e ^ key_of(p)) & (((uint64_t)1 << SIZE_BITS) - 1);
    if (t[0] != CANARY || t[1] != 0 || n > u - TRAILER)
        snug_fatal("heap overflow: trailer after block overwritten, block", p, 0);
    size_t c = u - TRAILER - (size_t)n;
    if ((c >= 1 && b[n] != CANARY) || (c >= 2 && b[n + 1] != 0) || (c > 2 && !all_bytes(b + n + 2, c - 2, CANARY)))
        snug_fatal("heap overflow: canary after block overwritten, block", p, (size_t)n);
    return (size_t)n;
}

void *secure_alloc(size_t n, size_t align)
{
    if (n == 0 && align <= 16) {
        void *z = zero_alloc();
        if (z) return z;
    }
    if (n > (size_t)PTRDIFF_MAX - TRAILER - SNUG_OSPAGE || (uint64_t)n >> SIZE_BITS) { errno = ENOMEM; return NULL; }
    void *p = snug_plain_alloc(n + TRAILER, align, 1);
    if (!p) return NULL;
    size_t u = snug_plain_usable(p, "secure: internal");
    /* A small slot has been filled since its page was made or it was freed
     * (its first two words are the free-list link and the remote-free mark). */
    if (snug_plain_is_small(p) && u > 2 * sizeof(void *) &&
        !all_bytes((unsigned char *)p + 2 * sizeof(void *), u - 2 * sizeof(void *), FILL))
        snug_fatal("write after free detected in block", p, u);
    return finish(p, n);
}

size_t secure_usable(const void *p, const char *op)
{
    if (secure_owns_zero(p)) return 0;
    return checked_size(p, snug_plain_usable(p, op), op);
}

/* ---- quarantine ---------------------------------------------------------- */

static void release_now(void *p, size_t u)
{
    if (!all_bytes(p, u, FILL)) snug_fatal("write after free detected in block", p, u);
    snug_plain_free(p);
}

void secure_free(void *p)
{
    if (secure_owns_zero(p)) { zero_free(p); return; }
    size_t u = snug_plain_usable(p, "free(): invalid pointer");
    checked_size(p, u, "free(): invalid pointer");             /* a block in quarantine has FILL for a trailer: double free */
    if (u > Q_MAX_BLOCK) { snug_plain_free(p); return; }     /* unmapped at once: nothing to fill */
    memset(p, FILL, u);
    void *out = NULL;
    size_t out_size = 0;
    snug_lock(&q_lock);
    if (q_count == Q_SLOTS || q_bytes + u > Q_MAX_BYTES) {
        q_rng ^= q_rng << 13; q_rng ^= q_rng >> 7; q_rng ^= q_rng << 17;
        size_t i = (size_t)(q_rng % (q_count ? q_count : 1));
        if (q_count) {
            out = q[i].p;
            out_size = q[i].size;
            q_bytes -= out_size;
            q[i] = q[--q_count];
        }
    }
    q[q_count].p = p;
    q[q_count].size = u;
    q_count++;
    q_bytes += u;
    snug_unlock(&q_lock);
    if (out) release_now(out, out_size);
}

/* At exit: a write after free into a block still in the quarantine (a program
 * that ends before the block leaves it) is reported too.  Runs after the
 * program's own exit handlers; allocates nothing. */
__attribute__((destructor)) static void quarantine_check_at_exit(void)
{
    if (!snug_opt.secure) return;
    snug_lock(&q_lock);
    for (size_t i = 0; i < q_count; i++)
        if (!all_bytes(q[i].p, q[i].size, FILL)) snug_fatal("write after free detected in block", q[i].p, q[i].size);
    snug_unlock(&q_lock);
}

/* Every block leaves the quarantine, its fill verified (malloc_trim, and
 * exhaustion: memory must not be refused while the quarantine holds it).
 * A batch at a time, each released outside the lock. */
void secure_flush(void)
{
    struct qentry out[32];
    for (;;) {
        unsigned k = 0;
        snug_lock(&q_lock);
        while (q_count && k < 32) {
            out[k] = q[--q_count];
            q_bytes -= out[k].size;
            k++;
        }
        snug_unlock(&q_lock);
        if (!k) return;
        while (k) { k--; release_now(out[k].p, out[k].size); }
    }
}

void *secure_realloc(void *p, size_t n)
{
    size_t old = secure_usable(p, "realloc(): invalid pointer");
    void *q2 = secure_alloc(n, SNUG_ALIGN);
    if (!q2) return NULL;
    memcpy(q2, p, old < n ? old : n);
    secure_free(p);
    return q2;
}

void secure_fork_prepare(void) { snug_lock(&q_lock); snug_lock(&z_lock); }
void secure_fork_parent(void) { snug_unlock(&z_lock); snug_unlock(&q_lock); }
void secure_fork_child(void) { snug_lock_reset(&z_lock); snug_lock_reset(&q_lock); }
