/* gw_tls.c -- the TLS client context for the gateway: lib/tls's client policy with the machine's certificate and the ALPN of gateway.protocol. */
#include <string.h>

#include "gw_tls.h"
#include "tls.h"

SSL_CTX *
gw_tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
    int offer_h2, int offer_http11, char *err, size_t errlen)
{
	struct tls_client_conf	c;
	unsigned char		alpn[32];

	memset(&c, 0, sizeof(c));
	c.ca_file = ca_file;
	c.cert_file = cert_file;
	c.key_file = key_file;
	if (offer_h2) {
		memcpy(alpn + c.alpn_len, TLS_ALPN_H2, 3);
		c.alpn_len += 3;
	}
	if (offer_http11) {
		memcpy(alpn + c.alpn_len, TLS_ALPN_HTTP11, 9);
		c.alpn_len += 9;
	}
	c.alpn = alpn;
	return tls_client_ctx(&c, err, errlen);
}

SSL *
gw_tls_new(SSL_CTX *ctx, const char *host, SSL_SESSION *resume)
{
	return tls_client_new(ctx, host, resume);
}

int
gw_tls_is_h2(SSL *ssl)
{
	return tls_alpn_is(ssl, "h2");
}

void
gw_tls_error(SSL *ssl, unsigned long err, char *buf, size_t len)
{
	tls_handshake_error(ssl, err, buf, len);
}
