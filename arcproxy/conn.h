/* conn.h -- one client connection: read a request head, route it, open the upstream, then exchange or tunnel. */
#ifndef CONN_H
#define CONN_H

#include <sys/socket.h>

struct conn;
struct worker;

/* Takes the accepted socket; on failure it is closed. */
struct conn	*conn_new(struct worker *, int fd, const struct sockaddr *, socklen_t);
void		 conn_free(struct conn *);
/* SIGTERM: close connections idle between requests, and make the others
 * close after their current exchange. */
void		 conn_drain_all(struct worker *);
void		 conn_free_all(struct worker *);

#endif
