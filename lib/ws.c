/* ws.c -- WebSocket (RFC 6455) on a bufferevent with wslay: the opening handshake's key and accept, text messages, pings, close; for arcnotify and cloudsim. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "tls.h"
#include "ws.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Queued output past which the peer's frames are not read until it takes
 * some: each ping it sends queues a pong, each message may queue an answer. */
#define WS_OUT_MAX	(256 * 1024)

struct ws {
	struct bufferevent	*bev;
	wslay_event_context_ptr	 ctx;
	const struct ws_ops	*ops;
	void			*arg;
	double			 last_read;
	int			 closing;	/* close queued: EOF once it is written */
	int			 done;		/* closed was called */
	int			 paused;	/* reading stopped: the peer does not read */
	char			 why[256];
};

static double
ws_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
ws_key_new(char *out, size_t len)
{
	unsigned char	raw[16];

	if (len < WS_KEY_LEN + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
	return 0;
}

void
ws_accept(const char *key, char *out, size_t len)
{
	unsigned char	 md[SHA_DIGEST_LENGTH], b64[WS_ACCEPT_LEN + 4];
	EVP_MD_CTX	*c;
	unsigned	 mdlen = 0;

	out[0] = '\0';
	if ((c = EVP_MD_CTX_new()) == NULL)
		return;
	if (EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(c, key, strlen(key)) == 1 &&
	    EVP_DigestUpdate(c, WS_GUID, strlen(WS_GUID)) == 1 &&
	    EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == sizeof(md)) {
		EVP_EncodeBlock(b64, md, sizeof(md));
		snprintf(out, len, "%s", (char *)b64);
	}
	EVP_MD_CTX_free(c);
}

/* Ends it once: the owner hears why and frees it. */
static void
ws_end(struct ws *w, const char *why)
{
	if (w->done)
		return;
	w->done = 1;
	if (why != w->why)
		snprintf(w->why, sizeof(w->why), "%s", why);
	bufferevent_disable(w->bev, EV_READ);
	w->ops->closed(w->arg, w->why);
}

static ssize_t
ws_on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct ws	*w = arg;
	int		 n;

	(void)flags;
	n = evbuffer_remove(bufferevent_get_input(w->bev), buf, len);
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t
ws_on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct ws	*w = arg;

	(void)flags;
	/* The output buffer grows: messages are small and few. */
	if (evbuffer_add(bufferevent_get_output(w->bev), data, len) == -1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static int
ws_on_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *arg)
{
	(void)arg;
	if (RAND_bytes(buf, (int)len) != 1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return 0;
}

static void
ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg
    *m, void *arg)
{
	struct ws	*w = arg;
	char		 why[160];
	int		 n;

	(void)ctx;
	if (w->done)
		return;
	if (m->opcode == WSLAY_TEXT_FRAME)
		w->ops->message(w->arg, (const char *)m->msg, m->msg_length);
	else if (m->opcode == WSLAY_CONNECTION_CLOSE) {
		/* The reason follows the two bytes of the status code. */
		n = m->msg_length > 2 ? (int)(m->msg_length - 2) : 0;
		snprintf(why, sizeof(why), "the peer closed the WebSocket "
		    "(%u%s%.*s)", m->status_code, n ? " " : "", n > 100 ? 100 : n,
		    n ? (const char *)m->msg + 2 : "");
		snprintf(w->why, sizeof(w->why), "%s", why);
	}
	/* Binary messages mean nothing here; pings are answered by wslay. */
}

static const struct wslay_event_callbacks ws_callbacks = {
	ws_on_recv, ws_on_send, ws_on_genmask, NULL, NULL, NULL, ws_on_msg
};

/* Writes what wslay queued; with may_end, ends it when neither side has
 * more to say (never from a call of the owner's, which holds the ws). */
static void
ws_pump(struct ws *w, int may_end)
{
	if (w->done)
		return;
	if (wslay_event_send(w->ctx) != 0) {
		if (may_end)
			ws_end(w, "cannot write to the WebSocket");
		return;
	}
	if (may_end && !wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx) &&
	    evbuffer_get_length(bufferevent_get_output(w->bev)) == 0) {
		/* Our own close (a protocol error, a message too long) says
		 * its code; the peer's was noted when it came. */
		if (w->why[0] == '\0' && wslay_event_get_close_sent(w->ctx))
			snprintf(w->why, sizeof(w->why), "closed the WebSocket "
			    "(%u)", wslay_event_get_status_code_sent(w->ctx));
		ws_end(w, w->why[0] ? w->why : "the WebSocket is closed");
	}
}

static void
ws_on_read(struct bufferevent *bev, void *arg)
{
	struct ws	*w = arg;
	int		 rc;

	(void)bev;
	if (evbuffer_get_length(bufferevent_get_output(w->bev)) > WS_OUT_MAX) {
		/* A peer that sends pings and never reads the pongs would
		 * grow our output without end: its frames wait (and the
		 * socket fills) until it reads. */
		w->paused = 1;
		bufferevent_disable(w->bev, EV_READ);
		return;
	}
	w->last_read = ws_now();
	if ((rc = wslay_event_recv(w->ctx)) != 0) {
		ws_end(w, rc == WSLAY_ERR_NOMEM ? "out of memory" :
		    "the peer broke the WebSocket protocol");
		return;
	}
	ws_pump(w, 1);
}

/* The output is written (low watermark 0); the ws may be gone after the
 * pump, so a paused read resumes first, on a later loop turn. */
static void
ws_on_write(struct bufferevent *bev, void *arg)
{
	struct ws	*w = arg;

	if (w->paused && !w->done) {
		w->paused = 0;
		bufferevent_enable(bev, EV_READ);
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
	}
	ws_pump(w, 1);
}

static void
ws_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ws	*w = arg;
	char		 why[200], tlswhy[128];
	int		 err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_EOF) {
		ws_end(w, w->why[0] ? w->why : "the peer closed the connection");
		return;
	}
	tls_bev_errors(bev, tlswhy, sizeof(tlswhy));
	snprintf(why, sizeof(why), "connection %s: %s", (what & BEV_EVENT_READING) ?
	    "read" : "write", tlswhy[0] ? tlswhy : err ?
	    evutil_socket_error_to_string(err) : "failed");
	ws_end(w, why);
}

struct ws *
ws_new(struct bufferevent *bev, int server, size_t max_msg,
    const struct ws_ops *ops, void *arg)
{
	struct ws	*w;
	int		 rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->bev = bev;
	w->ops = ops;
	w->arg = arg;
	w->last_read = ws_now();
	rc = server ? wslay_event_context_server_init(&w->ctx, &ws_callbacks, w) :
	    wslay_event_context_client_init(&w->ctx, &ws_callbacks, w);
	if (rc != 0) {
		free(w);
		return NULL;
	}
	wslay_event_config_set_max_recv_msg_length(w->ctx, max_msg);
	bufferevent_setcb(bev, ws_on_read, ws_on_write, ws_on_event, w);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	/* Frames read with the handshake are taken on a later loop turn:
	 * the owner keeps the ws it was just given. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
	return w;
}

void
ws_free(struct ws *w)
{
	if (w == NULL)
		return;
	wslay_event_context_free(w->ctx);
	bufferevent_free(w->bev);
	free(w);
}

static int
ws_queue(struct ws *w, uint8_t opcode, const char *data, size_t len)
{
	struct wslay_event_msg	m;

	if (w->done || w->closing)
		return -1;
	m.opcode = opcode;
	m.msg = (const uint8_t *)data;
	m.msg_length = len;
	if (wslay_event_queue_msg(w->ctx, &m) != 0)
		return -1;
	ws_pump(w, 0);
	return 0;
}

int
ws_send_text(struct ws *w, const char *text, size_t len)
{
	return ws_queue(w, WSLAY_TEXT_FRAME, text, len);
}

int
ws_ping(struct ws *w)
{
	return ws_queue(w, WSLAY_PING, "arc", 3);
}

void
ws_close(struct ws *w, uint16_t code, const char *reason)
{
	if (w->done || w->closing)
		return;
	w->closing = 1;
	wslay_event_queue_close(w->ctx, code, (const uint8_t *)reason,
	    strlen(reason));
	ws_pump(w, 0);
}

double
ws_last_read(const struct ws *w)
{
	return w->last_read;
}
