/* options.h - snug's tunables, each written once in SNUG_OPTION_LIST (name, type,
 * default, glibc's mallopt parameter, one line of help): the fields of snug_opt, their
 * defaults, SNUG_OPTIONS parsing, mallopt, `help` and `verbose` all come from it.
 * Parsed once, at load time or at the first allocation (no allocation, no stdio).
 * Layers read these values; nothing here calls a layer. */
#ifndef SNUG_OPTIONS_H
#define SNUG_OPTIONS_H
#include "config.h"
#include <stddef.h>

/* How a value is read and shown: a flag is set by its bare name and cleared by
 * no<name>; bytes take k/m/g and show in KiB/MiB/GiB; ms are milliseconds. */
enum snug_opt_type { SNUG_OPT_FLAG, SNUG_OPT_BYTES, SNUG_OPT_MS, SNUG_OPT_COUNT };

#ifdef SNUG_SECURE_DEFAULT
#define SNUG_SECURE_ON 1
#else
#define SNUG_SECURE_ON 0
#endif
/* mallopt's parameters (malloc.h's M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD;
 * override.c checks they match), 0 for an option mallopt does not set. */
#define SNUG_M_TRIM_THRESHOLD (-1)
#define SNUG_M_TOP_PAD        (-2)
#define SNUG_M_MMAP_THRESHOLD (-3)
#define SNUG_M_ARENA_MAX      (-8)

/* X(name, type, default, mallopt parameter, help).  secure comes first: every malloc
 * and free reads it. */
#define SNUG_OPTION_LIST(X) \
    X(secure, SNUG_OPT_FLAG, SNUG_SECURE_ON, 0, \
      "secure mode: canaries, checked fills, a quarantine, guard pages (nosecure: off)") \
    X(mmap_threshold, SNUG_OPT_BYTES, SNUG_LARGE_MIN, SNUG_M_MMAP_THRESHOLD, \
      "requests this large get their own mapping") \
    X(trim_threshold, SNUG_OPT_BYTES, 192u * 1024u, SNUG_M_TRIM_THRESHOLD, \
      "a free region top larger than this goes back to the kernel") \
    X(top_pad, SNUG_OPT_BYTES, 64u * 1024u, SNUG_M_TOP_PAD, \
      "what a trim leaves at the top") \
    X(decay_ms, SNUG_OPT_MS, 500, 0, \
      "how long free memory beyond the threshold waits before it goes back (0: at once)") \
    X(decay_max, SNUG_OPT_BYTES, 16u * 1024u * 1024u, 0, \
      "free top kept waiting, and freed large mappings kept, before the bound adapts") \
    X(arenas, SNUG_OPT_COUNT, 0, SNUG_M_ARENA_MAX, \
      "most arenas threads take medium blocks from (0: one per CPU and arena 0, at most 16 on 32-bit; 1: one for all)") \
    X(thread_cache, SNUG_OPT_COUNT, 1, 0, \
      "1: threads of a process with threads cache freed medium blocks; 2: a single-threaded process too; 0: never") \
    X(thread_cache_after, SNUG_OPT_COUNT, 0, 0, \
      "threads cache freed medium blocks only after this many waits for the lock") \
    X(background, SNUG_OPT_COUNT, 1, 0, \
      "0: no reclaimer thread (waits end only on the allocator's calls)") \
    X(sample_rate, SNUG_OPT_COUNT, 50000, 0, \
      "about one allocation in N goes to the guard pool (0: none)") \
    X(verbose, SNUG_OPT_FLAG, 0, 0, \
      "print the version, the build mode and every option at start-up") \
    X(stats, SNUG_OPT_FLAG, 0, 0, \
      "print statistics (live and held peaks, utilization) at exit") \
    X(help, SNUG_OPT_FLAG, 0, 0, \
      "print this list at start-up and run on")

struct snug_options {
#define SNUG_OPT_FIELD(name, type, dflt, mallopt, help) size_t name;
    SNUG_OPTION_LIST(SNUG_OPT_FIELD)
#undef SNUG_OPT_FIELD
};
extern struct snug_options snug_opt;

/* Parse SNUG_OPTIONS (once: the later calls wait for the first); warn once per bad
 * entry; print the list (help) and the settings (verbose) when asked. */
void snug_options_init(void);
void snug_options_print(void);          /* the version, the build mode, one line per option */
void snug_options_help(void);           /* one line per option: name, default, help */
/* mallopt: sets the option that maps to param; 1 when one does, 0 otherwise. */
int snug_options_mallopt(int param, size_t value);
/* "192 KiB", "1.5 MiB", "100 bytes" into buf (at least 32 bytes); returns buf. */
char *snug_fmt_bytes(char *buf, size_t v);
#endif
