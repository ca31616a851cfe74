/* replay_live.h - snug-replay's set of live blocks ordered by address: a treap whose
 * nodes are block ids keyed by the ids' pointers, so that inserting a block finds any
 * live block it overlaps exactly, in O(log n).  Its arrays are mmap'd (map_realloc). */
#ifndef SNUG_REPLAY_LIVE_H
#define SNUG_REPLAY_LIVE_H

#include <stddef.h>
#include <stdint.h>

#define NIL UINT32_MAX

struct live {
    unsigned char *const *ptr;          /* per id: the block's start, the key (the caller's) */
    const size_t *span;                 /* per id: bytes the block covers (the caller's) */
    uint32_t *left, *right, *prio;      /* the treap, nodes = ids */
    unsigned char *in;                  /* per id: 1 while in the set */
    uint32_t root;
};

/* An empty set for ids below n, reading the caller's ptr and span arrays; its own arrays
 * are touched now (so that they are in the RSS baseline).  live_free unmaps them. */
void live_init(struct live *l, size_t n, unsigned char *const *ptr, const size_t *span);
void live_free(struct live *l);

/* Inserts id (its ptr and span set) unless it overlaps a live block: then returns that
 * block's id (the one below it first) and leaves the set as it was; NIL when inserted.
 * op seeds the node's priority. */
uint32_t live_insert(struct live *l, uint32_t id, size_t op);
/* Removes id when it is in the set. */
void live_remove(struct live *l, uint32_t id);

#endif
