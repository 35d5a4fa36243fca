/* fuzz_http.h -- what the HTTP harnesses share: input cut into reads, a reference parse by a fresh http-parser, RFC 9112 checks, and arcproxy's use of lib/http.c replayed on one stream. */
#ifndef FUZZ_HTTP_H
#define FUZZ_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <http_parser.h>

#define FZ_MAX_MSGS	16	/* messages looked at in one input */
#define FZ_MAX_HEAD	4096	/* arcproxy's limit is 32768: smaller reaches it sooner */

/* The input arrives as a series of reads, cut where a hash of it says. */
struct fz_feed {
	const uint8_t	*data;
	size_t		 len;
	size_t		 added;		/* bytes handed to the buffer so far */
	uint64_t	 rng;
	int		 mode;		/* 0 all at once, 1 tiny reads, 2 mixed */
	struct evbuffer	*in;
};

void	fz_feed_init(struct fz_feed *, const uint8_t *, size_t, struct evbuffer *in,
	    int whole);
/* Adds the next read to the buffer: 1, or 0 when the input is used up. */
int	fz_feed_next(struct fz_feed *);

struct fz_buf {
	char	*p;
	size_t	 len, cap;
};

struct fz_field {
	struct fz_buf	name;
	struct fz_buf	value;
};

struct fz_msg {
	unsigned	 method;
	unsigned	 status;
	unsigned short	 major, minor;
	struct fz_buf	 url;		/* request target, or reason phrase */
	struct fz_field	*fields;
	int		 nfields;
	struct fz_field	*trailers;
	int		 ntrailers;
	struct fz_buf	 body;		/* payload, without chunked framing */
	int		 head_done;
	int		 complete;
	int		 upgrade;
	int		 chunked;
	int		 keep_alive;	/* as the reader sees it, at the end */
	size_t		 end;		/* with FZ_ONE: offset past the message */
};

#define FZ_ONE	0x1	/* stop after the first message */
#define FZ_HEAD	0x2	/* responses answer a HEAD request: no body */
#define FZ_EOF	0x4	/* the connection closes after the bytes */

struct fz_parse {
	http_parser	 parser;
	int		 flags;
	struct fz_msg	 msgs[FZ_MAX_MSGS];
	int		 n;
	int		 last_cb;
	enum http_errno	 error;		/* HPE_OK when every byte parsed */
	size_t		 consumed;
};

void	fz_parse(struct fz_parse *, enum http_parser_type, const char *, size_t,
	    int flags);
void	fz_parse_free(struct fz_parse *);

/* RFC 9112 7.1 chunked body, strictly: -1 invalid, 0 a valid prefix, 1 whole
 * (*end set past it). */
int	fz_chunked_valid(const char *, size_t, size_t *end);

/* Reports a broken property with the bytes involved, then aborts. */
void	fz_fail(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fz_show(const char *label, const void *data, size_t len);

/* What arcproxy's conn.c does with a client's request stream and an
 * upstream's response stream, checked message by message. */
void	fz_request_stream(const uint8_t *, size_t, int whole);
#define FZ_RESP_HEAD		0x1	/* the request was HEAD */
#define FZ_RESP_HTTP10		0x2	/* the client speaks HTTP/1.0 */
#define FZ_RESP_KEEP		0x4	/* the client asked to keep the connection */
#define FZ_RESP_UPGRADE		0x8	/* the request asked for an upgrade */
void	fz_response_stream(const uint8_t *, size_t, int ctx, int whole);

#endif
