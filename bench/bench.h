/* bench.h -- arcbench's run: options, per-thread event loops and counters, and the client connection each thread drives. */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "hist.h"
#include "procstat.h"

struct bconn;
struct event;
struct event_base;
struct evbuffer;
struct pattern;

enum bench_mode {
	BENCH_HTTP,		/* GET /bytes/N, keep-alive, absolute-form through the proxy */
	BENCH_TUNNEL,		/* CONNECT, then bulk bytes down, up or both */
	BENCH_SETUP,		/* CONNECT, a small exchange, close: as fast as possible */
	BENCH_IDLE,		/* CONNECT, verify, then hold the tunnel open */
	BENCH__MODES
};

enum bench_direction {
	BENCH_DOWN = 1,
	BENCH_UP = 2,
	BENCH_BOTH = 3,
};

/* What went wrong with an operation; the order is the order of the report. */
enum bench_error {
	BERR_CONNECT,		/* TCP connect to the proxy (or target) failed */
	BERR_PROXY,		/* the proxy answered CONNECT with other than 2xx */
	BERR_STATUS,		/* an HTTP status other than 200 */
	BERR_LENGTH,		/* Content-Length or body length not the size asked for */
	BERR_CONTENT,		/* a payload byte differs from the pattern */
	BERR_PROTOCOL,		/* an unparsable or unexpected answer */
	BERR_CLOSED,		/* the connection ended before the operation did */
	BERR_TIMEOUT,		/* no progress within --timeout */
	BERR_TLS,		/* a TLS handshake (with the target, or the gateway) failed */
	BERR_UPLOAD,		/* the origin saw different upload bytes */
	BERR__COUNT
};

extern const char *const bench_mode_names[BENCH__MODES];
extern const char *const bench_error_names[BERR__COUNT];

#define BENCH_MAX_PIDS	4	/* processes sampled: the proxies on the path */

struct bench_opts {
	enum bench_mode		 mode;
	const char		*proxy;		/* HOST:PORT; NULL with --direct */
	const char		*target;	/* HOST:PORT of the origin service */
	int			 tls;		/* http: HTTPS inside a CONNECT tunnel */
	int			 gateway;	/* the proxy is an HTTPS proxy: TLS to it first */
	const char		*cert;		/* gateway: our certificate (the machine's) */
	const char		*key;
	const char		*ca;		/* gateway: verify its certificate; NULL: don't */
	const char		*servername;	/* gateway: SNI, and the name checked with --ca */
	int			 json;
	int			 verbose;
	uint64_t		 size;		/* body (http) or bytes each way (tunnel, setup) */
	enum bench_direction	 direction;
	int			 connections;
	int			 threads;
	double			 duration;	/* s: the measured window; idle: time to open all */
	double			 warmup;	/* s before the window, not counted */
	double			 rate;		/* requests/s in all (open loop); 0: closed loop */
	double			 timeout;	/* s without progress before an op fails */
	double			 hold;		/* idle: s to hold the tunnels once open */
	int			 drain;		/* tunnel, setup: ops under way at the window's end finish */
	uint64_t		 requests;	/* stop after this many ops; 0: by duration */
	pid_t			 pids[BENCH_MAX_PIDS];	/* processes to sample, the proxy first */
	int			 npids;
	const char		*label;
	int			 open_parallel;	/* idle: tunnels being opened at once, per thread */
	int			 stall;		/* tunnel: the first slots stop reading once open */
};

struct bench_stats {
	uint64_t	ops;			/* verified operations in the window */
	uint64_t	bytes_down;		/* verified payload bytes received in the window */
	uint64_t	bytes_up;		/* payload bytes written in the window */
	uint64_t	connects;		/* TCP connections made */
	uint64_t	retries;		/* requests sent again: keep-alive closed under them */
	uint64_t	tls_handshakes;		/* completed, with the target or the gateway */
	uint64_t	tls_resumed;		/* of them, resumed sessions */
	uint64_t	errors[BERR__COUNT];	/* at any time, warm-up included */
	struct hist	latency;		/* ns; setup and idle: until the tunnel answered */
};

struct bthread {
	struct bench		*b;
	int			 id;
	pthread_t		 thread;
	struct event_base	*base;
	struct event		*window;	/* measured window: start, then end */
	struct event		*control;	/* the main thread's stop */
	struct bconn		*conns;
	int			 nconns;
	int			 conn_base;	/* index of conns[0] among all threads' */
	struct evbuffer		*sink;		/* response bodies on their way to the check */
	SSL_SESSION		*session;	/* gateway: the last session, to resume */
	struct bench_stats	 st;
	uint64_t		 ops_share;	/* -n: ops this thread starts */
	uint64_t		 ops_started;
	uint64_t		 last_done;	/* ns: last op finished (for -n) */
	int			 measuring;	/* inside the window */
	int			 draining;	/* --drain: past the window, letting ops finish */
	int			 stopping;
	int			 idle_slots;	/* slots with nothing more to do */
	int			 next_open;	/* idle: next slot to open */
	int			 opening;	/* idle: slots being opened */
};

struct bench {
	struct bench_opts	 o;
	struct pattern		*pattern;
	SSL_CTX			*ssl;		/* --tls: to the target */
	SSL_CTX			*proxy_ssl;	/* --gateway: to the proxy */
	struct sockaddr_storage	 addr;		/* where connections go: proxy or target */
	socklen_t		 addrlen;
	char			 request[600];	/* http: one request, ready to send */
	size_t			 request_len;
	char			 connect[600];	/* the CONNECT request */
	size_t			 connect_len;
	uint64_t		 want_up;	/* tunnel, setup: payload bytes each way */
	uint64_t		 want_down;
	uint64_t		 t_start;	/* ns, CLOCK_MONOTONIC */
	uint64_t		 t_measure;
	uint64_t		 t_end;
	struct bthread		*threads;
	int			 held;		/* idle: tunnels open and verified (atomic) */
	int			 idle_failed;	/* idle: tunnels that failed (atomic) */
};

uint64_t	bench_now(void);

/* bconn.c: one client connection slot. */
/* Gateway mode: the TLS context for the proxy, from --cert, --key, --ca. */
SSL_CTX		*bconn_gateway_ctx(const struct bench_opts *, char *err, size_t errlen);
struct bconn	*bconn_new_all(struct bthread *, int n);
void		 bconn_free_all(struct bconn *, int n);
/* Starts every slot's first operation (open-loop slots wait for their turn). */
void		 bconn_start_all(struct bthread *);
/* The window is over: no new op starts, idle slots retire, ops under way
 * finish uncounted; the loop ends when every slot has retired. */
void		 bconn_drain_all(struct bthread *);
/* Tunnel: payload bytes slot i of t received in the window; -1 when the
 * slot is a --stall one. */
int64_t		 bconn_window_down(const struct bthread *, int i);

/* report.c */
struct bench_result {
	struct bench_stats	 total;
	double			 seconds;	/* length of the measured window */
	int			 have_proc;
	/* One per --pid, in the order given. */
	struct procstat		 proc_before[BENCH_MAX_PIDS];	/* at the start of the window */
	struct procstat		 proc_after[BENCH_MAX_PIDS];	/* at its end; idle: after the hold */
	struct procstat		 proc_held;	/* idle, the first pid: as soon as all were open */
	int			 held;
	int			 exit_status;
};
void	report_human(const struct bench *, const struct bench_result *);
int	report_json(const struct bench *, const struct bench_result *);

#endif
