/* gw_carrier.h -- what carries tunnels to the gateway: one const table of operations per protocol (HTTP/1.1 nested CONNECT, h2 CONNECT streams), so gw.c never asks which. */
#ifndef GW_CARRIER_H
#define GW_CARRIER_H

#include <stddef.h>
#include <sys/queue.h>

#include <openssl/ssl.h>

struct bufferevent;
struct gw;
struct gw_carrier;
struct gw_req;
struct gw_stream;

struct gw_carrier_ops {
	const char	*name;		/* "http/1.1", "h2": gw_stream_protocol() */
	int		 multiplexed;	/* one connection carries every tunnel */
	const char	*wait_timeout;	/* why a request waiting for a slot expired */
	/* Takes over a TLS connection whose ALPN chose this protocol (ssl is
	 * tls's); NULL with err filled, and tls still the caller's. */
	struct gw_carrier *(*adopt)(struct gw *, struct bufferevent *tls, SSL *ssl,
			    char *err, size_t errlen);
	/* Tunnels it can open now: 0 while busy, full, draining or dead. */
	int		 (*slots)(const struct gw_carrier *);
	/* Sends r's CONNECT (r->carrier is this one); the answer reaches
	 * gw_req_done() or gw_req_fail(). */
	void		 (*open)(struct gw_carrier *, struct gw_req *);
	/* Drops r's CONNECT before the answer: r->carrier carried it. */
	void		 (*cancel)(struct gw_req *);
	/* GETs the endpoint list; the answer reaches gw_list_received(). */
	void		 (*fetch)(struct gw_carrier *);
	/* gw_free(): the gateway takes no new work.  A carrier with no tunnel
	 * to finish may close now; a multiplexed one stays for its streams
	 * until the gateway's memory goes. */
	void		 (*release)(struct gw_carrier *);
	/* Ends it, and every tunnel on it (each sees EOF or an error). */
	void		 (*free)(struct gw_carrier *, const char *reason);
	/* A tunnel it carries: half-close after what was written, and the end
	 * (a reset when still open both ways; st is freed). */
	void		 (*stream_shutdown)(struct gw_stream *);
	void		 (*stream_close)(struct gw_stream *);
};

/* Where a carrier is, as the gateway sees it. */
enum gw_carrier_place {
	GWCAR_NONE,		/* on no list: being set up, or given to one tunnel */
	GWCAR_POOL,		/* in gw->carriers: takes tunnels when it has slots */
	GWCAR_DRAINING,		/* in gw->draining: finishes its tunnels, takes none */
};

/* What every carrier starts with. */
struct gw_carrier {
	const struct gw_carrier_ops *ops;
	struct gw		*gw;
	enum gw_carrier_place	 place;
	TAILQ_ENTRY(gw_carrier)	 entry;		/* in gw->carriers or gw->draining */
};

extern const struct gw_carrier_ops gw_h1_carrier;	/* gw_h1.c */
extern const struct gw_carrier_ops gw_h2_carrier;	/* gw_h2.c */

/* The pool (gw_conn.c).  Adds a carrier that can take tunnels. */
void	gw_pool_add(struct gw *, struct gw_carrier *);
/* Takes it off its list, without refilling. */
void	gw_pool_remove(struct gw_carrier *);
/* A carrier stopped taking tunnels: it drains (draining) or it ended.
 * An older draining one is closed; the pool refills. */
void	gw_carrier_gone(struct gw_carrier *, int draining);
/* A carrier has slots: the due endpoint list, then waiting requests. */
void	gw_carrier_ready(struct gw_carrier *);

#endif
