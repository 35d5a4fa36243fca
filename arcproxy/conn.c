/* conn.c -- one client connection: its life cycle (head, route, exchange or tunnel, close), its timer and its log line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "accesslog.h"
#include "bigread.h"
#include "budget.h"
#include "config.h"
#include "conn.h"
#include "exchange.h"
#include "fastio.h"
#include "gw.h"
#include "http.h"
#include "log.h"
#include "relay.h"
#include "upstream.h"
#include "worker.h"

#define CONN_LINGER_MS		2000	/* reading after our EOF, so that no RST eats the response */

static void	conn_client_read(struct bufferevent *, void *);
static void	conn_client_write(struct bufferevent *, void *);
static void	conn_client_event(struct bufferevent *, short, void *);
static void	conn_tunnel_up_read(struct bufferevent *, void *);
static void	conn_tunnel_up_write(struct bufferevent *, void *);
static void	conn_tunnel_up_event(struct bufferevent *, short, void *);
static void	conn_head(struct conn *);

/*
 * Between requests (HEAD, IDLE), and through an exchange whose request has
 * no body, the client's socket is watched by head_rev, not by its
 * bufferevent: libevent asks the kernel with an ioctl(FIONREAD) before each
 * read, one system call in six or seven of a small request.  A request body
 * and everything after the exchange (a tunnel, a close) read through the
 * bufferevent.  The new watcher goes in before the old one goes out: the
 * socket stays watched for reading all along, and libevent's changelist
 * sends no epoll_ctl(2) for the swap.
 */
static void
conn_head_reads(struct conn *c, int on)
{
	if (c->head_rev == NULL)
		return;			/* a tunnel: never again */
	if (on) {
		if (!c->head_rev_on) {
			event_add(c->head_rev, NULL);
			c->head_rev_on = 1;
		}
		if (bufferevent_get_enabled(c->client) & EV_READ)
			bufferevent_disable(c->client, EV_READ);
	} else if (c->head_rev_on) {
		bufferevent_enable(c->client, EV_READ);
		event_del(c->head_rev);
		c->head_rev_on = 0;
	}
}

void
conn_client_reads(struct conn *c, int on)
{
	if (on) {
		if (!c->head_rev_on)
			bufferevent_enable(c->client, EV_READ);
		return;
	}
	if (c->head_rev_on) {
		event_del(c->head_rev);
		c->head_rev_on = 0;
	}
	bufferevent_disable(c->client, EV_READ);
}

static void
conn_head_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	ssize_t		 n;

	(void)what;
	/* What libevent reads at most per event. */
	n = fastio_read_some(c->client, fd, FASTIO_LIBEVENT_READ);
	if (n == BIGREAD_AGAIN)
		return;
	if (n <= 0) {
		conn_client_event(c->client, BEV_EVENT_READING |
		    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
		return;
	}
	conn_client_read(c->client, c);
}

/*
 * The conn's deadline moves on every request (the exchange's idle time,
 * then the keep-alive wait), almost always later.  Only a deadline earlier
 * than the one the timer is set for re-adds it; a later one is noted, and
 * the timer, firing early, sets itself for the rest (conn_timeout).  On
 * libevent's monotonic clock, as its timers: a wall clock stepped back
 * would hold every deadline that long.
 */
static void
conn_timer_set(struct conn *c, const struct timeval *now, long long ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	timeradd(now, &tv, &c->timer_at);
	c->timer_on = 1;
	evtimer_add(c->timer, &tv);
}

void
conn_arm(struct conn *c, long long ms)
{
	struct timeval	now, tv = { ms / 1000, (ms % 1000) * 1000 };

	event_gettime_monotonic(c->w->base, &now);
	timeradd(&now, &tv, &c->deadline);
	if (c->timer_on && timercmp(&c->timer_at, &c->deadline, <=))
		return;
	conn_timer_set(c, &now, ms);
}

/* No deadline: the state's own timer (an upstream's open) rules. */
void
conn_disarm(struct conn *c)
{
	c->timer_on = 0;
	evtimer_del(c->timer);
}

void
conn_touch(struct conn *c)
{
	event_base_gettimeofday_cached(c->w->base, &c->last_active);
}

static long long
conn_ms_since(struct conn *c, const struct timeval *then)
{
	struct timeval	now, d;

	event_base_gettimeofday_cached(c->w->base, &now);
	timersub(&now, then, &d);
	return (long long)d.tv_sec * 1000 + d.tv_usec / 1000;
}

void
conn_close_upstream(struct conn *c)
{
	if (c->up == NULL)
		return;
	/* The spliced tunnel's events go before the sockets they watch. */
	relay_stop(&c->relay);
	upstream_close(c->up);
	c->up = NULL;
}

/* One access-log line and the counters for the request or tunnel that ends. */
void
conn_log(struct conn *c)
{
	struct accesslog_entry	 e;
	struct metrics		*m = &c->w->stats;
	const char		*route = c->routed ? route_names[c->route.kind] : "-";

	if (c->logged || c->method[0] == '\0')
		return;
	c->logged = 1;
	if (c->state == CONN_TUNNEL) {
		c->bytes_up += c->relay.client.bytes;
		c->bytes_down += c->relay.upstream.bytes;
	}
	e.start = c->start;
	e.client = c->client_addr;
	e.method = c->method;
	e.target = c->target_text[0] ? c->target_text : "-";
	e.route = route;
	e.status = c->status;
	e.bytes_up = c->bytes_up;
	e.bytes_down = c->bytes_down;
	e.duration_ms = conn_ms_since(c, &c->start);
	e.error = c->error == PXE_NONE ? "-" : px_errors[c->error].label;
	accesslog_write(c->w->alog, &e);
	if (c->error != PXE_NONE)
		METRIC_ADD(m->errors[c->error], 1);
	if (c->routed) {
		METRIC_ADD(m->requests[c->route.kind][metrics_class(c->status)], 1);
		METRIC_ADD(m->bytes_up[c->route.kind], c->bytes_up);
		METRIC_ADD(m->bytes_down[c->route.kind], c->bytes_down);
	}
}

/* Frees what a connection holds, built whole or in part (conn_new's failure). */
static void
conn_release(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->head_rev != NULL)
		event_free(c->head_rev);
	if (c->client != NULL)
		bufferevent_free(c->client);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->req);
	free(c->resp);
	if (c->head_out != NULL)
		evbuffer_free(c->head_out);
	if (c->stage != NULL)
		evbuffer_free(c->stage);
	config_unref(c->cfg);
	gw_unref(c->gw);
	free(c);
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	conn_log(c);
	if (c->state == CONN_TUNNEL)
		METRIC_SUB(c->w->stats.tunnels_open[c->route.kind], 1);
	conn_close_upstream(c);
	METRIC_SUB(c->w->stats.connections_open, 1);
	TAILQ_REMOVE(&c->w->conns, c, entry);
	budget_untrack(&c->w->budget, c->client);
	worker_conn_closed(c->w);
	conn_release(c);
}

/* Flush what the client is owed, send EOF, read and drop until it closes. */
void
conn_closing(struct conn *c)
{
	conn_log(c);
	conn_close_upstream(c);
	conn_head_reads(c, 0);
	c->state = CONN_FLUSHING;
	evbuffer_drain(bufferevent_get_input(c->client),
	    evbuffer_get_length(bufferevent_get_input(c->client)));
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	/* A slow reader gets the idle time to take the rest of a response. */
	conn_arm(c, c->cfg->limits.tunnel_idle_timeout_ms);
	if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0)
		conn_client_write(c->client, c);
}

/* Too late for a status: the client sees the connection end.  The free
 * comes from the loop, so callers up the stack may still touch c. */
static void
conn_abort(struct conn *c)
{
	conn_log(c);
	conn_close_upstream(c);
	if (c->state == CONN_TUNNEL)
		METRIC_SUB(c->w->stats.tunnels_open[c->route.kind], 1);
	c->state = CONN_ABORTED;
	conn_head_reads(c, 0);
	bufferevent_disable(c->client, EV_READ | EV_WRITE);
	conn_arm(c, 0);
}

void
conn_fail(struct conn *c, enum px_error error)
{
	conn_fail_details(c, error, NULL);
}

/* Proxy-Status details are a quoted string: keep it plain and short. */
static void
conn_quote_details(char *dst, size_t len, const char *src)
{
	size_t	i;

	for (i = 0; src[i] != '\0' && i + 1 < len; i++)
		dst[i] = (src[i] == '"' || src[i] == '\\' ||
		    (unsigned char)src[i] < 0x20 || (unsigned char)src[i] >= 0x7f) ?
		    '\'' : src[i];
	dst[i] = '\0';
}

void
conn_fail_details(struct conn *c, enum px_error error, const char *details)
{
	const struct px_error_info *e = &px_errors[error];
	char		 quoted[256];

	c->error = error;
	if (c->method[0] == '\0')
		snprintf(c->method, sizeof(c->method), "-");
	if (c->resp_started || c->state == CONN_TUNNEL) {
		conn_abort(c);
		return;
	}
	c->status = e->status;
	if (details != NULL)
		conn_quote_details(quoted, sizeof(quoted), details);
	log_debug("%s %s %s: %d %s%s%s", c->client_addr, c->method,
	    c->target_text, e->status, e->label, details ? ": " : "",
	    details ? details : "");
	http_write_error(bufferevent_get_output(c->client), e->status, e->reason,
	    e->proxy_status, details ? quoted : NULL);
	conn_closing(c);
}

/* OPTIONS or TRACE with Max-Forwards: 0: arcproxy is the final recipient
 * and answers itself (RFC 9110 7.6.2), then closes. */
static void
conn_answer_self(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->client);
	size_t		 before = evbuffer_get_length(out);

	c->status = 200;
	if ((c->req->parser.method == HTTP_TRACE ?
	    http_write_trace(out, c->req) : http_write_options(out)) == -1) {
		conn_fail(c, PXE_INTERNAL);
		return;
	}
	c->bytes_down = evbuffer_get_length(out) - before;
	conn_closing(c);
}

static void
conn_set_target_text(struct conn *c, const struct http_msg *m)
{
	size_t	len = m->url.len;

	if (len >= sizeof(c->target_text))
		len = sizeof(c->target_text) - 1;
	memcpy(c->target_text, m->raw + m->url.off, len);
	c->target_text[len] = '\0';
}

/* The tunnel's upstream side: the pump (relay.c) does the work. */
static void
conn_tunnel_up_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	conn_touch(c);
	if (c->up->plain)
		relay_read_more(&c->relay.upstream.win, &c->w->budget, bev,
		    (size_t)c->cfg->limits.buffer_bytes);
	relay_read(&c->relay, &c->relay.upstream);
}

static void
conn_tunnel_up_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (relay_drained(&c->relay, &c->relay.upstream))
		conn_free(c);
}

static void
conn_tunnel_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	conn_touch(c);
	if (!(what & BEV_EVENT_EOF) || relay_eof(&c->relay, &c->relay.upstream))
		conn_free(c);
}

/* The spliced tunnel's news (relay.c), as the bufferevents' callbacks give it
 * on the buffered pump. */
static void
conn_tunnel_spliced(struct relay *r, enum relay_what what, void *arg)
{
	struct conn	*c = arg;

	(void)r;
	conn_touch(c);
	if (what != RELAY_MOVED)
		conn_free(c);
}

void
conn_tunnel(struct conn *c)
{
	struct metrics	*m = &c->w->stats;

	c->state = CONN_TUNNEL;
	free(c->req);
	free(c->resp);
	c->req = c->resp = NULL;
	METRIC_ADD(m->tunnels[c->route.kind], 1);
	METRIC_ADD(m->tunnels_open[c->route.kind], 1);
	upstream_relay_init(c->up, &c->relay, c->client,
	    c->cfg->limits.buffer_bytes);
	upstream_track(c->up);
	bufferevent_setcb(c->up->bev, conn_tunnel_up_read, conn_tunnel_up_write,
	    conn_tunnel_up_event, c);
	/* A 101: the bufferevent reads the upstream again (relay_start). */
	bufferevent_enable(c->up->bev, EV_READ);
	/* A tunnel reads no more heads or responses: its idle memory counts. */
	upstream_reads_bev(c->up, 1);
	event_free(c->head_rev);
	c->head_rev = NULL;
	c->head_rev_on = 0;
	conn_arm(c, c->cfg->limits.tunnel_idle_timeout_ms);
	/* Plain TCP both ways: socket to socket once nothing is buffered. */
	if (c->up->plain)
		relay_splice_allow(&c->relay, &c->w->pipes, conn_tunnel_spliced,
		    c);
	relay_start(&c->relay);
}

/* The routing policy of this request's generation (lib/route.c). */
static int
conn_pick_route(struct conn *c)
{
	const struct config	*cfg = c->cfg;
	struct route_policy	 p;

	memset(&p, 0, sizeof(p));
	p.rules = cfg->routes;
	p.default_set = cfg->default_route_set;
	p.have_proxy = cfg->proxy_host[0] != '\0';
	p.proxy_bypass = cfg->proxy_bypass;
	p.gateway_mode = cfg->agent.connection_type == AGENTCONF_GATEWAY &&
	    c->gw != NULL;
	if (p.gateway_mode)
		gw_route_tables(c->gw, &p.gw_allow, &p.gw_bypass);
	return route_decide(&p, c->target.host, c->target.port, &c->route);
}

/*
 * Each request takes the worker's generation as it is routed: its rules,
 * proxy settings and gateway client stay together until it ends, whatever
 * a SIGHUP changes meanwhile.  A tunnel keeps the generation it opened in.
 */
static void
conn_take_generation(struct conn *c)
{
	if (c->cfg == c->w->cfg && c->gw == c->w->gw)
		return;
	config_unref(c->cfg);
	c->cfg = config_ref(c->w->cfg);
	gw_unref(c->gw);
	c->gw = c->w->gw != NULL ? gw_ref(c->w->gw) : NULL;
}

/* A whole request head is here: check it, route it, rewrite it. */
static void
conn_route(struct conn *c)
{
	struct http_msg	*m = c->req;
	const char	*method;
	size_t		 len;
	unsigned long	 hops;
	int		 rc, guarded, nhost;

	event_base_gettimeofday_cached(c->w->base, &c->start);
	c->bytes_up = c->bytes_down = 0;
	c->status = 0;
	c->error = PXE_NONE;
	c->logged = c->routed = c->resp_started = c->req_done = c->retried = 0;
	conn_take_generation(c);
	method = http_msg_method(m);
	len = strnlen(method, sizeof(c->method) - 1);
	memcpy(c->method, method, len);
	c->method[len] = '\0';
	conn_set_target_text(c, m);
	c->keep_alive = http_msg_keep_alive(m) && !c->w->draining;
	c->client_http10 = m->parser.http_major == 1 && m->parser.http_minor == 0;
	if ((rc = http_msg_target(m, &c->target)) != 0) {
		if (rc == -2)
			conn_fail(c, PXE_BAD_SCHEME);
		else if (m->url.len > 0 && m->raw[m->url.off] == '/')
			conn_fail(c, PXE_ORIGIN_FORM);
		else
			conn_fail(c, PXE_BAD_REQUEST);
		return;
	}
	/* One Host field; none only from HTTP/1.0 (RFC 9112 3.2).  The
	 * target names the host all the same: the field is rewritten. */
	if ((nhost = http_msg_count(m, "host")) > 1 ||
	    (nhost == 0 && !c->client_http10)) {
		log_debug("%s: bad request: %s Host field", c->client_addr,
		    nhost > 1 ? "more than one" : "no");
		conn_fail(c, PXE_BAD_REQUEST);
		return;
	}
	if ((rc = http_msg_max_forwards(m, &hops)) == -1) {
		log_debug("%s: bad request: Max-Forwards", c->client_addr);
		conn_fail(c, PXE_BAD_REQUEST);
		return;
	}
	if (rc == 1 && hops == 0) {
		conn_answer_self(c);
		return;
	}
	guarded = conn_pick_route(c);
	c->routed = 1;
	if (c->route.kind == ROUTE_DENY) {
		conn_fail(c, PXE_ROUTE_DENIED);
		return;
	}
	if (guarded) {
		conn_fail(c, PXE_GUARDED);
		return;
	}
	if (!upstream_available(c->cfg, c->gw, c->route.kind)) {
		conn_fail(c, PXE_ROUTE_DOWN);
		return;
	}
	if (!http_msg_is_connect(m)) {
		evbuffer_drain(c->head_out, evbuffer_get_length(c->head_out));
		http_write_request(m, &c->target, c->head_out);
		/* The target points into the raw head: keep what outlives it. */
		c->target.path = c->target.authority = NULL;
	}
	c->bytes_up = m->head_len;
	switch (http_msg_head_consume(m, bufferevent_get_input(c->client))) {
	case HTTP_STEP_DONE:
		c->req_done = 1;
		break;
	case HTTP_STEP_ERROR:
		log_debug("%s: bad request: %s", c->client_addr, http_msg_error(m));
		conn_fail(c, PXE_BAD_REQUEST);
		return;
	default:
		break;
	}
	c->req_body = !c->req_done;
	/* A body: from here on the bufferevent reads (relay windows). */
	if (c->req_body)
		conn_head_reads(c, 0);
	exchange_start(c);
}

static void
conn_head(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->client);

	switch (http_msg_head(c->req, in, c->cfg->limits.max_head_bytes)) {
	case HTTP_STEP_MORE:
		if (c->state == CONN_IDLE && c->req->parsed > 0) {
			/* A new request began on a kept-alive connection:
			 * from now on the head timer runs, not the idle one. */
			c->state = CONN_HEAD;
			conn_arm(c, c->cfg->limits.head_timeout_ms);
		}
		if (evbuffer_get_length(in) > (size_t)c->cfg->limits.max_head_bytes)
			conn_fail(c, PXE_HEAD_TOO_LARGE);
		return;
	case HTTP_STEP_TOO_LARGE:
		conn_fail(c, PXE_HEAD_TOO_LARGE);
		return;
	case HTTP_STEP_ERROR:
		log_debug("%s: bad request: %s", c->client_addr,
		    http_msg_error(c->req));
		conn_fail(c, c->req->bad_version ? PXE_BAD_VERSION :
		    http_msg_unknown_method(c->req, in) ? PXE_BAD_METHOD :
		    PXE_BAD_REQUEST);
		return;
	default:
		conn_route(c);
		return;
	}
}

/* The exchange ended: close, or wait for the client's next request. */
void
conn_next_request(struct conn *c)
{
	if (!c->keep_alive || c->client_eof) {
		conn_closing(c);
		return;
	}
	c->state = CONN_IDLE;
	c->resp_started = 0;
	c->method[0] = '\0';
	http_msg_init(c->req, HTTP_REQUEST);
	conn_arm(c, c->cfg->limits.client_idle_timeout_ms);
	conn_head_reads(c, 1);
	if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
		conn_head(c);
}

static void
conn_client_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	conn_touch(c);
	switch (c->state) {
	case CONN_HEAD:
	case CONN_IDLE:
		conn_head(c);
		break;
	case CONN_EXCHANGE:
		exchange_client_read(c);
		break;
	case CONN_TUNNEL:
		relay_read_more(&c->relay.client.win, &c->w->budget, bev,
		    (size_t)c->cfg->limits.buffer_bytes);
		relay_read(&c->relay, &c->relay.client);
		break;
	case CONN_FLUSHING:
	case CONN_LINGER:
	case CONN_ABORTED:
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		break;
	case CONN_OPENING:
		/* Early bytes wait for the upstream; past a buffer's worth the
		 * client waits too. */
		if (evbuffer_get_length(bufferevent_get_input(bev)) >=
		    (size_t)c->cfg->limits.buffer_bytes)
			conn_client_reads(c, 0);
		break;
	}
}

static void
conn_client_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	switch (c->state) {
	case CONN_FLUSHING:
		if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0) {
			shutdown(bufferevent_getfd(c->client), SHUT_WR);
			c->state = CONN_LINGER;
			conn_arm(c, CONN_LINGER_MS);
		}
		break;
	case CONN_TUNNEL:
		if (relay_drained(&c->relay, &c->relay.client))
			conn_free(c);
		break;
	case CONN_EXCHANGE:
		exchange_client_drained(c);
		break;
	default:
		break;
	}
}

static void
conn_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	conn_touch(c);
	if (c->state == CONN_TUNNEL && (what & BEV_EVENT_EOF)) {
		if (relay_eof(&c->relay, &c->relay.client))
			conn_free(c);
		return;
	}
	if (c->state == CONN_EXCHANGE && c->req_done && (what & BEV_EVENT_EOF)) {
		/* The client half-closed after its request: answer, then close. */
		c->client_eof = 1;
		c->keep_alive = 0;
		conn_client_reads(c, 0);
		return;
	}
	/* Mid-exchange, or while the upstream opens: conn_free() cancels the
	 * open through the route's close. */
	if ((c->state == CONN_EXCHANGE || c->state == CONN_OPENING) &&
	    c->error == PXE_NONE) {
		c->error = PXE_CLIENT_ABORT;
		log_debug("%s %s %s: client left %s", c->client_addr, c->method,
		    c->target_text, c->state == CONN_OPENING ?
		    "while the upstream opened" : "mid-exchange");
	}
	if ((c->state == CONN_HEAD || c->state == CONN_IDLE) &&
	    c->req->parsed > 0 && c->error == PXE_NONE) {
		c->error = PXE_CLIENT_ABORT;
		snprintf(c->method, sizeof(c->method), "-");
	}
	conn_free(c);
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct timeval	 now, left;
	long long	 idle, limit = c->cfg->limits.tunnel_idle_timeout_ms;

	(void)fd;
	(void)what;
	c->timer_on = 0;
	event_gettime_monotonic(c->w->base, &now);
	if (timercmp(&now, &c->deadline, <)) {
		/* Set early for a deadline that moved on: the rest of it. */
		timersub(&c->deadline, &now, &left);
		conn_timer_set(c, &now, (long long)left.tv_sec * 1000 +
		    (left.tv_usec + 999) / 1000);
		return;
	}
	switch (c->state) {
	case CONN_HEAD:
		snprintf(c->method, sizeof(c->method), "-");
		conn_fail(c, PXE_HEAD_TIMEOUT);
		return;
	case CONN_EXCHANGE:
	case CONN_TUNNEL:
		idle = conn_ms_since(c, &c->last_active);
		if (idle < limit) {
			conn_arm(c, limit - idle);
			return;
		}
		conn_fail(c, PXE_IDLE_TIMEOUT);
		return;
	case CONN_IDLE:			/* idle keep-alive: a quiet close */
	case CONN_FLUSHING:
	case CONN_LINGER:
	case CONN_ABORTED:
		conn_free(c);
		return;
	case CONN_OPENING:
		return;			/* the upstream has its own deadline */
	}
}

struct conn *
conn_new(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct conn	*c;
	char		 host[INET6_ADDRSTRLEN];
	uint16_t	 port = 0;
	int		 one = 1;

	(void)len;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->w = w;
	c->cfg = config_ref(w->cfg);
	c->gw = w->gw != NULL ? gw_ref(w->gw) : NULL;
	if ((c->client = bufferevent_socket_new(w->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail;
	c->client_fd = fd;
	fd = -1;			/* the bufferevent closes it now */
	if ((c->timer = evtimer_new(w->base, conn_timeout, c)) == NULL ||
	    (c->head_rev = event_new(w->base, c->client_fd,
	    EV_READ | EV_PERSIST, conn_head_readable, c)) == NULL ||
	    (c->req = malloc(sizeof(*c->req))) == NULL ||
	    (c->resp = malloc(sizeof(*c->resp))) == NULL ||
	    (c->head_out = evbuffer_new()) == NULL ||
	    (c->stage = evbuffer_new()) == NULL)
		goto fail;
	budget_track(&w->budget, c->client);
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    host, sizeof(host));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
		snprintf(c->client_addr, sizeof(c->client_addr), "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    host, sizeof(host));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
		snprintf(c->client_addr, sizeof(c->client_addr), "[%s]:%u", host, port);
	} else
		snprintf(c->client_addr, sizeof(c->client_addr), "local");
	setsockopt(c->client_fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	fastio_setup(c->client);
	http_msg_init(c->req, HTTP_REQUEST);
	event_base_gettimeofday_cached(w->base, &c->start);
	c->last_active = c->start;
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	bufferevent_setcb(c->client, conn_client_read, conn_client_write,
	    conn_client_event, c);
	/* Writing is enabled with the first bytes the socket does not take at
	 * once (fastio_pass), or by the step that queues them: an empty
	 * output's write event only wakes the loop to be deleted. */
	conn_head_reads(c, 1);
	conn_arm(c, c->cfg->limits.head_timeout_ms);
	METRIC_ADD(w->stats.connections, 1);
	METRIC_ADD(w->stats.connections_open, 1);
	return c;
 fail:
	/* Nothing is counted or listed yet: release, not conn_free(). */
	log_warnx("out of memory for a new connection");
	conn_release(c);
	if (fd != -1)
		close(fd);
	worker_conn_closed(w);
	return NULL;
}

void
conn_drain_all(struct worker *w)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		c->keep_alive = 0;
		if ((c->state == CONN_HEAD || c->state == CONN_IDLE) &&
		    c->req->parsed == 0 &&
		    evbuffer_get_length(bufferevent_get_input(c->client)) == 0)
			conn_free(c);
	}
}

static void
conn_cut(struct worker *w, int tunnels_only)
{
	struct conn	*c, *next;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (tunnels_only && c->state != CONN_TUNNEL)
			continue;
		if (c->error == PXE_NONE && c->method[0] != '\0' &&
		    c->state != CONN_FLUSHING && c->state != CONN_LINGER)
			c->error = PXE_SHUTDOWN;
		conn_free(c);
	}
}

void
conn_cut_tunnels(struct worker *w)
{
	conn_cut(w, 1);
}

void
conn_shutdown_all(struct worker *w)
{
	conn_cut(w, 0);
}

void
conn_free_all(struct worker *w)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_free(c);
}
