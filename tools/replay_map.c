/* replay_map.c - snug-replay --plot: a picture of snug's heap (snug_heap_walk) at the op
 * where the live payload first peaks (or after --plot-op N), drawn as an SVG map in
 * address order with a legend, under it the payload and heap over the run. */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* Kinds as drawn: snug's span kinds, plus the free top of each region ("untouched"). */
enum { K_USED, K_FREE, K_SLOT, K_META, K_LARGE, K_TOP, NKINDS };
static const char *const kind_name[NKINDS] = {
    "allocated", "free (fit)", "free small slots", "metadata", "large mappings",
    "free region top",
};
static const char *const kind_color[NKINDS] = {
    "#3b6fb6", "#f2b134", "#9fd49a", "#444444", "#9467bd", "#e8e8e8",
};

#define MAP_COLS  1024          /* cells per row at the finest resolution */
#define MAP_ROWS  64            /* at most */
#define MAP_SEGS  256           /* region / mapping boundaries remembered */
#define MAP_RECTS 4000          /* the SVG's rectangles at most (beside one per row) */

struct heapmap {
    uint32_t (*cell)[NKINDS];   /* MAP_COLS * MAP_ROWS cells: bytes of each kind */
    size_t want_op;             /* take the picture after this op */
    int taken;
    /* the walk */
    int pass;
    uintptr_t prev_end;
    size_t logical;             /* bytes walked so far (gaps between mappings skipped) */
    size_t total, cell_bytes, ncells;
    size_t kind_bytes[NKINDS];
    size_t nseg, seg_at[MAP_SEGS];      /* logical offsets where a new mapping begins */
    size_t ntop, top_at[MAP_SEGS];      /* logical starts of free region tops */
    size_t top_next;
    int last_free;              /* pass 1: the current segment's last span is free */
    size_t last_free_at;
    int in_large;
    /* the moment */
    size_t op, payload, usable, heap_bytes, heap_base, gc_bytes;
};

static void walk_span(const void *start, size_t bytes, enum snug_span_kind kind, void *arg)
{
    struct heapmap *m = arg;
    uintptr_t a = (uintptr_t)start;
    int newseg = m->logical && a != m->prev_end;
    m->prev_end = a + bytes;
    if (m->pass == 1) {
        if (newseg && m->nseg < MAP_SEGS)
            m->seg_at[m->nseg++] = m->logical;
        if (newseg && m->last_free && m->ntop < MAP_SEGS)
            m->top_at[m->ntop++] = m->last_free_at;
        m->last_free = kind == SNUG_SPAN_FREE;
        m->last_free_at = m->logical;
        m->logical += bytes;
        return;
    }
    int k;
    switch (kind) {
    case SNUG_SPAN_USED:      k = K_USED; break;
    case SNUG_SPAN_FREE:      k = K_FREE; break;
    case SNUG_SPAN_SLOT_FREE: k = K_SLOT; break;
    case SNUG_SPAN_LARGE:     k = K_LARGE; break;
    default:                  k = K_META; break;
    }
    while (m->top_next < m->ntop && m->top_at[m->top_next] < m->logical)
        m->top_next++;
    if (k == K_FREE && m->top_next < m->ntop && m->top_at[m->top_next] == m->logical)
        k = K_TOP;
    m->kind_bytes[k] += bytes;
    size_t off = m->logical;
    m->logical += bytes;
    while (bytes) {
        size_t c = off / m->cell_bytes;
        size_t take = (c + 1) * m->cell_bytes - off;
        if (take > bytes)
            take = bytes;
        if (c < m->ncells)
            m->cell[c][k] += (uint32_t)take;
        off += take;
        bytes -= take;
    }
}

/* Walks the heap twice: once to size the map (and find the region tops), once to fill it. */
static void heapmap_take(struct heapmap *m)
{
    m->pass = 1;
    m->logical = 0;
    m->prev_end = 0;
    m->nseg = m->ntop = 0;
    m->last_free = 0;
    snug_heap_walk(walk_span, m);
    if (m->last_free && m->ntop < MAP_SEGS)
        m->top_at[m->ntop++] = m->last_free_at;
    m->total = m->logical;
    size_t cells = (size_t)MAP_COLS * MAP_ROWS;
    size_t cb = (m->total + cells - 1) / cells;
    cb = (cb + MIN_ALIGN - 1) & ~(size_t)(MIN_ALIGN - 1);
    m->cell_bytes = cb < MIN_ALIGN ? MIN_ALIGN : cb;
    m->ncells = (m->total + m->cell_bytes - 1) / m->cell_bytes;
    if (m->ncells > cells)
        m->ncells = cells;
    m->pass = 2;
    m->logical = 0;
    m->prev_end = 0;
    m->top_next = 0;
    memset(m->kind_bytes, 0, sizeof m->kind_bytes);
    snug_heap_walk(walk_span, m);
    m->taken = 1;
}

/* The first op after which the live payload (as the checking run counts it) is at its
 * maximum; uses s->span and s->live.in as scratch and clears them again. */
size_t find_peak_op(struct state *s)
{
    const struct trace *t = s->t;
    unsigned char *live = s->live.in;
    size_t payload = 0, best = 0, at = 0;
    for (size_t i = 0; i < t->nops; i++) {
        const struct trace_op *op = &t->ops[i];
        uint32_t id = op->id;
        int was = live[id];
        if (was && (op->kind == TOP_FREE || op->kind == TOP_REALLOC)) {
            payload -= s->span[id];
            live[id] = 0;
        }
        if (op->kind != TOP_FREE && !(op->kind == TOP_REALLOC && was && op->size == 0)) {
            s->span[id] = trace_op_bytes(op);
            live[id] = 1;
            payload += s->span[id];
        }
        if (payload > best) {
            best = payload;
            at = i;
        }
    }
    memset(s->span, 0, t->num_ids * sizeof *s->span);
    memset(live, 0, t->num_ids);
    return at;
}

/* The map's memory, touched now so that it is in the RSS baseline, and the op to take
 * the picture after: --plot-op's (the last op if larger), or the payload's peak. */
struct heapmap *heapmap_new(struct state *s)
{
    size_t nops = s->t->nops;
    struct heapmap *m = xcalloc(1, sizeof *m);
    m->cell = xcalloc((size_t)MAP_COLS * MAP_ROWS, sizeof *m->cell);
    memset(m->cell, 0, (size_t)MAP_COLS * MAP_ROWS * sizeof *m->cell);
    m->want_op = opt_plot_op ? (opt_plot_op < nops ? opt_plot_op : nops) - 1 : find_peak_op(s);
    return m;
}

/* After op i of the checking run: takes the picture when i is the op wanted. */
void heapmap_at(struct heapmap *m, size_t i, size_t payload, size_t usable, size_t heap_base,
                size_t gc_bytes)
{
    struct snug_stats st;
    if (i != m->want_op)
        return;
    m->op = i + 1;
    m->payload = payload;
    m->usable = usable;
    m->heap_base = heap_base;
    m->gc_bytes = gc_bytes;
    if (snug_stats(&st) == 0)
        m->heap_bytes = st.heap_bytes;
    heapmap_take(m);
}

int heapmap_taken(const struct heapmap *m)
{
    return m->taken;
}

void heapmap_free(struct heapmap *m)
{
    map_free(m->cell);
    map_free(m);
}

static void svg_escape(struct out *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': outf(o, "&lt;"); break;
        case '>': outf(o, "&gt;"); break;
        case '&': outf(o, "&amp;"); break;
        case '"': outf(o, "&quot;"); break;
        default: outf(o, "%c", *s);
        }
    }
}

static void human(char *buf, size_t len, double bytes)
{
    if (bytes >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= 1024.0 * 1024)
        snprintf(buf, len, "%.2f MiB", bytes / (1024.0 * 1024));
    else if (bytes >= 1024.0)
        snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
    else
        snprintf(buf, len, "%.0f B", bytes);
}

/* The dominant kind of cells [c, c + f) at the finest resolution, -1 when past the end. */
static int cell_kind(const struct heapmap *m, size_t c, size_t f)
{
    if (c >= m->ncells)
        return -1;
    uint64_t sum[NKINDS] = {0};
    for (size_t j = c; j < c + f && j < m->ncells; j++)
        for (int k = 0; k < NKINDS; k++)
            sum[k] += m->cell[j][k];
    int best = 0;
    for (int k = 1; k < NKINDS; k++)
        if (sum[k] > sum[best])
            best = k;
    return best;
}

/* Rectangles the map needs with f finest cells per drawn cell (a background per row). */
static size_t map_rects(const struct heapmap *m, size_t f, int emit, struct out *o, int kind,
                        double x0, double y0, double cw, double rh)
{
    size_t cols = MAP_COLS / f, rects = 0;
    size_t rows = (m->ncells + MAP_COLS - 1) / MAP_COLS;
    for (size_t r = 0; r < rows; r++) {
        /* background: the most frequent kind of the row */
        size_t count[NKINDS] = {0};
        size_t used = 0;
        for (size_t c = 0; c < cols; c++) {
            int k = cell_kind(m, r * MAP_COLS + c * f, f);
            if (k < 0)
                break;
            count[k]++;
            used++;
        }
        int bg = 0;
        for (int k = 1; k < NKINDS; k++)
            if (count[k] > count[bg])
                bg = k;
        if (emit && bg == kind && used)
            outf(o, "M%.1f %.1fh%.1fv%.1fh-%.1fz", x0, y0 + r * rh, used * cw, rh - 1,
                 used * cw);
        for (size_t c = 0; c < used;) {
            int k = cell_kind(m, r * MAP_COLS + c * f, f);
            size_t e = c + 1;
            while (e < used && cell_kind(m, r * MAP_COLS + e * f, f) == k)
                e++;
            if (k != bg) {
                rects++;
                if (emit && k == kind)
                    outf(o, "M%.1f %.1fh%.1fv%.1fh-%.1fz", x0 + c * cw, y0 + r * rh,
                         (e - c) * cw, rh - 1, (e - c) * cw);
            }
            c = e;
        }
    }
    return rects;
}

static void plot_path(char *buf, size_t len, const char *tmpl, const char *trace)
{
    if (!multi_trace) {
        snprintf(buf, len, "%s", tmpl);
        return;
    }
    /* several traces: FILE.svg -> FILE-TRACE.svg (TRACE without .rep) */
    char tn[256];
    snprintf(tn, sizeof tn, "%s", base_name(trace));
    char *dot = strstr(tn, ".rep");
    if (dot)
        *dot = 0;
    size_t n = strlen(tmpl);
    if (n > 4 && !strcmp(tmpl + n - 4, ".svg"))
        snprintf(buf, len, "%.*s-%s.svg", (int)(n - 4), tmpl, tn);
    else
        snprintf(buf, len, "%s-%s.svg", tmpl, tn);
}

static void svg_polyline(struct out *o, const struct series *ser, int which, double x0,
                         double y0, double w, double h, double xmax, double ymax,
                         const char *color, const char *dash)
{
    outf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s%s%s points=\"", color,
         dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    for (size_t k = 0; k < ser->n; k++) {
        const struct sample *x = &ser->v[k];
        double v = which == 0 ? (double)x->payload : which == 1 ? (double)x->heap
                 : which == 2 ? (double)x->rss : (double)x->gc;
        if (v < 0)
            v = 0;
        outf(o, "%.1f,%.1f ", x0 + (double)x->op / xmax * w, y0 + h - v / ymax * h);
    }
    outf(o, "\"/>\n");
}


/* ---------------- the SVG ---------------- */

static const double plot_w = 1000, plot_x0 = 96, plot_mw = 872;    /* width, map's left, width */
static const char *const plot_font =
    "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

/* Where everything goes: the map's resolution (f finest cells per drawn cell), rows and
 * cells, the legend (ly), the series panel (py, ph) and the picture's height. */
struct plot {
    struct out *o;
    struct state *s;
    const struct heapmap *m;
    size_t f, rows;
    double rh, cw, y0, mh, ly, py, ph, h;
};

static void plot_layout(struct plot *p, const struct series *ser)
{
    const struct heapmap *m = p->m;
    size_t f = 1;
    while (f < MAP_COLS / 64 && map_rects(m, f, 0, NULL, 0, 0, 0, 0, 0) > MAP_RECTS)
        f *= 2;
    p->f = f;
    p->rows = (m->ncells + MAP_COLS - 1) / MAP_COLS;
    if (p->rows == 0)
        p->rows = 1;
    double rh = 400.0 / (double)p->rows;
    p->rh = rh > 14 ? 14 : rh < 5 ? 5 : (double)(int)rh;
    p->cw = plot_mw / (double)(MAP_COLS / f);
    p->y0 = 104;
    p->mh = p->rows * p->rh;
    p->ly = p->y0 + p->mh + 26;                 /* legend */
    p->py = p->ly + 3 * 22 + 40;                /* series panel */
    p->ph = 230;
    p->h = ser->n ? p->py + p->ph + 60 : p->ly + 3 * 22 + 10;
}

/* The title, what the map shows, and the offsets down its left side. */
static void plot_head(const struct plot *p)
{
    struct out *o = p->o;
    const struct heapmap *m = p->m;
    const double W = plot_w, X0 = plot_x0;
    char b1[32], b2[32], b3[32];
    outf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
         "viewBox=\"0 0 %.0f %.0f\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
         W, p->h, W, p->h);
    outf(o, "<g %s fill=\"#222\">\n<text x=\"%.0f\" y=\"26\" font-size=\"16\" "
         "font-weight=\"bold\" text-anchor=\"middle\">", plot_font, W / 2);
    if (opt_plot_op)
        outf(o, "%s heap after op %zu: ", tested->name, m->op);
    else
        outf(o, "%s heap at the peak of live payload: ", tested->name);
    svg_escape(o, base_name(p->s->name));
    outf(o, "</text>\n");
    human(b1, sizeof b1, (double)m->payload);
    human(b2, sizeof b2, (double)(m->heap_bytes - m->heap_base));
    human(b3, sizeof b3, (double)m->heap_base);
    outf(o, "<text x=\"%.0f\" y=\"46\" font-size=\"12\" text-anchor=\"middle\" fill=\"#444\">"
         "after op %zu of %zu: live payload %s, heap %s held for the trace "
         "(U here %.1f%%) + %s start-up footprint</text>\n", W / 2, m->op, p->s->t->nops, b1,
         b2, m->heap_bytes > m->heap_base ? 100.0 * (double)m->payload /
         (double)(m->heap_bytes - m->heap_base) : 0.0, b3);
    human(b1, sizeof b1, (double)m->total);
    human(b2, sizeof b2, (double)m->cell_bytes * (double)p->f);
    human(b3, sizeof b3, (double)m->cell_bytes * MAP_COLS);
    outf(o, "<text x=\"%.0f\" y=\"62\" font-size=\"12\" text-anchor=\"middle\" fill=\"#444\">"
         "snug_heap_walk: %s in address order, mappings laid end to end (black ticks: a new "
         "region or mapping)</text>\n", W / 2, b1);
    outf(o, "<text x=\"%.0f\" y=\"78\" font-size=\"12\" text-anchor=\"middle\" fill=\"#444\">"
         "one row = %s, one cell = %s, coloured by the kind that fills most of it%s</text>\n",
         W / 2, b3, b2, opt_gc ? "; allocated includes garbage not collected yet" : "");
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">"
         "offset</text>\n", X0 - 6, p->y0 - 6);
    size_t every = p->rh >= 10 ? 1 : (size_t)(12 / p->rh) + 1;
    for (size_t r = 0; r < p->rows; r += every) {
        human(b1, sizeof b1, (double)r * (double)m->cell_bytes * MAP_COLS);
        outf(o, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%s</text>\n",
             X0 - 6, p->y0 + r * p->rh + p->rh - 2, b1);
    }
    outf(o, "</g>\n");
}

/* The cells, one path per kind, the ticks between mappings, and the legend. */
static void plot_map(const struct plot *p)
{
    struct out *o = p->o;
    const struct heapmap *m = p->m;
    const double X0 = plot_x0, MW = plot_mw;
    char b1[32], b2[32];
    for (int k = 0; k < NKINDS; k++) {
        outf(o, "<path fill=\"%s\" d=\"", kind_color[k]);
        map_rects(m, p->f, 1, o, k, X0, p->y0, p->cw, p->rh);
        outf(o, "\"/>\n");
    }
    /* boundaries between mappings */
    double fcw = MW / (double)MAP_COLS;
    outf(o, "<path stroke=\"#000\" stroke-width=\"2\" d=\"");
    for (size_t i = 0; i < m->nseg; i++) {
        size_t c = m->seg_at[i] / m->cell_bytes;
        outf(o, "M%.1f %.1fv%.1f", X0 + (double)(c % MAP_COLS) * fcw,
             p->y0 + (double)(c / MAP_COLS) * p->rh - 2, p->rh + 3);
    }
    outf(o, "\"/>\n");
    /* legend */
    outf(o, "<g %s font-size=\"12\" fill=\"#222\">\n", plot_font);
    for (int k = 0; k < NKINDS; k++) {
        double lx = X0 + (k % 3) * 300, yy = p->ly + (k / 3) * 22;
        human(b1, sizeof b1, (double)m->kind_bytes[k]);
        outf(o, "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\" "
             "stroke=\"#999\"/><text x=\"%.0f\" y=\"%.0f\">%s: %s (%.1f%%)</text>\n", lx,
             yy - 11, kind_color[k], lx + 20, yy, kind_name[k], b1,
             m->total ? 100.0 * (double)m->kind_bytes[k] / (double)m->total : 0.0);
    }
    human(b1, sizeof b1, (double)m->payload);
    human(b2, sizeof b2, (double)(m->usable));
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#555\">the trace's live blocks here: %s "
         "requested, %s usable%s</text>\n</g>\n", X0, p->ly + 2 * 22, b1, b2,
         opt_gc ? "; the rest of \"allocated\" is garbage not collected yet and the "
         "collector's index" : "");
}

/* The series panel's vertical scale: the unit (KiB or MiB), the grid step and the top. */
struct plot_scale {
    double xmax, unit, step, ytop;
    const char *uname;
};

static void plot_scale(const struct plot *p, const struct series *ser, struct plot_scale *sc)
{
    double ymax = 1;
    sc->xmax = (double)(p->s->t->nops ? p->s->t->nops : 1);
    for (size_t k = 0; k < ser->n; k++) {
        const struct sample *x = &ser->v[k];
        double v[4] = {(double)x->payload, (double)x->heap, (double)x->rss, (double)x->gc};
        for (int j = 0; j < 4; j++)
            if (v[j] > ymax)
                ymax = v[j];
    }
    double unit = ymax >= 2.0 * 1024 * 1024 ? 1024.0 * 1024 : 1024.0;
    sc->unit = unit;
    sc->uname = unit > 1024 ? "MiB" : "KiB";
    double raw = ymax / unit / 5, mag = 1;
    while (mag * 10 <= raw)
        mag *= 10;
    while (mag > raw && mag > 1e-3)
        mag /= 10;
    double step = mag;
    for (int j = 0; j < 4 && step < raw; j++)
        step = mag * (double[]){1, 2, 2.5, 5, 10}[j + 1];
    double ytop = step * (double)(long)(ymax / unit / step + 0.999);
    if (ytop <= 0)
        ytop = 1;
    sc->step = step;
    sc->ytop = ytop;
}

/* The series panel's frame, grid, axis labels and the mark of the map's op. */
static void plot_axes(const struct plot *p, const struct plot_scale *sc)
{
    struct out *o = p->o;
    const double PW = plot_mw, PX = plot_x0, py = p->py, ph = p->ph;
    const double step = sc->step, ytop = sc->ytop, xmax = sc->xmax;
    outf(o, "<g %s font-size=\"11\" fill=\"#222\">\n", plot_font);
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" font-weight=\"bold\">live payload "
         "and heap over the run</text>\n", PX, py - 14);
    outf(o, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
         "stroke=\"#bbb\"/>\n", PX, py, PW, ph);
    for (double v = 0; v <= ytop + step * 1e-6; v += step) {
        double yy = py + ph - v / ytop * ph;
        outf(o, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
             "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", PX, PX + PW, yy,
             yy, PX - 6, yy + 4, v);
    }
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" transform=\"rotate(-90 %.0f "
         "%.0f)\">%s</text>\n", PX - 52, py + ph / 2, PX - 52, py + ph / 2, sc->uname);
    for (int j = 0; j <= 4; j++) {
        double xx = PX + PW * j / 4;
        outf(o, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", xx,
             py + ph + 15, xmax * j / 4);
    }
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">op</text>\n", PX + PW / 2,
         py + ph + 32);
    double xp = PX + (double)p->m->op / xmax * PW;
    outf(o, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#3b6fb6\" "
         "stroke-dasharray=\"4,3\"/><text x=\"%.1f\" y=\"%.0f\" fill=\"#3b6fb6\">"
         "map above</text>\n", xp, xp, py, py + ph, xp + 4, py + 12);
    outf(o, "</g>\n");
}

/* The series' lines, their legend, and the trace's U. */
static void plot_lines(const struct plot *p, const struct series *ser, const struct result *res,
                       const struct plot_scale *sc)
{
    struct out *o = p->o;
    const double PW = plot_mw, PX = plot_x0, py = p->py, ph = p->ph, xmax = sc->xmax;
    char b1[32], b2[32];
    double ys = sc->ytop * sc->unit;
    svg_polyline(o, ser, 2, PX, py, PW, ph, xmax, ys, "#999999", "5,3");
    if (opt_gc)
        svg_polyline(o, ser, 3, PX, py, PW, ph, xmax, ys, "#2ca02c", NULL);
    svg_polyline(o, ser, 1, PX, py, PW, ph, xmax, ys, "#d62728", NULL);
    svg_polyline(o, ser, 0, PX, py, PW, ph, xmax, ys, "#222222", NULL);
    const char *names[4] = {"live payload", "heap (snug_stats, minus start-up)",
                            "RSS growth", "GC heap bytes (snug_gc_heap_bytes)"};
    const char *cols[4] = {"#222222", "#d62728", "#999999", "#2ca02c"};
    double lx = PX;
    outf(o, "<g %s font-size=\"11\" fill=\"#222\">\n", plot_font);
    for (int j = 0; j < 4; j++) {
        if (j == 3 && !opt_gc)
            continue;
        outf(o, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
             "stroke-width=\"3\"%s/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n", lx, lx + 22,
             py + ph + 46, py + ph + 46, cols[j], j == 2 ? " stroke-dasharray=\"5,3\"" : "",
             lx + 27, py + ph + 50, names[j]);
        lx += 40 + 6.2 * (double)strlen(names[j]);
    }
    human(b1, sizeof b1, (double)res->peak_payload);
    human(b2, sizeof b2, (double)res->heap);
    outf(o, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" fill=\"#555\">peak payload %s, "
         "H %s, U %.1f%%</text>\n</g>\n", PX + PW, py - 14, b1, b2, 100 * res->util);
}

/* Writes the picture to --plot's file (FILE-TRACE.svg with several traces). */
void plot_write(struct state *s, const struct heapmap *m, const struct series *ser,
                const struct result *res)
{
    char path[4096];
    plot_path(path, sizeof path, opt_plot, s->name);
    struct plot p = {.s = s, .m = m};
    p.o = out_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
    if (!p.o) {
        warn_at(s, "--plot %s: %s", path, strerror(errno));
        return;
    }
    plot_layout(&p, ser);
    plot_head(&p);
    plot_map(&p);
    if (ser->n) {
        struct plot_scale sc;
        plot_scale(&p, ser, &sc);
        plot_axes(&p, &sc);
        plot_lines(&p, ser, res, &sc);
    }
    outf(p.o, "</svg>\n");
    if (out_close(p.o) != 0)
        warn_at(s, "--plot %s: write failed", path);
}
