# build.mk -- azcmagent, the operator's command line: its program and unit tests, included by the top Makefile.
# It links lib/ (agent.conf, identity, httpc through arcproxy, atomic files,
# pid files) and adds libarchive for `azcmagent logs`.

AZCMAGENT_SRC := azcmagent/azcmagent.c azcmagent/args.c azcmagent/proxyconf.c \
	azcmagent/probe.c azcmagent/state.c azcmagent/cmd_config.c \
	azcmagent/cmd_connect.c azcmagent/cmd_show.c azcmagent/cmd_check.c \
	azcmagent/cmd_logs.c

# Rules here come before the Makefile's `all:`; keep `all` the default goal.
azcmagent_default_goal := $(.DEFAULT_GOAL)

PROGS += $(BIN)/azcmagent

$(BIN)/azcmagent: $(call obj,$(AZCMAGENT_SRC) $(LIB_SRC) $(AGENT_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -larchive

UNIT_TESTS += azcmagent_args azcmagent_proxyconf azcmagent_state
azcmagent_args_test_OBJS := azcmagent/args.c
azcmagent_proxyconf_test_OBJS := azcmagent/proxyconf.c lib/conf.c
azcmagent_state_test_OBJS := azcmagent/state.c lib/atomicfile.c lib/daemon.c \
	lib/safedir.c

# The suites include azcmagent's headers.
$(OBJ)/tests/unit/azcmagent_%.o: ALL_CFLAGS += -Iazcmagent

.DEFAULT_GOAL := $(azcmagent_default_goal)
