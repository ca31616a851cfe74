/* stats.h - the statistics printed on stderr: malloc_stats() and SNUG_OPTIONS=stats
 * at exit.  Prints without allocation or stdio, and without starting snug up. */
#ifndef SNUG_STATS_H
#define SNUG_STATS_H
/* "snug <version> heap statistics (<when>, pid N):" then one line per figure. */
void snug_stats_print(const char *when);
#endif
