/* exchange.c -- one HTTP request forwarded: the upstream from the pool or opened (and reopened once if stale), the body up, the response down. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bigread.h"
#include "budget.h"
#include "config.h"
#include "conn.h"
#include "exchange.h"
#include "fastio.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "relay.h"
#include "upstream.h"
#include "worker.h"

static void	exchange_opened(struct upstream *, enum px_error, const char *,
		    void *);
static void	exchange_resp(struct conn *);
static void	exchange_up_read(struct bufferevent *, void *);
static void	exchange_up_write(struct bufferevent *, void *);
static void	exchange_up_event(struct bufferevent *, short, void *);
static void	exchange_up_readable(void *);


/* Opens the route's upstream under the request's generation. */
static void
exchange_open(struct conn *c)
{
	struct upstream_target	t;

	c->state = CONN_OPENING;
	t.host = c->target.host;
	t.port = c->target.port;
	t.explicit_rule = route_is_explicit(c->cfg->routes, c->route.rule);
	t.cfg = c->cfg;
	t.gw = c->gw;
	if ((c->up = upstream_routes[c->route.kind]->open(c->w, &t, exchange_opened,
	    c)) == NULL)
		conn_fail(c, PXE_INTERNAL);
}

/* The request body: move checked bytes up while the upstream keeps pace. */
static void
exchange_req_body(struct conn *c)
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
	if (c->up->plain) {
		/* Written now: a write event only for what the socket did not
		 * take (no epoll_ctl pair per request). */
		fastio_write_now(c->up->bev, upstream_fd(c->up));
		if (evbuffer_get_length(out) > 0)
			bufferevent_enable(c->up->bev, EV_WRITE);
		else if (bufferevent_get_enabled(c->up->bev) & EV_WRITE)
			bufferevent_disable(c->up->bev, EV_WRITE);
	}
	if (!c->req_done)
		relay_throttle_end(&c->relay, &c->relay.client);
}

/* The request head is on its way; start the exchange. */
static void
exchange_begin(struct conn *c)
{
	struct evbuffer	*head = c->head_out;
	size_t		 len = evbuffer_get_length(head);

	c->state = CONN_EXCHANGE;
	c->up_eof = 0;
	upstream_relay_init(c->up, &c->relay, c->client,
	    c->cfg->limits.buffer_bytes);
	upstream_track(c->up);
	bufferevent_setcb(c->up->bev, exchange_up_read, exchange_up_write,
	    exchange_up_event, c);
	if (c->up->plain)
		/* Straight to the socket, and head_out stays as it is: a
		 * stale pooled connection means sending it again. */
		fastio_send(c->up->bev, upstream_fd(c->up),
		    evbuffer_pullup(head, len), len);
	else if (c->up->reused && !c->retried)
		/* Keep a copy: a stale pooled connection means sending it again. */
		evbuffer_add(bufferevent_get_output(c->up->bev),
		    evbuffer_pullup(head, len), len);
	else
		evbuffer_add_buffer(bufferevent_get_output(c->up->bev), head);
	http_msg_init(c->resp, HTTP_RESPONSE);
	c->resp->skip_body = strcmp(c->method, "HEAD") == 0;
	bufferevent_setwatermark(c->up->bev, EV_WRITE, 0, 0);
	/* A plain upstream: its own read event, and a write event only for
	 * what exchange_req_body() cannot write at once. */
	if (!c->up->plain ||
	    upstream_reads_raw(c->up, exchange_up_readable, c) == -1)
		bufferevent_enable(c->up->bev, EV_READ | EV_WRITE);
	conn_client_reads(c, 1);
	conn_arm(c, c->cfg->limits.tunnel_idle_timeout_ms);
	exchange_req_body(c);
}

static void
exchange_opened(struct upstream *up, enum px_error error, const char *details,
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
		upstream_close(up);
		conn_fail_details(c, error, why[0] ? why : NULL);
		return;
	}
	conn_touch(c);
	if (c->w->tunnels_cut && c->req != NULL && http_msg_is_connect(c->req)) {
		/* SIGTERM's grace for tunnels is over: none opens now. */
		c->up = NULL;
		upstream_close(up);
		conn_fail(c, PXE_SHUTDOWN);
		return;
	}
	fastio_setup(up->bev);
	if (c->req != NULL && http_msg_is_connect(c->req)) {
		c->status = 200;
		/* Sent now, not on the next pass: with nothing left in user
		 * memory the tunnel can splice at once. */
		evbuffer_add(bufferevent_get_output(c->client), established,
		    sizeof(established) - 1);
		fastio_write_now(c->client, c->client_fd);
		conn_tunnel(c);
		return;
	}
	METRIC_ADD(c->w->stats.pool_misses, 1);
	exchange_begin(c);
}

void
exchange_start(struct conn *c)
{
	struct upstream	*up;

	if (!http_msg_is_connect(c->req) &&
	    (up = pool_get(c->w->pool, c->cfg, c->route.kind, c->target.host,
	    c->target.port)) != NULL) {
		METRIC_ADD(c->w->stats.pool_hits, 1);
		c->up = up;
		exchange_begin(c);
		return;
	}
	conn_disarm(c);
	/* Keep reading: a client that leaves while the upstream opens (a
	 * proxy's CONNECT, a gateway stream) cancels the open. */
	conn_client_reads(c, 1);
	exchange_open(c);
}

/* The response is complete: log it, pool the upstream, await the next request. */
static void
exchange_done(struct conn *c)
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
		/* The pool takes the upstream's reads over (pool_put). */
		pool_put(c->w->pool, c->up, c->cfg->limits.pool_max_idle,
		    c->cfg->limits.pool_idle_timeout_ms);
		c->up = NULL;
	} else
		conn_close_upstream(c);
	conn_next_request(c);
}

/*
 * Response bytes are staged, then written to the client socket at once when
 * nothing is queued before them (fastio_pass): only what the socket cannot
 * take goes to the bufferevent, so most responses schedule no write event.
 * Called before anything else may write to the client.
 */
static void
exchange_flush_stage(struct conn *c)
{
	fastio_pass(c->stage, c->client, c->client_fd, 1);
}

static void
exchange_resp(struct conn *c)
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
			exchange_flush_stage(c);	/* a 1xx may be staged */
			return;
		case HTTP_STEP_TOO_LARGE:
			exchange_flush_stage(c);
			conn_fail(c, PXE_RESPONSE_TOO_LARGE);
			return;
		case HTTP_STEP_ERROR:
			log_debug("%s %s: bad response: %s", c->client_addr,
			    c->target_text, http_msg_error(m));
			exchange_flush_stage(c);
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
			exchange_flush_stage(c);
			conn_tunnel(c);
			return;
		}
		if (status == 101) {
			/* Switching to a protocol nobody asked for. */
			log_debug("%s %s: 101 without an upgrade request",
			    c->client_addr, c->target_text);
			exchange_flush_stage(c);
			conn_fail(c, PXE_UPSTREAM_PROTOCOL);
			return;
		}
		if (status < 200) {
			/* 100 Continue and friends: pass on, await the final
			 * one.  HTTP/1.0 has no 1xx: such a client gets none. */
			if (!c->client_http10)
				http_write_response(m, 1, 0, out);
			c->bytes_down += evbuffer_get_length(out) - before;
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
			exchange_flush_stage(c);
			conn_fail_details(c, PXE_UPSTREAM_PROTOCOL, http_msg_error(m));
			return;
		}
		c->resp_started = 1;
		step = http_msg_head_consume(m, in);
		c->bytes_down += evbuffer_get_length(out) - before;
		if (step == HTTP_STEP_ERROR)
			goto bad;
		if (step == HTTP_STEP_DONE) {
			exchange_flush_stage(c);
			exchange_done(c);
			return;
		}
	}
	do {
		step = http_msg_body(m, in, out, &moved);
		c->bytes_down += moved;
	} while (step == HTTP_STEP_MORE && moved > 0 && evbuffer_get_length(in) > 0);
	if (step == HTTP_STEP_ERROR)
		goto bad;
	exchange_flush_stage(c);
	if (step == HTTP_STEP_DONE) {
		exchange_done(c);
		return;
	}
	relay_throttle_end(&c->relay, &c->relay.upstream);
	if (c->relay.upstream.paused)
		/* A plain upstream's response is read through its own event
		 * (upstream_reads_raw) while the client keeps pace; paused,
		 * the bufferevent reads again once relay_resume() enables it. */
		upstream_reads_bev(c->up, 0);
	return;
 bad:
	log_debug("%s %s: bad response: %s", c->client_addr,
	    c->target_text, http_msg_error(m));
	exchange_flush_stage(c);
	conn_fail(c, PXE_UPSTREAM_PROTOCOL);
}

/* A pooled connection died under the first request: send it on a fresh
 * one, when the request may be sent twice (RFC 9110 9.2.2) and the client
 * has seen nothing of an answer (not even a 100 Continue). */
static int
exchange_retry(struct conn *c)
{
	if (!c->up->reused || c->retried || c->req_body || c->resp->parsed > 0 ||
	    c->bytes_down > 0 || !http_method_idempotent(c->method) ||
	    evbuffer_get_length(bufferevent_get_input(c->up->bev)) > 0)
		return 0;
	c->retried = 1;
	conn_close_upstream(c);
	exchange_open(c);
	return 1;
}

static void
exchange_up_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	conn_touch(c);
	if (c->state != CONN_EXCHANGE)
		return;
	if (c->up->plain)
		relay_read_more(&c->relay.upstream.win, &c->w->budget, bev,
		    (size_t)c->cfg->limits.buffer_bytes);
	exchange_resp(c);
}

static void
exchange_up_readable(void *arg)
{
	struct conn	*c = arg;
	struct bufferevent *bev = c->up->bev;
	size_t		 room;
	ssize_t		 n;

	if ((room = relay_read_room(&c->relay.upstream.win, &c->w->budget, bev,
	    (size_t)c->cfg->limits.buffer_bytes)) == 0)
		room = FASTIO_LIBEVENT_READ;	/* spent: small reads only */
	n = fastio_read_some(bev, upstream_fd(c->up), room);
	if (n == BIGREAD_AGAIN)
		return;
	if (n <= 0) {
		exchange_up_event(bev, BEV_EVENT_READING |
		    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
		return;
	}
	c->relay.upstream.win.full = (size_t)n >= room;
	conn_touch(c);
	exchange_resp(c);
}

static void
exchange_up_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (c->state == CONN_EXCHANGE &&
	    relay_resume(&c->relay, &c->relay.upstream))
		exchange_req_body(c);
}

static void
exchange_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	struct upstream	*up;

	(void)bev;
	conn_touch(c);
	/* The upstream closed or failed. */
	up = c->up;
	c->up_eof = 1;
	exchange_resp(c);
	if (c->state != CONN_EXCHANGE || c->up != up)
		return;			/* the buffered bytes finished it */
	if ((what & BEV_EVENT_EOF) && c->resp->phase == HTTP_PHASE_BODY &&
	    http_msg_eof(c->resp) == HTTP_STEP_DONE) {
		exchange_done(c);
		return;
	}
	if (exchange_retry(c))
		return;
	conn_fail(c, c->resp_started ? PXE_UPSTREAM_CLOSED :
	    c->resp->parsed > 0 ? PXE_UPSTREAM_PROTOCOL : PXE_UPSTREAM_CLOSED);
}

void
exchange_client_read(struct conn *c)
{
	if (!c->req_done) {
		relay_read_more(&c->relay.client.win, &c->w->budget, c->client,
		    (size_t)c->cfg->limits.buffer_bytes);
		exchange_req_body(c);
	} else if (evbuffer_get_length(bufferevent_get_input(c->client)) >=
	    RELAY_WINDOW_MIN)
		/* Pipelined requests wait for this response. */
		conn_client_reads(c, 0);
}

void
exchange_client_drained(struct conn *c)
{
	if (relay_resume(&c->relay, &c->relay.client))
		exchange_resp(c);
}
