/* relay.c -- the directional pump: bytes both ways between two streams, le-proxy's backpressure on adaptive windows within the worker's buffer budget, half-close passed across. */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "fastio.h"
#include "relay.h"

#define RELAY_DRAIN_FAST_MS	20	/* drained this fast: the window doubles */
#define RELAY_DRAIN_SLOW_MS	1000	/* this slow: back to the minimum */

static size_t
relay_window_high(const struct relay_window *win, size_t max)
{
	size_t	high = win->high != 0 ? win->high : RELAY_WINDOW_MIN;

	return high < max ? high : max;
}

/*
 * The window doubles only while the partner really takes the bytes: a
 * socket's send buffer absorbs a megabyte on loopback whether or not the
 * peer reads, but what the kernel could not even send shows a peer that
 * does not (its receive window is closed).
 */
static void
relay_window_grow(struct relay_window *win, struct bufferevent *to, size_t max)
{
	size_t	high = relay_window_high(win, max);
	int	fd = bufferevent_getfd(to), unsent;

	if (high >= max || (fd != -1 && ioctl(fd, SIOCOUTQNSD, &unsent) == 0 &&
	    (size_t)unsent >= high))
		return;
	win->high = high < max / 2 ? high * 2 : max;
}

void
relay_window_drained(struct relay_window *win, struct bufferevent *to,
    size_t max)
{
	struct timeval	now, d;
	long long	ms;

	event_base_gettimeofday_cached(bufferevent_get_base(to), &now);
	timersub(&now, &win->paused, &d);
	ms = (long long)d.tv_sec * 1000 + d.tv_usec / 1000;
	if (ms <= RELAY_DRAIN_FAST_MS)
		relay_window_grow(win, to, max);
	else if (ms >= RELAY_DRAIN_SLOW_MS)
		win->high = RELAY_WINDOW_MIN;
}

int
relay_throttle(struct relay_window *win, struct budget *b,
    struct bufferevent *reader, struct bufferevent *to, size_t max)
{
	size_t	out = evbuffer_get_length(bufferevent_get_output(to));
	size_t	high = relay_window_high(win, max);

	if (out == 0 && win->full)
		/* Both sides keep pace: room for bigger reads. */
		relay_window_grow(win, to, max);
	win->full = 0;
	/* Past the budget, only what the partner takes at once is read. */
	if (b != NULL && budget_spent(b))
		high = 1;
	if (out < high)
		return 0;
	event_base_gettimeofday_cached(bufferevent_get_base(reader), &win->paused);
	bufferevent_disable(reader, EV_READ);
	bufferevent_setwatermark(to, EV_WRITE, high / 2, 0);
	return 1;
}

/* One big read, up to the window and what the budget has left (fastio.c). */
void
relay_read_more(struct relay_window *win, struct budget *b,
    struct bufferevent *bev, size_t max)
{
	size_t	have = evbuffer_get_length(bufferevent_get_input(bev));
	size_t	room = relay_window_high(win, max);
	size_t	left = b != NULL ? budget_left(b) : room;

	win->full = 0;
	if (have >= room)
		return;
	room -= have;
	if (room > left)
		room = left;
	if (room == 0)
		return;		/* spent: libevent's own small reads only */
	win->full = fastio_read(bev, room);
}

struct relay_end *
relay_partner(struct relay *r, struct relay_end *e)
{
	return e == &r->client ? &r->upstream : &r->client;
}

/* The windows stay: a kept-alive connection's next exchange, or the tunnel
 * an exchange becomes, starts at the pace the last one reached. */
void
relay_init(struct relay *r, struct bufferevent *client,
    struct bufferevent *upstream, size_t high_water, struct budget *b)
{
	struct relay_window	cw = r->client.win, uw = r->upstream.win;

	r->client = (struct relay_end){ .bev = client, .win = cw };
	r->upstream = (struct relay_end){ .bev = upstream, .win = uw };
	r->high_water = high_water;
	r->budget = b;
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
	if (to->shutdown_write != NULL)
		to->shutdown_write(to->arg);
	else
		shutdown(bufferevent_getfd(to->bev), SHUT_WR);
}

void
relay_throttle_end(struct relay *r, struct relay_end *from)
{
	if (relay_throttle(&from->win, r->budget, from->bev,
	    relay_partner(r, from)->bev, r->high_water))
		from->paused = 1;
}

int
relay_resume(struct relay *r, struct relay_end *to)
{
	struct relay_end	*from = relay_partner(r, to);

	if (!from->paused)
		return 0;
	from->paused = 0;
	relay_window_drained(&from->win, to->bev, r->high_water);
	bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
	if (!from->eof)
		bufferevent_enable(from->bev, EV_READ);
	return 1;
}

void
relay_read(struct relay *r, struct relay_end *from)
{
	struct relay_end	*to = relay_partner(r, from);
	struct evbuffer		*in = bufferevent_get_input(from->bev);
	size_t			 n = evbuffer_get_length(in);

	if (n == 0 || from->paused)
		return;
	from->bytes += n;
	fastio_pass(in, to->bev, to->plain);
	/* Stop reading until the partner drains below half the window. */
	relay_throttle_end(r, from);
}

int
relay_drained(struct relay *r, struct relay_end *to)
{
	struct relay_end	*from = relay_partner(r, to);

	if (relay_resume(r, to))
		relay_read(r, from);
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

void
relay_start(struct relay *r)
{
	bufferevent_setwatermark(r->client.bev, EV_WRITE, 0, 0);
	bufferevent_setwatermark(r->upstream.bev, EV_WRITE, 0, 0);
	bufferevent_enable(r->client.bev, EV_READ | EV_WRITE);
	bufferevent_enable(r->upstream.bev, EV_READ | EV_WRITE);
	relay_read(r, &r->client);
	relay_read(r, &r->upstream);
}
