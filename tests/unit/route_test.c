/* route_test.c -- route matching: exact, suffix, any, ports, order, defaults, and the SSRF guard. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "route.h"
#include "unit.h"

static struct route_table *
table(const char *const *patterns, const enum route_kind *kinds, int n)
{
	struct route_table	*t = route_table_new(ROUTE_DENY);
	char			 err[256];
	int			 i;

	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(route_table_add(t, patterns[i], kinds[i],
		    err, sizeof(err)), 0);
	return t;
}

static enum route_kind
kind_of(struct route_table *t, const char *host, uint16_t port, int *rule)
{
	struct route_decision	d;

	route_match(t, host, port, &d);
	if (rule != NULL)
		*rule = d.rule;
	return d.kind;
}

static void
test_exact_and_port(void)
{
	const char *const p[] = { "a.example.com:443", "b.example.com" };
	const enum route_kind k[] = { ROUTE_DIRECT, ROUTE_DIRECT };
	struct route_table *t = table(p, k, 2);
	int rule;

	CU_ASSERT_EQUAL(kind_of(t, "a.example.com", 443, &rule), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(rule, 0);
	CU_ASSERT_EQUAL(kind_of(t, "a.example.com", 80, &rule), ROUTE_DENY);
	CU_ASSERT_EQUAL(rule, -1);
	CU_ASSERT_EQUAL(kind_of(t, "b.example.com", 8080, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(kind_of(t, "xb.example.com", 8080, NULL), ROUTE_DENY);
	CU_ASSERT_TRUE(route_is_explicit(t, 0));
	/* Without a port a rule does not lift the SSRF guard: a name that
	 * resolves to loopback would reach every local port. */
	CU_ASSERT_FALSE(route_is_explicit(t, 1));
	CU_ASSERT_FALSE(route_is_explicit(t, -1));
	route_table_free(t);
}

static void
test_suffix(void)
{
	const char *const p[] = { "*.blob.core.windows.net", "*.obo.arc.azure.com:8084" };
	const enum route_kind k[] = { ROUTE_DIRECT, ROUTE_DIRECT };
	struct route_table *t = table(p, k, 2);
	int rule;

	CU_ASSERT_EQUAL(kind_of(t, "x.blob.core.windows.net", 443, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(kind_of(t, "a.b.blob.core.windows.net", 443, NULL), ROUTE_DIRECT);
	/* The bare suffix is not a subdomain of itself. */
	CU_ASSERT_EQUAL(kind_of(t, "blob.core.windows.net", 443, NULL), ROUTE_DENY);
	CU_ASSERT_EQUAL(kind_of(t, "evilblob.core.windows.net", 443, NULL), ROUTE_DENY);
	CU_ASSERT_EQUAL(kind_of(t, "m.obo.arc.azure.com", 8084, &rule), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(rule, 1);
	CU_ASSERT_EQUAL(kind_of(t, "m.obo.arc.azure.com", 443, NULL), ROUTE_DENY);
	CU_ASSERT_FALSE(route_is_explicit(t, 0));
	route_table_free(t);
}

static void
test_first_match_wins(void)
{
	const char *const p[] = { "bad.example.com", "*.example.com", "*:22", "*" };
	const enum route_kind k[] = { ROUTE_DENY, ROUTE_DIRECT, ROUTE_DENY, ROUTE_DIRECT };
	struct route_table *t = table(p, k, 4);

	CU_ASSERT_EQUAL(kind_of(t, "bad.example.com", 443, NULL), ROUTE_DENY);
	CU_ASSERT_EQUAL(kind_of(t, "good.example.com", 22, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(kind_of(t, "other.org", 22, NULL), ROUTE_DENY);
	CU_ASSERT_EQUAL(kind_of(t, "other.org", 443, NULL), ROUTE_DIRECT);
	route_table_free(t);
}

static void
test_bad_patterns(void)
{
	struct route_table	*t = route_table_new(ROUTE_DIRECT);
	char			 err[256];
	const char *const	 bad[] = { "", "a.com:0", "a.com:70000", "a.com:",
	    "*a.com", "a.*.com", "[::1", "a b.com", "a.com:x", NULL };
	int			 i;

	for (i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(route_table_add(t, bad[i], ROUTE_DIRECT, err,
		    sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "pattern"));
	}
	CU_ASSERT_EQUAL(route_table_count(t), 0);
	CU_ASSERT_EQUAL(route_table_add(t, "[::1]:443", ROUTE_DIRECT, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(route_table_add(t, "::1", ROUTE_DIRECT, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(route_table_add(t, "EXAMPLE.com.", ROUTE_DIRECT, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(kind_of(t, "example.com", 1, NULL), ROUTE_DIRECT);
	route_table_free(t);
}

static void
test_normalize(void)
{
	char	a[] = "WWW.Example.COM.", b[] = "[::1]", c[] = "bad host", d[] = "";

	CU_ASSERT_EQUAL(route_normalize_host(a), 0);
	CU_ASSERT_STRING_EQUAL(a, "www.example.com");
	CU_ASSERT_EQUAL(route_normalize_host(b), 0);
	CU_ASSERT_STRING_EQUAL(b, "::1");
	CU_ASSERT_EQUAL(route_normalize_host(c), -1);
	CU_ASSERT_EQUAL(route_normalize_host(d), -1);
	/* Percent-encoding only as an IPv6 zone: "127.0.0.1%2e" could decode
	 * to a loopback address past the guard. */
	{
		char	e[] = "127.0.0.1%2e", f[] = "localhost%2E", g[] = "[fe80::1%25eth0]";

		CU_ASSERT_EQUAL(route_normalize_host(e), -1);
		CU_ASSERT_EQUAL(route_normalize_host(f), -1);
		CU_ASSERT_EQUAL(route_normalize_host(g), 0);
	}
}

static int
guarded(const char *addr)
{
	struct sockaddr_storage	ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return route_addr_is_guarded((struct sockaddr *)&ss);
}

static void
test_ssrf_guard(void)
{
	CU_ASSERT_TRUE(guarded("127.0.0.1"));
	CU_ASSERT_TRUE(guarded("127.1.2.3"));
	CU_ASSERT_TRUE(guarded("169.254.169.254"));
	CU_ASSERT_TRUE(guarded("0.0.0.0"));
	CU_ASSERT_TRUE(guarded("::1"));
	CU_ASSERT_TRUE(guarded("::"));
	CU_ASSERT_TRUE(guarded("fe80::1"));
	CU_ASSERT_TRUE(guarded("::ffff:127.0.0.1"));
	CU_ASSERT_TRUE(guarded("::ffff:169.254.169.254"));
	CU_ASSERT_TRUE(guarded("224.0.0.1"));
	CU_ASSERT_FALSE(guarded("198.18.0.1"));
	CU_ASSERT_FALSE(guarded("10.1.2.3"));
	CU_ASSERT_FALSE(guarded("2001:db8::1"));
	CU_ASSERT_TRUE(route_port_is_guarded(40342));
	CU_ASSERT_TRUE(route_port_is_guarded(40344));
	CU_ASSERT_FALSE(route_port_is_guarded(443));
}

/* Names refused before any route resolves them, in every spelling. */
static void
test_host_guard(void)
{
	static const char *const guarded_hosts[] = {
		"localhost", "a.localhost", "x.y.localhost", "127.0.0.1", "127.1",
		"127.0.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1",
		"0177.1", "0", "0.0.0.0", "169.254.169.254", "0xa9.0xfe.0xa9.0xfe",
		"2852039166", "224.0.0.1", "::1", "::", "::ffff:127.0.0.1",
		"::ffff:7f00:1", "::127.0.0.2", "64:ff9b::127.0.0.1", "fe80::1",
		"fe80::1%eth0", "fe80::1%25eth0", "ff02::1", "fec0::1",
		"::ffff:169.254.169.254", "127.0.0.1..", "localhost..", NULL
	};
	static const char *const open_hosts[] = {
		"example.com", "localhost.example.com", "mylocalhost", "10.0.0.1",
		"8.8.8.8", "134744072", "2001:db8::1", "::ffff:8.8.8.8",
		"127.0.0.1.example.com", "0x7f.example", NULL
	};
	int	i;

	for (i = 0; guarded_hosts[i] != NULL; i++)
		if (!route_host_is_guarded(guarded_hosts[i])) {
			fprintf(stderr, "\nnot guarded: %s", guarded_hosts[i]);
			CU_FAIL("a guarded host got through");
		}
	for (i = 0; open_hosts[i] != NULL; i++)
		if (route_host_is_guarded(open_hosts[i])) {
			fprintf(stderr, "\nguarded: %s", open_hosts[i]);
			CU_FAIL("an ordinary host was guarded");
		}
}

/* Decide with a policy; returns the kind, the guard verdict in *guarded. */
static enum route_kind
decide(const struct route_policy *p, const char *host, uint16_t port,
    int *guarded)
{
	struct route_decision	d;
	int			g;

	g = route_decide(p, host, port, &d);
	if (guarded != NULL)
		*guarded = g;
	return d.kind;
}

static struct route_table *
gw_table(const char *pattern)
{
	struct route_table	*t = route_table_new(ROUTE_DENY);
	char			 err[256];

	CU_ASSERT_EQUAL_FATAL(route_table_add(t, pattern, ROUTE_GATEWAY, err,
	    sizeof(err)), 0);
	return t;
}

/* Gateway mode: bypass -> direct or proxy; carried -> gateway; else proxy.url,
 * else a written default, else deny.  The operator's rules come first. */
static void
test_decide_gateway_order(void)
{
	const char *const rp[] = { "pinned.example.com:443" };
	const enum route_kind rk[] = { ROUTE_DIRECT };
	struct route_table *rules = table(rp, rk, 1);
	struct route_table *allow = gw_table("*.arc.test");
	struct route_table *bypass = gw_table("*.blob.arc.test");
	struct route_table *rules_direct = route_table_new(ROUTE_DIRECT);
	struct route_policy p;

	memset(&p, 0, sizeof(p));
	p.rules = rules_direct;		/* no rules, the assumed default */
	p.gateway_mode = 1;
	p.gw_allow = allow;
	p.gw_bypass = bypass;
	CU_ASSERT_EQUAL(decide(&p, "x.arc.test", 443, NULL), ROUTE_GATEWAY);
	CU_ASSERT_EQUAL(decide(&p, "x.blob.arc.test", 443, NULL), ROUTE_DIRECT);
	/* Neither carried nor bypassed, no proxy, no written default: deny. */
	CU_ASSERT_EQUAL(decide(&p, "other.test", 443, NULL), ROUTE_DENY);
	/* With proxy.url: bypass and the rest go to the proxy. */
	p.have_proxy = 1;
	CU_ASSERT_EQUAL(decide(&p, "x.arc.test", 443, NULL), ROUTE_GATEWAY);
	CU_ASSERT_EQUAL(decide(&p, "x.blob.arc.test", 443, NULL), ROUTE_PROXY);
	CU_ASSERT_EQUAL(decide(&p, "other.test", 443, NULL), ROUTE_PROXY);
	/* A written default (direct) wins over proxy.url for the rest. */
	p.default_set = 1;
	CU_ASSERT_EQUAL(decide(&p, "other.test", 443, NULL), ROUTE_DIRECT);
	p.have_proxy = 0;
	CU_ASSERT_EQUAL(decide(&p, "other.test", 443, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(decide(&p, "x.blob.arc.test", 443, NULL), ROUTE_DIRECT);
	/* No endpoint list yet: everything is tried through the gateway. */
	p.default_set = 0;
	p.gw_allow = NULL;
	p.gw_bypass = NULL;
	CU_ASSERT_EQUAL(decide(&p, "other.test", 443, NULL), ROUTE_GATEWAY);
	/* The operator's rules come before the gateway's lists (deny default). */
	p.rules = rules;
	p.gw_allow = allow;
	p.gw_bypass = bypass;
	CU_ASSERT_EQUAL(decide(&p, "pinned.example.com", 443, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(decide(&p, "x.arc.test", 443, NULL), ROUTE_GATEWAY);
	route_table_free(rules);
	route_table_free(rules_direct);
	route_table_free(allow);
	route_table_free(bypass);
}

/* Outside gateway mode: rules, then proxy.url unless a default is written. */
static void
test_decide_plain(void)
{
	struct route_table *rules = route_table_new(ROUTE_DIRECT);
	struct route_table *allow = gw_table("*.arc.test");
	struct route_policy p;

	memset(&p, 0, sizeof(p));
	p.rules = rules;
	p.gw_allow = allow;		/* ignored without gateway mode */
	CU_ASSERT_EQUAL(decide(&p, "x.arc.test", 443, NULL), ROUTE_DIRECT);
	p.have_proxy = 1;
	CU_ASSERT_EQUAL(decide(&p, "x.arc.test", 443, NULL), ROUTE_PROXY);
	p.default_set = 1;
	CU_ASSERT_EQUAL(decide(&p, "x.arc.test", 443, NULL), ROUTE_DIRECT);
	route_table_free(rules);
	route_table_free(allow);
}

/* proxy.bypass: its hosts go direct where the proxy is the default, and only
 * there: not past the operator's rules, a written default, or in gateway
 * mode (Azure ignores proxy.bypass with a gateway). */
static void
test_decide_proxy_bypass(void)
{
	const char *const rp[] = { "management.example.test:443" };
	const enum route_kind rk[] = { ROUTE_DENY };
	struct route_table *rules = route_table_new(ROUTE_DIRECT);
	struct route_table *pinned = table(rp, rk, 1);
	struct route_table *bypass = route_table_new(ROUTE_PROXY);
	struct route_table *deflt_proxy = route_table_new(ROUTE_PROXY);
	struct route_policy p;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(route_table_add(bypass, "management.example.test",
	    ROUTE_DIRECT, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(route_table_add(bypass, "*.login.example.test",
	    ROUTE_DIRECT, err, sizeof(err)), 0);
	memset(&p, 0, sizeof(p));
	p.rules = rules;
	p.have_proxy = 1;
	p.proxy_bypass = bypass;
	CU_ASSERT_EQUAL(decide(&p, "management.example.test", 443, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(decide(&p, "eu.login.example.test", 443, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(decide(&p, "other.example.test", 443, NULL), ROUTE_PROXY);
	CU_ASSERT_EQUAL(decide(&p, "xmanagement.example.test", 443, NULL), ROUTE_PROXY);
	/* A written default "proxy" is the proxy too; "direct" needs no bypass. */
	p.rules = deflt_proxy;
	p.default_set = 1;
	CU_ASSERT_EQUAL(decide(&p, "management.example.test", 443, NULL), ROUTE_DIRECT);
	CU_ASSERT_EQUAL(decide(&p, "other.example.test", 443, NULL), ROUTE_PROXY);
	/* The operator's rule wins. */
	p.rules = pinned;
	p.default_set = 0;
	CU_ASSERT_EQUAL(decide(&p, "management.example.test", 443, NULL), ROUTE_DENY);
	/* Gateway mode: ignored, the gateway's lists decide. */
	p.rules = rules;
	p.gateway_mode = 1;
	CU_ASSERT_EQUAL(decide(&p, "management.example.test", 443, NULL), ROUTE_GATEWAY);
	route_table_free(rules);
	route_table_free(pinned);
	route_table_free(bypass);
	route_table_free(deflt_proxy);
}

/* The guard on every route, lifted only by an explicit rule. */
static void
test_decide_guard(void)
{
	const char *const rp[] = { "localhost:8080", "*.local.test" };
	const enum route_kind rk[] = { ROUTE_DIRECT, ROUTE_DIRECT };
	struct route_table *rules = table(rp, rk, 2);
	struct route_policy p;
	int guarded;

	memset(&p, 0, sizeof(p));
	p.rules = rules;
	p.gateway_mode = 1;		/* no lists: the gateway route */
	CU_ASSERT_EQUAL(decide(&p, "localhost", 9000, &guarded), ROUTE_GATEWAY);
	CU_ASSERT_TRUE(guarded);
	CU_ASSERT_EQUAL(decide(&p, "127.1", 443, &guarded), ROUTE_GATEWAY);
	CU_ASSERT_TRUE(guarded);
	CU_ASSERT_EQUAL(decide(&p, "localhost", 8080, &guarded), ROUTE_DIRECT);
	CU_ASSERT_FALSE(guarded);
	/* A wildcard rule does not lift it, nor does it guard others. */
	decide(&p, "x.local.test", 40342, &guarded);
	CU_ASSERT_TRUE(guarded);
	decide(&p, "x.local.test", 443, &guarded);
	CU_ASSERT_FALSE(guarded);
	route_table_free(rules);
}

static const struct unit_test tests[] = {
	{ "exact host and port", test_exact_and_port },
	{ "suffix patterns", test_suffix },
	{ "first match wins", test_first_match_wins },
	{ "bad patterns are refused", test_bad_patterns },
	{ "host normalization", test_normalize },
	{ "SSRF guard", test_ssrf_guard },
	{ "SSRF guard on host names and literals", test_host_guard },
	{ "route_decide: the gateway-mode order", test_decide_gateway_order },
	{ "route_decide: rules, proxy.url, default", test_decide_plain },
	{ "route_decide: proxy.bypass", test_decide_proxy_bypass },
	{ "route_decide: the guard", test_decide_guard },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("route", tests);
}
