"""workload.py - allocation-heavy Python for `make bench` (run with PYTHONMALLOC=malloc,
so every object goes through the allocator under test).

    python3 workload.py [SCALE]

Builds records (dicts, lists, tuples, strings), serialises and parses them with json,
splits and counts words, sorts, builds and drops a tree of small objects, and grows and
shrinks big lists and strings.  Deterministic: it prints a digest of its results, which
the harness compares across allocators (a wrong answer is a failed run, not a number).
"""
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = max(1, int(6000 * scale))
digest = hashlib.sha256()


def rng(seed):
    x = seed & 0xFFFFFFFF or 1
    while True:
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        yield x


WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega").split()


class Node:
    __slots__ = ("key", "left", "right", "payload")

    def __init__(self, key, payload):
        self.key, self.left, self.right, self.payload = key, None, None, payload


def insert(root, key, payload):
    if root is None:
        return Node(key, payload)
    node = root
    while True:
        if key < node.key:
            if node.left is None:
                node.left = Node(key, payload)
                return root
            node = node.left
        else:
            if node.right is None:
                node.right = Node(key, payload)
                return root
            node = node.right


def walk(root):
    total, stack = 0, [root]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        total = (total * 31 + n.key + len(n.payload)) % 1000000007
        stack.append(n.left)
        stack.append(n.right)
    return total


r = rng(12345)
for rnd in range(4):
    records = []
    for i in range(N):
        k = next(r)
        records.append({
            "id": i, "name": "-".join(WORDS[(k >> s) % len(WORDS)] for s in (0, 5, 10)),
            "tags": [WORDS[(k >> s) % len(WORDS)] for s in range(0, 20, 4)],
            "score": (k % 10007) / 7.0, "pair": (k % 97, str(k % 1013)),
        })
    text = json.dumps(records)
    back = json.loads(text)
    digest.update(str(len(text)).encode())
    words = re.findall(r"[a-z]+", text)
    counts = Counter(words)
    digest.update(repr(sorted(counts.items())[:50]).encode())
    groups = defaultdict(list)
    for rec in back:
        groups[rec["tags"][0]].append(rec["score"])
    for key in sorted(groups):
        digest.update(("%s:%d:%.3f" % (key, len(groups[key]), sum(groups[key]))).encode())
    back.sort(key=lambda rec: (rec["name"], rec["id"]))
    digest.update(" ".join(rec["name"] for rec in back[:100]).encode())
    root = None
    for i in range(N * 2):
        root = insert(root, next(r) % (N * 50), "x" * (i % 40))
    digest.update(str(walk(root)).encode())
    del root, back, records, text, words
    big = []
    for i in range(N * 10):
        big.append(str(i) * (1 + i % 7))
        if i % 3 == 0:
            big.pop(len(big) // 2)
    s = "".join(big)
    digest.update(hashlib.md5(s.encode()).hexdigest().encode())
    del big, s

print(digest.hexdigest())
