/* relay.c -- the directional pump: bytes both ways between two streams, le-proxy's backpressure on adaptive windows within the worker's buffer budget, half-close passed across. */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "fastio.h"
#include "relay.h"

#define RELAY_DRAIN_FAST_MS	20	/* drained this fast: the window doubles */
#define RELAY_DRAIN_SLOW_MS	1000	/* this slow: back to the minimum */
#define RELAY_PIPE_BYTES	(1024 * 1024)	/* a splice pipe's size, at most pipe-max-size */
#define RELAY_SPLICE_BURST	(1024 * 1024)	/* per direction per event */

struct relay_flow {
	struct relay		*r;
	struct relay_end	*from, *to;
	struct event		*rev;		/* from's socket readable */
	struct event		*wev;		/* to's socket writable */
	int			 p[2];		/* borrowed while held > 0 */
	size_t			 held;		/* bytes in the pipe */
};

static int	relay_finished(const struct relay *);
static void	relay_shut(struct relay_end *);
static void	relay_splice_try(struct relay *);
static int	relay_unsplice(struct relay *);

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

size_t
relay_read_room(struct relay_window *win, struct budget *b,
    struct bufferevent *bev, size_t max)
{
	size_t	have = evbuffer_get_length(bufferevent_get_input(bev));
	size_t	room = relay_window_high(win, max);
	size_t	left = b != NULL ? budget_left(b) : room;

	if (have >= room)
		return 0;
	room -= have;
	return room < left ? room : left;
}

/* One big read, up to the window and what the budget has left (fastio.c). */
void
relay_read_more(struct relay_window *win, struct budget *b,
    struct bufferevent *bev, size_t max)
{
	size_t	room;

	win->full = 0;
	/* Less than libevent's cap came: the socket is empty, and one more
	 * read would only say EAGAIN (a readv per small request). */
	if (evbuffer_get_length(bufferevent_get_input(bev)) <
	    FASTIO_LIBEVENT_READ)
		return;
	/* 0: spent, libevent's own small reads only. */
	if ((room = relay_read_room(win, b, bev, max)) > 0)
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
	r->splice = (struct relay_splice){ NULL, NULL, NULL, NULL, NULL };
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
	fastio_pass(in, to->bev, to->plain ? bufferevent_getfd(to->bev) : -1,
	    to->plain);
	/* Stop reading until the partner drains below half the window. */
	relay_throttle_end(r, from);
	relay_splice_try(r);
}

int
relay_drained(struct relay *r, struct relay_end *to)
{
	struct relay_end	*from = relay_partner(r, to);

	if (relay_resume(r, to))
		relay_read(r, from);
	if (from->eof)
		relay_shut(to);
	if (relay_finished(r))
		return 1;
	relay_splice_try(r);
	return 0;
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
	relay_splice_try(r);
}

void
relay_pipes_init(struct relay_pipes *pp)
{
	pp->n = 0;
	pp->users = 0;
}

void
relay_pipes_fini(struct relay_pipes *pp)
{
	while (pp->n > 0) {
		pp->n--;
		close(pp->fd[pp->n][0]);
		close(pp->fd[pp->n][1]);
	}
}

static int
relay_pipe_get(struct relay_pipes *pp, int p[2])
{
	if (pp->n > 0) {
		pp->n--;
		p[0] = pp->fd[pp->n][0];
		p[1] = pp->fd[pp->n][1];
		return 0;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	/* Fewer rounds per megabyte; the default 64 KiB works too. */
	(void)fcntl(p[1], F_SETPIPE_SZ, RELAY_PIPE_BYTES);
	return 0;
}

/* An empty pipe goes back to the pool; one holding bytes is closed. */
static void
relay_pipe_put(struct relay_pipes *pp, int p[2], size_t held)
{
	if (p[0] == -1)
		return;
	if (held == 0 && pp->n < RELAY_PIPES_KEEP) {
		pp->fd[pp->n][0] = p[0];
		pp->fd[pp->n][1] = p[1];
		pp->n++;
	} else {
		close(p[0]);
		close(p[1]);
	}
	p[0] = p[1] = -1;
}

/*
 * One direction, socket to pipe to socket: until the source has nothing
 * more, the destination is full, or a burst has moved (the other tunnels'
 * turn).  Returns -1 on a socket error, 1 when no pipe can be had (out of
 * descriptors) while nothing is in flight.
 */
static int
relay_flow_pump(struct relay_flow *f)
{
	struct relay_pipes	*pp = f->r->splice.pipes;
	int			 in = bufferevent_getfd(f->from->bev);
	int			 out = bufferevent_getfd(f->to->bev);
	size_t			 moved = 0;
	ssize_t			 n;
	int			 more = 1;

	for (;;) {
		if (f->held == 0) {
			if (f->from->eof || !more || moved >= RELAY_SPLICE_BURST)
				break;
			if (f->p[0] == -1 && relay_pipe_get(pp, f->p) == -1)
				return 1;	/* no pipe: the buffered pump */
			n = splice(in, NULL, f->p[1], NULL, RELAY_PIPE_BYTES,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == 0) {
				f->from->eof = 1;
				break;
			}
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				return -1;
			}
			f->held = (size_t)n;
			f->from->bytes += (uint64_t)n;
			moved += (size_t)n;
			/* Less than asked: the socket is most likely empty
			 * (if not, the level-triggered event comes back). */
			more = (size_t)n >= RELAY_PIPE_BYTES / 2;
		}
		n = splice(f->p[0], NULL, out, NULL, f->held,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		f->held -= (size_t)n;
		if (f->held > 0)
			break;		/* the destination is full */
	}
	if (f->held > 0) {
		/* Read no more until the destination takes the pipe's bytes. */
		event_del(f->rev);
		event_add(f->wev, NULL);
		return 0;
	}
	relay_pipe_put(pp, f->p, 0);
	event_del(f->wev);
	if (f->from->eof) {
		event_del(f->rev);
		relay_shut(f->to);
	} else
		event_add(f->rev, NULL);
	return 0;
}

static void
relay_flow_event(evutil_socket_t fd, short what, void *arg)
{
	struct relay_flow	*f = arg;
	struct relay		*r = f->r;
	struct relay_splice	*sp = &r->splice;

	(void)fd;
	(void)what;
	switch (relay_flow_pump(f)) {
	case 1:
		if (relay_unsplice(r) == 0)
			return;
		/* FALLTHROUGH */
	case -1:
		sp->cb(r, RELAY_FAILED, sp->arg);
		return;
	}
	if (relay_finished(r))
		sp->cb(r, RELAY_DONE, sp->arg);
	else
		sp->cb(r, RELAY_MOVED, sp->arg);
}

void
relay_splice_allow(struct relay *r, struct relay_pipes *pp, relay_cb *cb,
    void *arg)
{
	r->splice.pipes = pp;
	r->splice.cb = cb;
	r->splice.arg = arg;
}

static int
relay_flow_init(struct relay_flow *f, struct relay *r, struct relay_end *from)
{
	struct event_base	*base = bufferevent_get_base(from->bev);

	f->r = r;
	f->from = from;
	f->to = relay_partner(r, from);
	f->p[0] = f->p[1] = -1;
	f->rev = event_new(base, bufferevent_getfd(from->bev),
	    EV_READ | EV_PERSIST, relay_flow_event, f);
	f->wev = event_new(base, bufferevent_getfd(f->to->bev),
	    EV_WRITE | EV_PERSIST, relay_flow_event, f);
	return f->rev != NULL && f->wev != NULL ? 0 : -1;
}

static void
relay_flow_fini(struct relay_flow *f)
{
	if (f->rev != NULL)
		event_free(f->rev);
	if (f->wev != NULL)
		event_free(f->wev);
	if (f->r != NULL)		/* initialised */
		relay_pipe_put(f->r->splice.pipes, f->p, f->held);
}

/* The switch to splice(2), once nothing is buffered in user memory either
 * way (what came with the CONNECT, the 200, a paused direction's bytes). */
static void
relay_splice_try(struct relay *r)
{
	struct relay_splice	*sp = &r->splice;
	struct relay_flow	*f;
	struct bufferevent	*bev[2] = { r->client.bev, r->upstream.bev };
	int			 i;

	if (sp->pipes == NULL || sp->up != NULL)
		return;
	for (i = 0; i < 2; i++)
		if (bufferevent_getfd(bev[i]) == -1 ||
		    evbuffer_get_length(bufferevent_get_input(bev[i])) > 0 ||
		    evbuffer_get_length(bufferevent_get_output(bev[i])) > 0)
			return;
	if ((f = calloc(2, sizeof(*f))) == NULL)
		return;			/* the buffered pump goes on */
	if (relay_flow_init(&f[0], r, &r->client) == -1 ||
	    relay_flow_init(&f[1], r, &r->upstream) == -1) {
		relay_flow_fini(&f[0]);
		relay_flow_fini(&f[1]);
		free(f);
		return;
	}
	/* The flows' read events go in before the bufferevents' go out: a
	 * socket watched all along costs no epoll_ctl(2). */
	for (i = 0; i < 2; i++)
		if (!f[i].from->eof)
			event_add(f[i].rev, NULL);
	bufferevent_disable(r->client.bev, EV_READ | EV_WRITE);
	bufferevent_disable(r->upstream.bev, EV_READ | EV_WRITE);
	r->client.paused = r->upstream.paused = 0;
	sp->up = &f[0];
	sp->down = &f[1];
	sp->pipes->users++;
}

/* Back to the buffered pump for good, when the other direction has no
 * bytes in flight either; -1 when it has. */
static int
relay_unsplice(struct relay *r)
{
	struct relay_splice	*sp = &r->splice;

	if (sp->up->held > 0 || sp->down->held > 0)
		return -1;
	relay_stop(r);
	sp->pipes = NULL;
	bufferevent_enable(r->client.bev, r->client.eof ? EV_WRITE :
	    EV_READ | EV_WRITE);
	bufferevent_enable(r->upstream.bev, r->upstream.eof ? EV_WRITE :
	    EV_READ | EV_WRITE);
	return 0;
}

void
relay_stop(struct relay *r)
{
	struct relay_splice	*sp = &r->splice;

	if (sp->up == NULL)
		return;
	relay_flow_fini(sp->up);
	relay_flow_fini(sp->down);
	free(sp->up);
	sp->up = sp->down = NULL;
	/* No tunnel splices any more: an idle proxy holds no pipe. */
	if (--sp->pipes->users == 0)
		relay_pipes_fini(sp->pipes);
}
