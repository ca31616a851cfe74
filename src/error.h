/* error.h - how snug reports a fault: one line on stderr, then SIGABRT.
 * Never allocates, never uses stdio, safe to call with any lock held. */
#ifndef SNUG_ERROR_H
#define SNUG_ERROR_H
#include <stddef.h>
#include <stdint.h>

/* "snug: <what> <addr> (<size> bytes)" then abort(). size 0 means unknown. */
__attribute__((noreturn, cold)) void snug_fatal(const char *what, const void *addr, size_t size);
/* A block freed before, passed to the call `op` names ("realloc(): invalid
 * pointer": the call is what comes before the colon): "double free of <addr>"
 * when that call frees ("free", "free_sized", "operator delete"), else
 * "use after free: <call> of freed block <addr>". */
__attribute__((noreturn, cold)) void snug_fatal_freed(const char *op, const void *addr, size_t size);
/* A sized free whose size could not have been the block's request: "<call>:
 * wrong size <given> for block <addr> (<usable> bytes; allocated with <lo>..<hi>)"
 * (op as for snug_fatal_freed). */
__attribute__((noreturn, cold)) void snug_fatal_size(const char *op, const void *addr, size_t given,
                                                     size_t usable, size_t lo, size_t hi);
/* One line on stderr without aborting (warnings, statistics). */
void snug_write_line(const char *s);
/* A line for stderr built in a stack buffer (cut short, never overrun), then
 * written whole with its newline by snug_line_end. */
struct snug_line { char s[200]; size_t n; };
void snug_line_put(struct snug_line *l, const char *s);
void snug_line_pad(struct snug_line *l, size_t col);       /* spaces up to column col */
void snug_line_end(struct snug_line *l);
/* Formats an unsigned number into buf (at least 24 bytes); returns buf. */
char *snug_fmt_u(char *buf, size_t v);
char *snug_fmt_hex(char *buf, uintptr_t v);
/* Heap checker report: prints "snug: heap check: <what> at <addr>"; returns -1. */
int snug_check_fail(const char *what, uintptr_t at);
/* Debug builds (SNUG_DEBUG: libsnug-debug.a, snug-replay-debug): an invariant,
 * named by its label in DESIGN.md, asserted where snug first establishes it;
 * a broken one ends the program with the label and the address. */
#ifdef SNUG_DEBUG
#define SNUG_ASSERT(cond, label, addr) \
    do { if (!(cond)) snug_fatal("internal error: invariant " label " broken at", (const void *)(uintptr_t)(addr), 0); } while (0)
#else
#define SNUG_ASSERT(cond, label, addr) ((void)sizeof(cond))
#endif
#endif
