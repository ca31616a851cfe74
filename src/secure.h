/* secure.h - secure mode (SNUG_OPTIONS=secure, or built with SECURE=1): every
 * block gets a trailer and canary bytes checked at free, freed memory is filled
 * and verified, frees pass through a randomised quarantine, large blocks sit
 * between inaccessible pages and malloc(0) returns addresses that fault. */
#ifndef SNUG_SECURE_H
#define SNUG_SECURE_H
#include <stddef.h>

void  *secure_alloc(size_t n, size_t align);
void   secure_free(void *p);
void  *secure_realloc(void *p, size_t n);
size_t secure_usable(const void *p, const char *op);
int    secure_owns_zero(const void *p);     /* p is one of malloc(0)'s fault addresses */
void   secure_flush(void);                  /* empty the quarantine (malloc_trim, exhaustion) */
void   secure_fork_prepare(void);
void   secure_fork_parent(void);
void   secure_fork_child(void);
#endif
