/* session.c -- one incoming remote session: the local port, then the relay through arcproxy with the rendezvous token, then bytes both ways until one side ends or the local controls say no. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "arcnotify.h"
#include "dial.h"
#include "log.h"
#include "msg.h"
#include "pump.h"
#include "session.h"

#define SESSION_HELLO_MAX	512	/* the relay's answer line */

enum session_state {
	SESSION_LOCAL,		/* connecting to 127.0.0.1:port */
	SESSION_DIAL,		/* the relay through arcproxy, TLS */
	SESSION_HELLO,		/* token sent, waiting for the relay's OK */
	SESSION_OPEN,		/* bytes both ways (pump) */
};

struct notify_session {
	LIST_ENTRY(notify_session)	 entry;
	struct arcnotify		*a;
	enum session_state		 state;
	char				 id[NOTIFY_ID_MAX];
	char				 by[NOTIFY_WHO_MAX];
	char				 relay_host[NOTIFY_HOST_MAX];
	uint16_t			 relay_port;
	char				 token[NOTIFY_TOKEN_MAX];
	int				 port;
	struct bufferevent		*local;
	struct bufferevent		*relay;
	struct notify_dial		*dial;
	struct pump			*pump;
	struct event			*timer;		/* the setup's deadline */
	struct timespec			 started;
};

static long long
session_ms(const struct notify_session *s)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - s->started.tv_sec) * 1000LL +
	    (now.tv_nsec - s->started.tv_nsec) / 1000000;
}

/* The one log line of every session, then it is gone. */
static void
session_end(struct notify_session *s, const char *why)
{
	uint64_t	up = 0, down = 0;

	if (s->pump != NULL)
		pump_bytes(s->pump, &up, &down);
	log_info("session %s for %s to port %d ended: %s; up=%llu down=%llu "
	    "ms=%lld", s->id, s->by, s->port, why, (unsigned long long)up,
	    (unsigned long long)down, session_ms(s));
	LIST_REMOVE(s, entry);
	s->a->nsessions--;
	pump_free(s->pump);
	notify_dial_free(s->dial);
	if (s->local != NULL)
		bufferevent_free(s->local);
	if (s->relay != NULL)
		bufferevent_free(s->relay);
	if (s->timer != NULL)
		event_free(s->timer);
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
}

/* Ended before any byte moved, for a reason the operator should hear. */
static void
session_refuse(struct notify_session *s, const char *why)
{
	arcnotify_refuse(s->a, s->id, why);
	session_end(s, why);
}

static void
session_on_pump(void *arg, const char *error)
{
	struct notify_session	*s = arg;
	char			 why[256];

	snprintf(why, sizeof(why), "%s", error ? error : "both sides closed");
	session_end(s, why);
}

static void
session_on_hello(struct bufferevent *bev, void *arg)
{
	struct notify_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line, why[300];
	size_t			 len;

	if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) == NULL) {
		if (evbuffer_get_length(in) > SESSION_HELLO_MAX)
			session_end(s, "the relay's answer is too long");
		return;
	}
	if (strcmp(line, "OK") != 0) {
		snprintf(why, sizeof(why), "the relay refused the session: "
		    "%.200s", line);
		free(line);
		session_refuse(s, why);
		return;
	}
	free(line);
	evtimer_del(s->timer);
	s->state = SESSION_OPEN;
	if ((s->pump = pump_new(s->relay, s->local,
	    (size_t)s->a->settings.buffer_bytes, session_on_pump, s)) == NULL) {
		session_end(s, "out of memory");
		return;
	}
	s->relay = s->local = NULL;	/* the pump's now */
	log_info("session %s for %s to port %d: open after %lld ms", s->id,
	    s->by, s->port, session_ms(s));
}

static void
session_on_relay_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	session_refuse(arg, (what & BEV_EVENT_EOF) ? "the relay closed the "
	    "connection before answering" : "the relay connection failed");
}

static void
session_on_dial(struct bufferevent *tls, const char *error, void *arg)
{
	struct notify_session	*s = arg;
	char			 why[600];
	int			 one = 1;

	if (tls == NULL) {
		snprintf(why, sizeof(why), "relay: %s", error);
		session_refuse(s, why);
		return;
	}
	notify_dial_free(s->dial);
	s->dial = NULL;
	s->relay = tls;
	s->state = SESSION_HELLO;
	setsockopt(bufferevent_getfd(tls), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	evbuffer_add_printf(bufferevent_get_output(tls), "SESSION %s %s\r\n",
	    s->id, s->token);
	bufferevent_setcb(tls, session_on_hello, NULL, session_on_relay_event, s);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

/* Bytes from the local port wait in its input until the relay is joined;
 * one that closes first ends the session. */
static void
session_on_local_early(struct bufferevent *bev, short what, void *arg)
{
	struct notify_session	*s = arg;
	char			 why[200];
	int			 err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		struct arcnotify	*a = s->a;
		char			 e[256];

		bufferevent_disable(bev, EV_READ);	/* until the pump */
		s->state = SESSION_DIAL;
		if ((s->dial = notify_dial_start(a->base,
		    (struct sockaddr *)&a->settings.proxy, a->settings.proxy_len,
		    a->tls, s->relay_host, s->relay_port,
		    (long)a->settings.connect_timeout_ms, session_on_dial, s, e,
		    sizeof(e))) == NULL)
			session_end(s, e);
		return;
	}
	if (s->state == SESSION_LOCAL) {
		snprintf(why, sizeof(why), "nothing accepts connections on "
		    "127.0.0.1:%d (%s)", s->port, err ?
		    evutil_socket_error_to_string(err) : "connection failed");
		session_refuse(s, why);
		return;
	}
	session_end(s, "the local port closed before the relay answered");
}

static void
session_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct notify_session	*s = arg;

	(void)fd;
	(void)what;
	if (s->state == SESSION_LOCAL)
		session_refuse(s, "the local port did not accept in time");
	else
		session_refuse(s, "the relay did not answer in time");
}

int
notify_session_start(struct arcnotify *a, const struct notify_msg *m)
{
	struct notify_session	*s;
	struct sockaddr_in	 sin;
	struct timeval		 tv;
	long long		 ms = a->settings.connect_timeout_ms * 2;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->a = a;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	snprintf(s->id, sizeof(s->id), "%s", m->id);
	snprintf(s->by, sizeof(s->by), "%s", m->requested_by[0] ?
	    m->requested_by : "the cloud");
	snprintf(s->relay_host, sizeof(s->relay_host), "%s", m->relay_host);
	snprintf(s->token, sizeof(s->token), "%s", m->token);
	s->relay_port = m->relay_port;
	s->port = m->port;
	LIST_INSERT_HEAD(&a->sessions, s, entry);
	a->nsessions++;
	log_info("session %s for %s to port %d: allowed by the local controls, "
	    "connecting", s->id, s->by, s->port);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if ((s->timer = evtimer_new(a->base, session_on_timeout, s)) == NULL ||
	    (s->local = bufferevent_socket_new(a->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		session_end(s, "out of memory");
		return 0;
	}
	evtimer_add(s->timer, &tv);
	/* The local leg is loopback, direct: arcproxy refuses loopback
	 * destinations, and only the ports the operator listed get here. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)s->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bufferevent_setcb(s->local, NULL, NULL, session_on_local_early, s);
	if (bufferevent_socket_connect(s->local, (struct sockaddr *)&sin,
	    sizeof(sin)) == -1)
		session_refuse(s, "cannot connect to the local port");
	return 0;
}

void
notify_session_recheck(struct arcnotify *a, const char *why)
{
	struct notify_session	*s, *next;
	char			 reason[300], no[256];

	for (s = LIST_FIRST(&a->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (why != NULL)
			session_end(s, why);
		else if (notify_policy_check(&a->agent, s->port, no,
		    sizeof(no)) == -1) {
			snprintf(reason, sizeof(reason), "ended by the local "
			    "controls: %s", no);
			session_end(s, reason);
		}
	}
}
