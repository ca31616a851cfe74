/* options.c (test) - a program for the options group of tests/run.sh, run plain under
 * LD_PRELOAD: `noalloc` allocates nothing at all (verbose and help must still speak),
 * `peak N` holds an N-byte block at its peak then frees it (stats at exit must show a
 * live peak of at least N).  Prints "ran" on stdout, so a test sees the program ran on. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "peak")) {
        size_t n = strtoul(argv[2], NULL, 10);
        char *p = malloc(n);
        if (!p) return 1;
        memset(p, 1, n);
        free(p);
    } else if (argc != 2 || strcmp(argv[1], "noalloc") != 0) {
        return 2;
    }
    return write(1, "ran\n", 4) == 4 ? 0 : 1;
}
