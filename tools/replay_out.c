/* replay_out.c - what snug-replay prints: errors and warnings on stderr (the first few
 * per trace unless -v), the table or the JSON on stdout, and a raw buffered writer for
 * the --series and --plot files that uses neither stdio nor malloc. */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---------------- errors and warnings ---------------- */

void error_at(struct state *s, const char *fmt, ...)
{
    s->errors++;
    if (s->errors > MAX_REPORTED_ERRORS && !opt_verbose) {
        if (s->errors == MAX_REPORTED_ERRORS + 1)
            fprintf(stderr, "%s: more errors follow, not shown (-v shows all)\n", s->name);
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: op %zu: error: %s\n", s->name, s->cur_op, msg);
}

void warn_at(struct state *s, const char *fmt, ...)
{
    s->warnings++;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: warning: %s\n", s->name, msg);
}

/* ---------------- raw output (--series, --plot) ---------------- */

/* Raw output through a buffer, without stdio (whose buffers come from malloc). */
struct out {
    int fd, err;
    size_t n;
    char buf[1 << 15];
};

static void out_flush(struct out *o)
{
    size_t done = 0;
    while (done < o->n && !o->err) {
        ssize_t w = write(o->fd, o->buf + done, o->n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            o->err = 1;
        else
            done += (size_t)w;
    }
    o->n = 0;
}

void outf(struct out *o, const char *fmt, ...)
{
    if (sizeof o->buf - o->n < 1024)
        out_flush(o);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->n, sizeof o->buf - o->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->n += (size_t)k < sizeof o->buf - o->n ? (size_t)k : sizeof o->buf - o->n - 1;
}

const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static struct out *out_buffer(void)
{
    static struct out *o;
    if (!o)
        o = xcalloc(1, sizeof *o);
    return o;
}

void out_touch(void)
{
    out_buffer()->n = 0;
}

struct out *out_open(const char *path, int flags)
{
    struct out *o = out_buffer();
    o->err = 0;
    o->n = 0;
    o->fd = open(path, flags, 0644);
    return o->fd < 0 ? NULL : o;
}

int out_close(struct out *o)
{
    out_flush(o);
    close(o->fd);
    return o->err ? -1 : 0;
}

/* ---------------- the table and the JSON ---------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

void out_head(void)
{
    if (!opt_quiet && !opt_json)
        printf("allocator: %s\n", allocator_name());
    if (!opt_quiet && !opt_json)
        printf("%-28s %9s %7s %11s %11s %6s %6s %6s %10s %6s%s\n", "trace", "ops", "ids",
               "payload-KiB", "heap-KiB", "util%", "ifrag%", "efrag%", "Kops/s", "errors",
               opt_gc ? "    GCs" : "");
    if (opt_json)
    {
        printf("{\"allocator\": \"%s\", \"allocator_name\": ", tested->name);
        json_string(allocator_name());
        printf(", \"traces\": [\n");
    }
}

static void out_trace_json(int k, const char *path, const struct result *r)
{
    printf("%s{\"trace\": ", k ? ",\n" : "");
    json_string(base_name(path));
    printf(", \"path\": ");
    json_string(path);
    if (!r->ok) {
        printf(", \"ok\": false, \"message\": ");
        json_string(r->msg);
        printf("}");
        return;
    }
    printf(", \"ok\": true, \"ops\": %zu, \"ids\": %zu, \"peak_payload\": %zu, "
           "\"heap\": %zu, \"heap_base\": %zu, \"heap_rss\": %zu, "
           "\"usable_at_peak\": %zu, "
           "\"util\": %.4f, \"ifrag\": %.4f, \"best_secs\": %.6f, "
           "\"ops_per_sec\": %.0f, \"errors\": %lu, \"warnings\": %lu, "
           "\"peak_op\": %zu",
           r->nops, r->num_ids, r->peak_payload, r->heap, r->heap_base, r->heap_rss,
           r->usable_at_peak, r->util, r->ifrag, r->best_secs, r->ops_per_sec,
           r->errors, r->warnings, r->peak_op);
    if (r->efrag_known)
        printf(", \"free_at_peak\": %zu, \"largest_free_at_peak\": %zu, \"free_slots_at_peak\": %zu, "
               "\"efrag\": %.4f", r->free_at_peak, r->largest_free_at_peak, r->slot_free_at_peak, r->efrag);
    else
        printf(", \"free_at_peak\": null, \"largest_free_at_peak\": null, \"free_slots_at_peak\": null, "
               "\"efrag\": null");
    if (opt_gc)
        printf(", \"gc_collections\": %zu, \"gc_heap_peak\": %zu, "
               "\"gc_retained\": %zu", r->gc_collections, r->gc_heap_peak,
               r->gc_retained);
    printf("}");
}

static void out_trace_text(const char *path, const struct result *r)
{
    char tput[32] = "-", gcs[32] = "", efrag[16] = "n/a";
    if (r->efrag_known)
        snprintf(efrag, sizeof efrag, "%.1f", 100 * r->efrag);
    if (opt_reps)
        snprintf(tput, sizeof tput, "%.1f", r->ops_per_sec / 1e3);
    if (opt_gc)
        snprintf(gcs, sizeof gcs, " %6zu", r->gc_collections);
    if (!r->ok)
        printf("%-28.28s FAILED: %s\n", base_name(path), r->msg);
    else
        printf("%-28.28s %9zu %7zu %11.1f %11.1f %6.1f %6.1f %6s %10s %6lu%s\n",
               base_name(path), r->nops, r->num_ids, r->peak_payload / 1024.0,
               r->heap / 1024.0, 100 * r->util, 100 * r->ifrag, efrag, tput, r->errors, gcs);
}

/* The k-th trace's object or line (nothing with --quiet). */
void out_trace(int k, const char *path, const struct result *r)
{
    if (opt_json)
        out_trace_json(k, path, r);
    else if (!opt_quiet)
        out_trace_text(path, r);
    fflush(stdout);
}

void out_tail(const struct totals *tot, int ntr)
{
    int nok = tot->nok;
    if (opt_json) {
        printf("\n], \"mean_util\": %.4f, \"mean_ifrag\": %.4f, \"ops_per_sec\": %.0f, "
               "\"errors\": %lu, \"failed\": %d}\n",
               nok ? tot->sum_util / nok : 0, nok ? tot->sum_ifrag / nok : 0,
               tot->sum_secs > 0 ? tot->sum_ops / tot->sum_secs : 0, tot->errors, tot->failed);
    } else if (!opt_quiet && ntr > 1) {
        char tput[32] = "-";
        if (opt_reps && tot->sum_secs > 0)
            snprintf(tput, sizeof tput, "%.1f", tot->sum_ops / tot->sum_secs / 1e3);
        printf("%-28s %9.0f %7s %11s %11s %6.1f %6.1f %6s %10s %6lu\n",
               "average (throughput: total)", tot->sum_ops, "", "", "",
               nok ? 100 * tot->sum_util / nok : 0, nok ? 100 * tot->sum_ifrag / nok : 0, "", tput,
               tot->errors);
    }
}
