/* tunnel.c -- bytes both ways between a client and a target bufferevent, with backpressure and half-close passed across. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "tls.h"
#include "tunnel.h"

struct tunnel_end {
	struct bufferevent	*bev;
	const char		*name;		/* "client" or "target", for errors */
	unsigned		 eof:1;		/* this end sent EOF */
	unsigned		 shut:1;	/* we sent EOF to this end */
	unsigned		 paused:1;	/* not read: the partner's output is full */
	uint64_t		 bytes;		/* read from this end and passed on */
};

struct tunnel {
	struct tunnel_end	 client;
	struct tunnel_end	 target;
	size_t			 high_water;	/* partner output that pauses a reader */
	void			(*done)(void *, const struct tunnel_result *);
	void			*arg;
	char			 error[160];
};

static struct tunnel_end *
tunnel_end_of(struct tunnel *t, struct bufferevent *bev)
{
	return bev == t->client.bev ? &t->client : &t->target;
}

static struct tunnel_end *
tunnel_partner(struct tunnel *t, struct tunnel_end *e)
{
	return e == &t->client ? &t->target : &t->client;
}

static void
tunnel_finish(struct tunnel *t, const char *error)
{
	struct tunnel_result	r;

	r.up = t->client.bytes;
	r.down = t->target.bytes;
	r.error = error;
	bufferevent_disable(t->client.bev, EV_READ | EV_WRITE);
	bufferevent_disable(t->target.bev, EV_READ | EV_WRITE);
	t->done(t->arg, &r);		/* may free t */
}

static int
tunnel_finished(const struct tunnel *t)
{
	return t->client.eof && t->client.shut && t->target.eof &&
	    t->target.shut;
}

/* Moves what from has read to its partner, pausing from above high water. */
static void
tunnel_move(struct tunnel *t, struct tunnel_end *from)
{
	struct tunnel_end	*to = tunnel_partner(t, from);
	struct evbuffer		*in = bufferevent_get_input(from->bev);
	struct evbuffer		*out = bufferevent_get_output(to->bev);
	size_t			 n = evbuffer_get_length(in);

	if (n == 0 || from->paused)
		return;
	from->bytes += n;
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) >= t->high_water) {
		/* Resume when the partner drains below half (le-proxy). */
		from->paused = 1;
		bufferevent_disable(from->bev, EV_READ);
		bufferevent_setwatermark(to->bev, EV_WRITE, t->high_water / 2, 0);
	}
}

/* Sends EOF to an end once everything for it has been written. */
static void
tunnel_shut(struct tunnel_end *to)
{
	if (to->shut || evbuffer_get_length(bufferevent_get_output(to->bev)) > 0)
		return;
	to->shut = 1;
	tls_shutdown_write(to->bev);
}

static void
tunnel_on_read(struct bufferevent *bev, void *arg)
{
	struct tunnel	*t = arg;

	tunnel_move(t, tunnel_end_of(t, bev));
}

static void
tunnel_on_write(struct bufferevent *bev, void *arg)
{
	struct tunnel		*t = arg;
	struct tunnel_end	*to = tunnel_end_of(t, bev);
	struct tunnel_end	*from = tunnel_partner(t, to);

	if (from->paused) {
		from->paused = 0;
		bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
		if (!from->eof)
			bufferevent_enable(from->bev, EV_READ);
		tunnel_move(t, from);
	}
	if (from->eof)
		tunnel_shut(to);
	if (tunnel_finished(t))
		tunnel_finish(t, NULL);
}

static void
tunnel_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel		*t = arg;
	struct tunnel_end	*from = tunnel_end_of(t, bev);
	struct tunnel_end	*to = tunnel_partner(t, from);
	char			 why[128];
	int			 err = EVUTIL_SOCKET_ERROR();

	/* EOF while writing is a dead peer, not a half-close. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_WRITING)) {
		from->eof = 1;
		from->paused = 0;
		bufferevent_disable(from->bev, EV_READ);
		tunnel_move(t, from);
		/* libevent's TLS bufferevent stops writing when it reads a
		 * close_notify; the other direction goes on. */
		if (!from->shut)
			bufferevent_enable(from->bev, EV_WRITE);
		bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
		tunnel_shut(to);
		if (tunnel_finished(t))
			tunnel_finish(t, NULL);
		return;
	}
	tls_bev_errors(bev, why, sizeof(why));
	if (why[0] == '\0')
		snprintf(why, sizeof(why), "%s", (what & BEV_EVENT_TIMEOUT) ?
		    "timed out" : err != 0 ? evutil_socket_error_to_string(err) :
		    "connection failed");
	snprintf(t->error, sizeof(t->error), "%s %s: %s", from->name,
	    (what & BEV_EVENT_READING) ? "read" : "write", why);
	tunnel_finish(t, t->error);
}

struct tunnel *
tunnel_new(struct bufferevent *client, struct bufferevent *target,
    size_t high_water, void (*done)(void *, const struct tunnel_result *),
    void *arg)
{
	struct tunnel	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->client.bev = client;
	t->client.name = "client";
	t->target.bev = target;
	t->target.name = "target";
	t->high_water = high_water;
	t->done = done;
	t->arg = arg;
	bufferevent_setcb(client, tunnel_on_read, tunnel_on_write,
	    tunnel_on_event, t);
	bufferevent_setcb(target, tunnel_on_read, tunnel_on_write,
	    tunnel_on_event, t);
	bufferevent_setwatermark(client, EV_WRITE, 0, 0);
	bufferevent_setwatermark(target, EV_WRITE, 0, 0);
	bufferevent_enable(client, EV_READ | EV_WRITE);
	bufferevent_enable(target, EV_READ | EV_WRITE);
	tunnel_move(t, &t->client);
	tunnel_move(t, &t->target);
	return t;
}

void
tunnel_free(struct tunnel *t)
{
	if (t == NULL)
		return;
	bufferevent_free(t->client.bev);
	bufferevent_free(t->target.bev);
	free(t);
}
