/* listchurn.c - a long-lived list under many short-lived lists, written for snug's bench
 * suite; one source, built against snug's collector and against bdwgc.
 *
 * A list of LONG nodes lives all along, reached through a scanned vector of its nodes
 * (so any node can be replaced).  Each node holds a key and an atomic payload of 16..256
 * bytes stamped with the key (first and last 8 bytes, its low byte in between).  Then
 * -s R rounds (default 2500), each:
 *   - builds a short-lived list of SHORT nodes (payloads of 8..128 bytes), walks it,
 *     checks every key and payload and the list's length and key sum, and drops it;
 *   - replaces REPLACE random nodes of the long list by new nodes with new keys (the old
 *     ones become garbage: the long-lived data ages, as in a cache or a symbol table).
 * Every 500 rounds and at the end the whole long list is walked and checked (length,
 * every node's key against the vector, every payload).  `check` is the final key sum.
 */
#include "gcb.h"

#define LONG    100000
#define SHORT   2000
#define REPLACE 50

struct node {
    struct node *next;
    unsigned char *data;
    uint64_t key;
    size_t len;
};

/* The key in the first and the last 8 bytes, its low byte in between. */
static void fill(unsigned char *p, size_t n, uint64_t key)
{
    memset(p, (int)(key & 0xff), n);
    memcpy(p, &key, 8);
    if (n >= 16)
        memcpy(p + n - 8, &key, 8);
}

static int same(const unsigned char *p, size_t n, uint64_t key)
{
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + (n >= 16 ? n - 8 : 0), 8);
    if (a != key || b != key)
        return 0;
    for (size_t i = 8; i + 8 < n; i += 8)
        if (p[i] != (unsigned char)(key & 0xff))
            return 0;
    return 1;
}

static struct node *make(uint64_t key, size_t len, struct node *next)
{
    struct node *n = GCB_NEW(sizeof *n);
    n->data = GCB_NEW_ATOMIC(len);
    fill(n->data, len, key);
    n->key = key;
    n->len = len;
    n->next = next;
    return n;
}

static int good(const struct node *n)
{
    return n->data && same(n->data, n->len, n->key);
}

/* Walks the long list: it must be exactly the vector, in order, with intact payloads. */
static uint64_t check_long(struct node *head, struct node **vec)
{
    uint64_t sum = 0;
    size_t i = 0;
    for (struct node *n = head; n; n = n->next, i++) {
        if (i >= LONG || n != vec[i]) {
            gcb_fail("long list differs from its vector at %zu", i);
            return sum;
        }
        if (!good(n))
            gcb_fail("long list node %zu (key %llu) corrupted", i, (unsigned long long)n->key);
        sum += n->key;
    }
    if (i != LONG)
        gcb_fail("long list has %zu nodes, expected %d", i, LONG);
    return sum;
}

int main(int argc, char **argv)
{
    long rounds = gcb_param(argc, argv, 2500, 1, 1000000, "rounds");
    GCB_INIT();
    double t0 = gcb_now();
    uint64_t rng = 42, serial = 0;

    struct node **vec = GCB_NEW(LONG * sizeof *vec);     /* scanned: it holds the nodes */
    struct node *head = NULL;
    for (long i = LONG - 1; i >= 0; i--)
        head = vec[i] = make(++serial, 16 + gcb_rand(&rng) % 241, head);

    for (long r = 0; r < rounds; r++) {
        struct node *s = NULL;
        uint64_t want = 0;
        for (int i = 0; i < SHORT; i++) {
            s = make(++serial, 8 + gcb_rand(&rng) % 121, s);
            want += s->key;
        }
        uint64_t got = 0;
        long len = 0;
        for (struct node *n = s; n; n = n->next, len++) {
            if (!good(n))
                gcb_fail("short list node (key %llu) corrupted", (unsigned long long)n->key);
            got += n->key;
        }
        if (got != want || len != SHORT)
            gcb_fail("short list: %ld nodes, key sum %llu, expected %d and %llu", len,
                     (unsigned long long)got, SHORT, (unsigned long long)want);
        s = NULL;
        for (int k = 0; k < REPLACE; k++) {
            size_t i = gcb_rand(&rng) % LONG;
            struct node *old = vec[i];
            struct node *n = make(++serial, 16 + gcb_rand(&rng) % 241, old->next);
            if (i)
                vec[i - 1]->next = n;
            else
                head = n;
            vec[i] = n;
        }
        if (r % 500 == 499)
            check_long(head, vec);
    }
    uint64_t sum = check_long(head, vec);
    double secs = gcb_now() - t0;
    return gcb_report("listchurn", rounds, secs, sum);
}
