/* policy.c -- the local controls of agent.conf applied to one extension operation: allowed, or refused with the reason naming the setting. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agentconf.h"
#include "policy.h"

#define POLICY_ALLOW_NONE	"Allow/None"

/* Does "publisher/type" equal entry, ignoring case? */
static int
policy_match(const char *entry, const char *publisher, const char *type)
{
	size_t	plen = strlen(publisher);

	return strncasecmp(entry, publisher, plen) == 0 && entry[plen] == '/' &&
	    strcasecmp(entry + plen + 1, type) == 0;
}

static int
policy_listed(const struct agentconf_list *l, const char *publisher,
    const char *type)
{
	int	i;

	for (i = 0; i < l->n; i++)
		if (policy_match(l->items[i], publisher, type))
			return 1;
	return 0;
}

int
policy_allowed(const struct agentconf *ac, const char *publisher,
    const char *type, enum policy_op op, char *reason, size_t len)
{
	const struct agentconf_list	*allow = &ac->extensions_allowlist;
	int				 i;

	if (!ac->extensions_enabled) {
		snprintf(reason, len, "refused by the local setting "
		    "extensions.enabled = false: no extension handler runs");
		return 0;
	}
	if (op == POLICY_DELETE)
		return 1;
	if (ac->config_mode == AGENTCONF_MODE_MONITOR) {
		for (i = 0; agentconf_monitor_extensions[i] != NULL; i++)
			if (policy_match(agentconf_monitor_extensions[i], publisher, type))
				return 1;
		snprintf(reason, len, "refused by the local setting "
		    "config.mode = monitor: %s/%s is not one of its monitoring "
		    "and security extensions", publisher, type);
		return 0;
	}
	if (policy_listed(&ac->extensions_blocklist, publisher, type)) {
		snprintf(reason, len, "refused by the local setting "
		    "extensions.blocklist: it lists %s/%s", publisher, type);
		return 0;
	}
	if (allow->n == 0)
		return 1;
	for (i = 0; i < allow->n; i++)
		if (strcasecmp(allow->items[i], POLICY_ALLOW_NONE) == 0) {
			snprintf(reason, len, "refused by the local setting "
			    "extensions.allowlist = Allow/None: no extension "
			    "may be installed");
			return 0;
		}
	if (policy_listed(allow, publisher, type))
		return 1;
	snprintf(reason, len, "refused by the local setting "
	    "extensions.allowlist: it does not list %s/%s", publisher, type);
	return 0;
}
