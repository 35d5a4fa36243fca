/* gw_test.c -- gateway-client pieces that need no network: URLs, TLS context checks, state before any connection. */
#include <stdio.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "gw.h"
#include "gw_endpoints.h"
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

static const struct unit_test tests[] = {
	{ "endpoint list parses", test_endpoints_parse },
	{ "endpoint list refresh_seconds clamped", test_endpoints_refresh_clamped },
	{ "endpoint list errors", test_endpoints_rejected },
	{ "bad TLS files are named", test_bad_tls_files },
	{ "state before any connection", test_state_before_connecting },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("gw", tests);
}
