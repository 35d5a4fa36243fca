/* himds_settings_test.c -- himds.conf: the defaults without a file, every key, and bad files named by file and line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "settings.h"
#include "unit.h"

static char dir[64];
static char path[128];

static void
write_conf(const char *text)
{
	FILE	*f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static void
test_defaults_without_a_file(void)
{
	struct himds_settings	s;
	char			err[512];

	unlink(path);
	CU_ASSERT_EQUAL_FATAL(himds_settings_load(dir, "/run/arc", &s, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(s.found, 0);
	CU_ASSERT_EQUAL(s.nlisten, 2);
	CU_ASSERT_EQUAL(s.listen[0].ss_family, AF_INET);
	CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)&s.listen[0])->sin_port), 40342);
	CU_ASSERT_EQUAL(s.listen[1].ss_family, AF_INET6);
	CU_ASSERT_STRING_EQUAL(s.proxy, "http://127.0.0.1:40343");
	/* Under the run dir: tmpfs, never fsynced. */
	CU_ASSERT_STRING_EQUAL(s.token_key_dir, "/run/arc/tokens");
	CU_ASSERT_EQUAL(s.heartbeat_interval_seconds, 0);
	CU_ASSERT_EQUAL(s.token_key_lifetime_seconds, 60);
	CU_ASSERT_EQUAL(s.cloud_timeout_seconds, 30);
	CU_ASSERT_EQUAL(s.arcproxy_admin.ss_family, AF_INET);
	CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)&s.arcproxy_admin)->sin_port),
	    40344);
	himds_settings_clear(&s);
}

static void
test_every_key(void)
{
	struct himds_settings	s;
	char			err[512];

	write_conf("listen = [ \"127.0.0.1:5000\" ];\n"
	    "proxy = \"http://127.0.0.1:3128\";\n"
	    "heartbeat_interval_seconds = 7;\n"
	    "token_key_dir = \"/run/himds/keys\";\n"
	    "token_key_lifetime_seconds = 5;\n"
	    "cloud_timeout_seconds = 9;\n"
	    "arcproxy_admin = \"[::1]:4044\";\n");
	CU_ASSERT_EQUAL_FATAL(himds_settings_load(dir, "/state", &s, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(s.found, 1);
	CU_ASSERT_EQUAL(s.nlisten, 1);
	CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)&s.listen[0])->sin_port), 5000);
	CU_ASSERT_STRING_EQUAL(s.proxy, "http://127.0.0.1:3128");
	CU_ASSERT_EQUAL(s.heartbeat_interval_seconds, 7);
	CU_ASSERT_STRING_EQUAL(s.token_key_dir, "/run/himds/keys");
	CU_ASSERT_EQUAL(s.token_key_lifetime_seconds, 5);
	CU_ASSERT_EQUAL(s.cloud_timeout_seconds, 9);
	CU_ASSERT_EQUAL(s.arcproxy_admin.ss_family, AF_INET6);
	himds_settings_clear(&s);
	write_conf("token_key_dir = \"keys\";\narcproxy_admin = \"\";\n");
	CU_ASSERT_EQUAL_FATAL(himds_settings_load(dir, "/state", &s, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(s.token_key_dir, "/state/keys");
	CU_ASSERT_EQUAL(s.arcproxy_admin_len, 0);	/* "": tell nobody */
	himds_settings_clear(&s);
}

/* Each bad file fails with "<path>:<line>: " and words about the fix. */
static void
expect_error(const char *text, int line, const char *words)
{
	struct himds_settings	s;
	char			err[512], where[160];

	write_conf(text);
	CU_ASSERT_EQUAL_FATAL(himds_settings_load(dir, "/state", &s, err,
	    sizeof(err)), -1);
	snprintf(where, sizeof(where), "%s:%d: ", path, line);
	CU_ASSERT_EQUAL(strncmp(err, where, strlen(where)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, words));
	if (strncmp(err, where, strlen(where)) != 0 || strstr(err, words) == NULL)
		printf("\n  got: %s\n  expected %s...%s\n", err, where, words);
	CU_ASSERT_PTR_NULL(s.proxy);	/* nothing is left allocated */
}

static void
test_bad_files(void)
{
	expect_error("listen = [ \"127.0.0.1:1\" ]\nproxy = ;\n", 2, "syntax error");
	expect_error("\nlisten_on = [ \"127.0.0.1:1\" ];\n", 2,
	    "unknown key 'listen_on'");
	expect_error("listen = [ \"localhost:40342\" ];\n", 1,
	    "is not an address like");
	expect_error("listen = [ ];\n", 1, "at least one address");
	expect_error("listen = \"127.0.0.1:1\";\n", 1, "must be a list of strings");
	expect_error("\n\nproxy = \"https://127.0.0.1:40343\";\n", 3,
	    "is not like \"http://127.0.0.1:40343\"");
	expect_error("proxy = \"http://198.18.0.1:3128\";\n", 1,
	    "is not on this machine");
	expect_error("proxy = \"http://proxy.example:3128\";\n", 1,
	    "is not on this machine");
	expect_error("heartbeat_interval_seconds = \"300\";\n", 1,
	    "must be an integer");
	expect_error("token_key_lifetime_seconds = 0;\n", 1,
	    "must be between 1 and 3600");
	expect_error("token_key_dir = \"/a=b\";\n", 1, "must not contain '='");
	expect_error("token_key_dir = \"\";\n", 1, "a directory");
	expect_error("arcproxy_admin = \"localhost\";\n", 1,
	    "is not an address like \"127.0.0.1:40344\"");
}

static const struct unit_test tests[] = {
	{ "no file means the defaults", test_defaults_without_a_file },
	{ "every key", test_every_key },
	{ "bad files name file and line", test_bad_files },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/himds_settings_test.%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/himds.conf", dir);
	rc = unit_main("himds_settings", tests);
	unlink(path);
	rmdir(dir);
	return rc;
}
