/* stats_abi.c (test) - struct snug_stats grows safely: a program built against the old
 * twelve-field layout (stats_abi_old.c) still gets its fields right and nothing past its
 * struct is written; a new caller gets the new fields through snug_stats(), which is
 * snug_stats_v(out, sizeof *out); a caller from a newer header gets zeros beyond snug's
 * fields; a short size writes no further than it says. */
#include "harness.h"
#include <snug.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int old_caller(size_t out[12]);

static void check_old_layout(void)
{
    void *big = malloc(3u << 20), *small = malloc(100);
    CHECK(big && small, "malloc");
    memset(big, 1, 3u << 20);
    size_t old[12];
    CHECK(old_caller(old) == 0, "snug_stats through the old struct failed or wrote past it");
    struct snug_stats now;
    CHECK(snug_stats(&now) == 0, "snug_stats");
    /* the same heap, read twice: the fields that cannot move between the two reads */
    CHECK(old[0] == now.heap_bytes, "heap_bytes %zu vs %zu", old[0], now.heap_bytes);
    CHECK(old[2] == now.live_bytes, "live_bytes %zu vs %zu", old[2], now.live_bytes);
    CHECK(old[4] == now.live_blocks, "live_blocks %zu vs %zu", old[4], now.live_blocks);
    CHECK(old[9] == now.large_blocks && old[9] >= 1, "large_blocks %zu vs %zu", old[9], now.large_blocks);
    CHECK(old[10] == now.large_bytes && old[10] >= (3u << 20), "large_bytes %zu vs %zu", old[10], now.large_bytes);
    CHECK(old[11] == now.regions && old[11] >= 1, "regions %zu vs %zu", old[11], now.regions);
    CHECK(old[3] >= old[2] && old[2] >= (3u << 20), "live_peak %zu >= live_bytes %zu >= 3 MiB", old[3], old[2]);
    free(big);
    free(small);
}

static void check_new_fields(void)
{
    /* sampled guard blocks: with SNUG_OPTIONS=sample_rate=1 (run.sh) every small request
     * goes to the guard pool while a slot is free */
    void *p = malloc(40);
    CHECK(p != NULL, "malloc");
    struct snug_stats s;
    memset(&s, 0xa5, sizeof s);
    CHECK(snug_stats(&s) == 0, "snug_stats");
    CHECK(s.guard_blocks >= 1 && s.guard_bytes >= 40,
          "guard_blocks %zu, guard_bytes %zu with sample_rate=1 and a 40-byte block live",
          s.guard_blocks, s.guard_bytes);
    CHECK(s.cached_blocks != (size_t)0xa5a5a5a5a5a5a5a5ull, "cached_blocks not filled in");
    free(p);
}

static void check_sizes(void)
{
    struct { struct snug_stats s; size_t future[4]; size_t after; } big;
    memset(&big, 0xa5, sizeof big);
    CHECK(snug_stats_v(&big.s, sizeof big.s + sizeof big.future) == 0, "snug_stats_v with a newer caller's size");
    for (int i = 0; i < 4; i++) CHECK(big.future[i] == 0, "field %d beyond snug's not zeroed", i);
    CHECK(big.after == (size_t)0xa5a5a5a5a5a5a5a5ull, "wrote past the caller's size");
    size_t two[3];
    memset(two, 0xa5, sizeof two);
    CHECK(snug_stats_v((struct snug_stats *)two, 2 * sizeof(size_t)) == 0, "snug_stats_v with two fields");
    CHECK(two[0] > 0 && two[1] >= two[0], "heap_bytes %zu, heap_peak %zu", two[0], two[1]);
    CHECK(two[2] == (size_t)0xa5a5a5a5a5a5a5a5ull, "a two-field caller got a third");
    CHECK(snug_stats_v(&big.s, 0) == -1 && snug_stats_v(NULL, sizeof big.s) == -1, "bad arguments give -1");
}

int main(void)
{
    run_check("old-layout", check_old_layout, 60);
    run_check("new-fields", check_new_fields, 60);
    run_check("sizes", check_sizes, 60);
    return harness_done();
}
