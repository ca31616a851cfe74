/* binarytrees.c - GCBench-style binary trees (after the Ellis/Kovac/Boehm GCBench), written
 * for snug's bench suite; one source, built against snug's collector and against bdwgc.
 *
 * With S = -s (default 18):
 *   1. a stretch tree of depth S + 1 is built and dropped (the heap grows once);
 *   2. a long-lived tree of depth S - 2 and a long-lived atomic array of 2^(S+1) doubles are
 *      made and kept to the end (live data every collection has to mark);
 *   3. for d = 4, 6, ..., S - 2: 2^(S-d+1) trees of depth d are built top-down (an empty
 *      node populated) and as many bottom-up (children first); each is checked right after
 *      it is built and then dropped.
 * Every node carries its depth and its complement; every tree is counted and checked
 * (2^(d+1) - 1 nodes, the right depths, leaves without children), and at the end the
 * long-lived tree and array are checked again.  `check` is the number of nodes built.
 */
#include "gcb.h"

struct node {
    struct node *left, *right;
    long depth, inv;
};

static struct node *new_node(struct node *l, struct node *r, long depth)
{
    struct node *n = GCB_NEW(sizeof *n);
    n->left = l;
    n->right = r;
    n->depth = depth;
    n->inv = ~depth;
    return n;
}

/* top-down: n exists, give it children down to depth 0 */
static void populate(struct node *n, long depth)
{
    if (depth <= 0)
        return;
    n->left = new_node(NULL, NULL, depth - 1);
    n->right = new_node(NULL, NULL, depth - 1);
    populate(n->left, depth - 1);
    populate(n->right, depth - 1);
}

/* bottom-up: children first */
static struct node *make_tree(long depth)
{
    if (depth <= 0)
        return new_node(NULL, NULL, 0);
    struct node *l = make_tree(depth - 1);
    struct node *r = make_tree(depth - 1);
    return new_node(l, r, depth);
}

/* Nodes of the tree; reports every node that is not what was built. */
static long check_tree(const struct node *n, long depth)
{
    if (!n) {
        gcb_fail("missing node at depth %ld", depth);
        return 0;
    }
    if (n->depth != depth || n->inv != ~depth) {
        gcb_fail("node %p: depth %ld/%ld, expected %ld", (const void *)n, n->depth, ~n->inv,
                 depth);
        return 1;
    }
    if (depth == 0) {
        if (n->left || n->right)
            gcb_fail("leaf %p has children", (const void *)n);
        return 1;
    }
    return 1 + check_tree(n->left, depth - 1) + check_tree(n->right, depth - 1);
}

static long built;

static void expect(const struct node *t, long depth)
{
    long want = (2L << depth) - 1, got = check_tree(t, depth);
    if (got != want)
        gcb_fail("tree of depth %ld has %ld nodes, expected %ld", depth, got, want);
    built += want;
}

int main(int argc, char **argv)
{
    long S = gcb_param(argc, argv, 18, 6, 24, "stretch depth S; trees of depths 4..S-2");
    GCB_INIT();
    double t0 = gcb_now();

    struct node *stretch = make_tree(S + 1);
    expect(stretch, S + 1);
    stretch = NULL;

    long ll_depth = S - 2;
    struct node *longlived = new_node(NULL, NULL, ll_depth);
    populate(longlived, ll_depth);
    expect(longlived, ll_depth);
    size_t asize = (size_t)2 << S;
    double *array = GCB_NEW_ATOMIC(asize * sizeof *array);
    for (size_t i = 0; i < asize; i++)
        array[i] = 1.0 / (double)(i + 1);

    for (long d = 4; d <= S - 2; d += 2) {
        long iters = 2L << (S - d);
        for (long k = 0; k < iters; k++) {
            struct node *t = new_node(NULL, NULL, d);
            populate(t, d);
            expect(t, d);
            t = make_tree(d);
            expect(t, d);
        }
    }

    expect(longlived, ll_depth);
    for (size_t i = 0; i < asize; i++)
        if (array[i] != 1.0 / (double)(i + 1)) {
            gcb_fail("long-lived array changed at %zu", i);
            break;
        }
    double secs = gcb_now() - t0;
    return gcb_report("binarytrees", S, secs, (uint64_t)built);
}
