# tools/tools.mk - the tracer, generator and replayer, the trace suite, `make run`.
# Included by the top-level Makefile (uses its $(B), $(CC), TOOL_CFLAGS, LDLIBS and
# library targets).  Targets: tools, suite, run.

TOOLS := $(B)/snug-trace.so $(B)/snug-gen $(B)/snug-replay $(B)/snug-replay-debug
TOOL_HDRS := tools/trace_format.h include/snug.h

# Bundled real-program traces (committed compressed) and generated ones (seeded).
SUITE_DIR     := $(B)/traces
SUITE_REAL    := $(patsubst traces/%.rep.xz,$(SUITE_DIR)/%.rep,$(sort $(wildcard traces/*.rep.xz)))
GEN_PATTERNS  := random binary coalescing realloc short powerlaw server small16 \
                 strings structs bitvec mix3000 realloc-buffer binary-alt tiny
GEN_SEED      := 1
SUITE_GEN     := $(patsubst %,$(SUITE_DIR)/gen/%.rep,$(GEN_PATTERNS))
SUITE_TRACES  := $(SUITE_REAL) $(SUITE_GEN)
RUN_REPS      ?= 10

.PHONY: tools suite run

tools: $(TOOLS)

$(B)/obj/tools/%.o: tools/%.c $(TOOL_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -c $< -o $@

$(B)/snug-trace.so: $(B)/obj/tools/trace.o $(B)/obj/tools/trace_format.o
	$(CC) $(ARCHFLAGS) $(LDFLAGS) -shared -o $@ $^ -ldl $(LDLIBS)

$(B)/snug-gen: $(B)/obj/tools/gen.o $(B)/obj/tools/trace_format.o
	$(CC) $(ARCHFLAGS) $(LDFLAGS) -o $@ $^ -lm $(LDLIBS)

# snug-replay is tools/replay.c and its replay_*.c, sharing tools/replay*.h.
REPLAY_OBJ := $(patsubst tools/%.c,$(B)/obj/tools/%.o,tools/replay.c $(sort $(wildcard tools/replay_*.c)))
$(REPLAY_OBJ): $(wildcard tools/replay*.h)

$(B)/snug-replay: $(REPLAY_OBJ) $(B)/obj/tools/trace_format.o $(B)/libsnug-prefix.a
	$(CC) $(ARCHFLAGS) $(LDFLAGS) -o $@ $^ -ldl $(LDLIBS)

$(B)/snug-replay-debug: $(REPLAY_OBJ) $(B)/obj/tools/trace_format.o $(B)/libsnug-debug.a
	$(CC) $(ARCHFLAGS) $(LDFLAGS) -o $@ $^ -ldl $(LDLIBS)

suite: $(SUITE_TRACES)

$(SUITE_DIR)/%.rep: traces/%.rep.xz
	@mkdir -p $(dir $@)
	xz -dc $< > $@.tmp && mv $@.tmp $@

$(SUITE_DIR)/gen/%.rep: $(B)/snug-gen
	@mkdir -p $(dir $@)
	$(RUN32) $(B)/snug-gen $* --seed $(GEN_SEED) -o $@.tmp && mv $@.tmp $@

run: tools suite
	@RUN_REPS=$(RUN_REPS) sh tools/run-suite.sh $(B) $(SUITE_TRACES)
