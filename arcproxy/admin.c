/* admin.c -- the admin listener: GET /metrics (Prometheus text) and GET /healthz, served from the main thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin.h"
#include "config.h"
#include "metrics.h"
#include "proxy.h"
#include "upstream.h"
#include "worker.h"

struct admin {
	struct proxy	*px;
	struct evhttp	*http;
};

static void
admin_metrics(struct evhttp_request *req, void *arg)
{
	struct admin	*a = arg;
	struct metrics	 total;
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);
	int		 i;

	memset(&total, 0, sizeof(total));
	for (i = 0; i < a->px->nworkers; i++)
		metrics_sum(&total, &a->px->workers[i].stats);
	metrics_render(&total, out);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
admin_healthz(struct evhttp_request *req, void *arg)
{
	struct admin	*a = arg;
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);
	int		 r;

	evbuffer_add_printf(out, "{\"status\":\"ok\",\"workers\":%d,"
	    "\"connections\":%d,\"routes\":{", a->px->nworkers,
	    __atomic_load_n(&a->px->nconns, __ATOMIC_RELAXED));
	for (r = 0; r < ROUTE_DENY; r++)
		evbuffer_add_printf(out, "%s\"%s\":\"%s\"", r ? "," : "",
		    route_names[r], upstream_routes[r] != NULL ? "up" :
		    "not available");
	evbuffer_add_printf(out, "}}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
admin_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "try /metrics or /healthz");
}

struct admin *
admin_new(struct proxy *px, char *err, size_t errlen)
{
	struct admin		*a;
	const struct config	*cfg = px->cfg;
	char			 host[64];
	int			 port;

	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->http = evhttp_new(px->base)) == NULL) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->px = px;
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_cb(a->http, "/metrics", admin_metrics, a);
	evhttp_set_cb(a->http, "/healthz", admin_healthz, a);
	evhttp_set_gencb(a->http, admin_other, a);
	if (getnameinfo((const struct sockaddr *)&cfg->admin, cfg->admin_len,
	    host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0) {
		snprintf(err, errlen, "admin_listen: bad address");
		goto fail;
	}
	port = ntohs(((const struct sockaddr_in *)&cfg->admin)->sin_port);
	if (evhttp_bind_socket(a->http, host, (ev_uint16_t)port) != 0) {
		snprintf(err, errlen, "admin_listen %s:%d: cannot listen", host, port);
		goto fail;
	}
	return a;
 fail:
	evhttp_free(a->http);
	free(a);
	return NULL;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	evhttp_free(a->http);
	free(a);
}
