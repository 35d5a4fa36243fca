/* cmd_check.c -- azcmagent check: each required endpoint tried through the route the machine uses, with TLS version, latency and clock skew. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentconf.h"
#include "azcmagent.h"
#include "state.h"
#include "url.h"

#define CHECK_TIMEOUT_MS	10000L
#define CHECK_SKEW_MAX		120	/* seconds, as the Azure agent warns */
#define CHECK_LOG_TAIL		(256 * 1024)
#define CHECK_LOG_WAIT_MS	2000
#define CHECK_LIST_PATH		"/.well-known/arc-gateway/endpoints"
#define CHECK_MAX_ROWS		4

struct check_row {
	char		 url[AZCM_URL_MAX + 64];
	const char	*what;		/* "cloud", "gateway" */
	char		 route[16];	/* gateway, proxy, direct, deny */
	const char	*route_from;	/* "access log" or "agent.conf" */
	int		 reachable;	/* an HTTP answer came, over verified TLS */
	long		 status;	/* its status */
	char		 tls[16];
	long		 latency_ms;
	long		 skew;		/* the server's clock minus ours, seconds */
	int		 has_skew;
	char		 error[300];
};

struct check {
	struct agentconf	 ac;
	json_t			*machine;	/* machine.json, or NULL */
	json_t			*status;	/* arcproxy's /status, or NULL */
	long			 proxy_pid;
	struct check_row	 rows[CHECK_MAX_ROWS];
	int			 nrows;
};

/*
 * The route that arcproxy's access log gives our tunnel, found by our end's
 * port.  The line is written when the tunnel ends, and flushed soon after.
 */
static int
check_logged_route(const char *state_dir, const char *log, long port,
    const char *authority, char *route, size_t len)
{
	struct timespec	 pause = { 0, 100 * 1000 * 1000 };
	struct stat	 st;
	char		 needle[300], why[512], *buf, *p, *last = NULL;
	ssize_t		 n;
	off_t		 from;
	int		 fd, i;

	if (log[0] == '\0' || port <= 0)
		return -1;
	snprintf(needle, sizeof(needle), ":%ld CONNECT %s ", port, authority);
	if ((buf = malloc(CHECK_LOG_TAIL + 1)) == NULL)
		return -1;
	for (i = 0; i < CHECK_LOG_WAIT_MS / 100 && last == NULL; i++) {
		if (i > 0)
			nanosleep(&pause, NULL);
		/* arcproxy's user owns the log's folder: no symlink, FIFO or
		 * hard link it put there is read (state_open_log). */
		if ((fd = state_open_log(state_dir, log, why,
		    sizeof(why))) == -1)
			break;
		if (fstat(fd, &st) == -1) {
			close(fd);
			break;
		}
		from = st.st_size > CHECK_LOG_TAIL ?
		    st.st_size - CHECK_LOG_TAIL : 0;
		n = pread(fd, buf, CHECK_LOG_TAIL, from);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (p = buf; (p = strstr(p, needle)) != NULL; p++)
			last = p;
	}
	if (last != NULL) {
		last += strlen(needle);
		snprintf(route, len, "%.*s", (int)strcspn(last, " \n"), last);
	}
	free(buf);
	return last != NULL ? 0 : -1;
}

/* What agent.conf says a destination of the gateway's list takes. */
static const char *
check_expected_route(const struct agentconf *ac)
{
	if (ac->connection_type == AGENTCONF_GATEWAY)
		return "gateway";
	return ac->proxy_url != NULL ? "proxy" : "direct";
}

static void
check_fill(struct check_row *row, const struct probe_resp *r, int ok)
{
	row->status = r->status;
	row->reachable = ok && r->status > 0;
	row->latency_ms = (long)(r->seconds * 1000 + 0.5);
	snprintf(row->tls, sizeof(row->tls), "%s", r->tls_version);
	if (r->date != -1) {
		row->has_skew = 1;
		row->skew = (long)(r->date - time(NULL));
	}
	if (row->reachable)
		return;
	if (r->connect_status != 0 && r->connect_status != 200)
		snprintf(row->error, sizeof(row->error), "the proxy answered %ld%s%s",
		    r->connect_status, r->proxy_status[0] ? ": " : "",
		    r->proxy_status);
	else
		snprintf(row->error, sizeof(row->error), "%s", r->error[0] ?
		    r->error : "no answer");
}

/* The cloud, through arcproxy: the way himds and extmgr go. */
static void
check_cloud(struct azcm *a, struct check *k, const char *cloud, const char *ca,
    const char *what)
{
	struct check_row	*row = &k->rows[k->nrows++];
	struct probe_req	 q;
	struct probe_resp	 r;
	const char		*log;
	char			 host[256], authority[300];
	uint16_t		 port;
	int			 ok;

	snprintf(row->url, sizeof(row->url), "%s", cloud);
	row->what = what;
	memset(&q, 0, sizeof(q));
	q.url = cloud;
	q.proxy = a->proxy_url;
	q.ca_file = ca;
	q.timeout_ms = CHECK_TIMEOUT_MS;
	ok = probe_run(&q, &r) == 0;
	check_fill(row, &r, ok);
	if (url_parse_authority(cloud, "https", 443, host, sizeof(host), &port) == 0)
		snprintf(authority, sizeof(authority), strchr(host, ':') ?
		    "[%s]:%u" : "%s:%u", host, port);
	else
		authority[0] = '\0';
	/* The log root's arcproxy.conf names, never one that whatever answers
	 * on the admin port names (a local user's, while arcproxy is down). */
	log = a->pc.access_log;
	row->route_from = "access log";
	if (authority[0] == '\0' || check_logged_route(a->state_dir, log,
	    r.local_port, authority, row->route, sizeof(row->route)) == -1) {
		row->route_from = "agent.conf";
		snprintf(row->route, sizeof(row->route), "%s",
		    check_expected_route(&k->ac));
	}
	probe_resp_free(&r);
}

/*
 * The gateway's own endpoint list.  arcproxy does not carry the gateway as
 * a destination (it is not on its own list), so this goes the way arcproxy's
 * gateway client goes: to the gateway directly, or through proxy.url, with
 * arcproxy.conf's hosts table for names.
 */
static void
check_gateway(struct azcm *a, struct check *k)
{
	struct check_row	*row = &k->rows[k->nrows++];
	struct probe_req	 q;
	struct probe_resp	 r;
	const char		*addr;
	char			 host[256], resolve[400], abuf[64];
	uint16_t		 port;
	int			 ok;

	snprintf(row->url, sizeof(row->url), "%s%s", k->ac.gateway_url,
	    CHECK_LIST_PATH);
	row->what = "gateway";
	row->route_from = "agent.conf";
	snprintf(row->route, sizeof(row->route), "%s", k->ac.proxy_url != NULL ?
	    "proxy" : "direct");
	memset(&q, 0, sizeof(q));
	q.url = row->url;
	q.proxy = k->ac.proxy_url;
	q.ca_file = k->ac.gateway_ca_file;
	q.timeout_ms = CHECK_TIMEOUT_MS;
	if (k->ac.proxy_url == NULL && url_parse_authority(k->ac.gateway_url,
	    "https", 443, host, sizeof(host), &port) == 0 &&
	    (addr = proxyinfo_host(&a->pc, host, abuf, sizeof(abuf))) != NULL) {
		snprintf(resolve, sizeof(resolve), "%s:%u:%s", host, port, addr);
		q.resolve = resolve;
	}
	ok = probe_run(&q, &r) == 0;
	check_fill(row, &r, ok);
	if (row->reachable && r.status != 200) {
		row->reachable = 0;
		snprintf(row->error, sizeof(row->error), "the gateway answered %ld "
		    "for its endpoint list", r.status);
	}
	probe_resp_free(&r);
}

static json_t *
check_row_json(const struct check_row *row)
{
	json_t	*o;

	o = json_pack("{s:s, s:s, s:b, s:s, s:s}", "endpoint", row->url,
	    "kind", row->what, "reachable", row->reachable, "route", row->route,
	    "routeFrom", row->route_from);
	json_object_set_new(o, "httpStatus", row->status ?
	    json_integer(row->status) : json_null());
	json_object_set_new(o, "tlsVersion", row->tls[0] ? json_string(row->tls) :
	    json_null());
	json_object_set_new(o, "latencyMs", json_integer(row->latency_ms));
	json_object_set_new(o, "clockSkewSeconds", row->has_skew ?
	    json_integer(row->skew) : json_null());
	json_object_set_new(o, "error", row->error[0] ? json_string(row->error) :
	    json_null());
	return o;
}

/* Its texts as the terminal may show them (azcm_printable), in place. */
static void
check_row_printable(struct check_row *row)
{
	char	buf[sizeof(row->url)];

	azcm_printable(row->url, buf, sizeof(buf));
	memcpy(row->url, buf, sizeof(row->url));
	azcm_printable(row->route, buf, sizeof(row->route));
	memcpy(row->route, buf, sizeof(row->route));
	azcm_printable(row->tls, buf, sizeof(row->tls));
	memcpy(row->tls, buf, sizeof(row->tls));
	azcm_printable(row->error, buf, sizeof(row->error));
	memcpy(row->error, buf, sizeof(row->error));
}

static void
check_print(struct azcm *a, struct check *k, int proxy_up)
{
	const struct check_row	*row;
	json_t			*o, *arr, *warn, *gw;
	char			 w[400], text[400];
	int			 i;

	warn = json_array();
	for (i = 0; i < k->nrows; i++) {
		row = &k->rows[i];
		if (row->has_skew && labs(row->skew) > CHECK_SKEW_MAX) {
			snprintf(w, sizeof(w), "%s: the server's clock is %ld s %s "
			    "this machine's (more than %d s): fix the time, or "
			    "tokens and certificates will fail", row->url,
			    labs(row->skew), row->skew > 0 ? "ahead of" : "behind",
			    CHECK_SKEW_MAX);
			json_array_append_new(warn, json_string(w));
		}
	}
	gw = json_object_get(k->status, "gateway");
	if (a->json) {
		o = json_object();
		json_object_set_new(o, "arcproxy", json_pack("{s:b, s:s}", "running",
		    proxy_up, "url", a->proxy_url));
		json_object_set_new(json_object_get(o, "arcproxy"), "pid",
		    k->proxy_pid > 0 ? json_integer(k->proxy_pid) : json_null());
		json_object_set_new(json_object_get(o, "arcproxy"), "gatewayState",
		    azcm_jstr(gw, "state") ? json_string(azcm_jstr(gw, "state")) :
		    json_null());
		arr = json_array();
		for (i = 0; i < k->nrows; i++)
			json_array_append_new(arr, check_row_json(&k->rows[i]));
		json_object_set_new(o, "endpoints", arr);
		json_object_set_new(o, "warnings", warn);
		azcm_print_json(o);
		return;
	}
	/* The admin port, the access log and the servers wrote some of it. */
	for (i = 0; i < k->nrows; i++)
		check_row_printable(&k->rows[i]);
	printf("arcproxy: %s", proxy_up ? "running" : "not running");
	if (k->proxy_pid > 0)
		printf(" (pid %ld)", k->proxy_pid);
	printf(" at %s", a->proxy_url);
	if (azcm_jstr(gw, "state") != NULL)
		printf("; gateway %s", azcm_printable(azcm_jstr(gw, "state"),
		    text, sizeof(text)));
	printf("\n");
	if (k->nrows > 0)
		printf("\n%-64s %-9s %-8s %-8s %s\n", "ENDPOINT", "REACHABLE",
		    "ROUTE", "TLS", "LATENCY");
	for (i = 0; i < k->nrows; i++) {
		row = &k->rows[i];
		printf("%-64s %-9s %-8s %-8s %ld ms\n", row->url,
		    row->reachable ? "yes" : "no", row->route,
		    row->tls[0] ? row->tls : "-", row->latency_ms);
	}
	for (i = 0; i < k->nrows; i++)
		if (k->rows[i].error[0] != '\0')
			printf("  %s: %s\n", k->rows[i].url, k->rows[i].error);
	for (i = 0; i < (int)json_array_size(warn); i++)
		printf("warning: %s\n", azcm_printable(json_string_value(
		    json_array_get(warn, i)), text, sizeof(text)));
	json_decref(warn);
}

int
cmd_check(struct azcm *a)
{
	struct check	 k;
	const char	*cloud, *ca;
	char		 err[600], host[256], pkg_url[400];
	uint16_t	 port;
	int		 i, proxy_up, rc = AZCM_OK;

	memset(&k, 0, sizeof(k));
	host[0] = '\0';
	if (a->npos != 0)
		return azcm_fail(AZCM_EARGS, "check takes no argument '%s'", a->pos[0]);
	if (agentconf_load(a->config_dir, &k.ac, err, sizeof(err)) == -1)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	if (state_json_load(a->state_dir, STATE_MACHINE, &k.machine, err,
	    sizeof(err)) == -1)
		azcm_warn("%s", err);
	if ((cloud = azcm_opt(a, AZCM_O_CLOUD_URL)) == NULL)
		cloud = azcm_jstr(k.machine, "cloudUrl");
	if (cloud != NULL && url_parse_authority(cloud, "https", 443, host,
	    sizeof(host), &port) == -1) {
		rc = azcm_fail(AZCM_EARGS, "cloud URL \"%s\" is not like "
		    "https://management.example.com[:port]", cloud);
		goto done;
	}
	if (cloud == NULL && k.ac.connection_type != AGENTCONF_GATEWAY) {
		rc = azcm_fail(AZCM_EARGS, "nothing to check: not connected and not "
		    "in gateway mode; pass --cloud-url URL");
		goto done;
	}
	if ((ca = azcm_jstr(k.machine, "caFile")) == NULL)
		ca = k.ac.gateway_ca_file;
	proxy_up = azcm_proxy_alive(a, &k.proxy_pid);
	k.status = azcm_status(a);
	if (proxy_up && cloud != NULL)
		check_cloud(a, &k, cloud, ca, "cloud");
	/* extmgr's package host, in the cloud's domain: packages.cloudsim.test
	 * beside management.cloudsim.test.  The gateway carries it for a
	 * connected machine only, as extmgr needs it. */
	if (proxy_up && cloud != NULL && k.machine != NULL &&
	    strncmp(host, "management.", 11) == 0) {
		snprintf(pkg_url, sizeof(pkg_url), "https://packages.%s/",
		    host + 11);
		check_cloud(a, &k, pkg_url, ca, "packages");
	}
	if (k.ac.connection_type == AGENTCONF_GATEWAY && k.ac.gateway_url != NULL)
		check_gateway(a, &k);
	check_print(a, &k, proxy_up);
	if (!proxy_up)
		rc = azcm_fail(AZCM_ENOPROXY, "arcproxy is not running (no %s/"
		    "arcproxy.pid, nothing on %s)", a->run_dir, a->proxy_url);
	for (i = 0; i < k.nrows && rc == AZCM_OK; i++)
		if (!k.rows[i].reachable)
			rc = azcm_fail(AZCM_ENETWORK, "%s is not reachable: %s",
			    k.rows[i].url, k.rows[i].error);
 done:
	agentconf_clear(&k.ac);
	json_decref(k.machine);
	json_decref(k.status);
	return rc;
}
