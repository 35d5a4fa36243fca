/* relay.h -- bytes both ways between two streams: le-proxy's backpressure on adaptive windows within the worker's buffer budget, half-close passed across. */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

struct budget;
struct bufferevent;
struct upstream;

/*
 * How much one direction may hold in its partner's output before the reader
 * pauses: small for a partner that does not drain it, doubling up to
 * limits.buffer_bytes while both sides move (HAProxy and Envoy bound a slow
 * reader the same way).
 */
#define RELAY_WINDOW_MIN	(16 * 1024)	/* for a partner that does not drain */

struct relay_window {
	size_t			 high;		/* 0: not yet used (the minimum) */
	struct timeval		 paused;	/* when the reader last paused */
	unsigned		 full:1;	/* the last big read filled its room */
};

struct relay_end {
	struct bufferevent	*bev;
	struct upstream		*up;		/* NULL: a plain client socket */
	unsigned		 eof:1;		/* this end sent EOF */
	unsigned		 shut:1;	/* we sent EOF to this end */
	unsigned		 paused:1;	/* not read: the partner's output is full */
	unsigned		 plain:1;	/* a TCP socket: written at once */
	uint64_t		 bytes;		/* read from this end, passed on */
	struct relay_window	 win;		/* for bytes read from this end */
};

struct relay {
	struct relay_end	 client;
	struct relay_end	 upstream;
	size_t			 high_water;	/* the largest window (buffer_bytes) */
	struct budget		*budget;	/* the worker's */
};

void	relay_init(struct relay *, struct bufferevent *client,
	    struct upstream *up, size_t high_water);
/* relay_drained() and relay_eof() return 1 once both directions have ended
 * and flushed (the caller then closes); relay_start() and relay_read()
 * always return 0. */
int	relay_start(struct relay *);
int	relay_read(struct relay *, struct relay_end *from);
int	relay_drained(struct relay *, struct relay_end *to);
int	relay_eof(struct relay *, struct relay_end *from);
struct relay_end *relay_partner(struct relay *, struct relay_end *);
/* Writes what a plain socket bufferevent holds now rather than on the next
 * pass of the loop (one epoll round less); the rest waits for its own
 * write event. */
void	relay_write_now(struct bufferevent *);

/* The exchange path's backpressure, shared with the tunnels.  After bytes
 * moved from reader into to's output: pauses the reader while that output is
 * above the window and returns 1 (to's write callback at half the window
 * then calls relay_window_drained and resumes it), or holds the reader while
 * the budget is spent and returns 0. */
int	relay_throttle(struct relay_window *, struct budget *,
	    struct bufferevent *reader, struct bufferevent *to, size_t max);
void	relay_window_drained(struct relay_window *, struct bufferevent *to,
	    size_t max);
/* One big read from a plain socket, up to the window and the budget. */
void	relay_read_more(struct relay_window *, struct budget *,
	    struct bufferevent *, size_t max);

#endif
