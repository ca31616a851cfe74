/* regrow.c - a heap that frees and regrows tens of MiB, phase after phase: a few long-lived
 * blocks, then in every phase about 48 MiB of 32 B - 64 KiB blocks, all freed at the phase's
 * end (in a shuffled order) and built again by the next phase at once.  The shape where a free
 * top cut at once is faulted in again a moment later.
 *   regrow [PHASES]   prints a checksum (the same under every allocator) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBLK 20000

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(int argc, char **argv)
{
    long phases = argc > 1 ? atol(argv[1]) : 60;
    static unsigned char *b[NBLK];
    static size_t n[NBLK];
    static unsigned order[NBLK];
    uint64_t s = 0x9E3779B97F4A7C15ull, sum = 0;
    void *keep[16];
    for (int i = 0; i < 16; i++) keep[i] = malloc(100 + 37 * (size_t)i);
    for (long ph = 0; ph < phases; ph++) {
        for (unsigned i = 0; i < NBLK; i++) {
            uint64_t x = rnd(&s);
            /* mostly small, some medium: about 2.4 KiB on average */
            n[i] = x % 8 ? 32 + (size_t)(x >> 8) % 480 : 1024 + (size_t)(x >> 8) % (64 * 1024 - 1024);
            b[i] = malloc(n[i]);
            if (!b[i]) { perror("malloc"); return 1; }
            memset(b[i], (int)(i + ph), n[i]);
            order[i] = i;
        }
        for (unsigned i = NBLK - 1; i > 0; i--) {
            unsigned j = (unsigned)(rnd(&s) % (i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (unsigned k = 0; k < NBLK; k++) {
            unsigned i = order[k];
            sum += b[i][n[i] - 1];
            free(b[i]);
        }
    }
    for (int i = 0; i < 16; i++) free(keep[i]);
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
