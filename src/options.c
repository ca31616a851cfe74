/* options.c - SNUG_OPTIONS: a comma- (or colon-) separated list of `name` or
 * `name=value`, values in bytes with an optional k/m/g suffix, for example
 * SNUG_OPTIONS=verbose,mmap_threshold=1m.  Unknown names are reported once.  Also
 * snug_version(), which `verbose` prints first. */
#include "options.h"
#include "config.h"
#include "error.h"
#include "snug.h"
#include <stdlib.h>
#include <string.h>

struct snug_options snug_opt = {
    .trim_threshold = 192u * 1024u,
    .top_pad = 64u * 1024u,
    .decay_ms = 500,
    .decay_max = 16u * 1024u * 1024u,
    .mmap_threshold = SNUG_LARGE_MIN,
    .thread_cache_after = 64,
    .background = 1,
    .sample_rate = 50000,
    .verbose = 0,
#ifdef SNUG_SECURE_DEFAULT
    .secure = 1,
#endif
};

static int parse_size(const char *s, size_t len, size_t *out)
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
        switch (s[i]) {
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
    char line[160];
    size_t n = 0;
    for (const char *p = "snug: SNUG_OPTIONS: "; *p; p++) line[n++] = *p;
    for (const char *p = what; *p && n < 80; p++) line[n++] = *p;
    line[n++] = ' ';
    line[n++] = '\'';
    for (size_t i = 0; i < len && n < sizeof line - 4; i++) line[n++] = s[i];
    line[n++] = '\'';
    line[n++] = '\n';
    line[n] = 0;
    snug_write_line(line);
}

static int name_is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(s, name, len) == 0;
}

static void apply(const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq ? (size_t)(eq - s) : len;
    const char *val = eq ? eq + 1 : NULL;
    size_t vlen = eq ? len - nlen - 1 : 0;
    size_t v = 0;
    if (name_is(s, nlen, "verbose") && !val) { snug_opt.verbose = 1; return; }
    if (name_is(s, nlen, "secure") && !val) { snug_opt.secure = 1; return; }
    if (name_is(s, nlen, "nosecure") && !val) { snug_opt.secure = 0; return; }
    size_t *target = name_is(s, nlen, "trim_threshold") ? &snug_opt.trim_threshold
                   : name_is(s, nlen, "top_pad") ? &snug_opt.top_pad
                   : name_is(s, nlen, "decay_ms") ? &snug_opt.decay_ms
                   : name_is(s, nlen, "decay_max") ? &snug_opt.decay_max
                   : name_is(s, nlen, "mmap_threshold") ? &snug_opt.mmap_threshold
                   : name_is(s, nlen, "thread_cache_after") ? &snug_opt.thread_cache_after
                   : name_is(s, nlen, "background") ? &snug_opt.background
                   : name_is(s, nlen, "sample_rate") ? &snug_opt.sample_rate : NULL;
    if (!target) { warn("unknown option", s, len); return; }
    if (!val || parse_size(val, vlen, &v) != 0) { warn("bad value in", s, len); return; }
    if (target == &snug_opt.mmap_threshold && v < SNUG_SMALL_MAX + 1) v = SNUG_SMALL_MAX + 1;
    *target = v;
}

void snug_options_init(void)
{
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
    if (snug_opt.verbose) snug_options_print();
}

static void print_size(const char *name, size_t v)
{
    char line[96], num[24];
    size_t n = 0;
    for (const char *p = "snug: option "; *p; p++) line[n++] = *p;
    for (const char *p = name; *p; p++) line[n++] = *p;
    line[n++] = '=';
    for (const char *p = snug_fmt_u(num, v); *p; p++) line[n++] = *p;
    line[n++] = '\n';
    line[n] = 0;
    snug_write_line(line);
}

SNUG_API const char *snug_version(void) { return SNUG_VERSION_STRING; }

void snug_options_print(void)
{
    snug_write_line("snug: version " SNUG_VERSION_STRING "\n");
    print_size("trim_threshold", snug_opt.trim_threshold);
    print_size("top_pad", snug_opt.top_pad);
    print_size("decay_ms", snug_opt.decay_ms);
    print_size("decay_max", snug_opt.decay_max);
    print_size("mmap_threshold", snug_opt.mmap_threshold);
    print_size("thread_cache_after", snug_opt.thread_cache_after);
    print_size("background", snug_opt.background);
    print_size("sample_rate", snug_opt.sample_rate);
    print_size("verbose", (size_t)snug_opt.verbose);
    print_size("secure", (size_t)snug_opt.secure);
}
