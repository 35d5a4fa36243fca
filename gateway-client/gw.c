/* gw.c -- the one route to the Arc gateway: the API, the queue of requests for tunnels, the gateway's state and its endpoint list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "gw.h"
#include "gw_endpoints.h"
#include "gw_internal.h"
#include "gw_tls.h"
#include "log.h"
#include "route.h"

static void	gw_destroy(struct gw *);
static void	gw_reap(evutil_socket_t, short, void *);

const char *
gw_state_name(enum gw_state st)
{
	switch (st) {
	case GW_STATE_CONNECTING: return "connecting";
	case GW_STATE_UP: return "up";
	case GW_STATE_DOWN: return "down";
	}
	return "?";
}

static int
gw_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct gw	*gw = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (gw->session != NULL)
		SSL_SESSION_free(gw->session);
	gw->session = sess;
	return 1;		/* we keep the reference */
}

void
gw_notify(struct gw *gw)
{
	if (gw->s.on_state != NULL && !gw->retired)
		gw->s.on_state(gw->s.state_arg, gw->state, gw->last_error,
		    gw_endpoint_count(gw));
}

/* ---- requests ---------------------------------------------------------- */

static void
gw_req_free(struct gw_req *r)
{
	struct gw	*gw = r->gw;

	if (r->defer != NULL)
		event_free(r->defer);
	if (r->deadline != NULL)
		event_free(r->deadline);
	free(r);
	gw_unref(gw);
}

static void
gw_req_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct gw_req	*r = arg;

	(void)fd;
	(void)what;
	r->cb(NULL, r->error, r->reason, r->arg);
	gw_req_free(r);
}

void
gw_req_done(struct gw_req *r, struct gw_stream *st)
{
	r->cb(st, GW_OK, "tunnel open", r->arg);
	gw_req_free(r);
}

/* Fails a request from the loop: the caller may be inside gw_open(). */
void
gw_req_fail(struct gw_req *r, enum gw_error error, const char *reason)
{
	struct timeval	now = { 0, 0 };

	r->state = GWR_FAILED;
	r->error = error;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	r->carrier = NULL;
	r->h2s = NULL;
	evtimer_del(r->deadline);
	evtimer_add(r->defer, &now);
}

static void
gw_req_wait(struct gw_req *r, int first)
{
	struct gw	*gw = r->gw;

	r->state = GWR_WAITING;
	r->carrier = NULL;
	if (first)
		TAILQ_INSERT_HEAD(&gw->waiting, r, entry);
	else
		TAILQ_INSERT_TAIL(&gw->waiting, r, entry);
	gw->nwaiting++;
	gw_fill(gw);
}

void
gw_req_requeue(struct gw_req *r)
{
	r->retried = 1;
	gw_req_wait(r, 1);
}

/* Sends r's CONNECT on car. */
static void
gw_req_send(struct gw_req *r, struct gw_carrier *car)
{
	r->state = GWR_CONNECT;
	r->carrier = car;
	car->ops->open(car, r);
}

/* Takes r off the waiting list, or off the carrier of its CONNECT. */
static void
gw_req_unlink(struct gw_req *r)
{
	struct gw	*gw = r->gw;

	switch (r->state) {
	case GWR_WAITING:
		TAILQ_REMOVE(&gw->waiting, r, entry);
		gw->nwaiting--;
		break;
	case GWR_CONNECT:
		r->carrier->ops->cancel(r);
		r->carrier = NULL;
		break;
	case GWR_FAILED:
		break;
	}
}

void
gw_fail_waiting(struct gw *gw, enum gw_error error, const char *reason)
{
	struct gw_req	*r;

	while ((r = TAILQ_FIRST(&gw->waiting)) != NULL) {
		TAILQ_REMOVE(&gw->waiting, r, entry);
		gw->nwaiting--;
		gw_req_fail(r, error, reason);
	}
}

/* connect_timeout_ms covers the whole open: the wait for a connection or a
 * stream slot, and the gateway's answer to CONNECT. */
static void
gw_req_expired(evutil_socket_t fd, short what, void *arg)
{
	struct gw_req		*r = arg;
	struct gw		*gw = r->gw;
	struct gw_carrier	*car;
	const char		*why;

	(void)fd;
	(void)what;
	if (r->state == GWR_CONNECT)
		why = "the gateway did not answer CONNECT in time";
	else if ((car = TAILQ_FIRST(&gw->carriers)) != NULL)
		why = car->ops->wait_timeout;
	else
		why = "no connection to the gateway in time";
	gw_req_unlink(r);
	gw_req_fail(r, GW_TIMEOUT, why);
}

void
gw_serve_waiting(struct gw *gw)
{
	struct gw_carrier	*car;
	struct gw_req		*r;

	while ((r = TAILQ_FIRST(&gw->waiting)) != NULL &&
	    (car = gw_pool_pick(gw)) != NULL) {
		TAILQ_REMOVE(&gw->waiting, r, entry);
		gw->nwaiting--;
		gw_req_send(r, car);
	}
}

void
gw_carrier_ready(struct gw_carrier *car)
{
	struct gw	*gw = car->gw;

	if (gw->fetch_due && car->ops->slots(car) > 0) {
		gw->fetch_due = 0;
		car->ops->fetch(car);
	}
	gw_serve_waiting(gw);
}

/* ---- the endpoint list ------------------------------------------------- */

void
gw_list_received(struct gw *gw, struct evbuffer *body, int ok, const char *why)
{
	struct gw_endpoints	 ep;
	int			 refresh_s = 60;
	char			 err[256];
	struct timeval		 tv;

	if (ok && gw_endpoints_parse((const char *)evbuffer_pullup(body, -1),
	    evbuffer_get_length(body), &ep, &refresh_s, err, sizeof(err)) == 0) {
		gw_endpoints_free(&gw->list);
		gw->list = ep;
		gw->list_fetched = (long long)time(NULL);
		log_info("gateway %s:%u: endpoint list: %zu endpoints, %zu bypassed",
		    gw->s.host, gw->s.port, route_table_count(gw->list.endpoints),
		    route_table_count(gw->list.bypass));
		gw_notify(gw);
	} else
		log_warnx("gateway %s:%u: no endpoint list: %s", gw->s.host,
		    gw->s.port, ok ? err : why);
	tv.tv_sec = refresh_s;
	tv.tv_usec = 0;
	if (!gw->retired)
		evtimer_add(gw->refresh, &tv);
}

/* Time for the list again: on a carrier with a free slot, or on the next
 * one to come up. */
static void
gw_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct gw		*gw = arg;
	struct gw_carrier	*car;

	(void)fd;
	(void)what;
	gw->fetch_due = 1;
	if ((car = gw_pool_pick(gw)) != NULL) {
		gw_carrier_ready(car);
		return;
	}
	gw_fill(gw);
}

/* ---- the API ----------------------------------------------------------- */

struct gw_req *
gw_open(struct gw *gw, const char *host, uint16_t port, gw_stream_cb *cb,
    void *arg)
{
	struct gw_req		*r;
	struct gw_carrier	*car;
	struct timeval		 deadline;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->defer = evtimer_new(gw->base, gw_req_deferred, r)) == NULL ||
	    (r->deadline = evtimer_new(gw->base, gw_req_expired, r)) == NULL) {
		if (r->defer != NULL)
			event_free(r->defer);
		free(r);
		return NULL;
	}
	if (gw->s.connect_timeout_ms > 0) {
		deadline.tv_sec = gw->s.connect_timeout_ms / 1000;
		deadline.tv_usec = (gw->s.connect_timeout_ms % 1000) * 1000;
		evtimer_add(r->deadline, &deadline);
	}
	r->gw = gw_ref(gw);
	snprintf(r->host, sizeof(r->host), "%s", host);
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	if (gw->state == GW_STATE_DOWN && evtimer_pending(gw->retry, NULL)) {
		/* Fail fast while backing off: the reason is the last failure. */
		gw_req_fail(r, GW_DOWN, gw->last_error);
		return r;
	}
	if (TAILQ_EMPTY(&gw->waiting) && (car = gw_pool_pick(gw)) != NULL) {
		gw_req_send(r, car);
		return r;
	}
	gw_req_wait(r, 0);
	return r;
}

void
gw_cancel(struct gw_req *r)
{
	if (r == NULL)
		return;
	gw_req_unlink(r);
	gw_req_free(r);
}

struct bufferevent *
gw_stream_bev(struct gw_stream *st)
{
	return st->bev;
}

const char *
gw_stream_protocol(const struct gw_stream *st)
{
	return st->ops->name;
}

void
gw_stream_shutdown(struct gw_stream *st)
{
	st->ops->stream_shutdown(st);
}

void
gw_stream_close(struct gw_stream *st)
{
	if (st == NULL)
		return;
	st->ops->stream_close(st);
}

int
gw_allows(const struct gw *gw, const char *host, uint16_t port)
{
	return gw_endpoints_allows(&gw->list, host, port);
}

int
gw_bypasses(const struct gw *gw, const char *host, uint16_t port)
{
	return gw_endpoints_bypasses(&gw->list, host, port);
}

void
gw_route_tables(const struct gw *gw, const struct route_table **allow,
    const struct route_table **bypass)
{
	*allow = gw->list.endpoints;
	*bypass = gw->list.bypass;
}

enum gw_state
gw_get_state(const struct gw *gw)
{
	return gw->state;
}

const char *
gw_last_error(const struct gw *gw)
{
	return gw->last_error;
}

long long
gw_list_fetched(const struct gw *gw)
{
	return gw->list_fetched;
}

int
gw_endpoint_count(const struct gw *gw)
{
	return gw_endpoints_count(&gw->list);
}

struct gw *
gw_new(struct event_base *base, struct evdns_base *dns,
    const struct gw_settings *s, char *err, size_t errlen)
{
	struct gw	*gw;
	int		 i;

	if ((gw = calloc(1, sizeof(*gw))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	gw->refs = 1;
	gw->base = base;
	gw->dns = dns;
	gw->s = *s;
	gw->state = GW_STATE_CONNECTING;
	gw->fetch_due = 1;
	TAILQ_INIT(&gw->conns);
	TAILQ_INIT(&gw->carriers);
	TAILQ_INIT(&gw->draining);
	TAILQ_INIT(&gw->waiting);
	if (s->nhosts > 0) {
		if ((gw->hosts = calloc(s->nhosts, sizeof(*gw->hosts))) == NULL)
			goto nomem;
		for (i = 0; i < s->nhosts; i++) {
			gw->hosts[i] = s->hosts[i];
			if ((gw->hosts[i].name = strdup(s->hosts[i].name)) == NULL)
				goto nomem;
		}
	}
	gw->s.hosts = gw->hosts;
	gw->s.ca_file = gw->s.cert_file = gw->s.key_file = NULL;
	if ((gw->retry = evtimer_new(base, gw_retry, gw)) == NULL ||
	    (gw->refresh = evtimer_new(base, gw_refresh, gw)) == NULL ||
	    (gw->reap = evtimer_new(base, gw_reap, gw)) == NULL)
		goto nomem;
	gw->stats = s->stats;
	if ((gw->ctx = gw_tls_ctx_new(s->ca_file, s->cert_file, s->key_file,
	    s->protocol != GW_PROTO_HTTP11, s->protocol != GW_PROTO_H2, err,
	    errlen)) == NULL) {
		gw_destroy(gw);
		return NULL;
	}
	SSL_CTX_set_app_data(gw->ctx, gw);
	SSL_CTX_sess_set_new_cb(gw->ctx, gw_new_session);
	return gw;
 nomem:
	snprintf(err, errlen, "out of memory");
	gw_destroy(gw);
	return NULL;
}

void
gw_start(struct gw *gw)
{
	gw_fill(gw);
}

struct gw *
gw_ref(struct gw *gw)
{
	gw->refs++;
	return gw;
}

void
gw_free(struct gw *gw)
{
	if (gw == NULL)
		return;
	gw->retired = 1;
	evtimer_del(gw->retry);
	evtimer_del(gw->refresh);
	gw_fail_waiting(gw, GW_DOWN, "the gateway settings changed");
	gw_pool_release(gw);
	gw_unref(gw);
}

void
gw_unref(struct gw *gw)
{
	struct timeval	now = { 0, 0 };

	if (gw == NULL || --gw->refs > 0)
		return;
	/* The last reference can go inside nghttp2_session_mem_recv() (a
	 * callback hands over a tunnel whose caller then lets go): the
	 * session must outlive that call, so the memory goes from the loop. */
	evtimer_add(gw->reap, &now);
}

static void
gw_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gw_destroy(arg);
}

/* Only reached with no request left: every one holds a reference. */
static void
gw_destroy(struct gw *gw)
{
	int	i;

	gw_pool_destroy(gw);
	if (gw->retry != NULL)
		event_free(gw->retry);
	if (gw->refresh != NULL)
		event_free(gw->refresh);
	if (gw->session != NULL)
		SSL_SESSION_free(gw->session);
	SSL_CTX_free(gw->ctx);
	gw_endpoints_free(&gw->list);
	if (gw->reap != NULL)
		event_free(gw->reap);
	for (i = 0; gw->hosts != NULL && i < gw->s.nhosts; i++)
		free(gw->hosts[i].name);
	free(gw->hosts);
	free(gw);
}
