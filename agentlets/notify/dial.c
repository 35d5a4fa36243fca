/* dial.c -- one outbound TLS connection through arcproxy: TCP to the proxy, CONNECT host:port, then TLS end to end with the machine certificate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "connect.h"
#include "dial.h"
#include "tls.h"

enum dial_state {
	DIAL_TCP,	/* connecting to arcproxy */
	DIAL_CONNECT,	/* CONNECT sent, waiting for arcproxy's answer */
	DIAL_TLS,	/* the tunnel is open; TLS handshake with the far end */
};

struct notify_dial {
	struct event_base		*base;
	enum dial_state			 state;
	struct bufferevent		*bev;
	struct connect_handshake	*connect;
	SSL				*ssl;	/* owned by bev once it is TLS */
	struct event			*timer;
	char				 host[256];
	uint16_t			 port;
	notify_dial_cb			*cb;
	void				*arg;
	char				 error[512];
};

static void
dial_release(struct notify_dial *d)
{
	evutil_socket_t	fd = -1;

	connect_free(d->connect);
	d->connect = NULL;
	/* Before TLS the bufferevent does not own its socket. */
	if (d->bev != NULL && d->state != DIAL_TLS)
		fd = bufferevent_getfd(d->bev);
	/* Once TLS, the bufferevent owns the SSL; before, we do. */
	if (d->bev != NULL && d->state == DIAL_TLS)
		d->ssl = NULL;
	if (d->bev != NULL)
		bufferevent_free(d->bev);
	if (d->ssl != NULL)
		SSL_free(d->ssl);
	if (fd != -1)
		evutil_closesocket(fd);
	d->bev = NULL;
	d->ssl = NULL;
	if (d->timer != NULL)
		event_free(d->timer);
	d->timer = NULL;
}

static void
dial_done(struct notify_dial *d, struct bufferevent *tls, const char *error)
{
	notify_dial_cb	*cb = d->cb;
	void		*arg = d->arg;

	/* The caller may free d from the callback: copy what it needs. */
	snprintf(d->error, sizeof(d->error), "%s", error ? error : "");
	d->cb = NULL;
	cb(tls, error ? d->error : NULL, arg);
}

static void
dial_fail(struct notify_dial *d, const char *fmt, const char *why)
{
	char	buf[512];

	snprintf(buf, sizeof(buf), fmt, d->host, d->port, why);
	dial_release(d);
	dial_done(d, NULL, buf);
}

static void
dial_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct notify_dial	*d = arg;
	static const char	*steps[] = { "connecting to arcproxy",
		"waiting for arcproxy's answer to CONNECT", "TLS handshake" };

	(void)fd;
	(void)what;
	dial_fail(d, "%s:%u: timed out %s", steps[d->state]);
}

static void
dial_on_tls(struct bufferevent *bev, short what, void *arg)
{
	struct notify_dial	*d = arg;
	char			 why[256];

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		d->bev = NULL;
		d->ssl = NULL;
		dial_release(d);
		dial_done(d, bev, NULL);
		return;
	}
	tls_handshake_error(d->ssl, bufferevent_get_openssl_error(bev), why,
	    sizeof(why));
	dial_fail(d, "%s:%u: TLS: %s", why);
}

static void
dial_on_answer(enum connect_result result, int status, const char *reason,
    void *arg)
{
	struct notify_dial	*d = arg;
	char			 why[300];
	int			 fd;

	(void)status;
	snprintf(why, sizeof(why), "%s", result == CONNECT_CLOSED ?
	    "arcproxy closed the connection" : reason);
	connect_free(d->connect);
	d->connect = NULL;
	if (result != CONNECT_OPEN) {
		dial_fail(d, "%s:%u: arcproxy refused CONNECT: %s", why);
		return;
	}
	/* The socket moves to a TLS bufferevent (the first one was opened
	 * without CLOSE_ON_FREE); the far end says nothing before our hello. */
	fd = bufferevent_getfd(d->bev);
	bufferevent_free(d->bev);
	d->bev = NULL;
	d->state = DIAL_TLS;
	if ((d->bev = bufferevent_openssl_socket_new(d->base, fd, d->ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		dial_fail(d, "%s:%u: %s", "cannot start TLS");
		return;
	}
	bufferevent_setcb(d->bev, NULL, NULL, dial_on_tls, d);
	bufferevent_enable(d->bev, EV_READ | EV_WRITE);
}

static void
dial_on_tcp(struct bufferevent *bev, short what, void *arg)
{
	struct notify_dial	*d = arg;

	if (!(what & BEV_EVENT_CONNECTED)) {
		dial_fail(d, "%s:%u: cannot connect to arcproxy: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	d->state = DIAL_CONNECT;
	if ((d->connect = connect_start(bev, d->host, d->port, dial_on_answer,
	    d)) == NULL)
		dial_fail(d, "%s:%u: %s", "out of memory");
}

struct notify_dial *
notify_dial_start(struct event_base *base, const struct sockaddr *proxy,
    socklen_t proxy_len, SSL_CTX *ctx, const char *host, uint16_t port,
    long timeout_ms, notify_dial_cb *cb, void *arg, char *error, size_t errlen)
{
	struct notify_dial	*d;
	struct timeval		 tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(error, errlen, "out of memory");
		return NULL;
	}
	d->base = base;
	d->cb = cb;
	d->arg = arg;
	d->port = port;
	snprintf(d->host, sizeof(d->host), "%s", host);
	if ((d->ssl = tls_client_new(ctx, host, NULL)) == NULL ||
	    (d->timer = evtimer_new(base, dial_on_timeout, d)) == NULL ||
	    (d->bev = bufferevent_socket_new(base, -1, 0)) == NULL) {
		snprintf(error, errlen, "out of memory");
		goto fail;
	}
	bufferevent_setcb(d->bev, NULL, NULL, dial_on_tcp, d);
	if (bufferevent_socket_connect(d->bev, proxy, (int)proxy_len) == -1) {
		snprintf(error, errlen, "cannot connect to arcproxy: %s",
		    strerror(errno));
		goto fail;
	}
	evtimer_add(d->timer, &tv);
	return d;
 fail:
	dial_release(d);
	free(d);
	return NULL;
}

void
notify_dial_free(struct notify_dial *d)
{
	if (d == NULL)
		return;
	dial_release(d);
	free(d);
}
