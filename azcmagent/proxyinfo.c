/* proxyinfo.c -- where azcmagent finds arcproxy: its listeners, admin API, access log and hosts table, read by arcproxy's own config loader. */
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "defaults.h"
#include "proxyinfo.h"
#include "route.h"

int
proxyinfo_url(const struct sockaddr_storage *ss, socklen_t sslen, char *url,
    size_t len)
{
	struct sockaddr_storage	 a = *ss;
	char			 host[64], port[8];
	int			 n;

	if (a.ss_family == AF_INET && ((struct sockaddr_in *)&a)->sin_addr.s_addr ==
	    htonl(INADDR_ANY))
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (a.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
	    &((struct sockaddr_in6 *)&a)->sin6_addr))
		((struct sockaddr_in6 *)&a)->sin6_addr = in6addr_loopback;
	if (getnameinfo((struct sockaddr *)&a, sslen, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return -1;
	n = snprintf(url, len, a.ss_family == AF_INET6 ? "http://[%s]:%s" :
	    "http://%s:%s", host, port);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void
proxyinfo_defaults(struct proxyinfo *pi, const char *state_dir)
{
	memset(pi, 0, sizeof(*pi));
	snprintf(pi->proxy_url, sizeof(pi->proxy_url), "%s", ARC_URL_PROXY);
	snprintf(pi->admin_url, sizeof(pi->admin_url), "http://%s",
	    ARC_LISTEN_ADMIN);
	snprintf(pi->access_log, sizeof(pi->access_log), "%s/%s/%s", state_dir,
	    ARC_SUBDIR_ARCPROXY, ARC_FILE_ACCESS_LOG);
}

int
proxyinfo_load(const char *config_dir, const char *state_dir,
    struct proxyinfo *pi, char *err, size_t errlen)
{
	struct config	*cfg;

	proxyinfo_defaults(pi, state_dir);
	if ((cfg = config_load(config_dir, state_dir, err, errlen)) == NULL)
		return -1;
	pi->cfg = cfg;
	if (proxyinfo_url(&cfg->listen[0], cfg->listen_len[0], pi->proxy_url,
	    sizeof(pi->proxy_url)) == -1)
		snprintf(pi->proxy_url, sizeof(pi->proxy_url), "%s", ARC_URL_PROXY);
	if (!cfg->has_admin || proxyinfo_url(&cfg->admin, cfg->admin_len,
	    pi->admin_url, sizeof(pi->admin_url)) == -1)
		pi->admin_url[0] = '\0';
	if (cfg->access_log == NULL || strcmp(cfg->access_log, "-") == 0)
		pi->access_log[0] = '\0';
	else
		snprintf(pi->access_log, sizeof(pi->access_log), "%s",
		    cfg->access_log);
	return 0;
}

void
proxyinfo_clear(struct proxyinfo *pi)
{
	config_unref(pi->cfg);
	pi->cfg = NULL;
}

const char *
proxyinfo_host(const struct proxyinfo *pi, const char *name, char *buf,
    size_t len)
{
	const struct resolve_host	*h;
	char				 norm[256];

	if (pi->cfg == NULL)
		return NULL;
	snprintf(norm, sizeof(norm), "%s", name);
	if (route_normalize_host(norm) == -1 ||
	    (h = resolve_host_lookup(pi->cfg->hosts, pi->cfg->nhosts, norm)) == NULL ||
	    getnameinfo((const struct sockaddr *)&h->addr, h->addr_len, buf, len,
	    NULL, 0, NI_NUMERICHOST) != 0)
		return NULL;
	return buf;
}
