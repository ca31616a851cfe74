"""svgchart.py - the few SVG charts `make bench` draws, in plain Python (standard library
only: no matplotlib on the build machines).

    scatter(path, title, xlabel, ylabel, points)          one labelled point per series
    panels(path, title, xlabel, ylabel, xs, panels, ...)  small multiples of line charts
    lines(path, title, xlabel, stack, ...)                panels stacked on one numeric x axis

Colours are fixed per allocator name (COLORS) so every chart reads the same way.
"""
import math
from xml.sax.saxutils import escape

COLORS = {
    "snug": "#d62728", "snug (own H)": "#d62728", "snug (preload)": "#ff9896",
    "snug (GC)": "#8c564b", "bdwgc": "#17becf", "live payload": "#222222",
    "glibc": "#1f77b4", "jemalloc": "#2ca02c", "mimalloc": "#9467bd",
    "tcmalloc": "#ff7f0e",
}
FALLBACK = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def color(name, i=0):
    return COLORS.get(name, FALLBACK[i % len(FALLBACK)])


def nice_ticks(lo, hi, n=5):
    """Round tick values covering [lo, hi]; returns (lo', hi', ticks)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    a = math.floor(lo / step) * step
    b = math.ceil(hi / step) * step
    ticks = []
    v = a
    while v <= b + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return a, b, ticks


def fmt(v):
    if abs(v) >= 100 or v == int(v):
        return "%d" % round(v)
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2g" % v


class Svg:
    def __init__(self, w, h):
        self.w, self.h, self.parts = w, h, []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", color="#222", weight="normal", rotate=None):
        tr = " transform=\"rotate(%d %.1f %.1f)\"" % (rotate, x, y) if rotate else ""
        self.add("<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\" fill=\"%s\" "
                 "font-weight=\"%s\" %s%s>%s</text>"
                 % (x, y, size, anchor, color, weight, FONT, tr, escape(s)))

    def line(self, x1, y1, x2, y2, color="#999", width=1, dash=None):
        d = " stroke-dasharray=\"%s\"" % dash if dash else ""
        self.add("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                 "stroke-width=\"%s\"%s/>" % (x1, y1, x2, y2, color, width, d))

    def circle(self, x, y, r, fill, stroke=None):
        s = stroke or fill
        self.add("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\" "
                 "stroke-width=\"2\"/>" % (x, y, r, fill, s))

    def polyline(self, pts, color, width=2):
        self.add("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"%s\"/>"
                 % (color, width, " ".join("%.1f,%.1f" % p for p in pts)))

    def rect(self, x, y, w, h, fill="#fff", stroke="none"):
        self.add("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                 "stroke=\"%s\"/>" % (x, y, w, h, fill, stroke))

    def save(self, path):
        with open(path, "w") as f:
            f.write("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                    "viewBox=\"0 0 %d %d\">\n" % (self.w, self.h, self.w, self.h))
            f.write("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n")
            f.write("\n".join(self.parts))
            f.write("\n</svg>\n")


def _axes(svg, x0, y0, w, h, xr, yr, xticks, yticks, xlabel, ylabel, xfmt=fmt, yfmt=fmt,
          size=11):
    """Frame, grid and tick labels of a plot area whose top-left is (x0, y0)."""
    svg.rect(x0, y0, w, h, fill="#fafafa", stroke="#bbb")
    for t in xticks:
        x = x0 + (t - xr[0]) / (xr[1] - xr[0]) * w
        svg.line(x, y0, x, y0 + h, color="#e4e4e4")
        svg.text(x, y0 + h + 15, xfmt(t), size=size, anchor="middle")
    for t in yticks:
        y = y0 + h - (t - yr[0]) / (yr[1] - yr[0]) * h
        svg.line(x0, y, x0 + w, y, color="#e4e4e4")
        svg.text(x0 - 6, y + 4, yfmt(t), size=size, anchor="end")
    if xlabel:
        svg.text(x0 + w / 2, y0 + h + 34, xlabel, size=size + 1, anchor="middle")
    if ylabel:
        svg.text(x0 - 46, y0 + h / 2, ylabel, size=size + 1, anchor="middle", rotate=-90)


def scatter(path, title, xlabel, ylabel, points, subtitle=None, links=(), legend_head=""):
    """points: [(name, x, y, hollow)]; links: [(name_a, name_b)] drawn dashed."""
    W, H = 760, 480
    L, R, T, B = 80, 230, 60, 60
    svg = Svg(W, H)
    svg.text(W / 2, 26, title, size=16, anchor="middle", weight="bold")
    if subtitle:
        svg.text(W / 2, 45, subtitle, size=11, anchor="middle", color="#555")
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    xpad = max(2.0, (max(xs) - min(xs)) * 0.15)
    ypad = max(1e-9, (max(ys) - min(ys)) * 0.15, max(ys) * 0.05)
    xa, xb, xt = nice_ticks(min(xs) - xpad, max(xs) + xpad)
    ya, yb, yt = nice_ticks(max(0.0, min(ys) - ypad), max(ys) + ypad)
    pw, ph = W - L - R, H - T - B
    _axes(svg, L, T, pw, ph, (xa, xb), (ya, yb), xt, yt, xlabel, ylabel)

    def pos(x, y):
        return L + (x - xa) / (xb - xa) * pw, T + ph - (y - ya) / (yb - ya) * ph
    where = {p[0]: pos(p[1], p[2]) for p in points}
    for a, b in links:
        if a in where and b in where:
            svg.line(*where[a], *where[b], color="#999", dash="4,3")
    boxes = []          # placed labels and points, (x0, y0, x1, y1)
    for name in where:
        px, py = where[name]
        boxes.append((px - 8, py - 8, px + 8, py + 8))
    for i, (name, x, y, hollow) in enumerate(points):
        px, py = where[name]
        c = color(name, i)
        svg.circle(px, py, 7, "#ffffff" if hollow else c, c)
    for i, (name, x, y, hollow) in enumerate(points):
        px, py = where[name]
        c = color(name, i)
        w = 6.6 * len(name)
        for dx, dy, anchor in ((10, -9, "start"), (10, 19, "start"), (-10, -9, "end"),
                               (-10, 19, "end"), (0, -14, "middle"), (0, 26, "middle"),
                               (10, -24, "start"), (10, 34, "start")):
            x0 = px + dx - (w if anchor == "end" else w / 2 if anchor == "middle" else 0)
            box = (x0, py + dy - 11, x0 + w, py + dy + 2)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in boxes):
                break
        boxes.append(box)
        svg.text(px + dx, py + dy, name, size=11, color=c, anchor=anchor)
    # legend
    svg.text(W - R + 16, T + 4, legend_head, size=11, color="#555")
    ly = T + 22
    for i, (name, x, y, hollow) in enumerate(points):
        c = color(name, i)
        svg.circle(W - R + 22, ly, 6, "#ffffff" if hollow else c, c)
        svg.text(W - R + 34, ly + 4, "%s  %s, %s" % (name, fmt(x), fmt(y)), size=11)
        ly += 20
    svg.save(path)


def panels(path, title, xlabel, ylabel, xs, panel_data, cols=3, subtitle=None):
    """panel_data: [(panel_title, {series: [y per x or None]})]; x positions are the
    categories xs (equally spaced, as thread counts 1, 2, 8, 16 read best)."""
    n = len(panel_data)
    rows = (n + cols - 1) // cols
    PW, PH = 260, 190
    L, T = 70, 70
    W = L + cols * (PW + 40) + 20
    H = T + rows * (PH + 70) + 40
    svg = Svg(W, H)
    svg.text(W / 2, 26, title, size=16, anchor="middle", weight="bold")
    if subtitle:
        svg.text(W / 2, 45, subtitle, size=11, anchor="middle", color="#555")
    names = []
    for _, series in panel_data:
        for s in series:
            if s not in names:
                names.append(s)
    for k, (ptitle, series) in enumerate(panel_data):
        r, c = divmod(k, cols)
        x0 = L + c * (PW + 40)
        y0 = T + r * (PH + 70)
        vals = [v for ys in series.values() for v in ys if v is not None]
        if not vals:
            continue
        ya, yb, yt = nice_ticks(0.0, max(vals) * 1.05, 4)
        _axes(svg, x0, y0, PW, PH, (-0.5, len(xs) - 0.5), (ya, yb), [], yt,
              xlabel, ylabel if c == 0 else None, size=10)
        for i, xv in enumerate(xs):
            x = x0 + (i + 0.5) / len(xs) * PW
            svg.text(x, y0 + PH + 15, str(xv), size=10, anchor="middle")
        svg.text(x0 + PW / 2, y0 - 8, ptitle, size=12, anchor="middle", weight="bold")
        for j, name in enumerate(names):
            ys = series.get(name)
            if not ys:
                continue
            pts = [(x0 + (i + 0.5) / len(xs) * PW, y0 + PH - (v - ya) / (yb - ya) * PH)
                   for i, v in enumerate(ys) if v is not None]
            col = color(name, j)
            svg.polyline(pts, col)
            for p in pts:
                svg.circle(p[0], p[1], 3, col)
    # legend in the last free cell, or below
    k = n
    r, c = divmod(k, cols)
    if r < rows:
        lx, ly = L + c * (PW + 40) + 20, T + r * (PH + 70) + 10
    else:
        lx, ly = L, H - 25
    for j, name in enumerate(names):
        col = color(name, j)
        svg.line(lx, ly, lx + 24, ly, color=col, width=3)
        svg.text(lx + 30, ly + 4, name, size=12)
        ly += 20
    svg.save(path)


def lines(path, title, xlabel, stack, subtitle=None, xmax=None, legend=None):
    """stack: [dict(title, ylabel, series=[(name, [(x, y)], dash)], ymax=None, yfmt=fmt)]
    drawn one above the other on a shared x axis from 0 to xmax; one legend (names in
    order of first appearance, dashed where a series is) under the title."""
    W, PH, L, R, T = 960, 230, 80, 30, 96
    H = T + len(stack) * (PH + 60) + 20
    svg = Svg(W, H)
    svg.text(W / 2, 26, title, size=16, anchor="middle", weight="bold")
    if subtitle:
        svg.text(W / 2, 45, subtitle, size=11, anchor="middle", color="#555")
    pw = W - L - R
    if xmax is None:
        xmax = max((x for p in stack for _, pts, _ in p["series"] for x, _ in pts), default=1)
    xa, xb, xt = nice_ticks(0.0, float(xmax), 6)
    names = []
    for p in stack:
        for name, pts, dash in p["series"]:
            if pts and (name, dash) not in names:
                names.append((name, dash))
    # legend
    lx, ly = L, 66
    for i, (name, dash) in enumerate(legend or names):
        c = color(name, i)
        svg.line(lx, ly, lx + 24, ly, color=c, width=3, dash="6,3" if dash else None)
        svg.text(lx + 30, ly + 4, name, size=11)
        lx += 50 + 6.4 * len(name)
        if lx > W - 160:
            lx, ly = L, ly + 16
    for k, p in enumerate(stack):
        y0 = T + k * (PH + 60) + 14
        vals = [y for _, pts, _ in p["series"] for _, y in pts if y is not None]
        ymax = p.get("ymax") or (max(vals) * 1.05 if vals else 1.0)
        ya, yb, yt = nice_ticks(0.0, ymax, 5)
        _axes(svg, L, y0, pw, PH, (xa, xb), (ya, yb), xt, yt,
              xlabel if k == len(stack) - 1 else None, p.get("ylabel"),
              yfmt=p.get("yfmt", fmt), size=10)
        svg.text(L, y0 - 6, p["title"], size=12, weight="bold")
        for i, (name, pts, dash) in enumerate(p["series"]):
            segs, cur = [], []
            for x, y in pts:
                if y is None:
                    if cur:
                        segs.append(cur)
                    cur = []
                    continue
                y = min(max(y, ya), yb)
                cur.append((L + (x - xa) / (xb - xa) * pw, y0 + PH - (y - ya) / (yb - ya) * PH))
            if cur:
                segs.append(cur)
            for seg in segs:
                if len(seg) == 1:
                    seg = seg + [seg[0]]
                svg.add("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s "
                        "points=\"%s\"/>" % (color(name, i), " stroke-dasharray=\"6,3\""
                                               if dash else "",
                                               " ".join("%.1f,%.1f" % q for q in seg)))
    svg.save(path)
