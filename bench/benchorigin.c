/* benchorigin.c -- the benchmark's origin: HTTP/1.1 and HTTPS /bytes/N with keep-alive, and a raw TCP source, sink and holder for tunnels. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bigread.h"
#include "http.h"
#include "log.h"
#include "pattern.h"
#include "tls.h"

#define ORIGIN_BACKLOG		4096
#define ORIGIN_IO_CHUNK		(1024 * 1024)	/* per read and write call */
#define ORIGIN_QUEUE		(1024 * 1024)	/* payload queued ahead at most */
#define ORIGIN_COPY_MAX		16384		/* smaller pieces are copied, not referenced */
#define ORIGIN_MAX_HEAD		65536
#define ORIGIN_MAX_LINE		128
#define ORIGIN_MAX_THREADS	16

enum origin_service {
	SVC_HTTP,		/* plain HTTP/1.1 */
	SVC_TLS,		/* the same over TLS */
	SVC_TCP,		/* raw TCP: XFER and HOLD commands */
	SVC__COUNT
};

static const char *const origin_service_names[SVC__COUNT] = { "http", "tls", "tcp" };

enum oconn_state {
	OC_HEAD,	/* http: reading a request head */
	OC_BODY,	/* http: dropping a request body before answering */
	OC_SEND,	/* http: the response body is being queued */
	OC_COMMAND,	/* tcp: reading the command line */
	OC_XFER,	/* tcp: upload coming in and checked, download going out */
	OC_HOLD,	/* tcp: an idle tunnel, held until the client closes */
	OC_CLOSING,	/* the last bytes are flushing; then close */
};

struct origin;

struct othread {
	struct origin		*o;
	pthread_t		 thread;
	struct event_base	*base;
	struct event		*stop;
	struct evconnlistener	*listeners[SVC__COUNT];
	struct evbuffer		*drop;		/* request bodies on their way out */
};

struct origin {
	int			 nthreads;
	struct othread		 threads[ORIGIN_MAX_THREADS];
	int			 fds[ORIGIN_MAX_THREADS][SVC__COUNT];
	int			 ports[SVC__COUNT];	/* -1: service off */
	struct sockaddr_in	 bind_addr;
	struct pattern		*pattern;
	SSL_CTX			*ssl;
};

struct oconn {
	struct othread		*t;
	enum origin_service	 svc;
	enum oconn_state	 state;
	struct bufferevent	*bev;
	struct event		*rd;		/* tcp: our own reads (bigread) */
	struct evbuffer		*in;		/* tcp: what rd read */
	struct http_msg		*req;		/* http and tls */
	uint64_t		 send_left;	/* payload bytes still to queue */
	uint64_t		 send_off;	/* stream offset of the next one */
	uint64_t		 up_left;	/* tcp: upload bytes still to come */
	uint64_t		 up_off;
	unsigned		 up_bad:1;	/* an upload byte differed */
	unsigned		 keep_alive:1;
};

static void	oconn_read(struct bufferevent *, void *);
static void	oconn_write(struct bufferevent *, void *);

static void
usage(void)
{
	fprintf(stderr, "usage: benchorigin [-v] [-t THREADS] [--listen ADDR] "
	    "[--http PORT] [--tls PORT] [--tcp PORT]\n"
	    "  --http PORT   GET /bytes/N: N pattern bytes, Content-Length, keep-alive\n"
	    "  --tls PORT    the same over TLS (a fresh self-signed certificate)\n"
	    "  --tcp PORT    raw TCP: \"XFER <up> <down>\\n\" takes <up> bytes and sends <down>,\n"
	    "                then \"OK\\n\" (or \"BAD\\n\") and closes; \"HOLD\\n\" answers \"OK\\n\"\n"
	    "                and keeps the connection until the client closes\n"
	    "  Port 0 picks a free one. Once listening, prints one line:\n"
	    "  \"benchorigin pid=P http=PORT tls=PORT tcp=PORT\".\n");
	exit(2);
}

static void
oconn_free(struct oconn *c)
{
	if (c == NULL)
		return;
	if (c->rd != NULL)
		event_free(c->rd);
	if (c->in != NULL)
		evbuffer_free(c->in);
	bufferevent_free(c->bev);
	free(c->req);
	free(c);
}

static void
oconn_close_after_flush(struct oconn *c)
{
	c->state = OC_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (c->rd != NULL)
		event_del(c->rd);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		oconn_free(c);
}

/* Queues payload up to the queue limit: copies of small pieces, references to large. */
static void
oconn_fill(struct oconn *c)
{
	const struct pattern	*p = c->t->o->pattern;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	size_t			 queued = evbuffer_get_length(out), n;

	while (c->send_left > 0 && queued < ORIGIN_QUEUE) {
		n = PATTERN_PERIOD;
		if (n > c->send_left)
			n = (size_t)c->send_left;
		if (n <= ORIGIN_COPY_MAX)
			evbuffer_add(out, pattern_at(p, c->send_off), n);
		else
			evbuffer_add_reference(out, pattern_at(p, c->send_off), n,
			    NULL, NULL);
		c->send_left -= n;
		c->send_off += n;
		queued += n;
	}
}

static void
oconn_http_error(struct oconn *c, int status, const char *reason)
{
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s\n", status, reason, strlen(reason) + 1,
	    reason);
	oconn_close_after_flush(c);
}

/* "/bytes/N", with any query: N, or -1. */
static long long
oconn_bytes_path(const char *url, size_t len)
{
	static const char	 prefix[] = "/bytes/";
	unsigned long long	 n = 0;
	size_t			 i;

	if (len <= sizeof(prefix) - 1 || memcmp(url, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	for (i = sizeof(prefix) - 1; i < len && url[i] != '?'; i++) {
		if (url[i] < '0' || url[i] > '9' || n > (1ULL << 40))
			return -1;
		n = n * 10 + (unsigned)(url[i] - '0');
	}
	return (long long)n;
}

/* The whole request is in: answer it. */
static void
oconn_answer(struct oconn *c, long long size, int head_only)
{
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Length: %lld\r\n%s\r\n", size,
	    c->keep_alive ? "" : "Connection: close\r\n");
	c->send_left = head_only ? 0 : (uint64_t)size;
	c->send_off = 0;
	c->state = OC_SEND;
	oconn_fill(c);
}

/* Reads requests until one needs more input or its response is still queueing. */
static void
oconn_http(struct oconn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct http_msg	*m = c->req;
	enum http_step	 step;
	size_t		 moved;
	long long	 size = 0;
	int		 head_only = 0, i;

	for (i = 0; i < 1024; i++) {
		if (c->state == OC_SEND) {
			if (c->send_left > 0)
				return;		/* the write callback goes on */
			if (!c->keep_alive) {
				oconn_close_after_flush(c);
				return;
			}
			http_msg_init(m, HTTP_REQUEST);
			c->state = OC_HEAD;
		}
		if (c->state == OC_BODY) {
			do {
				step = http_msg_body(m, in, c->t->drop, &moved);
				evbuffer_drain(c->t->drop, moved);
			} while (step == HTTP_STEP_MORE && moved > 0);
			if (step == HTTP_STEP_ERROR) {
				oconn_http_error(c, 400, "Bad Request");
				return;
			}
			if (step != HTTP_STEP_DONE)
				return;
			oconn_answer(c, (long long)c->send_left, 0);
			continue;
		}
		switch (http_msg_head(m, in, ORIGIN_MAX_HEAD)) {
		case HTTP_STEP_MORE:
			return;
		case HTTP_STEP_HEAD:
			break;
		default:
			oconn_http_error(c, 400, "Bad Request");
			return;
		}
		if ((size = oconn_bytes_path(m->raw + m->url.off, m->url.len)) < 0) {
			oconn_http_error(c, 404, "Not Found");
			return;
		}
		head_only = strcmp(http_msg_method(m), "HEAD") == 0;
		c->keep_alive = http_msg_keep_alive(m) ? 1 : 0;
		if (http_msg_head_consume(m, in) == HTTP_STEP_MORE) {
			/* A body first: dropped, then the answer. */
			c->state = OC_BODY;
			c->send_left = (uint64_t)size;
			continue;
		}
		oconn_answer(c, size, head_only);
	}
	/* Many pipelined requests at once: the rest on the next turn of the loop. */
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
	    BEV_TRIG_DEFER_CALLBACKS);
}

/* Checks and drops upload bytes. */
static void
oconn_take_upload(struct oconn *c)
{
	struct evbuffer		*in = c->in;
	struct evbuffer_iovec	 vec[16];
	size_t			 take, n;
	int			 nvec, i;

	while (c->up_left > 0 && evbuffer_get_length(in) > 0) {
		take = 0;
		nvec = evbuffer_peek(in, -1, NULL, vec, 16);
		if (nvec > 16)
			nvec = 16;
		for (i = 0; i < nvec && take < c->up_left; i++) {
			n = vec[i].iov_len;
			if (n > c->up_left - take)
				n = (size_t)(c->up_left - take);
			if (!c->up_bad && pattern_check(c->t->o->pattern,
			    c->up_off + take, vec[i].iov_base, n) == -1)
				c->up_bad = 1;
			take += n;
		}
		evbuffer_drain(in, take);
		c->up_off += take;
		c->up_left -= take;
	}
}

static void
oconn_xfer_progress(struct oconn *c)
{
	oconn_take_upload(c);
	if (c->up_left > 0 || c->send_left > 0)
		return;
	if (evbuffer_get_length(c->in) > 0)
		c->up_bad = 1;		/* more than announced */
	evbuffer_add(bufferevent_get_output(c->bev), c->up_bad ? "BAD" : "OK\n", 3);
	oconn_close_after_flush(c);
}

static void
oconn_tcp(struct oconn *c)
{
	struct evbuffer		*in = c->in;
	unsigned long long	 up, down;
	char			*line;
	size_t			 len;

	switch (c->state) {
	case OC_COMMAND:
		if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) == NULL) {
			if (evbuffer_get_length(in) > ORIGIN_MAX_LINE)
				oconn_free(c);
			return;
		}
		if (sscanf(line, "XFER %llu %llu", &up, &down) == 2) {
			c->up_left = up;
			c->send_left = down;
			c->up_off = c->send_off = 0;
			c->state = OC_XFER;
			free(line);
			oconn_fill(c);
			oconn_xfer_progress(c);
			return;
		}
		if (strcmp(line, "HOLD") == 0) {
			c->state = OC_HOLD;
			evbuffer_add(bufferevent_get_output(c->bev), "OK\n", 3);
			free(line);
			return;
		}
		free(line);
		evbuffer_add(bufferevent_get_output(c->bev), "BAD", 3);
		oconn_close_after_flush(c);
		return;
	case OC_XFER:
		oconn_xfer_progress(c);
		return;
	default:
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
}

static void
oconn_read(struct bufferevent *bev, void *arg)
{
	struct oconn	*c = arg;

	(void)bev;
	if (c->svc == SVC_TCP)
		oconn_tcp(c);
	else if (c->state == OC_CLOSING)
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
	else
		oconn_http(c);
}

/* tcp: the socket is readable; uploads come in large pieces. */
static void
oconn_rd(evutil_socket_t fd, short what, void *arg)
{
	struct oconn	*c = arg;
	ssize_t		 n;

	(void)what;
	if ((n = bigread(fd, c->in, ORIGIN_IO_CHUNK)) > 0)
		oconn_tcp(c);
	else if (n != BIGREAD_AGAIN)
		oconn_free(c);
}

static void
oconn_write(struct bufferevent *bev, void *arg)
{
	struct oconn	*c = arg;

	(void)bev;
	switch (c->state) {
	case OC_CLOSING:
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			oconn_free(c);
		return;
	case OC_SEND:
		oconn_fill(c);
		if (c->send_left == 0)
			oconn_http(c);
		return;
	case OC_XFER:
		oconn_fill(c);
		if (c->send_left == 0)
			oconn_xfer_progress(c);
		return;
	default:
		return;
	}
}

static void
oconn_event(struct bufferevent *bev, short what, void *arg)
{
	struct oconn	*c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		oconn_free(c);
}

static void
origin_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct othread	*t = arg;
	struct oconn	*c;
	SSL		*ssl;
	int		 one = 1, svc;

	(void)sa;
	(void)len;
	for (svc = 0; svc < SVC__COUNT; svc++)
		if (t->listeners[svc] == l)
			break;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->t = t;
	c->svc = (enum origin_service)svc;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (svc == SVC_TLS) {
		if ((ssl = SSL_new(t->o->ssl)) == NULL)
			goto fail;
		c->bev = bufferevent_openssl_socket_new(t->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL)
			SSL_free(ssl);
	} else
		c->bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto fail;
	fd = -1;
	if (svc != SVC_TCP) {
		if ((c->req = malloc(sizeof(*c->req))) == NULL)
			goto fail;
		http_msg_init(c->req, HTTP_REQUEST);
		c->state = OC_HEAD;
	} else {
		c->state = OC_COMMAND;
		c->rd = event_new(t->base, bufferevent_getfd(c->bev),
		    EV_READ | EV_PERSIST, oconn_rd, c);
		if (c->rd == NULL || (c->in = evbuffer_new()) == NULL)
			goto fail;
	}
	bufferevent_set_max_single_read(c->bev, ORIGIN_IO_CHUNK);
	bufferevent_set_max_single_write(c->bev, ORIGIN_IO_CHUNK);
	bufferevent_setwatermark(c->bev, EV_WRITE, ORIGIN_QUEUE / 2, 0);
	bufferevent_setcb(c->bev, oconn_read, oconn_write, oconn_event, c);
	if (c->rd != NULL) {
		/* The bufferevent writes; reads are ours (libevent's stop at 4 KiB). */
		bufferevent_enable(c->bev, EV_WRITE);
		event_add(c->rd, NULL);
	} else
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return;
 fail:
	log_warnx("out of memory for a connection");
	if (fd != -1)
		close(fd);
	if (c != NULL && c->bev != NULL)
		oconn_free(c);
	else
		free(c);
}

static void
origin_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	log_warn("accept");
}

static void
othread_stop(evutil_socket_t fd, short what, void *arg)
{
	struct othread	*t = arg;

	(void)fd;
	(void)what;
	event_base_loopexit(t->base, NULL);
}

static void *
othread_main(void *arg)
{
	struct othread	*t = arg;

	event_base_dispatch(t->base);
	return NULL;
}

/* One listening socket; port 0 picks one, which *port then holds. */
static int
origin_socket(const struct sockaddr_in *addr, int *port)
{
	struct sockaddr_in	sin = *addr;
	socklen_t		len = sizeof(sin);
	int			fd, one = 1;

	sin.sin_port = htons((uint16_t)*port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, ORIGIN_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		goto fail;
	*port = ntohs(sin.sin_port);
	return fd;
 fail:
	close(fd);
	return -1;
}

/* A throwaway self-signed certificate: clients here check bytes, not names. */
static SSL_CTX *
origin_tls_ctx(void)
{
	EVP_PKEY	*key = NULL;
	X509		*x = NULL;
	X509_NAME	*name;
	SSL_CTX		*ctx = NULL;
	char		 err[256];

	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		goto fail;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"benchorigin", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, key, EVP_sha256()) == 0 ||
	    (ctx = tls_server_ctx(NULL, NULL, err, sizeof(err))) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1)
		goto fail;
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
 fail:
	SSL_CTX_free(ctx);
	X509_free(x);
	EVP_PKEY_free(key);
	return NULL;
}

static void
origin_open(struct origin *o)
{
	int	i, s;

	for (s = 0; s < SVC__COUNT; s++) {
		if (o->ports[s] < 0)
			continue;
		/* Every thread has its own socket on the one port (SO_REUSEPORT). */
		for (i = 0; i < o->nthreads; i++)
			if ((o->fds[i][s] = origin_socket(&o->bind_addr,
			    &o->ports[s])) == -1)
				fatal("listen %s port %d", origin_service_names[s],
				    o->ports[s]);
	}
	for (i = 0; i < o->nthreads; i++) {
		struct othread *t = &o->threads[i];

		t->o = o;
		if ((t->base = event_base_new()) == NULL ||
		    (t->stop = event_new(t->base, -1, 0, othread_stop, t)) == NULL ||
		    (t->drop = evbuffer_new()) == NULL)
			fatalx("cannot set up an event loop");
		for (s = 0; s < SVC__COUNT; s++) {
			if (o->ports[s] < 0)
				continue;
			t->listeners[s] = evconnlistener_new(t->base, origin_accept, t,
			    LEV_OPT_CLOSE_ON_FREE, 0, o->fds[i][s]);
			if (t->listeners[s] == NULL)
				fatalx("cannot listen");
			evconnlistener_set_error_cb(t->listeners[s],
			    origin_accept_error);
		}
	}
}

static void
origin_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int
parse_port(const char *s)
{
	char	*end;
	long	 v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < 0 || v > 65535) {
		fprintf(stderr, "benchorigin: expected a port number, got '%s'\n", s);
		exit(2);
	}
	return (int)v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "http", required_argument, NULL, 'H' },
		{ "tls", required_argument, NULL, 'S' },
		{ "tcp", required_argument, NULL, 'T' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct origin		*o;
	struct event_base	*base;
	struct event		*sigs[2];
	int			 ch, i, s, verbose = 0;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return 1;
	o->nthreads = 1;
	for (s = 0; s < SVC__COUNT; s++)
		o->ports[s] = -1;
	o->bind_addr.sin_family = AF_INET;
	o->bind_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while ((ch = getopt_long(argc, argv, "t:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o->ports[SVC_HTTP] = parse_port(optarg);
			break;
		case 'S':
			o->ports[SVC_TLS] = parse_port(optarg);
			break;
		case 'T':
			o->ports[SVC_TCP] = parse_port(optarg);
			break;
		case 'l':
			if (inet_pton(AF_INET, optarg, &o->bind_addr.sin_addr) != 1) {
				fprintf(stderr, "benchorigin: --listen: expected an "
				    "IPv4 address, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 't':
			o->nthreads = atoi(optarg);
			if (o->nthreads < 1 || o->nthreads > ORIGIN_MAX_THREADS) {
				fprintf(stderr, "benchorigin: --threads: 1 to %d\n",
				    ORIGIN_MAX_THREADS);
				return 2;
			}
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind < argc)
		usage();
	if (o->ports[SVC_HTTP] < 0 && o->ports[SVC_TLS] < 0 && o->ports[SVC_TCP] < 0)
		o->ports[SVC_HTTP] = o->ports[SVC_TLS] = o->ports[SVC_TCP] = 0;
	log_init("benchorigin", 1, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent without thread support");
	if ((o->pattern = pattern_new()) == NULL)
		fatalx("out of memory");
	if (o->ports[SVC_TLS] >= 0 && (o->ssl = origin_tls_ctx()) == NULL)
		fatalx("cannot make a TLS certificate");
	origin_open(o);
	if ((base = event_base_new()) == NULL ||
	    (sigs[0] = evsignal_new(base, SIGTERM, origin_signal, base)) == NULL ||
	    (sigs[1] = evsignal_new(base, SIGINT, origin_signal, base)) == NULL)
		fatalx("cannot set up signals");
	evsignal_add(sigs[0], NULL);
	evsignal_add(sigs[1], NULL);
	for (i = 0; i < o->nthreads; i++)
		if (pthread_create(&o->threads[i].thread, NULL, othread_main,
		    &o->threads[i]) != 0)
			fatalx("cannot start thread %d", i);
	printf("benchorigin pid=%d", (int)getpid());
	for (s = 0; s < SVC__COUNT; s++)
		if (o->ports[s] >= 0)
			printf(" %s=%d", origin_service_names[s], o->ports[s]);
	printf("\n");
	fflush(stdout);
	event_base_dispatch(base);
	for (i = 0; i < o->nthreads; i++)
		event_active(o->threads[i].stop, EV_READ, 0);
	for (i = 0; i < o->nthreads; i++)
		pthread_join(o->threads[i].thread, NULL);
	/* Connections still open end with the process. */
	for (i = 0; i < o->nthreads; i++) {
		for (s = 0; s < SVC__COUNT; s++)
			if (o->threads[i].listeners[s] != NULL)
				evconnlistener_free(o->threads[i].listeners[s]);
		evbuffer_free(o->threads[i].drop);
		event_free(o->threads[i].stop);
		event_base_free(o->threads[i].base);
	}
	event_free(sigs[0]);
	event_free(sigs[1]);
	event_base_free(base);
	SSL_CTX_free(o->ssl);
	pattern_free(o->pattern);
	free(o);
	return 0;
}
