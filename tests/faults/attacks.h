/* attacks.h - issue 17's page-header attacks, included by faults.c: a linear overflow out of
 * the last slot of a small page A into the header of the page B right after it, in four byte
 * patterns, aimed at every path that reads a page header.  Each case must end with one line
 * naming the damage (W_DAMAGE) and the page or the block; none may hand out a block twice or a
 * pointer outside snug's memory.
 *
 * Patterns (the case's seed):
 *   ATK_ZERO   the whole 128-byte header zeroed (the bitmap then says every slot is free)
 *   ATK_A      the whole header 0x41
 *   ATK_LINKS  chosen links: the head guard, then next and prev pointing at a fake page in the
 *              program's globals (a copy of B's header, bitmap empty), and nothing further
 *   ATK_BITS   zeros up to the bitmap's end, stopping short of the key next to slot 0
 *   ATK_UNDER  an underflow out of B's slot 0: the 8 bytes before it (the key) zeroed
 * Paths (the case's op): see enum atk_path. */

enum atk_pattern { ATK_ZERO = 1, ATK_A, ATK_LINKS, ATK_BITS, ATK_UNDER };
enum atk_path {
    AP_MALLOC,      /* B is its class's current page: the malloc fast path */
    AP_FREE,        /* a block of B freed by its owner */
    AP_REFILL,      /* B back on its class's list behind the current page, which then fills */
    AP_RELIST,      /* B full and off its list; frees bring it back */
    AP_UNLINK,      /* B emptied by frees while another page is current: released */
    AP_USABLE,      /* malloc_usable_size of a block of B */
    AP_REALLOC,     /* realloc of a block of B */
    AP_TRIM,        /* malloc_trim walks the page lists */
    AP_REMOTE,      /* another thread frees a block of B */
    AP_DRAIN,       /* another thread's free of a block of B queued before the damage, applied by the owner */
    AP_SPARE,       /* B emptied into the spare pages of a threaded heap, then a class needs a page */
    AP_EXIT,        /* B belongs to a thread that exits */
    AP_ADOPT,       /* B belongs to an exited thread's heap, adopted by a new thread */
    AP_FORK,        /* B belongs to another thread when the process forks; the child allocates */
};

#define ATK_SIZE 48
#define ATK_N 600
static char *atk_blk[ATK_N];
static int atk_n;
/* A fake page header in the program's globals, where chosen links point. */
static unsigned char atk_fake[2 * 4096] __attribute__((aligned(4096)));

struct atk_pages {
    char *a_last;       /* A's last slot (allocated) */
    char *b;            /* B's page header */
    size_t bsize;       /* slot size */
};

/* Allocates ATK_SIZE blocks until a page A whose last slot is ours is followed, at A + 4 KiB,
 * by a page B holding `in_b` of our blocks (0: B full, the page after it current). */
static struct atk_pages atk_setup(int in_b)
{
    struct atk_pages r = { 0 };
    char *first = malloc(ATK_SIZE), *second = malloc(ATK_SIZE);
    if (!first || !second) setup_fail("malloc");
    r.bsize = (size_t)(second - first);
    if (r.bsize < ATK_SIZE || r.bsize > 64) setup_fail("two 48-byte blocks %p %p are not neighbours", (void *)first, (void *)second);
    size_t nslots = (4096 - 8 - 128) / r.bsize;
    int full = in_b == 0;
    if (full) in_b = (int)nslots;
    atk_n = 0;
    atk_blk[atk_n++] = first;
    atk_blk[atk_n++] = second;
    while (atk_n < ATK_N) {
        char *p = malloc(ATK_SIZE);
        if (!p) setup_fail("malloc");
        atk_blk[atk_n++] = p;
        uintptr_t pg = ((uintptr_t)p & ~(uintptr_t)4095) - (full ? 4096 : 0);
        /* p in B: count our blocks in B; A = B - 4 KiB must end with one of ours */
        int count = 0, a_ok = 0;
        char *a_last = (char *)(pg - 4096 + 128 + (nslots - 1) * r.bsize);
        for (int i = 0; i < atk_n; i++) {
            if (((uintptr_t)atk_blk[i] & ~(uintptr_t)4095) == pg) count++;
            if (atk_blk[i] == a_last) a_ok = 1;
        }
        if (a_ok && count >= in_b && (!full || ((uintptr_t)p & ~(uintptr_t)4095) != pg)) {
            r.a_last = a_last;
            r.b = (char *)pg;
            return r;
        }
    }
    setup_fail("no page of %d blocks after a full page in %d allocations", in_b, ATK_N);
}

/* Our blocks in B (up to max), lowest first. */
static int atk_in_b(const struct atk_pages *r, char **out, int max)
{
    int k = 0;
    for (int i = 0; i < atk_n && k < max; i++)
        if (((uintptr_t)atk_blk[i] & ~(uintptr_t)4095) == (uintptr_t)r->b) out[k++] = atk_blk[i];
    return k;
}

/* p was freed: a block handed out again may be p. */
static void atk_forget(const char *p)
{
    for (int i = 0; i < atk_n; i++)
        if (atk_blk[i] == p) atk_blk[i] = NULL;
}
static void atk_free(char *p)
{
    free(p);
    atk_forget(p);
}

/* Secure mode holds freed blocks in a quarantine (512 of them): push ours through it, so their
 * frees reach their page as in default mode.  (Harmless in default mode.) */
static void atk_flush_quarantine(void)
{
    static void *q[1200];
    for (int i = 0; i < 1200; i++) q[i] = malloc(2000);   /* (medium: no small page taken) */
    for (int i = 0; i < 1200; i++) free(q[i]);
}

/* The overflow: from A's last slot across the slack and B's block head into B's header. */
static void atk_smash(const struct atk_pages *r)
{
    enum atk_pattern pat = (enum atk_pattern)garbage_seed;
    char *from = r->a_last;
    size_t to_hdr = (size_t)(r->b - from);
    expect(r->b); expect(r->b - 8); expect(from); expect_page(r->b + 128);
    switch (pat) {
    case ATK_ZERO: scribble(from, 0, to_hdr + 128); break;
    case ATK_A: scribble(from, 'A', to_hdr + 128); break;
    case ATK_BITS: scribble(from, 0, to_hdr + 64 + 8 + 32); break;
    case ATK_UNDER: scribble(r->b + 128 - 8, 0, 8); break;
    case ATK_LINKS: {
        memcpy(atk_fake, r->b, 128);                      /* a plausible header (an info leak) */
        memset(atk_fake + 64 + 8, 0, 32);                 /* every slot free */
        void *fake = atk_fake;
        scribble(from, 'A', to_hdr + 8);                  /* the overflow, then its chosen words */
        volatile unsigned char *d = (volatile unsigned char *)r->b + 8;
        for (size_t i = 0; i < 2 * sizeof fake; i++) d[i] = ((unsigned char *)&fake)[i % sizeof fake];
        break;
    }
    }
}

/* A returned block must be snug's and new: not one of ours still live, not in the fake page. */
static void atk_check_block(const char *p)
{
    if (!p) return;
    if (p >= (char *)atk_fake && p < (char *)atk_fake + sizeof atk_fake) {
        say("harmful malloc returned %p, inside the program's globals\n", (const void *)p);
        _exit(4);
    }
    for (int i = 0; i < atk_n; i++)
        if (atk_blk[i] == p) { say("harmful malloc returned %p, a block still live\n", (const void *)p); _exit(4); }
}

static void atk_mallocs(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = malloc(ATK_SIZE);
        atk_check_block(p);
        sink = p;
    }
}

static struct atk_pages atk_pages_for_thread;
static void *atk_thread_alloc(void *arg)
{
    (void)arg;
    atk_pages_for_thread = atk_setup(10);
    return NULL;
}
static void *atk_thread_smash_and_exit(void *arg)
{
    (void)arg;
    atk_pages_for_thread = atk_setup(10);
    atk_smash(&atk_pages_for_thread);
    arm();
    return NULL;                                          /* thread exit reads B */
}
static void *atk_thread_mallocs(void *arg)
{
    (void)arg;
    atk_mallocs(300);
    return NULL;
}
static pthread_mutex_t atk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t atk_cv = PTHREAD_COND_INITIALIZER;
static int atk_ready;
__attribute__((noreturn)) static void *atk_thread_alloc_and_wait(void *arg)
{
    (void)arg;
    atk_pages_for_thread = atk_setup(10);
    pthread_mutex_lock(&atk_mu);
    atk_ready = 1;
    pthread_cond_broadcast(&atk_cv);
    for (;;) pthread_cond_wait(&atk_cv, &atk_mu);         /* alive (its heap live) until exit */
}

static void atk_run(void)
{
    enum atk_path path = (enum atk_path)the_trig;
    pthread_t t;
    switch (path) {
    case AP_MALLOC: {
        struct atk_pages r = atk_setup(10);
        atk_smash(&r);
        arm();
        atk_mallocs(300);
        break;
    }
    case AP_FREE: {
        struct atk_pages r = atk_setup(10);
        char *bb[4];
        if (atk_in_b(&r, bb, 4) < 4) setup_fail("blocks in B");
        atk_smash(&r);
        arm();
        atk_free(bb[3]);
        atk_free(bb[2]);
        atk_mallocs(300);
        break;
    }
    case AP_REFILL: {
        struct atk_pages r = atk_setup(0);             /* A and B full, a third page current */
        char *bb[8];
        if (atk_in_b(&r, bb, 8) < 8) setup_fail("blocks in B");
        for (int i = 0; i < 8; i++) atk_free(bb[i]);      /* a sixteenth: B back on the list, at the tail */
        atk_flush_quarantine();
        atk_smash(&r);
        arm();
        atk_mallocs(400);                                 /* the current page fills: B is taken back */
        break;
    }
    case AP_RELIST: {
        struct atk_pages r = atk_setup(0);
        char *bb[16];
        if (atk_in_b(&r, bb, 16) < 16) setup_fail("blocks in B");
        atk_smash(&r);
        arm();
        for (int i = 0; i < 16; i++) atk_free(bb[i]);
        atk_mallocs(400);
        break;
    }
    case AP_UNLINK: {
        struct atk_pages r = atk_setup(0);
        char *bb[256];
        int k = atk_in_b(&r, bb, 256);
        atk_smash(&r);
        arm();
        for (int i = 0; i < k; i++) atk_free(bb[i]);      /* B empties and leaves its list */
        atk_mallocs(400);
        break;
    }
    case AP_USABLE: {
        struct atk_pages r = atk_setup(10);
        char *bb[1];
        if (atk_in_b(&r, bb, 1) < 1) setup_fail("blocks in B");
        atk_smash(&r);
        arm();
        sink = (void *)(uintptr_t)malloc_usable_size(bb[0]);
        break;
    }
    case AP_REALLOC: {
        struct atk_pages r = atk_setup(10);
        char *bb[1];
        if (atk_in_b(&r, bb, 1) < 1) setup_fail("blocks in B");
        atk_smash(&r);
        arm();
        sink = realloc(bb[0], 40);
        sink = realloc(bb[0], 400);
        break;
    }
    case AP_TRIM: {
        struct atk_pages r = atk_setup(10);
        atk_smash(&r);
        arm();
        malloc_trim(0);
        atk_mallocs(300);
        break;
    }
    case AP_REMOTE: {
        start_helper();
        struct atk_pages r = atk_setup(10);
        char *bb[1];
        if (atk_in_b(&r, bb, 1) < 1) setup_fail("blocks in B");
        atk_smash(&r);
        arm();
        free_in_thread(bb[0]);
        atk_forget(bb[0]);
        atk_mallocs(300);
        break;
    }
    case AP_DRAIN: {
        start_helper();
        struct atk_pages r = atk_setup(10);
        char *bb[2];
        if (atk_in_b(&r, bb, 2) < 2) setup_fail("blocks in B");
        free_in_thread(bb[0]);                            /* queued on the owner's remote list */
        free_in_thread(bb[1]);
        atk_forget(bb[0]);
        atk_forget(bb[1]);
        atk_smash(&r);
        arm();
        atk_mallocs(300);                                 /* the owner applies the queued frees */
        break;
    }
    case AP_SPARE: {
        start_helper();                                   /* a threaded process keeps spare pages */
        for (int i = 0; i < 8; i++) sink = malloc(16 * (size_t)(i + 2));   /* pages of other classes */
        struct atk_pages r = atk_setup(0);
        char *bb[256];
        int k = atk_in_b(&r, bb, 256);
        for (int i = 0; i < k; i++) atk_free(bb[i]);      /* B empties: a spare */
        atk_flush_quarantine();
        atk_smash(&r);
        arm();
        atk_mallocs(400);                                 /* a new page: taken from the spares */
        for (int i = 0; i < 400; i++) sink = malloc(32);
        for (int i = 0; i < 400; i++) sink = malloc(96);
        break;
    }
    case AP_EXIT:
        if (pthread_create(&t, NULL, atk_thread_smash_and_exit, NULL) != 0) setup_fail("pthread_create");
        pthread_join(t, NULL);
        atk_mallocs(300);
        break;
    case AP_ADOPT: {
        /* the thread's heap keeps B (not empty) when it exits; a new thread adopts it */
        if (pthread_create(&t, NULL, atk_thread_alloc, NULL) != 0) setup_fail("pthread_create");
        pthread_join(t, NULL);
        atk_smash(&atk_pages_for_thread);
        arm();
        if (pthread_create(&t, NULL, atk_thread_mallocs, NULL) != 0) setup_fail("pthread_create");
        pthread_join(t, NULL);
        break;
    }
    case AP_FORK: {
        if (pthread_create(&t, NULL, atk_thread_alloc_and_wait, NULL) != 0) setup_fail("pthread_create");
        pthread_mutex_lock(&atk_mu);
        while (!atk_ready) pthread_cond_wait(&atk_cv, &atk_mu);
        pthread_mutex_unlock(&atk_mu);
        atk_smash(&atk_pages_for_thread);
        arm();
        pid_t pid = fork();
        if (pid == 0) {                                   /* the child rebuilds the other thread's pages */
            atk_mallocs(300);
            malloc_trim(0);
            say("survived\n");
            _exit(0);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(st)) {                            /* the child's fate is the case's */
            signal(WTERMSIG(st), SIG_DFL);
            raise(WTERMSIG(st));
        }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 5);
    }
    }
}

#define ATK_CASE(path, pname, pat, tname) \
    { "atk-page-header-" tname "/" pname, atk_run, W_DAMAGE, path, pat, 0 }
#define ATK_PATH(path, pname)                          \
    ATK_CASE(path, pname, ATK_ZERO, "zeros"),         \
    ATK_CASE(path, pname, ATK_A, "0x41"),             \
    ATK_CASE(path, pname, ATK_LINKS, "chosen-links"), \
    ATK_CASE(path, pname, ATK_BITS, "bitmap-zeroed"), \
    ATK_CASE(path, pname, ATK_UNDER, "underflow-key")
#define ATTACK_CASES                         \
    ATK_PATH(AP_MALLOC, "malloc"),           \
    ATK_PATH(AP_FREE, "free"),               \
    ATK_PATH(AP_REFILL, "refill"),           \
    ATK_PATH(AP_RELIST, "relist"),           \
    ATK_PATH(AP_UNLINK, "unlink"),           \
    ATK_PATH(AP_USABLE, "usable-size"),      \
    ATK_PATH(AP_REALLOC, "realloc"),         \
    ATK_PATH(AP_TRIM, "malloc-trim"),        \
    ATK_PATH(AP_REMOTE, "remote-free"),      \
    ATK_PATH(AP_DRAIN, "remote-drain"),      \
    ATK_PATH(AP_SPARE, "spare-page"),        \
    ATK_PATH(AP_EXIT, "thread-exit"),        \
    ATK_PATH(AP_ADOPT, "heap-adoption"),     \
    ATK_PATH(AP_FORK, "fork-child")
