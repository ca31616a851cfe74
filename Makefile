# snug - build, run, test, install.  `make run` and `make test` are the contract.
CC       ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
CXX      ?= g++
PREFIX   ?= /usr/local
B        ?= build
M32      ?=
ARCHFLAGS := $(if $(M32),-m32,)
# V=1 shows every command
Q        := $(if $(V),,@)

# SECURE=1: secure mode on by default (SNUG_OPTIONS=nosecure turns it off)
SECFLAGS := $(if $(SECURE),-DSNUG_SECURE_DEFAULT,)
# CHECKS=0: the default-mode checks compiled out (to measure their cost: make bench)
SECFLAGS += $(if $(filter 0,$(CHECKS)),-DSNUG_CHECKS=0,)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASEFLAGS := -std=c11 -D_GNU_SOURCE -pthread -fPIC -ftls-model=initial-exec \
             -fno-strict-aliasing -Iinclude -Isrc $(ARCHFLAGS) $(SECFLAGS)
OPT      ?= -O2 -g -fno-tree-slp-vectorize
LIB_CFLAGS := $(BASEFLAGS) $(WARN) $(OPT) -fvisibility=hidden -fno-builtin-malloc \
              -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -fno-stack-protector
TOOL_CFLAGS := $(BASEFLAGS) $(WARN) -O2 -g
LDLIBS   := -pthread

LIB_SRC  := $(sort $(wildcard src/*.c))
CORE_SRC := $(filter-out src/override.c,$(LIB_SRC))
HDRS     := $(wildcard src/*.h include/*.h)

# Variants: full (override + prefixed), prefix (only snug_*), debug (prefix, -O1, the
# fault-injection hook of snug_debug.h), asan (prefix, ASan+UBSan), tsan (prefix, ThreadSanitizer).
OBJ_full   := $(patsubst src/%.c,$(B)/obj/full/%.o,$(LIB_SRC))
OBJ_prefix := $(patsubst src/%.c,$(B)/obj/prefix/%.o,$(CORE_SRC))
OBJ_debug  := $(patsubst src/%.c,$(B)/obj/debug/%.o,$(CORE_SRC))
OBJ_asan   := $(patsubst src/%.c,$(B)/obj/asan/%.o,$(CORE_SRC))
OBJ_tsan   := $(patsubst src/%.c,$(B)/obj/tsan/%.o,$(CORE_SRC))

# SNUG_PREFIX_ONLY=1: libsnug.so and libsnug.a carry only the snug_* API.
LIBS := $(B)/libsnug.so $(B)/libsnug.a
ifeq ($(SNUG_PREFIX_ONLY),1)
OBJ_full := $(OBJ_prefix)
endif

.PHONY: all libs run test bench install clean deps
all: libs tools

libs: $(LIBS) $(B)/libsnug-prefix.a $(B)/libsnug-debug.a

$(B)/obj/full/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -c $< -o $@
$(B)/obj/prefix/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -DSNUG_PREFIX_ONLY -c $< -o $@
$(B)/obj/debug/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASEFLAGS) $(WARN) -O1 -g -fvisibility=hidden -DSNUG_PREFIX_ONLY -DSNUG_DEBUG -c $< -o $@
$(B)/obj/asan/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(Q)clang $(BASEFLAGS) $(WARN) -O1 -g -fvisibility=hidden -DSNUG_PREFIX_ONLY -DSNUG_DEBUG \
	  -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -c $< -o $@
$(B)/obj/tsan/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(Q)clang $(BASEFLAGS) $(WARN) -O1 -g -fvisibility=hidden -DSNUG_PREFIX_ONLY \
	  -fsanitize=thread -fno-omit-frame-pointer -c $< -o $@

$(B)/libsnug.so: $(OBJ_full)
	$(CC) $(ARCHFLAGS) -shared -Wl,-soname,libsnug.so -Wl,-z,nodelete -o $@ $^ $(LDLIBS)
$(B)/libsnug.a: $(OBJ_full)
	@rm -f $@; ar rcs $@ $^
$(B)/libsnug-prefix.a: $(OBJ_prefix)
	@rm -f $@; ar rcs $@ $^
$(B)/libsnug-debug.a: $(OBJ_debug)
	@rm -f $@; ar rcs $@ $^
$(B)/libsnug-asan.a: $(OBJ_asan)
	@rm -f $@; ar rcs $@ $^
$(B)/libsnug-tsan.a: $(OBJ_tsan)
	@rm -f $@; ar rcs $@ $^

# tools/tools.mk defines `tools`, `run` and the trace suite; tests/tests.mk defines `test`.
-include tools/tools.mk
-include tests/tests.mk
-include bench/bench.mk

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(B)/libsnug.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libsnug.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/snug-trace.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/snug.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(B)/snug-replay $(B)/snug-gen $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' snug.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/snug.pc

clean:
	rm -rf $(B)
