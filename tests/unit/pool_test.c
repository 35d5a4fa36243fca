/* pool_test.c -- the idle pool on bufferevent pairs: put and get by route, host, port and generation; the cap; expiry; an idle connection that speaks is dropped. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "pool.h"
#include "upstream.h"
#include "worker.h"
#include "unit.h"

static struct event_base	*base;
static struct worker		 w;
static int			 closed;

/* Two configs stand for two generations: the pool only compares them. */
static struct config		*gen_a = (struct config *)&gen_a;
static struct config		*gen_b = (struct config *)&gen_b;

struct fake {
	struct upstream		 up;
	struct bufferevent	*peer;
};

static void
fake_close(struct upstream *up)
{
	struct fake	*f = (struct fake *)up;

	closed++;
	bufferevent_free(up->bev);
	bufferevent_free(f->peer);
	free(f);
}

static const struct upstream_ops fake_ops = { .name = "fake", .close = fake_close };

static struct upstream *
fake_new(struct config *cfg, enum route_kind route, const char *host,
    uint16_t port)
{
	struct fake		*f = calloc(1, sizeof(*f));
	struct bufferevent	*pair[2];

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(bufferevent_pair_new(base, 0, pair) == 0);
	f->up.ops = &fake_ops;
	f->up.bev = pair[0];
	f->peer = pair[1];
	f->up.w = &w;
	f->up.cfg = cfg;
	f->up.route = route;
	snprintf(f->up.host, sizeof(f->up.host), "%s", host);
	f->up.port = port;
	bufferevent_enable(f->peer, EV_READ | EV_WRITE);
	return &f->up;
}

static void
setup(void)
{
	memset(&w, 0, sizeof(w));
	closed = 0;
	base = event_base_new();
	CU_ASSERT_FATAL(base != NULL);
	w.base = base;
	w.pool = pool_new(base);
	CU_ASSERT_FATAL(w.pool != NULL);
}

static void
teardown(void)
{
	pool_free(w.pool);
	event_base_free(base);
}

static void
test_put_get(void)
{
	struct upstream	*a, *b, *got;

	setup();
	a = fake_new(gen_a, ROUTE_DIRECT, "a.test", 80);
	b = fake_new(gen_a, ROUTE_PROXY, "a.test", 80);
	pool_put(w.pool, a, 8, 60000);
	pool_put(w.pool, b, 8, 60000);
	CU_ASSERT_EQUAL(pool_count(w.pool), 2);
	CU_ASSERT_PTR_NULL(pool_get(w.pool, gen_a, ROUTE_DIRECT, "a.test", 443));
	CU_ASSERT_PTR_NULL(pool_get(w.pool, gen_a, ROUTE_DIRECT, "b.test", 80));
	CU_ASSERT_PTR_NULL(pool_get(w.pool, gen_a, ROUTE_GATEWAY, "a.test", 80));
	got = pool_get(w.pool, gen_a, ROUTE_PROXY, "a.test", 80);
	CU_ASSERT_PTR_EQUAL(got, b);
	CU_ASSERT_TRUE(got != NULL && got->reused);
	CU_ASSERT_EQUAL(pool_count(w.pool), 1);
	CU_ASSERT_PTR_NULL(pool_get(w.pool, gen_a, ROUTE_PROXY, "a.test", 80));
	got->ops->close(got);
	CU_ASSERT_EQUAL(closed, 1);
	teardown();
	CU_ASSERT_EQUAL(closed, 2);	/* pool_free closed the other */
}

/* The same route, host and port under another config is another key. */
static void
test_generation(void)
{
	struct upstream	*a, *got;

	setup();
	a = fake_new(gen_a, ROUTE_PROXY, "x.test", 443);
	pool_put(w.pool, a, 8, 60000);
	CU_ASSERT_PTR_NULL(pool_get(w.pool, gen_b, ROUTE_PROXY, "x.test", 443));
	pool_put(w.pool, fake_new(gen_b, ROUTE_PROXY, "x.test", 443), 8, 60000);
	pool_retire(w.pool, gen_b);
	CU_ASSERT_EQUAL(closed, 1);
	CU_ASSERT_EQUAL(pool_count(w.pool), 1);
	CU_ASSERT_PTR_NULL(pool_get(w.pool, gen_a, ROUTE_PROXY, "x.test", 443));
	got = pool_get(w.pool, gen_b, ROUTE_PROXY, "x.test", 443);
	CU_ASSERT_TRUE(got != NULL && got->cfg == gen_b);
	if (got != NULL)
		got->ops->close(got);
	teardown();
}

/* At max_idle the oldest goes; newest first on the way out. */
static void
test_cap(void)
{
	struct upstream	*u[3], *got;
	int		 i;

	setup();
	for (i = 0; i < 3; i++) {
		u[i] = fake_new(gen_a, ROUTE_DIRECT, "c.test", 80);
		pool_put(w.pool, u[i], 2, 60000);
	}
	CU_ASSERT_EQUAL(pool_count(w.pool), 2);
	CU_ASSERT_EQUAL(closed, 1);
	got = pool_get(w.pool, gen_a, ROUTE_DIRECT, "c.test", 80);
	CU_ASSERT_PTR_EQUAL(got, u[2]);
	got->ops->close(got);
	pool_put(w.pool, fake_new(gen_a, ROUTE_DIRECT, "c.test", 80), 0, 60000);
	CU_ASSERT_EQUAL(closed, 3);	/* max_idle 0 keeps nothing */
	teardown();
}

static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

/* The sweep (once a second) closes what idled past the timeout; an idle
 * connection that becomes readable is dropped at once. */
static void
test_expiry_and_idle_read(void)
{
	struct upstream	*a, *b;
	struct fake	*fb;
	struct event	*ev;
	struct timeval	 tv = { 1, 300000 };

	setup();
	a = fake_new(gen_a, ROUTE_DIRECT, "e.test", 80);
	pool_put(w.pool, a, 8, 100);
	b = fake_new(gen_a, ROUTE_DIRECT, "f.test", 80);
	pool_put(w.pool, b, 8, 100);
	fb = (struct fake *)b;
	bufferevent_write(fb->peer, "junk", 4);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(closed, 1);
	CU_ASSERT_EQUAL(pool_count(w.pool), 1);
	ev = evtimer_new(base, stop_loop, base);
	evtimer_add(ev, &tv);
	event_base_dispatch(base);
	event_free(ev);
	CU_ASSERT_EQUAL(pool_count(w.pool), 0);
	CU_ASSERT_EQUAL(closed, 2);
	teardown();
}

static const struct unit_test tests[] = {
	{ "put and get by route, host and port", test_put_get },
	{ "keyed by generation; retire on reload", test_generation },
	{ "max_idle: the oldest goes", test_cap },
	{ "expiry, and an idle connection that speaks", test_expiry_and_idle_read },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("pool", tests);
}
