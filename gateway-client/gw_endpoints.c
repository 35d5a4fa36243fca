/* gw_endpoints.c -- the gateway's endpoint list: its GET over HTTP/1.1, JSON in, route tables and a refresh period out, destinations matched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "gw_endpoints.h"
#include "http.h"
#include "route.h"

struct gw_endpoints_fetch {
	struct http_msg	 resp;
	struct evbuffer	*body;
};

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

int
gw_endpoints_allows(const struct gw_endpoints *ep, const char *host,
    uint16_t port)
{
	struct route_decision	d;

	if (ep->endpoints == NULL)
		return 1;
	route_match(ep->endpoints, host, port, &d);
	return d.kind == ROUTE_GATEWAY;
}

int
gw_endpoints_bypasses(const struct gw_endpoints *ep, const char *host,
    uint16_t port)
{
	struct route_decision	d;

	if (ep->bypass == NULL)
		return 0;
	route_match(ep->bypass, host, port, &d);
	return d.kind == ROUTE_GATEWAY;
}

int
gw_endpoints_count(const struct gw_endpoints *ep)
{
	return ep->endpoints == NULL ? -1 : (int)route_table_count(ep->endpoints);
}

struct gw_endpoints_fetch *
gw_endpoints_fetch_new(struct evbuffer *out, const char *host, uint16_t port)
{
	struct gw_endpoints_fetch	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	if ((f->body = evbuffer_new()) == NULL) {
		free(f);
		return NULL;
	}
	http_msg_init(&f->resp, HTTP_RESPONSE);
	f->resp.dechunk = 1;		/* the JSON, not its chunk framing */
	evbuffer_add_printf(out, "GET " GW_ENDPOINTS_PATH " HTTP/1.1\r\n"
	    "Host: %s:%u\r\nAccept: application/json\r\n\r\n", host, port);
	return f;
}

int
gw_endpoints_fetch_read(struct gw_endpoints_fetch *f, struct evbuffer *in,
    char *why, size_t whylen)
{
	size_t		moved;
	enum http_step	step;

	if (f->resp.phase == HTTP_PHASE_HEAD) {
		switch (http_msg_head(&f->resp, in, GW_ENDPOINTS_MAX_HEAD)) {
		case HTTP_STEP_MORE:
			return 0;
		case HTTP_STEP_HEAD:
			break;
		default:
			snprintf(why, whylen, "not an HTTP response");
			return -1;
		}
		if (f->resp.parser.status_code != 200 ||
		    http_msg_body_until_eof(&f->resp)) {
			snprintf(why, whylen, "status %u", f->resp.parser.status_code);
			return -1;
		}
		if (http_msg_head_consume(&f->resp, in) == HTTP_STEP_DONE)
			return 1;
	}
	/* http_msg_body() takes at most 16 segments a call: on until the
	 * input is spent, so that no complete body waits for more bytes. */
	do {
		step = http_msg_body(&f->resp, in, f->body, &moved);
		if (step == HTTP_STEP_DONE)
			return 1;
		if (step == HTTP_STEP_ERROR ||
		    evbuffer_get_length(f->body) > GW_ENDPOINTS_MAX_BYTES) {
			snprintf(why, whylen, "bad or oversize body");
			return -1;
		}
	} while (moved > 0 && evbuffer_get_length(in) > 0);
	return 0;
}

struct evbuffer *
gw_endpoints_fetch_body(struct gw_endpoints_fetch *f)
{
	return f->body;
}

int
gw_endpoints_fetch_keep_alive(const struct gw_endpoints_fetch *f)
{
	return http_msg_keep_alive(&f->resp);
}

void
gw_endpoints_fetch_free(struct gw_endpoints_fetch *f)
{
	if (f == NULL)
		return;
	evbuffer_free(f->body);
	free(f);
}
