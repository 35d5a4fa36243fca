# guestconfig_engine.mk -- guestconfig's evaluation engine: its sources (GC_ENGINE_SRC, for the daemon), unit test, fuzz harness and bench.
# Included by the top Makefile before the programs' build.mk, so that
# agentlets/guestconfig/build.mk can link $(GC_ENGINE_SRC) (with LIB_SRC,
# which holds GC_ENGINE_LIB: the engine's lib/ modules).

GC_ENGINE_SRC := agentlets/guestconfig/engine.c agentlets/guestconfig/doc.c lib/prockill.c \
	agentlets/guestconfig/gcpath.c agentlets/guestconfig/res_file.c \
	agentlets/guestconfig/res_system.c agentlets/guestconfig/res_command.c

$(OBJ)/agentlets/guestconfig/%.o: ALL_CFLAGS += -Iagentlets/guestconfig
$(OBJ)/tests/unit/guestconfig_%.o: ALL_CFLAGS += -Iagentlets/guestconfig

UNIT_TESTS += guestconfig_engine
GC_ENGINE_LIB := lib/atomicfile.c lib/safedir.c
guestconfig_engine_test_OBJS := $(GC_ENGINE_SRC) $(GC_ENGINE_LIB)
