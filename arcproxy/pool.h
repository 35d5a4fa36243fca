/* pool.h -- idle upstream connections kept for reuse by later requests to the same route, host and port. */
#ifndef POOL_H
#define POOL_H

#include <stdint.h>

#include "route.h"

struct config;
struct event_base;
struct pool;
struct upstream;

struct pool	*pool_new(struct event_base *);
/* Closes every idle connection. */
void		 pool_free(struct pool *);
/* An idle connection opened under cfg (its generation) to route/host/port,
 * or NULL.  The caller owns it. */
struct upstream	*pool_get(struct pool *, const struct config *, enum route_kind,
		    const char *host, uint16_t port);
/* A reload: closes the idle connections of every other generation. */
void		 pool_retire(struct pool *, const struct config *current);
/* Takes ownership: keeps up idle, or closes it when max_idle are kept
 * already (the oldest goes first). */
void		 pool_put(struct pool *, struct upstream *, long long max_idle,
		    long long idle_timeout_ms);
int		 pool_count(const struct pool *);

#endif
