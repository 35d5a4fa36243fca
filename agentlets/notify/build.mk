# build.mk -- arcnotify, the notification agentlet: its program, included by the top Makefile.
# It shares lib/machine.c (machine.json) and lib/privdrop.c with himds, and
# lib/ws.c (WebSocket on wslay) with cloudsim.

ARCNOTIFY_SRC := agentlets/notify/arcnotify.c agentlets/notify/channel.c \
	agentlets/notify/dial.c agentlets/notify/msg.c agentlets/notify/pump.c \
	agentlets/notify/session.c lib/ws.c lib/connect.c lib/http.c lib/route.c \
	lib/relay.c lib/budget.c lib/fastio.c lib/machine.c lib/privdrop.c lib/agentlet.c

arcnotify_default_goal := $(.DEFAULT_GOAL)

PROGS += $(BIN)/arcnotify

$(BIN)/arcnotify: $(call obj,$(ARCNOTIFY_SRC) $(LIB_SRC) $(AGENT_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS) -lwslay

UNIT_TESTS += notify_msg ws
ws_test_OBJS := lib/ws.c lib/tls.c
notify_msg_test_OBJS := agentlets/notify/msg.c lib/agentconf.c lib/conf.c \
	lib/url.c lib/atomicfile.c lib/safedir.c

$(BUILD)/tests/ws_test: LDLIBS += -lwslay

# lib/log.c: the channel's and the relay's texts reach the log lines.
UNIT_TESTS += log
log_test_OBJS := lib/log.c

$(OBJ)/agentlets/notify/%.o: ALL_CFLAGS += -Iagentlets/notify
$(OBJ)/tests/unit/notify_%.o: ALL_CFLAGS += -Iagentlets/notify

.DEFAULT_GOAL := $(arcnotify_default_goal)
