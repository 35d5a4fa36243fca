/* dial.h -- one outbound TLS connection through arcproxy: TCP to the proxy, CONNECT host:port, then TLS end to end with the machine certificate. */
#ifndef NOTIFY_DIAL_H
#define NOTIFY_DIAL_H

#include <sys/socket.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event_base;
struct notify_dial;

/* Called once: tls is the open TLS bufferevent (the callee owns it), or
 * NULL with error saying which step failed. */
typedef void notify_dial_cb(struct bufferevent *tls, const char *error,
	    void *arg);

/* Starts it; the whole dial is bounded by timeout_ms.  NULL when out of
 * memory or the socket cannot be made (error filled). */
struct notify_dial *notify_dial_start(struct event_base *,
		    const struct sockaddr *proxy, socklen_t proxy_len, SSL_CTX *,
		    const char *host, uint16_t port, long timeout_ms,
		    notify_dial_cb *, void *arg, char *error, size_t errlen);
/* Cancels (no callback); NULL is a no-op. */
void		 notify_dial_free(struct notify_dial *);

#endif
