/* pump.h -- a session's bytes both ways between the relay and the local port: backpressure by watermarks, half-close passed across, counters readable while it runs. */
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
 * either side go across first.  A reader pauses while its partner holds
 * high_water bytes unwritten, and resumes below half of it. */
struct pump	*pump_new(struct bufferevent *a, struct bufferevent *b,
		    size_t high_water, pump_done_cb *, void *arg);
/* Bytes moved from a to b and from b to a so far. */
void		 pump_bytes(const struct pump *, uint64_t *a_to_b, uint64_t *b_to_a);
void		 pump_free(struct pump *);

#endif
