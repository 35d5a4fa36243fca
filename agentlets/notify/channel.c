/* channel.c -- the persistent WebSocket (RFC 6455, wslay) to the cloud's notification service through arcproxy: upgrade, pings both ways, jittered reconnects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "channel.h"
#include "dial.h"
#include "http.h"
#include "log.h"
#include "msg.h"
#include "version.h"
#include "ws.h"

#define CHANNEL_MAX_HEAD	8192	/* the upgrade's answer head */
#define CHANNEL_TICK_MS		250	/* how often the dead-path check runs */

enum channel_state {
	CHANNEL_WAIT,		/* backing off before the next try (or no identity) */
	CHANNEL_DIAL,		/* TCP, CONNECT and TLS through arcproxy */
	CHANNEL_UPGRADE,	/* GET with Upgrade sent, waiting for 101 */
	CHANNEL_OPEN,		/* frames both ways; pings keep it honest */
};

struct notify_channel {
	struct event_base		*base;
	struct notify_channel_conf	 conf;
	const struct notify_channel_ops	*ops;
	void				*arg;
	enum channel_state		 state;
	struct notify_dial		*dial;
	struct bufferevent		*bev;	/* during the upgrade */
	struct ws			*ws;	/* once open */
	struct event			*timer;	/* back-off, upgrade deadline, or tick */
	char				 key[WS_KEY_LEN + 1];
	struct http_msg			 head;	/* the upgrade's answer */
	int				 failures;	/* in a row, for the back-off */
	double				 last_ping;	/* when we last pinged */
	double				 opened;
};

static void	channel_try(struct notify_channel *);

static double
channel_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
channel_arm(struct notify_channel *ch, long ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ch->timer, &tv);
}

/* Drops whatever is under way. */
static void
channel_drop(struct notify_channel *ch)
{
	notify_dial_free(ch->dial);
	ch->dial = NULL;
	if (ch->bev != NULL)
		bufferevent_free(ch->bev);
	ch->bev = NULL;
	ws_free(ch->ws);
	ch->ws = NULL;
	evtimer_del(ch->timer);
}

/* Exponential from backoff_min_ms, capped, with the upper half jittered so
 * that machines behind one gateway do not come back in step. */
static long
channel_backoff(struct notify_channel *ch)
{
	unsigned	r = 0;
	long		ms = ch->conf.backoff_min_ms;
	int		i;

	for (i = 1; i < ch->failures && ms < ch->conf.backoff_max_ms; i++)
		ms *= 2;
	if (ms > ch->conf.backoff_max_ms)
		ms = ch->conf.backoff_max_ms;
	RAND_bytes((unsigned char *)&r, sizeof(r));
	return ms / 2 + (long)(r % (unsigned)(ms / 2 + 1));
}

static void
channel_down(struct notify_channel *ch, const char *reason)
{
	char	why[512];
	int	was_open = ch->state == CHANNEL_OPEN;
	long	ms;

	/* reason may live in what is dropped now (the ws, the dial). */
	snprintf(why, sizeof(why), "%s", reason);
	channel_drop(ch);
	/* A channel that stayed up a while starts the back-off afresh. */
	if (was_open && channel_now() - ch->opened > 60)
		ch->failures = 0;
	ch->failures++;
	ms = channel_backoff(ch);
	ch->state = CHANNEL_WAIT;
	log_info("notification channel %s: %s; again in %ld ms",
	    was_open ? "down" : "not up", why, ms);
	channel_arm(ch, ms);
}

static void
channel_ws_message(void *arg, const char *text, size_t len)
{
	struct notify_channel	*ch = arg;

	ch->ops->message(ch->arg, text, len);
}

static void
channel_ws_closed(void *arg, const char *why)
{
	channel_down(arg, why);
}

static const struct ws_ops channel_ws_ops = {
	channel_ws_message, channel_ws_closed
};

/* The upgrade's answer head, parsed by lib/http: 101, Upgrade: websocket,
 * Connection: Upgrade and the right Sec-WebSocket-Accept (RFC 6455 4.1).
 * 0, or -1 with why. */
static int
channel_check_head(struct notify_channel *ch, char *why, size_t whylen)
{
	const struct http_msg	*m = &ch->head;
	const char		*v;
	char			 want[WS_ACCEPT_LEN + 4];
	size_t			 len;

	if (m->parser.status_code != 101) {
		snprintf(why, whylen, "the upgrade was refused: %u %.*s",
		    m->parser.status_code, (int)(m->url.len > 100 ? 100 :
		    m->url.len), m->raw + m->url.off);
		return -1;
	}
	ws_accept(ch->key, want, sizeof(want));
	if (http_msg_find(m, "upgrade", &v, &len) == -1 ||
	    !http_token_in_list(v, len, "websocket", 9)) {
		snprintf(why, whylen, "the 101 answer lacks Upgrade: websocket");
		return -1;
	}
	if (http_msg_find(m, "connection", &v, &len) == -1 ||
	    !http_token_in_list(v, len, "upgrade", 7)) {
		snprintf(why, whylen, "the 101 answer lacks Connection: Upgrade");
		return -1;
	}
	if (http_msg_find(m, "sec-websocket-accept", &v, &len) == -1 ||
	    len != strlen(want) || memcmp(v, want, len) != 0) {
		snprintf(why, whylen, "the 101 answer lacks the right "
		    "Sec-WebSocket-Accept");
		return -1;
	}
	return 0;
}

static void
channel_on_head(struct bufferevent *bev, void *arg)
{
	struct notify_channel	*ch = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			 why[256];

	switch (http_msg_head(&ch->head, in, CHANNEL_MAX_HEAD)) {
	case HTTP_STEP_MORE:
		return;
	case HTTP_STEP_HEAD:
		break;
	case HTTP_STEP_TOO_LARGE:
		channel_down(ch, "the upgrade's answer head is too long");
		return;
	default:
		snprintf(why, sizeof(why), "the upgrade's answer is not HTTP: %s",
		    http_msg_error(&ch->head));
		channel_down(ch, why);
		return;
	}
	if (channel_check_head(ch, why, sizeof(why)) == -1) {
		channel_down(ch, why);
		return;
	}
	/* What follows the head is frames already. */
	evbuffer_drain(in, ch->head.head_len);
	evtimer_del(ch->timer);
	if ((ch->ws = ws_new(bev, 0, NOTIFY_MSG_MAX, &channel_ws_ops,
	    ch)) == NULL) {
		channel_down(ch, "out of memory");
		return;
	}
	ch->bev = NULL;
	ch->state = CHANNEL_OPEN;
	ch->opened = ch->last_ping = channel_now();
	ch->failures = 0;
	log_info("notification channel up: wss://%s%s through arcproxy",
	    ch->conf.host, ch->conf.path);
	channel_arm(ch, CHANNEL_TICK_MS);
}

static void
channel_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	channel_down(arg, (what & BEV_EVENT_EOF) ? "the service closed the "
	    "connection during the upgrade" : "connection failed during the "
	    "upgrade");
}

static void
channel_on_dial(struct bufferevent *tls, const char *error, void *arg)
{
	struct notify_channel	*ch = arg;
	struct evbuffer		*out;

	if (tls == NULL) {
		channel_down(ch, error);	/* frees the dial */
		return;
	}
	notify_dial_free(ch->dial);
	ch->dial = NULL;
	ch->bev = tls;
	ch->state = CHANNEL_UPGRADE;
	http_msg_init(&ch->head, HTTP_RESPONSE);
	if (ws_key_new(ch->key, sizeof(ch->key)) == -1) {
		channel_down(ch, "no random bytes for the key");
		return;
	}
	out = bufferevent_get_output(tls);
	evbuffer_add_printf(out, "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "User-Agent: arcnotify/%s\r\n\r\n", ch->conf.path, ch->conf.host,
	    ch->key, ARC_AGENT_VERSION);
	bufferevent_setcb(tls, channel_on_head, NULL, channel_on_event, ch);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void
channel_try(struct notify_channel *ch)
{
	SSL_CTX	*ctx;
	char	 err[256];

	if ((ctx = ch->ops->tls(ch->arg)) == NULL) {
		/* No identity yet: look again later (SIGHUP comes sooner). */
		ch->state = CHANNEL_WAIT;
		channel_arm(ch, ch->conf.backoff_max_ms);
		return;
	}
	ch->state = CHANNEL_DIAL;
	if ((ch->dial = notify_dial_start(ch->base,
	    (struct sockaddr *)&ch->conf.proxy, ch->conf.proxy_len, ctx,
	    ch->conf.host, ch->conf.port, ch->conf.connect_timeout_ms,
	    channel_on_dial, ch, err, sizeof(err))) == NULL) {
		channel_down(ch, err);
		return;
	}
	/* The dial has its own deadline; the upgrade's answer gets one too. */
	channel_arm(ch, 2 * ch->conf.connect_timeout_ms);
}

static void
channel_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct notify_channel	*ch = arg;
	double			 now = channel_now(), quiet;
	char			 why[128];

	(void)fd;
	(void)what;
	switch (ch->state) {
	case CHANNEL_WAIT:
		channel_try(ch);
		return;
	case CHANNEL_DIAL:
	case CHANNEL_UPGRADE:
		channel_down(ch, "no answer to the upgrade in time");
		return;
	case CHANNEL_OPEN:
		break;
	}
	quiet = now - ws_last_read(ch->ws);
	if (quiet * 1000 >= ch->conf.dead_after_ms) {
		snprintf(why, sizeof(why), "nothing heard for %.1f s (pings "
		    "unanswered): the path is dead", quiet);
		channel_down(ch, why);
		return;
	}
	if (quiet * 1000 >= ch->conf.ping_interval_ms &&
	    (now - ch->last_ping) * 1000 >= ch->conf.ping_interval_ms) {
		ch->last_ping = now;
		ws_ping(ch->ws);
	}
	channel_arm(ch, CHANNEL_TICK_MS);
}

struct notify_channel *
notify_channel_new(struct event_base *base,
    const struct notify_channel_conf *conf,
    const struct notify_channel_ops *ops, void *arg)
{
	struct notify_channel	*ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return NULL;
	ch->base = base;
	ch->conf = *conf;
	ch->ops = ops;
	ch->arg = arg;
	if ((ch->timer = evtimer_new(base, channel_on_timer, ch)) == NULL) {
		free(ch);
		return NULL;
	}
	ch->state = CHANNEL_WAIT;
	channel_arm(ch, 0);
	return ch;
}

void
notify_channel_restart(struct notify_channel *ch,
    const struct notify_channel_conf *conf)
{
	if (ch->state == CHANNEL_OPEN)
		log_info("notification channel: connecting again (a new identity "
		    "or new settings)");
	channel_drop(ch);
	ch->conf = *conf;
	ch->failures = 0;
	ch->state = CHANNEL_WAIT;
	channel_arm(ch, 0);
}

int
notify_channel_conf_changed(const struct notify_channel *ch,
    const struct notify_channel_conf *conf)
{
	return memcmp(&ch->conf, conf, sizeof(*conf)) != 0;
}

int
notify_channel_send(struct notify_channel *ch, const char *text)
{
	if (ch->state != CHANNEL_OPEN)
		return -1;
	return ws_send_text(ch->ws, text, strlen(text));
}

int
notify_channel_up(const struct notify_channel *ch)
{
	return ch->state == CHANNEL_OPEN;
}

void
notify_channel_free(struct notify_channel *ch)
{
	if (ch == NULL)
		return;
	if (ch->state == CHANNEL_OPEN)
		ws_close(ch->ws, 1001, "going away");
	channel_drop(ch);
	event_free(ch->timer);
	free(ch);
}
