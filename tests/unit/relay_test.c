/* relay_test.c -- the pump on bufferevent pairs: bytes pass both ways, a reader pauses for a partner that does not drain and resumes when it does, half-close crosses over. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "relay.h"
#include "unit.h"

#define HIGH	(256 * 1024)

static struct event_base	*base;
static struct budget		 budget;
static struct relay		 r;
static struct bufferevent	*cl[2], *us[2];	/* [0] the relay's end, [1] the test's */
static int			 up_shut, finished;
static size_t			 got_client, got_upstream;
static uint64_t			 gauge;

/* The upstream's EOF goes through its hook (arcproxy: the upstream's ops). */
static void
fake_shutdown_write(void *arg)
{
	(void)arg;
	up_shut++;
}

static struct relay_end *
end_of(struct bufferevent *bev)
{
	return bev == cl[0] ? &r.client : &r.upstream;
}

static void
relay_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	relay_read(&r, end_of(bev));
}

static void
relay_write_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (relay_drained(&r, end_of(bev)))
		finished = 1;
}

static void
relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if ((what & BEV_EVENT_EOF) && relay_eof(&r, end_of(bev)))
		finished = 1;
}

/* The test's ends count and drop what arrives. */
static void
sink_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		*got = arg;

	*got += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
setup(void)
{
	memset(&r, 0, sizeof(r));
	up_shut = finished = 0;
	got_client = got_upstream = 0;
	base = event_base_new();
	CU_ASSERT_FATAL(base != NULL);
	budget_init(&budget, 64 * 1024 * 1024, &gauge);
	CU_ASSERT_FATAL(bufferevent_pair_new(base, 0, cl) == 0);
	CU_ASSERT_FATAL(bufferevent_pair_new(base, 0, us) == 0);
	relay_init(&r, cl[0], us[0], HIGH, &budget);
	r.upstream.shutdown_write = fake_shutdown_write;
	/* A pair has no socket: nothing is written past the bufferevent. */
	r.client.plain = r.upstream.plain = 0;
	bufferevent_setcb(cl[0], relay_read_cb, relay_write_cb, relay_event_cb, NULL);
	bufferevent_setcb(us[0], relay_read_cb, relay_write_cb, relay_event_cb, NULL);
	bufferevent_setcb(cl[1], sink_cb, NULL, NULL, &got_client);
	bufferevent_setcb(us[1], sink_cb, NULL, NULL, &got_upstream);
	bufferevent_enable(cl[1], EV_READ | EV_WRITE);
	bufferevent_enable(us[1], EV_READ | EV_WRITE);
	relay_start(&r);
}

static void
teardown(void)
{
	bufferevent_free(cl[0]);
	bufferevent_free(cl[1]);
	bufferevent_free(us[0]);
	bufferevent_free(us[1]);
	event_base_free(base);
}

static void
spin(void)
{
	int	i;

	for (i = 0; i < 200; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void
send_bytes(struct bufferevent *bev, size_t n)
{
	char	*buf = calloc(1, n);

	CU_ASSERT_FATAL(buf != NULL);
	bufferevent_write(bev, buf, n);
	free(buf);
}

static void
test_both_ways(void)
{
	setup();
	send_bytes(cl[1], 100000);
	send_bytes(us[1], 70000);
	spin();
	CU_ASSERT_EQUAL(got_upstream, 100000);
	CU_ASSERT_EQUAL(got_client, 70000);
	CU_ASSERT_EQUAL(r.client.bytes, 100000);
	CU_ASSERT_EQUAL(r.upstream.bytes, 70000);
	CU_ASSERT_FALSE(r.client.paused);
	CU_ASSERT_FALSE(finished);
	teardown();
}

/* An upstream that does not read: the client is paused within a window,
 * and read again, with nothing lost, once the upstream drains. */
static void
test_backpressure(void)
{
	size_t	queued;
	int	i;

	setup();
	bufferevent_disable(us[1], EV_READ);
	/* As a socket delivers them: a piece at a time. */
	for (i = 0; i < 256; i++) {
		send_bytes(cl[1], 8192);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	spin();
	queued = evbuffer_get_length(bufferevent_get_output(us[0]));
	CU_ASSERT_TRUE(r.client.paused);
	CU_ASSERT_TRUE(queued >= RELAY_WINDOW_MIN);
	/* Bounded by the window (the smallest, for a partner that does not
	 * drain) plus what one read brought, never the whole 2 MiB. */
	CU_ASSERT_TRUE(queued < RELAY_WINDOW_MIN + 64 * 1024);
	CU_ASSERT_EQUAL(got_upstream, 0);
	bufferevent_enable(us[1], EV_READ);
	spin();
	CU_ASSERT_EQUAL(got_upstream, 2 * 1024 * 1024);
	CU_ASSERT_FALSE(r.client.paused);
	CU_ASSERT_EQUAL(evbuffer_get_length(bufferevent_get_output(us[0])), 0);
	teardown();
}

/* The client's EOF reaches the upstream after its bytes; the other way keeps
 * flowing until the upstream ends too, and then the relay is finished. */
static void
test_half_close(void)
{
	setup();
	bufferevent_disable(us[1], EV_READ);
	send_bytes(cl[1], 50000);
	bufferevent_flush(cl[1], EV_WRITE, BEV_FINISHED);
	spin();
	CU_ASSERT_TRUE(r.client.eof);
	/* Bytes still queued for the upstream: no EOF before them. */
	CU_ASSERT_EQUAL(up_shut, 0);
	bufferevent_enable(us[1], EV_READ);
	spin();
	CU_ASSERT_EQUAL(got_upstream, 50000);
	CU_ASSERT_EQUAL(up_shut, 1);
	CU_ASSERT_FALSE(finished);
	send_bytes(us[1], 30000);
	spin();
	CU_ASSERT_EQUAL(got_client, 30000);
	CU_ASSERT_FALSE(finished);
	bufferevent_flush(us[1], EV_WRITE, BEV_FINISHED);
	spin();
	CU_ASSERT_TRUE(r.upstream.eof);
	CU_ASSERT_TRUE(r.client.shut);
	CU_ASSERT_TRUE(finished);
	teardown();
}

static const struct unit_test tests[] = {
	{ "bytes both ways", test_both_ways },
	{ "backpressure: pause within the window, resume on drain", test_backpressure },
	{ "half-close crosses after the bytes", test_half_close },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("relay", tests);
}
