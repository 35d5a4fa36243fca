# The arc appliance: one non-recursive Makefile.  Outputs go under build/.
#   make            build every program into build/bin/
#   make test       install what is missing, build, run unit and integration tests
#   make SANITIZE=1 test   the same under AddressSanitizer and UBSan (build/san/)
#   make run        run the appliance in the foreground on conf/
#   make deps       install the Debian packages the build and tests need

CC	?= cc
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD	?= build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD	?= build
SANFLAGS =
endif
BIN	:= $(BUILD)/bin
OBJ	:= $(BUILD)/obj

PKGS	:= libevent_core libevent_extra libevent_pthreads libevent_openssl libconfig \
	openssl jansson libnghttp2 libcurl
DEB_PKGS := build-essential pkg-config libevent-dev libhttp-parser-dev libconfig-dev \
	libssl-dev libjansson-dev libnghttp2-dev libcurl4-openssl-dev libarchive-dev libcunit1-dev curl openssl ca-certificates python3 procps iproute2 passwd \
	squid

WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Werror
CFLAGS	?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -pthread \
	-Ilib -Iarcproxy -Igateway-client $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -pthread
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -Wl,--as-needed

LIB_SRC	:= lib/log.c lib/conf.c lib/resolve.c lib/agentconf.c lib/url.c lib/daemon.c lib/addr.c \
	lib/atomicfile.c lib/bigread.c
# What the agentlets and azcmagent share besides LIB_SRC: state files, the
# machine identity, HTTPS through arcproxy.
AGENT_SRC := lib/identity.c lib/httpc.c
GW_SRC	:= gateway-client/gw.c gateway-client/gw_connect.c gateway-client/gw_tls.c \
	gateway-client/gw_h2.c
ARCPROXY_SRC := arcproxy/arcproxy.c arcproxy/config.c lib/route.c \
	lib/http.c lib/status.c \
	arcproxy/upstream_direct.c arcproxy/pool.c arcproxy/relay.c \
	arcproxy/conn.c arcproxy/listener.c arcproxy/worker.c \
	arcproxy/accesslog.c arcproxy/metrics.c arcproxy/admin.c \
	arcproxy/upstream.c arcproxy/upstream_proxy.c arcproxy/upstream_gateway.c \
	arcproxy/fdlimit.c arcproxy/budget.c $(GW_SRC)

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))

# Unit tests: each links its own module and what that module needs, nothing else.
UNIT_TESTS := route http conf config agentconf gw url atomicfile identity
route_test_OBJS	 := lib/route.c
http_test_OBJS	 := lib/http.c lib/route.c
conf_test_OBJS	 := lib/conf.c
UNIT_TESTS += budget fdlimit
budget_test_OBJS := arcproxy/budget.c
fdlimit_test_OBJS := arcproxy/fdlimit.c lib/log.c
agentconf_test_OBJS := lib/agentconf.c lib/conf.c lib/url.c lib/atomicfile.c
gw_test_OBJS	 := $(GW_SRC) lib/http.c lib/route.c lib/resolve.c lib/log.c
config_test_OBJS := arcproxy/config.c lib/route.c lib/conf.c lib/resolve.c \
	lib/agentconf.c lib/url.c lib/addr.c lib/atomicfile.c
url_test_OBJS	 := lib/url.c
atomicfile_test_OBJS := lib/atomicfile.c
identity_test_OBJS := lib/identity.c

# Each program's folder may add its own rules, programs (PROGS) and unit tests
# (UNIT_TESTS, with <name>_test_OBJS): still one make, no recursion.
PROGS	:= $(BIN)/arcproxy
.DEFAULT_GOAL := all
-include cloudsim/build.mk bench/build.mk agentlets/himds/build.mk azcmagent/build.mk
UNIT_BINS = $(patsubst %,$(BUILD)/tests/%_test,$(UNIT_TESTS))

.PHONY: all deps test unit integration run clean
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

test: deps
	$(MAKE) all $(UNIT_BINS)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh tests/run.sh

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do $$t || exit 1; done

integration: all
	ARC_BIN=$(BIN) python3 tests/integration/run.py

run: deps all
	BIN=$(BIN) bash conf/run.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
