/* azcmagent_proxyinfo_test.c -- where azcmagent finds arcproxy, by arcproxy's own loader: defaults, listeners, access log, hosts, a broken file. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxyinfo.h"
#include "unit.h"

static char dir[64];

static int
load(const char *text, struct proxyinfo *pi, char *err, size_t errlen)
{
	char	 path[128];
	FILE	*f;

	snprintf(dir, sizeof(dir), "/tmp/proxyinfo_test.%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/arcproxy.conf", dir);
	unlink(path);
	if (text != NULL) {
		f = fopen(path, "w");
		fputs(text, f);
		fclose(f);
	}
	return proxyinfo_load(dir, "/var/lib/arc", pi, err, errlen);
}

static void
test_defaults(void)
{
	struct proxyinfo	pi;
	char			err[256];

	/* No arcproxy.conf: arcproxy would not start; the defaults, and why. */
	CU_ASSERT_EQUAL(load(NULL, &pi, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "arcproxy.conf"));
	CU_ASSERT_STRING_EQUAL(pi.proxy_url, "http://127.0.0.1:40343");
	CU_ASSERT_STRING_EQUAL(pi.admin_url, "http://127.0.0.1:40344");
	CU_ASSERT_STRING_EQUAL(pi.access_log,
	    "/var/lib/arc/arcproxy/arcproxy-access.log");
	proxyinfo_clear(&pi);
	/* A file that sets none of them: arcproxy's own defaults. */
	CU_ASSERT_EQUAL_FATAL(load("workers = 2;\n", &pi, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pi.proxy_url, "http://127.0.0.1:40343");
	CU_ASSERT_STRING_EQUAL(pi.admin_url, "http://127.0.0.1:40344");
	CU_ASSERT_STRING_EQUAL(pi.access_log,
	    "/var/lib/arc/arcproxy/arcproxy-access.log");
	proxyinfo_clear(&pi);
}

static void
test_values(void)
{
	struct proxyinfo	pi;
	char			err[256], buf[64];

	CU_ASSERT_EQUAL_FATAL(load("listen = [ \"[::1]:5000\", \"127.0.0.1:5000\" ];\n"
	    "admin_listen = \"\";\naccess_log = \"logs/a.log\";\n"
	    "hosts = ( { name = \"gw.cloudsim.test\"; address = \"127.0.0.1\"; },\n"
	    "  { name = \"Other.test\"; address = \"::1\"; } );\n", &pi, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pi.proxy_url, "http://[::1]:5000");
	CU_ASSERT_STRING_EQUAL(pi.admin_url, "");
	CU_ASSERT_STRING_EQUAL(pi.access_log, "/var/lib/arc/arcproxy/logs/a.log");
	CU_ASSERT_STRING_EQUAL(proxyinfo_host(&pi, "gw.cloudsim.test", buf,
	    sizeof(buf)), "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(proxyinfo_host(&pi, "other.TEST", buf,
	    sizeof(buf)), "::1");
	CU_ASSERT_PTR_NULL(proxyinfo_host(&pi, "nope.test", buf, sizeof(buf)));
	proxyinfo_clear(&pi);
	CU_ASSERT_EQUAL_FATAL(load("access_log = \"-\";\n", &pi, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pi.access_log, "");
	proxyinfo_clear(&pi);
	CU_ASSERT_EQUAL_FATAL(load("access_log = \"/x/y.log\";\n"
	    "admin_listen = \"[::1]:7000\";\n", &pi, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pi.access_log, "/x/y.log");
	CU_ASSERT_STRING_EQUAL(pi.admin_url, "http://[::1]:7000");
	proxyinfo_clear(&pi);
}

static void
test_broken_file(void)
{
	struct proxyinfo	pi;
	char			err[256], buf[64];

	CU_ASSERT_EQUAL(load("listen = [ \"127.0.0.1:5000\" ;\n", &pi, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "arcproxy.conf:1"));
	CU_ASSERT_STRING_EQUAL(pi.proxy_url, "http://127.0.0.1:40343");
	CU_ASSERT_PTR_NULL(proxyinfo_host(&pi, "gw.cloudsim.test", buf,
	    sizeof(buf)));
	proxyinfo_clear(&pi);
	/* What arcproxy refuses, azcmagent does not half-read. */
	CU_ASSERT_EQUAL(load("admin_listen = \"127.0.0.1:6000\";\nbogus = 1;\n",
	    &pi, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(pi.admin_url, "http://127.0.0.1:40344");
	proxyinfo_clear(&pi);
}

static void
test_urls(void)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	char			 url[64];

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(8080);
	CU_ASSERT_EQUAL(proxyinfo_url(&ss, sizeof(*sin), url, sizeof(url)), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://127.0.0.1:8080");	/* 0.0.0.0 */
	inet_pton(AF_INET, "10.1.2.3", &sin->sin_addr);
	CU_ASSERT_EQUAL(proxyinfo_url(&ss, sizeof(*sin), url, sizeof(url)), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://10.1.2.3:8080");
	CU_ASSERT_EQUAL(proxyinfo_url(&ss, sizeof(*sin), url, 10), -1);
	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(8080);
	CU_ASSERT_EQUAL(proxyinfo_url(&ss, sizeof(*sin6), url, sizeof(url)), 0);
	CU_ASSERT_STRING_EQUAL(url, "http://[::1]:8080");	/* [::] */
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
	int	rc = unit_main("azcmagent_proxyinfo", tests);
	char	cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] != '\0' && system(cmd) != 0)
		rc = 1;
	return rc;
}
