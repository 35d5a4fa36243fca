/* arcnotify.h -- the notification agentlet's one context: settings, local controls, identity, the channel, the wake directory and the live sessions. */
#ifndef ARCNOTIFY_H
#define ARCNOTIFY_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "agentconf.h"

#define ARCNOTIFY_USER		"arcnotify"	/* in group arc: reads machine.key */
#define ARCNOTIFY_CONF		"notify.conf"
#define ARCNOTIFY_WAKE_DIR	"notify"	/* <run>/notify/<topic> */

struct event;
struct event_base;
struct himds_machine;
struct notify_channel;
struct notify_session;

/* notify.conf */
struct arcnotify_settings {
	char			*path;
	int			 found;			/* the file exists */
	struct sockaddr_storage	 proxy;			/* arcproxy, an address */
	socklen_t		 proxy_len;
	char			*channel_host;		/* notify.cloudsim.test */
	long long		 channel_port;		/* 443 */
	long long		 ping_interval_ms;	/* ping after this much quiet */
	long long		 dead_after_ms;		/* reconnect after this much quiet */
	long long		 backoff_min_ms;
	long long		 backoff_max_ms;
	long long		 connect_timeout_ms;	/* a dial through arcproxy, TLS included */
	long long		 max_sessions;		/* live at once; more are refused */
	long long		 buffer_bytes;		/* per session direction */
};

LIST_HEAD(arcnotify_sessions, notify_session);

struct arcnotify {
	struct event_base		*base;
	const char			*config_dir;
	const char			*state_dir;
	const char			*run_dir;
	struct arcnotify_settings	 settings;
	struct agentconf		 agent;		/* agent.conf: the local controls */
	struct himds_machine		*machine;	/* NULL: not connected */
	SSL_CTX				*tls;		/* machine cert, the cloud's CA */
	char				 identity_note[512]; /* last said about it: said once */
	int				 wake_fd;	/* <run>/notify */
	struct notify_channel		*channel;
	struct arcnotify_sessions	 sessions;
	int				 nsessions;
};

/* Tells the cloud a session was refused (when the channel is up). */
void	arcnotify_refuse(struct arcnotify *, const char *id, const char *reason);

#endif
