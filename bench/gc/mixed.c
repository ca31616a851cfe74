/* mixed.c - explicit and collected memory in one program, written for snug's bench suite;
 * one source, built against snug's collector and against bdwgc.
 *
 * A table of BUCKETS buckets, each an explicitly allocated array (XMALLOC) of SLOTS
 * pointers to GC records, registered as a root range: the records are reachable only
 * through that explicit memory.  A record is a scanned GC block holding a key and a
 * pointer to an atomic GC string stamped with the key (24..280 bytes).  -s N steps
 * (default 1,000,000), each:
 *   - checks the record in a random slot (key, string), and replaces it by a new one
 *     (the old record and its string become garbage);
 *   - builds an explicit temporary (XMALLOC, 32..1056 bytes) from the new record's string,
 *     checks it and frees it (XFREE): explicit churn beside the collected one;
 * and every STEPS_PER_RETIRE steps one bucket is retired: its roots removed, every record
 * checked, the array freed, a new one allocated, registered and filled with new records.
 * At the end every slot is checked again.  `check` is the sum of the keys left.
 */
#include "gcb.h"

#define BUCKETS          64
#define SLOTS            1024
#define STEPS_PER_RETIRE 1000

struct rec {
    char *str;
    uint64_t key;
    size_t len;
};

/* The key in the first 8 bytes, a letter made from it after them. */
static void stamp(char *s, size_t len, uint64_t key)
{
    memset(s, 'a' + (int)(key % 26), len);
    memcpy(s, &key, 8);
}

static struct rec *make(uint64_t key, uint64_t *rng)
{
    struct rec *r = GCB_NEW(sizeof *r);
    r->len = 24 + gcb_rand(rng) % 257;
    r->str = GCB_NEW_ATOMIC(r->len);
    stamp(r->str, r->len, key);
    r->key = key;
    return r;
}

static int good(const struct rec *r, uint64_t key)
{
    if (!r || r->key != key || !r->str || r->len < 24)
        return 0;
    uint64_t k;
    memcpy(&k, r->str, 8);
    if (k != key)
        return 0;
    for (size_t i = 8; i < r->len; i += 8)
        if (r->str[i] != 'a' + (int)(key % 26))
            return 0;
    return r->str[r->len - 1] == 'a' + (int)(key % 26);
}

static struct rec **bucket[BUCKETS];    /* explicit arrays; registered as roots */
static uint64_t *keys[BUCKETS];         /* expected key per slot (explicit, not a root) */

static void new_bucket(int b, uint64_t *serial, uint64_t *rng)
{
    struct rec **a = XMALLOC(SLOTS * sizeof *a);
    if (!a) {
        fprintf(stderr, "out of memory\n");
        exit(3);
    }
    memset(a, 0, SLOTS * sizeof *a);
    GCB_ADD_ROOTS(a, a + SLOTS);
    for (int i = 0; i < SLOTS; i++) {
        keys[b][i] = ++*serial;
        a[i] = make(keys[b][i], rng);
    }
    bucket[b] = a;
}

static void check_bucket(int b)
{
    for (int i = 0; i < SLOTS; i++)
        if (!good(bucket[b][i], keys[b][i]))
            gcb_fail("bucket %d slot %d: record lost or corrupted (key %llu)", b, i,
                     (unsigned long long)keys[b][i]);
}

int main(int argc, char **argv)
{
    long steps = gcb_param(argc, argv, 1000000, 1, 1000000000L, "steps");
    GCB_INIT();
    double t0 = gcb_now();
    uint64_t rng = 7, serial = 0;
    for (int b = 0; b < BUCKETS; b++) {
        keys[b] = XMALLOC(SLOTS * sizeof *keys[b]);
        if (!keys[b])
            return 3;
        new_bucket(b, &serial, &rng);
    }
    int next_retire = 0;
    for (long s = 0; s < steps; s++) {
        uint64_t x = gcb_rand(&rng);
        int b = (int)(x % BUCKETS), i = (int)((x >> 16) % SLOTS);
        if (!good(bucket[b][i], keys[b][i]))
            gcb_fail("bucket %d slot %d: record lost or corrupted (key %llu)", b, i,
                     (unsigned long long)keys[b][i]);
        keys[b][i] = ++serial;
        struct rec *r = make(keys[b][i], &rng);
        bucket[b][i] = r;
        size_t tl = 32 + (size_t)(x >> 40) % 1025;
        char *tmp = XMALLOC(tl);
        if (!tmp)
            return 3;
        for (size_t k = 0; k < tl; k += r->len)     /* the string over and over */
            memcpy(tmp + k, r->str, tl - k < r->len ? tl - k : r->len);
        if (memcmp(tmp, r->str, 8) || tmp[tl - 1] != r->str[(tl - 1) % r->len])
            gcb_fail("temporary copy differs");
        XFREE(tmp);
        if (s % STEPS_PER_RETIRE == STEPS_PER_RETIRE - 1) {
            int o = next_retire;
            next_retire = (next_retire + 1) % BUCKETS;
            check_bucket(o);
            GCB_REMOVE_ROOTS(bucket[o], bucket[o] + SLOTS);
            XFREE(bucket[o]);
            new_bucket(o, &serial, &rng);
        }
    }
    uint64_t sum = 0;
    for (int b = 0; b < BUCKETS; b++) {
        check_bucket(b);
        for (int i = 0; i < SLOTS; i++)
            sum += keys[b][i];
    }
    double secs = gcb_now() - t0;
    return gcb_report("mixed", steps, secs, sum);
}
