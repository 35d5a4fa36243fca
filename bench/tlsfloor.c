/* tlsfloor.c -- the bench's floor for the gateway route: the least a front proxy can do there.
 *
 * Each client connection (plain TCP) gets one TLS connection to the gateway, made with the
 * machine certificate, and the bytes pass through unchanged both ways: arcbench's own CONNECT
 * reaches the gateway's HTTP/1.1 side, which answers it and relays.  A download is then
 * SSL_read into a 256 KiB buffer until OpenSSL needs the socket (read-ahead on, a 64 KiB
 * record buffer: a read(2) takes many records) and one write(2) of what came, the least work
 * a program does to receive TLS and hand plain bytes to a TCP client.  No HTTP, no h2
 * framing, no log.  TLSFLOOR_BUF and TLSFLOOR_RBUF (bytes) try other sizes; TLSFLOOR_STATS
 * logs the bytes a SSL_read brought, for each connection.
 *
 * A thread a connection, each a poll(2) loop over its two sockets; OpenSSL does all TLS.
 *
 *   tlsfloor PORT GATEWAY_IP:PORT SERVERNAME CA CERT KEY
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define TF_BUF_MAX	(1 << 20)

struct tf_flow {
	char	*buf;
	size_t	 len;		/* bytes in buf */
	size_t	 off;		/* of them written */
	int	 eof;		/* the source ended */
	int	 shut;		/* the end passed on */
};

struct tf_conn {
	int		 cfd;		/* the client, plain */
	int		 sfd;		/* the gateway, TLS */
	SSL		*ssl;
	struct tf_flow	 down;		/* gateway to client */
	struct tf_flow	 up;		/* client to gateway */
	short		 down_wait;	/* what SSL_read waits for on sfd, or 0 */
	short		 up_wait;	/* what SSL_write waits for on sfd, or 0 */
	int		 cin_wait;	/* read(cfd) would block */
	int		 cout_wait;	/* write(cfd) would block */
	size_t		 reads;		/* SSL_read calls that brought bytes */
	size_t		 read_bytes;	/* and their bytes */
};

static SSL_CTX			*tf_ctx;
static struct sockaddr_in	 tf_gw = { .sin_family = AF_INET };
static const char		*tf_name;
static size_t			 tf_buf = 256 * 1024;	/* TLSFLOOR_BUF */
static size_t			 tf_rbuf = 64 * 1024;	/* TLSFLOOR_RBUF */
static int			 tf_stats;		/* TLSFLOOR_STATS: bytes per SSL_read */

static short
tf_want(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		return 0;
	}
}

/* SSL_read until the buffer is full or OpenSSL needs the socket.  Returns 1 on progress,
 * 0 on none, -1 on an error. */
static int
tf_fill_down(struct tf_conn *c)
{
	struct tf_flow	*f = &c->down;
	size_t		 n;
	int		 r, moved = 0, err;

	while (f->len < tf_buf) {
		if ((r = SSL_read_ex(c->ssl, f->buf + f->len, tf_buf - f->len, &n)) == 1) {
			f->len += n;
			c->reads++;
			c->read_bytes += n;
			moved = 1;
			continue;
		}
		if ((c->down_wait = tf_want(c->ssl, r)) != 0)
			return moved;
		err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_ZERO_RETURN ||
		    (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
			f->eof = 1;
			return 1;
		}
		return -1;
	}
	return moved;
}

static int
tf_flush_down(struct tf_conn *c)
{
	struct tf_flow	*f = &c->down;
	ssize_t		 n;

	n = write(c->cfd, f->buf + f->off, f->len - f->off);
	if (n == -1) {
		if (errno != EAGAIN)
			return -1;
		c->cout_wait = 1;
		return 0;
	}
	f->off += (size_t)n;
	if (f->off == f->len)
		f->off = f->len = 0;
	else
		c->cout_wait = 1;	/* the socket took what it had room for */
	return 1;
}

static int
tf_fill_up(struct tf_conn *c)
{
	struct tf_flow	*f = &c->up;
	ssize_t		 n;

	if ((n = read(c->cfd, f->buf, tf_buf)) == -1) {
		if (errno != EAGAIN)
			return -1;
		c->cin_wait = 1;
		return 0;
	}
	if (n == 0)
		f->eof = 1;
	f->len = (size_t)n;
	f->off = 0;
	return 1;
}

static int
tf_flush_up(struct tf_conn *c)
{
	struct tf_flow	*f = &c->up;
	size_t		 n;
	int		 r;

	if ((r = SSL_write_ex(c->ssl, f->buf + f->off, f->len - f->off, &n)) != 1) {
		if ((c->up_wait = tf_want(c->ssl, r)) == 0)
			return -1;
		return 0;
	}
	f->off += n;
	if (f->off == f->len)
		f->off = f->len = 0;
	return 1;
}

/* One pass over both flows, each step only when it cannot be waiting.  Returns 1 when
 * something moved, 0 when all wait, -1 when the connection is done. */
static int
tf_pass(struct tf_conn *c)
{
	int	moved = 0, r;

#define TF_STEP(cond, call) do {					\
	if ((cond)) {							\
		if ((r = (call)) == -1)					\
			return -1;					\
		moved |= r;						\
	}								\
} while (0)
	TF_STEP(!c->down.eof && c->down.len < tf_buf && c->down_wait == 0, tf_fill_down(c));
	TF_STEP(c->down.len > c->down.off && !c->cout_wait, tf_flush_down(c));
	TF_STEP(!c->up.eof && c->up.len == 0 && !c->cin_wait, tf_fill_up(c));
	TF_STEP(c->up.len > c->up.off && c->up_wait == 0, tf_flush_up(c));
#undef TF_STEP
	if (c->down.eof && c->down.len == 0 && !c->down.shut) {
		shutdown(c->cfd, SHUT_WR);
		c->down.shut = moved = 1;
	}
	if (c->up.eof && c->up.len == 0 && !c->up.shut) {
		SSL_shutdown(c->ssl);		/* close_notify: the tunnel's upload ends */
		c->up.shut = moved = 1;
	}
	if (c->down.shut && c->up.shut)
		return -1;
	return moved;
}

static void
tf_wait(struct tf_conn *c)
{
	struct pollfd	pfd[2] = {
		{ .fd = c->sfd, .events = c->down_wait | c->up_wait },
		{ .fd = c->cfd, .events = (c->cin_wait ? POLLIN : 0) |
		    (c->cout_wait ? POLLOUT : 0) },
	};

	if (poll(pfd, 2, -1) == -1)
		return;
	if (pfd[0].revents != 0)
		c->down_wait = c->up_wait = 0;
	if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
		c->cin_wait = 0;
	if (pfd[1].revents & (POLLOUT | POLLHUP | POLLERR))
		c->cout_wait = 0;
}

static int
tf_connect(struct tf_conn *c)
{
	int	one = 1;

	if ((c->sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->sfd, (struct sockaddr *)&tf_gw, sizeof(tf_gw)) == -1)
		return -1;
	setsockopt(c->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c->ssl = SSL_new(tf_ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->sfd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, tf_name) != 1 ||
	    SSL_set1_host(c->ssl, tf_name) != 1 ||
	    SSL_connect(c->ssl) != 1)		/* blocking: loopback */
		return -1;
	fcntl(c->sfd, F_SETFL, O_NONBLOCK);
	fcntl(c->cfd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void *
tf_run(void *arg)
{
	struct tf_conn	*c = arg;
	int		 r;

	if ((c->down.buf = malloc(tf_buf)) != NULL &&
	    (c->up.buf = malloc(tf_buf)) != NULL && tf_connect(c) == 0) {
		while ((r = tf_pass(c)) != -1)
			if (r == 0)
				tf_wait(c);
	} else
		ERR_print_errors_fp(stderr);
	if (tf_stats && c->reads > 0)
		fprintf(stderr, "tlsfloor: %zu bytes down in %zu SSL_reads, %zu a read\n",
		    c->read_bytes, c->reads, c->read_bytes / c->reads);
	SSL_free(c->ssl);
	if (c->sfd != -1)
		close(c->sfd);
	close(c->cfd);
	free(c->down.buf);
	free(c->up.buf);
	free(c);
	ERR_clear_error();
	return NULL;
}

static SSL_CTX *
tf_make_ctx(const char *ca, const char *cert, const char *key)
{
	static const unsigned char	 alpn[] = "\x08http/1.1";
	SSL_CTX				*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, tf_rbuf);
	return ctx;
}

/* A buffer size from the environment, to try others: 4 KiB to 1 MiB. */
static size_t
tf_size(const char *name, size_t dflt)
{
	const char	*v = getenv(name);
	unsigned long	 n;

	if (v == NULL || (n = strtoul(v, NULL, 0)) < 4096 || n > TF_BUF_MAX)
		return dflt;
	return n;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	struct tf_conn		*c;
	pthread_attr_t		 attr;
	pthread_t		 th;
	char			 host[64];
	unsigned		 port;
	int			 lfd, fd, one = 1;

	if (argc != 7 || sscanf(argv[2], "%63[0-9.]:%u", host, &port) != 2 || port > 65535 ||
	    inet_pton(AF_INET, host, &tf_gw.sin_addr) != 1) {
		fprintf(stderr, "usage: tlsfloor PORT GATEWAY_IP:PORT SERVERNAME CA CERT KEY\n");
		return 2;
	}
	tf_gw.sin_port = htons(port);
	tf_buf = tf_size("TLSFLOOR_BUF", tf_buf);
	tf_rbuf = tf_size("TLSFLOOR_RBUF", tf_rbuf);
	tf_stats = getenv("TLSFLOOR_STATS") != NULL;
	tf_name = argv[3];
	if ((tf_ctx = tf_make_ctx(argv[4], argv[5], argv[6])) == NULL) {
		fprintf(stderr, "tlsfloor: the TLS context: ");
		ERR_print_errors_fp(stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4096) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		perror("tlsfloor");
		return 1;
	}
	printf("tlsfloor pid=%d port=%u\n", (int)getpid(), ntohs(sin.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->cfd = fd;
		c->sfd = -1;
		if (pthread_create(&th, &attr, tf_run, c) != 0) {
			close(fd);
			free(c);
		}
	}
}
