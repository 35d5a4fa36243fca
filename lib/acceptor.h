/* acceptor.h -- listening sockets on an event loop that pause, instead of spinning, when accept runs out of descriptors. */
#ifndef ACCEPTOR_H
#define ACCEPTOR_H

#include <sys/socket.h>
#include <stddef.h>

#include <event2/util.h>

#define ACCEPTOR_BACKOFF_MS	100	/* accepting pauses this long on EMFILE */
#define ACCEPTOR_LOG_EVERY_S	10	/* at most one back-off line this often */
#define ACCEPTOR_BACKLOG	128	/* listen(2)'s backlog unless told */

struct acceptor;
struct event_base;
struct evconnlistener;

struct acceptor_ops {
	/* Each accepted socket, which the callee now owns.  NULL for an
	 * acceptor that only watches listeners (acceptor_watch). */
	void	(*accepted)(void *arg, evutil_socket_t fd, struct sockaddr *peer,
		    int peerlen);
	/* accept failed with err.  paused: out of descriptors (EMFILE, ENFILE,
	 * ENOBUFS, ENOMEM), so every socket of the acceptor rests for
	 * ACCEPTOR_BACKOFF_MS.  line: what to log ("accept: ...; pausing for
	 * 100 ms (3 pauses so far)"), or NULL for a pause within
	 * ACCEPTOR_LOG_EVERY_S of the last line.  NULL: the acceptor logs the
	 * line itself (log_warnx, after name when there is one). */
	void	(*failed)(void *arg, int err, int paused, const char *line);
	const char *name;	/* "gateway": ahead of the default's lines */
};

/* An acceptor without sockets yet; ops and arg are the callbacks'.  ops
 * NULL: one that only watches listeners and logs its failures. */
struct acceptor	*acceptor_new(struct event_base *, const struct acceptor_ops *,
		    void *arg, char *err, size_t errlen);
/* Accepts on fd, a listening socket that is now the acceptor's (closed on
 * failure too). */
int		 acceptor_add(struct acceptor *, evutil_socket_t fd, char *err,
		    size_t errlen);
/* A new listening socket (addr_listen) added to the acceptor. */
int		 acceptor_listen(struct acceptor *, const struct sockaddr *,
		    socklen_t, int reuseport, int backlog, char *err, size_t errlen);
/* Puts lev, a listener that its owner made and accepts on (an evhttp's:
 * evhttp_bound_socket_get_listener), under the acceptor's pause: lev's
 * accept errors go to ops->failed, and out of descriptors lev rests with
 * the acceptor's own sockets.  lev stays its owner's: free the acceptor
 * first (which resumes it), then the owner. */
int		 acceptor_watch(struct acceptor *, struct evconnlistener *lev,
		    char *err, size_t errlen);
/* How many times it paused out of descriptors so far (its own thread). */
unsigned long long acceptor_pauses(const struct acceptor *);
/* Closes every socket and lets go of the watched listeners (accepting
 * again, with libevent's own error handling); a pending resume is
 * cancelled.  NULL is a no-op. */
void		 acceptor_free(struct acceptor *);

#endif
