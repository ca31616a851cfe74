/* init.h - one-time start-up of snug: the secret, region 0, the heap key and
 * the fork handlers.  Allocates nothing from anyone else, reads no file. */
#ifndef SNUG_INIT_H
#define SNUG_INIT_H
#include "config.h"
#include <stdatomic.h>

extern atomic_int snug_ready;
int snug_init_slow(void);
static inline int snug_ensure_init(void)
{
    return SNUG_LIKELY(atomic_load_explicit(&snug_ready, memory_order_acquire)) ? 0 : snug_init_slow();
}
#endif
