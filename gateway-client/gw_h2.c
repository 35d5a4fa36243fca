/* gw_h2.c -- every tunnel as an HTTP/2 CONNECT stream (RFC 9113 8.5) on one TLS connection to the gateway, on nghttp2. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "gw_h2.h"
#include "gw_internal.h"
#include "h2io.h"
#include "log.h"
#include "tls.h"

#define GW_H2_STREAM_WINDOW	(4 << 20)	/* per tunnel: well above a WAN's BDP */
#define GW_H2_CONN_WINDOW	(64 << 20)	/* all tunnels together */
#define GW_H2_STREAM_BUFFER	(256 * 1024)	/* caller bytes held before backpressure */
#define GW_H2_TLS_HIGH		(1 << 20)	/* TLS output that stops frame writing */
#define GW_H2_READ_AHEAD	(64 * 1024)	/* TLS records taken per read(2) */
#define GW_H2_PING_S		30
#define GW_H2_LIST_MAX		(1 << 20)
#define GW_H2_HELD_MAX		(16 << 20)	/* input pinned by tunnels' references */

/* A stream's memory has two holders: nghttp2, until on_stream_close (its
 * data source may be called until then, even after our RST_STREAM), and the
 * caller, until gw_stream_close().  It is freed when both are done. */
enum gw_h2_stream_state {
	GWS_OPENING,		/* on the wire, CONNECT unanswered: req waits */
	GWS_FETCH,		/* on the wire: the endpoint list's GET */
	GWS_OPEN,		/* on the wire, answered 200: the caller holds st */
	GWS_ORPHAN,		/* on the wire, held by nobody: reset (or ending)
				 * by us, freed in on_stream_close */
	GWS_ENDED,		/* off the wire: the caller holds st until
				 * gw_stream_close() */
};

struct gw_h2_stream {
	enum gw_h2_stream_state	 state;
	struct gw_h2		*s;		/* NULL once off the wire */
	int32_t			 id;		/* 0 once off the wire */
	TAILQ_ENTRY(gw_h2_stream) entry;	/* in s->streams while on the wire */
	struct gw_req		*req;		/* GWS_OPENING */
	struct gw_stream	 st;		/* the caller's handle, after a 200 */
	struct bufferevent	*pair[2];	/* [0] the caller's end (NULL once
						 * closed), [1] ours */
	int			 status;
	char			 proxy_status[160];
	size_t			 unconsumed;	/* received, not yet taken by the caller */
	struct evbuffer		*body;		/* the endpoint list, on a fetch */
	unsigned		 fetch:1;	/* the list is not reported yet */
	unsigned		 local_eof:1;	/* the caller half-closed */
	unsigned		 remote_eof:1;	/* the gateway half-closed */
	unsigned		 deferred:1;	/* the data source waits for bytes */
};

TAILQ_HEAD(gw_h2_streams, gw_h2_stream);

struct gw_h2 {
	struct gw_carrier	 car;		/* first: the carrier's common part */
	struct gw		*gw;
	struct bufferevent	*tls;
	nghttp2_session		*ng;
	struct gw_h2_streams	 streams;
	int			 nstreams;
	struct event		*ping;
	int			 ping_due;	/* sent, not yet answered */
	int			 draining;	/* GOAWAY: no new streams */
	struct h2io		 io;		/* ng fed from tls and flushed to it */
	int			 dead;
};

static int	gw_h2_flush(struct gw_h2 *);
static void	gw_h2_detach(struct gw_h2_stream *, int reset_reason);

/* ---- the wire ----------------------------------------------------------- */

static ssize_t
gw_h2_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	struct gw_h2	*s = arg;

	(void)ng;
	(void)flags;
	return h2io_send(&s->io, data, len);
}

/* DATA without a copy: the frame header, then the caller's bytes moved. */
static int
gw_h2_send_data(nghttp2_session *ng, nghttp2_frame *frame,
    const uint8_t *framehd, size_t length, nghttp2_data_source *source,
    void *arg)
{
	struct gw_h2		*s = arg;
	struct gw_h2_stream	*hs = source->ptr;

	(void)ng;
	(void)frame;
	return h2io_send_data(&s->io, framehd,
	    bufferevent_get_input(hs->pair[1]), length);
}

static ssize_t
gw_h2_read_source(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	struct gw_h2_stream	*hs = source->ptr;
	ssize_t			 n;

	(void)ng;
	(void)id;
	(void)buf;
	(void)arg;
	/* END_STREAM once the caller half-closed and all is sent. */
	n = h2io_data_length(bufferevent_get_input(hs->pair[1]), len,
	    hs->local_eof, flags);
	if (n == NGHTTP2_ERR_DEFERRED)
		hs->deferred = 1;
	return n;
}

/* Writes what nghttp2 has queued.  Returns -1 when the connection ended
 * (and s is gone). */
static int
gw_h2_flush(struct gw_h2 *s)
{
	int	rv;

	if (s->dead || (rv = h2io_flush(&s->io)) == 0)
		return 0;
	gw_h2_free(s, rv == H2IO_DONE ?
	    "the gateway ended the connection (GOAWAY)" : nghttp2_strerror(rv));
	return -1;
}

/* ---- a stream's two ends ------------------------------------------------ */

/* The caller wrote: more DATA to send. */
static void
gw_h2_pair_read(struct bufferevent *bev, void *arg)
{
	struct gw_h2_stream	*hs = arg;

	(void)bev;
	if (hs->s == NULL || hs->id == 0 || !hs->deferred)
		return;
	hs->deferred = 0;
	nghttp2_session_resume_data(hs->s->ng, hs->id);
	gw_h2_flush(hs->s);
}

/*
 * Our end holds at most GW_H2_STREAM_BUFFER of the caller's bytes: past it
 * the pair stops moving them (its read goes off), the caller's output
 * grows and its own backpressure starts.  Not a read watermark: with one,
 * the pair moves only what fits under it, and the part of a chain that
 * does not fit is copied; every DATA frame sent made room for a copy of
 * the next 16 KiB.  Off and on, whole chains move.
 */
static void
gw_h2_held(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct gw_h2_stream	*hs = arg;
	size_t			 held = info->orig_size + info->n_added -
				    info->n_deleted;
	int			 on;

	(void)buf;
	on = (bufferevent_get_enabled(hs->pair[1]) & EV_READ) != 0;
	if (on && held >= GW_H2_STREAM_BUFFER)
		bufferevent_disable(hs->pair[1], EV_READ);
	else if (!on && held < GW_H2_STREAM_BUFFER / 2)
		bufferevent_enable(hs->pair[1], EV_READ);
}

/* The caller took what we received: open the window by that much. */
static void
gw_h2_pair_write(struct bufferevent *bev, void *arg)
{
	struct gw_h2_stream	*hs = arg;
	size_t			 held = evbuffer_get_length(bufferevent_get_output(bev));

	if (hs->s == NULL || hs->id == 0 || hs->unconsumed <= held)
		return;
	nghttp2_session_consume(hs->s->ng, hs->id, hs->unconsumed - held);
	hs->unconsumed = held;
	gw_h2_flush(hs->s);
}

static struct gw_h2_stream *
gw_h2_stream_new(struct gw_h2 *s, enum gw_h2_stream_state state)
{
	struct gw_h2_stream	*hs;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		return NULL;
	hs->state = state;
	hs->s = s;
	TAILQ_INSERT_TAIL(&s->streams, hs, entry);
	s->nstreams++;
	return hs;
}

static void
gw_h2_stream_free(struct gw_h2_stream *hs)
{
	if (hs->pair[0] != NULL)
		bufferevent_free(hs->pair[0]);
	if (hs->pair[1] != NULL) {
		/* A freed pair may finish later: nothing of it calls back. */
		evbuffer_remove_cb(bufferevent_get_input(hs->pair[1]),
		    gw_h2_held, hs);
		bufferevent_free(hs->pair[1]);
	}
	if (hs->body != NULL)
		evbuffer_free(hs->body);
	free(hs);
}

/* What arrived and nobody will read goes back to the connection's window:
 * nghttp2 does not credit it when the stream closes (no_auto_window_update). */
static void
gw_h2_forget_unread(struct gw_h2_stream *hs)
{
	if (hs->unconsumed > 0 && hs->id != 0)
		nghttp2_session_consume(hs->s->ng, hs->id, hs->unconsumed);
	hs->unconsumed = 0;
}

/* Takes a stream off the wire (off s->streams); nghttp2 forgets it. */
static void
gw_h2_unlink(struct gw_h2_stream *hs)
{
	struct gw_h2	*s = hs->s;

	gw_h2_forget_unread(hs);
	if (hs->id != 0)
		nghttp2_session_set_stream_user_data(s->ng, hs->id, NULL);
	TAILQ_REMOVE(&s->streams, hs, entry);
	s->nstreams--;
	hs->s = NULL;
	hs->id = 0;
}

/* The stream is over on the wire (closed, or the connection gone): the
 * caller sees EOF after what arrived; nobody else holds it now. */
static void
gw_h2_detach(struct gw_h2_stream *hs, int reset_reason)
{
	struct gw_h2	*s = hs->s;
	struct gw	*gw = s->gw;
	struct gw_req	*r;

	gw_h2_unlink(hs);
	if (reset_reason >= 0 && hs->state != GWS_ORPHAN)
		GW_STAT_ADD(gw, resets[reset_reason], 1);
	switch (hs->state) {
	case GWS_OPEN:
		hs->state = GWS_ENDED;
		GW_STAT_ADD(gw, streams_open, -1);
		if (reset_reason >= 0) {
			/* A reset, or the connection gone: the caller's tunnel
			 * fails as a TCP connection would, not a clean EOF. */
			hs->remote_eof = 1;
			bufferevent_trigger_event(hs->pair[0], BEV_EVENT_ERROR,
			    BEV_TRIG_DEFER_CALLBACKS);
		} else if (!hs->remote_eof) {
			hs->remote_eof = 1;
			bufferevent_flush(hs->pair[1], EV_WRITE, BEV_FINISHED);
		}
		return;		/* the caller frees it with gw_stream_close() */
	case GWS_OPENING:
		r = hs->req;
		hs->req = NULL;
		r->h2s = NULL;
		gw_req_fail(r, reset_reason == GW_RESET_REFUSED ? GW_DOWN :
		    GW_TARGET, reset_reason == GW_RESET_CONNECTION ?
		    "the connection to the gateway dropped" :
		    "the gateway reset the stream");
		break;
	case GWS_FETCH:
		if (hs->fetch) {
			hs->fetch = 0;
			gw_list_received(gw, NULL, 0, reset_reason >= 0 &&
			    reset_reason != GW_RESET_CONNECTION ?
			    "the stream was reset" : "the stream ended early");
		}
		break;
	case GWS_ORPHAN:
	case GWS_ENDED:
		break;
	}
	gw_h2_stream_free(hs);
}

/* Nobody waits for the stream any more: reset it, and free it when nghttp2
 * is done with it (on_stream_close), not before. */
static void
gw_h2_orphan(struct gw_h2_stream *hs, int reset)
{
	struct gw_h2	*s = hs->s;

	hs->state = GWS_ORPHAN;
	gw_h2_forget_unread(hs);
	if (hs->pair[0] != NULL) {
		/* The caller's end: no callback of the caller's runs again. */
		bufferevent_free(hs->pair[0]);
		hs->pair[0] = NULL;
	}
	if (reset && nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, hs->id,
	    NGHTTP2_CANCEL) != 0)
		gw_h2_detach(hs, -1);	/* cannot say it: forget it here */
}

/* ---- nghttp2's callbacks ------------------------------------------------ */

static int
gw_h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
    uint8_t flags, void *arg)
{
	struct gw_h2_stream	*hs;

	(void)flags;
	(void)arg;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (hs = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id)) == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3)
		hs->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 +
		    (value[2] - '0');
	else if (namelen == 12 && memcmp(name, "proxy-status", 12) == 0)
		snprintf(hs->proxy_status, sizeof(hs->proxy_status), "%.*s",
		    (int)(valuelen < 150 ? valuelen : 150), value);
	return 0;
}

static void
gw_h2_answered(struct gw_h2 *s, struct gw_h2_stream *hs)
{
	struct gw_req	*r = hs->req;
	char		 reason[256];

	if (hs->status == 200) {
		hs->req = NULL;
		r->h2s = NULL;
		hs->state = GWS_OPEN;
		hs->st.ops = &gw_h2_carrier;
		hs->st.bev = hs->pair[0];
		hs->st.h2 = hs;
		GW_STAT_ADD(s->gw, streams_open, 1);
		GW_STAT_ADD(s->gw, streams_total, 1);
		gw_req_done(r, &hs->st);
		return;
	}
	snprintf(reason, sizeof(reason), "%d%s%s", hs->status,
	    hs->proxy_status[0] ? " " : "", hs->proxy_status);
	hs->req = NULL;
	r->h2s = NULL;
	gw_req_fail(r, hs->status == 403 ? GW_DENIED : hs->status == 504 ?
	    GW_TIMEOUT : hs->status >= 500 ? GW_TARGET : GW_PROTOCOL, reason);
	gw_h2_orphan(hs, 1);
}

static int
gw_h2_on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct gw_h2		*s = arg;
	struct gw_h2_stream	*hs;

	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		if (!s->draining)
			log_info("gateway: GOAWAY (last stream %d): new tunnels go "
			    "to a new connection", frame->goaway.last_stream_id);
		s->draining = 1;
		gw_carrier_gone(&s->car, 1);
		return 0;
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			s->ping_due = 0;
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		break;
	default:
		return 0;
	}
	if ((hs = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id)) == NULL)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS &&
	    frame->headers.cat == NGHTTP2_HCAT_RESPONSE && hs->state == GWS_OPENING) {
		gw_h2_answered(s, hs);
		return 0;
	}
	if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && hs->state == GWS_FETCH &&
	    hs->fetch) {
		int ok = hs->status == 200;

		hs->fetch = 0;
		gw_list_received(s->gw, hs->body, ok, ok ? NULL : "not 200");
		return 0;
	}
	if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && hs->state == GWS_OPEN &&
	    !hs->remote_eof) {
		/* The half-close: EOF reaches the caller after the data. */
		hs->remote_eof = 1;
		bufferevent_flush(hs->pair[1], EV_WRITE, BEV_FINISHED);
	}
	return 0;
}

static int
gw_h2_on_data(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct gw_h2_stream	*hs;

	(void)flags;
	(void)arg;
	if ((hs = nghttp2_session_get_stream_user_data(ng, id)) == NULL) {
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	if (hs->state == GWS_FETCH) {
		nghttp2_session_consume(ng, id, len);
		if (evbuffer_get_length(hs->body) + len > GW_H2_LIST_MAX)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		evbuffer_add(hs->body, data, len);
		return 0;
	}
	if (hs->state != GWS_OPEN) {
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	/* Counted against the window until the caller reads it (pair_write). */
	hs->unconsumed += len;
	if (h2io_add_data(&hs->s->io, bufferevent_get_output(hs->pair[1]),
	    data, len) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int
gw_h2_on_close(nghttp2_session *ng, int32_t id, uint32_t error, void *arg)
{
	struct gw_h2		*s = arg;
	struct gw_h2_stream	*hs;
	int			 reason = -1;

	if ((hs = nghttp2_session_get_stream_user_data(ng, id)) == NULL)
		return 0;
	if (error == NGHTTP2_REFUSED_STREAM)
		reason = GW_RESET_REFUSED;
	else if (error != NGHTTP2_NO_ERROR)
		reason = GW_RESET_PEER;
	gw_h2_detach(hs, reason);
	gw_serve_waiting(s->gw);
	return 0;
}

/* ---- the TLS connection ------------------------------------------------- */

static void
gw_h2_tls_read(struct bufferevent *bev, void *arg)
{
	struct gw_h2	*s = arg;
	int		 rv;

	(void)bev;
	do {
		while ((rv = h2io_recv(&s->io)) > 0)
			if (gw_h2_flush(s) == -1)
				return;
		if (rv < 0) {
			gw_h2_free(s, nghttp2_strerror(rv));
			return;
		}
	} while (tls_read_pending(s->tls) > 0);	/* read-ahead's records */
}

static void
gw_h2_tls_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	gw_h2_flush(arg);
}

static void
gw_h2_tls_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_h2	*s = arg;

	(void)bev;
	gw_h2_free(s, (what & BEV_EVENT_EOF) ? "the gateway closed the connection" :
	    "the connection to the gateway failed");
}

static void
gw_h2_ping(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h2	*s = arg;
	struct timeval	 tv = { GW_H2_PING_S, 0 };

	(void)fd;
	(void)what;
	if (s->ping_due) {
		gw_h2_free(s, "no answer to PING");
		return;
	}
	s->ping_due = 1;
	nghttp2_submit_ping(s->ng, NGHTTP2_FLAG_NONE, NULL);
	evtimer_add(s->ping, &tv);
	gw_h2_flush(s);
}

/* ---- the API ------------------------------------------------------------ */

struct gw_h2 *
gw_h2_new(struct gw *gw, struct bufferevent *tls, char *err, size_t errlen)
{
	nghttp2_session_callbacks	*cb;
	struct gw_h2			*s;
	struct timeval			 tv = { GW_H2_PING_S, 0 };
	nghttp2_settings_entry		 iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, GW_H2_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0 },
	};

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto nomem;
	s->gw = gw;
	TAILQ_INIT(&s->streams);
	if (nghttp2_session_callbacks_new(&cb) != 0)
		goto nomem;
	nghttp2_session_callbacks_set_send_callback(cb, gw_h2_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, gw_h2_send_data);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cb,
	    h2io_read_length);
	nghttp2_session_callbacks_set_on_header_callback(cb, gw_h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, gw_h2_on_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, gw_h2_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, gw_h2_on_close);
	/* Windows open as the caller reads, so a slow reader stalls only itself. */
	s->ng = h2io_session_new(cb, 0, s, iv, sizeof(iv) / sizeof(iv[0]),
	    GW_H2_CONN_WINDOW);
	nghttp2_session_callbacks_del(cb);
	if (s->ng == NULL)
		goto nomem;
	if ((s->ping = evtimer_new(bufferevent_get_base(tls), gw_h2_ping, s)) == NULL)
		goto nomem;
	s->tls = tls;
	tls_read_ahead(tls, GW_H2_READ_AHEAD);
	tls_write_gather(tls);	/* a pass's records in one write(2) */
	h2io_init(&s->io, s->ng, tls, GW_H2_TLS_HIGH);
	/* DATA payloads go to the tunnels by reference, not copied (without
	 * the memory for it they are copied, as before). */
	(void)h2io_hold_on(&s->io, GW_H2_HELD_MAX);
	bufferevent_setcb(tls, gw_h2_tls_read, gw_h2_tls_write, gw_h2_tls_event, s);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	evtimer_add(s->ping, &tv);
	GW_STAT_ADD(s->gw, h2_connections_open, 1);
	gw_h2_flush(s);
	return s;
 nomem:
	snprintf(err, errlen, "cannot start HTTP/2: out of memory");
	if (s != NULL) {
		if (s->ng != NULL)
			nghttp2_session_del(s->ng);
		free(s);
	}
	return NULL;
}

void
gw_h2_free(struct gw_h2 *s, const char *reason)
{
	struct gw_h2_stream	*hs;

	if (s->dead)
		return;
	s->dead = 1;
	if (s->nstreams > 0)
		log_warnx("gateway: multiplexed connection ended: %s; %d stream%s "
		    "closed", reason, s->nstreams, s->nstreams == 1 ? "" : "s");
	else
		log_info("gateway: multiplexed connection ended: %s", reason);
	while ((hs = TAILQ_FIRST(&s->streams)) != NULL)
		gw_h2_detach(hs, GW_RESET_CONNECTION);
	gw_carrier_gone(&s->car, 0);
	GW_STAT_ADD(s->gw, h2_connections_open, -1);
	GW_STAT_ADD(s->gw, connections_open, -1);
	event_free(s->ping);
	nghttp2_session_del(s->ng);
	h2io_hold_off(&s->io);
	bufferevent_free(s->tls);
	free(s);
}

int
gw_h2_alive(const struct gw_h2 *s)
{
	return !s->dead && !s->draining;
}

int
gw_h2_dead(const struct gw_h2 *s)
{
	return s->dead;
}

int
gw_h2_can_open(const struct gw_h2 *s)
{
	uint32_t	limit;

	limit = nghttp2_session_get_remote_settings(s->ng,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	return gw_h2_alive(s) && (uint32_t)s->nstreams < limit;
}

void
gw_h2_open(struct gw_h2 *s, struct gw_req *r)
{
	struct gw_h2_stream	*hs;
	nghttp2_data_provider	 data;
	char			 authority[300];
	nghttp2_nv		 nv[2];
	int32_t			 id;

	if ((hs = gw_h2_stream_new(s, GWS_OPENING)) == NULL ||
	    bufferevent_pair_new(bufferevent_get_base(s->tls),
	    BEV_OPT_DEFER_CALLBACKS, hs->pair) != 0) {
		if (hs != NULL) {
			TAILQ_REMOVE(&s->streams, hs, entry);
			s->nstreams--;
			gw_h2_stream_free(hs);
		}
		gw_req_fail(r, GW_INTERNAL, "out of memory");
		return;
	}
	snprintf(authority, sizeof(authority), strchr(r->host, ':') ?
	    "[%s]:%u" : "%s:%u", r->host, r->port);
	nv[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7,
	    NGHTTP2_NV_FLAG_NONE };
	nv[1] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)authority, 10,
	    strlen(authority), NGHTTP2_NV_FLAG_NONE };
	data.source.ptr = hs;
	data.read_callback = gw_h2_read_source;
	if ((id = nghttp2_submit_request(s->ng, NULL, nv, 2, &data, hs)) < 0) {
		TAILQ_REMOVE(&s->streams, hs, entry);
		s->nstreams--;
		gw_h2_stream_free(hs);
		gw_req_fail(r, GW_DOWN, nghttp2_strerror(id));
		return;
	}
	hs->id = id;
	hs->req = r;
	r->h2s = hs;
	r->state = GWR_CONNECT;
	/* Our end holds at most GW_H2_STREAM_BUFFER (gw_h2_held). */
	if (evbuffer_add_cb(bufferevent_get_input(hs->pair[1]), gw_h2_held,
	    hs) == NULL) {
		bufferevent_setwatermark(hs->pair[1], EV_READ, 0,
		    GW_H2_STREAM_BUFFER);	/* out of memory: copies, as it can */
	}
	bufferevent_setcb(hs->pair[1], gw_h2_pair_read, gw_h2_pair_write, NULL, hs);
	bufferevent_enable(hs->pair[1], EV_READ | EV_WRITE);
	bufferevent_enable(hs->pair[0], EV_READ | EV_WRITE);
	gw_h2_flush(s);
}

void
gw_h2_cancel(struct gw_req *r)
{
	struct gw_h2_stream	*hs = r->h2s;
	struct gw_h2		*s = hs->s;

	hs->req = NULL;
	r->h2s = NULL;
	GW_STAT_ADD(s->gw, resets[GW_RESET_CANCEL], 1);
	gw_h2_orphan(hs, 1);
	gw_h2_flush(s);
}

void
gw_h2_fetch(struct gw_h2 *s)
{
	struct gw_h2_stream	*hs;
	char			 authority[300];
	nghttp2_nv		 nv[4];
	int32_t			 id;

	if ((hs = gw_h2_stream_new(s, GWS_FETCH)) == NULL ||
	    (hs->body = evbuffer_new()) == NULL) {
		if (hs != NULL) {
			TAILQ_REMOVE(&s->streams, hs, entry);
			s->nstreams--;
			gw_h2_stream_free(hs);
		}
		gw_list_received(s->gw, NULL, 0, "out of memory");
		return;
	}
	hs->fetch = 1;
	snprintf(authority, sizeof(authority), "%s:%u", s->gw->s.host, s->gw->s.port);
	nv[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 };
	nv[1] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 };
	nv[2] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)authority, 10,
	    strlen(authority), 0 };
	nv[3] = (nghttp2_nv){ (uint8_t *)":path",
	    (uint8_t *)"/.well-known/arc-gateway/endpoints", 5, 34, 0 };
	if ((id = nghttp2_submit_request(s->ng, NULL, nv, 4, NULL, hs)) < 0) {
		TAILQ_REMOVE(&s->streams, hs, entry);
		s->nstreams--;
		gw_h2_stream_free(hs);
		gw_list_received(s->gw, NULL, 0, nghttp2_strerror(id));
		return;
	}
	hs->id = id;
	gw_h2_flush(s);
}

void
gw_h2_stream_shutdown(struct gw_h2_stream *hs)
{
	if (hs->local_eof)
		return;
	hs->local_eof = 1;
	if (hs->s == NULL || hs->id == 0)
		return;
	if (hs->deferred) {
		hs->deferred = 0;
		nghttp2_session_resume_data(hs->s->ng, hs->id);
	}
	gw_h2_flush(hs->s);
}

void
gw_h2_stream_close(struct gw_h2_stream *hs)
{
	struct gw_h2	*s = hs->s;
	int		 reset;

	if (hs->state != GWS_OPEN) {
		gw_h2_stream_free(hs);		/* GWS_ENDED: off the wire */
		return;
	}
	/* Still on the wire: nghttp2 may hold a DATA frame of ours (a send
	 * that would block) and call back with this stream, so it stays until
	 * on_stream_close.  Still open both ways: the client went away. */
	reset = !(hs->local_eof && hs->remote_eof);
	GW_STAT_ADD(s->gw, streams_open, -1);
	if (reset)
		GW_STAT_ADD(s->gw, resets[GW_RESET_CANCEL], 1);
	gw_h2_orphan(hs, reset);
	gw_h2_flush(s);
}

/* ---- the carrier (gw_carrier.h) ----------------------------------------- */

static struct gw_carrier *
gw_h2_adopt(struct gw *gw, struct bufferevent *tls, SSL *ssl, char *err,
    size_t errlen)
{
	struct gw_h2	*s;

	(void)ssl;
	if ((s = gw_h2_new(gw, tls, err, errlen)) == NULL)
		return NULL;
	s->car.ops = &gw_h2_carrier;
	s->car.gw = gw;
	return &s->car;
}

static int
gw_h2_slots(const struct gw_carrier *car)
{
	const struct gw_h2	*s = (const struct gw_h2 *)car;
	uint32_t		 limit;

	if (!gw_h2_can_open(s))
		return 0;
	limit = nghttp2_session_get_remote_settings(s->ng,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) - (uint32_t)s->nstreams;
	return limit > INT_MAX ? INT_MAX : (int)limit;
}

static void
gw_h2_carrier_open(struct gw_carrier *car, struct gw_req *r)
{
	gw_h2_open((struct gw_h2 *)car, r);
}

static void
gw_h2_carrier_fetch(struct gw_carrier *car)
{
	gw_h2_fetch((struct gw_h2 *)car);
}

/* Streams may still be opening or open: the connection stays until the
 * gateway's memory goes. */
static void
gw_h2_carrier_release(struct gw_carrier *car)
{
	(void)car;
}

static void
gw_h2_carrier_free(struct gw_carrier *car, const char *reason)
{
	gw_h2_free((struct gw_h2 *)car, reason);
}

static void
gw_h2_carrier_shutdown(struct gw_stream *st)
{
	gw_h2_stream_shutdown(st->h2);
}

static void
gw_h2_carrier_close(struct gw_stream *st)
{
	gw_h2_stream_close(st->h2);	/* st lives inside it */
}

const struct gw_carrier_ops gw_h2_carrier = {
	.name = "h2",
	.multiplexed = 1,
	.wait_timeout = "no free stream to the gateway in time",
	.adopt = gw_h2_adopt,
	.slots = gw_h2_slots,
	.open = gw_h2_carrier_open,
	.cancel = gw_h2_cancel,
	.fetch = gw_h2_carrier_fetch,
	.release = gw_h2_carrier_release,
	.free = gw_h2_carrier_free,
	.stream_shutdown = gw_h2_carrier_shutdown,
	.stream_close = gw_h2_carrier_close,
};
