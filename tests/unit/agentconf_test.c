/* agentconf_test.c -- agent.conf: defaults without a file, every key, mistakes named by file and line, set/get/save. */
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
	CU_ASSERT_EQUAL(ac.gateway_protocol, AGENTCONF_PROTO_AUTO);
	CU_ASSERT_TRUE(ac.extensions_enabled);
	CU_ASSERT_TRUE(ac.guestconfiguration_enabled);
	CU_ASSERT_EQUAL(ac.config_mode, AGENTCONF_MODE_FULL);
	agentconf_clear(&ac);
}

static void
test_every_key(void)
{
	struct agentconf	ac;
	char			err[256], expect[128];

	CU_ASSERT_EQUAL_FATAL(load("connection = { type = \"gateway\"; };\n"
	    "gateway = { url = \"https://gw.cloudsim.test:8443\"; ca_file = \"ca.crt\"; protocol = \"h2\"; };\n"
	    "proxy = { url = \"http://proxy:3128\"; bypass = [ \"Arc\", \"AAD\" ]; };\n"
	    "extensions = { enabled = false; allowlist = [ \"Microsoft.Azure.Monitor/AzureMonitorLinuxAgent\" ]; };\n"
	    "incomingconnections = { ports = [ \"22\", \"8000-8080\" ]; };\n"
	    "config = { mode = \"monitor\"; };\n", &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ac.connection_type, AGENTCONF_GATEWAY);
	CU_ASSERT_STRING_EQUAL(ac.gateway_url, "https://gw.cloudsim.test:8443");
	snprintf(expect, sizeof(expect), "%s/ca.crt", dir);
	CU_ASSERT_STRING_EQUAL(ac.gateway_ca_file, expect);
	CU_ASSERT_EQUAL(ac.gateway_protocol, AGENTCONF_PROTO_H2);
	CU_ASSERT_STRING_EQUAL(ac.proxy_url, "http://proxy:3128");
	CU_ASSERT_EQUAL_FATAL(ac.proxy_bypass.n, 2);
	CU_ASSERT_STRING_EQUAL(ac.proxy_bypass.items[1], "AAD");
	CU_ASSERT_FALSE(ac.extensions_enabled);
	CU_ASSERT_EQUAL(ac.extensions_allowlist.n, 1);
	CU_ASSERT_EQUAL(ac.incomingconnections_ports.n, 2);
	CU_ASSERT_EQUAL(ac.config_mode, AGENTCONF_MODE_MONITOR);
	agentconf_clear(&ac);
}

static void
test_mistakes(void)
{
	static const struct {
		const char	*text;
		const char	*expect;
	} cases[] = {
		{ "connection = { type = \"gatway\"; };\n", ":1: connection.type: \"gatway\" is not one of: direct, gateway" },
		{ "\nconection = { type = \"direct\"; };\n", ":2: unknown key 'conection.type'" },
		{ "gateway = { url = 5; };\n", "gateway.url must be a string" },
		{ "proxy = \"http://x\";\n", "'proxy' must be a group" },
		{ "gateway = { protocol = \"h3\"; };\n", "\"h3\" is not one of: auto, h2, http/1.1" },
		{ "gateway = { url = \"http://gw\"; };\n", "not a URL like https://host[:port]" },
		{ "extensions = { blocklist = [ \"NoSlash\" ]; };\n", "\"NoSlash\" is not Publisher/Type" },
		{ "incomingconnections = { ports = [ \"70000\" ]; };\n", "\"70000\" is not a port" },
		{ "extensions = { enabled = \"yes\"; };\n", "extensions.enabled must be true or false" },
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

static void
test_set_get_save(void)
{
	struct agentconf		 ac, back;
	const struct agentconf_key	*k;
	char				 err[256], *v;

	CU_ASSERT_EQUAL_FATAL(load(NULL, &ac, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(agentconf_key_find("connection.typo"));
	k = agentconf_key_find("connection.type");
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, "gatway", dir, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "direct, gateway"));
	/* The Azure agent's name for direct. */
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, "default", dir, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ac.connection_type, AGENTCONF_DIRECT);
	v = agentconf_get(&ac, k);
	CU_ASSERT_STRING_EQUAL(v, "direct");
	free(v);
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, "gateway", dir, err, sizeof(err)), 0);
	k = agentconf_key_find("extensions.blocklist");
	CU_ASSERT_EQUAL(agentconf_list_add(&ac, k, "Pub/One", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_list_add(&ac, k, "Pub/Two", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_list_add(&ac, k, "Pub/One", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_list_remove(&ac, k, "Pub/Two", err, sizeof(err)), 0);
	v = agentconf_get(&ac, k);
	CU_ASSERT_STRING_EQUAL(v, "Pub/One");
	free(v);
	k = agentconf_key_find("gateway.url");
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, "https://gw.test:8443", dir, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(agentconf_save(dir, &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(agentconf_load(dir, &back, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(back.connection_type, AGENTCONF_GATEWAY);
	CU_ASSERT_STRING_EQUAL(back.gateway_url, "https://gw.test:8443");
	CU_ASSERT_EQUAL_FATAL(back.extensions_blocklist.n, 1);
	CU_ASSERT_STRING_EQUAL(back.extensions_blocklist.items[0], "Pub/One");
	agentconf_reset(&back, agentconf_key_find("connection.type"));
	CU_ASSERT_EQUAL(back.connection_type, AGENTCONF_DIRECT);
	agentconf_clear(&ac);
	agentconf_clear(&back);
}

/* extmgr matches Publisher/Type ignoring case (policy.c): so do --add and
 * --remove, or a revocation in another case removes nothing. */
static void
test_list_entries_ignore_case(void)
{
	const struct agentconf_key	*k = agentconf_key_find("extensions.allowlist");
	struct agentconf		 ac;
	char				 err[256], *v;

	CU_ASSERT_EQUAL_FATAL(load(NULL, &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_list_add(&ac, k, "contoso.samples/hello", err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_list_add(&ac, k, "Contoso.Samples/Hello", err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(ac.extensions_allowlist.n, 1);
	CU_ASSERT_EQUAL(agentconf_list_add(&ac, k, "Other/One", err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_list_remove(&ac, k, "CONTOSO.samples/HELLO", err,
	    sizeof(err)), 0);
	v = agentconf_get(&ac, k);
	CU_ASSERT_STRING_EQUAL(v, "Other/One");
	free(v);
	agentconf_clear(&ac);
}

/* "A/B , C/D" as an operator types it: entries trimmed on both sides, for
 * set and for --add/--remove; a repeated entry stored once, and what
 * agentconf_get gives back is what is stored. */
static void
test_list_text(void)
{
	const struct agentconf_key	*k = agentconf_key_find("extensions.allowlist");
	struct agentconf		 ac, back;
	char				 err[256], *v;

	CU_ASSERT_EQUAL_FATAL(load(NULL, &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, " A/B , C/D\t", dir, err,
	    sizeof(err)), 0);
	v = agentconf_get(&ac, k);
	CU_ASSERT_STRING_EQUAL(v, "A/B,C/D");
	free(v);
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, "A/B,a/b,A/B", dir, err,
	    sizeof(err)), 0);
	v = agentconf_get(&ac, k);
	CU_ASSERT_STRING_EQUAL(v, "A/B");
	free(v);
	CU_ASSERT_EQUAL_FATAL(agentconf_save(dir, &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(agentconf_load(dir, &back, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(back.extensions_allowlist.n, ac.extensions_allowlist.n);
	agentconf_clear(&back);
	CU_ASSERT_EQUAL(agentconf_list_edit(&ac, k, "E/F , G/H ", 1, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_list_edit(&ac, k, " A/B ,E/F", 0, err,
	    sizeof(err)), 0);
	v = agentconf_get(&ac, k);
	CU_ASSERT_STRING_EQUAL(v, "G/H");
	free(v);
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, "A/B, ,C/D", dir, err,
	    sizeof(err)), -1);
	CU_ASSERT_EQUAL(agentconf_list_edit(&ac, agentconf_key_find("proxy.url"),
	    "x", 1, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "proxy.url is not a list"));
	agentconf_clear(&ac);
}

/*
 * A relative --config-dir (run/etc): a stored path means one file, whatever
 * loads it.  Set, it is stored absolute; an older file's relative value is
 * still taken relative to the config dir, and is not prefixed again.
 */
static void
test_ca_file_relative_config_dir(void)
{
	const struct agentconf_key	*k = agentconf_key_find("gateway.ca_file");
	struct agentconf		 ac, back;
	char				 err[256], cwd[64], rel[64], want[256];

	CU_ASSERT_EQUAL_FATAL(load(NULL, &ac, err, sizeof(err)), 0);
	agentconf_clear(&ac);
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	CU_ASSERT_EQUAL_FATAL(chdir("/tmp"), 0);
	snprintf(rel, sizeof(rel), "%s", dir + strlen("/tmp/"));
	snprintf(want, sizeof(want), "%s/ca.crt", dir);
	CU_ASSERT_EQUAL_FATAL(agentconf_load(rel, &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(agentconf_set(&ac, k, "ca.crt", rel, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(ac.gateway_ca_file, want);
	CU_ASSERT_EQUAL_FATAL(agentconf_save(rel, &ac, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(agentconf_load(rel, &back, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(back.gateway_ca_file, want);
	agentconf_clear(&back);
	agentconf_clear(&ac);
	/* An older agent.conf with a relative value, read from elsewhere. */
	CU_ASSERT_EQUAL_FATAL(load("gateway = { ca_file = \"ca.crt\"; };\n", &ac,
	    err, sizeof(err)), 0);
	agentconf_clear(&ac);
	CU_ASSERT_EQUAL_FATAL(agentconf_load(rel, &ac, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(ac.gateway_ca_file, want);
	agentconf_clear(&ac);
	CU_ASSERT_EQUAL(chdir(cwd), 0);
}

/* The gateway's CA is read by root: a file only root can change. */
static void
test_check_ca_file(void)
{
	struct agentconf	 ac;
	char			 err[512], ca[128], conf[512];
	FILE			*f;

	if (geteuid() != 0)
		return;
	CU_ASSERT_EQUAL_FATAL(load(NULL, &ac, err, sizeof(err)), 0);
	agentconf_clear(&ac);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(ca, "w"));
	fclose(f);
	snprintf(conf, sizeof(conf), "connection = { type = \"gateway\"; };\n"
	    "gateway = { url = \"https://gw.test\"; ca_file = \"%s\"; };\n", ca);
	CU_ASSERT_EQUAL_FATAL(load(conf, &ac, err, sizeof(err)), 0);
	err[0] = '\0';
	CU_ASSERT_EQUAL(agentconf_check(&ac, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(chown(ca, 65534, 65534), 0);
	CU_ASSERT_EQUAL(agentconf_check(&ac, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "gateway.ca_file: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ca.crt: owned by uid 65534, not "
	    "root: refused"));
	unlink(ca);
	CU_ASSERT_EQUAL(agentconf_check(&ac, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file or directory"));
	agentconf_clear(&ac);
}

static const struct unit_test tests[] = {
	{ "no file means the defaults", test_missing_file_is_defaults },
	{ "every key", test_every_key },
	{ "mistakes name file, line and expectation", test_mistakes },
	{ "set, lists, save and load back", test_set_get_save },
	{ "the gateway's CA: only root may change it", test_check_ca_file },
	{ "gateway.ca_file under a relative config dir", test_ca_file_relative_config_dir },
	{ "list entries compared ignoring case", test_list_entries_ignore_case },
	{ "list text: trimmed, repeats stored once", test_list_text },
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
