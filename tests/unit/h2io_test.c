/* h2io_test.c -- lib/h2io: a client and a server nghttp2 session on a bufferevent pair, a body moved without a copy, backpressure, errors and the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "h2io.h"
#include "unit.h"

#define BODY_BYTES	(1 << 20)

/* One side: its session, its plumbing and what it saw. */
struct side {
	struct h2io		 io;
	struct evbuffer		*body;		/* what its stream sends */
	int			 eof;		/* body is all there */
	int			 deferred;	/* the data source waits */
	int32_t			 stream;
	size_t			 received;
	uint32_t		 sum;		/* of the bytes received, in order */
	size_t			 max_out;	/* the output's high-water mark seen */
	int			 status;	/* the client: :status */
	int			 ended;		/* END_STREAM received */
	int			 failed;	/* h2io_recv or flush error */
	int			 done;		/* h2io_flush said H2IO_DONE */
	struct evbuffer		*got;		/* the payloads, by h2io_add_data */
};

static ssize_t
on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	struct side	*s = arg;
	ssize_t		 rv;
	size_t		 out;

	(void)ng;
	(void)flags;
	rv = h2io_send(&s->io, data, len);
	out = evbuffer_get_length(bufferevent_get_output(s->io.bev));
	if (out > s->max_out)
		s->max_out = out;
	return rv;
}

static int
on_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
    size_t length, nghttp2_data_source *source, void *arg)
{
	struct side	*s = arg;
	int		 rv;
	size_t		 out;

	(void)ng;
	(void)frame;
	(void)source;
	rv = h2io_send_data(&s->io, framehd, s->body, length);
	out = evbuffer_get_length(bufferevent_get_output(s->io.bev));
	if (out > s->max_out)
		s->max_out = out;
	return rv;
}

static ssize_t
on_read_source(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	struct side	*s = arg;
	ssize_t		 n;

	(void)ng;
	(void)id;
	(void)buf;
	(void)source;
	if ((n = h2io_data_length(s->body, len, s->eof, flags)) ==
	    NGHTTP2_ERR_DEFERRED)
		s->deferred = 1;
	return n;
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
    void *arg)
{
	struct side	*s = arg;

	(void)ng;
	(void)frame;
	(void)flags;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3)
		s->status = atoi((const char *)value);
	return 0;
}

static int
on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
    size_t len, void *arg)
{
	struct side	*s = arg;
	size_t		 i;

	(void)flags;
	for (i = 0; i < len; i++)
		s->sum = s->sum * 31 + data[i];
	s->received += len;
	if (s->got != NULL && h2io_add_data(&s->io, s->got, data, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	/* No automatic WINDOW_UPDATE (h2io_session_new): we open the window. */
	nghttp2_session_consume(ng, id, len);
	return 0;
}

static int
on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct side	*s = arg;

	if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		s->ended = 1;
		s->stream = frame->hd.stream_id;
		/* The server answers once the request has ended. */
		if (!nghttp2_session_check_server_session(ng))
			return 0;
		{
			nghttp2_nv nv = { (uint8_t *)":status", (uint8_t *)"200",
			    7, 3, NGHTTP2_NV_FLAG_NONE };

			nghttp2_submit_response(ng, frame->hd.stream_id, &nv, 1, NULL);
		}
	}
	return 0;
}

static void
side_flush(struct side *s)
{
	int	rv;

	if (s->failed || s->done)
		return;
	if ((rv = h2io_flush(&s->io)) == H2IO_DONE)
		s->done = 1;
	else if (rv < 0)
		s->failed = rv;
}

static void
side_read(struct bufferevent *bev, void *arg)
{
	struct side	*s = arg;
	int		 rv = 0;

	(void)bev;
	while (!s->failed && (rv = h2io_recv(&s->io)) > 0)
		side_flush(s);
	if (rv < 0)
		s->failed = rv;
}

static void
side_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	side_flush(arg);
}

static void
side_init(struct side *s, struct bufferevent *bev, int server, size_t high)
{
	nghttp2_session_callbacks	*cb;
	nghttp2_session			*ng;
	nghttp2_settings_entry		 iv[] = {
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 256 * 1024 },
	};

	memset(s, 0, sizeof(*s));
	CU_ASSERT_EQUAL_FATAL(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	/* The connection's window: the whole body may be in flight. */
	ng = h2io_session_new(cb, server, s, iv, 1, BODY_BYTES * 2);
	nghttp2_session_callbacks_del(cb);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ng);
	CU_ASSERT_EQUAL(nghttp2_session_get_local_window_size(ng), BODY_BYTES * 2);
	h2io_init(&s->io, ng, bev, high);
	s->body = evbuffer_new();
	bufferevent_setcb(bev, side_read, side_write, NULL, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
side_free(struct side *s)
{
	nghttp2_session_del(s->io.ng);
	h2io_hold_off(&s->io);
	evbuffer_free(s->body);
}

/* A request with a body that arrives in two parts, the second after the
 * data source deferred; the server counts every byte in order. */
static void
test_body_both_ways(void)
{
	struct event_base	*base = event_base_new();
	struct bufferevent	*pair[2];
	struct side		 c, s;
	nghttp2_data_provider	 data;
	nghttp2_nv		 nv[4];
	unsigned char		*chunk;
	uint32_t		 want = 0;
	size_t			 i;
	int			 n;

	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair), 0);
	side_init(&c, pair[0], 0, 64 * 1024);
	side_init(&s, pair[1], 1, 64 * 1024);
	chunk = malloc(BODY_BYTES);
	for (i = 0; i < BODY_BYTES; i++) {
		chunk[i] = (unsigned char)(i * 7 + (i >> 12));
		want = want * 31 + chunk[i];
	}
	evbuffer_add(c.body, chunk, BODY_BYTES / 2);
	nv[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0 };
	nv[1] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 };
	nv[2] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)"t", 10, 1, 0 };
	nv[3] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)"/", 5, 1, 0 };
	data.source.ptr = &c;
	data.read_callback = on_read_source;
	CU_ASSERT_FATAL(nghttp2_submit_request(c.io.ng, NULL, nv, 4, &data,
	    NULL) > 0);
	side_flush(&c);
	for (n = 0; n < 1000 && !(c.deferred && s.received == BODY_BYTES / 2); n++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	/* Half the body is through, and the source waits for more. */
	CU_ASSERT_TRUE(c.deferred);
	CU_ASSERT_EQUAL(s.received, BODY_BYTES / 2);
	CU_ASSERT_FALSE(s.ended);
	evbuffer_add(c.body, chunk + BODY_BYTES / 2, BODY_BYTES / 2);
	c.eof = 1;
	c.deferred = 0;
	nghttp2_session_resume_data(c.io.ng, 1);
	side_flush(&c);
	for (n = 0; n < 1000 && c.status == 0; n++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(s.received, BODY_BYTES);
	CU_ASSERT_EQUAL(s.sum, want);
	CU_ASSERT_TRUE(s.ended);		/* END_STREAM after the last byte */
	CU_ASSERT_EQUAL(c.status, 200);
	CU_ASSERT_TRUE(c.ended);
	CU_ASSERT_EQUAL(evbuffer_get_length(c.body), 0);	/* moved, all of it */
	CU_ASSERT_FALSE(c.failed || s.failed);
	/* Backpressure: the output never held much more than the mark (a
	 * frame may start below it). */
	CU_ASSERT(c.max_out <= 64 * 1024 + 16384 + 9);
	/* GOAWAY both ways: the client's session is done once it is out. */
	nghttp2_session_terminate_session(c.io.ng, NGHTTP2_NO_ERROR);
	nghttp2_session_terminate_session(s.io.ng, NGHTTP2_NO_ERROR);
	side_flush(&s);
	side_flush(&c);
	for (n = 0; n < 100 && !c.done; n++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		side_flush(&c);
	}
	CU_ASSERT_TRUE(c.done);
	free(chunk);
	side_free(&c);
	side_free(&s);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);	/* deferred frees */
	event_base_free(base);
}

/* A peer that does not read: frames stop at the high mark (WOULDBLOCK),
 * and go on once the peer reads again. */
static void
test_backpressure(void)
{
	struct event_base	*base = event_base_new();
	struct bufferevent	*pair[2];
	struct side		 c;
	uint8_t			 frame[4096];
	ssize_t			 rv;
	int			 blocked = 0, i;

	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair), 0);
	side_init(&c, pair[0], 0, 16 * 1024);
	bufferevent_disable(pair[1], EV_READ);
	memset(frame, 0, sizeof(frame));
	for (i = 0; i < 100; i++) {
		if ((rv = h2io_send(&c.io, frame, sizeof(frame))) ==
		    NGHTTP2_ERR_WOULDBLOCK) {
			blocked = 1;
			break;
		}
		CU_ASSERT_EQUAL(rv, (ssize_t)sizeof(frame));
	}
	CU_ASSERT_TRUE(blocked);
	CU_ASSERT_EQUAL(evbuffer_get_length(bufferevent_get_output(pair[0])),
	    16 * 1024);
	CU_ASSERT_EQUAL(h2io_send_data(&c.io, frame, c.body, 0),
	    NGHTTP2_ERR_WOULDBLOCK);
	bufferevent_enable(pair[1], EV_READ);
	bufferevent_setcb(pair[1], NULL, NULL, NULL, NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(h2io_send(&c.io, frame, 10), 10);
	side_free(&c);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);	/* deferred frees */
	event_base_free(base);
}

/* Bytes that are no HTTP/2 preface: the server's recv reports the error. */
static void
test_bad_input(void)
{
	struct event_base	*base = event_base_new();
	struct bufferevent	*pair[2];
	struct side		 s;
	int			 n;

	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair), 0);
	side_init(&s, pair[1], 1, 64 * 1024);
	CU_ASSERT_EQUAL(h2io_recv(&s.io), 0);		/* nothing to read */
	bufferevent_write(pair[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	for (n = 0; n < 10 && !s.failed; n++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(s.failed, NGHTTP2_ERR_BAD_CLIENT_MAGIC);
	CU_ASSERT_FALSE(s.io.in_ng);
	side_free(&s);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);	/* deferred frees */
	event_base_free(base);
}

static void
test_data_length(void)
{
	struct evbuffer	*b = evbuffer_new();
	uint32_t	 flags = 0;

	CU_ASSERT_EQUAL(h2io_data_length(b, 100, 0, &flags), NGHTTP2_ERR_DEFERRED);
	CU_ASSERT_EQUAL(flags, 0);
	CU_ASSERT_EQUAL(h2io_data_length(b, 100, 1, &flags), 0);
	CU_ASSERT_EQUAL(flags, NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF);
	evbuffer_add(b, "0123456789", 10);
	flags = 0;
	CU_ASSERT_EQUAL(h2io_data_length(b, 4, 1, &flags), 4);
	CU_ASSERT_EQUAL(flags, NGHTTP2_DATA_FLAG_NO_COPY);	/* more to come */
	flags = 0;
	CU_ASSERT_EQUAL(h2io_data_length(b, 100, 0, &flags), 10);
	CU_ASSERT_EQUAL(flags, NGHTTP2_DATA_FLAG_NO_COPY);
	flags = 0;
	CU_ASSERT_EQUAL(h2io_data_length(b, 10, 1, &flags), 10);
	CU_ASSERT_EQUAL(flags, NGHTTP2_DATA_FLAG_NO_COPY | NGHTTP2_DATA_FLAG_EOF);
	evbuffer_free(b);
}

/* A DATA frame leaves as one piece, header and payload, of a TLS record's
 * size at most, though its bytes came in many small chains. */
static void
test_data_frame_one_piece(void)
{
	struct event_base	*base = event_base_new();
	struct bufferevent	*pair[2];
	struct evbuffer		*src = evbuffer_new(), *out;
	struct evbuffer_iovec	 v[4];
	struct side		 c;
	uint8_t			 hd[9], piece[1000], *p;
	ssize_t			 len;
	size_t			 i;
	int			 n, ok = 1;

	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, 0, pair), 0);
	side_init(&c, pair[0], 0, 1 << 20);
	bufferevent_disable(pair[1], EV_READ);		/* it all stays in out */
	for (i = 0; i < 40; i++) {
		memset(piece, (int)i, sizeof(piece));
		evbuffer_add(src, piece, sizeof(piece));
	}
	/* The payload fills a record with the header: 16384 - 9. */
	len = h2io_read_length(c.io.ng, NGHTTP2_DATA, 1, 1 << 20, 1 << 20,
	    16384, NULL);
	CU_ASSERT_EQUAL(len, 16384 - 9);
	CU_ASSERT_EQUAL(h2io_read_length(c.io.ng, NGHTTP2_DATA, 1, 1 << 20,
	    1 << 20, 1000, NULL), 1000);	/* the peer's smaller limit */
	memset(hd, 0xab, sizeof(hd));
	CU_ASSERT_EQUAL(h2io_send_data(&c.io, hd, src, (size_t)len), 0);
	out = bufferevent_get_output(pair[0]);
	CU_ASSERT_EQUAL(evbuffer_get_length(out), 16384);
	n = evbuffer_peek(out, -1, NULL, v, 4);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(evbuffer_get_length(src), 40 * 1000 - (size_t)len);
	if (n == 1) {
		p = v[0].iov_base;
		CU_ASSERT_EQUAL(memcmp(p, hd, 9), 0);
		for (i = 0; i < (size_t)len; i++)
			if (p[9 + i] != (uint8_t)(i / 1000))
				ok = 0;
		CU_ASSERT_TRUE(ok);	/* the source's bytes, in order */
	}
	evbuffer_free(src);
	side_free(&c);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_free(base);
}

/* The sum of n bytes taken from the front of b, on top of sum. */
static uint32_t
take_sum(struct evbuffer *b, size_t n, uint32_t sum)
{
	unsigned char	*p = malloc(n);
	size_t		 i;

	CU_ASSERT_EQUAL_FATAL(evbuffer_remove(b, p, n), (int)n);
	for (i = 0; i < n; i++)
		sum = sum * 31 + p[i];
	free(p);
	return sum;
}

/* A 1 MiB body through a server whose payloads go on with h2io_add_data,
 * holding at most max bytes of input: the bytes in order, and how much
 * input was held while all of them sat unread. */
static size_t
body_by_add_data(size_t max)
{
	struct event_base	*base = event_base_new();
	struct bufferevent	*pair[2];
	struct side		 c, s;
	nghttp2_data_provider	 data;
	nghttp2_nv		 nv[4];
	unsigned char		*chunk;
	uint32_t		 want = 0, sum;
	size_t			 i, held, half = BODY_BYTES / 2;
	int			 n;

	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair), 0);
	side_init(&c, pair[0], 0, 64 * 1024);
	side_init(&s, pair[1], 1, 64 * 1024);
	CU_ASSERT_EQUAL_FATAL(h2io_hold_on(&s.io, max), 0);
	s.got = evbuffer_new();
	chunk = malloc(BODY_BYTES);
	for (i = 0; i < BODY_BYTES; i++) {
		chunk[i] = (unsigned char)(i * 7 + (i >> 12));
		want = want * 31 + chunk[i];
	}
	evbuffer_add(c.body, chunk, BODY_BYTES);
	c.eof = 1;
	nv[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0 };
	nv[1] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 };
	nv[2] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)"t", 10, 1, 0 };
	nv[3] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)"/", 5, 1, 0 };
	data.source.ptr = &c;
	data.read_callback = on_read_source;
	CU_ASSERT_FATAL(nghttp2_submit_request(c.io.ng, NULL, nv, 4, &data,
	    NULL) > 0);
	side_flush(&c);
	for (n = 0; n < 1000 && !s.ended; n++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_TRUE(s.ended);
	CU_ASSERT_FALSE(c.failed || s.failed);
	CU_ASSERT_EQUAL(evbuffer_get_length(s.got), BODY_BYTES);
	held = h2io_held(&s.io);
	CU_ASSERT(held <= max + BODY_BYTES);
	/* Half taken: the held input shrinks with it, or stays none. */
	sum = take_sum(s.got, half, 0);
	CU_ASSERT(h2io_held(&s.io) < held || held == 0);
	/* The session ends before the rest is read: that rest stays good. */
	side_free(&s);
	side_free(&c);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);	/* deferred frees */
	sum = take_sum(s.got, BODY_BYTES - half, sum);
	CU_ASSERT_EQUAL(sum, want);
	CU_ASSERT_EQUAL(s.sum, want);
	evbuffer_free(s.got);		/* the last holders go with it */
	free(chunk);
	event_base_free(base);
	return held;
}

/* DATA payloads go on by reference into the input, not copied: the input
 * stays held while they are unread; with no room to hold, they are copied. */
static void
test_payload_by_reference(void)
{
	CU_ASSERT(body_by_add_data(16 << 20) >= BODY_BYTES / 2);
	CU_ASSERT_EQUAL(body_by_add_data(0), 0);
}

static const struct unit_test tests[] = {
	{ "a body both ways, deferred and resumed", test_body_both_ways },
	{ "backpressure at the high mark", test_backpressure },
	{ "bad input is nghttp2's error", test_bad_input },
	{ "data source lengths and flags", test_data_length },
	{ "DATA payloads by reference into the input", test_payload_by_reference },
	{ "a DATA frame in one piece, a record's size", test_data_frame_one_piece },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("h2io", tests);
}
