/* largechurn.c - large-buffer churn: up to 20 live buffers of 5-25 MiB, one replaced at random
 * each round (the new one made before the old one is freed, as assigning a new
 * std::make_unique<char[]> does), each new buffer zero-filled, then written.  The
 * shape where returning every freed mapping at once makes each new buffer fault in anew.
 *   largechurn [ROUNDS]   prints a checksum (the same under every allocator) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 20
#define MiB ((size_t)1 << 20)

/* (called through a pointer: a compiler may not turn malloc + memset into calloc, as the
 * operator new + value-initialisation of C++ never is) */
static void *(*volatile zero_fill)(void *, int, size_t) = memset;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 300;
    static unsigned char *buf[SLOTS];
    static size_t len[SLOTS];
    uint64_t s = 88172645463325252ull, sum = 0;
    for (long r = 0; r < rounds; r++) {
        unsigned i = (unsigned)(rnd(&s) % SLOTS);
        size_t n = 5 * MiB + (size_t)(rnd(&s) % (20 * MiB));
        unsigned char *b = malloc(n);
        if (!b) { perror("malloc"); return 1; }
        zero_fill(b, 0, n);
        for (size_t k = 0; k < n; k += 4096 * 16) b[k] = (unsigned char)(r + k);
        b[n - 1] = (unsigned char)r;
        if (buf[i]) {
            sum += buf[i][len[i] / 2] + buf[i][len[i] - 1];
            free(buf[i]);
        }
        buf[i] = b;
        len[i] = n;
    }
    for (unsigned i = 0; i < SLOTS; i++) free(buf[i]);
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
