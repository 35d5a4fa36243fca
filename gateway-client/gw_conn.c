/* gw_conn.c -- connections to the gateway: resolve, TCP, the enterprise proxy's CONNECT, TLS, then a carrier by ALPN; the pool of carriers and the back-off. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "connect.h"
#include "gw_internal.h"
#include "gw_tls.h"
#include "log.h"

#define GW_BACKOFF_MIN_MS	500
#define GW_BACKOFF_MAX_MS	60000

/* A connection being set up; once TLS is up a carrier takes it over. */
enum gw_conn_state {
	GWC_RESOLVING,	/* looking up the gateway, or the proxy in front of it */
	GWC_TCP,	/* TCP connect under way */
	GWC_PROXY,	/* CONNECT to the enterprise proxy sent, answer awaited */
	GWC_TLS,	/* TLS handshake with the gateway */
};

struct gw_conn {
	struct gw		*gw;
	TAILQ_ENTRY(gw_conn)	 entry;		/* in gw->conns */
	enum gw_conn_state	 state;
	struct bufferevent	*bev;
	SSL			*ssl;		/* owned by bev once TLS starts */
	struct resolve		*dns;
	struct resolve_result	 addrs;
	int			 next_addr;
	struct connect_handshake *connect;	/* the enterprise proxy's CONNECT */
	struct event		*timer;		/* deadline of the set-up */
};

static void	gwc_try_next(struct gw_conn *);

/* ---- the pool ----------------------------------------------------------- */

void
gw_pool_add(struct gw *gw, struct gw_carrier *car)
{
	car->gw = gw;
	car->place = GWCAR_POOL;
	TAILQ_INSERT_TAIL(&gw->carriers, car, entry);
}

void
gw_pool_remove(struct gw_carrier *car)
{
	struct gw	*gw = car->gw;

	if (car->place == GWCAR_POOL)
		TAILQ_REMOVE(&gw->carriers, car, entry);
	else if (car->place == GWCAR_DRAINING)
		TAILQ_REMOVE(&gw->draining, car, entry);
	car->place = GWCAR_NONE;
}

void
gw_carrier_gone(struct gw_carrier *car, int draining)
{
	struct gw		*gw = car->gw;
	struct gw_carrier	*old;

	if (car->place == GWCAR_DRAINING && draining)
		return;			/* another GOAWAY: it drains already */
	if (car->place == GWCAR_DRAINING || car->place == GWCAR_NONE) {
		gw_pool_remove(car);
		return;
	}
	gw_pool_remove(car);
	if (draining) {
		/* GOAWAY: its tunnels finish there, new ones need a new
		 * connection.  One draining connection at a time. */
		while ((old = TAILQ_FIRST(&gw->draining)) != NULL)
			old->ops->free(old, "a newer connection is draining too");
		car->place = GWCAR_DRAINING;
		TAILQ_INSERT_TAIL(&gw->draining, car, entry);
	}
	gw_fill(gw);
}

struct gw_carrier *
gw_pool_pick(const struct gw *gw)
{
	struct gw_carrier	*car;

	TAILQ_FOREACH(car, &gw->carriers, entry)
		if (car->ops->slots(car) > 0)
			return car;
	return NULL;
}

int
gw_pool_idle(const struct gw *gw)
{
	struct gw_carrier	*car;
	int			 n = 0;

	TAILQ_FOREACH(car, &gw->carriers, entry)
		if (!car->ops->multiplexed)
			n += car->ops->slots(car);
	return n;
}

/* A multiplexed carrier that takes tunnels (not draining, not dead). */
static int
gw_pool_multiplexed(const struct gw *gw)
{
	struct gw_carrier	*car;

	TAILQ_FOREACH(car, &gw->carriers, entry)
		if (car->ops->multiplexed)
			return 1;
	return 0;
}

/* ---- back-off ----------------------------------------------------------- */

static void
gw_backoff(struct gw *gw)
{
	long long	ms = GW_BACKOFF_MIN_MS;
	struct timeval	tv;
	int		i;

	for (i = 1; i < gw->failures && ms < GW_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > GW_BACKOFF_MAX_MS)
		ms = GW_BACKOFF_MAX_MS;
	/* Full jitter in the upper half: machines behind one gateway spread out. */
	ms = ms / 2 + (long long)(arc4random_uniform((uint32_t)(ms / 2) + 1));
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(gw->retry, &tv);
}

void
gw_down(struct gw *gw, enum gw_error error, const char *reason)
{
	if (gw->state != GW_STATE_DOWN || strcmp(gw->last_error, reason) != 0)
		log_warnx("gateway %s:%u: %s", gw->s.host, gw->s.port, reason);
	snprintf(gw->last_error, sizeof(gw->last_error), "%s", reason);
	gw->state = GW_STATE_DOWN;
	gw->failures++;
	gw_notify(gw);
	gw_fail_waiting(gw, error, reason);
	if (!evtimer_pending(gw->retry, NULL))
		gw_backoff(gw);
}

/* ---- one connection's set-up -------------------------------------------- */

static void
gwc_free(struct gw_conn *c)
{
	struct gw	*gw;

	if (c == NULL)
		return;
	gw = c->gw;
	gw->nopening--;
	TAILQ_REMOVE(&gw->conns, c, entry);
	resolve_cancel(c->dns);
	connect_free(c->connect);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	else if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
}

static void
gwc_fail_as(struct gw_conn *c, enum gw_error error, const char *reason)
{
	struct gw	*gw = c->gw;

	gwc_free(c);
	gw_down(gw, error, reason);
}

static void
gwc_fail(struct gw_conn *c, const char *reason)
{
	gwc_fail_as(c, GW_DOWN, reason);
}

/* No descriptor for a new connection: what waits for one is refused, and
 * the gateway is not marked down (the shortage is ours). */
static void
gwc_out_of_files(struct gw_conn *c)
{
	struct gw	*gw = c->gw;

	gwc_free(c);
	gw_fail_waiting(gw, GW_BUSY, "out of descriptors for a gateway connection");
}

static void
gwc_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct gw_conn	*c = arg;
	char		 reason[128];

	(void)fd;
	(void)what;
	snprintf(reason, sizeof(reason), "timed out %s",
	    c->state == GWC_RESOLVING ? "resolving the gateway" :
	    c->state == GWC_TCP ? "connecting" :
	    c->state == GWC_PROXY ? "waiting for the enterprise proxy" :
	    "in the TLS handshake");
	gwc_fail_as(c, GW_TIMEOUT, reason);
}

/* TLS is up: ALPN picks the carrier that takes the connection over. */
static void
gwc_carry(struct gw_conn *c)
{
	struct gw			*gw = c->gw;
	const struct gw_carrier_ops	*ops;
	struct gw_carrier		*car;
	char				 err[256];

	ops = gw_tls_is_h2(c->ssl) ? &gw_h2_carrier : &gw_h1_carrier;
	gw->multiplexed = ops->multiplexed;
	if (ops->multiplexed && gw_pool_multiplexed(gw)) {
		/* One is up already (two were opened before ALPN was known). */
		GW_STAT_ADD(gw, connections_open, -1);
		gwc_free(c);
		gw_serve_waiting(gw);
		return;
	}
	if ((car = ops->adopt(gw, c->bev, c->ssl, err, sizeof(err))) == NULL) {
		GW_STAT_ADD(gw, connections_open, -1);
		gwc_fail(c, err);
		return;
	}
	c->bev = NULL;			/* the carrier owns it now */
	c->ssl = NULL;
	gwc_free(c);
	gw_pool_add(gw, car);
	gw_carrier_ready(car);
}

static void
gwc_tls_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn	*c = arg;
	struct gw	*gw = c->gw;
	char		 reason[256];
	int		 one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		if (gw->state != GW_STATE_UP)
			log_info("gateway %s:%u: up (%s%s)", gw->s.host, gw->s.port,
			    SSL_get_version(c->ssl), SSL_session_reused(c->ssl) ?
			    ", resumed" : "");
		gw->state = GW_STATE_UP;
		gw->failures = 0;
		gw->last_error[0] = '\0';
		gw_notify(gw);
		GW_STAT_ADD(gw, connections_open, 1);
		GW_STAT_ADD(gw, connections_total, 1);
		evtimer_del(c->timer);
		gwc_carry(c);
		return;
	}
	gw_tls_error(c->ssl, bufferevent_get_openssl_error(bev), reason,
	    sizeof(reason));
	gwc_fail(c, reason);
}

/* TCP (and the proxy's CONNECT) done: TLS on the same socket. */
static void
gwc_start_tls(struct gw_conn *c)
{
	struct gw	*gw = c->gw;
	int		 fd = bufferevent_getfd(c->bev);

	bufferevent_free(c->bev);	/* opened without CLOSE_ON_FREE */
	c->bev = NULL;
	if ((c->ssl = gw_tls_new(gw->ctx, gw->s.host, gw->session)) == NULL) {
		close(fd);
		gwc_fail(c, "cannot create a TLS session");
		return;
	}
	c->bev = bufferevent_openssl_socket_new(gw->base, fd, c->ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		gwc_fail(c, "cannot start TLS");
		return;
	}
	/* No dirty-shutdown allowance: SSL_OP_IGNORE_UNEXPECTED_EOF already
	 * makes a FIN without close_notify an EOF, and a reset must stay an
	 * error so that the client's tunnel fails too. */
	c->state = GWC_TLS;
	bufferevent_setcb(c->bev, NULL, NULL, gwc_tls_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
gwc_proxy_answer(enum connect_result result, int status, const char *reason,
    void *arg)
{
	struct gw_conn	*c = arg;
	char		 why[600];

	(void)status;
	/* reason lives in the handshake: use it before freeing that. */
	snprintf(why, sizeof(why), "enterprise proxy %s:%u refused CONNECT to "
	    "the gateway: %s", c->gw->s.proxy_host, c->gw->s.proxy_port,
	    result != CONNECT_CLOSED ? reason : "no answer");
	connect_free(c->connect);
	c->connect = NULL;
	if (result != CONNECT_OPEN) {
		gwc_fail(c, why);
		return;
	}
	gwc_start_tls(c);
}

static void
gwc_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn	*c = arg;
	struct gw	*gw = c->gw;

	if (!(what & BEV_EVENT_CONNECTED)) {
		bufferevent_free(bev);
		c->bev = NULL;
		gwc_try_next(c);
		return;
	}
	if (gw->s.proxy_host[0] == '\0') {
		gwc_start_tls(c);
		return;
	}
	c->state = GWC_PROXY;
	if ((c->connect = connect_start(bev, gw->s.host, gw->s.port,
	    gwc_proxy_answer, c)) == NULL)
		gwc_fail(c, "out of memory");
}

static void
gwc_try_next(struct gw_conn *c)
{
	struct gw	*gw = c->gw;
	const char	*what = gw->s.proxy_host[0] ? "enterprise proxy" : "gateway";
	char		 reason[300];
	int		 err = errno;

	while (c->next_addr < c->addrs.n) {
		int i = c->next_addr++;

		c->state = GWC_TCP;
		/* No CLOSE_ON_FREE: the socket moves to the TLS bufferevent. */
		if ((c->bev = bufferevent_socket_new(gw->base, -1, 0)) == NULL)
			break;
		bufferevent_setcb(c->bev, NULL, NULL, gwc_tcp_event, c);
		if (bufferevent_socket_connect(c->bev,
		    (struct sockaddr *)&c->addrs.addr[i], (int)c->addrs.len[i]) == 0)
			return;
		err = errno;
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	snprintf(reason, sizeof(reason), "cannot connect to the %s: %s", what,
	    strerror(err ? err : ECONNREFUSED));
	if (err == EMFILE || err == ENFILE) {
		gwc_out_of_files(c);
		return;
	}
	gwc_fail(c, reason);
}

static void
gwc_resolved(enum resolve_error error, void *arg)
{
	struct gw_conn	*c = arg;
	char		 reason[300];

	c->dns = NULL;
	if (error != RESOLVE_OK) {
		snprintf(reason, sizeof(reason), "cannot resolve %s",
		    c->gw->s.proxy_host[0] ? c->gw->s.proxy_host : c->gw->s.host);
		gwc_fail(c, reason);
		return;
	}
	gwc_try_next(c);
}

/* Opens one more connection to the gateway. */
static void
gwc_new(struct gw *gw)
{
	struct gw_conn	*c;
	const char	*host = gw->s.proxy_host[0] ? gw->s.proxy_host : gw->s.host;
	uint16_t	 port = gw->s.proxy_host[0] ? gw->s.proxy_port : gw->s.port;
	long long	 ms = gw->s.connect_timeout_ms;
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->gw = gw;
	c->state = GWC_RESOLVING;
	TAILQ_INSERT_TAIL(&gw->conns, c, entry);
	gw->nopening++;
	if ((c->timer = evtimer_new(gw->base, gwc_timeout, c)) == NULL) {
		gwc_free(c);
		return;
	}
	evtimer_add(c->timer, &tv);
	switch (resolve_start(gw->dns, gw->hosts, gw->s.nhosts, host, port,
	    &c->addrs, gwc_resolved, c, &c->dns)) {
	case 1:
		gwc_try_next(c);
		break;
	case 0:
		break;
	default:
		gwc_resolved(RESOLVE_NONAME, c);
		break;
	}
}

/* ---- how many --------------------------------------------------------- */

void
gw_fill(struct gw *gw)
{
	int	want = gw->s.warm + gw->nwaiting, have;

	if (gw->retired)
		return;
	if (gw->multiplexed || gw->s.protocol == GW_PROTO_H2 ||
	    (gw->s.protocol == GW_PROTO_AUTO && gw->state == GW_STATE_CONNECTING)) {
		/* One multiplexed connection: open it if there is none alive. */
		want = gw_pool_multiplexed(gw) ? 0 : 1;
		if (gw->nopening > 0)
			return;
	}
	if (gw->state == GW_STATE_DOWN && evtimer_pending(gw->retry, NULL))
		return;			/* backing off */
	if (gw->state == GW_STATE_DOWN && gw->nopening > 0)
		return;			/* one probe at a time while down */
	while ((have = gw_pool_idle(gw) + gw->nopening) < want) {
		gwc_new(gw);
		/* Down, or nothing under way (out of memory or descriptors). */
		if (gw->state == GW_STATE_DOWN ||
		    gw_pool_idle(gw) + gw->nopening <= have)
			break;
	}
}

void
gw_retry(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;

	(void)fd;
	(void)what;
	if (gw->nopening == 0)
		gwc_new(gw);
}

void
gw_pool_release(struct gw *gw)
{
	struct gw_carrier	*car, *next;

	while (!TAILQ_EMPTY(&gw->conns))
		gwc_free(TAILQ_FIRST(&gw->conns));
	for (car = TAILQ_FIRST(&gw->carriers); car != NULL; car = next) {
		next = TAILQ_NEXT(car, entry);
		car->ops->release(car);
	}
}

void
gw_pool_destroy(struct gw *gw)
{
	struct gw_carrier	*car;

	while (!TAILQ_EMPTY(&gw->conns))
		gwc_free(TAILQ_FIRST(&gw->conns));
	while ((car = TAILQ_FIRST(&gw->carriers)) != NULL)
		car->ops->free(car, "stopping");
	while ((car = TAILQ_FIRST(&gw->draining)) != NULL)
		car->ops->free(car, "stopping");
}
