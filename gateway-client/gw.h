/* gw.h -- the one route to the Arc gateway: TLS with the machine's identity, warm connections, nested CONNECT, the endpoint list. */
#ifndef GW_H
#define GW_H

#include <stddef.h>
#include <stdint.h>

#include "resolve.h"

struct bufferevent;
struct event_base;
struct evdns_base;
struct gw;
struct gw_req;
struct gw_stream;
struct route_table;

enum gw_error {
	GW_OK,
	GW_DOWN,		/* the gateway cannot be reached (or TLS failed) */
	GW_DENIED,		/* the gateway refused the destination (403) */
	GW_TARGET,		/* the gateway could not reach the destination (502) */
	GW_TIMEOUT,		/* no answer in time */
	GW_PROTOCOL,		/* the gateway said something that is not HTTP */
	GW_INTERNAL,		/* out of memory */
	GW_BUSY,		/* out of descriptors here: the gateway is fine */
};

enum gw_protocol {
	GW_PROTO_AUTO,		/* offer h2 and http/1.1; the gateway picks */
	GW_PROTO_H2,		/* offer h2 only */
	GW_PROTO_HTTP11,	/* offer http/1.1 only */
};

/* Why streams on the multiplexed connection ended badly. */
enum gw_reset {
	GW_RESET_PEER,		/* the gateway reset the stream */
	GW_RESET_CANCEL,	/* we reset it: the client went away */
	GW_RESET_CONNECTION,	/* the connection under it dropped */
	GW_RESET_REFUSED,	/* refused: GOAWAY, or the stream limit */
	GW_RESET__COUNT
};

/* Counters kept for the caller's metrics: one writer (the loop), relaxed readers. */
struct gw_stats {
	uint64_t	connections_open;	/* TLS connections to the gateway, gauge */
	uint64_t	connections_total;
	uint64_t	h2_connections_open;	/* of them, multiplexed, gauge */
	uint64_t	streams_open;		/* tunnels on h2 connections, gauge */
	uint64_t	streams_total;
	uint64_t	resets[GW_RESET__COUNT];
};

enum gw_state {
	GW_STATE_CONNECTING,	/* no connection has succeeded yet */
	GW_STATE_UP,		/* the last connection attempt succeeded */
	GW_STATE_DOWN,		/* the last attempt failed: back-off runs */
};

struct gw_settings {
	char			 host[256];	/* the gateway's name, checked in its certificate */
	uint16_t		 port;
	char			 proxy_host[256];/* enterprise proxy in front of it; "" for none */
	uint16_t		 proxy_port;
	const char		*ca_file;	/* trust for the gateway's certificate */
	const char		*cert_file;	/* the machine's identity; NULL for none */
	const char		*key_file;
	const struct resolve_host *hosts;	/* static names before DNS */
	int			 nhosts;
	long long		 connect_timeout_ms;
	int			 warm;		/* TLS connections kept ready (HTTP/1.1) */
	enum gw_protocol	 protocol;
	struct gw_stats		*stats;		/* NULL: not counted */
	/* Told of every change of state, from the loop. */
	void			(*on_state)(void *arg, enum gw_state, const char *reason,
				    int endpoints);
	void			*state_arg;
};

/* Called once, from the loop: on success st is the tunnel (the caller owns
 * it: gw_stream_close()); on failure st is NULL and reason says why. */
typedef void gw_stream_cb(struct gw_stream *st, enum gw_error, const char *reason,
	    void *arg);

struct gw	*gw_new(struct event_base *, struct evdns_base *,
		    const struct gw_settings *, char *err, size_t errlen);
/* Drops the creator's hold: idle connections close and waiting requests
 * fail; tunnels being opened finish.  The memory goes from the loop after
 * the last reference: run it once (EVLOOP_NONBLOCK) before freeing it. */
void		 gw_free(struct gw *);
struct gw	*gw_ref(struct gw *);
void		 gw_unref(struct gw *);
/* Opens the warm connections and fetches the endpoint list. */
void		 gw_start(struct gw *);

/* The whole open (a connection or a stream slot, then the gateway's
 * answer) is bounded by connect_timeout_ms: past it, GW_TIMEOUT. */
struct gw_req	*gw_open(struct gw *, const char *host, uint16_t port,
		    gw_stream_cb *, void *arg);
void		 gw_cancel(struct gw_req *);
/* The tunnel's bytes: read and write them here. */
struct bufferevent *gw_stream_bev(struct gw_stream *);
/* Half-close after what was written: END_STREAM over h2, TLS close_notify
 * over HTTP/1.1. */
void		 gw_stream_shutdown(struct gw_stream *);
/* Ends the tunnel (a reset, if it is still open both ways) and frees it. */
void		 gw_stream_close(struct gw_stream *);
/* "h2" or "http/1.1": what carries the tunnel. */
const char	*gw_stream_protocol(const struct gw_stream *);

/* The endpoint list: does the gateway carry this destination, or bypass it?
 * Until a list is fetched every destination is tried through the gateway. */
int		 gw_allows(const struct gw *, const char *host, uint16_t port);
int		 gw_bypasses(const struct gw *, const char *host, uint16_t port);
/* The same lists as route tables (ROUTE_GATEWAY where listed); NULL until
 * fetched.  Valid until the next list replaces them. */
void		 gw_route_tables(const struct gw *, const struct route_table **allow,
		    const struct route_table **bypass);
enum gw_state	 gw_get_state(const struct gw *);
const char	*gw_last_error(const struct gw *);
int		 gw_endpoint_count(const struct gw *);
/* When the endpoint list last arrived (time(3)); 0 until it has. */
long long	 gw_list_fetched(const struct gw *);
const char	*gw_state_name(enum gw_state);

#endif
