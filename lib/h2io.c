/* h2io.c -- nghttp2 on a bufferevent: input fed to the session, frames written to the output under a high watermark, each DATA frame in one piece, sized to a full TLS record. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "h2io.h"

#define H2IO_CHUNKS	8	/* input chunks fed between two flushes */
#define H2IO_RECORD	16384	/* TLS's largest record (RFC 8446 5.1) */
#define H2IO_FRAME_HD	9	/* an HTTP/2 frame header (RFC 9113 4.1) */
#define H2IO_HOLD_MIN	16384	/* input worth holding: a record's at least */
#define H2IO_REF_MIN	4096	/* a payload worth a reference, not a copy */

nghttp2_session *
h2io_session_new(const nghttp2_session_callbacks *cb, int server, void *user,
    const nghttp2_settings_entry *iv, size_t niv, int32_t conn_window)
{
	nghttp2_option	*opt;
	nghttp2_session	*ng = NULL;
	int		 rv;

	if (nghttp2_option_new(&opt) != 0)
		return NULL;
	nghttp2_option_set_no_auto_window_update(opt, 1);
	rv = server ? nghttp2_session_server_new2(&ng, cb, user, opt) :
	    nghttp2_session_client_new2(&ng, cb, user, opt);
	nghttp2_option_del(opt);
	if (rv != 0)
		return NULL;
	if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
	    nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0,
	    conn_window) != 0) {
		nghttp2_session_del(ng);
		return NULL;
	}
	return ng;
}

void
h2io_init(struct h2io *io, nghttp2_session *ng, struct bufferevent *bev,
    size_t high)
{
	io->ng = ng;
	io->bev = bev;
	io->high = high;
	io->in_ng = 0;
	bufferevent_setwatermark(bev, EV_WRITE, high / 2, 0);
}

/*
 * Held input.  The chains h2io_recv feeds to nghttp2 move into a holder
 * (evbuffer_remove_buffer of whole chains: no copy); a DATA payload in them
 * goes on as an evbuffer reference that counts on the holder, and the
 * holder is freed with its last reference.  The pins count the bytes of
 * all a session's holders, which may outlive it in other buffers.  Counts
 * are atomic: the last reference may go in whichever thread frees it.
 */
struct h2io_pins {
	unsigned	 refs;		/* the session's, and one a holder */
	size_t		 bytes;		/* in live holders */
	size_t		 max;		/* past it, payloads are copied */
};

struct h2io_hold {
	struct evbuffer		*buf;
	size_t			 size;
	unsigned		 refs;	/* h2io_recv's, and one a reference */
	struct h2io_pins	*pins;
};

static void
h2io_pins_unref(struct h2io_pins *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(p);
}

static void
h2io_unhold(struct h2io_hold *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	__atomic_sub_fetch(&h->pins->bytes, h->size, __ATOMIC_RELAXED);
	h2io_pins_unref(h->pins);
	evbuffer_free(h->buf);
	free(h);
}

static void
h2io_hold_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	h2io_unhold(arg);
}

int
h2io_hold_on(struct h2io *io, size_t max)
{
	if (io->pins != NULL)
		return 0;
	if ((io->pins = calloc(1, sizeof(*io->pins))) == NULL)
		return -1;
	io->pins->refs = 1;
	io->pins->max = max;
	return 0;
}

void
h2io_hold_off(struct h2io *io)
{
	if (io->pins == NULL)
		return;
	h2io_pins_unref(io->pins);
	io->pins = NULL;
}

size_t
h2io_held(const struct h2io *io)
{
	return io->pins == NULL ? 0 :
	    __atomic_load_n(&io->pins->bytes, __ATOMIC_RELAXED);
}

/* The first total bytes of in (whole chains) moved into a new holder, or
 * NULL (then in keeps them and they are copied). */
static struct h2io_hold *
h2io_hold_new(struct h2io *io, struct evbuffer *in, size_t total)
{
	struct h2io_hold	*h;

	if (io->pins == NULL || total < H2IO_HOLD_MIN ||
	    __atomic_load_n(&io->pins->bytes, __ATOMIC_RELAXED) >= io->pins->max)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->buf = evbuffer_new()) == NULL ||
	    evbuffer_remove_buffer(in, h->buf, total) != (int)total) {
		/* Not moved, or moved in part: what moved is fed from h. */
		if (h->buf == NULL || evbuffer_get_length(h->buf) == 0) {
			if (h->buf != NULL)
				evbuffer_free(h->buf);
			free(h);
			return NULL;
		}
	}
	h->size = evbuffer_get_length(h->buf);
	h->refs = 1;
	h->pins = io->pins;
	__atomic_add_fetch(&io->pins->refs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&io->pins->bytes, h->size, __ATOMIC_RELAXED);
	return h;
}

int
h2io_add_data(struct h2io *io, struct evbuffer *dst, const uint8_t *data,
    size_t len)
{
	struct h2io_hold	*h = io->hold;

	if (h == NULL || len < H2IO_REF_MIN)
		return evbuffer_add(dst, data, len);
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
	if (evbuffer_add_reference(dst, data, len, h2io_hold_cleanup, h) == -1) {
		h2io_unhold(h);		/* not ours to free: h2io_recv holds it */
		return evbuffer_add(dst, data, len);
	}
	return 0;
}

/* Feeds nghttp2 what src holds in v[0..n), all or until an error. */
static ssize_t
h2io_feed(struct h2io *io, struct evbuffer_iovec *v, int n)
{
	ssize_t	rv;
	size_t	total = 0;
	int	i;

	io->in_ng = 1;
	for (i = 0; i < n; i++) {
		rv = nghttp2_session_mem_recv(io->ng, v[i].iov_base, v[i].iov_len);
		if (rv < 0) {
			io->in_ng = 0;
			return rv;
		}
		total += (size_t)rv;
	}
	io->in_ng = 0;
	return (ssize_t)total;
}

int
h2io_recv(struct h2io *io)
{
	struct evbuffer		*in = bufferevent_get_input(io->bev);
	struct evbuffer_iovec	 v[H2IO_CHUNKS];
	struct h2io_hold	*h;
	ssize_t			 rv;
	size_t			 total = 0;
	int			 n, i;

	if (evbuffer_get_length(in) == 0)
		return 0;
	if ((n = evbuffer_peek(in, -1, NULL, v, H2IO_CHUNKS)) > H2IO_CHUNKS)
		n = H2IO_CHUNKS;
	for (i = 0; i < n; i++)
		total += v[i].iov_len;
	if ((h = h2io_hold_new(io, in, total)) == NULL) {
		rv = h2io_feed(io, v, n);
		if (rv > 0)
			evbuffer_drain(in, (size_t)rv);
		return rv < 0 ? (int)rv : 1;
	}
	/* The chains moved whole: the same memory, now the holder's. */
	n = evbuffer_peek(h->buf, -1, NULL, v, H2IO_CHUNKS);
	io->hold = h;
	rv = n >= 1 && n <= H2IO_CHUNKS ? h2io_feed(io, v, n) :
	    NGHTTP2_ERR_CALLBACK_FAILURE;
	/* The holder keeps no unread rest: nothing here pauses nghttp2, so
	 * all is taken, and anything less would lose stream bytes. */
	if (rv >= 0 && (size_t)rv != h->size)
		rv = NGHTTP2_ERR_CALLBACK_FAILURE;
	io->hold = NULL;
	h2io_unhold(h);
	return rv < 0 ? (int)rv : 1;
}

int
h2io_flush(struct h2io *io)
{
	int	rv;

	if (io->in_ng)
		return 0;
	if ((rv = nghttp2_session_send(io->ng)) != 0)
		return rv;
	if (!nghttp2_session_want_read(io->ng) &&
	    !nghttp2_session_want_write(io->ng) &&
	    evbuffer_get_length(bufferevent_get_output(io->bev)) == 0)
		return H2IO_DONE;
	return 0;
}

ssize_t
h2io_send(struct h2io *io, const uint8_t *data, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(io->bev);

	if (evbuffer_get_length(out) >= io->high)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(out, data, len) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

int
h2io_send_data(struct h2io *io, const uint8_t *framehd, struct evbuffer *src,
    size_t length)
{
	struct evbuffer		*out = bufferevent_get_output(io->bev);
	struct evbuffer_iovec	 v;

	if (evbuffer_get_length(out) >= io->high)
		return NGHTTP2_ERR_WOULDBLOCK;
	/* One copy of the payload buys one record instead of two or more. */
	if (evbuffer_reserve_space(out, H2IO_FRAME_HD + length, &v, 1) != 1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	memcpy(v.iov_base, framehd, H2IO_FRAME_HD);
	if (length > 0 && evbuffer_remove(src, (char *)v.iov_base +
	    H2IO_FRAME_HD, length) != (int)length)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	v.iov_len = H2IO_FRAME_HD + length;
	if (evbuffer_commit_space(out, &v, 1) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

ssize_t
h2io_read_length(nghttp2_session *ng, uint8_t frame_type, int32_t id,
    int32_t conn_window, int32_t stream_window, uint32_t max_frame,
    void *user)
{
	uint32_t	n = H2IO_RECORD - H2IO_FRAME_HD;

	(void)ng;
	(void)frame_type;
	(void)id;
	(void)conn_window;
	(void)stream_window;
	(void)user;
	return (ssize_t)(max_frame < n ? max_frame : n);
}

ssize_t
h2io_data_length(struct evbuffer *src, size_t len, int eof, uint32_t *flags)
{
	size_t	avail = evbuffer_get_length(src);

	if (avail == 0 && !eof)
		return NGHTTP2_ERR_DEFERRED;
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (avail > len)
		return (ssize_t)len;
	if (eof)
		*flags |= NGHTTP2_DATA_FLAG_EOF;	/* END_STREAM: the half-close */
	return (ssize_t)avail;
}
