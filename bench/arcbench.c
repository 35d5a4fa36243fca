/* arcbench.c -- a load generator for forward proxies: flags, threads, the measured window, and the exit status. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "bench.h"
#include "log.h"
#include "pattern.h"
#include "tls.h"

#define BENCH_EXIT_FAILED	1	/* some op failed verification, or none passed */
#define BENCH_EXIT_USAGE	2	/* bad arguments, or nothing to talk to */
#define BENCH_MAX_CONNS		19000	/* this machine: 20,000 descriptors a process */
#define BENCH_FD_SPARE		64
#define BENCH_START_DELAY_NS	50000000ULL	/* threads set up before the start */

const char *const bench_mode_names[BENCH__MODES] = {
	"http", "tunnel", "setup", "idle"
};

const char *const bench_error_names[BERR__COUNT] = {
	"connect", "proxy_status", "http_status", "length", "content",
	"protocol", "closed", "timeout", "tls", "upload"
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: arcbench --mode MODE (--proxy HOST:PORT | --direct) --target HOST:PORT [options]\n"
	    "  --mode http|tunnel|setup|idle  what to measure (default http)\n"
	    "  -x, --proxy HOST:PORT    the forward proxy under test\n"
	    "  --direct                 the same work straight to the target: the baseline\n"
	    "  --target HOST:PORT       origin: its HTTP port (http), TLS port (http --tls),\n"
	    "                           or raw TCP port (tunnel, setup, idle)\n"
	    "  -s, --size BYTES         http: body size; tunnel: bytes each way (k, M, G: KiB, MiB, GiB)\n"
	    "  --direction down|up|both tunnel: which way the bytes go (default down)\n"
	    "  --tls                    http: HTTPS GETs inside a CONNECT tunnel\n"
	    "  --gateway                the proxy is an HTTPS proxy (the Arc gateway, a Squid\n"
	    "                           https_port): TLS to it first (ALPN http/1.1, the last\n"
	    "                           session resumed), then the CONNECT or GET inside\n"
	    "  --cert FILE, --key FILE  gateway: the client certificate (the machine's identity)\n"
	    "  --ca FILE                gateway: verify the proxy's certificate against this CA\n"
	    "  --servername NAME        gateway: SNI, and the name --ca checks\n"
	    "  -c, --connections N      concurrent connections; idle: tunnels to hold\n"
	    "  -t, --threads N          event-loop threads (default 2, at most -c)\n"
	    "  -d, --duration SEC       measured window (default 10); idle: time to open all\n"
	    "  -n, --requests N         stop after N operations instead\n"
	    "  -R, --rate R             http: open loop, R requests/s in all; latency counts\n"
	    "                           from each request's scheduled time\n"
	    "  --warmup SEC             run this long before the window (default 0)\n"
	    "  --timeout SEC            an op without progress this long fails (default 10)\n"
	    "  --hold SEC               idle: hold the tunnels this long once open (default 1)\n"
	    "  --drain                  tunnel, setup: at the window's end, let the ops under\n"
	    "                           way finish (uncounted, within --timeout) before closing\n"
	    "  --stall N                tunnel down: the first N slots stop reading once their\n"
	    "                           tunnel is open (a stalled reader); the report gives each\n"
	    "                           slot's bytes and Jain's fairness index over the others\n"
	    "  --pid PID                sample this process (the proxy): CPU seconds, RSS;\n"
	    "                           up to 4 times (the processes along the path);\n"
	    "                           --pid self samples arcbench itself (the client)\n"
	    "  --label NAME             name in the report\n"
	    "  --json                   one JSON object on stdout instead of the table\n"
	    "  -v, --verbose            say what each failed op saw\n"
	    "Every response is verified (status, length, every byte); exit status 0 when\n"
	    "all were right, 1 when any failed or none passed, 2 on bad arguments or an\n"
	    "unreachable proxy.\n");
}

static void __attribute__((noreturn, format(printf, 1, 2)))
bad_usage(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "arcbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(arcbench --help lists the options)\n");
	exit(BENCH_EXIT_USAGE);
}

uint64_t
bench_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
sleep_until(uint64_t when)
{
	struct timespec	ts = { (time_t)(when / 1000000000ULL),
	    (long)(when % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static long long
parse_int(const char *opt, const char *s, long long min, long long max)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		bad_usage("%s: expected a whole number from %lld to %lld, got '%s'",
		    opt, min, max, s);
	return v;
}

static double
parse_seconds(const char *opt, const char *s, double min, double max)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
		bad_usage("%s: expected a number from %g to %g, got '%s'", opt,
		    min, max, s);
	return v;
}

/* "100", "64k", "1M", "2G": binary multiples. */
static uint64_t
parse_size(const char *opt, const char *s)
{
	char			*end;
	unsigned long long	 v;
	uint64_t		 mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == 0 && end != s && s[0] != '-') {
		if (*end == 'k' || *end == 'K')
			mul = 1ULL << 10;
		else if (*end == 'm' || *end == 'M')
			mul = 1ULL << 20;
		else if (*end == 'g' || *end == 'G')
			mul = 1ULL << 30;
		if (mul > 1)
			end++;
		if (*end == '\0' && v <= (1ULL << 40) / mul)
			return v * mul;
	}
	bad_usage("%s: expected a byte count such as 100, 64k or 1M (at most 1T), "
	    "got '%s'", opt, s);
}

/* HOST:PORT or [V6]:PORT into an address; exits on a bad one. */
static void
parse_addr(const char *opt, const char *s, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct addrinfo	 hints, *res;
	char		 host[256];
	const char	*colon, *h = s;
	size_t		 hlen;
	int		 rc;

	if (s[0] == '[') {
		if ((colon = strstr(s, "]:")) == NULL)
			bad_usage("%s: expected [ADDRESS]:PORT, got '%s'", opt, s);
		h = s + 1;
		hlen = (size_t)(colon - h);
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || colon == s)
			bad_usage("%s: expected HOST:PORT, got '%s'", opt, s);
		hlen = (size_t)(colon - s);
	}
	if (hlen >= sizeof(host))
		bad_usage("%s: host name too long", opt);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	parse_int(opt, colon + 1, 1, 65535);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
		bad_usage("%s: cannot resolve '%s': %s", opt, host, gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

static void
parse_args(int argc, char **argv, struct bench_opts *o)
{
	enum {
		OPT_DIRECT = 256, OPT_TARGET, OPT_DIRECTION, OPT_TLS, OPT_WARMUP,
		OPT_TIMEOUT, OPT_HOLD, OPT_PID, OPT_LABEL, OPT_JSON, OPT_MODE,
		OPT_PARALLEL, OPT_DRAIN, OPT_GATEWAY, OPT_CERT, OPT_KEY, OPT_CA, OPT_SERVERNAME,
		OPT_STALL,
	};
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "proxy", required_argument, NULL, 'x' },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "size", required_argument, NULL, 's' },
		{ "direction", required_argument, NULL, OPT_DIRECTION },
		{ "tls", no_argument, NULL, OPT_TLS },
		{ "gateway", no_argument, NULL, OPT_GATEWAY },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "servername", required_argument, NULL, OPT_SERVERNAME },
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'R' },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "drain", no_argument, NULL, OPT_DRAIN },
		{ "stall", required_argument, NULL, OPT_STALL },
		{ "open-parallel", required_argument, NULL, OPT_PARALLEL },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch, direct = 0, threads = 0, size_given = 0, i;

	memset(o, 0, sizeof(*o));
	o->mode = BENCH_HTTP;
	o->direction = BENCH_DOWN;
	o->connections = 1;
	o->duration = 10;
	o->timeout = 10;
	o->hold = 1;
	o->open_parallel = 64;
	o->label = "";
	while ((ch = getopt_long(argc, argv, "x:s:c:t:d:n:R:vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_MODE:
			for (i = 0; i < BENCH__MODES; i++)
				if (strcmp(optarg, bench_mode_names[i]) == 0)
					break;
			if (i == BENCH__MODES)
				bad_usage("--mode: expected http, tunnel, setup or idle, "
				    "got '%s'", optarg);
			o->mode = (enum bench_mode)i;
			break;
		case 'x':
			o->proxy = optarg;
			break;
		case OPT_DIRECT:
			direct = 1;
			break;
		case OPT_TARGET:
			o->target = optarg;
			break;
		case 's':
			o->size = parse_size("--size", optarg);
			size_given = 1;
			break;
		case OPT_DIRECTION:
			if (strcmp(optarg, "down") == 0)
				o->direction = BENCH_DOWN;
			else if (strcmp(optarg, "up") == 0)
				o->direction = BENCH_UP;
			else if (strcmp(optarg, "both") == 0)
				o->direction = BENCH_BOTH;
			else
				bad_usage("--direction: expected down, up or both, "
				    "got '%s'", optarg);
			break;
		case OPT_TLS:
			o->tls = 1;
			break;
		case OPT_GATEWAY:
			o->gateway = 1;
			break;
		case OPT_CERT:
			o->cert = optarg;
			break;
		case OPT_KEY:
			o->key = optarg;
			break;
		case OPT_CA:
			o->ca = optarg;
			break;
		case OPT_SERVERNAME:
			o->servername = optarg;
			break;
		case 'c':
			o->connections = (int)parse_int("--connections", optarg, 1,
			    BENCH_MAX_CONNS);
			break;
		case 't':
			threads = (int)parse_int("--threads", optarg, 1, 64);
			break;
		case 'd':
			o->duration = parse_seconds("--duration", optarg, 0.01, 86400);
			break;
		case 'n':
			o->requests = (uint64_t)parse_int("--requests", optarg, 1,
			    1000000000000LL);
			break;
		case 'R':
			o->rate = parse_seconds("--rate", optarg, 0.001, 1e8);
			break;
		case OPT_WARMUP:
			o->warmup = parse_seconds("--warmup", optarg, 0, 3600);
			break;
		case OPT_TIMEOUT:
			o->timeout = parse_seconds("--timeout", optarg, 0.01, 3600);
			break;
		case OPT_HOLD:
			o->hold = parse_seconds("--hold", optarg, 0, 86400);
			break;
		case OPT_DRAIN:
			o->drain = 1;
			break;
		case OPT_STALL:
			o->stall = (int)parse_int("--stall", optarg, 1, 100000);
			break;
		case OPT_PARALLEL:
			o->open_parallel = (int)parse_int("--open-parallel", optarg,
			    1, BENCH_MAX_CONNS);
			break;
		case OPT_PID:
			if (o->npids == BENCH_MAX_PIDS)
				bad_usage("--pid: at most %d processes", BENCH_MAX_PIDS);
			/* "self": arcbench's own threads, the client's share. */
			o->pids[o->npids++] = strcmp(optarg, "self") == 0 ?
			    getpid() : (pid_t)parse_int("--pid", optarg, 1, 1 << 30);
			break;
		case OPT_LABEL:
			o->label = optarg;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			bad_usage("unknown or incomplete option");
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (direct && o->proxy != NULL)
		bad_usage("--proxy and --direct exclude each other");
	if (!direct && o->proxy == NULL)
		bad_usage("say which proxy to test (--proxy HOST:PORT), or --direct "
		    "for the baseline");
	if (o->target == NULL)
		bad_usage("--target HOST:PORT is required: the origin service");
	if (strlen(o->target) > 260)
		bad_usage("--target: too long");
	if (o->tls && o->mode != BENCH_HTTP)
		bad_usage("--tls goes with --mode http");
	if (o->gateway && o->proxy == NULL)
		bad_usage("--gateway needs --proxy HOST:PORT: the gateway");
	if (o->gateway && o->tls)
		bad_usage("--gateway and --tls exclude each other (no TLS inside TLS)");
	if (!o->gateway && (o->cert || o->key || o->ca || o->servername))
		bad_usage("--cert, --key, --ca and --servername go with --gateway");
	if ((o->cert == NULL) != (o->key == NULL))
		bad_usage("--cert and --key go together");
	if (o->rate > 0 && o->mode != BENCH_HTTP)
		bad_usage("--rate goes with --mode http");
	if (o->drain && o->mode != BENCH_TUNNEL && o->mode != BENCH_SETUP)
		bad_usage("--drain goes with --mode tunnel or setup");
	if (o->stall > 0 && (o->mode != BENCH_TUNNEL || o->direction != BENCH_DOWN))
		bad_usage("--stall goes with --mode tunnel --direction down");
	if (o->stall > 0 && o->stall >= o->connections)
		bad_usage("--stall: fewer than -c, so that some slots read");
	if (o->requests > 0 && o->mode == BENCH_IDLE)
		bad_usage("--requests does not apply to --mode idle: -c is the "
		    "number of tunnels");
	if (!size_given)
		o->size = o->mode == BENCH_SETUP ? 64 : o->mode == BENCH_TUNNEL ?
		    64ULL << 20 : 100;
	if (o->mode == BENCH_TUNNEL && o->size == 0)
		bad_usage("--size: a tunnel needs at least one byte");
	if (o->requests > 0)
		o->warmup = 0;
	if (threads == 0)
		threads = 2;
	o->threads = threads < o->connections ? threads : o->connections;
	if (o->mode == BENCH_IDLE)
		o->open_parallel = (o->open_parallel + o->threads - 1) / o->threads;
}

/* The run fails here, not in a thousand connections: is anything listening? */
static void
check_reachable(const struct bench *b)
{
	const char	*what = b->o.proxy ? "the proxy" : "the target";
	const char	*where = b->o.proxy ? b->o.proxy : b->o.target;
	struct pollfd	 pfd;
	socklen_t	 elen = sizeof(int);
	int		 fd, e = 0;

	if ((fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		err(BENCH_EXIT_USAGE, "socket");
	if (connect(fd, (const struct sockaddr *)&b->addr, b->addrlen) == -1) {
		e = errno;
		if (e == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, 3000) != 1)
				e = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
				e = errno;
		}
	}
	close(fd);
	if (e != 0) {
		fprintf(stderr, "arcbench: cannot connect to %s at %s: %s\n", what,
		    where, strerror(e));
		exit(BENCH_EXIT_USAGE);
	}
}

static void
prepare_requests(struct bench *b)
{
	const struct bench_opts	*o = &b->o;
	int			 n;

	if (o->proxy != NULL && !o->tls)
		n = snprintf(b->request, sizeof(b->request),
		    "GET http://%s/bytes/%llu HTTP/1.1\r\nHost: %s\r\n"
		    "User-Agent: arcbench\r\n\r\n", o->target,
		    (unsigned long long)o->size, o->target);
	else
		n = snprintf(b->request, sizeof(b->request),
		    "GET /bytes/%llu HTTP/1.1\r\nHost: %s\r\n"
		    "User-Agent: arcbench\r\n\r\n",
		    (unsigned long long)o->size, o->target);
	b->request_len = (size_t)n;
	n = snprintf(b->connect, sizeof(b->connect),
	    "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: arcbench\r\n\r\n",
	    o->target, o->target);
	b->connect_len = (size_t)n;
	b->want_up = o->mode == BENCH_SETUP ? o->size :
	    o->mode == BENCH_TUNNEL && (o->direction & BENCH_UP) ? o->size : 0;
	b->want_down = o->mode == BENCH_SETUP ? o->size :
	    o->mode == BENCH_TUNNEL && (o->direction & BENCH_DOWN) ? o->size : 0;
}

/* Descriptors: one per connection, and a spare few. */
static void
check_fd_limit(const struct bench_opts *o)
{
	struct rlimit	rl;
	rlim_t		need = (rlim_t)o->connections + BENCH_FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(BENCH_EXIT_USAGE, "getrlimit");
	if (rl.rlim_cur < need && rl.rlim_max >= need) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need)
		bad_usage("--connections %d needs %llu open files; the limit here is "
		    "%llu", o->connections, (unsigned long long)need,
		    (unsigned long long)rl.rlim_cur);
}

static void
thread_window(evutil_socket_t fd, short what, void *arg)
{
	struct bthread	*t = arg;
	uint64_t	 now = bench_now();
	struct timeval	 tv;

	(void)fd;
	(void)what;
	if (!t->draining && !t->measuring && now + 1000 < t->b->t_end) {
		t->measuring = 1;
		tv.tv_sec = (time_t)((t->b->t_end - now) / 1000000000ULL);
		tv.tv_usec = (suseconds_t)((t->b->t_end - now) % 1000000000ULL / 1000);
		evtimer_add(t->window, &tv);
		return;
	}
	if (t->b->o.drain && !t->draining && t->b->o.requests == 0) {
		/* Closing tunnels under way would test the far end's handling
		 * of aborts, not its speed: they finish, within --timeout. */
		tv.tv_sec = (time_t)t->b->o.timeout;
		tv.tv_usec = (suseconds_t)((t->b->o.timeout - (double)tv.tv_sec) * 1e6);
		evtimer_add(t->window, &tv);
		bconn_drain_all(t);
		return;
	}
	t->stopping = 1;
	event_base_loopexit(t->base, NULL);
}

static void
thread_control(evutil_socket_t fd, short what, void *arg)
{
	struct bthread	*t = arg;

	(void)fd;
	(void)what;
	t->stopping = 1;
	event_base_loopexit(t->base, NULL);
}

static void
thread_start(evutil_socket_t fd, short what, void *arg)
{
	struct bthread	*t = arg;
	struct bench	*b = t->b;
	uint64_t	 now = bench_now();
	struct timeval	 tv = { 0, 0 };

	(void)fd;
	(void)what;
	t->measuring = b->o.requests > 0 || b->o.mode == BENCH_IDLE ||
	    b->o.warmup == 0;
	if (b->o.mode != BENCH_IDLE) {
		/* The window opens at t_measure and closes at t_end. */
		uint64_t next = t->measuring ? b->t_end : b->t_measure;

		if (next > now) {
			tv.tv_sec = (time_t)((next - now) / 1000000000ULL);
			tv.tv_usec = (suseconds_t)((next - now) % 1000000000ULL / 1000);
		}
		evtimer_add(t->window, &tv);
	}
	bconn_start_all(t);
}

static void *
thread_main(void *arg)
{
	struct bthread	*t = arg;
	struct event	*start;
	uint64_t	 now = bench_now();
	struct timeval	 tv = { 0, 0 };

	if ((start = evtimer_new(t->base, thread_start, t)) == NULL)
		errx(BENCH_EXIT_USAGE, "out of memory");
	if (t->b->t_start > now) {
		tv.tv_sec = (time_t)((t->b->t_start - now) / 1000000000ULL);
		tv.tv_usec = (suseconds_t)((t->b->t_start - now) % 1000000000ULL / 1000);
	}
	evtimer_add(start, &tv);
	event_base_dispatch(t->base);
	t->stopping = 1;
	event_free(start);
	return NULL;
}

static void
thread_init(struct bench *b, struct bthread *t, int id, int conn_base, int n)
{
	struct event_config	*cfg;

	memset(t, 0, sizeof(*t));
	t->b = b;
	t->id = id;
	t->conn_base = conn_base;
	hist_init(&t->st.latency);
	/* Open-loop schedules need better than the millisecond of epoll's
	 * timeout; elsewhere precise timers would cost a syscall per read. */
	if ((cfg = event_config_new()) == NULL)
		errx(BENCH_EXIT_USAGE, "out of memory");
	if (b->o.rate > 0)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	t->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (t->base == NULL ||
	    (t->window = evtimer_new(t->base, thread_window, t)) == NULL ||
	    (t->control = event_new(t->base, -1, 0, thread_control, t)) == NULL ||
	    (t->sink = evbuffer_new()) == NULL)
		errx(BENCH_EXIT_USAGE, "cannot set up an event loop");
	if (bconn_new_all(t, n) == NULL)
		errx(BENCH_EXIT_USAGE, "out of memory for %d connections", n);
	if (b->o.requests > 0)
		t->ops_share = b->o.requests / (uint64_t)b->o.threads +
		    ((uint64_t)id < b->o.requests % (uint64_t)b->o.threads);
}

static void
thread_free(struct bthread *t)
{
	bconn_free_all(t->conns, t->nconns);
	if (t->session != NULL)
		SSL_SESSION_free(t->session);
	evbuffer_free(t->sink);
	event_free(t->window);
	event_free(t->control);
	event_base_free(t->base);
}

static void
stop_threads(struct bench *b)
{
	int	i;

	for (i = 0; i < b->o.threads; i++)
		event_active(b->threads[i].control, EV_READ, 0);
}

/* Every --pid process, into ps[0..npids). */
static void
sample(const struct bench *b, struct procstat *ps, const char *when)
{
	int	i;

	for (i = 0; i < b->o.npids; i++)
		if (procstat_read(b->o.pids[i], &ps[i]) == -1)
			warn("cannot read /proc/%d %s", (int)b->o.pids[i], when);
}

/* Idle mode: wait until every tunnel is held or failed, within the duration. */
static void
wait_idle(struct bench *b, struct bench_result *r)
{
	uint64_t	deadline = b->t_start + (uint64_t)(b->o.duration * 1e9);
	int		held, failed, i;

	for (i = 0; i < 1000000; i++) {
		held = __atomic_load_n(&b->held, __ATOMIC_RELAXED);
		failed = __atomic_load_n(&b->idle_failed, __ATOMIC_RELAXED);
		if (held + failed >= b->o.connections || bench_now() >= deadline)
			break;
		usleep(20000);
	}
	r->held = __atomic_load_n(&b->held, __ATOMIC_RELAXED);
	r->seconds = (double)(bench_now() - b->t_start) / 1e9;
	/* Let the proxy settle what the last tunnels allocated. */
	usleep(200000);
	if (b->o.npids > 0 && procstat_read(b->o.pids[0], &r->proc_held) == -1)
		warn("cannot read /proc/%d with the tunnels open", (int)b->o.pids[0]);
	sleep_until(bench_now() + (uint64_t)(b->o.hold * 1e9));
	sample(b, r->proc_after, "after the hold");
}

static void
merge(struct bench *b, struct bench_result *r)
{
	struct bench_stats	*tot = &r->total;
	uint64_t		 last = 0;
	int			 i, k;

	hist_init(&tot->latency);
	for (i = 0; i < b->o.threads; i++) {
		struct bench_stats *s = &b->threads[i].st;

		tot->ops += s->ops;
		tot->bytes_down += s->bytes_down;
		tot->bytes_up += s->bytes_up;
		tot->connects += s->connects;
		tot->retries += s->retries;
		tot->tls_handshakes += s->tls_handshakes;
		tot->tls_resumed += s->tls_resumed;
		for (k = 0; k < BERR__COUNT; k++)
			tot->errors[k] += s->errors[k];
		hist_merge(&tot->latency, &s->latency);
		if (b->threads[i].last_done > last)
			last = b->threads[i].last_done;
	}
	if (b->o.mode == BENCH_IDLE)
		return;
	if (b->o.requests > 0)
		r->seconds = last > b->t_measure ?
		    (double)(last - b->t_measure) / 1e9 : 0;
	else
		r->seconds = (double)(b->t_end - b->t_measure) / 1e9;
}

int
main(int argc, char **argv)
{
	struct bench		 b;
	struct bench_result	 r;
	uint64_t		 errors = 0;
	int			 i, base = 0, n, k;

	memset(&b, 0, sizeof(b));
	memset(&r, 0, sizeof(r));
	parse_args(argc, argv, &b.o);
	log_init("arcbench", 1, LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	check_fd_limit(&b.o);
	parse_addr(b.o.proxy ? "--proxy" : "--target",
	    b.o.proxy ? b.o.proxy : b.o.target, &b.addr, &b.addrlen);
	for (i = 0; i < b.o.npids; i++)
		if (procstat_read(b.o.pids[i], &r.proc_before[i]) == -1)
			err(BENCH_EXIT_USAGE, "--pid %d: cannot read /proc/%d",
			    (int)b.o.pids[i], (int)b.o.pids[i]);
	check_reachable(&b);
	prepare_requests(&b);
	if ((b.pattern = pattern_new()) == NULL)
		errx(BENCH_EXIT_USAGE, "out of memory");
	if (b.o.tls) {
		struct tls_client_conf	tc = { .no_verify = 1 };
		char			why[256];

		/* Load, not trust: the bytes are what is verified. */
		if ((b.ssl = tls_client_ctx(&tc, why, sizeof(why))) == NULL)
			errx(BENCH_EXIT_USAGE, "%s", why);
	}
	if (b.o.gateway) {
		char	why[256];

		if ((b.proxy_ssl = bconn_gateway_ctx(&b.o, why, sizeof(why))) == NULL)
			errx(BENCH_EXIT_USAGE, "%s", why);
	}
	if (evthread_use_pthreads() == -1)
		errx(BENCH_EXIT_USAGE, "libevent without thread support");
	if ((b.threads = calloc((size_t)b.o.threads, sizeof(*b.threads))) == NULL)
		errx(BENCH_EXIT_USAGE, "out of memory");
	b.t_start = bench_now() + BENCH_START_DELAY_NS +
	    (uint64_t)b.o.connections * 2000;	/* 2 us per slot to set up */
	b.t_measure = b.t_start + (uint64_t)(b.o.warmup * 1e9);
	b.t_end = b.t_measure + (uint64_t)(b.o.duration * 1e9);
	for (i = 0; i < b.o.threads; i++) {
		n = b.o.connections / b.o.threads + (i < b.o.connections % b.o.threads);
		thread_init(&b, &b.threads[i], i, base, n);
		base += n;
	}
	for (i = 0; i < b.o.threads; i++)
		if (pthread_create(&b.threads[i].thread, NULL, thread_main,
		    &b.threads[i]) != 0)
			errx(BENCH_EXIT_USAGE, "cannot start thread %d", i);
	if (b.o.mode == BENCH_IDLE) {
		sleep_until(b.t_start);
		wait_idle(&b, &r);
		stop_threads(&b);
	} else if (b.o.npids > 0) {
		sleep_until(b.t_measure);
		sample(&b, r.proc_before, "at the start");
		if (b.o.requests == 0) {
			/* At the window's end, not after a --drain. */
			sleep_until(b.t_end);
			sample(&b, r.proc_after, "at the end");
		}
	}
	for (i = 0; i < b.o.threads; i++)
		pthread_join(b.threads[i].thread, NULL);
	if (b.o.mode != BENCH_IDLE && (b.o.requests > 0 || b.o.npids == 0))
		sample(&b, r.proc_after, "at the end");
	r.have_proc = b.o.npids > 0;
	merge(&b, &r);
	for (k = 0; k < BERR__COUNT; k++)
		errors += r.total.errors[k];
	if (b.o.mode == BENCH_IDLE)
		r.exit_status = r.held == b.o.connections && errors == 0 ? 0 :
		    BENCH_EXIT_FAILED;
	else
		r.exit_status = r.total.ops > 0 && errors == 0 ? 0 : BENCH_EXIT_FAILED;
	if (b.o.json) {
		if (report_json(&b, &r) == -1)
			errx(BENCH_EXIT_USAGE, "cannot write the JSON report");
	} else
		report_human(&b, &r);
	for (i = 0; i < b.o.threads; i++)
		thread_free(&b.threads[i]);
	free(b.threads);
	pattern_free(b.pattern);
	SSL_CTX_free(b.ssl);
	SSL_CTX_free(b.proxy_ssl);
	return r.exit_status;
}
