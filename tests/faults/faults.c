/* faults.c - the README's fault contract: a double free, or free/realloc of a pointer snug never
 * returned, ends the program (SIGABRT) with one "snug: ..." line on stderr naming the address,
 * instead of corrupting the heap.  Each case runs in its own child process; linked with -lsnug. */
#include <fcntl.h>
#include <sys/mman.h>

#include "harness.h"

static void *volatile keep;
static int addr_fd = -1;

/* Tells the parent which address the faulting call gets, just before the call. */
static void *report(void *p)
{
    char msg[64];
    int n = snprintf(msg, sizeof msg, "%p", p);
    if (write(addr_fd, msg, (size_t)n) < 0) { /* the parent then sees no address */ }
    close(addr_fd);
    return p;
}

static void double_free_small(void) { char *p = malloc(24); keep = p; free(p); free(report(p)); }
static void double_free_medium(void) { char *p = malloc(5000); keep = malloc(64); free(p); free(report(p)); }
static void double_free_large(void) { char *p = malloc(4 << 20); keep = p; free(p); free(report(p)); }
static void double_free_aligned(void) { char *p = aligned_alloc(4096, 10000); keep = p; free(p); free(report(p)); }
static void free_stack(void) { char buf[64]; keep = buf; free(report((void *)keep)); }
static void free_global(void) { static char g[4096]; keep = g + 16; free(report((void *)keep)); }
static void free_interior_medium(void) { char *p = malloc(5000); keep = p + 48; free(report((void *)keep)); }
static void free_interior_large(void) { char *p = malloc(4 << 20); keep = p + 4096; free(report((void *)keep)); }
static void free_foreign_mapping(void)
{
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    keep = m + 64;
    free(report((void *)keep));
}
static void realloc_after_free(void) { char *p = malloc(5000); keep = malloc(64); free(p); keep = realloc(report(p), 9000); }

static const struct { const char *name; void (*fn)(void); } cases[] = {
    { "double-free-small", double_free_small },
    { "double-free-medium", double_free_medium },
    { "double-free-large", double_free_large },
    { "double-free-aligned", double_free_aligned },
    { "free-stack-address", free_stack },
    { "free-global-address", free_global },
    { "free-interior-medium", free_interior_medium },
    { "free-interior-large", free_interior_large },
    { "free-foreign-mapping", free_foreign_mapping },
    { "realloc-after-free", realloc_after_free },
};

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    snugdl_init();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int pfd[2];
        /* the faulting address travels back through a second pipe, written before the fault */
        int afd[2];
        if (pipe(pfd) != 0 || pipe(afd) != 0) { printf("FAIL %s: pipe\n", cases[i].name); h_failures++; continue; }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            close(afd[0]);
            dup2(pfd[1], 2);
            addr_fd = afd[1];
            alarm(30);
            cases[i].fn();
            _exit(0); /* still alive after the bad call */
        }
        close(pfd[1]);
        close(afd[1]);
        char err[2048], addr[64];
        size_t got = 0;
        ssize_t r, na = read(afd[0], addr, sizeof addr - 1);
        addr[na > 0 ? na : 0] = 0;
        while (got < sizeof err - 1 && (r = read(pfd[0], err + got, sizeof err - 1 - got)) > 0) got += (size_t)r;
        err[got] = 0;
        close(pfd[0]);
        close(afd[0]);
        int st = 0;
        waitpid(pid, &st, 0);
        char *nl = strchr(err, '\n');
        int first_len = nl ? (int)(nl - err) : (int)got;
        int named = na > 0 && memmem(err, (size_t)first_len, addr, strlen(addr)) != NULL;
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strncmp(err, "snug: ", 6) == 0 && named) {
            printf("PASS %s\n", cases[i].name);
            printf("# %s: %.*s\n", cases[i].name, first_len, err);
        } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strncmp(err, "snug: ", 6) == 0) {
            h_failures++;
            printf("FAIL %s: the fault line does not name the address %s: %.*s\n", cases[i].name, addr,
                   first_len, err);
        } else {
            h_failures++;
            if (WIFEXITED(st))
                printf("FAIL %s: the program went on (exit status %d) after the bad free\n", cases[i].name,
                       WEXITSTATUS(st));
            else
                printf("FAIL %s: killed by signal %d (%s), stderr: %.*s\n", cases[i].name, WTERMSIG(st),
                       strsignal(WTERMSIG(st)), first_len, err);
        }
    }
    return harness_done();
}
