/* admin.c -- the admin listener: GET /metrics (Prometheus text), GET /healthz, GET /status (JSON) and POST /identity/reload, served from the main thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "acceptor.h"
#include "accesslog.h"
#include "admin.h"
#include "config.h"
#include "gw.h"
#include "log.h"
#include "metrics.h"
#include "peercred.h"
#include "proxy.h"
#include "upstream.h"
#include "version.h"
#include "worker.h"

#define ADMIN_MAX_HEAD	8192	/* request line and headers (else 431/400) */
#define ADMIN_MAX_BODY	1024	/* nothing here takes a body (else 413) */

struct admin {
	struct proxy	*px;
	struct evhttp	*http;
	struct acceptor	*acceptor;	/* pauses evhttp's listener on EMFILE */
};

/* GET and HEAD only: POST is for /identity/reload. */
static int
admin_not_get(struct evhttp_request *req)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
		return 0;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    "GET, HEAD");
	evhttp_send_error(req, 405, "GET only");
	return 1;
}

static void
admin_metrics(struct evhttp_request *req, void *arg)
{
	struct admin	*a = arg;
	struct metrics	 total;
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);
	int		 i;

	if (admin_not_get(req))
		return;
	memset(&total, 0, sizeof(total));
	for (i = 0; i < a->px->nworkers; i++) {
		metrics_sum(&total, &a->px->workers[i].stats);
		total.accesslog_errors +=
		    accesslog_writer_errors(a->px->workers[i].alog);
	}
	/* The admin port's own pauses (this thread's acceptor) count too. */
	total.accept_backoffs += acceptor_pauses(a->acceptor);
	metrics_render(&total, out);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
admin_json_string(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			evbuffer_add_printf(out, "\\u%04x", (unsigned char)*s);
		else
			evbuffer_add(out, s, 1);
	}
	evbuffer_add(out, "\"", 1);
}

static void
admin_json_string_or_null(struct evbuffer *out, const char *s)
{
	if (s == NULL || s[0] == '\0')
		evbuffer_add_printf(out, "null");
	else
		admin_json_string(out, s);
}

/*
 * 200 when every configured route can carry traffic, 503 when the gateway
 * route is configured and down in every worker: a monitor can alert on it.
 */
static void
admin_healthz(struct evhttp_request *req, void *arg)
{
	struct admin		*a = arg;
	struct proxy		*px = a->px;
	struct evbuffer		*out = evhttp_request_get_output_buffer(req);
	struct worker_gw_status	 st, best;
	int			 i, up = 0, status;

	if (admin_not_get(req))
		return;
	memset(&best, 0, sizeof(best));
	best.state = -1;
	for (i = 0; i < px->nworkers; i++) {
		worker_gw_status(&px->workers[i], &st);
		if (st.configured && (best.state == -1 || st.state == GW_STATE_UP))
			best = st;
		up += st.configured && st.state == GW_STATE_UP;
	}
	status = best.configured && up == 0 && best.state == GW_STATE_DOWN ?
	    503 : 200;
	evbuffer_add_printf(out, "{\"status\":\"%s\",\"workers\":%d,"
	    "\"connections\":%d,\"connection_type\":\"%s\",\"gateway\":",
	    status == 200 ? "ok" : "degraded", px->nworkers,
	    __atomic_load_n(&px->nconns, __ATOMIC_RELAXED),
	    px->cfg->agent.connection_type == AGENTCONF_GATEWAY ? "gateway" : "direct");
	if (!best.configured)
		evbuffer_add_printf(out, "null");
	else {
		/* A worker may still run the gateway of the configuration
		 * before a reload that left gateway mode: no URL now. */
		evbuffer_add_printf(out, "{\"url\":");
		admin_json_string_or_null(out, px->cfg->agent.gateway_url);
		evbuffer_add_printf(out, ",\"state\":\"%s\",\"workers_up\":%d,"
		    "\"endpoints\":%d,\"last_error\":", gw_state_name(best.state),
		    up, best.endpoints);
		admin_json_string(out, best.last_error);
		evbuffer_add_printf(out, "}");
	}
	evbuffer_add_printf(out, ",\"proxy\":");
	if (px->cfg->agent.proxy_url != NULL)
		admin_json_string(out, px->cfg->agent.proxy_url);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add_printf(out, "}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Service Unavailable",
	    NULL);
}

/* "127.0.0.1:40343" or "[::1]:40343", as a JSON string. */
static void
admin_json_addr(struct evbuffer *out, const struct sockaddr_storage *ss,
    socklen_t len)
{
	char	host[64], port[8];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host),
	    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		evbuffer_add_printf(out, "null");
		return;
	}
	evbuffer_add_printf(out, ss->ss_family == AF_INET6 ? "\"[%s]:%s\"" :
	    "\"%s:%s\"", host, port);
}

/* A time(3) as "2026-01-02T03:04:05Z", or null for 0. */
static void
admin_json_time(struct evbuffer *out, long long t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;
	char		stamp[32];

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		evbuffer_add_printf(out, "null");
		return;
	}
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	evbuffer_add_printf(out, "\"%s\"", stamp);
}

static const char *const admin_protocol_names[] = { "auto", "h2", "http/1.1" };

/* The gateway as the workers see it: the best worker's state. */
static void
admin_status_gateway(struct evbuffer *out, struct proxy *px)
{
	const struct config	*cfg = px->cfg;
	struct worker_gw_status	 st, best;
	uint64_t		 conns = 0, h2 = 0;
	long long		 fetched = 0;
	int			 i, up = 0, setting;

	memset(&best, 0, sizeof(best));
	best.state = -1;
	for (i = 0; i < px->nworkers; i++) {
		worker_gw_status(&px->workers[i], &st);
		if (st.configured && (best.state == -1 || st.state == GW_STATE_UP))
			best = st;
		up += st.configured && st.state == GW_STATE_UP;
		if (st.list_fetched > fetched)
			fetched = st.list_fetched;
		conns += __atomic_load_n(&px->workers[i].stats.gw.connections_open,
		    __ATOMIC_RELAXED);
		h2 += __atomic_load_n(&px->workers[i].stats.gw.h2_connections_open,
		    __ATOMIC_RELAXED);
	}
	if (!best.configured) {
		evbuffer_add_printf(out, "null");
		return;
	}
	setting = cfg->agent.gateway_protocol;
	if (setting < 0 || setting > AGENTCONF_PROTO_HTTP11)
		setting = AGENTCONF_PROTO_AUTO;
	evbuffer_add_printf(out, "{\"url\":");
	admin_json_string_or_null(out, cfg->agent.gateway_url);
	evbuffer_add_printf(out, ",\"state\":\"%s\",\"backing_off\":%s,"
	    "\"workers_up\":%d,\"protocol\":%s,\"protocol_setting\":\"%s\","
	    "\"connections\":%llu,\"endpoints\":", gw_state_name(best.state),
	    best.state == GW_STATE_DOWN ? "true" : "false", up,
	    h2 > 0 ? "\"h2\"" : conns > 0 ? "\"http/1.1\"" : "null",
	    admin_protocol_names[setting], (unsigned long long)conns);
	if (best.endpoints < 0)
		evbuffer_add_printf(out, "null");
	else
		evbuffer_add_printf(out, "%d", best.endpoints);
	evbuffer_add_printf(out, ",\"last_error\":");
	admin_json_string_or_null(out, best.last_error);
	evbuffer_add_printf(out, ",\"last_list_fetch\":");
	admin_json_time(out, fetched);
	evbuffer_add_printf(out, "}");
}

/*
 * What azcmagent (and an operator) needs to know of the running proxy: its
 * listeners, routes, gateway and upstream proxy, and which configuration
 * it runs, so that nothing has to read arcproxy.conf again.
 */
static void
admin_status(struct evhttp_request *req, void *arg)
{
	struct admin		*a = arg;
	struct proxy		*px = a->px;
	const struct config	*cfg = px->cfg;
	struct evbuffer		*out = evhttp_request_get_output_buffer(req);
	enum route_kind		 def;
	size_t			 i, n;

	if (admin_not_get(req))
		return;
	evbuffer_add_printf(out, "{\"version\":\"%s\",\"pid\":%ld,"
	    "\"config\":{\"path\":", ARC_AGENT_VERSION, (long)getpid());
	admin_json_string(out, cfg->path);
	evbuffer_add_printf(out, ",\"generation\":%lu,\"loaded_at\":",
	    px->cfg_generation);
	admin_json_time(out, (long long)px->cfg_loaded);
	evbuffer_add_printf(out, "},\"listeners\":{\"proxy\":[");
	for (i = 0; i < (size_t)cfg->nlisten; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		admin_json_addr(out, &cfg->listen[i], cfg->listen_len[i]);
	}
	evbuffer_add_printf(out, "],\"admin\":");
	admin_json_addr(out, &cfg->admin, cfg->admin_len);
	evbuffer_add_printf(out, "},\"workers\":%d,\"connections\":%d,"
	    "\"connection_type\":\"%s\",\"config_mode\":\"%s\",\"routes\":[",
	    px->nworkers, __atomic_load_n(&px->nconns, __ATOMIC_RELAXED),
	    cfg->agent.connection_type == AGENTCONF_GATEWAY ? "gateway" : "direct",
	    cfg->agent.config_mode == AGENTCONF_MODE_MONITOR ? "monitor" : "full");
	n = route_table_count(cfg->routes);
	for (i = 0; i < n; i++) {
		evbuffer_add_printf(out, "%s{\"match\":", i > 0 ? "," : "");
		admin_json_string(out, route_rule_pattern(cfg->routes, (int)i));
		evbuffer_add_printf(out, ",\"route\":\"%s\"}",
		    route_names[route_rule_kind(cfg->routes, (int)i)]);
	}
	/* What a destination no rule names takes (conn_pick_route): the
	 * proxy when agent.conf has one and arcproxy.conf names no default;
	 * in gateway mode the gateway's list comes first. */
	def = route_rule_kind(cfg->routes, -1);
	if (cfg->proxy_host[0] != '\0' && !cfg->default_route_set)
		def = ROUTE_PROXY;
	evbuffer_add_printf(out, "],\"default_route\":\"%s\","
	    "\"default_route_set\":%s,\"gateway\":", route_names[def],
	    cfg->default_route_set ? "true" : "false");
	admin_status_gateway(out, px);
	evbuffer_add_printf(out, ",\"upstream_proxy\":");
	admin_json_string_or_null(out, cfg->agent.proxy_url);
	evbuffer_add_printf(out, ",\"upstream_proxy_from\":");
	admin_json_string_or_null(out, cfg->proxy_from);
	/* proxy.bypass's services, as the hosts they go direct to. */
	evbuffer_add_printf(out, ",\"proxy_bypass\":[");
	n = cfg->proxy_bypass != NULL ? route_table_count(cfg->proxy_bypass) : 0;
	for (i = 0; i < n; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		admin_json_string(out, route_rule_pattern(cfg->proxy_bypass, (int)i));
	}
	evbuffer_add_printf(out, "]");
	evbuffer_add_printf(out, ",\"access_log\":");
	admin_json_string_or_null(out, cfg->access_log);
	evbuffer_add_printf(out, "}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", NULL);
}

/*
 * himds, after renewing the machine certificate, asks for the new one to be
 * loaded.  Only root, arcproxy's own user and members of group arc (which
 * reads the machine key anyway) may: the peer's uid comes from the kernel's
 * socket table (lib/peercred), not from anything the client says.
 */
static void
admin_identity_reload(struct evhttp_request *req, void *arg)
{
	struct admin			*a = arg;
	struct evhttp_connection	*conn;
	struct bufferevent		*bev;
	uid_t				 uid;
	char				 err[256];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		evhttp_send_error(req, 405, "POST /identity/reload");
		return;
	}
	if ((conn = evhttp_request_get_connection(req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    peercred_tcp_uid(bufferevent_getfd(bev), &uid, err,
	    sizeof(err)) == -1) {
		log_warnx("identity reload refused: who is asking? %s", err);
		evhttp_send_error(req, 403, "only a local process may ask");
		return;
	}
	if (!peercred_uid_allowed(uid, ADMIN_RELOAD_GROUP)) {
		log_warnx("identity reload refused to uid %ld (not root, "
		    "arcproxy or group %s)", (long)uid, ADMIN_RELOAD_GROUP);
		evhttp_send_error(req, 403, "root, arcproxy or group "
		    ADMIN_RELOAD_GROUP " only");
		return;
	}
	log_info("identity reload asked by uid %ld", (long)uid);
	arcproxy_reload(a->px);
	evbuffer_add_printf(evhttp_request_get_output_buffer(req),
	    "{\"reloaded\":true}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
admin_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "try /metrics, /healthz or /status");
}

struct admin *
admin_new(struct proxy *px, char *err, size_t errlen)
{
	struct admin			*a;
	const struct config		*cfg = px->cfg;
	struct evhttp_bound_socket	*bound;
	char				 host[64];
	int				 port;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto nomem;
	if ((a->http = evhttp_new(px->base)) == NULL ||
	    (a->acceptor = acceptor_new(px->base, NULL, a, err,
	    errlen)) == NULL)
		goto nomem;
	a->px = px;
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEAD);
	evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
	evhttp_set_cb(a->http, "/metrics", admin_metrics, a);
	evhttp_set_cb(a->http, "/healthz", admin_healthz, a);
	evhttp_set_cb(a->http, "/status", admin_status, a);
	evhttp_set_cb(a->http, "/identity/reload", admin_identity_reload, a);
	evhttp_set_gencb(a->http, admin_other, a);
	if (getnameinfo((const struct sockaddr *)&cfg->admin, cfg->admin_len,
	    host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0) {
		snprintf(err, errlen, "admin_listen: bad address");
		goto fail;
	}
	port = ntohs(((const struct sockaddr_in *)&cfg->admin)->sin_port);
	if ((bound = evhttp_bind_socket_with_handle(a->http, host,
	    (ev_uint16_t)port)) == NULL) {
		snprintf(err, errlen, "admin_listen %s:%d: cannot listen", host, port);
		goto fail;
	}
	if (acceptor_watch(a->acceptor, evhttp_bound_socket_get_listener(bound),
	    err, errlen) == -1)
		goto fail;
	return a;
 nomem:
	snprintf(err, errlen, "out of memory");
 fail:
	admin_free(a);
	return NULL;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	/* The acceptor first: it lets go of evhttp's listener. */
	acceptor_free(a->acceptor);
	if (a->http != NULL)
		evhttp_free(a->http);
	free(a);
}
