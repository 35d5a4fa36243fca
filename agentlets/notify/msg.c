/* msg.c -- the notification channel's messages: cloud to machine parsed and checked, machine to cloud written; the local controls on a session. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentconf.h"
#include "msg.h"

static const char *const msg_topics[] = { "extensions", "guestConfiguration",
	NULL };

/* Is s 1..max-1 characters, each a letter, digit or one of extra? */
static int
msg_word_ok(const char *s, size_t min, size_t max, const char *extra)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (i + 1 >= max || !(isalnum((unsigned char)s[i]) ||
		    strchr(extra, s[i]) != NULL))
			return 0;
	return i >= min;
}

/* A string member copied into buf after the character check. */
static int
msg_word(json_t *doc, const char *key, char *buf, size_t len, size_t min,
    const char *extra, char *err, size_t errlen)
{
	json_t		*v = json_object_get(doc, key);
	const char	*s;

	if (!json_is_string(v) || strlen(s = json_string_value(v)) !=
	    json_string_length(v) || !msg_word_ok(s, min, len, extra)) {
		snprintf(err, errlen, "\"%s\": expected %zu to %zu of "
		    "[A-Za-z0-9%s]", key, min, len - 1, extra);
		return -1;
	}
	snprintf(buf, len, "%s", s);
	return 0;
}

static int
msg_integer(json_t *doc, const char *key, long long min, long long max,
    long long *out, char *err, size_t errlen)
{
	json_t	*v = json_object_get(doc, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, errlen, "\"%s\": expected an integer from %lld to "
		    "%lld", key, min, max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
msg_goal_state(json_t *doc, struct notify_msg *m, char *err, size_t errlen)
{
	const char	*topic = json_string_value(json_object_get(doc, "topic"));
	int		 i;

	m->type = NOTIFY_MSG_GOALSTATE;
	for (i = 0; topic != NULL && msg_topics[i] != NULL; i++)
		if (strcmp(topic, msg_topics[i]) == 0)
			m->topic = msg_topics[i];
	if (m->topic == NULL) {
		snprintf(err, errlen, "\"topic\": expected \"extensions\" or "
		    "\"guestConfiguration\"");
		return -1;
	}
	return msg_integer(doc, "seq", 0, (1LL << 53), &m->seq, err, errlen);
}

/* "host:port", a DNS name and a port. */
static int
msg_relay(json_t *doc, struct notify_msg *m, char *err, size_t errlen)
{
	char		 buf[NOTIFY_HOST_MAX + 8], *colon, *end;
	long		 port;

	if (msg_word(doc, "relay", buf, sizeof(buf), 3, ".-:", err,
	    errlen) == -1)
		return -1;
	if ((colon = strrchr(buf, ':')) == NULL || colon == buf ||
	    colon - buf >= NOTIFY_HOST_MAX || strchr(buf, ':') != colon)
		goto bad;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 ||
	    port > 65535)
		goto bad;
	*colon = '\0';
	if (buf[0] == '.' || buf[0] == '-')
		goto bad;
	memcpy(m->relay_host, buf, (size_t)(colon - buf) + 1);
	m->relay_port = (uint16_t)port;
	return 0;
 bad:
	snprintf(err, errlen, "\"relay\": expected \"host:port\"");
	return -1;
}

static int
msg_session(json_t *doc, struct notify_msg *m, char *err, size_t errlen)
{
	json_t		*by;
	const char	*s;
	long long	 port;
	size_t		 i;

	m->type = NOTIFY_MSG_SESSION;
	if (msg_word(doc, "id", m->id, sizeof(m->id), 1, "-", err,
	    errlen) == -1 ||
	    msg_integer(doc, "port", 1, 65535, &port, err, errlen) == -1 ||
	    msg_relay(doc, m, err, errlen) == -1 ||
	    msg_word(doc, "token", m->token, sizeof(m->token), 16, "_-", err,
	    errlen) == -1)
		return -1;
	m->port = (int)port;
	/* Who asked: only for the log, printable ASCII, cut to size. */
	if (json_is_string(by = json_object_get(doc, "requestedBy"))) {
		s = json_string_value(by);
		for (i = 0; s[i] != '\0' && i + 1 < sizeof(m->requested_by); i++)
			m->requested_by[i] = (s[i] >= 0x20 && s[i] < 0x7f) ?
			    s[i] : '_';
		m->requested_by[i] = '\0';
	}
	return 0;
}

int
notify_msg_parse(const char *text, size_t len, struct notify_msg *m, char *err,
    size_t errlen)
{
	json_error_t	 jerr;
	json_t		*doc;
	const char	*type;
	int		 rc = -1;

	memset(m, 0, sizeof(*m));
	if (len > NOTIFY_MSG_MAX) {
		snprintf(err, errlen, "message of %zu bytes (at most %d)", len,
		    NOTIFY_MSG_MAX);
		return -1;
	}
	if ((doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(err, errlen, "not JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(doc) || (type = json_string_value(json_object_get(doc,
	    "type"))) == NULL) {
		snprintf(err, errlen, "expected an object with a \"type\"");
		goto done;
	}
	if (strcmp(type, "goalState") == 0)
		rc = msg_goal_state(doc, m, err, errlen);
	else if (strcmp(type, "session") == 0)
		rc = msg_session(doc, m, err, errlen);
	else
		rc = 1;
 done:
	json_decref(doc);
	return rc;
}

char *
notify_msg_refusal(const char *id, const char *reason)
{
	json_t	*doc;
	char	*text;

	if ((doc = json_pack("{s:s, s:s, s:s}", "type", "sessionRefused", "id",
	    id, "reason", reason)) == NULL)
		return NULL;
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/* Is port in "22" or "8000-8080"?  agentconf checked the form. */
static int
policy_port_in(const char *item, int port)
{
	char	*end;
	long	 lo, hi;

	lo = strtol(item, &end, 10);
	hi = lo;
	if (*end == '-')
		hi = strtol(end + 1, &end, 10);
	if (*end != '\0')
		return 0;
	return port >= lo && port <= hi;
}

int
notify_policy_check(const struct agentconf *ac, int port, char *why,
    size_t whylen)
{
	int	i;

	if (!ac->incomingconnections_enabled) {
		snprintf(why, whylen, "incoming connections are disabled on "
		    "this machine (incomingconnections.enabled = false)");
		return -1;
	}
	if (ac->config_mode == AGENTCONF_MODE_MONITOR) {
		snprintf(why, whylen, "the agent is in monitor mode "
		    "(config.mode = monitor): no incoming connections");
		return -1;
	}
	for (i = 0; i < ac->incomingconnections_ports.n; i++)
		if (policy_port_in(ac->incomingconnections_ports.items[i], port))
			return 0;
	snprintf(why, whylen, "port %d is not in incomingconnections.ports "
	    "(%s)", port, ac->incomingconnections_ports.n == 0 ? "empty: no "
	    "port allowed" : "azcmagent config set incomingconnections.ports "
	    "--add to allow it");
	return -1;
}
