/* pool.c -- idle upstream connections kept for reuse by later requests to the same route, host and port. */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "pool.h"
#include "upstream.h"
#include "worker.h"

TAILQ_HEAD(upstream_list, upstream);

struct pool {
	struct event_base	*base;
	struct upstream_list	 idle;		/* oldest first */
	int			 count;
	struct event		*sweep;		/* closes connections idle too long */
	long long		 idle_timeout_ms;
};

static void
pool_remove(struct pool *p, struct upstream *up)
{
	TAILQ_REMOVE(&p->idle, up, idle);
	p->count--;
}

static void
pool_close(struct pool *p, struct upstream *up)
{
	pool_remove(p, up);
	upstream_close(up);
}

/* An idle connection that becomes readable was closed or sent junk: drop it. */
static void
pool_idle_readable(void *arg)
{
	struct upstream	*up = arg;

	pool_close(up->w->pool, up);
}

static void
pool_idle_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	pool_idle_readable(arg);
}

static void
pool_idle_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	pool_idle_read(bev, arg);
}

static void
pool_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct pool	*p = arg;
	struct upstream	*up;
	struct timeval	 now, age;
	long long	 ms;

	(void)fd;
	(void)what;
	event_base_gettimeofday_cached(p->base, &now);
	while ((up = TAILQ_FIRST(&p->idle)) != NULL) {
		timersub(&now, &up->idle_since, &age);
		ms = (long long)age.tv_sec * 1000 + age.tv_usec / 1000;
		if (ms < p->idle_timeout_ms)
			break;
		pool_close(p, up);
	}
	if (p->count > 0) {
		struct timeval tv = { 1, 0 };

		evtimer_add(p->sweep, &tv);
	}
}

struct pool *
pool_new(struct event_base *base)
{
	struct pool	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->base = base;
	TAILQ_INIT(&p->idle);
	if ((p->sweep = evtimer_new(base, pool_sweep, p)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void
pool_free(struct pool *p)
{
	struct upstream	*up;

	if (p == NULL)
		return;
	while ((up = TAILQ_FIRST(&p->idle)) != NULL)
		pool_close(p, up);
	event_free(p->sweep);
	free(p);
}

struct upstream *
pool_get(struct pool *p, const struct config *cfg, enum route_kind route,
    const char *host, uint16_t port)
{
	struct upstream	*up;

	/* Newest first: the most likely to be still alive.  The generation
	 * is part of the key: the same route may lead through another proxy
	 * (or gateway) after a reload. */
	TAILQ_FOREACH_REVERSE(up, &p->idle, upstream_list, idle)
		if (up->cfg == cfg && up->route == route && up->port == port &&
		    strcmp(up->host, host) == 0) {
			pool_remove(p, up);
			bufferevent_setcb(up->bev, NULL, NULL, NULL, NULL);
			up->reused = 1;
			return up;
		}
	return NULL;
}

void
pool_put(struct pool *p, struct upstream *up, long long max_idle,
    long long idle_timeout_ms)
{
	if (max_idle <= 0) {
		upstream_close(up);
		return;
	}
	while (p->count >= max_idle)
		pool_close(p, TAILQ_FIRST(&p->idle));
	event_base_gettimeofday_cached(p->base, &up->idle_since);
	TAILQ_INSERT_TAIL(&p->idle, up, idle);
	p->count++;
	p->idle_timeout_ms = idle_timeout_ms;
	bufferevent_setcb(up->bev, pool_idle_read, NULL, pool_idle_event, up);
	/* A plain one keeps its own read event (only the callback changes). */
	if (!up->plain || upstream_reads_raw(up, pool_idle_readable, up) == -1)
		bufferevent_enable(up->bev, EV_READ);
	if (!evtimer_pending(p->sweep, NULL)) {
		struct timeval tv = { 1, 0 };

		evtimer_add(p->sweep, &tv);
	}
}

void
pool_retire(struct pool *p, const struct config *current)
{
	struct upstream	*up, *next;

	for (up = TAILQ_FIRST(&p->idle); up != NULL; up = next) {
		next = TAILQ_NEXT(up, idle);
		if (up->cfg != current)
			pool_close(p, up);
	}
}

int
pool_count(const struct pool *p)
{
	return p->count;
}
