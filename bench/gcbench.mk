# gcbench.mk -- gcbench (guestconfig's engine against sh + stat + grep) and its part of `make bench`, included by the top Makefile after tests/unit/guestconfig_engine.mk.

PROGS	+= $(BIN)/gcbench

$(OBJ)/bench/gcbench.o: ALL_CFLAGS += -Iagentlets/guestconfig

$(BIN)/gcbench: $(call obj,bench/gcbench.c $(GC_ENGINE_SRC) $(GC_ENGINE_LIB))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# 500 file and file_line resources, audited by the engine and by a shell
# script in alternating rounds; the table in bench/results/gcbench.txt.
.PHONY: bench-gc
bench-gc: $(BIN)/gcbench
	@mkdir -p bench/results
	$(BIN)/gcbench -n 500 -r 3 -o bench/results/gcbench > bench/results/gcbench.txt; \
		rc=$$?; cat bench/results/gcbench.txt; exit $$rc

bench: bench-gc
