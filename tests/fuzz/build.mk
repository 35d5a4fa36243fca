# tests/fuzz/build.mk -- libFuzzer harnesses (clang, ASan, UBSan) into build/fuzz/; `make fuzz` runs each for FUZZ_SECONDS.
#   make fuzz                       every harness, FUZZ_SECONDS (60) each
#   make fuzz FUZZ=http_request     one harness
#   make fuzz-build                 build them only
# `make test` runs them for 20 s each through tests/run.sh (README.md here).

FUZZ_CC		?= clang-14
FUZZ_DIR	:= build/fuzz
FUZZ_SECONDS	?= 60
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS	= -std=gnu11 -D_GNU_SOURCE $(WARN) -O1 -g $(FUZZ_SAN) \
	-fsanitize=fuzzer-no-link -pthread -Ilib -Iarcproxy -Igateway-client \
	-Itests/fuzz $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

# Each harness is tests/fuzz/<name>_fuzz.c plus the modules it drives; its
# seeds are tests/fuzz/corpus/<name>/.
FUZZ_HARNESSES	:= http_request http_response http_chunked arcproxy_conf agent_conf \
	gw_endpoints himds_api gw_h2
FUZZ_HTTP_SRC	:= tests/fuzz/fuzz_http.c tests/fuzz/fuzz_proxy.c lib/http.c lib/route.c
http_request_fuzz_SRC	:= $(FUZZ_HTTP_SRC)
http_response_fuzz_SRC	:= $(FUZZ_HTTP_SRC)
http_chunked_fuzz_SRC	:= $(FUZZ_HTTP_SRC)
arcproxy_conf_fuzz_SRC	:= tests/fuzz/fuzz_file.c arcproxy/config.c lib/route.c \
	lib/conf.c lib/resolve.c lib/agentconf.c lib/url.c lib/addr.c lib/atomicfile.c \
	lib/safedir.c
agent_conf_fuzz_SRC	:= tests/fuzz/fuzz_file.c lib/agentconf.c lib/conf.c lib/url.c \
	lib/atomicfile.c lib/safedir.c
gw_endpoints_fuzz_SRC	:= gateway-client/gw_endpoints.c lib/route.c lib/http.c
# guestconfig's configuration document (GC_ENGINE_SRC: tests/unit/guestconfig_engine.mk).
FUZZ_HARNESSES	+= gc_doc
gc_doc_fuzz_SRC	:= $(GC_ENGINE_SRC) $(GC_ENGINE_LIB)
$(FUZZ_DIR)/obj/tests/fuzz/gc_doc_fuzz.o: FUZZ_CFLAGS += -Iagentlets/guestconfig
$(FUZZ_DIR)/obj/agentlets/guestconfig/%.o: FUZZ_CFLAGS += -Iagentlets/guestconfig
# himds's API with its own modules, as $(BIN)/himds has them, less himds.c
# (main) and renew.c (certificate renewal: it needs himds.c).
himds_api_fuzz_SRC	:= tests/fuzz/fuzz_file.c $(filter-out agentlets/himds/himds.c agentlets/himds/renew.c,\
	$(HIMDS_SRC)) $(LIB_SRC) $(AGENT_SRC)
gw_h2_fuzz_SRC		:= $(GW_SRC) lib/tls.c lib/http.c lib/route.c lib/resolve.c lib/log.c
$(FUZZ_DIR)/obj/tests/fuzz/himds_api_fuzz.o: FUZZ_CFLAGS += -Iagentlets/himds
$(FUZZ_DIR)/obj/agentlets/himds/%.o: FUZZ_CFLAGS += -Iagentlets/himds
FUZZ_HARNESSES	+= pkg_unpack pkg_verify
pkg_unpack_fuzz_SRC	:= lib/unpack.c
pkg_verify_fuzz_SRC	:= lib/pkgverify.c lib/pkgstatement.c
FUZZ_HARNESSES	+= ext_req
ext_req_fuzz_SRC	:= cloudsim/extreq.c
$(FUZZ_DIR)/obj/tests/fuzz/ext_req_fuzz.o: FUZZ_CFLAGS += -Icloudsim
# arcnotify's parser of the cloud's messages (owner: notify).
FUZZ_HARNESSES	+= notify_msg
notify_msg_fuzz_SRC	:= agentlets/notify/msg.c lib/agentconf.c lib/conf.c lib/url.c \
	lib/atomicfile.c lib/safedir.c
$(FUZZ_DIR)/obj/tests/fuzz/notify_msg_fuzz.o: FUZZ_CFLAGS += -Iagentlets/notify
# The WebSocket's frames from the peer (lib/ws.c on wslay: arcnotify's
# channel, cloudsim's notify service).
FUZZ_HARNESSES	+= ws_frame
ws_frame_fuzz_SRC	:= lib/ws.c lib/tls.c
$(FUZZ_DIR)/ws_frame_fuzz: LDLIBS += -lwslay

FUZZ		?= $(FUZZ_HARNESSES)
FUZZ_BINS	:= $(patsubst %,$(FUZZ_DIR)/%_fuzz,$(FUZZ_HARNESSES))
fuzz_obj	= $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(1))

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

define fuzz_rule
$(FUZZ_DIR)/$(1)_fuzz: $(call fuzz_obj,tests/fuzz/$(1)_fuzz.c $($(1)_fuzz_SRC))
	$$(FUZZ_CC) $$(FUZZ_SAN) -fsanitize=fuzzer -Wl,--as-needed -o $$@ $$^ $$(LDLIBS)
endef
$(foreach h,$(FUZZ_HARNESSES),$(eval $(call fuzz_rule,$(h))))

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_DIR=$(FUZZ_DIR) sh tests/fuzz/run.sh $(FUZZ)

# tests/run.sh runs them.
test: $(FUZZ_BINS)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
