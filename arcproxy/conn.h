/* conn.h -- one client connection: its life cycle, timer and log line; exchange.c forwards its HTTP requests. */
#ifndef CONN_H
#define CONN_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "http.h"
#include "relay.h"
#include "route.h"
#include "status.h"

struct config;
struct gw;
struct upstream;
struct worker;

/* The state alone says what the timer means. */
enum conn_state {
	CONN_HEAD,	/* reading a request head; timer: head (408) */
	CONN_IDLE,	/* kept alive, next request not begun; timer: idle (quiet close) */
	CONN_OPENING,	/* upstream opening, client read only to see it leave; no timer */
	CONN_EXCHANGE,	/* head sent, body up, response down; timer: idle (504) */
	CONN_TUNNEL,	/* CONNECT or 101, the pump both ways; timer: idle */
	CONN_FLUSHING,	/* last response draining to the client; timer: idle, then free */
	CONN_LINGER,	/* our EOF sent, reading and dropping; timer: linger, then free */
	CONN_ABORTED,	/* too late for a status; timer: 0, freed from the loop */
};

/* Shared by conn.c (life cycle) and exchange.c (HTTP forwarding) only. */
struct conn {
	struct worker		*w;
	struct config		*cfg;		/* the generation of the current request: */
	struct gw		*gw;		/* its rules, proxy and gateway (references) */
	TAILQ_ENTRY(conn)	 entry;
	enum conn_state		 state;
	struct bufferevent	*client;
	int			 client_fd;	/* its socket (bufferevent_getfd() is a locked call) */
	struct upstream		*up;
	struct event		*timer;		/* its meaning: see enum conn_state */
	struct timeval		 deadline;	/* when it is due (monotonic) */
	struct timeval		 timer_at;	/* when the timer fires, if timer_on */
	int			 timer_on;
	struct event		*head_rev;	/* client readable, in HEAD and IDLE */
	int			 head_rev_on;	/* and through a bodiless exchange */
	struct timeval		 last_active;	/* last byte either way (cached clock) */
	struct timeval		 start;		/* of the current request or tunnel */
	struct http_msg		*req;		/* NULL once tunnelling */
	struct http_msg		*resp;
	struct evbuffer		*head_out;	/* rewritten request head, kept for a retry */
	struct evbuffer		*stage;		/* response bytes on their way to the client */
	struct http_target	 target;
	struct relay		 relay;		/* the pump: tunnel, and the exchange's backpressure */
	struct route_decision	 route;
	enum px_error		 error;
	int			 status;
	int			 requests;	/* completed on this connection */
	unsigned		 keep_alive:1;	/* client may send another request */
	unsigned		 req_done:1;	/* the whole request went up */
	unsigned		 resp_started:1;/* response bytes went to the client */
	unsigned		 routed:1;	/* route is this request's */
	unsigned		 retried:1;	/* a stale pooled upstream was replaced */
	unsigned		 client_eof:1;
	unsigned		 logged:1;
	unsigned		 req_body:1;	/* the request has a body (no retry) */
	unsigned		 up_eof:1;	/* the upstream closed: not for the pool */
	unsigned		 client_http10:1;/* the request said HTTP/1.0 */
	uint64_t		 bytes_up;	/* of this request or tunnel */
	uint64_t		 bytes_down;
	char			 client_addr[INET6_ADDRSTRLEN + 8];
	char			 method[24];
	char			 target_text[512];
};

/* Takes the accepted socket; on failure it is closed. */
struct conn	*conn_new(struct worker *, int fd, const struct sockaddr *, socklen_t);
void		 conn_free(struct conn *);
/* SIGTERM: close connections idle between requests, and make the others
 * close after their current exchange. */
void		 conn_drain_all(struct worker *);
void		 conn_free_all(struct worker *);
/* SIGTERM: close the tunnels (the grace is over), or everything (the
 * drain is over); each gets its log line, error "shutdown". */
void		 conn_cut_tunnels(struct worker *);
void		 conn_shutdown_all(struct worker *);

/* For exchange.c: the life-cycle steps an exchange ends in. */
void		 conn_arm(struct conn *, long long ms);
void		 conn_disarm(struct conn *);
/* The client's reads on or off, by whichever watcher reads it now. */
void		 conn_client_reads(struct conn *, int on);
void		 conn_touch(struct conn *);
void		 conn_log(struct conn *);
void		 conn_close_upstream(struct conn *);
void		 conn_fail(struct conn *, enum px_error);
void		 conn_fail_details(struct conn *, enum px_error, const char *);
void		 conn_closing(struct conn *);
void		 conn_tunnel(struct conn *);
/* The exchange ended and the client may send another request. */
void		 conn_next_request(struct conn *);

#endif
