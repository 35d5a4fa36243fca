/* upstream_direct.c -- the direct route: resolve, guard against SSRF, and connect to the destination over TCP. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "resolve.h"
#include "upstream.h"
#include "worker.h"

struct direct {
	struct upstream		 up;		/* first: the common part */
	upstream_open_cb	*cb;
	void			*arg;
	struct resolve		*dns;		/* query under way */
	struct resolve_result	 addrs;
	int			 next;		/* next address to try */
	struct event		*timer;		/* deadline, and deferred results */
	enum px_error		 error;		/* the most telling failure so far */
	int			 explicit_rule;
	int			 finished;	/* cb has been called */
};

static void	direct_try_next(struct direct *);

/* Results always reach the caller from the loop, never from inside open(). */
static void
direct_finish_later(struct direct *d, enum px_error error)
{
	struct timeval	now = { 0, 0 };

	d->error = error;
	d->finished = 1;
	evtimer_add(d->timer, &now);
}

static void
direct_timer(evutil_socket_t fd, short what, void *arg)
{
	struct direct	*d = arg;

	(void)fd;
	(void)what;
	if (!d->finished) {
		/* The deadline for DNS plus connect passed. */
		resolve_cancel(d->dns);
		d->dns = NULL;
		if (d->up.bev != NULL) {
			bufferevent_free(d->up.bev);
			d->up.bev = NULL;
		}
		d->error = PXE_CONNECT_TIMEOUT;
		d->finished = 1;
	}
	d->cb(&d->up, d->error, NULL, d->arg);
}

static void
direct_connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct direct	*d = arg;
	int		 one = 1, err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		evtimer_del(d->timer);
		d->finished = 1;
		d->cb(&d->up, PXE_NONE, NULL, d->arg);
		return;
	}
	d->error = (err == ENETUNREACH || err == EHOSTUNREACH) ?
	    PXE_UNREACHABLE : PXE_REFUSED;
	bufferevent_free(bev);
	d->up.bev = NULL;
	direct_try_next(d);
}

static void
direct_try_next(struct direct *d)
{
	struct sockaddr	*sa;
	socklen_t	 len;

	while (d->next < d->addrs.n) {
		sa = (struct sockaddr *)&d->addrs.addr[d->next];
		len = d->addrs.len[d->next++];

		if (!d->explicit_rule && route_addr_is_guarded(sa)) {
			d->error = PXE_GUARDED;
			continue;
		}
		d->up.bev = bufferevent_socket_new(d->up.w->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		if (d->up.bev == NULL) {
			d->error = PXE_INTERNAL;
			break;
		}
		bufferevent_setcb(d->up.bev, NULL, NULL, direct_connect_event, d);
		if (bufferevent_socket_connect(d->up.bev, sa, (int)len) == 0)
			return;
		/* Failed at once (no route, no descriptors): try the next. */
		d->error = errno == EMFILE || errno == ENFILE ? PXE_OVERLOAD :
		    PXE_UNREACHABLE;
		bufferevent_free(d->up.bev);
		d->up.bev = NULL;
	}
	direct_finish_later(d, d->error);
}

static void
direct_resolved(enum resolve_error error, void *arg)
{
	struct direct	*d = arg;

	d->dns = NULL;
	if (error != RESOLVE_OK) {
		direct_finish_later(d, PXE_DNS);
		return;
	}
	direct_try_next(d);
}

static struct upstream *
direct_open(struct worker *w, const struct upstream_target *t,
    upstream_open_cb *cb, void *arg)
{
	struct direct	*d;
	struct timeval	 tv;
	long long	 ms = t->cfg->limits.connect_timeout_ms;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	upstream_init(&d->up, &upstream_direct_ops, w, ROUTE_DIRECT, t);
	d->up.plain = 1;
	d->cb = cb;
	d->arg = arg;
	d->explicit_rule = t->explicit_rule;
	d->error = PXE_DNS;
	if ((d->timer = evtimer_new(w->base, direct_timer, d)) == NULL) {
		upstream_fini(&d->up);
		free(d);
		return NULL;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(d->timer, &tv);
	switch (resolve_start(w->dns, t->cfg->hosts, t->cfg->nhosts, t->host,
	    t->port, &d->addrs,
	    direct_resolved, d, &d->dns)) {
	case 1:
		direct_try_next(d);
		break;
	case 0:
		break;
	default:
		direct_finish_later(d, PXE_DNS);
		break;
	}
	return &d->up;
}

static void
direct_shutdown_write(struct upstream *up)
{
	shutdown(bufferevent_getfd(up->bev), SHUT_WR);
}

static void
direct_close(struct upstream *up)
{
	struct direct	*d = (struct direct *)up;

	if (up == NULL)
		return;
	resolve_cancel(d->dns);
	if (up->bev != NULL)
		bufferevent_free(up->bev);
	event_free(d->timer);
	upstream_fini(up);
	free(d);
}

const struct upstream_ops upstream_direct_ops = {
	.name = "direct",
	.open = direct_open,
	.shutdown_write = direct_shutdown_write,
	.close = direct_close,
};
