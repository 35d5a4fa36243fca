/* bigread.h -- one read of up to max bytes from a socket straight into an evbuffer: libevent 2.1's own reads stop at 4 KiB a call. */
#ifndef BIGREAD_H
#define BIGREAD_H

#include <stddef.h>
#include <sys/types.h>

#include <event2/util.h>

struct evbuffer;

#define BIGREAD_AGAIN	(-2)	/* nothing to read now */

/* Bytes read (> 0), 0 at EOF, BIGREAD_AGAIN, or -1 with errno set. */
ssize_t	bigread(evutil_socket_t fd, struct evbuffer *in, size_t max);

#endif
