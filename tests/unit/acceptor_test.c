/* acceptor_test.c -- lib/acceptor on loopback: accepted sockets, the EMFILE pause and its rate-limited line, resuming, an evhttp's listener under the pause; addr_format's text. */
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "acceptor.h"
#include "addr.h"
#include "log.h"
#include "unit.h"

struct seen {
	int	accepted;
	char	peer[ADDR_TEXT_MAX];
	int	failures;
	int	pauses;
	int	lines;
	char	line[200];
	int	err;
};

static void
on_accepted(void *arg, evutil_socket_t fd, struct sockaddr *peer, int peerlen)
{
	struct seen	*s = arg;

	(void)peerlen;
	s->accepted++;
	addr_format(peer, s->peer, sizeof(s->peer));
	close(fd);
}

static void
on_failed(void *arg, int err, int paused, const char *line)
{
	struct seen	*s = arg;

	s->failures++;
	s->err = err;
	s->pauses += paused;
	if (line != NULL) {
		s->lines++;
		snprintf(s->line, sizeof(s->line), "%s", line);
	}
}

static const struct acceptor_ops ops = { on_accepted, on_failed, NULL };

/* A listening socket on 127.0.0.1 and a free port, in the acceptor. */
static int
listen_loopback(struct acceptor *a, struct sockaddr_in *sin)
{
	socklen_t	len = sizeof(*sin);
	char		err[256];
	int		fd;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = addr_listen((struct sockaddr *)sin, sizeof(*sin), 0, 16, err,
	    sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL_FATAL(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	CU_ASSERT_EQUAL_FATAL(acceptor_add(a, fd, err, sizeof(err)), 0);
	return fd;
}

static int
client(const struct sockaddr_in *sin)
{
	int	fd = socket(AF_INET, SOCK_STREAM, 0);

	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(connect(fd, (const struct sockaddr *)sin, sizeof(*sin)), 0);
	return fd;
}

static void
run_for_ms(struct event_base *base, int ms)
{
	struct timeval	tv = { 0, ms * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_accepts(void)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_in	 sin;
	struct acceptor		*a;
	struct seen		 s;
	char			 err[256];
	int			 c;

	memset(&s, 0, sizeof(s));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = acceptor_new(base, &ops, &s, err,
	    sizeof(err)));
	listen_loopback(a, &sin);
	c = client(&sin);
	run_for_ms(base, 50);
	CU_ASSERT_EQUAL(s.accepted, 1);
	CU_ASSERT_EQUAL(strncmp(s.peer, "127.0.0.1:", 10), 0);
	CU_ASSERT_EQUAL(s.failures, 0);
	close(c);
	/* A busy port: the error names the address. */
	CU_ASSERT_EQUAL(acceptor_listen(a, (struct sockaddr *)&sin, sizeof(sin), 0,
	    ACCEPTOR_BACKLOG, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "listen 127.0.0.1:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use"));
	acceptor_free(a);
	acceptor_free(NULL);
	event_base_free(base);
}

/* Out of descriptors: accepting pauses (no spinning on the error), says
 * so once, and takes the waiting connections once descriptors are back. */
static void
test_emfile_pause(void)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_in	 sin;
	struct rlimit		 saved, low;
	struct acceptor		*a;
	struct seen		 s;
	char			 err[256];
	int			 c[3], i, top;

	memset(&s, 0, sizeof(s));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = acceptor_new(base, &ops, &s, err,
	    sizeof(err)));
	listen_loopback(a, &sin);
	for (i = 0; i < 3; i++)
		c[i] = client(&sin);
	/* No descriptor left above the highest one open now. */
	top = dup(0);
	close(top);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)top;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_NOFILE, &low), 0);
	run_for_ms(base, 250);		/* two pauses at least */
	CU_ASSERT_EQUAL(s.accepted, 0);
	CU_ASSERT(s.pauses >= 2);
	CU_ASSERT(s.pauses <= 4);	/* one try per 100 ms, not a spin */
	CU_ASSERT_EQUAL(s.err, EMFILE);
	CU_ASSERT_EQUAL(s.lines, 1);	/* the first pause only */
	CU_ASSERT_PTR_NOT_NULL(strstr(s.line, "accept: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.line, "pausing for 100 ms (1 pauses so far)"));
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_NOFILE, &saved), 0);
	run_for_ms(base, 250);
	CU_ASSERT_EQUAL(s.accepted, 3);
	for (i = 0; i < 3; i++)
		close(c[i]);
	acceptor_free(a);
	event_base_free(base);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	int	*served = arg;

	(*served)++;
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* An evhttp listening on 127.0.0.1 (a free port), its listener watched. */
static struct evhttp *
http_watched(struct event_base *base, struct acceptor *a, int *served,
    struct sockaddr_in *sin)
{
	struct evhttp_bound_socket	*b;
	struct evhttp			*http = evhttp_new(base);
	socklen_t			 len = sizeof(*sin);
	char				 err[256];
	int				 fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(http);
	evhttp_set_gencb(http, on_request, served);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = addr_listen((struct sockaddr *)sin, sizeof(*sin), 0, 16, err,
	    sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL_FATAL(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b = evhttp_accept_socket_with_handle(http,
	    fd));
	CU_ASSERT_EQUAL_FATAL(acceptor_watch(a,
	    evhttp_bound_socket_get_listener(b), err, sizeof(err)), 0);
	return http;
}

/* A client that has sent its request. */
static int
client_asking(const struct sockaddr_in *sin)
{
	static const char	 req[] = "GET / HTTP/1.0\r\n\r\n";
	int			 fd = client(sin);

	CU_ASSERT_EQUAL(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	return fd;
}

static int
lower_nofile(struct rlimit *saved)
{
	struct rlimit	low;
	int		top;

	/* No descriptor left above the highest one open now. */
	top = dup(0);
	close(top);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_NOFILE, saved), 0);
	low = *saved;
	low.rlim_cur = (rlim_t)top;
	return setrlimit(RLIMIT_NOFILE, &low);
}

static const struct acceptor_ops watch_ops = { NULL, on_failed, NULL };

/* A listener someone else accepts on (an evhttp's, whose callbacks get the
 * evhttp, not the acceptor) pauses like the acceptor's own, and once
 * descriptors are back its owner serves the waiting connections. */
static void
test_watch_pause(void)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_in	 sin, sin_other;
	struct rlimit		 saved;
	struct acceptor		*a, *other;
	struct evhttp		*http, *http_other;
	struct seen		 s, so;
	char			 err[256];
	int			 c[3], i, served = 0, served_other = 0;

	memset(&s, 0, sizeof(s));
	memset(&so, 0, sizeof(so));
	/* Another acceptor watching another evhttp: the pause is the right
	 * one's. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = acceptor_new(base, &watch_ops, &s, err,
	    sizeof(err)));
	http = http_watched(base, a, &served, &sin);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other = acceptor_new(base, &watch_ops, &so,
	    err, sizeof(err)));
	http_other = http_watched(base, other, &served_other, &sin_other);
	for (i = 0; i < 3; i++)
		c[i] = client_asking(&sin);
	CU_ASSERT_EQUAL_FATAL(lower_nofile(&saved), 0);
	run_for_ms(base, 250);
	CU_ASSERT_EQUAL(served, 0);
	CU_ASSERT(s.pauses >= 2);
	CU_ASSERT(s.pauses <= 4);
	CU_ASSERT_EQUAL(s.err, EMFILE);
	CU_ASSERT_EQUAL(s.lines, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.line, "pausing for 100 ms (1 pauses so far)"));
	CU_ASSERT_EQUAL(so.failures, 0);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_NOFILE, &saved), 0);
	run_for_ms(base, 250);
	CU_ASSERT_EQUAL(served, 3);
	for (i = 0; i < 3; i++)
		close(c[i]);
	acceptor_free(a);
	acceptor_free(other);
	evhttp_free(http);
	evhttp_free(http_other);
	event_base_free(base);
}

/* Freed during a pause, the acceptor hands the listener back enabled: its
 * owner goes on serving. */
static void
test_watch_free_paused(void)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_in	 sin;
	struct rlimit		 saved;
	struct acceptor		*a;
	struct evhttp		*http;
	struct seen		 s;
	char			 err[256];
	int			 c[2], i, served = 0;

	memset(&s, 0, sizeof(s));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = acceptor_new(base, &watch_ops, &s, err,
	    sizeof(err)));
	http = http_watched(base, a, &served, &sin);
	c[0] = client_asking(&sin);
	CU_ASSERT_EQUAL_FATAL(lower_nofile(&saved), 0);
	run_for_ms(base, 50);
	CU_ASSERT_EQUAL(s.pauses, 1);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_NOFILE, &saved), 0);
	acceptor_free(a);
	c[1] = client_asking(&sin);
	run_for_ms(base, 250);
	CU_ASSERT_EQUAL(served, 2);
	for (i = 0; i < 2; i++)
		close(c[i]);
	evhttp_free(http);
	event_base_free(base);
}

/* What stderr (where lib/log writes in the foreground) got meanwhile. */
static void
stderr_read(int fd, char *buf, size_t len)
{
	ssize_t	n;

	n = pread(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
}

static int
count_lines(const char *text, const char *needle)
{
	const char	*p;
	int		 n = 0;

	for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* No failed() callback: the acceptor logs its lines itself (after its
 * ops' name when there is one), one per ACCEPTOR_LOG_EVERY_S, and counts
 * every pause (acceptor_pauses). */
static void
test_default_logs_and_counts(void)
{
	static const struct acceptor_ops named = { on_accepted, NULL, "gateway" };
	struct event_base	*base = event_base_new();
	struct sockaddr_in	 sin, sin_http;
	struct rlimit		 saved;
	struct acceptor		*a, *w;
	struct evhttp		*http;
	struct seen		 s;
	char			 err[256], path[64], text[4096];
	int			 c[2], i, fd, saved_err, served = 0;

	memset(&s, 0, sizeof(s));
	log_init("acceptor_test", 1, LOG_LEVEL_INFO);
	snprintf(path, sizeof(path), "/tmp/acceptor_test.%d.log", (int)getpid());
	CU_ASSERT_FATAL((fd = open(path, O_RDWR | O_CREAT | O_TRUNC,
	    0600)) != -1);
	unlink(path);
	fflush(stderr);
	CU_ASSERT_FATAL((saved_err = dup(2)) != -1 && dup2(fd, 2) == 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = acceptor_new(base, &named, &s, err,
	    sizeof(err)));
	listen_loopback(a, &sin);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w = acceptor_new(base, NULL, NULL, err,
	    sizeof(err)));
	http = http_watched(base, w, &served, &sin_http);
	c[0] = client(&sin);
	c[1] = client_asking(&sin_http);
	CU_ASSERT_EQUAL_FATAL(lower_nofile(&saved), 0);
	run_for_ms(base, 250);
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_NOFILE, &saved), 0);
	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	stderr_read(fd, text, sizeof(text));
	close(fd);
	CU_ASSERT_EQUAL(count_lines(text, "gateway: accept: "), 1);
	CU_ASSERT_EQUAL(count_lines(text, "pausing for 100 ms (1 pauses so "
	    "far)\n"), 2);
	CU_ASSERT_EQUAL(count_lines(text, "\n"), 2);
	CU_ASSERT(acceptor_pauses(a) >= 2 && acceptor_pauses(a) <= 4);
	CU_ASSERT(acceptor_pauses(w) >= 2 && acceptor_pauses(w) <= 4);
	run_for_ms(base, 250);
	CU_ASSERT_EQUAL(s.accepted, 1);
	CU_ASSERT_EQUAL(served, 1);
	for (i = 0; i < 2; i++)
		close(c[i]);
	acceptor_free(a);
	acceptor_free(w);
	evhttp_free(http);
	event_base_free(base);
}

static void
test_addr_format(void)
{
	struct sockaddr_storage	ss;
	struct sockaddr_in6	*in6 = (struct sockaddr_in6 *)&ss;
	socklen_t		len;
	char			buf[ADDR_TEXT_MAX];

	CU_ASSERT_EQUAL_FATAL(addr_parse("10.1.2.3:80", &ss, &len), 0);
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "10.1.2.3:80");
	CU_ASSERT_EQUAL_FATAL(addr_parse("[::1]:8443", &ss, &len), 0);
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "[::1]:8443");
	memset(in6, 0xff, sizeof(*in6));
	in6->sin6_family = AF_INET6;
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	ss.ss_family = AF_UNIX;
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "(family 1)");
	/* A short buffer is cut, not overrun. */
	CU_ASSERT_EQUAL_FATAL(addr_parse("10.1.2.3:80", &ss, &len), 0);
	addr_format((struct sockaddr *)&ss, buf, 5);
	CU_ASSERT_STRING_EQUAL(buf, "10.1");
}

static const struct unit_test tests[] = {
	{ "accepted sockets and a busy port", test_accepts },
	{ "EMFILE: pause, one line, resume", test_emfile_pause },
	{ "a watched evhttp listener pauses and resumes", test_watch_pause },
	{ "a watched listener freed while paused accepts", test_watch_free_paused },
	{ "no failed(): the acceptor logs and counts", test_default_logs_and_counts },
	{ "addr_format", test_addr_format },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("acceptor", tests);
}
