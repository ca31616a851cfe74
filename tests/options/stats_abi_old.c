/* stats_abi_old.c (test) - a caller built against the first struct snug_stats (twelve
 * fields, copied here as snug.h had it before snug_stats_v), calling the symbol snug_stats
 * as such a program does.  It does not include snug.h: this file is the old program. */
#include <stddef.h>
#include <string.h>

struct snug_stats {
    size_t heap_bytes;
    size_t heap_peak;
    size_t live_bytes;
    size_t live_peak;
    size_t live_blocks;
    size_t small_pages;
    size_t medium_blocks;
    size_t free_blocks;
    size_t free_bytes;
    size_t large_blocks;
    size_t large_bytes;
    size_t regions;
};
int snug_stats(struct snug_stats *out);

/* The old struct with guard words after it: fills out[0..11] from an old call; returns
 * 0, or -1 when the call failed or wrote past the struct. */
int old_caller(size_t out[12])
{
    struct { struct snug_stats s; size_t after[8]; } buf;
    memset(&buf, 0xa5, sizeof buf);
    if (snug_stats(&buf.s) != 0) return -1;
    for (int i = 0; i < 8; i++)
        if (buf.after[i] != (size_t)0xa5a5a5a5a5a5a5a5ull) return -1;
    memcpy(out, &buf.s, sizeof buf.s);
    return 0;
}
