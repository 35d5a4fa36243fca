/* h2io.c -- nghttp2 on a bufferevent: input fed to the session, frames written to the output under a high watermark, each DATA frame in one piece, sized to a full TLS record. */
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "h2io.h"

#define H2IO_CHUNKS	8	/* input chunks fed between two flushes */
#define H2IO_RECORD	16384	/* TLS's largest record (RFC 8446 5.1) */
#define H2IO_FRAME_HD	9	/* an HTTP/2 frame header (RFC 9113 4.1) */

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

int
h2io_recv(struct h2io *io)
{
	struct evbuffer		*in = bufferevent_get_input(io->bev);
	struct evbuffer_iovec	 v[H2IO_CHUNKS];
	ssize_t			 rv;
	size_t			 total = 0;
	int			 n, i;

	if (evbuffer_get_length(in) == 0)
		return 0;
	if ((n = evbuffer_peek(in, -1, NULL, v, H2IO_CHUNKS)) > H2IO_CHUNKS)
		n = H2IO_CHUNKS;
	io->in_ng = 1;
	for (i = 0; i < n; i++) {
		rv = nghttp2_session_mem_recv(io->ng, v[i].iov_base, v[i].iov_len);
		if (rv < 0) {
			io->in_ng = 0;
			return (int)rv;
		}
		total += (size_t)rv;
	}
	io->in_ng = 0;
	evbuffer_drain(in, total);
	return 1;
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
