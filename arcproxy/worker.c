/* worker.c -- one event loop per thread: its listeners, connections, DNS, idle pool and counters. */
#include <sys/eventfd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "accesslog.h"
#include "conn.h"
#include "fastio.h"
#include "gw.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "proxy.h"
#include "worker.h"

static struct evdns_base *
worker_dns(struct event_base *base, const struct config *cfg, char *err,
    size_t errlen)
{
	struct evdns_base	*dns;
	int			 i;

	if (cfg->ndns_servers == 0) {
		/* /etc/resolv.conf (and /etc/hosts); a machine without one
		 * still works with the config's hosts table. */
		dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (dns == NULL)
			dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (dns == NULL)
			snprintf(err, errlen, "cannot set up the DNS resolver");
		return dns;
	}
	if ((dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL) {
		snprintf(err, errlen, "cannot set up the DNS resolver");
		return NULL;
	}
	for (i = 0; i < cfg->ndns_servers; i++)
		if (evdns_base_nameserver_ip_add(dns, cfg->dns_servers[i]) != 0) {
			snprintf(err, errlen, "dns_servers: \"%s\" is not a usable "
			    "address", cfg->dns_servers[i]);
			evdns_base_free(dns, 0);
			return NULL;
		}
	return dns;
}

/* Each worker gets an even share of the process's buffer budget. */
static size_t
worker_budget(const struct config *cfg)
{
	return (size_t)(cfg->limits.buffer_budget_bytes / cfg->workers);
}

static void
worker_drained(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)what;
	if (w->nconns > 0)
		log_info("worker %d: drain time over, closing %zu connections",
		    w->id, w->nconns);
	w->tunnels_cut = 1;
	conn_shutdown_all(w);
	event_base_loopexit(w->base, NULL);
}

/*
 * A tunnel (a CONNECT, a WebSocket) may stay open for hours: waiting for
 * it would hold the whole drain for nothing.  Requests in flight get the
 * drain time; tunnels a short grace, then they close, each with its line.
 */
static void
worker_tunnels_over(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	(void)fd;
	(void)what;
	w->tunnels_cut = 1;
	conn_cut_tunnels(w);
}

static void
worker_gw_state(void *arg, enum gw_state state, const char *reason, int endpoints)
{
	struct worker	*w = arg;

	pthread_mutex_lock(&w->lock);
	w->gw_status.state = state;
	w->gw_status.endpoints = endpoints;
	w->gw_status.list_fetched = w->gw != NULL ? gw_list_fetched(w->gw) : 0;
	snprintf(w->gw_status.last_error, sizeof(w->gw_status.last_error), "%s",
	    reason);
	pthread_mutex_unlock(&w->lock);
	METRIC_SET(w->stats.gateway_up, state == GW_STATE_UP);
}

void
worker_gw_status(struct worker *w, struct worker_gw_status *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->gw_status;
	pthread_mutex_unlock(&w->lock);
}

/* The gateway route exists when agent.conf names a gateway. */
static int
worker_gw_setup(struct worker *w, const struct config *cfg, char *err,
    size_t errlen)
{
	struct gw_settings	s;
	struct gw		*gw;

	if (cfg->gw_host[0] == '\0') {
		gw_free(w->gw);
		w->gw = NULL;
		pthread_mutex_lock(&w->lock);
		w->gw_status.configured = 0;
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	memset(&s, 0, sizeof(s));
	snprintf(s.host, sizeof(s.host), "%s", cfg->gw_host);
	s.port = cfg->gw_port;
	snprintf(s.proxy_host, sizeof(s.proxy_host), "%s", cfg->proxy_host);
	s.proxy_port = cfg->proxy_port;
	s.ca_file = cfg->agent.gateway_ca_file;
	s.cert_file = cfg->machine_cert;
	s.key_file = cfg->machine_key;
	s.hosts = cfg->hosts;
	s.nhosts = cfg->nhosts;
	s.connect_timeout_ms = cfg->limits.connect_timeout_ms;
	s.warm = 2;
	s.stats = &w->stats.gw;
	s.protocol = cfg->agent.gateway_protocol == AGENTCONF_PROTO_H2 ? GW_PROTO_H2 :
	    cfg->agent.gateway_protocol == AGENTCONF_PROTO_HTTP11 ? GW_PROTO_HTTP11 :
	    GW_PROTO_AUTO;
	s.on_state = worker_gw_state;
	s.state_arg = w;
	if ((gw = gw_new(w->base, w->dns, &s, err, errlen)) == NULL)
		return -1;
	/* The gateway route's buffers fill and drain at TLS speed; the direct
	 * route measured a little faster on malloc's defaults. */
	fastio_malloc_tune();
	gw_free(w->gw);
	w->gw = gw;
	pthread_mutex_lock(&w->lock);
	w->gw_status.configured = 1;
	w->gw_status.state = GW_STATE_CONNECTING;
	w->gw_status.endpoints = -1;
	w->gw_status.list_fetched = 0;
	w->gw_status.last_error[0] = '\0';
	pthread_mutex_unlock(&w->lock);
	/* Not before worker_start(): a socket opened while arcproxy is still
	 * root belongs to root, and a per-user egress firewall drops it. */
	if (w->started)
		gw_start(gw);
	return 0;
}

/*
 * The main thread wakes a worker through its eventfd, never through the
 * worker's event base: the bases take no lock (EVENT_BASE_FLAG_NOLOCK),
 * which spares every event_add and event_del of the hot path a mutex pair.
 */
static void
worker_wake(struct worker *w)
{
	uint64_t	one = 1;

	/* EAGAIN: the counter is full, so the worker is woken already. */
	while (write(w->control_fd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

/* Woken by the main thread: a new config to take, or a stop. */
static void
worker_control(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	struct config	*cfg;
	struct accesslog *log;
	struct timeval	 tv;
	uint64_t	 n;
	int		 stop;
	long long	 ms;

	(void)what;
	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	pthread_mutex_lock(&w->lock);
	cfg = w->next_cfg;
	log = w->next_log;
	w->next_cfg = NULL;
	w->next_log = NULL;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	if (cfg != NULL) {
		char	err[512];

		/* Live connections keep the config they started with, and
		 * live tunnels their gateway connection.  The gateway client
		 * is made anew: the CA file or the machine certificate may
		 * have been replaced in place (a renewal). */
		if (worker_gw_setup(w, cfg, err, sizeof(err)) == -1)
			log_warnx("gateway: %s; keeping the previous settings", err);
		config_unref(w->cfg);
		w->cfg = cfg;
		w->budget.limit = worker_budget(cfg);
		pool_retire(w->pool, cfg);
	}
	if (log != NULL) {
		accesslog_writer_set(w->alog, log);
		accesslog_unref(log);
	}
	if (!stop || w->draining)
		return;
	w->draining = 1;
	listener_close_all(w);
	conn_drain_all(w);
	if (w->nconns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	ms = w->cfg->limits.drain_timeout_ms;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(w->drain_timer, &tv);
	if (w->cfg->limits.drain_tunnel_grace_ms < ms) {
		ms = w->cfg->limits.drain_tunnel_grace_ms;
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(w->tunnel_timer, &tv);
	}
}

int
worker_init(struct worker *w, struct proxy *px, int id, struct config *cfg,
    struct accesslog *log, char *err, size_t errlen)
{
	struct event_config	*ecfg;

	memset(w, 0, sizeof(*w));
	w->control_fd = -1;
	w->px = px;
	w->id = id;
	w->cfg = config_ref(cfg);
	TAILQ_INIT(&w->conns);
	pthread_mutex_init(&w->lock, NULL);
	budget_init(&w->budget, worker_budget(cfg), &w->stats.buffered_bytes);
	relay_pipes_init(&w->pipes);
	if ((ecfg = event_config_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Batch the many enable/disable pairs of one loop pass into one
	 * epoll_ctl each (or none).  Only this worker's thread touches its
	 * base once it runs: no lock (see worker_wake). */
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (w->base == NULL) {
		snprintf(err, errlen, "cannot create an event loop");
		return -1;
	}
	if ((w->dns = worker_dns(w->base, cfg, err, errlen)) == NULL)
		return -1;
	if ((w->control_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if ((w->pool = pool_new(w->base)) == NULL ||
	    (w->alog = accesslog_writer_new(w->base, log)) == NULL ||
	    (w->control = event_new(w->base, w->control_fd, EV_READ | EV_PERSIST,
	    worker_control, w)) == NULL || event_add(w->control, NULL) == -1 ||
	    (w->drain_timer = evtimer_new(w->base, worker_drained, w)) == NULL ||
	    (w->tunnel_timer = evtimer_new(w->base, worker_tunnels_over,
	    w)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (listener_open_all(w, err, errlen) == -1)
		return -1;
	return worker_gw_setup(w, cfg, err, errlen);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int
worker_start(struct worker *w)
{
	w->started = 1;
	if (w->gw != NULL)
		gw_start(w->gw);
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void
worker_reload(struct worker *w, struct config *cfg, struct accesslog *log)
{
	pthread_mutex_lock(&w->lock);
	config_unref(w->next_cfg);
	accesslog_unref(w->next_log);
	w->next_cfg = config_ref(cfg);
	w->next_log = log != NULL ? accesslog_ref(log) : NULL;
	pthread_mutex_unlock(&w->lock);
	worker_wake(w);
}

void
worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_mutex_unlock(&w->lock);
	worker_wake(w);
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void
worker_conn_closed(struct worker *w)
{
	w->nconns--;
	__atomic_sub_fetch(&w->px->nconns, 1, __ATOMIC_RELAXED);
	if (w->draining && w->nconns == 0)
		event_base_loopexit(w->base, NULL);
}

void
worker_free(struct worker *w)
{
	conn_free_all(w);
	relay_pipes_fini(&w->pipes);
	/* Idle upstreams include gateway tunnels, each holding the gateway:
	 * they go before it, so that its last reference is dropped, and its
	 * memory freed, by the loop below. */
	pool_free(w->pool);
	w->pool = NULL;
	gw_free(w->gw);
	/* Let deferred callbacks (bufferevent pairs of h2 tunnels, the
	 * gateway's reap) finish, so that what they hold is released before
	 * the base goes. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	listener_close_all(w);
	accesslog_writer_free(w->alog);
	if (w->control != NULL)
		event_free(w->control);
	if (w->control_fd != -1)
		close(w->control_fd);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->tunnel_timer != NULL)
		event_free(w->tunnel_timer);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	if (w->base != NULL)
		event_base_free(w->base);
	config_unref(w->cfg);
	config_unref(w->next_cfg);
	accesslog_unref(w->next_log);
	pthread_mutex_destroy(&w->lock);
}
