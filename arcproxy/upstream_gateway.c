/* upstream_gateway.c -- the gateway route: a tunnel opened by gateway-client, as an upstream stream. */
#include <stdlib.h>
#include <stdio.h>

#include <event2/bufferevent.h>

#include "gw.h"
#include "upstream.h"
#include "worker.h"

struct gateway_up {
	struct upstream		 up;		/* first: the common part */
	struct gw		*gw;		/* held while the tunnel opens */
	struct gw_req		*req;
	struct gw_stream	*st;		/* the tunnel, once open */
	upstream_open_cb	*cb;
	void			*arg;
};

static enum px_error
gateway_error(enum gw_error e)
{
	switch (e) {
	case GW_OK: return PXE_NONE;
	case GW_DENIED: return PXE_GATEWAY_DENIED;
	case GW_TARGET: return PXE_GATEWAY_TARGET;
	case GW_TIMEOUT: return PXE_CONNECT_TIMEOUT;
	case GW_PROTOCOL: return PXE_UPSTREAM_PROTOCOL;
	case GW_INTERNAL: return PXE_INTERNAL;
	case GW_BUSY: return PXE_OVERLOAD;
	case GW_DOWN: break;
	}
	return PXE_GATEWAY_DOWN;
}

static void
gateway_opened(struct gw_stream *st, enum gw_error e, const char *reason,
    void *arg)
{
	struct gateway_up	*g = arg;

	g->req = NULL;
	g->st = st;
	g->up.bev = st != NULL ? gw_stream_bev(st) : NULL;
	g->cb(&g->up, gateway_error(e), e == GW_OK ? NULL : reason, g->arg);
}

static struct upstream *
gateway_open(struct worker *w, const struct upstream_target *t,
    upstream_open_cb *cb, void *arg)
{
	struct gateway_up	*g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	upstream_init(&g->up, &upstream_gateway_ops, w, ROUTE_GATEWAY, t);
	g->cb = cb;
	g->arg = arg;
	g->gw = gw_ref(t->gw);
	if ((g->req = gw_open(g->gw, t->host, t->port, gateway_opened, g)) == NULL) {
		upstream_fini(&g->up);
		gw_unref(g->gw);
		free(g);
		return NULL;
	}
	return &g->up;
}

static void
gateway_shutdown_write(struct upstream *up)
{
	gw_stream_shutdown(((struct gateway_up *)up)->st);
}

static void
gateway_close(struct upstream *up)
{
	struct gateway_up	*g = (struct gateway_up *)up;

	if (up == NULL)
		return;
	gw_cancel(g->req);
	gw_stream_close(g->st);
	gw_unref(g->gw);
	upstream_fini(up);
	free(g);
}

const struct upstream_ops upstream_gateway_ops = {
	.name = "gateway",
	.open = gateway_open,
	.shutdown_write = gateway_shutdown_write,
	.close = gateway_close,
};
