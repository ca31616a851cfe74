/* rss.c - runs a command and writes its peak RSS (KiB) to a file:  rss FILE CMD [ARG...]
 * The kernel starts a new program's peak RSS at what the process held before its
 * exec, and a child forked by the Python harness holds the harness's 27 MiB until
 * then: every program smaller than that read 26.9 MiB under every allocator (mixed,
 * smallchurn).  Forked from this process instead, a command starts from about 1 MiB.
 * The command keeps stdin, stdout and stderr; this process ends as it did (its exit
 * status, or the same signal). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rss FILE CMD [ARG...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("rss: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("rss: exec");
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("rss: wait4");
            return 2;
        }
    FILE *f = fopen(argv[1], "w");
    if (f) {
        fprintf(f, "%ld\n", ru.ru_maxrss);
        fclose(f);
    }
    if (WIFSIGNALED(status)) {
        signal(WTERMSIG(status), SIG_DFL);
        raise(WTERMSIG(status));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}
