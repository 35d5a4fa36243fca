/* http.h -- HTTP/1.1 message framing on http-parser: heads parsed in place, bodies moved without a copy, heads rewritten for the next hop. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <http_parser.h>

#define HTTP_MAX_FIELDS	100

enum http_phase {
	HTTP_PHASE_HEAD,	/* head not complete yet */
	HTTP_PHASE_HEAD_READY,	/* head parsed; raw head still at the front of the input */
	HTTP_PHASE_BODY,	/* head consumed; body bytes being moved */
	HTTP_PHASE_DONE,	/* message complete; later bytes belong to the next one */
};

enum http_step {
	HTTP_STEP_MORE,		/* need more input */
	HTTP_STEP_HEAD,		/* head complete: see the accessors below */
	HTTP_STEP_DONE,		/* message complete */
	HTTP_STEP_ERROR,		/* malformed: see http_msg_error() */
	HTTP_STEP_TOO_LARGE,		/* head over the limit */
};

/* How a message's body ends, fixed once when its head completes. */
enum http_framing {
	HTTP_FRAMING_NONE,	/* no body */
	HTTP_FRAMING_LENGTH,	/* Content-Length bytes */
	HTTP_FRAMING_CHUNKED,	/* chunked, ended by the last chunk and trailers */
	HTTP_FRAMING_EOF,	/* a response body that ends when the peer closes */
};

struct http_span {
	uint32_t	off;		/* from the start of the raw head */
	uint32_t	len;
};

struct http_field {
	struct http_span	name;
	struct http_span	value;
	int			kind;	/* the name, as http.c reads it: set when the head completes */
};

struct http_msg {
	http_parser		 parser;
	enum http_phase		 phase;
	size_t			 parsed;	/* input bytes already fed in this phase */
	size_t			 head_len;	/* raw head length, once HEAD_READY */
	const char		*raw;		/* contiguous raw head, while HEAD_READY */
	enum http_framing	 framing;	/* recorded when the head completes */
	int			 keep_alive;	/* likewise: trailers change neither */
	int			 skip_body;	/* response to HEAD: no body whatever it says */
	int			 dechunk;	/* pass a chunked body without any framing */
	int			 client_http10;	/* the response goes to an HTTP/1.0 client */
	int			 chunk_state;	/* where the chunked framing filter is */
	int			 chunk_digits;	/* of the chunk size being read */
	uint64_t		 chunk_left;	/* chunk size, then data bytes still due */
	const char		*invalid;	/* why the head or body was refused */
	struct http_span	 url;		/* request target, or the reason phrase */
	struct http_field	 fields[HTTP_MAX_FIELDS];
	int			 nfields;
	int			 last_cb;	/* joins a token split across input segments */
	int			 too_many;	/* more than HTTP_MAX_FIELDS fields */
	int			 obs_fold;	/* a folded header line: rejected */
	int			 bad_field;	/* a field name that is not a token */
	int			 bad_version;	/* HTTP/x.y with x other than 1 */
	size_t			 seg_off;	/* offset of the segment being fed */
	const char		*seg;		/* the segment being fed */
};

void		 http_msg_init(struct http_msg *, enum http_parser_type);
/* Reads the head from the front of in: HTTP_STEP_MORE, HTTP_STEP_HEAD, HTTP_STEP_ERROR or HTTP_STEP_TOO_LARGE. */
enum http_step	 http_msg_head(struct http_msg *, struct evbuffer *in, size_t max_head);
/* Drops the raw head from in (the caller has rewritten it): HTTP_STEP_MORE (a body
 * follows), HTTP_STEP_DONE (none) or HTTP_STEP_ERROR (framing the parser refuses). */
enum http_step	 http_msg_head_consume(struct http_msg *, struct evbuffer *in);
/* Moves whole, checked body bytes from in to out: HTTP_STEP_MORE, HTTP_STEP_DONE or
 * HTTP_STEP_ERROR.  *moved gets the count of input bytes taken.  A chunked body
 * is chunked again from the parser's state (no extensions, no trailers), or with
 * m->dechunk passed without framing; other bodies move unchanged. */
enum http_step	 http_msg_body(struct http_msg *, struct evbuffer *in,
		    struct evbuffer *out, size_t *moved);
/* The peer closed: HTTP_STEP_DONE when that ends the message, else HTTP_STEP_ERROR. */
enum http_step	 http_msg_eof(struct http_msg *);
const char	*http_msg_error(const struct http_msg *);

/* The body's framing and keep-alive, recorded when the head completed and
 * valid from then on: never the parser's flags, which a trailer can change. */
enum http_framing http_msg_framing(const struct http_msg *);
int		 http_msg_keep_alive(const struct http_msg *);
int		 http_msg_body_until_eof(const struct http_msg *);

/* Whether a request with this method may be sent again without the client
 * asking (RFC 9110 9.2.2): GET, HEAD, OPTIONS, TRACE, PUT, DELETE. */
int		 http_method_idempotent(const char *method);

/* Head accessors, valid while HEAD_READY. */
const char	*http_msg_method(const struct http_msg *);
int		 http_msg_is_connect(const struct http_msg *);
int		 http_msg_is_upgrade(const struct http_msg *);
int		 http_msg_find(const struct http_msg *, const char *name,
		    const char **value, size_t *len);
/* How many field lines the head has of this name. */
int		 http_msg_count(const struct http_msg *, const char *name);
/* After HTTP_STEP_ERROR on a request: whether it failed on a method that
 * http-parser does not know, written as a token followed by a space at
 * the front of in (a request to answer 501, not 400: RFC 9110 9.1). */
int		 http_msg_unknown_method(const struct http_msg *,
		    struct evbuffer *in);

/*
 * Splits an absolute-form http:// target or a CONNECT authority into host
 * (NUL-terminated, normalized) and port, and for absolute-form the
 * origin-form path.  Returns 0, or -1 on malformed (errno-free) input and
 * -2 on a scheme other than http.
 */
struct http_target {
	char		 host[256];
	uint16_t	 port;
	const char	*path;		/* into the raw head; "/" when empty */
	size_t		 path_len;
	const char	*authority;	/* host[:port] as the client wrote it */
	size_t		 authority_len;
};
int	http_msg_target(const struct http_msg *, struct http_target *);

/* Writes the request head for the next hop: origin-form line, Host from the
 * target, hop-by-hop fields removed, Via added.  Content-Length and
 * Transfer-Encoding are written from the parser's state, never copied. */
int	http_write_request(const struct http_msg *, const struct http_target *,
	    struct evbuffer *out);
/* Writes the response head for the client, with Connection set for
 * keep_alive, or for an upgrade when upgrade is set.  The framing fields come
 * from the parser's state; with m->dechunk chunked goes (the body then ends
 * at close).  Returns -1, writing nothing (see http_msg_error()), for a
 * response that cannot go to the client: with m->client_http10, a transfer
 * coding other than chunked (RFC 9112 6.1); the caller answers 502. */
int	http_write_response(struct http_msg *, int keep_alive, int upgrade,
	    struct evbuffer *out);
/* A complete proxy-generated response with a short text body. */
int	http_write_error(struct evbuffer *out, int status, const char *reason,
	    const char *proxy_status, const char *details);
/* An OPTIONS or TRACE request's Max-Forwards (RFC 9110 7.6.2): 1 with
 * *hops, 0 when it has none (or is another method), -1 when it is not one
 * field of 1*DIGIT.  http_write_request() sends it on one less; at 0 the
 * proxy is the final recipient and answers with one of these two. */
int	http_msg_max_forwards(const struct http_msg *, unsigned long *hops);
int	http_write_options(struct evbuffer *out);
int	http_write_trace(struct evbuffer *out, const struct http_msg *);

/* Is token in the comma-separated list (case-insensitive)? */
int	http_token_in_list(const char *list, size_t len, const char *token,
	    size_t token_len);

#endif
