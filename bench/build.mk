# bench/build.mk -- arcbench (the load generator) and benchorigin (its origin), and `make bench`.
# Both link the project's own objects where they share code: lib/log.c, and
# lib/http.c (with route.c, which it uses) for HTTP framing on http-parser.

BENCH_SHARED	:= bench/pattern.c lib/bigread.c lib/http.c lib/route.c lib/log.c
ARCBENCH_SRC	:= bench/arcbench.c bench/bconn.c bench/report.c bench/hist.c \
	bench/procstat.c lib/tls.c $(BENCH_SHARED)
BENCHORIGIN_SRC	:= bench/benchorigin.c lib/tls.c $(BENCH_SHARED)

PROGS	+= $(BIN)/arcbench $(BIN)/benchorigin $(BIN)/splicerelay $(BIN)/tlsfloor

$(BIN)/arcbench: $(call obj,$(ARCBENCH_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/benchorigin: $(call obj,$(BENCHORIGIN_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The floor for tunnels: a bare splice(2) relay, no project code.
$(BIN)/splicerelay: $(call obj,bench/splicerelay.c)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

# The floor for the gateway route: TLS in, plain bytes out, OpenSSL and nothing else.
$(BIN)/tlsfloor: $(call obj,bench/tlsfloor.c)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lssl -lcrypto -pthread

# BENCH_SECONDS (per measurement, default 4) makes the run longer;
# BENCH_NAME names bench/results/<name>.json; BENCH_ONLY limits the proxies
# and gateway routes (BENCH_ONLY=gateway: the gateway route alone).
.PHONY: bench
bench: deps all
	python3 bench/run.py --bin $(BIN)

# Peak RSS of arcproxy, Traffic Server and Squid under slowhttptest -X (slow
# read), 1,500 connections at a 1 MiB body; SLOWREAD_SECONDS per proxy.
.PHONY: bench-slowread
bench-slowread: all
	python3 bench/slowread.py --bin $(BIN)
