/* pump.h -- a session's bytes both ways between the relay and the local port: lib/relay's pump (backpressure, half-close), the session's counters readable while it runs. */
#ifndef NOTIFY_PUMP_H
#define NOTIFY_PUMP_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct pump;

/* Called once when both directions have ended (error NULL) or one side
 * failed; the callee may pump_free() here. */
typedef void pump_done_cb(void *arg, const char *error);

/* Takes both bufferevents (freed by pump_free); bytes already buffered on
 * either side go across first.  A reader pauses while its partner holds its
 * window (up to high_water) unwritten, as lib/relay does for arcproxy. */
struct pump	*pump_new(struct bufferevent *relay, struct bufferevent *local,
		    size_t high_water, pump_done_cb *, void *arg);
/* Bytes moved so far each way. */
void		 pump_bytes(const struct pump *, uint64_t *relay_to_local,
		    uint64_t *local_to_relay);
void		 pump_free(struct pump *);

#endif
