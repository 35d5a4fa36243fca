/* ws_test.c -- WebSocket on a bufferevent: RFC 6455's accept example, and a client and a server talking over a socket pair (text both ways, ping, close). */
#include <sys/socket.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "unit.h"
#include "ws.h"

static void
test_accept(void)
{
	char	key[WS_KEY_LEN + 1], other[WS_KEY_LEN + 1], acc[WS_ACCEPT_LEN + 1];

	/* RFC 6455 section 1.3. */
	ws_accept("dGhlIHNhbXBsZSBub25jZQ==", acc, sizeof(acc));
	CU_ASSERT_STRING_EQUAL(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CU_ASSERT_EQUAL(ws_key_new(key, sizeof(key)), 0);
	CU_ASSERT_EQUAL(ws_key_new(other, sizeof(other)), 0);
	CU_ASSERT_EQUAL(strlen(key), WS_KEY_LEN);
	CU_ASSERT_STRING_NOT_EQUAL(key, other);
	CU_ASSERT_EQUAL(ws_key_new(key, WS_KEY_LEN), -1);
}

struct side {
	struct ws		*ws;
	char			 got[64];
	int			 messages;
	int			 closed;
	char			 why[256];
	struct event_base	*base;
};

static void
on_message(void *arg, const char *text, size_t len)
{
	struct side	*s = arg;

	snprintf(s->got, sizeof(s->got), "%.*s", (int)len, text);
	s->messages++;
	event_base_loopbreak(s->base);
}

static void
on_closed(void *arg, const char *why)
{
	struct side	*s = arg;

	s->closed = 1;
	snprintf(s->why, sizeof(s->why), "%s", why);
	ws_free(s->ws);
	s->ws = NULL;
	event_base_loopbreak(s->base);
}

static const struct ws_ops ops = { on_message, on_closed };

static void
run_until(struct event_base *base, int *flag)
{
	int	i;

	for (i = 0; i < 100 && !*flag; i++)
		event_base_loop(base, EVLOOP_ONCE);
}

static void
test_talk(void)
{
	struct event_base	*base = event_base_new();
	struct side		 client, server;
	struct bufferevent	*bc, *bs;
	int			 fds[2];

	memset(&client, 0, sizeof(client));
	memset(&server, 0, sizeof(server));
	client.base = server.base = base;
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	evutil_make_socket_nonblocking(fds[0]);
	evutil_make_socket_nonblocking(fds[1]);
	bc = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	bs = bufferevent_socket_new(base, fds[1], BEV_OPT_CLOSE_ON_FREE);
	client.ws = ws_new(bc, 0, 1024, &ops, &client);
	server.ws = ws_new(bs, 1, 1024, &ops, &server);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client.ws);
	CU_ASSERT_PTR_NOT_NULL_FATAL(server.ws);

	CU_ASSERT_EQUAL(ws_send_text(server.ws, "{\"type\":\"goalState\"}", 20), 0);
	run_until(base, &client.messages);
	CU_ASSERT_STRING_EQUAL(client.got, "{\"type\":\"goalState\"}");
	CU_ASSERT_EQUAL(ws_send_text(client.ws, "up", 2), 0);
	CU_ASSERT_EQUAL(ws_ping(client.ws), 0);
	run_until(base, &server.messages);
	CU_ASSERT_STRING_EQUAL(server.got, "up");

	/* A message over the limit ends the connection (1009). */
	{
		char	big[2048];

		memset(big, 'x', sizeof(big));
		CU_ASSERT_EQUAL(ws_send_text(client.ws, big, sizeof(big)), 0);
		run_until(base, &server.closed);
		CU_ASSERT_EQUAL(server.closed, 1);
	}
	run_until(base, &client.closed);
	CU_ASSERT_EQUAL(client.closed, 1);
	/* The server says why; the client, still writing, hears the close
	 * frame or finds the connection gone. */
	CU_ASSERT_STRING_EQUAL(server.why, "closed the WebSocket (1009)");
	CU_ASSERT(strstr(client.why, "1009") != NULL ||
	    strstr(client.why, "connection") != NULL);
	ws_free(client.ws);
	ws_free(server.ws);
	event_base_free(base);
}

/*
 * A peer that sends pings without end and never reads: the pongs may not
 * pile up in our output (it grew by a pong per ping, without bound); its
 * frames wait in the socket instead.
 */
static void
test_ping_flood(void)
{
	struct event_base	*base = event_base_new();
	struct side		 client;
	struct bufferevent	*bc;
	unsigned char		 frames[127 * 64];
	size_t			 i, most = 0, sent = 0, off = 0;
	ssize_t			 n;
	int			 fds[2], sz = 4096;

	memset(&client, 0, sizeof(client));
	client.base = base;
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	/* Small socket buffers: what piles up is in our memory. */
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	evutil_make_socket_nonblocking(fds[0]);
	evutil_make_socket_nonblocking(fds[1]);
	bc = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	client.ws = ws_new(bc, 0, 1024, &ops, &client);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client.ws);
	for (i = 0; i < sizeof(frames); i += 127) {
		frames[i] = 0x89;	/* FIN, ping, from a server: unmasked */
		frames[i + 1] = 125;
		memset(frames + i + 2, 'p', 125);
	}
	/* 8 MiB of pings, or until the client stops taking them. */
	for (i = 0; i < 200000 && sent < (8u << 20) && !client.closed; i++) {
		n = write(fds[1], frames + off, sizeof(frames) - off);
		if (n > 0) {
			sent += (size_t)n;
			off = (off + (size_t)n) % sizeof(frames);
		} else
			CU_ASSERT_EQUAL_FATAL(errno, EAGAIN);
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (client.ws != NULL && evbuffer_get_length(
		    bufferevent_get_output(bc)) > most)
			most = evbuffer_get_length(bufferevent_get_output(bc));
	}
	CU_ASSERT_FALSE(client.closed);
	CU_ASSERT(most < (512u << 10));
	CU_ASSERT(sent < (4u << 20));
	/* Once the peer reads, the client answers again. */
	{
		char	buf[65536];
		size_t	got = 0;

		for (i = 0; i < 20000 && got < (1u << 20); i++) {
			if ((n = read(fds[1], buf, sizeof(buf))) > 0)
				got += (size_t)n;
			event_base_loop(base, EVLOOP_NONBLOCK);
		}
		CU_ASSERT(got >= (1u << 20) || got > most);
	}
	ws_free(client.ws);
	close(fds[1]);
	event_base_free(base);
}

static const struct unit_test tests[] = {
	{ "Sec-WebSocket-Key and Accept", test_accept },
	{ "client and server over a socket pair", test_talk },
	{ "a peer's ping flood does not grow our output", test_ping_flood },
	{ NULL, NULL }
};

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);	/* as in the daemons */
	return unit_main("ws", tests);
}
