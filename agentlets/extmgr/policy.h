/* policy.h -- the local controls of agent.conf applied to one extension operation: allowed, or refused with the reason naming the setting. */
#ifndef EXTMGR_POLICY_H
#define EXTMGR_POLICY_H

#include <stddef.h>

struct agentconf;

enum policy_op {
	POLICY_INSTALL,		/* a new extension */
	POLICY_RECONFIGURE,	/* new settings: a new sequence number */
	POLICY_UPGRADE,		/* another version */
	POLICY_DELETE,		/* disable and uninstall */
};

/*
 * May the extension "publisher/type" undergo op under ac?  Returns 1, or 0
 * with reason filled ("refused by the local setting extensions.blocklist:
 * it lists Contoso/Hello").  In order (ARC-FACTS): extensions.enabled false
 * refuses everything, delete included, since no handler may run; delete is
 * otherwise always allowed; config.mode monitor allows its fixed list and
 * nothing else (the two lists are locked: not read); the blocklist refuses
 * what it lists; a non-empty allowlist refuses what it does not list, and
 * "Allow/None" in it refuses everything.  Entries match "Publisher/Type"
 * whole, ignoring case.
 */
int	policy_allowed(const struct agentconf *ac, const char *publisher,
	    const char *type, enum policy_op op, char *reason, size_t len);

#endif
