/* tls.h -- OpenSSL for cloudsim's listeners: server contexts, client-certificate identity, ALPN choice, TLS bufferevents. */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

#include <event2/util.h>
#include <openssl/ssl.h>

struct bufferevent;
struct event_base;

/* TLS 1.2 or later, with cert and key (PEM) as the server's identity. */
SSL_CTX		*tls_server_ctx(const char *cert, const char *key, char *err,
		    size_t errlen);
/* Asks every client for a certificate and checks it against ca (PEM), but
 * lets the handshake finish without one: see tls_peer_identity. */
int		 tls_request_client_cert(SSL_CTX *, const char *ca, char *err,
		    size_t errlen);
/* A server context from <pki_dir>/<name>.crt and .key that asks clients
 * for a certificate from <pki_dir>/ca.crt, with the given ALPN choice. */
SSL_CTX		*tls_server_ctx_pki(const char *pki_dir, const char *name,
		    SSL_CTX_alpn_select_cb_func alpn, char *err, size_t errlen);
/* The verified client certificate's CN and serial number (hex): 0 with
 * both filled, or -1 with why. */
int		 tls_peer_identity(SSL *, char *cn, size_t cnlen, char *serial,
		    size_t seriallen, char *why, size_t whylen);
/* The first protocol of ours (ALPN wire format, preferred first) that the
 * client's list in offers: 0 with out pointing into ours, or -1. */
int		 tls_alpn_pick(const unsigned char *ours, unsigned ours_len,
		    const unsigned char *in, unsigned inlen,
		    const unsigned char **out, unsigned char *outlen);
/* A comma-separated copy of an ALPN list, for logs. */
void		 tls_alpn_text(const unsigned char *in, unsigned inlen, char *buf,
		    size_t len);
/* An accepting TLS bufferevent on fd (closed on free), with app_data on its
 * SSL, TCP_NODELAY, and a TCP FIN without close_notify taken as EOF. */
struct bufferevent *tls_accept(struct event_base *, SSL_CTX *, evutil_socket_t fd,
		    void *app_data);
/* The OpenSSL errors a TLS bufferevent collected, as text ("" if none). */
void		 tls_bev_errors(struct bufferevent *, char *buf, size_t len);
/* Ends our side of a TLS bufferevent whose output is flushed: close_notify,
 * then a TCP FIN.  Reading stays possible. */
void		 tls_shutdown_write(struct bufferevent *);

#endif
