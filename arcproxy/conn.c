/* conn.c -- one client connection: read a request head, route it, open the upstream, then exchange or tunnel. */
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
#include "budget.h"
#include "conn.h"
#include "gw.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "upstream.h"
#include "worker.h"

#define CONN_LINGER_MS		2000	/* reading after our EOF, so that no RST eats the response */
#define CONN_MAX_SINGLE_READ	(128 * 1024)
#define CONN_MAX_SINGLE_WRITE	(1024 * 1024)

enum conn_state {
	CONN_HEAD,	/* reading a request head; the head (or keep-alive) timer runs */
	CONN_OPENING,	/* head parsed and routed; the upstream is being opened; the client is
			   read only to see it leave (its EOF or error cancels the open) */
	CONN_EXCHANGE,	/* request head sent: body going up, response coming down */
	CONN_TUNNEL,	/* CONNECT or 101: bytes relayed blindly both ways */
	CONN_CLOSING,	/* the last response is flushing; then EOF, a short linger, free */
};

struct conn {
	struct worker		*w;
	struct config		*cfg;		/* the rules this connection started under */
	TAILQ_ENTRY(conn)	 entry;
	enum conn_state		 state;
	struct bufferevent	*client;
	struct upstream		*up;
	struct event		*timer;		/* head, idle, linger */
	struct timeval		 last_active;	/* last byte either way (cached clock) */
	struct timeval		 start;		/* of the current request or tunnel */
	struct http_msg		*req;		/* NULL once tunnelling */
	struct http_msg		*resp;
	struct evbuffer		*head_out;	/* rewritten request head, kept for a retry */
	struct evbuffer		*stage;		/* response bytes on their way to the client */
	struct http_target	 target;
	struct relay		 relay;
	struct route_decision	 route;
	enum px_error		 error;
	int			 status;
	int			 requests;	/* completed on this connection */
	unsigned		 keep_alive:1;	/* client may send another request */
	unsigned		 req_done:1;	/* the whole request went up */
	unsigned		 resp_started:1;/* response bytes went to the client */
	unsigned		 routed:1;
	unsigned		 retried:1;	/* a stale pooled upstream was replaced */
	unsigned		 client_eof:1;
	unsigned		 up_paused:1;	/* upstream not read: client output full */
	unsigned		 client_paused:1;/* client not read: upstream output full */
	unsigned		 logged:1;
	unsigned		 req_body:1;	/* the request has a body (no retry) */
	unsigned		 up_eof:1;	/* the upstream closed: not for the pool */
	unsigned		 head_timed:1;	/* the head timer replaced the idle one */
	unsigned		 client_http10:1;/* the request said HTTP/1.0 */
	uint64_t		 bytes_up;	/* of this request or tunnel */
	uint64_t		 bytes_down;
	char			 client_addr[INET6_ADDRSTRLEN + 8];
	char			 method[24];
	char			 target_text[512];
};

static void	conn_client_read(struct bufferevent *, void *);
static void	conn_client_write(struct bufferevent *, void *);
static void	conn_client_event(struct bufferevent *, short, void *);
static void	conn_up_read(struct bufferevent *, void *);
static void	conn_up_write(struct bufferevent *, void *);
static void	conn_up_event(struct bufferevent *, short, void *);
static void	conn_head(struct conn *);
static void	conn_fail(struct conn *, enum px_error);
static void	conn_fail_details(struct conn *, enum px_error, const char *);

static void
conn_arm(struct conn *c, long long ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

static void
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

static void
conn_close_upstream(struct conn *c)
{
	if (c->up == NULL)
		return;
	budget_untrack(&c->w->budget, c->up->bev);
	c->up->ops->close(c->up);
	c->up = NULL;
}

/* One access-log line and the counters for the request or tunnel that ends. */
static void
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
	bufferevent_free(c->client);
	event_free(c->timer);
	free(c->req);
	free(c->resp);
	if (c->head_out != NULL)
		evbuffer_free(c->head_out);
	if (c->stage != NULL)
		evbuffer_free(c->stage);
	config_unref(c->cfg);
	worker_conn_closed(c->w);
	free(c);
}

/* Flush what the client is owed, send EOF, read and drop until it closes. */
static void
conn_closing(struct conn *c)
{
	conn_log(c);
	conn_close_upstream(c);
	c->state = CONN_CLOSING;
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
	c->state = CONN_CLOSING;
	bufferevent_disable(c->client, EV_READ | EV_WRITE);
	conn_arm(c, 0);
}

static void
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

static void
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

static void
conn_set_target_text(struct conn *c, const struct http_msg *m)
{
	size_t	len = m->url.len;

	if (len >= sizeof(c->target_text))
		len = sizeof(c->target_text) - 1;
	memcpy(c->target_text, m->raw + m->url.off, len);
	c->target_text[len] = '\0';
}

static void
conn_tunnel(struct conn *c)
{
	struct metrics	*m = &c->w->stats;

	c->state = CONN_TUNNEL;
	free(c->req);
	free(c->resp);
	c->req = c->resp = NULL;
	METRIC_ADD(m->tunnels[c->route.kind], 1);
	METRIC_ADD(m->tunnels_open[c->route.kind], 1);
	relay_init(&c->relay, c->client, c->up, c->cfg->limits.buffer_bytes);
	budget_track(&c->w->budget, c->up->bev);
	bufferevent_setcb(c->up->bev, conn_up_read, conn_up_write, conn_up_event, c);
	conn_arm(c, c->cfg->limits.tunnel_idle_timeout_ms);
	relay_start(&c->relay);
}

/* The request body: move checked bytes up while the upstream keeps pace. */
static void
conn_req_body(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->client);
	struct evbuffer	*out = bufferevent_get_output(c->up->bev);
	enum http_step	 step;
	size_t		 moved;

	while (!c->req_done && evbuffer_get_length(in) > 0) {
		step = http_msg_body(c->req, in, out, &moved);
		c->bytes_up += moved;
		if (step == HTTP_STEP_ERROR) {
			log_info("%s: bad request body: %s", c->client_addr,
			    http_msg_error(c->req));
			conn_fail(c, PXE_BAD_REQUEST);
			return;
		}
		if (step == HTTP_STEP_DONE)
			c->req_done = 1;
		if (moved == 0)
			break;
	}
	if (c->up->plain)
		relay_write_now(c->up->bev);
	if (!c->req_done && relay_throttle(&c->relay.client.win, &c->w->budget,
	    c->client, c->up->bev, c->cfg->limits.buffer_bytes))
		c->client_paused = 1;
}

/* The request head is on its way; start the exchange. */
static void
conn_exchange(struct conn *c)
{
	struct evbuffer	*head = c->head_out;
	size_t		 len = evbuffer_get_length(head);

	c->state = CONN_EXCHANGE;
	c->up_eof = 0;
	budget_track(&c->w->budget, c->up->bev);
	bufferevent_setcb(c->up->bev, conn_up_read, conn_up_write, conn_up_event, c);
	if (c->up->reused && !c->retried)
		/* Keep a copy: a stale pooled connection means sending it again. */
		evbuffer_add(bufferevent_get_output(c->up->bev),
		    evbuffer_pullup(head, len), len);
	else
		evbuffer_add_buffer(bufferevent_get_output(c->up->bev), head);
	http_msg_init(c->resp, HTTP_RESPONSE);
	c->resp->skip_body = strcmp(c->method, "HEAD") == 0;
	bufferevent_setwatermark(c->up->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->up->bev, EV_READ | EV_WRITE);
	bufferevent_enable(c->client, EV_READ);
	conn_arm(c, c->cfg->limits.tunnel_idle_timeout_ms);
	conn_req_body(c);
}

static void
conn_opened(struct upstream *up, enum px_error error, const char *details,
    void *arg)
{
	struct conn	*c = arg;
	char		 why[256];
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	if (error != PXE_NONE) {
		/* The gateway client logs its own state changes; a refusal
		 * by a peer is news for the operator. */
		if (details != NULL && (error == PXE_GATEWAY_DENIED ||
		    error == PXE_PROXY_REFUSED || error == PXE_PROXY_DOWN))
			log_info("%s %s %s: %s", c->client_addr, c->method,
			    c->target_text, details);
		/* The details live in the upstream, which goes now. */
		snprintf(why, sizeof(why), "%s", details ? details : "");
		c->up = NULL;
		up->ops->close(up);
		conn_fail_details(c, error, why[0] ? why : NULL);
		return;
	}
	conn_touch(c);
	bufferevent_set_max_single_read(up->bev, CONN_MAX_SINGLE_READ);
	bufferevent_set_max_single_write(up->bev, CONN_MAX_SINGLE_WRITE);
	if (c->req != NULL && http_msg_is_connect(c->req)) {
		c->status = 200;
		evbuffer_add(bufferevent_get_output(c->client), established,
		    sizeof(established) - 1);
		conn_tunnel(c);
		return;
	}
	METRIC_ADD(c->w->stats.pool_misses, 1);
	conn_exchange(c);
}

static void
conn_open(struct conn *c)
{
	const struct upstream_ops	*ops = upstream_routes[c->route.kind];
	struct upstream_target		 t;
	struct upstream			*up;

	if (!http_msg_is_connect(c->req) &&
	    (up = pool_get(c->w->pool, c->route.kind, c->target.host,
	    c->target.port)) != NULL) {
		METRIC_ADD(c->w->stats.pool_hits, 1);
		c->up = up;
		conn_exchange(c);
		return;
	}
	c->state = CONN_OPENING;
	evtimer_del(c->timer);
	/* Keep reading: a client that leaves while the upstream opens (a
	 * proxy's CONNECT, a gateway stream) cancels the open. */
	bufferevent_enable(c->client, EV_READ);
	t.host = c->target.host;
	t.port = c->target.port;
	t.explicit_rule = route_is_explicit(c->cfg->routes, c->route.rule);
	if ((c->up = ops->open(c->w, &t, conn_opened, c)) == NULL)
		conn_fail(c, PXE_INTERNAL);
}

/*
 * The operator's rules first; then, in gateway mode, Azure's order: the
 * gateway's bypass list goes direct (or to the proxy), what the gateway
 * carries goes to it, the rest to proxy.url if set; then the default.
 */
static void
conn_pick_route(struct conn *c)
{
	const struct config	*cfg = c->cfg;
	struct gw		*gw = c->w->gw;
	const char		*host = c->target.host;
	uint16_t		 port = c->target.port;
	enum route_kind		 fallback;

	route_match(cfg->routes, host, port, &c->route);
	if (c->route.rule >= 0)
		return;
	/* route_match() gave the default_route (direct unless set). */
	fallback = c->route.kind;
	if (cfg->proxy_host[0] != '\0' && !cfg->default_route_set)
		fallback = ROUTE_PROXY;
	if (cfg->agent.connection_type != AGENTCONF_GATEWAY || gw == NULL) {
		c->route.kind = fallback;
		return;
	}
	if (gw_bypasses(gw, host, port))
		c->route.kind = cfg->proxy_host[0] ? ROUTE_PROXY : ROUTE_DIRECT;
	else if (gw_allows(gw, host, port))
		c->route.kind = ROUTE_GATEWAY;
	else if (cfg->default_route_set || cfg->proxy_host[0] != '\0')
		c->route.kind = fallback;
	else
		c->route.kind = ROUTE_DENY;
}

/* A whole request head is here: check it, route it, rewrite it. */
static void
conn_route(struct conn *c)
{
	struct http_msg	*m = c->req;
	int		 rc;

	event_base_gettimeofday_cached(c->w->base, &c->start);
	c->bytes_up = c->bytes_down = 0;
	c->status = 0;
	c->error = PXE_NONE;
	c->logged = c->routed = c->resp_started = c->req_done = c->retried = 0;
	snprintf(c->method, sizeof(c->method), "%s", http_msg_method(m));
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
	conn_pick_route(c);
	c->routed = 1;
	if (c->route.kind == ROUTE_DENY) {
		conn_fail(c, PXE_ROUTE_DENIED);
		return;
	}
	/* On every route: an enterprise proxy or the gateway would take
	 * 127.0.0.1 or localhost as its own. */
	if (!route_is_explicit(c->cfg->routes, c->route.rule) &&
	    (route_port_is_guarded(c->target.port) ||
	    route_host_is_guarded(c->target.host))) {
		conn_fail(c, PXE_GUARDED);
		return;
	}
	if (!upstream_available(c->w, c->route.kind)) {
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
	conn_open(c);
}

static void
conn_head(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->client);

	switch (http_msg_head(c->req, in, c->cfg->limits.max_head_bytes)) {
	case HTTP_STEP_MORE:
		if (c->requests > 0 && c->req->parsed > 0 && !c->head_timed) {
			/* A new request began on a kept-alive connection:
			 * from now on the head timer runs, not the idle one. */
			c->head_timed = 1;
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
		conn_fail(c, PXE_BAD_REQUEST);
		return;
	default:
		conn_route(c);
		return;
	}
}

/* The response is complete: log it, pool the upstream, await the next request. */
static void
conn_exchange_done(struct conn *c)
{
	int	reusable;

	c->requests++;
	conn_log(c);
	/* Only a connection whose exchange ended cleanly at a message
	 * boundary both ways may carry another request. */
	reusable = c->req_done && c->req->phase == HTTP_PHASE_DONE &&
	    c->resp->phase == HTTP_PHASE_DONE && !c->up_eof &&
	    http_msg_keep_alive(c->resp) &&
	    evbuffer_get_length(bufferevent_get_input(c->up->bev)) == 0;
	if (reusable) {
		budget_untrack(&c->w->budget, c->up->bev);
		pool_put(c->w->pool, c->up, c->cfg->limits.pool_max_idle,
		    c->cfg->limits.pool_idle_timeout_ms);
		c->up = NULL;
	} else
		conn_close_upstream(c);
	if (!c->keep_alive || c->client_eof) {
		conn_closing(c);
		return;
	}
	c->state = CONN_HEAD;
	c->resp_started = c->head_timed = c->up_paused = c->client_paused = 0;
	c->method[0] = '\0';
	http_msg_init(c->req, HTTP_REQUEST);
	conn_arm(c, c->cfg->limits.client_idle_timeout_ms);
	bufferevent_enable(c->client, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
		conn_head(c);
}

/*
 * Response bytes are staged, then written to the client socket at once when
 * nothing is queued before them: only what the socket cannot take goes to
 * the bufferevent, so most responses schedule no write event at all.
 * Called before anything else may write to the client.
 */
static void
conn_flush_stage(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->client);

	if (evbuffer_get_length(c->stage) == 0)
		return;
	if (evbuffer_get_length(out) == 0)
		evbuffer_write(c->stage, bufferevent_getfd(c->client));
	evbuffer_add_buffer(out, c->stage);
}

static void
conn_resp(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->up->bev);
	struct evbuffer	*out = c->stage;
	struct http_msg	*m = c->resp;
	enum http_step	 step;
	size_t		 moved, before;
	int		 status, keep;

	while (m->phase == HTTP_PHASE_HEAD || m->phase == HTTP_PHASE_HEAD_READY) {
		switch (http_msg_head(m, in, c->cfg->limits.max_head_bytes)) {
		case HTTP_STEP_MORE:
			conn_flush_stage(c);	/* a 1xx may be staged */
			return;
		case HTTP_STEP_TOO_LARGE:
			conn_flush_stage(c);
			conn_fail(c, PXE_RESPONSE_TOO_LARGE);
			return;
		case HTTP_STEP_ERROR:
			log_debug("%s %s: bad response: %s", c->client_addr,
			    c->target_text, http_msg_error(m));
			conn_flush_stage(c);
			conn_fail(c, PXE_UPSTREAM_PROTOCOL);
			return;
		default:
			break;
		}
		status = m->parser.status_code;
		before = evbuffer_get_length(out);
		if (status == 101 && http_msg_is_upgrade(c->req)) {
			c->status = 101;
			http_write_response(m, 0, 1, out);
			http_msg_head_consume(m, in);
			c->bytes_down += evbuffer_get_length(out) - before;
			conn_flush_stage(c);
			conn_tunnel(c);
			return;
		}
		if (status == 101) {
			/* Switching to a protocol nobody asked for. */
			log_debug("%s %s: 101 without an upgrade request",
			    c->client_addr, c->target_text);
			conn_flush_stage(c);
			conn_fail(c, PXE_UPSTREAM_PROTOCOL);
			return;
		}
		if (status < 200) {
			/* 100 Continue and friends: pass on, await the final
			 * one.  HTTP/1.0 has no 1xx: such a client gets none. */
			if (!c->client_http10)
				http_write_response(m, 1, 0, out);
			if (http_msg_head_consume(m, in) == HTTP_STEP_ERROR)
				goto bad;
			http_msg_init(m, HTTP_RESPONSE);
			m->skip_body = strcmp(c->method, "HEAD") == 0;
			continue;
		}
		c->status = status;
		m->client_http10 = c->client_http10;
		/* An HTTP/1.0 client cannot read chunked framing: the body
		 * goes without it and ends at close. */
		m->dechunk = c->client_http10 && (m->parser.flags & F_CHUNKED) &&
		    !http_msg_body_until_eof(m);
		keep = c->keep_alive && c->req_done && !c->client_eof &&
		    !http_msg_body_until_eof(m) && !c->w->draining && !m->dechunk;
		c->keep_alive = keep;
		if (http_write_response(m, keep, 0, out) == -1) {
			/* A transfer coding an HTTP/1.0 client cannot read. */
			log_info("%s %s: response refused: %s", c->client_addr,
			    c->target_text, http_msg_error(m));
			conn_flush_stage(c);
			conn_fail_details(c, PXE_UPSTREAM_PROTOCOL, http_msg_error(m));
			return;
		}
		c->resp_started = 1;
		step = http_msg_head_consume(m, in);
		c->bytes_down += evbuffer_get_length(out) - before;
		if (step == HTTP_STEP_ERROR)
			goto bad;
		if (step == HTTP_STEP_DONE) {
			conn_flush_stage(c);
			conn_exchange_done(c);
			return;
		}
	}
	do {
		step = http_msg_body(m, in, out, &moved);
		c->bytes_down += moved;
	} while (step == HTTP_STEP_MORE && moved > 0 && evbuffer_get_length(in) > 0);
	if (step == HTTP_STEP_ERROR)
		goto bad;
	conn_flush_stage(c);
	if (step == HTTP_STEP_DONE) {
		conn_exchange_done(c);
		return;
	}
	if (relay_throttle(&c->relay.upstream.win, &c->w->budget, c->up->bev,
	    c->client, c->cfg->limits.buffer_bytes))
		c->up_paused = 1;
	return;
 bad:
	log_debug("%s %s: bad response: %s", c->client_addr,
	    c->target_text, http_msg_error(m));
	conn_flush_stage(c);
	conn_fail(c, PXE_UPSTREAM_PROTOCOL);
}

/* One big read, within the direction's window and the budget (relay.c). */
static void
conn_read_more(struct conn *c, struct bufferevent *bev)
{
	relay_read_more(bev == c->client ? &c->relay.client.win :
	    &c->relay.upstream.win, &c->w->budget, bev,
	    (size_t)c->cfg->limits.buffer_bytes);
}

static void
conn_client_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	conn_touch(c);
	if (c->state == CONN_TUNNEL || (c->state == CONN_EXCHANGE && !c->req_done))
		conn_read_more(c, bev);
	switch (c->state) {
	case CONN_HEAD:
		conn_head(c);
		break;
	case CONN_EXCHANGE:
		if (!c->req_done)
			conn_req_body(c);
		else if (evbuffer_get_length(bufferevent_get_input(c->client)) >=
		    RELAY_WINDOW_MIN)
			/* Pipelined requests wait for this response. */
			bufferevent_disable(c->client, EV_READ);
		break;
	case CONN_TUNNEL:
		relay_read(&c->relay, &c->relay.client);
		break;
	case CONN_CLOSING:
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		break;
	case CONN_OPENING:
		/* Early bytes wait for the upstream; past a buffer's worth the
		 * client waits too. */
		if (evbuffer_get_length(bufferevent_get_input(bev)) >=
		    (size_t)c->cfg->limits.buffer_bytes)
			bufferevent_disable(bev, EV_READ);
		break;
	}
}

static void
conn_client_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	switch (c->state) {
	case CONN_CLOSING:
		if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0) {
			shutdown(bufferevent_getfd(c->client), SHUT_WR);
			conn_arm(c, CONN_LINGER_MS);
		}
		break;
	case CONN_TUNNEL:
		if (relay_drained(&c->relay, &c->relay.client))
			conn_free(c);
		break;
	case CONN_EXCHANGE:
		if (c->up_paused) {
			c->up_paused = 0;
			relay_window_drained(&c->relay.upstream.win, c->client,
			    c->cfg->limits.buffer_bytes);
			bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
			bufferevent_enable(c->up->bev, EV_READ);
			conn_resp(c);
		}
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
		bufferevent_disable(c->client, EV_READ);
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
	if (c->state == CONN_HEAD && c->req->parsed > 0 && c->error == PXE_NONE) {
		c->error = PXE_CLIENT_ABORT;
		snprintf(c->method, sizeof(c->method), "-");
	}
	conn_free(c);
}

static void
conn_up_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	conn_touch(c);
	if (c->up->plain)
		conn_read_more(c, bev);
	if (c->state == CONN_TUNNEL)
		relay_read(&c->relay, &c->relay.upstream);
	else if (c->state == CONN_EXCHANGE)
		conn_resp(c);
}

static void
conn_up_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (c->state == CONN_TUNNEL) {
		if (relay_drained(&c->relay, &c->relay.upstream))
			conn_free(c);
		return;
	}
	if (c->state == CONN_EXCHANGE && c->client_paused) {
		c->client_paused = 0;
		relay_window_drained(&c->relay.client.win, c->up->bev,
		    c->cfg->limits.buffer_bytes);
		bufferevent_setwatermark(c->up->bev, EV_WRITE, 0, 0);
		bufferevent_enable(c->client, EV_READ);
		conn_req_body(c);
	}
}

/* A pooled connection died under the first request: send it on a fresh one. */
static int
conn_retry(struct conn *c)
{
	if (!c->up->reused || c->retried || c->req_body || c->resp->parsed > 0 ||
	    evbuffer_get_length(bufferevent_get_input(c->up->bev)) > 0)
		return 0;
	c->retried = 1;
	conn_close_upstream(c);
	c->state = CONN_OPENING;
	if ((c->up = upstream_routes[c->route.kind]->open(c->w, &(struct upstream_target){
	    .host = c->target.host, .port = c->target.port,
	    .explicit_rule = route_is_explicit(c->cfg->routes, c->route.rule) },
	    conn_opened, c)) == NULL)
		conn_fail(c, PXE_INTERNAL);
	return 1;
}

static void
conn_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	struct upstream	*up;

	(void)bev;
	conn_touch(c);
	if (c->state == CONN_TUNNEL) {
		if ((what & BEV_EVENT_EOF) && relay_eof(&c->relay, &c->relay.upstream))
			conn_free(c);
		else if (!(what & BEV_EVENT_EOF))
			conn_free(c);
		return;
	}
	/* CONN_EXCHANGE: the upstream closed or failed. */
	up = c->up;
	c->up_eof = 1;
	conn_resp(c);
	if (c->state != CONN_EXCHANGE || c->up != up)
		return;			/* the buffered bytes finished it */
	if ((what & BEV_EVENT_EOF) && c->resp->phase == HTTP_PHASE_BODY &&
	    http_msg_eof(c->resp) == HTTP_STEP_DONE) {
		conn_exchange_done(c);
		return;
	}
	if (conn_retry(c))
		return;
	conn_fail(c, c->resp_started ? PXE_UPSTREAM_CLOSED :
	    c->resp->parsed > 0 ? PXE_UPSTREAM_PROTOCOL : PXE_UPSTREAM_CLOSED);
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	long long	 idle, limit = c->cfg->limits.tunnel_idle_timeout_ms;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_HEAD:
		if (c->requests > 0 && c->req->parsed == 0) {
			conn_free(c);		/* idle keep-alive: a quiet close */
			return;
		}
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
	case CONN_CLOSING:
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
	if ((c->client = bufferevent_socket_new(w->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail;
	fd = -1;			/* the bufferevent closes it now */
	if ((c->timer = evtimer_new(w->base, conn_timeout, c)) == NULL ||
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
	setsockopt(bufferevent_getfd(c->client), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	bufferevent_set_max_single_read(c->client, CONN_MAX_SINGLE_READ);
	bufferevent_set_max_single_write(c->client, CONN_MAX_SINGLE_WRITE);
	http_msg_init(c->req, HTTP_REQUEST);
	event_base_gettimeofday_cached(w->base, &c->start);
	c->last_active = c->start;
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	bufferevent_setcb(c->client, conn_client_read, conn_client_write,
	    conn_client_event, c);
	bufferevent_enable(c->client, EV_READ | EV_WRITE);
	conn_arm(c, c->cfg->limits.head_timeout_ms);
	METRIC_ADD(w->stats.connections, 1);
	METRIC_ADD(w->stats.connections_open, 1);
	return c;
 fail:
	/* Nothing is counted or listed yet: undo by hand, not conn_free(). */
	log_warnx("out of memory for a new connection");
	if (c != NULL) {
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
		free(c);
	}
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
		if (c->state == CONN_HEAD && c->req->parsed == 0 &&
		    evbuffer_get_length(bufferevent_get_input(c->client)) == 0)
			conn_free(c);
	}
}

void
conn_free_all(struct worker *w)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_free(c);
}
