/* gw_endpoints.h -- the gateway's endpoint list: JSON in, route tables and a refresh period out. */
#ifndef GW_ENDPOINTS_H
#define GW_ENDPOINTS_H

#include <stddef.h>

#define GW_REFRESH_MIN_S	30		/* a list asking for less is clamped up */
#define GW_REFRESH_MAX_S	86400		/* and for more, down: one day */
#define GW_REFRESH_DEFAULT_S	300		/* when the list does not say */

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

#endif
