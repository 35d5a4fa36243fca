/* upstream.c -- the table of routes to their upstream implementations, and whether each is available. */
#include "config.h"
#include "upstream.h"
#include "worker.h"

const struct upstream_ops *const upstream_routes[ROUTE__COUNT] = {
	[ROUTE_DIRECT] = &upstream_direct_ops,
	[ROUTE_PROXY] = &upstream_proxy_ops,
	[ROUTE_GATEWAY] = &upstream_gateway_ops,
	[ROUTE_DENY] = NULL,
};

int
upstream_available(const struct worker *w, enum route_kind kind)
{
	switch (kind) {
	case ROUTE_DIRECT:
		return 1;
	case ROUTE_PROXY:
		return w->cfg->proxy_host[0] != '\0';
	case ROUTE_GATEWAY:
		return w->gw != NULL;
	default:
		return 0;
	}
}
