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

# The version is include/snug.h's SNUG_VERSION_MAJOR/MINOR/PATCH; the soname is libsnug.so.MAJOR.
snug_ver = $(shell sed -n 's/^.define SNUG_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' include/snug.h)
SOMAJOR  := $(call snug_ver,MAJOR)
VERSION  := $(SOMAJOR).$(call snug_ver,MINOR).$(call snug_ver,PATCH)

# SECURE=1: secure mode on by default (SNUG_OPTIONS=nosecure turns it off)
SECFLAGS := $(if $(SECURE),-DSNUG_SECURE_DEFAULT,)
# CHECKS=0: the default-mode checks compiled out (to measure their cost: make bench)
SECFLAGS += $(if $(filter 0,$(CHECKS)),-DSNUG_CHECKS=0,)
# COUNTS=1: the statistics build (src/counts.h) everywhere; build/libsnug-counts.so is that
# build of libsnug.so alone (make counts; bench.py's counts suite preloads it)
SECFLAGS += $(if $(filter-out 0,$(COUNTS)),-DSNUG_COUNTS,)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASEFLAGS := -std=c11 -D_GNU_SOURCE -pthread -fPIC -ftls-model=initial-exec \
             -fno-strict-aliasing -Iinclude -Isrc $(ARCHFLAGS) $(SECFLAGS)
OPT      ?= -O2 -g -fno-tree-slp-vectorize
LIB_CFLAGS := $(BASEFLAGS) $(WARN) $(OPT) -fvisibility=hidden -fno-builtin-malloc \
              -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -fno-stack-protector
# the tools (not the library) take the usual CPPFLAGS and CFLAGS too: a packager's hardening flags
TOOL_CFLAGS := $(BASEFLAGS) $(WARN) -O2 -g $(CPPFLAGS) $(CFLAGS)
LDLIBS   := -pthread

# the library: src/*.c and the collector (src/gc/, objects in a gc/ subfolder of each variant)
LIB_SRC  := $(sort $(wildcard src/*.c src/gc/*.c))
CORE_SRC := $(filter-out src/override.c,$(LIB_SRC))
HDRS     := $(wildcard src/*.h src/gc/*.h include/*.h)

# Variants: full (override + prefixed), prefix (only snug_*), debug (prefix, -O1, the
# fault-injection hook of snug_debug.h), asan (prefix, ASan+UBSan), tsan (prefix, ThreadSanitizer).
OBJ_full   := $(patsubst src/%.c,$(B)/obj/full/%.o,$(LIB_SRC))
OBJ_prefix := $(patsubst src/%.c,$(B)/obj/prefix/%.o,$(CORE_SRC))
OBJ_debug  := $(patsubst src/%.c,$(B)/obj/debug/%.o,$(CORE_SRC))
OBJ_asan   := $(patsubst src/%.c,$(B)/obj/asan/%.o,$(CORE_SRC))
OBJ_tsan   := $(patsubst src/%.c,$(B)/obj/tsan/%.o,$(CORE_SRC))
OBJ_counts := $(patsubst src/%.c,$(B)/obj/counts/%.o,$(LIB_SRC))

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
$(B)/obj/counts/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -DSNUG_COUNTS -c $< -o $@
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

# libsnug.so.VERSION with the soname libsnug.so.MAJOR; libsnug.so.MAJOR and libsnug.so link to it.
$(B)/libsnug.so.$(VERSION): $(OBJ_full)
	$(CC) $(ARCHFLAGS) $(LDFLAGS) -shared -Wl,-soname,libsnug.so.$(SOMAJOR) -Wl,-z,nodelete -o $@ $^ $(LDLIBS)
.PHONY: counts
counts: $(B)/libsnug-counts.so
$(B)/libsnug-counts.so: $(OBJ_counts)
	$(CC) $(ARCHFLAGS) $(LDFLAGS) -shared -Wl,-z,nodelete -o $@ $^ $(LDLIBS)
$(B)/libsnug.so.$(SOMAJOR): $(B)/libsnug.so.$(VERSION)
	ln -sf $(notdir $<) $@
$(B)/libsnug.so: $(B)/libsnug.so.$(SOMAJOR)
	ln -sf libsnug.so.$(VERSION) $@
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

# make install [DESTDIR=...] [PREFIX=/usr/local] [LIBDIR=...] [INCLUDEDIR=...] [BINDIR=...]
# [MANDIR=...]: what the README tells users to use.  LIBDIR defaults to the multiarch
# directory ($(PREFIX)/lib/x86_64-linux-gnu) on a multiarch system, else $(PREFIX)/lib.
MULTIARCH   = $(shell $(CC) $(ARCHFLAGS) -print-multiarch 2>/dev/null)
LIBDIR     ?= $(if $(and $(MULTIARCH),$(wildcard /usr/lib/$(MULTIARCH))),$(PREFIX)/lib/$(MULTIARCH),$(PREFIX)/lib)
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
MANPAGES   := $(sort $(wildcard man/*.[1-9]))
INSTALLED  := $(B)/libsnug.so $(B)/libsnug.a $(B)/libsnug-prefix.a $(B)/snug-trace.so \
              $(B)/snug-replay $(B)/snug-gen
D := $(DESTDIR)
.PHONY: install-files uninstall
# what `make install` installs, built (and nothing else: the Debian package builds this)
install-files: $(INSTALLED)

install: $(INSTALLED)
	install -d $(D)$(LIBDIR)/pkgconfig $(D)$(LIBDIR)/snug $(D)$(INCLUDEDIR) $(D)$(BINDIR)
	install -m 644 $(B)/libsnug.so.$(VERSION) $(B)/libsnug.a $(B)/libsnug-prefix.a $(D)$(LIBDIR)/
	ln -sf libsnug.so.$(VERSION) $(D)$(LIBDIR)/libsnug.so.$(SOMAJOR)
	ln -sf libsnug.so.$(VERSION) $(D)$(LIBDIR)/libsnug.so
	install -m 644 $(B)/snug-trace.so $(D)$(LIBDIR)/snug/
	install -m 644 include/snug.h $(D)$(INCLUDEDIR)/
	install -m 755 $(B)/snug-replay $(B)/snug-gen $(D)$(BINDIR)/
	sed -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' snug.pc.in > $(D)$(LIBDIR)/pkgconfig/snug.pc
	for m in $(MANPAGES); do install -d $(D)$(MANDIR)/man$${m##*.} && \
	    install -m 644 $$m $(D)$(MANDIR)/man$${m##*.}/ || exit 1; done
	@if [ -z "$(D)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

uninstall:
	rm -f $(D)$(LIBDIR)/libsnug.so.$(VERSION) $(D)$(LIBDIR)/libsnug.so.$(SOMAJOR) \
	  $(D)$(LIBDIR)/libsnug.so $(D)$(LIBDIR)/libsnug.a $(D)$(LIBDIR)/libsnug-prefix.a \
	  $(D)$(LIBDIR)/snug/snug-trace.so $(D)$(LIBDIR)/pkgconfig/snug.pc \
	  $(D)$(INCLUDEDIR)/snug.h $(D)$(BINDIR)/snug-replay $(D)$(BINDIR)/snug-gen \
	  $(foreach m,$(MANPAGES),$(D)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rmdir $(D)$(LIBDIR)/snug 2>/dev/null || true
	@if [ -z "$(D)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# the Debian packages of debian/, built from a copy of the tree, linted, installed, used, purged
.PHONY: deb-test
deb-test:
	@tests/deb-test.sh

clean:
	rm -rf $(B)
