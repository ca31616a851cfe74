/* live.h - the writers of the live-bytes meter (meter.h): each thread heap publishes
 * the small bytes it counts, and its thread cache's, at page-level events, and the
 * live-bytes sample folds the layers' counters into the peak.  Nothing here walks
 * the heaps: a sample costs the same with one thread or thousands. */
#ifndef SNUG_LIVE_H
#define SNUG_LIVE_H
#include <stddef.h>
struct heap;

/* h publishes what it has not yet (its alloc_bytes less its freed_bytes, its cache's
 * bytes beyond `metered`) and those counters restart.  Only h's owner calls this
 * (for the fallback heap and parked heaps: the holder of their lock), as only it
 * writes them. */
void live_publish(struct heap *h);
/* The same, only when a count moved by more than slack bytes (page-level events). */
void live_publish_over(struct heap *h, size_t slack);
/* The sample, taken on the allocation paths (a fresh small page, every 64th medium
 * malloc of a thread or sparse block of a class, every large block): h, the
 * calling thread's heap or NULL, publishes, then the sum folds into the peak. */
void live_sample(struct heap *h);
#endif
