/* tls_test.c -- lib/tls: contexts from a PKI made here, handshakes over a socketpair, host name checks, client certificates, ALPN, error text, read-ahead and the write gather. */
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "tls.h"
#include "unit.h"

static char	dir[64];
static char	ca[128], srv_crt[128], srv_key[128], cli_crt[128], cli_key[128];
static char	other_ca[128];

/* A CA, a server certificate for gw.test and 127.0.0.1, a client
 * certificate, and a second CA that signed nothing of ours. */
static int
make_pki(void)
{
	char	cmd[2048];

	snprintf(dir, sizeof(dir), "/tmp/tls_test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(other_ca, sizeof(other_ca), "%s/other.crt", dir);
	snprintf(srv_crt, sizeof(srv_crt), "%s/srv.crt", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/srv.key", dir);
	snprintf(cli_crt, sizeof(cli_crt), "%s/cli.crt", dir);
	snprintf(cli_key, sizeof(cli_key), "%s/cli.key", dir);
	snprintf(cmd, sizeof(cmd), "(cd %s && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout other.key -out other.crt -days 2 -subj /CN=other-ca && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout srv.key -out srv.csr -subj /CN=gw.test && "
	    "printf 'subjectAltName=DNS:gw.test,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > srv.ext && "
	    "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	    "-days 2 -extfile srv.ext -out srv.crt && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout cli.key -out cli.csr -subj /CN=m1 && "
	    "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext && "
	    "openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	    "-days 2 -extfile cli.ext -out cli.crt) >/dev/null 2>&1", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
remove_pki(void)
{
	char	cmd[128];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* Runs both handshakes over the socketpair sv until both end: 0 when both
 * succeeded, -1 when either failed. */
static int
handshake_on(SSL *client, SSL *server, int sv[2])
{
	int	i, cdone = 0, sdone = 0, rv, e, failed = 0;

	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	SSL_set_fd(client, sv[0]);
	SSL_set_fd(server, sv[1]);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	for (i = 0; i < 1000 && !failed && !(cdone && sdone); i++) {
		if (!cdone) {
			if ((rv = SSL_do_handshake(client)) == 1)
				cdone = 1;
			else if ((e = SSL_get_error(client, rv)) != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				failed = 1;
		}
		if (!sdone && !failed) {
			if ((rv = SSL_do_handshake(server)) == 1)
				sdone = 1;
			else if ((e = SSL_get_error(server, rv)) != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				failed = 1;
		}
	}
	/* TLS 1.3: the server learns of a refused client certificate only
	 * when it reads what follows the client's Finished. */
	if (!failed && cdone && sdone) {
		char	b;

		SSL_write(client, "x", 1);
		if (SSL_read(server, &b, 1) != 1)
			failed = 1;
	}
	return failed || !(cdone && sdone) ? -1 : 0;
}

/* The same over a socketpair of its own, closed after. */
static int
handshake(SSL *client, SSL *server)
{
	int	sv[2], rv;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	rv = handshake_on(client, server, sv);
	close(sv[0]);
	close(sv[1]);
	return rv;
}

static SSL_CTX *
client_ctx(const char *cafile, int with_cert, const char *alpn)
{
	struct tls_client_conf	c;
	char			err[512];
	SSL_CTX			*ctx;

	memset(&c, 0, sizeof(c));
	c.ca_file = cafile;
	if (with_cert) {
		c.cert_file = cli_crt;
		c.key_file = cli_key;
	}
	c.alpn = (const unsigned char *)alpn;
	c.alpn_len = alpn != NULL ? strlen(alpn) : 0;
	ctx = tls_client_ctx(&c, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(ctx);
	if (ctx == NULL)
		fprintf(stderr, "client ctx: %s\n", err);
	return ctx;
}

static SSL_CTX *
server_ctx(int client_ca, int require)
{
	char	 err[512];
	SSL_CTX	*ctx;

	ctx = tls_server_ctx(srv_crt, srv_key, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	if (client_ca)
		CU_ASSERT_EQUAL(tls_server_client_ca(ctx, ca, require, err,
		    sizeof(err)), 0);
	tls_server_alpn(ctx, TLS_ALPN_H2 TLS_ALPN_HTTP11);
	return ctx;
}

/* A handshake of host against the server; why the client failed in why. */
static int
connect_as(SSL_CTX *cctx, SSL_CTX *sctx, const char *host, char *why,
    size_t whylen, SSL **keep)
{
	SSL	*c, *s;
	int	 rv;

	c = tls_client_new(cctx, host, NULL);
	s = SSL_new(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	rv = handshake(c, s);
	tls_handshake_error(c, ERR_peek_error(), why, whylen);
	ERR_clear_error();
	SSL_free(s);
	if (keep != NULL)
		*keep = c;
	else
		SSL_free(c);
	return rv;
}

static void
test_handshake_alpn_h2(void)
{
	SSL_CTX	*cctx = client_ctx(ca, 0, TLS_ALPN_HTTP11 TLS_ALPN_H2);
	SSL_CTX	*sctx = server_ctx(0, 0);
	SSL	*c = NULL;
	char	 why[256];

	CU_ASSERT_EQUAL(connect_as(cctx, sctx, "gw.test", why, sizeof(why), &c), 0);
	/* The server's order wins: h2 although the client put it last. */
	CU_ASSERT_TRUE(tls_alpn_is(c, "h2"));
	CU_ASSERT_FALSE(tls_alpn_is(c, "http/1.1"));
	CU_ASSERT_EQUAL(SSL_version(c), TLS1_3_VERSION);
	SSL_free(c);
	SSL_CTX_free(cctx);
	/* A client offering only http/1.1 gets it; one offering nothing
	 * gets no ALPN and still connects. */
	cctx = client_ctx(ca, 0, TLS_ALPN_HTTP11);
	CU_ASSERT_EQUAL(connect_as(cctx, sctx, "gw.test", why, sizeof(why), &c), 0);
	CU_ASSERT_TRUE(tls_alpn_is(c, "http/1.1"));
	SSL_free(c);
	SSL_CTX_free(cctx);
	cctx = client_ctx(ca, 0, "\x06spdy/3");
	CU_ASSERT_EQUAL(connect_as(cctx, sctx, "gw.test", why, sizeof(why), &c), 0);
	CU_ASSERT_FALSE(tls_alpn_is(c, "h2"));
	CU_ASSERT_FALSE(tls_alpn_is(c, "http/1.1"));
	SSL_free(c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void
test_host_name_check(void)
{
	SSL_CTX	*cctx = client_ctx(ca, 0, TLS_ALPN_H2);
	SSL_CTX	*sctx = server_ctx(0, 0);
	char	 why[256];

	CU_ASSERT_EQUAL(connect_as(cctx, sctx, "127.0.0.1", why, sizeof(why), NULL), 0);
	CU_ASSERT_EQUAL(connect_as(cctx, sctx, "other.test", why, sizeof(why), NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate verify failed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "hostname mismatch"));
	CU_ASSERT_EQUAL(connect_as(cctx, sctx, "127.0.0.2", why, sizeof(why), NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "IP address mismatch"));
	SSL_CTX_free(cctx);
	/* Another CA: the chain is refused whatever the name. */
	cctx = client_ctx(other_ca, 0, TLS_ALPN_H2);
	CU_ASSERT_EQUAL(connect_as(cctx, sctx, "gw.test", why, sizeof(why), NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate verify failed"));
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void
test_client_certificate(void)
{
	SSL_CTX	*anon = client_ctx(ca, 0, TLS_ALPN_H2);
	SSL_CTX	*machine = client_ctx(ca, 1, TLS_ALPN_H2);
	SSL_CTX	*optional = server_ctx(1, 0);
	SSL_CTX	*required = server_ctx(1, 1);
	SSL	*c, *s;
	char	 why[256];

	/* Asked for, not required: both get in; the verdict is on the SSL. */
	CU_ASSERT_EQUAL(connect_as(anon, optional, "gw.test", why, sizeof(why), NULL), 0);
	c = tls_client_new(machine, "gw.test", NULL);
	s = SSL_new(optional);
	CU_ASSERT_EQUAL(handshake(c, s), 0);
	CU_ASSERT_PTR_NOT_NULL(SSL_get0_peer_certificate(s));
	CU_ASSERT_EQUAL(SSL_get_verify_result(s), X509_V_OK);
	SSL_free(c);
	SSL_free(s);
	/* Required: no certificate, no connection. */
	CU_ASSERT_EQUAL(connect_as(anon, required, "gw.test", why, sizeof(why), NULL), -1);
	CU_ASSERT_EQUAL(connect_as(machine, required, "gw.test", why, sizeof(why), NULL), 0);
	SSL_CTX_free(anon);
	SSL_CTX_free(machine);
	SSL_CTX_free(optional);
	SSL_CTX_free(required);
}

static void
test_context_errors(void)
{
	struct tls_client_conf	c;
	char			err[512];
	SSL_CTX			*ctx;

	memset(&c, 0, sizeof(c));
	CU_ASSERT_PTR_NULL(tls_client_ctx(&c, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no CA file"));
	c.ca_file = "/nonexistent/ca.crt";
	CU_ASSERT_PTR_NULL(tls_client_ctx(&c, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/ca.crt"));
	/* OpenSSL's own words follow ours. */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "error:"));
	c.ca_file = ca;
	c.cert_file = cli_crt;
	c.key_file = srv_key;
	CU_ASSERT_PTR_NULL(tls_client_ctx(&c, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, srv_key));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "key values mismatch"));
	/* No verification only when asked for. */
	memset(&c, 0, sizeof(c));
	c.no_verify = 1;
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx = tls_client_ctx(&c, err, sizeof(err)));
	CU_ASSERT_EQUAL(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
	CU_ASSERT_EQUAL(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
	CU_ASSERT_PTR_NULL(tls_server_ctx("/nonexistent/srv.crt", srv_key, err,
	    sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/srv.crt"));
	CU_ASSERT_PTR_NULL(tls_server_ctx(srv_crt, cli_key, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "key values mismatch"));
	CU_ASSERT_EQUAL(ERR_peek_error(), 0);	/* the queue is left empty */
}

static void
test_alpn_helpers(void)
{
	static const unsigned char	ours[] = TLS_ALPN_H2 TLS_ALPN_HTTP11;
	static const unsigned char	theirs[] = "\x08http/1.1\x02h2";
	static const unsigned char	bad[] = "\x09http/1.1";
	const unsigned char		*out;
	unsigned char			 outlen;
	char				 text[64];

	CU_ASSERT_EQUAL(tls_alpn_pick(ours, sizeof(ours) - 1, theirs,
	    sizeof(theirs) - 1, &out, &outlen), 0);
	CU_ASSERT_EQUAL(outlen, 2);
	CU_ASSERT_EQUAL(memcmp(out, "h2", 2), 0);
	CU_ASSERT_EQUAL(tls_alpn_pick(ours, 3, (const unsigned char *)"\x08http/1.1",
	    9, &out, &outlen), -1);
	tls_alpn_text(theirs, sizeof(theirs) - 1, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "http/1.1,h2");
	tls_alpn_text(bad, sizeof(bad) - 1, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "");
	tls_alpn_text((const unsigned char *)"\x03" "a\x01z", 4, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "a?z");
}

static void
test_error_text(void)
{
	char	err[256];

	ERR_clear_error();
	CU_ASSERT_EQUAL(tls_error(err, sizeof(err), "nothing queued", "/x"), -1);
	CU_ASSERT_STRING_EQUAL(err, "/x: nothing queued");
	ERR_put_error(ERR_LIB_SSL, 0, SSL_R_NO_CERTIFICATE_ASSIGNED, __FILE__, __LINE__);
	ERR_put_error(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER, __FILE__, __LINE__);
	tls_error(err, sizeof(err), "two", NULL);
	CU_ASSERT_EQUAL(strncmp(err, "two: error:", 11), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no certificate assigned"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "wrong version number"));
	CU_ASSERT_EQUAL(ERR_peek_error(), 0);
	/* A short buffer is cut, not overrun. */
	ERR_put_error(ERR_LIB_SSL, 0, SSL_R_NO_CERTIFICATE_ASSIGNED, __FILE__, __LINE__);
	tls_error(err, 12, "short", NULL);
	CU_ASSERT(strlen(err) < 12);
	CU_ASSERT_EQUAL(ERR_peek_error(), 0);
}

/*
 * Read-ahead: one read(2) takes several records, libevent's read stops at
 * the end of the first, and tls_read_pending() moves the rest, which the
 * socket would never announce again.
 */
static void
test_read_ahead(void)
{
	SSL_CTX			*cctx = client_ctx(ca, 0, NULL);
	SSL_CTX			*sctx = server_ctx(0, 0);
	struct event_base	*base = event_base_new();
	struct bufferevent	*bev;
	struct evbuffer		*in;
	SSL			*c, *s;
	char			 rec[1000];
	int			 sv[2], i;

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = tls_client_new(cctx, "gw.test", NULL);
	s = SSL_new(sctx);
	CU_ASSERT_EQUAL_FATAL(handshake_on(c, s, sv), 0);
	bev = bufferevent_openssl_socket_new(base, sv[0], c,
	    BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bev);
	tls_read_ahead(bev, 64 * 1024);
	bufferevent_enable(bev, EV_READ);
	memset(rec, 'r', sizeof(rec));
	for (i = 0; i < 4; i++)		/* four records, all in the socket */
		CU_ASSERT_EQUAL(SSL_write(s, rec, sizeof(rec)), (int)sizeof(rec));
	in = bufferevent_get_input(bev);
	for (i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	/* libevent read the first record; OpenSSL holds the other three. */
	CU_ASSERT_EQUAL(evbuffer_get_length(in), sizeof(rec));
	CU_ASSERT_TRUE(SSL_has_pending(c));
	CU_ASSERT_EQUAL(tls_read_pending(bev), 3 * sizeof(rec));
	CU_ASSERT_EQUAL(evbuffer_get_length(in), 4 * sizeof(rec));
	CU_ASSERT_EQUAL(tls_read_pending(bev), 0);
	bufferevent_free(bev);		/* frees c and closes sv[0] */
	SSL_free(s);
	close(sv[1]);
	event_base_free(base);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}


/*
 * The write gather: records of a pass leave together, and what is still
 * buffered when the bufferevent is freed (the peer not reading) reaches the
 * peer afterwards, then close_notify and the FIN that tls_shutdown_write()
 * asked for.
 */
static void
test_write_gather(void)
{
	SSL_CTX			*cctx = client_ctx(ca, 0, NULL);
	SSL_CTX			*sctx = server_ctx(0, 0);
	struct event_base	*base = event_base_new();
	struct bufferevent	*bev;
	struct evbuffer		*out;
	SSL			*c, *s;
	static char		 data[100000], got[100000];
	size_t			 n = 0;
	int			 sv[2], i, r, small = 8192, zero = 0;
	char			 b;

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = tls_client_new(cctx, "gw.test", NULL);
	s = SSL_new(sctx);
	CU_ASSERT_EQUAL_FATAL(handshake_on(c, s, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	bev = bufferevent_openssl_socket_new(base, sv[0], c,
	    BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bev);
	CU_ASSERT_EQUAL(tls_write_gather(bev), 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (char)(i * 7 + i / 5000);
	out = bufferevent_get_output(bev);
	/* Small pieces, so that they are many records. */
	for (i = 0; i < (int)sizeof(data); i += 3000)
		bufferevent_write(bev, data + i, sizeof(data) - i < 3000 ?
		    sizeof(data) - i : 3000);
	for (i = 0; i < 100 && evbuffer_get_length(out) > 0; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	/* libevent has handed everything over; the peer has not read, so
	 * part of it waits in the gather. */
	CU_ASSERT_EQUAL(evbuffer_get_length(out), 0);
	CU_ASSERT_TRUE(BIO_ctrl_wpending(SSL_get_wbio(c)) > 0);
	tls_shutdown_write(bev);
	bufferevent_free(bev);		/* closes sv[0]: the rest is ours */
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	for (i = 0; i < 5000 && !zero; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		while (n < sizeof(got) &&
		    (r = SSL_read(s, got + n, (int)(sizeof(got) - n))) > 0)
			n += (size_t)r;
		if (n == sizeof(got) && SSL_read(s, &b, 1) <= 0 &&
		    SSL_get_error(s, 0) == SSL_ERROR_ZERO_RETURN)
			zero = 1;
		ERR_clear_error();
	}
	CU_ASSERT_EQUAL(n, sizeof(data));
	CU_ASSERT_EQUAL(memcmp(got, data, sizeof(data)), 0);
	CU_ASSERT_TRUE(zero);		/* close_notify after the data */
	CU_ASSERT_EQUAL(read(sv[1], &b, 1), 0);	/* then the FIN */
	SSL_free(s);
	close(sv[1]);
	event_base_free(base);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static const struct unit_test tests[] = {
	{ "handshake, ALPN picks h2", test_handshake_alpn_h2 },
	{ "read-ahead: records OpenSSL holds are moved", test_read_ahead },
	{ "write gather: buffered records outlive the bufferevent", test_write_gather },
	{ "host name and CA checks", test_host_name_check },
	{ "client certificate asked for or required", test_client_certificate },
	{ "context errors name the file", test_context_errors },
	{ "ALPN pick and text", test_alpn_helpers },
	{ "OpenSSL error text", test_error_text },
	{ NULL, NULL }
};

int
main(void)
{
	int	rv;

	if (make_pki() == -1) {
		fprintf(stderr, "tls_test: cannot make a PKI with openssl in %s\n", dir);
		remove_pki();
		return 1;
	}
	rv = unit_main("tls", tests);
	remove_pki();
	return rv;
}
