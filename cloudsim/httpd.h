/* httpd.h -- a small HTTP/1.1 server for JSON APIs and files (the control plane, its operator API, the package store): keep-alive, bounded heads and bodies, TLS or plain. */
#ifndef HTTPD_H
#define HTTPD_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>

#define HTTPD_PATH_MAX	512		/* a longer request target gets 414 */
#define HTTPD_ARGS	3		/* "{}" segments in one route pattern */
#define HTTPD_ARG_MAX	128		/* a longer segment matches no route */
#define HTTPD_HEADERS_MAX 512		/* extra answer header lines */

struct event_base;
struct httpd;
struct httpd_conn;

/* One request, whole, as the handler sees it, and the answer it gives. */
struct httpd_request {
	const char	*method;		/* "GET", "POST", ... */
	char		 path[HTTPD_PATH_MAX];	/* origin-form target without the query */
	const char	*body;			/* NUL-terminated; "" when there is none */
	size_t		 body_len;
	SSL		*ssl;			/* the TLS connection; NULL on plain HTTP */
	const char	*peer;			/* client address:port, for logs */
	/* The answer: set through httpd_reply() or httpd_error(). */
	int		 status;
	json_t		*answer;
	char		 allow[64];		/* 405: the Allow header; "" if none */
	char		 note[320];		/* for the log line: the error, or what was done */
	char		 args[HTTPD_ARGS][HTTPD_ARG_MAX];	/* the route's "{}" segments, in order */
	int		 nargs;
	char		 headers[HTTPD_HEADERS_MAX];	/* httpd_add_header(): "Name: value\r\n" lines */
	/* A file answer (httpd_reply_file) instead of JSON. */
	int		 has_file;
	int		 file_fd;		/* httpd owns it: closed when sent */
	uint64_t	 file_off;		/* the bytes sent: [file_off, file_off + file_len) */
	uint64_t	 file_len;
	const char	*content_type;		/* NULL: application/json */
	struct httpd_conn *conn;		/* its connection: httpd_header() */
};

/* Answers one request; it must call httpd_reply() or httpd_error(). */
typedef void	httpd_handler(void *arg, struct httpd_request *);

/* A row of an API's route table, which ends with a NULL method. */
struct httpd_route {
	const char	*method;
	const char	*pattern;	/* "/machines/{}/heartbeat": see httpd_path_match */
	void		(*fn)(void *arg, struct httpd_request *, const char *segment);
};

/*
 * Listens on addr and serves each request to handler.  With ctx, TLS with
 * that context (which the server then owns); without, plain HTTP.  Bodies
 * larger than max_body get 413.  name prefixes the log lines.
 */
struct httpd	*httpd_new(struct event_base *, const char *name,
		    const struct sockaddr *addr, int addrlen, SSL_CTX *ctx,
		    size_t max_body, httpd_handler *handler, void *arg, char *err,
		    size_t errlen);
/* Closes the listener; the connections go on until httpd_free. */
void		 httpd_stop(struct httpd *);
void		 httpd_free(struct httpd *);

/* The answer: status and a JSON body (the reference is taken; NULL: none). */
void		 httpd_reply(struct httpd_request *, int status, json_t *answer);
/*
 * The answer: status and len bytes of fd from off (a regular file), with
 * content_type; httpd owns fd from now on and streams the bytes as the
 * client reads (never all in memory).  A HEAD request gets the head only.
 */
void		 httpd_reply_file(struct httpd_request *, int status,
		    const char *content_type, int fd, uint64_t off, uint64_t len);
/* One more header line on the answer ("Name: value"); -1 when it does not fit. */
int		 httpd_add_header(struct httpd_request *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* The request's first header field called name (any case), copied NUL-terminated
 * to out: its length, or -1 when absent or longer than outlen - 1. */
int		 httpd_header(const struct httpd_request *, const char *name,
		    char *out, size_t outlen);
/* {"error": {"code": code, "message": ...}} with status. */
void		 httpd_error(struct httpd_request *, int status, const char *code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * The route for req's method and path, with the first "{}" segment in
 * segment and every one in req->args;
 * NULL when there is none, with 404 (no such path) or 405 (the path, but
 * not the method) answered.
 */
const struct httpd_route *httpd_route(const struct httpd_route *routes,
		    struct httpd_request *, char *segment, size_t seglen);
/*
 * Does path match pattern, where one "{}" segment stands for any non-empty
 * segment?  1 with that segment copied to arg (if any), else 0.
 */
int		 httpd_path_match(const char *path, const char *pattern, char *arg,
		    size_t arglen);

#endif
