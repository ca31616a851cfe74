/* error.c - fault reporting without allocation: formats into a stack buffer,
 * writes it with one write(2), then raises SIGABRT. */
#include "config.h"
#include "error.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *snug_fmt_u(char *buf, size_t v)
{
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return buf;
}

char *snug_fmt_hex(char *buf, uintptr_t v)
{
    char tmp[20];
    int n = 0;
    do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    buf[0] = '0'; buf[1] = 'x';
    for (int i = 0; i < n; i++) buf[2 + i] = tmp[n - 1 - i];
    buf[2 + n] = 0;
    return buf;
}

static size_t append(char *dst, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap) dst[at++] = *s++;
    dst[at] = 0;
    return at;
}

void snug_line_put(struct snug_line *l, const char *s)
{
    while (*s && l->n + 2 < sizeof l->s) l->s[l->n++] = *s++;
}
void snug_line_pad(struct snug_line *l, size_t col)
{
    while (l->n < col && l->n + 2 < sizeof l->s) l->s[l->n++] = ' ';
}
void snug_line_end(struct snug_line *l)
{
    l->s[l->n++] = '\n';
    l->s[l->n] = 0;
    snug_write_line(l->s);
}

void snug_write_line(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w; n -= (size_t)w;
    }
}

static __attribute__((noreturn)) void die(const char *line)
{
    snug_write_line(line);
    /* abort() flushes nothing we own and takes no allocator lock. */
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    abort();
}

void snug_fatal(const char *what, const void *addr, size_t size)
{
    char line[256], num[24];
    size_t at = append(line, 0, sizeof line, "snug: ");
    at = append(line, at, sizeof line, what);
    at = append(line, at, sizeof line, " ");
    at = append(line, at, sizeof line, snug_fmt_hex(num, (uintptr_t)addr));
    if (size) {
        at = append(line, at, sizeof line, " (");
        at = append(line, at, sizeof line, snug_fmt_u(num, size));
        at = append(line, at, sizeof line, " bytes)");
    }
    append(line, at, sizeof line, "\n");
    die(line);
}

void snug_fatal_freed(const char *op, const void *addr, size_t size)
{
    char what[96];
    size_t n = 0;
    while (op[n] && op[n] != ':' && n < 60) n++;          /* the call: "realloc()" */
    if (!strncmp(op, "free", 4) || !strncmp(op, "operator delete", 15)) snug_fatal("double free of", addr, size);
    size_t at = append(what, 0, sizeof what, "use after free: ");
    for (size_t i = 0; i < n && at + 1 < sizeof what; i++) what[at++] = op[i];
    what[at] = 0;
    append(what, at, sizeof what, " of freed block");
    snug_fatal(what, addr, size);
}

void snug_fatal_size(const char *op, const void *addr, size_t given, size_t usable, size_t lo, size_t hi)
{
    char line[256], num[24];
    size_t at = append(line, 0, sizeof line, "snug: ");
    for (size_t i = 0; op[i] && op[i] != ':' && i < 60; i++) line[at++] = op[i];
    at = append(line, at, sizeof line, ": wrong size ");
    at = append(line, at, sizeof line, snug_fmt_u(num, given));
    at = append(line, at, sizeof line, " for block ");
    at = append(line, at, sizeof line, snug_fmt_hex(num, (uintptr_t)addr));
    at = append(line, at, sizeof line, " (");
    at = append(line, at, sizeof line, snug_fmt_u(num, usable));
    at = append(line, at, sizeof line, " bytes; allocated with ");
    at = append(line, at, sizeof line, snug_fmt_u(num, lo));
    if (hi != lo) {
        at = append(line, at, sizeof line, "..");
        at = append(line, at, sizeof line, snug_fmt_u(num, hi));
    }
    append(line, at, sizeof line, ")\n");
    die(line);
}

int snug_check_fail(const char *what, uintptr_t at)
{
    char line[200], num[24];
    size_t n = append(line, 0, sizeof line, "snug: heap check: ");
    n = append(line, n, sizeof line, what);
    n = append(line, n, sizeof line, " at ");
    n = append(line, n, sizeof line, snug_fmt_hex(num, at));
    append(line, n, sizeof line, "\n");
    snug_write_line(line);
    return -1;
}
