/* ws.h -- WebSocket (RFC 6455) on a bufferevent with wslay: the opening handshake's key and accept, text messages, pings, close; for arcnotify and cloudsim. */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct bufferevent;
struct ws;

#define WS_KEY_LEN	24	/* base64 of 16 random bytes */
#define WS_ACCEPT_LEN	28	/* base64 of a SHA-1 */

struct ws_ops {
	/* A whole text message (not NUL-terminated). */
	void	(*message)(void *arg, const char *text, size_t len);
	/* The connection is over: a close frame, EOF, an error or a protocol
	 * violation, in why.  The callee frees the ws (it may do so here). */
	void	(*closed)(void *arg, const char *why);
};

/* A new Sec-WebSocket-Key (NUL-terminated, WS_KEY_LEN characters). */
int	 ws_key_new(char *out, size_t len);
/* Sec-WebSocket-Accept for key: base64 of SHA-1 of key and RFC 6455's
 * GUID (WS_ACCEPT_LEN characters). */
void	 ws_accept(const char *key, char *out, size_t len);

/*
 * Takes bev (freed by ws_free) after the opening handshake: its callbacks
 * become the ws's, bytes already in its input are frames.  server: frames
 * we send are unmasked and frames we read must be masked, as RFC 6455
 * wants.  Pings are answered by wslay; messages over max_msg end it (1009).
 */
struct ws	*ws_new(struct bufferevent *bev, int server, size_t max_msg,
		    const struct ws_ops *, void *arg);
void		 ws_free(struct ws *);
/* Queue a text message or a ping and start writing; -1 once closing. */
int		 ws_send_text(struct ws *, const char *text, size_t len);
int		 ws_ping(struct ws *);
/* A close frame (code, reason), then EOF once written. */
void		 ws_close(struct ws *, uint16_t code, const char *reason);
/* When a byte last arrived (CLOCK_MONOTONIC seconds). */
double		 ws_last_read(const struct ws *);

#endif
