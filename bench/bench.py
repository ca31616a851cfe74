#!/usr/bin/env python3
"""bench.py - the `make bench` driver: snug against glibc, jemalloc, mimalloc and tcmalloc.

    bench/bench.py [--quick] [--out DIR] [--suites traces,mt,counts,programs,micro,gc,series]
                   [--build B] [--series-trace NAME]

Suites (all interleaved: each repetition runs every allocator once per item, with the
allocator order rotated from one repetition to the next; tables show medians, except
trace throughput: the fastest repetition):
  traces    every trace of `make suite` through build/snug-replay --json: snug natively
            (the snug_ API), the others with --system under LD_PRELOAD (glibc: none).
  mt        bench/mt/*.c at 1, 2, 8 and 16 threads under LD_PRELOAD of each allocator.
  counts    bench/mt/*.c at 2, 8, 32 and 128 threads, once under build/libsnug-counts.so
            (the statistics build, src/counts.h: lock acquisitions and waits, shared-line
            atomics, OS calls per 1000 operations, after warm-up) and once under
            libsnug.so (throughput): issue 21's count that predicts scaling.
  programs  python3 (PYTHONMALLOC=malloc), sqlite3 and g++ on fixed workloads: wall time
            and peak RSS (wait4), outputs compared with glibc's.
  micro     instructions per malloc/free (valgrind --tool=callgrind) for a few sizes.
  gc        bench/gc/*.c built against snug's collector and against bdwgc: wall time and
            peak RSS; and the trace suite replayed with snug-replay --gc.
  series    one trace (python.rep) with snug-replay --series under every allocator
            (utilization over time), and snug's heap pictures (--plot) at its peak.
Writes DIR/latest.md, DIR/latest.json and DIR/*.svg (DIR: bench/results, or
build/bench/quick with --quick).  Python standard library only.
"""
import argparse
import concurrent.futures
import glob
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import svgchart  # noqa: E402

PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
ALLOCS = ["snug"] + PEERS
PEER_LIBS = {  # Debian package, library file name
    "jemalloc": ("libjemalloc2", "libjemalloc.so.2"),
    "mimalloc": ("libmimalloc2.0", "libmimalloc.so.2"),
    "tcmalloc": ("libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
}
MT_BENCHES = ["larson", "prodcons", "local", "falseshare", "churn"]
MICRO_SIZES = [16, 64, 256, 1000, 4000]
GC_BENCHES = ["binarytrees", "listchurn", "mixed"]
GC_IMPLS = ["snug", "bdwgc"]
GC_WHAT = {
    "binarytrees": "GCBench-style: a stretch tree, a long-lived tree and array, trees of "
                   "depths 4..S-2 built top-down and bottom-up; -s S",
    "listchurn": "a long-lived list of 100,000 nodes (nodes replaced as it ages) under "
                 "short-lived lists of 2,000 nodes; -s rounds",
    "mixed": "GC records reachable only from malloc'd buckets registered as roots, buckets "
             "retired and replaced, malloc'd temporaries beside; -s steps",
}
SERIES_TRACE = "python.rep"

COUNTS_THREADS = [2, 8, 32, 128]
COUNTS_EVENTS = ["lock_acquired", "lock_waited", "shared_rmw", "mmap", "munmap", "mremap",
                 "madvise", "brk"]
FULL = dict(trace_reps=7, replay_n=10, mt_reps=5, mt_threads=[1, 2, 8, 16], mt_scale=1.0,
            counts_scale=1.0,
            prog_reps=5, py_scale=2.5, sql_rows=200000, micro_n=200000, churn_rounds=200, regrow_phases=40, mixed_msteps=5, small_msteps=10,
            gc_reps=7, gc_params=dict(binarytrees=18, listchurn=2500, mixed=1000000))
QUICK = dict(trace_reps=2, replay_n=3, mt_reps=1, mt_threads=[1, 2, 8], mt_scale=0.5,
             counts_scale=0.5,
             prog_reps=1, py_scale=0.5, sql_rows=40000, micro_n=20000, churn_rounds=40, regrow_phases=8, mixed_msteps=1, small_msteps=2,
             gc_reps=2, gc_params=dict(binarytrees=16, listchurn=500, mixed=200000))


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- environment

def find_peer(name):
    pkg, so = PEER_LIBS[name]
    try:
        out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if os.path.basename(line) == so and os.path.exists(line):
                return line
    except OSError:
        pass
    hits = sorted(glob.glob("/usr/lib/*/" + so) + glob.glob("/usr/lib/" + so))
    return hits[0] if hits else None


def clean_env(extra=None, preload=None):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    if preload:
        env["LD_PRELOAD"] = preload
    return env



def last_json(out):
    """The last line of out that parses as a JSON object, or None."""
    doc = None
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                pass
    return doc

# bench/rss of the snapshot (Bench sets it): cmd runs under it, so that its peak RSS
# starts from that small process's rather than this harness's (rss.c says why).
RSS_HELPER = None


def run(cmd, env, timeout, stdin_path=None, cwd=None):
    """Runs cmd; returns rc, wall seconds, peak RSS (KiB, the child and its waited-for
    descendants: wait4, through bench/rss when built), stdout, stderr, timed_out."""
    rss_file = None
    if RSS_HELPER:
        fd, rss_file = tempfile.mkstemp(prefix="snug-rss-")
        os.close(fd)
        cmd = [RSS_HELPER, rss_file] + list(cmd)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        fin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=fin, cwd=cwd,
                                 start_new_session=True)
            fired = []

            def kill():
                fired.append(1)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
            timer = threading.Timer(timeout, kill)
            timer.start()
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            timer.cancel()
            p.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if stdin_path:
                fin.close()
        maxrss = ru.ru_maxrss
        if rss_file:
            try:
                with open(rss_file) as f:
                    maxrss = int(f.read().strip() or maxrss)
            except (OSError, ValueError):
                pass
            os.unlink(rss_file)
        out.seek(0)
        err.seek(0)
        return dict(rc=p.returncode, wall=wall, maxrss_kib=maxrss,
                    cpu=ru.ru_utime + ru.ru_stime,
                    out=out.read().decode(errors="replace"),
                    err=err.read().decode(errors="replace"), timed_out=bool(fired))


def exit_str(rc):
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %d" % rc


def shell_line(cmd, env_extra):
    parts = ["%s=%s" % kv for kv in env_extra.items()] + list(cmd)
    return " ".join(parts)


def rotated(items, k):
    k %= len(items)
    return items[k:] + items[:k]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def series_summary(rows):
    """Peak and mean utilization of one --series run.  H(t) is the RSS growth (every
    allocator has it); U(t) = P(t) / H(t) over the samples where P is at least 5% of its
    peak (below that, RSS granularity dominates)."""
    if not rows:
        return {}
    pp = max(r["payload"] for r in rows)
    hr = max(r["rss"] for r in rows)
    us = [r["payload"] / r["rss"] for r in rows
          if r["rss"] > 0 and r["payload"] >= 0.05 * pp]
    d = dict(peak_payload=pp, peak_rss=hr, end_rss=rows[-1]["rss"],
             util_peak=pp / hr if hr > 0 else None, util_mean=mean(us), samples=len(rows))
    if rows[0]["heap"] is not None:
        hh = max(r["heap"] for r in rows)
        d.update(peak_heap=hh, end_heap=rows[-1]["heap"], util_own=pp / hh if hh > 0 else None)
    return d


def machine_info():
    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": os.cpu_count(),
            "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            info["cpu"] = m.group(1).strip() if m else "?"
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemTotal:\s*(\d+)", f.read(), re.M)
            info["mem_gib"] = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        pass
    info["gcc"] = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True,
                                 text=True).stdout.strip()
    info["glibc"] = platform.libc_ver()[1]
    vers = {}
    for name, (pkg, _) in PEER_LIBS.items():
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                           text=True)
        vers[name] = r.stdout.strip() if r.returncode == 0 else None
    info["versions"] = vers
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libgc1"], capture_output=True,
                       text=True)
    info["bdwgc"] = r.stdout.strip() if r.returncode == 0 else None
    r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    info["snug_commit"] = r.stdout.strip() or os.environ.get("SNUG_BENCH_COMMIT", "?")
    return info


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def field_of(per, field, div, pair=False):
    """A metric getter (key, column) -> per[key][column][field] / div, None when missing;
    with pair, the key is a pair of nested keys."""
    def get(k, c):
        d = per.get(k[0], {}).get(k[1], {}) if pair else per.get(k, {})
        v = d.get(c)
        return v[field] / div if v else None
    return get


class Bench:
    def __init__(self, args):
        self.args = args
        self.p = QUICK if args.quick else FULL
        self.tmp = tempfile.mkdtemp(prefix="snug-bench-")
        # Work on a snapshot of what build/ holds now: others may rebuild build/ while
        # this runs.  Reproducer lines show build/ again.
        self.B = self.snapshot(os.path.abspath(args.build))
        self.snug_so = os.path.join(self.B, "libsnug.so")
        global RSS_HELPER
        helper = os.path.join(self.B, "bench", "rss")
        RSS_HELPER = helper if os.path.exists(helper) else None
        self.preload = {"snug": self.snug_so, "glibc": None}
        self.allocs = ["snug", "glibc"]
        self.missing = []
        for name in ("jemalloc", "mimalloc", "tcmalloc"):
            path = find_peer(name)
            if path:
                self.preload[name] = path
                self.allocs.append(name)
            else:
                self.missing.append(name)
        self.peers = [a for a in self.allocs if a != "snug"]
        self.anomalies = []     # (suite, what, reproducer)
        self.results = {}
        self.series_rows = {}   # series suite: allocator -> samples (charted, not saved)

    def snapshot(self, build):
        snap = os.path.join(self.tmp, "build")
        os.makedirs(os.path.join(snap, "bench"))
        os.makedirs(os.path.join(snap, "nochecks"))
        # libsnug.so and libsnug.so.1 (the soname the gc benchmarks load), copied as files
        libs = sorted(f for f in os.listdir(build) if f.startswith("libsnug.so")) + \
            ["libsnug-counts.so"]
        for f in libs + ["snug-replay", os.path.join("nochecks", "snug-replay")] + \
                [os.path.join("bench", "mt-" + b) for b in MT_BENCHES] + \
                [os.path.join("bench", "gc-%s-%s" % (b, i)) for b in GC_BENCHES
                 for i in GC_IMPLS] + \
                [os.path.join("bench", "pairs"), os.path.join("bench", "rss")] + \
                [os.path.join("bench", "prog-" + b) for b in ("largechurn", "regrow", "mixed", "smallchurn")]:
            if os.path.exists(os.path.join(build, f)):
                shutil.copy2(os.path.join(build, f), os.path.join(snap, f))
        if os.path.isdir(os.path.join(build, "traces")):
            shutil.copytree(os.path.join(build, "traces"), os.path.join(snap, "traces"))
        return snap

    def env_extra(self, alloc):
        pl = self.preload.get(alloc)
        return {"LD_PRELOAD": pl} if pl else {}

    def anomaly(self, suite, what, repro):
        repro = re.sub(r"\S*" + re.escape(self.B), "build", repro)
        what = " / ".join(x.strip() for x in what.splitlines() if x.strip())
        self.anomalies.append(dict(suite=suite, what=what, repro=repro))
        log("  !! %s: %s\n     reproduce: %s" % (suite, what, repro))

    # ------------------------------------------------------------ 1. trace replay

    def suite_traces(self):
        traces = sorted(glob.glob(os.path.join(self.B, "traces", "*.rep"))) + \
            sorted(glob.glob(os.path.join(self.B, "traces", "gen", "*.rep")))
        if not traces:
            log("traces: no traces in %s/traces (make suite)" % self.B)
            return
        replay = os.path.join(self.B, "snug-replay")
        rel = [os.path.relpath(t, ROOT) for t in traces]
        names = [os.path.relpath(t, os.path.join(self.B, "traces")) for t in traces]
        # "snug (preload)": libsnug.so under LD_PRELOAD with --system, measured exactly
        # like the peers (calls through the PLT) -- the like-for-like throughput.
        # "snug (checks off)": the same replayer built with CHECKS=0 (bench.mk), so the
        # cost of the default-mode checks can be read off (issue 4 asks for it).
        nochecks = os.path.join(self.B, "nochecks", "snug-replay")
        runs = self.allocs + ["snug (preload)"] + (["snug (checks off)"] if os.path.exists(nochecks) else [])
        samples = {a: {n: [] for n in names} for a in runs}
        reps, n = self.p["trace_reps"], self.p["replay_n"]
        reported = set()
        log("traces: %d traces x %d allocators x %d repetitions (fastest of %d passes each)"
            % (len(traces), len(runs), reps, n))
        for rep in range(reps):
            for alloc in rotated(runs, rep):
                if alloc == "snug":
                    cmd, extra = [replay, "--json", "-n", str(n)] + traces, {}
                elif alloc == "snug (checks off)":
                    cmd, extra = [nochecks, "--json", "-n", str(n)] + traces, {}
                elif alloc == "snug (preload)":
                    cmd = [replay, "--system", "--json", "-n", str(n)] + traces
                    extra = {"LD_PRELOAD": self.snug_so}
                else:
                    cmd = [replay, "--system", "--json", "-n", str(n)] + traces
                    extra = self.env_extra(alloc)
                r = run(cmd, clean_env(extra), timeout=600)
                repro_cmd = [os.path.relpath(replay, ROOT)] + cmd[1:len(cmd) - len(traces)]
                try:
                    doc = json.loads(r["out"])
                except ValueError:
                    self.anomaly("traces", "%s: snug-replay printed no JSON (%s): %s"
                                 % (alloc, exit_str(r["rc"]), r["err"].strip()[-300:]),
                                 shell_line(repro_cmd + rel, extra))
                    continue
                for t in doc["traces"]:
                    name = os.path.relpath(t["path"], os.path.join(self.B, "traces"))
                    if name not in samples[alloc]:
                        continue
                    if not t.get("ok") or t.get("errors"):
                        if (alloc, name) not in reported:
                            reported.add((alloc, name))
                            self.anomaly("traces", "%s on %s: %s" % (
                                alloc, name, t.get("message") or "%d correctness errors"
                                % t.get("errors", 0)), shell_line(
                                    [os.path.relpath(replay, ROOT)]
                                    + ([] if alloc == "snug" else ["--system"])
                                    + ["-v", os.path.relpath(t["path"], ROOT)], extra))
                        continue
                    hr = t["heap_rss"]
                    samples[alloc][name].append(dict(
                        ops=t["ops"], tput=t["ops_per_sec"], util=t["util"],
                        util_rss=t["peak_payload"] / hr if hr > 0 else None,
                        peak_payload=t["peak_payload"]))
            log("  repetition %d/%d done" % (rep + 1, reps))
        res = {"names": names, "runs": runs, "per": {}}
        for a in runs:
            res["per"][a] = {}
            for nm in names:
                s = samples[a][nm]
                if not s:
                    continue
                res["per"][a][nm] = dict(
                    ops=s[0]["ops"], peak_payload=s[0]["peak_payload"],
                    tput=max(x["tput"] for x in s),     # see the note under "1. Trace replay"
                    util=median([x["util"] for x in s]),
                    util_rss=median([x["util_rss"] for x in s]), n=len(s))
        if "snug (checks off)" in runs:
            res["checks_ir"] = self.checks_instructions(replay, nochecks, traces, names)
        self.results["traces"] = res

    def checks_instructions(self, replay, nochecks, traces, names):
        """Instructions per timing pass of every trace under callgrind, for the replayer
        with the default-mode checks and without: (I(-n 3) - I(-n 1)) / 2.  Exact and
        repeatable where the throughput is not; skipped in --quick mode."""
        vg = shutil.which("valgrind")
        if not vg or self.args.quick:
            return None
        log("traces: the checks in instructions (callgrind, %d runs)" % (4 * len(traces)))
        jobs = [(b, t, n) for b in (replay, nochecks) for t in traces for n in (1, 3)]

        def one(job):
            b, t, n = job
            r = run([vg, "--tool=callgrind", "--callgrind-out-file=/dev/null", b, "--no-fork",
                     "-n", str(n), t], clean_env(), timeout=900)
            m = re.search(r"refs:\s+([\d,]+)", r["err"])
            if r["rc"] != 0 or not m:
                self.anomaly("traces", "callgrind of %s -n %d %s: %s" % (
                    os.path.relpath(b, ROOT), n, os.path.relpath(t, ROOT), exit_str(r["rc"])),
                    shell_line(["valgrind", "--tool=callgrind", os.path.relpath(b, ROOT),
                                "--no-fork", "-n", str(n), os.path.relpath(t, ROOT)], {}))
                return job, None
            return job, int(m.group(1).replace(",", ""))
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            got = dict(ex.map(one, jobs))
        per = {}
        for t, nm in zip(traces, names):
            v = [got.get((b, t, 3)) is not None and got.get((b, t, 1)) is not None and
                 (got[(b, t, 3)] - got[(b, t, 1)]) / 2 for b in (replay, nochecks)]
            if v[0] and v[1]:
                per[nm] = dict(checks=v[0], nochecks=v[1])
        return per or None

    # ------------------------------------------------------------ 2. multi-threaded

    def suite_mt(self):
        reps, threads, scale = self.p["mt_reps"], self.p["mt_threads"], self.p["mt_scale"]
        samples = {}
        log("mt: %d benchmarks x threads %s x %d allocators x %d repetitions, scale %g"
            % (len(MT_BENCHES), threads, len(self.allocs), reps, scale))
        for rep in range(reps):
            for bi, b in enumerate(MT_BENCHES):
                exe = os.path.join(self.B, "bench", "mt-" + b)
                for t in threads:
                    for alloc in rotated(self.allocs, rep + bi):
                        extra = self.env_extra(alloc)
                        cmd = [exe, "-t", str(t), "-s", "%g" % scale]
                        r = run(cmd, clean_env(extra), timeout=300)
                        repro = shell_line([os.path.relpath(exe, ROOT)] + cmd[1:], extra)
                        key = (b, t, alloc)
                        doc = last_json(r["out"])
                        if r["timed_out"]:
                            self.anomaly("mt", "%s %d threads under %s: timed out (300 s)"
                                         % (b, t, alloc), repro)
                        elif r["rc"] != 0 or doc is None or doc.get("errors"):
                            self.anomaly("mt", "%s %d threads under %s: %s, %s%s"
                                         % (b, t, alloc, exit_str(r["rc"]),
                                            "%s payload errors" % doc["errors"] if doc else
                                            "no result", (": " + r["err"].strip()[-300:])
                                            if r["err"].strip() else ""), repro)
                        if doc is None or doc.get("errors") or r["rc"] != 0:
                            continue
                        samples.setdefault(key, []).append(doc)
            log("  repetition %d/%d done" % (rep + 1, reps))
        res = {"threads": threads, "scale": scale, "per": {}}
        for (b, t, alloc), s in samples.items():
            res["per"].setdefault(b, {}).setdefault(str(t), {})[alloc] = dict(
                tput=median([d["ops_per_sec"] for d in s]),
                rss_kib=median([d["maxrss_kib"] for d in s]),
                ops=s[0]["ops"], n=len(s))
        self.results["mt"] = res

    def suite_counts(self):
        scale = self.p["counts_scale"]
        lib = os.path.join(self.B, "libsnug-counts.so")
        if not os.path.exists(lib):
            self.anomaly("counts", "build/libsnug-counts.so missing", "make counts")
            return
        log("counts: %d benchmarks x threads %s, the statistics build and libsnug.so, "
            "scale %g" % (len(MT_BENCHES), COUNTS_THREADS, scale))
        res = {"threads": COUNTS_THREADS, "scale": scale, "per": {}}
        for b in MT_BENCHES:
            exe = os.path.join(self.B, "bench", "mt-" + b)
            for t in COUNTS_THREADS:
                cmd = [exe, "-t", str(t), "-s", "%g" % scale]
                row = {}
                for what, pl in (("counts", lib), ("tput", self.snug_so)):
                    out = os.path.join(self.tmp, "counts-%s-%d.json" % (b, t))
                    if os.path.exists(out):
                        os.remove(out)
                    extra = {"LD_PRELOAD": pl}
                    if what == "counts":
                        extra["SNUG_COUNTS_OUT"] = out
                    r = run(cmd, clean_env(extra), timeout=300)
                    repro = shell_line([os.path.relpath(exe, ROOT)] + cmd[1:], dict(
                        extra, SNUG_COUNTS_OUT="counts.json") if what == "counts" else extra)
                    doc = last_json(r["out"])
                    if r["timed_out"] or r["rc"] != 0 or doc is None or doc.get("errors"):
                        self.anomaly("counts", "%s %d threads (%s): %s%s" % (
                            b, t, what, "timed out" if r["timed_out"] else exit_str(r["rc"]),
                            (": " + r["err"].strip()[-300:]) if r["err"].strip() else ""),
                            repro)
                        continue
                    if what == "tput":
                        row["tput"] = doc["ops_per_sec"]
                        continue
                    # Every process under the preload appends a line at its exit: the
                    # benchmark's, and bench/rss's around it (a few calls).  The
                    # benchmark's is the one that counted the most operations.
                    try:
                        with open(out) as f:
                            c = max((json.loads(l) for l in f.read().splitlines() if l.strip()),
                                    key=lambda d: d.get("total", {}).get("ops", 0))
                    except (OSError, ValueError, IndexError):
                        self.anomaly("counts", "%s %d threads: no counts written" % (b, t), repro)
                        continue
                    row["counts"] = c
                if row:
                    res["per"].setdefault(b, {})[str(t)] = row
        self.results["counts"] = res

    # ------------------------------------------------------------ 3. real programs

    def programs(self):
        progdir = os.path.join(HERE, "programs")
        sql = os.path.join(self.tmp, "workload.sql")
        with open(os.path.join(progdir, "workload.sql")) as f:
            text = f.read().replace("@N@", str(self.p["sql_rows"]))
        with open(sql, "w") as f:
            f.write(text)
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
        gxx = shutil.which("g++") or shutil.which("clang++")
        progs = []
        if py:
            progs.append(dict(name="python3", cmd=[py, os.path.join(progdir, "workload.py"),
                                                   "%g" % self.p["py_scale"]],
                              env={"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0",
                                   "PYTHONDONTWRITEBYTECODE": "1"},
                              what="workload.py %g (PYTHONMALLOC=malloc)" % self.p["py_scale"]))
        if shutil.which("sqlite3"):
            progs.append(dict(name="sqlite3", cmd=[shutil.which("sqlite3"), ":memory:"],
                              stdin=sql, env={},
                              repro_pipe="sed s/@N@/%d/ bench/programs/workload.sql | "
                              % self.p["sql_rows"],
                              what="workload.sql, %d rows, in-memory" % self.p["sql_rows"]))
        if gxx:
            progs.append(dict(name=os.path.basename(gxx),
                              cmd=[gxx, "-std=c++17", "-O2", "-frandom-seed=snug", "-c",
                                   os.path.join(progdir, "compile.cpp"), "-o", "@OUT@"],
                              env={}, obj=True, what="-O2 -c compile.cpp"))
        for name, arg, what in (
                ("largechurn", self.p["churn_rounds"],
                 "%d rounds: 20 live buffers of 5-25 MiB, one replaced a round, zero-filled"),
                ("regrow", self.p["regrow_phases"],
                 "%d phases: 48 MiB of 32 B - 64 KiB blocks built, freed, built again"),
                ("mixed", self.p["mixed_msteps"],
                 "2 threads x %g million steps: 1000 live blocks of 4 B - 32 KiB each, one replaced a step"),
                ("smallchurn", self.p["small_msteps"],
                 "%g million steps: 10,000 live blocks of 8-512 B, one replaced and a temporary made a step")):
            exe = os.path.join(self.B, "bench", "prog-" + name)
            if os.path.exists(exe):
                progs.append(dict(name=name, cmd=[exe, str(arg)], env={}, what=what % arg))
        return progs

    def suite_programs(self):
        progs = self.programs()
        reps = self.p["prog_reps"]
        samples = {}
        ref = {}
        log("programs: %s x %d allocators x %d repetitions (+1 untimed glibc reference run)"
            % (", ".join(p["name"] for p in progs), len(self.allocs), reps))

        def one(p, alloc, tag):
            extra = dict(p["env"])
            extra.update(self.env_extra(alloc))
            cmd = list(p["cmd"])
            out_obj = None
            if p.get("obj"):
                out_obj = os.path.join(self.tmp, "%s-%s.o" % (alloc, tag))
                cmd = [out_obj if c == "@OUT@" else c for c in cmd]
            r = run(cmd, clean_env(extra), timeout=300, stdin_path=p.get("stdin"),
                    cwd=self.tmp)
            if out_obj and os.path.exists(out_obj):
                with open(out_obj, "rb") as f:
                    r["digest"] = hashlib.sha256(f.read()).hexdigest()
                os.unlink(out_obj)
            else:
                r["digest"] = hashlib.sha256(r["out"].encode()).hexdigest()
            shown = [os.path.relpath(c, ROOT) if c.startswith(ROOT + "/") else
                     c.replace(self.tmp, "/tmp") for c in cmd]
            r["repro"] = p.get("repro_pipe", "") + shell_line(shown, extra)
            return r

        for p in progs:
            r = one(p, "glibc", "ref")
            ref[p["name"]] = r["digest"] if r["rc"] == 0 else None
            if r["rc"] != 0:
                self.anomaly("programs", "%s under glibc (reference): %s: %s"
                             % (p["name"], exit_str(r["rc"]), r["err"].strip()[-300:]), r["repro"])
        for rep in range(reps):
            for pi, p in enumerate(progs):
                for alloc in rotated(self.allocs, rep + pi):
                    r = one(p, alloc, str(rep))
                    bad = None
                    if r["timed_out"]:
                        bad = "timed out"
                    elif r["rc"] != 0:
                        bad = "%s: %s" % (exit_str(r["rc"]), r["err"].strip()[-300:])
                    elif ref.get(p["name"]) and r["digest"] != ref[p["name"]]:
                        bad = "output differs from glibc's"
                    if bad:
                        self.anomaly("programs", "%s under %s: %s" % (p["name"], alloc, bad),
                                     r["repro"])
                        continue
                    samples.setdefault((p["name"], alloc), []).append(r)
            log("  repetition %d/%d done" % (rep + 1, reps))
        res = {"programs": [dict(name=p["name"], what=p["what"]) for p in progs], "per": {}}
        for (name, alloc), s in samples.items():
            res["per"].setdefault(name, {})[alloc] = dict(
                wall=median([x["wall"] for x in s]),
                rss_kib=median([x["maxrss_kib"] for x in s]), n=len(s))
        self.results["programs"] = res

    # ------------------------------------------------------------ 4. fast path

    def suite_micro(self):
        vg = shutil.which("valgrind")
        exe = os.path.join(self.B, "bench", "pairs")
        if not vg:
            log("micro: valgrind not installed; skipped (apt-get install valgrind)")
            self.results["micro"] = {"skipped": "valgrind not installed"}
            return
        n = self.p["micro_n"]
        log("micro: callgrind, sizes %s, %d operations per loop, %d allocators"
            % (MICRO_SIZES, n, len(self.allocs)))
        res = {"sizes": MICRO_SIZES, "n": n, "per": {}}
        for alloc in self.allocs:
            d = os.path.join(self.tmp, "cg-" + alloc)
            os.makedirs(d, exist_ok=True)
            outf = os.path.join(d, "cg.out")
            extra = self.env_extra(alloc)
            cmd = [vg, "--tool=callgrind", "--collect-atstart=no",
                   "--callgrind-out-file=" + outf, exe, "-n", str(n)] + \
                [str(s) for s in MICRO_SIZES]
            r = run(cmd, clean_env(extra), timeout=900)
            repro = shell_line(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                                os.path.relpath(exe, ROOT), "-n", str(n)]
                               + [str(s) for s in MICRO_SIZES], extra)
            if r["rc"] != 0:
                self.anomaly("micro", "%s: valgrind %s: %s" % (
                    alloc, exit_str(r["rc"]), r["err"].strip()[-300:]), repro)
                continue
            ir, ops = {}, {}
            for line in r["out"].splitlines():
                if line.startswith("{"):
                    doc = json.loads(line)
                    ops[doc["label"]] = doc["n"]
            for fn in glob.glob(outf + ".*"):
                with open(fn) as f:
                    txt = f.read()
                m = re.search(r"^desc: Trigger: Client Request: (\S+)", txt, re.M)
                t = re.search(r"^(?:totals|summary): (\d+)", txt, re.M)
                if m and t:
                    ir[m.group(1)] = int(t.group(1))
            per = {}
            for s in MICRO_SIZES:
                row = {}
                for pat, base in (("pair", "empty"), ("batch", "empty_batch")):
                    a, b = "%s-%d" % (pat, s), "%s-%d" % (base, s)
                    if a in ir and b in ir and ops.get(a):
                        row[pat] = (ir[a] - ir[b]) / ops[a]
                        row[pat + "_raw"] = ir[a] / ops[a]
                per[str(s)] = row
            res["per"][alloc] = per
        self.results["micro"] = res
        os.makedirs(self.args.out, exist_ok=True)
        with open(os.path.join(self.args.out, "micro.json"), "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)

    # ------------------------------------------------------------ 5. garbage collection

    def suite_gc(self):
        reps, params = self.p["gc_reps"], self.p["gc_params"]
        impls = [i for i in GC_IMPLS
                 if all(os.path.exists(os.path.join(self.B, "bench", "gc-%s-%s" % (b, i)))
                        for b in GC_BENCHES)]
        if "bdwgc" not in impls:
            log("gc: bdwgc variants not built (apt-get install libgc-dev; make bench-bins)")
        samples = {}
        checks = {}
        log("gc: %s x %s x %d repetitions" % (", ".join(GC_BENCHES), ", ".join(impls), reps))
        for rep in range(reps):
            for bi, b in enumerate(GC_BENCHES):
                for impl in rotated(impls, rep + bi):
                    exe = os.path.join(self.B, "bench", "gc-%s-%s" % (b, impl))
                    cmd = [exe, "-s", str(params[b])]
                    r = run(cmd, clean_env(), timeout=600)
                    repro = shell_line([os.path.relpath(exe, ROOT).replace(
                        os.path.relpath(self.B, ROOT), "build")] + cmd[1:], {})
                    doc = last_json(r["out"])
                    bad = None
                    if r["timed_out"]:
                        bad = "timed out (600 s)"
                    elif r["rc"] != 0 or doc is None or doc.get("errors"):
                        bad = "%s, %s%s" % (exit_str(r["rc"]), "%s check failures"
                                            % doc["errors"] if doc else "no result",
                                            (": " + r["err"].strip()[-300:])
                                            if r["err"].strip() else "")
                    elif checks.setdefault(b, doc["check"]) != doc["check"]:
                        bad = "result %s differs from the other collector's %s" % (
                            doc["check"], checks[b])
                    if bad:
                        self.anomaly("gc", "%s on %s: %s" % (b, impl, bad), repro)
                        continue
                    samples.setdefault((b, impl), []).append(
                        dict(secs=doc["secs"], rss_kib=r["maxrss_kib"], check=doc["check"],
                             cpu_per_wall=r["cpu"] / r["wall"] if r["wall"] > 0 else None,
                             markers=doc.get("parallel")))
            log("  repetition %d/%d done" % (rep + 1, reps))
        res = {"params": params, "impls": impls, "per": {}}
        for (b, impl), s in samples.items():
            res["per"].setdefault(b, {})[impl] = dict(
                secs=median([x["secs"] for x in s]), rss_kib=median([x["rss_kib"] for x in s]),
                cpu_per_wall=median([x["cpu_per_wall"] for x in s]),
                markers=s[0]["markers"], check=s[0]["check"], n=len(s))
        # the trace suite through the collector (snug-replay --gc), against explicit snug
        traces = sorted(glob.glob(os.path.join(self.B, "traces", "*.rep"))) + \
            sorted(glob.glob(os.path.join(self.B, "traces", "gen", "*.rep")))
        replay = os.path.join(self.B, "snug-replay")
        n = self.p["replay_n"]
        greps = max(1, self.p["trace_reps"] // 2)
        have_explicit = "traces" in self.results
        modes = ["gc"] + ([] if have_explicit else ["explicit"])
        rs = {m: {} for m in modes}
        log("gc: trace suite with snug-replay --gc, %d repetitions" % greps)
        for rep in range(greps):
            for mode in rotated(modes, rep):
                cmd = [replay, "--json", "-n", str(n)] + (["--gc"] if mode == "gc" else []) \
                    + traces
                r = run(cmd, clean_env(), timeout=900)
                repro = shell_line(["build/snug-replay"] + cmd[1:4 if mode == "gc" else 3]
                                   + [os.path.relpath(t, ROOT).replace(
                                       os.path.relpath(self.B, ROOT), "build")
                                      for t in traces[:1]] + ["..."], {})
                try:
                    doc = json.loads(r["out"])
                except ValueError:
                    self.anomaly("gc", "snug-replay %s printed no JSON (%s): %s" % (
                        mode, exit_str(r["rc"]), r["err"].strip()[-300:]), repro)
                    continue
                for t in doc["traces"]:
                    name = os.path.relpath(t["path"], os.path.join(self.B, "traces"))
                    if not t.get("ok") or t.get("errors"):
                        self.anomaly("gc", "snug-replay %s on %s: %s" % (
                            mode, name, t.get("message") or "%d correctness errors"
                            % t.get("errors", 0)), repro)
                        continue
                    rs[mode].setdefault(name, []).append(t)
            log("  repetition %d/%d done" % (rep + 1, greps))
        replay_res = {}
        for name in set(rs["gc"]):
            g = rs["gc"][name]
            row = dict(gc_util=median([x["util"] for x in g]),
                       gc_tput=median([x["ops_per_sec"] for x in g]),
                       gc_collections=median([x["gc_collections"] for x in g]),
                       gc_heap_peak=median([x["gc_heap_peak"] for x in g]),
                       gc_retained=max(x["gc_retained"] for x in g))
            if have_explicit:
                e = self.results["traces"]["per"].get("snug", {}).get(name)
                if e:
                    row.update(util=e["util"], tput=e["tput"])
            elif name in rs.get("explicit", {}):
                e = rs["explicit"][name]
                row.update(util=median([x["util"] for x in e]),
                           tput=median([x["ops_per_sec"] for x in e]))
            replay_res[name] = row
        res["replay"] = replay_res
        res["replay_reps"] = greps
        self.results["gc"] = res

    # ------------------------------------------------------------ 6. utilization over time

    def suite_series(self):
        name = self.args.series_trace
        trace = os.path.join(self.B, "traces", name)
        if not os.path.exists(trace):
            log("series: no trace %s in build/traces; skipped" % name)
            return
        replay = os.path.join(self.B, "snug-replay")
        rel = "build/traces/" + name
        runs = self.allocs + ["snug (GC)"]
        log("series: %s under %s" % (name, ", ".join(runs)))
        res = {"trace": name, "per": {}}
        for alloc in runs:
            tsv = os.path.join(self.tmp, "series-%s.tsv" % re.sub(r"\W+", "_", alloc))
            if alloc == "snug":
                cmd, extra = [replay, "-n", "0", "--series", tsv, trace], {}
            elif alloc == "snug (GC)":
                cmd, extra = [replay, "-n", "0", "--gc", "--series", tsv, trace], {}
            else:
                cmd = [replay, "-n", "0", "--system", "--series", tsv, trace]
                extra = self.env_extra(alloc)
            r = run(cmd, clean_env(extra), timeout=600)
            repro = shell_line(["build/snug-replay"] + cmd[1:-3] + ["--series", "S.tsv", rel],
                               extra)
            if r["rc"] != 0 or not os.path.exists(tsv):
                self.anomaly("series", "%s on %s: %s: %s" % (alloc, name, exit_str(r["rc"]),
                                                             r["err"].strip()[-300:]), repro)
                continue
            rows = []
            with open(tsv) as f:
                for line in f:
                    if line.startswith("#") or line.startswith("trace\t"):
                        continue
                    c = line.rstrip("\n").split("\t")
                    num = lambda v: None if v == "-" else int(v)    # noqa: E731
                    rows.append(dict(op=int(c[1]), payload=int(c[2]), heap=num(c[3]),
                                     rss=int(c[4]), gc=num(c[5])))
            self.series_rows[alloc] = rows
            res["per"][alloc] = series_summary(rows)
        # heap pictures at the peak of live payload
        os.makedirs(self.args.out, exist_ok=True)
        stem = name.replace(".rep", "")
        res["plots"] = []
        for mode, fname in ((None, "heap-%s.svg" % stem), ("--gc", "heap-gc-%s.svg" % stem)):
            out = os.path.join(self.args.out, fname)
            cmd = [replay, "-n", "0"] + ([mode] if mode else []) + ["--plot", out, trace]
            r = run(cmd, clean_env(), timeout=600)
            if r["rc"] != 0 or not os.path.exists(out):
                self.anomaly("series", "heap picture %s: %s: %s" % (
                    fname, exit_str(r["rc"]), r["err"].strip()[-300:]),
                    shell_line(["build/snug-replay"] + cmd[1:-3] + ["--plot", fname, rel], {}))
            else:
                res["plots"].append(fname)
        self.results["series"] = res

    # ------------------------------------------------------------ report

    def write(self, elapsed, load0, load1):
        out = self.args.out
        os.makedirs(out, exist_ok=True)
        rep = Report(self, elapsed, load0, load1)
        md = rep.markdown()
        with open(os.path.join(out, "latest.md"), "w") as f:
            f.write(md)
        with open(os.path.join(out, "latest.json"), "w") as f:
            json.dump(dict(machine=self.machine, params=self.p, quick=self.args.quick,
                           allocators=self.allocs,
                           preload={k: v and v.replace(self.B, "build")
                                    for k, v in self.preload.items()},
                           results=self.results, anomalies=self.anomalies,
                           elapsed_secs=round(elapsed, 1)), f, indent=1, sort_keys=True)
        rep.charts()
        return md


# ---------------------------------------------------------------- the report

def cell(v, f, bold=False):
    if v is None:
        return "—"
    s = f % v
    return "**%s**" % s if bold else s


def best_of(vals, higher):
    vals = {k: v for k, v in vals.items() if v is not None}
    if not vals:
        return None
    return (max if higher else min)(vals, key=lambda k: vals[k])


class Report:
    def __init__(self, b, elapsed, load0, load1):
        self.b, self.elapsed, self.load0, self.load1 = b, elapsed, load0, load1
        self.R = b.results
        self.summary = []       # (suite, metric, snug, best peer name, best peer value, ratio, winner)
        self.lines = []

    def out(self, s=""):
        self.lines.append(s)

    def chart(self, title, svg):
        """A link to an SVG chart, then the chart itself."""
        self.out("Chart: [%s](%s)" % (title, svg))
        self.out()
        self.out("![%s](%s)" % (title, svg))
        self.out()

    def table(self, head, rows, align=None):
        self.out("| " + " | ".join(head) + " |")
        self.out("|" + "|".join(align or ([" --- "] + [" ---: "] * (len(head) - 1))) + "|")
        for r in rows:
            self.out("| " + " | ".join(r) + " |")
        self.out()

    def metric_rows(self, keys, label, cols, get, fmtv, higher, snug_col, agg, agg_label,
                    best_cols=None):
        """Rows of a table: one per key, columns cols (alloc names), best bold, a `best`
        column and `snug/best peer`; then an aggregate row.  best_cols: columns that
        compete for `best` (default: all)."""
        best_cols = best_cols or cols
        rows = []
        per_col = {c: [] for c in cols}
        for k in keys:
            vals = {c: get(k, c) for c in cols}
            for c in cols:
                per_col[c].append(vals[c])
            rows.append(self.row(label(k), vals, cols, fmtv, higher, snug_col, best_cols))
        aggv = {c: agg(per_col[c]) if all(v is not None for v in per_col[c]) else None
                for c in cols}
        rows.append(self.row("**%s**" % agg_label, aggv, cols, fmtv, higher, snug_col,
                             best_cols))
        return rows, aggv

    def row(self, label, vals, cols, fmtv, higher, snug_col, best_cols):
        comp = {c: vals[c] for c in best_cols}
        win = best_of(comp, higher)
        peers = {c: vals[c] for c in best_cols if not c.startswith("snug")}
        bp = best_of(peers, higher)
        cells = [label] + [cell(vals[c], fmtv, c == win) for c in cols]
        cells.append(win or "—")
        sv = vals.get(snug_col)
        ratio = sv / peers[bp] if (bp and sv and peers[bp]) else None
        cells.append(cell(ratio, "%.2f"))
        return cells

    def metric_section(self, heading, keys, label, cols, get, fmtv, higher, key_head,
                       suite, metric, ratio_head="snug/best peer"):
        """A '### heading' table of one metric per key and column, its geometric-mean
        row, and its line in the summary; returns the aggregate per column."""
        self.out("### " + heading)
        self.out()
        rows, agg = self.metric_rows(keys, label, cols, get, fmtv, higher, "snug", geomean,
                                     "geometric mean")
        self.table([key_head] + cols + ["best", ratio_head], rows)
        self.add_summary(suite, metric, agg, "snug", higher, fmtv, cols)
        return agg

    def add_summary(self, suite, metric, aggv, snug_col, higher, fmtv, best_cols):
        peers = {c: aggv[c] for c in best_cols if not c.startswith("snug")}
        bp = best_of(peers, higher)
        win = best_of({c: aggv[c] for c in best_cols}, higher)
        sv = aggv.get(snug_col)
        self.summary.append((suite, metric, cell(sv, fmtv), "%s %s" % (
            bp, cell(peers[bp], fmtv)) if bp else "—",
            cell(sv / peers[bp] if (bp and sv and peers[bp]) else None, "%.2f"), win or "—"))

    # -------------------------------------------------------- sections

    def sec_traces(self):
        t = self.R.get("traces")
        if not t:
            return
        a = self.b.allocs
        names = [n for n in t["names"] if any(n in t["per"].get(x, {}) for x in a)]
        per = t["per"]
        p = self.b.p
        self.out("## 1. Trace replay")
        self.out()
        self.out("Every trace of `make suite` (%d bundled real-program traces, %d generated), "
                 "replayed by `build/snug-replay`: snug natively through the `snug_` API, "
                 "the others with `--system` under `LD_PRELOAD` (glibc: no preload).  "
                 "%d interleaved repetitions; each repetition's throughput is the fastest "
                 "of %d timing passes (`-n %d`), and the table shows the fastest repetition "
                 "(utilization: the median).  The machine is shared: a repetition that lands "
                 "in a busy spell is slowed as a whole (identical runs differ by up to 30%%), "
                 "and busy spells only ever slow a run, so the fastest is the least disturbed."
                 % (len([n for n in names if "/" not in n]),
                    len([n for n in names if "/" in n]), p["trace_reps"], p["replay_n"],
                    p["replay_n"]))
        self.out()
        cols = a + ["snug (preload)"] + (["snug (checks off)"] if "snug (checks off)" in per else [])
        self.out("### Throughput (million ops/s, higher is better)")
        self.out()
        self.out("`snug (preload)` is `libsnug.so` under `LD_PRELOAD` with `--system`, "
                 "called through the PLT exactly like the peers; `snug` calls the static "
                 "`snug_` functions directly.  `snug/best peer` uses the native column.")
        self.out()

        def gett(k, c):
            v = per.get(c, {}).get(k)
            return v["tput"] / 1e6 if v else None
        rows, aggv = self.metric_rows(
            names, lambda k: "`%s`" % k, cols, gett, "%.1f", True, "snug", geomean,
            "geometric mean", best_cols=a)
        self.table(["trace"] + cols + ["best", "snug/best peer"], rows)
        self.add_summary("traces", "throughput, geomean Mops/s", aggv, "snug", True, "%.1f", a)
        self.trace_tput = aggv
        if aggv.get("snug (checks off)") and aggv.get("snug"):
            self.out("The default-mode checks (double free, foreign pointers, tagged heads, "
                     "guards, link validation) cost %.1f%% of throughput: `snug` against "
                     "`snug (checks off)`, the same code built with `CHECKS=0` (geometric means)."
                     % (100.0 * (1 - aggv["snug"] / aggv["snug (checks off)"])))
            self.out()
        ci = t.get("checks_ir")
        if ci:
            r = [ci[k]["checks"] / ci[k]["nochecks"] for k in sorted(ci)]
            self.out("In instructions (`valgrind --tool=callgrind`, per timing pass: the "
                     "difference of `-n 3` and `-n 1`, halved) the checks add %.1f%% "
                     "(geometric mean over %d traces; %.1f-%.1f%% per trace).  Exact and "
                     "repeatable, where the throughput moves by a point or more between runs "
                     "on a shared machine."
                     % (100.0 * (geomean(r) - 1), len(r), 100.0 * (min(r) - 1), 100.0 * (max(r) - 1)))
            self.out()

        self.out("### Peak utilization (%, higher is better)")
        self.out()
        self.out("U = max live payload / heap high-water H.  `snug (own H)`: H from "
                 "`snug_stats()` (bytes snug holds from the kernel, its metadata included).  "
                 "All other columns, and `snug (RSS)`, use the growth of resident anonymous "
                 "memory over the trace — the only measure there is for the peers, so "
                 "compare `snug (RSS)` with them (`best` and `snug/best peer` do).  RSS "
                 "figures of heaps under ~1 MiB are noisy (the kernel batches its counters).")
        self.out()
        ucols = ["snug (own H)", "snug (RSS)"] + self.b.peers

        def getu(k, c):
            if c == "snug (own H)":
                v = per.get("snug", {}).get(k)
                return 100 * v["util"] if v else None
            if c == "snug (RSS)":
                v = per.get("snug", {}).get(k)
                return 100 * v["util_rss"] if v and v["util_rss"] else None
            v = per.get(c, {}).get(k)
            return 100 * v["util"] if v else None
        bc = ["snug (RSS)"] + self.b.peers
        rows, uagg = self.metric_rows(
            names, lambda k: "`%s`" % k, ucols, getu, "%.1f", True, "snug (RSS)", mean,
            "mean", best_cols=bc)
        self.table(["trace"] + ucols + ["best", "snug/best peer"], rows)
        self.add_summary("traces", "utilization, mean % (RSS-based)", uagg, "snug (RSS)",
                         True, "%.1f", bc)
        self.summary.append(("traces", "utilization, mean % (snug's own H)",
                             cell(uagg["snug (own H)"], "%.1f"), "", "", ""))
        self.trace_util = uagg
        self.chart("throughput vs utilization", "throughput-vs-utilization.svg")

    def sec_mt(self):
        m = self.R.get("mt")
        if not m:
            return
        a = self.b.allocs
        keys = [(b, str(t)) for b in MT_BENCHES for t in m["threads"] if b in m["per"]]
        per = m["per"]
        self.out("## 2. Multi-threaded benchmarks")
        self.out()
        self.out("`bench/mt/*.c` under `LD_PRELOAD` (glibc: none), scale %g, medians of %d "
                 "interleaved repetitions.  The work is fixed per benchmark, whatever the "
                 "thread count, so on this %s-core machine more threads mean more contention, "
                 "not more work.  An op is one malloc or one free.  Every run checks its "
                 "payloads; a run with a wrong payload is dropped and listed under anomalies."
                 % (m["scale"], self.b.p["mt_reps"], self.b.machine.get("nproc")))
        self.out()

        label = lambda k: "%s ×%s" % k
        self.metric_section("Throughput (million ops/s, higher is better)", keys, label, a,
                            field_of(per, "tput", 1e6, True), "%.1f", True,
                            "benchmark × threads",
                            "mt", "throughput, geomean Mops/s")
        self.metric_section("Peak RSS (MiB, lower is better)", keys, label, a,
                            field_of(per, "rss_kib", 1024, True), "%.1f", False,
                            "benchmark × threads",
                            "mt", "peak RSS, geomean MiB")
        self.chart("throughput by thread count", "mt-scaling.svg")

    def sec_counts(self):
        c = self.R.get("counts")
        if not c:
            return
        self.out("## 2b. Counts that predict scaling (issue 21)")
        self.out()
        self.out("`bench/mt/*.c` at scale %g, once under `build/libsnug-counts.so` (the statistics "
                 "build: `make counts`, `src/counts.h`) for the counts and once under "
                 "`libsnug.so` for the throughput.  Per 1000 operations (malloc and free "
                 "calls counted by snug), after warm-up: from the last 2^k-th operation at or "
                 "before a tenth of the run (the first 5-10%% dropped).  `locks`: acquisitions of "
                 "snug's global locks (every thread may take them); `waits`: the ones that found the lock "
                 "held; `arena locks`: acquisitions of the arenas' locks (each thread takes its own "
                 "arena's, and a block's arena's when it frees another thread's medium block), "
                 "and their waits; `RMW`: atomic read-modify-writes on words several threads write (remote frees' CAS "
                 "and drains; the live-bytes meter's publishes; the OS byte count and the "
                 "rest); "
                 "`mmap`: mmap, munmap, mremap, madvise and sbrk calls.  The busiest global lock is "
                 "named.  Targets: 0 locks, and under 1 RMW where threads free only their own "
                 "blocks (local, falseshare, churn's own frees)." % c["scale"])
        self.out()
        rows = []
        for b in MT_BENCHES:
            for t in c["threads"]:
                r = c["per"].get(b, {}).get(str(t))
                if not r:
                    continue
                tp = r.get("tput")
                cs = r.get("counts")
                if not cs:
                    rows.append(["%s ×%d" % (b, t), cell(tp and tp / 1e6, "%.1f")] + ["—"] * 8)
                    continue
                st = cs["steady"]
                ops = max(st["ops"], 1)
                k = lambda n: 1000.0 * n / ops
                oscalls = sum(st[e] for e in ("mmap", "munmap", "mremap", "madvise", "brk"))
                busiest = max(((n, v) for n, v in st["locks"].items() if n != "arena lock"),
                              key=lambda kv: kv[1][0], default=None)
                rows.append(["%s ×%d" % (b, t), cell(tp and tp / 1e6, "%.1f"),
                             "%.2f" % k(st["lock_acquired"]), "%.3f" % k(st["lock_waited"]),
                             "%.2f / %.3f" % (k(st.get("arena_acquired", 0)), k(st.get("arena_waited", 0))),
                             "%.2f" % k(st["shared_rmw"]),
                             "%.2f / %.2f / %.2f" % (k(st.get("rmw_remote", 0)),
                                                     k(st.get("rmw_meter", 0)),
                                                     k(st.get("rmw_other", 0))),
                             "%.3f" % k(oscalls),
                             "%s %.2f" % (busiest[0], k(busiest[1][0]))
                             if busiest and busiest[1][0] else "—",
                             "%d" % st["ops"]])
        self.table(["benchmark × threads", "Mops/s (libsnug.so)", "locks /1000", "waits /1000",
                    "arena locks / waits /1000", "RMW /1000", "remote / meter / other", "mmap /1000",
                    "busiest global lock /1000", "ops counted"], rows,
                   align=[" --- "] + [" ---: "] * 7 + [" --- ", " ---: "])

    def sec_programs(self):
        pr = self.R.get("programs")
        if not pr:
            return
        a = self.b.allocs
        per = pr["per"]
        names = [p["name"] for p in pr["programs"] if p["name"] in per]
        self.out("## 3. Real programs")
        self.out()
        self.out("Wall time and peak RSS (`wait4`: the process and its waited-for children, "
                 "so `g++` reports `cc1plus`) of each program under `LD_PRELOAD`; medians of "
                 "%d interleaved runs.  Every run's output (g++: the object file) must equal "
                 "that of an untimed glibc run." % self.b.p["prog_reps"])
        self.out()
        for p in pr["programs"]:
            self.out("- `%s`: %s" % (p["name"], p["what"]))
        self.out()

        label = lambda k: "`%s`" % k
        self.metric_section("Wall time (s, lower is better)", names, label, a,
                            field_of(per, "wall", 1),
                            "%.3f", False, "program", "programs", "wall time, geomean s")
        self.metric_section("Peak RSS (MiB, lower is better)", names, label, a,
                            field_of(per, "rss_kib", 1024), "%.1f", False, "program",
                            "programs", "peak RSS, geomean MiB")

    def sec_micro(self):
        mi = self.R.get("micro")
        if not mi:
            return
        self.out("## 4. Fast path: instructions per malloc + free")
        self.out()
        if mi.get("skipped"):
            self.out("Skipped: %s." % mi["skipped"])
            self.out()
            return
        a = [x for x in self.b.allocs if x in mi["per"]]
        self.out("`valgrind --tool=callgrind` counts the instructions of `build/bench/pairs` "
                 "loops, %d operations each after a warm-up of as many, minus the same loop "
                 "without malloc/free.  `pair`: malloc, write a byte, free.  `batch`: 64 "
                 "mallocs then the 64 frees.  Exact and repeatable; it says nothing about "
                 "cache misses or contention.  Raw numbers: `micro.json`." % mi["n"])
        self.out()
        for pat, title in (("pair", "malloc + free pairs"), ("batch", "batches of 64")):
            def g(k, c, pat=pat):
                return mi["per"].get(c, {}).get(str(k), {}).get(pat)
            self.metric_section("%s (instructions per malloc + free, lower is better)" % title,
                                MICRO_SIZES, lambda k: "%d B" % k, a, g, "%.0f", False, "size",
                                "micro", "instructions per %s, geomean" % pat)

    def sec_gc(self):
        g = self.R.get("gc")
        if not g:
            return
        impls = g["impls"]
        per = g["per"]
        mc = self.b.machine
        names = [b for b in GC_BENCHES if b in per]
        self.out("## 5. Garbage collection: snug's collector and bdwgc")
        self.out()
        self.out("Our own programs in `bench/gc/` (one source each; `gcb.h` maps `GCB_MALLOC`, "
                 "`GCB_MALLOC_ATOMIC`, `GCB_COLLECT`, `GCB_ADD_ROOTS` to `snug_gc_*` or to "
                 "bdwgc's `GC_*`), built against `libsnug.so` and against bdwgc %s "
                 "(Debian `libgc1`, with glibc's malloc for explicit memory).  Wall time of "
                 "the work and peak RSS (`wait4`), medians of %d interleaved runs.  Every "
                 "program checks what it built (node counts, keys, payloads), and both "
                 "collectors must print the same result; a run that fails either is dropped "
                 "and listed under anomalies.  %s"
                 % (mc.get("bdwgc") or "?", self.b.p["gc_reps"], self.gc_threads_note(g)))
        self.out()
        for b in names:
            self.out("- `%s -s %s`: %s" % (b, g["params"][b], GC_WHAT[b]))
        self.out()

        label = lambda k: "`%s`" % k
        self.metric_section("Wall time (s, lower is better)", names, label, impls,
                            field_of(per, "secs", 1), "%.3f", False, "program", "gc",
                            "wall time, geomean s", "snug/bdwgc")
        self.metric_section("Peak RSS (MiB, lower is better)", names, label, impls,
                            field_of(per, "rss_kib", 1024), "%.1f", False, "program", "gc",
                            "peak RSS, geomean MiB", "snug/bdwgc")
        rp = g.get("replay")
        if rp:
            tnames = [n for n in (self.R.get("traces") or {}).get("names", sorted(rp))
                      if n in rp] or sorted(rp)
            self.out("### The trace suite, explicit and collected (snug)")
            self.out()
            self.out("`snug-replay` (explicit: `snug_malloc`/`snug_free`) against "
                     "`snug-replay --gc` (every block from `snug_gc_malloc_atomic`, a free "
                     "only drops the reference; see `tools/README.md`): utilization with H "
                     "from `snug_stats()` (garbage not collected yet included), throughput "
                     "(median of %d run(s), each the fastest of %d passes), and the "
                     "collections of one replay.  A collection starts after max(8 MiB, "
                     "last kept) of allocation, so small traces hardly collect and their "
                     "heap holds most of what they ever allocated."
                     % (g["replay_reps"], self.b.p["replay_n"]))
            self.out()
            hdr = ["trace", "util % explicit", "util % GC", "Mops/s explicit", "Mops/s GC",
                   "collections", "GC heap peak MiB"]
            rows = []
            ue, ug, te, tg = [], [], [], []
            for n in tnames:
                x = rp[n]
                ue.append(x.get("util"))
                ug.append(x["gc_util"])
                te.append(x.get("tput"))
                tg.append(x["gc_tput"])
                rows.append(["`%s`" % n, cell(100 * x["util"] if x.get("util") is not None
                                              else None, "%.1f"),
                             cell(100 * x["gc_util"], "%.1f"),
                             cell(x["tput"] / 1e6 if x.get("tput") else None, "%.1f"),
                             cell(x["gc_tput"] / 1e6, "%.1f"), "%d" % x["gc_collections"],
                             cell(x["gc_heap_peak"] / 1048576, "%.1f")])
            rows.append(["**mean / geometric mean**",
                         cell(100 * mean(ue) if mean(ue) is not None else None, "%.1f"),
                         cell(100 * mean(ug), "%.1f"),
                         cell(geomean(te) / 1e6 if geomean(te) else None, "%.1f"),
                         cell(geomean(tg) / 1e6, "%.1f"), "", ""])
            self.table(hdr, rows)
            self.summary.append(("gc", "trace suite --gc: mean util %, geomean Mops/s",
                                 "%s, %s" % (cell(100 * mean(ug), "%.1f"),
                                             cell(geomean(tg) / 1e6, "%.1f")),
                                 "explicit snug %s, %s" % (
                                     cell(100 * mean(ue) if mean(ue) else None, "%.1f"),
                                     cell(geomean(te) / 1e6 if geomean(te) else None,
                                          "%.1f")), "", ""))
            retained = {n: rp[n]["gc_retained"] for n in tnames if rp[n]["gc_retained"] > 4096}
            if retained:
                self.out("Conservatively retained after a trace dropped everything and "
                         "collected (`gc_retained` > 4 KiB): %s." % ", ".join(
                             "`%s` %d bytes" % kv for kv in sorted(retained.items())))
                self.out()

    @staticmethod
    def gc_threads_note(g):
        """What the runs say about parallel marking (bdwgc can mark with helper threads)."""
        cpw = [v.get("cpu_per_wall") for b in g["per"].values() for v in b.values()
               if v.get("cpu_per_wall")]
        marks = sorted({v.get("markers") for b in g["per"].values()
                        for i, v in b.items() if i == "bdwgc" and v.get("markers") is not None})
        s = "CPU time / wall time of the runs: %.2f to %.2f" % (min(cpw), max(cpw)) \
            if cpw else ""
        if marks:
            s += "; bdwgc's `GC_get_parallel()`: %s (%s)" % (
                ", ".join(str(m) for m in marks),
                "no parallel marker threads: both collectors mark on one thread"
                if marks == [0] else "helper threads mark in parallel")
        return s + "." if s else ""

    def sec_series(self):
        se = self.R.get("series")
        if not se:
            return
        per = se["per"]
        cols = [a for a in self.b.allocs + ["snug (GC)"] if a in per]
        self.out("## 6. Utilization over time: `%s`" % se["trace"])
        self.out()
        self.out("`snug-replay --series` (one sample every ~1/1000 of the trace) under every "
                 "allocator: the live payload P(t) and the heap H(t), here the growth of "
                 "resident anonymous memory, the one measure every allocator has (snug's own "
                 "accounting is drawn dashed).  `snug (GC)` is `snug-replay --gc`.  The "
                 "lower panel is U(t) = P(t) / H(t), drawn where P is at least 5% of its "
                 "peak.")
        self.out()
        self.out("![utilization over time](utilization-over-time.svg)")
        self.out()

        def f(key, mul, fm):
            return lambda a: cell(per[a][key] * mul if per[a].get(key) is not None else None,
                                  fm)
        rows = []
        for label, key, mul, fm in (
                ("peak utilization %, max P / max H", "util_peak", 100, "%.1f"),
                ("mean utilization % over the run", "util_mean", 100, "%.1f"),
                ("peak heap (RSS growth), MiB", "peak_rss", 1 / 1048576, "%.2f"),
                ("heap at the end (RSS growth), MiB", "end_rss", 1 / 1048576, "%.2f")):
            rows.append([label] + [f(key, mul, fm)(a) for a in cols])
        self.table(["`%s`" % se["trace"]] + cols, rows)
        if se.get("plots"):
            self.out("snug's heap at the peak of live payload (`snug-replay --plot`): %s." %
                     ", ".join("[%s](%s)" % (p, p) for p in se["plots"]))
            self.out()
            self.out("![heap at the peak](%s)" % se["plots"][0])
            self.out()

    def markdown(self):
        b = self.b
        mc = b.machine
        body_start = len(self.lines)
        self.sec_traces()
        self.sec_mt()
        self.sec_counts()
        self.sec_programs()
        self.sec_micro()
        self.sec_gc()
        self.sec_series()
        body = self.lines[body_start:]
        self.lines = []
        self.out("# snug benchmark results%s" % (" (QUICK run: fewer repetitions, smaller "
                                                 "sizes)" if b.args.quick else ""))
        self.out()
        self.out("`make bench%s`, %s, snug `%s`, %.1f minutes." % (
            " QUICK=1" if b.args.quick else "", mc["date"], mc["snug_commit"],
            self.elapsed / 60))
        self.out()
        self.out("Machine: %s cores, %s GiB, %s, Linux %s, Debian %s, gcc %s, glibc %s.  "
                 "Load average (1/5/15 min) %s at the start, %s at the end: the machine is "
                 "shared, so timings carry noise beyond what the medians remove."
                 % (mc["nproc"], mc.get("mem_gib"), mc.get("cpu"), mc["kernel"],
                    mc.get("debian", "?"), mc["gcc"], mc["glibc"], self.load0, self.load1))
        self.out()
        self.out("Allocators: snug (`build/libsnug.so`; the trace replay links it statically), "
                 "glibc %s (the system malloc), %s." % (mc["glibc"], ", ".join(
                     "%s %s (`%s`)" % (n, mc["versions"].get(n), b.preload[n])
                     for n in b.allocs if n in PEER_LIBS)))
        if mc.get("bdwgc"):
            self.out("Collectors (section 5): snug's (`snug_gc_*`, `libsnug.so`) and bdwgc %s "
                     "(Debian `libgc1`)." % mc["bdwgc"])
        if b.missing:
            self.out("Not installed, skipped: %s." % ", ".join(b.missing))
        self.out()
        self.out("## Summary")
        self.out()
        self.out("`snug/best peer` is snug's figure divided by the best other allocator's: "
                 "above 1 is better for throughput and utilization, below 1 is better for "
                 "time, RSS and instructions.  `winner` includes snug.")
        self.out()
        self.table(["suite", "metric", "snug", "best peer", "snug/best peer", "winner"],
                   [list(s) for s in self.summary],
                   align=[" --- ", " --- ", " ---: ", " ---: ", " ---: ", " --- "])
        if b.anomalies:
            self.out("## Anomalies")
            self.out()
            for x in b.anomalies:
                self.out("- %s: %s  \n  reproduce: `%s`" % (x["suite"], x["what"], x["repro"]))
            self.out()
        else:
            self.out("No anomalies: every run exited cleanly and every payload and output "
                     "check passed.")
            self.out()
        self.lines += body
        self.out("## Not measured yet")
        self.out()
        self.out("- Collection with several mutator threads: the GC programs are "
                 "single-threaded (stopping the world is exercised by `make test`, not "
                 "timed).")
        self.out("- The peers' heaps over time beyond RSS: only snug has its own accounting "
                 "and a heap walk.")
        self.out()
        self.out("Raw medians and parameters: `latest.json`; the harness: `bench/README.md`.")
        return "\n".join(self.lines) + "\n"

    def charts(self):
        out = self.b.args.out
        t = self.R.get("traces")
        if t and hasattr(self, "trace_tput"):
            pts = []
            for a in self.b.allocs:
                x = self.trace_util.get("snug (RSS)" if a == "snug" else a)
                y = self.trace_tput.get(a)
                if x is not None and y is not None:
                    pts.append((a, x, y, False))
            if self.trace_util.get("snug (own H)") and self.trace_tput.get("snug"):
                pts.append(("snug (own H)", self.trace_util["snug (own H)"],
                            self.trace_tput["snug"], True))
            if pts:
                svgchart.scatter(
                    os.path.join(out, "throughput-vs-utilization.svg"),
                    "Trace suite: throughput vs utilization",
                    "mean peak utilization over the traces (%)",
                    "geometric-mean throughput (Mops/s)", pts,
                    subtitle="%d traces; utilization from RSS growth (hollow: snug's own "
                             "heap accounting)" % len(t["names"]),
                    links=[("snug", "snug (own H)")], legend_head="util %, Mops/s")
        se = self.R.get("series")
        rows = {a: v[::max(1, len(v) // 500)] + ([v[-1]] if len(v) > 500 else [])
                for a, v in self.b.series_rows.items()}
        if se and rows:
            order = [a for a in self.b.allocs + ["snug (GC)"] if a in rows]
            stack = []
            pp = max(r["payload"] for a in order for r in rows[a])
            mib = 1048576.0
            heap = [("live payload", [(r["op"], r["payload"] / mib) for r in rows[order[0]]],
                     False)]
            for a in order:
                heap.append((a, [(r["op"], r["rss"] / mib) for r in rows[a]], False))
                if rows[a][0]["heap"] is not None and a == "snug":
                    heap.append(("snug (own H)", [(r["op"], r["heap"] / mib)
                                                  for r in rows[a]], True))
            stack.append(dict(title="live payload P(t) and heap H(t) (RSS growth; dashed: "
                                    "snug's own accounting)", ylabel="MiB", series=heap))
            util = []
            for a in order:
                util.append((a, [(r["op"], 100.0 * r["payload"] / r["rss"]
                                  if r["rss"] > 0 and r["payload"] >= 0.05 * pp else None)
                                 for r in rows[a]], False))
                if rows[a][0]["heap"] is not None and a == "snug":
                    util.append(("snug (own H)", [(r["op"], 100.0 * r["payload"] / r["heap"]
                                                   if r["heap"] > 0 and r["payload"] >=
                                                   0.05 * pp else None) for r in rows[a]],
                                 True))
            stack.append(dict(title="utilization U(t) = P(t) / H(t), where P >= 5% of its "
                                    "peak", ylabel="%", series=util, ymax=100))
            svgchart.lines(os.path.join(out, "utilization-over-time.svg"),
                           "Utilization over time: %s" % se["trace"], "op", stack,
                           subtitle="snug-replay --series under each allocator (snug (GC): "
                                    "--gc); one sample every ~1/1000 of the trace",
                           xmax=max(r["op"] for a in order for r in rows[a]))
        m = self.R.get("mt")
        if m:
            panel_data = []
            for bn in MT_BENCHES:
                if bn not in m["per"]:
                    continue
                series = {}
                for a in self.b.allocs:
                    series[a] = [(m["per"][bn].get(str(th), {}).get(a) or {}).get("tput")
                                 for th in m["threads"]]
                    series[a] = [v / 1e6 if v else None for v in series[a]]
                panel_data.append((bn, series))
            if panel_data:
                svgchart.panels(os.path.join(out, "mt-scaling.svg"),
                                "Multi-threaded benchmarks: throughput by thread count",
                                "threads", "Mops/s", m["threads"], panel_data,
                                subtitle="fixed work per benchmark; %s cores; median of %d runs"
                                % (self.b.machine.get("nproc"), self.b.p["mt_reps"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    ap.add_argument("--out", help="results directory (default bench/results; "
                    "build/bench/quick with --quick)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--suites", default="traces,mt,counts,programs,micro,gc,series")
    ap.add_argument("--series-trace", default=SERIES_TRACE,
                    help="trace of build/traces for the series suite (default %s)"
                    % SERIES_TRACE)
    args = ap.parse_args()
    if not args.out:
        args.out = os.path.join(args.build, "bench", "quick") if args.quick else \
            os.path.join(HERE, "results")
    args.out = os.path.abspath(args.out)
    b = Bench(args)
    b.machine = machine_info()
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    t0 = time.time()
    load0 = loadavg()
    log("bench: allocators %s%s; results in %s" % (
        ", ".join(b.allocs), " (missing: %s)" % ", ".join(b.missing) if b.missing else "",
        os.path.relpath(args.out, ROOT)))
    try:
        for s in suites:
            ts = time.time()
            getattr(b, "suite_" + s)()
            log("%s: %.0f s" % (s, time.time() - ts))
        elapsed = time.time() - t0
        md = b.write(elapsed, load0, loadavg())
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    log("")
    log(md)
    log("bench: %.1f minutes; wrote %s/latest.md" % (elapsed / 60, os.path.relpath(args.out,
                                                                                   ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
