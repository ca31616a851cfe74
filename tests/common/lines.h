/* lines.h - the death tests' one comparison of what snug printed with what a test
 * wants: the exact line, a '#' in the wanted text standing for any decimal number
 * (sizes that depend on snug's policies).  C and C++; no state. */
#ifndef SNUG_TEST_LINES_H
#define SNUG_TEST_LINES_H
#include <string.h>

/* Is got exactly the line want, with or without its newline?  After it, only the
 * line qemu-i386 adds when it reports the abort (the 32-bit suite on a kernel
 * without IA32 emulation) may follow. */
static inline int line_matches(const char *got, const char *want)
{
    for (; *want; want++) {
        if (*want == '#') {
            if (*got < '0' || *got > '9') return 0;
            while (*got >= '0' && *got <= '9') got++;
        } else if (*got++ != *want) {
            return 0;
        }
    }
    if (*got == '\n') got++;
    if (!strncmp(got, "qemu: uncaught target signal", 28)) got += strcspn(got, "\n") + (strchr(got, '\n') ? 1 : 0);
    return *got == 0;
}
#endif
