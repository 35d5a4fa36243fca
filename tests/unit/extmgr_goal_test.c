/* extmgr_goal_test.c -- the goal state's JSON: what is taken, and every field that must not become a path or a URL unchecked. */
#include <string.h>

#include "goal.h"
#include "unit.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PKG "\"package\":{\"url\":\"https://packages.cloudsim.test/packages/C.H-1.0.zip\"," \
	"\"signatureUrl\":\"https://packages.cloudsim.test/packages/C.H-1.0.zip.p7s\"," \
	"\"sha256\":\"" SHA "\",\"size\":123}"

static int
parse(const char *text, struct goal *g, char *err)
{
	return goal_parse(text, strlen(text), g, err, 256);
}

static void
test_good(void)
{
	struct goal	g;
	char		err[256];

	CU_ASSERT_EQUAL(parse("{\"goalStateSeq\":7,\"extensions\":[{\"name\":\"hello\","
	    "\"publisher\":\"Cloudsim.Samples\",\"type\":\"Hello\",\"version\":\"1.0\","
	    "\"desiredState\":\"present\",\"sequenceNumber\":3,\"publicSettings\":"
	    "{\"a\":1}," PKG "},{\"name\":\"gone\",\"publisher\":\"P\",\"type\":\"T\","
	    "\"version\":\"2\",\"desiredState\":\"absent\",\"sequenceNumber\":0}]}",
	    &g, err), 0);
	CU_ASSERT_EQUAL(g.seq, 7);
	CU_ASSERT_EQUAL(g.n, 2);
	CU_ASSERT_STRING_EQUAL(g.ext[0].name, "hello");
	CU_ASSERT_EQUAL(g.ext[0].present, 1);
	CU_ASSERT_EQUAL(g.ext[0].seq, 3);
	CU_ASSERT_EQUAL(g.ext[0].size, 123);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(g.ext[0].public_settings,
	    "a")), 1);
	CU_ASSERT_EQUAL(g.ext[1].present, 0);
	CU_ASSERT_PTR_NULL(g.ext[1].url);
	CU_ASSERT_PTR_NOT_NULL(goal_find(&g, "gone"));
	CU_ASSERT_PTR_NULL(goal_find(&g, "other"));
	goal_clear(&g);
}

/*
 * A thumbprint is hex: the cloud may send it in lower case.  The goal
 * holds it in upper case, as handler_write_settings and the
 * <THUMB>.crt/.prv names want it (the VM agent writes it so).
 */
static void
test_thumbprint_upper(void)
{
	struct goal	g;
	char		err[256];

	CU_ASSERT_EQUAL(parse("{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\","
	    "\"publisher\":\"P\",\"type\":\"T\",\"version\":\"1\","
	    "\"desiredState\":\"present\",\"sequenceNumber\":0,"
	    "\"protectedSettings\":\"AAAA\",\"protectedSettingsCertThumbprint\":"
	    "\"0123456789abcdefABCDEF0123456789abcdef01\"," PKG "}]}", &g, err), 0);
	CU_ASSERT_EQUAL(g.n, 1);
	if (g.n == 1) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(g.ext[0].thumbprint);
		CU_ASSERT_STRING_EQUAL(g.ext[0].thumbprint,
		    "0123456789ABCDEFABCDEF0123456789ABCDEF01");
	}
	goal_clear(&g);
}

static void
test_refused(void)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"extensions\":[]}",
		"{\"goalStateSeq\":-1,\"extensions\":[]}",
		"{\"goalStateSeq\":1,\"extensions\":{}}",
		/* names that would become paths */
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"../x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"absent\",\"sequenceNumber\":0}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\".x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"absent\",\"sequenceNumber\":0}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P/Q\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"absent\",\"sequenceNumber\":0}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T/..\",\"version\":\"1\",\"desiredState\":\"absent\",\"sequenceNumber\":0}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1/../..\",\"desiredState\":\"absent\",\"sequenceNumber\":0}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"maybe\",\"sequenceNumber\":0}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"present\",\"sequenceNumber\":0}]}",
		/* the package over plain HTTP */
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"present\",\"sequenceNumber\":0,"
		    "\"package\":{\"url\":\"http://p/x.zip\",\"signatureUrl\":\"https://p/x.zip.p7s\","
		    "\"sha256\":\"" SHA "\",\"size\":1}}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"present\",\"sequenceNumber\":0,"
		    "\"package\":{\"url\":\"https://p/x.zip\",\"signatureUrl\":\"https://p/x.zip.p7s\","
		    "\"sha256\":\"abc\",\"size\":1}}]}",
		/* size 0 would mean "no limit" to the download; more than 2 GiB is refused */
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"present\",\"sequenceNumber\":0,"
		    "\"package\":{\"url\":\"https://p/x.zip\",\"signatureUrl\":\"https://p/x.zip.p7s\","
		    "\"sha256\":\"" SHA "\",\"size\":0}}]}",
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"present\",\"sequenceNumber\":0,"
		    "\"package\":{\"url\":\"https://p/x.zip\",\"signatureUrl\":\"https://p/x.zip.p7s\","
		    "\"sha256\":\"" SHA "\",\"size\":2147483649}}]}",
		/* protected settings without a thumbprint */
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"absent\",\"sequenceNumber\":0,"
		    "\"protectedSettings\":\"AAAA\"}]}",
		/* the same name twice */
		"{\"goalStateSeq\":1,\"extensions\":[{\"name\":\"x\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"desiredState\":\"absent\",\"sequenceNumber\":0},"
		    "{\"name\":\"x\",\"publisher\":\"P\",\"type\":\"T\",\"version\":\"1\","
		    "\"desiredState\":\"absent\",\"sequenceNumber\":0}]}",
		NULL
	};
	struct goal	g;
	char		err[256];
	int		i;

	for (i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(parse(bad[i], &g, err), -1);
		CU_ASSERT(err[0] != '\0');
		CU_ASSERT_EQUAL(g.n, 0);
	}
}

static void
test_version_order(void)
{
	static const struct { const char *a, *b; int want; } cases[] = {
		{ "1.0", "1.1", -1 },
		{ "1.1", "1.0", 1 },
		{ "1.10", "1.9", 1 },		/* numbers, not strings */
		{ "2.0", "1.99.99", 1 },
		{ "1.0", "1.0.0", 0 },		/* missing fields are 0 */
		{ "1.0.1", "1.0", 1 },
		{ "01.002", "1.2", 0 },		/* leading zeros are nothing */
		{ "1.0rc1", "1.0", -1 },	/* a tag is below its release */
		{ "1.0alpha2", "1.0beta1", -1 },
		{ "1.0rc1", "1.0rc1", 0 },
		{ "1.0.0.1", "1.0.0.0", 1 },
		{ "123456789012345678901234567890", "99", 1 },	/* no overflow */
		{ "", "0", 0 },
	};
	size_t	i;
	int	got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = goal_version_cmp(cases[i].a, cases[i].b);
		CU_ASSERT_EQUAL(got < 0 ? -1 : got > 0, cases[i].want);
		got = goal_version_cmp(cases[i].b, cases[i].a);
		CU_ASSERT_EQUAL(got < 0 ? -1 : got > 0, -cases[i].want);
	}
}

static const struct unit_test tests[] = {
	{ "a goal state is read", test_good },
	{ "a lower-case thumbprint is held in upper case", test_thumbprint_upper },
	{ "bad goal states are refused", test_refused },
	{ "versions are ordered as the VM agent's FlexibleVersion", test_version_order },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("extmgr_goal", tests);
}
