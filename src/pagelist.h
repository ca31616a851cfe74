/* pagelist.h - a thread heap's doubly linked lists of small pages (heap.c's avail
 * lists): push at the head or the tail, remove.  The links live in the page
 * headers' first line; every header a link is read from is verified first. */
#ifndef SNUG_PAGELIST_H
#define SNUG_PAGELIST_H
#include "page.h"

/* A page list: linked by next from the head to the tail (whose next is NULL);
 * prev links run backwards, and the head's prev is the tail, so both ends are
 * at hand from the head alone.  A link is followed only out of a header whose
 * guards were checked (P4); what it points to is then a page, whose header
 * gets only a link written. */
static inline void list_push(struct spage **head, struct spage *pg)
{
    struct spage *h = *head;
    if (h) page_verify(h);
    pg->next = h;
    pg->prev = h ? h->prev : pg;
    if (h) h->prev = pg;
    *head = pg;
}

static inline void list_push_tail(struct spage **head, struct spage *pg)
{
    struct spage *h = *head;
    if (!h) {
        list_push(head, pg);
        return;
    }
    page_verify(h);
    struct spage *t = h->prev;
    t->next = pg;
    pg->prev = t;
    pg->next = NULL;
    h->prev = pg;
}

/* (pg: verified by the caller) */
static inline void list_remove(struct spage **head, struct spage *pg)
{
    struct spage *h = *head;
    if (pg == h) *head = pg->next; else pg->prev->next = pg->next;
    if (pg->next) pg->next->prev = pg->prev;
    else if (pg != h) h->prev = pg->prev;        /* the tail went */
    pg->next = pg->prev = NULL;
}
#endif
