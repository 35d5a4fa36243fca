/* connect.c -- one HTTP CONNECT over a bufferevent (to the gateway, or through an enterprise proxy): the request, the answer's head, its status as a result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "connect.h"
#include "http.h"

#define CONNECT_MAX_REASON	4096	/* refusal bodies longer than this are cut */

struct connect_handshake {
	struct bufferevent	*bev;
	struct http_msg		 resp;
	int			 status;	/* 0 until the head is parsed */
	connect_cb		*cb;
	void			*arg;
	struct evbuffer		*body;		/* of a refusal, for its reason */
	int			 plain_body;	/* text/plain: its first line is the reason */
	char			 reason[256];
};

enum connect_result
connect_status_result(int status)
{
	if (status <= 0)
		return CONNECT_CLOSED;
	switch (status) {
	case 200: return CONNECT_OPEN;
	case 403: return CONNECT_DENIED;
	case 407: return CONNECT_AUTH;
	case 502:
	case 503: return CONNECT_UNREACHABLE;
	case 504: return CONNECT_TIMEOUT;
	}
	return CONNECT_REFUSED;
}

static void
connect_done(struct connect_handshake *ch, enum connect_result result,
    const char *reason)
{
	bufferevent_setcb(ch->bev, NULL, NULL, NULL, NULL);
	ch->cb(result, ch->status, reason, ch->arg);
}

/* Why a CONNECT was refused: the status line, then Proxy-Status or the
 * first line of a plain-text body (an HTML error page says nothing short). */
static const char *
connect_reason(struct connect_handshake *ch)
{
	size_t	 len = evbuffer_get_length(ch->body), used, i;
	char	*text;

	if (len == 0 || !ch->plain_body)
		return ch->reason;
	used = strlen(ch->reason);
	if (used + 3 >= sizeof(ch->reason))
		return ch->reason;
	ch->reason[used++] = ':';
	ch->reason[used++] = ' ';
	if (len > sizeof(ch->reason) - used - 1)
		len = sizeof(ch->reason) - used - 1;
	text = (char *)evbuffer_pullup(ch->body, len);
	for (i = 0; i < len && text[i] != '\n' && text[i] != '\r'; i++)
		ch->reason[used++] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
	ch->reason[used] = '\0';
	return ch->reason;
}

/* The head is in: note the status and the reason; 1 when that settles it. */
static int
connect_head(struct connect_handshake *ch, struct evbuffer *in)
{
	const char	*v;
	size_t		 len;

	ch->status = ch->resp.parser.status_code;
	snprintf(ch->reason, sizeof(ch->reason), "%d %.*s", ch->status,
	    (int)(ch->resp.url.len < 64 ? ch->resp.url.len : 64),
	    ch->resp.raw + ch->resp.url.off);
	if (http_msg_find(&ch->resp, "proxy-status", &v, &len))
		snprintf(ch->reason + strlen(ch->reason), sizeof(ch->reason) -
		    strlen(ch->reason), " (%.*s)", (int)(len < 160 ? len : 160), v);
	else if (http_msg_find(&ch->resp, "content-type", &v, &len) &&
	    len >= 10 && strncasecmp(v, "text/plain", 10) == 0)
		ch->plain_body = 1;
	if (ch->status / 100 == 2) {
		/* A 2xx to CONNECT has no body: what follows is the tunnel. */
		evbuffer_drain(in, ch->resp.head_len);
		connect_done(ch, connect_status_result(ch->status),
		    ch->status == 200 ? "tunnel open" : ch->reason);
		return 1;
	}
	if (http_msg_head_consume(&ch->resp, in) == HTTP_STEP_DONE) {
		connect_done(ch, connect_status_result(ch->status),
		    connect_reason(ch));
		return 1;
	}
	return 0;
}

static void
connect_read(struct bufferevent *bev, void *arg)
{
	struct connect_handshake *ch = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	size_t			 moved;
	enum http_step		 step;

	if (ch->status == 0) {
		switch (http_msg_head(&ch->resp, in, CONNECT_MAX_HEAD)) {
		case HTTP_STEP_MORE:
			return;
		case HTTP_STEP_HEAD:
			break;
		case HTTP_STEP_TOO_LARGE:
			connect_done(ch, CONNECT_MALFORMED,
			    "answer to CONNECT has an oversize head");
			return;
		default:
			connect_done(ch, CONNECT_MALFORMED,
			    "not an HTTP answer to CONNECT");
			return;
		}
		if (connect_head(ch, in))
			return;
	}
	step = http_msg_body(&ch->resp, in, ch->body, &moved);
	if (step == HTTP_STEP_MORE &&
	    evbuffer_get_length(ch->body) < CONNECT_MAX_REASON)
		return;
	connect_done(ch, connect_status_result(ch->status), connect_reason(ch));
}

static void
connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct connect_handshake *ch = arg;

	(void)bev;
	if (ch->status != 0) {
		/* A refusal whose body was cut short: the status stands. */
		connect_done(ch, connect_status_result(ch->status),
		    connect_reason(ch));
		return;
	}
	connect_done(ch, CONNECT_CLOSED, (what & BEV_EVENT_EOF) ?
	    "closed before answering CONNECT" : "failed before answering CONNECT");
}

struct connect_handshake *
connect_start(struct bufferevent *bev, const char *host, uint16_t port,
    connect_cb *cb, void *arg)
{
	struct connect_handshake *ch;
	const char		*open = strchr(host, ':') ? "[" : "";
	const char		*close = strchr(host, ':') ? "]" : "";

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return NULL;
	if ((ch->body = evbuffer_new()) == NULL) {
		free(ch);
		return NULL;
	}
	ch->bev = bev;
	ch->cb = cb;
	ch->arg = arg;
	http_msg_init(&ch->resp, HTTP_RESPONSE);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n\r\n",
	    open, host, close, port, open, host, close, port);
	bufferevent_setcb(bev, connect_read, NULL, connect_event, ch);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return ch;
}

void
connect_free(struct connect_handshake *ch)
{
	if (ch == NULL)
		return;
	bufferevent_setcb(ch->bev, NULL, NULL, NULL, NULL);
	evbuffer_free(ch->body);
	free(ch);
}
