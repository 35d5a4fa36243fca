/* relay.h -- the directional pump: bytes both ways between two streams, le-proxy's backpressure on adaptive windows within the worker's buffer budget, half-close passed across. */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

struct budget;
struct bufferevent;

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
	/* Sends EOF to this end; NULL: shutdown(2) on its socket. */
	void			(*shutdown_write)(void *arg);
	void			*arg;
	unsigned		 eof:1;		/* this end sent EOF */
	unsigned		 shut:1;	/* we sent EOF to this end */
	unsigned		 paused:1;	/* not read: the partner's output is full */
	unsigned		 plain:1;	/* a TCP socket: written at once */
	uint64_t		 bytes;		/* read from this end, passed on */
	struct relay_window	 win;		/* for bytes read from this end */
};

/*
 * Pipes for splice(2), kept per event loop while some tunnel splices: a
 * tunnel borrows one only while bytes sit in it, so that an idle tunnel
 * holds none, and the last spliced tunnel's end closes those kept.
 */
#define RELAY_PIPES_KEEP	8

struct relay_pipes {
	int			 fd[RELAY_PIPES_KEEP][2];
	int			 n;		/* kept, free */
	int			 users;		/* tunnels splicing */
};

struct relay;
/* What a spliced tunnel reports: RELAY_MOVED (bytes moved: it is not idle),
 * RELAY_DONE (both directions ended and flushed), RELAY_FAILED (a socket
 * error).  After the last two, the caller frees the tunnel. */
enum relay_what { RELAY_MOVED, RELAY_DONE, RELAY_FAILED };
typedef void relay_cb(struct relay *, enum relay_what, void *arg);

struct relay_flow;				/* one spliced direction */

struct relay_splice {
	struct relay_pipes	*pipes;
	relay_cb		*cb;
	void			*arg;
	struct relay_flow	*up, *down;	/* NULL until splicing */
};

struct relay {
	struct relay_end	 client;
	struct relay_end	 upstream;
	size_t			 high_water;	/* the largest window (buffer_bytes) */
	struct budget		*budget;	/* the worker's, or NULL: none */
	struct relay_splice	 splice;	/* pipes == NULL: never spliced */
};

/* Both ends start neither plain nor with a shutdown hook: the caller sets
 * them.  The windows stay (see relay.c). */
void	relay_init(struct relay *, struct bufferevent *client,
	    struct bufferevent *upstream, size_t high_water, struct budget *);
/* A tunnel: start both directions; pass what from holds to its partner. */
void	relay_start(struct relay *);
void	relay_read(struct relay *, struct relay_end *from);
/* These two return 1 when both directions have ended and flushed (each end
 * sent EOF and was sent one: the tunnel is over), else 0. */
int	relay_drained(struct relay *, struct relay_end *to);
int	relay_eof(struct relay *, struct relay_end *from);
struct relay_end *relay_partner(struct relay *, struct relay_end *);

/* One direction's backpressure, for the tunnel and the HTTP exchange alike:
 * after bytes moved from `from` into its partner's output, pause `from`
 * while that output is past the window (from->paused); when the partner
 * drains (its write callback), relay_resume() reads `from` again and
 * returns 1 if it had paused. */
void	relay_throttle_end(struct relay *, struct relay_end *from);
int	relay_resume(struct relay *, struct relay_end *to);

/* The exchange path's backpressure, shared with the tunnels.  After bytes
 * moved from reader into to's output: pauses the reader while that output is
 * above the window and returns 1 (to's write callback at half the window
 * then calls relay_window_drained and resumes it), or holds the reader while
 * the budget is spent and returns 0. */
int	relay_throttle(struct relay_window *, struct budget *,
	    struct bufferevent *reader, struct bufferevent *to, size_t max);
void	relay_window_drained(struct relay_window *, struct bufferevent *to,
	    size_t max);
/* What one big read may take now: up to the window, within the budget. */
size_t	relay_read_room(struct relay_window *, struct budget *,
	    struct bufferevent *, size_t max);
/* One big read from a plain socket, up to the window and the budget. */
void	relay_read_more(struct relay_window *, struct budget *,
	    struct bufferevent *, size_t max);

/* Pipes for splice(2): none until first used; fini closes those kept. */
void	relay_pipes_init(struct relay_pipes *);
void	relay_pipes_fini(struct relay_pipes *);
/*
 * A tunnel between two plain TCP sockets, before relay_start(): once
 * nothing is buffered either way, the bytes go socket to socket with
 * splice(2) and never through user memory; cb then reports what the
 * bufferevents' callbacks would have.  relay_stop() before freeing.
 */
void	relay_splice_allow(struct relay *, struct relay_pipes *, relay_cb *,
	    void *arg);
void	relay_stop(struct relay *);

#endif
