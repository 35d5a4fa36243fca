/* gw_connect.c -- one HTTP CONNECT over a bufferevent (to the gateway, or to an enterprise proxy), and its answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gw_connect.h"
#include "http.h"

#define GW_CONNECT_MAX_HEAD	16384
#define GW_CONNECT_MAX_REASON	4096	/* error bodies longer than this are cut */

struct gw_connect {
	struct bufferevent	*bev;
	struct http_msg		 resp;
	int			 status;
	gw_connect_cb		*cb;
	void			*arg;
	struct evbuffer		*body;		/* of a refusal, for its reason */
	int			 plain_body;	/* text/plain: its first line is the reason */
	char			 reason[256];
};

static void
gw_connect_done(struct gw_connect *gc, int status, const char *reason)
{
	bufferevent_setcb(gc->bev, NULL, NULL, NULL, NULL);
	gc->cb(status, reason, gc->arg);
}

/* Why a CONNECT was refused: the status line, then Proxy-Status or the
 * first line of a plain-text body (an HTML error page says nothing short). */
static const char *
gw_connect_reason(struct gw_connect *gc)
{
	size_t	 len = evbuffer_get_length(gc->body), used, i;
	char	*text;

	if (len == 0 || !gc->plain_body)
		return gc->reason;
	used = strlen(gc->reason);
	if (used + 3 >= sizeof(gc->reason))
		return gc->reason;
	gc->reason[used++] = ':';
	gc->reason[used++] = ' ';
	if (len > sizeof(gc->reason) - used - 1)
		len = sizeof(gc->reason) - used - 1;
	text = (char *)evbuffer_pullup(gc->body, len);
	for (i = 0; i < len && text[i] != '\n' && text[i] != '\r'; i++)
		gc->reason[used++] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
	gc->reason[used] = '\0';
	return gc->reason;
}

static void
gw_connect_read(struct bufferevent *bev, void *arg)
{
	struct gw_connect	*gc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	const char		*v;
	size_t			 len, moved;
	enum http_step		 step;

	if (gc->status == 0) {
		switch (http_msg_head(&gc->resp, in, GW_CONNECT_MAX_HEAD)) {
		case HTTP_STEP_MORE:
			return;
		case HTTP_STEP_HEAD:
			break;
		default:
			gw_connect_done(gc, -1, "not an HTTP answer to CONNECT");
			return;
		}
		gc->status = gc->resp.parser.status_code;
		snprintf(gc->reason, sizeof(gc->reason), "%d %.*s", gc->status,
		    (int)(gc->resp.url.len < 64 ? gc->resp.url.len : 64),
		    gc->resp.raw + gc->resp.url.off);
		if (http_msg_find(&gc->resp, "proxy-status", &v, &len))
			snprintf(gc->reason + strlen(gc->reason), sizeof(gc->reason) -
			    strlen(gc->reason), " (%.*s)", (int)(len < 160 ? len : 160), v);
		else if (http_msg_find(&gc->resp, "content-type", &v, &len) &&
		    len >= 10 && strncasecmp(v, "text/plain", 10) == 0)
			gc->plain_body = 1;
		if (gc->status / 100 == 2) {
			/* A 2xx to CONNECT has no body: what follows is the tunnel. */
			evbuffer_drain(in, gc->resp.head_len);
			gw_connect_done(gc, gc->status, "tunnel open");
			return;
		}
		if (http_msg_head_consume(&gc->resp, in) == HTTP_STEP_DONE) {
			gw_connect_done(gc, gc->status, gw_connect_reason(gc));
			return;
		}
	}
	step = http_msg_body(&gc->resp, in, gc->body, &moved);
	if (step == HTTP_STEP_MORE &&
	    evbuffer_get_length(gc->body) < GW_CONNECT_MAX_REASON)
		return;
	gw_connect_done(gc, gc->status, gw_connect_reason(gc));
}

static void
gw_connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_connect	*gc = arg;

	(void)bev;
	(void)what;
	if (gc->status != 0) {
		gw_connect_done(gc, gc->status, gw_connect_reason(gc));
		return;
	}
	gw_connect_done(gc, 0, (what & BEV_EVENT_EOF) ?
	    "closed before answering CONNECT" : "failed before answering CONNECT");
}

struct gw_connect *
gw_connect_start(struct bufferevent *bev, const char *host, uint16_t port,
    gw_connect_cb *cb, void *arg)
{
	struct gw_connect	*gc;
	const char		*open = strchr(host, ':') ? "[" : "";
	const char		*close = strchr(host, ':') ? "]" : "";

	if ((gc = calloc(1, sizeof(*gc))) == NULL)
		return NULL;
	if ((gc->body = evbuffer_new()) == NULL) {
		free(gc);
		return NULL;
	}
	gc->bev = bev;
	gc->cb = cb;
	gc->arg = arg;
	http_msg_init(&gc->resp, HTTP_RESPONSE);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n\r\n",
	    open, host, close, port, open, host, close, port);
	bufferevent_setcb(bev, gw_connect_read, NULL, gw_connect_event, gc);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return gc;
}

void
gw_connect_free(struct gw_connect *gc)
{
	if (gc == NULL)
		return;
	bufferevent_setcb(gc->bev, NULL, NULL, NULL, NULL);
	evbuffer_free(gc->body);
	free(gc);
}
