/* tls.h -- OpenSSL for every program: client and server contexts under one verify policy, error text, ALPN, TLS bufferevents. */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

#include <event2/util.h>
#include <openssl/ssl.h>

struct bufferevent;
struct event_base;

/* ALPN lists in wire format, preferred first. */
#define TLS_ALPN_H2		"\x02h2"
#define TLS_ALPN_HTTP11		"\x08http/1.1"

struct tls_client_conf {
	const char		*ca_file;	/* the only trust (PEM) */
	const char		*cert_file;	/* the client certificate (the machine's), or NULL */
	const char		*key_file;	/* its key, PEM */
	const unsigned char	*alpn;		/* offered protocols, or NULL */
	size_t			 alpn_len;
	int			 no_verify;	/* bench only: no CA file, any peer */
};

/* TLS 1.2 or later (1.3 when the peer has it), the CA file as the only trust
 * (no CA file is an error unless no_verify), cert/key presented when given, sessions kept by the caller (new-session
 * callback), a FIN without close_notify taken as EOF.  Errors name the file
 * and what OpenSSL said. */
SSL_CTX	*tls_client_ctx(const struct tls_client_conf *, char *err, size_t errlen);
/* A client SSL for host: SNI and the host name check for a name, the address
 * check for an IP literal, and a session to resume (or NULL). */
SSL	*tls_client_new(SSL_CTX *, const char *host, SSL_SESSION *resume);
/* Did the handshake pick protocol name (e.g. "h2")? */
int	 tls_alpn_is(SSL *, const char *name);
/* Why a client handshake failed, in a few words: the certificate's verdict,
 * else OpenSSL's error, else the closed connection. */
void	 tls_handshake_error(SSL *, unsigned long err, char *buf, size_t len);

/* TLS 1.2 or later with cert and key (PEM) as the server's identity (NULL:
 * the caller adds one), no renegotiation, our cipher order, and a FIN
 * without close_notify as EOF. */
SSL_CTX	*tls_server_ctx(const char *cert, const char *key, char *err,
	    size_t errlen);
/* Asks every client for a certificate and checks it against ca (PEM); with
 * require, a client without a valid one fails the handshake, without it the
 * handshake finishes and the verdict is read from the SSL afterwards. */
int	 tls_server_client_ca(SSL_CTX *, const char *ca, int require, char *err,
	    size_t errlen);
/* The server picks the first of ours (a constant in wire format, such as
 * TLS_ALPN_HTTP11) that the client offers; a client offering none of them
 * goes on without ALPN. */
void	 tls_server_alpn(SSL_CTX *, const char *ours);
/* The first protocol of ours that the client's list in offers: 0 with out
 * pointing into ours, or -1. */
int	 tls_alpn_pick(const unsigned char *ours, unsigned ours_len,
	    const unsigned char *in, unsigned inlen, const unsigned char **out,
	    unsigned char *outlen);
/* A comma-separated copy of an ALPN list, for logs. */
void	 tls_alpn_text(const unsigned char *in, unsigned inlen, char *buf,
	    size_t len);

/* Fills err with "<path>: <what>" (or "<what>" without a path), then
 * ": <OpenSSL error>" for each error queued, which are cleared.  Returns -1. */
int	 tls_error(char *err, size_t errlen, const char *what, const char *path);
/* The OpenSSL errors a TLS bufferevent collected, as text ("" if none). */
void	 tls_bev_errors(struct bufferevent *, char *buf, size_t len);

/* An accepting TLS bufferevent on fd (closed on free), with app_data on its
 * SSL and TCP_NODELAY. */
struct bufferevent *tls_accept(struct event_base *, SSL_CTX *, evutil_socket_t fd,
	    void *app_data);
/* Ends our side of a TLS bufferevent whose output is flushed: close_notify,
 * then a TCP FIN.  Reading stays possible. */
void	 tls_shutdown_write(struct bufferevent *);

/*
 * Read-ahead on bev's TLS session once the handshake is over: OpenSSL takes
 * up to len bytes, several records, from the socket per read(2) instead of a
 * header and a body per record.  libevent 2.1 stops at the end of a record
 * and would then wait for the socket, which has nothing more: the read
 * callback must end with tls_read_pending() until it returns 0.  Only for a
 * bufferevent whose reading is never disabled while the session is used,
 * and whose read callback empties the input (a read high watermark of 4 len
 * makes libevent read records whole).
 */
void	 tls_read_ahead(struct bufferevent *, size_t len);
/* Moves what OpenSSL has already read from the socket into bev's input;
 * the bytes moved (0: none left, or an error libevent will see). */
size_t	 tls_read_pending(struct bufferevent *);

/*
 * Records written in one event-loop pass leave together: up to 128 KiB of
 * them per write(2), the rest at the end of the pass, instead of a write(2)
 * per record.  Bytes buffered when the bufferevent is freed still go out
 * before the socket closes (within 30 s), and tls_shutdown_write()'s FIN
 * waits for them.  For a bufferevent made with BEV_OPT_CLOSE_ON_FREE, once
 * the handshake is over.  0, or -1 (out of memory: records go one by one).
 */
int	 tls_write_gather(struct bufferevent *);

#endif
