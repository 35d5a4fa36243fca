/* gw.c -- the one route to the Arc gateway: TLS with the machine's identity, warm connections, nested CONNECT, the endpoint list. */
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
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gw.h"
#include "gw_connect.h"
#include "gw_endpoints.h"
#include "gw_h2.h"
#include "gw_internal.h"
#include "gw_tls.h"
#include "http.h"
#include "log.h"
#include "route.h"

#define GW_ENDPOINTS_PATH	"/.well-known/arc-gateway/endpoints"
#define GW_MAX_LIST_BYTES	(1 << 20)
#define GW_BACKOFF_MIN_MS	500
#define GW_BACKOFF_MAX_MS	60000

enum gw_conn_state {
	GWC_RESOLVING,	/* looking up the gateway, or the proxy in front of it */
	GWC_TCP,	/* TCP connect under way */
	GWC_PROXY,	/* CONNECT to the enterprise proxy sent, answer awaited */
	GWC_TLS,	/* TLS handshake with the gateway */
	GWC_IDLE,	/* warm: handshake done, waiting for a tunnel */
	GWC_FETCH,	/* GET of the endpoint list under way */
	GWC_TUNNEL,	/* CONNECT for a tunnel sent, answer awaited */
};

struct gw_conn {
	struct gw		*gw;
	TAILQ_ENTRY(gw_conn)	 entry;
	enum gw_conn_state	 state;
	struct bufferevent	*bev;
	SSL			*ssl;		/* owned by bev once TLS starts */
	struct resolve		*dns;
	struct resolve_result	 addrs;
	int			 next_addr;
	struct gw_connect	*connect;	/* CONNECT under way (proxy or tunnel) */
	struct gw_req		*req;		/* the tunnel this connection opens */
	struct event		*timer;		/* deadline of the current step */
	struct http_msg		*fetch;		/* endpoint list response */
	struct evbuffer		*body;
	int			 used;		/* was warm before this tunnel */
};

static void	gwc_free(struct gw_conn *);
static void	gwc_start_h2(struct gw_conn *);
static void	gw_notify(struct gw *);
static void	gwc_ready(struct gw_conn *);
static void	gw_fill(struct gw *);
static void	gw_destroy(struct gw *);
static void	gw_reap(evutil_socket_t, short, void *);

const char *
gw_state_name(enum gw_state st)
{
	switch (st) {
	case GW_STATE_CONNECTING: return "connecting";
	case GW_STATE_UP: return "up";
	case GW_STATE_DOWN: return "down";
	}
	return "?";
}

static int
gw_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct gw	*gw = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (gw->session != NULL)
		SSL_SESSION_free(gw->session);
	gw->session = sess;
	return 1;		/* we keep the reference */
}

static void
gw_notify(struct gw *gw)
{
	if (gw->s.on_state != NULL && !gw->retired)
		gw->s.on_state(gw->s.state_arg, gw->state, gw->last_error,
		    gw_endpoint_count(gw));
}

/* ---- requests ---------------------------------------------------------- */

static void
gw_req_free(struct gw_req *r)
{
	struct gw	*gw = r->gw;

	if (r->defer != NULL)
		event_free(r->defer);
	if (r->deadline != NULL)
		event_free(r->deadline);
	free(r);
	gw_unref(gw);
}

static void
gw_req_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct gw_req	*r = arg;

	(void)fd;
	(void)what;
	r->cb(NULL, r->error, r->reason, r->arg);
	gw_req_free(r);
}

void
gw_req_done(struct gw_req *r, struct gw_stream *st)
{
	r->cb(st, GW_OK, "tunnel open", r->arg);
	gw_req_free(r);
}

/* Fails a request from the loop: the caller may be inside gw_open(). */
void
gw_req_fail(struct gw_req *r, enum gw_error error, const char *reason)
{
	struct timeval	now = { 0, 0 };

	r->state = GWR_FAILED;
	r->error = error;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->conn = NULL;
	r->h2s = NULL;
	evtimer_del(r->deadline);
	evtimer_add(r->defer, &now);
}

/* Takes r off the waiting list, or off the connection or the stream that
 * carries its CONNECT. */
static void
gw_req_unlink(struct gw_req *r)
{
	struct gw	*gw = r->gw;
	struct gw_conn	*c;

	switch (r->state) {
	case GWR_WAITING:
		TAILQ_REMOVE(&gw->waiting, r, entry);
		gw->nwaiting--;
		break;
	case GWR_CONNECT:
		if (r->h2s != NULL)
			gw_h2_cancel(r);
		else if ((c = r->conn) != NULL) {
			/* Its CONNECT is out: that connection cannot be used
			 * again. */
			r->conn = NULL;
			c->req = NULL;
			gwc_free(c);
			gw_fill(gw);
		}
		break;
	case GWR_FAILED:
		break;
	}
}

/* connect_timeout_ms covers the whole open: the wait for a connection or a
 * stream slot, and the gateway's answer to CONNECT. */
static void
gw_req_expired(evutil_socket_t fd, short what, void *arg)
{
	struct gw_req	*r = arg;
	struct gw	*gw = r->gw;
	const char	*why;

	(void)fd;
	(void)what;
	if (r->state == GWR_CONNECT)
		why = "the gateway did not answer CONNECT in time";
	else if (gw->h2 != NULL && gw_h2_alive(gw->h2))
		why = "no free stream to the gateway in time";
	else
		why = "no connection to the gateway in time";
	gw_req_unlink(r);
	gw_req_fail(r, GW_TIMEOUT, why);
}

static void
gw_fail_waiting(struct gw *gw, enum gw_error error, const char *reason)
{
	struct gw_req	*r;

	while ((r = TAILQ_FIRST(&gw->waiting)) != NULL) {
		TAILQ_REMOVE(&gw->waiting, r, entry);
		gw->nwaiting--;
		gw_req_fail(r, error, reason);
	}
}

/* ---- connections ------------------------------------------------------- */

static void
gwc_arm(struct gw_conn *c)
{
	long long	ms = c->gw->s.connect_timeout_ms;
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

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

/* A connection attempt failed: the gateway is down until one succeeds. */
static void
gwc_fail_as(struct gw_conn *c, enum gw_error error, const char *reason)
{
	struct gw	*gw = c->gw;
	struct gw_req	*r = c->req;

	if (gw->state != GW_STATE_DOWN || strcmp(gw->last_error, reason) != 0)
		log_warnx("gateway %s:%u: %s", gw->s.host, gw->s.port, reason);
	snprintf(gw->last_error, sizeof(gw->last_error), "%s", reason);
	gw->state = GW_STATE_DOWN;
	gw->failures++;
	gw_notify(gw);
	c->req = NULL;
	gwc_free(c);
	if (r != NULL)
		gw_req_fail(r, error, reason);
	gw_fail_waiting(gw, error, reason);
	if (!evtimer_pending(gw->retry, NULL))
		gw_backoff(gw);
}

/* No descriptor for a new connection: what waits for one is refused. */
static void
gwc_out_of_files(struct gw_conn *c)
{
	static const char reason[] = "out of descriptors for a gateway connection";
	struct gw	*gw = c->gw;
	struct gw_req	*r = c->req;

	c->req = NULL;
	gwc_free(c);
	if (r != NULL)
		gw_req_fail(r, GW_BUSY, reason);
	gw_fail_waiting(gw, GW_BUSY, reason);
}

static void
gwc_fail(struct gw_conn *c, const char *reason)
{
	gwc_fail_as(c, GW_DOWN, reason);
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
	    c->state == GWC_FETCH ? "fetching the endpoint list" :
	    "in the TLS handshake");
	gwc_fail_as(c, GW_TIMEOUT, reason);
}

static void
gwc_free(struct gw_conn *c)
{
	struct gw	*gw;

	if (c == NULL)
		return;
	gw = c->gw;
	if (c->state == GWC_IDLE)
		gw->nidle--;
	else if (c->state < GWC_IDLE)
		gw->nopening--;
	TAILQ_REMOVE(&gw->conns, c, entry);
	if (c->bev != NULL && c->state >= GWC_IDLE)
		GW_STAT_ADD(gw, connections_open, -1);
	resolve_cancel(c->dns);
	gw_connect_free(c->connect);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	else if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->fetch);
	if (c->body != NULL)
		evbuffer_free(c->body);
	free(c);
}

static void
gwc_tls_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn	*c = arg;
	char		 reason[256];
	int		 one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		struct gw *gw = c->gw;

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
		gw->nopening--;
		GW_STAT_ADD(gw, connections_open, 1);
		GW_STAT_ADD(gw, connections_total, 1);
		evtimer_del(c->timer);
		gw->alpn_h2 = gw_tls_is_h2(c->ssl);
		if (gw->alpn_h2) {
			gwc_start_h2(c);
			return;
		}
		c->state = GWC_IDLE;
		gw->nidle++;
		gwc_ready(c);
		return;
	}
	gw_tls_error(c->ssl, bufferevent_get_openssl_error(bev), reason,
	    sizeof(reason));
	gwc_fail(c, reason);
}

/* The gateway chose h2: this connection becomes the multiplexed one. */
static void
gwc_start_h2(struct gw_conn *c)
{
	struct gw	*gw = c->gw;
	struct gw_h2	*h2;
	char		 err[256];

	c->state = GWC_IDLE;		/* counted as neither opening nor idle */
	gw->nidle++;
	if (gw->h2 != NULL && gw_h2_alive(gw->h2)) {
		/* One is up already (two were opened before ALPN was known). */
		gwc_free(c);
		gw_serve_waiting(gw);
		return;
	}
	if ((h2 = gw_h2_new(gw, c->bev, err, sizeof(err))) == NULL) {
		gwc_fail(c, err);
		return;
	}
	c->bev = NULL;			/* the session owns it now */
	c->ssl = NULL;
	gwc_free(c);
	gw->h2 = h2;
	if (gw->fetch_due) {
		gw->fetch_due = 0;
		gw_h2_fetch(h2);
	}
	gw_serve_waiting(gw);
	gw_fill(gw);
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
gwc_proxy_answer(int status, const char *reason, void *arg)
{
	struct gw_conn	*c = arg;
	char		 why[600];

	/* reason lives in the gw_connect: use it before freeing that. */
	snprintf(why, sizeof(why), "enterprise proxy %s:%u refused CONNECT to "
	    "the gateway: %s", c->gw->s.proxy_host, c->gw->s.proxy_port,
	    status > 0 ? reason : "no answer");
	gw_connect_free(c->connect);
	c->connect = NULL;
	if (status != 200) {
		gwc_fail(c, why);
		return;
	}
	gwc_start_tls(c);
}

static void	gwc_try_next(struct gw_conn *);

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
	if ((c->connect = gw_connect_start(bev, gw->s.host, gw->s.port,
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
		/* Our shortage, not the gateway's: it is not marked down. */
		gwc_out_of_files(c);
		return;
	}
	gwc_fail(c, reason);
}

static void
gwc_resolved(enum px_error error, void *arg)
{
	struct gw_conn	*c = arg;
	char		 reason[300];

	c->dns = NULL;
	if (error != PXE_NONE) {
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
	gwc_arm(c);
	switch (resolve_start(gw->dns, gw->hosts, gw->s.nhosts, host, port,
	    &c->addrs, gwc_resolved, c, &c->dns)) {
	case 1:
		gwc_try_next(c);
		break;
	case 0:
		break;
	default:
		gwc_resolved(PXE_DNS, c);
		break;
	}
}

/* Keeps `warm` connections ready, plus one for each waiting request. */
static void
gw_fill(struct gw *gw)
{
	int	want = gw->s.warm + gw->nwaiting, have;

	if (gw->retired)
		return;
	if (gw->alpn_h2 || gw->s.protocol == GW_PROTO_H2 ||
	    (gw->s.protocol == GW_PROTO_AUTO && gw->state == GW_STATE_CONNECTING)) {
		/* One multiplexed connection: open it if there is none alive. */
		want = (gw->h2 != NULL && gw_h2_alive(gw->h2)) ? 0 : 1;
		if (gw->nopening > 0)
			return;
	}
	if (gw->state == GW_STATE_DOWN && evtimer_pending(gw->retry, NULL))
		return;			/* backing off */
	if (gw->state == GW_STATE_DOWN && gw->nopening > 0)
		return;			/* one probe at a time while down */
	while ((have = gw->nidle + gw->nopening) < want) {
		gwc_new(gw);
		/* Down, or nothing under way (out of memory or descriptors). */
		if (gw->state == GW_STATE_DOWN || gw->nidle + gw->nopening <= have)
			break;
	}
}

static void
gw_retry(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;

	(void)fd;
	(void)what;
	if (gw->nopening == 0)
		gwc_new(gw);
}

/* ---- tunnels ----------------------------------------------------------- */

static void
gwc_tunnel_answer(int status, const char *reason, void *arg)
{
	struct gw_conn		*c = arg;
	struct gw		*gw = c->gw;
	struct gw_req		*r = c->req;
	struct bufferevent	*bev;
	int			 used = c->used;
	char			 why[256];

	/* reason lives in the gw_connect: copy it before freeing that. */
	snprintf(why, sizeof(why), "%s", reason);
	reason = why;
	gw_connect_free(c->connect);
	c->connect = NULL;
	c->req = NULL;
	if (status == 200) {
		struct gw_stream *st;

		bev = c->bev;
		c->bev = NULL;
		c->ssl = NULL;
		gwc_free(c);
		gw_fill(gw);
		if ((st = calloc(1, sizeof(*st))) == NULL) {
			bufferevent_free(bev);
			GW_STAT_ADD(gw, connections_open, -1);
			gw_req_fail(r, GW_INTERNAL, "out of memory");
			return;
		}
		st->bev = bev;
		st->stats = gw->stats;
		gw_req_done(r, st);
		return;
	}
	gwc_free(c);
	if (status == 0 && used && !r->retried) {
		/* A warm connection the gateway had closed: try a fresh one. */
		r->retried = 1;
		r->conn = NULL;		/* c is gone: gw_cancel() must not free it */
		r->state = GWR_WAITING;
		TAILQ_INSERT_HEAD(&gw->waiting, r, entry);
		gw->nwaiting++;
		gw_fill(gw);
		return;
	}
	gw_fill(gw);
	if (status == 403)
		gw_req_fail(r, GW_DENIED, reason);
	else if (status == 502 || status == 504 || status == 503)
		gw_req_fail(r, status == 504 ? GW_TIMEOUT : GW_TARGET, reason);
	else if (status == 0)
		gw_req_fail(r, GW_DOWN, reason);
	else
		gw_req_fail(r, GW_PROTOCOL, reason);
}

static void
gwc_assign(struct gw_conn *c, struct gw_req *r)
{
	if (c->state == GWC_IDLE)
		c->gw->nidle--;
	evtimer_del(c->timer);		/* the request's deadline rules now */
	c->used = 1;
	c->state = GWC_TUNNEL;
	c->req = r;
	r->conn = c;
	r->state = GWR_CONNECT;		/* its deadline runs since gw_open() */
	if ((c->connect = gw_connect_start(c->bev, r->host, r->port,
	    gwc_tunnel_answer, c)) == NULL) {
		c->req = NULL;
		gwc_free(c);
		gw_req_fail(r, GW_INTERNAL, "out of memory");
	}
}

/* ---- the endpoint list ------------------------------------------------- */

static int
gw_list_parse(struct gw *gw, struct evbuffer *body, int *refresh_s, char *err,
    size_t errlen)
{
	struct gw_endpoints	 ep;
	size_t			 len = evbuffer_get_length(body);

	if (gw_endpoints_parse((const char *)evbuffer_pullup(body, -1), len, &ep,
	    refresh_s, err, errlen) == -1)
		return -1;
	gw_endpoints_free(&gw->list);
	gw->list = ep;
	return 0;
}

void
gw_list_received(struct gw *gw, struct evbuffer *body, int ok, const char *why)
{
	int		 refresh_s = 60;
	char		 err[256];
	struct timeval	 tv;

	if (ok && gw_list_parse(gw, body, &refresh_s, err, sizeof(err)) == 0) {
		log_info("gateway %s:%u: endpoint list: %zu endpoints, %zu bypassed",
		    gw->s.host, gw->s.port, route_table_count(gw->list.endpoints),
		    route_table_count(gw->list.bypass));
		gw_notify(gw);
	} else
		log_warnx("gateway %s:%u: no endpoint list: %s", gw->s.host,
		    gw->s.port, ok ? err : why);
	tv.tv_sec = refresh_s;
	tv.tv_usec = 0;
	if (!gw->retired)
		evtimer_add(gw->refresh, &tv);
}

static void
gwc_fetch_done(struct gw_conn *c, int ok, const char *why)
{
	struct gw	*gw = c->gw;
	int		 keep;

	gw_list_received(gw, c->body, ok, why);
	keep = ok && http_msg_keep_alive(c->fetch);
	free(c->fetch);
	c->fetch = NULL;
	evbuffer_free(c->body);
	c->body = NULL;
	if (!keep) {
		gwc_free(c);
		gw_fill(gw);
		return;
	}
	evtimer_del(c->timer);
	c->state = GWC_IDLE;
	gw->nidle++;
	gwc_ready(c);
}

static void gwc_idle_event(struct bufferevent *, short, void *);

static void
gwc_fetch_read(struct bufferevent *bev, void *arg)
{
	struct gw_conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 moved;
	enum http_step	 step;

	if (c->fetch->phase == HTTP_PHASE_HEAD) {
		switch (http_msg_head(c->fetch, in, 16384)) {
		case HTTP_STEP_MORE:
			return;
		case HTTP_STEP_HEAD:
			break;
		default:
			gwc_fetch_done(c, 0, "not an HTTP response");
			return;
		}
		if (c->fetch->parser.status_code != 200 ||
		    http_msg_body_until_eof(c->fetch)) {
			char why[64];

			snprintf(why, sizeof(why), "status %u",
			    c->fetch->parser.status_code);
			gwc_fetch_done(c, 0, why);
			return;
		}
		if (http_msg_head_consume(c->fetch, in) == HTTP_STEP_DONE) {
			gwc_fetch_done(c, 1, NULL);
			return;
		}
	}
	step = http_msg_body(c->fetch, in, c->body, &moved);
	if (step == HTTP_STEP_DONE)
		gwc_fetch_done(c, 1, NULL);
	else if (step == HTTP_STEP_ERROR ||
	    evbuffer_get_length(c->body) > GW_MAX_LIST_BYTES)
		gwc_fetch_done(c, 0, "bad or oversize body");
}

static void
gwc_fetch(struct gw_conn *c)
{
	struct gw	*gw = c->gw;

	gw->fetch_due = 0;
	if ((c->fetch = malloc(sizeof(*c->fetch))) == NULL ||
	    (c->body = evbuffer_new()) == NULL) {
		gwc_free(c);
		return;
	}
	gw->nidle--;
	c->state = GWC_FETCH;
	http_msg_init(c->fetch, HTTP_RESPONSE);
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "GET " GW_ENDPOINTS_PATH " HTTP/1.1\r\nHost: %s:%u\r\n"
	    "Accept: application/json\r\n\r\n", gw->s.host, gw->s.port);
	bufferevent_setcb(c->bev, gwc_fetch_read, NULL, gwc_idle_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	gwc_arm(c);
}

static void
gw_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct gw	*gw = arg;
	struct gw_conn	*c;

	(void)fd;
	(void)what;
	gw->fetch_due = 1;
	TAILQ_FOREACH(c, &gw->conns, entry)
		if (c->state == GWC_IDLE) {
			gwc_ready(c);
			return;
		}
	gw_fill(gw);
}

/* ---- idle connections -------------------------------------------------- */

static void
gwc_idle_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn	*c = arg;

	(void)bev;
	(void)what;
	/* The gateway closed a warm connection (idle limit, restart): the
	 * next gw_open() refills, so a gateway that drops idle connections
	 * at once cannot make us spin. */
	gwc_free(c);
}

static void
gwc_idle_read(struct bufferevent *bev, void *arg)
{
	/* Nothing is due on an idle connection: junk means it is unusable. */
	gwc_idle_event(bev, 0, arg);
}

static void
gwc_ready(struct gw_conn *c)
{
	struct gw	*gw = c->gw;
	struct gw_req	*r;

	if (gw->fetch_due) {
		gwc_fetch(c);
		return;
	}
	if ((r = TAILQ_FIRST(&gw->waiting)) != NULL) {
		TAILQ_REMOVE(&gw->waiting, r, entry);
		gw->nwaiting--;
		gwc_assign(c, r);
		return;
	}
	bufferevent_setcb(c->bev, gwc_idle_read, NULL, gwc_idle_event, c);
	bufferevent_enable(c->bev, EV_READ);
}

/* ---- the API ----------------------------------------------------------- */

struct gw_req *
gw_open(struct gw *gw, const char *host, uint16_t port, gw_stream_cb *cb,
    void *arg)
{
	struct gw_req	*r;
	struct gw_conn	*c;
	struct timeval	 deadline;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->defer = evtimer_new(gw->base, gw_req_deferred, r)) == NULL ||
	    (r->deadline = evtimer_new(gw->base, gw_req_expired, r)) == NULL) {
		if (r->defer != NULL)
			event_free(r->defer);
		free(r);
		return NULL;
	}
	if (gw->s.connect_timeout_ms > 0) {
		deadline.tv_sec = gw->s.connect_timeout_ms / 1000;
		deadline.tv_usec = (gw->s.connect_timeout_ms % 1000) * 1000;
		evtimer_add(r->deadline, &deadline);
	}
	r->gw = gw_ref(gw);
	snprintf(r->host, sizeof(r->host), "%s", host);
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	if (gw->state == GW_STATE_DOWN && evtimer_pending(gw->retry, NULL)) {
		/* Fail fast while backing off: the reason is the last failure. */
		gw_req_fail(r, GW_DOWN, gw->last_error);
		return r;
	}
	if (gw->h2 != NULL && gw_h2_can_open(gw->h2) && TAILQ_EMPTY(&gw->waiting)) {
		gw_h2_open(gw->h2, r);
		return r;
	}
	TAILQ_FOREACH(c, &gw->conns, entry)
		if (c->state == GWC_IDLE && !gw->fetch_due) {
			gwc_assign(c, r);
			return r;
		}
	r->state = GWR_WAITING;
	TAILQ_INSERT_TAIL(&gw->waiting, r, entry);
	gw->nwaiting++;
	gw_fill(gw);
	return r;
}

void
gw_cancel(struct gw_req *r)
{
	if (r == NULL)
		return;
	gw_req_unlink(r);
	gw_req_free(r);
}

/* Requests that waited for a connection, or for a stream slot. */
void
gw_serve_waiting(struct gw *gw)
{
	struct gw_req	*r;

	while (gw->h2 != NULL && gw_h2_can_open(gw->h2) &&
	    (r = TAILQ_FIRST(&gw->waiting)) != NULL) {
		TAILQ_REMOVE(&gw->waiting, r, entry);
		gw->nwaiting--;
		gw_h2_open(gw->h2, r);
	}
}

void
gw_h2_gone(struct gw *gw, struct gw_h2 *h2, const char *reason)
{
	struct gw_h2	*old;

	(void)reason;
	if (gw->h2_draining == h2)
		gw->h2_draining = NULL;
	if (gw->h2 != h2)
		return;
	gw->h2 = NULL;
	if (gw_h2_alive(h2) == 0 && !gw_h2_dead(h2)) {
		/* GOAWAY: its streams finish there, new tunnels need a new one. */
		if ((old = gw->h2_draining) != NULL) {
			gw->h2_draining = NULL;
			gw_h2_free(old, "a newer connection is draining too");
		}
		gw->h2_draining = h2;
	}
	gw_fill(gw);
}

struct bufferevent *
gw_stream_bev(struct gw_stream *st)
{
	return st->bev;
}

const char *
gw_stream_protocol(const struct gw_stream *st)
{
	return st->h2 != NULL ? "h2" : "http/1.1";
}

void
gw_stream_shutdown(struct gw_stream *st)
{
	SSL	*ssl;

	if (st->h2 != NULL) {
		gw_h2_stream_shutdown(st->h2);
		return;
	}
	/* close_notify ends our direction; TLS 1.3 lets the peer keep sending. */
	if ((ssl = bufferevent_openssl_get_ssl(st->bev)) != NULL &&
	    SSL_shutdown(ssl) < 0)
		ERR_clear_error();
}

void
gw_stream_close(struct gw_stream *st)
{
	if (st == NULL)
		return;
	if (st->h2 != NULL) {
		gw_h2_stream_close(st->h2);	/* st lives inside it */
		return;
	}
	bufferevent_free(st->bev);
	if (st->stats != NULL)
		__atomic_store_n(&st->stats->connections_open,
		    __atomic_load_n(&st->stats->connections_open, __ATOMIC_RELAXED) - 1,
		    __ATOMIC_RELAXED);
	free(st);
}

int
gw_allows(const struct gw *gw, const char *host, uint16_t port)
{
	struct route_decision	d;

	if (gw->list.endpoints == NULL)
		return 1;
	route_match(gw->list.endpoints, host, port, &d);
	return d.kind == ROUTE_GATEWAY;
}

int
gw_bypasses(const struct gw *gw, const char *host, uint16_t port)
{
	struct route_decision	d;

	if (gw->list.bypass == NULL)
		return 0;
	route_match(gw->list.bypass, host, port, &d);
	return d.kind == ROUTE_GATEWAY;
}

void
gw_route_tables(const struct gw *gw, const struct route_table **allow,
    const struct route_table **bypass)
{
	*allow = gw->list.endpoints;
	*bypass = gw->list.bypass;
}

enum gw_state
gw_get_state(const struct gw *gw)
{
	return gw->state;
}

const char *
gw_last_error(const struct gw *gw)
{
	return gw->last_error;
}

int
gw_endpoint_count(const struct gw *gw)
{
	return gw->list.endpoints == NULL ? -1 :
	    (int)route_table_count(gw->list.endpoints);
}

struct gw *
gw_new(struct event_base *base, struct evdns_base *dns,
    const struct gw_settings *s, char *err, size_t errlen)
{
	struct gw	*gw;
	int		 i;

	if ((gw = calloc(1, sizeof(*gw))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	gw->refs = 1;
	gw->base = base;
	gw->dns = dns;
	gw->s = *s;
	gw->state = GW_STATE_CONNECTING;
	gw->fetch_due = 1;
	TAILQ_INIT(&gw->conns);
	TAILQ_INIT(&gw->waiting);
	if (s->nhosts > 0) {
		if ((gw->hosts = calloc(s->nhosts, sizeof(*gw->hosts))) == NULL)
			goto nomem;
		for (i = 0; i < s->nhosts; i++) {
			gw->hosts[i] = s->hosts[i];
			if ((gw->hosts[i].name = strdup(s->hosts[i].name)) == NULL)
				goto nomem;
		}
	}
	gw->s.hosts = gw->hosts;
	gw->s.ca_file = gw->s.cert_file = gw->s.key_file = NULL;
	if ((gw->retry = evtimer_new(base, gw_retry, gw)) == NULL ||
	    (gw->refresh = evtimer_new(base, gw_refresh, gw)) == NULL ||
	    (gw->reap = evtimer_new(base, gw_reap, gw)) == NULL)
		goto nomem;
	gw->stats = s->stats;
	if ((gw->ctx = gw_tls_ctx_new(s->ca_file, s->cert_file, s->key_file,
	    s->protocol != GW_PROTO_HTTP11, s->protocol != GW_PROTO_H2, err,
	    errlen)) == NULL) {
		gw_destroy(gw);
		return NULL;
	}
	SSL_CTX_set_app_data(gw->ctx, gw);
	SSL_CTX_sess_set_new_cb(gw->ctx, gw_new_session);
	return gw;
 nomem:
	snprintf(err, errlen, "out of memory");
	gw_destroy(gw);
	return NULL;
}

void
gw_start(struct gw *gw)
{
	gw_fill(gw);
}

struct gw *
gw_ref(struct gw *gw)
{
	gw->refs++;
	return gw;
}

void
gw_free(struct gw *gw)
{
	struct gw_conn	*c, *next;

	if (gw == NULL)
		return;
	gw->retired = 1;
	evtimer_del(gw->retry);
	evtimer_del(gw->refresh);
	gw_fail_waiting(gw, GW_DOWN, "the gateway settings changed");
	for (c = TAILQ_FIRST(&gw->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->req == NULL)
			gwc_free(c);
	}
	gw_unref(gw);
}

void
gw_unref(struct gw *gw)
{
	struct timeval	now = { 0, 0 };

	if (gw == NULL || --gw->refs > 0)
		return;
	/* The last reference can go inside nghttp2_session_mem_recv() (a
	 * callback hands over a tunnel whose caller then lets go): the
	 * session must outlive that call, so the memory goes from the loop. */
	evtimer_add(gw->reap, &now);
}

static void
gw_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gw_destroy(arg);
}

/* Only reached with no request left: every one holds a reference. */
static void
gw_destroy(struct gw *gw)
{
	int	i;

	while (!TAILQ_EMPTY(&gw->conns))
		gwc_free(TAILQ_FIRST(&gw->conns));
	if (gw->h2 != NULL)
		gw_h2_free(gw->h2, "stopping");
	if (gw->h2_draining != NULL)
		gw_h2_free(gw->h2_draining, "stopping");
	if (gw->retry != NULL)
		event_free(gw->retry);
	if (gw->refresh != NULL)
		event_free(gw->refresh);
	if (gw->session != NULL)
		SSL_SESSION_free(gw->session);
	SSL_CTX_free(gw->ctx);
	gw_endpoints_free(&gw->list);
	if (gw->reap != NULL)
		event_free(gw->reap);
	for (i = 0; gw->hosts != NULL && i < gw->s.nhosts; i++)
		free(gw->hosts[i].name);
	free(gw->hosts);
	free(gw);
}
