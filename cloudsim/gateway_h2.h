/* gateway_h2.h -- the gateway over HTTP/2 on nghttp2: the endpoint list and CONNECT streams (RFC 9113 8.5), each relayed to its target under its own flow control. */
#ifndef GATEWAY_H2_H
#define GATEWAY_H2_H

struct bufferevent;
struct gateway;
struct gateway_peer;

/* Takes over a TLS bufferevent whose ALPN is h2 (freed with the connection):
 * 0, or -1 with the bufferevent left to the caller. */
int	gateway_h2_start(struct gateway *, struct bufferevent *tls,
	    const struct gateway_peer *);
/* GOAWAY on every HTTP/2 connection: no new streams. */
void	gateway_h2_goaway_all(struct gateway *);
/* Ends every HTTP/2 connection and its tunnels at once. */
void	gateway_h2_free_all(struct gateway *);

#endif
