/* connect.h -- one HTTP CONNECT over a bufferevent (to the gateway, or through an enterprise proxy): the request, the answer's head, its status as a result. */
#ifndef CONNECT_H
#define CONNECT_H

#include <stdint.h>

#define CONNECT_MAX_HEAD	16384	/* a longer answer head is malformed */

struct bufferevent;
struct connect_handshake;

/* What the answer means to the caller. */
enum connect_result {
	CONNECT_OPEN,		/* 200: the bufferevent carries the tunnel now */
	CONNECT_DENIED,		/* 403: the peer refuses this destination */
	CONNECT_AUTH,		/* 407: the proxy wants credentials */
	CONNECT_UNREACHABLE,	/* 502 or 503: the peer could not reach it */
	CONNECT_TIMEOUT,	/* 504: the peer gave up reaching it */
	CONNECT_REFUSED,	/* any other status */
	CONNECT_CLOSED,		/* EOF or an error before a status arrived */
	CONNECT_MALFORMED,	/* the answer is not HTTP, or its head is too long */
};

/* Called once, from the bufferevent's callbacks; the bufferevent's callbacks
 * are cleared first.  reason is a short text for logs and error pages (the
 * status line, then Proxy-Status or the first line of a text/plain body),
 * valid until connect_free(). */
typedef void connect_cb(enum connect_result, int status, const char *reason,
	    void *arg);

/* Writes "CONNECT host:port HTTP/1.1" (an IPv6 literal in brackets) and
 * waits for the answer; NULL when out of memory.  The caller keeps the
 * bufferevent and bounds the wait. */
struct connect_handshake *connect_start(struct bufferevent *, const char *host,
		    uint16_t port, connect_cb *, void *arg);
/* Stops waiting (the bufferevent's callbacks are cleared) and frees it;
 * NULL is a no-op. */
void		 connect_free(struct connect_handshake *);
/* The result a status stands for (0 and below: CONNECT_CLOSED). */
enum connect_result connect_status_result(int status);

#endif
