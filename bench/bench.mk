# bench/bench.mk - `make bench` (issues 3 and 5): snug against glibc, jemalloc, mimalloc
# and tcmalloc on the trace suite, the multi-threaded benchmarks of bench/mt, real
# programs and the malloc/free fast path, and snug's collector against bdwgc (bench/gc);
# writes bench/results/latest.md and the SVG charts.
# Included by the top-level Makefile (uses its $(B), $(CC), $(ARCHFLAGS) and the
# targets libs, tools, suite).  `make bench QUICK=1` is the one-minute version.
# Nothing here asserts speed and CI never runs it.

BENCH_B      := $(B)/bench
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -pthread -Wall -Wextra -Werror $(ARCHFLAGS) \
                -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
BENCH_MT     := larson prodcons local falseshare churn
# GC benchmarks (bench/gc/*.c): each built against snug's collector (libsnug.so, found
# through the rpath $ORIGIN/.. so a copied build/ keeps working) and, when Debian's
# libgc-dev is installed (bench/deps.sh), against bdwgc.
BENCH_GC     := binarytrees listchurn mixed
BDWGC_H      := $(wildcard /usr/include/gc.h)
BENCH_GCBINS := $(patsubst %,$(BENCH_B)/gc-%-snug,$(BENCH_GC)) \
                $(if $(BDWGC_H),$(patsubst %,$(BENCH_B)/gc-%-bdwgc,$(BENCH_GC)),)
# Allocation-shape programs of the programs suite (bench/programs/*.c), run under each allocator.
BENCH_PROGS  := largechurn regrow mixed smallchurn
BENCH_BINS   := $(patsubst %,$(BENCH_B)/mt-%,$(BENCH_MT)) $(BENCH_B)/pairs $(BENCH_GCBINS) \
                $(patsubst %,$(BENCH_B)/prog-%,$(BENCH_PROGS)) $(B)/libsnug-counts.so \
                $(BENCH_B)/events $(BENCH_B)/rss
QUICK        ?=

.PHONY: bench bench-bins bench-deps

# deps.sh may install libgc-dev only now: a second make sees it and builds the bdwgc side.
bench: libs tools suite bench-bins
	@bench/deps.sh
	@$(MAKE) --no-print-directory bench-bins
	@$(MAKE) --no-print-directory B=$(B)/nochecks CHECKS=0 $(B)/nochecks/snug-replay
	@bench/run.sh --no-build $(if $(filter-out 0,$(QUICK)),--quick,)

bench-bins: $(BENCH_BINS)

bench-deps:
	@bench/deps.sh

$(BENCH_B)/mt-%: bench/mt/%.c bench/mt/mt.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@

$(BENCH_B)/prog-%: bench/programs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@ -lm

# what each counted event costs here (bench/README.md's model): not run by bench.py
$(BENCH_B)/events: bench/micro/events.c src/lock.h src/counts.h src/config.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Isrc -Iinclude $< -o $@

# runs a program and reports its peak RSS, from a process small enough not to inflate it
$(BENCH_B)/rss: bench/rss.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@

$(BENCH_B)/pairs: bench/micro/pairs.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@

$(BENCH_B)/gc-%-snug: bench/gc/%.c bench/gc/gcb.h include/snug.h $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Iinclude $< -o $@ -L$(B) -lsnug -Wl,-rpath,'$$ORIGIN/..'

$(BENCH_B)/gc-%-bdwgc: bench/gc/%.c bench/gc/gcb.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -DGCB_BDWGC $< -o $@ -lgc
