/* trace_format.h - the snug trace format: malloc-lab text traces plus our calloc
 * ('c') and aligned ('m') extensions.  The reader checks every line and every id's
 * lifetime; the op formatter never allocates, so the LD_PRELOAD tracer can use it.
 *
 * A trace is text.  Four header lines, one integer each:
 *     suggested heap size   (informational; the tracer writes the peak live payload)
 *     number of ids         (ids run from 0 to this - 1)
 *     number of ops         (op lines that follow)
 *     weight                (informational; 1)
 * then one op per line:
 *     a ID SIZE             malloc(SIZE); ID must be dead, becomes live
 *     f ID                  free; ID must be live, becomes dead
 *     r ID SIZE             realloc(ID, SIZE).  On a dead ID this is realloc(NULL, SIZE),
 *                           i.e. a malloc, and ID becomes live.  SIZE 0 on a live ID has
 *                           the glibc meaning: the block is freed and ID becomes dead.
 *     c ID N SIZE           calloc(N, SIZE) (extension); N*SIZE must not overflow
 *     m ID ALIGN SIZE       aligned allocation (memalign, posix_memalign, aligned_alloc,
 *                           valloc, pvalloc) (extension); ALIGN is a power of two
 * Plain published malloc-lab traces (only a/f/r) are read as they are.  The reader
 * also accepts: blank lines and lines starting with '#' (comments) anywhere; a file
 * with no header at all (the first line is an op), as left behind by a crashed
 * traced process (<prog>.<pid>.rep.ops), whose counts are then computed; and a NUL
 * byte, which ends the data (the unused tail of the tracer's file mapping).
 * When the header counts disagree with the ops found the reader keeps the ops, uses
 * the real counts and sets `warning`.  Ids are below 2^32 - 1.
 */
#ifndef SNUG_TRACE_FORMAT_H
#define SNUG_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    TOP_ALLOC   = 'a',
    TOP_FREE    = 'f',
    TOP_REALLOC = 'r',
    TOP_CALLOC  = 'c',
    TOP_ALIGNED = 'm',
};

struct trace_op {
    size_t   size;   /* requested size (element size for calloc) */
    size_t   arg;    /* calloc: element count; aligned: alignment; otherwise 0 */
    uint32_t id;
    char     kind;   /* one of TOP_* */
};

/* Bytes the op asks for (calloc: count * size). */
static inline size_t trace_op_bytes(const struct trace_op *op)
{
    return op->kind == TOP_CALLOC ? op->arg * op->size : op->size;
}

struct trace {
    char   *name;         /* file name as given */
    size_t  heap_hint;    /* header line 1 (0 when there was no header) */
    size_t  num_ids;      /* max(header, highest id + 1) */
    size_t  num_ops;      /* == nops */
    size_t  weight;       /* header line 4 (1 when there was no header) */
    int     had_header;
    struct trace_op *ops;
    size_t  nops;
    size_t  peak_live_bytes;  /* computed: max over ops of the live payload */
    size_t  live_at_end;      /* ids still live after the last op */
    char    warning[200];     /* empty, or why the header did not match */
};

/* Read a trace file; ".gz" and ".xz" names are piped through gzip -dc / xz -dc.
 * Returns 0, or -1 with a message (naming file and line) in err. */
int  trace_load(const char *path, struct trace *t, char *err, size_t errlen);
/* Parse an open stream; `name` is used in messages. */
int  trace_parse(FILE *f, const char *name, struct trace *t, char *err, size_t errlen);
void trace_destroy(struct trace *t);

/* Where the reader gets its memory: realloc/free by default.  snug-replay points
 * it at mmap so that the allocator it measures sees none of the reader's work. */
void trace_set_allocator(void *(*realloc_fn)(void *, size_t), void (*free_fn)(void *));

/* Write a whole trace (header from the trace's fields and its ops) to f.
 * Returns 0 or -1 (errno set by stdio). */
int  trace_write(FILE *f, const struct trace *t);

/* Format into buf (at least TRACE_LINE_MAX bytes) without allocating; returns the
 * length written, newline included, no NUL added. */
#define TRACE_LINE_MAX 80
size_t trace_format_op(char *buf, const struct trace_op *op);
size_t trace_format_header(char *buf, size_t heap_hint, size_t num_ids,
                           size_t num_ops, size_t weight);   /* buf >= 4*TRACE_LINE_MAX */

#endif
