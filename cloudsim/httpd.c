/* httpd.c -- a small HTTP/1.1 server for JSON APIs and files (the control plane, its operator API, the package store): keep-alive, bounded heads and bodies, TLS or plain. */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <jansson.h>

#include "acceptor.h"
#include "addr.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "tls.h"

#define HTTPD_MAX_HEAD		16384
#define HTTPD_IDLE_MS		30000	/* TLS handshake, each request, the keep-alive wait */
#define HTTPD_LINGER_MS		1000
#define HTTPD_MAX_UNREAD	(256 * 1024)	/* answers a client may leave unread */
#define HTTPD_FILE_SLICE	(1 << 20)	/* file bytes queued per refill */
#define HTTPD_FILE_LOW		(256 << 10)	/* refill below this */

/* A client connection; the comment on each state says what is true in it. */
enum httpd_state {
	HTTPD_HANDSHAKE,	/* TLS handshake running */
	HTTPD_HEAD,		/* reading the next request head; nothing of it answered */
	HTTPD_BODY,		/* head taken and checked; the body arrives in body */
	HTTPD_FILE,		/* answer head sent; file slices queued as the client
				 * drains them (file); reads paused */
	HTTPD_CLOSING,		/* the last answer is queued; input is discarded */
	HTTPD_LINGER,		/* answer flushed, our side shut; waiting briefly for EOF */
};

struct httpd_conn {
	TAILQ_ENTRY(httpd_conn)	 entry;
	struct httpd		*srv;
	enum httpd_state	 state;
	struct bufferevent	*bev;
	struct event		*deadline;	/* ends the state: handshake, request, close, linger */
	struct http_msg		 msg;
	struct evbuffer		*body;		/* the request body, dechunked */
	struct httpd_request	 req;		/* the request being read, then answered */
	char			*head;		/* a copy of its raw head: msg's fields point into it */
	struct evbuffer_file_segment *file;	/* HTTPD_FILE: the file being sent */
	uint64_t		 file_next;	/* its next byte to queue */
	uint64_t		 file_end;	/* and the end of the range */
	struct timeval		 started;	/* when its head was complete */
	int			 keep_alive;	/* the client allows another request */
	int			 peer_eof;	/* the client sent EOF */
	char			 peer[64];
};

TAILQ_HEAD(httpd_conns, httpd_conn);

struct httpd {
	struct event_base	*base;
	char			 name[32];	/* "control", "operator": log prefix */
	SSL_CTX			*ctx;		/* NULL: plain HTTP */
	struct acceptor		*acceptor;	/* NULL once stopped */
	struct acceptor_ops	 accept_ops;	/* lines named by name */
	size_t			 max_body;
	httpd_handler		*handler;
	void			*arg;
	struct httpd_conns	 conns;
	struct timeval		 idle;
	struct timeval		 linger;
};

static const struct {
	int		 status;
	const char	*text;
} httpd_reasons[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 206, "Partial Content" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 409, "Conflict" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 416, "Range Not Satisfiable" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
};

static void	httpd_conn_free(struct httpd_conn *);
static void	httpd_process(struct httpd_conn *);
static void	httpd_answered(struct httpd_conn *);
static int	httpd_feed(struct httpd_conn *);

static const char *
httpd_reason(int status)
{
	size_t	i;

	for (i = 0; i < sizeof(httpd_reasons) / sizeof(httpd_reasons[0]); i++)
		if (httpd_reasons[i].status == status)
			return httpd_reasons[i].text;
	return "Error";
}

static struct timeval
httpd_ms(long ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

void
httpd_reply(struct httpd_request *req, int status, json_t *answer)
{
	json_decref(req->answer);
	req->status = status;
	req->answer = answer;
}

void
httpd_reply_file(struct httpd_request *req, int status,
    const char *content_type, int fd, uint64_t off, uint64_t len)
{
	httpd_reply(req, status, NULL);
	if (req->has_file)
		close(req->file_fd);
	req->has_file = 1;
	req->file_fd = fd;
	req->file_off = off;
	req->file_len = len;
	req->content_type = content_type;
}

int
httpd_add_header(struct httpd_request *req, const char *fmt, ...)
{
	size_t	used = strlen(req->headers);
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(req->headers + used, sizeof(req->headers) - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= sizeof(req->headers) - used) {
		req->headers[used] = '\0';
		return -1;
	}
	memcpy(req->headers + used + n, "\r\n", 3);
	return 0;
}

int
httpd_header(const struct httpd_request *req, const char *name, char *out,
    size_t outlen)
{
	const struct httpd_conn	*c = req->conn;
	const struct http_field	*f;
	size_t			 len = strlen(name);
	int			 i;

	if (c == NULL || c->head == NULL)
		return -1;
	for (i = 0; i < c->msg.nfields; i++) {
		f = &c->msg.fields[i];
		if (f->name.len != len ||
		    strncasecmp(c->head + f->name.off, name, len) != 0)
			continue;
		if (f->value.len >= outlen)
			return -1;
		memcpy(out, c->head + f->value.off, f->value.len);
		out[f->value.len] = '\0';
		return (int)f->value.len;
	}
	return -1;
}

void
httpd_error(struct httpd_request *req, int status, const char *code,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(req->note, sizeof(req->note), fmt, ap);
	va_end(ap);
	httpd_reply(req, status, json_pack("{s:{s:s, s:s}}", "error", "code", code,
	    "message", req->note));
}

/* Matches path against pattern, each "{}" segment copied to args[i] (at
 * most nargs of them, each under HTTPD_ARG_MAX); the count in *found. */
static int
httpd_match_args(const char *path, const char *pattern,
    char args[][HTTPD_ARG_MAX], int nargs, int *found)
{
	const char	*seg;
	size_t		 n;
	int		 i = 0;

	while (*pattern != '\0') {
		if (strncmp(pattern, "{}", 2) == 0) {
			seg = path;
			while (*path != '\0' && *path != '/')
				path++;
			n = (size_t)(path - seg);
			if (n == 0 || n >= HTTPD_ARG_MAX || i >= nargs)
				return 0;
			memcpy(args[i], seg, n);
			args[i++][n] = '\0';
			pattern += 2;
			continue;
		}
		if (*path != *pattern)
			return 0;
		path++;
		pattern++;
	}
	*found = i;
	return *path == '\0';
}

int
httpd_path_match(const char *path, const char *pattern, char *arg, size_t arglen)
{
	char	args[HTTPD_ARGS][HTTPD_ARG_MAX];
	int	n;

	if (!httpd_match_args(path, pattern, args, HTTPD_ARGS, &n))
		return 0;
	if (arg != NULL && n > 0) {
		if (strlen(args[0]) >= arglen)
			return 0;
		memcpy(arg, args[0], strlen(args[0]) + 1);
	}
	return 1;
}

const struct httpd_route *
httpd_route(const struct httpd_route *routes, struct httpd_request *req,
    char *segment, size_t seglen)
{
	const struct httpd_route	*r;
	char				*allow = req->allow;
	size_t				 used = 0;

	allow[0] = '\0';
	for (r = routes; r->method != NULL; r++) {
		if (!httpd_match_args(req->path, r->pattern, req->args, HTTPD_ARGS,
		    &req->nargs) || (req->nargs > 0 &&
		    strlen(req->args[0]) >= seglen))
			continue;
		if (strcmp(r->method, req->method) == 0) {
			allow[0] = '\0';
			if (req->nargs > 0)
				memcpy(segment, req->args[0],
				    strlen(req->args[0]) + 1);
			else if (seglen > 0)
				segment[0] = '\0';
			return r;
		}
		if (used + strlen(r->method) + 3 < sizeof(req->allow))
			used += snprintf(allow + used, sizeof(req->allow) - used, "%s%s",
			    used > 0 ? ", " : "", r->method);
	}
	if (used == 0) {
		httpd_error(req, 404, "NotFound", "no such resource: %s", req->path);
		return NULL;
	}
	httpd_error(req, 405, "MethodNotAllowed", "%s %s: use %s", req->method,
	    req->path, allow);
	return NULL;
}

static long long
httpd_elapsed_ms(const struct timeval *since)
{
	struct timeval	now, d;

	gettimeofday(&now, NULL);
	timersub(&now, since, &d);
	return (long long)d.tv_sec * 1000 + d.tv_usec / 1000;
}

/* Writes the answer to the request being served, and its log line. */
static void
httpd_send(struct httpd_conn *c)
{
	struct httpd_request	*req = &c->req;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	char			*text = NULL;
	uint64_t		 len = 0;
	int			 head_only;

	if (req->status == 0)
		httpd_error(req, 500, "InternalError", "the request got no answer");
	head_only = req->method != NULL && strcmp(req->method, "HEAD") == 0;
	if (req->has_file)
		len = req->file_len;
	else if (req->answer != NULL &&
	    (text = json_dumps(req->answer, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		req->status = 500;
		snprintf(req->note, sizeof(req->note), "cannot encode the answer");
	}
	if (text != NULL)
		len = strlen(text) + 1;		/* and a newline, for terminals */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %llu\r\n"
	    "%s"
	    "%s%s%s%s%s\r\n", req->status, httpd_reason(req->status),
	    req->content_type != NULL ? req->content_type : "application/json",
	    (unsigned long long)len,
	    req->has_file ? "" : "Cache-Control: no-store\r\n",
	    c->keep_alive ? "" : "Connection: close\r\n",
	    req->allow[0] != '\0' ? "Allow: " : "", req->allow,
	    req->allow[0] != '\0' ? "\r\n" : "", req->headers);
	if (text != NULL && !head_only) {
		evbuffer_add(out, text, len - 1);
		evbuffer_add(out, "\n", 1);
	}
	free(text);
	if (req->has_file && !head_only && len > 0) {
		/* The segment owns the fd from here; slices are queued as the
		 * client drains them (mapped, never read into memory whole). */
		if ((c->file = evbuffer_file_segment_new(req->file_fd,
		    (ev_off_t)req->file_off, (ev_off_t)len,
		    EVBUF_FS_CLOSE_ON_FREE)) == NULL) {
			close(req->file_fd);
			c->keep_alive = 0;	/* the head promised bytes that will not come */
			log_warnx("%s %s: cannot map the file to send", c->srv->name,
			    c->peer);
		}
		c->file_next = 0;
		c->file_end = len;
		req->has_file = 0;
	} else if (req->has_file) {
		close(req->file_fd);
		req->has_file = 0;
	}
	log_info("%s %s %s %s %d ms=%lld%s%s", c->srv->name, c->peer,
	    req->method != NULL ? req->method : "-",
	    req->path[0] != '\0' ? req->path : "-", req->status,
	    httpd_elapsed_ms(&c->started), req->note[0] != '\0' ? ": " : "",
	    req->note);
}

/* Forgets the request just answered. */
static void
httpd_reset_request(struct httpd_conn *c)
{
	json_decref(c->req.answer);
	if (c->req.has_file)
		close(c->req.file_fd);
	memset(&c->req, 0, sizeof(c->req));
	c->req.peer = c->peer;
	c->req.conn = c;
	free(c->head);
	c->head = NULL;
	timerclear(&c->started);
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
	http_msg_init(&c->msg, HTTP_REQUEST);
}

/* Queues nothing more: the output drains, then the connection closes. */
static void
httpd_close_after(struct httpd_conn *c)
{
	c->state = HTTPD_CLOSING;
	evtimer_add(c->deadline, &c->srv->idle);
	bufferevent_enable(c->bev, c->peer_eof ? EV_WRITE : EV_READ | EV_WRITE);
}

/* A request we refuse before the handler sees it; the connection closes. */
static void
httpd_fail(struct httpd_conn *c, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
httpd_fail(struct httpd_conn *c, int status, const char *code,
    const char *fmt, ...)
{
	char	text[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!timerisset(&c->started))
		gettimeofday(&c->started, NULL);
	c->keep_alive = 0;
	httpd_error(&c->req, status, code, "%s", text);
	httpd_send(c);
	httpd_close_after(c);
}

/* The whole request is in: the handler answers it, then the next one. */
static void
httpd_dispatch(struct httpd_conn *c)
{
	struct httpd_request	*req = &c->req;
	struct httpd		*srv = c->srv;

	if (evbuffer_add(c->body, "", 1) == -1 ||
	    (req->body = (const char *)evbuffer_pullup(c->body, -1)) == NULL) {
		httpd_fail(c, 500, "InternalError", "out of memory");
		return;
	}
	req->body_len = evbuffer_get_length(c->body) - 1;
	req->ssl = srv->ctx != NULL ? bufferevent_openssl_get_ssl(c->bev) : NULL;
	srv->handler(srv->arg, req);
	httpd_send(c);
	if (c->file != NULL) {
		c->state = HTTPD_FILE;
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setwatermark(c->bev, EV_WRITE, HTTPD_FILE_LOW, 0);
		if (httpd_feed(c) == 0)
			return;		/* httpd_on_write goes on */
	}
	httpd_answered(c);
}

/* The answer is queued whole: the next request, or the close. */
static void
httpd_answered(struct httpd_conn *c)
{
	if (!c->keep_alive || c->peer_eof) {
		httpd_close_after(c);
		return;
	}
	httpd_reset_request(c);
	c->state = HTTPD_HEAD;
	evtimer_add(c->deadline, &c->srv->idle);
}

/*
 * Queues file slices until the output holds HTTPD_FILE_SLICE bytes: 1 when
 * the whole range is queued (the segment is let go), 0 when more is due.
 */
static int
httpd_feed(struct httpd_conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	uint64_t	 n;

	while (c->file_next < c->file_end &&
	    evbuffer_get_length(out) < HTTPD_FILE_SLICE) {
		n = c->file_end - c->file_next;
		if (n > HTTPD_FILE_SLICE)
			n = HTTPD_FILE_SLICE;
		if (evbuffer_add_file_segment(out, c->file, (ev_off_t)c->file_next,
		    (ev_off_t)n) == -1) {
			log_warnx("%s %s: cannot queue the file; closing",
			    c->srv->name, c->peer);
			c->keep_alive = 0;
			c->file_next = c->file_end;	/* the client sees a short body */
			break;
		}
		c->file_next += n;
	}
	/* A client that reads nothing for the idle time is dropped. */
	evtimer_add(c->deadline, &c->srv->idle);
	if (c->file_next < c->file_end)
		return 0;
	evbuffer_file_segment_free(c->file);
	c->file = NULL;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	return 1;
}

/* The head is complete: check it and take it from the input. */
static void
httpd_begin(struct httpd_conn *c, struct evbuffer *in)
{
	struct http_msg	*m = &c->msg;
	const char	*url = m->raw + m->url.off, *expect;
	size_t		 path_len = 0, expect_len;
	uint64_t	 length = m->parser.content_length;
	int		 chunked = (m->parser.flags & F_CHUNKED) != 0;

	gettimeofday(&c->started, NULL);
	if ((c->head = malloc(m->head_len)) == NULL) {
		httpd_fail(c, 500, "InternalError", "out of memory");
		return;
	}
	memcpy(c->head, m->raw, m->head_len);
	c->req.method = http_msg_method(m);
	c->keep_alive = http_msg_keep_alive(m);
	while (path_len < m->url.len && url[path_len] != '?')
		path_len++;
	if (path_len < sizeof(c->req.path)) {
		memcpy(c->req.path, url, path_len);
		c->req.path[path_len] = '\0';
	}
	if (http_msg_is_connect(m) || m->url.len == 0 || url[0] != '/') {
		httpd_fail(c, 400, "InvalidRequest", "expected an origin-form "
		    "target such as /machines/register");
		return;
	}
	if (path_len >= sizeof(c->req.path)) {
		httpd_fail(c, 414, "UriTooLong", "the request target is longer "
		    "than %d bytes", HTTPD_PATH_MAX - 1);
		return;
	}
	if (http_msg_is_upgrade(m)) {
		httpd_fail(c, 400, "InvalidRequest", "protocol upgrades are not "
		    "served here");
		return;
	}
	if (!chunked && length != ULLONG_MAX && length > c->srv->max_body) {
		httpd_fail(c, 413, "PayloadTooLarge", "the body has %llu bytes; "
		    "at most %zu are taken", (unsigned long long)length,
		    c->srv->max_body);
		return;
	}
	if ((chunked || (length != ULLONG_MAX && length > 0)) &&
	    http_msg_find(m, "expect", &expect, &expect_len) &&
	    expect_len == 12 && strncasecmp(expect, "100-continue", 12) == 0)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	m->dechunk = 1;		/* the body arrives in c->body, unframed */
	if (http_msg_head_consume(m, in) == HTTP_STEP_DONE)
		httpd_dispatch(c);
	else
		c->state = HTTPD_BODY;
}

/* Reads requests while input lasts; each turn consumes input or returns. */
static void
httpd_process(struct httpd_conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 moved;

	while (c->state == HTTPD_HEAD || c->state == HTTPD_BODY) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
		    HTTPD_MAX_UNREAD) {
			/* Pipelined requests wait until the client reads. */
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		if (c->state == HTTPD_HEAD) {
			switch (http_msg_head(&c->msg, in, HTTPD_MAX_HEAD)) {
			case HTTP_STEP_MORE:
				return;
			case HTTP_STEP_HEAD:
				httpd_begin(c, in);
				continue;
			case HTTP_STEP_TOO_LARGE:
				httpd_fail(c, 431, "HeaderTooLarge", "the request "
				    "head is larger than %d bytes", HTTPD_MAX_HEAD);
				return;
			default:
				httpd_fail(c, 400, "InvalidRequest", "malformed "
				    "request: %s", http_msg_error(&c->msg));
				return;
			}
		}
		switch (http_msg_body(&c->msg, in, c->body, &moved)) {
		case HTTP_STEP_ERROR:
			httpd_fail(c, 400, "InvalidRequest", "malformed body: %s",
			    http_msg_error(&c->msg));
			return;
		case HTTP_STEP_DONE:
			if (evbuffer_get_length(c->body) <= c->srv->max_body) {
				httpd_dispatch(c);
				continue;
			}
			break;
		default:
			break;
		}
		if (evbuffer_get_length(c->body) > c->srv->max_body) {
			httpd_fail(c, 413, "PayloadTooLarge", "the body is larger "
			    "than %zu bytes", c->srv->max_body);
			return;
		}
		if (moved == 0)
			return;
	}
}

static void
httpd_on_read(struct bufferevent *bev, void *arg)
{
	struct httpd_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);

	if (c->state == HTTPD_CLOSING || c->state == HTTPD_LINGER)
		evbuffer_drain(in, evbuffer_get_length(in));
	else
		httpd_process(c);
}

static void
httpd_on_write(struct bufferevent *bev, void *arg)
{
	struct httpd_conn	*c = arg;

	if (c->state == HTTPD_FILE) {
		if (httpd_feed(c) == 0)
			return;
		httpd_answered(c);
		if (c->state == HTTPD_HEAD) {
			bufferevent_enable(bev, EV_READ);
			httpd_process(c);	/* requests that came meanwhile */
		}
		return;
	}
	if ((c->state == HTTPD_HEAD || c->state == HTTPD_BODY) && !c->peer_eof &&
	    !(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);	/* the answers drained */
		httpd_process(c);
		return;
	}
	if (c->state != HTTPD_CLOSING ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	tls_shutdown_write(bev);
	if (c->peer_eof) {
		httpd_conn_free(c);
		return;
	}
	/* Linger so that a reset does not eat the answer (unread input). */
	c->state = HTTPD_LINGER;
	evtimer_add(c->deadline, &c->srv->linger);
	bufferevent_enable(bev, EV_READ);
}

static void
httpd_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct httpd_conn	*c = arg;
	char			 errs[256];
	int			 err = EVUTIL_SOCKET_ERROR();

	if (c->state == HTTPD_HANDSHAKE) {
		if (what & BEV_EVENT_CONNECTED) {
			c->state = HTTPD_HEAD;
			evtimer_add(c->deadline, &c->srv->idle);
			httpd_process(c);
			return;
		}
		tls_bev_errors(bev, errs, sizeof(errs));
		if (errs[0] == '\0' && (what & BEV_EVENT_EOF))
			log_debug("%s %s: closed before the TLS handshake",
			    c->srv->name, c->peer);
		else
			log_warnx("%s %s: TLS handshake failed: %s", c->srv->name,
			    c->peer, errs[0] ? errs : evutil_socket_error_to_string(err));
		httpd_conn_free(c);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->state != HTTPD_LINGER &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* The client is done sending; it still gets its answers. */
		c->peer_eof = 1;
		bufferevent_disable(bev, EV_READ);
		if (c->state != HTTPD_CLOSING)
			httpd_close_after(c);
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	if (c->state == HTTPD_BODY)
		log_debug("%s %s: the client left in the middle of a body",
		    c->srv->name, c->peer);
	if (what & BEV_EVENT_ERROR) {
		tls_bev_errors(bev, errs, sizeof(errs));
		log_debug("%s %s: %s", c->srv->name, c->peer, errs[0] ? errs :
		    evutil_socket_error_to_string(err));
	}
	httpd_conn_free(c);
}

/* The state's time is up. */
static void
httpd_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->state == HTTPD_HANDSHAKE)
		log_warnx("%s %s: TLS handshake timed out", c->srv->name, c->peer);
	else if (c->state == HTTPD_HEAD || c->state == HTTPD_BODY)
		log_debug("%s %s: no whole request within %d ms, closing",
		    c->srv->name, c->peer, HTTPD_IDLE_MS);
	else if (c->state == HTTPD_FILE)
		log_info("%s %s: the client read nothing for %d ms; closing in the "
		    "middle of a file", c->srv->name, c->peer, HTTPD_IDLE_MS);
	httpd_conn_free(c);
}

static void
httpd_on_accept(void *arg, evutil_socket_t fd, struct sockaddr *peer, int peerlen)
{
	struct httpd		*srv = arg;
	struct httpd_conn	*c;

	(void)peerlen;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("%s: out of memory; dropping a connection", srv->name);
		close(fd);
		return;
	}
	c->srv = srv;
	c->state = srv->ctx != NULL ? HTTPD_HANDSHAKE : HTTPD_HEAD;
	addr_format(peer, c->peer, sizeof(c->peer));
	c->req.peer = c->peer;
	c->req.conn = c;
	http_msg_init(&c->msg, HTTP_REQUEST);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	if ((c->deadline = evtimer_new(srv->base, httpd_on_deadline, c)) == NULL ||
	    (c->body = evbuffer_new()) == NULL ||
	    (c->bev = srv->ctx != NULL ? tls_accept(srv->base, srv->ctx, fd, c) :
	    bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("%s %s: out of memory; dropping the connection",
		    srv->name, c->peer);
		close(fd);
		httpd_conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, httpd_on_read, httpd_on_write, httpd_on_event, c);
	evtimer_add(c->deadline, &srv->idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
httpd_conn_free(struct httpd_conn *c)
{
	TAILQ_REMOVE(&c->srv->conns, c, entry);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->body != NULL)
		evbuffer_free(c->body);
	json_decref(c->req.answer);
	if (c->req.has_file)
		close(c->req.file_fd);
	if (c->file != NULL)
		evbuffer_file_segment_free(c->file);
	free(c->head);
	free(c);
}

struct httpd *
httpd_new(struct event_base *base, const char *name, const struct sockaddr *addr,
    int addrlen, SSL_CTX *ctx, size_t max_body, httpd_handler *handler,
    void *arg, char *err, size_t errlen)
{
	struct httpd	*srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		SSL_CTX_free(ctx);
		return NULL;
	}
	srv->base = base;
	snprintf(srv->name, sizeof(srv->name), "%s", name);
	srv->ctx = ctx;
	srv->max_body = max_body;
	srv->handler = handler;
	srv->arg = arg;
	srv->idle = httpd_ms(HTTPD_IDLE_MS);
	srv->linger = httpd_ms(HTTPD_LINGER_MS);
	TAILQ_INIT(&srv->conns);
	srv->accept_ops.accepted = httpd_on_accept;
	srv->accept_ops.name = srv->name;
	if ((srv->acceptor = acceptor_new(base, &srv->accept_ops, srv, err,
	    errlen)) == NULL || acceptor_listen(srv->acceptor, addr,
	    (socklen_t)addrlen, 0, ACCEPTOR_BACKLOG, err, errlen) == -1) {
		httpd_free(srv);
		return NULL;
	}
	return srv;
}

void
httpd_stop(struct httpd *srv)
{
	if (srv == NULL)
		return;
	acceptor_free(srv->acceptor);
	srv->acceptor = NULL;
}

void
httpd_free(struct httpd *srv)
{
	struct httpd_conn	*c;

	if (srv == NULL)
		return;
	acceptor_free(srv->acceptor);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		httpd_conn_free(c);
	SSL_CTX_free(srv->ctx);
	free(srv);
}
