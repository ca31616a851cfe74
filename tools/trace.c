/* trace.c - snug-trace.so: LD_PRELOAD recorder of a process's allocation calls.
 * Every call is forwarded to the next allocator (dlsym RTLD_NEXT); each successful
 * request becomes one line of $SNUG_TRACE_DIR/<prog>.<pid>.rep.  Never calls malloc.
 *
 * How it works:
 *  - Ops are written, as they happen, into a MAP_SHARED mapping of
 *    <dir>/<prog>.<pid>.rep.ops, so a crash still leaves a readable (header-less)
 *    trace there.  At exit a destructor writes <prog>.<pid>.rep: the header (counts
 *    are known then) followed by the ops, and removes the .ops file.
 *  - A pointer->id hash table (open addressing, mmap'd) gives each live pointer an
 *    id; freed ids are reused (LIFO), so the trace's id count stays small.
 *  - Frees and reallocs of pointers the tracer never saw (allocated before it
 *    started, or inherited over fork) are forwarded and not recorded (a realloc of
 *    one is recorded as a fresh allocation of the new block).
 *  - One lock serialises the bookkeeping; it is never held across a call to the
 *    real allocator.  free() records before forwarding and malloc() after, so a
 *    reused address is never seen live twice; realloc takes the old pointer out of
 *    the table before the call and records the op after it.
 *  - fork: the child drops the parent's state and mapping (pthread_atfork) and
 *    starts its own file at its first allocation.  exec runs no destructor: the
 *    exec family (execve, execv, execvp, execvpe, execl, execlp, execle, fexecve)
 *    is wrapped to write the .rep of what was recorded so far and remove the .ops
 *    file first; recording goes on into the (now unnamed) .ops file should the
 *    exec fail, and the .rep is written again at exit.  A crash leaves only the
 *    .rep.ops.  _exit/_Exit are wrapped to finish the file first.  Neither touches
 *    the file in a vfork child (whose pid differs from the recording process's).
 *  - SNUG_TRACE_ONLY=name[,name...] records only a process whose program is named
 *    so: the file name of /proc/self/exe or the last part of argv[0] (for a
 *    script, the interpreter's file name and the name it was called by); any other
 *    process forwards every call unrecorded, and its exec'd programs decide anew.
 *  - dlsym may allocate while the real functions are being looked up: those
 *    requests come from a static bootstrap buffer; their frees are dropped.
 *  - Calls made from inside the real allocator or the tracer (nested) are
 *    forwarded unrecorded.
 * Environment: SNUG_TRACE_DIR (default /tmp); SNUG_TRACE_OFF=1 disables recording;
 * SNUG_TRACE_ONLY (above).
 */
#include "trace_format.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

extern char *program_invocation_short_name;

/* ---------------- the next allocator ---------------- */

static struct {
    void *(*malloc)(size_t);
    void  (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int   (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
} real;

/* The exec functions the wrappers below end in (looked up at start-up: a vfork child
 * must not call dlsym). */
static struct {
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
} real_exec;

static atomic_int init_state;           /* 0 none, 1 resolving, 2 ready */
static __thread int tl_resolving;       /* this thread is inside dlsym */
static __thread int tl_busy;            /* this thread is inside a wrapper */

/* Bootstrap arena for allocations made by dlsym before the real malloc is known. */
static _Alignas(64) unsigned char boot_buf[1 << 16];
static size_t boot_used;

static int is_boot(const void *p)
{
    return (const unsigned char *)p >= boot_buf &&
           (const unsigned char *)p < boot_buf + sizeof boot_buf;
}

static void *boot_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    /* 16-byte header holding the size, for realloc of a boot block. */
    size_t start = (boot_used + 16 + align - 1) & ~(align - 1);
    if (n > sizeof boot_buf || start + n > sizeof boot_buf)
        return NULL;
    memcpy(boot_buf + start - sizeof(size_t), &n, sizeof n);
    boot_used = start + n;
    return boot_buf + start;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof n);
    return n;
}

static void *lookup(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* Whether fn lives in the same shared object as the next malloc. */
static int same_object(void *fn)
{
    Dl_info a, b;
    void *m;
    memcpy(&m, &real.malloc, sizeof m);
    if (!fn || !dladdr(fn, &a) || !dladdr(m, &b))
        return fn != NULL;
    return a.dli_fbase == b.dli_fbase;
}

/* memalign through whatever the next allocator has. */
static void *next_memalign(size_t align, size_t n)
{
    if (real.memalign)
        return real.memalign(align, n);
    if (align < sizeof(void *))
        align = sizeof(void *);
    void *p = NULL;
    return real.posix_memalign(&p, align, n) == 0 ? p : NULL;
}

#define RESOLVE(field, name) do { void *f_ = lookup(name); \
    memcpy(&real.field, &f_, sizeof f_); } while (0)

static void resolve(void)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&init_state, &expected, 1)) {
        tl_resolving = 1;
        RESOLVE(malloc, "malloc");
        RESOLVE(free, "free");
        RESOLVE(calloc, "calloc");
        RESOLVE(realloc, "realloc");
        RESOLVE(posix_memalign, "posix_memalign");
        RESOLVE(aligned_alloc, "aligned_alloc");
        RESOLVE(memalign, "memalign");
        RESOLVE(valloc, "valloc");
        RESOLVE(pvalloc, "pvalloc");
        void *f_ = lookup("execve");
        memcpy(&real_exec.execve, &f_, sizeof f_);
        f_ = lookup("execvpe");
        memcpy(&real_exec.execvpe, &f_, sizeof f_);
        f_ = lookup("fexecve");
        memcpy(&real_exec.fexecve, &f_, sizeof f_);
        /* An allocator that lacks one of the rarer entry points (jemalloc has no
         * pvalloc) would leave us glibc's, whose blocks the allocator cannot free:
         * emulate those with the allocator's own memalign/posix_memalign instead. */
        if (!same_object((void *)real.memalign))
            real.memalign = NULL;
        if (!same_object((void *)real.aligned_alloc))
            real.aligned_alloc = NULL;
        if (!same_object((void *)real.valloc))
            real.valloc = NULL;
        if (!same_object((void *)real.pvalloc))
            real.pvalloc = NULL;
        tl_resolving = 0;
        if (!real.malloc || !real.free || !real.calloc || !real.realloc ||
            !real.posix_memalign) {
            static const char msg[] = "snug-trace: cannot find the next malloc\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
            abort();
        }
        atomic_store(&init_state, 2);
        return;
    }
    while (atomic_load(&init_state) != 2)
        sched_yield();
}

/* True when the caller must be served from the bootstrap arena. */
static inline int need_boot(void)
{
    if (__builtin_expect(atomic_load_explicit(&init_state, memory_order_acquire) == 2, 1))
        return 0;
    if (tl_resolving)
        return 1;
    resolve();
    return 0;
}

/* ---------------- recorder state (all under `lock`) ---------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int rec_state;          /* 0 not started, 1 recording, 2 finished or disabled */
static pid_t rec_pid;          /* the process the current file belongs to */
static int atfork_done;

struct slot {
    uintptr_t key;             /* 0 = empty */
    size_t    size;            /* live payload of this block */
    uint32_t  id;
};
static struct slot *tab;
static size_t tab_cap, tab_count;        /* cap is a power of two */

static uint32_t *free_ids;
static size_t free_ids_n, free_ids_cap;
static uint32_t next_id;                 /* ids ever used = num_ids */

static size_t live_bytes, peak_bytes;
static uint64_t nops;

static int ops_fd = -1;
static char *win;                        /* mapped window of the ops file */
static size_t win_off;                   /* file offset of win */
static size_t win_pos;                   /* bytes used in win */
static const size_t WIN = (size_t)4 << 20;
static char ops_path[4096], rep_path[4096];

static void *map_anon(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void say(const char *a, const char *b)
{
    ssize_t w = write(2, "snug-trace: ", 12);
    w = write(2, a, strlen(a));
    if (b) {
        w = write(2, b, strlen(b));
    }
    w = write(2, "\n", 1);
    (void)w;
}

static void disable(const char *why, const char *what)
{
    say(why, what);
    rec_state = 2;
}

static inline size_t hash_ptr(uintptr_t p, size_t cap)
{
    uint64_t h = (uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

static int tab_grow(void)
{
    size_t ncap = tab_cap ? tab_cap * 2 : (size_t)1 << 16;
    struct slot *n = map_anon(ncap * sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < tab_cap; i++) {
        if (!tab[i].key)
            continue;
        size_t j = hash_ptr(tab[i].key, ncap);
        while (n[j].key)
            j = (j + 1) & (ncap - 1);
        n[j] = tab[i];
    }
    if (tab)
        munmap(tab, tab_cap * sizeof *tab);
    tab = n;
    tab_cap = ncap;
    return 0;
}

static struct slot *tab_find(uintptr_t key)
{
    if (!tab_count)
        return NULL;
    size_t j = hash_ptr(key, tab_cap);
    while (tab[j].key) {
        if (tab[j].key == key)
            return &tab[j];
        j = (j + 1) & (tab_cap - 1);
    }
    return NULL;
}

/* Remove a slot found by tab_find (backward-shift deletion keeps probes valid). */
static void tab_remove(struct slot *s)
{
    size_t i = (size_t)(s - tab), j = i;
    for (;;) {
        j = (j + 1) & (tab_cap - 1);
        if (!tab[j].key)
            break;
        size_t home = hash_ptr(tab[j].key, tab_cap);
        /* Move tab[j] into the hole at i when its home is not in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            tab[i] = tab[j];
            i = j;
        }
    }
    tab[i].key = 0;
    tab_count--;
}

static int tab_insert(uintptr_t key, size_t size, uint32_t id)
{
    if ((tab_count + 1) * 2 > tab_cap && tab_grow())
        return -1;
    size_t j = hash_ptr(key, tab_cap);
    while (tab[j].key)
        j = (j + 1) & (tab_cap - 1);
    tab[j].key = key;
    tab[j].size = size;
    tab[j].id = id;
    tab_count++;
    return 0;
}

static int new_id(uint32_t *id)
{
    if (free_ids_n) {
        *id = free_ids[--free_ids_n];
        return 0;
    }
    if (next_id == UINT32_MAX - 1)
        return -1;
    *id = next_id++;
    return 0;
}

static void release_id(uint32_t id)
{
    if (free_ids_n == free_ids_cap) {
        size_t ncap = free_ids_cap ? free_ids_cap * 2 : 16384;
        uint32_t *n = free_ids ? mremap(free_ids, free_ids_cap * sizeof *n,
                                        ncap * sizeof *n, MREMAP_MAYMOVE)
                               : map_anon(ncap * sizeof *n);
        if (n == MAP_FAILED || !n)
            return;           /* id leaks: only num_ids grows */
        free_ids = n;
        free_ids_cap = ncap;
    }
    free_ids[free_ids_n++] = id;
}

/* Append s onto path at *len (bounded); returns 0 when it fitted. */
static int path_cat(char *path, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > 4096)
        return -1;
    memcpy(path + *len, s, n + 1);
    *len += n;
    return 0;
}

static int build_paths(void)
{
    const char *dir = getenv("SNUG_TRACE_DIR");
    char prog[256], pidbuf[32];
    size_t len = 0, plen = 0;
    const char *name = program_invocation_short_name;
    if (!dir || !*dir)
        dir = "/tmp";
    if (!name || !*name)
        name = "prog";
    for (; *name && plen < sizeof prog - 1; name++)
        prog[plen++] = (*name == '/' || *name == ' ') ? '_' : *name;
    prog[plen] = 0;
    unsigned long pid = (unsigned long)getpid();
    char tmp[32];
    size_t n = 0, k = 0;
    do {
        tmp[n++] = (char)('0' + pid % 10);
        pid /= 10;
    } while (pid);
    while (n)
        pidbuf[k++] = tmp[--n];
    pidbuf[k] = 0;
    if (path_cat(rep_path, &len, dir) || path_cat(rep_path, &len, "/") ||
        path_cat(rep_path, &len, prog) || path_cat(rep_path, &len, ".") ||
        path_cat(rep_path, &len, pidbuf) || path_cat(rep_path, &len, ".rep"))
        return -1;
    memcpy(ops_path, rep_path, len + 1);
    return path_cat(ops_path, &len, ".ops");
}

static int map_window(size_t off)
{
    if (ftruncate(ops_fd, (off_t)(off + WIN)) != 0)
        return -1;
    void *p = mmap(NULL, WIN, PROT_READ | PROT_WRITE, MAP_SHARED, ops_fd, (off_t)off);
    if (p == MAP_FAILED)
        return -1;
    win = p;
    win_off = off;
    return 0;
}

/* Whether name[0..len) is one of the comma-separated names in list. */
static int in_list(const char *list, const char *name, size_t len)
{
    while (*list) {
        size_t n = strcspn(list, ",");
        if (n == len && n && !memcmp(list, name, n))
            return 1;
        list += n;
        if (*list)
            list++;
    }
    return 0;
}

/* SNUG_TRACE_ONLY: 1 when unset or when it names this program (the file name of
 * /proc/self/exe, or argv[0]'s last part). */
static int traced_program(void)
{
    const char *only = getenv("SNUG_TRACE_ONLY");
    if (!only || !*only)
        return 1;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *base = strrchr(exe, '/');
        base = base ? base + 1 : exe;
        if (in_list(only, base, strlen(base)))
            return 1;
    }
    const char *arg0 = program_invocation_short_name;
    return arg0 && in_list(only, arg0, strlen(arg0));
}

static void start_recording(void)
{
    const char *off = getenv("SNUG_TRACE_OFF");
    if ((off && *off && *off != '0') || !traced_program()) {
        rec_state = 2;
        return;
    }
    if (build_paths()) {
        disable("path too long", NULL);
        return;
    }
    ops_fd = open(ops_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (ops_fd < 0) {
        disable("cannot create ", ops_path);
        return;
    }
    win_pos = 0;
    if (map_window(0)) {
        close(ops_fd);
        ops_fd = -1;
        disable("cannot map ", ops_path);
        return;
    }
    rec_pid = getpid();
    rec_state = 1;
}

static void emit(const struct trace_op *op)
{
    if (win_pos + TRACE_LINE_MAX > WIN) {
        size_t end = win_off + win_pos;
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t noff = end & ~(page - 1);
        munmap(win, WIN);
        win = NULL;
        if (map_window(noff)) {
            disable("cannot extend ", ops_path);
            return;
        }
        win_pos = end - noff;
    }
    win_pos += trace_format_op(win + win_pos, op);
    nops++;
}

/* Common entry: returns 1 when recording is on (lock held), 0 otherwise (unlocked). */
static int rec_begin(void)
{
    pthread_mutex_lock(&lock);
    if (rec_state == 0)
        start_recording();
    if (rec_state == 1)
        return 1;
    pthread_mutex_unlock(&lock);
    return 0;
}

static void rec_new(void *p, char kind, size_t size, size_t arg, size_t bytes)
{
    struct slot *s = tab_find((uintptr_t)p);
    if (s) {                   /* its free went unseen: close the old id */
        struct trace_op f = { 0, 0, s->id, TOP_FREE };
        emit(&f);
        live_bytes -= s->size;
        release_id(s->id);
        tab_remove(s);
    }
    uint32_t id;
    if (new_id(&id) || tab_insert((uintptr_t)p, bytes, id)) {
        disable("out of ids or memory for the table", NULL);
        return;
    }
    struct trace_op op = { size, arg, id, kind };
    emit(&op);
    live_bytes += bytes;
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
}

static void record_new(void *p, char kind, size_t size, size_t arg, size_t bytes)
{
    if (!rec_begin())
        return;
    rec_new(p, kind, size, arg, bytes);
    pthread_mutex_unlock(&lock);
}

static void record_free(void *p)
{
    if (!rec_begin())
        return;
    struct slot *s = tab_find((uintptr_t)p);
    if (s) {
        struct trace_op op = { 0, 0, s->id, TOP_FREE };
        emit(&op);
        live_bytes -= s->size;
        release_id(s->id);
        tab_remove(s);
    }
    pthread_mutex_unlock(&lock);
}

/* ---------------- finishing, fork ---------------- */

static int write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static int ops_unlinked;        /* an exec removed the .ops file's name (recording goes on) */

/* <prog>.<pid>.rep: the header, then the first `end` bytes of the ops file; 0 when written. */
static int write_rep(size_t end)
{
    int out = open(rep_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        say("cannot create ", rep_path);
        return -1;
    }
    char hdr[4 * TRACE_LINE_MAX];
    size_t n = trace_format_header(hdr, peak_bytes, next_id, (size_t)nops, 1);
    int bad = write_all(out, hdr, n);
    char *all = end ? mmap(NULL, end, PROT_READ, MAP_SHARED, ops_fd, 0) : NULL;
    if (all == MAP_FAILED) {
        bad = 1;
    } else if (all) {
        bad |= write_all(out, all, end);
        munmap(all, end);
    }
    if (close(out) != 0 || bad) {
        say(ops_unlinked ? "write failed: " : "write failed, ops kept in ", ops_unlinked ? rep_path : ops_path);
        return -1;
    }
    return 0;
}

static void finish_locked(void)
{
    if (rec_state != 1) {
        rec_state = 2;
        return;
    }
    rec_state = 2;
    size_t end = win_off + win_pos;
    munmap(win, WIN);
    win = NULL;
    if (ftruncate(ops_fd, (off_t)end) != 0) {
        say("cannot truncate ", ops_path);
        return;
    }
    if (write_rep(end) != 0)
        return;
    close(ops_fd);
    ops_fd = -1;
    if (!ops_unlinked)
        unlink(ops_path);
}

/* Finish unless we are a vfork/clone child sharing the recording process's memory. */
static void finish(void)
{
    pthread_mutex_lock(&lock);
    if (rec_state != 1 || getpid() == rec_pid)
        finish_locked();
    pthread_mutex_unlock(&lock);
}

__attribute__((destructor(101)))
static void trace_fini(void)
{
    finish();
}

/* _exit skips destructors; many programs (dash, forked children) end with it. */
EXPORT __attribute__((noreturn)) void _exit(int status)
{
    finish();
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

EXPORT __attribute__((noreturn)) void _Exit(int status)
{
    _exit(status);
}

/* Before an exec: the .rep of what this process recorded, and no .ops file left
 * behind; the mapping and the descriptor stay, so a failed exec records on. */
static void before_exec(void)
{
    int saved = errno;
    pthread_mutex_lock(&lock);
    if (rec_state == 1 && getpid() == rec_pid && write_rep(win_off + win_pos) == 0 && !ops_unlinked) {
        unlink(ops_path);
        ops_unlinked = 1;
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    return real_exec.execve(path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec();
    return real_exec.execvpe(file, argv, envp);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec();
    return real_exec.fexecve(fd, argv, envp);
}

/* execl, execlp, execle: the arguments gathered on the stack (no malloc). */
#define GATHER_ARGS(arg0, last, argv, after)                                  \
    va_list ap_;                                                              \
    size_t n_ = 1;                                                            \
    va_start(ap_, last);                                                      \
    while (va_arg(ap_, char *))                                               \
        n_++;                                                                 \
    va_end(ap_);                                                              \
    char *argv[n_ + 1];                                                       \
    argv[0] = (char *)(arg0);                                                 \
    va_start(ap_, last);                                                      \
    for (size_t i_ = 1; i_ <= n_; i_++)                                       \
        argv[i_] = va_arg(ap_, char *);                                       \
    after;                                                                    \
    va_end(ap_)

EXPORT int execl(const char *path, const char *arg, ...)
{
    GATHER_ARGS(arg, arg, argv, (void)0);
    return execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    GATHER_ARGS(arg, arg, argv, (void)0);
    return execvpe(file, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char **envp;
    GATHER_ARGS(arg, arg, argv, envp = va_arg(ap_, char **));
    return execve(path, argv, envp);
}

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }

static void fork_child(void)
{
    /* The window maps the parent's file: drop it untouched. */
    if (win)
        munmap(win, WIN);
    win = NULL;
    if (ops_fd >= 0)
        close(ops_fd);
    ops_fd = -1;
    if (tab)
        munmap(tab, tab_cap * sizeof *tab);
    tab = NULL;
    tab_cap = tab_count = 0;
    if (free_ids)
        munmap(free_ids, free_ids_cap * sizeof *free_ids);
    free_ids = NULL;
    free_ids_n = free_ids_cap = 0;
    next_id = 0;
    live_bytes = peak_bytes = 0;
    nops = 0;
    ops_unlinked = 0;
    if (rec_state == 1)
        rec_state = 0;     /* start a file of our own at the first allocation */
    pthread_mutex_unlock(&lock);
}

__attribute__((constructor(101)))
static void trace_init(void)
{
    if (atomic_load(&init_state) != 2)
        resolve();
    if (!atfork_done) {
        atfork_done = 1;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
}

/* ---------------- the wrappers ---------------- */

static size_t round_pow2(size_t a)
{
    size_t r = 1;
    while (r < a && r)
        r <<= 1;
    return r ? r : a;
}

EXPORT void *malloc(size_t n)
{
    if (need_boot())
        return boot_alloc(n, 16);
    if (tl_busy)
        return real.malloc(n);
    tl_busy = 1;
    void *p = real.malloc(n);
    if (p)
        record_new(p, TOP_ALLOC, n, 0, n);
    tl_busy = 0;
    return p;
}

EXPORT void free(void *p)
{
    if (!p || is_boot(p))
        return;
    if (need_boot())
        return;
    if (tl_busy) {
        real.free(p);
        return;
    }
    tl_busy = 1;
    record_free(p);
    real.free(p);
    tl_busy = 0;
}

EXPORT void *calloc(size_t c, size_t n)
{
    if (need_boot()) {
        if (n && c > SIZE_MAX / n)
            return NULL;
        return boot_alloc(c * n, 16);   /* static storage: already zero */
    }
    if (tl_busy)
        return real.calloc(c, n);
    tl_busy = 1;
    void *p = real.calloc(c, n);
    if (p)
        record_new(p, TOP_CALLOC, n, c, c * n);
    tl_busy = 0;
    return p;
}

EXPORT void *realloc(void *p, size_t n)
{
    if (p && is_boot(p)) {
        void *q = malloc(n);
        if (q) {
            size_t old = boot_size(p);
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    if (need_boot())
        return boot_alloc(n, 16);   /* p is NULL or a boot block: handled above */
    if (tl_busy)
        return real.realloc(p, n);
    tl_busy = 1;
    void *q;
    if (!p) {
        q = real.realloc(NULL, n);
        if (q)
            record_new(q, TOP_REALLOC, n, 0, n);
        tl_busy = 0;
        return q;
    }
    /* Take p out of the table before the real call (once it returns, p's address
     * may be handed to another thread), without holding the lock across the call:
     * the allocator's own fork handlers could otherwise deadlock against us.  While
     * the call runs its id is neither live in the table nor free for reuse. */
    int found = 0;
    uint32_t id = 0;
    size_t old_size = 0;
    if (rec_begin()) {
        struct slot *s = tab_find((uintptr_t)p);
        if (s) {
            found = 1;
            id = s->id;
            old_size = s->size;
            tab_remove(s);
        }
        pthread_mutex_unlock(&lock);
    }
    q = real.realloc(p, n);
    if (!rec_begin()) {
        tl_busy = 0;
        return q;
    }
    if (!found) {
        if (q)                               /* p never seen: a new block */
            rec_new(q, TOP_REALLOC, n, 0, n);
    } else if (!q && n) {                    /* failed: p is untouched */
        if (tab_insert((uintptr_t)p, old_size, id))
            disable("out of memory for the table", NULL);
    } else if (!q || n == 0) {               /* realloc(p, 0): p was freed */
        struct trace_op op = { 0, 0, id, q ? TOP_FREE : TOP_REALLOC };
        emit(&op);                           /* glibc: "r id 0"; else free + malloc(0) */
        live_bytes -= old_size;
        release_id(id);
        if (q)
            rec_new(q, TOP_ALLOC, 0, 0, 0);
    } else {
        struct slot *stale = tab_find((uintptr_t)q);
        if (stale) {                         /* its free went unseen */
            struct trace_op f = { 0, 0, stale->id, TOP_FREE };
            emit(&f);
            live_bytes -= stale->size;
            release_id(stale->id);
            tab_remove(stale);
        }
        struct trace_op op = { n, 0, id, TOP_REALLOC };
        emit(&op);
        live_bytes = live_bytes - old_size + n;
        if (live_bytes > peak_bytes)
            peak_bytes = live_bytes;
        if (tab_insert((uintptr_t)q, n, id))
            disable("out of memory for the table", NULL);
    }
    pthread_mutex_unlock(&lock);
    tl_busy = 0;
    return q;
}

EXPORT void *reallocarray(void *p, size_t c, size_t n)
{
    if (n && c > SIZE_MAX / n) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, c * n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (need_boot()) {
        void *p = boot_alloc(n, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    if (tl_busy)
        return real.posix_memalign(out, align, n);
    tl_busy = 1;
    int rc = real.posix_memalign(out, align, n);
    if (rc == 0 && *out)
        record_new(*out, TOP_ALIGNED, n, align, n);
    tl_busy = 0;
    return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (need_boot())
        return boot_alloc(n, align);
    if (tl_busy)
        return real.aligned_alloc ? real.aligned_alloc(align, n) : next_memalign(align, n);
    tl_busy = 1;
    void *p = real.aligned_alloc ? real.aligned_alloc(align, n) : next_memalign(align, n);
    if (p)
        record_new(p, TOP_ALIGNED, n, round_pow2(align), n);
    tl_busy = 0;
    return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
    if (need_boot())
        return boot_alloc(n, align);
    if (tl_busy)
        return next_memalign(align, n);
    tl_busy = 1;
    void *p = next_memalign(align, n);
    if (p)
        record_new(p, TOP_ALIGNED, n, round_pow2(align), n);
    tl_busy = 0;
    return p;
}

/* valloc and pvalloc: page-aligned blocks of `size` bytes for a request of n. */
static void *page_aligned(size_t n, size_t size, size_t page, void *(*realfn)(size_t))
{
    if (need_boot())
        return boot_alloc(size, page);
    if (tl_busy)
        return realfn ? realfn(n) : next_memalign(page, size);
    tl_busy = 1;
    void *p = realfn ? realfn(n) : next_memalign(page, size);
    if (p)
        record_new(p, TOP_ALIGNED, size, page, size);
    tl_busy = 0;
    return p;
}

EXPORT void *valloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return page_aligned(n, n, page, real.valloc);
}

EXPORT void *pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return page_aligned(n, n ? (n + page - 1) & ~(page - 1) : page, page, real.pvalloc);
}
