/* pkgstatement_test.c -- the signed statement of a package: encoded canonically, parsed back, and every text that is not exactly a statement refused with a reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkgstatement.h"
#include "unit.h"

#define SHA	"40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880"

static const struct pkg_statement hello = {
	PKG_EXTENSION, "Contoso.Sample", "Hello", "1.0", SHA, 1234
};

/* text parsed: 0 with *st, or -1 with err. */
static int
parse(const char *text, struct pkg_statement *st, char *err, size_t errlen)
{
	int	rc = pkgstatement_parse(text, strlen(text), st, err, errlen);

	if (rc == -1)
		printf("  refused: %s\n", err);
	return rc;
}

static void
test_encode(void)
{
	struct pkg_statement	 st = hello, back;
	char			 err[256], *text;
	size_t			 len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text = pkgstatement_encode(&st, &len, err,
	    sizeof(err)));
	CU_ASSERT_STRING_EQUAL(text, "{\"signingInfo\":{\"kind\":\"extension\","
	    "\"publisher\":\"Contoso.Sample\",\"type\":\"Hello\",\"version\":"
	    "\"1.0\"},\"sha256\":\"" SHA "\",\"size\":1234}");
	CU_ASSERT_EQUAL(len, strlen(text));
	CU_ASSERT_EQUAL(pkgstatement_parse(text, len, &back, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(back.kind, st.kind);
	CU_ASSERT_STRING_EQUAL(back.publisher, st.publisher);
	CU_ASSERT_STRING_EQUAL(back.name, st.name);
	CU_ASSERT_STRING_EQUAL(back.version, st.version);
	CU_ASSERT_STRING_EQUAL(back.sha256, st.sha256);
	CU_ASSERT_EQUAL(back.size, st.size);
	free(text);
	/* A guest configuration names itself by "name"; the digest is
	 * written in lower case whatever it was given in. */
	st.kind = PKG_GUESTCONFIG;
	snprintf(st.name, sizeof(st.name), "audit");
	snprintf(st.sha256, sizeof(st.sha256), "%s", "40AFF2E9D2D8922E47AFD4648E"
	    "6967497158785FBD1DA870E7110266BF944880");
	CU_ASSERT_PTR_NOT_NULL_FATAL(text = pkgstatement_encode(&st, &len, err,
	    sizeof(err)));
	CU_ASSERT_STRING_EQUAL(text, "{\"signingInfo\":{\"kind\":"
	    "\"guestconfiguration\",\"publisher\":\"Contoso.Sample\",\"name\":"
	    "\"audit\",\"version\":\"1.0\"},\"sha256\":\"" SHA "\",\"size\":1234}");
	free(text);
}

static void
test_encode_refuses(void)
{
	struct pkg_statement	st = hello;
	char			err[256];
	size_t			len;

	snprintf(st.name, sizeof(st.name), "He\"llo");
	CU_ASSERT_PTR_NULL(pkgstatement_encode(&st, &len, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "publisher, type and version"));
	st = hello;
	st.version[0] = '\0';
	CU_ASSERT_PTR_NULL(pkgstatement_encode(&st, &len, err, sizeof(err)));
	st = hello;
	snprintf(st.publisher, sizeof(st.publisher), ".Contoso");
	CU_ASSERT_PTR_NULL(pkgstatement_encode(&st, &len, err, sizeof(err)));
	st = hello;
	st.sha256[10] = 'g';
	CU_ASSERT_PTR_NULL(pkgstatement_encode(&st, &len, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "statement: sha256 is not 64 hex digits");
	st = hello;
	st.kind = (enum pkg_kind)7;
	CU_ASSERT_PTR_NULL(pkgstatement_encode(&st, &len, err, sizeof(err)));
}

static void
test_words(void)
{
	char	long_word[PKGSTATEMENT_WORD_MAX + 2];

	CU_ASSERT(pkgstatement_word_ok("Contoso.Sample"));
	CU_ASSERT(pkgstatement_word_ok("1.0.0-beta_2"));
	CU_ASSERT(!pkgstatement_word_ok(""));
	CU_ASSERT(!pkgstatement_word_ok(NULL));
	CU_ASSERT(!pkgstatement_word_ok("-x"));
	CU_ASSERT(!pkgstatement_word_ok("a/b"));
	CU_ASSERT(!pkgstatement_word_ok("a b"));
	memset(long_word, 'a', PKGSTATEMENT_WORD_MAX);
	long_word[PKGSTATEMENT_WORD_MAX] = '\0';
	CU_ASSERT(pkgstatement_word_ok(long_word));
	long_word[PKGSTATEMENT_WORD_MAX] = 'a';
	long_word[PKGSTATEMENT_WORD_MAX + 1] = '\0';
	CU_ASSERT(!pkgstatement_word_ok(long_word));
}

/* A kind by its label, both ways; anything else is none. */
static void
test_kind_labels(void)
{
	enum pkg_kind	k = PKG_GUESTCONFIG;

	CU_ASSERT_EQUAL(pkgstatement_kind_parse("extension", &k), 0);
	CU_ASSERT_EQUAL(k, PKG_EXTENSION);
	CU_ASSERT_EQUAL(pkgstatement_kind_parse(
	    pkgstatement_kind(PKG_GUESTCONFIG), &k), 0);
	CU_ASSERT_EQUAL(k, PKG_GUESTCONFIG);
	CU_ASSERT_EQUAL(pkgstatement_kind_parse("Extension", &k), -1);
	CU_ASSERT_EQUAL(pkgstatement_kind_parse("", &k), -1);
	CU_ASSERT_EQUAL(pkgstatement_kind_parse(NULL, &k), -1);
	CU_ASSERT_EQUAL(k, PKG_GUESTCONFIG);	/* untouched when refused */
}

/* Not canonical but exactly a statement: read (nothing is re-encoded). */
static void
test_parse_lenient_layout(void)
{
	struct pkg_statement	st;
	char			err[256];

	CU_ASSERT_EQUAL(parse("{ \"size\": 5, \"sha256\": \"" SHA "\", "
	    "\"signingInfo\": { \"version\": \"2\", \"name\": \"c\", "
	    "\"publisher\": \"P\", \"kind\": \"guestconfiguration\" } }", &st,
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(st.kind, PKG_GUESTCONFIG);
	CU_ASSERT_STRING_EQUAL(st.name, "c");
	CU_ASSERT_STRING_EQUAL(st.version, "2");
	CU_ASSERT_EQUAL(st.size, 5);
}

static void
test_parse_refuses(void)
{
	static const struct {
		const char	*text;
		const char	*why;
	} bad[] = {
		{ "", "not JSON" },
		{ "[]", "expected {\"signingInfo\", \"sha256\", \"size\"}" },
		{ "{\"signingInfo\":{},\"sha256\":\"" SHA "\"}",
		    "expected {\"signingInfo\", \"sha256\", \"size\"}" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA "\","
		    "\"size\":1,\"more\":1}",
		    "expected {\"signingInfo\", \"sha256\", \"size\"}" },
		{ "{\"signingInfo\":{\"kind\":\"driver\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA "\","
		    "\"size\":1}", "\"kind\" is not" },
		/* An extension is named by "type", never "name". */
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"name\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA "\","
		    "\"size\":1}", "\"type\", \"version\"} for an extension" },
		{ "{\"signingInfo\":{\"kind\":\"guestconfiguration\",\"publisher\":"
		    "\"P\",\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA
		    "\",\"size\":1}", "for a guestconfiguration" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\",\"x\":\"y\"},\"sha256\":\""
		    SHA "\",\"size\":1}", "expected signingInfo" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"type\":\"U\",\"version\":\"1\"},\"sha256\":\""
		    SHA "\",\"size\":1}", "duplicate" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T/../x\",\"version\":\"1\"},\"sha256\":\"" SHA
		    "\",\"size\":1}", "\"type\" is not 1-128" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\\u0000x\",\"version\":\"1\"},\"sha256\":\"" SHA
		    "\",\"size\":1}", "not JSON" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":7,"
		    "\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA "\","
		    "\"size\":1}", "\"publisher\" is not a string" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"abc\","
		    "\"size\":1}", "\"sha256\" is not 64 hex digits" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA "\","
		    "\"size\":-1}", "\"size\" is not a count of bytes" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA "\","
		    "\"size\":1.0}", "\"size\" is not a count of bytes" },
		{ "{\"signingInfo\":{\"kind\":\"extension\",\"publisher\":\"P\","
		    "\"type\":\"T\",\"version\":\"1\"},\"sha256\":\"" SHA "\","
		    "\"size\":\"1\"}", "\"size\" is not a count of bytes" },
	};
	struct pkg_statement	 st;
	char			 err[256], *big;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(parse(bad[i].text, &st, err, sizeof(err)), -1);
		if (strstr(err, bad[i].why) == NULL)
			printf("  case %zu: %s, expected %s\n", i, err, bad[i].why);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].why));
		CU_ASSERT_EQUAL(strncmp(err, "statement: ", 11), 0);
	}
	/* Longer than a statement can be: not parsed at all. */
	big = calloc(1, PKGSTATEMENT_MAX + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, ' ', PKGSTATEMENT_MAX + 1);
	CU_ASSERT_EQUAL(pkgstatement_parse(big, PKGSTATEMENT_MAX + 1, &st, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than"));
	free(big);
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(pkgstatement_kind(PKG_EXTENSION), "extension");
	CU_ASSERT_STRING_EQUAL(pkgstatement_kind(PKG_GUESTCONFIG),
	    "guestconfiguration");
	CU_ASSERT_STRING_EQUAL(pkgstatement_name_key(PKG_EXTENSION), "type");
	CU_ASSERT_STRING_EQUAL(pkgstatement_name_key(PKG_GUESTCONFIG), "name");
	CU_ASSERT_STRING_EQUAL(pkgstatement_name_what(PKG_GUESTCONFIG),
	    "configuration");
}

static const struct unit_test tests[] = {
	{ "encoded canonically, parsed back", test_encode },
	{ "what is not a statement is not encoded", test_encode_refuses },
	{ "the words a statement holds", test_words },
	{ "a kind by its label", test_kind_labels },
	{ "any order and white space parse", test_parse_lenient_layout },
	{ "every other text is refused with a reason", test_parse_refuses },
	{ "the kinds' names", test_names },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("pkgstatement", tests);
}
