/* gw_tls.c -- the TLS client context for the gateway: verification on, the machine's certificate, ALPN, resumption. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "gw_tls.h"

static void
gw_tls_openssl_error(const char *what, const char *file, char *err,
    size_t errlen)
{
	char	buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	snprintf(err, errlen, "%s %s: %s", what, file, buf);
	ERR_clear_error();
}

SSL_CTX *
gw_tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
    int offer_h2, int offer_http11, char *err, size_t errlen)
{
	unsigned char	 alpn[32];
	size_t		 alpn_len = 0;
	SSL_CTX		*ctx;

	if (offer_h2) {
		memcpy(alpn + alpn_len, "\x02h2", 3);
		alpn_len += 3;
	}
	if (offer_http11) {
		memcpy(alpn + alpn_len, "\x08http/1.1", 9);
		alpn_len += 9;
	}

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Sessions are kept by the caller (one per gateway), not in OpenSSL's cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* A peer that closes without close_notify is EOF, not an error. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (ca_file == NULL || ca_file[0] == '\0') {
		snprintf(err, errlen, "no CA file for the gateway's certificate");
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		gw_tls_openssl_error("CA file", ca_file, err, errlen);
		goto fail;
	}
	if (cert_file != NULL && key_file != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
			gw_tls_openssl_error("machine certificate", cert_file, err, errlen);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
			gw_tls_openssl_error("machine key", key_file, err, errlen);
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "machine key %s does not match %s",
			    key_file, cert_file);
			goto fail;
		}
	}
	if (SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)alpn_len) != 0) {
		snprintf(err, errlen, "cannot set ALPN");
		goto fail;
	}
	return ctx;
 fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *
gw_tls_new(SSL_CTX *ctx, const char *host, SSL_SESSION *resume)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	/* An IP literal is checked as an address, a name as a DNS name. */
	if (strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host)) {
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);

		if (X509_VERIFY_PARAM_set1_ip_asc(p, host) != 1)
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
gw_tls_is_h2(SSL *ssl)
{
	const unsigned char	*proto;
	unsigned		 len;

	SSL_get0_alpn_selected(ssl, &proto, &len);
	return len == 2 && memcmp(proto, "h2", 2) == 0;
}

void
gw_tls_error(SSL *ssl, unsigned long err, char *buf, size_t len)
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
