/* msg.h -- the notification channel's messages: cloud to machine parsed and checked, machine to cloud written; the local controls on a session. */
#ifndef NOTIFY_MSG_H
#define NOTIFY_MSG_H

#include <stddef.h>
#include <stdint.h>

#define NOTIFY_MSG_MAX		16384	/* a longer text frame is refused */
#define NOTIFY_ID_MAX		65	/* session id and its NUL */
#define NOTIFY_TOKEN_MAX	129
#define NOTIFY_HOST_MAX		254
#define NOTIFY_WHO_MAX		128

struct agentconf;

enum notify_msg_type {
	NOTIFY_MSG_GOALSTATE,	/* a topic's goal state changed: wake its agentlet */
	NOTIFY_MSG_SESSION,	/* an operator asks for a session to a local port */
};

struct notify_msg {
	enum notify_msg_type	 type;
	const char		*topic;		/* GOALSTATE: "extensions" or "guestConfiguration" (static) */
	long long		 seq;		/* GOALSTATE: the goal state's sequence number */
	char			 id[NOTIFY_ID_MAX];	/* SESSION: [A-Za-z0-9-], 1-64 */
	int			 port;		/* SESSION: 1-65535 */
	char			 relay_host[NOTIFY_HOST_MAX];	/* SESSION: a DNS name */
	uint16_t		 relay_port;
	char			 token[NOTIFY_TOKEN_MAX];	/* SESSION: [A-Za-z0-9_-], 16-128 */
	char			 requested_by[NOTIFY_WHO_MAX];	/* SESSION: for the log ("" if not said) */
};

/*
 * Parses one text frame: 0 with msg filled, 1 for a well-formed message of
 * a type this agentlet does not know (ignored, for forward compatibility),
 * -1 with err saying what is wrong.  Never trusts a field it did not check.
 */
int	notify_msg_parse(const char *text, size_t len, struct notify_msg *,
	    char *err, size_t errlen);
/* {"type":"sessionRefused","id","reason"} as text; the caller frees it. */
char	*notify_msg_refusal(const char *id, const char *reason);

/*
 * The local controls on a session to port: 0 when agent.conf allows it,
 * -1 with why (incomingconnections.enabled false, config.mode monitor, or
 * the port not in incomingconnections.ports; an empty list allows nothing).
 */
int	notify_policy_check(const struct agentconf *, int port, char *why,
	    size_t whylen);

#endif
