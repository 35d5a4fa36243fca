/* azcmagent.c -- the operator's command line: global flags, the subcommand table, and what every subcommand shares. */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "azcmagent.h"
#include "daemon.h"
#include "state.h"
#include "url.h"

#define AZCM_GLOBAL_OPTS	((1u << AZCM_O_CONFIG_DIR) | (1u << AZCM_O_STATE_DIR) | \
	(1u << AZCM_O_RUN_DIR) | \
	(1u << AZCM_O_JSON) | (1u << AZCM_O_PROXY) | (1u << AZCM_O_HIMDS) | \
	(1u << AZCM_O_HELP) | (1u << AZCM_O_VERBOSE) | (1u << AZCM_O_NO_COLOR) | \
	(1u << AZCM_O_LOG_STDERR))
#define O(x)			(1u << AZCM_O_##x)

static const struct args_opt azcm_opts[] = {
	[AZCM_O_CONFIG_DIR] = { "config-dir", 0, ARGS_VALUE },
	[AZCM_O_STATE_DIR] = { "state-dir", 0, ARGS_VALUE },
	[AZCM_O_RUN_DIR] = { "run-dir", 0, ARGS_VALUE },
	[AZCM_O_JSON] = { "json", 'j', ARGS_FLAG },
	[AZCM_O_PROXY] = { "proxy", 0, ARGS_VALUE },
	[AZCM_O_HIMDS] = { "himds", 0, ARGS_VALUE },
	[AZCM_O_HELP] = { "help", 'h', ARGS_FLAG },
	[AZCM_O_CLOUD_URL] = { "cloud-url", 0, ARGS_VALUE },
	[AZCM_O_GATEWAY_URL] = { "gateway-url", 0, ARGS_VALUE },
	[AZCM_O_CA_FILE] = { "ca-file", 0, ARGS_VALUE },
	[AZCM_O_TOKEN_FILE] = { "onboarding-token-file", 0, ARGS_VALUE },
	[AZCM_O_NAME] = { "resource-name", 'n', ARGS_VALUE },
	[AZCM_O_LOCATION] = { "location", 'l', ARGS_VALUE },
	[AZCM_O_TAGS] = { "tags", 0, ARGS_VALUE },
	[AZCM_O_FORCE_LOCAL] = { "force-local-only", 0, ARGS_FLAG },
	[AZCM_O_ADD] = { "add", 0, ARGS_FLAG },
	[AZCM_O_REMOVE] = { "remove", 0, ARGS_FLAG },
	[AZCM_O_OUTPUT] = { "output", 'o', ARGS_VALUE },
	[AZCM_O_VERBOSE] = { "verbose", 'v', ARGS_FLAG },
	/* The Azure agent's global flags, accepted where they are true already. */
	[AZCM_O_NO_COLOR] = { "no-color", 0, ARGS_FLAG },
	[AZCM_O_LOG_STDERR] = { "log-stderr", 0, ARGS_FLAG },
	[AZCM_O_COUNT] = { NULL, 0, 0 }
};

static int	cmd_version(struct azcm *);

struct azcm_cmd {
	const char	*name;
	int		(*run)(struct azcm *);
	unsigned	 opts;		/* besides the global ones */
	const char	*usage;
};

static const struct azcm_cmd azcm_cmds[] = {
	{ "connect", cmd_connect, O(CLOUD_URL) | O(GATEWAY_URL) | O(CA_FILE) |
	    O(TOKEN_FILE) | O(NAME) | O(LOCATION) | O(TAGS),
	    "connect --cloud-url URL --gateway-url URL --ca-file FILE\n"
	    "\t--onboarding-token-file FILE --resource-name NAME [--location L]"
	    " [--tags k=v,k2=v2]" },
	{ "disconnect", cmd_disconnect, O(FORCE_LOCAL),
	    "disconnect [--force-local-only]" },
	{ "show", cmd_show, 0, "show [-j]" },
	{ "check", cmd_check, O(CLOUD_URL), "check [--cloud-url URL] [-j]" },
	{ "config", cmd_config, O(ADD) | O(REMOVE),
	    "config list | get KEY | set KEY VALUE [--add|--remove] | clear KEY | info" },
	{ "logs", cmd_logs, O(OUTPUT), "logs [--output FILE.tar.gz]" },
	{ "extension", cmd_extension, 0, "extension list [-j] | remove NAME" },
	{ "version", cmd_version, 0, "version" },
	{ NULL, NULL, 0, NULL }
};

/*
 * s for the operator's terminal: texts that others chose (the cloud, a
 * handler, whatever answers on a local daemon's port while it is down)
 * must not put a control character there (C0, DEL or, as UTF-8, C1), where
 * ESC ] and CSI retitle the window, move the cursor or hide a line, and a
 * line break forges one.  Line breaks and tabs become spaces, the rest
 * '?'.  NULL stays NULL.
 */
const char *
azcm_printable(const char *s, char *buf, size_t len)
{
	const unsigned char	*p;
	size_t			 n = 0;

	if (s == NULL)
		return NULL;
	for (p = (const unsigned char *)s; *p != '\0' && n + 1 < len; p++) {
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			buf[n++] = '?';
			p++;
		} else if (*p == '\n' || *p == '\r' || *p == '\t')
			buf[n++] = ' ';
		else if (*p < 0x20 || *p == 0x7f)
			buf[n++] = '?';
		else
			buf[n++] = (char)*p;
	}
	buf[n] = '\0';
	return buf;
}

static json_t *
azcm_jprintable_string(const char *s)
{
	json_t	*v;
	char	*buf;
	size_t	 len = strlen(s) + 1;

	if ((buf = malloc(len)) == NULL)
		return NULL;
	v = json_string(azcm_printable(s, buf, len));
	free(buf);
	return v;
}

json_t *
azcm_json_printable(const json_t *o)
{
	const char	*k;
	json_t		*v, *out, *c;
	char		*kbuf;
	size_t		 i;

	switch (json_typeof(o)) {
	case JSON_STRING:
		return azcm_jprintable_string(json_string_value(o));
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach((json_t *)o, i, v)
			if ((c = azcm_json_printable(v)) != NULL)
				json_array_append_new(out, c);
		return out;
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach((json_t *)o, k, v) {
			if ((kbuf = strdup(k)) == NULL)
				continue;
			azcm_printable(k, kbuf, strlen(k) + 1);
			if ((c = azcm_json_printable(v)) != NULL)
				json_object_set_new(out, kbuf, c);
			free(kbuf);
		}
		return out;
	default:
		return json_deep_copy(o);
	}
}

/* "azcmagent: <prefix><why>\n", why made printable (it may quote the
 * cloud's answer or a local API's). */
static void
azcm_say(const char *prefix, const char *fmt, va_list ap)
{
	char	msg[4096], out[4096];

	fflush(stdout);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "azcmagent: %s%s\n", prefix, azcm_printable(msg, out,
	    sizeof(out)));
}

int
azcm_fail(int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	azcm_say("", fmt, ap);
	va_end(ap);
	return code;
}

void
azcm_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	azcm_say("warning: ", fmt, ap);
	va_end(ap);
}

const char *
azcm_opt(const struct azcm *a, enum azcm_opt o)
{
	return a->args.value[o];
}

void
azcm_print_json(json_t *o)
{
	/* ASCII only: a C1 control (U+009B is CSI) of a string others wrote
	 * goes out as \u009b, as JSON escapes C0 itself. */
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	fputc('\n', stdout);
	json_decref(o);
}

const char *
azcm_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A TCP connect within timeout_ms: does anything listen there? */
static int
azcm_tcp_answers(const char *host, uint16_t port, int timeout_ms)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	struct pollfd		 pfd;
	char			 service[8];
	socklen_t		 len;
	int			 fd, err, ok = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return 0;
	for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			ok = 1;
		else if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			len = sizeof(err);
			ok = poll(&pfd, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
			    err == 0;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return ok;
}

int
azcm_proxy_alive(const struct azcm *a, long *pid)
{
	char		host[256];
	uint16_t	port;

	if ((*pid = state_daemon_pid(a->run_dir, "arcproxy")) != -1)
		return 1;
	if (url_parse_authority(a->proxy_url, "http", 3128, host, sizeof(host),
	    &port) == -1)
		return 0;
	return azcm_tcp_answers(host, port, 2000);
}

int
azcm_local_get(const char *base, const char *path, const char *header,
    long timeout_ms, struct probe_resp *resp)
{
	struct probe_req	q;
	char			url[AZCM_URL_MAX + 64];

	memset(resp, 0, sizeof(*resp));
	if (base == NULL || base[0] == '\0')
		return -1;
	snprintf(url, sizeof(url), "%s%s", base, path);
	memset(&q, 0, sizeof(q));
	q.url = url;
	q.header = header;
	q.timeout_ms = timeout_ms;
	if (probe_run(&q, resp) == -1) {
		probe_resp_free(resp);
		return -1;
	}
	return 0;
}

static json_t *
azcm_admin_json(const struct azcm *a, const char *path)
{
	struct probe_resp	 r;
	json_t			*o = NULL;

	if (azcm_local_get(a->admin_url, path, NULL, 2000, &r) == -1)
		return NULL;
	if (r.body != NULL && (r.status == 200 || r.status == 503))
		o = json_loads(r.body, 0, NULL);
	probe_resp_free(&r);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

json_t *
azcm_status(const struct azcm *a)
{
	return azcm_admin_json(a, "/status");
}

void
azcm_status_why(const struct azcm *a, char *why, size_t len)
{
	long	pid;

	if (!azcm_proxy_alive(a, &pid))
		snprintf(why, len, "arcproxy is not running (no %s/arcproxy.pid, "
		    "nothing on %s)", a->run_dir, a->proxy_url);
	else if (a->admin_url[0] == '\0')
		snprintf(why, len, "arcproxy runs, but arcproxy.conf turns its "
		    "admin API off (admin_listen = \"\")");
	else
		snprintf(why, len, "arcproxy runs, but its admin API does not "
		    "answer on %s", a->admin_url);
}

void
azcm_display_proxy(const char *url, char *out, size_t len)
{
	char		host[256];
	uint16_t	port;

	if (url_parse_authority(url, "http", 3128, host, sizeof(host), &port) == 0 &&
	    (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "localhost") == 0))
		snprintf(out, len, "http://localhost:%u", port);
	else
		snprintf(out, len, "%s", url);
}

/* -v: what azcmagent will use, before it is used; stderr keeps stdout's
 * text and JSON as they are without -v. */
static void
azcm_say_where(const struct azcm *a)
{
	fprintf(stderr, "azcmagent: -v: config dir %s, state dir %s, run dir %s\n",
	    a->config_dir, a->state_dir, a->run_dir);
	fprintf(stderr, "azcmagent: -v: arcproxy %s (%s), its admin API %s, "
	    "himds %s (%s)\n", a->proxy_url, a->proxy_from, a->admin_url[0] ?
	    a->admin_url : "off", a->himds_url, azcm_opt(a, AZCM_O_HIMDS) != NULL ?
	    "--himds" : "the default");
	if (a->pc_error[0] != '\0')
		fprintf(stderr, "azcmagent: -v: arcproxy.conf: %s\n", a->pc_error);
}

static int
cmd_version(struct azcm *a)
{
	json_t	*o;

	if (!a->json) {
		printf("azcmagent version %s\n", AZCM_VERSION);
		return AZCM_OK;
	}
	o = json_pack("{s:s}", "version", AZCM_VERSION);
	azcm_print_json(o);
	return AZCM_OK;
}

static void
azcm_usage(FILE *f)
{
	const struct azcm_cmd	*c;

	fprintf(f, "usage: azcmagent COMMAND [options]\n"
	    "  global: [-j|--json] [-v|--verbose] [--no-color] [--log-stderr]\n"
	    "          [--config-dir DIR] [--state-dir DIR] [--run-dir DIR] "
	    "[--proxy URL] [--himds URL]\n"
	    "  -v            also says on stderr which dirs, arcproxy, admin API "
	    "and himds\n"
	    "                it uses, where each came from, and why arcproxy.conf "
	    "was not read\n"
	    "  --no-color    accepted: azcmagent prints no colour at all\n"
	    "  --log-stderr  accepted: azcmagent keeps no log; its errors and "
	    "warnings\n"
	    "                go to stderr already\n");
	for (c = azcm_cmds; c->name != NULL; c++)
		fprintf(f, "  azcmagent %s\n", c->usage);
}

/* Where arcproxy, its admin API and himds are: flags, environment, arcproxy.conf. */
static int
azcm_endpoints(struct azcm *a)
{
	const char	*v;
	char		 host[256];
	uint16_t	 port;

	if (proxyinfo_load(a->config_dir, a->state_dir, &a->pc, a->pc_error,
	    sizeof(a->pc_error)) == 0)
		a->pc_error[0] = '\0';
	if ((v = azcm_opt(a, AZCM_O_PROXY)) == NULL &&
	    ((v = getenv("ARC_PROXY_URL")) == NULL || v[0] == '\0'))
		v = NULL;
	if (v != NULL)
		snprintf(a->proxy_url, sizeof(a->proxy_url), "%s", v);
	else
		snprintf(a->proxy_url, sizeof(a->proxy_url), "%s", a->pc.proxy_url);
	a->proxy_from = azcm_opt(a, AZCM_O_PROXY) != NULL ? "--proxy" : v != NULL ?
	    "ARC_PROXY_URL" : a->pc_error[0] == '\0' ? "arcproxy.conf" :
	    "the default: arcproxy.conf was not read";
	if (url_parse_authority(a->proxy_url, "http", 3128, host, sizeof(host),
	    &port) == -1)
		return azcm_fail(AZCM_EARGS, "--proxy \"%s\" is not like "
		    ARC_URL_PROXY, a->proxy_url);
	snprintf(a->admin_url, sizeof(a->admin_url), "%s", a->pc.admin_url);
	v = azcm_opt(a, AZCM_O_HIMDS);
	snprintf(a->himds_url, sizeof(a->himds_url), "%s",
	    v != NULL ? v : AZCM_DEFAULT_HIMDS);
	if (url_parse_authority(a->himds_url, "http", 80, host, sizeof(host),
	    &port) == -1)
		return azcm_fail(AZCM_EARGS, "--himds \"%s\" is not like "
		    ARC_URL_HIMDS, a->himds_url);
	return AZCM_OK;
}

int
main(int argc, char *argv[])
{
	static struct azcm		 a;	/* zeroed; large */
	const struct azcm_cmd		*c;
	char				 err[256];
	int				 i, rc;

	if (args_parse(argc, argv, azcm_opts, &a.args, err, sizeof(err)) == -1)
		return azcm_fail(AZCM_EARGS, "%s (azcmagent --help lists them)", err);
	if (a.args.npos == 0 && a.args.value[AZCM_O_HELP] != NULL) {
		azcm_usage(stdout);
		return AZCM_OK;
	}
	if (a.args.npos == 0)
		return azcm_fail(AZCM_EARGS, "missing command (connect, disconnect, "
		    "show, check, config, logs, extension, version); azcmagent "
		    "--help shows how to use them");
	for (c = azcm_cmds; c->name != NULL; c++)
		if (strcmp(c->name, a.args.pos[0]) == 0)
			break;
	if (c->name == NULL)
		return azcm_fail(AZCM_EARGS, "unknown command '%s' (connect, "
		    "disconnect, show, check, config, logs, extension, version)",
		    a.args.pos[0]);
	if (azcm_opt(&a, AZCM_O_HELP) != NULL) {
		printf("usage: azcmagent %s\n", c->usage);
		return AZCM_OK;
	}
	for (i = 0; i < AZCM_O_COUNT; i++)
		if (a.args.value[i] != NULL &&
		    !((AZCM_GLOBAL_OPTS | c->opts) & (1u << i)))
			return azcm_fail(AZCM_EARGS, "%s does not take --%s (usage: "
			    "azcmagent %s)", c->name, azcm_opts[i].name, c->usage);
	a.pos = a.args.pos + 1;
	a.npos = a.args.npos - 1;
	a.json = azcm_opt(&a, AZCM_O_JSON) != NULL;
	a.config_dir = daemon_dir(azcm_opt(&a, AZCM_O_CONFIG_DIR), "ARC_CONFIG_DIR",
	    ARC_DIR_CONFIG);
	a.state_dir = daemon_dir(azcm_opt(&a, AZCM_O_STATE_DIR), "ARC_STATE_DIR",
	    ARC_DIR_STATE);
	a.run_dir = daemon_dir(azcm_opt(&a, AZCM_O_RUN_DIR), "ARC_RUN_DIR",
	    DAEMON_RUN_DIR);
	if ((rc = azcm_endpoints(&a)) != AZCM_OK)
		return rc;
	if ((a.verbose = azcm_opt(&a, AZCM_O_VERBOSE) != NULL))
		azcm_say_where(&a);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return azcm_fail(AZCM_EGENERIC, "cannot initialize libcurl");
	rc = c->run(&a);
	curl_global_cleanup();
	proxyinfo_clear(&a.pc);
	if (fflush(stdout) == EOF && rc == AZCM_OK)
		rc = azcm_fail(AZCM_EGENERIC, "stdout: %s", strerror(errno));
	return rc;
}
