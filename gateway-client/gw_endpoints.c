/* gw_endpoints.c -- the gateway's endpoint list: JSON in, route tables and a refresh period out. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gw_endpoints.h"
#include "route.h"

static struct route_table *
gw_endpoints_table(json_t *list, const char *what, char *err, size_t errlen)
{
	struct route_table	*t;
	json_t			*v;
	size_t			 i;

	if ((t = route_table_new(ROUTE_DENY)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (list != NULL && !json_is_array(list)) {
		snprintf(err, errlen, "\"%s\" is not a list", what);
		goto fail;
	}
	json_array_foreach(list, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "\"%s\" holds a non-string", what);
			goto fail;
		}
		if (route_table_add(t, json_string_value(v), ROUTE_GATEWAY, err,
		    errlen) == -1)
			goto fail;
	}
	return t;
 fail:
	route_table_free(t);
	return NULL;
}

/* Absent: the default.  Present: a number, clamped; anything else is an error. */
static int
gw_endpoints_refresh(json_t *v, int *refresh_s, char *err, size_t errlen)
{
	double	d;

	if (v == NULL) {
		*refresh_s = GW_REFRESH_DEFAULT_S;
		return 0;
	}
	if (!json_is_number(v)) {
		snprintf(err, errlen, "\"refresh_seconds\" is not a number");
		return -1;
	}
	/* Compare as a double: a json_int_t may not fit an int. */
	d = json_number_value(v);
	if (d < GW_REFRESH_MIN_S)
		*refresh_s = GW_REFRESH_MIN_S;
	else if (d > GW_REFRESH_MAX_S)
		*refresh_s = GW_REFRESH_MAX_S;
	else
		*refresh_s = (int)d;
	return 0;
}

int
gw_endpoints_parse(const char *json, size_t len, struct gw_endpoints *ep,
    int *refresh_s, char *err, size_t errlen)
{
	json_error_t	 jerr;
	json_t		*root;

	memset(ep, 0, sizeof(*ep));
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "endpoint list is not a JSON object: %s",
		    root == NULL ? jerr.text : "wrong type");
		goto fail;
	}
	if (gw_endpoints_refresh(json_object_get(root, "refresh_seconds"),
	    refresh_s, err, errlen) == -1)
		goto fail;
	if ((ep->endpoints = gw_endpoints_table(json_object_get(root,
	    "endpoints"), "endpoints", err, errlen)) == NULL ||
	    (ep->bypass = gw_endpoints_table(json_object_get(root, "bypass"),
	    "bypass", err, errlen)) == NULL)
		goto fail;
	json_decref(root);
	return 0;
 fail:
	json_decref(root);
	gw_endpoints_free(ep);
	return -1;
}

void
gw_endpoints_free(struct gw_endpoints *ep)
{
	if (ep == NULL)
		return;
	route_table_free(ep->endpoints);
	route_table_free(ep->bypass);
	ep->endpoints = NULL;
	ep->bypass = NULL;
}
