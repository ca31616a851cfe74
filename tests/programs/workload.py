# workload.py - a Python workload for the real-program test: dicts, strings, json, threads.
# Run with PYTHONMALLOC=malloc so every object allocation goes through malloc (snug under
# LD_PRELOAD); prints only deterministic results, compared with a run without snug.
import hashlib
import json
import queue
import threading

# dicts: build, update, delete, rebuild
d = {}
for i in range(200000):
    d["k%d" % i] = [i, str(i) * (i % 7), {"n": i}]
for i in range(0, 200000, 3):
    del d["k%d" % i]
for i in range(0, 50000):
    d["new%d" % i] = ("x" * (i % 100), i)
print("dict size", len(d))
print("dict sum", sum(v[0] if isinstance(v, list) else v[1] for v in d.values()))

# strings: join, split, replace, formatting, growth
parts = ["%05d:%s" % (i, chr(65 + i % 26) * (i % 40)) for i in range(100000)]
s = ",".join(parts)
print("joined length", len(s))
pieces = s.split(",")
print("pieces", len(pieces), pieces[12345])
t = s.replace("A", "aa").upper().lower()
print("sha of transformed", hashlib.sha256(t.encode()).hexdigest())
buf = ""
for i in range(20000):
    buf += str(i)
print("grown string", len(buf), buf[-10:])

# json round trips of nested structures
doc = {"items": [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 13)] * (i % 5),
                  "nested": {"a": [i, i * 2, {"b": str(i)}]}} for i in range(30000)]}
text = json.dumps(doc, sort_keys=True)
back = json.loads(text)
print("json length", len(text), "equal", back == doc)
print("json sha", hashlib.sha256(text.encode()).hexdigest())

# threads: workers building and exchanging objects through a queue
q = queue.Queue()
results = []
lock = threading.Lock()

def worker(n):
    local = []
    for i in range(20000):
        local.append({"w": n, "i": i, "s": "v" * (i % 50)})
        if len(local) > 100:
            q.put(local)
            local = []
    q.put(local)
    total = 0
    while True:
        try:
            batch = q.get(timeout=0.05)
        except queue.Empty:
            break
        total += sum(x["i"] + len(x["s"]) for x in batch)
    with lock:
        results.append(total)

threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
for th in threads:
    th.start()
for th in threads:
    th.join()
leftover = 0
while not q.empty():
    leftover += sum(x["i"] + len(x["s"]) for x in q.get())
print("threads total", sum(results) + leftover)

# sorting of many small objects
recs = sorted(((i * 7919) % 100003, "r%d" % i) for i in range(200000))
print("sorted head", recs[:3], "tail", recs[-2:])
