/* gw_test.c -- gateway-client pieces that need no network: the endpoint list and its fetch, TLS context checks, the request queue on a scripted carrier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "gw.h"
#include "gw_carrier.h"
#include "gw_endpoints.h"
#include "gw_internal.h"
#include "route.h"
#include "unit.h"

static int
parse(const char *json, struct gw_endpoints *ep, int *refresh_s, char *err,
    size_t errlen)
{
	return gw_endpoints_parse(json, strlen(json), ep, refresh_s, err, errlen);
}

static void
test_endpoints_parse(void)
{
	const char		*doc = "{\"endpoints\":[\"*.azure.com:443\","
	    "\"login.example.test\"],\"bypass\":[\"*.blob.test\"],"
	    "\"refresh_seconds\":600}";
	struct gw_endpoints	 ep;
	struct route_decision	 d;
	char			 err[256];
	int			 refresh = -1;

	CU_ASSERT_EQUAL_FATAL(parse(doc, &ep, &refresh, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(refresh, 600);
	CU_ASSERT_EQUAL(route_table_count(ep.endpoints), 2);
	CU_ASSERT_EQUAL(route_table_count(ep.bypass), 1);
	route_match(ep.endpoints, "management.azure.com", 443, &d);
	CU_ASSERT_EQUAL(d.kind, ROUTE_GATEWAY);
	route_match(ep.endpoints, "management.azure.com", 80, &d);
	CU_ASSERT_EQUAL(d.kind, ROUTE_DENY);
	route_match(ep.bypass, "x.blob.test", 443, &d);
	CU_ASSERT_EQUAL(d.kind, ROUTE_GATEWAY);
	gw_endpoints_free(&ep);
	CU_ASSERT_PTR_NULL(ep.endpoints);
	gw_endpoints_free(&ep);		/* twice, and NULL: no-ops */
	gw_endpoints_free(NULL);

	/* Absent lists are empty, an absent period is the default. */
	CU_ASSERT_EQUAL_FATAL(parse("{}", &ep, &refresh, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(refresh, GW_REFRESH_DEFAULT_S);
	CU_ASSERT_EQUAL(route_table_count(ep.endpoints), 0);
	CU_ASSERT_EQUAL(route_table_count(ep.bypass), 0);
	gw_endpoints_free(&ep);

	/* Not NUL-terminated: only len bytes are read. */
	CU_ASSERT_EQUAL(gw_endpoints_parse("{}garbage", 2, &ep, &refresh, err,
	    sizeof(err)), 0);
	gw_endpoints_free(&ep);
}

/* refresh_seconds was cast to int: 1e12 wrapped, 0 and negatives armed a
 * timer that fired at once, so a gateway could make us spin on fetches. */
static void
test_endpoints_refresh_clamped(void)
{
	static const struct {
		const char	*doc;
		int		 want;
	} cases[] = {
		{ "{\"refresh_seconds\":0}", GW_REFRESH_MIN_S },
		{ "{\"refresh_seconds\":-5}", GW_REFRESH_MIN_S },
		{ "{\"refresh_seconds\":5}", GW_REFRESH_MIN_S },
		{ "{\"refresh_seconds\":30}", 30 },
		{ "{\"refresh_seconds\":86400}", 86400 },
		{ "{\"refresh_seconds\":86401}", GW_REFRESH_MAX_S },
		{ "{\"refresh_seconds\":4294967296}", GW_REFRESH_MAX_S },
		{ "{\"refresh_seconds\":9223372036854775807}", GW_REFRESH_MAX_S },
		{ "{\"refresh_seconds\":-9223372036854775807}", GW_REFRESH_MIN_S },
		{ "{\"refresh_seconds\":120.7}", 120 },
		{ "{\"refresh_seconds\":1e300}", GW_REFRESH_MAX_S },
		{ "{\"refresh_seconds\":-1e300}", GW_REFRESH_MIN_S },
	};
	struct gw_endpoints	 ep;
	char			 err[256];
	size_t			 i;
	int			 refresh;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		refresh = -1;
		CU_ASSERT_EQUAL_FATAL(parse(cases[i].doc, &ep, &refresh, err,
		    sizeof(err)), 0);
		if (refresh != cases[i].want)
			printf("\n%s: got %d, want %d\n", cases[i].doc, refresh,
			    cases[i].want);
		CU_ASSERT_EQUAL(refresh, cases[i].want);
		gw_endpoints_free(&ep);
	}
}

static void
test_endpoints_rejected(void)
{
	static const struct {
		const char	*doc;
		const char	*why;
	} cases[] = {
		{ "", "not a JSON object" },
		{ "[]", "not a JSON object" },
		{ "{\"endpoints\":", "not a JSON object" },
		{ "{\"refresh_seconds\":\"60\"}", "refresh_seconds" },
		{ "{\"refresh_seconds\":null}", "refresh_seconds" },
		{ "{\"refresh_seconds\":true}", "refresh_seconds" },
		{ "{\"refresh_seconds\":[60]}", "refresh_seconds" },
		{ "{\"endpoints\":\"*.test\"}", "\"endpoints\" is not a list" },
		{ "{\"bypass\":{}}", "\"bypass\" is not a list" },
		{ "{\"endpoints\":[1]}", "non-string" },
		{ "{\"endpoints\":[\"ok.test\"],\"bypass\":[null]}", "non-string" },
		{ "{\"endpoints\":[],\"endpoints\":[\"*\"]}", "duplicate" },
	};
	struct gw_endpoints	 ep;
	char			 err[256];
	size_t			 i;
	int			 refresh;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(parse(cases[i].doc, &ep, &refresh, err,
		    sizeof(err)), -1);
		if (strstr(err, cases[i].why) == NULL)
			printf("\n%s: error \"%s\", want \"%s\"\n", cases[i].doc,
			    err, cases[i].why);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].why));
		/* Nothing is left to free after a failure. */
		CU_ASSERT_PTR_NULL(ep.endpoints);
		CU_ASSERT_PTR_NULL(ep.bypass);
	}
}

static void
test_bad_tls_files(void)
{
	struct event_base	*base = event_base_new();
	struct gw_settings	 s;
	char			 err[512];

	memset(&s, 0, sizeof(s));
	snprintf(s.host, sizeof(s.host), "gw.test");
	s.port = 443;
	s.ca_file = "/nonexistent/ca.crt";
	s.connect_timeout_ms = 1000;
	CU_ASSERT_PTR_NULL(gw_new(base, NULL, &s, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/ca.crt"));
	s.ca_file = NULL;
	CU_ASSERT_PTR_NULL(gw_new(base, NULL, &s, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no CA file"));
	event_base_free(base);
}

static void
test_state_before_connecting(void)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns = evdns_base_new(base, 0);
	struct resolve_host	 h;
	struct gw_settings	 s;
	struct gw		*gw;
	char			 err[512];

	memset(&s, 0, sizeof(s));
	snprintf(s.host, sizeof(s.host), "gw.test");
	s.port = 1;			/* nothing listens on port 1 */
	memset(&h, 0, sizeof(h));
	h.name = "gw.test";
	s.hosts = &h;
	s.nhosts = 1;
	/* Any real trust store will do: nothing connects in this test. */
	s.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	s.connect_timeout_ms = 1000;
	gw = gw_new(base, dns, &s, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(gw);
	CU_ASSERT_EQUAL(gw_get_state(gw), GW_STATE_CONNECTING);
	CU_ASSERT_EQUAL(gw_endpoint_count(gw), -1);
	/* No list yet: every destination is tried through the gateway. */
	CU_ASSERT_TRUE(gw_allows(gw, "anything.test", 443));
	CU_ASSERT_FALSE(gw_bypasses(gw, "anything.test", 443));
	gw_free(gw);
	event_base_loop(base, EVLOOP_NONBLOCK);	/* the memory goes from the loop */
	evdns_base_free(dns, 0);
	event_base_free(base);
}

static void
test_endpoints_match(void)
{
	struct gw_endpoints	 ep;
	char			 err[256];
	int			 refresh;

	memset(&ep, 0, sizeof(ep));
	/* No list yet: everything through the gateway, nothing bypassed. */
	CU_ASSERT_TRUE(gw_endpoints_allows(&ep, "anything.test", 443));
	CU_ASSERT_FALSE(gw_endpoints_bypasses(&ep, "anything.test", 443));
	CU_ASSERT_EQUAL(gw_endpoints_count(&ep), -1);
	CU_ASSERT_EQUAL_FATAL(parse("{\"endpoints\":[\"*.azure.test:443\"],"
	    "\"bypass\":[\"blob.test\"]}", &ep, &refresh, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(gw_endpoints_allows(&ep, "mgmt.azure.test", 443));
	CU_ASSERT_FALSE(gw_endpoints_allows(&ep, "mgmt.azure.test", 80));
	CU_ASSERT_FALSE(gw_endpoints_allows(&ep, "other.test", 443));
	CU_ASSERT_TRUE(gw_endpoints_bypasses(&ep, "blob.test", 443));
	CU_ASSERT_FALSE(gw_endpoints_bypasses(&ep, "mgmt.azure.test", 443));
	CU_ASSERT_EQUAL(gw_endpoints_count(&ep), 1);
	gw_endpoints_free(&ep);
}

/* Feeds answer to a fetch in pieces of chunk bytes: its last result. */
static int
fetch_run(const char *answer, size_t chunk, char *request, size_t reqlen,
    char *body, size_t bodylen, int *keep, char *why, size_t whylen)
{
	struct evbuffer			*out = evbuffer_new(), *in = evbuffer_new();
	struct gw_endpoints_fetch	*f;
	size_t				 len = strlen(answer), off, n;
	int				 rv = 0;

	f = gw_endpoints_fetch_new(out, "gw.test", 8443);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = evbuffer_get_length(out) < reqlen ? evbuffer_get_length(out) : reqlen - 1;
	evbuffer_remove(out, request, n);
	request[n] = '\0';
	why[0] = '\0';
	for (off = 0; off < len && rv == 0; off += n) {
		n = len - off < chunk ? len - off : chunk;
		evbuffer_add(in, answer + off, n);
		rv = gw_endpoints_fetch_read(f, in, why, whylen);
	}
	body[0] = '\0';
	if (rv == 1) {
		n = evbuffer_get_length(gw_endpoints_fetch_body(f));
		if (n >= bodylen)
			n = bodylen - 1;
		evbuffer_remove(gw_endpoints_fetch_body(f), body, n);
		body[n] = '\0';
		*keep = gw_endpoints_fetch_keep_alive(f);
	}
	gw_endpoints_fetch_free(f);
	evbuffer_free(out);
	evbuffer_free(in);
	return rv;
}

static void
test_endpoints_fetch(void)
{
	char	 request[512], body[256], why[128];
	char	*big;
	int	 keep = -1, i;
	size_t	 off;

	CU_ASSERT_EQUAL(fetch_run("HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n"
	    "{\"endpoints\":[]}", 3, request, sizeof(request), body, sizeof(body),
	    &keep, why, sizeof(why)), 1);
	CU_ASSERT_STRING_EQUAL(request, "GET " GW_ENDPOINTS_PATH " HTTP/1.1\r\n"
	    "Host: gw.test:8443\r\nAccept: application/json\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(body, "{\"endpoints\":[]}");
	CU_ASSERT_EQUAL(keep, 1);

	/* Chunked: the JSON without its framing; Connection: close. */
	CU_ASSERT_EQUAL(fetch_run("HTTP/1.1 200 OK\r\nConnection: close\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
	    1000, request, sizeof(request), body, sizeof(body), &keep, why,
	    sizeof(why)), 1);
	CU_ASSERT_STRING_EQUAL(body, "{\"a\":1}");
	CU_ASSERT_EQUAL(keep, 0);

	CU_ASSERT_EQUAL(fetch_run("HTTP/1.1 404 Not Found\r\nContent-Length: 0"
	    "\r\n\r\n", 1000, request, sizeof(request), body, sizeof(body), &keep,
	    why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(why, "status 404");
	/* A body that ends only at EOF cannot be told from a cut one. */
	CU_ASSERT_EQUAL(fetch_run("HTTP/1.1 200 OK\r\n\r\n{}", 1000, request,
	    sizeof(request), body, sizeof(body), &keep, why, sizeof(why)), -1);
	CU_ASSERT_EQUAL(fetch_run("hello\r\n\r\n", 1000, request, sizeof(request),
	    body, sizeof(body), &keep, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(why, "not an HTTP response");
	/* Incomplete: more is wanted. */
	CU_ASSERT_EQUAL(fetch_run("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
	    "{}", 1000, request, sizeof(request), body, sizeof(body), &keep, why,
	    sizeof(why)), 0);

	/* Over GW_ENDPOINTS_MAX_BYTES, chunked so that no length refuses it. */
	big = malloc(GW_ENDPOINTS_MAX_BYTES / 0x400 * 0x410 + 0x10000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	off = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n");
	for (i = 0; i < GW_ENDPOINTS_MAX_BYTES / 0x400 + 4; i++) {
		off += (size_t)sprintf(big + off, "400\r\n");
		memset(big + off, ' ', 0x400);
		off += 0x400;
		off += (size_t)sprintf(big + off, "\r\n");
	}
	big[off] = '\0';
	CU_ASSERT_EQUAL(fetch_run(big, 65536, request, sizeof(request), body,
	    sizeof(body), &keep, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(why, "bad or oversize body");
	free(big);
}

/* ---- the request queue, on a scripted carrier ---------------------------- */

struct fake {
	struct gw_carrier	 car;		/* first */
	int			 slots;
	int			 fetched, cancelled, released, freed;
	int			 shutdowns, closes;
	struct gw_req		*sent[8];
	int			 nsent;
};

static int
fake_slots(const struct gw_carrier *car)
{
	return ((const struct fake *)car)->slots;
}

static void
fake_open(struct gw_carrier *car, struct gw_req *r)
{
	struct fake	*f = (struct fake *)car;

	CU_ASSERT_PTR_EQUAL(r->carrier, car);
	CU_ASSERT_EQUAL(r->state, GWR_CONNECT);
	f->slots--;
	if (f->nsent < 8)
		f->sent[f->nsent++] = r;
}

static void
fake_cancel(struct gw_req *r)
{
	struct fake	*f = (struct fake *)r->carrier;

	f->cancelled++;
	f->slots++;
}

static void
fake_fetch(struct gw_carrier *car)
{
	((struct fake *)car)->fetched++;
}

static void
fake_release(struct gw_carrier *car)
{
	((struct fake *)car)->released++;
}

static void
fake_free(struct gw_carrier *car, const char *reason)
{
	(void)reason;
	gw_pool_remove(car);
	((struct fake *)car)->freed++;
}

static struct fake	*the_fake;

static void
fake_stream_shutdown(struct gw_stream *st)
{
	(void)st;
	the_fake->shutdowns++;
}

static void
fake_stream_close(struct gw_stream *st)
{
	the_fake->closes++;
	bufferevent_free(st->bev);
	free(st);
}

static const struct gw_carrier_ops fake_ops = {
	.name = "fake",
	.multiplexed = 1,
	.wait_timeout = "fake: no slot in time",
	.slots = fake_slots,
	.open = fake_open,
	.cancel = fake_cancel,
	.fetch = fake_fetch,
	.release = fake_release,
	.free = fake_free,
	.stream_shutdown = fake_stream_shutdown,
	.stream_close = fake_stream_close,
};

struct answer {
	int			 called;
	struct gw_stream	*st;
	enum gw_error		 error;
	char			 reason[256];
};

static void
answered(struct gw_stream *st, enum gw_error e, const char *reason, void *arg)
{
	struct answer	*a = arg;

	a->called++;
	a->st = st;
	a->error = e;
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
}

static struct gw *
queue_gw(struct event_base *base, struct evdns_base *dns, struct resolve_host *h)
{
	struct gw_settings	 s;
	char			 err[512];
	struct gw		*gw;

	memset(&s, 0, sizeof(s));
	snprintf(s.host, sizeof(s.host), "gw.test");
	s.port = 1;
	memset(h, 0, sizeof(*h));
	h->name = "gw.test";
	s.hosts = h;
	s.nhosts = 1;
	s.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	s.connect_timeout_ms = 300;
	s.protocol = GW_PROTO_H2;	/* one multiplexed carrier: the fake */
	gw = gw_new(base, dns, &s, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(gw);
	return gw;
}

/* Runs the loop until a->called or about 2 s. */
static void
wait_for(struct event_base *base, struct answer *a)
{
	struct timeval	tick = { 0, 20000 };
	int		i;

	for (i = 0; i < 100 && !a->called; i++) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

static void
test_queue(void)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns = evdns_base_new(base, 0);
	struct resolve_host	 h;
	struct fake		 f;
	struct gw		*gw = queue_gw(base, dns, &h);
	struct answer		 a[6];
	struct gw_req		*r[6];
	struct gw_stream	*st;
	struct bufferevent	*pair[2];
	int			 i;

	memset(&f, 0, sizeof(f));
	memset(a, 0, sizeof(a));
	the_fake = &f;
	f.car.ops = &fake_ops;
	f.slots = 2;
	gw_pool_add(gw, &f.car);
	/* A carrier with slots comes up: first the due endpoint list. */
	gw_carrier_ready(&f.car);
	CU_ASSERT_EQUAL(f.fetched, 1);
	CU_ASSERT_FALSE(gw->fetch_due);

	/* Two go out at once, the rest wait in order. */
	for (i = 0; i < 5; i++)
		r[i] = gw_open(gw, "dest.test", 443, answered, &a[i]);
	CU_ASSERT_EQUAL(f.nsent, 2);
	CU_ASSERT_PTR_EQUAL(f.sent[0], r[0]);
	CU_ASSERT_PTR_EQUAL(f.sent[1], r[1]);
	CU_ASSERT_EQUAL(gw->nwaiting, 3);
	/* The fake is the multiplexed connection: nothing else is opened. */
	CU_ASSERT_EQUAL(gw->nopening, 0);

	/* A waiting request leaves quietly. */
	gw_cancel(r[2]);
	CU_ASSERT_EQUAL(gw->nwaiting, 2);

	/* r[0] is answered: the caller gets the carrier's stream. */
	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, 0, pair), 0);
	bufferevent_free(pair[1]);
	st = calloc(1, sizeof(*st));
	st->ops = &fake_ops;
	st->bev = pair[0];
	gw_req_done(r[0], st);
	CU_ASSERT_EQUAL(a[0].called, 1);
	CU_ASSERT_EQUAL(a[0].error, GW_OK);
	CU_ASSERT_PTR_EQUAL(a[0].st, st);
	CU_ASSERT_STRING_EQUAL(gw_stream_protocol(st), "fake");
	CU_ASSERT_PTR_EQUAL(gw_stream_bev(st), pair[0]);
	gw_stream_shutdown(st);
	CU_ASSERT_EQUAL(f.shutdowns, 1);
	gw_stream_close(st);
	CU_ASSERT_EQUAL(f.closes, 1);

	/* r[1] is refused: reported from the loop, not from inside. */
	gw_req_fail(r[1], GW_DENIED, "403 Forbidden");
	CU_ASSERT_EQUAL(a[1].called, 0);
	wait_for(base, &a[1]);
	CU_ASSERT_EQUAL(a[1].called, 1);
	CU_ASSERT_EQUAL(a[1].error, GW_DENIED);
	CU_ASSERT_STRING_EQUAL(a[1].reason, "403 Forbidden");
	CU_ASSERT_PTR_NULL(a[1].st);

	/* A slot frees: the first in line goes, in order. */
	f.slots = 1;
	gw_serve_waiting(gw);
	CU_ASSERT_EQUAL(f.nsent, 3);
	CU_ASSERT_PTR_EQUAL(f.sent[2], r[3]);
	CU_ASSERT_EQUAL(gw->nwaiting, 1);

	/* Cancelled while its CONNECT is out: the carrier drops it. */
	gw_cancel(r[3]);
	CU_ASSERT_EQUAL(f.cancelled, 1);
	CU_ASSERT_EQUAL(f.slots, 1);
	f.slots = 0;

	/* r[4] waits past connect_timeout_ms: the carrier says why. */
	wait_for(base, &a[4]);
	CU_ASSERT_EQUAL(a[4].called, 1);
	CU_ASSERT_EQUAL(a[4].error, GW_TIMEOUT);
	CU_ASSERT_STRING_EQUAL(a[4].reason, "fake: no slot in time");
	CU_ASSERT_EQUAL(gw->nwaiting, 0);

	/* Sent and never answered: the deadline cancels it on the carrier. */
	f.slots = 1;
	r[5] = gw_open(gw, "dest.test", 443, answered, &a[5]);
	CU_ASSERT_EQUAL(f.nsent, 4);
	wait_for(base, &a[5]);
	CU_ASSERT_EQUAL(a[5].error, GW_TIMEOUT);
	CU_ASSERT_PTR_NOT_NULL(strstr(a[5].reason, "did not answer CONNECT"));
	CU_ASSERT_EQUAL(f.cancelled, 2);
	for (i = 0; i < 6; i++)
		CU_ASSERT_TRUE(i == 2 || i == 3 || a[i].called == 1);
	CU_ASSERT_EQUAL(a[2].called + a[3].called, 0);

	/* gw_free() releases the pool; the memory goes from the loop, and
	 * the carrier with it. */
	gw_free(gw);
	CU_ASSERT_EQUAL(f.released, 1);
	CU_ASSERT_EQUAL(f.freed, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(f.freed, 1);
	evdns_base_free(dns, 0);
	event_base_free(base);
}

/* The endpoint list is fetched again on any carrier with a slot,
 * multiplexed ones too (an h2 connection used to keep the first list for
 * its whole life). */
static void
test_refresh_on_carrier(void)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns = evdns_base_new(base, 0);
	struct resolve_host	 h;
	struct fake		 f;
	struct gw		*gw = queue_gw(base, dns, &h);
	struct evbuffer		*body = evbuffer_new();

	memset(&f, 0, sizeof(f));
	the_fake = &f;
	f.car.ops = &fake_ops;
	f.slots = 1;
	gw_pool_add(gw, &f.car);
	gw_carrier_ready(&f.car);
	CU_ASSERT_EQUAL(f.fetched, 1);
	evbuffer_add_printf(body, "{\"endpoints\":[\"a.test\",\"b.test\"],"
	    "\"refresh_seconds\":60}");
	gw_list_received(gw, body, 1, NULL);
	CU_ASSERT_EQUAL(gw_endpoint_count(gw), 2);
	CU_ASSERT_TRUE(gw_allows(gw, "a.test", 443));
	CU_ASSERT_FALSE(gw_allows(gw, "c.test", 443));
	CU_ASSERT_TRUE(evtimer_pending(gw->refresh, NULL));
	/* The period is up. */
	event_active(gw->refresh, EV_TIMEOUT, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(f.fetched, 2);
	CU_ASSERT_FALSE(gw->fetch_due);
	/* No slot: the next carrier to come up fetches it. */
	f.slots = 0;
	event_active(gw->refresh, EV_TIMEOUT, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(f.fetched, 2);
	CU_ASSERT_TRUE(gw->fetch_due);
	f.slots = 1;
	gw_carrier_ready(&f.car);
	CU_ASSERT_EQUAL(f.fetched, 3);
	evbuffer_free(body);
	gw_free(gw);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(f.freed, 1);
	evdns_base_free(dns, 0);
	event_base_free(base);
}

/* ---- the HTTP/1.1 carrier, on a bufferevent pair ------------------------- */

/* Turns the loop a few times without blocking. */
static void
spin(struct event_base *base)
{
	int	i;

	for (i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* What the gateway's side of the pair received, as a string. */
static void
peer_read(struct bufferevent *peer, char *buf, size_t len)
{
	struct evbuffer	*in = bufferevent_get_input(peer);
	size_t		 n = evbuffer_get_length(in);

	if (n >= len)
		n = len - 1;
	evbuffer_remove(in, buf, n);
	buf[n] = '\0';
}

/* A warm HTTP/1.1 connection to the gateway: one end of a pair. */
static struct gw_carrier *
h1_carrier(struct gw *gw, struct event_base *base, struct bufferevent **peer)
{
	struct bufferevent	*pair[2];
	struct gw_carrier	*car;
	char			 err[256];

	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS,
	    pair), 0);
	car = gw_h1_carrier.adopt(gw, pair[0], NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(car);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	gw_pool_add(gw, car);
	gw_carrier_ready(car);
	*peer = pair[1];
	return car;
}

static void
test_h1_carrier(void)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns = evdns_base_new(base, 0);
	struct gw_settings	 s;
	struct gw		*gw;
	struct bufferevent	*peer[4];
	struct answer		 a[3];
	char			 buf[512], err[512];
	static const char	 list[] = "{\"endpoints\":[\"a.test\",\"b.test\"]}";

	memset(&s, 0, sizeof(s));
	memset(a, 0, sizeof(a));
	/* Nothing listens there: a connection the pool opens is refused. */
	snprintf(s.host, sizeof(s.host), "127.0.0.1");
	s.port = 1;
	s.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	s.connect_timeout_ms = 2000;
	s.protocol = GW_PROTO_HTTP11;
	gw = gw_new(base, dns, &s, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(gw);

	/* The first warm connection fetches the endpoint list, then idles. */
	h1_carrier(gw, base, &peer[0]);
	spin(base);
	peer_read(peer[0], buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "GET " GW_ENDPOINTS_PATH " HTTP/1.1\r\n"));
	CU_ASSERT_EQUAL(gw_pool_idle(gw), 0);	/* busy with the GET */
	evbuffer_add_printf(bufferevent_get_output(peer[0]), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen(list), list);
	spin(base);
	CU_ASSERT_EQUAL(gw_endpoint_count(gw), 2);
	CU_ASSERT_EQUAL(gw_pool_idle(gw), 1);

	/* A tunnel takes it: the CONNECT goes out on it, the gateway refuses. */
	gw_open(gw, "dest.test", 443, answered, &a[0]);
	CU_ASSERT_EQUAL(gw_pool_idle(gw), 0);
	spin(base);
	peer_read(peer[0], buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "CONNECT dest.test:443 HTTP/1.1\r\n"
	    "Host: dest.test:443\r\n\r\n");
	evbuffer_add_printf(bufferevent_get_output(peer[0]), "HTTP/1.1 403 "
	    "Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\n"
	    "no.\n");
	spin(base);
	CU_ASSERT_EQUAL(a[0].called, 1);
	CU_ASSERT_EQUAL(a[0].error, GW_DENIED);
	CU_ASSERT_STRING_EQUAL(a[0].reason, "403 Forbidden: no.");

	/* Another: 200, and the connection is the tunnel, bytes and all. */
	h1_carrier(gw, base, &peer[1]);
	gw_open(gw, "::1", 8443, answered, &a[1]);
	spin(base);
	peer_read(peer[1], buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "CONNECT [::1]:8443 HTTP/1.1\r\n"));
	evbuffer_add_printf(bufferevent_get_output(peer[1]),
	    "HTTP/1.1 200 OK\r\n\r\nhello");
	spin(base);
	CU_ASSERT_EQUAL_FATAL(a[1].called, 1);
	CU_ASSERT_EQUAL(a[1].error, GW_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a[1].st);
	CU_ASSERT_STRING_EQUAL(gw_stream_protocol(a[1].st), "http/1.1");
	peer_read(gw_stream_bev(a[1].st), buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "hello");
	bufferevent_write(gw_stream_bev(a[1].st), "ping", 4);
	spin(base);
	peer_read(peer[1], buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "ping");
	gw_stream_shutdown(a[1].st);	/* not TLS here: nothing to say */
	gw_stream_close(a[1].st);

	/* A warm connection the gateway had closed: the request is sent
	 * again on a new connection, once; that one is refused here. */
	h1_carrier(gw, base, &peer[2]);
	gw_open(gw, "dest.test", 443, answered, &a[2]);
	spin(base);
	peer_read(peer[2], buf, sizeof(buf));
	bufferevent_flush(peer[2], EV_WRITE, BEV_FINISHED);
	spin(base);
	wait_for(base, &a[2]);
	CU_ASSERT_EQUAL(a[2].called, 1);
	CU_ASSERT_EQUAL(a[2].error, GW_DOWN);
	CU_ASSERT_PTR_NOT_NULL(strstr(a[2].reason, "cannot connect to the gateway"));
	CU_ASSERT_EQUAL(gw_get_state(gw), GW_STATE_DOWN);

	/* The gateway closes during a fetch: the refresh is still armed (it
	 * was not, and the list was never fetched again). */
	evtimer_del(gw->refresh);
	gw->fetch_due = 1;
	h1_carrier(gw, base, &peer[3]);
	spin(base);
	peer_read(peer[3], buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "GET " GW_ENDPOINTS_PATH));
	bufferevent_flush(peer[3], EV_WRITE, BEV_FINISHED);
	spin(base);
	CU_ASSERT_TRUE(evtimer_pending(gw->refresh, NULL));
	CU_ASSERT_EQUAL(gw_pool_idle(gw), 0);
	CU_ASSERT_EQUAL(gw_endpoint_count(gw), 2);	/* the old list stays */

	gw_free(gw);
	event_base_loop(base, EVLOOP_NONBLOCK);
	bufferevent_free(peer[0]);
	bufferevent_free(peer[1]);
	bufferevent_free(peer[2]);
	bufferevent_free(peer[3]);
	evdns_base_free(dns, 0);
	event_base_free(base);
}

static const struct unit_test tests[] = {
	{ "endpoint list parses", test_endpoints_parse },
	{ "endpoint list refresh_seconds clamped", test_endpoints_refresh_clamped },
	{ "endpoint list errors", test_endpoints_rejected },
	{ "endpoint list matches destinations", test_endpoints_match },
	{ "endpoint list fetch over HTTP/1.1", test_endpoints_fetch },
	{ "bad TLS files are named", test_bad_tls_files },
	{ "state before any connection", test_state_before_connecting },
	{ "request queue on a carrier", test_queue },
	{ "endpoint list refreshed on a carrier", test_refresh_on_carrier },
	{ "HTTP/1.1 carrier: list, refusal, tunnel, retry, closed fetch", test_h1_carrier },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("gw", tests);
}
