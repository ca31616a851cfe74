/* trace_format.c - reading, checking and writing snug traces (format in trace_format.h).
 * trace_format_op/trace_format_header use no libc beyond plain stores, so the
 * LD_PRELOAD tracer may call them from inside malloc. */
#include "trace_format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- formatting (allocation-free) ---- */

static size_t put_uint(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

size_t trace_format_op(char *buf, const struct trace_op *op)
{
    size_t n = 0;
    buf[n++] = op->kind;
    buf[n++] = ' ';
    n += put_uint(buf + n, op->id);
    switch (op->kind) {
    case TOP_FREE:
        break;
    case TOP_CALLOC:
    case TOP_ALIGNED:
        buf[n++] = ' ';
        n += put_uint(buf + n, op->arg);
        /* fall through */
    default:
        buf[n++] = ' ';
        n += put_uint(buf + n, op->size);
        break;
    }
    buf[n++] = '\n';
    return n;
}

size_t trace_format_header(char *buf, size_t heap_hint, size_t num_ids,
                           size_t num_ops, size_t weight)
{
    size_t n = 0;
    n += put_uint(buf + n, heap_hint);
    buf[n++] = '\n';
    n += put_uint(buf + n, num_ids);
    buf[n++] = '\n';
    n += put_uint(buf + n, num_ops);
    buf[n++] = '\n';
    n += put_uint(buf + n, weight);
    buf[n++] = '\n';
    return n;
}

int trace_write(FILE *f, const struct trace *t)
{
    char buf[4 * TRACE_LINE_MAX];
    size_t n = trace_format_header(buf, t->heap_hint, t->num_ids, t->nops, t->weight);
    if (fwrite(buf, 1, n, f) != n)
        return -1;
    for (size_t i = 0; i < t->nops; i++) {
        n = trace_format_op(buf, &t->ops[i]);
        if (fwrite(buf, 1, n, f) != n)
            return -1;
    }
    return fflush(f) == 0 ? 0 : -1;
}

/* ---- parsing ---- */

static void *(*mem_realloc)(void *, size_t) = realloc;
static void (*mem_free)(void *) = free;

void trace_set_allocator(void *(*realloc_fn)(void *, size_t), void (*free_fn)(void *))
{
    mem_realloc = realloc_fn;
    mem_free = free_fn;
}

/* Read one line (newline kept) into *buf; returns its length, or -1 at the end of
 * the data: EOF, or a NUL byte (the unused tail of a tracer mapping). */
static long read_line(FILE *f, char **buf, size_t *cap)
{
    size_t len = 0;
    int c;
    while ((c = getc_unlocked(f)) != EOF && c != 0) {
        if (len + 2 > *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            char *n = mem_realloc(*buf, ncap);
            if (!n)
                return -2;
            *buf = n;
            *cap = ncap;
        }
        (*buf)[len++] = (char)c;
        if (c == '\n')
            break;
    }
    if (len == 0)
        return -1;
    (*buf)[len] = 0;
    return (long)len;
}

struct parser {
    const char *name;
    size_t line;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *ps, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->line)
        snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->name, ps->line, msg);
    else
        snprintf(ps->err, ps->errlen, "%s: %s", ps->name, msg);
    return -1;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parse an unsigned decimal; returns the end or NULL (no digits / overflow). */
static const char *parse_uint(const char *s, uint64_t *out)
{
    s = skip_ws(s);
    if (*s < '0' || *s > '9')
        return NULL;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
        s++;
    }
    *out = v;
    return s;
}

static int at_end(const char *s)
{
    s = skip_ws(s);
    return *s == '\0' || *s == '\r' || *s == '\n';
}

static int blank_or_comment(const char *s)
{
    s = skip_ws(s);
    return *s == '#' || *s == '\0' || *s == '\r' || *s == '\n';
}

static int to_size(uint64_t v, size_t *out)
{
    if (v > SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Ids live/dead, grown as ids appear. */
struct liveset {
    unsigned char *live;
    size_t cap;
};

static int live_reserve(struct liveset *ls, size_t id)
{
    if (id < ls->cap)
        return 0;
    size_t ncap = ls->cap ? ls->cap : 1024;
    while (ncap <= id)
        ncap *= 2;
    unsigned char *n = mem_realloc(ls->live, ncap);
    if (!n)
        return -1;
    memset(n + ls->cap, 0, ncap - ls->cap);
    ls->live = n;
    ls->cap = ncap;
    return 0;
}

static int parse_op(struct parser *ps, const char *s, struct trace_op *op)
{
    uint64_t id, a = 0, b = 0;
    s = skip_ws(s);
    char kind = *s++;
    if (kind != TOP_ALLOC && kind != TOP_FREE && kind != TOP_REALLOC &&
        kind != TOP_CALLOC && kind != TOP_ALIGNED)
        return fail(ps, "unknown op '%c' (want a, f, r, c or m)", kind);
    if (*s != ' ' && *s != '\t')
        return fail(ps, "op '%c' must be followed by a blank", kind);
    s = parse_uint(s, &id);
    if (!s)
        return fail(ps, "bad or missing id");
    if (id >= UINT32_MAX)
        return fail(ps, "id %llu too large", (unsigned long long)id);
    if (kind != TOP_FREE) {
        s = parse_uint(s, &a);
        if (!s)
            return fail(ps, "bad or missing size");
        if (kind == TOP_CALLOC || kind == TOP_ALIGNED) {
            s = parse_uint(s, &b);
            if (!s)
                return fail(ps, "bad or missing size");
        }
    }
    if (!at_end(s))
        return fail(ps, "junk after op: \"%.20s\"", skip_ws(s));
    op->kind = kind;
    op->id = (uint32_t)id;
    op->arg = 0;
    if (kind == TOP_CALLOC || kind == TOP_ALIGNED) {
        if (to_size(a, &op->arg) || to_size(b, &op->size))
            return fail(ps, "size does not fit size_t");
        if (kind == TOP_CALLOC && op->arg && op->size > SIZE_MAX / op->arg)
            return fail(ps, "calloc count * size overflows");
        if (kind == TOP_ALIGNED && (op->arg == 0 || (op->arg & (op->arg - 1))))
            return fail(ps, "alignment %zu is not a power of two", op->arg);
    } else if (to_size(a, &op->size)) {
        return fail(ps, "size does not fit size_t");
    }
    return 0;
}

int trace_parse(FILE *f, const char *name, struct trace *t, char *err, size_t errlen)
{
    struct parser ps = { name, 0, err, errlen };
    struct liveset ls = { NULL, 0 };
    char *line = NULL;
    size_t linecap = 0, opscap = 0, live_bytes = 0, live_ids = 0;
    uint64_t hdr[4];
    int nhdr = 0, rc = -1;
    size_t *sizes = NULL, sizes_cap = 0;   /* live payload per id */
    long len;

    memset(t, 0, sizeof *t);
    t->name = mem_realloc(NULL, strlen(name) + 1);
    if (!t->name)
        goto oom;
    strcpy(t->name, name);

    while ((len = read_line(f, &line, &linecap)) >= 0) {
        ps.line++;
        if (blank_or_comment(line))
            continue;
        const char *s = skip_ws(line);
        if (nhdr < 4 && t->nops == 0 && *s >= '0' && *s <= '9') {
            if (!parse_uint(s, &hdr[nhdr]) || !at_end(parse_uint(s, &hdr[nhdr])))
                { fail(&ps, "header line must hold one integer"); goto out; }
            nhdr++;
            continue;
        }
        if (nhdr != 0 && nhdr != 4) {
            fail(&ps, "header has %d lines, want 4", nhdr);
            goto out;
        }
        struct trace_op op;
        if (parse_op(&ps, s, &op))
            goto out;
        if (live_reserve(&ls, op.id))
            goto oom;
        if (op.id >= sizes_cap) {
            size_t ncap = ls.cap;
            size_t *n = mem_realloc(sizes, ncap * sizeof *n);
            if (!n)
                goto oom;
            sizes = n;
            sizes_cap = ncap;
        }
        int live = ls.live[op.id];
        switch (op.kind) {
        case TOP_ALLOC:
        case TOP_CALLOC:
        case TOP_ALIGNED:
            if (live) {
                fail(&ps, "id %u is already live", op.id);
                goto out;
            }
            ls.live[op.id] = 1;
            live_ids++;
            sizes[op.id] = trace_op_bytes(&op);
            live_bytes += sizes[op.id];
            break;
        case TOP_FREE:
            if (!live) {
                fail(&ps, "free of id %u, which is not live", op.id);
                goto out;
            }
            ls.live[op.id] = 0;
            live_ids--;
            live_bytes -= sizes[op.id];
            break;
        case TOP_REALLOC:
            if (live) {
                live_bytes -= sizes[op.id];
                if (op.size == 0) {       /* glibc: realloc(p, 0) frees p */
                    ls.live[op.id] = 0;
                    live_ids--;
                    break;
                }
            } else {
                ls.live[op.id] = 1;       /* realloc(NULL, size) */
                live_ids++;
            }
            sizes[op.id] = op.size;
            live_bytes += op.size;
            break;
        }
        if (live_bytes > t->peak_live_bytes)
            t->peak_live_bytes = live_bytes;
        if (op.id >= t->num_ids)
            t->num_ids = (size_t)op.id + 1;
        if (t->nops == opscap) {
            size_t ncap = opscap ? opscap * 2 : 4096;
            struct trace_op *n = mem_realloc(t->ops, ncap * sizeof *n);
            if (!n)
                goto oom;
            t->ops = n;
            opscap = ncap;
        }
        t->ops[t->nops++] = op;
    }
    if (len == -2)
        goto oom;
    if (ferror(f)) {
        ps.line = 0;
        fail(&ps, "read error: %s", strerror(errno));
        goto out;
    }
    ps.line = 0;
    if (nhdr != 0 && nhdr != 4) {
        fail(&ps, "header has %d lines, want 4", nhdr);
        goto out;
    }
    t->num_ops = t->nops;
    t->live_at_end = live_ids;
    if (nhdr == 4) {
        t->had_header = 1;
        if (to_size(hdr[0], &t->heap_hint) || to_size(hdr[3], &t->weight)) {
            fail(&ps, "header value does not fit size_t");
            goto out;
        }
        if (hdr[1] > t->num_ids)
            t->num_ids = (size_t)hdr[1];    /* ids may go unused */
        if (hdr[2] != t->nops)
            snprintf(t->warning, sizeof t->warning,
                     "header says %llu ops, file holds %zu",
                     (unsigned long long)hdr[2], t->nops);
        else if (hdr[1] < t->num_ids)
            snprintf(t->warning, sizeof t->warning,
                     "header says %llu ids, file uses %zu",
                     (unsigned long long)hdr[1], t->num_ids);
    } else {
        t->heap_hint = t->peak_live_bytes;
        t->weight = 1;
        snprintf(t->warning, sizeof t->warning,
                 "no header (an unfinished tracer file?): %zu ops", t->nops);
    }
    rc = 0;
    goto out;
oom:
    ps.line = 0;
    fail(&ps, "out of memory");
out:
    mem_free(line);
    mem_free(ls.live);
    mem_free(sizes);
    if (rc)
        trace_destroy(t);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Give f a buffer from mem_realloc (stdio would malloc one). */
static char *own_buffer(FILE *f)
{
    char *buf = mem_realloc(NULL, 1 << 16);
    if (buf)
        setvbuf(f, buf, _IOFBF, 1 << 16);
    return buf;
}

int trace_load(const char *path, struct trace *t, char *err, size_t errlen)
{
    const char *tool = ends_with(path, ".gz") ? "gzip" : ends_with(path, ".xz") ? "xz" : NULL;
    FILE *f;
    int rc;
    if (tool) {
        /* Quote the path for the shell: '...' with each ' written as '\''. */
        size_t n = strlen(path);
        char *cmd = mem_realloc(NULL, 4 * n + 32);
        if (!cmd) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
        char *c = cmd + sprintf(cmd, "%s -dc -- '", tool);
        for (const char *p = path; *p; p++) {
            if (*p == '\'') {
                memcpy(c, "'\\''", 4);
                c += 4;
            } else {
                *c++ = *p;
            }
        }
        strcpy(c, "'");
        FILE *probe = fopen(path, "r");
        if (!probe) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            mem_free(cmd);
            return -1;
        }
        fclose(probe);
        f = popen(cmd, "r");
        mem_free(cmd);
        if (!f) {
            snprintf(err, errlen, "%s: cannot run %s: %s", path, tool, strerror(errno));
            return -1;
        }
        char *buf = own_buffer(f);
        rc = trace_parse(f, path, t, err, errlen);
        int st = pclose(f);
        mem_free(buf);
        if (rc == 0 && st != 0) {
            snprintf(err, errlen, "%s: %s -dc failed (status %d)", path, tool, st);
            trace_destroy(t);
            rc = -1;
        }
        return rc;
    }
    f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = own_buffer(f);
    rc = trace_parse(f, path, t, err, errlen);
    fclose(f);
    mem_free(buf);
    return rc;
}

void trace_destroy(struct trace *t)
{
    mem_free(t->name);
    mem_free(t->ops);
    memset(t, 0, sizeof *t);
}
