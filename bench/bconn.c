/* bconn.c -- one arcbench client slot: connect, CONNECT, TLS, then requests or tunnel payload, each answer checked. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "bench.h"
#include "bigread.h"
#include "http.h"
#include "log.h"
#include "pattern.h"
#include "tls.h"

#define BCONN_MAX_HEAD		65536
#define BCONN_IO_CHUNK		(1024 * 1024)	/* per read and write call */
#define BCONN_UP_QUEUE		(1024 * 1024)	/* upload bytes queued at most */
#define BCONN_RETRY_MS		10		/* pause after a failed op */

enum bconn_state {
	BC_IDLE,	/* no connection; the next op has not started (or is not due) */
	BC_CONNECTING,	/* TCP connect to the proxy (or the target) under way */
	BC_PROXY_TLS,	/* gateway: TCP is up; the TLS handshake with the proxy under way */
	BC_CONNECT_SENT,/* CONNECT sent; reading the proxy's answer head */
	BC_TLS,		/* the path to the target is open; TLS handshake under way */
	BC_READY,	/* http: the path is open and no request is outstanding */
	BC_RESPONSE,	/* http: request sent; the response is read and checked */
	BC_XFER,	/* tunnel: command sent; payload moving, then the origin's "OK" */
	BC_DRAIN,	/* tunnel: op verified; waiting for the far end to close first */
	BC_HELD,	/* idle: tunnel verified and held open */
};

struct bconn {
	struct bthread		*t;
	int			 index;		/* among all threads' slots */
	enum bconn_state	 state;
	struct bufferevent	*bev;		/* the socket's; TLS with --gateway, or once --tls starts */
	evutil_socket_t		 fd;		/* ours to close, until TLS takes it */
	struct event		*timer;		/* open loop: next due; back-off */
	struct event		*rd;		/* plain TCP: our own reads (bigread) */
	struct evbuffer		*plain_in;	/* plain TCP: what rd read */
	struct evbuffer		*in;		/* plain_in, or the TLS layer's input */
	struct event		*watchdog;	/* an op without progress fails */
	uint64_t		 last_progress;	/* ns: last byte either way, or the start */
	struct http_msg		*msg;		/* the answer being parsed */
	uint64_t		 op_start;	/* ns: when the op began, or was due */
	uint64_t		 next_due;	/* open loop: when the next request is due */
	uint64_t		 down_got;	/* payload bytes received and checked */
	uint64_t		 up_sent;	/* payload bytes queued */
	uint64_t		 up_counted;	/* of those, already in bytes_up */
	uint64_t		 served;	/* http: responses on this connection */
	uint64_t		 win_down;	/* payload bytes received in the window */
	unsigned		 in_op:1;	/* an op is under way on this slot */
	unsigned		 keep_alive:1;	/* http: the last response allows another */
	unsigned		 tls_up:1;	/* TLS is established on bev */
	unsigned		 done:1;	/* -n share used up, or idle slot finished */
	unsigned		 stalled:1;	/* --stall: no longer reads its tunnel */
};

static void	bconn_read(struct bufferevent *, void *);
static void	bconn_write(struct bufferevent *, void *);
static void	bconn_event(struct bufferevent *, short, void *);
static void	bconn_next(struct bconn *);
static void	bconn_fail(struct bconn *, enum bench_error, const char *);

/* Gateway mode: keep the newest session of the thread, to resume it. */
static int
bconn_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct bconn	*c = SSL_get_app_data(ssl);

	if (c == NULL)
		return 0;
	if (c->t->session != NULL)
		SSL_SESSION_free(c->t->session);
	c->t->session = sess;
	return 1;		/* the reference is ours */
}

SSL_CTX *
bconn_gateway_ctx(const struct bench_opts *o, char *err, size_t errlen)
{
	struct tls_client_conf	 c;
	SSL_CTX			*ctx;

	/* gateway-client's policy and resumption (the last session, per
	 * thread), offering http/1.1; without --ca, no verification. */
	memset(&c, 0, sizeof(c));
	c.ca_file = o->ca;
	c.no_verify = o->ca == NULL;
	c.cert_file = o->cert;
	c.key_file = o->key;
	c.alpn = (const unsigned char *)TLS_ALPN_HTTP11;
	c.alpn_len = sizeof(TLS_ALPN_HTTP11) - 1;
	if ((ctx = tls_client_ctx(&c, err, errlen)) != NULL)
		SSL_CTX_sess_set_new_cb(ctx, bconn_new_session);
	return ctx;
}

static int
bconn_measuring(const struct bconn *c)
{
	return c->t->measuring;
}

static void
bconn_arm_event(struct event *ev, uint64_t ns)
{
	struct timeval	tv = { (time_t)(ns / 1000000000),
	    (suseconds_t)((ns % 1000000000 + 999) / 1000) };

	evtimer_add(ev, &tv);
}

static void
bconn_arm(struct bconn *c, uint64_t ns)
{
	/* Timeouts count from the loop's cached clock: make it now, so
	 * that a scheduled request never leaves before it is due. */
	event_base_update_cache_time(c->t->base);
	bconn_arm_event(c->timer, ns);
}

static void
bconn_close(struct bconn *c)
{
	event_del(c->rd);
	evbuffer_drain(c->plain_in, evbuffer_get_length(c->plain_in));
	c->in = c->plain_in;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->fd != -1)
		close(c->fd);
	c->bev = NULL;
	c->fd = -1;
	c->tls_up = 0;
	c->state = BC_IDLE;
}

/* The slot has nothing more to do; the thread ends when no slot has. */
static void
bconn_retire(struct bconn *c)
{
	struct bthread	*t = c->t;

	if (c->done)
		return;
	c->done = 1;
	bconn_close(c);
	if (++t->idle_slots == t->nconns && t->b->o.mode != BENCH_IDLE)
		event_base_loopexit(t->base, NULL);
}

/* Idle mode: one more tunnel ended its opening, held or failed. */
static void
bconn_idle_settled(struct bconn *c)
{
	struct bthread	*t = c->t;

	t->opening--;
	while (t->opening < t->b->o.open_parallel && t->next_open < t->nconns) {
		t->opening++;
		bconn_next(&t->conns[t->next_open++]);
	}
}

static void
bconn_fail(struct bconn *c, enum bench_error kind, const char *detail)
{
	struct bthread	*t = c->t;
	int		 was_held;

	if (t->stopping)
		return;
	t->st.errors[kind]++;
	if (t->b->o.verbose)
		log_warnx("slot %d: %s%s%s", c->index, bench_error_names[kind],
		    detail ? ": " : "", detail ? detail : "");
	was_held = c->state == BC_HELD;
	bconn_close(c);
	c->in_op = 0;
	if (t->b->o.mode == BENCH_IDLE) {
		__atomic_add_fetch(&t->b->idle_failed, 1, __ATOMIC_RELAXED);
		c->done = 1;
		if (was_held)
			/* A held tunnel dropped: it no longer counts as held. */
			__atomic_sub_fetch(&t->b->held, 1, __ATOMIC_RELAXED);
		else
			bconn_idle_settled(c);
		return;
	}
	/* A short pause, so that a dead proxy costs errors, not a busy loop. */
	bconn_arm(c, (uint64_t)BCONN_RETRY_MS * 1000000);
}

/* Something moved: the watchdog starts counting again.  It is armed once
 * and looks at last_progress when it fires, so progress costs no syscall. */
static void
bconn_progress(struct bconn *c)
{
	c->last_progress = bench_now();
	if (!evtimer_pending(c->watchdog, NULL))
		bconn_arm_event(c->watchdog, (uint64_t)(c->t->b->o.timeout * 1e9));
}

static int
bconn_waiting(const struct bconn *c)
{
	if (c->stalled && c->state == BC_XFER)
		return 0;	/* it owes nothing: it does not read */
	switch (c->state) {
	case BC_CONNECTING:
	case BC_PROXY_TLS:
	case BC_CONNECT_SENT:
	case BC_TLS:
	case BC_RESPONSE:
	case BC_XFER:
	case BC_DRAIN:
		return 1;
	default:
		return 0;	/* idle, or nothing owed by the far end */
	}
}

static void
bconn_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct bconn	*c = arg;
	uint64_t	 limit = (uint64_t)(c->t->b->o.timeout * 1e9);
	uint64_t	 quiet = bench_now() - c->last_progress;

	(void)fd;
	(void)what;
	if (c->t->stopping || !bconn_waiting(c))
		return;
	if (quiet < limit) {
		bconn_arm_event(c->watchdog, limit - quiet);
		return;
	}
	bconn_fail(c, BERR_TIMEOUT, NULL);
}

/* Opens a TCP connection to the proxy, or straight to the target. */
static void
bconn_connect(struct bconn *c)
{
	struct bench	*b = c->t->b;

	c->state = BC_CONNECTING;
	c->served = 0;
	/* Without BEV_OPT_CLOSE_ON_FREE: TLS may take the socket over. */
	if ((c->bev = bufferevent_socket_new(c->t->base, -1, 0)) == NULL) {
		bconn_fail(c, BERR_CONNECT, "out of memory");
		return;
	}
	bufferevent_setcb(c->bev, bconn_read, bconn_write, bconn_event, c);
	bconn_progress(c);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&b->addr,
	    (int)b->addrlen) == -1) {
		c->fd = bufferevent_getfd(c->bev);
		bconn_fail(c, BERR_CONNECT, strerror(errno));
		return;
	}
	c->fd = bufferevent_getfd(c->bev);
}

static void
bconn_send_request(struct bconn *c)
{
	struct bench	*b = c->t->b;

	http_msg_init(c->msg, HTTP_RESPONSE);
	c->down_got = 0;
	c->state = BC_RESPONSE;
	bconn_progress(c);
	evbuffer_add(bufferevent_get_output(c->bev), b->request, b->request_len);
}

/* Queues upload bytes up to the queue limit, straight from the pattern table. */
static void
bconn_fill_upload(struct bconn *c)
{
	struct bench	*b = c->t->b;
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	size_t		 queued = evbuffer_get_length(out), n;
	uint64_t	 written;

	/* What left the queue since last time went to the kernel. */
	written = c->up_sent - queued;
	if (bconn_measuring(c))
		c->t->st.bytes_up += written - c->up_counted;
	c->up_counted = written;
	while (c->up_sent < b->want_up && queued < BCONN_UP_QUEUE) {
		n = PATTERN_PERIOD;
		if (n > b->want_up - c->up_sent)
			n = (size_t)(b->want_up - c->up_sent);
		evbuffer_add_reference(out, pattern_at(b->pattern, c->up_sent), n,
		    NULL, NULL);
		c->up_sent += n;
		queued += n;
	}
}

/* Replaces the socket's bufferevent with a TLS one over the same socket,
 * which owns it and its reads from now on. */
static int
bconn_start_tls(struct bconn *c, SSL_CTX *ctx, enum bconn_state state)
{
	const char	*name = c->t->b->o.servername;
	SSL		*ssl;

	if (ctx == c->t->b->proxy_ssl && name != NULL)
		ssl = tls_client_new(ctx, name, c->t->session);
	else if ((ssl = SSL_new(ctx)) != NULL && ctx == c->t->b->proxy_ssl &&
	    c->t->session != NULL)
		SSL_set_session(ssl, c->t->session);
	if (ssl == NULL)
		return -1;
	SSL_set_app_data(ssl, c);
	event_del(c->rd);
	bufferevent_free(c->bev);
	c->bev = bufferevent_openssl_socket_new(c->t->base, c->fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		return -1;
	}
	c->fd = -1;
	c->in = bufferevent_get_input(c->bev);
	c->state = state;
	bufferevent_setcb(c->bev, bconn_read, bconn_write, bconn_event, c);
	bufferevent_set_max_single_read(c->bev, BCONN_IO_CHUNK);
	bufferevent_set_max_single_write(c->bev, BCONN_IO_CHUNK);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return 0;
}

/* The path to the target is open: start the op's payload. */
static void
bconn_path_open(struct bconn *c)
{
	struct bench	*b = c->t->b;
	struct evbuffer	*out;
	char		 cmd[64];
	int		 len;
	uint64_t	 now;

	if (b->o.tls && !c->tls_up) {
		if (bconn_start_tls(c, b->ssl, BC_TLS) == -1)
			bconn_fail(c, BERR_TLS, "cannot start TLS");
		return;
	}
	if (b->o.mode == BENCH_HTTP) {
		c->state = BC_READY;
		bconn_send_request(c);
		return;
	}
	now = bench_now();
	if ((b->o.mode == BENCH_SETUP || b->o.mode == BENCH_IDLE) &&
	    bconn_measuring(c))
		hist_add(&c->t->st.latency, now - c->op_start);
	out = bufferevent_get_output(c->bev);
	if (b->o.mode == BENCH_IDLE)
		len = snprintf(cmd, sizeof(cmd), "HOLD\n");
	else
		len = snprintf(cmd, sizeof(cmd), "XFER %llu %llu\n",
		    (unsigned long long)b->want_up,
		    (unsigned long long)b->want_down);
	evbuffer_add(out, cmd, (size_t)len);
	c->down_got = c->up_sent = c->up_counted = 0;
	c->state = BC_XFER;
	if (c->index < b->o.stall) {
		/* A reader that stalls: the tunnel stays open, unread, until
		 * the run ends; it must not slow the others. */
		c->stalled = 1;
		event_del(c->rd);
		bufferevent_disable(c->bev, EV_READ);
	}
	if (b->want_up > 0) {
		bufferevent_setwatermark(c->bev, EV_WRITE, BCONN_UP_QUEUE / 2, 0);
		bconn_fill_upload(c);
	}
}

/* One op verified: count it, then start the next. */
static void
bconn_op_done(struct bconn *c)
{
	struct bthread	*t = c->t;
	struct bench	*b = t->b;
	uint64_t	 now = bench_now();

	c->in_op = 0;
	t->last_done = now;
	if (bconn_measuring(c)) {
		t->st.ops++;
		if (b->o.mode == BENCH_HTTP || b->o.mode == BENCH_TUNNEL)
			hist_add(&t->st.latency, now - c->op_start);
	}
	if (b->o.mode == BENCH_HTTP) {
		c->served++;
		if (c->keep_alive) {
			c->state = BC_READY;
			bconn_next(c);
			return;
		}
		bconn_close(c);
		bconn_next(c);
		return;
	}
	/* Tunnel and setup: the origin closes first, so that TIME_WAIT and
	 * its port stay on the server side, as with real clients. */
	if (bconn_measuring(c))
		t->st.bytes_up += b->want_up - c->up_counted;
	c->state = BC_DRAIN;
	if (evbuffer_get_length(c->in) > 0)
		bconn_fail(c, BERR_PROTOCOL, "bytes after the origin's OK");
}

/* Checks and drops up to max payload bytes from the front of in. */
static int
bconn_check_payload(struct bconn *c, struct evbuffer *in, uint64_t max)
{
	struct evbuffer_iovec	 vec[16];
	size_t			 take, n;
	int			 nvec, i;

	while (max > 0 && evbuffer_get_length(in) > 0) {
		take = 0;
		nvec = evbuffer_peek(in, -1, NULL, vec, 16);
		if (nvec > 16)
			nvec = 16;
		for (i = 0; i < nvec && take < max; i++) {
			n = vec[i].iov_len;
			if (n > max - take)
				n = (size_t)(max - take);
			if (pattern_check(c->t->b->pattern, c->down_got + take,
			    vec[i].iov_base, n) == -1)
				return -1;
			take += n;
		}
		evbuffer_drain(in, take);
		c->down_got += take;
		max -= take;
		if (bconn_measuring(c)) {
			c->t->st.bytes_down += take;
			c->win_down += take;
		}
	}
	return 0;
}

static void
bconn_read_connect_answer(struct bconn *c)
{
	struct evbuffer	*in = c->in;
	char		 detail[64];

	switch (http_msg_head(c->msg, in, BCONN_MAX_HEAD)) {
	case HTTP_STEP_MORE:
		return;
	case HTTP_STEP_HEAD:
		break;
	default:
		bconn_fail(c, BERR_PROTOCOL, "bad answer to CONNECT");
		return;
	}
	if (c->msg->parser.status_code / 100 != 2) {
		snprintf(detail, sizeof(detail), "CONNECT answered %u",
		    c->msg->parser.status_code);
		bconn_fail(c, BERR_PROXY, detail);
		return;
	}
	/* A 2xx to CONNECT has no body: skip_body ends it with the head. */
	http_msg_head_consume(c->msg, in);
	if (evbuffer_get_length(in) > 0) {
		bconn_fail(c, BERR_PROTOCOL, "bytes before the tunnel's first");
		return;
	}
	bconn_path_open(c);
}

/* The response is over: the length must be what was asked for. */
static void
bconn_response_end(struct bconn *c)
{
	if (c->down_got != c->t->b->o.size) {
		bconn_fail(c, BERR_LENGTH, "body shorter than asked for");
		return;
	}
	bconn_op_done(c);
}

static void
bconn_read_response(struct bconn *c)
{
	struct bench	*b = c->t->b;
	struct evbuffer	*in = c->in;
	struct http_msg	*m = c->msg;
	enum http_step	 step;
	const char	*v;
	size_t		 vlen, moved;
	char		 num[24];

	if (m->phase == HTTP_PHASE_HEAD || m->phase == HTTP_PHASE_HEAD_READY) {
		switch (http_msg_head(m, in, BCONN_MAX_HEAD)) {
		case HTTP_STEP_MORE:
			return;
		case HTTP_STEP_HEAD:
			break;
		default:
			bconn_fail(c, BERR_PROTOCOL, http_msg_error(m));
			return;
		}
		if (m->parser.status_code != 200) {
			snprintf(num, sizeof(num), "status %u", m->parser.status_code);
			bconn_fail(c, BERR_STATUS, num);
			return;
		}
		/* Content-Length, exact; a proxy may also close-delimit the body. */
		if (http_msg_find(m, "content-length", &v, &vlen)) {
			if (vlen >= sizeof(num)) {
				bconn_fail(c, BERR_LENGTH, "Content-Length too long");
				return;
			}
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			if (strtoull(num, NULL, 10) != b->o.size) {
				bconn_fail(c, BERR_LENGTH, "Content-Length differs");
				return;
			}
		} else if (!http_msg_body_until_eof(m)) {
			bconn_fail(c, BERR_LENGTH, "no Content-Length");
			return;
		}
		c->keep_alive = http_msg_keep_alive(m) ? 1 : 0;
		if (http_msg_head_consume(m, in) == HTTP_STEP_DONE) {
			bconn_response_end(c);
			return;
		}
	}
	for (;;) {
		step = http_msg_body(m, in, c->t->sink, &moved);
		if (step == HTTP_STEP_ERROR) {
			bconn_fail(c, BERR_PROTOCOL, http_msg_error(m));
			return;
		}
		if (c->down_got + moved > b->o.size) {
			bconn_fail(c, BERR_LENGTH, "body longer than asked for");
			return;
		}
		if (bconn_check_payload(c, c->t->sink, moved) == -1) {
			bconn_fail(c, BERR_CONTENT, "body byte differs");
			return;
		}
		if (step == HTTP_STEP_DONE) {
			bconn_response_end(c);
			return;
		}
		if (moved == 0 || evbuffer_get_length(in) == 0)
			return;
	}
}

static void
bconn_read_xfer(struct bconn *c)
{
	struct bench	*b = c->t->b;
	struct evbuffer	*in = c->in;
	unsigned char	 ack[3];

	if (c->down_got < b->want_down &&
	    bconn_check_payload(c, in, b->want_down - c->down_got) == -1) {
		bconn_fail(c, BERR_CONTENT, "tunnel byte differs");
		return;
	}
	if (c->down_got < b->want_down || evbuffer_get_length(in) < 3)
		return;
	/* After the download, the origin says whether the upload was right. */
	evbuffer_remove(in, ack, 3);
	if (memcmp(ack, "BAD", 3) == 0) {
		bconn_fail(c, BERR_UPLOAD, "the origin got different bytes");
		return;
	}
	if (memcmp(ack, "OK\n", 3) != 0) {
		bconn_fail(c, BERR_PROTOCOL, "no OK from the origin");
		return;
	}
	if (b->o.mode == BENCH_IDLE) {
		c->state = BC_HELD;
		c->in_op = 0;
		__atomic_add_fetch(&b->held, 1, __ATOMIC_RELAXED);
		bconn_idle_settled(c);
		return;
	}
	bconn_op_done(c);
}

static void
bconn_read(struct bufferevent *bev, void *arg)
{
	struct bconn	*c = arg;
	struct evbuffer	*in = c->in;

	(void)bev;
	bconn_progress(c);
	switch (c->state) {
	case BC_CONNECT_SENT:
		bconn_read_connect_answer(c);
		break;
	case BC_RESPONSE:
		bconn_read_response(c);
		break;
	case BC_XFER:
		bconn_read_xfer(c);
		break;
	case BC_TLS:
		break;
	default:
		if (evbuffer_get_length(in) > 0)
			bconn_fail(c, BERR_PROTOCOL, "bytes nobody asked for");
		break;
	}
}

static void
bconn_write(struct bufferevent *bev, void *arg)
{
	struct bconn	*c = arg;

	(void)bev;
	if (c->state == BC_XFER && c->up_sent < c->t->b->want_up) {
		bconn_progress(c);
		bconn_fill_upload(c);
	}
}

/* Plain TCP: the socket is readable. */
static void
bconn_rd(evutil_socket_t fd, short what, void *arg)
{
	struct bconn	*c = arg;
	ssize_t		 n;

	(void)what;
	if ((n = bigread(fd, c->in, BCONN_IO_CHUNK)) > 0)
		bconn_read(c->bev, c);
	else if (n == 0)
		bconn_event(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
	else if (n == -1)
		bconn_event(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
}

/* The way to the proxy (or the target) is open: ask for the tunnel, or
 * start the op straight away. */
static void
bconn_ask(struct bconn *c)
{
	struct bench	*b = c->t->b;

	if (b->o.proxy != NULL && (b->o.mode != BENCH_HTTP || b->o.tls)) {
		http_msg_init(c->msg, HTTP_RESPONSE);
		c->msg->skip_body = 1;
		c->state = BC_CONNECT_SENT;
		evbuffer_add(bufferevent_get_output(c->bev), b->connect,
		    b->connect_len);
		return;
	}
	bconn_path_open(c);
}

/* A TLS handshake (with the target, or the gateway) is done. */
static void
bconn_tls_done(struct bconn *c)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);

	c->t->st.tls_handshakes++;
	if (ssl != NULL && SSL_session_reused(ssl))
		c->t->st.tls_resumed++;
}

static void
bconn_connected(struct bconn *c)
{
	struct bench	*b = c->t->b;
	int		 one = 1;

	c->t->st.connects++;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (b->o.gateway) {
		if (bconn_start_tls(c, b->proxy_ssl, BC_PROXY_TLS) == -1)
			bconn_fail(c, BERR_TLS, "cannot start TLS to the gateway");
		return;
	}
	bufferevent_set_max_single_write(c->bev, BCONN_IO_CHUNK);
	/* The bufferevent writes; reads are ours, in large pieces. */
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
	event_assign(c->rd, c->t->base, c->fd, EV_READ | EV_PERSIST, bconn_rd, c);
	event_add(c->rd, NULL);
	bconn_ask(c);
}

static void
bconn_event(struct bufferevent *bev, short what, void *arg)
{
	struct bconn	*c = arg;
	SSL		*ssl;
	char		 detail[128];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == BC_CONNECTING)
			bconn_connected(c);
		else if (c->state == BC_PROXY_TLS) {
			bconn_tls_done(c);
			bconn_ask(c);
		} else if (c->state == BC_TLS) {
			bconn_tls_done(c);
			c->tls_up = 1;
			bconn_path_open(c);
		}
		return;
	}
	if (c->state == BC_RESPONSE && c->served > 0 && c->msg->parsed == 0 &&
	    c->msg->phase == HTTP_PHASE_HEAD &&
	    evbuffer_get_length(c->in) == 0) {
		/* A kept-alive connection closed under a new request before any
		 * answer: send it again on a fresh one (RFC 9112 9.3.1), as
		 * real clients do.  The latency keeps counting. */
		c->t->st.retries++;
		bconn_close(c);
		bconn_connect(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		switch (c->state) {
		case BC_DRAIN:
			/* Our close_notify too: OpenSSL keeps a session
			 * resumable only after a clean shutdown. */
			if ((ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL)
				SSL_shutdown(ssl);
			bconn_close(c);
			bconn_next(c);
			return;
		case BC_READY:
			/* The server ended a kept-alive connection between
			 * requests: not an error, the next op reconnects. */
			bconn_close(c);
			return;
		case BC_RESPONSE:
			if (c->msg->phase == HTTP_PHASE_BODY &&
			    http_msg_eof(c->msg) == HTTP_STEP_DONE) {
				c->keep_alive = 0;
				bconn_response_end(c);
				return;
			}
			break;
		default:
			break;
		}
		bconn_fail(c, BERR_CLOSED, NULL);
		return;
	}
	if (c->state == BC_CONNECTING) {
		snprintf(detail, sizeof(detail), "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		bconn_fail(c, BERR_CONNECT, detail);
		return;
	}
	if (c->state == BC_TLS || c->state == BC_PROXY_TLS) {
		tls_bev_errors(c->bev, detail, sizeof(detail));
		bconn_fail(c, BERR_TLS, detail[0] ? detail : "handshake failed");
		return;
	}
	bconn_fail(c, BERR_CLOSED, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* Begins an op that is due now, on the open connection or a new one. */
static void
bconn_start(struct bconn *c, uint64_t due)
{
	c->op_start = due;
	c->in_op = 1;
	if (c->state == BC_READY && c->bev != NULL) {
		bconn_send_request(c);
		return;
	}
	bconn_close(c);
	bconn_connect(c);
}

/* The slot is free: start its next op now, or when it is due. */
static void
bconn_next(struct bconn *c)
{
	struct bthread	*t = c->t;
	struct bench	*b = t->b;
	uint64_t	 now, due;

	if (t->stopping || c->done)
		return;
	if (t->draining || (b->o.requests > 0 && t->ops_started >= t->ops_share)) {
		bconn_retire(c);
		return;
	}
	t->ops_started++;
	now = bench_now();
	if (b->o.mode == BENCH_HTTP && b->o.rate > 0) {
		/* Open loop: latency counts from when the request was due,
		 * so a stalled proxy cannot hide its queue. */
		due = c->next_due;
		c->next_due += (uint64_t)(1e9 * b->o.connections / b->o.rate);
		if (due > now) {
			c->in_op = 1;
			c->op_start = due;
			bconn_arm(c, due - now);
			return;
		}
		bconn_start(c, due);
		return;
	}
	bconn_start(c, now);
}

static void
bconn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct bconn	*c = arg;
	uint64_t	 now;

	(void)fd;
	(void)what;
	if (c->t->stopping)
		return;
	if (c->in_op) {
		/* A scheduled request became due. */
		now = bench_now();
		if (now < c->op_start) {
			bconn_arm(c, c->op_start - now);
			return;
		}
		bconn_start(c, c->op_start);
		return;
	}
	if (c->state == BC_IDLE && !c->done)
		bconn_next(c);
}

void
bconn_start_all(struct bthread *t)
{
	struct bench	*b = t->b;
	int		 i;

	if (t->nconns == 0)
		return;
	if (b->o.mode == BENCH_IDLE) {
		/* Opened in batches, each settled tunnel letting the next in. */
		t->opening = 1;
		bconn_idle_settled(&t->conns[0]);
		return;
	}
	for (i = 0; i < t->nconns; i++) {
		/* Open loop: the slots' schedules spread over one interval. */
		if (b->o.mode == BENCH_HTTP && b->o.rate > 0)
			t->conns[i].next_due = b->t_start +
			    (uint64_t)(1e9 * t->conns[i].index / b->o.rate);
		bconn_next(&t->conns[i]);
	}
}

void
bconn_drain_all(struct bthread *t)
{
	int	i;

	t->measuring = 0;
	t->draining = 1;
	/* A verified tunnel waiting for the far end's close ends with that
	 * close, as it would in the window. */
	for (i = 0; i < t->nconns; i++)
		if ((!t->conns[i].in_op && t->conns[i].state != BC_DRAIN) ||
		    t->conns[i].stalled)
			bconn_retire(&t->conns[i]);
}

int64_t
bconn_window_down(const struct bthread *t, int i)
{
	return t->conns[i].stalled ? -1 : (int64_t)t->conns[i].win_down;
}

struct bconn *
bconn_new_all(struct bthread *t, int n)
{
	struct bconn	*conns;
	int		 i;

	if ((conns = calloc((size_t)n, sizeof(*conns))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		struct bconn *c = &conns[i];

		c->t = t;
		c->index = t->conn_base + i;
		c->fd = -1;
		c->state = BC_IDLE;
		c->in = NULL;
		if ((c->timer = evtimer_new(t->base, bconn_timer, c)) == NULL ||
		    (c->watchdog = evtimer_new(t->base, bconn_watchdog, c)) == NULL ||
		    (c->rd = event_new(t->base, -1, EV_READ | EV_PERSIST, bconn_rd,
		    c)) == NULL || (c->plain_in = evbuffer_new()) == NULL ||
		    (c->msg = malloc(sizeof(*c->msg))) == NULL)
			goto fail;
	}
	t->conns = conns;
	t->nconns = n;
	return conns;
 fail:
	bconn_free_all(conns, n);
	return NULL;
}

void
bconn_free_all(struct bconn *conns, int n)
{
	int	i;

	if (conns == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (conns[i].rd != NULL && conns[i].plain_in != NULL)
			bconn_close(&conns[i]);
		if (conns[i].timer != NULL)
			event_free(conns[i].timer);
		if (conns[i].watchdog != NULL)
			event_free(conns[i].watchdog);
		if (conns[i].rd != NULL)
			event_free(conns[i].rd);
		if (conns[i].plain_in != NULL)
			evbuffer_free(conns[i].plain_in);
		free(conns[i].msg);
	}
	free(conns);
}
