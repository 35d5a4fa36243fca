/* tunnel.c -- bytes both ways between a client and a target bufferevent, with backpressure and half-close passed across. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "relay.h"
#include "tls.h"
#include "tunnel.h"

struct tunnel {
	struct relay		 relay;		/* client = the client, upstream = the target */
	void			(*done)(void *, const struct tunnel_result *);
	void			*arg;
	char			 error[160];
};

static struct relay_end *
tunnel_end_of(struct tunnel *t, struct bufferevent *bev)
{
	return bev == t->relay.client.bev ? &t->relay.client : &t->relay.upstream;
}

static const char *
tunnel_end_name(struct tunnel *t, struct relay_end *e)
{
	return e == &t->relay.client ? "client" : "target";
}

static void
tunnel_finish(struct tunnel *t, const char *error)
{
	struct tunnel_result	r;

	r.up = t->relay.client.bytes;
	r.down = t->relay.upstream.bytes;
	r.error = error;
	bufferevent_disable(t->relay.client.bev, EV_READ | EV_WRITE);
	bufferevent_disable(t->relay.upstream.bev, EV_READ | EV_WRITE);
	t->done(t->arg, &r);		/* may free t */
}

/* Sends EOF after what was written: close_notify first on a TLS end. */
static void
tunnel_shutdown(void *arg)
{
	tls_shutdown_write(arg);
}

static void
tunnel_on_read(struct bufferevent *bev, void *arg)
{
	struct tunnel		*t = arg;
	struct relay_end	*from = tunnel_end_of(t, bev);

	/* A plain TCP target (the gateway's), which libevent reads 4 KiB at
	 * a time: what the kernel holds, up to the window, in one read.  Not
	 * a TLS end (the sessions relay's machine side): its bytes are
	 * OpenSSL's to read. */
	if (from == &t->relay.upstream && !from->paused && !from->eof &&
	    bufferevent_openssl_get_ssl(bev) == NULL)
		relay_read_more(&from->win, NULL, bev, t->relay.high_water);
	relay_read(&t->relay, from);
}

static void
tunnel_on_write(struct bufferevent *bev, void *arg)
{
	struct tunnel	*t = arg;

	if (relay_drained(&t->relay, tunnel_end_of(t, bev)))
		tunnel_finish(t, NULL);
}

static void
tunnel_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel		*t = arg;
	struct relay_end	*from = tunnel_end_of(t, bev);
	char			 why[128];
	int			 err = EVUTIL_SOCKET_ERROR();

	/* EOF while writing is a dead peer, not a half-close. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_WRITING)) {
		if (relay_eof(&t->relay, from)) {
			tunnel_finish(t, NULL);
			return;
		}
		/* libevent's TLS bufferevent stops writing when it reads a
		 * close_notify; the other direction goes on. */
		if (!from->shut)
			bufferevent_enable(from->bev, EV_WRITE);
		return;
	}
	tls_bev_errors(bev, why, sizeof(why));
	if (why[0] == '\0')
		snprintf(why, sizeof(why), "%s", (what & BEV_EVENT_TIMEOUT) ?
		    "timed out" : err != 0 ? evutil_socket_error_to_string(err) :
		    "connection failed");
	snprintf(t->error, sizeof(t->error), "%s %s: %s",
	    tunnel_end_name(t, from), (what & BEV_EVENT_READING) ? "read" :
	    "write", why);
	tunnel_finish(t, t->error);
}

/*
 * lib/relay's pump with no budget, each way's window starting at high_water:
 * a reader pauses while its partner holds that much and resumes below half
 * (le-proxy).  Neither end is written straight to its socket: either may be
 * TLS.
 */
struct tunnel *
tunnel_new(struct bufferevent *client, struct bufferevent *target,
    size_t high_water, void (*done)(void *, const struct tunnel_result *),
    void *arg)
{
	struct tunnel	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	relay_init(&t->relay, client, target, high_water, NULL);
	t->relay.client.win.high = t->relay.upstream.win.high = high_water;
	t->relay.client.shutdown_write = tunnel_shutdown;
	t->relay.client.arg = client;
	t->relay.upstream.shutdown_write = tunnel_shutdown;
	t->relay.upstream.arg = target;
	t->done = done;
	t->arg = arg;
	bufferevent_setcb(client, tunnel_on_read, tunnel_on_write,
	    tunnel_on_event, t);
	bufferevent_setcb(target, tunnel_on_read, tunnel_on_write,
	    tunnel_on_event, t);
	relay_start(&t->relay);
	return t;
}

void
tunnel_free(struct tunnel *t)
{
	if (t == NULL)
		return;
	bufferevent_free(t->relay.client.bev);
	bufferevent_free(t->relay.upstream.bev);
	free(t);
}
