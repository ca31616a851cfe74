/* os.h - the bottom layer: memory from the kernel (sbrk, mmap) and the count of
 * bytes snug holds from it. Every byte snug uses passes through here. */
#ifndef SNUG_OS_H
#define SNUG_OS_H
#include <stddef.h>
#include <stdint.h>

/* Anonymous read-write mapping, or NULL (errno set).  Counted as held. */
void *snug_os_map(size_t len);
/* Address space only (MAP_NORESERVE): nothing is counted; the caller counts what it uses. */
void *snug_os_reserve(size_t len);
/* The same, starting at a multiple of align (a power of two, at least an OS page). */
void *snug_os_reserve_aligned(size_t len, size_t align);
/* The same at exactly `at`, never over an existing mapping; NULL when that place is taken. */
void *snug_os_reserve_at(void *at, size_t len);
/* An anonymous read-write mapping at exactly `at`, counted as held; NULL
 * when that place is taken (nothing is ever mapped over; errno kept). */
void *snug_os_map_at(void *at, size_t len);
void  snug_os_unmap(void *p, size_t len, size_t held);
/* mremap with MAYMOVE; NULL on failure.  Accounting follows the length. */
void *snug_os_remap(void *p, size_t old_len, size_t new_len);
/* mremap in place (grow into the free address space after p's one mapping):
 * 0, or -1 with nothing changed (errno kept). */
int   snug_os_extend(void *p, size_t old_len, size_t new_len);
/* Return pages to the kernel but keep the range mapped (MADV_DONTNEED). */
void  snug_os_discard(void *p, size_t len);
/* The program break: current value, and moving it.  snug_os_brk_grow returns
 * the old break or NULL; snug_os_brk_shrink returns 0 on success. */
uintptr_t snug_os_brk_now(void);
void *snug_os_brk_grow(size_t inc);
int   snug_os_brk_shrink(size_t dec);

/* Bytes held from the kernel: adjust, read, high-water. */
void   snug_os_account(intptr_t delta);
size_t snug_os_held(void);
size_t snug_os_peak(void);
void   snug_os_reset_peak(void);

/* Memory that starts waiting to go back to the kernel (a free heap top, free
 * space inside the heap, a kept large mapping): the layers that start such a
 * wait call snug_os_wait_begun (with their lock held; it never allocates).
 * The reclaimer (reclaim.c), once running, sleeps on snug_os_waiting while
 * nothing waits (2) and is woken by the next wait (1); before it runs,
 * snug_os_wait_new tells the surfaces that one could start it. */
extern _Atomic int snug_os_waiting, snug_os_wait_new, snug_os_reclaimer;
void  snug_os_wait_begun(void);
/* snug_os_reclaimer: none yet (started at once once the process has threads),
 * running, or none in the fork child of a process with threads (started only
 * when a wait begins). */
#define SNUG_RECLAIMER_NONE    0
#define SNUG_RECLAIMER_RUNS    1
#define SNUG_RECLAIMER_ON_WAIT 2

/* The CPU the calling thread runs on, as the kernel last wrote it into the
 * thread's rseq area (glibc 2.35+ registers one per thread: a load, no system
 * call); negative where there is none (an older kernel or glibc, valgrind,
 * qemu-user, glibc.pthread.rseq=0).  It may be stale by the time it is used:
 * a hint for spreading work, never for correctness. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && \
    (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__))
#include <sys/rseq.h>
static inline int snug_os_cpu(void)
{
    char *tp;
#if defined(__x86_64__)
    __asm__("mov %%fs:0, %0" : "=r"(tp));
#elif defined(__i386__)
    __asm__("mov %%gs:0, %0" : "=r"(tp));      /* (gcc 12's builtin here broke the -m32 TLS of fit.c) */
#else
    tp = __builtin_thread_pointer();
#endif
    const struct rseq *rs = (const struct rseq *)(tp + __rseq_offset);
    return (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
}
#else
static inline int snug_os_cpu(void) { return -1; }
#endif

/* A coarse monotonic clock in milliseconds (vDSO; no system call, no allocation). */
uint64_t snug_os_now_ms(void);

/* The per-process secret that keys block tags and link encodings; set once at
 * start-up from the kernel's AT_RANDOM bytes, a clock and ASLR. */
extern uint64_t snug_secret;
void   snug_os_init_secret(void);

/* Exhaustion.  When the kernel refuses memory, a request is retried once after
 * snug gives back what it holds for reuse (init.c registers the function that
 * does, since it reaches every layer: a call back up, by pointer).  snug_os_give_back runs it
 * and returns 1 (retry), or 0 when there is nothing to run: none registered,
 * or the calling thread is inside it or holds a lock it takes (between
 * snug_os_give_back_hold(1) and (-1)).  Lower layers call it with no lock held. */
void   snug_os_on_exhausted(void (*give_back)(void));
int    snug_os_give_back(void);
void   snug_os_give_back_hold(int delta);

/* Fault injection for tests: the next `after` requests succeed, then every
 * request for new memory fails with ENOMEM until reset with -1. */
void   snug_os_fail_after(long after);
#endif
