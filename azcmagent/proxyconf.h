/* proxyconf.h -- what azcmagent needs from arcproxy.conf: where the proxy and its admin API listen, the access log, the hosts table. */
#ifndef PROXYCONF_H
#define PROXYCONF_H

#include <limits.h>
#include <stddef.h>

#define PROXYCONF_MAX_HOSTS	64
#define PROXYCONF_DEFAULT_LISTEN "127.0.0.1:40343"
#define PROXYCONF_DEFAULT_ADMIN	"127.0.0.1:40344"
#define PROXYCONF_DEFAULT_LOG	"arcproxy-access.log"

struct proxyconf_host {
	char	name[256];		/* as arcproxy.conf writes it */
	char	address[64];		/* a numeric address */
};

struct proxyconf {
	char			listen[80];	/* the first proxy listener */
	char			admin[80];	/* admin_listen; "" when it is off */
	char			access_log[PATH_MAX];	/* a path; "" when off or on stderr */
	struct proxyconf_host	hosts[PROXYCONF_MAX_HOSTS];
	int			nhosts;
};

/*
 * Reads <config_dir>/arcproxy.conf (access_log relative to state_dir).  A
 * missing file, or a key it does not set, means arcproxy's default.  On a
 * broken file pc holds the defaults and -1 comes back with err filled.
 */
int	proxyconf_load(const char *config_dir, const char *state_dir,
	    struct proxyconf *pc, char *err, size_t errlen);
/* "http://host:port" to reach a listener ("0.0.0.0" and "[::]" mean loopback). */
int	proxyconf_url(const char *listener, char *url, size_t len);
/* The hosts table's address for name, or NULL. */
const char *proxyconf_host(const struct proxyconf *pc, const char *name);

#endif
