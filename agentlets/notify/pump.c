/* pump.c -- a session's bytes both ways between the relay and the local port: backpressure by watermarks, half-close passed across, counters readable while it runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "pump.h"
#include "tls.h"

#define PUMP_IO_BYTES	(256 * 1024)	/* one read or write at most */

/* One direction: bytes read from src are written to dst. */
struct pump_way {
	struct bufferevent	*src;
	struct bufferevent	*dst;
	uint64_t		 moved;
	unsigned		 src_eof:1;	/* src said EOF */
	unsigned		 dst_shut:1;	/* we passed it on to dst */
	unsigned		 stalled:1;	/* src not read: dst is full */
};

struct pump {
	struct pump_way		 way[2];	/* [0]: a to b, [1]: b to a */
	size_t			 high_water;
	pump_done_cb		*done;
	void			*arg;
	int			 finished;
	char			 error[200];
};

static void
pump_finish(struct pump *p, const char *error)
{
	if (p->finished)
		return;
	p->finished = 1;
	bufferevent_disable(p->way[0].src, EV_READ | EV_WRITE);
	bufferevent_disable(p->way[1].src, EV_READ | EV_WRITE);
	p->done(p->arg, error);
}

/* The way whose source is bev, and the one whose destination it is. */
static struct pump_way *
pump_from(struct pump *p, struct bufferevent *bev)
{
	return p->way[0].src == bev ? &p->way[0] : &p->way[1];
}

static struct pump_way *
pump_to(struct pump *p, struct bufferevent *bev)
{
	return p->way[0].dst == bev ? &p->way[0] : &p->way[1];
}

/* Moves what src holds; passes EOF on once dst has every byte. */
static void
pump_run(struct pump *p, struct pump_way *w)
{
	struct evbuffer	*in = bufferevent_get_input(w->src);
	struct evbuffer	*out = bufferevent_get_output(w->dst);
	size_t		 n;

	if (!w->stalled && (n = evbuffer_get_length(in)) > 0) {
		w->moved += n;
		evbuffer_add_buffer(out, in);
	}
	if (!w->stalled && !w->src_eof &&
	    evbuffer_get_length(out) >= p->high_water) {
		w->stalled = 1;
		bufferevent_disable(w->src, EV_READ);
		bufferevent_setwatermark(w->dst, EV_WRITE, p->high_water / 2, 0);
	}
	if (w->src_eof && !w->dst_shut && evbuffer_get_length(out) == 0) {
		w->dst_shut = 1;
		tls_shutdown_write(w->dst);
	}
	if (p->way[0].dst_shut && p->way[1].dst_shut)
		pump_finish(p, NULL);
}

static void
pump_on_read(struct bufferevent *bev, void *arg)
{
	struct pump	*p = arg;

	pump_run(p, pump_from(p, bev));
}

/* dst drained below the mark (or to empty). */
static void
pump_on_write(struct bufferevent *bev, void *arg)
{
	struct pump	*p = arg;
	struct pump_way	*w = pump_to(p, bev);

	if (w->stalled) {
		w->stalled = 0;
		bufferevent_setwatermark(w->dst, EV_WRITE, 0, 0);
		if (!w->src_eof)
			bufferevent_enable(w->src, EV_READ);
	}
	pump_run(p, w);
}

static void
pump_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pump	*p = arg;
	struct pump_way	*w = pump_from(p, bev);
	char		 why[128];
	int		 err = EVUTIL_SOCKET_ERROR();

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_WRITING)) {
		w->src_eof = 1;
		w->stalled = 0;
		bufferevent_disable(bev, EV_READ);
		/* A TLS bufferevent stops writing on close_notify; our side
		 * may still have bytes to send. */
		if (!pump_to(p, bev)->dst_shut)
			bufferevent_enable(bev, EV_WRITE);
		bufferevent_setwatermark(w->dst, EV_WRITE, 0, 0);
		pump_run(p, w);
		return;
	}
	tls_bev_errors(bev, why, sizeof(why));
	snprintf(p->error, sizeof(p->error), "%s side %s: %s",
	    bev == p->way[0].src ? "relay" : "local",
	    (what & BEV_EVENT_READING) ? "read" : "write", why[0] ? why :
	    err ? evutil_socket_error_to_string(err) : "failed");
	pump_finish(p, p->error);
}

struct pump *
pump_new(struct bufferevent *a, struct bufferevent *b, size_t high_water,
    pump_done_cb *done, void *arg)
{
	struct pump	*p;
	int		 i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->way[0].src = p->way[1].dst = a;
	p->way[0].dst = p->way[1].src = b;
	p->high_water = high_water;
	p->done = done;
	p->arg = arg;
	for (i = 0; i < 2; i++) {
		/* Bulk copies: fewer, larger reads and writes than libevent's
		 * 16 KiB (a TLS record each way is at most 16 KiB anyway). */
		bufferevent_set_max_single_read(p->way[i].src, PUMP_IO_BYTES);
		bufferevent_set_max_single_write(p->way[i].src, PUMP_IO_BYTES);
		bufferevent_setcb(p->way[i].src, pump_on_read, pump_on_write,
		    pump_on_event, p);
		bufferevent_setwatermark(p->way[i].src, EV_WRITE, 0, 0);
		bufferevent_enable(p->way[i].src, EV_READ | EV_WRITE);
	}
	pump_run(p, &p->way[0]);
	if (!p->finished)
		pump_run(p, &p->way[1]);
	return p;
}

void
pump_bytes(const struct pump *p, uint64_t *a_to_b, uint64_t *b_to_a)
{
	*a_to_b = p->way[0].moved;
	*b_to_a = p->way[1].moved;
}

void
pump_free(struct pump *p)
{
	if (p == NULL)
		return;
	bufferevent_free(p->way[0].src);
	bufferevent_free(p->way[1].src);
	free(p);
}
