/* tls.c -- OpenSSL for every program: client and server contexts under one verify policy, error text, ALPN, TLS bufferevents. */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* Sessions resumed across connections must come from this context. */
static const unsigned char tls_session_context[] = "arc";

int
tls_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long	e;
	size_t		n;

	snprintf(err, errlen, "%s%s%s", path != NULL ? path : "",
	    path != NULL ? ": " : "", what);
	while ((e = ERR_get_error()) != 0) {
		n = strlen(err);
		if (n + 3 >= errlen)
			break;
		snprintf(err + n, errlen - n, ": ");
		ERR_error_string_n(e, err + n + 2, errlen - n - 2);
	}
	ERR_clear_error();
	return -1;
}

/* The certificate and key a side presents, checked against each other. */
static int
tls_use_cert(SSL_CTX *ctx, const char *cert, const char *key, char *err,
    size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return tls_error(err, errlen, "cannot load the certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return tls_error(err, errlen, "cannot load the private key", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_error(err, errlen, "does not match its certificate", key);
	return 0;
}

SSL_CTX *
tls_client_ctx(const struct tls_client_conf *c, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if (!c->no_verify && (c->ca_file == NULL || c->ca_file[0] == '\0')) {
		snprintf(err, errlen, "no CA file for the peer's certificate");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_error(err, errlen, "cannot create a TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Sessions are kept by the caller (one per peer), not in OpenSSL's cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* A peer that closes without close_notify is EOF, not an error. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (c->no_verify)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1) {
			tls_error(err, errlen, "cannot load the CA file", c->ca_file);
			goto fail;
		}
	}
	if (c->cert_file != NULL && c->key_file != NULL &&
	    tls_use_cert(ctx, c->cert_file, c->key_file, err, errlen) == -1)
		goto fail;
	if (c->alpn != NULL &&
	    SSL_CTX_set_alpn_protos(ctx, c->alpn, (unsigned)c->alpn_len) != 0) {
		tls_error(err, errlen, "cannot set ALPN", NULL);
		goto fail;
	}
	return ctx;
 fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *
tls_client_new(SSL_CTX *ctx, const char *host, SSL_SESSION *resume)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	/* An IP literal is checked as an address (and sent as no SNI), a
	 * name as a DNS name. */
	if (strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			goto fail;
	} else if (SSL_set1_host(ssl, host) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	if (resume != NULL)
		SSL_set_session(ssl, resume);
	return ssl;
 fail:
	SSL_free(ssl);
	return NULL;
}

int
tls_alpn_is(SSL *ssl, const char *name)
{
	const unsigned char	*proto;
	unsigned		 len;

	SSL_get0_alpn_selected(ssl, &proto, &len);
	return len == strlen(name) && memcmp(proto, name, len) == 0;
}

void
tls_handshake_error(SSL *ssl, unsigned long err, char *buf, size_t len)
{
	long	verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char	lib[200];

	if (verify != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(verify));
		return;
	}
	if (err != 0) {
		ERR_error_string_n(err, lib, sizeof(lib));
		snprintf(buf, len, "TLS handshake failed: %s", lib);
		return;
	}
	snprintf(buf, len, "TLS handshake failed: connection closed");
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if (cert != NULL &&
	    (access(cert, R_OK) == -1 || access(key, R_OK) == -1)) {
		snprintf(err, errlen, "%s: %s", access(cert, R_OK) == -1 ? cert : key,
		    strerror(errno));
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "cannot create a TLS context", NULL);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_error(err, errlen, "cannot require TLS 1.2", NULL);
		goto fail;
	}
	/* A client that closes without close_notify has still ended cleanly:
	 * HTTP frames its own messages (and libevent 2.1 misreads OpenSSL 3's
	 * unexpected-EOF error). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (cert != NULL && tls_use_cert(ctx, cert, key, err, errlen) == -1)
		goto fail;
	if (SSL_CTX_set_session_id_context(ctx, tls_session_context,
	    sizeof(tls_session_context) - 1) != 1) {
		tls_error(err, errlen, "cannot set the session context", NULL);
		goto fail;
	}
	return ctx;
 fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The chain's verdict is kept in the SSL and read after the handshake: a
 * bad or missing certificate means no identity, not a failed handshake. */
static int
tls_verify_keep_going(int preverify_ok, X509_STORE_CTX *ctx)
{
	(void)preverify_ok;
	(void)ctx;
	return 1;
}

int
tls_server_client_ca(SSL_CTX *ctx, const char *ca, int require, char *err,
    size_t errlen)
{
	STACK_OF(X509_NAME)	*names;

	if (access(ca, R_OK) == -1) {
		snprintf(err, errlen, "%s: %s", ca, strerror(errno));
		return -1;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		return tls_error(err, errlen, "cannot load the CA certificate", ca);
	if ((names = SSL_load_client_CA_file(ca)) == NULL)
		return tls_error(err, errlen, "no CA name to ask clients for", ca);
	SSL_CTX_set_client_CA_list(ctx, names);
	if (require)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_keep_going);
	SSL_CTX_set_verify_depth(ctx, 4);
	return 0;
}

int
tls_alpn_pick(const unsigned char *ours, unsigned ours_len,
    const unsigned char *in, unsigned inlen, const unsigned char **out,
    unsigned char *outlen)
{
	unsigned char	*chosen;

	/* Our order wins; OpenSSL walks both lists and checks their framing. */
	if (SSL_select_next_proto(&chosen, outlen, ours, ours_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return -1;
	*out = chosen;
	return 0;
}

static int
tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned inlen, void *arg)
{
	const char	*ours = arg;

	(void)ssl;
	if (tls_alpn_pick((const unsigned char *)ours, (unsigned)strlen(ours),
	    in, inlen, out, outlen) == -1)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

void
tls_server_alpn(SSL_CTX *ctx, const char *ours)
{
	SSL_CTX_set_alpn_select_cb(ctx, tls_on_alpn, (void *)(uintptr_t)ours);
}

void
tls_alpn_text(const unsigned char *in, unsigned inlen, char *buf, size_t len)
{
	unsigned	i = 0, n, k;
	size_t		used = 0;
	unsigned char	c;

	buf[0] = '\0';
	while (i < inlen && used + 1 < len) {
		n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (used > 0 && used + 2 < len)
			buf[used++] = ',';
		for (k = 0; k < n && used + 1 < len; k++) {
			c = in[i + 1 + k];
			buf[used++] = c >= 0x21 && c < 0x7f ? (char)c : '?';
		}
		buf[used] = '\0';
		i += 1 + n;
	}
}

void
tls_bev_errors(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long	e;
	size_t		n;

	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		n = strlen(buf);
		/* libevent also queues bare SSL_get_error() codes: not errors. */
		if (ERR_GET_LIB(e) == 0 || n + 3 >= len)
			continue;
		if (n > 0) {
			snprintf(buf + n, len - n, "; ");
			n += 2;
		}
		ERR_error_string_n(e, buf + n, len - n);
	}
}

struct bufferevent *
tls_accept(struct event_base *base, SSL_CTX *ctx, evutil_socket_t fd,
    void *app_data)
{
	SSL	*ssl;
	int	 one = 1;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	SSL_set_app_data(ssl, app_data);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* On failure the bufferevent has already freed ssl (libevent 2.1).  No
	 * dirty-shutdown allowance: SSL_OP_IGNORE_UNEXPECTED_EOF makes a FIN
	 * without close_notify an EOF already, and a failed write (EPIPE) must
	 * stay an error, not pose as the peer's EOF. */
	return bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

#define TLS_RECORD	16384	/* the largest record's plaintext */
#define TLS_READ_ROOM(len)	(4 * (len))	/* input held before reads pause */

void
tls_read_ahead(struct bufferevent *bev, size_t len)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL)
		return;
	/* Kept, not freed and mapped again whenever it empties. */
	SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_set_default_read_buffer_len(ssl, len);
	SSL_set_read_ahead(ssl, 1);
	/* libevent asks SSL_read for 4 KiB at a time unless a high watermark
	 * says how much room there is: a record or two per call instead. */
	bufferevent_setwatermark(bev, EV_READ, 0, TLS_READ_ROOM(len));
}

size_t
tls_read_pending(struct bufferevent *bev)
{
	SSL			*ssl = bufferevent_openssl_get_ssl(bev);
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v;
	size_t			 moved = 0;
	int			 n;

	while (ssl != NULL && SSL_has_pending(ssl)) {
		if (evbuffer_reserve_space(in, TLS_RECORD, &v, 1) != 1)
			break;
		ERR_clear_error();
		if ((n = SSL_read(ssl, v.iov_base, TLS_RECORD)) <= 0) {
			/* A partial record, or an alert: libevent's own
			 * read meets it again when the socket has more. */
			ERR_clear_error();
			evbuffer_commit_space(in, &v, 0);
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
		moved += (size_t)n;
	}
	return moved;
}

/*
 * The write gather: a BIO under the SSL that takes its records into one
 * buffer and writes them with one write(2) when the buffer fills or at the
 * end of the event loop's pass (an event activated at the first record), so
 * that a pass of 64 records costs a few syscalls instead of 64.  Waiting for
 * the socket to drain uses a dup of it: libevent closes its own descriptor
 * on free, and what is still buffered then goes out from the dup (the
 * linger below) before the socket closes.
 */
struct tls_gather {
	int			 fd;		/* libevent's socket */
	int			 dupfd;		/* ours, for writability; -1 until needed */
	struct event_base	*base;
	struct event		*flush;		/* the pass's end (no fd) */
	struct event		*wev;		/* dupfd writable */
	char			*buf;
	size_t			 off, len;	/* unsent: buf[off..len) */
	size_t			 size;		/* of buf */
	int			 shut;		/* SHUT_WR once flushed */
	int			 failed;	/* a write failed: the socket is done */
	LIST_ENTRY(tls_gather)	 entry;		/* in tls_lingering while it lingers */
};

#define TLS_GATHER_BYTES	(128 * 1024)	/* records per write(2): 8 full ones */
#define TLS_GATHER_FIRST	(20 * 1024)	/* a small exchange's buffer: a full record */

/* Made once for every thread: arcproxy's workers each start a gateway. */
static pthread_once_t	 tls_gather_once = PTHREAD_ONCE_INIT;
static BIO_METHOD	*tls_gather_method;
static int		 tls_gather_type;
/* Freed BIOs whose bytes still go out: reachable, and ended at their
 * timeout at the latest.  Workers' threads share it, under the lock. */
static LIST_HEAD(, tls_gather) tls_lingering = LIST_HEAD_INITIALIZER(tls_lingering);
static pthread_mutex_t	 tls_lingering_lock = PTHREAD_MUTEX_INITIALIZER;

static void
tls_linger_add(struct tls_gather *g)
{
	pthread_mutex_lock(&tls_lingering_lock);
	LIST_INSERT_HEAD(&tls_lingering, g, entry);
	pthread_mutex_unlock(&tls_lingering_lock);
}

static void
tls_linger_remove(struct tls_gather *g)
{
	pthread_mutex_lock(&tls_lingering_lock);
	LIST_REMOVE(g, entry);
	pthread_mutex_unlock(&tls_lingering_lock);
}

static void	tls_gather_wait(struct tls_gather *);

static size_t
tls_gather_pending(const struct tls_gather *g)
{
	return g->len - g->off;
}

/* Writes what is buffered: 0 when it all went, -1 with errno (EAGAIN: the
 * socket is full). */
static int
tls_gather_write(struct tls_gather *g)
{
	ssize_t	n;
	int	fd = g->dupfd != -1 ? g->dupfd : g->fd;

	while (g->off < g->len) {
		if ((n = write(fd, g->buf + g->off, g->len - g->off)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				g->failed = 1;
			return -1;
		}
		g->off += (size_t)n;
	}
	g->off = g->len = 0;
	if (g->shut) {
		g->shut = 0;
		shutdown(fd, SHUT_WR);
	}
	return 0;
}

static void
tls_gather_end(struct tls_gather *g)
{
	if (g->flush != NULL)
		event_free(g->flush);
	if (g->wev != NULL)
		event_free(g->wev);
	if (g->dupfd != -1)
		close(g->dupfd);
	free(g->buf);
	free(g);
}

/* The end of the pass, or the socket writable again. */
static void
tls_gather_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct tls_gather	*g = arg;

	(void)fd;
	if (g->fd == -1) {
		/* Lingering after free: done, failed, or out of time. */
		if ((what & EV_TIMEOUT) || tls_gather_write(g) == 0 ||
		    g->failed) {
			tls_linger_remove(g);
			tls_gather_end(g);
		} else
			tls_gather_wait(g);
		return;
	}
	if (tls_gather_write(g) == -1 && !g->failed)
		tls_gather_wait(g);
}

#define TLS_GATHER_LINGER_S	30	/* a freed connection's last bytes */

/* Waits for the socket to take more: on our dup, which outlives libevent's
 * descriptor. */
static void
tls_gather_wait(struct tls_gather *g)
{
	struct timeval	tv = { TLS_GATHER_LINGER_S, 0 };

	if (g->dupfd == -1 && (g->dupfd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		g->failed = 1;
		return;
	}
	if (g->wev == NULL && (g->wev = event_new(g->base, g->dupfd, EV_WRITE,
	    tls_gather_on_flush, g)) == NULL) {
		g->failed = 1;
		return;
	}
	event_add(g->wev, g->fd == -1 ? &tv : NULL);
}

static int
tls_gather_bwrite(BIO *b, const char *data, int len)
{
	struct tls_gather	*g = BIO_get_data(b);
	size_t			 size;
	char			*nbuf;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (g->failed) {
		errno = EPIPE;
		return -1;
	}
	if (g->len + (size_t)len > TLS_GATHER_BYTES) {
		/* Full: out with it, and this record waits if it must. */
		if (tls_gather_write(g) == -1) {
			if (g->failed)
				return -1;
			if (g->wev == NULL || !event_pending(g->wev, EV_WRITE, NULL))
				tls_gather_wait(g);
			BIO_set_retry_write(b);
			return -1;
		}
	}
	/* Small at first (a connection that only exchanges a few records
	 * costs no big block), grown once a pass brings more. */
	if (g->len + (size_t)len > g->size) {
		size = g->size == 0 ? TLS_GATHER_FIRST : TLS_GATHER_BYTES;
		if (size > g->size) {
			if ((nbuf = realloc(g->buf, size)) == NULL)
				return -1;
			g->buf = nbuf;
			g->size = size;
		}
	}
	/* OpenSSL takes a short write and comes back with the rest. */
	if ((size_t)len > g->size - g->len)
		len = (int)(g->size - g->len);
	memcpy(g->buf + g->len, data, (size_t)len);
	g->len += (size_t)len;
	if (!event_pending(g->flush, EV_WRITE, NULL) &&
	    (g->wev == NULL || !event_pending(g->wev, EV_WRITE, NULL)))
		event_active(g->flush, EV_WRITE, 0);
	return len;
}

static long
tls_gather_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_gather	*g = BIO_get_data(b);

	(void)num;
	switch (cmd) {
	case BIO_C_GET_FD:
		/* libevent asks just before it closes the socket: the bytes
		 * still here keep it open through our dup. */
		if (tls_gather_pending(g) > 0 && g->dupfd == -1)
			g->dupfd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0);
		if (ptr != NULL)
			*(int *)ptr = g->fd;
		return g->fd;
	case BIO_CTRL_FLUSH:
		if (tls_gather_write(g) == 0)
			return 1;
		if (!g->failed) {
			if (g->wev == NULL || !event_pending(g->wev, EV_WRITE, NULL))
				tls_gather_wait(g);
			BIO_set_retry_write(b);
		}
		return 0;
	case BIO_CTRL_WPENDING:
		return (long)tls_gather_pending(g);
	case BIO_CTRL_PENDING:
		return 0;
	case BIO_CTRL_GET_CLOSE:
	case BIO_CTRL_SET_CLOSE:
	case BIO_CTRL_DUP:
		return 1;
	default:
		return 0;
	}
}

static int
tls_gather_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
tls_gather_destroy(BIO *b)
{
	struct tls_gather	*g = BIO_get_data(b);

	if (g == NULL)
		return 1;
	BIO_set_data(b, NULL);
	event_del(g->flush);
	if (tls_gather_pending(g) > 0 && !g->failed && g->dupfd != -1) {
		/* libevent has closed g->fd: the rest goes from the dup. */
		g->fd = -1;
		if (g->wev != NULL)
			event_del(g->wev);
		tls_linger_add(g);
		tls_gather_wait(g);
		if (!g->failed)
			return 1;
		tls_linger_remove(g);
	}
	tls_gather_end(g);
	return 1;
}

static void
tls_gather_init(void)
{
	BIO_METHOD	*m;

	tls_gather_type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
	if ((m = BIO_meth_new(tls_gather_type, "arc write gather")) == NULL)
		return;
	BIO_meth_set_write(m, tls_gather_bwrite);
	BIO_meth_set_ctrl(m, tls_gather_ctrl);
	BIO_meth_set_create(m, tls_gather_create);
	BIO_meth_set_destroy(m, tls_gather_destroy);
	tls_gather_method = m;
}

int
tls_write_gather(struct bufferevent *bev)
{
	SSL			*ssl = bufferevent_openssl_get_ssl(bev);
	struct tls_gather	*g;
	BIO			*b;

	if (ssl == NULL)
		return -1;
	pthread_once(&tls_gather_once, tls_gather_init);
	if (tls_gather_method == NULL)
		return -1;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	g->fd = bufferevent_getfd(bev);
	g->dupfd = -1;
	g->base = bufferevent_get_base(bev);
	if ((g->flush = event_new(g->base, -1, 0, tls_gather_on_flush, g)) == NULL ||
	    (b = BIO_new(tls_gather_method)) == NULL) {
		tls_gather_end(g);
		return -1;
	}
	BIO_set_data(b, g);
	/* The socket BIO stays for reading (SSL_set_bio holds it twice). */
	SSL_set0_wbio(ssl, b);
	return 0;
}


/* Our write gather under ssl, or NULL. */
static struct tls_gather *
tls_gather_of(SSL *ssl)
{
	BIO	*b = ssl != NULL ? SSL_get_wbio(ssl) : NULL;

	if (b == NULL || tls_gather_method == NULL ||
	    BIO_method_type(b) != tls_gather_type)
		return NULL;
	return BIO_get_data(b);
}

void
tls_shutdown_write(struct bufferevent *bev)
{
	SSL			*ssl = bufferevent_openssl_get_ssl(bev);
	struct tls_gather	*g;

	/* A partly written close_notify must not be cut short by the FIN. */
	if (ssl != NULL && SSL_shutdown(ssl) < 0) {
		ERR_clear_error();
		return;
	}
	if ((g = tls_gather_of(ssl)) != NULL && tls_gather_pending(g) > 0) {
		g->shut = 1;		/* the FIN after what is still buffered */
		return;
	}
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}
