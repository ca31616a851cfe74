# bench/bench.mk - `make bench` (issue 3): snug against glibc, jemalloc, mimalloc and
# tcmalloc on the trace suite, the multi-threaded benchmarks of bench/mt, real programs
# and the malloc/free fast path; writes bench/results/latest.md and the SVG charts.
# Included by the top-level Makefile (uses its $(B), $(CC), $(ARCHFLAGS) and the
# targets libs, tools, suite).  `make bench QUICK=1` is the two-minute version.
# Nothing here asserts speed and CI never runs it.

BENCH_B      := $(B)/bench
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -pthread -Wall -Wextra -Werror $(ARCHFLAGS) \
                -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
BENCH_MT     := larson prodcons local falseshare churn
BENCH_BINS   := $(patsubst %,$(BENCH_B)/mt-%,$(BENCH_MT)) $(BENCH_B)/pairs
QUICK        ?=

.PHONY: bench bench-bins bench-deps

bench: libs tools suite bench-bins
	@bench/deps.sh
	@bench/run.sh --no-build $(if $(filter-out 0,$(QUICK)),--quick,)

bench-bins: $(BENCH_BINS)

bench-deps:
	@bench/deps.sh

$(BENCH_B)/mt-%: bench/mt/%.c bench/mt/mt.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@

$(BENCH_B)/pairs: bench/micro/pairs.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@
