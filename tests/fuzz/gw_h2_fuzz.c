/* gw_h2_fuzz.c -- libFuzzer: arbitrary frames from "the gateway" into the gateway client's HTTP/2 session (gw_h2.c on a bufferevent pair in place of TLS), with the endpoint list stream open: no crash, no leak, no use after free. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gw.h"
#include "gw_carrier.h"
#include "gw_h2.h"
#include "gw_internal.h"
#include "log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base	*fz_base;
static struct gw		*fz_gw;

/* The server's connection preface: an empty SETTINGS frame (RFC 9113 3.4). */
static const uint8_t fz_preface[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct gw_settings	s;
	char			err[512];

	(void)argc;
	(void)argv;
	log_init("gw_h2_fuzz", 1, LOG_LEVEL_WARN);
	if ((fz_base = event_base_new()) == NULL)
		abort();
	memset(&s, 0, sizeof(s));
	snprintf(s.host, sizeof(s.host), "gw.fuzz.test");
	s.port = 443;
	s.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	s.protocol = GW_PROTO_H2;
	s.connect_timeout_ms = 1000;
	if ((fz_gw = gw_new(fz_base, NULL, &s, err, sizeof(err))) == NULL) {
		fprintf(stderr, "gw_new: %s\n", err);
		abort();
	}
	/* Never started, and retired: no connection of its own, no timers. */
	fz_gw->retired = 1;
	return 0;
}

/* Whether the session s is still on the list: it ended itself if not. */
static int
fz_carrier_listed(const struct gw_carrier_list *list, const struct gw_h2 *s)
{
	const struct gw_carrier	*car;

	TAILQ_FOREACH(car, list, entry)
		if ((const void *)car == (const void *)s)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bufferevent	*pair[2];
	struct gw_h2		*s;
	char			 err[256];
	int			 i;

	if (bufferevent_pair_new(fz_base, 0, pair) == -1)
		abort();
	if ((s = gw_h2_new(fz_gw, pair[0], err, sizeof(err))) == NULL)
		abort();
	/* In the gateway's pool, so that gw_carrier_gone() takes it off the
	 * lists when the session ends itself (then it is freed already).  The
	 * carrier is the first member of every carrier's struct. */
	gw_pool_add(fz_gw, (struct gw_carrier *)s);
	gw_h2_fetch(s);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	bufferevent_write(pair[1], fz_preface, sizeof(fz_preface));
	bufferevent_write(pair[1], data, size);
	for (i = 0; i < 8; i++) {
		event_base_loop(fz_base, EVLOOP_NONBLOCK);
		/* What the client sends is not looked at: drop it. */
		evbuffer_drain(bufferevent_get_input(pair[1]),
		    evbuffer_get_length(bufferevent_get_input(pair[1])));
	}
	if (fz_carrier_listed(&fz_gw->carriers, s) ||
	    fz_carrier_listed(&fz_gw->draining, s))
		gw_h2_free(s, "end of input");
	bufferevent_free(pair[1]);
	event_base_loop(fz_base, EVLOOP_NONBLOCK);
	/* A list that arrived is the gateway's until the next one: drop it. */
	gw_endpoints_free(&fz_gw->list);
	return 0;
}
