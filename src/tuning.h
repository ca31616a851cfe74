/* tuning.h - every threshold that trades speed against memory, in one place:
 * each says what it trades and what set it (DESIGN.md, "Heuristics and why",
 * has the reasoning; bench/README.md the numbers' history).  Changing one changes behaviour,
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

/* Realloc's room: a block realloc moves (or grows backwards) takes a share
 * more than asked (a quarter) and keeps it while it grows into it, so a buffer
 * grown in small steps is copied O(log n) times rather than at every step. */
#define ROOMY_SHARE 4

/* ---- small pages and thread heaps (page.c, heap.c) ---- */
/* A page is the smallest run of 1, 2 or 4 OS pages that wastes at most
 * 1/PAGE_WASTE_SHARE of itself on its header and tail. */
#define PAGE_WASTE_SHARE 8
/* A heap of fewer than SMALL_HEAP_PAGES pages gives a class the smallest page
 * that holds SMALL_HEAP_SLOTS slots: a class used a few times holds 4 KiB, not 16. */
#define SMALL_HEAP_PAGES 64
#define SMALL_HEAP_SLOTS 4
/* A class filling DENSE_CLASS_PAGES pages gets the densest page size (header
 * and tail paid once per 2-4 OS pages, and a fourth as many pages filling and
 * coming back); such a page goes when the class idles (binary: 1.2 points).
 * A class filling BUSY_CLASS_PAGES is busy (a bit in its heap's record): when
 * it idles its burst is over for certain, and the kept pages above its last
 * go too (heap.c: class_idle).
 * Dense from 16 pages rather than 64 (one threshold for both before): larson
 * with one thread +7% calls a second, regrow's time -15% and page faults
 * 32,200 -> 24,600, trace utilization 85.66 -> 85.78% (binary +0.9 points,
 * binary-alt +0.9, bitvec +0.8, python +0.3; structs -0.3, strings -0.2),
 * trace instructions -0.5% (binary -3.6%, structs +0.7%), the mt suite's
 * peak RSS +2%.  The idle class's give-back at 16 pages too cost regrow
 * 5,700 faults more than before and binary-alt 0.9 points; dense from 8 or
 * 12 pages cost structs 1.2-2.1 points. */
#define DENSE_CLASS_PAGES 16
#define BUSY_CLASS_PAGES 64
/* A full page comes back to its list when 1/RELIST_SHARE of it is free, at the
 * tail: perl's peak heap held 13% free slots relisting at the head, 7% at the
 * tail; at a 64th small16 gained 2.7 points for 7.4% more instructions. */
#define RELIST_SHARE 16
/* Spare pages, in a process with threads: up to SPARE_MAX (and half the heap's
 * recent peak of pages) emptied pages wait for any class; prodcons x2 and x8
 * ran 8% fewer instructions (a page went back and came again every 22
 * mallocs); half the recent peak rather than half the pages now: prodcons x8
 * page events on the global lock 3 -> 0.6 per 1000 calls. */
#define SPARE_MAX 64
/* In a single-threaded process, at most SPARE_ST spares, whatever the heap's
 * peak (heap.c, "Spare pages"): batches of 100 blocks of 256 bytes made and
 * freed over and over took 205 instructions a malloc/free pair with none, 151
 * with 8, 155 -> 202 for batches of 400 with 32 -> 8; trace utilization
 * 85.41 -> 85.66% (realloc +4.1 points, gxx +2.1; none lower by more than
 * 0.41; 8 spares: 85.67%); 64 cost binary 0.9 points; 4 (with no give-back at a page size
 * none fits) cost binary-alt 0.9.  smallchurn's peak RSS: the same within
 * its run-to-run spread (3.95-3.97 MiB, medians of 7). */
#define SPARE_ST 32
/* Once heaps have waited PAGE_BATCH_AFTER times for arena 0's lock to carve a
 * page, a threaded heap that needs a page no stash holds takes PAGE_BATCH from
 * arena 0 in one hold of its lock and stashes the rest for the pages to come:
 * a heap that grows takes the global lock a quarter as often.  (Before the
 * waits, batches only held pages longer: peak RSS +1-2% at 2 threads.) */
#define PAGE_BATCH       4
#define PAGE_BATCH_AFTER 16
/* Sparse classes, single-threaded small heaps: a class of SPARSE_MIN bytes or
 * more serves its first SPARSE_MAX page misses from the fit allocator instead of
 * opening a page: mean utilization 82.5 -> 86.8% for 1% more instructions. */
#define SPARSE_MIN 128
#define SPARSE_MAX 511
/* Holes, single-threaded: a class of SPARSE_MIN bytes or more that finds no
 * free slot, when a new page would grow the heap, takes a free block under
 * HOLE_MAX bytes from the bins instead, if there is one (no page fits in such
 * a block, and a program of small requests only would never use it again).
 * structs 70.1 -> 81.9%, short 70.5 -> 81.9%, binary 92.2 -> 91.0% (one 16 KiB
 * page more at its peak; 92.2 again with heap.c's smaller page when a dense one
 * would grow the heap).  Taken whether or not a page would grow the heap,
 * holes cost server 46% more instructions (a fit malloc and free for most of
 * its small blocks); taken only then, realloc-buffer 5.5%, short 2.8%, the
 * rest of the suite under 1%. */
#define HOLE_MAX 4096

/* Batched remote frees (remote.c): a thread gathers up to RB_MAX frees to one
 * other thread's heap before it queues them with one atomic operation, for up
 * to RB_OWNERS heaps at a time.  Bounds what a thread holds back: RB_OWNERS *
 * RB_MAX slots. */
#define RB_OWNERS 4
#define RB_MAX    32

/* The live-bytes meter (live.c): a heap publishes its small and cached byte
 * counts to the meter's shared line only once they moved by more than this
 * since its last publish (and at thread exit); a sample adds its own heap's
 * counts itself, so only other threads' samples miss up to this much of each
 * heap.  local at 2 threads: 6.1 -> 0.26 meter atomics per 1000 calls. */
#define METER_SLACK ((size_t)64 << 10)

/* ---- thread caches (mcache.c) ---- */
/* Blocks up to MC_MAX bytes, eight classes per power of two; a class holds up
 * to MC_CLASS_BYTES worth of blocks (2 to MC_DEPTH), one more each time the
 * thread finds it empty; a cache holds at most its thread's medium footprint
 * over MC_SHARE (what it took less what it freed), within MC_FLOOR..MC_BUDGET.
 * bench/programs/mixed (2 threads, 4 B - 32 KiB): 0.44 -> 0.28 s (84% of
 * lookups hit; peak RSS 12.4 -> 14.9 MiB); the fixed 1 MiB budget ran it in
 * 0.29 s but held 1 MiB more per thread in mt-local (x16: 23.6 -> 33.6 MiB);
 * the share keeps local within about 5%.  The old cache (8 KiB, 256-byte
 * classes, 128 KiB) ran mixed in 0.50 s. */
#define MC_MAX      (64u * 1024u)
#define MC_DEPTH    8
#define MC_CLASS_BYTES (32u * 1024u)
#define MC_BUDGET   (1024u * 1024u)
#define MC_FLOOR    (128u * 1024u)
#define MC_SHARE    4

/* ---- large blocks and retention (large.c, retain.h, plain.c) ---- */
/* Freed mappings kept for reuse at once (and their bytes within the retention
 * bound): largechurn's page faults 1004k -> 132k at the same peak RSS. */
#define LCACHE_N 8
/* The most a layer's retention bound grows to (doubling while a program
 * cycles through memory it gave back): regrow's faults 274k -> 77k. */
#define RETAIN_MAX ((size_t)1 << (sizeof(void *) == 8 ? 30 : 28))   /* 1 GiB (256 MiB on 32-bit) */
/* Alignments above this get a mapping of their own rather than a fit block
 * cut around an aligned payload (which would leave up to align bytes free). */
#define ALIGN_TO_LARGE (64u * 1024u)

/* ---- hardening (secure.c, guard.c) ---- */
/* Secure mode's quarantine: freed blocks wait, filled, in a ring of Q_SLOTS
 * (Q_MAX_BYTES at most); blocks over Q_MAX_BLOCK go at once.  No measurement
 * on record: a bound on what the quarantine holds from reuse. */
#define Q_SLOTS     512
#define Q_MAX_BLOCK ((size_t)1 << 20)
#define Q_MAX_BYTES ((size_t)16 << 20)
/* The guard pool: GUARD_SLOTS slots of GUARD_PAGES pages (blocks up to 16 KiB):
 * 2.5 MiB of address space, none of it resident until sampled.  Its rate is the
 * option sample_rate (50000: at 5000 the trace replays ran 7.5% slower). */
#define GUARD_SLOTS  128u
#define GUARD_PAGES  4u

#endif
