/* sessions.h -- remote sessions: the operator's request, the session message down the machine's channel, relay.cloudsim.test where the machine joins, a loopback rendezvous where the operator joins, and `cloudsim remote`. */
#ifndef CLOUDSIM_SESSIONS_H
#define CLOUDSIM_SESSIONS_H

#include <stddef.h>

struct event_base;
struct httpd_request;
struct notify_conf;
struct notify_service;
struct registry;
struct sessions;
struct simconf;

struct sessions	*sessions_new(struct event_base *, const struct simconf *,
		    const struct notify_conf *, struct registry *,
		    struct notify_service *, char *err, size_t errlen);
/* Stops the relay listener; sessions go on until sessions_free. */
void		 sessions_stop(struct sessions *);
void		 sessions_free(struct sessions *);

/* POST /operator/machines/{name}/sessions {"port", "requestedBy"?}: 201
 * {"id", "machine", "port", "rendezvous": "127.0.0.1:N", "token"}; 404 no
 * such machine, 409 its channel is not open, 400 a bad body. */
void		 sessions_operator_post(struct sessions *, struct httpd_request *,
		    const char *machine);

/* cloudsim remote MACHINE PORT [--operator URL]: stdin and stdout joined
 * to a new session (an ssh ProxyCommand); a refusal on stderr, exit 1. */
int		 sessions_remote_main(int argc, char *argv[]);

#endif
