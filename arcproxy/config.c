/* config.c -- arcproxy.conf: the proxy's settings, loaded, checked and shared (refcounted) across reloads. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "config.h"
#include "defaults.h"
#include "safedir.h"
#include "url.h"

static const char *const config_keys[] = {
	"listen", "admin_listen", "workers", "clients", "routes",
	"default_route", "hosts", "dns_servers", "access_log", "limits",
	"proxy_bypass_services", NULL
};
static const char *const config_limit_keys[] = {
	"max_head_bytes", "head_timeout_ms", "client_idle_timeout_ms",
	"connect_timeout_ms", "tunnel_idle_timeout_ms", "max_connections",
	"pool_max_idle", "pool_idle_timeout_ms", "drain_timeout_ms",
	"drain_tunnel_grace_ms",
	"buffer_bytes", "buffer_budget_bytes", NULL
};
static const char *const config_route_keys[] = { "match", "route", NULL };
static const char *const config_host_keys[] = { "name", "address", NULL };

static const struct config_limits config_default_limits = {
	.max_head_bytes = 32768,
	.head_timeout_ms = 10000,
	.client_idle_timeout_ms = 60000,
	.connect_timeout_ms = 10000,
	.tunnel_idle_timeout_ms = 300000,
	.max_connections = 8192,
	.pool_max_idle = 64,
	.pool_idle_timeout_ms = 30000,
	.drain_timeout_ms = 10000,
	.drain_tunnel_grace_ms = 2000,
	.buffer_bytes = 524288,
	.buffer_budget_bytes = 64 << 20,
};

/*
 * What each service name of agent.conf's proxy.bypass takes around
 * proxy.url: Microsoft's table for the Connected Machine agent ("Manage and
 * maintain the Azure Connected Machine agent", proxy bypass).  A service
 * that arcproxy.conf's proxy_bypass_services names gets that list instead
 * (a private endpoint's own name, another cloud, a stand-in like cloudsim).
 */
static const struct config_bypass {
	const char		*service;
	const char *const	*hosts;
} config_bypass_defaults[] = {
	{ "AAD", (const char *const[]){ "login.windows.net",
	    "login.microsoftonline.com", "pas.windows.net", NULL } },
	{ "ARM", (const char *const[]){ "management.azure.com", NULL } },
	{ "AMA", (const char *const[]){ "global.handler.control.monitor.azure.com",
	    "*.handler.control.monitor.azure.com", "*.ods.opinsights.azure.com",
	    "management.azure.com", "*.monitoring.azure.com",
	    "*.ingest.monitor.azure.com", NULL } },
	{ "Arc", (const char *const[]){ "his.arc.azure.com", "*.his.arc.azure.com",
	    "guestconfiguration.azure.com", "*.guestconfiguration.azure.com",
	    NULL } },
	{ "ArcData", (const char *const[]){ "*.arcdataservices.com", NULL } },
};
#define CONFIG_NBYPASS	(sizeof(config_bypass_defaults) / \
			    sizeof(config_bypass_defaults[0]))

static int
config_parse_net(const char *text, struct config_net *net)
{
	char	 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long	 prefix;
	int	 max;

	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, buf, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else
		return -1;
	net->prefix = max;
	if (slash != NULL) {
		prefix = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || prefix < 0 || prefix > max)
			return -1;
		net->prefix = (int)prefix;
	}
	return 0;
}

static int
config_net_contains(const struct config_net *net, int family,
    const uint8_t *addr)
{
	int	full = net->prefix / 8, rest = net->prefix % 8;

	if (family != net->family || memcmp(addr, net->addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((addr[full] ^ net->addr[full]) & (0xff << (8 - rest))) == 0;
}

int
config_client_allowed(const struct config *cfg, const struct sockaddr *sa)
{
	const uint8_t	*addr;
	int		 family = sa->sa_family, i;

	if (family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127)
		return 1;		/* loopback is always a local client */
	if (family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a) ||
		    (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127))
			return 1;
	}
	if (family == AF_INET)
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6)
		addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	else
		return 0;
	for (i = 0; i < cfg->nclients; i++)
		if (config_net_contains(&cfg->clients[i], family, addr))
			return 1;
	return 0;
}

static int
config_load_listen(struct config *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	const char		*admin = ARC_LISTEN_ADMIN;
	int			 i;

	if (conf_string_list(root, "listen", &list, err) == -1)
		return -1;
	if (list == NULL) {
		addr_parse(ARC_LISTEN_PROXY, &cfg->listen[0], &cfg->listen_len[0]);
		addr_parse(ARC_LISTEN_PROXY6, &cfg->listen[1], &cfg->listen_len[1]);
		cfg->nlisten = 2;
	} else {
		for (i = 0; (e = config_setting_get_elem(list, i)) != NULL; i++) {
			if (i == CONFIG_MAX_LISTEN)
				return conf_fail(err, e, "at most %d listen "
				    "addresses", CONFIG_MAX_LISTEN);
			if (addr_parse(config_setting_get_string(e),
			    &cfg->listen[i], &cfg->listen_len[i]) == -1)
				return conf_fail(err, e, "listen: \"%s\" is not "
				    "an address like \"127.0.0.1:40343\" or "
				    "\"[::1]:40343\"", config_setting_get_string(e));
		}
		if (i == 0)
			return conf_fail(err, list, "listen: at least one address");
		cfg->nlisten = i;
	}
	if (conf_string(root, "admin_listen", &admin, err) == -1)
		return -1;
	if (admin[0] == '\0')
		return 0;
	if (addr_parse(admin, &cfg->admin, &cfg->admin_len) == -1)
		return conf_fail(err, config_setting_get_member(root, "admin_listen"),
		    "admin_listen: \"%s\" is not an address like "
		    "\"127.0.0.1:40344\"", admin);
	cfg->has_admin = 1;
	return 0;
}

static int
config_load_routes(struct config *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	const char		*match;
	char			 why[256];
	int			 def = ROUTE_DIRECT, kind, i;

	if (conf_enum(root, "default_route", route_names, &def, err) == -1)
		return -1;
	cfg->default_route_set = config_setting_get_member(root, "default_route") != NULL;
	if ((cfg->routes = route_table_new((enum route_kind)def)) == NULL)
		return conf_fail(err, root, "out of memory");
	if (conf_group_list(root, "routes", &list, err) == -1)
		return -1;
	if (list == NULL)
		return 0;
	for (i = 0; (e = config_setting_get_elem(list, i)) != NULL; i++) {
		match = NULL;
		kind = -1;
		if (conf_check_keys(e, config_route_keys, err) == -1 ||
		    conf_string(e, "match", &match, err) == -1 ||
		    conf_enum(e, "route", route_names, &kind, err) == -1)
			return -1;
		if (match == NULL || kind == -1)
			return conf_fail(err, e, "a route needs match = \"host[:port]\" "
			    "and route = \"direct\" or \"deny\"");
		if (route_table_add(cfg->routes, match, (enum route_kind)kind,
		    why, sizeof(why)) == -1)
			return conf_fail(err, e, "%s", why);
	}
	return 0;
}

/* One entry of the hosts list: name = "..."; address = "IPv4 or IPv6". */
static int
config_fill_host(void *arg, void *table, int i, const config_setting_t *e,
    const char *name, const char *address, struct conf_error *err)
{
	struct config		*cfg = arg;
	struct resolve_host	*h;
	char			 addrport[INET6_ADDRSTRLEN + 16];

	cfg->hosts = table;
	h = &cfg->hosts[i];
	snprintf(addrport, sizeof(addrport), strchr(address, ':') ?
	    "[%s]:0" : "%s:0", address);
	if (addr_parse(addrport, &h->addr, &h->addr_len) == -1)
		return conf_fail(err, e, "address \"%s\" is not an IPv4 "
		    "or IPv6 address", address);
	if ((h->name = strdup(name)) == NULL)
		return conf_fail(err, e, "out of memory");
	if (route_normalize_host(h->name) == -1)
		return conf_fail(err, e, "name \"%s\" is not a host name",
		    name);
	return 0;
}

static int
config_load_hosts(struct config *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	return conf_hosts(root, config_host_keys, "address",
	    "IPv4 or IPv6 address", sizeof(*cfg->hosts), &cfg->nhosts,
	    config_fill_host, cfg, err);
}

static int
config_load_lists(struct config *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	int			 i, n;

	if (conf_string_list(root, "clients", &list, err) == -1)
		return -1;
	if (list != NULL && (n = config_setting_length(list)) > 0) {
		if ((cfg->clients = calloc(n, sizeof(*cfg->clients))) == NULL)
			return conf_fail(err, list, "out of memory");
		for (i = 0; i < n; i++) {
			e = config_setting_get_elem(list, i);
			if (config_parse_net(config_setting_get_string(e),
			    &cfg->clients[i]) == -1)
				return conf_fail(err, e, "clients: \"%s\" is not an "
				    "address or address/prefix",
				    config_setting_get_string(e));
		}
		cfg->nclients = n;
	}
	list = NULL;
	if (conf_string_list(root, "dns_servers", &list, err) == -1)
		return -1;
	if (list != NULL && (n = config_setting_length(list)) > 0) {
		if ((cfg->dns_servers = calloc(n, sizeof(char *))) == NULL)
			return conf_fail(err, list, "out of memory");
		for (i = 0; i < n; i++) {
			e = config_setting_get_elem(list, i);
			if ((cfg->dns_servers[i] = strdup(config_setting_get_string(e))) == NULL)
				return conf_fail(err, e, "out of memory");
			cfg->ndns_servers++;
		}
	}
	return 0;
}

static int
config_load_limits(struct config *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	const config_setting_t	*g;
	struct config_limits	*l = &cfg->limits;
	const long long		 day = 86400000LL;

	*l = config_default_limits;
	if ((g = config_setting_get_member(root, "limits")) == NULL)
		return 0;
	if (!config_setting_is_group(g))
		return conf_fail(err, g, "'limits' must be a group { ... }");
	if (conf_check_keys(g, config_limit_keys, err) == -1 ||
	    conf_int(g, "max_head_bytes", 1024, 1 << 20, &l->max_head_bytes, err) == -1 ||
	    conf_int(g, "head_timeout_ms", 10, day, &l->head_timeout_ms, err) == -1 ||
	    conf_int(g, "client_idle_timeout_ms", 10, day, &l->client_idle_timeout_ms, err) == -1 ||
	    conf_int(g, "connect_timeout_ms", 10, day, &l->connect_timeout_ms, err) == -1 ||
	    conf_int(g, "tunnel_idle_timeout_ms", 10, 7 * day, &l->tunnel_idle_timeout_ms, err) == -1 ||
	    conf_int(g, "max_connections", 1, 1000000, &l->max_connections, err) == -1 ||
	    conf_int(g, "pool_max_idle", 0, 100000, &l->pool_max_idle, err) == -1 ||
	    conf_int(g, "pool_idle_timeout_ms", 10, day, &l->pool_idle_timeout_ms, err) == -1 ||
	    conf_int(g, "drain_timeout_ms", 0, day, &l->drain_timeout_ms, err) == -1 ||
	    conf_int(g, "drain_tunnel_grace_ms", 0, day, &l->drain_tunnel_grace_ms,
	    err) == -1 ||
	    conf_int(g, "buffer_bytes", 4096, 64 << 20, &l->buffer_bytes, err) == -1 ||
	    conf_int(g, "buffer_budget_bytes", 65536, 1LL << 40,
	    &l->buffer_budget_bytes, err) == -1)
		return -1;
	return 0;
}

static const struct config_bypass *
config_bypass_find(const char *service)
{
	size_t	i;

	for (i = 0; i < CONFIG_NBYPASS; i++)
		if (strcmp(config_bypass_defaults[i].service, service) == 0)
			return &config_bypass_defaults[i];
	return NULL;
}

/* Adds one service's hosts (group g's list, or Microsoft's) to t; root
 * for an error in neither. */
static int
config_bypass_add(struct route_table *t, const config_setting_t *root,
    const config_setting_t *g, const struct config_bypass *b,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	const char *const	*h;
	char			 why[256];
	int			 i;

	if (g != NULL && conf_string_list(g, b->service, &list, err) == -1)
		return -1;
	if (list == NULL) {
		for (h = b->hosts; *h != NULL; h++)
			if (route_table_add(t, *h, ROUTE_DIRECT, why,
			    sizeof(why)) == -1)
				return conf_fail(err, root, "%s", why);
		return 0;
	}
	for (i = 0; (e = config_setting_get_elem(list, i)) != NULL; i++)
		if (route_table_add(t, config_setting_get_string(e),
		    ROUTE_DIRECT, why, sizeof(why)) == -1)
			return conf_fail(err, e, "proxy_bypass_services.%s: %s",
			    b->service, why);
	return 0;
}

/*
 * proxy_bypass_services = { ARM = [ "management.example.test" ]; ... }:
 * every list is checked, whether agent.conf names its service or not;
 * then the hosts of the services that proxy.bypass names make
 * cfg->proxy_bypass.
 */
static int
config_load_bypass(struct config *cfg, const config_setting_t *root,
    struct conf_error *err)
{
	const struct agentconf_list	*want = &cfg->agent.proxy_bypass;
	const config_setting_t		*g, *e;
	const struct config_bypass	*b;
	struct route_table		*check;
	int				 i, rc = 0;

	if ((g = config_setting_get_member(root, "proxy_bypass_services")) != NULL) {
		if (!config_setting_is_group(g))
			return conf_fail(err, g, "'proxy_bypass_services' must be "
			    "a group, like { ARM = [ \"management.example.test\" ]; }");
		if ((check = route_table_new(ROUTE_PROXY)) == NULL)
			return conf_fail(err, g, "out of memory");
		for (i = 0; rc == 0 && (e = config_setting_get_elem(g, i)) != NULL; i++)
			if ((b = config_bypass_find(config_setting_name(e))) == NULL)
				rc = conf_fail(err, e, "proxy_bypass_services: \"%s\" "
				    "is not one of AAD, ARM, AMA, Arc, ArcData",
				    config_setting_name(e));
			else
				rc = config_bypass_add(check, root, g, b, err);
		route_table_free(check);
		if (rc == -1)
			return -1;
	}
	if (want->n == 0)
		return 0;
	if ((cfg->proxy_bypass = route_table_new(ROUTE_PROXY)) == NULL)
		return conf_fail(err, root, "out of memory");
	for (i = 0; i < want->n; i++)
		if ((b = config_bypass_find(want->items[i])) != NULL &&
		    config_bypass_add(cfg->proxy_bypass, root, g, b, err) == -1)
			return -1;
	return 0;
}

/* The identity's fds and paths, gone. */
static void
config_close_identity(struct config *cfg)
{
	if (cfg->machine_cert_fd != -1)
		close(cfg->machine_cert_fd);
	if (cfg->machine_key_fd != -1)
		close(cfg->machine_key_fd);
	cfg->machine_cert_fd = cfg->machine_key_fd = -1;
	free(cfg->machine_cert);
	free(cfg->machine_key);
	cfg->machine_cert = cfg->machine_key = NULL;
}

/*
 * The machine certificate and key, which himds rewrites in its own
 * <state>/himds: opened here, never through a symlink, regular files of
 * one link (arcproxy starts as root, and a FIFO himds put there hung it,
 * a symlink made root read the file it named), and handed on as
 * /proc/self/fd/N, open while cfg lives.  What is wrong goes in
 * cfg->machine_note; arcproxy runs on without the identity.
 */
static void
config_load_identity(struct config *cfg, const char *state_dir)
{
	char		 dir[PATH_MAX], why[256];
	int		 dfd, i, *fd[2];
	char		**path[2];
	const char	*name[2] = { ARC_FILE_MACHINE_CRT, ARC_FILE_MACHINE_KEY };

	fd[0] = &cfg->machine_cert_fd;
	fd[1] = &cfg->machine_key_fd;
	path[0] = &cfg->machine_cert;
	path[1] = &cfg->machine_key;
	snprintf(dir, sizeof(dir), "%s/" ARC_SUBDIR_HIMDS, state_dir);
	if ((dfd = safedir_open(dir, why, sizeof(why))) == -1) {
		if (errno != ENOENT)
			cfg->machine_note = strdup(why);
		return;
	}
	for (i = 0; i < 2; i++) {
		if ((*fd[i] = safedir_open_file(dfd, name[i], O_RDONLY, 0,
		    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, why, sizeof(why))) == -1) {
			/* No certificate: not connected, nothing to say. */
			if ((i > 0 || errno != ENOENT) && asprintf(
			    &cfg->machine_note, "%s/%s", dir, why) == -1)
				cfg->machine_note = NULL;
			break;
		}
		if (asprintf(path[i], "/proc/self/fd/%d", *fd[i]) == -1) {
			*path[i] = NULL;
			break;
		}
	}
	close(dfd);
	if (i < 2)
		config_close_identity(cfg);
}

/* Does host:port name one of arcproxy's own listeners? */
static int
config_is_self(const struct config *cfg, const char *host, uint16_t port)
{
	const struct sockaddr_storage	*ss;
	int				 i;

	if (!route_host_is_guarded(host))
		return 0;		/* not loopback: not this machine's */
	for (i = 0; i < cfg->nlisten; i++) {
		ss = &cfg->listen[i];
		if ((ss->ss_family == AF_INET && ntohs(((const struct
		    sockaddr_in *)ss)->sin_port) == port) ||
		    (ss->ss_family == AF_INET6 && ntohs(((const struct
		    sockaddr_in6 *)ss)->sin6_port) == port))
			return 1;
	}
	return 0;
}

/*
 * Without proxy.url, the enterprise proxy of arcproxy's environment, as the
 * Azure agent takes HTTPS_PROXY when proxy.url is unset (proxy.url wins):
 * HTTPS_PROXY, else https_proxy.  One arcproxy cannot use is left aside,
 * said in cfg->proxy_note: not http://host[:port], or arcproxy itself
 * (the variable that extensions' shells are given, seen by a daemon
 * started from one).
 */
static int
config_env_proxy(struct config *cfg)
{
	struct agentconf	*ac = &cfg->agent;
	const char		*name = "HTTPS_PROXY", *v;
	char			 host[256];
	uint16_t		 port;

	if ((v = getenv(name)) == NULL || v[0] == '\0') {
		name = "https_proxy";
		if ((v = getenv(name)) == NULL || v[0] == '\0')
			return 0;
	}
	if (url_parse_authority(v, "http", 3128, host, sizeof(host), &port) == -1)
		return asprintf(&cfg->proxy_note, "%s \"%.200s\" is not like "
		    "\"http://proxy.example.com:3128\": not used", name, v) == -1 ?
		    -1 : 0;
	if (config_is_self(cfg, host, port))
		return asprintf(&cfg->proxy_note, "%s \"%.200s\" is arcproxy "
		    "itself: not used", name, v) == -1 ? -1 : 0;
	if ((ac->proxy_url = strdup(v)) == NULL)
		return -1;
	cfg->proxy_from = name;
	return 0;
}

/* agent.conf: how management traffic leaves, and the identity for the gateway. */
static int
config_load_agent(struct config *cfg, const char *config_dir,
    const char *state_dir, struct conf_error *err)
{
	struct agentconf	*ac = &cfg->agent;
	char			 why[256];

	if (agentconf_load(config_dir, ac, err->text, sizeof(err->text)) == -1)
		return -1;
	cfg->proxy_from = ac->proxy_url != NULL ? "agent.conf" : NULL;
	if (ac->proxy_url == NULL && config_env_proxy(cfg) == -1) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -1;
	}
	if (ac->gateway_url != NULL && url_parse_authority(ac->gateway_url, "https", 443,
	    cfg->gw_host, sizeof(cfg->gw_host), &cfg->gw_port) == -1) {
		snprintf(err->text, sizeof(err->text), "%s/agent.conf: gateway.url "
		    "\"%s\" is not like \"https://gw.example.com[:port]\"",
		    config_dir, ac->gateway_url);
		return -1;
	}
	if (ac->proxy_url != NULL && url_parse_authority(ac->proxy_url, "http", 3128,
	    cfg->proxy_host, sizeof(cfg->proxy_host), &cfg->proxy_port) == -1) {
		snprintf(err->text, sizeof(err->text), "%s/agent.conf: proxy.url "
		    "\"%s\" is not like \"http://proxy.example.com:3128\" (proxy "
		    "authentication and https proxies are not supported)",
		    config_dir, ac->proxy_url);
		return -1;
	}
	if (agentconf_check(ac, why, sizeof(why)) == -1) {
		snprintf(err->text, sizeof(err->text), "%s/agent.conf: %s",
		    config_dir, why);
		return -1;
	}
	config_load_identity(cfg, state_dir);
	return 0;
}

struct config *
config_load(const char *config_dir, const char *state_dir, char *errbuf,
    size_t errlen)
{
	config_t		 lc;
	struct conf_error	 err;
	struct config		*cfg;
	const config_setting_t	*root;
	const char		*alog = ARC_FILE_ACCESS_LOG;
	long long		 workers = 1;
	char			 path[PATH_MAX];

	err.text[0] = '\0';
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	cfg->refs = 1;
	cfg->machine_cert_fd = cfg->machine_key_fd = -1;
	config_init(&lc);
	snprintf(path, sizeof(path), "%s/" ARC_FILE_ARCPROXY_CONF, config_dir);
	if ((cfg->path = strdup(path)) == NULL) {
		snprintf(err.text, sizeof(err.text), "out of memory");
		goto fail;
	}
	if (conf_read(&lc, path, &err) == -1)
		goto fail;
	root = config_root_setting(&lc);
	if (conf_check_keys(root, config_keys, &err) == -1 ||
	    config_load_listen(cfg, root, &err) == -1 ||
	    conf_int(root, "workers", 1, 64, &workers, &err) == -1 ||
	    config_load_routes(cfg, root, &err) == -1 ||
	    config_load_hosts(cfg, root, &err) == -1 ||
	    config_load_lists(cfg, root, &err) == -1 ||
	    config_load_limits(cfg, root, &err) == -1 ||
	    conf_string(root, "access_log", &alog, &err) == -1)
		goto fail;
	cfg->workers = (int)workers;
	if (alog[0] == '/' || strcmp(alog, "-") == 0)
		cfg->access_log = strdup(alog);
	else if (alog[0] != '\0') {
		/* arcproxy's own <state>/arcproxy: the state dir is root's. */
		snprintf(path, sizeof(path), "%s/" ARC_SUBDIR_ARCPROXY "/%s",
		    state_dir, alog);
		cfg->access_log = strdup(path);
	}
	if (alog[0] != '\0' && cfg->access_log == NULL) {
		snprintf(err.text, sizeof(err.text), "out of memory");
		goto fail;
	}
	if (config_load_agent(cfg, config_dir, state_dir, &err) == -1 ||
	    config_load_bypass(cfg, root, &err) == -1)
		goto fail;
	config_destroy(&lc);
	return cfg;
 fail:
	snprintf(errbuf, errlen, "%s", err.text);
	config_destroy(&lc);
	config_unref(cfg);
	return NULL;
}

struct config *
config_ref(struct config *cfg)
{
	__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
	return cfg;
}

void
config_unref(struct config *cfg)
{
	int	i;

	if (cfg == NULL || __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	route_table_free(cfg->routes);
	route_table_free(cfg->proxy_bypass);
	for (i = 0; i < cfg->nhosts; i++)
		free(cfg->hosts[i].name);
	free(cfg->hosts);
	free(cfg->clients);
	for (i = 0; i < cfg->ndns_servers; i++)
		free(cfg->dns_servers[i]);
	free(cfg->dns_servers);
	free(cfg->access_log);
	free(cfg->path);
	agentconf_clear(&cfg->agent);
	config_close_identity(cfg);
	free(cfg->machine_note);
	free(cfg->proxy_note);
	free(cfg);
}
