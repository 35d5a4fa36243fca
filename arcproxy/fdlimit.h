/* fdlimit.h -- descriptors: raise the soft RLIMIT_NOFILE to the hard one and size the connection limit to fit. */
#ifndef FDLIMIT_H
#define FDLIMIT_H

struct config;
struct proxy;

/* At start: raise the soft limit, keep it in px->nofile, log the numbers. */
void		fdlimit_setup(struct proxy *);
/* Descriptors kept for listeners, resolvers, logs, idle upstreams and
 * gateway connections, apart from the two each client connection needs. */
long long	fdlimit_reserve(const struct config *);
/* limits.max_connections, or fewer if that many would not fit in nofile. */
long long	fdlimit_max_connections(const struct config *, long long nofile);

#endif
