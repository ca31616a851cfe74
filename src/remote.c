/* remote.c - a thread's frees of another heap's small slots: each marked,
 * then queued on the owner's list alone or in a batch of the frees to that
 * owner.  The owner applies them (heap.c, drain_remote).  Above heap.c (whose
 * parked-heap wait it uses), below the surfaces that free. */
#include "heap.h"
#include "tuning.h"
#include "meter.h"
#include <stdatomic.h>

/* ---- Batched remote frees ----
 * A free of another heap's slot is one atomic operation on the owner's list,
 * on a line every thread freeing to that owner writes.  A thread that frees
 * to the same owner again opens a batch instead: the slots chain through
 * their first words in the thread's own record (tl_rb, one entry per owner,
 * RB_OWNERS of them) and go onto the owner's list in one operation when
 * RB_MAX have gathered, when the entry is wanted for another owner, and when
 * the thread exits, forks, trims or runs out of memory.  A slot in a batch
 * carries the remote mark like a queued one (a second free of it is named at
 * once) and still counts as allocated in its page, which therefore stays.
 *
 * R1: while a batch for heap h is open, h's list does not read empty
 * (remote_empty): h's own free fast path looks at a slot's mark only when the
 * list is not empty, and would otherwise take a slot held in a batch as free.
 * The opener counts itself in h->batches and then, finding the list empty,
 * sets it to remote_held; a drain that empties the list then reads the count
 * and sets it back.  Both sides' count and list operations are sequentially
 * consistent, so at least one of them sees the other's.
 *
 * The cost: an opened batch costs the count up and down and its one push
 * (at RB_MAX slots, 3-4 operations for 32 frees).  A first free to an owner
 * is pushed alone, so frees scattered over many owners cost what they did.
 * What a batch holds is bounded (RB_OWNERS * RB_MAX slots per thread) and
 * waits at most until the thread's next exit, trim or RB_MAX-th free to that
 * owner; a fork child loses other threads' batches (their slots stay
 * allocated there, as glibc's child loses other threads' caches). */
struct rbatch {
    struct heap *owner;         /* last owner freed to from this entry (the batch's, when open) */
    uintptr_t head, tail;       /* the chain: newest first, linked like the owner's list */
    uint32_t n;                 /* slots chained; 0: not open */
};
static __thread struct rbatch tl_rb[RB_OWNERS] __attribute__((tls_model("initial-exec")));
static __thread unsigned tl_rb_next __attribute__((tls_model("initial-exec")));

static void remote_push(struct heap *o, uintptr_t head, uintptr_t tail)
{
    uintptr_t old = atomic_load_explicit(&o->remote, memory_order_relaxed);
    do {
        *(uintptr_t *)tail = old ^ (uintptr_t)snug_secret;
        SNUG_COUNT(SNUG_C_RMW_REMOTE);
    } while (!atomic_compare_exchange_weak_explicit(&o->remote, &old, head, memory_order_release, memory_order_relaxed));
    if (SNUG_UNLIKELY(snug_rload(&o->parked))) heap_parked_wait();
}

static void rb_flush(struct rbatch *b)
{
    struct heap *o = b->owner;
    remote_push(o, b->head, b->tail);
    b->n = 0;
    SNUG_COUNT(SNUG_C_RMW_REMOTE);
    atomic_fetch_sub_explicit(&o->batches, 1, memory_order_release);
}

void heap_remote_flush(void)
{
    for (unsigned k = 0; k < RB_OWNERS; k++)
        if (tl_rb[k].n) rb_flush(&tl_rb[k]);
}

/* Open a batch for o (R1); 0 when o already has as many as its count holds. */
static int rb_open(struct heap *o)
{
    uint16_t c = atomic_load_explicit(&o->batches, memory_order_relaxed);
    do {
        if (c == UINT16_MAX) return 0;
        SNUG_COUNT(SNUG_C_RMW_REMOTE);
    } while (!atomic_compare_exchange_weak_explicit(&o->batches, &c, (uint16_t)(c + 1), memory_order_seq_cst,
                                                    memory_order_relaxed));
    uintptr_t e = remote_empty(o);
    if (atomic_load_explicit(&o->remote, memory_order_seq_cst) == e) {
        SNUG_COUNT(SNUG_C_RMW_REMOTE);
        /* (failing, it found a slot queued, or the drain's held value) */
        atomic_compare_exchange_strong_explicit(&o->remote, &e, remote_held(o), memory_order_relaxed,
                                                memory_order_relaxed);
    }
    return 1;
}

/* Slot p (marked) of o's, into a batch: 1, or 0 when it is to be pushed alone. */
static int rb_add(struct heap *o, uintptr_t p)
{
    struct rbatch *b = NULL;
    for (unsigned k = 0; k < RB_OWNERS; k++)
        if (tl_rb[k].owner == o) { b = &tl_rb[k]; break; }
    if (!b) {                   /* a first free to o: alone, and o remembered */
        b = &tl_rb[tl_rb_next++ % RB_OWNERS];
        if (b->n) rb_flush(b);
        b->owner = o;
        return 0;
    }
    if (!b->n) {
        if (snug_rload(&o->parked) || !rb_open(o)) return 0;
        b->tail = p;
    }
    *(uintptr_t *)p = b->head ^ (uintptr_t)snug_secret;     /* (the tail's link is set at the push) */
    b->head = p;
    if (++b->n == RB_MAX) rb_flush(b);
    return 1;
}

/* (pg: its guards checked by the caller, plain.c's small_free_checked) */
void heap_free_remote(struct spage *pg, void *p)
{
    long i = page_slot(pg, (uintptr_t)p);
    if (i < 0) snug_fatal("free(): invalid pointer", p, 0);
    uint64_t word = snug_load64(&pg->bits[i >> 6]);
    if (!((word >> (i & 63)) & 1) || remote_pending((uintptr_t)p)) snug_fatal("double free of", p, pg->bsize);
    ((uintptr_t *)p)[1] = remote_mark((uintptr_t)p);
    /* Read the page before publishing: once pushed, the owner may drain the
     * block, empty the page and hand its memory to someone else. */
    struct heap *o = pg->owner;
    size_t bsize = pg->bsize;
    /* Batches only for a thread with a heap: its exit empties them. */
    struct heap *me = snug_tl_heap;
    if (!me || !rb_add(o, (uintptr_t)p)) remote_push(o, (uintptr_t)p, (uintptr_t)p);
    if (me) { snug_own_add(&me->freed_bytes, bsize); snug_own_add(&me->freed_count, 1); }
    else meter_heapless_free(bsize);
}
