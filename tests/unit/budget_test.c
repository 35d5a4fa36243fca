/* budget_test.c -- the buffer budget: bytes counted as buffers grow, move and drain, and released with them. */
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "unit.h"

static struct event_base	*base;
static struct bufferevent	*a, *b;
static int			 fds[2];

static void
pair_up(void)
{
	base = event_base_new();
	CU_ASSERT_FATAL(base != NULL);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	a = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	b = bufferevent_socket_new(base, fds[1], BEV_OPT_CLOSE_ON_FREE);
	CU_ASSERT_FATAL(a != NULL && b != NULL);
}

static void
pair_down(void)
{
	bufferevent_free(a);
	bufferevent_free(b);
	event_base_free(base);
}

/* As a read does: a socket bufferevent keeps its input's end frozen. */
static void
add_input(struct bufferevent *bev, const char *data, size_t len)
{
	struct evbuffer	*in = bufferevent_get_input(bev);

	evbuffer_unfreeze(in, 0);
	CU_ASSERT_EQUAL(evbuffer_add(in, data, len), 0);
	evbuffer_freeze(in, 0);
}

/* As a write does: and its output's start. */
static void
drain_output(struct bufferevent *bev, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(bev);

	evbuffer_unfreeze(out, 1);
	CU_ASSERT_EQUAL(evbuffer_drain(out, len), 0);
	evbuffer_freeze(out, 1);
}

static void
test_counts_growth_and_drain(void)
{
	struct budget	bg;
	uint64_t	gauge = 0;
	char		chunk[1000] = { 0 };

	pair_up();
	evbuffer_add(bufferevent_get_output(a), chunk, 300);
	budget_init(&bg, 4000, &gauge);
	budget_track(&bg, a);
	CU_ASSERT_EQUAL(bg.used, 300);		/* what it held already */
	CU_ASSERT_EQUAL(gauge, 300);
	budget_track(&bg, a);			/* again: not twice */
	CU_ASSERT_EQUAL(bg.used, 300);
	add_input(a, chunk, 1000);
	CU_ASSERT_EQUAL(bg.used, 1300);
	budget_track(&bg, b);
	/* Moving bytes between tracked buffers changes nothing. */
	evbuffer_add_buffer(bufferevent_get_output(b), bufferevent_get_input(a));
	CU_ASSERT_EQUAL(bg.used, 1300);
	drain_output(b, 600);
	CU_ASSERT_EQUAL(bg.used, 700);
	CU_ASSERT_EQUAL(gauge, 700);
	CU_ASSERT_FALSE(budget_spent(&bg));
	CU_ASSERT_EQUAL(budget_left(&bg), 3300);
	add_input(b, chunk, 1000);
	add_input(b, chunk, 1000);
	add_input(b, chunk, 1000);
	add_input(b, chunk, 1000);
	CU_ASSERT_TRUE(budget_spent(&bg));
	CU_ASSERT_EQUAL(budget_left(&bg), 0);
	/* What an untracked buffer holds leaves the count with it. */
	budget_untrack(&bg, b);
	CU_ASSERT_EQUAL(bg.used, 300);
	CU_ASSERT_EQUAL(evbuffer_drain(bufferevent_get_input(b), 1000), 0);
	CU_ASSERT_EQUAL(bg.used, 300);
	budget_untrack(&bg, a);
	budget_untrack(&bg, a);			/* again: nothing */
	budget_untrack(&bg, NULL);
	CU_ASSERT_EQUAL(bg.used, 0);
	CU_ASSERT_EQUAL(gauge, 0);
	pair_down();
}

static void
test_counts_socket_writes(void)
{
	struct budget	bg;
	uint64_t	gauge = 0;
	char		chunk[1000] = { 0 }, sink[2000];

	pair_up();
	budget_init(&bg, 1 << 20, &gauge);
	budget_track(&bg, a);
	evbuffer_add(bufferevent_get_output(a), chunk, sizeof(chunk));
	CU_ASSERT_EQUAL(bg.used, 1000);
	/* The bufferevent writes to the socket: the bytes leave the count. */
	bufferevent_enable(a, EV_WRITE);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CU_ASSERT_EQUAL(evbuffer_get_length(bufferevent_get_output(a)), 0);
	CU_ASSERT_EQUAL(bg.used, 0);
	CU_ASSERT_EQUAL(read(fds[1], sink, sizeof(sink)), 1000);
	budget_untrack(&bg, a);
	CU_ASSERT_EQUAL(bg.used, 0);
	pair_down();
}

static const struct unit_test tests[] = {
	{ "growth, moves, drains, re-tracking and untracking", test_counts_growth_and_drain },
	{ "a bufferevent's own socket writes", test_counts_socket_writes },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("budget", tests);
}
