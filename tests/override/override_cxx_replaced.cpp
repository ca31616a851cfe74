// override_cxx_replaced.cpp - a program that replaces the unsized operator new and delete
// (its own header before each block, as memory-tracking code does) and not the sized delete:
// the sized and array deletes its compiler emits must reach its own delete, as libstdc++'s
// default ones do, and never snug's free (which would see an interior pointer).
// Built linked with -lsnug and plain (run with LD_PRELOAD=build/libsnug.so).
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

// (what g++ warns about here is the case under test)
#pragma GCC diagnostic ignored "-Wsized-deallocation"

static long news, deletes;
static const size_t HDR = 16;

void *operator new(size_t n)
{
    char *p = static_cast<char *>(std::malloc(n + HDR));
    if (!p) throw std::bad_alloc();
    std::memcpy(p, &n, sizeof n);
    news++;
    return p + HDR;
}
void operator delete(void *p) noexcept
{
    if (!p) return;
    deletes++;
    std::free(static_cast<char *>(p) - HDR);
}

struct Obj { char c[40]; };
struct WithDtor { char c[24]; ~WithDtor() { c[0] = 0; } };

static int failures;
template <class F> static void run(const char *name, F fn)
{
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        _exit(fn() ? 0 : 1);
    }
    int s = 0;
    waitpid(pid, &s, 0);
    if (WIFEXITED(s) && WEXITSTATUS(s) == 0) {
        std::printf("PASS %s\n", name);
    } else {
        failures++;
        std::printf("FAIL %s: %s %d\n", name, WIFSIGNALED(s) ? "killed by signal" : "exit status",
                    WIFSIGNALED(s) ? WTERMSIG(s) : WEXITSTATUS(s));
    }
    std::fflush(stdout);
}

int main()
{
    if (!dlsym(RTLD_DEFAULT, "snug_stats")) {
        std::printf("FAIL snug-present: snug_stats not found: not on snug\nDONE 1 failed\n");
        return 1;
    }
    run("sized-delete-reaches-replaced-delete", [] {
        long n0 = news, d0 = deletes;
        for (int i = 0; i < 1000; i++) {
            delete new Obj;                                     // sized delete
            delete[] new WithDtor[static_cast<size_t>(i % 7 + 1)]; // sized delete[] (cookie)
            delete[] new char[static_cast<size_t>(i + 1)];       // delete[]
            std::vector<std::string> v(static_cast<size_t>(i % 20), std::string(100, 'x'));
        }
        long made = news - n0, gone = deletes - d0;
        std::printf("# %ld news, %ld deletes through the program's own operators\n", made, gone);
        return made > 3000 && made == gone;
    });
    std::printf("DONE %d failed\n", failures);
    return failures ? 1 : 0;
}
