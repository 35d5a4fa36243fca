/* acceptor.h -- a listening socket on the event loop that backs off, instead of spinning, when accept runs out of descriptors. */
#ifndef ACCEPTOR_H
#define ACCEPTOR_H

#include <sys/socket.h>
#include <stddef.h>

#include <event2/util.h>

struct acceptor;
struct event_base;

/* Called with each accepted socket, which the callee now owns. */
struct acceptor	*acceptor_new(struct event_base *, const char *name,
		    const struct sockaddr *, int addrlen,
		    void (*accepted)(void *arg, evutil_socket_t fd,
		    const struct sockaddr *peer, int peerlen),
		    void *arg, char *err, size_t errlen);
void		 acceptor_free(struct acceptor *);
/* "127.0.0.1:8443" or "[::1]:8443", for logs. */
void		 acceptor_addr_text(const struct sockaddr *, char *buf, size_t len);

#endif
