// override_cxx.cpp - C++ new/delete (plain, array, sized, aligned, nothrow) reach snug, proven
// by snug_stats moving; sized delete checks its size (death tests check the exact line);
// bad_alloc on impossible sizes; STL churn leaves a consistent heap.
// Built with g++ twice: linked with -lsnug, and plain (run with LD_PRELOAD=build/libsnug.so).
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "snug.h"
#include "lines.h"

static int (*st)(struct snug_stats *);
static int (*hc)(void);
static size_t (*us)(const void *);
static int failures;
static void *volatile sink;

static struct snug_stats now()
{
    struct snug_stats s;
    std::memset(&s, 0, sizeof s);
    if (st(&s) != 0) { std::printf("# snug_stats failed\n"); std::exit(1); }
    return s;
}

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::printf("# %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            std::printf(__VA_ARGS__);                                      \
            std::printf("\n");                                             \
            std::fflush(stdout);                                           \
            _exit(1);                                                      \
        }                                                                  \
    } while (0)

template <class F> static void run(const char *name, F fn)
{
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        fn();
        std::fflush(stdout);
        _exit(0);
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

// A death test: fn writes the exact stderr line it expects to `line_fd` ('#': any number; the
// sizes that depend on snug's policies), then makes the call that must stop the program.
static int line_fd = -1;
static void want_line(const char *fmt, const void *p)
{
    char buf[256];
    int n = std::snprintf(buf, sizeof buf, fmt, (unsigned long)reinterpret_cast<uintptr_t>(p));
    if (n > 0 && write(line_fd, buf, (size_t)n) < 0) { /* the parent then sees no line */ }
}
template <class F> static void run_death(const char *name, F fn)
{
    int err[2], lin[2];
    if (pipe(err) != 0 || pipe(lin) != 0) { std::printf("FAIL %s: pipe\n", name); failures++; return; }
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        dup2(err[1], 2);
        close(lin[0]);
        line_fd = lin[1];
        fn();
        _exit(0);
    }
    close(err[1]);
    close(lin[1]);
    char out[1024] = "", want[256] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof out - 1 && (r = read(err[0], out + got, sizeof out - 1 - got)) > 0) got += (size_t)r;
    got = 0;
    while (got < sizeof want - 1 && (r = read(lin[0], want + got, sizeof want - 1 - got)) > 0) got += (size_t)r;
    close(err[0]);
    close(lin[0]);
    int s = 0;
    waitpid(pid, &s, 0);
    bool ok = WIFSIGNALED(s) && WTERMSIG(s) == SIGABRT && want[0] && line_matches(out, want);
    if (ok) {
        std::printf("PASS %s\n# %s: %s", name, name, out);
    } else {
        failures++;
        std::printf("FAIL %s: want SIGABRT and exactly \"%s\"; got %s %d, stderr: %s\n", name, want,
                    WIFSIGNALED(s) ? "signal" : "exit status", WIFSIGNALED(s) ? WTERMSIG(s) : WEXITSTATUS(s), out);
    }
    std::fflush(stdout);
}

struct Base { int a; };
struct Derived : Base { char big[300]; };
struct WithDtor { char c[40]; ~WithDtor() { sink = c; } };

struct alignas(4096) PageAligned { char c[100]; };
struct alignas(64) Line { char c[64]; };

int main()
{
    st = reinterpret_cast<int (*)(struct snug_stats *)>(dlsym(RTLD_DEFAULT, "snug_stats"));
    hc = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "snug_heap_check"));
    us = reinterpret_cast<size_t (*)(const void *)>(dlsym(RTLD_DEFAULT, "snug_usable_size"));
    if (!st || !hc || !us) {
        std::printf("FAIL snug-present: snug_stats not found: operator new is not on snug\n");
        std::printf("DONE 1 failed\n");
        return 1;
    }

    run("new-array-reaches-snug", [] {
        const size_t n = 8u << 20;
        struct snug_stats a = now();
        char *p = new char[n];
        sink = p;
        std::memset(p, 1, n);
        struct snug_stats b = now();
        CHECK(b.live_bytes >= a.live_bytes + n, "new char[8 MiB]: snug live_bytes %zu -> %zu", a.live_bytes,
              b.live_bytes);
        CHECK(b.live_blocks == a.live_blocks + 1, "live_blocks %zu -> %zu", a.live_blocks, b.live_blocks);
        CHECK(us(p) >= n, "snug_usable_size of new[]'d block: %zu", us(p));
        delete[] p;
        struct snug_stats c = now();
        CHECK(c.live_bytes == a.live_bytes, "delete[]: live_bytes %zu, before new %zu", c.live_bytes, a.live_bytes);
    });
    run("new-delete-object-and-sized", [] {
        struct snug_stats a = now();
        auto *v = new std::vector<int>(1 << 20, 7);
        struct snug_stats b = now();
        CHECK(b.live_blocks == a.live_blocks + 2, "new vector: live_blocks %zu -> %zu", a.live_blocks, b.live_blocks);
        CHECK(b.live_bytes >= a.live_bytes + (4u << 20), "vector of 1M ints: live_bytes %zu -> %zu", a.live_bytes,
              b.live_bytes);
        delete v;
        void *raw = ::operator new(5000);
        CHECK(now().live_blocks == a.live_blocks + 1, "operator new");
        ::operator delete(raw, 5000); // sized delete
        CHECK(now().live_blocks == a.live_blocks, "sized operator delete did not free");
        int *q = new (std::nothrow) int[1000];
        CHECK(q != nullptr, "nothrow new");
        CHECK(now().live_blocks == a.live_blocks + 1, "nothrow new not on snug");
        delete[] q;
        CHECK(now().live_blocks == a.live_blocks, "delete[] of nothrow new");
        CHECK(hc() == 0, "snug_heap_check");
    });
    run("aligned-new", [] {
        struct snug_stats a = now();
        std::vector<PageAligned *> v;
        for (int i = 0; i < 50; i++) {
            auto *p = new PageAligned;
            CHECK(reinterpret_cast<uintptr_t>(p) % 4096 == 0, "aligned new returned %p", (void *)p);
            std::memset(p, i, sizeof *p);
            v.push_back(p);
        }
        Line *l = new Line[33];
        CHECK(reinterpret_cast<uintptr_t>(l) % 64 == 0, "aligned new[] returned %p", (void *)l);
        struct snug_stats b = now();
        CHECK(b.live_blocks >= a.live_blocks + 51, "aligned new not on snug: live_blocks %zu -> %zu", a.live_blocks,
              b.live_blocks);
        for (auto *p : v) delete p;
        delete[] l;
        v.clear();
        v.shrink_to_fit();
        CHECK(now().live_blocks == a.live_blocks, "aligned delete did not free all");
        CHECK(hc() == 0, "snug_heap_check");
    });
    // Sized delete checks the size (g++ passes it for every delete of a complete type, C++14 on).
    run("sized-delete-right-sizes", [] {
        struct snug_stats a = now();
        for (size_t n = 0; n <= 3000; n++) {
            void *p = ::operator new(n);
            ::operator delete(p, n);
            p = ::operator new[](n);
            ::operator delete[](p, n);
            p = ::operator new(n, std::align_val_t(64));
            ::operator delete(p, n, std::align_val_t(64));
            p = ::operator new[](n, std::align_val_t(4096));
            ::operator delete[](p, n, std::align_val_t(4096));
        }
        for (size_t n = 300000; n <= 2000000; n += 99999) {
            void *p = ::operator new(n);
            ::operator delete(p, n);
        }
        for (int i = 0; i < 1000; i++) {       // compiler-generated sized deletes, array cookies
            delete new Derived;
            delete[] new WithDtor[static_cast<size_t>(i % 50 + 1)];
            delete new Line;
            delete[] new Line[static_cast<size_t>(i % 9 + 1)];
            std::vector<std::string> v(static_cast<size_t>(i % 40), std::string(static_cast<size_t>(i), 'x'));
        }
        CHECK(now().live_blocks == a.live_blocks, "sized deletes did not free all");
        CHECK(hc() == 0, "snug_heap_check");
    });
    run_death("sized-delete-wrong-size", [] {
        void *p = ::operator new(24);
        want_line("snug: operator delete(): wrong size 200 for block 0x%lx (32 bytes; allocated with 16..32)", p);
        ::operator delete(p, 200);
    });
    run_death("sized-delete-base-without-virtual-destructor", [] {
        Base *b = new Derived;              // 304 bytes, deleted as a 4-byte Base
        want_line("snug: operator delete(): wrong size 4 for block 0x%lx (# bytes; allocated with #..#)", b);
        delete b;
    });
    run_death("sized-delete-array-wrong-size", [] {
        void *p = ::operator new[](5000);
        want_line("snug: operator delete(): wrong size 100 for block 0x%lx (5000 bytes; allocated with #..5000)", p);
        ::operator delete[](p, 100);
    });
    run_death("sized-delete-aligned-wrong-size", [] {
        Line *l = new Line;
        want_line("snug: operator delete(): wrong size 5000 for block 0x%lx (# bytes; allocated with 0..#)", l);
        ::operator delete(l, 5000, std::align_val_t(64));
    });
    run_death("sized-delete-after-delete", [] {
        void *p = ::operator new(48);
        sink = ::operator new(48);
        want_line("snug: double free of 0x%lx (48 bytes)", p);
        void *volatile again = p;       // (the same pointer, out of the compiler's sight)
        ::operator delete(p, 48);
        ::operator delete(again, 48);
    });
    run("bad-alloc-on-huge", [] {
        bool thrown = false;
        try {
            volatile size_t n = SIZE_MAX / 2 + 1;      /* more than any address space holds */
            char *p = new char[n];
            sink = p;
        } catch (const std::bad_alloc &) {
            thrown = true;
        }
        CHECK(thrown, "new char[SIZE_MAX/2 + 1] did not throw bad_alloc");
        volatile size_t n = SIZE_MAX / 2 + 1;
        CHECK(new (std::nothrow) char[n] == nullptr, "nothrow new of a huge size did not return nullptr");
        CHECK(hc() == 0, "snug_heap_check");
    });
    run("stl-and-exceptions", [] {
        struct snug_stats a = now();
        {
            std::map<std::string, std::vector<int>> m;
            std::unordered_map<int, std::string> u;
            for (int i = 0; i < 50000; i++) {
                m["key" + std::to_string(i % 5000)].push_back(i);
                u[i] = std::string(static_cast<size_t>(i % 300), 'x');
                if (i % 3 == 0) u.erase(i / 2);
            }
            int caught = 0;
            for (int i = 0; i < 2000; i++) {
                try {
                    throw std::runtime_error(std::string(static_cast<size_t>(i % 500), 'e'));
                } catch (const std::runtime_error &e) {
                    caught += e.what()[0] == 'e' || i % 500 == 0;
                }
            }
            CHECK(caught == 2000, "exceptions caught %d", caught);
            auto sp = std::make_shared<std::vector<std::string>>(1000, "shared");
            CHECK(m.size() == 5000 && sp->size() == 1000, "containers");
            CHECK(now().live_blocks > a.live_blocks + 5000, "STL allocations not on snug");
            CHECK(hc() == 0, "snug_heap_check with live STL containers");
        }
        CHECK(now().live_blocks == a.live_blocks, "STL containers leaked %zu blocks",
              now().live_blocks - a.live_blocks);
        CHECK(hc() == 0, "snug_heap_check");
    });
    std::printf("DONE %d failed\n", failures);
    return failures ? 1 : 0;
}
