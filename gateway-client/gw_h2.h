/* gw_h2.h -- every tunnel as an HTTP/2 CONNECT stream (RFC 9113 8.5) on one TLS connection to the gateway, on nghttp2. */
#ifndef GW_H2_H
#define GW_H2_H

#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;
struct gw;
struct gw_h2;
struct gw_h2_stream;
struct gw_req;

/* Takes over a TLS connection whose ALPN is h2. */
struct gw_h2	*gw_h2_new(struct gw *, struct bufferevent *tls, char *err, size_t errlen);
/* Ends the connection and every stream on it (each sees EOF). */
void		 gw_h2_free(struct gw_h2 *, const char *reason);
/* Can it take another stream now (not draining, under the peer's limit)? */
int		 gw_h2_can_open(const struct gw_h2 *);
/* Still good for streams later (not draining or dead)? */
int		 gw_h2_alive(const struct gw_h2 *);
int		 gw_h2_dead(const struct gw_h2 *);
/* Opens req's CONNECT stream; the answer reaches gw_req_done()/gw_req_fail(). */
void		 gw_h2_open(struct gw_h2 *, struct gw_req *);
/* Drops req's stream before it is answered. */
void		 gw_h2_cancel(struct gw_req *);
/* Fetches the endpoint list on a stream; the answer reaches gw_list_received(). */
void		 gw_h2_fetch(struct gw_h2 *);
void		 gw_h2_stream_shutdown(struct gw_h2_stream *);
void		 gw_h2_stream_close(struct gw_h2_stream *);

#endif
