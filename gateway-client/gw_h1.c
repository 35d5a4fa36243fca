/* gw_h1.c -- the HTTP/1.1 carrier: a warm TLS connection carries one tunnel as a nested CONNECT, or a GET of the endpoint list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "connect.h"
#include "gw_internal.h"

enum gw_h1_state {
	GWH1_IDLE,	/* warm, in the pool: one slot, nothing on the wire */
	GWH1_FETCH,	/* in the pool, no slot: the endpoint list's GET is out */
	GWH1_CONNECT,	/* off the pool, owned by req: its CONNECT is out */
};

struct gw_h1 {
	struct gw_carrier	 car;		/* first: the common part */
	enum gw_h1_state	 state;
	struct bufferevent	*bev;		/* TLS; NULL once a tunnel has it */
	struct connect_handshake *connect;	/* GWH1_CONNECT */
	struct gw_req		*req;		/* GWH1_CONNECT */
	struct gw_endpoints_fetch *fetch;	/* GWH1_FETCH */
	struct event		*timer;		/* GWH1_FETCH: connect_timeout_ms */
};

static void	gw_h1_idle(struct gw_h1 *);

static void
gw_h1_free(struct gw_carrier *car, const char *reason)
{
	struct gw_h1	*h = (struct gw_h1 *)car;

	(void)reason;
	gw_pool_remove(car);
	connect_free(h->connect);
	gw_endpoints_fetch_free(h->fetch);
	if (h->bev != NULL) {
		bufferevent_free(h->bev);
		GW_STAT_ADD(car->gw, connections_open, -1);
	}
	if (h->timer != NULL)
		event_free(h->timer);
	free(h);
}

/* ---- the endpoint list -------------------------------------------------- */

static void
gw_h1_fetch_done(struct gw_h1 *h, int ok, const char *why)
{
	struct gw	*gw = h->car.gw;
	int		 keep;

	gw_list_received(gw, gw_endpoints_fetch_body(h->fetch), ok, why);
	keep = ok && gw_endpoints_fetch_keep_alive(h->fetch);
	gw_endpoints_fetch_free(h->fetch);
	h->fetch = NULL;
	if (!keep) {
		gw_h1_free(&h->car, NULL);
		gw_fill(gw);
		return;
	}
	evtimer_del(h->timer);
	gw_h1_idle(h);
	gw_carrier_ready(&h->car);
}

static void
gw_h1_fetch_read(struct bufferevent *bev, void *arg)
{
	struct gw_h1	*h = arg;
	char		 why[64];

	switch (gw_endpoints_fetch_read(h->fetch, bufferevent_get_input(bev), why,
	    sizeof(why))) {
	case 1:
		gw_h1_fetch_done(h, 1, NULL);
		break;
	case -1:
		gw_h1_fetch_done(h, 0, why);
		break;
	}
}

/* The gateway closed the connection before the list was complete: no list
 * this time, and the refresh timer tries again. */
static void
gw_h1_fetch_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	gw_h1_fetch_done(arg, 0, (what & BEV_EVENT_EOF) ?
	    "the gateway closed the connection" : "the connection failed");
}

/* The gateway closed the connection, or said something unasked for. */
static void
gw_h1_idle_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	/* The gateway closed a warm connection (idle limit, restart): the
	 * next gw_open() refills, so a gateway that drops idle connections
	 * at once cannot make us spin. */
	gw_h1_free(arg, NULL);
}

static void
gw_h1_idle_read(struct bufferevent *bev, void *arg)
{
	/* Nothing is due on an idle connection: junk means it is unusable. */
	gw_h1_idle_event(bev, 0, arg);
}

/* The list did not come in connect_timeout_ms: the gateway is down. */
static void
gw_h1_fetch_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h1	*h = arg;
	struct gw	*gw = h->car.gw;

	(void)fd;
	(void)what;
	gw_h1_free(&h->car, NULL);
	gw_down(gw, GW_TIMEOUT, "timed out fetching the endpoint list");
}

static void
gw_h1_fetch(struct gw_carrier *car)
{
	struct gw_h1	*h = (struct gw_h1 *)car;
	struct gw	*gw = car->gw;
	long long	 ms = gw->s.connect_timeout_ms;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	if ((h->fetch = gw_endpoints_fetch_new(bufferevent_get_output(h->bev),
	    gw->s.host, gw->s.port)) == NULL) {
		gw_h1_free(car, NULL);
		return;
	}
	h->state = GWH1_FETCH;
	bufferevent_setcb(h->bev, gw_h1_fetch_read, NULL, gw_h1_fetch_event, h);
	bufferevent_enable(h->bev, EV_READ | EV_WRITE);
	evtimer_add(h->timer, &tv);
}

/* ---- tunnels ------------------------------------------------------------ */

static void
gw_h1_answer(enum connect_result result, int status, const char *reason,
    void *arg)
{
	struct gw_h1		*h = arg;
	struct gw		*gw = h->car.gw;
	struct gw_req		*r = h->req;
	struct gw_stream	*st;
	char			 why[256];

	(void)status;
	/* reason lives in the handshake: copy it before freeing that. */
	snprintf(why, sizeof(why), "%s", reason);
	connect_free(h->connect);
	h->connect = NULL;
	h->req = NULL;
	if (result == CONNECT_OPEN) {
		if ((st = calloc(1, sizeof(*st))) == NULL) {
			gw_h1_free(&h->car, NULL);
			gw_fill(gw);
			gw_req_fail(r, GW_INTERNAL, "out of memory");
			return;
		}
		st->ops = &gw_h1_carrier;
		st->bev = h->bev;	/* counted open until gw_stream_close() */
		st->stats = gw->stats;
		h->bev = NULL;
		gw_h1_free(&h->car, NULL);
		gw_fill(gw);
		gw_req_done(r, st);
		return;
	}
	gw_h1_free(&h->car, NULL);
	if (result == CONNECT_CLOSED && !r->retried) {
		/* A warm connection the gateway had closed: try a fresh one. */
		gw_req_requeue(r);
		return;
	}
	gw_fill(gw);
	switch (result) {
	case CONNECT_DENIED:
		gw_req_fail(r, GW_DENIED, why);
		break;
	case CONNECT_UNREACHABLE:
		gw_req_fail(r, GW_TARGET, why);
		break;
	case CONNECT_TIMEOUT:
		gw_req_fail(r, GW_TIMEOUT, why);
		break;
	case CONNECT_CLOSED:
		gw_req_fail(r, GW_DOWN, why);
		break;
	default:
		gw_req_fail(r, GW_PROTOCOL, why);
		break;
	}
}

/* The connection leaves the pool: it carries r's tunnel, or nothing. */
static void
gw_h1_open(struct gw_carrier *car, struct gw_req *r)
{
	struct gw_h1	*h = (struct gw_h1 *)car;

	gw_pool_remove(car);
	h->state = GWH1_CONNECT;
	h->req = r;
	/* r's deadline, running since gw_open(), bounds the answer. */
	if ((h->connect = connect_start(h->bev, r->host, r->port, gw_h1_answer,
	    h)) == NULL) {
		h->req = NULL;
		gw_h1_free(car, NULL);
		gw_req_fail(r, GW_INTERNAL, "out of memory");
	}
}

/* Its CONNECT is out: the connection cannot be used again. */
static void
gw_h1_cancel(struct gw_req *r)
{
	struct gw_h1	*h = (struct gw_h1 *)r->carrier;
	struct gw	*gw = h->car.gw;

	r->carrier = NULL;
	h->req = NULL;
	gw_h1_free(&h->car, NULL);
	gw_fill(gw);
}

static void
gw_h1_idle(struct gw_h1 *h)
{
	h->state = GWH1_IDLE;
	bufferevent_setcb(h->bev, gw_h1_idle_read, NULL, gw_h1_idle_event, h);
	bufferevent_enable(h->bev, EV_READ);
}

static struct gw_carrier *
gw_h1_adopt(struct gw *gw, struct bufferevent *tls, SSL *ssl, char *err,
    size_t errlen)
{
	struct gw_h1	*h;

	(void)ssl;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->timer = evtimer_new(gw->base, gw_h1_fetch_timeout, h)) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->car.ops = &gw_h1_carrier;
	h->car.gw = gw;
	h->bev = tls;
	gw_h1_idle(h);
	return &h->car;
}

static int
gw_h1_slots(const struct gw_carrier *car)
{
	return ((const struct gw_h1 *)car)->state == GWH1_IDLE;
}

/* Only idle or fetching connections are in the pool: none carries a tunnel. */
static void
gw_h1_release(struct gw_carrier *car)
{
	gw_h1_free(car, "released");
}

static void
gw_h1_stream_shutdown(struct gw_stream *st)
{
	SSL	*ssl;

	/* close_notify ends our direction; TLS 1.3 lets the peer keep sending. */
	if ((ssl = bufferevent_openssl_get_ssl(st->bev)) != NULL &&
	    SSL_shutdown(ssl) < 0)
		ERR_clear_error();
}

static void
gw_h1_stream_close(struct gw_stream *st)
{
	bufferevent_free(st->bev);
	if (st->stats != NULL)
		__atomic_store_n(&st->stats->connections_open,
		    __atomic_load_n(&st->stats->connections_open, __ATOMIC_RELAXED) - 1,
		    __ATOMIC_RELAXED);
	free(st);
}

const struct gw_carrier_ops gw_h1_carrier = {
	.name = "http/1.1",
	.multiplexed = 0,
	.wait_timeout = "no connection to the gateway in time",
	.adopt = gw_h1_adopt,
	.slots = gw_h1_slots,
	.open = gw_h1_open,
	.cancel = gw_h1_cancel,
	.fetch = gw_h1_fetch,
	.release = gw_h1_release,
	.free = gw_h1_free,
	.stream_shutdown = gw_h1_stream_shutdown,
	.stream_close = gw_h1_stream_close,
};
