/* gateway.h -- the Arc gateway stand-in: TLS with machine certificates, the published endpoint list, CONNECT tunnels to mapped hosts. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stddef.h>

#include <openssl/ssl.h>

#define GATEWAY_ENDPOINTS_PATH	"/.well-known/arc-gateway/endpoints"

struct event_base;
struct gateway;
struct registry;
struct simconf;

/* The gateway's TLS context (gateway.crt, client certificates from ca.crt). */
SSL_CTX		*gateway_tls(const struct simconf *, char *err, size_t errlen);
/* Listens on gateway.listen; cfg and registry (whose revoked certificates
 * are no identity) must outlive the gateway. */
struct gateway	*gateway_new(struct event_base *, const struct simconf *cfg,
		    struct registry *registry, char *err, size_t errlen);
/* SIGTERM: closes the listener and sends GOAWAY on HTTP/2 connections;
 * live tunnels go on until gateway_free. */
void		 gateway_stop(struct gateway *);
/* Closes the listener and every connection and tunnel. */
void		 gateway_free(struct gateway *);

#endif
