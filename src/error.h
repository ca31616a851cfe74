/* error.h - how snug reports a fault: one line on stderr, then SIGABRT.
 * Never allocates, never uses stdio, safe to call with any lock held. */
#ifndef SNUG_ERROR_H
#define SNUG_ERROR_H
#include <stddef.h>
#include <stdint.h>

/* "snug: <what> <addr> (<size> bytes)" then abort(). size 0 means unknown. */
__attribute__((noreturn, cold)) void snug_fatal(const char *what, const void *addr, size_t size);
/* One line on stderr without aborting (warnings, statistics). */
void snug_write_line(const char *s);
/* Formats an unsigned number into buf (at least 24 bytes); returns buf. */
char *snug_fmt_u(char *buf, size_t v);
char *snug_fmt_hex(char *buf, uintptr_t v);
/* Heap checker report: prints "snug: heap check: <what> at <addr>"; returns -1. */
int snug_check_fail(const char *what, uintptr_t at);
#endif
