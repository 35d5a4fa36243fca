/* gw_test.c -- gateway-client pieces that need no network: URLs, TLS context checks, state before any connection. */
#include <stdio.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "gw.h"
#include "unit.h"

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
	evdns_base_free(dns, 0);
	event_base_free(base);
}

static const struct unit_test tests[] = {
	{ "bad TLS files are named", test_bad_tls_files },
	{ "state before any connection", test_state_before_connecting },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("gw", tests);
}
