/* tuning.h - every threshold that trades speed against memory, in one place:
 * each says what it trades and what set it (commit ids name the measurement;
 * bench/README.md has the numbers' history).  Changing one changes behaviour,
 * never correctness: the checker's invariants hold for any value in range. */
#ifndef SNUG_TUNING_H
#define SNUG_TUNING_H

/* ---- the fit allocator (bins.h, park.h, region.c) ---- */
/* Blocks of a request's own bin compared for the best fit before the next
 * non-empty bin's first is taken: more finds tighter fits (utilization) at a
 * longer walk per malloc.  16 from the first design (e39d2f5); the walk reads
 * only heads and links, checked when followed. */
#define BEST_SCAN   16
/* Candidates an aligned request (posix_memalign, small pages) looks at before
 * growing the heap: more reuses more free blocks for small pages (2009364). */
#define ALIGN_SCAN  64
/* Parked blocks (park.h), single-threaded only: a free of up to PARK_MAX bytes
 * waits for a malloc of its exact size instead of coalescing.  The bounds keep
 * what parking can hold from the heap small (PARK_CAP blocks, PARK_BYTES);
 * a list gains PARK_GAIN credit per block taken back and loses PARK_LOSS per
 * block that rejoined the heap unused, so sizes that do not recur stop being
 * parked.  Set by c7fa2d9: instructions per replay python -12.5%, git -6.4%,
 * server -3.5%, coalescing +2.8% (geomean -1.6%), utilization unchanged on
 * other seeds. */
#define PARK_MAX        (64u * 1024u)
#define PARK_CAP        64u
#define PARK_BYTES      (256u * 1024u)
#define PARK_GAIN       256
#define PARK_LOSS       64
#define PARK_CREDIT_MAX 2048
/* A brk region grows by what is asked plus 1/64 of what it holds (at most 1 MiB):
 * fewer sbrk calls for a growing heap, at most 1.6% more held. */
#define GROW_SLACK_SHIFT 6
#define GROW_SLACK_MAX   ((size_t)1 << 20)
/* Fit calls between two reads of the clock while a trim or purge waits (decay, region.c). */
#define DECAY_POLL_EVERY 16

#endif
