/* upstream.c -- the table of routes to their upstream implementations, and whether each is available. */
#include <stdio.h>

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
	up->fd = -1;
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
