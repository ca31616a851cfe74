# tests/tests.mk - `make test` (Debian packages, then tests/run.sh, which builds the libraries,
# the tools and the test programs below and runs every group) and the rules for the test
# programs in $(B)/tests.  Included by the top-level Makefile; uses its $(B), $(CC), $(CXX).

T := $(B)/tests
TEST_CFLAGS   := -std=c11 -D_GNU_SOURCE -O1 -g -fno-builtin -Wall -Wextra -Werror -Iinclude \
                 -Itests/common -pthread $(ARCHFLAGS)
TEST_CXXFLAGS := -std=c++17 -O0 -g -Wall -Wextra -Werror -Iinclude -Itests/common -pthread $(ARCHFLAGS)
# linked with the full library (found at run time through the rpath)
TEST_SNUG     := -L$(B) -Wl,--no-as-needed -lsnug -Wl,-rpath,$(abspath $(B))
TEST_COMMON   := tests/common/harness.h tests/common/lines.h include/snug.h
ASAN_FLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

.PHONY: test test-deps

# A 32-bit run (M32=1) builds into build32/ unless B is given, so the 64-bit build/ stays.
ifeq ($(if $(M32),$(origin B)),file)
test:
	@$(MAKE) --no-print-directory B=build32 M32=$(M32) test
else
test: test-deps
	@B="$(B)" M32="$(M32)" MAKE="$(MAKE)" tests/run.sh
endif

test-deps:
	@M32="$(M32)" tests/deps.sh

# Criterion has no usable i386 package: 32-bit runs build the Criterion suites against a small
# stand-in (tests/common/criterion-shim: same macros, same runner options and output).
ifneq ($(M32),)
CRITERION_SHIM := $(B)/shim/libcriterion.a
TEST_CFLAGS += -Itests/common/criterion-shim -L$(B)/shim
$(CRITERION_SHIM): tests/common/criterion-shim/runner.c tests/common/criterion-shim/criterion/criterion.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -g -Wall -Wextra $(ARCHFLAGS) -Itests/common/criterion-shim -c $< -o $(B)/shim/runner.o
	@rm -f $@; ar rcs $@ $(B)/shim/runner.o
$(T)/contract $(T)/contract-asan $(T)/gc $(T)/gc-asan: $(CRITERION_SHIM)
endif

# 1. contract tests (Criterion) against the prefix-only library
$(T)/contract: tests/contract/contract.c include/snug.h $(B)/libsnug-prefix.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(B)/libsnug-prefix.a -lcriterion -o $@

# 2. the same suite with clang ASan+UBSan against the ASan build of the library
$(T)/contract-asan: tests/contract/contract.c include/snug.h $(B)/libsnug-asan.a
	@mkdir -p $(dir $@)
	clang $(TEST_CFLAGS) $(ASAN_FLAGS) $< $(B)/libsnug-asan.a -lcriterion -o $@

# 3. threads under ThreadSanitizer, against the TSan build of the library (64-bit only)
$(T)/tsan: tests/tsan/tsan.c $(TEST_COMMON) $(B)/libsnug-tsan.a
	@mkdir -p $(dir $@)
	clang $(TEST_CFLAGS) -fsanitize=thread -fno-omit-frame-pointer $< $(B)/libsnug-tsan.a -o $@

# 4. override surface: linked with -lsnug, and plain (for LD_PRELOAD)
$(T)/override-linked: tests/override/override.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@
$(T)/override-plain: tests/override/override.c $(TEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -ldl -o $@
$(T)/override-cxx-linked: tests/override/override_cxx.cpp tests/common/lines.h include/snug.h $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -fsized-deallocation $< $(TEST_SNUG) -ldl -o $@
$(T)/override-cxx-plain: tests/override/override_cxx.cpp tests/common/lines.h include/snug.h
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -fsized-deallocation $< -ldl -o $@
$(T)/override-cxx-replaced-linked: tests/override/override_cxx_replaced.cpp $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -fsized-deallocation $< $(TEST_SNUG) -ldl -o $@
$(T)/override-cxx-replaced-plain: tests/override/override_cxx_replaced.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -fsized-deallocation $< -ldl -o $@

# 5. multi-threaded stress
$(T)/stress-linked: tests/stress/stress.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@
$(T)/stress-plain: tests/stress/stress.c $(TEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -ldl -o $@
# 512 threads at once (issue 21): the prefixed API of libsnug-prefix.a, and plain (for LD_PRELOAD)
$(T)/many-linked: tests/stress/many.c $(TEST_COMMON) $(B)/libsnug-prefix.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -DMANY_LINKED $< $(B)/libsnug-prefix.a -ldl -o $@
$(T)/many-plain: tests/stress/many.c $(TEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -ldl -o $@
# the statistics build's workload (tests/run.sh counts), run under libsnug-counts.so
$(T)/counts-plain: tests/counts/counts.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -pthread $< -o $@

# 6. address-space exhaustion
$(T)/exhaust: tests/exhaust/exhaust.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@

# fault reports (issue 4): death tests, linked with -lsnug and plain (for LD_PRELOAD)
$(T)/faults: tests/faults/faults.c tests/faults/attacks.h $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@
$(T)/faults-plain: tests/faults/faults.c tests/faults/attacks.h $(TEST_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -ldl -o $@
-include tests/gc/gc.mk
-include tests/fuzz/fuzz.mk

# 10. regions: brk shrink, mmap regions when brk is blocked, foreign sbrk
$(T)/regions: tests/regions/regions.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Wno-deprecated-declarations $< $(TEST_SNUG) -ldl -o $@

# 11. secure mode (run with SNUG_OPTIONS=secure)
$(T)/secure: tests/secure/secure.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@

# fault injection: kernel memory fails after N requests (snug_debug_fail_after, libsnug-debug.a)
$(T)/inject: tests/inject/inject.c $(TEST_COMMON) include/snug_debug.h $(B)/libsnug-debug.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(B)/libsnug-debug.a -ldl -o $@

# valgrind: memcheck replaces snug's malloc in a program linked with -lsnug (--soname-synonyms)
$(T)/vg: tests/valgrind/vg.c include/snug.h $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -o $@
$(T)/vg-static: tests/valgrind/vg.c include/snug.h $(B)/libsnug.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(B)/libsnug.a -o $@

# soak: a server-like multi-threaded run on the full library; `make soak` runs SOAK_SECONDS (300),
# make test a 10-second version (group soak)
SOAK_SECONDS ?= 300
.PHONY: soak
$(T)/soak: tests/soak/soak.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@
soak: $(T)/soak
	SOAK_SECONDS=$(SOAK_SECONDS) $(T)/soak

# 12. fork while other threads are in the lock-free paths
$(T)/forkrace: tests/forkrace/forkrace.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@

# 13. options and statistics: a program run under LD_PRELOAD (help, verbose, stats at exit), and
# the statistics ABI (a caller built against the first struct snug_stats, linked with -lsnug)
$(T)/options-prog: tests/options/options.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< -o $@
$(T)/stats-abi: tests/options/stats_abi.c tests/options/stats_abi_old.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) tests/options/stats_abi.c tests/options/stats_abi_old.c $(TEST_SNUG) -ldl -o $@
