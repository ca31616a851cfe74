/* stats.h - counters read across the layers: live bytes and their high-water
 * mark.  Layers report into it; it never calls a layer back to change it. */
#ifndef SNUG_STATS_H
#define SNUG_STATS_H
#include <stddef.h>
void   snug_stats_sample(void);             /* fold current live bytes into the peak */
void   snug_stats_note_free(size_t bytes, size_t blocks);  /* small frees by a thread with no heap */
size_t snug_live_bytes(void);
#endif
