/* worker.h -- one event loop per thread: its listeners, connections, DNS, idle pool and counters. */
#ifndef WORKER_H
#define WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "budget.h"
#include "config.h"
#include "metrics.h"
#include "relay.h"

struct accesslog;
struct accesslog_writer;
struct conn;
struct acceptor;
struct gw;
struct evdns_base;
struct event;
struct event_base;
struct pool;
struct proxy;

TAILQ_HEAD(conn_list, conn);

struct worker {
	struct proxy		*px;
	int			 id;
	pthread_t		 thread;
	struct event_base	*base;
	struct evdns_base	*dns;
	struct config		*cfg;		/* for new connections */
	struct acceptor		*acceptor;	/* its listeners, EMFILE back-off */
	struct event		*control;	/* on control_fd */
	int			 control_fd;	/* an eventfd the main thread writes */
	struct event		*drain_timer;	/* SIGTERM: the drain deadline */
	struct event		*tunnel_timer;	/* SIGTERM: the tunnels' grace */
	pthread_mutex_t		 lock;		/* guards the next two */
	struct config		*next_cfg;	/* a reload waiting to be taken */
	struct accesslog	*next_log;
	int			 stop;		/* SIGTERM seen: drain and exit */
	int			 started;	/* worker_start() ran: privileges are dropped */
	int			 draining;
	int			 tunnels_cut;	/* the grace is over: no tunnel opens */
	struct pool		*pool;
	struct accesslog_writer	*alog;
	struct metrics		 stats;
	struct budget		 budget;	/* bytes its connections buffer */
	struct relay_pipes	 pipes;		/* for spliced tunnels */
	struct gw		*gw;		/* the gateway route, when configured */
	struct worker_gw_status {		/* for /healthz, under lock */
		int		 configured;
		int		 state;		/* enum gw_state */
		int		 endpoints;	/* -1: no list yet */
		long long	 list_fetched;	/* time(3) of the last list; 0: none */
		char		 last_error[256];
	}			 gw_status;
	struct conn_list	 conns;
	size_t			 nconns;
};

int	worker_init(struct worker *, struct proxy *, int id, struct config *,
	    struct accesslog *, char *err, size_t errlen);
int	worker_start(struct worker *);
/* From the main thread: take a new config (and log) for new connections. */
void	worker_reload(struct worker *, struct config *, struct accesslog *);
/* From the main thread: stop accepting, drain, leave the loop. */
void	worker_stop(struct worker *);
void	worker_join(struct worker *);
void	worker_free(struct worker *);
/* From a connection: it has gone away. */
void	worker_conn_closed(struct worker *);
/* From the admin thread: a copy of the gateway's state. */
void	worker_gw_status(struct worker *, struct worker_gw_status *);

#endif
