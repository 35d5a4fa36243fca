/* pump.c -- a session's bytes both ways between the relay and the local port: lib/relay's pump (backpressure, half-close), the session's counters readable while it runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "pump.h"
#include "relay.h"
#include "tls.h"

/* The relay leg is client, the local port upstream. */
struct pump {
	struct relay	 relay;
	pump_done_cb	*done;
	void		*arg;
	int		 finished;
	char		 error[200];
};

static void
pump_finish(struct pump *p, const char *error)
{
	if (p->finished)
		return;
	p->finished = 1;
	bufferevent_disable(p->relay.client.bev, EV_READ | EV_WRITE);
	bufferevent_disable(p->relay.upstream.bev, EV_READ | EV_WRITE);
	p->done(p->arg, error);		/* may free p */
}

static struct relay_end *
pump_end(struct pump *p, struct bufferevent *bev)
{
	return bev == p->relay.client.bev ? &p->relay.client :
	    &p->relay.upstream;
}

/* EOF once everything is written: close_notify first on the relay's TLS. */
static void
pump_shutdown(void *bev)
{
	tls_shutdown_write(bev);
}

static void
pump_on_read(struct bufferevent *bev, void *arg)
{
	struct pump	*p = arg;

	relay_read(&p->relay, pump_end(p, bev));
}

static void
pump_on_write(struct bufferevent *bev, void *arg)
{
	struct pump	*p = arg;

	if (relay_drained(&p->relay, pump_end(p, bev)))
		pump_finish(p, NULL);
}

static void
pump_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pump		*p = arg;
	struct relay_end	*end = pump_end(p, bev);
	char			 why[128];
	int			 err = EVUTIL_SOCKET_ERROR();

	/* EOF while writing is a dead peer, not a half-close. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_WRITING)) {
		if (relay_eof(&p->relay, end))
			pump_finish(p, NULL);
		else if (!end->shut)
			/* A TLS bufferevent stops writing on close_notify;
			 * our side may still have bytes to send. */
			bufferevent_enable(bev, EV_WRITE);
		return;
	}
	tls_bev_errors(bev, why, sizeof(why));
	snprintf(p->error, sizeof(p->error), "%s side %s: %s",
	    end == &p->relay.client ? "relay" : "local",
	    (what & BEV_EVENT_READING) ? "read" : "write", why[0] ? why :
	    err ? evutil_socket_error_to_string(err) : "failed");
	pump_finish(p, p->error);
}

struct pump *
pump_new(struct bufferevent *relay_bev, struct bufferevent *local,
    size_t high_water, pump_done_cb *done, void *arg)
{
	struct pump	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->done = done;
	p->arg = arg;
	/* No budget: each way's window starts at high_water (as cloudsim's
	 * tunnels do), a reader pausing while its partner holds that much. */
	relay_init(&p->relay, relay_bev, local, high_water, NULL);
	p->relay.client.win.high = p->relay.upstream.win.high = high_water;
	/* Bulk copies: reads and writes of a window, not libevent's 16 KiB. */
	bufferevent_set_max_single_read(relay_bev, high_water);
	bufferevent_set_max_single_write(relay_bev, high_water);
	bufferevent_set_max_single_read(local, high_water);
	bufferevent_set_max_single_write(local, high_water);
	p->relay.client.shutdown_write = pump_shutdown;
	p->relay.client.arg = relay_bev;
	p->relay.upstream.shutdown_write = pump_shutdown;
	p->relay.upstream.arg = local;
	bufferevent_setcb(relay_bev, pump_on_read, pump_on_write, pump_on_event,
	    p);
	bufferevent_setcb(local, pump_on_read, pump_on_write, pump_on_event, p);
	relay_start(&p->relay);
	return p;
}

void
pump_bytes(const struct pump *p, uint64_t *relay_to_local,
    uint64_t *local_to_relay)
{
	*relay_to_local = p->relay.client.bytes;
	*local_to_relay = p->relay.upstream.bytes;
}

void
pump_free(struct pump *p)
{
	if (p == NULL)
		return;
	bufferevent_free(p->relay.client.bev);
	bufferevent_free(p->relay.upstream.bev);
	free(p);
}
