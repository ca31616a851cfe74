# tests/gc/gc.mk - rules for the implicit allocator's tests (included from tests/tests.mk):
# the Criterion suite against libsnug-prefix.a (gcc) and libsnug-asan.a (clang ASan+UBSan), and
# a harness program linked with the full libsnug.so, where malloc itself is snug.
$(T)/gc: tests/gc/gc.c include/snug.h src/gc/gc.h $(B)/libsnug-prefix.a
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Isrc $< $(B)/libsnug-prefix.a -lcriterion -o $@

$(T)/gc-asan: tests/gc/gc.c include/snug.h src/gc/gc.h $(B)/libsnug-asan.a
	@mkdir -p $(dir $@)
	clang $(TEST_CFLAGS) -Isrc $(ASAN_FLAGS) $< $(B)/libsnug-asan.a -lcriterion -o $@

$(T)/gc-linked: tests/gc/gc_linked.c $(TEST_COMMON) $(B)/libsnug.so
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(TEST_SNUG) -ldl -o $@
