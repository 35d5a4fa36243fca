/* agentconf_test.c -- agent.conf: defaults without a file, every key, and mistakes named by file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentconf.h"
#include "unit.h"

static char dir[64];

static int
load(const char *text, struct agentconf *ac, char *err, size_t errlen)
{
	char	 path[128];
	FILE	*f;

	snprintf(dir, sizeof(dir), "/tmp/agentconf_test.%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	if (text == NULL) {
		unlink(path);
		return agentconf_load(dir, ac, err, errlen);
	}
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return agentconf_load(dir, ac, err, errlen);
}

static void
test_missing_file_is_defaults(void)
{
	struct agentconf	ac;
	char			err[256];

	CU_ASSERT_EQUAL_FATAL(load(NULL, &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ac.connection_type, AGENTCONF_DIRECT);
	CU_ASSERT_PTR_NULL(ac.gateway_url);
	CU_ASSERT_PTR_NULL(ac.proxy_url);
	CU_ASSERT_STRING_EQUAL(ac.gateway_protocol, "auto");
	agentconf_clear(&ac);
	rmdir(dir);
}

static void
test_every_key(void)
{
	struct agentconf	ac;
	char			err[256], expect[128];

	CU_ASSERT_EQUAL_FATAL(load("connection = { type = \"gateway\"; };\n"
	    "gateway = { url = \"https://gw.cloudsim.test:8443\"; ca_file = \"ca.crt\"; protocol = \"h2\"; };\n"
	    "proxy = { url = \"http://proxy:3128\"; bypass = [ \"Arc\", \"AAD\" ]; };\n"
	    "extensions = { enabled = true; };\n", &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ac.connection_type, AGENTCONF_GATEWAY);
	CU_ASSERT_STRING_EQUAL(ac.gateway_url, "https://gw.cloudsim.test:8443");
	snprintf(expect, sizeof(expect), "%s/ca.crt", dir);
	CU_ASSERT_STRING_EQUAL(ac.gateway_ca_file, expect);
	CU_ASSERT_STRING_EQUAL(ac.gateway_protocol, "h2");
	CU_ASSERT_STRING_EQUAL(ac.proxy_url, "http://proxy:3128");
	CU_ASSERT_EQUAL_FATAL(ac.nproxy_bypass, 2);
	CU_ASSERT_STRING_EQUAL(ac.proxy_bypass[1], "AAD");
	agentconf_clear(&ac);
}

static void
test_mistakes(void)
{
	static const struct {
		const char	*text;
		const char	*expect;
	} cases[] = {
		{ "connection = { type = \"gatway\"; };\n", ":1: 'type' is \"gatway\" (expected one of: \"direct\", \"gateway\")" },
		{ "\nconection = { type = \"direct\"; };\n", ":2: unknown key 'conection'" },
		{ "gateway = { url = 5; };\n", "'url' must be a string" },
		{ "proxy = \"http://x\";\n", "'proxy' must be a group" },
		{ "gateway = { protocol = \"h3\"; };\n", "'protocol' is \"h3\"" },
	};
	struct agentconf	ac;
	char			err[256];
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(load(cases[i].text, &ac, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "agent.conf"));
		if (strstr(err, cases[i].expect) == NULL)
			fprintf(stderr, "case %zu: got \"%s\"\n", i, err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].expect));
	}
}

static const struct unit_test tests[] = {
	{ "no file means the defaults", test_missing_file_is_defaults },
	{ "every key", test_every_key },
	{ "mistakes name file, line and expectation", test_mistakes },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc = unit_main("agentconf", tests);
	char	path[128];

	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	unlink(path);
	rmdir(dir);
	return rc;
}
