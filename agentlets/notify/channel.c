/* channel.c -- the persistent WebSocket (RFC 6455, wslay) to the cloud's notification service through arcproxy: upgrade, pings both ways, jittered reconnects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "channel.h"
#include "dial.h"
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
	if (was_open)
		ch->ops->state(ch->arg, 0, why);
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

/* The upgrade's answer head: 101, Upgrade: websocket, Connection: Upgrade
 * and the right Sec-WebSocket-Accept (RFC 6455 4.1).  0, or -1 with why. */
static int
channel_check_head(struct notify_channel *ch, char *head, char *why,
    size_t whylen)
{
	char	*line, *save = NULL, *v, want[WS_ACCEPT_LEN + 4];
	int	 upgrade = 0, connection = 0, accept = 0, status = 0;

	ws_accept(ch->key, want, sizeof(want));
	for (line = strtok_r(head, "\r\n", &save); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save)) {
		if (status == 0) {
			if (sscanf(line, "HTTP/1.1 %d", &status) != 1 ||
			    status != 101) {
				snprintf(why, whylen, "the upgrade was refused: "
				    "%.150s", line);
				return -1;
			}
			continue;
		}
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		if (strcasecmp(line, "Upgrade") == 0)
			upgrade = strcasecmp(v, "websocket") == 0;
		else if (strcasecmp(line, "Connection") == 0)
			connection = strcasestr(v, "upgrade") != NULL;
		else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0)
			accept = strcmp(v, want) == 0;
	}
	if (!upgrade || !connection || !accept) {
		snprintf(why, whylen, "the 101 answer lacks %s",
		    !upgrade ? "Upgrade: websocket" : !connection ?
		    "Connection: Upgrade" : "the right Sec-WebSocket-Accept");
		return -1;
	}
	return 0;
}

static void
channel_on_head(struct bufferevent *bev, void *arg)
{
	struct notify_channel	*ch = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 end;
	char			*head, why[256];
	size_t			 len;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) > CHANNEL_MAX_HEAD)
			channel_down(ch, "the upgrade's answer head is too long");
		return;
	}
	len = (size_t)end.pos + 4;
	if ((head = malloc(len + 1)) == NULL) {
		channel_down(ch, "out of memory");
		return;
	}
	evbuffer_remove(in, head, len);
	head[len] = '\0';
	if (channel_check_head(ch, head, why, sizeof(why)) == -1) {
		free(head);
		channel_down(ch, why);
		return;
	}
	free(head);
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
	ch->ops->state(ch->arg, 1, NULL);
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
	int	was_open = ch->state == CHANNEL_OPEN;

	channel_drop(ch);
	ch->conf = *conf;
	ch->failures = 0;
	ch->state = CHANNEL_WAIT;
	channel_arm(ch, 0);
	if (was_open)
		ch->ops->state(ch->arg, 0, "restarted with a new configuration");
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
