# build.mk -- cloudsim, the local stand-in for Azure: its program and unit tests, included by the top Makefile.
# cloudsim links arcproxy's leaf modules route.c (destination patterns) and
# http.c (request heads on http-parser), lib/atomicfile.c (control.json), and
# the toolkit the programs share: lib/tls.c, h2io.c, acceptor.c and addr.c,
# rather than copying them.

CLOUDSIM_SRC := cloudsim/cloudsim.c cloudsim/simconf.c cloudsim/pki.c \
	lib/tls.c lib/h2io.c lib/acceptor.c lib/addr.c cloudsim/gateway.c cloudsim/gateway_h2.c \
	cloudsim/tunnel.c lib/relay.c lib/budget.c lib/fastio.c lib/bigread.c \
	cloudsim/echo.c cloudsim/registry.c cloudsim/jwt.c cloudsim/httpd.c \
	cloudsim/control.c cloudsim/operator.c lib/route.c lib/http.c \
	cloudsim/packages.c cloudsim/pkgsign.c lib/pkgstatement.c cloudsim/extreq.c cloudsim/extstore.c \
	cloudsim/extensions.c cloudsim/goalstate.c
# Guest configuration assignments and reports; `cloudsim gc-pack`.
CLOUDSIM_SRC += cloudsim/guestconfig.c cloudsim/gcpack.c
# Notifications and remote sessions (owner: notify).
CLOUDSIM_SRC += cloudsim/notify.c cloudsim/sessions.c lib/ws.c

# Rules here come before the Makefile's `all:`; keep `all` the default goal.
cloudsim_default_goal := $(.DEFAULT_GOAL)

PROGS += $(BIN)/cloudsim

$(BIN)/cloudsim: LDLIBS += -larchive
$(BIN)/cloudsim: LDLIBS += -lwslay
$(BIN)/cloudsim: $(call obj,$(CLOUDSIM_SRC) lib/log.c lib/conf.c lib/atomicfile.c lib/daemon.c \
	lib/safedir.c)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

UNIT_TESTS += cloudsim_pki cloudsim_simconf cloudsim_registry cloudsim_jwt
cloudsim_pki_test_OBJS := cloudsim/pki.c cloudsim/extreq.c lib/tls.c
cloudsim_simconf_test_OBJS := cloudsim/simconf.c lib/conf.c lib/route.c
cloudsim_registry_test_OBJS := cloudsim/registry.c lib/atomicfile.c
cloudsim_jwt_test_OBJS := cloudsim/jwt.c lib/tls.c
# The assignments (its own goalstate_changed() records the calls).
UNIT_TESTS += cloudsim_guestconfig
cloudsim_guestconfig_test_OBJS := cloudsim/guestconfig.c cloudsim/registry.c \
	cloudsim/httpd.c lib/http.c lib/route.c lib/atomicfile.c lib/log.c lib/tls.c \
	lib/acceptor.c lib/addr.c
UNIT_TESTS += cloudsim_pkgsign cloudsim_extreq
cloudsim_pkgsign_test_OBJS := cloudsim/pkgsign.c cloudsim/pki.c cloudsim/extreq.c \
	lib/tls.c lib/atomicfile.c lib/pkgverify.c lib/pkgstatement.c
cloudsim_extreq_test_OBJS := cloudsim/extreq.c cloudsim/extstore.c lib/atomicfile.c
$(BUILD)/tests/cloudsim_pkgsign_test: LDLIBS += -larchive

# The suites include cloudsim's headers.
$(OBJ)/tests/unit/cloudsim_%.o: ALL_CFLAGS += -Icloudsim

.DEFAULT_GOAL := $(cloudsim_default_goal)
