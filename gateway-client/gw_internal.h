/* gw_internal.h -- what gw.c and gw_h2.c share inside gateway-client: the gateway, its requests, a tunnel handle. */
#ifndef GW_INTERNAL_H
#define GW_INTERNAL_H

#include <stdint.h>
#include <sys/queue.h>

#include <openssl/ssl.h>

#include "gw.h"
#include "gw_endpoints.h"

struct evbuffer;
struct gw_conn;
struct gw_h2;
struct gw_h2_stream;
struct route_table;

/* What the caller of gw_open() gets: a bufferevent to read and write. */
struct gw_stream {
	struct bufferevent	*bev;		/* h1: the TLS connection; h2: a pair end */
	struct gw_h2_stream	*h2;		/* NULL over HTTP/1.1 */
	struct gw_stats		*stats;		/* h1: counts the connection's end */
};

/* Where a request is between gw_open() and its callback. */
enum gw_req_state {
	GWR_WAITING,		/* in gw->waiting: for a connection or a stream slot */
	GWR_CONNECT,		/* its CONNECT is out: on conn (HTTP/1.1) or h2s (h2) */
	GWR_FAILED,		/* on no list: defer reports error from the loop */
};

struct gw_req {
	struct gw		*gw;
	enum gw_req_state	 state;
	TAILQ_ENTRY(gw_req)	 entry;		/* in gw->waiting */
	struct gw_conn		*conn;		/* GWR_CONNECT over HTTP/1.1 */
	char			 host[256];
	uint16_t		 port;
	gw_stream_cb		*cb;
	void			*arg;
	struct event		*defer;		/* reports failures from the loop */
	struct event		*deadline;	/* connect_timeout_ms after gw_open() */
	enum gw_error		 error;
	char			 reason[256];
	int			 retried;
	struct gw_h2_stream	*h2s;		/* GWR_CONNECT over h2 */
};

TAILQ_HEAD(gw_conn_list, gw_conn);
TAILQ_HEAD(gw_req_list, gw_req);

struct gw {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct gw_settings	 s;
	struct resolve_host	*hosts;		/* our copy of s.hosts */
	SSL_CTX			*ctx;
	SSL_SESSION		*session;	/* the last one, to resume */
	enum gw_state		 state;
	char			 last_error[256];
	int			 failures;	/* in a row: the back-off exponent */
	struct event		*retry;		/* back-off: next attempt */
	struct event		*refresh;	/* next endpoint list fetch */
	struct gw_conn_list	 conns;
	int			 nidle;
	int			 nopening;
	struct gw_req_list	 waiting;
	int			 nwaiting;
	struct gw_endpoints	 list;		/* .endpoints NULL until fetched */
	int			 fetch_due;
	long long		 list_fetched;	/* wall clock, s; 0: never */
	int			 refs;
	int			 retired;	/* gw_free() called: no new work */
	struct gw_h2		*h2;		/* the multiplexed connection, if any */
	struct gw_h2		*h2_draining;	/* after GOAWAY: finishing its streams */
	int			 alpn_h2;	/* the gateway chose h2 last time */
	struct gw_stats		*stats;
	struct event		*reap;		/* frees it from the loop, refs 0 */
};


void	gw_req_fail(struct gw_req *, enum gw_error, const char *reason);
/* The tunnel is open: hand st to the caller, free the request. */
void	gw_req_done(struct gw_req *, struct gw_stream *st);
/* An endpoint list arrived (ok) or could not be had (why). */
void	gw_list_received(struct gw *, struct evbuffer *body, int ok, const char *why);
/* The multiplexed connection ended (or drains): requests go elsewhere. */
void	gw_h2_gone(struct gw *, struct gw_h2 *, const char *reason);
/* A stream slot freed up on the multiplexed connection. */
void	gw_serve_waiting(struct gw *);

/* One writer (the loop), relaxed readers (the caller's metrics thread). */
#define GW_STAT_ADD(g, field, n) do { if ((g)->stats != NULL)		\
	__atomic_store_n(&(g)->stats->field,					\
	    __atomic_load_n(&(g)->stats->field, __ATOMIC_RELAXED) + (n),	\
	    __ATOMIC_RELAXED); } while (0)

#endif
