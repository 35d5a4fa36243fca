/* notify.c -- notify.cloudsim.test: one WebSocket channel per machine (machine certificate, RFC 6455 on wslay), pings, goal-state and session messages down, refusals up. */
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <jansson.h>
#include <libconfig.h>
#include <openssl/ssl.h>

#include "acceptor.h"
#include "addr.h"
#include "conf.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "notify.h"
#include "pki.h"
#include "registry.h"
#include "simconf.h"
#include "tls.h"
#include "ws.h"

#define NOTIFY_MAX_HEAD		8192	/* the upgrade request's head */
#define NOTIFY_HEAD_MS		10000	/* handshake and head */
#define NOTIFY_TICK_MS		500
#define NOTIFY_MAX_MSG		16384	/* what a machine may send at once */

static const char *const notify_keys[] = {
	"listen", "relay_listen", "relay_name", "ping_interval_ms",
	"dead_after_ms", "session_timeout_ms", "buffer_bytes", NULL
};

/* A connection: first the upgrade, then (with machine set) a channel. */
struct notify_chan {
	LIST_ENTRY(notify_chan)	 entry;
	struct notify_service	*ns;
	struct bufferevent	*bev;		/* until the upgrade */
	struct ws		*ws;		/* once upgraded */
	struct event		*deadline;	/* the upgrade's */
	struct http_msg		 head;
	char			 peer[64];
	char			 machine[REGISTRY_NAME_MAX];	/* "" until upgraded */
	double			 opened;
	double			 last_ping;
};

LIST_HEAD(notify_chans, notify_chan);

struct notify_service {
	struct event_base	*base;
	const struct simconf	*cfg;
	struct notify_conf	 conf;
	struct registry		*registry;
	SSL_CTX			*ctx;
	struct acceptor		*acceptor;
	struct notify_chans	 chans;
	struct event		*tick;
	notify_refused_cb	*refused;
	void			*refused_arg;
};

static double
notify_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
notify_addr(const config_setting_t *g, const char *key, int *has,
    struct sockaddr_storage *ss, int *len, struct conf_error *err)
{
	const char	*text = NULL;

	if (conf_string(g, key, &text, err) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if (text[0] == '\0') {
		*has = 0;
		return 0;
	}
	if (simconf_parse_addr(text, ss, len) == -1)
		return conf_fail(err, config_setting_get_member(g, key),
		    "notify.%s: \"%s\" is not an address like \"127.0.0.1:8450\"",
		    key, text);
	*has = 1;
	return 0;
}

int
notify_conf_load(const struct simconf *cfg, struct notify_conf *c, char *errbuf,
    size_t errlen)
{
	config_t		 lc;
	struct conf_error	 err;
	const config_setting_t	*g;
	const char		*relay = "relay.cloudsim.test:443";
	int			 rc = -1;

	memset(c, 0, sizeof(*c));
	c->has_listen = c->has_relay = 1;
	simconf_parse_addr("127.0.0.1:8450", &c->listen, &c->listen_len);
	simconf_parse_addr("127.0.0.1:8451", &c->relay_listen,
	    &c->relay_listen_len);
	c->ping_interval_ms = 20000;
	c->dead_after_ms = 45000;
	c->session_timeout_ms = 30000;
	c->buffer_bytes = 262144;
	err.text[0] = '\0';
	config_init(&lc);
	if (conf_read(&lc, cfg->path, &err) == -1)
		goto done;
	/* No notify group: both services off (a cloudsim.conf from before
	 * them, whose other cloudsims would share the default ports). */
	if ((g = config_lookup(&lc, "notify")) == NULL)
		c->has_listen = c->has_relay = 0;
	else {
		if (!config_setting_is_group(g)) {
			conf_fail(&err, g, "notify: expected a group { ... }");
			goto done;
		}
		if (conf_check_keys(g, notify_keys, &err) == -1 ||
		    notify_addr(g, "listen", &c->has_listen, &c->listen,
		    &c->listen_len, &err) == -1 ||
		    notify_addr(g, "relay_listen", &c->has_relay,
		    &c->relay_listen, &c->relay_listen_len, &err) == -1 ||
		    conf_string(g, "relay_name", &relay, &err) == -1 ||
		    conf_int(g, "ping_interval_ms", 100, 3600000,
		    &c->ping_interval_ms, &err) == -1 ||
		    conf_int(g, "dead_after_ms", 200, 7200000, &c->dead_after_ms,
		    &err) == -1 ||
		    conf_int(g, "session_timeout_ms", 100, 3600000,
		    &c->session_timeout_ms, &err) == -1 ||
		    conf_int(g, "buffer_bytes", 4096, 67108864, &c->buffer_bytes,
		    &err) == -1)
			goto done;
	}
	if (strlen(relay) >= sizeof(c->relay_name) || strchr(relay, ':') == NULL) {
		snprintf(err.text, sizeof(err.text), "%s: notify.relay_name: "
		    "expected \"host:port\"", cfg->path);
		goto done;
	}
	snprintf(c->relay_name, sizeof(c->relay_name), "%s", relay);
	rc = 0;
 done:
	if (rc == -1)
		snprintf(errbuf, errlen, "%s", err.text);
	config_destroy(&lc);
	return rc;
}

static void
notify_chan_free(struct notify_chan *c)
{
	LIST_REMOVE(c, entry);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	ws_free(c->ws);
	free(c);
}

static struct notify_chan *
notify_find(struct notify_service *ns, const char *machine)
{
	struct notify_chan	*c;

	LIST_FOREACH(c, &ns->chans, entry)
		if (c->ws != NULL && strcmp(c->machine, machine) == 0)
			return c;
	return NULL;
}

/* A refusal of the upgrade, then close once written. */
static void
notify_refuse(struct notify_chan *c, int status, const char *reason,
    const char *fmt, const char *arg)
{
	char	text[400];

	snprintf(text, sizeof(text), fmt, arg);
	log_info("channel %s: %d %s", c->peer, status, text);
	http_write_error(bufferevent_get_output(c->bev), status, reason, NULL,
	    text);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	/* The write callback would be the place to close; a short linger
	 * via the deadline is enough for a one-line answer. */
	evtimer_del(c->deadline);
	{
		struct timeval	tv = { 0, 200000 };

		evtimer_add(c->deadline, &tv);
	}
}

static void
notify_on_ws_message(void *arg, const char *text, size_t len)
{
	struct notify_chan	*c = arg;
	struct notify_service	*ns = c->ns;
	json_t			*doc;
	const char		*type, *id, *reason;

	if ((doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) == NULL) {
		log_info("channel %s: a message that is not JSON ignored",
		    c->machine);
		return;
	}
	type = json_string_value(json_object_get(doc, "type"));
	id = json_string_value(json_object_get(doc, "id"));
	reason = json_string_value(json_object_get(doc, "reason"));
	if (type != NULL && strcmp(type, "sessionRefused") == 0 && id != NULL &&
	    reason != NULL) {
		if (ns->refused != NULL)
			ns->refused(ns->refused_arg, c->machine, id, reason);
	} else
		log_info("channel %s: a message of type %s ignored", c->machine,
		    type ? type : "(none)");
	json_decref(doc);
}

static void
notify_on_ws_closed(void *arg, const char *why)
{
	struct notify_chan	*c = arg;

	log_info("channel %s (%s) closed after %.1f s: %s", c->machine, c->peer,
	    notify_now() - c->opened, why);
	notify_chan_free(c);
}

static const struct ws_ops notify_ws_ops = {
	notify_on_ws_message, notify_on_ws_closed
};

/* The machine the client certificate names, if the control plane issued
 * it and did not revoke it; -1 with why. */
static int
notify_identity(struct notify_service *ns, SSL *ssl, char *machine,
    size_t len, char *why, size_t whylen)
{
	char	serial[REGISTRY_SERIAL_MAX];

	if (pki_peer_identity(ssl, machine, len, serial, sizeof(serial), why,
	    whylen) == -1)
		return -1;
	if (registry_cert_state(ns->registry, machine, serial, time(NULL), NULL,
	    NULL) != REGISTRY_CERT_MACHINE) {
		snprintf(why, whylen, "certificate of %s (serial %s) is not one "
		    "the control plane issued to a registered machine", machine,
		    serial);
		return -1;
	}
	return 0;
}

static void
notify_upgrade(struct notify_chan *c)
{
	struct notify_service	*ns = c->ns;
	struct notify_chan	*old;
	const char		*v, *path = c->head.raw + c->head.url.off;
	char			 machine[REGISTRY_NAME_MAX], want[300], why[300];
	char			 key[64], accept[WS_ACCEPT_LEN + 4];
	size_t			 len;
	SSL			*ssl = bufferevent_openssl_get_ssl(c->bev);

	if (notify_identity(ns, ssl, machine, sizeof(machine), why,
	    sizeof(why)) == -1) {
		notify_refuse(c, 401, "Unauthorized", "machine certificate "
		    "required: %s", why);
		return;
	}
	snprintf(want, sizeof(want), "/machines/%s/channel", machine);
	if (c->head.url.len != strlen(want) || memcmp(path, want,
	    c->head.url.len) != 0) {
		notify_refuse(c, 403, "Forbidden", "the channel of a machine is "
		    "/machines/%s/channel", machine);
		return;
	}
	if (strcmp(http_msg_method(&c->head), "GET") != 0 ||
	    !http_msg_is_upgrade(&c->head) ||
	    http_msg_find(&c->head, "upgrade", &v, &len) == -1 ||
	    !http_token_in_list(v, len, "websocket", 9) ||
	    http_msg_find(&c->head, "sec-websocket-version", &v, &len) == -1 ||
	    len != 2 || memcmp(v, "13", 2) != 0 ||
	    http_msg_find(&c->head, "sec-websocket-key", &v, &len) == -1 ||
	    len != WS_KEY_LEN) {
		notify_refuse(c, 400, "Bad Request", "%s", "expected a WebSocket "
		    "upgrade: GET, Upgrade: websocket, Connection: Upgrade, "
		    "Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key");
		return;
	}
	memcpy(key, v, len);
	key[len] = '\0';
	ws_accept(key, accept, sizeof(accept));
	evbuffer_drain(bufferevent_get_input(c->bev), c->head.head_len);
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	/* One channel per machine: the newest wins. */
	if ((old = notify_find(ns, machine)) != NULL) {
		log_info("channel %s: replaced by a new connection from %s",
		    machine, c->peer);
		notify_chan_free(old);
	}
	evtimer_del(c->deadline);
	if ((c->ws = ws_new(c->bev, 1, NOTIFY_MAX_MSG, &notify_ws_ops,
	    c)) == NULL) {
		notify_chan_free(c);
		return;
	}
	c->bev = NULL;
	snprintf(c->machine, sizeof(c->machine), "%s", machine);
	c->opened = c->last_ping = notify_now();
	log_info("channel %s open from %s", machine, c->peer);
}

static void
notify_on_read(struct bufferevent *bev, void *arg)
{
	struct notify_chan	*c = arg;

	switch (http_msg_head(&c->head, bufferevent_get_input(bev),
	    NOTIFY_MAX_HEAD)) {
	case HTTP_STEP_MORE:
		return;
	case HTTP_STEP_HEAD:
		notify_upgrade(c);
		return;
	default:
		notify_refuse(c, 400, "Bad Request", "%s", "not an HTTP/1.1 "
		    "request head");
	}
}

static void
notify_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct notify_chan	*c = arg;
	char			 why[128];

	if (what & BEV_EVENT_CONNECTED)
		return;		/* the TLS handshake is done */
	tls_bev_errors(bev, why, sizeof(why));
	if (why[0] != '\0')
		log_info("channel %s: %s", c->peer, why);
	notify_chan_free(c);
}

static void
notify_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct notify_chan	*c = arg;

	(void)fd;
	(void)what;
	if (c->bev != NULL && bufferevent_get_enabled(c->bev) & EV_READ)
		log_info("channel %s: no upgrade request in time", c->peer);
	notify_chan_free(c);
}

static void
notify_on_accept(void *arg, evutil_socket_t fd, struct sockaddr *peer,
    int peerlen)
{
	struct notify_service	*ns = arg;
	struct notify_chan	*c;
	struct timeval		 tv = { NOTIFY_HEAD_MS / 1000, 0 };

	(void)peerlen;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->ns = ns;
	LIST_INSERT_HEAD(&ns->chans, c, entry);
	addr_format(peer, c->peer, sizeof(c->peer));
	http_msg_init(&c->head, HTTP_REQUEST);
	if ((c->deadline = evtimer_new(ns->base, notify_on_deadline, c)) == NULL ||
	    (c->bev = tls_accept(ns->base, ns->ctx, fd, NULL)) == NULL) {
		if (c->bev == NULL)
			evutil_closesocket(fd);
		notify_chan_free(c);
		return;
	}
	evtimer_add(c->deadline, &tv);
	bufferevent_setcb(c->bev, notify_on_read, NULL, notify_on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static const struct acceptor_ops notify_accept_ops = {
	notify_on_accept, NULL, "notify"
};

/* Pings what has been quiet, drops what stayed quiet too long. */
static void
notify_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct notify_service	*ns = arg;
	struct notify_chan	*c, *next;
	struct timeval		 tv = { 0, NOTIFY_TICK_MS * 1000 };
	double			 now = notify_now(), quiet;

	(void)fd;
	(void)what;
	for (c = LIST_FIRST(&ns->chans); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->ws == NULL)
			continue;
		quiet = now - ws_last_read(c->ws);
		if (quiet * 1000 >= ns->conf.dead_after_ms) {
			log_info("channel %s: nothing heard for %.1f s: dropped",
			    c->machine, quiet);
			notify_chan_free(c);
		} else if (quiet * 1000 >= ns->conf.ping_interval_ms &&
		    (now - c->last_ping) * 1000 >= ns->conf.ping_interval_ms) {
			c->last_ping = now;
			ws_ping(c->ws);
		}
	}
	evtimer_add(ns->tick, &tv);
}

struct notify_service *
notify_service_new(struct event_base *base, const struct simconf *cfg,
    const struct notify_conf *conf, struct registry *registry, char *err,
    size_t errlen)
{
	struct notify_service	*ns;
	struct timeval		 tv = { 0, NOTIFY_TICK_MS * 1000 };

	if ((ns = calloc(1, sizeof(*ns))) == NULL) {
		snprintf(err, errlen, "notify: out of memory");
		return NULL;
	}
	ns->base = base;
	ns->cfg = cfg;
	ns->conf = *conf;
	ns->registry = registry;
	LIST_INIT(&ns->chans);
	if ((ns->ctx = pki_server_ctx(cfg->pki_dir, "services", err,
	    errlen)) == NULL)
		goto fail;
	tls_server_alpn(ns->ctx, TLS_ALPN_HTTP11);
	if ((ns->tick = evtimer_new(base, notify_on_tick, ns)) == NULL ||
	    (ns->acceptor = acceptor_new(base, &notify_accept_ops, ns, err,
	    errlen)) == NULL || acceptor_listen(ns->acceptor,
	    (struct sockaddr *)&conf->listen, (socklen_t)conf->listen_len, 0,
	    ACCEPTOR_BACKLOG, err, errlen) == -1)
		goto fail;
	evtimer_add(ns->tick, &tv);
	return ns;
 fail:
	if (err[0] == '\0')
		snprintf(err, errlen, "notify: out of memory");
	notify_service_free(ns);
	return NULL;
}

void
notify_service_on_refused(struct notify_service *ns, notify_refused_cb *cb,
    void *arg)
{
	ns->refused = cb;
	ns->refused_arg = arg;
}

void
notify_service_stop(struct notify_service *ns)
{
	struct notify_chan	*c;

	if (ns == NULL)
		return;
	acceptor_free(ns->acceptor);
	ns->acceptor = NULL;
	/* Going away: the machines reconnect to the next cloudsim. */
	LIST_FOREACH(c, &ns->chans, entry)
		if (c->ws != NULL)
			ws_close(c->ws, 1001, "cloudsim is stopping");
}

void
notify_service_free(struct notify_service *ns)
{
	if (ns == NULL)
		return;
	acceptor_free(ns->acceptor);
	while (!LIST_EMPTY(&ns->chans))
		notify_chan_free(LIST_FIRST(&ns->chans));
	if (ns->tick != NULL)
		event_free(ns->tick);
	SSL_CTX_free(ns->ctx);
	free(ns);
}

int
notify_send(struct notify_service *ns, const char *machine, const char *text)
{
	struct notify_chan	*c;

	if (ns == NULL || (c = notify_find(ns, machine)) == NULL)
		return -1;
	return ws_send_text(c->ws, text, strlen(text));
}

int
notify_goal_state(struct notify_service *ns, const char *machine,
    const char *topic, long long seq)
{
	json_t	*doc;
	char	*text;
	int	 rc = -1;

	if (ns == NULL)
		return -1;	/* no notification service in this cloudsim */
	if ((doc = json_pack("{s:s, s:s, s:I}", "type", "goalState", "topic",
	    topic, "seq", (json_int_t)seq)) == NULL)
		return -1;
	if ((text = json_dumps(doc, JSON_COMPACT)) != NULL) {
		rc = notify_send(ns, machine, text);
		log_info("goal state %s %lld for %s: %s", topic, seq, machine,
		    rc == 0 ? "sent down its channel" : "no channel open: it "
		    "polls");
	}
	free(text);
	json_decref(doc);
	return rc;
}

int
notify_listening(struct notify_service *ns, const char *machine)
{
	return ns != NULL && notify_find(ns, machine) != NULL;
}

void
notify_operator_post(struct notify_service *ns, struct httpd_request *req,
    const char *machine)
{
	json_t		*body, *seq;
	const char	*topic;
	int		 rc;

	if (ns == NULL) {
		httpd_error(req, 503, "NotifyOff", "the notification service is "
		    "off in this cloudsim (notify.listen is \"\")");
		return;
	}
	body = json_loadb(req->body, req->body_len, 0, NULL);
	topic = json_string_value(json_object_get(body, "topic"));
	seq = json_object_get(body, "seq");
	if (topic == NULL || (strcmp(topic, "extensions") != 0 &&
	    strcmp(topic, "guestConfiguration") != 0) || !json_is_integer(seq) ||
	    json_integer_value(seq) < 0) {
		json_decref(body);
		httpd_error(req, 400, "InvalidRequest", "expected {\"topic\": "
		    "\"extensions\"|\"guestConfiguration\", \"seq\": N}");
		return;
	}
	rc = notify_goal_state(ns, machine, topic, json_integer_value(seq));
	json_decref(body);
	httpd_reply(req, 200, json_pack("{s:b}", "sent", rc == 0));
}
