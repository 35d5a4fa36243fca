/* gw_endpoints.h -- the gateway's endpoint list: its GET over HTTP/1.1, JSON in, route tables and a refresh period out, destinations matched. */
#ifndef GW_ENDPOINTS_H
#define GW_ENDPOINTS_H

#include <stddef.h>
#include <stdint.h>

#define GW_REFRESH_MIN_S	30		/* a list asking for less is clamped up */
#define GW_REFRESH_MAX_S	86400		/* and for more, down: one day */
#define GW_REFRESH_DEFAULT_S	300		/* when the list does not say */
#define GW_ENDPOINTS_PATH	"/.well-known/arc-gateway/endpoints"
#define GW_ENDPOINTS_MAX_BYTES	(1 << 20)	/* a longer list is refused */
#define GW_ENDPOINTS_MAX_HEAD	16384

struct evbuffer;
struct gw_endpoints_fetch;
struct route_table;

/* {"endpoints":["pattern",...],"bypass":[...],"refresh_seconds":N} */
struct gw_endpoints {
	struct route_table	*endpoints;	/* what the gateway carries */
	struct route_table	*bypass;	/* what skips it (direct) */
};

/* Parses len bytes of json (no NUL needed) into ep, which the caller clears
 * with gw_endpoints_free().  refresh_s gets the period, clamped to
 * GW_REFRESH_MIN_S..GW_REFRESH_MAX_S.  Returns 0, or -1 with err filled and
 * ep left empty. */
int	gw_endpoints_parse(const char *json, size_t len, struct gw_endpoints *ep,
	    int *refresh_s, char *err, size_t errlen);
/* Frees the tables (not ep itself); an empty ep is a no-op. */
void	gw_endpoints_free(struct gw_endpoints *ep);

/* Does the gateway carry host:port, or does it bypass it?  With no list
 * fetched (ep->endpoints NULL) every destination is carried, none bypassed. */
int	gw_endpoints_allows(const struct gw_endpoints *, const char *host,
	    uint16_t port);
int	gw_endpoints_bypasses(const struct gw_endpoints *, const char *host,
	    uint16_t port);
/* Patterns in the list; -1 before one is fetched. */
int	gw_endpoints_count(const struct gw_endpoints *);

/* One GET of the list over HTTP/1.1: writes the request for host:port to
 * out; NULL when out of memory. */
struct gw_endpoints_fetch *gw_endpoints_fetch_new(struct evbuffer *out,
	    const char *host, uint16_t port);
/* Reads the answer from the front of in: 0 for more, 1 when the body is
 * complete (gw_endpoints_fetch_body()), -1 when the answer is not a 200
 * with a sized body of at most GW_ENDPOINTS_MAX_BYTES (why filled). */
int	gw_endpoints_fetch_read(struct gw_endpoints_fetch *, struct evbuffer *in,
	    char *why, size_t whylen);
struct evbuffer *gw_endpoints_fetch_body(struct gw_endpoints_fetch *);
/* After a complete answer: may the connection carry more? */
int	gw_endpoints_fetch_keep_alive(const struct gw_endpoints_fetch *);
void	gw_endpoints_fetch_free(struct gw_endpoints_fetch *);

#endif
