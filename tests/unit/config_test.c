/* config_test.c -- arcproxy.conf: the minimal file, defaults, every section, and bad files with their messages. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static char dir[64];

/* name in the test's config dir, made first, holds text. */
static void
write_conf(const char *name, const char *text)
{
	char	 path[128];
	FILE	*f;

	snprintf(dir, sizeof(dir), "/tmp/config_test.%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static struct config *
load(const char *text, char *err, size_t errlen)
{
	write_conf("arcproxy.conf", text);
	return config_load(dir, "/var/lib/arc-test", err, errlen);
}

static void
cleanup(void)
{
	char	path[128];

	snprintf(path, sizeof(path), "%s/arcproxy.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	unlink(path);
	rmdir(dir);
}

/* The patterns of cfg->proxy_bypass, joined by spaces. */
static const char *
bypass_hosts(const struct config *c, char *buf, size_t len)
{
	size_t	i, off = 0;

	buf[0] = '\0';
	for (i = 0; c->proxy_bypass != NULL &&
	    i < route_table_count(c->proxy_bypass) && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "",
		    route_rule_pattern(c->proxy_bypass, (int)i));
	return buf;
}

/* proxy.bypass's services become hosts: arcproxy.conf's list for a service
 * it names, Microsoft's table for the others; none without proxy.bypass. */
static void
test_proxy_bypass(void)
{
	char		 err[512], hosts[1024];
	struct config	*c;

	write_conf("agent.conf", "proxy = { url = \"http://127.0.0.1:3128\"; "
	    "bypass = [ \"ARM\", \"AAD\" ]; };\n");
	c = load("proxy_bypass_services = { ARM = [ \"management.example.test\", "
	    "\"*.arm.example.test:443\" ]; Arc = [ \"his.example.test\" ]; };\n",
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(bypass_hosts(c, hosts, sizeof(hosts)),
	    "management.example.test *.arm.example.test:443 login.windows.net "
	    "login.microsoftonline.com pas.windows.net");
	config_unref(c);
	write_conf("agent.conf", "proxy = { bypass = [ \"Arc\" ]; };\n");
	c = load("\n", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(bypass_hosts(c, hosts, sizeof(hosts)),
	    "his.arc.azure.com *.his.arc.azure.com guestconfiguration.azure.com "
	    "*.guestconfiguration.azure.com");
	config_unref(c);
	write_conf("agent.conf", "\n");
	c = load("proxy_bypass_services = { ARM = [ \"m.example.test\" ]; };\n",
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NULL(c->proxy_bypass);
	config_unref(c);
	cleanup();
}

static void
test_minimal_file(void)
{
	char			 err[512];
	struct config		*c = load("listen = [ \"127.0.0.1:41343\" ]; "
	    "admin_listen = \"127.0.0.1:41344\"; routes = ( { match = "
	    "\"127.0.0.1:18080\"; route = \"direct\"; } );\n", err, sizeof(err));
	struct route_decision	 d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->nlisten, 1);
	CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)&c->listen[0])->sin_port), 41343);
	CU_ASSERT_TRUE(c->has_admin);
	CU_ASSERT_EQUAL(c->workers, 1);
	CU_ASSERT_EQUAL(c->limits.max_head_bytes, 32768);
	CU_ASSERT_EQUAL(c->limits.connect_timeout_ms, 10000);
	CU_ASSERT_EQUAL(c->limits.buffer_budget_bytes, 64 << 20);
	CU_ASSERT_STRING_EQUAL(c->access_log, "/var/lib/arc-test/arcproxy/arcproxy-access.log");
	route_match(c->routes, "127.0.0.1", 18080, &d);
	CU_ASSERT_EQUAL(d.kind, ROUTE_DIRECT);
	CU_ASSERT_TRUE(route_is_explicit(c->routes, d.rule));
	route_match(c->routes, "example.com", 443, &d);
	CU_ASSERT_EQUAL(d.kind, ROUTE_DIRECT);	/* the default */
	CU_ASSERT_EQUAL(d.rule, -1);
	config_unref(c);
	cleanup();
}

static void
test_defaults_and_shipped_file(void)
{
	char		 err[512];
	struct config	*c = config_load("conf", "/tmp", err, sizeof(err));

	/* The documented file in conf/ is valid and holds the defaults. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->nlisten, 2);
	CU_ASSERT_EQUAL(c->listen[1].ss_family, AF_INET6);
	CU_ASSERT_EQUAL(c->limits.max_connections, 8192);
	CU_ASSERT_EQUAL(c->limits.buffer_budget_bytes, 64 << 20);
	config_unref(c);
}

static void
test_full_file(void)
{
	char			 err[512];
	struct config		*c = load(
	    "workers = 2;\nclients = [ \"10.0.0.0/8\", \"2001:db8::/32\" ];\n"
	    "default_route = \"deny\";\nroutes = ( { match = \"*.cloudsim.test:443\"; route = \"direct\"; } );\n"
	    "hosts = ( { name = \"Origin.Test\"; address = \"127.0.0.1\"; },\n"
	    "          { name = \"v6.test\"; address = \"::1\"; } );\n"
	    "access_log = \"-\";\nlimits = { head_timeout_ms = 500; max_connections = 3;\n"
	    "  buffer_budget_bytes = 1048576; };\n",
	    err, sizeof(err));
	struct sockaddr_in	 sin;
	const struct resolve_host *h;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->workers, 2);
	CU_ASSERT_EQUAL(c->limits.head_timeout_ms, 500);
	CU_ASSERT_EQUAL(c->limits.max_connections, 3);
	CU_ASSERT_EQUAL(c->limits.buffer_budget_bytes, 1048576);
	CU_ASSERT_STRING_EQUAL(c->access_log, "-");
	CU_ASSERT_PTR_NOT_NULL(h = resolve_host_lookup(c->hosts, c->nhosts, "origin.test"));
	CU_ASSERT_PTR_NOT_NULL(h = resolve_host_lookup(c->hosts, c->nhosts, "v6.test"));
	CU_ASSERT_PTR_NULL(resolve_host_lookup(c->hosts, c->nhosts, "other.test"));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "10.9.8.7", &sin.sin_addr);
	CU_ASSERT_TRUE(config_client_allowed(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "11.9.8.7", &sin.sin_addr);
	CU_ASSERT_FALSE(config_client_allowed(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	CU_ASSERT_TRUE(config_client_allowed(c, (struct sockaddr *)&sin));
	config_unref(c);
	cleanup();
}

static void
test_bad_files(void)
{
	static const struct {
		const char	*text;
		const char	*expect;
	} cases[] = {
		{ "listen = [ \"localhost:80\" ];\n", ":1: listen: \"localhost:80\" is not an address" },
		{ "workers = 0;\n", ":1: 'workers' must be between 1 and 64" },
		{ "\nroutes = ( { match = \"a.com\"; route = \"gateway-ish\"; } );\n", ":2: 'route' is \"gateway-ish\"" },
		{ "routes = ( { match = \"a.*.com\"; route = \"direct\"; } );\n", "pattern \"a.*.com\"" },
		{ "routes = ( { route = \"direct\"; } );\n", "a route needs match" },
		{ "limits = { head_timeout = 5; };\n", "unknown key 'head_timeout'" },
		{ "limits = { buffer_budget_bytes = 1000; };\n", "'buffer_budget_bytes' must be between 65536" },
		{ "hosts = ( { name = \"x\"; address = \"nope\"; } );\n", "address \"nope\" is not an IPv4" },
		{ "clients = [ \"10.0.0.0/33\" ];\n", "clients: \"10.0.0.0/33\"" },
		{ "lisen = [ ];\n", "unknown key 'lisen'" },
		{ "listen = [ \"127.0.0.1:1\" \n", ":2:" },
		{ "proxy_bypass_services = [ ];\n", "'proxy_bypass_services' must be a group" },
		{ "proxy_bypass_services = { Storage = [ \"x.test\" ]; };\n",
		    ":1: proxy_bypass_services: \"Storage\" is not one of AAD" },
		{ "proxy_bypass_services = {\n ARM = [ \"a.*.test\" ]; };\n",
		    ":2: proxy_bypass_services.ARM: " },
		{ "proxy_bypass_services = { AMA = \"x.test\"; };\n", "must be a list of strings" },
	};
	char		 err[512];
	struct config	*c;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		c = load(cases[i].text, err, sizeof(err));
		CU_ASSERT_PTR_NULL(c);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "arcproxy.conf"));
		if (strstr(err, cases[i].expect) == NULL)
			fprintf(stderr, "case %zu: got \"%s\"\n", i, err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].expect));
		config_unref(c);
	}
	cleanup();
}

static const struct unit_test tests[] = {
	{ "the minimal file from the issue", test_minimal_file },
	{ "conf/arcproxy.conf is valid", test_defaults_and_shipped_file },
	{ "every section", test_full_file },
	{ "bad files name file, line and expectation", test_bad_files },
	{ "proxy.bypass: its services' hosts", test_proxy_bypass },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("config", tests);
}
