/* fastio.c -- the fast-I/O tricks in one place: big reads, bigger single writes, staged writes and writes straight to the socket. */
#include <malloc.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bigread.h"
#include "fastio.h"

#define FASTIO_MAX_SINGLE_READ	(128 * 1024)
#define FASTIO_MAX_SINGLE_WRITE	(1024 * 1024)
#define FASTIO_MALLOC_KEEP	(16 << 20)	/* free memory kept per arena */
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
 * libevent 2.1 reads at most 4 KiB from a socket per event.  Take what the
 * kernel holds now in one read, so that bulk transfers cost a few system
 * calls per megabyte instead of hundreds.
 */
ssize_t
fastio_read_some(struct bufferevent *bev, size_t room)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	ssize_t		 n;

	/* A socket bufferevent keeps its input's end frozen between its own
	 * reads, as here. */
	evbuffer_unfreeze(in, 0);
	n = bigread(bufferevent_getfd(bev), in, room);
	evbuffer_freeze(in, 0);
	return n;
}

int
fastio_read(struct bufferevent *bev, size_t room)
{
	ssize_t	n = fastio_read_some(bev, room);

	/* The reservation may be larger than asked: at least room means full. */
	return n > 0 && (size_t)n >= room;
}

void
fastio_write_now(struct bufferevent *bev)
{
	struct evbuffer	*out = bufferevent_get_output(bev);

	/* A socket bufferevent keeps its output's start frozen between its
	 * own writes, as here. */
	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
}

void
fastio_pass(struct evbuffer *src, struct bufferevent *to, int plain)
{
	struct evbuffer	*out = bufferevent_get_output(to);

	if (evbuffer_get_length(src) == 0)
		return;
	if (plain && evbuffer_get_length(out) == 0)
		evbuffer_write(src, bufferevent_getfd(to));
	if (evbuffer_get_length(src) == 0)
		return;
	evbuffer_add_buffer(out, src);
	if (!(bufferevent_get_enabled(to) & EV_WRITE))
		bufferevent_enable(to, EV_WRITE);
}
