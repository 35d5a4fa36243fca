# The arc appliance: one non-recursive Makefile.  Outputs go under build/.
#   make            build every program into build/bin/
#   make test       install what is missing, build, run unit and integration tests
#   make SANITIZE=1 test   the same under AddressSanitizer and UBSan (build/san/)
#   make run        run the appliance in the foreground on conf/
#   make deps       install the Debian packages the build, tests, bench, fuzzing and packaging need
#   make install    programs, default configs (/etc/arc, kept if present), systemd units,
#                   sysusers.d and tmpfiles.d (PREFIX, DESTDIR); make uninstall reverses it
#   make deb        build/arc-appliance_<version>_amd64.deb (packaging/deb.sh)

CC	?= cc
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD	?= build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD	?= build
SANFLAGS =
# Debian's hardening (lintian checks it in the package): fortified libc calls.
HARDEN	= -D_FORTIFY_SOURCE=2
endif
BIN	:= $(BUILD)/bin
OBJ	:= $(BUILD)/obj

PKGS	:= libevent_core libevent_extra libevent_pthreads libevent_openssl libconfig \
	openssl jansson libnghttp2 libcurl
# The build's libraries, then every package whose program a test, make bench,
# fuzzing or packaging runs: the packages of tests/tools.txt, written out here
# (test_tools fails when the two lists differ).
DEB_PKGS := build-essential pkg-config libevent-dev libhttp-parser-dev libconfig-dev \
	libssl-dev libjansson-dev libnghttp2-dev libcurl4-openssl-dev libarchive-dev libcunit1-dev \
	ca-certificates procps \
	apt binutils clang-14 coreutils curl dash diffutils dpkg dpkg-dev gcc git gnuplot-nox \
	init-system-helpers iproute2 libfuzzer-14-dev lintian llvm make mawk mount \
	nghttp2-client nghttp2-proxy openssl passwd python3 slowhttptest squid systemd \
	tinyproxy-bin trafficserver util-linux
# Remote sessions (arcnotify, cloudsim's relay, test_remote, bench/remote.py).
DEB_PKGS += libwslay-dev openssh-server openssh-client
# issue 14's firewall tests, demo and bench: nft in the machine's namespace.
DEB_PKGS += nftables

WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Werror
CFLAGS	?= -O2 -g
# Each layer sees its own headers and lib/'s, nothing above it: lib/ is
# compiled with -Ilib alone, so it cannot include a program's header.
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(HARDEN) $(SANFLAGS) -pthread \
	-Ilib $(PKG_CFLAGS)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -pthread
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -Wl,--as-needed -Wl,-z,relro -Wl,-z,now

LIB_SRC	:= lib/log.c lib/conf.c lib/resolve.c lib/agentconf.c lib/url.c lib/daemon.c lib/addr.c \
	lib/atomicfile.c lib/bigread.c lib/safedir.c lib/peercred.c lib/tls.c \
	lib/acceptor.c
# What the agentlets and azcmagent share besides LIB_SRC: state files, the
# machine identity, HTTPS through arcproxy.
AGENT_SRC := lib/identity.c lib/httpc.c
GW_SRC	:= gateway-client/gw.c gateway-client/gw_conn.c gateway-client/gw_h1.c \
	gateway-client/gw_h2.c gateway-client/gw_endpoints.c gateway-client/gw_tls.c \
	lib/connect.c lib/h2io.c
ARCPROXY_SRC := arcproxy/arcproxy.c arcproxy/config.c lib/route.c \
	lib/http.c lib/status.c \
	arcproxy/upstream_direct.c arcproxy/pool.c lib/relay.c lib/budget.c lib/fastio.c \
	arcproxy/conn.c arcproxy/exchange.c arcproxy/listener.c arcproxy/worker.c \
	arcproxy/accesslog.c arcproxy/metrics.c arcproxy/admin.c \
	arcproxy/upstream.c arcproxy/upstream_io.c arcproxy/upstream_proxy.c \
	arcproxy/upstream_gateway.c \
	arcproxy/fdlimit.c $(GW_SRC)

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))

# The layers' include paths (the programs' build.mk add their own).
$(OBJ)/gateway-client/%.o: ALL_CFLAGS += -Igateway-client
$(OBJ)/arcproxy/%.o: ALL_CFLAGS += -Iarcproxy -Igateway-client
$(OBJ)/cloudsim/%.o: ALL_CFLAGS += -Icloudsim
$(OBJ)/agentlets/himds/%.o: ALL_CFLAGS += -Iagentlets/himds
$(OBJ)/azcmagent/%.o: ALL_CFLAGS += -Iazcmagent
$(OBJ)/bench/%.o: ALL_CFLAGS += -Ibench
$(OBJ)/tests/unit/%.o: ALL_CFLAGS += -Iarcproxy -Igateway-client

# Unit tests: each links its own module and what that module needs, nothing else.
UNIT_TESTS := route http conf config agentconf gw url atomicfile identity \
	safedir peercred tls h2io acceptor accesslog connect
route_test_OBJS	 := lib/route.c
http_test_OBJS	 := lib/http.c lib/route.c
conf_test_OBJS	 := lib/conf.c
UNIT_TESTS += budget fdlimit relay pool
budget_test_OBJS := lib/budget.c
relay_test_OBJS := lib/relay.c lib/budget.c lib/fastio.c lib/bigread.c
pool_test_OBJS	 := arcproxy/pool.c arcproxy/upstream_io.c lib/budget.c
fdlimit_test_OBJS := arcproxy/fdlimit.c lib/log.c
agentconf_test_OBJS := lib/agentconf.c lib/conf.c lib/url.c lib/atomicfile.c lib/safedir.c
gw_test_OBJS	 := $(GW_SRC) lib/http.c lib/route.c lib/resolve.c lib/log.c \
	lib/tls.c
config_test_OBJS := arcproxy/config.c lib/route.c lib/conf.c lib/resolve.c \
	lib/agentconf.c lib/url.c lib/addr.c lib/atomicfile.c lib/safedir.c
url_test_OBJS	 := lib/url.c
atomicfile_test_OBJS := lib/atomicfile.c
identity_test_OBJS := lib/identity.c
safedir_test_OBJS := lib/safedir.c
peercred_test_OBJS := lib/peercred.c
tls_test_OBJS	 := lib/tls.c
h2io_test_OBJS	 := lib/h2io.c
acceptor_test_OBJS := lib/acceptor.c lib/addr.c lib/log.c
# Package verification and unpacking (extmgr, guestconfig); unpack needs libarchive.
UNIT_TESTS += pkgverify pkgstatement unpack
pkgverify_test_OBJS := lib/pkgverify.c lib/pkgstatement.c
pkgstatement_test_OBJS := lib/pkgstatement.c
unpack_test_OBJS := lib/unpack.c
$(BUILD)/tests/unpack_test build/fuzz/pkg_unpack_fuzz: LDLIBS += -larchive
accesslog_test_OBJS := arcproxy/accesslog.c lib/safedir.c lib/log.c
connect_test_OBJS := lib/connect.c lib/http.c lib/route.c
# The agentlets' daemon skeleton, run in a child per case; their notify hints.
UNIT_TESTS += agentlet notifywatch
agentlet_test_OBJS := lib/agentlet.c lib/daemon.c lib/safedir.c lib/log.c \
	lib/conf.c lib/agentconf.c lib/url.c lib/atomicfile.c lib/privdrop.c
notifywatch_test_OBJS := lib/notifywatch.c lib/safedir.c

# Each program's folder may add its own rules, programs (PROGS) and unit tests
# (UNIT_TESTS, with <name>_test_OBJS): still one make, no recursion.
PROGS	:= $(BIN)/arcproxy
.DEFAULT_GOAL := all
-include tests/unit/guestconfig_engine.mk bench/gcbench.mk
-include cloudsim/build.mk bench/build.mk agentlets/himds/build.mk azcmagent/build.mk
-include agentlets/extmgr/build.mk
-include agentlets/notify/build.mk
-include tests/fuzz/build.mk
-include tests/unit/extmgr_handler.mk
-include agentlets/extmgr/fuzz.mk
-include agentlets/guestconfig/build.mk
-include agentlets/guestconfig/fuzz.mk
UNIT_BINS = $(patsubst %,$(BUILD)/tests/%_test,$(UNIT_TESTS))

.PHONY: all deps deps-list test unit integration run clean install uninstall deb
all: $(PROGS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BIN)/arcproxy: $(call obj,$(ARCPROXY_SRC) $(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

define unit_rule
$(BUILD)/tests/$(1)_test: $(call obj,tests/unit/$(1)_test.c $($(1)_test_OBJS))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LDLIBS) -lcunit
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_rule,$(t))))

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "make deps: missing Debian packages:$$missing"; \
		echo "make deps: run 'sudo make deps' or: sudo apt-get install$$missing"; exit 1; \
	fi; \
	echo "make deps: installing$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

deps-list:
	@echo $(DEB_PKGS)

test: deps
	$(MAKE) all $(UNIT_BINS)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh tests/run.sh

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do $$t || exit 1; done

integration: all
	ARC_BIN=$(BIN) python3 tests/integration/run.py

run: deps all
	BIN=$(BIN) bash conf/run.sh

# guestconfig's idle private memory (Pss_Anon, at most 4 MiB), as root.
.PHONY: bench-guestconfig
bench-guestconfig: all
	python3 bench/guestconfig.py --bin $(BIN)
# Remote sessions against plain ssh on loopback (bench/remote.py; root).
.PHONY: bench-remote
bench-remote: all
	python3 bench/remote.py --bin $(BIN)

# The appliance in a network namespace behind an egress firewall (issue 14), until
# Ctrl-C: tools/firewall-demo.py (root; FIREWALL_DEMO_ARGS=--proxy: via a Squid).
.PHONY: firewall-demo
firewall-demo: deps all
	python3 tools/firewall-demo.py --bin $(BIN) $(FIREWALL_DEMO_ARGS)

# make bench's gateway route across a veth pair into the firewalled namespace
# (issue 14), next to the same route on loopback: bench/firewall.py (root).
.PHONY: bench-firewall
bench-firewall: deps all
	python3 bench/firewall.py --bin $(BIN)
bench: bench-firewall

# Installation: daemons in sbin, azcmagent in bin, the units as Azure names
# them.  extd and gcad are installed only once extmgr and guestconfig are built.
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
CONFDIR	?= /etc/arc
VERSION	:= $(shell sed -n 's/^\#define ARC_AGENT_VERSION[[:space:]]*"\(.*\)"/\1/p' lib/version.h)
DAEMONS	:= arcproxy:arcproxyd himds:himdsd extmgr:extd guestconfig:gcad
DAEMONS	+= arcnotify:arcnotifyd
INSTALL_CONFS := conf/arcproxy.conf conf/himds.conf
INSTALL_CONFS += conf/extmgr.conf conf/guestconfig.conf
INSTALL_CONFS += conf/notify.conf

install: all
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BIN)/azcmagent $(DESTDIR)$(BINDIR)/azcmagent
	@for d in $(DAEMONS); do prog=$${d%%:*}; unit=$${d#*:}; \
		if [ ! -x $(BIN)/$$prog ]; then echo "install: $$prog is not built: no $$unit.service"; continue; fi; \
		echo "install $$prog $$unit.service"; \
		install -m 0755 $(BIN)/$$prog $(DESTDIR)$(SBINDIR)/$$prog || exit 1; \
		sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/systemd/$$unit.service > $(DESTDIR)$(UNITDIR)/$$unit.service || exit 1; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit.service; \
		if [ -f packaging/systemd/$$unit.path ]; then \
			install -m 0644 packaging/systemd/$$unit.path $(DESTDIR)$(UNITDIR)/$$unit.path || exit 1; fi; \
	done
	install -m 0644 packaging/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/arc-appliance.conf
	install -m 0644 packaging/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/arc-appliance.conf
	@for f in $(INSTALL_CONFS); do t=$(DESTDIR)$(CONFDIR)/$${f##*/}; \
		if [ -e $$t ]; then echo "install: $$t exists: kept"; \
		else install -m 0644 $$f $$t || exit 1; fi; \
	done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/arc-appliance.conf && \
		systemd-tmpfiles --create $(TMPFILESDIR)/arc-appliance.conf; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	fi

# The users, /var/lib/arc, /run/arc (gone at the next boot) and configs that
# differ from the defaults stay.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/azcmagent \
		$(foreach d,$(DAEMONS),$(DESTDIR)$(SBINDIR)/$(firstword $(subst :, ,$(d))) \
		$(DESTDIR)$(UNITDIR)/$(lastword $(subst :, ,$(d))).service \
		$(DESTDIR)$(UNITDIR)/$(lastword $(subst :, ,$(d))).path) \
		$(DESTDIR)$(SYSUSERSDIR)/arc-appliance.conf $(DESTDIR)$(TMPFILESDIR)/arc-appliance.conf
	@for f in $(INSTALL_CONFS); do t=$(DESTDIR)$(CONFDIR)/$${f##*/}; \
		if cmp -s $$f $$t; then rm -f $$t; elif [ -e $$t ]; then echo "uninstall: $$t was changed: kept"; fi; \
	done
	-@rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true

deb: all
	BIN=$(BIN) VERSION=$(VERSION) BUILD=$(BUILD) sh packaging/deb.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
