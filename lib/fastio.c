/* fastio.c -- the fast-I/O tricks in one place: big reads, bigger single writes, staged writes and writes straight to the socket. */
#include <errno.h>
#include <malloc.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bigread.h"
#include "fastio.h"

#define FASTIO_MAX_SINGLE_READ	(128 * 1024)
#define FASTIO_MAX_SINGLE_WRITE	(1024 * 1024)
#define FASTIO_MALLOC_KEEP	(16 << 20)	/* free memory kept per arena */
#define FASTIO_PULLUP_MAX	4096	/* copied into one piece for write(2) */
#define FASTIO_MALLOC_MMAP	(4 << 20)	/* smaller blocks: from the arenas */

/*
 * glibc gives a thread arena's free top back with madvise(2) as soon as it
 * passes 128 KiB, and maps blocks of 128 KiB or more on their own: with
 * buffers that fill and drain thousands of times a second, each round is a
 * TLB shootdown on every CPU and the page faults to fill the pages again
 * (half of arcproxy's time on the h2 gateway route).  Fixed thresholds keep
 * that memory, as jemalloc and tcmalloc do.
 */
void
fastio_malloc_tune(void)
{
	mallopt(M_MMAP_THRESHOLD, FASTIO_MALLOC_MMAP);
	mallopt(M_TRIM_THRESHOLD, FASTIO_MALLOC_KEEP);
}

void
fastio_setup(struct bufferevent *bev)
{
	bufferevent_set_max_single_read(bev, FASTIO_MAX_SINGLE_READ);
	bufferevent_set_max_single_write(bev, FASTIO_MAX_SINGLE_WRITE);
}

/*
 * One read(2) into the room that evbuffer_reserve_space found in one piece:
 * readv(2) costs the kernel an iovec import and a second access check per
 * call, about 2% of a small keep-alive GET.  -1 with errno EAGAIN when the
 * room is in two pieces (bigread's readv then).
 */
static ssize_t
fastio_read_one(int fd, struct evbuffer *in, size_t room)
{
	struct evbuffer_iovec	 vec[2];
	ssize_t			 n;

	/* Asked for two pieces, as bigread, so that the buffer's chains
	 * grow the same way whichever call reads. */
	if (evbuffer_reserve_space(in, (ev_ssize_t)room, vec, 2) != 1) {
		evbuffer_commit_space(in, vec, 0);
		errno = EAGAIN;
		return -1;
	}
	/* The reservation may be larger than asked; the budget's room is not. */
	if (vec[0].iov_len > room)
		vec[0].iov_len = room;
	if ((n = read(fd, vec[0].iov_base, vec[0].iov_len)) <= 0) {
		evbuffer_commit_space(in, vec, 0);
		if (n == 0)
			return 0;
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? BIGREAD_AGAIN : -1;
	}
	vec[0].iov_len = (size_t)n;
	evbuffer_commit_space(in, vec, 1);
	return n;
}

/*
 * libevent 2.1 reads at most 4 KiB from a socket per event.  Take what the
 * kernel holds now in one read, so that bulk transfers cost a few system
 * calls per megabyte instead of hundreds.
 */
ssize_t
fastio_read_some(struct bufferevent *bev, int fd, size_t room)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	ssize_t		 n;

	/* A socket bufferevent keeps its input's end frozen between its own
	 * reads, as here. */
	evbuffer_unfreeze(in, 0);
	if ((n = fastio_read_one(fd, in, room)) == -1 && errno == EAGAIN)
		n = bigread(fd, in, room);
	evbuffer_freeze(in, 0);
	return n;
}

/*
 * evbuffer_write, with write(2) rather than writev(2) when the bytes are
 * in one piece or few enough to copy into one (a small answer's head and
 * body): the same saving as fastio_read_one.
 */
static void
fastio_write_fd(struct evbuffer *buf, int fd)
{
	size_t	 len = evbuffer_get_length(buf);
	ssize_t	 n;

	if (len == 0)
		return;
	/* A small message in pieces (a head and its body) is worth a copy
	 * into one. */
	if (evbuffer_get_contiguous_space(buf) < len &&
	    len > FASTIO_PULLUP_MAX) {
		evbuffer_write(buf, fd);
		return;
	}
	if ((n = write(fd, evbuffer_pullup(buf, (ev_ssize_t)len), len)) > 0)
		evbuffer_drain(buf, (size_t)n);
}

int
fastio_read(struct bufferevent *bev, size_t room)
{
	ssize_t	n = fastio_read_some(bev, bufferevent_getfd(bev), room);

	/* The reservation may be larger than asked: at least room means full. */
	return n > 0 && (size_t)n >= room;
}

void
fastio_write_now(struct bufferevent *bev, int fd)
{
	struct evbuffer	*out = bufferevent_get_output(bev);

	/* A socket bufferevent keeps its output's start frozen between its
	 * own writes, as here. */
	evbuffer_unfreeze(out, 1);
	fastio_write_fd(out, fd);
	evbuffer_freeze(out, 1);
}

void
fastio_send(struct bufferevent *bev, int fd, const void *data, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(bev);
	ssize_t		 n = 0;

	/* An error is left for the bufferevent's own write to meet. */
	if (evbuffer_get_length(out) == 0 &&
	    (n = write(fd, data, len)) < 0)
		n = 0;
	if ((size_t)n < len)
		evbuffer_add(out, (const char *)data + n, len - (size_t)n);
}

void
fastio_pass(struct evbuffer *src, struct bufferevent *to, int fd, int plain)
{
	struct evbuffer	*out = bufferevent_get_output(to);

	if (evbuffer_get_length(src) == 0)
		return;
	if (plain && evbuffer_get_length(out) == 0)
		fastio_write_fd(src, fd);
	if (evbuffer_get_length(src) == 0)
		return;
	evbuffer_add_buffer(out, src);
	if (!(bufferevent_get_enabled(to) & EV_WRITE))
		bufferevent_enable(to, EV_WRITE);
}
