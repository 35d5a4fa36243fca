/* simconf.h -- cloudsim.conf: the gateway's policy and limits, the echo service, the control plane, the package store, and the stand-in host table. */
#ifndef SIMCONF_H
#define SIMCONF_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

struct route_table;

/* A list of destination patterns: kept as written (for the published list)
 * and as a route table (for matching). */
struct simconf_list {
	char			**items;	/* as written in the file */
	int			  count;
	struct route_table	 *table;	/* the same patterns; a match means "listed" */
};

/* A stand-in name the gateway may reach, and the local address it maps to. */
struct simconf_host {
	char			*name;		/* normalized, e.g. "echo.cloudsim.test" */
	char			*target;	/* as written, for logs */
	struct sockaddr_storage	 addr;		/* where CONNECTs to name go, whatever their port */
	int			 addr_len;
};

/* The control plane (management.cloudsim.test) and its operator API. */
struct simconf_control {
	int			 has_listen;		/* control.listen is not "" */
	struct sockaddr_storage	 listen;		/* HTTPS, services.crt */
	int			 listen_len;
	int			 has_operator;		/* control.operator_listen is not "" */
	struct sockaddr_storage	 operator_listen;	/* plain HTTP, loopback only */
	int			 operator_listen_len;
	char			**onboarding_tokens;	/* what register accepts; none: nobody registers */
	int			 ntokens;
	char			*subscription_id;	/* the resource id's parts */
	char			*resource_group;
	char			*tenant_id;		/* the tokens' issuer */
	char			*location;		/* when register names none */
	long long		 heartbeat_interval_seconds;	/* told to machines; 3 missed = Disconnected */
	long long		 cert_lifetime_seconds;	/* machine certificates from register and renewal */
	long long		 token_lifetime_seconds;	/* access tokens */
};

/* The package store (packages.cloudsim.test). */
struct simconf_packages {
	int			 has_listen;	/* packages.listen is not "" */
	struct sockaddr_storage	 listen;	/* HTTPS, services.crt */
	int			 listen_len;
	char			*dir;		/* packages and catalog entries; NULL:
						 * <state-dir>/packages */
};

struct simconf {
	char			*path;			/* <config-dir>/cloudsim.conf */
	char			*pki_dir;		/* ca.crt, gateway.crt, services.crt live here */
	struct sockaddr_storage	 gateway_listen;
	int			 gateway_listen_len;
	struct simconf_list	 endpoints;		/* destinations the gateway tunnels to */
	struct simconf_list	 bypass;		/* published only: names clients reach without the gateway */
	struct simconf_list	 anonymous;		/* destinations allowed without a machine certificate */
	long long		 refresh_seconds;	/* how often clients should re-fetch the list */
	long long		 max_head_bytes;	/* request head limit (else 400) */
	long long		 head_timeout_ms;	/* TLS handshake, and each request head or keep-alive wait */
	long long		 connect_timeout_ms;	/* TCP connect to a target (else 504) */
	long long		 buffer_bytes;		/* per tunnel direction before backpressure */
	unsigned char		 alpn[16];		/* gateway.protocols, ALPN wire format, preferred first */
	unsigned		 alpn_len;
	int			 serves_h2;		/* "h2" is in gateway.protocols */
	int			 serves_http1;		/* "http/1.1" is in gateway.protocols */
	long long		 max_streams;		/* SETTINGS_MAX_CONCURRENT_STREAMS over h2 */
	int			 has_echo;		/* echo.listen is not "" */
	struct sockaddr_storage	 echo_listen;
	int			 echo_listen_len;
	struct simconf_host	*hosts;
	int			 nhosts;
	struct simconf_control	 control;
	struct simconf_packages	 packages;
};

/* Reads <config_dir>/cloudsim.conf; on error err names file, line and expectation. */
struct simconf		*simconf_load(const char *config_dir, char *err, size_t errlen);
void			 simconf_free(struct simconf *);
/* host lower case, as from route_normalize_host. */
const struct simconf_host *simconf_host_lookup(const struct simconf *, const char *host);
int			 simconf_listed(const struct simconf_list *, const char *host,
			    uint16_t port);
/* Is s a location (1-64 letters and digits, like "westeurope")? */
int			 simconf_location_ok(const char *s);
/* "addr:port" or "[v6]:port" with a port; 0 or -1. */
int			 simconf_parse_addr(const char *text, struct sockaddr_storage *,
			    int *len);

#endif
