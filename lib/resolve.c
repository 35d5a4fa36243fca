/* resolve.c -- names to addresses without blocking: the config's hosts table, literals, then DNS (evdns). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "resolve.h"

struct resolve {
	struct evdns_getaddrinfo_request *req;
	struct resolve_result	*res;
	uint16_t		 port;
	resolve_cb		*cb;
	void			*arg;
	int			 starting;	/* inside resolve_start() */
	int			 answered;	/* set if evdns answered at once */
	enum resolve_error	 error;
};

static void
resolve_add(struct resolve_result *res, const struct sockaddr *sa,
    socklen_t len, uint16_t port)
{
	if (res->n == RESOLVE_MAX || len > sizeof(res->addr[0]))
		return;
	memcpy(&res->addr[res->n], sa, len);
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)&res->addr[res->n])->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)&res->addr[res->n])->sin6_port = htons(port);
	res->len[res->n++] = len;
}

const struct resolve_host *
resolve_host_lookup(const struct resolve_host *hosts, int nhosts,
    const char *name)
{
	int	i;

	for (i = 0; i < nhosts; i++)
		if (strcmp(hosts[i].name, name) == 0)
			return &hosts[i];
	return NULL;
}

static int
resolve_local(const struct resolve_host *hosts, int nhosts, const char *host,
    uint16_t port, struct resolve_result *res)
{
	const struct resolve_host	*h;
	struct sockaddr_in		 sin;
	struct sockaddr_in6		 sin6;

	if ((h = resolve_host_lookup(hosts, nhosts, host)) != NULL) {
		resolve_add(res, (const struct sockaddr *)&h->addr, h->addr_len, port);
		return 1;
	}
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		resolve_add(res, (struct sockaddr *)&sin, sizeof(sin), port);
		return 1;
	}
	if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		resolve_add(res, (struct sockaddr *)&sin6, sizeof(sin6), port);
		return 1;
	}
	return 0;
}

static void
resolve_done(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct resolve		*r = arg;
	struct evutil_addrinfo	*p;

	if (result == EVUTIL_EAI_CANCEL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		free(r);
		return;
	}
	r->req = NULL;
	for (p = ai; result == 0 && p != NULL; p = p->ai_next)
		resolve_add(r->res, p->ai_addr, p->ai_addrlen, r->port);
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	r->error = r->res->n > 0 ? RESOLVE_OK : RESOLVE_NONAME;
	if (r->starting) {
		r->answered = 1;
		return;
	}
	r->cb(r->error, r->arg);
	free(r);
}

int
resolve_start(struct evdns_base *dns, const struct resolve_host *hosts,
    int nhosts, const char *host, uint16_t port, struct resolve_result *res,
    resolve_cb *cb, void *arg, struct resolve **req)
{
	struct evutil_addrinfo	 hints;
	struct resolve		*r;

	res->n = 0;
	*req = NULL;
	if (resolve_local(hosts, nhosts, host, port, res))
		return 1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->res = res;
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	r->starting = 1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	r->req = evdns_getaddrinfo(dns, host, NULL, &hints, resolve_done, r);
	r->starting = 0;
	if (r->answered) {
		free(r);
		return res->n > 0 ? 1 : -1;
	}
	if (r->req == NULL) {
		free(r);
		return -1;
	}
	*req = r;
	return 0;
}

void
resolve_cancel(struct resolve *r)
{
	if (r == NULL)
		return;
	/* resolve_done() sees EVUTIL_EAI_CANCEL and frees r. */
	evdns_getaddrinfo_cancel(r->req);
}
