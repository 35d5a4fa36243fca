/* connect_test.c -- the CONNECT handshake (lib/connect) against a scripted peer on a bufferevent pair. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "connect.h"
#include "unit.h"

struct outcome {
	int			 called;
	enum connect_result	 result;
	int			 status;
	char			 reason[256];
};

static void
record(enum connect_result result, int status, const char *reason, void *arg)
{
	struct outcome	*o = arg;

	o->called++;
	o->result = result;
	o->status = status;
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
}

/* Runs one handshake for host:port: the peer reads the request, answers
 * with answer (len bytes, in pieces of chunk bytes, a loop turn apart),
 * then sends EOF if eof is set.  rest gets what is left on our side's
 * input afterwards (the tunnel's first bytes). */
static void
run(const char *host, uint16_t port, const char *answer, size_t len,
    size_t chunk, int eof, struct outcome *o, char *request, size_t reqlen,
    char *rest, size_t restlen)
{
	struct event_base		*base = event_base_new();
	struct bufferevent		*pair[2];
	struct connect_handshake	*ch;
	struct evbuffer			*in;
	size_t				 off, n;
	int				 turns;

	memset(o, 0, sizeof(*o));
	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	CU_ASSERT_EQUAL_FATAL(bufferevent_pair_new(base, 0, pair), 0);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	ch = connect_start(pair[0], host, port, record, o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ch);
	event_base_loop(base, EVLOOP_NONBLOCK);
	in = bufferevent_get_input(pair[1]);
	n = evbuffer_get_length(in);
	if (n >= reqlen)
		n = reqlen - 1;
	evbuffer_remove(in, request, n);
	request[n] = '\0';
	for (off = 0; off < len && !o->called; off += n) {
		n = len - off < chunk ? len - off : chunk;
		bufferevent_write(pair[1], answer + off, n);
		for (turns = 0; turns < 3; turns++)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	if (eof && !o->called) {
		bufferevent_flush(pair[1], EV_WRITE, BEV_FINISHED);
		for (turns = 0; turns < 3; turns++)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	in = bufferevent_get_input(pair[0]);
	n = evbuffer_get_length(in);
	if (n >= restlen)
		n = restlen - 1;
	evbuffer_remove(in, rest, n);
	rest[n] = '\0';
	connect_free(ch);
	bufferevent_free(pair[0]);
	bufferevent_free(pair[1]);
	event_base_free(base);
}

#define RUN(host, port, answer, chunk, eof, o)				\
	run(host, port, answer, strlen(answer), chunk, eof, o, request,	\
	    sizeof(request), rest, sizeof(rest))

static void
test_open(void)
{
	struct outcome	o;
	char		request[512], rest[256];

	RUN("origin.test", 443, "HTTP/1.1 200 Connection established\r\n\r\n"
	    "tunnel bytes", 1000, 0, &o);
	CU_ASSERT_STRING_EQUAL(request, "CONNECT origin.test:443 HTTP/1.1\r\n"
	    "Host: origin.test:443\r\n\r\n");
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_OPEN);
	CU_ASSERT_EQUAL(o.status, 200);
	/* What follows the head is the tunnel's, left for the caller. */
	CU_ASSERT_STRING_EQUAL(rest, "tunnel bytes");

	/* An IPv6 literal goes in brackets; a head split byte by byte. */
	RUN("2001:db8::1", 8443, "HTTP/1.0 200 OK\r\nVia: 1.1 p\r\n\r\n", 1, 0, &o);
	CU_ASSERT_STRING_EQUAL(request, "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n"
	    "Host: [2001:db8::1]:8443\r\n\r\n");
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_OPEN);
	CU_ASSERT_STRING_EQUAL(rest, "");
}

static void
test_refused(void)
{
	struct outcome	o;
	char		request[512], rest[256];

	RUN("origin.test", 443, "HTTP/1.1 407 Proxy Authentication Required\r\n"
	    "Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
	    1000, 0, &o);
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_AUTH);
	CU_ASSERT_EQUAL(o.status, 407);
	CU_ASSERT_STRING_EQUAL(o.reason, "407 Proxy Authentication Required");

	/* A text/plain body's first line is the reason. */
	RUN("origin.test", 443, "HTTP/1.1 403 Forbidden\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 27\r\n\r\n"
	    "destination not allowed\nxyz", 7, 0, &o);
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_DENIED);
	CU_ASSERT_EQUAL(o.status, 403);
	CU_ASSERT_STRING_EQUAL(o.reason, "403 Forbidden: destination not allowed");

	/* Proxy-Status says more than an HTML page would. */
	RUN("origin.test", 443, "HTTP/1.1 502 Bad Gateway\r\n"
	    "Proxy-Status: gw; error=destination_ip_unroutable\r\n"
	    "Content-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>",
	    1000, 0, &o);
	CU_ASSERT_EQUAL(o.result, CONNECT_UNREACHABLE);
	CU_ASSERT_STRING_EQUAL(o.reason, "502 Bad Gateway (gw; "
	    "error=destination_ip_unroutable)");

	RUN("origin.test", 443, "HTTP/1.1 504 Gateway Timeout\r\n"
	    "Content-Length: 0\r\n\r\n", 1000, 0, &o);
	CU_ASSERT_EQUAL(o.result, CONNECT_TIMEOUT);

	/* A 2xx other than 200 does not open this tunnel. */
	RUN("origin.test", 443, "HTTP/1.1 204 No Content\r\n\r\n", 1000, 0, &o);
	CU_ASSERT_EQUAL(o.result, CONNECT_REFUSED);
	CU_ASSERT_EQUAL(o.status, 204);

	/* A refusal whose body never ends: the status stands at EOF. */
	RUN("origin.test", 443, "HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\n"
	    "short", 1000, 1, &o);
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_REFUSED);
	CU_ASSERT_EQUAL(o.status, 500);
}

static void
test_malformed(void)
{
	struct outcome	o;
	char		request[512], rest[256];
	static char	big[CONNECT_MAX_HEAD + 200];
	size_t		off;

	RUN("origin.test", 443, "SSH-2.0-OpenSSH_9.2\r\n\r\n", 1000, 0, &o);
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_MALFORMED);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.reason, "not an HTTP answer"));

	/* A head that never ends within CONNECT_MAX_HEAD. */
	off = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n");
	while (off + 20 < sizeof(big) - 1)
		off += (size_t)snprintf(big + off, sizeof(big) - off,
		    "X-Pad: 0123456789\r\n");
	RUN("origin.test", 443, big, 1024, 0, &o);
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_MALFORMED);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.reason, "oversize"));
}

static void
test_eof(void)
{
	struct outcome	o;
	char		request[512], rest[256];

	/* EOF in the middle of the head. */
	RUN("origin.test", 443, "HTTP/1.1 200 Connection est", 1000, 1, &o);
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_CLOSED);
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(o.reason, "closed before answering"));

	/* EOF before a byte. */
	RUN("origin.test", 443, "", 1000, 1, &o);
	CU_ASSERT_EQUAL(o.called, 1);
	CU_ASSERT_EQUAL(o.result, CONNECT_CLOSED);
}

static void
test_status_result(void)
{
	CU_ASSERT_EQUAL(connect_status_result(0), CONNECT_CLOSED);
	CU_ASSERT_EQUAL(connect_status_result(-1), CONNECT_CLOSED);
	CU_ASSERT_EQUAL(connect_status_result(200), CONNECT_OPEN);
	CU_ASSERT_EQUAL(connect_status_result(201), CONNECT_REFUSED);
	CU_ASSERT_EQUAL(connect_status_result(403), CONNECT_DENIED);
	CU_ASSERT_EQUAL(connect_status_result(407), CONNECT_AUTH);
	CU_ASSERT_EQUAL(connect_status_result(502), CONNECT_UNREACHABLE);
	CU_ASSERT_EQUAL(connect_status_result(503), CONNECT_UNREACHABLE);
	CU_ASSERT_EQUAL(connect_status_result(504), CONNECT_TIMEOUT);
	CU_ASSERT_EQUAL(connect_status_result(500), CONNECT_REFUSED);
}

static const struct unit_test tests[] = {
	{ "200 opens the tunnel, later bytes kept", test_open },
	{ "refusals: 407, 403, 502, 504, odd 2xx, cut body", test_refused },
	{ "malformed and oversize answers", test_malformed },
	{ "EOF before the answer", test_eof },
	{ "status to result", test_status_result },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("connect", tests);
}
