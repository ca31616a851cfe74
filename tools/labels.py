#!/usr/bin/env python3
"""labels.py - DESIGN.md's invariant labels against the code: every label the
sources cite (a checker message "(I3)", a comment "P5", "SNUG_ASSERT(..., "K1 ...")")
is stated in DESIGN.md's "## Invariants", and every label stated there is cited
by some source file.  Usage: tools/labels.py [--extra FILE...]; exit 1 and one
line per disagreement, else one summary line."""
import glob, re, sys

def main(argv):
    extra = argv[argv.index("--extra") + 1:] if "--extra" in argv else []
    design = open("DESIGN.md").read()
    try:
        sect = design.split("\n## Invariants", 1)[1].split("\n## ", 1)[0]
    except IndexError:
        print("labels: DESIGN.md has no '## Invariants' section")
        return 1
    stated = set(re.findall(r"^- \*\*([A-Z][0-9])\*\*", sect, re.M))
    cited = {}
    files = sorted(glob.glob("src/*.[ch]") + glob.glob("src/gc/*.[ch]")) + extra
    label = re.compile(r"(?<![A-Za-z0-9_])((?:I|P|K|H|M|L|R)[1-9])(?![A-Za-z0-9_])")
    for f in files:
        for n, line in enumerate(open(f), 1):
            for m in label.finditer(line):
                cited.setdefault(m.group(1), []).append("%s:%d" % (f, n))
    bad = 0
    for lab in sorted(set(cited) - stated):
        print("labels: %s cites %s, which DESIGN.md's Invariants does not state" % (cited[lab][0], lab))
        bad = 1
    for lab in sorted(stated - set(cited)):
        print("labels: DESIGN.md states %s, which no source file cites" % lab)
        bad = 1
    if not bad:
        print("labels: %d invariants stated in DESIGN.md, each cited by the sources (%d citations)"
              % (len(stated), sum(len(v) for v in cited.values())))
    return bad

sys.exit(main(sys.argv[1:]))
