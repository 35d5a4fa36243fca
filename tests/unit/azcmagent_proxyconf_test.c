/* azcmagent_proxyconf_test.c -- what azcmagent reads from arcproxy.conf: defaults, listeners, access log, hosts, a broken file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxyconf.h"
#include "unit.h"

static char dir[64];

static int
load(const char *text, struct proxyconf *pc, char *err, size_t errlen)
{
	char	 path[128];
	FILE	*f;

	snprintf(dir, sizeof(dir), "/tmp/proxyconf_test.%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/arcproxy.conf", dir);
	unlink(path);
	if (text != NULL) {
		f = fopen(path, "w");
		fputs(text, f);
		fclose(f);
	}
	return proxyconf_load(dir, "/var/lib/arc", pc, err, errlen);
}

static void
test_defaults(void)
{
	struct proxyconf	pc;
	char			err[256];

	CU_ASSERT_EQUAL_FATAL(load(NULL, &pc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pc.listen, "127.0.0.1:40343");
	CU_ASSERT_STRING_EQUAL(pc.admin, "127.0.0.1:40344");
	CU_ASSERT_STRING_EQUAL(pc.access_log, "/var/lib/arc/arcproxy/arcproxy-access.log");
	CU_ASSERT_EQUAL(pc.nhosts, 0);
	/* A file that sets none of them is the defaults too. */
	CU_ASSERT_EQUAL_FATAL(load("workers = 2;\n", &pc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pc.listen, "127.0.0.1:40343");
}

static void
test_values(void)
{
	struct proxyconf	pc;
	char			err[256];

	CU_ASSERT_EQUAL_FATAL(load("listen = [ \"[::1]:5000\", \"127.0.0.1:5000\" ];\n"
	    "admin_listen = \"\";\naccess_log = \"logs/a.log\";\n"
	    "hosts = ( { name = \"gw.cloudsim.test\"; address = \"127.0.0.1\"; },\n"
	    "  { name = \"Other.test\"; address = \"::1\"; } );\n", &pc, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pc.listen, "[::1]:5000");
	CU_ASSERT_STRING_EQUAL(pc.admin, "");
	CU_ASSERT_STRING_EQUAL(pc.access_log, "/var/lib/arc/arcproxy/logs/a.log");
	CU_ASSERT_EQUAL(pc.nhosts, 2);
	CU_ASSERT_STRING_EQUAL(proxyconf_host(&pc, "gw.cloudsim.test"), "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(proxyconf_host(&pc, "other.TEST"), "::1");
	CU_ASSERT_PTR_NULL(proxyconf_host(&pc, "nope.test"));
	CU_ASSERT_EQUAL_FATAL(load("access_log = \"-\";\n", &pc, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pc.access_log, "");
	CU_ASSERT_EQUAL_FATAL(load("access_log = \"/x/y.log\";\n", &pc, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pc.access_log, "/x/y.log");
}

static void
test_broken_file(void)
{
	struct proxyconf	pc;
	char			err[256];

	CU_ASSERT_EQUAL(load("listen = [ \"127.0.0.1:5000\" ;\n", &pc, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "arcproxy.conf:1"));
	CU_ASSERT_STRING_EQUAL(pc.listen, "127.0.0.1:40343");	/* the defaults */
	CU_ASSERT_EQUAL(load("admin_listen = 5;\n", &pc, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(pc.admin, "127.0.0.1:40344");
}

static void
test_urls(void)
{
	char	url[64];

	CU_ASSERT_EQUAL(proxyconf_url("127.0.0.1:40343", url, sizeof(url)), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://127.0.0.1:40343");
	CU_ASSERT_EQUAL(proxyconf_url("0.0.0.0:8080", url, sizeof(url)), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://127.0.0.1:8080");
	CU_ASSERT_EQUAL(proxyconf_url("[::]:8080", url, sizeof(url)), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://[::1]:8080");
	CU_ASSERT_EQUAL(proxyconf_url("[::1]:8080", url, sizeof(url)), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://[::1]:8080");
	CU_ASSERT_EQUAL(proxyconf_url("nocolon", url, sizeof(url)), -1);
	CU_ASSERT_EQUAL(proxyconf_url("127.0.0.1:40343", url, 10), -1);
}

static const struct unit_test tests[] = {
	{ "defaults", test_defaults },
	{ "listen, admin, access log, hosts", test_values },
	{ "a broken file: file:line, defaults", test_broken_file },
	{ "listener URLs", test_urls },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc = unit_main("azcmagent_proxyconf", tests);
	char	cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] != '\0' && system(cmd) != 0)
		rc = 1;
	return rc;
}
