/* sizeclass.h - the small size classes: 16-byte steps to 256, 32-byte steps to
 * 512, 64-byte steps to 1024 (32 classes, worst internal waste 12%), and the
 * page size each class uses (1-4 OS pages, chosen so a page wastes <= 1/8; heap.c
 * gives a small heap smaller ones and a busy class the densest). */
#ifndef SNUG_SIZECLASS_H
#define SNUG_SIZECLASS_H
#include "config.h"

/* Class of a request, indexed by its size in 16-byte units rounded up (n <= 1024). */
static const uint8_t snug_class_of16[65] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23,
    23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27,
    27, 28, 28, 28, 28, 29, 29, 29, 29, 30, 30, 30, 30, 31, 31, 31,
    31,
};

static inline unsigned size_class(size_t n) { return snug_class_of16[(n + 15) >> 4]; }

static inline size_t class_size(unsigned c)
{
    if (c < 16) return 16 * (size_t)(c + 1);
    if (c < 24) return 256 + 32 * (size_t)(c - 15);
    return 512 + 64 * (size_t)(c - 23);
}
#endif
