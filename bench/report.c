/* report.c -- arcbench's results: a short human table, or one JSON object (jansson) for scripts. */
#include <stdio.h>

#include <jansson.h>

#include "bench.h"

static const struct {
	const char	*name;
	double		 q;
} report_quantiles[] = {
	{ "p50", 0.50 }, { "p75", 0.75 }, { "p90", 0.90 }, { "p95", 0.95 },
	{ "p99", 0.99 }, { "p99.9", 0.999 }, { "p99.99", 0.9999 },
};
#define REPORT_NQ	(sizeof(report_quantiles) / sizeof(report_quantiles[0]))

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double
per_s(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0;
}

static uint64_t
error_total(const struct bench_stats *s)
{
	uint64_t	n = 0;
	int		k;

	for (k = 0; k < BERR__COUNT; k++)
		n += s->errors[k];
	return n;
}

/* Idle mode: resident memory the proxy grew by, per tunnel held. */
static double
kib_per_tunnel(const struct bench_result *r)
{
	if (!r->have_proc || r->held == 0)
		return 0;
	return (double)(r->proc_after[0].rss_kib - r->proc_before[0].rss_kib) /
	    r->held;
}

static const char *
op_name(enum bench_mode mode)
{
	switch (mode) {
	case BENCH_HTTP:
		return "requests";
	case BENCH_TUNNEL:
		return "tunnels";
	case BENCH_SETUP:
		return "tunnels";
	default:
		return "tunnels held";
	}
}

void
report_human(const struct bench *b, const struct bench_result *r)
{
	const struct bench_opts		*o = &b->o;
	const struct bench_stats	*s = &r->total;
	const struct hist		*h = &s->latency;
	uint64_t			 nerr = error_total(s);
	int				 k, first = 1;

	printf("arcbench %s%s%s: %s %s -> %s, %llu B, %d connections, %d threads",
	    bench_mode_names[o->mode], o->label[0] ? " " : "", o->label,
	    o->proxy ? (o->gateway ? "via gateway" : "via") : "direct",
	    o->proxy ? o->proxy : "", o->target,
	    (unsigned long long)o->size, o->connections, o->threads);
	if (o->rate > 0)
		printf(", %.0f req/s scheduled", o->rate);
	printf("\n");
	if (o->mode == BENCH_IDLE)
		printf("  %-12s %d of %d open and verified in %.2f s\n", "tunnels",
		    r->held, o->connections, r->seconds);
	else
		printf("  %-12s %llu verified in %.2f s: %.1f/s\n", op_name(o->mode),
		    (unsigned long long)s->ops, r->seconds, per_s(s->ops, r->seconds));
	if (o->mode == BENCH_HTTP || o->mode == BENCH_TUNNEL)
		printf("  %-12s %.1f MB/s down, %.1f MB/s up\n", "throughput",
		    per_s(s->bytes_down, r->seconds) / 1e6,
		    per_s(s->bytes_up, r->seconds) / 1e6);
	if (h->count > 0) {
		printf("  %-12s", o->mode == BENCH_SETUP || o->mode == BENCH_IDLE ?
		    "setup ms" : "latency ms");
		printf(" p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
		    ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.9)),
		    ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)),
		    ms(h->max));
	}
	printf("  %-12s", "errors");
	if (nerr == 0)
		printf(" none");
	for (k = 0; k < BERR__COUNT; k++)
		if (s->errors[k] > 0) {
			printf("%s %s %llu", first ? "" : ",", bench_error_names[k],
			    (unsigned long long)s->errors[k]);
			first = 0;
		}
	printf("\n");
	if (s->tls_handshakes > 0)
		printf("  %-12s %llu handshakes, %llu resumed\n", o->gateway ?
		    "gateway TLS" : "TLS", (unsigned long long)s->tls_handshakes,
		    (unsigned long long)s->tls_resumed);
	for (k = 0; k < o->npids; k++)
		printf("  %-12s pid %d: %.2f CPU s, RSS %ld -> %ld KiB, peak %ld KiB\n",
		    k == 0 ? "proxy" : "  and", (int)o->pids[k],
		    r->proc_after[k].cpu_seconds - r->proc_before[k].cpu_seconds,
		    r->proc_before[k].rss_kib, r->proc_after[k].rss_kib,
		    r->proc_after[k].hwm_kib);
	if (r->have_proc && o->mode == BENCH_IDLE && r->held > 0)
		printf("  %-12s %.2f KiB RSS per idle tunnel\n", "memory",
		    kib_per_tunnel(r));
	if (r->exit_status != 0)
		printf("  FAILED: %s\n", nerr > 0 ? "some operations were not verified" :
		    "no operation completed");
	fflush(stdout);
}

static json_t *
proc_json(const struct procstat *p)
{
	return json_pack("{s:f, s:I, s:I, s:I}", "cpu_seconds", p->cpu_seconds,
	    "rss_kib", (json_int_t)p->rss_kib, "hwm_kib", (json_int_t)p->hwm_kib,
	    "threads", (json_int_t)p->threads);
}

/*
 * Each slot's share of the window's bytes and Jain's index over the slots
 * that read, (sum x)^2 / (n * sum x^2): 1 when all got the same, 1/n when
 * one got everything.
 */
static void
report_fairness(const struct bench *b, const struct bench_result *r,
    json_t *root)
{
	json_t	*per = json_array();
	double	 x, sum = 0, sum2 = 0;
	int64_t	 got;
	int	 k, i, n = 0;

	for (k = 0; k < b->o.threads; k++)
		for (i = 0; i < b->threads[k].nconns; i++) {
			got = bconn_window_down(&b->threads[k], i);
			json_array_append_new(per, got < 0 ? json_null() :
			    json_real(r->seconds > 0 ? (double)got / 1e6 /
			    r->seconds : 0));
			if (got < 0)
				continue;
			x = (double)got;
			sum += x;
			sum2 += x * x;
			n++;
		}
	json_object_set_new(root, "per_connection_mb_per_s", per);
	json_object_set_new(root, "stalled", json_integer(b->o.stall));
	json_object_set_new(root, "jain", json_real(n > 0 && sum2 > 0 ?
	    sum * sum / ((double)n * sum2) : 0));
}

int
report_json(const struct bench *b, const struct bench_result *r)
{
	const struct bench_opts		*o = &b->o;
	const struct bench_stats	*s = &r->total;
	const struct hist		*h = &s->latency;
	json_t				*root, *lat, *errs, *proc, *all;
	size_t				 i;
	int				 k, rc;

	lat = json_object();
	for (i = 0; i < REPORT_NQ; i++)
		json_object_set_new(lat, report_quantiles[i].name,
		    json_real(ms(hist_quantile(h, report_quantiles[i].q))));
	json_object_set_new(lat, "min", json_real(h->count ? ms(h->min) : 0));
	json_object_set_new(lat, "max", json_real(ms(h->max)));
	json_object_set_new(lat, "mean", json_real(h->count ?
	    ms(h->sum) / (double)h->count : 0));
	json_object_set_new(lat, "count", json_integer((json_int_t)h->count));
	errs = json_object();
	json_object_set_new(errs, "total", json_integer((json_int_t)error_total(s)));
	for (k = 0; k < BERR__COUNT; k++)
		if (s->errors[k] > 0)
			json_object_set_new(errs, bench_error_names[k],
			    json_integer((json_int_t)s->errors[k]));
	root = json_pack("{s:s, s:s, s:s?, s:s, s:b, s:b, s:b, s:I, s:I, s:i, s:i,"
	    " s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:o, s:o, s:b}",
	    "mode", bench_mode_names[o->mode],
	    "label", o->label,
	    "proxy", o->proxy,
	    "target", o->target,
	    "direct", o->proxy == NULL,
	    "tls", o->tls,
	    "gateway", o->gateway,
	    "size", (json_int_t)o->size,
	    "requests", (json_int_t)o->requests,
	    "connections", o->connections,
	    "threads", o->threads,
	    "rate", o->rate,
	    "seconds", r->seconds,
	    "ops", (json_int_t)s->ops,
	    "ops_per_s", per_s(s->ops, r->seconds),
	    "mb_per_s", per_s(s->bytes_down + s->bytes_up, r->seconds) / 1e6,
	    "mb_down_per_s", per_s(s->bytes_down, r->seconds) / 1e6,
	    "mb_up_per_s", per_s(s->bytes_up, r->seconds) / 1e6,
	    "connects", (json_int_t)s->connects,
	    "retries", (json_int_t)s->retries,
	    "tls_handshakes", (json_int_t)s->tls_handshakes,
	    "tls_resumed", (json_int_t)s->tls_resumed,
	    "latency_ms", lat,
	    "errors", errs,
	    "ok", r->exit_status == 0);
	if (root == NULL)
		return -1;
	if (o->mode == BENCH_TUNNEL)
		json_object_set_new(root, "direction", json_string(
		    o->direction == BENCH_BOTH ? "both" :
		    o->direction == BENCH_UP ? "up" : "down"));
	if (o->mode == BENCH_IDLE)
		json_object_set_new(root, "held", json_integer(r->held));
	if (o->mode == BENCH_TUNNEL && o->connections > 1)
		report_fairness(b, r, root);
	if (r->have_proc) {
		/* The first --pid is "proxy_process"; all are in "processes". */
		all = json_array();
		for (k = 0; k < o->npids; k++) {
			proc = json_pack("{s:i, s:f, s:o, s:o}", "pid",
			    (int)o->pids[k], "cpu_seconds",
			    r->proc_after[k].cpu_seconds - r->proc_before[k].cpu_seconds,
			    "before", proc_json(&r->proc_before[k]),
			    "after", proc_json(&r->proc_after[k]));
			if (k == 0 && o->mode == BENCH_IDLE) {
				json_object_set_new(proc, "held",
				    proc_json(&r->proc_held));
				json_object_set_new(proc, "rss_kib_per_tunnel",
				    json_real(kib_per_tunnel(r)));
			}
			if (k == 0)
				json_object_set_new(root, "proxy_process",
				    json_deep_copy(proc));
			json_array_append_new(all, proc);
		}
		json_object_set_new(root, "processes", all);
	}
	rc = json_dumpf(root, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
	printf("\n");
	fflush(stdout);
	json_decref(root);
	return rc;
}
