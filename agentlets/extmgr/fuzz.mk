# fuzz.mk -- extmgr's goal-state parser under libFuzzer, included by the top Makefile after tests/fuzz/build.mk.

FUZZ_HARNESSES	+= ext_goal
ext_goal_fuzz_SRC := agentlets/extmgr/goal.c
$(FUZZ_DIR)/obj/tests/fuzz/ext_goal_fuzz.o \
$(FUZZ_DIR)/obj/agentlets/extmgr/goal.o: FUZZ_CFLAGS += -Iagentlets/extmgr
$(eval $(call fuzz_rule,ext_goal))
fuzz-build test: $(FUZZ_DIR)/ext_goal_fuzz
