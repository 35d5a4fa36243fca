/* tls.c -- OpenSSL for cloudsim's listeners: server contexts, client-certificate identity, ALPN choice, TLS bufferevents. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "tls.h"

/* Sessions resumed across connections must come from this context. */
static const unsigned char tls_session_context[] = "cloudsim";

static SSL_CTX *
tls_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what,
    const char *path)
{
	unsigned long	e;
	size_t		n;

	snprintf(err, errlen, "%s: %s", path, what);
	while ((e = ERR_get_error()) != 0) {
		n = strlen(err);
		if (n + 3 >= errlen)
			break;
		snprintf(err + n, errlen - n, ": ");
		ERR_error_string_n(e, err + n + 2, errlen - n - 2);
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if (access(cert, R_OK) == -1 || access(key, R_OK) == -1) {
		snprintf(err, errlen, "%s: %s", access(cert, R_OK) == -1 ? cert : key,
		    strerror(errno));
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return tls_fail(NULL, err, errlen, "cannot create a TLS context",
		    cert);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return tls_fail(ctx, err, errlen, "cannot require TLS 1.2", cert);
	/* A client that closes without close_notify has still ended cleanly:
	 * HTTP frames its own messages (and libevent 2.1 misreads OpenSSL 3's
	 * unexpected-EOF error). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return tls_fail(ctx, err, errlen, "cannot load the certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return tls_fail(ctx, err, errlen, "cannot load the private key", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_fail(ctx, err, errlen, "does not match its certificate",
		    key);
	if (SSL_CTX_set_session_id_context(ctx, tls_session_context,
	    sizeof(tls_session_context) - 1) != 1)
		return tls_fail(ctx, err, errlen, "cannot set the session context",
		    cert);
	return ctx;
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
tls_request_client_cert(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
	STACK_OF(X509_NAME)	*names;

	if (access(ca, R_OK) == -1) {
		snprintf(err, errlen, "%s: %s", ca, strerror(errno));
		return -1;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		tls_fail(NULL, err, errlen, "cannot load the CA certificate", ca);
		return -1;
	}
	if ((names = SSL_load_client_CA_file(ca)) == NULL) {
		tls_fail(NULL, err, errlen, "no CA name to ask clients for", ca);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_keep_going);
	SSL_CTX_set_verify_depth(ctx, 4);
	return 0;
}

SSL_CTX *
tls_server_ctx_pki(const char *pki_dir, const char *name,
    SSL_CTX_alpn_select_cb_func alpn, char *err, size_t errlen)
{
	char	 cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	SSL_CTX	*ctx;

	snprintf(cert, sizeof(cert), "%s/%s.crt", pki_dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", pki_dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki_dir);
	if ((ctx = tls_server_ctx(cert, key, err, errlen)) == NULL)
		return NULL;
	if (tls_request_client_cert(ctx, ca, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn, NULL);
	return ctx;
}

int
tls_peer_identity(SSL *ssl, char *cn, size_t cnlen, char *serial,
    size_t seriallen, char *why, size_t whylen)
{
	X509	*cert;
	long	 verdict;
	int	 n;

	cn[0] = '\0';
	serial[0] = '\0';
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL) {
		snprintf(why, whylen, "no client certificate");
		return -1;
	}
	if ((verdict = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(why, whylen, "client certificate refused: %s",
		    X509_verify_cert_error_string(verdict));
		return -1;
	}
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	    NID_commonName, cn, (int)cnlen);
	if (n <= 0 || (size_t)n >= cnlen || strlen(cn) != (size_t)n) {
		cn[0] = '\0';
		snprintf(why, whylen, "client certificate without a usable CN");
		return -1;
	}
	pki_serial_text(cert, serial, seriallen);
	if (serial[0] == '\0') {
		cn[0] = '\0';
		snprintf(why, whylen, "client certificate without a usable serial "
		    "number");
		return -1;
	}
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

void
tls_alpn_text(const unsigned char *in, unsigned inlen, char *buf, size_t len)
{
	unsigned	i = 0;
	size_t		used = 0;

	buf[0] = '\0';
	while (i < inlen && used + 1 < len) {
		unsigned	n = in[i], k;

		if (i + 1 + n > inlen)
			break;
		if (used > 0 && used + 2 < len) {
			buf[used++] = ',';
		}
		for (k = 0; k < n && used + 1 < len; k++) {
			unsigned char c = in[i + 1 + k];

			buf[used++] = c >= 0x21 && c < 0x7f ? (char)c : '?';
		}
		buf[used] = '\0';
		i += 1 + n;
	}
}

struct bufferevent *
tls_accept(struct event_base *base, SSL_CTX *ctx, evutil_socket_t fd,
    void *app_data)
{
	struct bufferevent	*bev;
	SSL			*ssl;
	int			 one = 1;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	SSL_set_app_data(ssl, app_data);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* On failure the bufferevent has already freed ssl (libevent 2.1). */
	if ((bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		return NULL;
	/* No dirty-shutdown allowance: SSL_OP_IGNORE_UNEXPECTED_EOF makes a
	 * FIN without close_notify an EOF already, and a failed write (EPIPE)
	 * must stay an error, not pose as the peer's EOF. */
	return bev;
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

void
tls_shutdown_write(struct bufferevent *bev)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	/* A partly written close_notify must not be cut short by the FIN. */
	if (ssl != NULL && SSL_shutdown(ssl) < 0) {
		ERR_clear_error();
		return;
	}
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}
