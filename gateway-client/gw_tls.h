/* gw_tls.h -- the TLS client context for the gateway: lib/tls's client policy with the machine's certificate and the ALPN of gateway.protocol. */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* TLS 1.2 or later, the CA file as the only trust, cert/key presented when
 * given.  Errors name the file and what OpenSSL said. */
SSL_CTX	*gw_tls_ctx_new(const char *ca_file, const char *cert_file,
	    const char *key_file, int offer_h2, int offer_http11, char *err,
	    size_t errlen);
/* Did the gateway pick h2? */
int	 gw_tls_is_h2(SSL *);
/* A client SSL for host: SNI, host name check, ALPN, and a session to resume. */
SSL	*gw_tls_new(SSL_CTX *, const char *host, SSL_SESSION *resume);
/* Why the handshake failed, in a few words. */
void	 gw_tls_error(SSL *, unsigned long err, char *buf, size_t len);

#endif
