/* url_test.c -- gateway and proxy URLs from agent.conf: what is accepted and what is refused. */
#include <string.h>

#include "unit.h"
#include "url.h"

static void
test_parse_url(void)
{
	char		host[256];
	uint16_t	port;

	CU_ASSERT_EQUAL(url_parse_authority("https://GW.cloudsim.test:8443", "https", 443,
	    host, sizeof(host), &port), 0);
	CU_ASSERT_STRING_EQUAL(host, "gw.cloudsim.test");
	CU_ASSERT_EQUAL(port, 8443);
	CU_ASSERT_EQUAL(url_parse_authority("https://gw.example.com/", "https", 443,
	    host, sizeof(host), &port), 0);
	CU_ASSERT_EQUAL(port, 443);
	CU_ASSERT_EQUAL(url_parse_authority("http://[::1]:3128", "http", 3128, host,
	    sizeof(host), &port), 0);
	CU_ASSERT_STRING_EQUAL(host, "::1");
	CU_ASSERT_EQUAL(url_parse_authority("http://proxy", "http", 3128, host,
	    sizeof(host), &port), 0);
	CU_ASSERT_EQUAL(port, 3128);
	CU_ASSERT_EQUAL(url_parse_authority("http://gw:443", "https", 443, host,
	    sizeof(host), &port), -1);
	CU_ASSERT_EQUAL(url_parse_authority("https://gw:0", "https", 443, host,
	    sizeof(host), &port), -1);
	CU_ASSERT_EQUAL(url_parse_authority("https://gw/path", "https", 443, host,
	    sizeof(host), &port), -1);
	CU_ASSERT_EQUAL(url_parse_authority("http://user:pw@proxy:3128", "http", 3128,
	    host, sizeof(host), &port), -1);
	CU_ASSERT_EQUAL(url_parse_authority("https://", "https", 443, host,
	    sizeof(host), &port), -1);
}

/* An agentlet's proxy is arcproxy: on loopback, never another host. */
static void
test_local_proxy(void)
{
	static const char *const here[] = { "http://127.0.0.1:40343",
	    "http://127.9.8.7:1", "http://[::1]:40343", "http://LOCALHOST:40343" };
	static const char *const away[] = { "http://198.18.0.1:3128",
	    "http://proxy.example:3128", "http://[::2]:3128", "http://128.0.0.1",
	    "http://[::ffff:127.0.0.1]:3128", "http://localhost.example:1" };
	char		 host[256];
	const char	*why;
	uint16_t	 port;
	size_t		 i;

	for (i = 0; i < sizeof(here) / sizeof(here[0]); i++)
		CU_ASSERT_EQUAL(url_parse_local_proxy(here[i], host,
		    sizeof(host), &port, &why), 0);
	for (i = 0; i < sizeof(away) / sizeof(away[0]); i++) {
		why = NULL;
		CU_ASSERT_EQUAL(url_parse_local_proxy(away[i], host,
		    sizeof(host), &port, &why), -1);
		CU_ASSERT_PTR_NOT_NULL(why != NULL ?
		    strstr(why, "not on this machine") : NULL);
	}
	CU_ASSERT_EQUAL(url_parse_local_proxy("https://127.0.0.1:1", host,
	    sizeof(host), &port, &why), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "is not like"));
}

static const struct unit_test tests[] = {
	{ "gateway and proxy URLs", test_parse_url },
	{ "an agentlet's proxy is on loopback", test_local_proxy },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("url", tests);
}
