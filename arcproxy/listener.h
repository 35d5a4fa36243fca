/* listener.h -- a worker's listening sockets: SO_REUSEPORT, client checks, connection limit, EMFILE back-off. */
#ifndef LISTENER_H
#define LISTENER_H

#include <stddef.h>

struct worker;

int	listener_open_all(struct worker *, char *err, size_t errlen);
void	listener_close_all(struct worker *);

#endif
