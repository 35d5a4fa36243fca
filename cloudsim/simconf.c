/* simconf.c -- cloudsim.conf: the gateway's policy and limits, the echo service, the control plane, the package store, and the stand-in host table. */
#include <netinet/in.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/util.h>

#include "conf.h"
#include "defaults.h"
#include "route.h"
#include "simconf.h"

/* The stand-in's own subscription and tenant, unless the file names others. */
#define SIMCONF_SUBSCRIPTION_ID	"00000000-0000-4000-8000-00000000c10d"
#define SIMCONF_TENANT_ID	"00000000-0000-4000-8000-0000000e0a27"
#define SIMCONF_PACKAGES_LISTEN	"127.0.0.1:8448"

static const char *const simconf_keys[] = {
	"pki_dir", "gateway", "echo", "control", "hosts", "packages",
	"notify",	/* notify.c reads its own group */
	NULL
};
static const char *const simconf_gateway_keys[] = {
	"listen", "endpoints", "bypass", "anonymous", "refresh_seconds",
	"max_head_bytes", "head_timeout_ms", "connect_timeout_ms",
	"buffer_bytes", "protocols", "max_streams", NULL
};
static const char *const simconf_echo_keys[] = { "listen", NULL };
static const char *const simconf_control_keys[] = {
	"listen", "operator_listen", "onboarding_tokens", "subscription_id",
	"resource_group", "tenant_id", "location", "heartbeat_interval_seconds",
	"cert_lifetime_seconds", "token_lifetime_seconds", NULL
};
static const char *const simconf_host_keys[] = { "name", "target", NULL };
static const char *const simconf_packages_keys[] = { "listen", "dir", NULL };

int
simconf_parse_addr(const char *text, struct sockaddr_storage *ss, int *len)
{
	const char	*colon;

	/* evutil accepts a bare address too; a listener and a target need a port. */
	if ((colon = strrchr(text, ':')) == NULL ||
	    (text[0] != '[' && strchr(text, ':') != colon) ||
	    (text[0] == '[' && colon[-1] != ']'))
		return -1;
	memset(ss, 0, sizeof(*ss));
	*len = sizeof(*ss);
	if (evutil_parse_sockaddr_port(text, (struct sockaddr *)ss, len) == -1)
		return -1;
	/* Both families keep the port at the same offset. */
	return ((struct sockaddr_in *)ss)->sin_port == 0 ? -1 : 0;
}

static void
simconf_list_clear(struct simconf_list *l)
{
	int	i;

	for (i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	route_table_free(l->table);
	memset(l, 0, sizeof(*l));
}

static void
simconf_control_clear(struct simconf_control *c)
{
	int	i;

	for (i = 0; i < c->ntokens; i++)
		free(c->onboarding_tokens[i]);
	free(c->onboarding_tokens);
	free(c->subscription_id);
	free(c->resource_group);
	free(c->tenant_id);
	free(c->location);
}

void
simconf_free(struct simconf *cfg)
{
	int	i;

	if (cfg == NULL)
		return;
	simconf_control_clear(&cfg->control);
	free(cfg->packages.dir);
	for (i = 0; i < cfg->nhosts; i++) {
		free(cfg->hosts[i].name);
		free(cfg->hosts[i].target);
	}
	free(cfg->hosts);
	simconf_list_clear(&cfg->endpoints);
	simconf_list_clear(&cfg->bypass);
	simconf_list_clear(&cfg->anonymous);
	free(cfg->pki_dir);
	free(cfg->path);
	free(cfg);
}

const struct simconf_host *
simconf_host_lookup(const struct simconf *cfg, const char *host)
{
	int	i;

	for (i = 0; i < cfg->nhosts; i++)
		if (strcmp(cfg->hosts[i].name, host) == 0)
			return &cfg->hosts[i];
	return NULL;
}

int
simconf_listed(const struct simconf_list *l, const char *host, uint16_t port)
{
	struct route_decision	d;

	route_match(l->table, host, port, &d);
	return d.kind == ROUTE_GATEWAY;
}

/* A list of destination patterns (route.c syntax); absent means empty. */
static int
simconf_load_list(const config_setting_t *group, const config_setting_t *where,
    const char *key, const char *const *defaults, struct simconf_list *l,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	const char		*pattern;
	char			 why[256];
	int			 i, n;

	if ((l->table = route_table_new(ROUTE_DENY)) == NULL)
		return conf_fail(err, where, "out of memory");
	if (group != NULL && conf_string_list(group, key, &list, err) == -1)
		return -1;
	if (list != NULL)
		n = config_setting_length(list);
	else
		for (n = 0; defaults[n] != NULL; n++)
			;
	if (n > 0 && (l->items = calloc(n, sizeof(char *))) == NULL)
		return conf_fail(err, where, "out of memory");
	for (i = 0; i < n; i++) {
		e = list != NULL ? config_setting_get_elem(list, i) : NULL;
		pattern = e != NULL ? config_setting_get_string(e) : defaults[i];
		if (route_table_add(l->table, pattern, ROUTE_GATEWAY, why,
		    sizeof(why)) == -1)
			return conf_fail(err, e != NULL ? e : where, "%s: %s", key, why);
		if ((l->items[i] = strdup(pattern)) == NULL)
			return conf_fail(err, where, "out of memory");
		l->count++;
	}
	return 0;
}

static int
simconf_load_addr(const config_setting_t *group, const config_setting_t *where,
    const char *key, const char *def, struct sockaddr_storage *ss, int *len,
    int *present, struct conf_error *err)
{
	const char	*text = def;

	if (group != NULL && conf_string(group, key, &text, err) == -1)
		return -1;
	*present = text[0] != '\0';
	if (!*present)
		return 0;
	if (simconf_parse_addr(text, ss, len) == -1)
		return conf_fail(err, group != NULL ?
		    config_setting_get_member(group, key) : where,
		    "%s: \"%s\" is not an address like \"127.0.0.1:8443\" or "
		    "\"[::1]:8443\"", key, text);
	return 0;
}

/* gateway.protocols: "h2" and "http/1.1", in the order the gateway prefers. */
static int
simconf_load_protocols(struct simconf *cfg, const config_setting_t *g,
    struct conf_error *err)
{
	static const char *const known[] = { "h2", "http/1.1", NULL };
	const config_setting_t	*list = NULL, *e;
	const char		*name;
	int			 i, k, n;

	if (g != NULL && conf_string_list(g, "protocols", &list, err) == -1)
		return -1;
	n = list != NULL ? config_setting_length(list) : 2;
	if (n == 0)
		return conf_fail(err, list, "protocols: name at least one of "
		    "\"h2\" and \"http/1.1\"");
	cfg->alpn_len = 0;
	cfg->serves_h2 = cfg->serves_http1 = 0;
	for (i = 0; i < n; i++) {
		e = list != NULL ? config_setting_get_elem(list, i) : NULL;
		name = e != NULL ? config_setting_get_string(e) : known[i];
		for (k = 0; known[k] != NULL && strcmp(known[k], name) != 0; k++)
			;
		if (known[k] == NULL)
			return conf_fail(err, e, "protocols: \"%s\" is not one of "
			    "\"h2\" and \"http/1.1\"", name);
		if ((k == 0 && cfg->serves_h2) || (k == 1 && cfg->serves_http1))
			return conf_fail(err, e, "protocols: \"%s\" is listed "
			    "twice", name);
		if (k == 0)
			cfg->serves_h2 = 1;
		else
			cfg->serves_http1 = 1;
		cfg->alpn[cfg->alpn_len++] = (unsigned char)strlen(name);
		memcpy(cfg->alpn + cfg->alpn_len, name, strlen(name));
		cfg->alpn_len += strlen(name);
	}
	return 0;
}

static int
simconf_load_gateway(struct simconf *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	static const char *const endpoints[] = { "*.cloudsim.test:443", NULL };
	static const char *const anonymous[] = {
		"management.cloudsim.test:443", NULL
	};
	static const char *const none[] = { NULL };
	const config_setting_t	*g, *where;
	const long long		 day = 86400000LL;
	int			 present;

	if ((g = config_setting_get_member(root, "gateway")) != NULL &&
	    !config_setting_is_group(g))
		return conf_fail(err, g, "'gateway' must be a group { ... }");
	where = g != NULL ? g : root;
	if ((g != NULL && conf_check_keys(g, simconf_gateway_keys, err) == -1) ||
	    simconf_load_addr(g, where, "listen", ARC_LISTEN_CLOUDSIM_GATEWAY,
	    &cfg->gateway_listen, &cfg->gateway_listen_len, &present, err) == -1 ||
	    simconf_load_list(g, where, "endpoints", endpoints, &cfg->endpoints,
	    err) == -1 ||
	    simconf_load_list(g, where, "bypass", none, &cfg->bypass, err) == -1 ||
	    simconf_load_list(g, where, "anonymous", anonymous, &cfg->anonymous,
	    err) == -1 ||
	    simconf_load_protocols(cfg, g, err) == -1)
		return -1;
	if (!present)
		return conf_fail(err, where, "gateway.listen: the gateway needs "
		    "an address");
	if (g == NULL)
		return 0;
	if (conf_int(g, "refresh_seconds", 1, 86400, &cfg->refresh_seconds, err) == -1 ||
	    conf_int(g, "max_head_bytes", 1024, 1 << 20, &cfg->max_head_bytes, err) == -1 ||
	    conf_int(g, "head_timeout_ms", 10, day, &cfg->head_timeout_ms, err) == -1 ||
	    conf_int(g, "connect_timeout_ms", 10, day, &cfg->connect_timeout_ms, err) == -1 ||
	    conf_int(g, "buffer_bytes", 4096, 64 << 20, &cfg->buffer_bytes, err) == -1 ||
	    conf_int(g, "max_streams", 1, 100000, &cfg->max_streams, err) == -1)
		return -1;
	return 0;
}

static int
simconf_load_echo(struct simconf *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	const config_setting_t	*g;

	if ((g = config_setting_get_member(root, "echo")) != NULL &&
	    !config_setting_is_group(g))
		return conf_fail(err, g, "'echo' must be a group { ... }");
	if (g != NULL && conf_check_keys(g, simconf_echo_keys, err) == -1)
		return -1;
	return simconf_load_addr(g, g != NULL ? g : root, "listen",
	    ARC_LISTEN_CLOUDSIM_ECHO, &cfg->echo_listen, &cfg->echo_listen_len,
	    &cfg->has_echo, err);
}

static int
simconf_load_packages(struct simconf *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	struct simconf_packages	*p = &cfg->packages;
	const config_setting_t	*g;
	const char		*dir = "";

	if ((g = config_setting_get_member(root, "packages")) != NULL &&
	    !config_setting_is_group(g))
		return conf_fail(err, g, "'packages' must be a group { ... }");
	if (g != NULL && (conf_check_keys(g, simconf_packages_keys, err) == -1 ||
	    conf_string(g, "dir", &dir, err) == -1))
		return -1;
	if (dir[0] != '\0' && dir[0] != '/')
		return conf_fail(err, config_setting_get_member(g, "dir"),
		    "packages.dir: \"%s\" is not an absolute path (\"\" means "
		    "<state-dir>/packages)", dir);
	if (dir[0] != '\0' && (p->dir = strdup(dir)) == NULL)
		return conf_fail(err, g, "out of memory");
	return simconf_load_addr(g, g != NULL ? g : root, "listen",
	    SIMCONF_PACKAGES_LISTEN, &p->listen, &p->listen_len, &p->has_listen,
	    err);
}

/* Loopback only: 127.0.0.0/8 or ::1. */
static int
simconf_is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

/* A string of 1 to max characters, each a letter, digit or one of extra. */
static int
simconf_word_ok(const char *s, size_t max, const char *extra)
{
	size_t	i;

	if (s[0] == '\0' || strlen(s) > max)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

/* 8-4-4-4-12 hexadecimal digits. */
static int
simconf_uuid_ok(const char *s)
{
	size_t	i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* A string key, checked, copied into *out (which holds the default). */
static int
simconf_load_word(const config_setting_t *g, const char *key,
    int (*ok)(const char *), const char *expected, char **out,
    struct conf_error *err)
{
	const char	*text = NULL;
	char		*copy;

	if (g != NULL && conf_string(g, key, &text, err) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if (!ok(text))
		return conf_fail(err, config_setting_get_member(g, key),
		    "control.%s: \"%s\" is not %s", key, text, expected);
	if ((copy = strdup(text)) == NULL)
		return conf_fail(err, g, "out of memory");
	free(*out);
	*out = copy;
	return 0;
}

static int
simconf_resource_group_ok(const char *s)
{
	return simconf_word_ok(s, 90, "-_.()") && s[strlen(s) - 1] != '.';
}

int
simconf_location_ok(const char *s)
{
	return simconf_word_ok(s, 64, "");
}

static int
simconf_load_tokens(struct simconf_control *c, const config_setting_t *g,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	const char		*token;
	int			 i, n;

	if (g == NULL || conf_string_list(g, "onboarding_tokens", &list, err) == -1)
		return g == NULL ? 0 : -1;
	if (list == NULL || (n = config_setting_length(list)) == 0)
		return 0;
	if ((c->onboarding_tokens = calloc(n, sizeof(char *))) == NULL)
		return conf_fail(err, list, "out of memory");
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(list, i);
		token = config_setting_get_string(e);
		if (strlen(token) < 8 || strlen(token) > 256)
			return conf_fail(err, e, "control.onboarding_tokens: a token "
			    "has 8 to 256 characters");
		if ((c->onboarding_tokens[i] = strdup(token)) == NULL)
			return conf_fail(err, e, "out of memory");
		c->ntokens++;
	}
	return 0;
}

static int
simconf_load_control(struct simconf *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	struct simconf_control	*c = &cfg->control;
	const config_setting_t	*g, *where;
	const long long		 year = 365LL * 86400;

	if ((g = config_setting_get_member(root, "control")) != NULL &&
	    !config_setting_is_group(g))
		return conf_fail(err, g, "'control' must be a group { ... }");
	where = g != NULL ? g : root;
	c->heartbeat_interval_seconds = 300;
	c->cert_lifetime_seconds = 90 * 86400;
	c->token_lifetime_seconds = 86400;
	if ((c->subscription_id = strdup(SIMCONF_SUBSCRIPTION_ID)) == NULL ||
	    (c->resource_group = strdup("cloudsim")) == NULL ||
	    (c->tenant_id = strdup(SIMCONF_TENANT_ID)) == NULL ||
	    (c->location = strdup("cloudsim")) == NULL)
		return conf_fail(err, where, "out of memory");
	if ((g != NULL && conf_check_keys(g, simconf_control_keys, err) == -1) ||
	    simconf_load_addr(g, where, "listen", ARC_LISTEN_CLOUDSIM_CONTROL,
	    &c->listen, &c->listen_len, &c->has_listen, err) == -1 ||
	    simconf_load_addr(g, where, "operator_listen",
	    ARC_LISTEN_CLOUDSIM_OPERATOR, &c->operator_listen,
	    &c->operator_listen_len, &c->has_operator, err) == -1 ||
	    simconf_load_tokens(c, g, err) == -1 ||
	    simconf_load_word(g, "subscription_id", simconf_uuid_ok,
	    "a UUID like \"00000000-0000-4000-8000-000000000000\"",
	    &c->subscription_id, err) == -1 ||
	    simconf_load_word(g, "tenant_id", simconf_uuid_ok,
	    "a UUID like \"00000000-0000-4000-8000-000000000000\"",
	    &c->tenant_id, err) == -1 ||
	    simconf_load_word(g, "resource_group", simconf_resource_group_ok,
	    "a resource group name (1-90 of letters, digits, -_.() )",
	    &c->resource_group, err) == -1 ||
	    simconf_load_word(g, "location", simconf_location_ok,
	    "a location (1-64 letters and digits, like \"westeurope\")",
	    &c->location, err) == -1)
		return -1;
	if (c->has_operator && !simconf_is_loopback(&c->operator_listen))
		return conf_fail(err, g != NULL &&
		    config_setting_get_member(g, "operator_listen") != NULL ?
		    config_setting_get_member(g, "operator_listen") : where,
		    "control.operator_listen: the operator API has no "
		    "authentication and listens on loopback only (127.0.0.1 or "
		    "[::1])");
	if (g == NULL)
		return 0;
	if (conf_int(g, "heartbeat_interval_seconds", 1, 86400,
	    &c->heartbeat_interval_seconds, err) == -1 ||
	    conf_int(g, "cert_lifetime_seconds", 10, 10 * year,
	    &c->cert_lifetime_seconds, err) == -1 ||
	    conf_int(g, "token_lifetime_seconds", 60, 7 * 86400,
	    &c->token_lifetime_seconds, err) == -1)
		return -1;
	return 0;
}

/* One entry of the hosts list: name = "..."; target = "address:port". */
static int
simconf_fill_host(void *arg, void *table, int i, const config_setting_t *e,
    const char *name, const char *target, struct conf_error *err)
{
	struct simconf		*cfg = arg;
	struct simconf_host	*h;

	cfg->hosts = table;
	h = &cfg->hosts[i];
	if ((h->name = strdup(name)) == NULL ||
	    (h->target = strdup(target)) == NULL)
		return conf_fail(err, e, "out of memory");
	if (strchr(h->name, '*') != NULL || route_normalize_host(h->name) == -1)
		return conf_fail(err, e, "name \"%s\" is not a host name "
		    "(no wildcards here)", name);
	if (simconf_parse_addr(target, &h->addr, &h->addr_len) == -1)
		return conf_fail(err, e, "target \"%s\" is not an address "
		    "and port like \"127.0.0.1:8444\"", target);
	if (simconf_host_lookup(cfg, h->name) != h)
		return conf_fail(err, e, "host \"%s\" is listed twice", name);
	return 0;
}

static int
simconf_load_hosts(struct simconf *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	return conf_hosts(root, simconf_host_keys, "target", "address:port",
	    sizeof(*cfg->hosts), &cfg->nhosts, simconf_fill_host, cfg, err);
}

static int
simconf_load_pki_dir(struct simconf *cfg, const char *config_dir,
    const config_setting_t *root, struct conf_error *err)
{
	const char	*dir = "pki";
	char		 path[PATH_MAX];

	if (conf_string(root, "pki_dir", &dir, err) == -1)
		return -1;
	if (dir[0] == '\0')
		return conf_fail(err, config_setting_get_member(root, "pki_dir"),
		    "pki_dir: a directory (made by `cloudsim pki DIR`)");
	if (dir[0] == '/')
		snprintf(path, sizeof(path), "%s", dir);
	else if (snprintf(path, sizeof(path), "%s/%s", config_dir, dir) >=
	    (int)sizeof(path))
		return conf_fail(err, root, "pki_dir: path too long");
	if ((cfg->pki_dir = strdup(path)) == NULL)
		return conf_fail(err, root, "out of memory");
	return 0;
}

struct simconf *
simconf_load(const char *config_dir, char *errbuf, size_t errlen)
{
	config_t		 lc;
	struct conf_error	 err;
	struct simconf		*cfg;
	const config_setting_t	*root;
	char			 path[PATH_MAX];

	err.text[0] = '\0';
	config_init(&lc);
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		snprintf(err.text, sizeof(err.text), "out of memory");
		goto fail;
	}
	cfg->refresh_seconds = 300;
	cfg->max_head_bytes = 16384;
	cfg->head_timeout_ms = 10000;
	cfg->connect_timeout_ms = 5000;
	cfg->buffer_bytes = 262144;
	cfg->max_streams = 1000;
	snprintf(path, sizeof(path), "%s/cloudsim.conf", config_dir);
	if ((cfg->path = strdup(path)) == NULL) {
		snprintf(err.text, sizeof(err.text), "out of memory");
		goto fail;
	}
	if (conf_read(&lc, path, &err) == -1)
		goto fail;
	root = config_root_setting(&lc);
	if (conf_check_keys(root, simconf_keys, &err) == -1 ||
	    simconf_load_pki_dir(cfg, config_dir, root, &err) == -1 ||
	    simconf_load_gateway(cfg, root, &err) == -1 ||
	    simconf_load_echo(cfg, root, &err) == -1 ||
	    simconf_load_control(cfg, root, &err) == -1 ||
	    simconf_load_packages(cfg, root, &err) == -1 ||
	    simconf_load_hosts(cfg, root, &err) == -1)
		goto fail;
	config_destroy(&lc);
	return cfg;
 fail:
	snprintf(errbuf, errlen, "%s", err.text);
	config_destroy(&lc);
	simconf_free(cfg);
	return NULL;
}
