# build.mk -- guestconfig, the machine configuration agentlet: its program, included by the top Makefile.
# It links the evaluation engine (GC_ENGINE_SRC, tests/unit/guestconfig_engine.mk),
# the reader of the machine identity (lib/machine.c), downloads, package checks
# and unpacking (lib/download.c, pkgverify.c, unpack.c: libarchive), HTTPS
# through arcproxy.

GUESTCONFIG_SRC := agentlets/guestconfig/guestconfig.c agentlets/guestconfig/gcsettings.c \
	agentlets/guestconfig/assign.c agentlets/guestconfig/evaluate.c \
	agentlets/guestconfig/gclist.c agentlets/guestconfig/package.c \
	lib/machine.c lib/download.c lib/pkgverify.c lib/pkgstatement.c lib/unpack.c \
	lib/pkginstall.c lib/agentlet.c lib/privdrop.c lib/notifywatch.c

# The engine's sources, when the top Makefile has not read them yet.
ifndef GC_ENGINE_SRC
-include tests/unit/guestconfig_engine.mk
endif

# Rules here come before the Makefile's `all:`; keep `all` the default goal.
guestconfig_default_goal := $(.DEFAULT_GOAL)

# Built once the engine is there.
ifneq ($(wildcard agentlets/guestconfig/engine.c),)
PROGS += $(BIN)/guestconfig
endif

$(BIN)/guestconfig: $(call obj,$(sort $(GUESTCONFIG_SRC) $(GC_ENGINE_SRC) $(LIB_SRC) $(AGENT_SRC)))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -larchive

$(OBJ)/agentlets/guestconfig/%.o: ALL_CFLAGS += -Iagentlets/guestconfig

.DEFAULT_GOAL := $(guestconfig_default_goal)
