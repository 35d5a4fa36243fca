/* metrics.h -- per-worker counters, written by one worker thread, summed by the admin thread into Prometheus text. */
#ifndef METRICS_H
#define METRICS_H

#include <stdint.h>

#include "gw.h"
#include "route.h"
#include "status.h"

#define METRICS_CLASSES	6		/* 1xx..5xx, then "other" */

struct metrics {
	uint64_t	connections;			/* accepted */
	uint64_t	connections_open;		/* gauge */
	uint64_t	requests[ROUTE__COUNT][METRICS_CLASSES];
	uint64_t	tunnels[ROUTE__COUNT];
	uint64_t	tunnels_open[ROUTE__COUNT];	/* gauge */
	uint64_t	bytes_up[ROUTE__COUNT];		/* client to upstream */
	uint64_t	bytes_down[ROUTE__COUNT];	/* upstream to client */
	uint64_t	errors[PXE__COUNT];
	uint64_t	pool_hits;
	uint64_t	pool_misses;
	uint64_t	accept_backoffs;
	uint64_t	gateway_up;			/* gauge: 1 per worker */
	uint64_t	buffered_bytes;			/* gauge: in connection buffers */
	uint64_t	accesslog_errors;		/* access-log writes lost */
	struct gw_stats	gw;				/* the gateway route's connections */
};

/* One writer (the worker), relaxed readers (the admin thread): no lock prefix. */
#define METRIC_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), \
	    __ATOMIC_RELAXED)
#define METRIC_SUB(field, n)	METRIC_ADD(field, -(uint64_t)(n))
#define METRIC_SET(field, v)	__atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

struct evbuffer;

void	metrics_sum(struct metrics *total, const struct metrics *w);
void	metrics_render(const struct metrics *total, struct evbuffer *out);
int	metrics_class(int status);

#endif
