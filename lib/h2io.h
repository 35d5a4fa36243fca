/* h2io.h -- nghttp2 on a bufferevent: input fed to the session, frames written to the output under a high watermark, each DATA frame in one piece, sized to a full TLS record. */
#ifndef H2IO_H
#define H2IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

struct bufferevent;
struct evbuffer;

#define H2IO_DONE	1	/* h2io_flush: nothing to read or write any more */

struct h2io_pins;
struct h2io_hold;

/* One HTTP/2 connection's plumbing; the caller owns session and bufferevent. */
struct h2io {
	nghttp2_session		*ng;
	struct bufferevent	*bev;		/* the connection (TLS) */
	size_t			 high;		/* output bytes that stop frame writing */
	int			 in_ng;		/* inside nghttp2: no send from here */
	struct h2io_pins	*pins;		/* h2io_hold_on: input held, or NULL */
	struct h2io_hold	*hold;		/* inside h2io_recv: the input fed */
};

/* A client or server session on the caller's callbacks (user as their
 * argument) whose windows open only as the caller consumes (no automatic
 * WINDOW_UPDATE), with iv queued as our SETTINGS and the connection's
 * receive window set to conn_window.  NULL when out of memory. */
nghttp2_session *h2io_session_new(const nghttp2_session_callbacks *, int server,
	    void *user, const nghttp2_settings_entry *iv, size_t niv,
	    int32_t conn_window);
/* Binds ng to bev: frames stop at high bytes of output, and bev's write
 * callback runs once the output drains below half of it. */
void	h2io_init(struct h2io *, nghttp2_session *, struct bufferevent *,
	    size_t high);
/* Feeds what bev has read to nghttp2, at most eight chunks at a time: 1 when
 * it fed some (flush, then call again), 0 when the input is empty, or
 * nghttp2's error (< 0). */
int	h2io_recv(struct h2io *);
/* From now on h2io_recv moves the input it feeds into a holder (its chains,
 * no copy) so that h2io_add_data can hand DATA payloads on by reference:
 * the holder is freed once the last reference is written out, wherever it
 * went.  At most max bytes stay held that way; past that payloads are
 * copied.  -1 when out of memory. */
int	h2io_hold_on(struct h2io *, size_t max);
/* At the session's end: holders still referenced live on without it. */
void	h2io_hold_off(struct h2io *);
/* For nghttp2's on_data_chunk_recv callback: data to dst, by reference into
 * the held input when it is large enough to be worth pinning, else copied.
 * 0, or -1 when out of memory. */
int	h2io_add_data(struct h2io *, struct evbuffer *dst, const uint8_t *data,
	    size_t len);
/* Input bytes held by references (for tests and metrics). */
size_t	h2io_held(const struct h2io *);
/* Writes what nghttp2 has queued, as far as the output takes it: 0, nghttp2's
 * error (< 0), or H2IO_DONE when the session wants neither to read nor to
 * write and the output is empty.  Inside h2io_recv it does nothing. */
int	h2io_flush(struct h2io *);

/* For nghttp2's send callback: frames into the output, or WOULDBLOCK. */
ssize_t	h2io_send(struct h2io *, const uint8_t *data, size_t len);
/* For nghttp2's send_data callback: the frame header and length bytes of
 * src, together in one piece of the output, so that a frame of
 * h2io_read_length's size leaves as one full TLS record (one SSL_write and
 * one write(2), where a header apart is a record of its own).  0, WOULDBLOCK
 * or CALLBACK_FAILURE. */
int	h2io_send_data(struct h2io *, const uint8_t *framehd, struct evbuffer *src,
	    size_t length);
/* For nghttp2's data_source_read_length callback: DATA payloads of a TLS
 * record's 16 KiB less the frame header (or the peer's frame limit). */
ssize_t	h2io_read_length(nghttp2_session *, uint8_t frame_type, int32_t id,
	    int32_t conn_window, int32_t stream_window, uint32_t max_frame,
	    void *user);
/* For a data source reading src with NO_COPY: how much of len to send now,
 * EOF set once eof and src fits; NGHTTP2_ERR_DEFERRED when src is empty and
 * not at eof (resume the stream when bytes come). */
ssize_t	h2io_data_length(struct evbuffer *src, size_t len, int eof,
	    uint32_t *flags);

#endif
