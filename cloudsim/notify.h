/* notify.h -- notify.cloudsim.test: one WebSocket channel per machine (machine certificate, RFC 6455 on wslay), pings, goal-state and session messages down, refusals up. */
#ifndef CLOUDSIM_NOTIFY_H
#define CLOUDSIM_NOTIFY_H

#include <sys/socket.h>
#include <stddef.h>

struct event_base;
struct notify_service;
struct registry;
struct simconf;

/* cloudsim.conf's notify group (notify.c reads it; simconf only lets it in). */
struct notify_conf {
	int			 has_listen;		/* notify.listen is not "" */
	struct sockaddr_storage	 listen;		/* notify.cloudsim.test, TLS */
	int			 listen_len;
	int			 has_relay;		/* notify.relay_listen is not "" */
	struct sockaddr_storage	 relay_listen;		/* relay.cloudsim.test, TLS */
	int			 relay_listen_len;
	char			 relay_name[256];	/* what machines dial: "relay.cloudsim.test:443" */
	long long		 ping_interval_ms;	/* a ping after this much quiet */
	long long		 dead_after_ms;		/* quiet this long: the channel is dropped */
	long long		 session_timeout_ms;	/* a session not joined by then ends */
	long long		 buffer_bytes;		/* per session direction */
};

/* notify = { ... } of cfg->path; 0, or -1 with err naming file and line. */
int	notify_conf_load(const struct simconf *, struct notify_conf *, char *err,
	    size_t errlen);

/* What the machine says up its channel, for sessions.c. */
typedef void notify_refused_cb(void *arg, const char *machine, const char *id,
	    const char *reason);

struct notify_service *notify_service_new(struct event_base *,
		    const struct simconf *, const struct notify_conf *,
		    struct registry *, char *err, size_t errlen);
void		 notify_service_on_refused(struct notify_service *,
		    notify_refused_cb *, void *arg);
/* Stops listening; channels go on until notify_service_free. */
void		 notify_service_stop(struct notify_service *);
void		 notify_service_free(struct notify_service *);

/* Sends text down machine's channel: 0, or -1 when it has none open. */
int		 notify_send(struct notify_service *, const char *machine,
		    const char *text);
/* {"type":"goalState","topic","seq"} to machine, when its goal state for
 * topic ("extensions" or "guestConfiguration") changed: what the control
 * plane calls after an operator PUT or DELETE.  0, or -1 when the machine
 * has no channel open (it polls, then). */
int		 notify_goal_state(struct notify_service *, const char *machine,
		    const char *topic, long long seq);
/* POST /operator/machines/{name}/goalState {"topic", "seq"}: the
 * notification a goal-state change sends, sent by hand (demos, tests):
 * 200 {"sent": true|false}; 400 a bad body. */
struct httpd_request;
void		 notify_operator_post(struct notify_service *,
		    struct httpd_request *, const char *machine);
/* Is machine's channel open? */
int		 notify_listening(struct notify_service *, const char *machine);

#endif
