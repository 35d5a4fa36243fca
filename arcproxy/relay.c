/* relay.c -- bytes both ways between two streams, with le-proxy's backpressure and half-close passed across. */
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "relay.h"
#include "upstream.h"

void
relay_write_now(struct bufferevent *bev)
{
	struct evbuffer	*out = bufferevent_get_output(bev);

	/* A socket bufferevent keeps its output's start frozen between its
	 * own writes, as here. */
	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
}

struct relay_end *
relay_partner(struct relay *r, struct relay_end *e)
{
	return e == &r->client ? &r->upstream : &r->client;
}

void
relay_init(struct relay *r, struct bufferevent *client, struct upstream *up,
    size_t high_water)
{
	r->client = (struct relay_end){ .bev = client, .plain = 1 };
	r->upstream = (struct relay_end){ .bev = up->bev, .up = up,
	    .plain = up->plain };
	r->high_water = high_water;
}

static int
relay_finished(const struct relay *r)
{
	return r->client.eof && r->client.shut && r->upstream.eof &&
	    r->upstream.shut;
}

/* Sends EOF to an end once everything for it has been written. */
static void
relay_shut(struct relay_end *to)
{
	if (to->shut || evbuffer_get_length(bufferevent_get_output(to->bev)) > 0)
		return;
	to->shut = 1;
	if (to->up != NULL)
		to->up->ops->shutdown_write(to->up);
	else
		shutdown(bufferevent_getfd(to->bev), SHUT_WR);
}

int
relay_read(struct relay *r, struct relay_end *from)
{
	struct relay_end	*to = relay_partner(r, from);
	struct evbuffer		*in = bufferevent_get_input(from->bev);
	struct evbuffer		*out = bufferevent_get_output(to->bev);
	size_t			 n = evbuffer_get_length(in);

	if (n == 0 || from->paused)
		return 0;
	from->bytes += n;
	if (to->plain && evbuffer_get_length(out) == 0) {
		/* Straight from one socket's input to the other socket: what
		 * is written never enters the output, so no write event is
		 * scheduled and deleted for it. */
		evbuffer_write(in, bufferevent_getfd(to->bev));
	}
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) >= r->high_water) {
		/* Stop reading until the partner drains below half. */
		from->paused = 1;
		bufferevent_disable(from->bev, EV_READ);
		bufferevent_setwatermark(to->bev, EV_WRITE, r->high_water / 2, 0);
	}
	return 0;
}

int
relay_drained(struct relay *r, struct relay_end *to)
{
	struct relay_end	*from = relay_partner(r, to);

	if (from->paused) {
		from->paused = 0;
		bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
		if (!from->eof)
			bufferevent_enable(from->bev, EV_READ);
		relay_read(r, from);
	}
	if (from->eof)
		relay_shut(to);
	return relay_finished(r);
}

int
relay_eof(struct relay *r, struct relay_end *from)
{
	struct relay_end	*to = relay_partner(r, from);

	from->eof = 1;
	from->paused = 0;
	bufferevent_disable(from->bev, EV_READ);
	relay_read(r, from);
	/* Whatever is still queued for the partner goes first; the write
	 * callback at low water 0 then sends the EOF. */
	bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
	relay_shut(to);
	return relay_finished(r);
}

int
relay_start(struct relay *r)
{
	bufferevent_setwatermark(r->client.bev, EV_WRITE, 0, 0);
	bufferevent_setwatermark(r->upstream.bev, EV_WRITE, 0, 0);
	bufferevent_enable(r->client.bev, EV_READ | EV_WRITE);
	bufferevent_enable(r->upstream.bev, EV_READ | EV_WRITE);
	relay_read(r, &r->client);
	relay_read(r, &r->upstream);
	return 0;
}
