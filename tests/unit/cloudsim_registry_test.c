/* cloudsim_registry_test.c -- the control plane's machines: names, serials and revocation, heartbeats and status, control.json written and read back. */
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "registry.h"
#include "unit.h"

static char	dir[64];		/* the test's temporary directory */
static char	path[PATH_MAX];		/* dir/control.json */

static void
write_file(const char *text)
{
	FILE	*f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static json_t *
resource(const char *name)
{
	return json_pack("{s:s, s:s, s:s, s:{}}", "resourceId", name, "name", name,
	    "vmId", "4f1a5a4e-0000-4000-8000-000000000001", "tags");
}

static void
test_names(void)
{
	char	long_name[80];

	CU_ASSERT_TRUE(registry_name_ok("m1"));
	CU_ASSERT_TRUE(registry_name_ok("Web-01.example_2"));
	CU_ASSERT_FALSE(registry_name_ok(""));
	CU_ASSERT_FALSE(registry_name_ok("-m"));
	CU_ASSERT_FALSE(registry_name_ok("_m"));
	CU_ASSERT_FALSE(registry_name_ok(".m"));
	CU_ASSERT_FALSE(registry_name_ok("m/1"));
	CU_ASSERT_FALSE(registry_name_ok("m 1"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	CU_ASSERT_TRUE(registry_name_ok(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	CU_ASSERT_FALSE(registry_name_ok(long_name));
}

static void
test_certs_and_revocation(void)
{
	struct registry		*reg;
	struct registry_machine	*m, *found;
	const char		*owner;
	json_t			*res = resource("m1");
	char			 err[512];
	time_t			 now = time(NULL);

	unlink(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL((reg = registry_load(path, err, sizeof(err))));
	CU_ASSERT_PTR_NULL(registry_first(reg));
	CU_ASSERT_PTR_NOT_NULL_FATAL((m = registry_add(reg, "m1", res, "1.0", now)));
	json_decref(res);
	CU_ASSERT_PTR_EQUAL(registry_find(reg, "m1"), m);
	CU_ASSERT_PTR_NULL(registry_find(reg, "m2"));
	CU_ASSERT_EQUAL(registry_add_cert(m, "0A", now + 100), 0);
	CU_ASSERT_EQUAL(registry_add_cert(m, "0B", now + 200), 0);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0A", now, &found, &owner),
	    REGISTRY_CERT_MACHINE);
	CU_ASSERT_PTR_EQUAL(found, m);
	/* Another CN with m1's serial, and an expired entry, are no identity. */
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m2", "0A", now, &found, NULL),
	    REGISTRY_CERT_UNKNOWN);
	CU_ASSERT_PTR_NULL(found);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0A", now + 150, NULL, NULL),
	    REGISTRY_CERT_UNKNOWN);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0C", now, NULL, NULL),
	    REGISTRY_CERT_UNKNOWN);
	registry_drop_last_cert(m);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0B", now, NULL, NULL),
	    REGISTRY_CERT_UNKNOWN);
	CU_ASSERT_EQUAL(registry_add_cert(m, "0B", now + 200), 0);
	CU_ASSERT_EQUAL(registry_remove(reg, m), 2);
	CU_ASSERT_PTR_NULL(registry_find(reg, "m1"));
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0B", now, &found, &owner),
	    REGISTRY_CERT_REVOKED);
	CU_ASSERT_STRING_EQUAL(owner, "m1");
	/* A name registered again gets new certificates; the old stay revoked. */
	res = resource("m1");
	m = registry_add(reg, "m1", res, "1.1", now);
	json_decref(res);
	CU_ASSERT_EQUAL(registry_add_cert(m, "0D", now + 100), 0);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0A", now, NULL, NULL),
	    REGISTRY_CERT_REVOKED);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0D", now, NULL, NULL),
	    REGISTRY_CERT_MACHINE);
	registry_forget(reg, m);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "m1", "0D", now, NULL, NULL),
	    REGISTRY_CERT_UNKNOWN);
	registry_free(reg);
	registry_free(NULL);
}

static void
test_status(void)
{
	struct registry		*reg;
	struct registry_machine	*m;
	json_t			*res = resource("m1"), *view;
	char			 err[512];
	time_t			 now = 1700000000;

	unlink(path);
	reg = registry_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	m = registry_add(reg, "m1", res, "", now);
	json_decref(res);
	registry_add_cert(m, "01", now + 60);
	registry_add_cert(m, "02", now + 90);
	CU_ASSERT_FALSE(registry_connected(m, now, 300));
	view = registry_machine_view(m, now, 300);
	CU_ASSERT_PTR_NOT_NULL_FATAL(view);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(view, "status")),
	    "Disconnected");
	CU_ASSERT_TRUE(json_is_null(json_object_get(view, "lastHeartbeat")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(view,
	    "certificateNotAfter")), "2023-11-14T22:14:50Z");
	json_decref(view);
	CU_ASSERT_EQUAL(registry_heartbeat(m, now, "1.2.3"), 0);
	CU_ASSERT_TRUE(registry_connected(m, now + 899, 300));
	CU_ASSERT_FALSE(registry_connected(m, now + 900, 300));
	view = registry_machine_view(m, now + 10, 300);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(view, "status")),
	    "Connected");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(view,
	    "lastHeartbeat")), "2023-11-14T22:13:20Z");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(view,
	    "agentVersion")), "1.2.3");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(view, "vmId")),
	    "4f1a5a4e-0000-4000-8000-000000000001");
	json_decref(view);
	registry_free(reg);
}

static void
test_save_and_load(void)
{
	struct registry		*reg;
	struct registry_machine	*m;
	json_t			*res;
	struct stat		 st;
	char			 err[512];
	time_t			 now = time(NULL);

	unlink(path);
	reg = registry_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	res = resource("a");
	m = registry_add(reg, "a", res, "1.0", now - 10);
	json_decref(res);
	registry_add_cert(m, "AA", now + 1000);
	registry_add_cert(m, "AB", now - 1);	/* expired: dropped on save */
	registry_heartbeat(m, now - 5, NULL);
	res = resource("b");
	m = registry_add(reg, "b", res, "2.0", now);
	json_decref(res);
	registry_add_cert(m, "BB", now + 1000);
	registry_remove(reg, m);
	CU_ASSERT_EQUAL_FATAL(registry_save(reg, err, sizeof(err)), 0);
	registry_free(reg);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);

	reg = registry_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	m = registry_find(reg, "a");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_EQUAL(registry_first(reg), m);
	CU_ASSERT_PTR_NULL(TAILQ_NEXT(m, entry));
	CU_ASSERT_EQUAL(m->ncerts, 1);
	CU_ASSERT_EQUAL(m->last_heartbeat, now - 5);
	CU_ASSERT_EQUAL(m->registered, now - 10);
	CU_ASSERT_STRING_EQUAL(m->agent_version, "1.0");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m->resource,
	    "vmId")), "4f1a5a4e-0000-4000-8000-000000000001");
	CU_ASSERT_EQUAL(registry_cert_state(reg, "a", "AA", now, NULL, NULL),
	    REGISTRY_CERT_MACHINE);
	CU_ASSERT_EQUAL(registry_cert_state(reg, "b", "BB", now, NULL, NULL),
	    REGISTRY_CERT_REVOKED);
	registry_free(reg);
}

static void
test_bad_files(void)
{
	static const struct {
		const char	*text;
		const char	*what;		/* part of the message */
	} cases[] = {
		{ "{", "line 1" },
		{ "[]", "top level" },
		{ "{\"machines\": [ {\"name\": \"a\"} ]}", "machines[0]" },
		{ "{\"machines\": [ {\"name\": \"a b\", \"resource\": {\"resourceId\": \"x\", "
		  "\"vmId\": \"y\"}, \"agentVersion\": \"\", \"registeredAt\": "
		  "\"2024-01-01T00:00:00Z\", \"lastHeartbeat\": null, \"certificates\": []} ]}",
		  "machines[0]" },
		{ "{\"machines\": [ {\"name\": \"a\", \"resource\": {\"resourceId\": \"x\", "
		  "\"vmId\": \"y\"}, \"agentVersion\": \"\", \"registeredAt\": "
		  "\"yesterday\", \"lastHeartbeat\": null, \"certificates\": []} ]}",
		  "registeredAt" },
		{ "{\"machines\": [], \"revoked\": [ {\"serial\": \"01\"} ]}", "revoked" },
	};
	struct registry	*reg;
	char		 err[512];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(cases[i].text);
		err[0] = '\0';
		reg = registry_load(path, err, sizeof(err));
		CU_ASSERT_PTR_NULL(reg);
		registry_free(reg);
		if (strstr(err, "control.json") == NULL ||
		    strstr(err, cases[i].what) == NULL) {
			fprintf(stderr, "case %zu: %s\n", i, err);
			CU_FAIL("the error does not name the file and the place");
		}
	}
	write_file("{\"machines\": []}");
	reg = registry_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(reg);
	registry_free(reg);
	unlink(path);
}

static void
test_time_text(void)
{
	char	buf[REGISTRY_TIME_MAX];

	registry_time_text(0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1970-01-01T00:00:00Z");
	registry_time_text(1700000000, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "2023-11-14T22:13:20Z");
}

static const struct unit_test tests[] = {
	{ "machine names", test_names },
	{ "certificates, revocation, a name used again", test_certs_and_revocation },
	{ "Connected for 3 heartbeat intervals; the operator's view", test_status },
	{ "control.json written and read back", test_save_and_load },
	{ "a broken control.json is named", test_bad_files },
	{ "RFC 3339 times", test_time_text },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/cloudsim-registry-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 2;
	snprintf(path, sizeof(path), "%s/control.json", dir);
	rc = unit_main("cloudsim_registry", tests);
	unlink(path);
	rmdir(dir);
	return rc;
}
