/* arcnotify.c -- the notification agentlet: flags, notify.conf, privileges, signals, the channel's messages (goal-state wake files, sessions under the local controls). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "agentconf.h"
#include "agentlet.h"
#include "arcnotify.h"
#include "atomicfile.h"
#include "channel.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "machine.h"
#include "msg.h"
#include "safedir.h"
#include "session.h"
#include "tls.h"
#include "url.h"

static const char *const settings_keys[] = {
	"proxy", "channel_host", "channel_port", "ping_interval_ms",
	"dead_after_ms", "backoff_min_ms", "backoff_max_ms",
	"connect_timeout_ms", "max_sessions", "buffer_bytes", NULL
};

static int
settings_read(void *arg, config_t *lc, struct conf_error *err)
{
	struct arcnotify_settings	*s = arg;
	const config_setting_t		*root = config_root_setting(lc);
	const config_setting_t		*at;
	const char			*proxy = ARC_URL_PROXY;
	const char			*host = "notify.cloudsim.test";
	const char			*why;
	char				 phost[256], text[300];
	uint16_t			 pport;

	if (conf_check_keys(root, settings_keys, err) == -1 ||
	    conf_string(root, "proxy", &proxy, err) == -1 ||
	    conf_string(root, "channel_host", &host, err) == -1 ||
	    conf_int(root, "channel_port", 1, 65535, &s->channel_port, err) == -1 ||
	    conf_int(root, "ping_interval_ms", 100, 3600000, &s->ping_interval_ms,
	    err) == -1 ||
	    conf_int(root, "dead_after_ms", 200, 7200000, &s->dead_after_ms,
	    err) == -1 ||
	    conf_int(root, "backoff_min_ms", 10, 600000, &s->backoff_min_ms,
	    err) == -1 ||
	    conf_int(root, "backoff_max_ms", 10, 3600000, &s->backoff_max_ms,
	    err) == -1 ||
	    conf_int(root, "connect_timeout_ms", 100, 600000,
	    &s->connect_timeout_ms, err) == -1 ||
	    conf_int(root, "max_sessions", 1, 1024, &s->max_sessions, err) == -1 ||
	    conf_int(root, "buffer_bytes", 4096, 67108864, &s->buffer_bytes,
	    err) == -1)
		return -1;
	/* Name the line of the key that is set (the other is a default). */
	if ((at = config_setting_get_member(root, "dead_after_ms")) == NULL &&
	    (at = config_setting_get_member(root, "ping_interval_ms")) == NULL)
		at = root;
	if (s->dead_after_ms <= s->ping_interval_ms)
		return conf_fail(err, at, "dead_after_ms (%lld) must be more than "
		    "ping_interval_ms (%lld)", s->dead_after_ms, s->ping_interval_ms);
	if ((at = config_setting_get_member(root, "backoff_max_ms")) == NULL &&
	    (at = config_setting_get_member(root, "backoff_min_ms")) == NULL)
		at = root;
	if (s->backoff_max_ms < s->backoff_min_ms)
		return conf_fail(err, at, "backoff_max_ms must be at least "
		    "backoff_min_ms");
	if (url_parse_authority(proxy, "http", 3128, phost, sizeof(phost),
	    &pport) == -1 || snprintf(text, sizeof(text), strchr(phost, ':') ?
	    "[%s]:%u" : "%s:%u", phost, pport) < 0 ||
	    addr_parse(text, &s->proxy, &s->proxy_len) == -1)
		return conf_fail(err, config_setting_get_member(root, "proxy"),
		    "proxy: \"%s\" is not like \"http://127.0.0.1:40343\" (an "
		    "address and a port)", proxy);
	if (url_parse_local_proxy(proxy, phost, sizeof(phost), &pport,
	    &why) == -1)
		return conf_fail(err, config_setting_get_member(root, "proxy"),
		    "proxy: \"%s\" %s", proxy, why);
	if (host[0] == '\0' || strlen(host) > 253 || strpbrk(host, " /:@") != NULL)
		return conf_fail(err, config_setting_get_member(root,
		    "channel_host"), "channel_host: a host name");
	if ((s->channel_host = strdup(host)) == NULL)
		return conf_fail(err, root, "out of memory");
	return 0;
}

static void
settings_clear(struct arcnotify_settings *s)
{
	free(s->path);
	free(s->channel_host);
	memset(s, 0, sizeof(*s));
}

static int
settings_load(const char *config_dir, struct arcnotify_settings *s,
    char *errbuf, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->channel_port = 443;
	s->ping_interval_ms = 20000;	/* a dead path is noticed within a minute */
	s->dead_after_ms = 45000;
	s->backoff_min_ms = 1000;
	s->backoff_max_ms = 60000;
	s->connect_timeout_ms = 10000;
	s->max_sessions = 16;
	s->buffer_bytes = 262144;
	if (conf_load_file(config_dir, ARCNOTIFY_CONF, &s->path, &s->found,
	    settings_read, s, errbuf, errlen) == -1) {
		settings_clear(s);
		return -1;
	}
	return 0;
}

static void
channel_conf(const struct arcnotify *a, struct notify_channel_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->proxy = a->settings.proxy;
	c->proxy_len = a->settings.proxy_len;
	snprintf(c->host, sizeof(c->host), "%s", a->settings.channel_host);
	c->port = (uint16_t)a->settings.channel_port;
	snprintf(c->path, sizeof(c->path), "/machines/%s/channel",
	    a->machine != NULL ? a->machine->name : "-");
	c->ping_interval_ms = (long)a->settings.ping_interval_ms;
	c->dead_after_ms = (long)a->settings.dead_after_ms;
	c->backoff_min_ms = (long)a->settings.backoff_min_ms;
	c->backoff_max_ms = (long)a->settings.backoff_max_ms;
	c->connect_timeout_ms = (long)a->settings.connect_timeout_ms;
}

/* machine.json and the TLS context from it: the machine certificate as the
 * client's, the cloud's CA (caFile) as the only trust. */
static void
identity_load(struct arcnotify *a)
{
	struct himds_machine	*m = NULL;
	struct tls_client_conf	 tc;
	SSL_CTX			*ctx = NULL;
	char			 err[512];
	int			 rc;

	/* Read at every reconnect: what is wrong is said when it changes. */
	if ((rc = himds_machine_load(a->state_dir, &m, err, sizeof(err))) != 0 &&
	    strcmp(err, a->identity_note) != 0) {
		if (rc == -1)
			log_warnx("machine identity: %s", err);
		else
			log_info("%s: the channel waits for azcmagent connect", err);
	}
	if (rc != 0)
		snprintf(a->identity_note, sizeof(a->identity_note), "%s", err);
	else
		a->identity_note[0] = '\0';
	if (m != NULL) {
		memset(&tc, 0, sizeof(tc));
		tc.ca_file = m->ca_file;
		tc.cert_file = m->cert_file;
		tc.key_file = m->key_file;
		tc.alpn = (const unsigned char *)TLS_ALPN_HTTP11;
		tc.alpn_len = sizeof(TLS_ALPN_HTTP11) - 1;
		if ((ctx = tls_client_ctx(&tc, err, sizeof(err))) == NULL) {
			log_warnx("machine identity: %s", err);
			himds_machine_free(m);
			m = NULL;
		}
	}
	himds_machine_free(a->machine);
	a->machine = m;
	SSL_CTX_free(a->tls);	/* live connections keep their own reference */
	a->tls = ctx;
}

/* <run>/notify/<topic>: the seq, written whole; extmgr and guestconfig
 * watch the directory (inotify) and poll at once. */
static void
wake(struct arcnotify *a, const char *topic, long long seq)
{
	char	text[32], err[512];
	int	n;

	if (a->wake_fd == -1)
		return;
	n = snprintf(text, sizeof(text), "%lld\n", seq);
	if (atomicfile_writeat(a->wake_fd, topic, text, (size_t)n, 0644,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, ATOMICFILE_NOSYNC, err,
	    sizeof(err)) == -1)
		log_warnx("%s/%s/%s: %s", a->run_dir, ARCNOTIFY_WAKE_DIR, topic,
		    err);
	else
		log_info("goal state %s %lld: woke its agentlet", topic, seq);
}

void
arcnotify_refuse(struct arcnotify *a, const char *id, const char *reason)
{
	char	*text;

	if ((text = notify_msg_refusal(id, reason)) == NULL)
		return;
	if (a->channel == NULL || notify_channel_send(a->channel, text) == -1)
		log_warnx("session %s: the refusal could not be sent: the "
		    "channel is down", id);
	free(text);
}

static void
on_session(struct arcnotify *a, const struct notify_msg *m)
{
	char	why[300];

	if (notify_policy_check(&a->agent, m->port, why, sizeof(why)) == -1) {
		log_warnx("session %s for %s to port %d refused: %s", m->id,
		    m->requested_by[0] ? m->requested_by : "the cloud", m->port,
		    why);
		arcnotify_refuse(a, m->id, why);
		return;
	}
	if (a->nsessions >= a->settings.max_sessions) {
		snprintf(why, sizeof(why), "too many sessions (max_sessions = "
		    "%lld)", a->settings.max_sessions);
		log_warnx("session %s to port %d refused: %s", m->id, m->port,
		    why);
		arcnotify_refuse(a, m->id, why);
		return;
	}
	if (notify_session_start(a, m) == -1)
		arcnotify_refuse(a, m->id, "out of memory");
}

static void
on_message(void *arg, const char *text, size_t len)
{
	struct arcnotify	*a = arg;
	struct notify_msg	 m;
	char			 err[256];
	int			 rc;

	if ((rc = notify_msg_parse(text, len, &m, err, sizeof(err))) == -1) {
		log_warnx("a message from the cloud ignored: %s", err);
		return;
	}
	if (rc == 1) {
		log_debug("a message of another type ignored");
		return;
	}
	if (m.type == NOTIFY_MSG_GOALSTATE)
		wake(a, m.topic, m.seq);
	else
		on_session(a, &m);
	explicit_bzero(&m, sizeof(m));
}

static SSL_CTX *
on_tls(void *arg)
{
	struct arcnotify	*a = arg;

	/* Each connection re-reads the identity: a renewal or a new
	 * connect takes effect at the next one. */
	identity_load(a);
	return a->tls;
}

/* Sessions run on their own connections: a channel that drops leaves
 * them be. */
static const struct notify_channel_ops channel_ops = {
	on_message, on_tls
};

static int
settings_read_conf(const struct agentlet *al, void *s, char *err,
    size_t errlen)
{
	return settings_load(al->config_dir, s, err, errlen);
}

static void
settings_free(void *s)
{
	settings_clear(s);
}

static void
reloaded(void *arg, int ok)
{
	struct arcnotify		*a = arg;
	struct notify_channel_conf	 c;
	char				*old = NULL;

	if (!ok)
		return;
	log_info("configuration reloaded (%s, agent.conf)", a->settings.path);
	/* Live sessions the controls no longer allow end now. */
	notify_session_recheck(a, NULL);
	if (a->machine != NULL && (old = strdup(a->machine->name)) == NULL)
		return;
	identity_load(a);
	channel_conf(a, &c);
	/* A new identity or new settings: connect again (the channel's
	 * reconnects read the identity anew in any case). */
	if (a->machine == NULL || old == NULL ||
	    strcmp(old, a->machine->name) != 0 || !notify_channel_up(a->channel) ||
	    notify_channel_conf_changed(a->channel, &c))
		notify_channel_restart(a->channel, &c);
	free(old);
}

/* <run>/notify: the agentlet's own (0755, so the watchers can read), made
 * by root before the privileges go, through the run dir's checked fd (no
 * other user can change the path to it); one that another user owns
 * already is refused.  The fd is what it writes through. */
static int
wake_dir(struct arcnotify *a, const struct privdrop_user *u)
{
	char	err[PATH_MAX + 256];
	int	pfd, fd;

	if ((pfd = daemon_run_dir_open(a->run_dir, err, sizeof(err))) == -1)
		fatalx("%s", err);
	if ((fd = safedir_take(pfd, ARCNOTIFY_WAKE_DIR, 0755, u ? u->uid :
	    SAFEDIR_KEEP_UID, u ? u->gid : SAFEDIR_KEEP_GID, err,
	    sizeof(err))) == -1)
		fatalx("%s/%s", a->run_dir, err);
	close(pfd);
	return fd;
}

/* In the loop, as root still: the wake directory. */
static void
start(struct agentlet *al)
{
	struct arcnotify	*a = al->ctx;

	a->base = al->base;
	a->config_dir = al->config_dir;
	a->state_dir = al->state_dir;
	a->run_dir = al->run_dir;
	a->wake_fd = wake_dir(a, al->as);
}

static void
started(void *arg)
{
	struct arcnotify		*a = arg;
	struct notify_channel_conf	 c;

	identity_load(a);
	channel_conf(a, &c);
	if ((a->channel = notify_channel_new(a->base, &c, &channel_ops,
	    a)) == NULL)
		fatalx("out of memory");
	log_info("started, config %s%s, state %s, channel wss://%s:%lld through "
	    "arcproxy", a->settings.path, a->settings.found ? "" :
	    " (absent: the defaults)", a->state_dir, a->settings.channel_host,
	    a->settings.channel_port);
}

static void
stop(void *arg)
{
	struct arcnotify	*a = arg;

	notify_session_recheck(a, "the agentlet is stopping");
	notify_channel_free(a->channel);
	himds_machine_free(a->machine);
	SSL_CTX_free(a->tls);
	close(a->wake_fd);
}

static const struct agentlet_ops arcnotify_agentlet = {
	.name = "arcnotify",
	.user = ARCNOTIFY_USER,
	AGENTLET_SETTINGS(struct arcnotify, settings),
	.agent_offset = offsetof(struct arcnotify, agent),
	.settings_load = settings_read_conf,
	.settings_clear = settings_free,
	.reloaded = reloaded,
	.start = start,
	.started = started,
	.stop = stop,
};

int
main(int argc, char *argv[])
{
	struct arcnotify	a;

	memset(&a, 0, sizeof(a));
	a.wake_fd = -1;
	LIST_INIT(&a.sessions);
	return agentlet_main(argc, argv, &arcnotify_agentlet, &a);
}
