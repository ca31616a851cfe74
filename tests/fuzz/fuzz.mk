# tests/fuzz/fuzz.mk - the libFuzzer harness (tests/fuzz/fuzz.c) and `make fuzz`.  Included by
# tests/tests.mk.  The harness links a fuzz variant of the library built here: the core sources
# (no override) compiled by clang with -DSNUG_PREFIX_ONLY -DSNUG_DEBUG (snug_* names only, the
# snug_debug_fail_after hook), ASan + UBSan (every memory access of the library checked, any UB
# fatal) and -fsanitize=fuzzer-no-link (libFuzzer sees the library's own branches, not only the
# harness').  `make fuzz` runs it for FUZZ_SECONDS with the corpus kept in $(B)/fuzz/corpus and
# crash reproducers written to $(B)/fuzz/; `build/tests/fuzz-snug CRASHFILE` replays one.
FUZZ_SECONDS ?= 60
FUZZ_DIR     := $(B)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OBJ_fuzz     := $(patsubst src/%.c,$(B)/obj/fuzz/%.o,$(CORE_SRC))

.PHONY: fuzz

$(B)/obj/fuzz/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(Q)clang $(BASEFLAGS) $(WARN) -O1 -g -fvisibility=hidden -DSNUG_PREFIX_ONLY -DSNUG_DEBUG \
	  $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@
$(B)/libsnug-fuzz.a: $(OBJ_fuzz)
	@rm -f $@; ar rcs $@ $^

$(T)/fuzz-snug: tests/fuzz/fuzz.c include/snug.h include/snug_debug.h $(B)/libsnug-fuzz.a
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Iinclude -pthread $(ARCHFLAGS) $(FUZZ_SAN) \
	  -fsanitize=fuzzer $< $(B)/libsnug-fuzz.a -o $@

# -detect_leaks=0: snug keeps its metadata mapped for the life of the process by design.
fuzz: $(T)/fuzz-snug
	@mkdir -p $(FUZZ_DIR)/corpus
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(T)/fuzz-snug -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=30 -rss_limit_mb=3072 \
	  -artifact_prefix=$(FUZZ_DIR)/ -print_final_stats=1 $(FUZZ_DIR)/corpus tests/fuzz/seeds
