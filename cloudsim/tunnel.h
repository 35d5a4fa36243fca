/* tunnel.h -- bytes both ways between a client and a target bufferevent, with backpressure and half-close passed across. */
#ifndef TUNNEL_H
#define TUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct tunnel;

struct tunnel_result {
	uint64_t	 up;		/* bytes read from the client, passed to the target */
	uint64_t	 down;		/* bytes read from the target, passed to the client */
	const char	*error;		/* NULL when both directions ended with EOF */
};

/*
 * Takes both bufferevents (freed by tunnel_free) and relays until each side
 * has sent EOF and received it, or one fails.  Then done(arg, result) runs
 * once; it may call tunnel_free.  Input already buffered is relayed first.
 * Neither bufferevent may ever have had timeouts: libevent 2.1 re-arms an
 * old timeout of a persistent event even after it is cleared.
 */
struct tunnel	*tunnel_new(struct bufferevent *client, struct bufferevent *target,
		    size_t high_water,
		    void (*done)(void *arg, const struct tunnel_result *),
		    void *arg);
void		 tunnel_free(struct tunnel *);

#endif
