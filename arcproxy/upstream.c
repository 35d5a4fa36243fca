/* upstream.c -- the table of routes to their upstream implementations, and whether each is available. */
#include <stdio.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "config.h"
#include "relay.h"
#include "upstream.h"
#include "worker.h"

const struct upstream_ops *const upstream_routes[ROUTE__COUNT] = {
	[ROUTE_DIRECT] = &upstream_direct_ops,
	[ROUTE_PROXY] = &upstream_proxy_ops,
	[ROUTE_GATEWAY] = &upstream_gateway_ops,
	[ROUTE_DENY] = NULL,
};

int
upstream_available(const struct config *cfg, const struct gw *gw,
    enum route_kind kind)
{
	switch (kind) {
	case ROUTE_DIRECT:
		return 1;
	case ROUTE_PROXY:
		return cfg->proxy_host[0] != '\0';
	case ROUTE_GATEWAY:
		return gw != NULL;
	default:
		return 0;
	}
}

void
upstream_init(struct upstream *up, const struct upstream_ops *ops,
    struct worker *w, enum route_kind route, const struct upstream_target *t)
{
	up->ops = ops;
	up->w = w;
	up->route = route;
	up->cfg = config_ref(t->cfg);
	snprintf(up->host, sizeof(up->host), "%s", t->host);
	up->port = t->port;
}

void
upstream_fini(struct upstream *up)
{
	config_unref(up->cfg);
	up->cfg = NULL;
}

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

static void
upstream_relay_shutdown(void *arg)
{
	struct upstream	*up = arg;

	up->ops->shutdown_write(up);
}

void
upstream_relay_init(struct upstream *up, struct relay *r,
    struct bufferevent *client, size_t high_water)
{
	relay_init(r, client, up->bev, high_water, &up->w->budget);
	r->client.plain = 1;
	r->upstream.plain = up->plain;
	r->upstream.shutdown_write = upstream_relay_shutdown;
	r->upstream.arg = up;
}
