/* ws_frame_fuzz.c -- libFuzzer: any bytes from the peer of a WebSocket (lib/ws.c on wslay), as arcnotify's channel (a client) and cloudsim's notify service (a server) read them: messages within the limit, one close at most, nothing after it, no crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ws.h"

#define FZ_MAX_MSG	1024

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fz_side {
	struct ws	*ws;
	int		 closed;
};

static void
fz_bad(const char *what)
{
	fprintf(stderr, "\n*** ws property broken: %s\n", what);
	abort();
}

static void
fz_message(void *arg, const char *text, size_t len)
{
	struct fz_side	*s = arg;

	(void)text;
	if (s->closed)
		fz_bad("a message after the close");
	if (len > FZ_MAX_MSG)
		fz_bad("a message over the limit");
}

static void
fz_closed(void *arg, const char *why)
{
	struct fz_side	*s = arg;

	if (s->closed++)
		fz_bad("closed twice");
	if (why == NULL || why[0] == '\0')
		fz_bad("closed without a reason");
	ws_free(s->ws);
	s->ws = NULL;
}

static const struct ws_ops fz_ops = { fz_message, fz_closed };

/*
 * First byte: bit 0 picks our side (0: a client, the peer a server that
 * sends unmasked frames; 1: a server); bits 1-7 where the rest is cut in
 * two reads.  The peer's end stays open: EOF is not what is fuzzed.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_base	*base;
	struct bufferevent	*pair[2];
	struct fz_side		 s;
	size_t			 cut;
	int			 i;

	if (size < 1)
		return 0;
	memset(&s, 0, sizeof(s));
	if ((base = event_base_new()) == NULL ||
	    bufferevent_pair_new(base, 0, pair) == -1)
		abort();
	if ((s.ws = ws_new(pair[0], data[0] & 1, FZ_MAX_MSG, &fz_ops,
	    &s)) == NULL)
		abort();
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	data++;
	size--;
	cut = size == 0 ? 0 : (size * (size_t)(data[-1] >> 1)) / 128;
	bufferevent_write(pair[1], data, cut);
	for (i = 0; i < 8; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (s.ws != NULL)
		bufferevent_write(pair[1], data + cut, size - cut);
	for (i = 0; i < 8; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	/* What we answered (pongs, a close) is read away, then we close. */
	evbuffer_drain(bufferevent_get_input(pair[1]),
	    evbuffer_get_length(bufferevent_get_input(pair[1])));
	if (s.ws != NULL) {
		ws_send_text(s.ws, "bye", 3);
		ws_close(s.ws, 1000, "done");
		for (i = 0; i < 8; i++)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	ws_free(s.ws);
	bufferevent_free(pair[1]);
	event_base_free(base);
	return 0;
}
