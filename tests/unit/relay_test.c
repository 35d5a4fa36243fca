/* relay_test.c -- the pump on bufferevent pairs: bytes pass both ways, a reader pauses for a partner that does not drain and resumes when it does, half-close crosses over; on sockets, the spliced tunnel; a read never takes more than its room. */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bigread.h"
#include "budget.h"
#include "fastio.h"
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

/*
 * The spliced tunnel, on socket pairs: bytes already queued (the 200 of a
 * CONNECT) go first, then both directions pass socket to socket, intact, a
 * pipe held only while bytes flow, none once no tunnel splices; half-close
 * crosses over and the tunnel reports its end.
 */
static int	sp_moved, sp_done, sp_failed;

static void
splice_cb(struct relay *rr, enum relay_what what, void *arg)
{
	(void)rr;
	(void)arg;
	if (what == RELAY_MOVED)
		sp_moved++;
	else if (what == RELAY_DONE)
		sp_done++;
	else
		sp_failed++;
}

/* Writes what it can of pattern bytes [*off, total); 1 once all are out. */
static int
push(int fd, size_t *off, size_t total, unsigned seed)
{
	char	buf[65536];
	size_t	i, n;
	ssize_t	w;

	while (*off < total) {
		n = total - *off < sizeof(buf) ? total - *off : sizeof(buf);
		for (i = 0; i < n; i++)
			buf[i] = (char)((*off + i) * seed >> 3);
		if ((w = write(fd, buf, n)) <= 0)
			return 0;
		*off += (size_t)w;
	}
	return 1;
}

/* Reads and checks the pattern; returns 1 at EOF. */
static int
pull(int fd, size_t *off, unsigned seed, int *bad)
{
	char	buf[65536];
	ssize_t	n, i;

	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == 0)
			return 1;
		if (n < 0)
			return 0;
		for (i = 0; i < n; i++)
			if (buf[i] != (char)((*off + (size_t)i) * seed >> 3))
				*bad = 1;
		*off += (size_t)n;
	}
}

/* A relay between two socket pairs: [0] the test's end, [1] the relay's. */
static void
splice_setup(int sa[2], int sb[2], struct bufferevent **a,
    struct bufferevent **b)
{
	int	i;

	sp_moved = sp_done = sp_failed = 0;
	memset(&r, 0, sizeof(r));
	base = event_base_new();
	CU_ASSERT_FATAL(base != NULL);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sa) == 0);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sb) == 0);
	for (i = 0; i < 2; i++) {
		fcntl(sa[i], F_SETFL, O_NONBLOCK);
		fcntl(sb[i], F_SETFL, O_NONBLOCK);
	}
	*a = bufferevent_socket_new(base, sa[1], BEV_OPT_CLOSE_ON_FREE);
	*b = bufferevent_socket_new(base, sb[1], BEV_OPT_CLOSE_ON_FREE);
	CU_ASSERT_FATAL(*a != NULL && *b != NULL);
	cl[0] = *a;			/* for end_of() */
	relay_init(&r, *a, *b, HIGH, NULL);
	r.client.plain = r.upstream.plain = 1;
	bufferevent_setcb(*a, relay_read_cb, relay_write_cb, relay_event_cb,
	    NULL);
	bufferevent_setcb(*b, relay_read_cb, relay_write_cb, relay_event_cb,
	    NULL);
}

static void
test_splice(void)
{
	struct relay_pipes	 pp;
	struct bufferevent	*a, *b;
	int			 sa[2], sb[2], bad = 0, eof_a = 0, eof_b = 0, i;
	int			 got_hello = 0;
	size_t			 out_a = 0, out_b = 0, in_a = 0, in_b = 0;
	size_t			 total = 8 * 1024 * 1024;
	const char		 hello[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	char			 head[sizeof(hello)];

	splice_setup(sa, sb, &a, &b);
	relay_pipes_init(&pp);
	relay_splice_allow(&r, &pp, splice_cb, NULL);
	bufferevent_write(a, hello, strlen(hello));
	relay_start(&r);
	/* The 200 is still queued: not spliced yet. */
	CU_ASSERT_TRUE(r.splice.up == NULL);
	for (i = 0; i < 200000 && !(eof_a && eof_b); i++) {
		if (!got_hello && read(sa[0], head, strlen(hello)) ==
		    (ssize_t)strlen(hello))
			got_hello = memcmp(head, hello, strlen(hello)) == 0;
		if (push(sa[0], &out_a, total, 7) && out_a == total &&
		    out_a != total + 1) {
			shutdown(sa[0], SHUT_WR);
			out_a = total + 1;
		}
		if (out_b <= total && push(sb[0], &out_b, total / 2, 13) &&
		    out_b == total / 2) {
			shutdown(sb[0], SHUT_WR);
			out_b = total + 1;
		}
		if (!eof_b)
			eof_b = pull(sb[0], &in_b, 7, &bad);
		if (got_hello && !eof_a)
			eof_a = pull(sa[0], &in_a, 13, &bad);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	CU_ASSERT_TRUE(r.splice.up != NULL);
	CU_ASSERT_TRUE(eof_a && eof_b);
	CU_ASSERT_FALSE(bad);
	CU_ASSERT_EQUAL(in_b, total);
	CU_ASSERT_TRUE(got_hello);
	CU_ASSERT_EQUAL(in_a, total / 2);
	CU_ASSERT_EQUAL(r.client.bytes, total);
	CU_ASSERT_EQUAL(r.upstream.bytes, total / 2);
	CU_ASSERT_TRUE(sp_moved > 0);
	CU_ASSERT_EQUAL(sp_done, 1);
	CU_ASSERT_EQUAL(sp_failed, 0);
	/* Done: the pipes it used are back in the pool, none held. */
	CU_ASSERT_TRUE(pp.n >= 1 && pp.n <= 2);
	CU_ASSERT_EQUAL(pp.users, 1);
	relay_stop(&r);
	CU_ASSERT_TRUE(r.splice.up == NULL);
	/* The last spliced tunnel gone: no pipe kept. */
	CU_ASSERT_EQUAL(pp.n, 0);
	CU_ASSERT_EQUAL(pp.users, 0);
	bufferevent_free(a);
	bufferevent_free(b);
	close(sa[0]);
	close(sb[0]);
	relay_pipes_fini(&pp);
	CU_ASSERT_EQUAL(pp.n, 0);
	event_base_free(base);
}

/* Out of descriptors for a pipe: the tunnel goes on, buffered, intact. */
static void
test_splice_no_pipe(void)
{
	struct relay_pipes	 pp;
	struct bufferevent	*a, *b;
	struct rlimit		 old, low;
	int			 sa[2], sb[2], bad = 0, i, fd, last = -1;
	size_t			 out = 0, in = 0, total = 1024 * 1024;

	splice_setup(sa, sb, &a, &b);
	relay_pipes_init(&pp);
	relay_splice_allow(&r, &pp, splice_cb, NULL);
	relay_start(&r);
	CU_ASSERT_FATAL(r.splice.up != NULL);	/* nothing queued: spliced */
	/* Every descriptor taken: no pipe can be made. */
	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = 64;
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &low) == 0);
	while ((fd = dup(0)) != -1)
		last = fd;
	for (i = 0; i < 100000 && in < total; i++) {
		push(sa[0], &out, total, 5);
		pull(sb[0], &in, 5, &bad);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	for (fd = last; fd > sb[1]; fd--)
		close(fd);
	setrlimit(RLIMIT_NOFILE, &old);
	CU_ASSERT_TRUE(r.splice.up == NULL);
	CU_ASSERT_TRUE(r.splice.pipes == NULL);
	CU_ASSERT_EQUAL(in, total);
	CU_ASSERT_FALSE(bad);
	CU_ASSERT_EQUAL(sp_failed, 0);
	relay_stop(&r);
	bufferevent_free(a);
	bufferevent_free(b);
	close(sa[0]);
	close(sb[0]);
	relay_pipes_fini(&pp);
	event_base_free(base);
}

/* A read takes at most the room it is given, though libevent's reservation
 * is larger (the budget's bound rests on it): bigread and fastio alike. */
static void
test_reads_take_only_the_room(void)
{
	static char		 data[64 * 1024];
	struct event_base	*eb;
	struct bufferevent	*bev;
	struct evbuffer		*in;
	int			 sv[2];
	size_t			 i;
	ssize_t			 n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(eb = event_base_new());
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	CU_ASSERT_EQUAL_FATAL(write(sv[1], data, sizeof(data)), (ssize_t)sizeof(data));
	in = evbuffer_new();
	for (i = 0; i < 4; i++) {
		/* A chain with far more room than 100 bytes, as a drained
		 * buffer keeps. */
		evbuffer_add(in, data, 32 * 1024);
		evbuffer_drain(in, 32 * 1024 - 1);
		n = bigread(sv[0], in, 100);
		CU_ASSERT(n > 0 && n <= 100);
		CU_ASSERT_EQUAL(evbuffer_get_length(in), 1 + (size_t)n);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	evbuffer_free(in);
	bev = bufferevent_socket_new(eb, sv[0], BEV_OPT_CLOSE_ON_FREE);
	in = bufferevent_get_input(bev);
	for (i = 0; i < 4; i++) {
		evbuffer_unfreeze(in, 0);
		evbuffer_add(in, data, 32 * 1024);
		evbuffer_drain(in, 32 * 1024 - 1);
		evbuffer_freeze(in, 0);
		n = fastio_read_some(bev, bufferevent_getfd(bev), 4096);
		CU_ASSERT(n > 0 && n <= 4096);
		CU_ASSERT_EQUAL(evbuffer_get_length(in), 1 + (size_t)n);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	bufferevent_free(bev);
	close(sv[1]);
	event_base_free(eb);
}

static const struct unit_test tests[] = {
	{ "bytes both ways", test_both_ways },
	{ "backpressure: pause within the window, resume on drain", test_backpressure },
	{ "half-close crosses after the bytes", test_half_close },
	{ "splice: socket to socket, both ways, pipes only in flight", test_splice },
	{ "splice: out of descriptors, the buffered pump goes on", test_splice_no_pipe },
	{ "a read takes at most its room (bigread, fastio)", test_reads_take_only_the_room },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("relay", tests);
}
