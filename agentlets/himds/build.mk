# build.mk -- himds, the identity agentlet: its program and unit tests, included by the top Makefile.

HIMDS_SRC := agentlets/himds/himds.c agentlets/himds/settings.c \
	agentlets/himds/metadata.c agentlets/himds/challenge.c \
	agentlets/himds/cloud.c agentlets/himds/heartbeat.c \
	agentlets/himds/renew.c agentlets/himds/api.c \
	lib/agentlet.c lib/machine.c lib/privdrop.c

# Rules here come before the Makefile's `all:`; keep `all` the default goal.
himds_default_goal := $(.DEFAULT_GOAL)

PROGS += $(BIN)/himds

$(BIN)/himds: $(call obj,$(HIMDS_SRC) $(LIB_SRC) $(AGENT_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

UNIT_TESTS += himds_challenge himds_machine himds_settings
himds_challenge_test_OBJS := agentlets/himds/challenge.c lib/atomicfile.c
himds_machine_test_OBJS := lib/machine.c agentlets/himds/metadata.c \
	lib/identity.c lib/atomicfile.c lib/safedir.c
himds_settings_test_OBJS := agentlets/himds/settings.c lib/conf.c lib/addr.c \
	lib/url.c

# The suites include himds's headers.
$(OBJ)/tests/unit/himds_%.o: ALL_CFLAGS += -Iagentlets/himds

.DEFAULT_GOAL := $(himds_default_goal)
