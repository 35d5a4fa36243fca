/* resolve.h -- names to addresses without blocking: the config's hosts table, literals, then DNS (evdns). */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>

#define RESOLVE_MAX	8

struct evdns_base;
struct resolve;

struct resolve_host {			/* one static name, like a line of /etc/hosts */
	char			*name;		/* normalized: lower case, no trailing dot */
	struct sockaddr_storage	 addr;
	socklen_t		 addr_len;
};

struct resolve_result {
	struct sockaddr_storage	addr[RESOLVE_MAX];
	socklen_t		len[RESOLVE_MAX];
	int			n;
};

enum resolve_error {
	RESOLVE_OK,		/* res holds at least one address */
	RESOLVE_NONAME		/* the name has no address (or DNS failed) */
};

/* The caller maps the outcome onto its own errors. */
typedef void resolve_cb(enum resolve_error, void *arg);

/*
 * Fills res for host:port.  Returns 1 when answered at once (hosts table,
 * literal), 0 when a query is under way (*req set; cb fires later with res
 * filled), -1 when the query could not start.
 */
int	resolve_start(struct evdns_base *, const struct resolve_host *hosts,
	    int nhosts, const char *host, uint16_t port, struct resolve_result *res,
	    resolve_cb *, void *arg, struct resolve **req);
const struct resolve_host *resolve_host_lookup(const struct resolve_host *hosts,
	    int nhosts, const char *name);
void	resolve_cancel(struct resolve *);

#endif
