/* upstream.h -- the one upstream interface: every route yields a stream behind the same const table of operations. */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "route.h"
#include "status.h"

struct bufferevent;
struct config;
struct gw;
struct relay;
struct upstream;
struct worker;

/* Called once, never from inside open(): error is PXE_NONE on success;
 * details, when not NULL, says more (for logs and Proxy-Status). */
typedef void upstream_open_cb(struct upstream *, enum px_error error,
	    const char *details, void *arg);

/* Where to, and under which generation: the config (proxy.url, limits,
 * hosts) and the gateway client the request was routed by, never the
 * worker's current ones, which a SIGHUP may have replaced since. */
struct upstream_target {
	const char	*host;		/* normalized host name or literal */
	uint16_t	 port;
	int		 explicit_rule;	/* a rule names it: the SSRF guard is lifted */
	struct config	*cfg;
	struct gw	*gw;		/* NULL when the generation has none */
};

struct upstream_ops {
	const char	*name;
	/* Starts opening a stream; NULL only when out of memory. */
	struct upstream	*(*open)(struct worker *, const struct upstream_target *,
			    upstream_open_cb *, void *arg);
	/* Sends EOF after what was written (TCP FIN, END_STREAM, ...). */
	void		 (*shutdown_write)(struct upstream *);
	/* Ends the stream, or cancels the open; the upstream is freed. */
	void		 (*close)(struct upstream *);
};

/* What every implementation starts with. */
struct upstream {
	const struct upstream_ops *ops;
	struct bufferevent	*bev;		/* the data side, once open */
	struct worker		*w;
	struct config		*cfg;		/* its generation (a reference): pool key */
	enum route_kind		 route;
	char			 host[256];	/* pool key, with port and route */
	uint16_t		 port;
	int			 reused;	/* came from the idle pool */
	int			 plain;		/* bev is a plain TCP socket (bigger reads) */
	int			 fd;		/* bev's socket once open, or -1: see upstream_fd() */
	int			 tracked;	/* bev's buffers count in w's budget */
	struct event		*rev;		/* plain: its socket readable (see below) */
	int			 rev_on;
	void			 (*readable)(void *);	/* rev's callback, by its user */
	void			*readable_arg;
	TAILQ_ENTRY(upstream)	 idle;		/* in the pool */
	struct timeval		 idle_since;
};

/* The implementation for each route; NULL where a route has none (deny). */
extern const struct upstream_ops *const upstream_routes[ROUTE__COUNT];
extern const struct upstream_ops upstream_direct_ops;
extern const struct upstream_ops upstream_proxy_ops;
extern const struct upstream_ops upstream_gateway_ops;

/* Is the route configured at all in this generation? */
int	upstream_available(const struct config *, const struct gw *,
	    enum route_kind);
/* The common part of an open: ops, worker, route, the target and a reference
 * to its config; upstream_fini() drops that reference. */
void	upstream_init(struct upstream *, const struct upstream_ops *,
	    struct worker *, enum route_kind, const struct upstream_target *);
void	upstream_fini(struct upstream *);
/* Its buffers counted in its worker's budget from its first exchange on, in
 * the idle pool too (where they are empty): no callback churn per request.
 * Untracked before it closes. */
void	upstream_track(struct upstream *);
void	upstream_untrack(struct upstream *);
/*
 * A plain upstream is watched by its own read event, not by its
 * bufferevent (which asks the kernel with an ioctl(FIONREAD) before each
 * read), through exchanges and idle time in the pool alike: its user only
 * swaps the callback, and the socket's watch never changes per request.
 * upstream_reads_raw() hands the reads to cb (the bufferevent's stop); -1
 * when out of memory, and the bufferevent reads on.  upstream_reads_bev()
 * gives them back to the bufferevent (enabled by the caller); with
 * for_good the event goes (a tunnel's idle memory counts).
 */
int	upstream_reads_raw(struct upstream *, void (*cb)(void *), void *arg);
/* A plain upstream's socket, once open: asked of the bufferevent the first
 * time only (bufferevent_getfd() is a locked control call). */
int	upstream_fd(struct upstream *);
void	upstream_reads_bev(struct upstream *, int for_good);
/* Untracks, drops its read event, and closes it (ops->close). */
void	upstream_close(struct upstream *);
/* The pump between a plain client socket and this upstream, in the worker's
 * budget; EOF reaches the upstream through its shutdown_write. */
void	upstream_relay_init(struct upstream *, struct relay *,
	    struct bufferevent *client, size_t high_water);

#endif
