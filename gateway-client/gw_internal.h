/* gw_internal.h -- what gw.c, gw_conn.c, gw_h1.c and gw_h2.c share inside gateway-client: the gateway, its requests, a tunnel handle. */
#ifndef GW_INTERNAL_H
#define GW_INTERNAL_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/util.h>
#include <openssl/ssl.h>

#include "gw.h"
#include "gw_carrier.h"
#include "gw_endpoints.h"

struct evbuffer;
struct gw_conn;
struct gw_h2_stream;

/* What the caller of gw_open() gets: a bufferevent to read and write. */
struct gw_stream {
	const struct gw_carrier_ops *ops;	/* what carries it */
	struct bufferevent	*bev;		/* h1: the TLS connection; h2: a pair end */
	struct gw_h2_stream	*h2;		/* the h2 carrier's stream; NULL over h1 */
	struct gw_stats		*stats;		/* h1: counts the connection's end */
};

/* Where a request is between gw_open() and its callback. */
enum gw_req_state {
	GWR_WAITING,		/* in gw->waiting: for a carrier with a free slot */
	GWR_CONNECT,		/* its CONNECT is out on r->carrier: answer awaited */
	GWR_FAILED,		/* on no list: defer reports the error from the loop */
};

struct gw_req {
	struct gw		*gw;
	enum gw_req_state	 state;
	TAILQ_ENTRY(gw_req)	 entry;		/* in gw->waiting */
	struct gw_carrier	*carrier;	/* GWR_CONNECT: what carries its CONNECT */
	char			 host[256];
	uint16_t		 port;
	gw_stream_cb		*cb;
	void			*arg;
	struct event		*defer;		/* reports failures from the loop */
	struct event		*deadline;	/* connect_timeout_ms after gw_open() */
	enum gw_error		 error;
	char			 reason[256];
	int			 retried;	/* sent again once after a dead warm connection */
	struct gw_h2_stream	*h2s;		/* GWR_CONNECT over h2: its stream */
};

TAILQ_HEAD(gw_conn_list, gw_conn);
TAILQ_HEAD(gw_req_list, gw_req);
TAILQ_HEAD(gw_carrier_list, gw_carrier);

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
	struct gw_conn_list	 conns;		/* connections being set up */
	int			 nopening;	/* of them */
	struct gw_carrier_list	 carriers;	/* the pool: carriers taking tunnels */
	struct gw_carrier_list	 draining;	/* after GOAWAY: finishing their tunnels */
	struct gw_req_list	 waiting;
	int			 nwaiting;
	struct gw_endpoints	 list;		/* .endpoints NULL until fetched */
	int			 fetch_due;
	long long		 list_fetched;	/* wall clock, s; 0: never */
	int			 refs;
	int			 retired;	/* gw_free() called: no new work */
	int			 multiplexed;	/* the last handshake chose a multiplexed carrier */
	struct gw_stats		*stats;
	struct event		*reap;		/* frees it from the loop, refs 0 */
};

/* gw.c: requests and the gateway's state. */
void	gw_req_fail(struct gw_req *, enum gw_error, const char *reason);
/* The tunnel is open: hand st to the caller, free the request. */
void	gw_req_done(struct gw_req *, struct gw_stream *st);
/* Its CONNECT met a warm connection the gateway had closed: first in line
 * again, once. */
void	gw_req_requeue(struct gw_req *);
/* Every waiting request fails with error and reason. */
void	gw_fail_waiting(struct gw *, enum gw_error, const char *reason);
/* Requests that waited for a slot go to carriers that have one. */
void	gw_serve_waiting(struct gw *);
/* An endpoint list arrived (ok) or could not be had (why). */
void	gw_list_received(struct gw *, struct evbuffer *body, int ok, const char *why);
void	gw_notify(struct gw *);

/* gw_conn.c: connection set-up, the pool, back-off. */
/* Keeps `warm` connections ready (one, multiplexed), plus one for each
 * waiting request. */
void	gw_fill(struct gw *);
/* An attempt failed: the gateway is down until one succeeds; waiting
 * requests fail and the back-off starts. */
void	gw_down(struct gw *, enum gw_error, const char *reason);
void	gw_retry(evutil_socket_t, short, void *);
/* Connections being set up, and carriers with no tunnel, close (gw_free). */
void	gw_pool_release(struct gw *);
/* Everything closes (the gateway's memory goes). */
void	gw_pool_destroy(struct gw *);
/* Tunnel slots free on carriers that are not multiplexed (warm ones). */
int	gw_pool_idle(const struct gw *);
/* A carrier with a free slot, or NULL. */
struct gw_carrier *gw_pool_pick(const struct gw *);

/* One writer (the loop), relaxed readers (the caller's metrics thread). */
#define GW_STAT_ADD(g, field, n) do { if ((g)->stats != NULL)		\
	__atomic_store_n(&(g)->stats->field,					\
	    __atomic_load_n(&(g)->stats->field, __ATOMIC_RELAXED) + (n),	\
	    __ATOMIC_RELAXED); } while (0)

#endif
