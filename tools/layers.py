#!/usr/bin/env python3
"""layers.py - the layer check: no file of snug's library calls a file of a higher
layer, and no two files of one layer call each other in a cycle.  The layers are the
table under "## Layers" in DESIGN.md, read here; the calls come from the built objects
(nm: a symbol one object leaves undefined and another defines) and the includes from
the sources (a file may include headers of its own layer and below only).

    tools/layers.py [--build B] [--table DESIGN.md] [--extra OBJ=SRC]... [--graph]

--build B        the build folder whose obj/full, obj/prefix and obj/debug objects are read
                 (default: build); every file in src/ (and each subfolder) must be in the table
--extra OBJ=SRC  read OBJ too, as if compiled from SRC (the test's deliberate bad calls)
--graph          print every call between files, with their layers, and exit 0
Exit status: 0 when every call and include goes down or across without a cycle, 1 when
not (each offence on one line: file, symbol or header, and both layers), 2 on bad input.
"""
import argparse
import fnmatch
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ("full", "prefix", "debug")
DEFINED = set("TDBRVWCGSiu")     # nm letters of a symbol an object defines for others


def die(msg):
    print("layers: " + msg, file=sys.stderr)
    sys.exit(2)


def read_table(path):
    """[(pattern, level, name)] from the markdown table under '## Layers'."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        die("cannot read the layer table: %s" % e)
    m = re.search(r"^## Layers[ \t]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        die("%s has no '## Layers' section" % path)
    rows = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2 or set(cells[0]) <= set("-: "):
            continue
        files = re.findall(r"`([^`]+)`", cells[0])
        lm = re.match(r"(\d+(?:\.\d+)?)\s+(.*)", cells[1])
        if not files:
            continue                                    # the heading row
        if cells[1] == "-":
            lm = None                                   # named, but not checked
        elif not lm:
            die("%s: layer '%s' of %s does not start with its number" % (path, cells[1], cells[0]))
        for f in files:
            rows.append((f, float(lm.group(1)), lm.group(1) + " " + lm.group(2).strip()) if lm else (f, None, "-"))
    if not rows:
        die("%s: the '## Layers' section has no table rows" % path)
    return rows


def layer_of(path, rows):
    """(level, name) of a file (path relative to the tree), or None when no row names it;
    level None: a row names it with the layer '-' (not checked)."""
    for pat, level, name in rows:
        if path == pat or fnmatch.fnmatchcase(path, pat):
            return level, name
    return None


def nm_symbols(obj):
    """(defined, undefined) global symbol sets of an object file."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True)
    if out.returncode != 0:
        die("nm %s: %s" % (obj, out.stderr.strip()))
    defined, undefined = set(), set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("U", "w"):
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in DEFINED:
            defined.add(parts[2])
    return defined, undefined


def objects(build, extra):
    """[(object, source path relative to the tree)]: the library's objects of every variant built."""
    objs = []
    for v in VARIANTS:
        d = os.path.join(build, "obj", v)
        for o in sorted(glob.glob(os.path.join(d, "**", "*.o"), recursive=True)):
            objs.append((o, "src/" + os.path.relpath(o, d)[:-2] + ".c"))
    if not objs:
        die("no objects under %s/obj/{%s}: build the libraries first (make libs)" % (build, ",".join(VARIANTS)))
    for e in extra:
        o, _, src = e.partition("=")
        if not src:
            die("--extra wants OBJ=SRC, not %s" % e)
        objs.append((o, src))
    return objs


def call_edges(objs):
    """{(caller, callee): set of symbols} over every object read."""
    defs, undefs = {}, []
    for o, src in objs:
        d, u = nm_symbols(o)
        for s in d:
            defs.setdefault(s, set()).add(src)
        undefs.append((src, u))
    edges = {}
    for src, u in undefs:
        for s in u:
            for to in defs.get(s, ()):
                if to != src:
                    edges.setdefault((src, to), set()).add(s)
    return edges


def include_edges(files):
    """{(includer, header): {'#include'}} for the tree's own headers."""
    edges = {}
    for f in files:
        try:
            text = open(os.path.join(ROOT, f), encoding="utf-8").read()
        except OSError:
            continue
        for h in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
            for base in (os.path.dirname(f), "src", "include"):
                cand = os.path.normpath(os.path.join(base, h))
                if os.path.isfile(os.path.join(ROOT, cand)):
                    if cand != f:
                        edges.setdefault((f, cand), set()).add("#include")
                    break
    return edges


def cycles(nodes, edges):
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    succ = {n: sorted(b for (a, b) in edges if a == n) for n in nodes}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return out


def main():
    ap = argparse.ArgumentParser(description="snug's layer check (see DESIGN.md, ## Layers)")
    ap.add_argument("--build", default="build")
    ap.add_argument("--table", default=os.path.join(ROOT, "DESIGN.md"))
    ap.add_argument("--extra", action="append", default=[])
    ap.add_argument("--graph", action="store_true")
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(ROOT, a.build)

    rows = read_table(a.table)
    objs = objects(build, a.extra)
    calls = call_edges(objs)
    sources = sorted({p for _, p in objs if os.path.isfile(os.path.join(ROOT, p))} |
                     {os.path.relpath(p, ROOT) for pat in ("src/*.c", "src/*.h", "src/*/*.c", "src/*/*.h")
                      for p in glob.glob(os.path.join(ROOT, pat))})
    includes = include_edges(sources)

    files = sorted({p for _, p in objs} | set(sources) | {b for (_, b) in includes})
    if a.graph:
        name = lambda f: (layer_of(f, rows) or (0, "not in the table"))[1]
        for (x, y), syms in sorted(calls.items()):
            print("%s [%s] -> %s [%s]: %s" % (x, name(x), y, name(y), " ".join(sorted(syms))))
        return 0
    bad = []
    for f in files:
        if layer_of(f, rows) is None:
            bad.append("%s: not in the layer table (%s)" % (f, os.path.relpath(a.table, ROOT)))
    if bad:
        print("\n".join(bad))
        return 1

    unchecked = [f for f in files if layer_of(f, rows)[0] is None]
    same, checked = {}, {"calls": 0, "includes": 0}
    for kind, edges in (("calls", calls), ("includes", includes)):
        for (x, y), syms in sorted(edges.items()):
            (lx, nx), (ly, ny) = layer_of(x, rows), layer_of(y, rows)
            if lx is None or ly is None:
                continue
            checked[kind] += 1
            if lx < ly and kind == "calls":
                bad.append("%s (layer %s) calls %s of %s (layer %s): a lower layer calling up" %
                           (x, nx, ", ".join(sorted(syms)), y, ny))
            elif lx < ly:
                bad.append("%s (layer %s) includes %s (layer %s): a lower layer reaching up" % (x, nx, y, ny))
            elif lx == ly and kind == "calls":
                same[(x, y)] = syms
    for comp in cycles({n for e in same for n in e}, same):
        inside = ["%s -> %s (%s)" % (x, y, ", ".join(sorted(s))) for (x, y), s in sorted(same.items())
                  if x in comp and y in comp]
        bad.append("call cycle inside layer %s: %s" % (layer_of(comp[0], rows)[1], "; ".join(inside)))
    if bad:
        print("\n".join(bad))
        return 1
    print("layers: %d files, %d file-to-file calls and %d includes, each down a layer or one way inside one" %
          (len(files) - len(unchecked), checked["calls"], checked["includes"]))
    if unchecked:
        print("layers: not checked (layer '-' in the table): " + " ".join(unchecked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
