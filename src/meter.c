/* meter.c - the one instance of the published counters (meter.h).  Zero at start-up:
 * nothing to set up, and any layer may add to it from its first allocation on. */
#include "meter.h"

struct snug_meter snug_meter;
