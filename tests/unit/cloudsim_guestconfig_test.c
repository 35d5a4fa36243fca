/* cloudsim_guestconfig_test.c -- cloudsim's guest configuration assignments: PUT checks, at most 50, the machine's list, reports and their history of 10, guestconfig.json read back. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cloudsim.h"
#include "goalstate.h"
#include "guestconfig.h"
#include "httpd.h"
#include "registry.h"
#include "unit.h"

#define HASH	"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
#define BASE	"/operator/machines/m1/guestConfigurationAssignments"

static char		 dir[64];
static struct cloudsim	 cs;
static int		 changes;	/* goalstate_changed() calls */
static unsigned long long last_seq;

/* The hook, as cloudsim's notification service would be told. */
void
goalstate_changed(struct cloudsim *c, const char *machine, const char *topic,
    unsigned long long seq)
{
	CU_ASSERT_PTR_EQUAL(c, &cs);
	CU_ASSERT_STRING_EQUAL(machine, "m1");
	CU_ASSERT_STRING_EQUAL(topic, GOALSTATE_GUEST_CONFIGURATION);
	CU_ASSERT_TRUE(seq > last_seq);
	last_seq = seq;
	changes++;
}

static struct registry_machine *
add_m1(void)
{
	struct registry_machine	*m;
	json_t			*res = json_pack("{s:s}", "name", "m1");

	m = registry_add(cs.registry, "m1", res, "", time(NULL));
	json_decref(res);
	return m;
}

/* One request through a handler: the status; *answer (if asked) is the
 * caller's. */
static int
call(void (*fn)(struct cloudsim *, struct httpd_request *), const char *method,
    const char *path, const char *body, json_t **answer)
{
	struct httpd_request	req;
	int			status;

	memset(&req, 0, sizeof(req));
	req.method = method;
	snprintf(req.path, sizeof(req.path), "%s", path);
	req.body = body != NULL ? body : "";
	req.body_len = strlen(req.body);
	fn(&cs, &req);
	status = req.status;
	if (answer != NULL)
		*answer = req.answer;
	else
		json_decref(req.answer);
	return status;
}

static int
report(const char *name, const char *body, json_t **answer)
{
	struct httpd_request	req;
	int			status;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	snprintf(req.path, sizeof(req.path), "/machines/m1/"
	    "guestConfigurationAssignments/%s/reports", name);
	req.body = body;
	req.body_len = strlen(body);
	guestconfig_machine_report(&cs, &req, "m1");
	status = req.status;
	if (answer != NULL)
		*answer = req.answer;
	else
		json_decref(req.answer);
	return status;
}

static const char *
put_body(const char *type)
{
	static char	buf[512];

	snprintf(buf, sizeof(buf), "{\"contentUri\": \"https://packages.cloudsim."
	    "test/packages/a-1.zip\", \"contentHash\": \"%s\", \"assignmentType\": "
	    "\"%s\", \"configurationParameter\": [{\"name\": \"[file]f;path\", "
	    "\"value\": \"/tmp/x\"}]}", HASH, type);
	return buf;
}

static void
load(void)
{
	char	err[512];

	guestconfig_free(cs.guestconfig);
	cs.guestconfig = guestconfig_load(dir, cs.registry, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cs.guestconfig);
}

static void
test_put_checks(void)
{
	json_t	*a;
	char	 path[128];

	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a1",
	    put_body("ApplyAndAutoCorrect"), &a), 201);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a,
	    "contentHash")), "0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef");
	CU_ASSERT_TRUE(json_is_null(json_object_get(a, "latestReport")));
	CU_ASSERT_EQUAL(json_array_size(json_object_get(a, "history")), 0);
	json_decref(a);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a1",
	    put_body("Audit"), NULL), 200);
	CU_ASSERT_EQUAL(changes, 2);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a2",
	    put_body("Enforce"), NULL), 400);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a2",
	    "{\"contentUri\": \"http://x/a.zip\", \"contentHash\": \"" HASH
	    "\", \"assignmentType\": \"Audit\"}", NULL), 400);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a2",
	    "{\"contentUri\": \"https://x/a.zip\", \"contentHash\": \"abc\", "
	    "\"assignmentType\": \"Audit\"}", NULL), 400);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a2",
	    "{\"contentUri\": \"https://x/a.zip\", \"contentHash\": \"" HASH
	    "\", \"assignmentType\": \"Audit\", \"configurationParameter\": "
	    "[{\"name\": \"\", \"value\": \"v\"}]}", NULL), 400);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/-bad",
	    put_body("Audit"), NULL), 400);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a2",
	    "not json", NULL), 400);
	snprintf(path, sizeof(path), "/operator/machines/nobody/"
	    "guestConfigurationAssignments/a1");
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", path,
	    put_body("Audit"), NULL), 404);
	CU_ASSERT_EQUAL(call(guestconfig_operator_get, "GET", BASE "/nope", NULL,
	    NULL), 404);
	CU_ASSERT_EQUAL(call(guestconfig_operator_delete, "DELETE", BASE "/nope",
	    NULL, NULL), 404);
	CU_ASSERT_EQUAL(changes, 2);	/* refusals change nothing */
}

static void
test_fifty(void)
{
	struct httpd_request	 req;
	json_t			*list, *doc;
	char			 path[128];
	int			 i;

	for (i = 2; i <= 50; i++) {
		snprintf(path, sizeof(path), BASE "/a%d", i);
		CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", path,
		    put_body("Audit"), NULL), 201);
	}
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a51",
	    put_body("Audit"), NULL), 409);
	CU_ASSERT_EQUAL(call(guestconfig_operator_list, "GET", BASE, NULL,
	    &list), 200);
	CU_ASSERT_EQUAL(json_array_size(list), 50);
	json_decref(list);
	/* The machine's view: in order, without reports, its own sequence. */
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	snprintf(req.path, sizeof(req.path), "/machines/m1/"
	    "guestConfigurationAssignments");
	req.body = "";
	guestconfig_machine_get(&cs, &req, "m1");
	CU_ASSERT_EQUAL(req.status, 200);
	doc = req.answer;
	CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "assignments")), 50);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(
	    json_object_get(doc, "assignments"), 0), "name")), "a1");
	CU_ASSERT_PTR_NULL(json_object_get(json_array_get(json_object_get(doc,
	    "assignments"), 0), "history"));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "goalStateSeq")),
	    51);
	json_decref(doc);
	CU_ASSERT_EQUAL(call(guestconfig_operator_delete, "DELETE", BASE "/a50",
	    NULL, NULL), 200);
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a51",
	    put_body("Audit"), NULL), 201);
}

static void
test_reports_and_history(void)
{
	json_t	*a;
	char	 body[256];
	int	 i;

	for (i = 0; i < 13; i++) {
		snprintf(body, sizeof(body), "{\"complianceStatus\": \"%s\", "
		    "\"reportId\": \"r%d\", \"assignment\": {\"name\": \"a1\"}, "
		    "\"details\": {\"complianceStatus\": \"Compliant\", "
		    "\"resources\": []}}", i % 2 ? "Compliant" : "NonCompliant", i);
		CU_ASSERT_EQUAL(report("a1", body, NULL), 200);
	}
	CU_ASSERT_EQUAL(report("a1", "{\"complianceStatus\": \"Fine\"}", NULL),
	    400);
	CU_ASSERT_EQUAL(report("a1", "{\"complianceStatus\": \"Compliant\", "
	    "\"assignment\": {\"name\": \"a2\"}}", NULL), 400);
	CU_ASSERT_EQUAL(report("a1", "{\"complianceStatus\": \"Compliant\", "
	    "\"details\": {\"resources\": [{\"complianceStatus\": 1}]}}", NULL),
	    400);
	CU_ASSERT_EQUAL(report("nope", "{\"complianceStatus\": \"Compliant\"}",
	    NULL), 404);
	/* Read back from guestconfig.json: ten reports, the latest last. */
	load();
	CU_ASSERT_EQUAL(call(guestconfig_operator_get, "GET", BASE "/a1", NULL,
	    &a), 200);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(a, "history")), 10);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(
	    json_object_get(a, "history"), 0), "reportId")), "r3");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(
	    a, "latestReport"), "reportId")), "r12");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a,
	    "assignmentType")), "Audit");
	json_decref(a);
	/* A new PUT keeps the reports. */
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/a1",
	    put_body("ApplyAndMonitor"), &a), 200);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(a, "history")), 10);
	json_decref(a);
}

static void
test_deleted_machine(void)
{
	struct registry_machine	*m;
	json_t			*list;

	m = registry_find(cs.registry, "m1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	registry_remove(cs.registry, m);
	CU_ASSERT_EQUAL(call(guestconfig_operator_list, "GET", BASE, NULL, NULL),
	    404);
	/* Registered again (a second later): a new machine, no assignment. */
	sleep(1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(add_m1());
	CU_ASSERT_EQUAL(call(guestconfig_operator_list, "GET", BASE, NULL, &list),
	    200);
	CU_ASSERT_EQUAL(json_array_size(list), 0);
	json_decref(list);
	/* Its sequence goes on. */
	CU_ASSERT_EQUAL(call(guestconfig_operator_put, "PUT", BASE "/again",
	    put_body("Audit"), NULL), 201);
	CU_ASSERT_TRUE(last_seq > 51);
}

static const struct unit_test tests[] = {
	{ "PUT: fields checked, 201 then 200, 400s, 404s", test_put_checks },
	{ "at most 50; the machine's list in order, without reports", test_fifty },
	{ "reports checked; ten kept, read back from guestconfig.json", test_reports_and_history },
	{ "a deleted machine has no assignments, nor its successor", test_deleted_machine },
	{ NULL, NULL }
};

int
main(void)
{
	char	path[PATH_MAX], err[512];
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/cloudsim-gc-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 2;
	snprintf(path, sizeof(path), "%s/control.json", dir);
	if ((cs.registry = registry_load(path, err, sizeof(err))) == NULL ||
	    add_m1() == NULL ||
	    (cs.guestconfig = guestconfig_load(dir, cs.registry, err,
	    sizeof(err))) == NULL)
		return 2;
	rc = unit_main("cloudsim_guestconfig", tests);
	guestconfig_free(cs.guestconfig);
	registry_free(cs.registry);
	snprintf(path, sizeof(path), "%s/guestconfig.json", dir);
	unlink(path);
	rmdir(dir);
	return rc;
}
