/* channel.h -- the persistent WebSocket (RFC 6455, wslay) to the cloud's notification service through arcproxy: upgrade, pings both ways, jittered reconnects. */
#ifndef NOTIFY_CHANNEL_H
#define NOTIFY_CHANNEL_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct notify_channel;

struct notify_channel_conf {
	struct sockaddr_storage	 proxy;		/* arcproxy */
	socklen_t		 proxy_len;
	char			 host[256];	/* notify.cloudsim.test */
	uint16_t		 port;		/* 443 */
	char			 path[320];	/* /machines/M/channel */
	long			 ping_interval_ms;	/* a ping when nothing came for this long */
	long			 dead_after_ms;	/* nothing at all for this long: reconnect */
	long			 backoff_min_ms;
	long			 backoff_max_ms;
	long			 connect_timeout_ms;	/* the dial and the upgrade's answer */
};

struct notify_channel_ops {
	/* A whole text message from the cloud (not NUL-terminated). */
	void	(*message)(void *arg, const char *text, size_t len);
	/* The TLS context to dial with, taken for each connection; NULL: none
	 * (no identity), try again later. */
	SSL_CTX	*(*tls)(void *arg);
};

/* Starts connecting at once; conf is copied. */
struct notify_channel	*notify_channel_new(struct event_base *,
			    const struct notify_channel_conf *,
			    const struct notify_channel_ops *, void *arg);
/* Drops the connection and starts again at once (a new identity). */
void			 notify_channel_restart(struct notify_channel *,
			    const struct notify_channel_conf *);
/* Would conf change what the channel does? */
int			 notify_channel_conf_changed(const struct notify_channel *,
			    const struct notify_channel_conf *);
/* Queues a text message; -1 when the channel is down. */
int			 notify_channel_send(struct notify_channel *, const char *text);
int			 notify_channel_up(const struct notify_channel *);
void			 notify_channel_free(struct notify_channel *);

#endif
