/* azcmagent_args_test.c -- azcmagent's command line: options anywhere, values, mistakes named; tags, resource names and locations. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "unit.h"

enum { O_DIR, O_JSON, O_OUT, O_ADD };

static const struct args_opt table[] = {
	[O_DIR] = { "config-dir", 0, ARGS_VALUE },
	[O_JSON] = { "json", 'j', ARGS_FLAG },
	[O_OUT] = { "output", 'o', ARGS_VALUE },
	[O_ADD] = { "add", 0, ARGS_FLAG },
	{ NULL, 0, 0 }
};

static int
parse(struct args *a, char *err, size_t errlen, ...)
{
	char	*argv[32];
	int	 argc = 0;
	va_list	 ap;

	argv[argc++] = "azcmagent";
	va_start(ap, errlen);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return args_parse(argc, argv, table, a, err, errlen);
}

static void
test_options_anywhere(void)
{
	struct args	a;
	char		err[128];

	CU_ASSERT_EQUAL_FATAL(parse(&a, err, sizeof(err), "config", "-j", "set",
	    "--config-dir", "/tmp/c", "k", "v", "--add", NULL), 0);
	CU_ASSERT_EQUAL(a.npos, 4);
	CU_ASSERT_STRING_EQUAL(a.pos[0], "config");
	CU_ASSERT_STRING_EQUAL(a.pos[3], "v");
	CU_ASSERT_STRING_EQUAL(a.value[O_DIR], "/tmp/c");
	CU_ASSERT_PTR_NOT_NULL(a.value[O_JSON]);
	CU_ASSERT_PTR_NOT_NULL(a.value[O_ADD]);
	CU_ASSERT_PTR_NULL(a.value[O_OUT]);

	CU_ASSERT_EQUAL_FATAL(parse(&a, err, sizeof(err), "logs", "--output=x.tgz",
	    "--config-dir=/a", "--config-dir", "/b", NULL), 0);
	CU_ASSERT_STRING_EQUAL(a.value[O_OUT], "x.tgz");
	CU_ASSERT_STRING_EQUAL(a.value[O_DIR], "/b");	/* the last one wins */

	CU_ASSERT_EQUAL_FATAL(parse(&a, err, sizeof(err), "logs", "-jo", "y.tgz",
	    NULL), 0);
	CU_ASSERT_PTR_NOT_NULL(a.value[O_JSON]);
	CU_ASSERT_STRING_EQUAL(a.value[O_OUT], "y.tgz");
	CU_ASSERT_EQUAL_FATAL(parse(&a, err, sizeof(err), "logs", "-oz.tgz", NULL), 0);
	CU_ASSERT_STRING_EQUAL(a.value[O_OUT], "z.tgz");

	/* After "--" a word that looks like an option is a value. */
	CU_ASSERT_EQUAL_FATAL(parse(&a, err, sizeof(err), "config", "set", "--",
	    "k", "-1", NULL), 0);
	CU_ASSERT_EQUAL(a.npos, 4);
	CU_ASSERT_STRING_EQUAL(a.pos[3], "-1");
	/* A lone "-" is a word. */
	CU_ASSERT_EQUAL_FATAL(parse(&a, err, sizeof(err), "-", NULL), 0);
	CU_ASSERT_EQUAL(a.npos, 1);
}

static void
test_mistakes(void)
{
	struct args	a;
	char		err[128];

	CU_ASSERT_EQUAL(parse(&a, err, sizeof(err), "show", "--jsn", NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown option '--jsn'"));
	CU_ASSERT_EQUAL(parse(&a, err, sizeof(err), "show", "-x", NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'-x'"));
	CU_ASSERT_EQUAL(parse(&a, err, sizeof(err), "show", "--config-dir", NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a value"));
	CU_ASSERT_EQUAL(parse(&a, err, sizeof(err), "show", "-o", NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a value"));
	CU_ASSERT_EQUAL(parse(&a, err, sizeof(err), "show", "--json=yes", NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "takes no value"));
	CU_ASSERT_EQUAL(parse(&a, err, sizeof(err), "a", "b", "c", "d", "e", "f",
	    "g", "h", "i", NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too many arguments"));
	CU_ASSERT_EQUAL(args_index(table, "output"), O_OUT);
	CU_ASSERT_EQUAL(args_index(table, "nope"), -1);
}

static void
test_tags(void)
{
	struct args_tags	t;
	char			err[128], many[2048];
	size_t			len = 0;
	int			i;

	CU_ASSERT_EQUAL_FATAL(args_tags_parse("env=prod, team = ops ,empty=,eq=a=b",
	    &t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(t.n, 4);
	CU_ASSERT_STRING_EQUAL(t.tag[0].key, "env");
	CU_ASSERT_STRING_EQUAL(t.tag[0].value, "prod");
	CU_ASSERT_STRING_EQUAL(t.tag[1].key, "team");
	CU_ASSERT_STRING_EQUAL(t.tag[1].value, "ops");
	CU_ASSERT_STRING_EQUAL(t.tag[2].value, "");
	CU_ASSERT_STRING_EQUAL(t.tag[3].value, "a=b");
	args_tags_clear(&t);
	CU_ASSERT_PTR_NULL(t.buf);

	CU_ASSERT_EQUAL(args_tags_parse("novalue", &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not key=value"));
	CU_ASSERT_EQUAL(args_tags_parse("=v", &t, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(args_tags_parse("a/b=v", &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "a/b"));
	CU_ASSERT_EQUAL(args_tags_parse("Env=1,env=2", &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "twice"));
	CU_ASSERT_EQUAL(args_tags_parse(",,", &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no tags"));
	for (i = 0; i <= ARGS_MAX_TAGS; i++)
		len += snprintf(many + len, sizeof(many) - len, "%sk%d=v", i ? "," : "", i);
	CU_ASSERT_EQUAL(args_tags_parse(many, &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than"));
	CU_ASSERT_PTR_NULL(t.buf);	/* nothing left to free after a mistake */
}

static void
test_names_and_locations(void)
{
	char	long_name[80];

	CU_ASSERT_TRUE(args_name_ok("m1"));
	CU_ASSERT_TRUE(args_name_ok("web-01.prod_a"));
	CU_ASSERT_FALSE(args_name_ok(""));
	CU_ASSERT_FALSE(args_name_ok("-m1"));
	CU_ASSERT_FALSE(args_name_ok("m 1"));
	CU_ASSERT_FALSE(args_name_ok("m/1"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	CU_ASSERT_TRUE(args_name_ok(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	CU_ASSERT_FALSE(args_name_ok(long_name));
	CU_ASSERT_TRUE(args_location_ok("eastus"));
	CU_ASSERT_FALSE(args_location_ok(""));
	CU_ASSERT_FALSE(args_location_ok("east us"));
}

static const struct unit_test tests[] = {
	{ "options anywhere, values, last wins", test_options_anywhere },
	{ "mistakes are named", test_mistakes },
	{ "tags", test_tags },
	{ "resource names and locations", test_names_and_locations },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("azcmagent_args", tests);
}
