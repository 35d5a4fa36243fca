/* route.h -- which route a destination takes: ordered host patterns, a default, and the SSRF guard. */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The ways out of the machine.  The order is the order of metric labels. */
enum route_kind {
	ROUTE_DIRECT,		/* connect to the destination itself */
	ROUTE_PROXY,		/* CONNECT through the enterprise proxy */
	ROUTE_GATEWAY,		/* a stream through the Arc gateway */
	ROUTE_DENY,		/* refuse with 403 */
	ROUTE__COUNT
};

struct route_table;

struct route_decision {
	enum route_kind	 kind;
	int		 rule;		/* index of the matching rule, -1 for the default */
};

extern const char *const route_names[ROUTE__COUNT + 1];	/* NULL-terminated */

struct route_table	*route_table_new(enum route_kind default_kind);
void			 route_table_free(struct route_table *);
/* "host", "host:port", "*.suffix[:port]", "*[:port]", "[v6]:port". */
int			 route_table_add(struct route_table *, const char *pattern,
			    enum route_kind, char *err, size_t errlen);
size_t			 route_table_count(const struct route_table *);
const char		*route_rule_pattern(const struct route_table *, int rule);
/* A rule's route; for rule -1 (or past the end), the default's. */
enum route_kind		 route_rule_kind(const struct route_table *, int rule);

/* host must be lower case without a trailing dot (see route_normalize_host). */
void	route_match(const struct route_table *, const char *host, uint16_t port,
	    struct route_decision *);
/* Lower-cases host in place and strips one trailing dot and IPv6 brackets.
 * Returns -1 when the name has characters no host name or literal may have. */
int	route_normalize_host(char *host);
/* True when the rule names this destination exactly, host and port, without
 * a wildcard: only such a rule lifts the SSRF guard. */
int	route_is_explicit(const struct route_table *, int rule);
/* The SSRF guard: loopback, link-local, unspecified and multicast addresses,
 * and the appliance's own API ports, are not destinations by default. */
int	route_addr_is_guarded(const struct sockaddr *);
int	route_port_is_guarded(uint16_t port);
/* The ports route_port_is_guarded() refuses (ports stays the caller's);
 * until called, the appliance's defaults (lib/defaults.h). */
void	route_set_guarded_ports(const uint16_t *ports, size_t n);
/* The guard on a name before any route resolves it: localhost and
 * *.localhost, and literal addresses the guard refuses in every spelling a
 * resolver takes (127.1, 2130706433, 0x7f.1, ::ffff:127.0.0.1, a zone). */
int	route_host_is_guarded(const char *host);

/* What the routing policy needs besides a destination; no daemon's types. */
struct route_policy {
	const struct route_table *rules;	/* the operator's, with the default */
	int			 default_set;	/* the default was written, not assumed */
	int			 have_proxy;	/* an enterprise proxy is configured */
	int			 gateway_mode;	/* gateway connection and a gateway client */
	const struct route_table *gw_allow;	/* ROUTE_GATEWAY where it carries; NULL: all */
	const struct route_table *gw_bypass;	/* ROUTE_GATEWAY where bypassed; NULL: none */
	const struct route_table *proxy_bypass;	/* what skips the proxy; NULL: none */
};

/*
 * The operator's rules first.  Without a gateway, the default route; where
 * that is the proxy, the hosts of proxy_bypass go direct.  In gateway mode,
 * Azure's order: the gateway's bypass list goes direct (or to the proxy),
 * what the gateway carries goes to it, the rest to the proxy if set, else
 * the written default, else deny.  Returns 1 when the SSRF guard refuses the
 * destination (no explicit rule names it), else 0.
 */
int	route_decide(const struct route_policy *, const char *host, uint16_t port,
	    struct route_decision *);

#endif
