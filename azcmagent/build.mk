# build.mk -- azcmagent, the operator's command line: its program and unit tests, included by the top Makefile.
# It links lib/ (agent.conf, identity, httpc through arcproxy, atomic files,
# pid files) and adds libarchive for `azcmagent logs`.

AZCMAGENT_SRC := azcmagent/azcmagent.c azcmagent/args.c azcmagent/proxyinfo.c \
	azcmagent/probe.c azcmagent/state.c azcmagent/cmd_config.c \
	azcmagent/cmd_connect.c azcmagent/cmd_show.c azcmagent/cmd_check.c \
	azcmagent/cmd_logs.c azcmagent/cmd_extension.c

# Rules here come before the Makefile's `all:`; keep `all` the default goal.
azcmagent_default_goal := $(.DEFAULT_GOAL)

PROGS += $(BIN)/azcmagent

# arcproxy.conf is read by arcproxy's own loader (config.c, with route.c).
AZCMAGENT_ARCPROXY_SRC := arcproxy/config.c lib/route.c

$(BIN)/azcmagent: $(call obj,$(AZCMAGENT_SRC) $(AZCMAGENT_ARCPROXY_SRC) $(LIB_SRC) $(AGENT_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -larchive

UNIT_TESTS += azcmagent_args azcmagent_proxyinfo azcmagent_state
azcmagent_args_test_OBJS := azcmagent/args.c
azcmagent_proxyinfo_test_OBJS := azcmagent/proxyinfo.c arcproxy/config.c \
	lib/route.c lib/conf.c lib/resolve.c lib/agentconf.c lib/url.c lib/addr.c \
	lib/atomicfile.c lib/safedir.c
azcmagent_state_test_OBJS := azcmagent/state.c lib/atomicfile.c lib/daemon.c \
	lib/safedir.c

# The suites include azcmagent's headers; azcmagent includes arcproxy's
# config.h (the loader it shares), nothing else of arcproxy's.
$(OBJ)/tests/unit/azcmagent_%.o: ALL_CFLAGS += -Iazcmagent
$(OBJ)/azcmagent/%.o: ALL_CFLAGS += -Iarcproxy

.DEFAULT_GOAL := $(azcmagent_default_goal)
