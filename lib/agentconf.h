/* agentconf.h -- agent.conf, the operator's local settings (azcmagent config), read by every daemon. */
#ifndef AGENTCONF_H
#define AGENTCONF_H

#include <stddef.h>

enum agentconf_connection {
	AGENTCONF_DIRECT,	/* management traffic goes direct (or via proxy.url) */
	AGENTCONF_GATEWAY,	/* management traffic goes through the Arc gateway */
};

struct agentconf {
	enum agentconf_connection connection_type;
	char	*gateway_url;		/* "https://host[:port]", or NULL */
	char	*gateway_ca_file;	/* absolute path, or NULL */
	char	*gateway_protocol;	/* "auto", "h2", "http/1.1" */
	char	*proxy_url;		/* "http://host[:port]", or NULL */
	char	**proxy_bypass;
	int	 nproxy_bypass;
};

/* Reads <config_dir>/agent.conf; a missing file means every default.
 * Errors name the file, the line and what was expected. */
int	agentconf_load(const char *config_dir, struct agentconf *, char *err,
	    size_t errlen);
void	agentconf_clear(struct agentconf *);

#endif
