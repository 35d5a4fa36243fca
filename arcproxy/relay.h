/* relay.h -- bytes both ways between two streams, with le-proxy's backpressure and half-close passed across. */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct upstream;

struct relay_end {
	struct bufferevent	*bev;
	struct upstream		*up;		/* NULL: a plain client socket */
	unsigned		 eof:1;		/* this end sent EOF */
	unsigned		 shut:1;	/* we sent EOF to this end */
	unsigned		 paused:1;	/* not read: the partner's output is full */
	unsigned		 plain:1;	/* a TCP socket: written at once */
	uint64_t		 bytes;		/* read from this end, passed on */
};

struct relay {
	struct relay_end	 client;
	struct relay_end	 upstream;
	size_t			 high_water;	/* partner output that pauses a reader */
};

void	relay_init(struct relay *, struct bufferevent *client,
	    struct upstream *up, size_t high_water);
/* Each returns 1 when both directions have ended and flushed. */
int	relay_start(struct relay *);
int	relay_read(struct relay *, struct relay_end *from);
int	relay_drained(struct relay *, struct relay_end *to);
int	relay_eof(struct relay *, struct relay_end *from);
struct relay_end *relay_partner(struct relay *, struct relay_end *);
/* Writes what a plain socket bufferevent holds now rather than on the next
 * pass of the loop (one epoll round less); the rest waits for its own
 * write event. */
void	relay_write_now(struct bufferevent *);

#endif
