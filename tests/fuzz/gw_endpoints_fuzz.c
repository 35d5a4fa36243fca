/* gw_endpoints_fuzz.c -- libFuzzer: any endpoint list through gw_endpoints_parse(): an error and nothing kept, or tables with one rule per listed pattern that match their own exact patterns, and a clamped refresh. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gw_endpoints.h"
#include "route.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_bad(const char *what, const char *detail)
{
	fprintf(stderr, "\n*** endpoint list property broken: %s%s%s\n", what,
	    detail ? ": " : "", detail ? detail : "");
	abort();
}

/* An exact "host:port" rule must route that host and port to the gateway. */
static void
fz_check_exact(const struct route_table *t, const char *pattern)
{
	struct route_decision	 d;
	char			 host[300], *colon, *end;
	unsigned long		 port;

	if (strchr(pattern, '*') != NULL || strlen(pattern) >= sizeof(host))
		return;
	snprintf(host, sizeof(host), "%s", pattern);
	if ((colon = strrchr(host, ':')) == NULL || colon == host)
		return;
	/* route.c reads two colons without brackets as a bare IPv6 literal. */
	if (host[0] == '[' ? colon[-1] != ']' : strchr(host, ':') != colon)
		return;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return;
	*colon = '\0';
	if (route_normalize_host(host) == -1)
		return;
	route_match(t, host, (uint16_t)port, &d);
	if (d.kind != ROUTE_GATEWAY)
		fz_bad("an exact rule does not match its own host and port", pattern);
}

static void
fz_check_table(const struct route_table *t, json_t *list, const char *what)
{
	size_t	i, n = json_is_array(list) ? json_array_size(list) : 0;

	if (t == NULL)
		fz_bad("no table after success", what);
	if (route_table_count(t) != n)
		fz_bad("not one rule per listed pattern", what);
	for (i = 0; i < n; i++)
		fz_check_exact(t, json_string_value(json_array_get(list, i)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_endpoints	 ep;
	json_t			*root;
	char			 err[512];
	int			 refresh = -1;

	err[0] = '\0';
	if (gw_endpoints_parse((const char *)data, size, &ep, &refresh, err,
	    sizeof(err)) == -1) {
		if (err[0] == '\0')
			fz_bad("failed without saying why", NULL);
		if (ep.endpoints != NULL || ep.bypass != NULL)
			fz_bad("failed but kept a table", err);
		return 0;
	}
	if (refresh < GW_REFRESH_MIN_S || refresh > GW_REFRESH_MAX_S)
		fz_bad("refresh_seconds not clamped", NULL);
	/* What the parser accepted, read again on its own. */
	if ((root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL)
		fz_bad("accepted a document jansson rejects", NULL);
	fz_check_table(ep.endpoints, json_object_get(root, "endpoints"),
	    "endpoints");
	fz_check_table(ep.bypass, json_object_get(root, "bypass"), "bypass");
	json_decref(root);
	gw_endpoints_free(&ep);
	gw_endpoints_free(&ep);		/* a freed list is empty: a no-op */
	return 0;
}
