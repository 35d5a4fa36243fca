/* upstream_proxy.c -- the proxy route: a CONNECT through the enterprise proxy (proxy.url), as an upstream stream. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "connect.h"
#include "upstream.h"
#include "worker.h"

struct proxy_up {
	struct upstream		 up;		/* first: the common part */
	struct upstream		*tcp;		/* the direct connection to the proxy */
	struct connect_handshake *connect;
	struct event		*timer;		/* connect_timeout_ms: the whole open */
	upstream_open_cb	*cb;
	void			*arg;
	int			 finished;	/* cb has been called */
	char			 details[400];
};

/* Every result goes through here: once, and the deadline with it. */
static void
proxy_finish(struct proxy_up *p, enum px_error error, const char *details)
{
	p->finished = 1;
	evtimer_del(p->timer);
	p->cb(&p->up, error, details, p->arg);
}

/* The proxy did not connect and answer CONNECT within connect_timeout_ms. */
static void
proxy_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_up	*p = arg;

	(void)fd;
	(void)what;
	if (p->finished)
		return;
	snprintf(p->details, sizeof(p->details), "enterprise proxy %s:%u: %s",
	    p->up.cfg->proxy_host, p->up.cfg->proxy_port,
	    p->connect != NULL ? "no answer to CONNECT in time" :
	    "not connected in time");
	connect_free(p->connect);
	p->connect = NULL;
	proxy_finish(p, PXE_CONNECT_TIMEOUT, p->details);
}

static void
proxy_answer(enum connect_result result, int status, const char *reason,
    void *arg)
{
	struct proxy_up	*p = arg;

	(void)status;
	/* reason lives in the handshake: copy it before freeing that. */
	snprintf(p->details, sizeof(p->details), "enterprise proxy: %s", reason);
	connect_free(p->connect);
	p->connect = NULL;
	if (result == CONNECT_OPEN) {
		p->up.bev = p->tcp->bev;
		proxy_finish(p, PXE_NONE, NULL);
		return;
	}
	proxy_finish(p, result == CONNECT_CLOSED ? PXE_PROXY_DOWN : PXE_PROXY_REFUSED,
	    p->details);
}

static void
proxy_tcp_opened(struct upstream *tcp, enum px_error error, const char *details,
    void *arg)
{
	struct proxy_up	*p = arg;

	(void)details;
	if (p->finished)
		return;
	if (error != PXE_NONE) {
		snprintf(p->details, sizeof(p->details), "enterprise proxy %s:%u: %s",
		    p->up.cfg->proxy_host, p->up.cfg->proxy_port,
		    px_errors[error].reason);
		proxy_finish(p, error == PXE_CONNECT_TIMEOUT ? error :
		    PXE_PROXY_DOWN, p->details);
		return;
	}
	if ((p->connect = connect_start(tcp->bev, p->up.host, p->up.port,
	    proxy_answer, p)) == NULL)
		proxy_finish(p, PXE_INTERNAL, NULL);
}

static struct upstream *
proxy_open(struct worker *w, const struct upstream_target *t,
    upstream_open_cb *cb, void *arg)
{
	struct proxy_up		*p;
	struct upstream_target	 to_proxy;
	struct timeval		 tv;
	long long		 ms = t->cfg->limits.connect_timeout_ms;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->timer = evtimer_new(w->base, proxy_timeout, p)) == NULL) {
		free(p);
		return NULL;
	}
	upstream_init(&p->up, &upstream_proxy_ops, w, ROUTE_PROXY, t);
	p->up.plain = 1;
	p->cb = cb;
	p->arg = arg;
	/* The operator named the proxy: the SSRF guard does not apply to it. */
	to_proxy = *t;
	to_proxy.host = t->cfg->proxy_host;
	to_proxy.port = t->cfg->proxy_port;
	to_proxy.explicit_rule = 1;
	if ((p->tcp = upstream_direct_ops.open(w, &to_proxy, proxy_tcp_opened,
	    p)) == NULL) {
		upstream_fini(&p->up);
		event_free(p->timer);
		free(p);
		return NULL;
	}
	/* The TCP connect has its own deadline; this one also covers the
	 * proxy's answer, which a stalled proxy may never send. */
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
	return &p->up;
}

static void
proxy_shutdown_write(struct upstream *up)
{
	struct proxy_up	*p = (struct proxy_up *)up;

	p->tcp->ops->shutdown_write(p->tcp);
}

static void
proxy_close(struct upstream *up)
{
	struct proxy_up	*p = (struct proxy_up *)up;

	if (up == NULL)
		return;
	connect_free(p->connect);
	p->tcp->ops->close(p->tcp);
	event_free(p->timer);
	upstream_fini(up);
	free(p);
}

const struct upstream_ops upstream_proxy_ops = {
	.name = "proxy",
	.open = proxy_open,
	.shutdown_write = proxy_shutdown_write,
	.close = proxy_close,
};
