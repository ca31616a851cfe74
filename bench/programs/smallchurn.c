/* smallchurn.c - small-object churn in one thread: 10,000 live blocks of 8-512 bytes
 * (log-uniform, so half are under 64 bytes), one replaced at random per step, and a
 * temporary of the same range made and freed within the step; every block's first and
 * last bytes written.  The shape of logic minimisation, rational-number factoring and
 * an interpreter's object churn (issue 19's small-object programs), whose heaps are a
 * few MiB at most and whose classes hold a few hundred objects each.
 *   smallchurn [MSTEPS]   MSTEPS million steps (default 10); prints a checksum
 *                         (the same under every allocator) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LIVE 10000

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double lo, span;     /* log 8, log 512 - log 8 (main) */

/* 8-512 bytes, log-uniform, from 24 random bits */
static size_t size_of(uint64_t r)
{
    return (size_t)exp(lo + span * (double)(r & 0xffffff) / (double)(1u << 24));
}

static unsigned char *make(size_t n, long i)
{
    unsigned char *p = malloc(n);
    if (!p) {
        perror("malloc");
        exit(1);
    }
    p[0] = (unsigned char)i;
    p[n - 1] = (unsigned char)(i >> 8);
    return p;
}

int main(int argc, char **argv)
{
    long steps = (long)((argc > 1 ? atof(argv[1]) : 10.0) * 1e6);
    lo = log(8.0);
    span = log(512.0) - lo;
    static unsigned char *p[LIVE];
    static size_t n[LIVE];
    uint64_t s = 0x736d616c6cull, sum = 0;
    for (long i = 0; i < steps; i++) {
        uint64_t r = rnd(&s);
        unsigned k = (unsigned)((r >> 32) % LIVE);
        if (p[k]) {
            sum += p[k][0] + p[k][n[k] - 1];
            free(p[k]);
        }
        n[k] = size_of(r);
        p[k] = make(n[k], i);
        size_t t = size_of(rnd(&s));
        unsigned char *q = make(t, i);
        sum += q[t - 1];
        free(q);
    }
    for (unsigned k = 0; k < LIVE; k++) free(p[k]);
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
