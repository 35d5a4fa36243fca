/* fastio.h -- the fast-I/O tricks in one place: big reads, bigger single writes, staged writes and writes straight to the socket. */
#ifndef FASTIO_H
#define FASTIO_H

#include <stddef.h>
#include <sys/types.h>

struct bufferevent;
struct evbuffer;

/* libevent 2.1's own socket reads stop here (EVBUFFER_MAX_READ): one that
 * brought less took all the kernel held. */
#define FASTIO_LIBEVENT_READ	4096

/* For a process that relays bulk: freed buffers stay in malloc's arenas up
 * to FASTIO_MALLOC_KEEP, rather than going back to the kernel (and coming
 * back, page by page) each time a connection drains. */
void	fastio_malloc_tune(void);
/* Raises libevent's per-event read and write sizes on a socket's bufferevent. */
void	fastio_setup(struct bufferevent *);
/* One read of up to room bytes from bev's socket into its input, past
 * libevent's 4 KiB; returns 1 when it filled room (more may be waiting). */
int	fastio_read(struct bufferevent *, size_t room);
/* The same read for a caller that watches the socket itself instead of
 * the bufferevent (no FIONREAD ioctl before it, as libevent makes): bytes
 * read, 0 at EOF, BIGREAD_AGAIN, or -1 with errno set.  fd is bev's socket:
 * here and below the caller, which knows it, passes it, since
 * bufferevent_getfd() is a locked control call, five per small GET. */
ssize_t	fastio_read_some(struct bufferevent *, int fd, size_t room);
/* Writes what bev's output holds now rather than on the next pass of the
 * loop (one epoll round less); the rest waits for its own write event. */
void	fastio_write_now(struct bufferevent *, int fd);
/* Sends a copy of data on a plain socket bufferevent: straight to the
 * socket while nothing is queued in its output, the rest queued there (a
 * write error too, for the bufferevent's own write to meet).  The caller
 * enables the write event if the output holds anything after. */
void	fastio_send(struct bufferevent *, int fd, const void *data, size_t len);
/* Appends src to a plain socket bufferevent's output; while nothing is
 * queued there, first writes straight to the socket (fd, looked at only
 * when plain), so that what the kernel takes never schedules (and deletes)
 * a write event.  What is left is written on bev's write events, enabled
 * here if they were not. */
void	fastio_pass(struct evbuffer *src, struct bufferevent *to, int fd,
	    int plain);

#endif
