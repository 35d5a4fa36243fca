# fuzz.mk -- guestconfig's reader of the cloud's assignment list under libFuzzer, included by the top Makefile after tests/fuzz/build.mk.

FUZZ_HARNESSES	+= gc_assign
gc_assign_fuzz_SRC := agentlets/guestconfig/gclist.c
$(FUZZ_DIR)/obj/tests/fuzz/gc_assign_fuzz.o \
$(FUZZ_DIR)/obj/agentlets/guestconfig/gclist.o: FUZZ_CFLAGS += -Iagentlets/guestconfig
$(eval $(call fuzz_rule,gc_assign))
fuzz-build test: $(FUZZ_DIR)/gc_assign_fuzz
