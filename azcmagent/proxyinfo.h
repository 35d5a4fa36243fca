/* proxyinfo.h -- where azcmagent finds arcproxy: its listeners, admin API, access log and hosts table, read by arcproxy's own config loader. */
#ifndef PROXYINFO_H
#define PROXYINFO_H

#include <limits.h>
#include <stddef.h>
#include <sys/socket.h>

struct config;

struct proxyinfo {
	char		 proxy_url[300];	/* "http://127.0.0.1:40343": the first listener */
	char		 admin_url[300];	/* "http://127.0.0.1:40344"; "" when off */
	char		 access_log[PATH_MAX];	/* a path; "" when off or on stderr */
	struct config	*cfg;		/* arcproxy's loader's result, or NULL */
};

/*
 * Reads <config_dir>/arcproxy.conf (and agent.conf) with arcproxy's loader
 * (arcproxy/config.c), so that azcmagent and arcproxy agree on every key
 * and default.  When the file cannot be loaded, pi holds the listeners of
 * lib/defaults.h and -1 comes back with err filled.
 */
int	proxyinfo_load(const char *config_dir, const char *state_dir,
	    struct proxyinfo *pi, char *err, size_t errlen);
void	proxyinfo_clear(struct proxyinfo *);
/* "http://host:port" to reach a listener (0.0.0.0 and [::] mean loopback). */
int	proxyinfo_url(const struct sockaddr_storage *, socklen_t, char *url,
	    size_t len);
/* The hosts table's address for name (any case) as text, or NULL. */
const char *proxyinfo_host(const struct proxyinfo *, const char *name,
	    char *buf, size_t len);

#endif
