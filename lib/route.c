/* route.c -- which route a destination takes: ordered host patterns, a default, and the SSRF guard. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "route.h"

const char *const route_names[ROUTE__COUNT + 1] = {
	"direct", "proxy", "gateway", "deny", NULL
};

struct route_rule {
	char		*pattern;	/* as written, for logs */
	char		*host;		/* exact name, or the suffix after "*" (".example.com"); "" for any */
	size_t		 host_len;
	int		 wildcard;	/* host is a suffix (or any, when empty) */
	uint16_t	 port;		/* 0: any port */
	enum route_kind	 kind;
};

struct route_table {
	struct route_rule	*rules;
	size_t			 count;
	size_t			 cap;
	enum route_kind		 default_kind;
};

struct route_table *
route_table_new(enum route_kind default_kind)
{
	struct route_table	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->default_kind = default_kind;
	return t;
}

void
route_table_free(struct route_table *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->count; i++) {
		free(t->rules[i].pattern);
		free(t->rules[i].host);
	}
	free(t->rules);
	free(t);
}

int
route_normalize_host(char *host)
{
	size_t	len = strlen(host), i;

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		memmove(host, host + 1, len - 2);
		len -= 2;
		host[len] = '\0';
	}
	if (len > 1 && host[len - 1] == '.')
		host[--len] = '\0';
	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		/* '%' only for the zone of an IPv6 literal: a name with
		 * percent-encoding could decode to anything further on. */
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == ':' || (c == '%' && strchr(host, ':') != NULL)))
			return -1;
		host[i] = (char)tolower(c);
	}
	return 0;
}

int
route_table_add(struct route_table *t, const char *pattern,
    enum route_kind kind, char *err, size_t errlen)
{
	struct route_rule	 r;
	char			 buf[300];
	char			*host = buf, *colon, *end;
	long			 port;

	memset(&r, 0, sizeof(r));
	if (strlen(pattern) >= sizeof(buf) || pattern[0] == '\0') {
		snprintf(err, errlen, "pattern \"%s\": empty or too long", pattern);
		return -1;
	}
	strcpy(buf, pattern);
	/* Split off the port: "[v6]:port", "host:port"; a bare v6 has no port. */
	if (buf[0] == '[') {
		if ((end = strchr(buf, ']')) == NULL)
			goto bad;
		*end++ = '\0';
		host = buf + 1;
		colon = *end == ':' ? end : NULL;
		if (*end != '\0' && colon == NULL)
			goto bad;
	} else {
		colon = strrchr(buf, ':');
		if (colon != NULL && strchr(buf, ':') != colon)
			colon = NULL;		/* bare IPv6 literal */
	}
	if (colon != NULL) {
		*colon = '\0';
		port = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
			snprintf(err, errlen, "pattern \"%s\": port must be "
			    "1-65535", pattern);
			return -1;
		}
		r.port = (uint16_t)port;
	}
	if (strcmp(host, "*") == 0) {
		r.wildcard = 1;
		host[0] = '\0';
	} else if (strncmp(host, "*.", 2) == 0) {
		r.wildcard = 1;
		host++;			/* keep the dot: ".example.com" */
		if (route_normalize_host(host + 1) == -1)
			goto bad;
	} else if (strchr(host, '*') != NULL || route_normalize_host(host) == -1)
		goto bad;
	if (strchr(host, '*') != NULL)
		goto bad;
	if (t->count == t->cap) {
		size_t			 cap = t->cap ? t->cap * 2 : 16;
		struct route_rule	*n;

		if ((n = reallocarray(t->rules, cap, sizeof(*n))) == NULL)
			goto nomem;
		t->rules = n;
		t->cap = cap;
	}
	r.kind = kind;
	r.host_len = strlen(host);
	if ((r.host = strdup(host)) == NULL ||
	    (r.pattern = strdup(pattern)) == NULL) {
		free(r.host);
		goto nomem;
	}
	t->rules[t->count++] = r;
	return 0;
 bad:
	snprintf(err, errlen, "pattern \"%s\": expected host, host:port, "
	    "*.suffix, *.suffix:port, *:port or [v6]:port", pattern);
	return -1;
 nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

size_t
route_table_count(const struct route_table *t)
{
	return t->count;
}

const char *
route_rule_pattern(const struct route_table *t, int rule)
{
	if (rule < 0 || (size_t)rule >= t->count)
		return "default";
	return t->rules[rule].pattern;
}

static int
route_rule_matches(const struct route_rule *r, const char *host,
    size_t host_len, uint16_t port)
{
	if (r->port != 0 && r->port != port)
		return 0;
	if (!r->wildcard)
		return r->host_len == host_len && memcmp(r->host, host, host_len) == 0;
	if (r->host_len == 0)
		return 1;
	/* "*.example.com" matches a.example.com and a.b.example.com, not example.com. */
	return host_len > r->host_len &&
	    memcmp(host + host_len - r->host_len, r->host, r->host_len) == 0;
}

void
route_match(const struct route_table *t, const char *host, uint16_t port,
    struct route_decision *d)
{
	size_t	host_len = strlen(host), i;

	for (i = 0; i < t->count; i++)
		if (route_rule_matches(&t->rules[i], host, host_len, port)) {
			d->kind = t->rules[i].kind;
			d->rule = (int)i;
			return;
		}
	d->kind = t->default_kind;
	d->rule = -1;
}

int
route_is_explicit(const struct route_table *t, int rule)
{
	/* Without a port a rule names a service no better than a wildcard:
	 * whatever the name resolves to, on every port. */
	return rule >= 0 && (size_t)rule < t->count && !t->rules[rule].wildcard &&
	    t->rules[rule].port != 0;
}

int
route_host_is_guarded(const char *host)
{
	struct sockaddr_in	 v4;
	struct sockaddr_in6	 v6;
	char			 buf[INET6_ADDRSTRLEN + 1], name[256];
	size_t			 len = strlen(host);
	const char		*zone;

	/* Resolvers take any number of trailing dots. */
	while (len > 1 && host[len - 1] == '.')
		len--;
	if (len >= sizeof(name))
		return 0;
	memcpy(name, host, len);
	name[len] = '\0';
	host = name;
	/* RFC 6761 6.3: localhost and every name below it are this machine. */
	if (strcmp(host, "localhost") == 0 ||
	    (len > 10 && strcmp(host + len - 10, ".localhost") == 0))
		return 1;
	memset(&v4, 0, sizeof(v4));
	v4.sin_family = AF_INET;
	/* inet_aton() takes what resolvers take: 127.1, 2130706433,
	 * 0x7f.1, 0177.0.0.1. */
	if (inet_aton(host, &v4.sin_addr) == 1)
		return route_addr_is_guarded((struct sockaddr *)&v4);
	memset(&v6, 0, sizeof(v6));
	v6.sin6_family = AF_INET6;
	if ((zone = strchr(host, '%')) != NULL)
		len = (size_t)(zone - host);	/* fe80::1%eth0: the address without its zone */
	if (len >= sizeof(buf) || strchr(host, ':') == NULL)
		return 0;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, &v6.sin6_addr) == 1)
		return zone != NULL || route_addr_is_guarded((struct sockaddr *)&v6);
	return 0;
}

int
route_addr_is_guarded(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

		return (a >> 24) == 127 ||		/* loopback */
		    (a >> 16) == 0xa9fe ||		/* 169.254/16 link-local */
		    (a >> 24) == 0 ||			/* "this host" */
		    (a >> 28) == 0xe ||			/* multicast */
		    a == 0xffffffff;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		/* IPv4 inside IPv6: mapped, compatible, and NAT64's well-known
		 * prefix 64:ff9b::/96 (RFC 6052). */
		if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a) ||
		    (a->s6_addr[0] == 0 && a->s6_addr[1] == 0x64 &&
		    a->s6_addr[2] == 0xff && a->s6_addr[3] == 0x9b &&
		    memcmp(&a->s6_addr[4], "\0\0\0\0\0\0\0\0", 8) == 0)) {
			struct sockaddr_in v4;

			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, &a->s6_addr[12], 4);
			return route_addr_is_guarded((struct sockaddr *)&v4);
		}
		return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
		    IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a) ||
		    IN6_IS_ADDR_MULTICAST(a);
	}
	return 1;
}

/* The appliance's API ports unless the caller names its own (once, at
 * start-up, before any thread reads them). */
static const uint16_t	 route_default_guarded[] = {
	ARC_PORT_HIMDS, ARC_PORT_PROXY, ARC_PORT_ADMIN
};
static const uint16_t	*route_guarded = route_default_guarded;
static size_t		 route_nguarded = sizeof(route_default_guarded) /
			    sizeof(route_default_guarded[0]);

void
route_set_guarded_ports(const uint16_t *ports, size_t n)
{
	route_guarded = ports;
	route_nguarded = n;
}

int
route_port_is_guarded(uint16_t port)
{
	size_t	i;

	for (i = 0; i < route_nguarded; i++)
		if (route_guarded[i] == port)
			return 1;
	return 0;
}

enum route_kind
route_rule_kind(const struct route_table *t, int rule)
{
	if (rule < 0 || (size_t)rule >= t->count)
		return t->default_kind;
	return t->rules[rule].kind;
}

/* Does a list (its rules, not its default) name the destination?  NULL
 * means dflt. */
static int
route_lists(const struct route_table *t, const char *host, uint16_t port,
    int dflt)
{
	struct route_decision	d;

	if (t == NULL)
		return dflt;
	route_match(t, host, port, &d);
	return d.rule >= 0;
}

int
route_decide(const struct route_policy *p, const char *host, uint16_t port,
    struct route_decision *d)
{
	enum route_kind	fallback;

	route_match(p->rules, host, port, d);
	if (d->rule < 0) {
		/* route_match() gave the default route (direct unless set). */
		fallback = d->kind;
		if (p->have_proxy && !p->default_set)
			fallback = ROUTE_PROXY;
		if (!p->gateway_mode) {
			d->kind = fallback;
			/* proxy.bypass: the services it names go around
			 * the proxy (in gateway mode Azure ignores it). */
			if (fallback == ROUTE_PROXY &&
			    route_lists(p->proxy_bypass, host, port, 0))
				d->kind = ROUTE_DIRECT;
		} else if (route_lists(p->gw_bypass, host, port, 0))
			d->kind = p->have_proxy ? ROUTE_PROXY : ROUTE_DIRECT;
		else if (route_lists(p->gw_allow, host, port, 1))
			d->kind = ROUTE_GATEWAY;
		else if (p->default_set || p->have_proxy)
			d->kind = fallback;
		else
			d->kind = ROUTE_DENY;
	}
	/* On every route: an enterprise proxy or the gateway would take
	 * 127.0.0.1 or localhost as its own. */
	return !route_is_explicit(p->rules, d->rule) &&
	    (route_port_is_guarded(port) || route_host_is_guarded(host));
}
