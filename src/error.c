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

void snug_write_line(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w; n -= (size_t)w;
    }
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
    snug_write_line(line);
    /* abort() flushes nothing we own and takes no allocator lock. */
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    abort();
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
