/* cloudsim_simconf_test.c -- cloudsim.conf: defaults, the gateway lists, the control plane, the host table, and errors that name the line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simconf.h"
#include "unit.h"

static char	dir[64];		/* the test's temporary directory */

static struct simconf *
load(const char *text, char *err, size_t errlen)
{
	char	 path[PATH_MAX];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/cloudsim.conf", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return simconf_load(dir, err, errlen);
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void
test_defaults(void)
{
	struct simconf	*cfg;
	char		 err[512], want[PATH_MAX];

	cfg = load("# nothing set\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	snprintf(want, sizeof(want), "%s/pki", dir);
	CU_ASSERT_STRING_EQUAL(cfg->pki_dir, want);
	CU_ASSERT_EQUAL(port_of(&cfg->gateway_listen), 8443);
	CU_ASSERT_TRUE(cfg->has_echo);
	CU_ASSERT_EQUAL(port_of(&cfg->echo_listen), 8444);
	CU_ASSERT_EQUAL(cfg->refresh_seconds, 300);
	CU_ASSERT_EQUAL(cfg->endpoints.count, 1);
	CU_ASSERT_EQUAL(cfg->bypass.count, 0);
	CU_ASSERT_TRUE(simconf_listed(&cfg->endpoints, "echo.cloudsim.test", 443));
	CU_ASSERT_TRUE(simconf_listed(&cfg->anonymous, "management.cloudsim.test", 443));
	CU_ASSERT_EQUAL(cfg->nhosts, 0);
	CU_ASSERT_EQUAL(cfg->alpn_len, 12);
	CU_ASSERT_EQUAL(memcmp(cfg->alpn, "\x02h2\x08http/1.1", 12), 0);
	CU_ASSERT_TRUE(cfg->serves_h2 && cfg->serves_http1);
	CU_ASSERT_EQUAL(cfg->max_streams, 1000);
	CU_ASSERT_TRUE(cfg->control.has_listen && cfg->control.has_operator);
	CU_ASSERT_EQUAL(port_of(&cfg->control.listen), 8446);
	CU_ASSERT_EQUAL(port_of(&cfg->control.operator_listen), 8447);
	CU_ASSERT_EQUAL(cfg->control.ntokens, 0);
	CU_ASSERT_EQUAL(cfg->control.heartbeat_interval_seconds, 300);
	CU_ASSERT_EQUAL(cfg->control.cert_lifetime_seconds, 7776000);
	CU_ASSERT_EQUAL(cfg->control.token_lifetime_seconds, 86400);
	CU_ASSERT_EQUAL(strlen(cfg->control.subscription_id), 36);
	CU_ASSERT_EQUAL(strlen(cfg->control.tenant_id), 36);
	CU_ASSERT_STRING_EQUAL(cfg->control.resource_group, "cloudsim");
	CU_ASSERT_STRING_EQUAL(cfg->control.location, "cloudsim");
	simconf_free(cfg);
}

static void
test_control(void)
{
	struct simconf	*cfg;
	char		 err[512];

	cfg = load("control = {\n"
	    "  listen = \"[::1]:9446\";\n"
	    "  operator_listen = \"127.0.0.2:9447\";\n"
	    "  onboarding_tokens = [ \"first-token\", \"second-token\" ];\n"
	    "  subscription_id = \"0F0E0D0C-0B0A-4909-8807-060504030201\";\n"
	    "  resource_group = \"Arc-Servers_(test).1\";\n"
	    "  tenant_id = \"00000000-0000-4000-8000-000000000001\";\n"
	    "  location = \"westeurope\";\n"
	    "  heartbeat_interval_seconds = 5;\n"
	    "  cert_lifetime_seconds = 60;\n"
	    "  token_lifetime_seconds = 600;\n"
	    "};\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(cfg->control.listen.ss_family, AF_INET6);
	CU_ASSERT_EQUAL(port_of(&cfg->control.operator_listen), 9447);
	CU_ASSERT_EQUAL_FATAL(cfg->control.ntokens, 2);
	CU_ASSERT_STRING_EQUAL(cfg->control.onboarding_tokens[1], "second-token");
	CU_ASSERT_STRING_EQUAL(cfg->control.subscription_id,
	    "0F0E0D0C-0B0A-4909-8807-060504030201");
	CU_ASSERT_STRING_EQUAL(cfg->control.resource_group, "Arc-Servers_(test).1");
	CU_ASSERT_STRING_EQUAL(cfg->control.location, "westeurope");
	CU_ASSERT_EQUAL(cfg->control.heartbeat_interval_seconds, 5);
	CU_ASSERT_EQUAL(cfg->control.cert_lifetime_seconds, 60);
	CU_ASSERT_EQUAL(cfg->control.token_lifetime_seconds, 600);
	simconf_free(cfg);
	cfg = load("control = { listen = \"\"; operator_listen = \"[::1]:1\"; };\n",
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_FALSE(cfg->control.has_listen);
	CU_ASSERT_TRUE(cfg->control.has_operator);
	simconf_free(cfg);
}

static void
test_full(void)
{
	struct simconf		*cfg;
	const struct simconf_host *h;
	char			 err[512];

	cfg = load("pki_dir = \"/etc/cloudsim/pki\";\n"
	    "gateway = {\n"
	    "  listen = \"[::1]:9443\";\n"
	    "  endpoints = [ \"*.cloudsim.test:443\", \"*.obo.cloudsim.test:8084\", \"exact.test\" ];\n"
	    "  bypass = [ \"bypass.cloudsim.test:443\" ];\n"
	    "  anonymous = [ ];\n"
	    "  refresh_seconds = 60;\n"
	    "  max_head_bytes = 4096;\n"
	    "  protocols = [ \"http/1.1\" ];\n"
	    "  max_streams = 50;\n"
	    "};\n"
	    "echo = { listen = \"\"; };\n"
	    "hosts = ( { name = \"Echo.CloudSim.Test.\"; target = \"127.0.0.1:8444\"; },\n"
	    "          { name = \"v6.cloudsim.test\"; target = \"[::1]:9000\"; } );\n",
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_STRING_EQUAL(cfg->pki_dir, "/etc/cloudsim/pki");
	CU_ASSERT_EQUAL(cfg->gateway_listen.ss_family, AF_INET6);
	CU_ASSERT_FALSE(cfg->has_echo);
	CU_ASSERT_EQUAL(cfg->refresh_seconds, 60);
	CU_ASSERT_EQUAL(cfg->max_head_bytes, 4096);
	CU_ASSERT_EQUAL(cfg->alpn_len, 9);
	CU_ASSERT_EQUAL(memcmp(cfg->alpn, "\x08http/1.1", 9), 0);
	CU_ASSERT_TRUE(!cfg->serves_h2 && cfg->serves_http1);
	CU_ASSERT_EQUAL(cfg->max_streams, 50);
	CU_ASSERT_EQUAL(cfg->endpoints.count, 3);
	CU_ASSERT_STRING_EQUAL(cfg->endpoints.items[1], "*.obo.cloudsim.test:8084");
	CU_ASSERT_TRUE(simconf_listed(&cfg->endpoints, "a.obo.cloudsim.test", 8084));
	CU_ASSERT_FALSE(simconf_listed(&cfg->endpoints, "a.obo.cloudsim.test", 80));
	CU_ASSERT_FALSE(simconf_listed(&cfg->endpoints, "cloudsim.test", 443));
	CU_ASSERT_TRUE(simconf_listed(&cfg->endpoints, "exact.test", 1234));
	CU_ASSERT_FALSE(simconf_listed(&cfg->anonymous, "management.cloudsim.test", 443));
	CU_ASSERT_EQUAL(cfg->nhosts, 2);
	h = simconf_host_lookup(cfg, "echo.cloudsim.test");
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(port_of(&h->addr), 8444);
	CU_ASSERT_PTR_NULL(simconf_host_lookup(cfg, "other.cloudsim.test"));
	simconf_free(cfg);
}

/* Each broken file fails with "cloudsim.conf:LINE:" and the expectation. */
static void
test_errors(void)
{
	static const struct {
		const char	*text;
		const char	*where;		/* ":line:" */
		const char	*what;		/* part of the message */
	} cases[] = {
		{ "gateway = {\n  listen = \"nowhere\";\n};\n", ":2:", "not an address" },
		{ "gateway = {\n  endpoints = [ \"ok.test\",\n  \"*.x.test:0\" ];\n};\n",
		  ":3:", "port" },
		{ "\n\ngateway = { refresh_seconds = 0; };\n", ":3:", "between" },
		{ "gatway = { };\n", ":1:", "unknown key" },
		{ "gateway = { lisen = \"127.0.0.1:1\"; };\n", ":1:", "unknown key" },
		{ "hosts = (\n { name = \"a.test\"; }\n);\n", ":2:", "target" },
		{ "hosts = (\n { name = \"a.test\"; target = \"127.0.0.1\"; }\n);\n",
		  ":2:", "address and port" },
		{ "hosts = ( { name = \"*.test\"; target = \"127.0.0.1:1\"; } );\n",
		  ":1:", "not a host name" },
		{ "hosts = ( { name = \"a.test\"; target = \"127.0.0.1:1\"; },\n"
		  " { name = \"A.test\"; target = \"127.0.0.1:2\"; } );\n", ":2:", "twice" },
		{ "pki_dir = 7;\n", ":1:", "string" },
		{ "gateway = {\n listen = ;\n};\n", ":2:", "syntax" },
		{ "gateway = {\n protocols = [ \"h2\",\n \"spdy/3\" ];\n};\n", ":3:",
		  "not one of" },
		{ "gateway = {\n protocols = [ \"h2\", \"h2\" ];\n};\n", ":2:", "twice" },
		{ "gateway = {\n protocols = [ ];\n};\n", ":2:", "at least one" },
		{ "gateway = { max_streams = 0; };\n", ":1:", "between" },
		{ "control = {\n operator_listen = \"0.0.0.0:8447\";\n};\n", ":2:",
		  "loopback only" },
		{ "control = {\n operator_listen = \"[::]:8447\";\n};\n", ":2:",
		  "loopback only" },
		{ "control = {\n\n operator_listen = \"10.1.2.3:8447\";\n};\n", ":3:",
		  "loopback only" },
		{ "control = {\n listen = \"8446\";\n};\n", ":2:", "not an address" },
		{ "control = {\n subscription_id = \"sub-1\";\n};\n", ":2:", "UUID" },
		{ "control = {\n tenant_id = \"00000000-0000-4000-8000-00000000000g\";\n};\n",
		  ":2:", "UUID" },
		{ "control = {\n resource_group = \"a/b\";\n};\n", ":2:",
		  "resource group" },
		{ "control = {\n location = \"west europe\";\n};\n", ":2:", "location" },
		{ "control = {\n onboarding_tokens = [ \"long-enough\",\n \"short\" ];\n};\n",
		  ":3:", "8 to 256" },
		{ "control = {\n onboarding_tokens = \"not-a-list\";\n};\n", ":2:", "list" },
		{ "control = {\n heartbeat_interval_seconds = 0;\n};\n", ":2:", "between" },
		{ "control = {\n cert_lifetime_seconds = 5;\n};\n", ":2:", "between" },
		{ "control = {\n token_lifetime_seconds = 1000000000;\n};\n", ":2:",
		  "between" },
		{ "control = {\n hearbeat_interval_seconds = 5;\n};\n", ":2:",
		  "unknown key" },
		{ "control = 5;\n", ":1:", "group" },
	};
	struct simconf	*cfg;
	char		 err[512];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = load(cases[i].text, err, sizeof(err));
		CU_ASSERT_PTR_NULL(cfg);
		simconf_free(cfg);
		if (strstr(err, "cloudsim.conf") == NULL ||
		    strstr(err, cases[i].where) == NULL ||
		    strstr(err, cases[i].what) == NULL) {
			fprintf(stderr, "case %zu: %s\n", i, err);
			CU_FAIL("error does not name file, line and expectation");
		}
	}
	snprintf(err, sizeof(err), "%s/cloudsim.conf", dir);
	unlink(err);
	CU_ASSERT_PTR_NULL(simconf_load(dir, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot read"));
}

static void
test_addr(void)
{
	struct sockaddr_storage	ss;
	int			len;

	CU_ASSERT_EQUAL(simconf_parse_addr("127.0.0.1:8443", &ss, &len), 0);
	CU_ASSERT_EQUAL(port_of(&ss), 8443);
	CU_ASSERT_EQUAL(simconf_parse_addr("[::1]:1", &ss, &len), 0);
	CU_ASSERT_EQUAL(simconf_parse_addr("127.0.0.1", &ss, &len), -1);
	CU_ASSERT_EQUAL(simconf_parse_addr("127.0.0.1:0", &ss, &len), -1);
	CU_ASSERT_EQUAL(simconf_parse_addr("::1", &ss, &len), -1);
	CU_ASSERT_EQUAL(simconf_parse_addr("example.com:443", &ss, &len), -1);
}

static void
test_packages(void)
{
	struct simconf	*cfg;
	char		 err[512];

	cfg = load("", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT(cfg->packages.has_listen);
	CU_ASSERT_EQUAL(port_of(&cfg->packages.listen), 8448);
	CU_ASSERT_PTR_NULL(cfg->packages.dir);
	simconf_free(cfg);
	cfg = load("packages = { listen = \"127.0.0.1:9448\"; dir = \"/srv/pkgs\"; };\n",
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL(port_of(&cfg->packages.listen), 9448);
	CU_ASSERT_STRING_EQUAL(cfg->packages.dir, "/srv/pkgs");
	simconf_free(cfg);
	cfg = load("packages = { listen = \"\"; };\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT(!cfg->packages.has_listen);
	simconf_free(cfg);
	CU_ASSERT_PTR_NULL(load("\npackages = {\n dir = \"relative\"; };\n", err,
	    sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "absolute"));
	CU_ASSERT_PTR_NULL(load("packages = { url = \"x\"; };\n", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown key"));
}

static const struct unit_test tests[] = {
	{ "defaults", test_defaults },
	{ "the package store", test_packages },
	{ "every key", test_full },
	{ "the control plane", test_control },
	{ "errors name file and line", test_errors },
	{ "addresses", test_addr },
	{ NULL, NULL }
};

int
main(void)
{
	char	path[PATH_MAX];
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/cloudsim-conf-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 2;
	rc = unit_main("cloudsim_simconf", tests);
	snprintf(path, sizeof(path), "%s/cloudsim.conf", dir);
	unlink(path);
	rmdir(dir);
	return rc;
}
