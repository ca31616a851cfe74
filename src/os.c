/* os.c - sbrk and mmap behind one small interface, with exact accounting of the
 * bytes held from the kernel (the H of peak utilization), and the hook the
 * layers above call when the kernel refuses memory. Errno is left as the
 * kernel set it on failure; success paths never change errno. */
#include "config.h"
#include "os.h"
#include "counts.h"
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t snug_secret;

/* Built under AddressSanitizer (the tests' libsnug-asan.a), memory given back
 * to the kernel gives its shadow back too: ASan's shadow of the heap (a byte
 * per 8) becomes resident as the heap is used, and would stay after it (the
 * contract tests' 128 MiB bursts left 16-20 MiB).  The shadow pages wholly
 * inside the range go (zero shadow: addressable, as fresh memory is). */
#if defined(__SANITIZE_ADDRESS__)
#define SNUG_OS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNUG_OS_ASAN 1
#endif
#endif
#ifdef SNUG_OS_ASAN
#include <sanitizer/asan_interface.h>
static void shadow_release(void *p, size_t len)
{
    size_t scale, offset;
    __asan_get_shadow_mapping(&scale, &offset);
    uintptr_t lo = ((uintptr_t)p >> scale) + offset, hi = (((uintptr_t)p + len) >> scale) + offset;
    lo = (lo + SNUG_OSPAGE - 1) & ~(uintptr_t)(SNUG_OSPAGE - 1);
    hi &= ~(uintptr_t)(SNUG_OSPAGE - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
#else
static inline void shadow_release(void *p, size_t len) { (void)p, (void)len; }
#endif

void snug_os_init_secret(void)
{
    uint64_t s = 0;
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    if (r) memcpy(&s, r, sizeof s);                        /* the kernel's random bytes */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
    s ^= (uint64_t)(uintptr_t)&s << 16;                    /* stack address: ASLR entropy */
    snug_secret = s | 1;
}

/* Bytes held from the kernel now and at most (every thread's growth writes them). */
static struct { atomic_size_t held, peak; } SNUG_OWN_LINE os_bytes;
static atomic_long fail_countdown = -1;

static int injected_failure(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n < 0) return 0;
    if (n == 0) { errno = ENOMEM; return 1; }
    atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return 0;
}

static void (*give_back_fn)(void);
static __thread int give_back_held __attribute__((tls_model("initial-exec")));

void snug_os_on_exhausted(void (*give_back)(void)) { give_back_fn = give_back; }
void snug_os_give_back_hold(int delta) { give_back_held += delta; }

int snug_os_give_back(void)
{
    if (!give_back_fn || give_back_held) return 0;
    int saved = errno;
    give_back_held++;
    give_back_fn();
    give_back_held--;
    errno = saved;
    return 1;
}

void snug_os_fail_after(long after) { atomic_store(&fail_countdown, after); }

void snug_os_account(intptr_t delta)
{
    SNUG_COUNT(SNUG_C_RMW_OTHER);
    size_t now = atomic_fetch_add_explicit(&os_bytes.held, (size_t)delta, memory_order_relaxed) + (size_t)delta;
    size_t peak = atomic_load_explicit(&os_bytes.peak, memory_order_relaxed);
    while (delta > 0 && now > peak &&
           (SNUG_COUNT(SNUG_C_RMW_OTHER),
            !atomic_compare_exchange_weak_explicit(&os_bytes.peak, &peak, now, memory_order_relaxed,
                                                   memory_order_relaxed))) {}
}

size_t snug_os_held(void) { return atomic_load_explicit(&os_bytes.held, memory_order_relaxed); }
size_t snug_os_peak(void) { return atomic_load_explicit(&os_bytes.peak, memory_order_relaxed); }
void snug_os_reset_peak(void) { atomic_store(&os_bytes.peak, atomic_load(&os_bytes.held)); }

static void *map_raw(size_t len, int flags)
{
    if (injected_failure()) return NULL;
    int saved = errno;
    SNUG_COUNT(SNUG_C_MMAP);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (p == MAP_FAILED) { errno = ENOMEM; return NULL; }
    errno = saved;
    return p;
}

void *snug_os_map(size_t len)
{
    void *p = map_raw(len, 0);
    if (p) snug_os_account((intptr_t)len);
    return p;
}

void *snug_os_reserve(size_t len) { return map_raw(len, MAP_NORESERVE); }

void *snug_os_reserve_aligned(size_t len, size_t align)
{
    if (len > SIZE_MAX - align) return NULL;
    char *p = map_raw(len + align, MAP_NORESERVE);
    if (!p) return NULL;
    uintptr_t at = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = at - (uintptr_t)p, tail = align - head;
    if (head) snug_os_unmap(p, head, 0);
    if (tail) snug_os_unmap((void *)(at + len), tail, 0);
    return (void *)at;
}

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
static void *map_at(void *at, size_t len, int flags)
{
    if (injected_failure()) return NULL;
    int saved = errno;
    SNUG_COUNT(SNUG_C_MMAP);
    void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | flags, -1, 0);
    if (p == MAP_FAILED) { errno = ENOMEM; return NULL; }
    if (p != at) {                      /* (kernels before 4.17 take the address as a hint) */
        SNUG_COUNT(SNUG_C_MUNMAP);
        munmap(p, len);
        errno = ENOMEM;
        return NULL;
    }
    errno = saved;
    return p;
}

void *snug_os_reserve_at(void *at, size_t len) { return map_at(at, len, MAP_NORESERVE); }

void *snug_os_map_at(void *at, size_t len)
{
    int saved = errno;
    void *p = map_at(at, len, 0);
    if (p) snug_os_account((intptr_t)len);
    else errno = saved;
    return p;
}

void snug_os_unmap(void *p, size_t len, size_t held)
{
    int saved = errno;
    SNUG_COUNT(SNUG_C_MUNMAP);
    munmap(p, len);
    shadow_release(p, len);
    snug_os_account(-(intptr_t)held);
    errno = saved;
}

/* mremap with `flags`, counted as held by the change in length; NULL with
 * errno as it was when the kernel (or, for a growth, the fault injection) refuses. */
static void *remap_raw(void *p, size_t old_len, size_t new_len, int flags)
{
    int saved = errno;
    if (new_len > old_len && injected_failure()) { errno = saved; return NULL; }
    SNUG_COUNT(SNUG_C_MREMAP);
    void *q = mremap(p, old_len, new_len, flags);
    errno = saved;
    if (q == MAP_FAILED) return NULL;
    snug_os_account((intptr_t)new_len - (intptr_t)old_len);
    return q;
}

void *snug_os_remap(void *p, size_t old_len, size_t new_len)
{
    void *q = remap_raw(p, old_len, new_len, MREMAP_MAYMOVE);
    if (!q) errno = ENOMEM;
    return q;
}

int snug_os_extend(void *p, size_t old_len, size_t new_len) { return remap_raw(p, old_len, new_len, 0) ? 0 : -1; }

void snug_os_discard(void *p, size_t len)
{
    int saved = errno;
    SNUG_COUNT(SNUG_C_MADVISE);
    madvise(p, len, MADV_DONTNEED);
    shadow_release(p, len);
    errno = saved;
}

_Atomic int snug_os_waiting, snug_os_wait_new, snug_os_reclaimer;

void snug_os_wait_begun(void)
{
    if (atomic_load_explicit(&snug_os_reclaimer, memory_order_relaxed) != SNUG_RECLAIMER_RUNS) {
        atomic_store_explicit(&snug_os_wait_new, 1, memory_order_relaxed);
        return;
    }
    SNUG_COUNT(SNUG_C_RMW_OTHER);
    if (atomic_exchange_explicit(&snug_os_waiting, 1, memory_order_release) == 2) {
        int saved = errno;
        syscall(SYS_futex, &snug_os_waiting, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        errno = saved;
    }
}

uintptr_t snug_os_brk_now(void) { return (uintptr_t)sbrk(0); }

uint64_t snug_os_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void *snug_os_brk_grow(size_t inc)
{
    if (injected_failure()) return NULL;
    if (inc > (size_t)INTPTR_MAX) { errno = ENOMEM; return NULL; }
    int saved = errno;
    SNUG_COUNT(SNUG_C_BRK);
    void *old = sbrk((intptr_t)inc);
    if (old == (void *)-1) { errno = ENOMEM; return NULL; }
    errno = saved;
    snug_os_account((intptr_t)inc);
    return old;
}

int snug_os_brk_shrink(size_t dec)
{
    int saved = errno;
    /* sbrk returns the old break; success is anything but (void *)-1. */
    SNUG_COUNT(SNUG_C_BRK);
    void *old = sbrk(-(intptr_t)dec);
    if (old == (void *)-1) { errno = saved; return -1; }
    shadow_release((char *)old - dec, dec);
    errno = saved;
    snug_os_account(-(intptr_t)dec);
    return 0;
}

#ifdef SNUG_DEBUG
#include "snug_debug.h"
SNUG_API void snug_debug_fail_after(long after) { snug_os_fail_after(after); }
#endif
