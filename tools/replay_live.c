/* replay_live.c - the live-block set of snug-replay (replay_live.h): a treap by address
 * over block ids, with priorities hashed from (id, op) so that a replay is repeatable.
 * It only orders and finds; the caller reports an overlap. */
#include "replay.h"

#include <string.h>

void live_init(struct live *l, size_t n, unsigned char *const *ptr, const size_t *span)
{
    l->ptr = ptr;
    l->span = span;
    l->left = xcalloc(n, sizeof *l->left);
    l->right = xcalloc(n, sizeof *l->right);
    l->prio = xcalloc(n, sizeof *l->prio);
    l->in = xcalloc(n, 1);
    l->root = NIL;
    memset(l->left, 0xff, n * sizeof *l->left);
    memset(l->right, 0xff, n * sizeof *l->right);
    memset(l->prio, 0, n * sizeof *l->prio);
    memset(l->in, 0, n);
}

void live_free(struct live *l)
{
    map_free(l->left);
    map_free(l->right);
    map_free(l->prio);
    map_free(l->in);
}

static uint32_t treap_merge(struct live *l, uint32_t a, uint32_t b)
{
    if (a == NIL)
        return b;
    if (b == NIL)
        return a;
    if (l->prio[a] > l->prio[b]) {
        l->right[a] = treap_merge(l, l->right[a], b);
        return a;
    }
    l->left[b] = treap_merge(l, a, l->left[b]);
    return b;
}

/* Split t into keys < key (*lo) and keys >= key (*hi). */
static void treap_split(struct live *l, uint32_t t, uintptr_t key, uint32_t *lo, uint32_t *hi)
{
    if (t == NIL) {
        *lo = *hi = NIL;
        return;
    }
    if ((uintptr_t)l->ptr[t] < key) {
        treap_split(l, l->right[t], key, &l->right[t], hi);
        *lo = t;
    } else {
        treap_split(l, l->left[t], key, lo, &l->left[t]);
        *hi = t;
    }
}

static uint32_t prio_of(uint32_t id, size_t op)
{
    uint64_t x = ((uint64_t)id << 32) ^ (uint64_t)op;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

uint32_t live_insert(struct live *l, uint32_t id, size_t op)
{
    uintptr_t lo = (uintptr_t)l->ptr[id], hi = lo + l->span[id];
    /* predecessor: greatest start <= lo; successor: least start > lo */
    uint32_t pred = NIL, succ = NIL, t = l->root;
    while (t != NIL) {
        if ((uintptr_t)l->ptr[t] <= lo) {
            pred = t;
            t = l->right[t];
        } else {
            succ = t;
            t = l->left[t];
        }
    }
    if (pred != NIL && (uintptr_t)l->ptr[pred] + l->span[pred] > lo)
        return pred;
    if (succ != NIL && hi > (uintptr_t)l->ptr[succ])
        return succ;
    uint32_t a, b;
    treap_split(l, l->root, lo, &a, &b);
    l->left[id] = l->right[id] = NIL;
    l->prio[id] = prio_of(id, op);
    l->root = treap_merge(l, treap_merge(l, a, id), b);
    l->in[id] = 1;
    return NIL;
}

static uint32_t treap_remove_rec(struct live *l, uint32_t t, uint32_t id)
{
    if (t == NIL)
        return NIL;                  /* not found: cannot happen */
    if (t == id)
        return treap_merge(l, l->left[t], l->right[t]);
    if ((uintptr_t)l->ptr[id] < (uintptr_t)l->ptr[t])
        l->left[t] = treap_remove_rec(l, l->left[t], id);
    else
        l->right[t] = treap_remove_rec(l, l->right[t], id);
    return t;
}

void live_remove(struct live *l, uint32_t id)
{
    if (!l->in[id])
        return;
    l->root = treap_remove_rec(l, l->root, id);
    l->in[id] = 0;
}
