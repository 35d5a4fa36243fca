/* extmgr_policy_test.c -- every row of the local controls' table: enabled, monitor mode, blocklist, allowlist, Allow/None, delete. */
#include <string.h>

#include "agentconf.h"
#include "policy.h"
#include "unit.h"

static char *allow_items[4], *block_items[4];

static void
conf(struct agentconf *ac, int enabled, int monitor, const char *allow,
    const char *allow2, const char *block)
{
	memset(ac, 0, sizeof(*ac));
	ac->extensions_enabled = enabled;
	ac->config_mode = monitor ? AGENTCONF_MODE_MONITOR : AGENTCONF_MODE_FULL;
	ac->extensions_allowlist.items = allow_items;
	ac->extensions_blocklist.items = block_items;
	if (allow != NULL)
		allow_items[ac->extensions_allowlist.n++] = (char *)allow;
	if (allow2 != NULL)
		allow_items[ac->extensions_allowlist.n++] = (char *)allow2;
	if (block != NULL)
		block_items[ac->extensions_blocklist.n++] = (char *)block;
}

static int
allowed(const struct agentconf *ac, const char *p, const char *t,
    enum policy_op op, char *reason)
{
	reason[0] = '\0';
	return policy_allowed(ac, p, t, op, reason, 512);
}

static void
test_defaults(void)
{
	struct agentconf	ac;
	char			r[512];
	int			op;

	conf(&ac, 1, 0, NULL, NULL, NULL);
	for (op = POLICY_INSTALL; op <= POLICY_DELETE; op++)
		CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", op, r), 1);
}

static void
test_disabled(void)
{
	struct agentconf	ac;
	char			r[512];
	int			op;

	conf(&ac, 0, 0, "Contoso/Hello", NULL, NULL);
	for (op = POLICY_INSTALL; op <= POLICY_DELETE; op++) {
		CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", op, r), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(r, "extensions.enabled"));
	}
}

static void
test_blocklist(void)
{
	struct agentconf	ac;
	char			r[512];

	conf(&ac, 1, 0, NULL, NULL, "Contoso/Hello");
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_INSTALL, r), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "extensions.blocklist"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Contoso/Hello"));
	CU_ASSERT_EQUAL(allowed(&ac, "contoso", "HELLO", POLICY_UPGRADE, r), 0);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_RECONFIGURE, r),
	    0);
	/* Delete is always allowed; other extensions are not touched. */
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_DELETE, r), 1);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello2", POLICY_INSTALL, r), 1);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso.X", "Hello", POLICY_INSTALL, r), 1);
	CU_ASSERT_EQUAL(allowed(&ac, "Contos", "o/Hello", POLICY_INSTALL, r), 1);
}

static void
test_allowlist(void)
{
	struct agentconf	ac;
	char			r[512];

	conf(&ac, 1, 0, "Contoso/Hello", NULL, NULL);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_INSTALL, r), 1);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Other", POLICY_INSTALL, r), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "extensions.allowlist"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Contoso/Other"));
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Other", POLICY_DELETE, r), 1);
}

static void
test_both_lists(void)
{
	struct agentconf	ac;
	char			r[512];

	/* Listed in both: the blocklist wins. */
	conf(&ac, 1, 0, "Contoso/Hello", NULL, "Contoso/Hello");
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_INSTALL, r), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "extensions.blocklist"));
	/* Blocked elsewhere, allowed here. */
	conf(&ac, 1, 0, "Contoso/Hello", NULL, "Contoso/Other");
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_INSTALL, r), 1);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Other", POLICY_INSTALL, r), 0);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Third", POLICY_INSTALL, r), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "extensions.allowlist"));
}

static void
test_allow_none(void)
{
	struct agentconf	ac;
	char			r[512];

	conf(&ac, 1, 0, "Allow/None", NULL, NULL);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_INSTALL, r), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "Allow/None"));
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_RECONFIGURE, r),
	    0);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_DELETE, r), 1);
	/* Allow/None with another entry still allows nothing. */
	conf(&ac, 1, 0, "Contoso/Hello", "Allow/None", NULL);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_INSTALL, r), 0);
}

static void
test_monitor(void)
{
	struct agentconf	ac;
	char			r[512];
	int			i;

	/* The lists are locked: neither is read. */
	conf(&ac, 1, 1, "Contoso/Hello", NULL,
	    "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent");
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_INSTALL, r), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "config.mode"));
	CU_ASSERT_EQUAL(allowed(&ac, "Microsoft.Azure.Monitor",
	    "AzureMonitorLinuxAgent", POLICY_INSTALL, r), 1);
	for (i = 0; agentconf_monitor_extensions[i] != NULL; i++) {
		char	p[256], *t;

		strcpy(p, agentconf_monitor_extensions[i]);
		t = strchr(p, '/');
		*t++ = '\0';
		CU_ASSERT_EQUAL(allowed(&ac, p, t, POLICY_UPGRADE, r), 1);
	}
	CU_ASSERT(i >= 5);
	CU_ASSERT_EQUAL(allowed(&ac, "Contoso", "Hello", POLICY_DELETE, r), 1);
	/* Disabled beats monitor mode. */
	conf(&ac, 0, 1, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(allowed(&ac, "Microsoft.Azure.Monitor",
	    "AzureMonitorLinuxAgent", POLICY_INSTALL, r), 0);
}

static const struct unit_test tests[] = {
	{ "defaults allow everything", test_defaults },
	{ "extensions.enabled false refuses everything", test_disabled },
	{ "blocklist refuses, delete allowed", test_blocklist },
	{ "allowlist", test_allowlist },
	{ "both lists: the blocklist wins", test_both_lists },
	{ "Allow/None", test_allow_none },
	{ "monitor mode", test_monitor },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("extmgr_policy", tests);
}
