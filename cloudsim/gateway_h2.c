/* gateway_h2.c -- the gateway over HTTP/2 on nghttp2: the endpoint list and CONNECT streams (RFC 9113 8.5), each relayed to its target under its own flow control. */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "bigread.h"
#include "fastio.h"
#include "gateway.h"
#include "gateway_h2.h"
#include "gateway_internal.h"
#include "h2io.h"
#include "log.h"
#include "simconf.h"
#include "tls.h"

#define H2_STREAM_WINDOW	(4 << 20)	/* per tunnel: well above a WAN's BDP */
#define H2_CONN_WINDOW		(64 << 20)	/* all tunnels together */
#define H2_TLS_HIGH		(1 << 20)	/* TLS output that stops frame writing */
#define H2_MAX_SINGLE_IO	(128 * 1024)
#define H2_READ_AHEAD		(64 * 1024)	/* TLS records taken per read(2) */
#define H2_HELD_MAX		(16 << 20)	/* input pinned by targets' references */
#define H2_DRAIN_MS		10000		/* a finished stream's last bytes to its target */

/* A stream; the comment on each state says what is true in it. */
enum h2_state {
	H2_REQUEST,	/* request headers arriving; nothing decided */
	H2_CONNECTING,	/* a CONNECT passed the policy; target connect running under its deadline */
	H2_TUNNEL,	/* 200 sent; DATA goes to the target, its bytes come back as DATA */
	H2_ANSWERED,	/* our own response (list, refusal) is queued; DATA from the client is dropped */
	H2_DRAINING,	/* closed on the wire; the target takes its last bytes, then the stream goes */
};

struct h2_stream {
	TAILQ_ENTRY(h2_stream)	 entry;
	struct gateway_h2	*conn;
	int32_t			 id;		/* 0 once closed on the wire */
	enum h2_state		 state;
	struct bufferevent	*target;	/* TCP to the target, from H2_CONNECTING */
	struct event		*rev;		/* its socket readable: our reads, once open */
	struct event		*deadline;	/* the connect, or the last bytes of H2_DRAINING */
	struct evbuffer		*answer;	/* the body of our own response */
	struct gateway_request	 req;
	char			 method[16];
	char			 authority[300];	/* longer ones are cut: they are no host:port */
	size_t			 authority_len;
	char			 path[64];	/* enough to recognize the endpoint list */
	size_t			 path_len;	/* as sent, uncut */
	size_t			 head_bytes;	/* header list size, as SETTINGS counts it */
	size_t			 up_held;	/* client bytes in the target's output: window still closed */
	uint64_t		 up;		/* client bytes the target took */
	uint64_t		 down;		/* target bytes sent as DATA */
	char			 error[256];	/* why the tunnel ended badly; "" if it did not */
	unsigned		 too_large:1;	/* the header list passed max_head_bytes */
	unsigned		 client_eof:1;	/* END_STREAM from the client */
	unsigned		 target_eof:1;	/* FIN from the target */
	unsigned		 target_shut:1;	/* FIN sent to the target */
	unsigned		 target_dead:1;	/* the target failed; our RST_STREAM is queued */
	unsigned		 deferred:1;	/* the data source waits for target bytes */
};

TAILQ_HEAD(h2_streams, h2_stream);

struct gateway_h2 {
	TAILQ_ENTRY(gateway_h2)	 entry;
	struct gateway		*gw;
	struct bufferevent	*tls;
	nghttp2_session		*ng;
	struct h2_streams	 streams;
	struct event		*preface;	/* the client's first frame is due */
	struct event		*reaper;	/* frees the connection outside any callback */
	struct gateway_peer	 who;
	char			 why[256];	/* why the connection ends */
	struct h2io		 io;		/* ng fed from tls and flushed to it */
	int			 closing;	/* the reaper runs next */
	int			 goaway;	/* we sent GOAWAY */
};

static void	h2_flush(struct gateway_h2 *);
static void	h2_stream_end(struct h2_stream *);

static struct timeval
h2_ms(long long ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

static nghttp2_nv
h2_nv(const char *name, const char *value)
{
	nghttp2_nv	nv = { (uint8_t *)name, (uint8_t *)value, strlen(name),
	    strlen(value), NGHTTP2_NV_FLAG_NONE };

	return nv;
}

/* ---- the connection's life ---------------------------------------------- */

static void
h2_free(struct gateway_h2 *c)
{
	struct h2_stream	*st;
	int			 n = 0;

	TAILQ_REMOVE(&c->gw->h2s, c, entry);
	while ((st = TAILQ_FIRST(&c->streams)) != NULL) {
		if ((st->state == H2_TUNNEL || st->state == H2_DRAINING) &&
		    st->error[0] == '\0')
			snprintf(st->error, sizeof(st->error), "%s", c->why);
		n += st->state == H2_TUNNEL || st->state == H2_DRAINING;
		h2_stream_end(st);
	}
	log_debug("%s: HTTP/2 connection closed: %s (%d tunnel%s ended)",
	    c->who.addr, c->why, n, n == 1 ? "" : "s");
	nghttp2_session_del(c->ng);
	h2io_hold_off(&c->io);
	event_free(c->preface);
	event_free(c->reaper);
	bufferevent_free(c->tls);
	free(c);
}

static void
h2_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	h2_free(arg);
}

/* Ends the connection from the loop: callbacks may still be on the stack. */
static void
h2_close_later(struct gateway_h2 *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = 1;
	snprintf(c->why, sizeof(c->why), "%s", why);
	bufferevent_disable(c->tls, EV_READ);
	event_active(c->reaper, EV_TIMEOUT, 1);
}

/* Writes what nghttp2 has queued, as far as the TLS output takes it. */
static void
h2_flush(struct gateway_h2 *c)
{
	int	rv;

	if (c->closing || (rv = h2io_flush(&c->io)) == 0)
		return;
	h2_close_later(c, rv != H2IO_DONE ? nghttp2_strerror(rv) : c->goaway ?
	    "the gateway is stopping" : "the session ended (GOAWAY)");
}

/* ---- the wire ----------------------------------------------------------- */

static ssize_t
h2_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	struct gateway_h2	*c = arg;

	(void)ng;
	(void)flags;
	return h2io_send(&c->io, data, len);
}

/* Reading the target goes on once DATA took its bytes below the buffer. */
static void
h2_target_read_resume(struct h2_stream *st)
{
	if (st->rev == NULL || st->target_eof || st->target_dead ||
	    event_pending(st->rev, EV_READ, NULL) ||
	    evbuffer_get_length(bufferevent_get_input(st->target)) >=
	    (size_t)st->conn->gw->cfg->buffer_bytes)
		return;
	event_add(st->rev, NULL);
}

static void	h2_target_event(struct bufferevent *, short, void *);

/*
 * The open tunnel's target is read here, not by libevent, whose socket
 * reads are an ioctl(FIONREAD) and 4 KiB: one readv of what the kernel
 * holds, up to the stream's buffer, per readable event.  A full buffer
 * stops reading until DATA frames take it below (h2_target_read_resume).
 */
static void
h2_target_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct h2_stream	*st = arg;
	struct bufferevent	*bev = st->target;
	struct evbuffer		*in = bufferevent_get_input(bev);
	size_t			 have = evbuffer_get_length(in);
	size_t			 high = st->conn->gw->cfg->buffer_bytes;
	ssize_t			 n;
	int			 err;

	(void)what;
	if (have >= high) {
		event_del(st->rev);
		return;
	}
	/* A socket bufferevent keeps its input's end frozen but while it
	 * reads, as here. */
	evbuffer_unfreeze(in, 0);
	n = bigread(fd, in, high - have);
	err = errno;
	evbuffer_freeze(in, 0);
	if (n == BIGREAD_AGAIN)
		return;
	if (n <= 0) {
		event_del(st->rev);
		errno = err;
		h2_target_event(bev, BEV_EVENT_READING |
		    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), st);
		return;
	}
	if (evbuffer_get_length(in) >= high)
		event_del(st->rev);
	if (!st->deferred || st->id == 0)
		return;
	st->deferred = 0;
	nghttp2_session_resume_data(st->conn->ng, st->id);
	h2_flush(st->conn);
}

/* DATA of a tunnel without a copy: the frame header, then the target's bytes moved. */
static int
h2_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
    size_t length, nghttp2_data_source *source, void *arg)
{
	struct gateway_h2	*c = arg;
	struct h2_stream	*st = source->ptr;
	int			 rv;

	(void)ng;
	(void)frame;
	if ((rv = h2io_send_data(&c->io, framehd,
	    bufferevent_get_input(st->target), length)) == 0) {
		st->down += length;
		h2_target_read_resume(st);
	}
	return rv;
}

/* The tunnel's data source: what the target sent, END_STREAM after its FIN. */
static ssize_t
h2_read_target(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	struct h2_stream	*st = source->ptr;
	ssize_t			 n;

	(void)ng;
	(void)id;
	(void)buf;
	(void)arg;
	if (st->target_dead)
		n = NGHTTP2_ERR_DEFERRED;	/* the reset ends it */
	else
		n = h2io_data_length(bufferevent_get_input(st->target), len,
		    st->target_eof, flags);
	if (n == NGHTTP2_ERR_DEFERRED)
		st->deferred = 1;
	return n;
}

/* Our own response body: copied, it is short. */
static ssize_t
h2_read_answer(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	struct h2_stream	*st = source->ptr;
	int			 n;

	(void)ng;
	(void)id;
	(void)arg;
	if ((n = evbuffer_remove(st->answer, buf, len)) < 0)
		n = 0;
	if (evbuffer_get_length(st->answer) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

/* ---- streams ------------------------------------------------------------ */

static void
h2_stream_free(struct h2_stream *st)
{
	struct gateway_h2	*c = st->conn;

	TAILQ_REMOVE(&c->streams, st, entry);
	if (st->id != 0)
		nghttp2_session_set_stream_user_data(c->ng, st->id, NULL);
	if (st->target != NULL) {
		/* Bytes the target never took must not shrink the connection's window. */
		if (st->up_held > 0 && st->id != 0)
			nghttp2_session_consume(c->ng, st->id, st->up_held);
		else if (st->up_held > 0)
			nghttp2_session_consume_connection(c->ng, st->up_held);
		if (st->rev != NULL)
			event_free(st->rev);
		bufferevent_free(st->target);
	}
	event_free(st->deadline);
	if (st->answer != NULL)
		evbuffer_free(st->answer);
	free(st);
}

/* The stream is over: its audit line if it was a tunnel, then its memory. */
static void
h2_stream_end(struct h2_stream *st)
{
	struct gateway_h2	*c = st->conn;

	if (st->state == H2_TUNNEL || st->state == H2_DRAINING)
		gateway_log_connect(&c->who, &st->req, "h2", 200,
		    st->error[0] ? "connection_terminated" : NULL,
		    st->error[0] ? st->error : NULL, st->up, st->down);
	else if (st->state == H2_CONNECTING)
		log_debug("%s: CONNECT %s dropped while connecting", c->who.addr,
		    st->req.dest);
	h2_stream_free(st);
}

/* A response of ours, with a body unless head_only. */
static void
h2_answer(struct h2_stream *st, int status, const char *type, const char *body,
    size_t len, int head_only, const char *extra_name, const char *extra_value)
{
	struct gateway_h2	*c = st->conn;
	nghttp2_data_provider	 data;
	nghttp2_nv		 nv[4];
	char			 code[8], length[24];
	size_t			 n = 0;
	int			 with_body = !head_only && len > 0;

	snprintf(code, sizeof(code), "%d", status);
	snprintf(length, sizeof(length), "%zu", len);
	nv[n++] = h2_nv(":status", code);
	nv[n++] = h2_nv("content-type", type);
	nv[n++] = h2_nv("content-length", length);
	if (extra_name != NULL)
		nv[n++] = h2_nv(extra_name, extra_value);
	st->state = H2_ANSWERED;
	if (with_body && ((st->answer = evbuffer_new()) == NULL ||
	    evbuffer_add(st->answer, body, len) == -1)) {
		nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
		return;
	}
	data.source.ptr = st;
	data.read_callback = h2_read_answer;
	if (nghttp2_submit_response(c->ng, st->id, nv, n,
	    with_body ? &data : NULL) != 0)
		nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
}

/* The same refusal as over HTTP/1.1: status, Proxy-Status, a line of text. */
static void
h2_refuse(struct h2_stream *st, const struct gateway_verdict *v)
{
	struct gateway_h2	*c = st->conn;
	char			 body[sizeof(v->text) + 1];
	char			 status[sizeof(v->text) + 64];

	snprintf(body, sizeof(body), "%s\n", v->text);
	snprintf(status, sizeof(status), GATEWAY_PROXY_STATUS "; error=%s; "
	    "details=\"%s\"", v->token, v->details);
	h2_answer(st, v->status, "text/plain", body, strlen(body), 0,
	    "proxy-status", status);
	if (st->req.dest[0] != '\0')
		gateway_log_connect(&c->who, &st->req, "h2", v->status, v->token,
		    v->text, 0, 0);
	else
		log_debug("%s: %d %s: %s", c->who.addr, v->status, v->token,
		    v->details);
}

/* Client bytes flow no more: FIN to the target once it has them all. */
static void
h2_target_maybe_shut(struct h2_stream *st)
{
	if (!st->client_eof || st->target_shut || st->target == NULL ||
	    evbuffer_get_length(bufferevent_get_output(st->target)) > 0)
		return;
	st->target_shut = 1;
	shutdown(bufferevent_getfd(st->target), SHUT_WR);
}

/* The tunnel failed on the target's side: only its stream is reset. */
static void
h2_target_reset(struct h2_stream *st, uint32_t code)
{
	st->target_dead = 1;
	if (st->rev != NULL)
		event_del(st->rev);
	bufferevent_disable(st->target, EV_READ | EV_WRITE);
	nghttp2_submit_rst_stream(st->conn->ng, NGHTTP2_FLAG_NONE, st->id, code);
}

static void
h2_target_failed(struct h2_stream *st, short what, int err)
{
	struct gateway_verdict	v;

	evtimer_del(st->deadline);
	if (st->up_held > 0)
		nghttp2_session_consume(st->conn->ng, st->id, st->up_held);
	st->up_held = 0;
	bufferevent_free(st->target);
	st->target = NULL;
	gateway_target_failed(&st->req, what, err, &v);
	h2_refuse(st, &v);
}

static void
h2_target_connected(struct h2_stream *st)
{
	struct gateway_h2	*c = st->conn;
	struct bufferevent	*bev = st->target;
	nghttp2_data_provider	 data;
	nghttp2_nv		 nv[1];
	int			 one = 1;

	evtimer_del(st->deadline);
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	bufferevent_set_max_single_read(bev, H2_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(bev, H2_MAX_SINGLE_IO);
	/* A stream without send window stops the target's reads here. */
	bufferevent_setwatermark(bev, EV_READ, 0, c->gw->cfg->buffer_bytes);
	/* The write callback after every write: the window opens as the
	 * target takes the bytes, so a slow target stalls its stream only. */
	bufferevent_setwatermark(bev, EV_WRITE, SIZE_MAX, 0);
	nv[0] = h2_nv(":status", "200");
	data.source.ptr = st;
	data.read_callback = h2_read_target;
	st->state = H2_TUNNEL;
	if (nghttp2_submit_response(c->ng, st->id, nv, 1, &data) != 0) {
		snprintf(st->error, sizeof(st->error), "cannot answer the stream");
		h2_target_reset(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	/* Our own reads (h2_target_on_readable); libevent's if that fails. */
	if ((st->rev = event_new(c->gw->base, bufferevent_getfd(bev),
	    EV_READ | EV_PERSIST, h2_target_on_readable, st)) != NULL) {
		bufferevent_enable(bev, EV_WRITE);
		event_add(st->rev, NULL);
	} else
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	h2_target_maybe_shut(st);
	log_debug("%s: stream %d: tunnel to %s (%s) open", c->who.addr, st->id,
	    st->req.dest, st->req.host->target);
}

static void
h2_target_read(struct bufferevent *bev, void *arg)
{
	struct h2_stream	*st = arg;
	size_t			 have, high = st->conn->gw->cfg->buffer_bytes;

	/* libevent read 4 KiB; take what the kernel holds, up to the read
	 * high watermark, so that DATA frames go out full (lib/fastio). */
	have = evbuffer_get_length(bufferevent_get_input(bev));
	if (have < high)
		fastio_read(bev, high - have);
	if (!st->deferred || st->id == 0)
		return;
	st->deferred = 0;
	nghttp2_session_resume_data(st->conn->ng, st->id);
	h2_flush(st->conn);
}

static void
h2_target_write(struct bufferevent *bev, void *arg)
{
	struct h2_stream	*st = arg;
	struct gateway_h2	*c = st->conn;
	size_t			 left, taken;

	left = evbuffer_get_length(bufferevent_get_output(bev));
	if (st->up_held > left) {
		taken = st->up_held - left;
		st->up_held = left;
		st->up += taken;
		if (st->id != 0)
			nghttp2_session_consume(c->ng, st->id, taken);
		else
			nghttp2_session_consume_connection(c->ng, taken);
	}
	h2_target_maybe_shut(st);
	if (st->state == H2_DRAINING && left == 0)
		h2_stream_end(st);
	h2_flush(c);
}

static void
h2_target_event(struct bufferevent *bev, short what, void *arg)
{
	struct h2_stream	*st = arg;
	struct gateway_h2	*c = st->conn;
	int			 err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (st->state == H2_CONNECTING) {
		if (what & BEV_EVENT_CONNECTED)
			h2_target_connected(st);
		else
			h2_target_failed(st, what, err);
		h2_flush(c);
		return;
	}
	if ((what & BEV_EVENT_EOF) && st->state == H2_TUNNEL) {
		st->target_eof = 1;
		if (st->deferred) {
			st->deferred = 0;
			nghttp2_session_resume_data(c->ng, st->id);
		}
		h2_flush(c);
		return;
	}
	snprintf(st->error, sizeof(st->error), "target %s: %s",
	    (what & BEV_EVENT_READING) ? "read" : "write",
	    (what & BEV_EVENT_EOF) ? "closed" : err != 0 ?
	    evutil_socket_error_to_string(err) : "failed");
	if (st->state == H2_DRAINING)
		h2_stream_end(st);
	else
		h2_target_reset(st, NGHTTP2_CONNECT_ERROR);
	h2_flush(c);
}

static void
h2_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct h2_stream	*st = arg;
	struct gateway_h2	*c = st->conn;

	(void)fd;
	(void)what;
	if (st->state == H2_CONNECTING)
		h2_target_failed(st, BEV_EVENT_TIMEOUT, ETIMEDOUT);
	else if (st->state == H2_DRAINING) {
		snprintf(st->error, sizeof(st->error), "the target did not take "
		    "the last %zu bytes within %d ms", st->up_held, H2_DRAIN_MS);
		h2_stream_end(st);
	}
	h2_flush(c);
}

/* CONNECT: the policy of the HTTP/1.1 path, then the target. */
static void
h2_connect(struct h2_stream *st)
{
	struct gateway_h2	*c = st->conn;
	struct gateway_verdict	 v;

	gateway_decide(c->gw, &c->who, st->authority, st->authority_len,
	    &st->req, &v);
	if (v.status != 200) {
		h2_refuse(st, &v);
		return;
	}
	if ((st->target = bufferevent_socket_new(c->gw->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		snprintf(v.text, sizeof(v.text), "out of memory");
		v.status = 500;
		v.token = "proxy_internal_error";
		v.details = "out of memory";
		h2_refuse(st, &v);
		return;
	}
	st->state = H2_CONNECTING;
	bufferevent_setcb(st->target, h2_target_read, h2_target_write,
	    h2_target_event, st);
	evtimer_add(st->deadline, &c->gw->connect_timeout);
	/* A failure may already have run h2_target_event. */
	if (bufferevent_socket_connect(st->target,
	    (struct sockaddr *)&st->req.host->addr, st->req.host->addr_len) == -1 &&
	    st->state == H2_CONNECTING)
		h2_target_failed(st, 0, errno);
}

/* A whole request head: CONNECT, the endpoint list, or an answer of ours. */
static void
h2_request(struct h2_stream *st)
{
	struct gateway_h2	*c = st->conn;
	const struct gateway	*gw = c->gw;
	size_t			 list_len = strlen(GATEWAY_ENDPOINTS_PATH);
	struct gateway_verdict	 v;
	char			 cache[64];
	int			 head, list;

	if (st->too_large) {
		v.status = 400;
		v.token = "http_request_error";
		v.details = "head too large";
		snprintf(v.text, sizeof(v.text), "request head larger than %lld "
		    "bytes", gw->cfg->max_head_bytes);
		h2_refuse(st, &v);
		return;
	}
	if (strcmp(st->method, "CONNECT") == 0) {
		h2_connect(st);
		return;
	}
	if (st->path_len == 0 || st->path[0] != '/') {
		v.status = 400;
		v.token = "http_request_error";
		v.details = "not a tunnel";
		snprintf(v.text, sizeof(v.text), "the gateway only tunnels: send "
		    "CONNECT host:port");
		h2_refuse(st, &v);
		return;
	}
	list = st->path_len >= list_len &&
	    memcmp(st->path, GATEWAY_ENDPOINTS_PATH, list_len) == 0 &&
	    (st->path_len == list_len || st->path[list_len] == '?');
	head = strcmp(st->method, "HEAD") == 0;
	if (!list)
		h2_answer(st, 404, "text/plain", "not found\n", 10, head, NULL,
		    NULL);
	else if (head || strcmp(st->method, "GET") == 0) {
		snprintf(cache, sizeof(cache), "max-age=%lld",
		    gw->cfg->refresh_seconds);
		h2_answer(st, 200, "application/json", gw->endpoints_json,
		    strlen(gw->endpoints_json), head, "cache-control", cache);
		log_debug("%s: endpoint list sent on stream %d (machine %s)",
		    c->who.addr, st->id,
		    c->who.machine[0] ? c->who.machine : "-");
	} else
		h2_answer(st, 405, "text/plain", "use GET\n", 8, 0, "allow",
		    "GET, HEAD");
}

/* ---- nghttp2's callbacks ------------------------------------------------ */

static int
h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct gateway_h2	*c = arg;
	struct h2_stream	*st;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if ((st->deadline = evtimer_new(c->gw->base, h2_on_deadline, st)) == NULL) {
		free(st);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	st->conn = c;
	st->id = frame->hd.stream_id;
	st->state = H2_REQUEST;
	gettimeofday(&st->req.started, NULL);
	TAILQ_INSERT_TAIL(&c->streams, st, entry);
	nghttp2_session_set_stream_user_data(ng, st->id, st);
	return 0;
}

static void
h2_keep(char *dst, size_t size, const uint8_t *value, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

static int
h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
    uint8_t flags, void *arg)
{
	struct gateway_h2	*c = arg;
	struct h2_stream	*st;

	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
	    (st = nghttp2_session_get_stream_user_data(ng,
	    frame->hd.stream_id)) == NULL)
		return 0;
	st->head_bytes += namelen + valuelen + 32;
	if (st->head_bytes > (size_t)c->gw->cfg->max_head_bytes) {
		st->too_large = 1;
		return 0;
	}
	if (namelen == 7 && memcmp(name, ":method", 7) == 0)
		h2_keep(st->method, sizeof(st->method), value, valuelen);
	else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
		h2_keep(st->authority, sizeof(st->authority), value, valuelen);
		st->authority_len = strlen(st->authority);
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		h2_keep(st->path, sizeof(st->path), value, valuelen);
		st->path_len = valuelen;
	}
	return 0;
}

/* END_STREAM from the client: the half-close, passed on as a FIN. */
static void
h2_client_eof(struct h2_stream *st)
{
	st->client_eof = 1;
	if (st->state == H2_TUNNEL)
		h2_target_maybe_shut(st);
}

static int
h2_on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct gateway_h2	*c = arg;
	struct h2_stream	*st;

	evtimer_del(c->preface);
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	if ((st = nghttp2_session_get_stream_user_data(ng,
	    frame->hd.stream_id)) == NULL)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && st->state == H2_REQUEST &&
	    frame->headers.cat == NGHTTP2_HCAT_REQUEST)
		h2_request(st);
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
		h2_client_eof(st);
	return 0;
}

/* Our whole answer is out: a client still sending is told to stop, without
 * error (RFC 9113 8.1), rather than fed window for a body nobody reads. */
static int
h2_on_frame_sent(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2_stream	*st;

	(void)arg;
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (st = nghttp2_session_get_stream_user_data(ng,
	    frame->hd.stream_id)) == NULL)
		return 0;
	if (st->state == H2_ANSWERED && !st->client_eof)
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_NO_ERROR);
	return 0;
}

static int
h2_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
    size_t len, void *arg)
{
	struct h2_stream	*st;

	(void)flags;
	(void)arg;
	st = nghttp2_session_get_stream_user_data(ng, id);
	/* By reference into the held input where it is worth it (h2io). */
	if (st == NULL || st->target == NULL || st->target_dead ||
	    (st->state != H2_CONNECTING && st->state != H2_TUNNEL) ||
	    h2io_add_data(&st->conn->io, bufferevent_get_output(st->target),
	    data, len) == -1) {
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	/* The window stays closed until the target takes them (h2_target_write). */
	st->up_held += len;
	return 0;
}

static int
h2_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2_stream	*st;
	struct linger		 rst = { 1, 0 };

	(void)arg;
	if ((st = nghttp2_session_get_stream_user_data(ng, id)) == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	st->id = 0;
	if (st->state == H2_TUNNEL && code == NGHTTP2_NO_ERROR &&
	    !st->target_dead && st->up_held > 0) {
		struct timeval	tv = h2_ms(H2_DRAIN_MS);

		/* Both sides ended cleanly; the target still gets its bytes. */
		st->state = H2_DRAINING;
		evtimer_add(st->deadline, &tv);
		log_debug("%s: stream %d closed; %zu bytes still go to %s",
		    st->conn->who.addr, id, st->up_held, st->req.dest);
		return 0;
	}
	if (code != NGHTTP2_NO_ERROR && st->error[0] == '\0' &&
	    (st->state == H2_TUNNEL || st->state == H2_CONNECTING)) {
		snprintf(st->error, sizeof(st->error), "the client reset the "
		    "stream (%s)", nghttp2_http2_strerror(code));
		/* The client's reset reaches the target as one (RFC 9113 8.5). */
		if (st->target != NULL)
			setsockopt(bufferevent_getfd(st->target), SOL_SOCKET,
			    SO_LINGER, &rst, sizeof(rst));
	}
	h2_stream_end(st);
	return 0;
}

/* ---- the TLS connection ------------------------------------------------- */

static void
h2_tls_read(struct bufferevent *bev, void *arg)
{
	struct gateway_h2	*c = arg;
	int			 rv = 0;

	(void)bev;
	do {
		while (!c->closing && (rv = h2io_recv(&c->io)) > 0)
			h2_flush(c);
		if (rv < 0) {
			h2_close_later(c, nghttp2_strerror(rv));
			return;
		}
	} while (!c->closing && tls_read_pending(c->tls) > 0);	/* read-ahead */
}

static void
h2_tls_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h2_flush(arg);
}

static void
h2_tls_event(struct bufferevent *bev, short what, void *arg)
{
	struct gateway_h2	*c = arg;
	char			 errs[200], why[240];

	tls_bev_errors(bev, errs, sizeof(errs));
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "the client closed the connection");
	else
		snprintf(why, sizeof(why), "the client connection failed: %s",
		    errs[0] ? errs : evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
	h2_close_later(c, why);
}

static void
h2_on_preface_due(evutil_socket_t fd, short what, void *arg)
{
	struct gateway_h2	*c = arg;

	(void)fd;
	(void)what;
	log_debug("%s: no HTTP/2 preface within %lld ms", c->who.addr,
	    c->gw->cfg->head_timeout_ms);
	h2_close_later(c, "no HTTP/2 preface in time");
}

/* ---- the API ------------------------------------------------------------ */

int
gateway_h2_start(struct gateway *gw, struct bufferevent *tls,
    const struct gateway_peer *who)
{
	nghttp2_session_callbacks	*cb;
	struct gateway_h2		*c;
	nghttp2_settings_entry		 iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
		    (uint32_t)gw->cfg->max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		    (uint32_t)gw->cfg->max_head_bytes },
	};

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->gw = gw;
	c->who = *who;
	TAILQ_INIT(&c->streams);
	if (nghttp2_session_callbacks_new(&cb) != 0)
		goto fail;
	nghttp2_session_callbacks_set_send_callback(cb, h2_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2_send_data);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cb,
	    h2io_read_length);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2_on_frame_sent);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_close);
	/* Windows open as targets take the bytes (h2_target_write). */
	c->ng = h2io_session_new(cb, 1, c, iv, sizeof(iv) / sizeof(iv[0]),
	    H2_CONN_WINDOW);
	nghttp2_session_callbacks_del(cb);
	if (c->ng == NULL ||
	    (c->preface = evtimer_new(gw->base, h2_on_preface_due, c)) == NULL ||
	    (c->reaper = event_new(gw->base, -1, 0, h2_reap, c)) == NULL)
		goto fail;
	c->tls = tls;
	tls_read_ahead(tls, H2_READ_AHEAD);
	tls_write_gather(tls);	/* a pass's records in one write(2) */
	bufferevent_set_max_single_read(tls, H2_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(tls, H2_MAX_SINGLE_IO);
	h2io_init(&c->io, c->ng, tls, H2_TLS_HIGH);
	/* Uploads pass to their targets by reference (no copy of each DATA
	 * payload): out of memory, they are copied. */
	(void)h2io_hold_on(&c->io, H2_HELD_MAX);
	bufferevent_setcb(tls, h2_tls_read, h2_tls_write, h2_tls_event, c);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&gw->h2s, c, entry);
	evtimer_add(c->preface, &gw->head_timeout);
	log_debug("%s: HTTP/2 (machine %s)", who->addr,
	    who->machine[0] ? who->machine : "-");
	h2_flush(c);
	h2_tls_read(tls, c);		/* the preface may have come with the handshake */
	return 0;
 fail:
	if (c->ng != NULL)
		nghttp2_session_del(c->ng);
	if (c->preface != NULL)
		event_free(c->preface);
	if (c->reaper != NULL)
		event_free(c->reaper);
	free(c);
	return -1;
}

void
gateway_h2_goaway_all(struct gateway *gw)
{
	struct gateway_h2	*c;

	TAILQ_FOREACH(c, &gw->h2s, entry) {
		if (c->closing || c->goaway)
			continue;
		c->goaway = 1;
		nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(c->ng),
		    NGHTTP2_NO_ERROR, NULL, 0);
		h2_flush(c);
	}
}

void
gateway_h2_free_all(struct gateway *gw)
{
	struct gateway_h2	*c;

	while ((c = TAILQ_FIRST(&gw->h2s)) != NULL) {
		if (!c->closing)
			snprintf(c->why, sizeof(c->why), "the gateway stopped");
		h2_free(c);
	}
}
