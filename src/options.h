/* options.h - snug's tunables: defaults, SNUG_OPTIONS parsed once at start-up
 * (no allocation: getenv only scans environ), and mallopt's overrides.
 * Layers read these values; nothing here calls a layer. */
#ifndef SNUG_OPTIONS_H
#define SNUG_OPTIONS_H
#include <stddef.h>

struct snug_options {
    size_t trim_threshold;      /* free bytes at a region top that trigger a trim */
    size_t top_pad;             /* free bytes a trim leaves at the top */
    size_t decay_ms;            /* a free top, free space inside the heap, or a freed large mapping, stays this long before it goes back (0: at once) */
    size_t decay_max;           /* least free top kept waiting, and bytes of freed large mappings kept, before retain.h adapts it */
    size_t mmap_threshold;      /* requests this big get their own mapping */
    size_t thread_cache_after;  /* fit-lock waits before threads cache medium blocks */
    size_t background;          /* a process with threads may run the reclaimer thread (reclaim.c) */
    size_t sample_rate;         /* about one allocation in this many goes to the guard pool (0: none) */
    int verbose;                /* print the effective settings at start-up */
    int secure;                 /* secure mode (secure.c) */
};
extern struct snug_options snug_opt;

void snug_options_init(void);           /* parse SNUG_OPTIONS; warn once about unknown names */
void snug_options_print(void);          /* one line per option on stderr */
#endif
