#!/bin/sh
# record-traces.sh - re-records the bundled real-program traces (traces/*.rep.xz) with
# build/snug-trace.so: python3, sqlite3, perl, git, g++ (cc1plus).  Each trace is the
# busiest process of its run, cut to a valid prefix of at most $MAXOPS ops.
#
# Usage: tools/record-traces.sh [BUILD_DIR [OUT_DIR]]   (defaults: build, traces)
# Needs: make tools (for snug-trace.so), /usr/bin/python3, sqlite3, perl, git, g++, xz.
set -eu

B=${1:-build}
OUT=${2:-traces}
MAXOPS=${MAXOPS:-300000}
TRACER=$(cd "$B" && pwd)/snug-trace.so
[ -f "$TRACER" ] || { echo "record-traces: $TRACER missing (make tools)" >&2; exit 1; }
for p in /usr/bin/python3 sqlite3 perl git g++ xz; do
    command -v "$p" >/dev/null || { echo "record-traces: $p not installed" >&2; exit 1; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/snug-record.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# run NAME CMD...: run CMD (in $WORK/scratch) with the tracer; traces land in $WORK/NAME.
run() {
    name=$1
    shift
    mkdir -p "$WORK/$name" "$WORK/scratch"
    (cd "$WORK/scratch" && SNUG_TRACE_DIR="$WORK/$name" LD_PRELOAD="$TRACER" "$@")
}

# keep NAME PROG: of the finished traces PROG.*.rep in $WORK/NAME, keep the one with
# the most ops, cut to MAXOPS ops (a prefix; header counts recomputed) -> OUT/NAME.rep.xz
keep() {
    name=$1
    prog=$2
    best=
    bestn=-1
    for f in "$WORK/$name/$prog".*.rep; do
        [ -f "$f" ] || continue
        n=$(sed -n 3p "$f")
        if [ "$n" -gt "$bestn" ]; then best=$f; bestn=$n; fi
    done
    [ -n "$best" ] || { echo "record-traces: no $prog trace for $name" >&2; exit 1; }
    awk -v max="$MAXOPS" '
        NR <= 4 { next }
        n >= max { exit }
        {
            op[++n] = $0
            id = $2 + 0
            if (id + 1 > ids) ids = id + 1
            if ($1 == "a") { live[id] = 1; sz[id] = $3; cur += $3 }
            else if ($1 == "c") { live[id] = 1; sz[id] = $3 * $4; cur += $3 * $4 }
            else if ($1 == "m") { live[id] = 1; sz[id] = $4; cur += $4 }
            else if ($1 == "f") { live[id] = 0; cur -= sz[id] }
            else if ($1 == "r") {
                if (live[id]) cur -= sz[id]
                if (live[id] && $3 == 0) live[id] = 0
                else { live[id] = 1; sz[id] = $3; cur += $3 }
            }
            if (cur > peak) peak = cur
        }
        END {
            printf "%.0f\n%d\n%d\n1\n", peak, ids, n
            for (i = 1; i <= n; i++) print op[i]
        }' "$best" | xz -9 > "$OUT/$name.rep.xz"
    echo "record-traces: $name: $(basename "$best") ($bestn ops) -> $OUT/$name.rep.xz" \
         "($(xz -dc "$OUT/$name.rep.xz" | sed -n 3p) ops)"
}

# ---- python3: dicts, strings, json, classes (PYTHONMALLOC=malloc: no pymalloc arenas)
cat > "$WORK/work.py" <<'EOF'
import json, re, collections
class Rec:
    def __init__(self, i):
        self.name = "rec-%06d" % i
        self.tags = ["t%d" % (i % k) for k in range(1, 6)]
        self.attrs = {"i": i, "sq": i * i, "s": str(i) * (i % 7)}
recs = [Rec(i) for i in range(900)]
index = collections.defaultdict(list)
for r in recs:
    for t in r.tags:
        index[t].append(r.name)
doc = json.dumps([{"name": r.name, "tags": r.tags, "attrs": r.attrs} for r in recs])
back = json.loads(doc)
words = re.findall(r"[a-z]+\d*", doc)
freq = collections.Counter(words)
text = "\n".join("%s %d" % (w, c) for w, c in freq.most_common(500))
del recs[::2]
table = {r.name: r for r in recs}
s = "".join(sorted(table))[:100000]
print(len(doc), len(back), len(freq), len(text), len(s), len(index))
EOF
run python env PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 "$WORK/work.py" >/dev/null
keep python python3

# ---- sqlite3: a table with an index, inserts, joins, group by, updates, deletes
cat > "$WORK/work.sql" <<'EOF'
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, cat INTEGER, price REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO item SELECT i, 'item' || i, i % 37, (i * 7919) % 1000 / 10.0,
       substr(hex(randomblob(40)), 1, i % 80) FROM n;
CREATE INDEX item_cat ON item(cat, price);
CREATE TABLE cat(id INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 36)
INSERT INTO cat SELECT i, 'category-' || i FROM n;
SELECT c.label, count(*), avg(i.price), max(length(i.note))
  FROM item i JOIN cat c ON c.id = i.cat GROUP BY c.label ORDER BY 3 DESC LIMIT 5;
UPDATE item SET note = note || note WHERE cat IN (3, 5, 7);
DELETE FROM item WHERE id % 3 = 0;
SELECT group_concat(name, ',') FROM (SELECT name FROM item WHERE price > 90 LIMIT 300);
SELECT cat, sum(price) FROM item GROUP BY cat HAVING sum(price) > 100 ORDER BY cat;
VACUUM;
EOF
run sqlite sqlite3 "$WORK/scratch/work.db" < "$WORK/work.sql" >/dev/null
keep sqlite sqlite3

# ---- perl: word counts, regex rewriting, sorting, joining
cat > "$WORK/work.pl" <<'EOF'
my (%count, @lines);
for my $i (1 .. 2200) {
    my $line = join(' ', map { ('alpha', 'beta', 'gamma', 'delta', "w$_") [$_ % 5] . ($i % 97) } 1 .. 8);
    push @lines, $line;
}
for (@lines) {
    s/(\w+?)(\d+)/$2-$1/g;
    $count{$_}++ for split / /;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 99];
my $out = join("\n", map { "$_ $count{$_}" } @top);
my %rev = reverse %count;
@lines = grep { length($_) > 60 } @lines;
print length($out), " ", scalar(@lines), " ", scalar(keys %rev), "\n";
EOF
run perl perl "$WORK/work.pl" >/dev/null
keep perl perl

# ---- git: a scratch repository: init, add, commit (several), log -p, diff
export GIT_AUTHOR_NAME=snug GIT_AUTHOR_EMAIL=snug@example.invalid
export GIT_COMMITTER_NAME=snug GIT_COMMITTER_EMAIL=snug@example.invalid
export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
mkdir -p "$WORK/repo" "$WORK/git"
(
    cd "$WORK/repo"
    git init -q .
    for c in 1 2 3 4 5 6; do
        for f in $(seq 1 60); do
            seq "$c" "$f" 400 | sed "s/^/line $c $f /" > "file$f.txt"
        done
        SNUG_TRACE_DIR="$WORK/git" LD_PRELOAD="$TRACER" git add -A
        SNUG_TRACE_DIR="$WORK/git" LD_PRELOAD="$TRACER" git commit -q -m "commit $c"
    done
    SNUG_TRACE_DIR="$WORK/git" LD_PRELOAD="$TRACER" git log -p --stat > /dev/null
    SNUG_TRACE_DIR="$WORK/git" LD_PRELOAD="$TRACER" git diff HEAD~5 HEAD > /dev/null
)
keep git git

# ---- g++ -O2: keep the compiler proper (cc1plus).  The program includes no standard
# header, so the trace is the compiler working on our code, start to finish.
cat > "$WORK/scratch/prog.cc" <<'EOF'
// a self-contained program: no standard headers, so the compiler's work is ours
typedef unsigned long size_t;
extern "C" int printf(const char *, ...);
extern "C" void *malloc(size_t);
extern "C" void free(void *);
template <typename T> struct Vec {
    T *d = nullptr; size_t n = 0, cap = 0;
    void push(const T &x) {
        if (n == cap) { size_t c = cap ? cap * 2 : 8; T *nd = (T *)malloc(c * sizeof(T));
            for (size_t i = 0; i < n; i++) { nd[i] = d[i]; }
            free(d); d = nd; cap = c; }
        d[n++] = x;
    }
    T &operator[](size_t i) { return d[i]; }
    ~Vec() { free(d); }
};
template <typename T, typename Less> void sort(T *a, size_t n, Less less) {
    for (size_t i = 1; i < n; i++) {
        T x = a[i]; size_t j = i;
        for (; j > 0 && less(x, a[j - 1]); j--) a[j] = a[j - 1];
        a[j] = x;
    }
}
template <typename K, typename V, int N = 64> struct Map {
    struct Node { K k; V v; Node *next; };
    Node *b[N] = {};
    V &get(const K &k) { size_t h = hash(k) % N;
        for (Node *x = b[h]; x; x = x->next) if (x->k == k) return x->v;
        Node *x = (Node *)malloc(sizeof(Node)); x->k = k; x->v = V(); x->next = b[h]; b[h] = x; return x->v; }
    static size_t hash(long k) { return (size_t)k * 2654435761u; }
};
struct Shape { virtual ~Shape() {} virtual double area() const = 0; virtual const char *name() const = 0; };
struct Sq : Shape { double s; Sq(double x) : s(x) {} double area() const override { return s * s; } const char *name() const override { return "sq"; } };
struct Rect : Shape { double w, h; Rect(double a, double b) : w(a), h(b) {} double area() const override { return w * h; } const char *name() const override { return "rect"; } };
struct Tri : Shape { double b, h; Tri(double x, double y) : b(x), h(y) {} double area() const override { return b * h / 2; } const char *name() const override { return "tri"; } };
template <int K> struct Fib { static const long v = Fib<K - 1>::v + Fib<K - 2>::v; };
template <> struct Fib<1> { static const long v = 1; };
template <> struct Fib<0> { static const long v = 0; };
template <typename F> double integrate(F f, double a, double b, int n) {
    double s = 0, h = (b - a) / n; for (int i = 0; i < n; i++) s += f(a + (i + 0.5) * h) * h; return s;
}
int main() {
    Vec<Shape *> shapes;
    for (int i = 0; i < 300; i++) {
        if (i % 3 == 0) shapes.push(new Sq(i)); else if (i % 3 == 1) shapes.push(new Rect(i, i + 1)); else shapes.push(new Tri(i, 2));
    }
    sort(shapes.d, shapes.n, [](Shape *a, Shape *b) { return a->area() < b->area(); });
    Map<long, Vec<long>> m;
    for (long i = 0; i < 1000; i++) m.get(i % 37).push(i * Fib<40>::v % 1009);
    double total = 0;
    for (size_t i = 0; i < shapes.n; i++) total += shapes[i]->area();
    printf("%f %f %ld\n", total, integrate([](double x) { return x * x; }, 0, 1, 1000), m.get(5).n);
    for (size_t i = 0; i < shapes.n; i++) delete shapes[i];
    return 0;
}
EOF
run gxx g++ -O2 -c -o "$WORK/scratch/prog.o" "$WORK/scratch/prog.cc"
keep gxx cc1plus
