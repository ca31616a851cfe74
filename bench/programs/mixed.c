/* mixed.c - mixed sizes from 4 B to 32 KiB, two threads: each keeps 1000 live blocks and
 * replaces a random one per step with a block of a new size, log-uniform over the range (so
 * about 40% of requests are medium blocks of 1-32 KiB), writing its first and last bytes.
 * The shape of glibc's bench-malloc-thread, which issue 19 found 2.8x slower under snug than
 * under mimalloc, with one thread or two.  Threads share nothing.
 *   mixed [MSTEPS]   MSTEPS million steps per thread (default 5); prints a checksum
 *                    (the same under every allocator) */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 2
#define LIVE    1000

static long steps;
static uint64_t sums[THREADS];

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t s = 0x6d69786564ull + (uint64_t)id, sum = 0;
    static __thread unsigned char *p[LIVE];
    static __thread size_t n[LIVE];
    const double lo = log(4.0), span = log(32768.0) - log(4.0);
    for (long i = 0; i < steps; i++) {
        uint64_t r = rnd(&s);
        unsigned k = (unsigned)(r % LIVE);
        if (p[k]) {
            sum += p[k][0] + p[k][n[k] - 1];
            free(p[k]);
        }
        n[k] = (size_t)exp(lo + span * (double)(r >> 40) / (double)(1u << 24));
        p[k] = malloc(n[k]);
        if (!p[k]) {
            perror("malloc");
            exit(1);
        }
        p[k][0] = (unsigned char)i;
        p[k][n[k] - 1] = (unsigned char)(i >> 8);
    }
    for (unsigned k = 0; k < LIVE; k++) free(p[k]);
    sums[id] = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    steps = (long)((argc > 1 ? atof(argv[1]) : 5.0) * 1e6);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) return 1;
    uint64_t sum = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        sum += sums[i];
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
