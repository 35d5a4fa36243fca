# build.mk -- extmgr, the extension manager agentlet: its program and unit tests, included by the top Makefile.

EXTMGR_SRC := agentlets/extmgr/extmgr.c agentlets/extmgr/settings.c \
	agentlets/extmgr/worker.c agentlets/extmgr/goal.c \
	agentlets/extmgr/policy.c agentlets/extmgr/state.c \
	agentlets/extmgr/cloud.c agentlets/extmgr/certs.c \
	agentlets/extmgr/handler.c agentlets/extmgr/manifest.c \
	lib/download.c lib/pkgverify.c lib/pkgstatement.c lib/unpack.c lib/pkginstall.c \
	lib/prockill.c lib/agentlet.c lib/privdrop.c lib/notifywatch.c lib/machine.c

# Rules here come before the Makefile's `all:`; keep `all` the default goal.
extmgr_default_goal := $(.DEFAULT_GOAL)

PROGS += $(BIN)/extmgr

$(OBJ)/agentlets/extmgr/%.o: ALL_CFLAGS += -Iagentlets/extmgr

$(BIN)/extmgr: $(call obj,$(EXTMGR_SRC) $(LIB_SRC) $(AGENT_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -larchive

UNIT_TESTS += extmgr_policy extmgr_goal extmgr_download
extmgr_download_test_OBJS := lib/download.c lib/safedir.c
extmgr_policy_test_OBJS := agentlets/extmgr/policy.c lib/agentconf.c lib/conf.c lib/url.c \
    lib/atomicfile.c lib/safedir.c
extmgr_goal_test_OBJS := agentlets/extmgr/goal.c

# The suites include extmgr's headers.
$(OBJ)/tests/unit/extmgr_%.o: ALL_CFLAGS += -Iagentlets/extmgr

# `make bench` also measures extmgr: idle memory and CPU, and a 256 MiB
# package against curl -x through the same route (bench/extmgr.py).
.PHONY: bench-extmgr
bench-extmgr: all
	python3 bench/extmgr.py --bin $(BIN) --json $(BUILD)/bench-extmgr.json
bench: bench-extmgr

.DEFAULT_GOAL := $(extmgr_default_goal)
