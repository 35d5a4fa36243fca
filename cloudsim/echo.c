/* echo.c -- echo.cloudsim.test: a TLS HTTP/1.1 service that reflects requests, streams patterned bytes and hashes uploads. */
#include <sys/queue.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <http_parser.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "acceptor.h"
#include "addr.h"
#include "echo.h"
#include "log.h"
#include "simconf.h"
#include "tls.h"

#define ECHO_PATTERN_LEN	65536		/* byte i of every /bytes body is i & 0xff */
#define ECHO_REFILL_BYTES	(1 << 20)	/* queued per refill of a /bytes body */
#define ECHO_LOW_WATER		(256 << 10)	/* refill below this */
#define ECHO_HASH_SLICE		(16 << 20)	/* X-Sha256 work per loop turn */
#define ECHO_SHA_CACHE		8		/* remembered X-Sha256 values */
#define ECHO_MAX_HEAD		16384
#define ECHO_IDLE_MS		30000		/* TLS handshake, request head, keep-alive wait */
#define ECHO_SEND_TIMEOUT_MS	60000		/* a client that stops reading */
#define ECHO_LINGER_MS		1000
#define ECHO_MAX_SINGLE_IO	(128 * 1024)

/* A client connection; the comment on each state says what is true in it. */
enum echo_state {
	ECHO_HANDSHAKE,	/* TLS handshake running */
	ECHO_REQUEST,	/* reading a request head or body; nothing of its answer sent */
	ECHO_HASHING,	/* /bytes/N: computing X-Sha256 a slice per loop turn; reads paused */
	ECHO_SENDING,	/* /bytes/N: head sent, body queued as the client drains it; reads paused */
	ECHO_CLOSING,	/* the last response is queued; input is discarded */
	ECHO_LINGER,	/* response flushed, close_notify and FIN sent; waiting briefly for EOF */
};

/* The parser callback that ran last: a header token may arrive in pieces. */
enum echo_cb {
	ECHO_CB_NONE,
	ECHO_CB_FIELD,
	ECHO_CB_VALUE,
};

/* What a request asked for. */
enum echo_route {
	ECHO_REFLECT,	/* anything else: the request as JSON */
	ECHO_BYTES,	/* GET /bytes/N: N patterned bytes */
	ECHO_UPLOAD,	/* POST /upload: length and SHA-256 of the body */
};

struct echo_conn {
	TAILQ_ENTRY(echo_conn)	 entry;
	struct echo		*echo;
	enum echo_state		 state;
	struct bufferevent	*bev;
	http_parser		 parser;	/* across requests: it knows where each ends */
	size_t			 head_bytes;	/* of this request's head, against ECHO_MAX_HEAD */
	int			 head_done;	/* the head is complete and routed */
	int			 message_done;	/* the body is complete too */
	enum echo_cb		 last_cb;
	struct evbuffer		*url;		/* request target */
	struct evbuffer		*field;		/* header name being read */
	struct evbuffer		*value;		/* header value being read */
	json_t			*headers;	/* {name: value} so far */
	int			 expect_continue; /* "Expect: 100-continue" */
	EVP_MD_CTX		*sha;		/* the request body's, or X-Sha256's */
	struct event		*turn;		/* work for the next loop turn: a slice of
						 * X-Sha256, or requests already buffered */
	enum echo_route		 route;
	json_t			*reflect;	/* ECHO_REFLECT: the answer being built */
	int			 keep_alive;	/* the client allows another request */
	int			 head_only;	/* a HEAD request */
	int			 peer_eof;	/* the client sent EOF */
	int			 out_paused;	/* ECHO_REQUEST: answers pile up unread; reads paused */
	uint64_t		 body_length;
	uint64_t		 total;		/* ECHO_BYTES: N */
	uint64_t		 left;		/* ECHO_BYTES: bytes not queued yet, or not hashed yet */
	char			 peer[64];
};

TAILQ_HEAD(echo_conns, echo_conn);

struct echo_sha {
	int		 valid;
	uint64_t	 n;
	char		 hex[65];
};

struct echo {
	struct event_base	*base;
	SSL_CTX			*ctx;
	struct acceptor		*acceptor;
	unsigned char		*pattern;	/* ECHO_PATTERN_LEN bytes 0, 1, ... 255, 0, ... */
	struct echo_sha		 cache[ECHO_SHA_CACHE];
	int			 cache_next;
	struct echo_conns	 conns;
	struct timeval		 idle;
	struct timeval		 send_timeout;
	struct timeval		 linger;
};

static void	echo_conn_free(struct echo_conn *);
static void	echo_process(struct echo_conn *);
static int	echo_reset_request(struct echo_conn *);

static struct timeval
echo_ms(long ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

static const char *
echo_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 405: return "Method Not Allowed";
	case 500: return "Internal Server Error";
	default: return "Error";
	}
}

static void
echo_hex(const unsigned char *md, unsigned len, char *hex)
{
	static const char	digits[] = "0123456789abcdef";
	unsigned		i;

	for (i = 0; i < len; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[2 * len] = '\0';
}

static void
echo_sha_final(struct echo_conn *ec, char hex[65])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned	len = 0;

	EVP_DigestFinal_ex(ec->sha, md, &len);
	echo_hex(md, len, hex);
}

static void
echo_close_after(struct echo_conn *ec)
{
	ec->state = ECHO_CLOSING;
	bufferevent_setwatermark(ec->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(ec->bev, &ec->echo->idle, &ec->echo->send_timeout);
	bufferevent_enable(ec->bev, ec->peer_eof ? EV_WRITE : EV_READ | EV_WRITE);
}

static void
echo_reply(struct echo_conn *ec, int status, const char *type,
    const char *body, size_t len, const char *extra)
{
	struct evbuffer	*out = bufferevent_get_output(ec->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s%s\r\n", status, echo_reason(status), type, len,
	    ec->keep_alive ? "" : "Connection: close\r\n", extra ? extra : "");
	if (!ec->head_only)
		evbuffer_add(out, body, len);
}

/* An error answer; the connection closes after it. */
static void
echo_fail(struct echo_conn *ec, int status, const char *text, const char *extra)
{
	char	body[256];
	int	n;

	n = snprintf(body, sizeof(body), "%s\n", text);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	ec->keep_alive = 0;
	echo_reply(ec, status, "text/plain", body, (size_t)n, extra);
	log_debug("%s: %d %s", ec->peer, status, text);
	echo_close_after(ec);
}

/* The request is answered: read the next one, or close. */
static void
echo_next(struct echo_conn *ec)
{
	if (!ec->keep_alive || ec->peer_eof || echo_reset_request(ec) == -1) {
		echo_close_after(ec);
		return;
	}
	ec->state = ECHO_REQUEST;
	bufferevent_setwatermark(ec->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(ec->bev, &ec->echo->idle, &ec->echo->send_timeout);
	bufferevent_enable(ec->bev, EV_READ | EV_WRITE);
}

/* Queues the next part of a /bytes body; references, never copies. */
static void
echo_refill(struct echo_conn *ec)
{
	struct evbuffer	*out = bufferevent_get_output(ec->bev);
	struct timeval	 now = { 0, 0 };
	size_t		 n;

	while (ec->left > 0 && evbuffer_get_length(out) < ECHO_REFILL_BYTES) {
		n = ec->left < ECHO_PATTERN_LEN ? ec->left : ECHO_PATTERN_LEN;
		if (evbuffer_add_reference(out, ec->echo->pattern, n, NULL,
		    NULL) == -1)
			break;
		ec->left -= n;
	}
	if (ec->left > 0)
		return;
	echo_next(ec);
	/* A pipelined request may be waiting; not by recursion. */
	if (ec->state == ECHO_REQUEST)
		evtimer_add(ec->turn, &now);
}

static void
echo_send_bytes(struct echo_conn *ec, const char *hex)
{
	char	extra[96];

	snprintf(extra, sizeof(extra), "X-Sha256: %s\r\n", hex);
	evbuffer_add_printf(bufferevent_get_output(ec->bev), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Length: %llu\r\n"
	    "%s%s\r\n", (unsigned long long)ec->total,
	    ec->keep_alive ? "" : "Connection: close\r\n", extra);
	ec->left = ec->head_only ? 0 : ec->total;
	ec->state = ECHO_SENDING;
	bufferevent_set_timeouts(ec->bev, NULL, &ec->echo->send_timeout);
	bufferevent_setwatermark(ec->bev, EV_WRITE, ECHO_LOW_WATER, 0);
	bufferevent_enable(ec->bev, EV_WRITE);
	echo_refill(ec);
}

static const char *
echo_sha_cached(struct echo *e, uint64_t n)
{
	int	i;

	for (i = 0; i < ECHO_SHA_CACHE; i++)
		if (e->cache[i].valid && e->cache[i].n == n)
			return e->cache[i].hex;
	return NULL;
}

/* X-Sha256 of N patterned bytes, a slice per loop turn so that others run. */
static void
echo_hash_slice(struct echo_conn *ec)
{
	struct echo		*e = ec->echo;
	struct echo_sha		*slot;
	struct timeval		 now = { 0, 0 };
	uint64_t		 slice = ECHO_HASH_SLICE;
	size_t			 n;

	while (ec->left > 0 && slice > 0) {
		n = ec->left < ECHO_PATTERN_LEN ? ec->left : ECHO_PATTERN_LEN;
		EVP_DigestUpdate(ec->sha, e->pattern, n);
		ec->left -= n;
		slice -= n < slice ? n : slice;
	}
	if (ec->left > 0) {
		evtimer_add(ec->turn, &now);
		return;
	}
	slot = &e->cache[e->cache_next];
	e->cache_next = (e->cache_next + 1) % ECHO_SHA_CACHE;
	slot->valid = 1;
	slot->n = ec->total;
	echo_sha_final(ec, slot->hex);
	echo_send_bytes(ec, slot->hex);
}

static void
echo_on_turn(evutil_socket_t fd, short what, void *arg)
{
	struct echo_conn	*ec = arg;

	(void)fd;
	(void)what;
	if (ec->state == ECHO_HASHING)
		echo_hash_slice(ec);
	else if (ec->state == ECHO_REQUEST)
		echo_process(ec);
}

static void
echo_bytes(struct echo_conn *ec)
{
	struct timeval	 now = { 0, 0 };
	const char	*hex;

	if ((hex = echo_sha_cached(ec->echo, ec->total)) != NULL) {
		echo_send_bytes(ec, hex);
		return;
	}
	EVP_DigestInit_ex(ec->sha, EVP_sha256(), NULL);
	ec->left = ec->total;
	ec->state = ECHO_HASHING;
	bufferevent_disable(ec->bev, EV_READ);
	bufferevent_set_timeouts(ec->bev, NULL, NULL);
	evtimer_add(ec->turn, &now);
}

/* The whole request is in: answer it. */
static void
echo_respond(struct echo_conn *ec)
{
	json_t	*doc = NULL;
	char	 hex[65], *text;

	if (ec->route == ECHO_BYTES) {
		echo_bytes(ec);
		return;
	}
	echo_sha_final(ec, hex);
	if (ec->route == ECHO_UPLOAD)
		doc = json_pack("{s:I, s:s}", "length", (json_int_t)ec->body_length,
		    "sha256", hex);
	else if (ec->reflect != NULL &&
	    json_object_set_new(ec->reflect, "body_length",
	    json_integer((json_int_t)ec->body_length)) == 0 &&
	    json_object_set_new(ec->reflect, "body_sha256", json_string(hex)) == 0)
		doc = json_incref(ec->reflect);
	if (doc == NULL ||
	    (text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(doc);
		echo_fail(ec, 500, "cannot build the JSON answer", NULL);
		return;
	}
	json_decref(doc);
	echo_reply(ec, 200, "application/json", text, strlen(text), NULL);
	free(text);
	echo_next(ec);
}

/* A JSON string of bytes that may not be UTF-8. */
static json_t *
echo_json_string(const char *s, size_t len)
{
	json_t	*j;
	char	*copy;
	size_t	 i;

	if ((j = json_stringn(s, len)) != NULL)
		return j;
	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		copy[i] = (unsigned char)s[i] < 0x80 && s[i] != '\0' ? s[i] : '?';
	j = json_stringn(copy, len);
	free(copy);
	return j;
}

/* One header field is complete: into the JSON, lower-cased, repeats joined with ", ". */
static int
echo_commit_field(struct echo_conn *ec)
{
	char		 name[256];
	const char	*value, *old;
	size_t		 nlen = evbuffer_get_length(ec->field), vlen, olen, i;
	json_t		*j;
	char		*joined;
	int		 rc = -1;

	ec->last_cb = ECHO_CB_NONE;
	if (nlen == 0 || nlen >= sizeof(name))
		return -1;
	evbuffer_remove(ec->field, name, nlen);
	for (i = 0; i < nlen; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	name[nlen] = '\0';
	vlen = evbuffer_get_length(ec->value);
	if ((value = (const char *)evbuffer_pullup(ec->value, -1)) == NULL)
		value = "";
	if (strcmp(name, "expect") == 0 && vlen == 12 &&
	    strncasecmp(value, "100-continue", 12) == 0)
		ec->expect_continue = 1;
	if ((j = json_object_get(ec->headers, name)) != NULL) {
		old = json_string_value(j);
		olen = json_string_length(j);
		if ((joined = malloc(olen + 2 + vlen)) == NULL)
			goto done;
		memcpy(joined, old, olen);
		memcpy(joined + olen, ", ", 2);
		memcpy(joined + olen + 2, value, vlen);
		j = echo_json_string(joined, olen + 2 + vlen);
		free(joined);
	} else
		j = echo_json_string(value, vlen);
	if (j != NULL && json_object_set_new(ec->headers, name, j) == 0)
		rc = 0;
 done:
	evbuffer_drain(ec->value, vlen);
	return rc;
}

/* http-parser callbacks: collect the head, hash the body, stop after each part. */
static int
echo_on_url(http_parser *p, const char *at, size_t len)
{
	struct echo_conn	*ec = p->data;

	return evbuffer_add(ec->url, at, len);
}

static int
echo_on_field(http_parser *p, const char *at, size_t len)
{
	struct echo_conn	*ec = p->data;

	if (ec->last_cb == ECHO_CB_VALUE && echo_commit_field(ec) == -1)
		return -1;
	ec->last_cb = ECHO_CB_FIELD;
	return evbuffer_add(ec->field, at, len);
}

static int
echo_on_value(http_parser *p, const char *at, size_t len)
{
	struct echo_conn	*ec = p->data;

	ec->last_cb = ECHO_CB_VALUE;
	return evbuffer_add(ec->value, at, len);
}

static int
echo_on_headers_complete(http_parser *p)
{
	struct echo_conn	*ec = p->data;

	if (ec->last_cb == ECHO_CB_VALUE && echo_commit_field(ec) == -1)
		return -1;
	ec->head_done = 1;
	/* Route and answer 100-continue before any body byte. */
	http_parser_pause(p, 1);
	return 0;
}

static int
echo_on_body(http_parser *p, const char *at, size_t len)
{
	struct echo_conn	*ec = p->data;

	EVP_DigestUpdate(ec->sha, at, len);
	ec->body_length += len;
	return 0;
}

static int
echo_on_message_complete(http_parser *p)
{
	struct echo_conn	*ec = p->data;

	ec->message_done = 1;
	/* What follows belongs to the next request: not before this one is answered. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings echo_parser_settings = {
	.on_url = echo_on_url,
	.on_header_field = echo_on_field,
	.on_header_value = echo_on_value,
	.on_headers_complete = echo_on_headers_complete,
	.on_body = echo_on_body,
	.on_message_complete = echo_on_message_complete,
};

/* Decides the route from the head: 0, or the status of a refusal. */
static int
echo_route_head(struct echo_conn *ec, const char *url, size_t url_len,
    const char *method, uint64_t *bytes)
{
	char	digits[24], *end;
	size_t	path_len = 0;

	while (path_len < url_len && url[path_len] != '?')
		path_len++;
	if (path_len > 7 && memcmp(url, "/bytes/", 7) == 0) {
		ec->route = ECHO_BYTES;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return 405;
		if (path_len - 7 >= sizeof(digits))
			return 400;
		memcpy(digits, url + 7, path_len - 7);
		digits[path_len - 7] = '\0';
		if (!isdigit((unsigned char)digits[0]))
			return 400;
		errno = 0;
		*bytes = strtoull(digits, &end, 10);
		if (*end != '\0' || errno != 0 || *bytes > ECHO_BYTES_MAX)
			return 400;
		return 0;
	}
	if (path_len == 7 && memcmp(url, "/upload", 7) == 0) {
		ec->route = ECHO_UPLOAD;
		return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ?
		    0 : 405;
	}
	ec->route = ECHO_REFLECT;
	return 0;
}

/* The head is in: route it and say 100 Continue if asked; -1 when answered. */
static int
echo_begin(struct echo_conn *ec)
{
	const http_parser	*p = &ec->parser;
	const char		*method = http_method_str((enum http_method)p->method);
	const char		*url;
	size_t			 url_len = evbuffer_get_length(ec->url);
	uint64_t		 bytes = 0;
	int			 status, has_body;

	ec->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	ec->head_only = p->method == HTTP_HEAD;
	if ((url = (const char *)evbuffer_pullup(ec->url, -1)) == NULL ||
	    url[0] != '/') {
		echo_fail(ec, 400, "expected an origin-form target such as "
		    "/bytes/1024", NULL);
		return -1;
	}
	switch ((status = echo_route_head(ec, url, url_len, method, &bytes))) {
	case 0:
		break;
	case 405:
		echo_fail(ec, 405, ec->route == ECHO_BYTES ? "use GET" : "use POST",
		    ec->route == ECHO_BYTES ? "Allow: GET, HEAD\r\n" :
		    "Allow: POST, PUT\r\n");
		return -1;
	default:
		echo_fail(ec, status, "expected /bytes/N with N from 0 to "
		    "1073741824", NULL);
		return -1;
	}
	if (ec->route == ECHO_REFLECT &&
	    (json_object_set_new(ec->reflect, "method", json_string(method)) == -1 ||
	    json_object_set_new(ec->reflect, "path",
	    echo_json_string(url, url_len)) == -1 ||
	    json_object_set(ec->reflect, "headers", ec->headers) == -1)) {
		echo_fail(ec, 500, "cannot build the JSON answer", NULL);
		return -1;
	}
	ec->total = bytes;
	has_body = (p->flags & F_CHUNKED) ||
	    (p->content_length > 0 && p->content_length != ULLONG_MAX);
	if (ec->expect_continue && has_body)
		evbuffer_add_printf(bufferevent_get_output(ec->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	return 0;
}

/* Forgets the last request: the parser goes on with the next one. */
static int
echo_reset_request(struct echo_conn *ec)
{
	evbuffer_drain(ec->url, evbuffer_get_length(ec->url));
	evbuffer_drain(ec->field, evbuffer_get_length(ec->field));
	evbuffer_drain(ec->value, evbuffer_get_length(ec->value));
	json_decref(ec->headers);
	json_decref(ec->reflect);
	ec->headers = json_object();
	ec->reflect = json_object();
	ec->head_bytes = 0;
	ec->head_done = ec->message_done = ec->expect_continue = 0;
	ec->last_cb = ECHO_CB_NONE;
	ec->body_length = 0;
	EVP_DigestInit_ex(ec->sha, EVP_sha256(), NULL);
	return ec->headers != NULL && ec->reflect != NULL ? 0 : -1;
}

/* Reads requests while input lasts; each turn consumes input or returns. */
static void
echo_process(struct echo_conn *ec)
{
	struct evbuffer		*in = bufferevent_get_input(ec->bev);
	struct evbuffer_iovec	 vec;
	enum http_errno		 err;
	size_t			 len, done;

	while (ec->state == ECHO_REQUEST) {
		if (evbuffer_get_length(bufferevent_get_output(ec->bev)) >
		    ECHO_REFILL_BYTES) {
			/* Pipelined requests wait until the client reads. */
			ec->out_paused = 1;
			bufferevent_disable(ec->bev, EV_READ);
			bufferevent_setwatermark(ec->bev, EV_WRITE, ECHO_LOW_WATER, 0);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1 || vec.iov_len == 0)
			return;
		len = vec.iov_len;
		/* Feed one byte past the head limit at most: enough to see it. */
		if (!ec->head_done && len > ECHO_MAX_HEAD + 1 - ec->head_bytes)
			len = ECHO_MAX_HEAD + 1 - ec->head_bytes;
		done = http_parser_execute(&ec->parser, &echo_parser_settings,
		    vec.iov_base, len);
		evbuffer_drain(in, done);
		if (!ec->head_done)
			ec->head_bytes += done;
		err = HTTP_PARSER_ERRNO(&ec->parser);
		if (err == HPE_PAUSED) {
			http_parser_pause(&ec->parser, 0);
			if (ec->message_done)
				echo_respond(ec);
			else if (echo_begin(ec) == -1)
				return;
			continue;
		}
		if (err != HPE_OK) {
			echo_fail(ec, 400, err == HPE_HEADER_OVERFLOW ?
			    "request head too large" : http_errno_description(err),
			    NULL);
			return;
		}
		if (!ec->head_done && ec->head_bytes > ECHO_MAX_HEAD) {
			echo_fail(ec, 400, "request head too large", NULL);
			return;
		}
	}
}

static void
echo_on_read(struct bufferevent *bev, void *arg)
{
	struct echo_conn	*ec = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);

	if (ec->state == ECHO_CLOSING || ec->state == ECHO_LINGER)
		evbuffer_drain(in, evbuffer_get_length(in));
	else if (ec->state == ECHO_REQUEST)
		echo_process(ec);
}

static void
echo_on_write(struct bufferevent *bev, void *arg)
{
	struct echo_conn	*ec = arg;

	if (ec->state == ECHO_SENDING) {
		echo_refill(ec);
		return;
	}
	if (ec->state == ECHO_REQUEST && ec->out_paused) {
		ec->out_paused = 0;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (!ec->peer_eof)
			bufferevent_enable(bev, EV_READ);
		echo_process(ec);
		return;
	}
	if (ec->state != ECHO_CLOSING ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	tls_shutdown_write(bev);
	if (ec->peer_eof) {
		echo_conn_free(ec);
		return;
	}
	/* Linger so that a reset does not eat the response (unread input). */
	ec->state = ECHO_LINGER;
	bufferevent_set_timeouts(bev, &ec->echo->linger, NULL);
	bufferevent_enable(bev, EV_READ);
}

static void
echo_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct echo_conn	*ec = arg;
	char			 errs[256];
	int			 err = EVUTIL_SOCKET_ERROR();

	if (ec->state == ECHO_HANDSHAKE) {
		if (what & BEV_EVENT_CONNECTED) {
			ec->state = ECHO_REQUEST;
			bufferevent_set_max_single_read(bev, ECHO_MAX_SINGLE_IO);
			bufferevent_set_max_single_write(bev, ECHO_MAX_SINGLE_IO);
			echo_process(ec);
			return;
		}
		tls_bev_errors(bev, errs, sizeof(errs));
		if (errs[0] == '\0' && (what & BEV_EVENT_EOF))
			log_debug("%s: closed before the TLS handshake", ec->peer);
		else
			log_warnx("%s: TLS handshake failed: %s", ec->peer,
			    (what & BEV_EVENT_TIMEOUT) ? "timed out" : errs[0] ?
			    errs : evutil_socket_error_to_string(err));
		echo_conn_free(ec);
		return;
	}
	if ((what & BEV_EVENT_EOF) && ec->state != ECHO_LINGER) {
		/* The client is done sending; finish what it is owed. */
		ec->peer_eof = 1;
		bufferevent_disable(bev, EV_READ);
		bufferevent_enable(bev, EV_WRITE);
		if (ec->state != ECHO_REQUEST)
			return;
		if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
			echo_close_after(ec);
			return;
		}
	} else if (what & BEV_EVENT_ERROR) {
		tls_bev_errors(bev, errs, sizeof(errs));
		log_debug("%s: %s", ec->peer, errs[0] ? errs :
		    evutil_socket_error_to_string(err));
	}
	echo_conn_free(ec);
}

static void
echo_on_accept(void *arg, evutil_socket_t fd, struct sockaddr *peer, int peerlen)
{
	struct echo		*e = arg;
	struct echo_conn	*ec;

	(void)peerlen;
	if ((ec = calloc(1, sizeof(*ec))) == NULL) {
		log_warnx("out of memory; dropping a connection");
		close(fd);
		return;
	}
	ec->echo = e;
	ec->state = ECHO_HANDSHAKE;
	addr_format(peer, ec->peer, sizeof(ec->peer));
	http_parser_init(&ec->parser, HTTP_REQUEST);
	ec->parser.data = ec;
	TAILQ_INSERT_TAIL(&e->conns, ec, entry);
	if ((ec->url = evbuffer_new()) == NULL ||
	    (ec->field = evbuffer_new()) == NULL ||
	    (ec->value = evbuffer_new()) == NULL ||
	    (ec->sha = EVP_MD_CTX_new()) == NULL ||
	    (ec->turn = evtimer_new(e->base, echo_on_turn, ec)) == NULL ||
	    echo_reset_request(ec) == -1 ||
	    (ec->bev = tls_accept(e->base, e->ctx, fd, ec)) == NULL) {
		log_warnx("%s: out of memory; dropping the connection", ec->peer);
		close(fd);
		echo_conn_free(ec);
		return;
	}
	bufferevent_setcb(ec->bev, echo_on_read, echo_on_write, echo_on_event, ec);
	bufferevent_set_timeouts(ec->bev, &e->idle, &e->idle);
	bufferevent_enable(ec->bev, EV_READ | EV_WRITE);
}

static void
echo_conn_free(struct echo_conn *ec)
{
	TAILQ_REMOVE(&ec->echo->conns, ec, entry);
	if (ec->turn != NULL)
		event_free(ec->turn);
	if (ec->bev != NULL)
		bufferevent_free(ec->bev);
	if (ec->url != NULL)
		evbuffer_free(ec->url);
	if (ec->field != NULL)
		evbuffer_free(ec->field);
	if (ec->value != NULL)
		evbuffer_free(ec->value);
	EVP_MD_CTX_free(ec->sha);
	json_decref(ec->headers);
	json_decref(ec->reflect);
	free(ec);
}

SSL_CTX *
echo_tls(const struct simconf *cfg, char *err, size_t errlen)
{
	char	 cert[PATH_MAX], key[PATH_MAX];
	SSL_CTX	*ctx;

	snprintf(cert, sizeof(cert), "%s/services.crt", cfg->pki_dir);
	snprintf(key, sizeof(key), "%s/services.key", cfg->pki_dir);
	if ((ctx = tls_server_ctx(cert, key, err, errlen)) == NULL)
		return NULL;
	/* http/1.1, and every other client goes without ALPN. */
	tls_server_alpn(ctx, TLS_ALPN_HTTP11);
	return ctx;
}

static const struct acceptor_ops echo_accept_ops = {
	echo_on_accept, NULL, "echo"
};

struct echo *
echo_new(struct event_base *base, const struct simconf *cfg, char *err,
    size_t errlen)
{
	struct echo	*e;
	size_t		 i;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->pattern = malloc(ECHO_PATTERN_LEN)) == NULL) {
		snprintf(err, errlen, "echo: out of memory");
		goto fail;
	}
	for (i = 0; i < ECHO_PATTERN_LEN; i++)
		e->pattern[i] = (unsigned char)(i & 0xff);
	e->base = base;
	TAILQ_INIT(&e->conns);
	e->idle = echo_ms(ECHO_IDLE_MS);
	e->send_timeout = echo_ms(ECHO_SEND_TIMEOUT_MS);
	e->linger = echo_ms(ECHO_LINGER_MS);
	if ((e->ctx = echo_tls(cfg, err, errlen)) == NULL)
		goto fail;
	if ((e->acceptor = acceptor_new(base, &echo_accept_ops, e, err,
	    errlen)) == NULL || acceptor_listen(e->acceptor,
	    (const struct sockaddr *)&cfg->echo_listen, cfg->echo_listen_len, 0,
	    ACCEPTOR_BACKLOG, err, errlen) == -1)
		goto fail;
	return e;
 fail:
	echo_free(e);
	return NULL;
}

void
echo_free(struct echo *e)
{
	struct echo_conn	*ec;

	if (e == NULL)
		return;
	acceptor_free(e->acceptor);
	/* Connections first: their output may still reference the pattern. */
	while ((ec = TAILQ_FIRST(&e->conns)) != NULL)
		echo_conn_free(ec);
	SSL_CTX_free(e->ctx);
	free(e->pattern);
	free(e);
}
