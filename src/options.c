/* options.c - SNUG_OPTIONS: a comma- (or colon-) separated list of `name`, `noname`
 * or `name=value`, values with an optional k/m/g suffix, for example
 * SNUG_OPTIONS=verbose,mmap_threshold=1m; every name comes from options.h's table.
 * Parsed at load time (a constructor, so `help` and `verbose` speak for programs that
 * never allocate) or at the first allocation, whichever comes first; without
 * allocation or stdio.  Bad entries are reported once.  Also snug_version(). */
#include "options.h"
#include "error.h"
#include "snug.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct snug_options snug_opt = {
#define OPT_DEFAULT(name, type, dflt, mallopt, help) .name = (dflt),
    SNUG_OPTION_LIST(OPT_DEFAULT)
#undef OPT_DEFAULT
};

/* The table: each row names a field of snug_opt. */
struct opt_row {
    const char *name, *help;
    enum snug_opt_type type;
    size_t *value, dflt;
    int mallopt;
};
static const struct opt_row rows[] = {
#define OPT_ROW(n, t, d, m, h) { #n, h, t, &snug_opt.n, (d), (m) },
    SNUG_OPTION_LIST(OPT_ROW)
#undef OPT_ROW
};
#define NROWS (sizeof rows / sizeof rows[0])
static unsigned char set_by_user[NROWS];   /* 1: SNUG_OPTIONS or mallopt set it */

static void put_n(struct snug_line *l, const char *s, size_t len)
{
    for (size_t i = 0; i < len && l->n + 2 < sizeof l->s; i++) l->s[l->n++] = s[i];
}

char *snug_fmt_bytes(char *buf, size_t v)
{
    static const char *const unit[] = { " bytes", " KiB", " MiB", " GiB", " TiB" };
    unsigned long long x = v;
    unsigned u = 0;
    while (u < 4 && x >> (10 * (u + 1))) u++;
    unsigned long long frac = x & ((1ull << (10 * u)) - 1);
    struct snug_line l = { .n = 0 };
    char num[24];
    snug_line_put(&l, snug_fmt_u(num, (size_t)(x >> (10 * u))));
    if (frac) {                         /* not a whole number of units: a tenth, rounded down */
        l.s[l.n++] = '.';
        l.s[l.n++] = (char)('0' + ((frac * 10) >> (10 * u)));
    }
    snug_line_put(&l, unit[u]);
    memcpy(buf, l.s, l.n);
    buf[l.n] = 0;
    return buf;
}

static void value_text(struct snug_line *l, const struct opt_row *r, size_t v)
{
    char num[32];
    switch (r->type) {
    case SNUG_OPT_FLAG: snug_line_put(l, v ? "on" : "off"); break;
    case SNUG_OPT_BYTES: snug_line_put(l, snug_fmt_bytes(num, v)); break;
    case SNUG_OPT_MS: snug_line_put(l, snug_fmt_u(num, v)); snug_line_put(l, " ms"); break;
    case SNUG_OPT_COUNT: snug_line_put(l, snug_fmt_u(num, v)); break;
    }
}

/* ---- parsing ---- */
static int parse_size(const char *s, size_t len, int suffix_ok, size_t *out)
{
    size_t v = 0, i = 0;
    if (!len) return -1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (SIZE_MAX - 9) / 10) return -1;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (i == 0) return -1;
    if (i < len) {
        unsigned shift = 0;
        switch (suffix_ok ? s[i] : 0) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return -1;
        }
        if (i + 1 != len || v > (SIZE_MAX >> shift)) return -1;
        v <<= shift;
    }
    *out = v;
    return 0;
}

static void warn(const char *what, const char *s, size_t len)
{
    struct snug_line l = { .n = 0 };
    snug_line_put(&l, "snug: SNUG_OPTIONS: ");
    snug_line_put(&l, what);
    snug_line_put(&l, " '");
    put_n(&l, s, len);
    snug_line_put(&l, "'");
    snug_line_end(&l);
}

static const struct opt_row *find(const char *s, size_t len)
{
    for (size_t i = 0; i < NROWS; i++)
        if (strlen(rows[i].name) == len && memcmp(s, rows[i].name, len) == 0) return &rows[i];
    return NULL;
}

static void store(const struct opt_row *r, size_t v)
{
    if (r->value == &snug_opt.mmap_threshold && v < SNUG_SMALL_MAX + 1) v = SNUG_SMALL_MAX + 1;
    *r->value = v;
    set_by_user[r - rows] = 1;
}

static void apply(const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq ? (size_t)(eq - s) : len;
    const struct opt_row *r = find(s, nlen);
    size_t v = 1;
    const struct opt_row *flag = !r && !eq && nlen > 2 && s[0] == 'n' && s[1] == 'o' ? find(s + 2, nlen - 2) : NULL;
    if (flag && flag->type == SNUG_OPT_FLAG) {
        store(flag, 0);                                     /* noname */
        return;
    }
    if (!r) { warn("unknown option", s, len); return; }
    if (eq ? parse_size(eq + 1, len - nlen - 1, r->type == SNUG_OPT_BYTES, &v) != 0 ||
                 (r->type == SNUG_OPT_FLAG && v > 1)
           : r->type != SNUG_OPT_FLAG) {
        warn("bad value in", s, len);
        return;
    }
    store(r, v);
}

int snug_options_mallopt(int param, size_t value)
{
    for (size_t i = 0; param && i < NROWS; i++)
        if (rows[i].mallopt == param) { store(&rows[i], value); return 1; }
    return 0;
}

/* 0: not parsed, 1: being parsed, 2: done.  The constructor and the first allocation
 * may both ask; the second waits (only a thread started by another library's
 * constructor could meet the first half-way). */
static atomic_int parsed;

void snug_options_init(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&parsed, &expect, 1)) {
        while (atomic_load(&parsed) != 2) { }
        return;
    }
    const char *env = getenv("SNUG_OPTIONS");
    if (env) {
        const char *s = env;
        while (*s) {
            size_t len = strcspn(s, ",: ");
            if (len) apply(s, len);
            s += len;
            if (*s) s++;
        }
    }
    if (snug_opt.help) snug_options_help();
    if (snug_opt.verbose) snug_options_print();
    atomic_store(&parsed, 2);
}

/* At load time (libsnug.so when loaded or preloaded; a static program before main). */
__attribute__((constructor)) static void options_at_load(void) { snug_options_init(); }

#if SNUG_CHECKS
#define CHECKS_TEXT "on"
#else
#define CHECKS_TEXT "off (CHECKS=0)"
#endif

SNUG_API const char *snug_version(void) { return SNUG_VERSION_STRING; }

void snug_options_print(void)
{
    snug_write_line("snug: version " SNUG_VERSION_STRING "\n");
    snug_write_line(SNUG_SECURE_ON ? "snug: build: checks " CHECKS_TEXT ", secure mode on by default (SECURE=1)\n"
                                   : "snug: build: checks " CHECKS_TEXT ", secure mode off by default\n");
    for (size_t i = 0; i < NROWS; i++) {
        struct snug_line l = { .n = 0 };
        snug_line_put(&l, "snug: option ");
        snug_line_put(&l, rows[i].name);
        snug_line_put(&l, " = ");
        value_text(&l, &rows[i], *rows[i].value);
        snug_line_put(&l, set_by_user[i] ? " (set)" : " (default)");
        snug_line_end(&l);
    }
}

void snug_options_help(void)
{
    snug_write_line("snug: SNUG_OPTIONS is a comma-separated list of these (sizes take k, m, g; "
                    "a flag is set by its name, cleared by no<name>):\n");
    for (size_t i = 0; i < NROWS; i++) {
        struct snug_line l = { .n = 0 };
        snug_line_put(&l, "snug:   ");
        snug_line_put(&l, rows[i].name);
        snug_line_put(&l, rows[i].type == SNUG_OPT_FLAG ? "" : rows[i].type == SNUG_OPT_BYTES ? "=BYTES" : "=N");
        snug_line_pad(&l, 34);
        snug_line_put(&l, "default ");
        value_text(&l, &rows[i], rows[i].dflt);
        snug_line_pad(&l, 56);
        snug_line_put(&l, rows[i].help);
        snug_line_end(&l);
    }
}
