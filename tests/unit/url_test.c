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

static const struct unit_test tests[] = {
	{ "gateway and proxy URLs", test_parse_url },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("url", tests);
}
