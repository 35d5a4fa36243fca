/* metrics.c -- per-worker counters, written by one worker thread, summed by the admin thread into Prometheus text. */
#include <stddef.h>

#include <event2/buffer.h>

#include "metrics.h"

static const char *const metrics_reset_names[GW_RESET__COUNT] = {
	"peer_reset", "cancelled", "connection_lost", "refused"
};

static const char *const metrics_class_names[METRICS_CLASSES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx", "other"
};

int
metrics_class(int status)
{
	if (status >= 100 && status < 600)
		return status / 100 - 1;
	return METRICS_CLASSES - 1;
}

void
metrics_sum(struct metrics *t, const struct metrics *w)
{
	const uint64_t	*src = (const uint64_t *)w;
	uint64_t	*dst = (uint64_t *)t;
	size_t		 i;

	/* The struct is nothing but uint64_t counters. */
	for (i = 0; i < sizeof(*w) / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static void
metrics_help(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
metrics_by_route(struct evbuffer *out, const char *name, const char *type,
    const char *help, const uint64_t *v)
{
	int	r;

	metrics_help(out, name, type, help);
	for (r = 0; r < ROUTE__COUNT; r++)
		evbuffer_add_printf(out, "%s{route=\"%s\"} %llu\n", name,
		    route_names[r], (unsigned long long)v[r]);
}

void
metrics_render(const struct metrics *m, struct evbuffer *out)
{
	int	r, c, e;

	metrics_help(out, "arcproxy_connections_total", "counter",
	    "Client connections accepted.");
	evbuffer_add_printf(out, "arcproxy_connections_total %llu\n",
	    (unsigned long long)m->connections);
	metrics_help(out, "arcproxy_connections_open", "gauge",
	    "Client connections open now.");
	evbuffer_add_printf(out, "arcproxy_connections_open %llu\n",
	    (unsigned long long)m->connections_open);
	metrics_help(out, "arcproxy_requests_total", "counter",
	    "HTTP requests forwarded or refused, by route and status class.");
	for (r = 0; r < ROUTE__COUNT; r++)
		for (c = 0; c < METRICS_CLASSES; c++)
			evbuffer_add_printf(out, "arcproxy_requests_total"
			    "{route=\"%s\",code=\"%s\"} %llu\n", route_names[r],
			    metrics_class_names[c],
			    (unsigned long long)m->requests[r][c]);
	metrics_by_route(out, "arcproxy_tunnels_total", "counter",
	    "CONNECT and Upgrade tunnels established.", m->tunnels);
	metrics_by_route(out, "arcproxy_tunnels_open", "gauge",
	    "Tunnels open now.", m->tunnels_open);
	metrics_help(out, "arcproxy_bytes_total", "counter",
	    "Bytes relayed, by route and direction (up: client to destination).");
	for (r = 0; r < ROUTE__COUNT; r++)
		evbuffer_add_printf(out,
		    "arcproxy_bytes_total{route=\"%s\",direction=\"up\"} %llu\n"
		    "arcproxy_bytes_total{route=\"%s\",direction=\"down\"} %llu\n",
		    route_names[r], (unsigned long long)m->bytes_up[r],
		    route_names[r], (unsigned long long)m->bytes_down[r]);
	metrics_help(out, "arcproxy_errors_total", "counter",
	    "Failed requests and tunnels, by kind.");
	for (e = 1; e < PXE__COUNT; e++)
		evbuffer_add_printf(out, "arcproxy_errors_total{kind=\"%s\"} %llu\n",
		    px_errors[e].label, (unsigned long long)m->errors[e]);
	metrics_help(out, "arcproxy_upstream_pool_total", "counter",
	    "Upstream connections taken from the idle pool (hit) or opened (miss).");
	evbuffer_add_printf(out,
	    "arcproxy_upstream_pool_total{result=\"hit\"} %llu\n"
	    "arcproxy_upstream_pool_total{result=\"miss\"} %llu\n",
	    (unsigned long long)m->pool_hits, (unsigned long long)m->pool_misses);
	metrics_help(out, "arcproxy_accept_backoffs_total", "counter",
	    "Times accepting paused because the process ran out of descriptors.");
	evbuffer_add_printf(out, "arcproxy_accept_backoffs_total %llu\n",
	    (unsigned long long)m->accept_backoffs);
	metrics_help(out, "arcproxy_accesslog_errors_total", "counter",
	    "Access-log writes that failed or came short (their lines are lost).");
	evbuffer_add_printf(out, "arcproxy_accesslog_errors_total %llu\n",
	    (unsigned long long)m->accesslog_errors);
	metrics_help(out, "arcproxy_buffered_bytes", "gauge",
	    "Bytes held in connection buffers (limits.buffer_budget_bytes bounds them).");
	evbuffer_add_printf(out, "arcproxy_buffered_bytes %llu\n",
	    (unsigned long long)m->buffered_bytes);
	metrics_help(out, "arcproxy_gateway_up", "gauge",
	    "Workers whose last connection to the Arc gateway succeeded.");
	evbuffer_add_printf(out, "arcproxy_gateway_up %llu\n",
	    (unsigned long long)m->gateway_up);
	metrics_help(out, "arcproxy_gateway_connections", "gauge",
	    "TLS connections to the gateway, by protocol (h2: multiplexed).");
	evbuffer_add_printf(out,
	    "arcproxy_gateway_connections{protocol=\"h2\"} %llu\n"
	    "arcproxy_gateway_connections{protocol=\"http/1.1\"} %llu\n",
	    (unsigned long long)m->gw.h2_connections_open,
	    (unsigned long long)(m->gw.connections_open - m->gw.h2_connections_open));
	metrics_help(out, "arcproxy_gateway_connections_total", "counter",
	    "TLS connections made to the gateway.");
	evbuffer_add_printf(out, "arcproxy_gateway_connections_total %llu\n",
	    (unsigned long long)m->gw.connections_total);
	metrics_help(out, "arcproxy_gateway_streams_open", "gauge",
	    "Tunnels open as HTTP/2 streams.");
	evbuffer_add_printf(out, "arcproxy_gateway_streams_open %llu\n",
	    (unsigned long long)m->gw.streams_open);
	metrics_help(out, "arcproxy_gateway_streams_total", "counter",
	    "Tunnels opened as HTTP/2 streams.");
	evbuffer_add_printf(out, "arcproxy_gateway_streams_total %llu\n",
	    (unsigned long long)m->gw.streams_total);
	metrics_help(out, "arcproxy_gateway_streams_per_connection", "gauge",
	    "Open streams per multiplexed connection.");
	evbuffer_add_printf(out, "arcproxy_gateway_streams_per_connection %.2f\n",
	    m->gw.h2_connections_open ? (double)m->gw.streams_open /
	    (double)m->gw.h2_connections_open : 0.0);
	metrics_help(out, "arcproxy_gateway_stream_resets_total", "counter",
	    "HTTP/2 tunnels that ended with a reset, by reason.");
	for (r = 0; r < GW_RESET__COUNT; r++)
		evbuffer_add_printf(out,
		    "arcproxy_gateway_stream_resets_total{reason=\"%s\"} %llu\n",
		    metrics_reset_names[r], (unsigned long long)m->gw.resets[r]);
}
