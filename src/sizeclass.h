/* sizeclass.h - the small size classes: 16-byte steps to 256, 32-byte steps to
 * 512, 64-byte steps to 1024 (32 classes, worst internal waste 12%), and the
 * page size each class uses (1-4 OS pages, chosen so a page wastes <= 1/8). */
#ifndef SNUG_SIZECLASS_H
#define SNUG_SIZECLASS_H
#include "config.h"

static inline unsigned size_class(size_t n)
{
    if (n <= 256) return n ? (unsigned)((n - 1) >> 4) : 0;
    if (n <= 512) return 16 + (unsigned)((n - 257) >> 5);
    return 24 + (unsigned)((n - 513) >> 6);
}

static inline size_t class_size(unsigned c)
{
    if (c < 16) return 16 * (size_t)(c + 1);
    if (c < 24) return 256 + 32 * (size_t)(c - 15);
    return 512 + 64 * (size_t)(c - 23);
}
#endif
