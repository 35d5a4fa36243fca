/* upstream_io.c -- an upstream's reads (its own event or its bufferevent's), its buffers in the worker's budget, and its close. */
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "upstream.h"
#include "worker.h"

void
upstream_track(struct upstream *up)
{
	if (up->tracked)
		return;
	budget_track(&up->w->budget, up->bev);
	up->tracked = 1;
}

void
upstream_untrack(struct upstream *up)
{
	if (!up->tracked)
		return;
	budget_untrack(&up->w->budget, up->bev);
	up->tracked = 0;
}

static void
upstream_readable(evutil_socket_t fd, short what, void *arg)
{
	struct upstream	*up = arg;

	(void)fd;
	(void)what;
	up->readable(up->readable_arg);
}

int
upstream_fd(struct upstream *up)
{
	if (up->fd == -1)
		up->fd = bufferevent_getfd(up->bev);
	return up->fd;
}

int
upstream_reads_raw(struct upstream *up, void (*cb)(void *), void *arg)
{
	up->readable = cb;
	up->readable_arg = arg;
	if (up->rev_on)
		return 0;
	if (up->rev == NULL && (up->rev = event_new(up->w->base,
	    bufferevent_getfd(up->bev), EV_READ | EV_PERSIST, upstream_readable,
	    up)) == NULL)
		return -1;
	/* In before the bufferevent's goes out: no epoll_ctl for the swap. */
	event_add(up->rev, NULL);
	up->rev_on = 1;
	if (bufferevent_get_enabled(up->bev) & EV_READ)
		bufferevent_disable(up->bev, EV_READ);
	return 0;
}

void
upstream_reads_bev(struct upstream *up, int for_good)
{
	if (up->rev_on) {
		event_del(up->rev);
		up->rev_on = 0;
	}
	if (for_good && up->rev != NULL) {
		event_free(up->rev);
		up->rev = NULL;
	}
}

void
upstream_close(struct upstream *up)
{
	upstream_untrack(up);
	/* Before its socket closes. */
	upstream_reads_bev(up, 1);
	up->ops->close(up);
}
