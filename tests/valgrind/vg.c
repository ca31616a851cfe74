/* vg.c - a program linked with -lsnug (vg) or libsnug.a (vg-static) with two deliberate bugs for
 * valgrind's memcheck: a read one byte past a 100-byte block and a 12345-byte block leaked.
 *     valgrind --soname-synonyms=somalloc=libsnug* --leak-check=full build/tests/vg
 * (somalloc=NONE for the static link): memcheck must replace snug's malloc/free with its own
 * and report both (tests/run.sh, group valgrind).  With the argument "prefixed" the same is done
 * through snug_malloc/snug_free, which memcheck does not replace and so must not see (the
 * control: the checks of the group can fail). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snug.h"

static void *volatile keep;

int main(int argc, char **argv)
{
    int prefixed = argc > 1 && !strcmp(argv[1], "prefixed");
    void *(*m)(size_t) = prefixed ? snug_malloc : malloc;
    void (*f)(void *) = prefixed ? snug_free : free;
    struct snug_stats s;
    if (snug_stats(&s) != 0) return 2;     /* snug is really linked in */
    char *p = m(100);
    memset(p, 'x', 100);
    volatile char c = p[100];              /* invalid read of size 1, just past the block */
    (void)c;
    f(p);
    char *leak = m(12345);                 /* definitely lost: the only pointer is dropped */
    memset(leak, 1, 12345);
    keep = leak;
    keep = NULL;
    char *q = calloc(10, 10);
    q = realloc(q, 5000);
    free(q);
    printf("vg: done\n");
    return 0;
}
