/* cloudsim_extreq_test.c -- the extension requests' bodies and names as the contract has them, and extensions.json kept across a reload. */
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "extreq.h"
#include "extstore.h"
#include "unit.h"

static int
put(const char *body, struct extreq_put *p, const char **code, char *why,
    size_t whylen)
{
	return extreq_put_parse(body, strlen(body), p, code, why, whylen);
}

static void
test_names(void)
{
	CU_ASSERT(extreq_publisher_ok("Cloudsim.Samples"));
	CU_ASSERT(extreq_publisher_ok("Microsoft.Azure.Monitor"));
	CU_ASSERT(!extreq_publisher_ok(""));
	CU_ASSERT(!extreq_publisher_ok(".Lead"));
	CU_ASSERT(!extreq_publisher_ok("Trail."));
	CU_ASSERT(!extreq_publisher_ok("a..b"));
	CU_ASSERT(!extreq_publisher_ok("a-b"));
	CU_ASSERT(!extreq_publisher_ok("a/b"));
	CU_ASSERT(extreq_type_ok("CustomScript"));
	CU_ASSERT(extreq_type_ok("Azure-Monitor_Agent.2"));
	CU_ASSERT(!extreq_type_ok("-x"));
	CU_ASSERT(!extreq_type_ok("a b"));
	CU_ASSERT(!extreq_type_ok("../x"));
	CU_ASSERT(extreq_version_ok("1.0"));
	CU_ASSERT(extreq_version_ok("2"));
	CU_ASSERT(extreq_version_ok("2.1.0.3"));
	CU_ASSERT(!extreq_version_ok("1.2.3.4.5"));
	CU_ASSERT(!extreq_version_ok("1..0"));
	CU_ASSERT(!extreq_version_ok("1.0."));
	CU_ASSERT(!extreq_version_ok("1.0-beta"));
	CU_ASSERT(!extreq_version_ok(""));
	CU_ASSERT(!extreq_version_ok("1234567890.1"));
}

static void
test_put(void)
{
	struct extreq_put	 p;
	const char		*code;
	char			 why[256];

	CU_ASSERT_EQUAL(put("{\"publisher\":\"P.Q\",\"type\":\"T\",\"version\":"
	    "\"1.0\",\"protectedSettings\":{\"k\":1}}", &p, &code, why,
	    sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(p.publisher, "P.Q");
	CU_ASSERT_STRING_EQUAL(p.version, "1.0");
	CU_ASSERT(json_is_object(p.public_settings));
	CU_ASSERT_EQUAL(json_object_size(p.public_settings), 0);
	CU_ASSERT(json_is_object(p.protected_settings));
	extreq_put_free(&p);
	CU_ASSERT_EQUAL(put("{\"publisher\":\"P\",\"type\":\"T\",\"version\":"
	    "\"1\",\"protectedSettings\":null}", &p, &code, why, sizeof(why)), 0);
	CU_ASSERT_PTR_NULL(p.protected_settings);
	extreq_put_free(&p);
	CU_ASSERT_EQUAL(put("", &p, &code, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(code, "InvalidJson");
	CU_ASSERT_EQUAL(put("[1]", &p, &code, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(code, "InvalidJson");
	CU_ASSERT_EQUAL(put("{\"publisher\":\"P\",\"publisher\":\"Q\"}", &p,
	    &code, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(code, "InvalidJson");
	CU_ASSERT_EQUAL(put("{\"publisher\":\"P\",\"type\":\"T\",\"version\":"
	    "\"1\",\"settings\":{}}", &p, &code, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(code, "InvalidRequest");
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "settings"));
	CU_ASSERT_EQUAL(put("{\"publisher\":\"P\",\"type\":\"T\"}", &p, &code,
	    why, sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "version"));
	CU_ASSERT_EQUAL(put("{\"publisher\":\"P\\u0000x\",\"type\":\"T\","
	    "\"version\":\"1\"}", &p, &code, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(code, "InvalidJson");	/* no NUL in a string */
	CU_ASSERT_EQUAL(put("{\"publisher\":\"P\",\"type\":\"T\",\"version\":"
	    "\"1\",\"publicSettings\":[]}", &p, &code, why, sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "publicSettings"));
}

static void
test_status(void)
{
	struct extreq_status	 s;
	const char		*code;
	char			 why[256], *body, *msg;
	json_t			*o;
	size_t			 i;

	body = "{\"sequenceNumber\":3,\"version\":\"1.1\",\"operation\":\"Enable\","
	    "\"status\":\"error\",\"code\":1009,\"message\":\"boom\","
	    "\"handlerState\":\"Installed\",\"substatus\":[{\"name\":\"x\"}]}";
	CU_ASSERT_EQUAL(extreq_status_parse(body, strlen(body), &s, &code, why,
	    sizeof(why)), 0);
	CU_ASSERT_EQUAL(s.sequence_number, 3);
	CU_ASSERT_EQUAL(s.code, 1009);
	o = extreq_status_json(&s);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o,
	    "handlerState")), "Installed");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "substatus")), 1);
	json_decref(o);
	extreq_status_free(&s);
	/* The uninstall of what was never installed has no version. */
	body = "{\"sequenceNumber\":0,\"version\":\"\",\"operation\":\"Uninstall\","
	    "\"status\":\"success\"}";
	CU_ASSERT_EQUAL(extreq_status_parse(body, strlen(body), &s, &code, why,
	    sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(s.version, "");
	extreq_status_free(&s);
	body = "{\"sequenceNumber\":0,\"version\":1,\"operation\":\"Enable\","
	    "\"status\":\"success\"}";
	CU_ASSERT_EQUAL(extreq_status_parse(body, strlen(body), &s, &code, why,
	    sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "version"));
	body = "{\"sequenceNumber\":-1,\"version\":\"1\",\"operation\":\"Enable\","
	    "\"status\":\"success\"}";
	CU_ASSERT_EQUAL(extreq_status_parse(body, strlen(body), &s, &code, why,
	    sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "sequenceNumber"));
	body = "{\"sequenceNumber\":1,\"version\":\"1\",\"operation\":\"enable\","
	    "\"status\":\"success\"}";
	CU_ASSERT_EQUAL(extreq_status_parse(body, strlen(body), &s, &code, why,
	    sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "operation"));
	body = "{\"sequenceNumber\":1,\"version\":\"1\",\"operation\":\"Enable\","
	    "\"status\":\"fine\"}";
	CU_ASSERT_EQUAL(extreq_status_parse(body, strlen(body), &s, &code, why,
	    sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "status"));
	/* A long message is cut at 4096 bytes, not inside a character. */
	msg = malloc(6000 + 200);
	strcpy(msg, "{\"sequenceNumber\":1,\"version\":\"1\",\"operation\":"
	    "\"Enable\",\"status\":\"success\",\"message\":\"a");
	for (i = 0; i < 3000; i++)
		strcat(msg, "\xc3\xa9");
	strcat(msg, "\"}");
	CU_ASSERT_EQUAL_FATAL(extreq_status_parse(msg, strlen(msg), &s, &code,
	    why, sizeof(why)), 0);
	o = extreq_status_json(&s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(o, "message"))),
	    4095);
	json_decref(o);
	extreq_status_free(&s);
	free(msg);
}

static void
test_cert_body(void)
{
	json_t		*doc;
	const char	*pem, *code;
	char		 why[256];
	const char	*ok = "{\"certificate\":\"-----BEGIN CERTIFICATE-----\\nx\"}";

	CU_ASSERT_EQUAL(extreq_cert_parse(ok, strlen(ok), &doc, &pem, &code, why,
	    sizeof(why)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(pem, "BEGIN"));
	json_decref(doc);
	CU_ASSERT_EQUAL(extreq_cert_parse("{\"certificate\":1}", 17, &doc, &pem,
	    &code, why, sizeof(why)), -1);
	CU_ASSERT_STRING_EQUAL(code, "InvalidCertificate");
}

static void
test_store(void)
{
	char		 dir[] = "/tmp/cloudsim-extstore-XXXXXX", path[128], err[512];
	struct extstore	*st;
	struct stat	 sb;
	json_t		*m, *snap;
	FILE		*f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/extensions.json", dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st = extstore_load(path, err, sizeof(err)));
	CU_ASSERT_PTR_NULL(extstore_machine(st, "m1", 0));
	m = extstore_machine(st, "m1", 1);
	CU_ASSERT_EQUAL(extstore_seq(m), 0);
	snap = extstore_snapshot(m);
	CU_ASSERT_EQUAL(extstore_bump(m), 1);
	json_object_set_new(extstore_extensions(m), "e", json_pack("{s:s, s:s, "
	    "s:s, s:s, s:i, s:{}}", "publisher", "P", "type", "T", "version",
	    "1", "desiredState", "present", "sequenceNumber", 0, "package"));
	CU_ASSERT_EQUAL(extstore_save(st, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
	extstore_restore(st, "m1", snap);
	json_decref(snap);
	CU_ASSERT_EQUAL(extstore_seq(extstore_machine(st, "m1", 0)), 0);
	extstore_free(st);
	/* What was saved comes back; forget keeps the number going. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(st = extstore_load(path, err, sizeof(err)));
	m = extstore_machine(st, "m1", 0);
	CU_ASSERT_EQUAL(extstore_seq(m), 1);
	CU_ASSERT_EQUAL(json_object_size(extstore_extensions(m)), 1);
	extstore_forget(st, "m1");
	CU_ASSERT_EQUAL(json_object_size(extstore_extensions(m)), 0);
	CU_ASSERT_EQUAL(extstore_seq(m), 2);
	extstore_free(st);
	/* A file in another shape names itself. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	fputs("{\"machines\": {\"m1\": {\"goalStateSeq\": \"x\"}}}", f);
	fclose(f);
	CU_ASSERT_PTR_NULL(extstore_load(path, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "machines.m1"));
	unlink(path);
	rmdir(dir);
}

static const struct unit_test tests[] = {
	{ "publisher, type and version names", test_names },
	{ "the operator's PUT body", test_put },
	{ "the machine's status report", test_status },
	{ "the settings certificate body", test_cert_body },
	{ "extensions.json: save, reload, forget", test_store },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("cloudsim_extreq", tests);
}
