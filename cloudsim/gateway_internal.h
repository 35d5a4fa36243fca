/* gateway_internal.h -- what gateway.c (TLS, HTTP/1.1) and gateway_h2.c (HTTP/2) share: the gateway, a client's identity, the CONNECT policy and its audit line. */
#ifndef GATEWAY_INTERNAL_H
#define GATEWAY_INTERNAL_H

#include <sys/queue.h>
#include <sys/time.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "registry.h"

struct acceptor;
struct event_base;
struct gateway_h2;
struct gw_conn;
struct simconf;
struct simconf_host;

TAILQ_HEAD(gw_conns, gw_conn);
TAILQ_HEAD(gateway_h2_list, gateway_h2);

struct gateway {
	struct event_base	*base;
	const struct simconf	*cfg;
	struct registry		*registry;	/* revoked machine certificates */
	SSL_CTX			*ctx;
	struct acceptor		*acceptor;	/* NULL once stopping */
	char			*endpoints_json;	/* the published list, built once */
	struct gw_conns		 conns;		/* HTTP/1.1 connections, and handshakes */
	struct gateway_h2_list	 h2s;		/* HTTP/2 connections */
	struct timeval		 head_timeout;
	struct timeval		 connect_timeout;
	struct timeval		 linger;
};

/* Who is at the other end of a client connection, settled by the handshake. */
struct gateway_peer {
	char	addr[64];		/* client address:port */
	char	machine[128];		/* verified certificate CN; "" = no identity */
	char	serial[REGISTRY_SERIAL_MAX];	/* its serial number, checked against revocations */
	char	why_anonymous[200];	/* why there is no identity */
};

/* One CONNECT, as the policy decides it and the audit line reports it. */
struct gateway_request {
	char			 dest[300];	/* the authority as sent, "(empty)" if none */
	const struct simconf_host *host;	/* where it goes, once allowed */
	struct timeval		 started;	/* when the request arrived */
};

/* What the gateway answers. */
struct gateway_verdict {
	int		 status;	/* 200: connect to req->host */
	const char	*token;		/* RFC 9209 error, for Proxy-Status */
	const char	*details;	/* Proxy-Status details: short, fixed text */
	char		 text[480];	/* one line for the body and the log */
};

#define GATEWAY_PROXY_STATUS	"cloudsim-gateway"

/* The policy for CONNECT authority (len bytes, not NUL-terminated): its
 * form, the identity (not revoked since the handshake), the endpoint and
 * anonymous lists, the host table. */
void		 gateway_decide(const struct gateway *, const struct gateway_peer *,
		    const char *authority, size_t len, struct gateway_request *,
		    struct gateway_verdict *);
/* The target did not take the connection (a bufferevent event and errno). */
void		 gateway_target_failed(const struct gateway_request *, short what,
		    int err, struct gateway_verdict *);
/* The audit line of a CONNECT: status, error token and detail (or NULL),
 * bytes each way, and proto ("http/1.1" or "h2"). */
void		 gateway_log_connect(const struct gateway_peer *,
		    const struct gateway_request *, const char *proto, int status,
		    const char *error, const char *detail, uint64_t up, uint64_t down);
const char	*gateway_reason(int status);
/* Has the registry revoked who's certificate?  1 with why filled, or 0. */
int		 gateway_revoked(const struct gateway *, const struct gateway_peer *,
		    char *why, size_t whylen);

#endif
