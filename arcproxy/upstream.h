/* upstream.h -- the one upstream interface: every route yields a stream behind the same const table of operations. */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "route.h"
#include "status.h"

struct bufferevent;
struct upstream;
struct worker;

/* Called once, never from inside open(): error is PXE_NONE on success;
 * details, when not NULL, says more (for logs and Proxy-Status). */
typedef void upstream_open_cb(struct upstream *, enum px_error error,
	    const char *details, void *arg);

struct upstream_target {
	const char	*host;		/* normalized host name or literal */
	uint16_t	 port;
	int		 explicit_rule;	/* a rule names it: the SSRF guard is lifted */
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
	enum route_kind		 route;
	char			 host[256];	/* pool key, with port and route */
	uint16_t		 port;
	int			 reused;	/* came from the idle pool */
	int			 plain;		/* bev is a plain TCP socket (bigger reads) */
	TAILQ_ENTRY(upstream)	 idle;		/* in the pool */
	struct timeval		 idle_since;
};

/* The implementation for each route; NULL where a route has none (deny). */
extern const struct upstream_ops *const upstream_routes[ROUTE__COUNT];
extern const struct upstream_ops upstream_direct_ops;
extern const struct upstream_ops upstream_proxy_ops;
extern const struct upstream_ops upstream_gateway_ops;

/* Can this worker open streams on the route now (configured at all)? */
int	upstream_available(const struct worker *, enum route_kind);

#endif
