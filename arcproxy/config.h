/* config.h -- arcproxy.conf: the proxy's settings, loaded, checked and shared (refcounted) across reloads. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdint.h>
#include <sys/socket.h>

#include "agentconf.h"
#include "resolve.h"
#include "route.h"

#define CONFIG_MAX_LISTEN	8

struct config_net {			/* an allowed client network */
	int		family;
	uint8_t		addr[16];
	int		prefix;
};

struct config_limits {
	long long	max_head_bytes;
	long long	head_timeout_ms;
	long long	client_idle_timeout_ms;
	long long	connect_timeout_ms;
	long long	tunnel_idle_timeout_ms;
	long long	max_connections;
	long long	pool_max_idle;
	long long	pool_idle_timeout_ms;
	long long	drain_timeout_ms;
	long long	drain_tunnel_grace_ms;	/* SIGTERM: tunnels' share of it */
	long long	buffer_bytes;
	long long	buffer_budget_bytes;	/* all connections, all workers */
};

/* Read-only once loaded; workers hold references while they use it. */
struct config {
	int			 refs;		/* atomic */
	char			*path;
	struct sockaddr_storage	 listen[CONFIG_MAX_LISTEN];
	socklen_t		 listen_len[CONFIG_MAX_LISTEN];
	int			 nlisten;
	struct sockaddr_storage	 admin;
	socklen_t		 admin_len;
	int			 has_admin;	/* admin_listen = "" turns it off */
	int			 workers;
	struct route_table	*routes;
	struct route_table	*proxy_bypass;	/* proxy.bypass's hosts, or NULL */
	struct resolve_host	*hosts;
	int			 nhosts;
	struct config_net	*clients;
	int			 nclients;
	char			**dns_servers;
	int			 ndns_servers;
	char			*access_log;	/* absolute path, "-" or NULL (off) */
	struct config_limits	 limits;
	int			 default_route_set;	/* arcproxy.conf names one */
	struct agentconf	 agent;		/* agent.conf: connection type, urls */
	char			 gw_host[256];	/* from gateway.url, when set */
	uint16_t		 gw_port;
	char			 proxy_host[256];/* from proxy.url, when set */
	uint16_t		 proxy_port;
	const char		*proxy_from;	/* "agent.conf", "HTTPS_PROXY",
						   "https_proxy", or NULL */
	char			*proxy_note;	/* why HTTPS_PROXY is not used, or NULL */
	char			*machine_cert;	/* /proc/self/fd/N of <state>/himds/machine.crt, when present */
	char			*machine_key;	/* and of machine.key */
	int			 machine_cert_fd;	/* those N, or -1 */
	int			 machine_key_fd;
	char			*machine_note;	/* why there is none, or NULL */
};

/* Loads dir/arcproxy.conf; relative paths in it resolve under state_dir. */
struct config	*config_load(const char *config_dir, const char *state_dir,
		    char *err, size_t errlen);
struct config	*config_ref(struct config *);
void		 config_unref(struct config *);

int		 config_client_allowed(const struct config *, const struct sockaddr *);

#endif
